//! The turn state machine: aim, power meter, the roll, the pinsetter, and
//! the events the rest of the program reacts to.

use super::ball::{self, Ball, BallView, NOMINAL_POWER, ReleaseError, Setup, SetupSteps};
use super::lane::{BALL_RADIUS, HEAD_PIN_Y, PIN_RADIUS};
use super::pins::{FallCause, PinView, Rack};
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

/// Most bowlers one lane takes, as an alley's scoring console (and the scorecard's rows) allows.
pub const MAX_BOWLERS: usize = 6;
/// Longest bowler name, in characters: it must fit the scorecard's name column.
pub const MAX_NAME_CHARS: usize = 12;
/// The lane's first bowler: the one a game starts with, the session's own player (`play`'s
/// keyboard, the host of `play --listen`).
const FIRST_BOWLER: &str = "host";

/// Why a bowler's control or a join was refused. A refused control changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TurnError {
    #[error("it is {up}'s turn, not {bowler}'s")]
    NotYourTurn { bowler: String, up: String },
    #[error("no bowler {0} on this lane")]
    UnknownBowler(u8),
    #[error("only {first} (the lane's first bowler) can start a new game")]
    NotFirstBowler { first: String },
    #[error("name: Required value")]
    NameRequired,
    #[error("name: Invalid value: {0:?}: must be no more than {MAX_NAME_CHARS} characters")]
    NameTooLong(String),
    #[error("a bowler named {0:?} is already on this lane")]
    NameTaken(String),
    #[error("the lane is full: {MAX_BOWLERS} bowlers at most")]
    LaneFull,
    #[error("the game is over: the lane's first bowler starts a new one")]
    GameOver,
}

/// One bowler on the lane: their name, their own sheet and their own setup (each bowler keeps
/// their line between turns, as at a real lane).
#[derive(Debug, Clone)]
pub struct Bowler {
    name: String,
    card: ScoreCard,
    steps: SetupSteps,
}

impl Bowler {
    fn new(name: &str) -> Bowler {
        Bowler { name: name.to_string(), card: ScoreCard::new(), steps: SetupSteps::default() }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn scorecard(&self) -> &ScoreCard {
        &self.card
    }
}

/// Something that happened, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlleyEvent {
    /// The pin toppled; [`Alley::fall_cause`] says what knocked it.
    PinDown(u8),
    PinUp(u8),
    /// The pin rocked on its base during the roll but stayed up (sent as the roll ends,
    /// before its `RollFinished`).
    PinWobbled(u8),
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
    /// Every bowler's card is complete; `score` is the first bowler's (the local player's).
    GameOver {
        score: u16,
    },
    /// A bowler joined the lane (index into [`Alley::bowlers`]).
    BowlerJoined(u8),
    /// The turn passed to another bowler (only ever with two or more).
    BowlerUp(u8),
}

/// Bookkeeping for the roll in progress.
#[derive(Debug, Clone, Copy, Default)]
struct RollClock {
    elapsed_ms: u64,
    reached_pins_ms: Option<u64>,
    touched_pin: bool,
    gutter: bool,
}

/// One lane and its bowlers' game. Turns go as in ten-pin bowling: each bowler in join order
/// bowls a whole frame of their own card, then the next bowler does; a bowler who joined late
/// starts at frame 1 of their own card when the turn reaches them and bowls on alone once the
/// others are done. The pinsetter sets a full rack for every bowler's frame.
#[derive(Debug, Clone)]
pub struct Alley {
    rng: Xoshiro256PlusPlus,
    phase: Phase,
    /// Never empty: the game starts with its first bowler.
    bowlers: Vec<Bowler>,
    /// Index into `bowlers` of the one whose turn it is.
    up: usize,
    meter_ms: u64,
    power: Option<f64>,
    ball: Option<Ball>,
    rack: Rack,
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
            bowlers: vec![Bowler::new(FIRST_BOWLER)],
            up: 0,
            meter_ms: 0,
            power: None,
            ball: None,
            rack: Rack::default(),
            frame: 1,
            roll: 1,
            clock: RollClock::default(),
            result: None,
            result_left_ms: 0,
            events: VecDeque::new(),
            toppled: Vec::new(),
        }
    }

    /// Applies a control of the lane's first bowler (the player at the keyboard); see
    /// [`Alley::handle_as`]. With one bowler it is always their turn, so nothing is refused.
    pub fn handle(&mut self, input: AlleyInput) -> Result<(), TurnError> {
        self.handle_as(0, input)
    }

    /// Applies bowler `bowler`'s control. Controls that make no sense in the current phase
    /// (aiming while the ball rolls, power after the game) are ignored, so a shell can forward
    /// every key press without checking first; a control from a bowler whose turn it is not is
    /// refused, and a new game is the first bowler's to start.
    pub fn handle_as(&mut self, bowler: u8, input: AlleyInput) -> Result<(), TurnError> {
        let index = usize::from(bowler);
        let Some(who) = self.bowlers.get(index) else { return Err(TurnError::UnknownBowler(bowler)) };
        if input == AlleyInput::NewGame {
            if index != 0 {
                return Err(TurnError::NotFirstBowler { first: self.bowlers[0].name.clone() });
            }
            self.new_game();
            return Ok(());
        }
        if self.phase == Phase::GameOver {
            return Ok(());
        }
        if index != self.up {
            return Err(TurnError::NotYourTurn { bowler: who.name.clone(), up: self.bowlers[self.up].name.clone() });
        }
        let steps = &mut self.bowlers[self.up].steps;
        match (self.phase, input) {
            (Phase::Aiming, AlleyInput::Move(d)) => steps.nudge_boards(d),
            (Phase::Aiming, AlleyInput::Aim(d)) => steps.nudge_aim(d),
            (Phase::Aiming, AlleyInput::Hook(d)) => steps.nudge_hook(d),
            (Phase::Aiming, AlleyInput::Power) => {
                self.meter_ms = 0;
                self.phase = Phase::Power;
            }
            (Phase::Power, AlleyInput::Power) => self.release(),
            _ => {}
        }
        Ok(())
    }

    /// A bowler joins the lane (a remote player): they start at frame 1 of their own empty card
    /// and bowl when the turn reaches them. Returns their index.
    pub fn join(&mut self, name: &str) -> Result<u8, TurnError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(TurnError::NameRequired);
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(TurnError::NameTooLong(name.to_string()));
        }
        if self.bowlers.iter().any(|b| b.name == name) {
            return Err(TurnError::NameTaken(name.to_string()));
        }
        if self.bowlers.len() >= MAX_BOWLERS {
            return Err(TurnError::LaneFull);
        }
        if self.phase == Phase::GameOver {
            return Err(TurnError::GameOver);
        }
        let index = u8::try_from(self.bowlers.len()).map_err(|_| TurnError::LaneFull)?;
        self.bowlers.push(Bowler::new(name));
        self.events.push_back(AlleyEvent::BowlerJoined(index));
        Ok(index)
    }

    /// Everyone on the lane, in turn order (index 0 is the first bowler).
    pub fn bowlers(&self) -> &[Bowler] {
        &self.bowlers
    }

    /// Index of the bowler whose turn it is (the last to bowl, once the game is over).
    pub fn bowler_up(&self) -> u8 {
        u8::try_from(self.up).unwrap_or(u8::MAX)
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

    /// What put pin `pin` (1..=10) down: the ball, another pin or chaos. None while it stands.
    pub fn fall_cause(&self, pin: u8) -> Option<FallCause> {
        self.rack.fall_cause(pin)
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

    /// The setup of the bowler whose turn it is.
    pub fn setup(&self) -> Setup {
        self.bowlers[self.up].steps.setup()
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

    /// The first bowler's card (the only one, unless someone joined).
    pub fn scorecard(&self) -> &ScoreCard {
        &self.bowlers[0].card
    }

    /// The frame being bowled (on the card of the bowler who is up); while a result shows, the
    /// frame of that roll.
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

    /// Everyone stays on the lane with their setup and a clean card; the first bowler starts.
    fn new_game(&mut self) {
        let rng = self.rng.clone();
        let mut bowlers = std::mem::take(&mut self.bowlers);
        for bowler in &mut bowlers {
            bowler.card = ScoreCard::new();
        }
        *self = Self::new(rng);
        self.bowlers = bowlers;
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
        // Only now is a wobble known to have left the pin standing.
        self.events.extend(self.rack.wobbled().map(AlleyEvent::PinWobbled));
        // Chaos can re-stand a pin the bowler already felled this frame;
        // the sheet must still add up, so the count is capped by the rules.
        let card = &mut self.bowlers[self.up].card;
        let pins = self.rack.pinfall().min(card.max_next_roll());
        let Ok(rec) = card.record(pins) else {
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
        let next = if rec.frame_complete || rec.game_complete { self.next_bowler() } else { Some(self.up) };
        match next {
            None => self.end_game(),
            Some(next) => {
                if next != self.up {
                    self.up = next;
                    self.events.push_back(AlleyEvent::BowlerUp(self.bowler_up()));
                }
                let card = &self.bowlers[self.up].card;
                self.frame = card.current_frame();
                self.roll = card.current_roll();
                self.power = None;
                self.phase = Phase::Aiming;
            }
        }
    }

    /// Who bowls the next frame: the next bowler in join order whose card is not complete,
    /// coming round to the one who just bowled; none once every card is complete.
    fn next_bowler(&self) -> Option<usize> {
        let count = self.bowlers.len();
        (1..=count).map(|step| (self.up + step) % count).find(|&i| !self.bowlers[i].card.is_complete())
    }

    fn end_game(&mut self) {
        self.power = None;
        self.phase = Phase::GameOver;
        self.events.push_back(AlleyEvent::GameOver { score: self.bowlers[0].card.total() });
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
