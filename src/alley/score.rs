//! Ten-pin scoring: ten frames, strikes and spares earn the next rolls as a
//! bonus, and the tenth frame gives the bonus rolls itself.

use serde::Serialize;
use std::fmt;

/// Frames in a game.
pub const FRAMES: u8 = 10;
/// Pins in a full rack.
const RACK: u8 = 10;

/// Why a roll cannot be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreError {
    /// The game is over; no more rolls.
    GameComplete,
    /// More pins than were standing.
    TooManyPins { pins: u8, standing: u8 },
}

impl fmt::Display for ScoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GameComplete => write!(f, "the game is already complete"),
            Self::TooManyPins { pins, standing } => {
                write!(f, "{pins} pins cannot fall when only {standing} stand")
            }
        }
    }
}

impl std::error::Error for ScoreError {}

/// What a recorded roll was, and what the pinsetter must do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub frame: u8,
    /// 1..=3 within the frame.
    pub roll: u8,
    pub strike: bool,
    pub spare: bool,
    /// The frame needs no more rolls.
    pub frame_complete: bool,
    /// The game needs no more rolls.
    pub game_complete: bool,
    /// The next roll is at a full rack of ten (a new frame, or a tenth-frame
    /// bonus after a strike or spare), rather than at the pins left standing.
    pub fresh_rack_next: bool,
}

/// A bowler's score sheet.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ScoreCard {
    /// Pins knocked down by each roll, per frame (frame 1 first).
    frames: [Vec<u8>; FRAMES as usize],
}

impl ScoreCard {
    pub fn new() -> Self {
        Self::default()
    }

    /// The rolls of `frame` (1..=10); empty for a frame not yet bowled or a
    /// number out of range.
    pub fn rolls(&self, frame: u8) -> &[u8] {
        frame_index(frame).map_or(&[], |i| &self.frames[i])
    }

    /// The frame the next roll belongs to (10 once the game is over).
    pub fn current_frame(&self) -> u8 {
        (1..=FRAMES).find(|&f| !frame_done(f, self.rolls(f))).unwrap_or(FRAMES)
    }

    /// Number of the next roll within its frame, 1..=3 (after the game is
    /// over: the last roll bowled).
    pub fn current_roll(&self) -> u8 {
        let frame = self.current_frame();
        let bowled = self.rolls(frame).len() as u8;
        if self.is_complete() { bowled } else { bowled + 1 }
    }

    pub fn is_complete(&self) -> bool {
        frame_done(FRAMES, self.rolls(FRAMES))
    }

    /// How many pins stand for the next roll, by the rules (0 once the game
    /// is over).
    pub fn max_next_roll(&self) -> u8 {
        if self.is_complete() {
            return 0;
        }
        let rolls = self.rolls(self.current_frame());
        RACK - rack_state(rolls).1
    }

    /// Records a roll that knocked down `pins`.
    pub fn record(&mut self, pins: u8) -> Result<Recorded, ScoreError> {
        if self.is_complete() {
            return Err(ScoreError::GameComplete);
        }
        let standing = self.max_next_roll();
        if pins > standing {
            return Err(ScoreError::TooManyPins { pins, standing });
        }
        let frame = self.current_frame();
        let (fresh, _) = rack_state(self.rolls(frame));
        let i = usize::from(frame - 1);
        self.frames[i].push(pins);
        let rolls = &self.frames[i];
        let frame_complete = frame_done(frame, rolls);
        let game_complete = self.is_complete();
        Ok(Recorded {
            frame,
            roll: rolls.len() as u8,
            strike: fresh && pins == RACK,
            spare: !fresh && pins == standing,
            frame_complete,
            game_complete,
            fresh_rack_next: !game_complete && (frame_complete || rack_state(rolls).0),
        })
    }

    /// Cumulative score after each frame; `None` until a frame's bonus rolls
    /// have been bowled (and for every frame after such a one).
    pub fn frame_totals(&self) -> [Option<u16>; FRAMES as usize] {
        let flat: Vec<u16> = self.frames.iter().flatten().map(|&p| p.into()).collect();
        let mut totals = [None; FRAMES as usize];
        let mut start = 0;
        let mut running = Some(0u16);
        for (i, rolls) in self.frames.iter().enumerate() {
            let score = frame_score(i, rolls, &flat, start);
            running = running.zip(score).map(|(r, s)| r + s);
            totals[i] = running;
            start += rolls.len();
        }
        totals
    }

    /// The score so far: every pin bowled plus the bonus rolls already
    /// bowled. Equals the final score once the game is complete, and unlike
    /// the last known frame total it grows with every roll.
    pub fn total(&self) -> u16 {
        let flat: Vec<u16> = self.frames.iter().flatten().map(|&p| p.into()).collect();
        let mut start = 0;
        let mut sum = 0;
        for (i, rolls) in self.frames.iter().enumerate() {
            let own: u16 = rolls.iter().map(|&p| u16::from(p)).sum();
            let bonus: u16 = flat.iter().skip(start + rolls.len()).take(bonus_rolls(i, rolls)).sum();
            sum += own + bonus;
            start += rolls.len();
        }
        sum
    }

    /// The marks for `frame` as on a score sheet: `X` strike, `/` spare, `-`
    /// a roll of nothing, otherwise the pin count, one character per roll
    /// ("X", "7/", "8-", "-8", "81", "X81" in the tenth). Empty if unbowled.
    pub fn marks(&self, frame: u8) -> String {
        let rolls = self.rolls(frame);
        let mut out = String::new();
        for (n, &pins) in rolls.iter().enumerate() {
            let (fresh, down) = rack_state(&rolls[..n]);
            let c = if fresh && pins == RACK {
                'X'
            } else if !fresh && down + pins == RACK {
                '/'
            } else if pins == 0 {
                '-'
            } else {
                char::from(b'0' + pins % 10)
            };
            out.push(c);
        }
        out
    }
}

fn frame_index(frame: u8) -> Option<usize> {
    (1..=FRAMES).contains(&frame).then(|| usize::from(frame - 1))
}

/// For the rolls bowled so far in a frame: whether the next roll meets a
/// fresh rack, and how many pins of the current rack are already down.
fn rack_state(rolls: &[u8]) -> (bool, u8) {
    let mut down = 0;
    let mut fresh = true;
    for &pins in rolls {
        down += pins;
        fresh = false;
        if down >= RACK {
            down = 0;
            fresh = true;
        }
    }
    (fresh, down)
}

/// Whether a frame needs no more rolls.
fn frame_done(frame: u8, rolls: &[u8]) -> bool {
    let first_two: u8 = rolls.iter().take(2).sum();
    if frame < FRAMES {
        rolls.first() == Some(&RACK) || rolls.len() >= 2
    } else if first_two >= RACK {
        rolls.len() >= 3
    } else {
        rolls.len() >= 2
    }
}

/// How many later rolls count as a bonus for frame index `i` (0-based).
fn bonus_rolls(i: usize, rolls: &[u8]) -> usize {
    if i + 1 == usize::from(FRAMES) {
        0
    } else if rolls.first() == Some(&RACK) {
        2
    } else if rolls.len() == 2 && rolls[0] + rolls[1] == RACK {
        1
    } else {
        0
    }
}

/// A frame's own score with bonus, once every roll it needs is bowled.
fn frame_score(i: usize, rolls: &[u8], flat: &[u16], start: usize) -> Option<u16> {
    let frame = u8::try_from(i + 1).ok()?;
    if !frame_done(frame, rolls) {
        return None;
    }
    let wanted = rolls.len() + bonus_rolls(i, rolls);
    let counted = flat.get(start..start + wanted)?;
    Some(counted.iter().sum())
}

#[cfg(test)]
mod tests;
