//! The bowling ball: the bowler's setup, the release (with its human error)
//! and the ball's flight down the lane until it meets the pins.

use super::lane::{
    BALL_RADIUS, BOARD_WIDTH, GUTTER_CENTER_X, HEAD_PIN_Y, HOOK_RAMP_M, LANE_HALF_WIDTH, OIL_END_Y, PIT_Y, Vec2,
};
use rand::{RngExt, rngs::Xoshiro256PlusPlus};
use serde::Serialize;

/// Ball speed at zero power. Slow enough to be a "granny ball" that still
/// reaches the pins in about three seconds.
pub const MIN_SPEED: f64 = 6.0;
/// Ball speed at full power (about 21 mph, a strong league bowler).
pub const MAX_SPEED: f64 = 9.5;
/// Lateral acceleration per unit of hook once the ball has left the oil.
/// Five units give roughly 12 boards of break at typical speeds, a big but
/// believable hook.
pub const HOOK_ACCEL_PER_UNIT: f64 = 0.3;
/// Largest hook setting either way.
pub const MAX_HOOK: i8 = 5;
/// One `Aim` step.
pub const AIM_STEP_DEG: f64 = 0.25;
/// Largest aim either way, in steps (4°): already plenty to reach a gutter.
pub const MAX_AIM_STEPS: i8 = 16;
/// Largest start offset either way, in boards: the ball must start wholly on
/// the lane.
pub const MAX_BOARDS: i8 = 15;
/// Power the aim guide assumes: a comfortable, repeatable release.
pub const NOMINAL_POWER: f64 = 0.8;

/// Rolling friction slows the ball a little over the lane (real balls lose
/// some 10 % of their speed before the pins).
const ROLL_DECEL: f64 = 0.25;
/// Release error standard deviations at zero power, and the extra that a
/// full-power throw adds; the extra grows with `power⁴` so it only really
/// bites near the top of the meter, where bowlers muscle the ball.
const AIM_ERROR_BASE_DEG: f64 = 0.03;
const AIM_ERROR_TOP_DEG: f64 = 0.10;
const LATERAL_ERROR_BASE_M: f64 = 0.004;
const LATERAL_ERROR_TOP_M: f64 = 0.012;

/// How the bowler lines up a shot.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Setup {
    /// Lateral release point at the foul line (`+` = right).
    pub position_m: f64,
    /// Launch angle from straight down the lane (`+` = towards the right).
    pub aim_deg: f64,
    /// Back-end hook, -5..=5. The sign is the direction the ball curves, in
    /// lane coordinates: a right-hander's hook (curving left, into the 1-3
    /// pocket) is negative, a left-hander's is positive.
    pub hook: i8,
}

/// The setup as the player adjusts it: whole steps, so repeated presses are
/// exact and reversible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SetupSteps {
    pub boards: i8,
    pub aim_steps: i8,
    pub hook: i8,
}

impl SetupSteps {
    pub fn nudge_boards(&mut self, d: i8) {
        self.boards = step_clamped(self.boards, d, MAX_BOARDS);
    }

    pub fn nudge_aim(&mut self, d: i8) {
        self.aim_steps = step_clamped(self.aim_steps, d, MAX_AIM_STEPS);
    }

    pub fn nudge_hook(&mut self, d: i8) {
        self.hook = step_clamped(self.hook, d, MAX_HOOK);
    }

    pub fn setup(self) -> Setup {
        Setup {
            position_m: f64::from(self.boards) * BOARD_WIDTH,
            aim_deg: f64::from(self.aim_steps) * AIM_STEP_DEG,
            hook: self.hook,
        }
    }
}

fn step_clamped(value: i8, delta: i8, limit: i8) -> i8 {
    value.saturating_add(delta).clamp(-limit, limit)
}

/// Where the ball is, for the renderer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BallView {
    pub x: f64,
    pub y: f64,
    pub in_gutter: bool,
}

/// How far the actual release strays from the intended one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct ReleaseError {
    pub angle_deg: f64,
    pub lateral_m: f64,
}

impl ReleaseError {
    /// Draws the error for a release at `power` (0..=1).
    pub fn sample(power: f64, rng: &mut Xoshiro256PlusPlus) -> Self {
        let strain = power.clamp(0.0, 1.0).powi(4);
        let angle_sd = AIM_ERROR_BASE_DEG + AIM_ERROR_TOP_DEG * strain;
        let lateral_sd = LATERAL_ERROR_BASE_M + LATERAL_ERROR_TOP_M * strain;
        Self { angle_deg: angle_sd * unit_noise(rng), lateral_m: lateral_sd * unit_noise(rng) }
    }
}

/// Triangular noise with mean 0 and standard deviation 1: bell-shaped enough
/// for a human wobble, yet bounded (±2.45), so no release is ever absurd.
fn unit_noise(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let a: f64 = rng.random();
    let b: f64 = rng.random();
    (a + b - 1.0) * 6f64.sqrt()
}

/// Ball speed for a power-meter reading.
pub fn speed_for_power(power: f64) -> f64 {
    MIN_SPEED + (MAX_SPEED - MIN_SPEED) * power.clamp(0.0, 1.0)
}

/// The ball in motion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ball {
    pub pos: Vec2,
    pub vel: Vec2,
    hook_accel: f64,
    pub in_gutter: bool,
}

impl Ball {
    /// Releases a ball at the foul line.
    pub fn launch(setup: Setup, power: f64, error: ReleaseError) -> Self {
        let angle = (setup.aim_deg + error.angle_deg).to_radians();
        let speed = speed_for_power(power);
        let mut ball = Self {
            pos: Vec2::new(setup.position_m + error.lateral_m, 0.0),
            vel: Vec2::new(angle.sin(), angle.cos()) * speed,
            hook_accel: f64::from(setup.hook) * HOOK_ACCEL_PER_UNIT,
            in_gutter: false,
        };
        ball.check_gutter();
        ball
    }

    /// Moves the ball on by `dt` seconds (semi-implicit Euler).
    pub fn advance(&mut self, dt: f64) {
        let speed = self.vel.length();
        if speed > 0.0 {
            let slowed = (speed - ROLL_DECEL * dt).max(0.0);
            self.vel = self.vel * (slowed / speed);
        }
        if !self.in_gutter {
            // The oil stops the ball gripping; the hook only appears on the
            // dry back end, which is why bowlers aim "outside" and let the
            // ball come back.
            let grip = ((self.pos.y - OIL_END_Y) / HOOK_RAMP_M).clamp(0.0, 1.0);
            self.vel.x += self.hook_accel * grip * dt;
        }
        self.pos += self.vel * dt;
        self.check_gutter();
    }

    fn check_gutter(&mut self) {
        if !self.in_gutter && self.pos.x.abs() > LANE_HALF_WIDTH {
            // Once in the channel the ball just runs along it.
            self.in_gutter = true;
            self.pos.x = GUTTER_CENTER_X.copysign(self.pos.x);
            self.vel.x = 0.0;
        }
    }

    /// True once the ball is in the pit (or has somehow stopped or turned
    /// back, which only a freak collision could do): it is out of play.
    pub fn out_of_play(&self) -> bool {
        self.pos.y > PIT_Y + BALL_RADIUS || self.vel.y <= 0.05
    }

    pub fn view(&self) -> BallView {
        BallView { x: self.pos.x, y: self.pos.y, in_gutter: self.in_gutter }
    }
}

/// The path an error-free ball would take for `setup` at `power`, from the
/// foul line to the head pin, as `points` samples evenly spaced down the lane.
/// It uses the very integrator the real roll uses, so the guide is honest
/// (apart from the release error and the speed a different power gives).
pub fn predicted_path(setup: Setup, power: f64, points: usize) -> Vec<(f64, f64)> {
    const DT: f64 = 0.002;
    let points = points.max(2);
    let mut ball = Ball::launch(setup, power, ReleaseError::default());
    let spacing = HEAD_PIN_Y / (points - 1) as f64;
    let mut path = Vec::with_capacity(points);
    path.push((ball.pos.x, ball.pos.y));
    // Bounded: even the slowest ball reaches the pins in ~3.2 s.
    for _ in 0..10_000 {
        if path.len() >= points {
            break;
        }
        ball.advance(DT);
        if ball.pos.y >= spacing * path.len() as f64 {
            path.push((ball.pos.x, ball.pos.y.min(HEAD_PIN_Y)));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn setup(boards: i8, aim_steps: i8, hook: i8) -> Setup {
        SetupSteps { boards, aim_steps, hook }.setup()
    }

    #[test]
    fn straight_ball_reaches_the_pins_in_about_two_seconds() {
        let mut ball = Ball::launch(setup(0, 0, 0), 0.8, ReleaseError::default());
        let mut t = 0.0;
        while ball.pos.y < HEAD_PIN_Y {
            ball.advance(0.001);
            t += 0.001;
        }
        assert!((1.8..2.6).contains(&t), "took {t} s");
        assert!(ball.pos.x.abs() < 1e-9 && !ball.in_gutter);
    }

    #[test]
    fn hook_only_bends_the_back_end() {
        let path = predicted_path(setup(0, 0, -5), 0.8, 30);
        assert_eq!(path.len(), 30);
        let at = |y: f64| path.iter().find(|p| p.1 >= y).map_or(f64::NAN, |p| p.0);
        assert!(at(OIL_END_Y - 0.5).abs() < 1e-9, "straight on the oil");
        let brk = -path[29].0;
        assert!((0.2..0.45).contains(&brk), "break {brk} m");
    }

    #[test]
    fn ball_off_the_lane_runs_in_the_gutter() {
        let mut ball = Ball::launch(setup(15, 16, 0), 0.5, ReleaseError::default());
        while !ball.out_of_play() {
            ball.advance(0.001);
        }
        assert!(ball.in_gutter);
        assert_eq!(ball.view().x, GUTTER_CENTER_X);
    }

    #[test]
    fn release_error_grows_near_full_power() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let spread = |p: f64, rng: &mut Xoshiro256PlusPlus| {
            (0..400).map(|_| ReleaseError::sample(p, rng).angle_deg.abs()).sum::<f64>()
        };
        let soft = spread(0.3, &mut rng);
        let hard = spread(1.0, &mut rng);
        assert!(hard > 2.5 * soft, "soft {soft} hard {hard}");
    }

    #[test]
    fn setup_steps_clamp() {
        let mut s = SetupSteps::default();
        for _ in 0..100 {
            s.nudge_boards(1);
            s.nudge_aim(-1);
            s.nudge_hook(i8::MAX);
        }
        assert_eq!((s.boards, s.aim_steps, s.hook), (15, -16, 5));
        assert!(s.setup().position_m + BALL_RADIUS < LANE_HALF_WIDTH);
    }
}
