//! The turn state machine: aim, power meter, the roll, the pinsetter, and
//! the events the rest of the program reacts to.

use super::ball::{self, Ball, BallView, NOMINAL_POWER, ReleaseError, Setup, SetupSteps};
use super::lane::{BALL_RADIUS, HEAD_PIN_Y, PIN_RADIUS};
use super::pins::{PinView, Rack};
use super::score::{Recorded, ScoreCard};
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Physics substep. Small enough that a 9.5 m/s ball moves under a
/// centimetre per step, so no contact is ever skipped over.
const SUBSTEP_MS: u64 = 1;
/// The meter goes 0 → 1 → 0 in this time.
const METER_PERIOD_MS: u64 = 1400;
/// How long the result stays up before the pinsetter acts.
const RESULT_MS: u64 = 1200;
/// A roll ends at the latest this long after the ball reaches the pins, so a
/// pin spinning slowly in a corner cannot hold up the game.
const PIN_CAP_MS: u64 = 2000;
/// Absolute cap on a roll, whatever happens.
const ROLL_CAP_MS: u64 = 10_000;
/// Points in the aim guide.
const GUIDE_POINTS: usize = 30;

/// Where the turn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Adjusting position, aim and hook.
    Aiming,
    /// The power meter is running.
    Power,
    /// The ball is on the lane.
    Rolling,
    /// The ball is in the pit; pins are still moving.
    Settling,
    /// The roll is over and its result is on display.
    ShowingResult,
    /// Ten frames bowled; only `NewGame` does anything.
    GameOver,
}

/// Player controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlleyInput {
    /// Shift the start position by boards (`+` = right).
    Move(i8),
    /// Change the launch angle by quarter degrees (`+` = right).
    Aim(i8),
    /// Change the hook (`+` curves right), clamped to -5..=5.
    Hook(i8),
    /// Start the meter, then lock it and release the ball.
    Power,
    /// Abandon the current game and start afresh (keeps the setup).
    NewGame,
}

/// Something that happened, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlleyEvent {
    PinDown(u8),
    PinUp(u8),
    /// `gutter`: the ball went into a gutter before touching a pin.
    RollFinished {
        frame: u8,
        roll: u8,
        pins: u8,
        strike: bool,
        spare: bool,
        gutter: bool,
    },
    /// The frame goes on: fallen pins were cleared away, standing ones stay.
    RackSwept,
    /// All ten stand again.
    RackReset,
    FrameComplete(u8),
    GameOver {
        score: u16,
    },
}

/// Bookkeeping for the roll in progress.
#[derive(Debug, Clone, Copy, Default)]
struct RollClock {
    elapsed_ms: u64,
    reached_pins_ms: Option<u64>,
    touched_pin: bool,
    gutter: bool,
}

/// One lane and one bowler's game.
#[derive(Debug, Clone)]
pub struct Alley {
    rng: Xoshiro256PlusPlus,
    phase: Phase,
    steps: SetupSteps,
    meter_ms: u64,
    power: Option<f64>,
    ball: Option<Ball>,
    rack: Rack,
    card: ScoreCard,
    frame: u8,
    roll: u8,
    clock: RollClock,
    result: Option<Recorded>,
    result_left_ms: u64,
    events: VecDeque<AlleyEvent>,
    /// Scratch buffer for pins toppled in one substep.
    toppled: Vec<u8>,
}

impl Alley {
    /// A fresh game. All randomness (the release error) comes from `rng`, so
    /// a seed plus the same inputs replays exactly.
    pub fn new(rng: Xoshiro256PlusPlus) -> Self {
        Self {
            rng,
            phase: Phase::Aiming,
            steps: SetupSteps::default(),
            meter_ms: 0,
            power: None,
            ball: None,
            rack: Rack::default(),
            card: ScoreCard::new(),
            frame: 1,
            roll: 1,
            clock: RollClock::default(),
            result: None,
            result_left_ms: 0,
            events: VecDeque::new(),
            toppled: Vec::new(),
        }
    }

    /// Applies a player control. Controls that make no sense in the current
    /// phase (aiming while the ball rolls, power after the game) are ignored,
    /// so a shell can forward every key press without checking first.
    pub fn handle(&mut self, input: AlleyInput) {
        match (self.phase, input) {
            (_, AlleyInput::NewGame) => self.new_game(),
            (Phase::Aiming, AlleyInput::Move(d)) => self.steps.nudge_boards(d),
            (Phase::Aiming, AlleyInput::Aim(d)) => self.steps.nudge_aim(d),
            (Phase::Aiming, AlleyInput::Hook(d)) => self.steps.nudge_hook(d),
            (Phase::Aiming, AlleyInput::Power) => {
                self.meter_ms = 0;
                self.phase = Phase::Power;
            }
            (Phase::Power, AlleyInput::Power) => self.release(),
            _ => {}
        }
    }

    /// Advances game time. Any `dt_ms` is fine: idle phases return at once
    /// and a roll is capped, so even a huge step does bounded work.
    pub fn step(&mut self, dt_ms: u64) {
        let mut left = dt_ms;
        while left > 0 {
            match self.phase {
                Phase::Aiming | Phase::GameOver => break,
                Phase::Power => {
                    self.meter_ms = (self.meter_ms + left % METER_PERIOD_MS) % METER_PERIOD_MS;
                    break;
                }
                Phase::Rolling | Phase::Settling => {
                    self.physics_tick();
                    left = left.saturating_sub(SUBSTEP_MS);
                }
                Phase::ShowingResult => {
                    let t = left.min(self.result_left_ms);
                    self.result_left_ms -= t;
                    left -= t;
                    if self.result_left_ms == 0 {
                        self.run_pinsetter();
                    }
                }
            }
        }
    }

    /// The next event produced by `handle`, `step` or the chaos calls, oldest
    /// first.
    pub fn poll_event(&mut self) -> Option<AlleyEvent> {
        self.events.pop_front()
    }

    /// Chaos: a standing pin falls over where it stands. It is out of play
    /// (the ball passes through its spot) and never counts for the bowler.
    /// Does nothing (and emits nothing) if the pin is already down.
    pub fn knock_pin(&mut self, pin: u8) {
        if self.rack.knock(pin) {
            self.events.push_back(AlleyEvent::PinDown(pin));
        }
    }

    /// Chaos: a pin that is down stands again on its spot. Does nothing if
    /// it is already standing.
    pub fn stand_pin(&mut self, pin: u8) {
        if self.rack.stand(pin) {
            self.events.push_back(AlleyEvent::PinUp(pin));
        }
    }

    /// All ten stand again; frame and score are untouched.
    pub fn reset_rack(&mut self) {
        self.rack.reset();
        self.events.push_back(AlleyEvent::RackReset);
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn setup(&self) -> Setup {
        self.steps.setup()
    }

    pub fn ball(&self) -> Option<BallView> {
        self.ball.as_ref().map(Ball::view)
    }

    /// Index 0 = pin 1. Pins swept away or in the pit report a `y` beyond
    /// `lane::PIT_Y`.
    pub fn pins(&self) -> [PinView; 10] {
        self.rack.views()
    }

    /// The live meter while it runs; the locked power until the next setup.
    pub fn power_meter(&self) -> Option<f64> {
        match self.phase {
            Phase::Power => Some(meter_value(self.meter_ms)),
            Phase::Rolling | Phase::Settling | Phase::ShowingResult => self.power,
            Phase::Aiming | Phase::GameOver => None,
        }
    }

    pub fn scorecard(&self) -> &ScoreCard {
        &self.card
    }

    /// The frame being bowled; while a result shows, the frame of that roll.
    pub fn frame(&self) -> u8 {
        self.frame
    }

    /// The roll within the frame; while a result shows, that roll's number.
    pub fn roll_in_frame(&self) -> u8 {
        self.roll
    }

    /// The aim guide: where an error-free ball at 80 % power would go, from
    /// the foul line to the head pin. Empty unless the bowler is lining up
    /// (`Aiming` or `Power`, as the setup cannot change after that).
    pub fn predicted_path(&self) -> Vec<(f64, f64)> {
        match self.phase {
            Phase::Aiming | Phase::Power => ball::predicted_path(self.setup(), NOMINAL_POWER, GUIDE_POINTS),
            _ => Vec::new(),
        }
    }

    fn new_game(&mut self) {
        let rng = self.rng.clone();
        let steps = self.steps;
        *self = Self::new(rng);
        self.steps = steps;
        self.events.push_back(AlleyEvent::RackReset);
    }

    fn release(&mut self) {
        let power = meter_value(self.meter_ms);
        let error = ReleaseError::sample(power, &mut self.rng);
        self.power = Some(power);
        self.ball = Some(Ball::launch(self.setup(), power, error));
        self.rack.start_roll();
        self.clock = RollClock::default();
        self.phase = Phase::Rolling;
    }

    fn physics_tick(&mut self) {
        let dt = SUBSTEP_MS as f64 / 1000.0;
        self.clock.elapsed_ms += SUBSTEP_MS;
        if let Some(ball) = &mut self.ball {
            ball.advance(dt);
        }
        let touched = self.rack.substep(self.ball.as_mut(), dt, &mut self.toppled);
        self.events.extend(self.toppled.drain(..).map(AlleyEvent::PinDown));
        self.clock.touched_pin |= touched;
        if let Some(ball) = &self.ball {
            self.clock.gutter |= ball.in_gutter && !self.clock.touched_pin;
            let at_pins = ball.pos.y + BALL_RADIUS >= HEAD_PIN_Y - PIN_RADIUS;
            if self.clock.reached_pins_ms.is_none() && (at_pins || touched) {
                self.clock.reached_pins_ms = Some(self.clock.elapsed_ms);
            }
            if ball.out_of_play() {
                self.ball = None;
                self.phase = Phase::Settling;
            }
        }
        let capped = self.clock.reached_pins_ms.is_some_and(|t| self.clock.elapsed_ms >= t + PIN_CAP_MS);
        let settled = self.ball.is_none() && self.rack.is_still();
        if settled || capped || self.clock.elapsed_ms >= ROLL_CAP_MS {
            self.finish_roll();
        }
    }

    fn finish_roll(&mut self) {
        self.rack.freeze();
        self.ball = None;
        // Chaos can re-stand a pin the bowler already felled this frame;
        // the sheet must still add up, so the count is capped by the rules.
        let pins = self.rack.pinfall().min(self.card.max_next_roll());
        let Ok(rec) = self.card.record(pins) else {
            // Unreachable in practice (no roll starts once the card is
            // complete), but a game over is the only sane place to land.
            self.end_game();
            return;
        };
        self.events.push_back(AlleyEvent::RollFinished {
            frame: rec.frame,
            roll: rec.roll,
            pins,
            strike: rec.strike,
            spare: rec.spare,
            gutter: self.clock.gutter,
        });
        self.result = Some(rec);
        self.result_left_ms = RESULT_MS;
        self.phase = Phase::ShowingResult;
    }

    fn run_pinsetter(&mut self) {
        let Some(rec) = self.result.take() else {
            self.phase = Phase::Aiming;
            return;
        };
        if rec.fresh_rack_next || rec.game_complete {
            self.rack.reset();
            self.events.push_back(AlleyEvent::RackReset);
        } else {
            self.rack.sweep();
            self.events.push_back(AlleyEvent::RackSwept);
        }
        if rec.frame_complete {
            self.events.push_back(AlleyEvent::FrameComplete(rec.frame));
        }
        if rec.game_complete {
            self.end_game();
        } else {
            self.frame = self.card.current_frame();
            self.roll = self.card.current_roll();
            self.power = None;
            self.phase = Phase::Aiming;
        }
    }

    fn end_game(&mut self) {
        self.power = None;
        self.phase = Phase::GameOver;
        self.events.push_back(AlleyEvent::GameOver { score: self.card.total() });
    }
}

/// The meter's reading `ms` into its cycle: a triangle wave 0 → 1 → 0.
fn meter_value(ms: u64) -> f64 {
    let half = METER_PERIOD_MS / 2;
    let t = ms % METER_PERIOD_MS;
    let rising = if t <= half { t } else { METER_PERIOD_MS - t };
    rising as f64 / half as f64
}

#[cfg(test)]
mod tests;
