//! The bowling alley core: lane physics, ten-pin scoring and the turn state
//! machine of one lane.
//!
//! It is pure simulation: no I/O, no wall clock, no threads, no terminal.
//! Time only moves when the caller calls [`Alley::step`], and the only
//! randomness is the seeded generator handed to [`Alley::new`], so a game is
//! replayed exactly by replaying its inputs. That keeps it testable and lets
//! the renderer and the cluster side treat it as a black box that turns
//! inputs into [`AlleyEvent`]s.
//!
//! All coordinates are metres: `x` lateral (0 = lane centre, `+` = right as
//! the bowler sees it), `y` the distance from the foul line. See [`lane`] for
//! the geometry.
//!
//! # A turn
//!
//! `Aiming` (move, aim, hook) → `Power` (the meter swings 0 → 1 → 0 every
//! 1.4 s) → `Rolling` → `Settling` (ball in the pit, pins still flying) →
//! `ShowingResult` (1.2 s, after `RollFinished`) → the pinsetter acts
//! (`RackSwept`, or `RackReset` + `FrameComplete`) → `Aiming` again, or
//! `GameOver` after the tenth frame.
//!
//! # A good line
//!
//! The oil keeps the ball straight for the first two thirds of the lane;
//! the hook only bites on the dry back end, so the ball arrives at an angle.
//! The angle is what carries all ten. For a right-hander: `Move(+1)` eight
//! times (about 22 cm right), `Aim(+1)` twice (0.5° outwards), `Hook(-1)`
//! five times, and lock the meter near 0.8. The aim guide
//! ([`Alley::predicted_path`]) then ends about 7 cm right of the head pin,
//! in the 1-3 pocket; that strikes about half the time and rarely leaves
//! more than two pins. The guide assumes 80 % power: a faster ball hooks
//! less and full power adds release error, so slamming the meter to the top
//! strikes less than a third as often. A straight ball into the same pocket
//! strikes only about a quarter of the time, for want of entry angle.

pub mod lane;

mod ball;
mod game;
mod pins;
mod score;

pub use ball::{BallView, MAX_SPEED, MIN_SPEED, Setup};
pub use game::{Alley, AlleyEvent, AlleyInput, Bowler, MAX_BOWLERS, MAX_NAME_CHARS, Phase, TurnError};
pub use pins::{FallCause, PinView};
pub use score::{Recorded, ScoreCard, ScoreError};
