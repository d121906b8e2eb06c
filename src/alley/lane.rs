//! Lane geometry: regulation dimensions in metres, plus the tiny vector type
//! the physics uses.
//!
//! Coordinates: `x` is lateral (0 = lane centre, `+` = right as the bowler
//! sees it), `y` is the distance from the foul line towards the pins.

use serde::Serialize;
use std::ops::{Add, AddAssign, Mul, Sub, SubAssign};

/// Foul line to the centre of the head pin (60 ft).
pub const HEAD_PIN_Y: f64 = 18.288;
/// Playing surface width (41.5 in, 39 boards).
pub const LANE_WIDTH: f64 = 1.054;
/// A ball whose centre goes beyond this lateral distance drops into a gutter.
pub const LANE_HALF_WIDTH: f64 = LANE_WIDTH / 2.0;
/// Number of boards across the lane; `AlleyInput::Move` steps one board.
pub const BOARDS: u8 = 39;
/// Width of one board (about 2.7 cm).
pub const BOARD_WIDTH: f64 = LANE_WIDTH / BOARDS as f64;
/// Width of each gutter (9.25 in).
pub const GUTTER_WIDTH: f64 = 0.235;
/// Where a gutter ball's centre runs: the middle of the gutter channel.
pub const GUTTER_CENTER_X: f64 = LANE_HALF_WIDTH + GUTTER_WIDTH / 2.0;
/// The kickback (side) walls beside the pin deck: flying pins bounce off
/// them back into the rack, which is how a "messenger" takes out a 10 pin.
pub const KICKBACK_X: f64 = LANE_HALF_WIDTH + GUTTER_WIDTH;
/// The target arrows (15 ft), handy for a renderer's lane markings.
pub const ARROWS_Y: f64 = 4.572;
/// End of the oil pattern (a typical 40 ft house shot). Before this the ball
/// skids straight; after it the ball grips the dry boards and hooks.
pub const OIL_END_Y: f64 = 12.19;
/// Distance over which the hook builds up after the oil ends, so the ball
/// curves progressively instead of turning a sharp corner.
pub const HOOK_RAMP_M: f64 = 1.5;
/// The back of the pin deck: a ball or pin beyond this has fallen into the
/// pit and takes no further part in the roll.
pub const PIT_Y: f64 = 19.4;

/// Distance between adjacent pin spots (12 in).
pub const PIN_SPACING: f64 = 0.3048;
/// Distance between pin rows (12 in × cos 30°).
pub const ROW_SPACING: f64 = 0.26396;

/// Ball radius (8.5 in diameter).
pub const BALL_RADIUS: f64 = 0.108;
/// A typical 15 lb house ball.
pub const BALL_MASS: f64 = 7.0;
/// Pin radius at the belly.
pub const PIN_RADIUS: f64 = 0.06;
/// Regulation pin mass (about 3 lb 6 oz).
pub const PIN_MASS: f64 = 1.5;

/// Pin spots of the standard 4-3-2-1 rack, index 0 = pin 1.
pub const PIN_SPOTS: [Vec2; 10] = [
    spot(0.0, 0),
    spot(-0.5, 1),
    spot(0.5, 1),
    spot(-1.0, 2),
    spot(0.0, 2),
    spot(1.0, 2),
    spot(-1.5, 3),
    spot(-0.5, 3),
    spot(0.5, 3),
    spot(1.5, 3),
];

const fn spot(columns: f64, row: u8) -> Vec2 {
    Vec2 { x: columns * PIN_SPACING, y: HEAD_PIN_Y + row as f64 * ROW_SPACING }
}

/// A 2-D vector in lane coordinates (metres, or metres per second).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Vec2 {
    pub x: f64,
    pub y: f64,
}

impl Vec2 {
    pub const ZERO: Vec2 = Vec2 { x: 0.0, y: 0.0 };

    pub const fn new(x: f64, y: f64) -> Self {
        Self { x, y }
    }

    pub fn dot(self, other: Vec2) -> f64 {
        self.x * other.x + self.y * other.y
    }

    pub fn length(self) -> f64 {
        self.dot(self).sqrt()
    }
}

impl Add for Vec2 {
    type Output = Vec2;
    fn add(self, o: Vec2) -> Vec2 {
        Vec2::new(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Vec2 {
    type Output = Vec2;
    fn sub(self, o: Vec2) -> Vec2 {
        Vec2::new(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f64> for Vec2 {
    type Output = Vec2;
    fn mul(self, k: f64) -> Vec2 {
        Vec2::new(self.x * k, self.y * k)
    }
}

impl AddAssign for Vec2 {
    fn add_assign(&mut self, o: Vec2) {
        *self = *self + o;
    }
}

impl SubAssign for Vec2 {
    fn sub_assign(&mut self, o: Vec2) {
        *self = *self - o;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_matches_the_regulation_layout() {
        assert_eq!(PIN_SPOTS[0], Vec2::new(0.0, HEAD_PIN_Y));
        assert!((PIN_SPOTS[1].x + 0.1524).abs() < 1e-9);
        assert!((PIN_SPOTS[9].x - 0.4572).abs() < 1e-9);
        assert!((PIN_SPOTS[6].y - (HEAD_PIN_Y + 3.0 * ROW_SPACING)).abs() < 1e-9);
        // Neighbouring spots are one pin spacing apart (the rack is equilateral).
        let d = (PIN_SPOTS[0] - PIN_SPOTS[2]).length();
        assert!((d - PIN_SPACING).abs() < 1e-4, "{d}");
        // The whole rack sits on the deck, in front of the pit.
        assert!(PIN_SPOTS.iter().all(|p| p.y + PIN_RADIUS < PIT_Y));
    }
}
