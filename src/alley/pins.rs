//! The rack of ten pins and everything that hits them: ball–pin and pin–pin
//! contacts as 2-D circle collisions, sliding friction and the kickback walls.

use super::ball::Ball;
use super::lane::{BALL_MASS, BALL_RADIUS, KICKBACK_X, PIN_MASS, PIN_RADIUS, PIN_SPOTS, PIT_Y, Vec2};
use serde::Serialize;

/// Bounciness of ball–pin and pin–pin contacts (maple on plastic is lively).
const RESTITUTION: f64 = 0.7;
/// Pins bouncing off the padded kickbacks lose more energy.
const WALL_RESTITUTION: f64 = 0.3;
/// A standing pin knocked faster than this topples; anything gentler just
/// makes it wobble on its base and it stays up.
const FALL_SPEED: f64 = 0.25;
/// A standing pin knocked faster than this (but not past [`FALL_SPEED`])
/// rocks visibly on its base: a wobble. Gentler touches are grazes that
/// barely move it, so they do not count.
const WOBBLE_SPEED: f64 = 0.1;
/// Deceleration of a fallen pin tumbling and sliding across the deck.
const SLIDE_DECEL: f64 = 6.0;
/// Contact radius of a fallen pin. A pin is 38 cm long: as it tumbles it
/// sweeps far more of the deck than its 6 cm belly, which is where most pin
/// action comes from, so a flat circle needs a bigger reach to stand in for it.
const LYING_RADIUS: f64 = 0.07;
/// Where pins removed by the sweep (or fallen into the pit) are parked: off
/// the deck, behind the pit edge, so a renderer drawing the lane skips them.
const PARKED_Y: f64 = PIT_Y + 0.3;

/// One pin as the renderer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PinView {
    pub number: u8,
    pub x: f64,
    pub y: f64,
    pub standing: bool,
    pub moving: bool,
}

/// What put a pin down. The cluster side turns it into what the pin's node
/// suffers: the ball's hit is a crash, another pin's a network partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallCause {
    /// The ball hit it squarely enough to topple it.
    Ball,
    /// This pin (1..=10), flying or tumbling, knocked it over.
    Pin(u8),
    /// Chaos ([`super::Alley::knock_pin`]): a key or a controller, not the game.
    Chaos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PinState {
    /// Upright on the deck (never slides: it topples instead).
    Standing,
    /// Knocked over and tumbling or lying on the deck, still in play.
    Fallen,
    /// Knocked over by chaos: lying at its spot, out of play.
    Dead,
    /// In the pit or swept away.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Pin {
    pos: Vec2,
    vel: Vec2,
    state: PinState,
    /// Standing when the current ball was released, so it may count.
    eligible: bool,
    /// Toppled by the ball or other pins (not by chaos) during this roll.
    knocked: bool,
    /// What put it down, until it stands again.
    cause: Option<FallCause>,
    /// Rocked on its base during this roll (it may still have fallen since).
    wobbled: bool,
}

impl Pin {
    fn standing_at(pos: Vec2) -> Self {
        Self {
            pos,
            vel: Vec2::ZERO,
            state: PinState::Standing,
            eligible: false,
            knocked: false,
            cause: None,
            wobbled: false,
        }
    }

    fn in_play(&self) -> bool {
        matches!(self.state, PinState::Standing | PinState::Fallen)
    }

    fn radius(&self) -> f64 {
        if self.state == PinState::Standing { PIN_RADIUS } else { LYING_RADIUS }
    }

    fn body(&mut self) -> Body<'_> {
        // A standing pin does not slide (it topples instead), so whatever
        // overlaps it is pushed out of the way rather than the pin.
        let push_inv_mass = if self.state == PinState::Standing { 0.0 } else { 1.0 / PIN_MASS };
        Body { pos: &mut self.pos, vel: &mut self.vel, inv_mass: 1.0 / PIN_MASS, push_inv_mass }
    }
}

/// The ten pins, index 0 = pin 1.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rack {
    pins: [Pin; 10],
}

impl Default for Rack {
    fn default() -> Self {
        Self { pins: PIN_SPOTS.map(Pin::standing_at) }
    }
}

/// Pin number of index `i` (0..10).
fn pin_number(i: usize) -> u8 {
    u8::try_from(i + 1).unwrap_or(u8::MAX)
}

/// Index for a pin number, if it is one (1..=10).
fn index(number: u8) -> Option<usize> {
    (1..=10).contains(&number).then(|| usize::from(number - 1))
}

impl Rack {
    /// All ten stand on their spots. A pin keeps its eligibility, so a
    /// pin re-stood mid-roll and felled again counts as it would have.
    pub fn reset(&mut self) {
        for number in 1..=10 {
            self.stand(number);
        }
    }

    /// The pinsetter's sweep: every pin that is down goes; standing ones stay.
    pub fn sweep(&mut self) {
        for (pin, spot) in self.pins.iter_mut().zip(PIN_SPOTS) {
            if pin.state != PinState::Standing {
                pin.state = PinState::Gone;
                pin.vel = Vec2::ZERO;
                pin.pos = Vec2::new(spot.x, PARKED_Y);
            }
        }
    }

    /// Chaos topples a standing pin where it stands; returns whether it did.
    pub fn knock(&mut self, number: u8) -> bool {
        match index(number).map(|i| &mut self.pins[i]) {
            Some(pin) if pin.state == PinState::Standing => {
                pin.state = PinState::Dead;
                pin.knocked = false;
                pin.cause = Some(FallCause::Chaos);
                true
            }
            _ => false,
        }
    }

    /// Chaos stands a pin back on its spot; returns whether it was down.
    pub fn stand(&mut self, number: u8) -> bool {
        match index(number) {
            Some(i) if self.pins[i].state != PinState::Standing => {
                let eligible = self.pins[i].eligible;
                self.pins[i] = Pin { eligible, ..Pin::standing_at(PIN_SPOTS[i]) };
                true
            }
            _ => false,
        }
    }

    /// A ball is released: only pins standing now can count for it.
    pub fn start_roll(&mut self) {
        for pin in &mut self.pins {
            pin.eligible = pin.state == PinState::Standing;
            pin.knocked = false;
            pin.wobbled = false;
        }
    }

    /// What put pin `number` down; None while it stands (or for no such pin).
    pub fn fall_cause(&self, number: u8) -> Option<FallCause> {
        index(number).and_then(|i| self.pins[i].cause)
    }

    /// Pins that wobbled during this roll and are still standing, in pin order.
    pub fn wobbled(&self) -> impl Iterator<Item = u8> + '_ {
        self.pins.iter().zip(1u8..).filter(|(p, _)| p.wobbled && p.state == PinState::Standing).map(|(_, n)| n)
    }

    /// Pinfall of the current roll: pins standing at release that the ball
    /// or flying pins have put down and that are still down.
    pub fn pinfall(&self) -> u8 {
        let count = self.pins.iter().filter(|p| p.eligible && p.knocked && p.state != PinState::Standing).count();
        u8::try_from(count).unwrap_or(10)
    }

    /// True when no pin is moving any more.
    pub fn is_still(&self) -> bool {
        self.pins.iter().all(|p| p.vel == Vec2::ZERO)
    }

    /// Ends the roll's motion: pins lie where they are.
    pub fn freeze(&mut self) {
        for pin in &mut self.pins {
            pin.vel = Vec2::ZERO;
        }
    }

    pub fn views(&self) -> [PinView; 10] {
        let mut number = 0;
        self.pins.map(|p| {
            number += 1;
            PinView {
                number,
                x: p.pos.x,
                y: p.pos.y,
                standing: p.state == PinState::Standing,
                moving: p.vel != Vec2::ZERO,
            }
        })
    }

    /// Advances the pins by `dt` seconds, resolving contacts with `ball` and
    /// between pins. Pin numbers that topple are pushed onto `toppled` in the
    /// order they fall, each remembering what knocked it (the contact that
    /// struck it hardest in this substep). Returns whether the ball touched a pin.
    pub fn substep(&mut self, ball: Option<&mut Ball>, dt: f64, toppled: &mut Vec<u8>) -> bool {
        self.move_pins(dt);
        // A standing pin is at rest at the start of every substep, so whatever
        // moves it now comes from these contacts: (impulse, who) of the hardest.
        let mut hardest: [Option<(f64, FallCause)>; 10] = [None; 10];
        let mut note = |i: usize, impulse: f64, by: FallCause| {
            if hardest[i].is_none_or(|(j, _)| impulse > j) {
                hardest[i] = Some((impulse, by));
            }
        };
        let mut touched = false;
        if let Some(ball) = ball.filter(|b| !b.in_gutter) {
            for (i, pin) in self.pins.iter_mut().enumerate().filter(|(_, p)| p.in_play()) {
                let reach = BALL_RADIUS + pin.radius();
                let standing = pin.state == PinState::Standing;
                let ball = Body {
                    pos: &mut ball.pos,
                    vel: &mut ball.vel,
                    inv_mass: 1.0 / BALL_MASS,
                    push_inv_mass: 1.0 / BALL_MASS,
                };
                if let Some(impulse) = collide(ball, pin.body(), reach) {
                    touched = true;
                    if standing {
                        note(i, impulse, FallCause::Ball);
                    }
                }
            }
        }
        for i in 0..self.pins.len() {
            let (head, tail) = self.pins.split_at_mut(i + 1);
            let a = &mut head[i];
            for (k, b) in tail.iter_mut().enumerate() {
                let both_resting = a.vel == Vec2::ZERO && b.vel == Vec2::ZERO;
                if both_resting || !a.in_play() || !b.in_play() {
                    continue;
                }
                let reach = a.radius() + b.radius();
                let (a_standing, b_standing) = (a.state == PinState::Standing, b.state == PinState::Standing);
                let j = i + 1 + k;
                if let Some(impulse) = collide(a.body(), b.body(), reach) {
                    if a_standing {
                        note(i, impulse, FallCause::Pin(pin_number(j)));
                    }
                    if b_standing {
                        note(j, impulse, FallCause::Pin(pin_number(i)));
                    }
                }
            }
        }
        for ((pin, number), hit) in self.pins.iter_mut().zip(1u8..).zip(hardest) {
            if pin.state != PinState::Standing || pin.vel == Vec2::ZERO {
                continue;
            }
            let speed = pin.vel.length();
            if speed > FALL_SPEED {
                pin.state = PinState::Fallen;
                pin.knocked = true;
                pin.cause = Some(hit.map_or(FallCause::Ball, |(_, by)| by));
                toppled.push(number);
            } else {
                pin.wobbled |= speed > WOBBLE_SPEED;
                pin.vel = Vec2::ZERO;
            }
        }
        touched
    }

    fn move_pins(&mut self, dt: f64) {
        for pin in self.pins.iter_mut().filter(|p| p.state == PinState::Fallen) {
            let speed = pin.vel.length();
            if speed <= SLIDE_DECEL * dt {
                pin.vel = Vec2::ZERO;
                continue;
            }
            pin.vel = pin.vel * ((speed - SLIDE_DECEL * dt) / speed);
            pin.pos += pin.vel * dt;
            let limit = KICKBACK_X - LYING_RADIUS;
            if pin.pos.x.abs() > limit && pin.pos.x * pin.vel.x > 0.0 {
                pin.pos.x = limit.copysign(pin.pos.x);
                pin.vel.x = -pin.vel.x * WALL_RESTITUTION;
            }
            if pin.pos.y > PIT_Y {
                pin.state = PinState::Gone;
                pin.vel = Vec2::ZERO;
            }
        }
    }
}

/// A body taking part in one contact.
struct Body<'a> {
    pos: &'a mut Vec2,
    vel: &'a mut Vec2,
    /// For the impulse.
    inv_mass: f64,
    /// For separating an overlap; 0 for a body that must not be shifted.
    push_inv_mass: f64,
}

/// Resolves a contact between two circles whose centres touch at `reach`:
/// pushes them apart and, if they are closing, exchanges the impulse of a
/// partly elastic collision. Returns the impulse exchanged (0 for bodies
/// touching but not closing), or None if they were not in contact.
fn collide(a: Body, b: Body, reach: f64) -> Option<f64> {
    let d = *a.pos - *b.pos;
    let dist = d.length();
    if dist >= reach {
        return None;
    }
    // Exactly coincident centres have no normal: pick one, deterministically.
    let n = if dist > 1e-9 { d * (1.0 / dist) } else { Vec2::new(0.0, -1.0) };
    let push_total = a.push_inv_mass + b.push_inv_mass;
    if push_total > 0.0 {
        let overlap = reach - dist;
        *a.pos += n * (overlap * a.push_inv_mass / push_total);
        *b.pos -= n * (overlap * b.push_inv_mass / push_total);
    }
    let closing = (*a.vel - *b.vel).dot(n);
    if closing >= 0.0 {
        return Some(0.0);
    }
    let j = -(1.0 + RESTITUTION) * closing / (a.inv_mass + b.inv_mass);
    *a.vel += n * (j * a.inv_mass);
    *b.vel -= n * (j * b.inv_mass);
    Some(j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collision_conserves_momentum() {
        let (mut pa, mut va) = (Vec2::new(0.0, 0.0), Vec2::new(0.0, 8.0));
        let (mut pb, mut vb) = (Vec2::new(0.05, 0.15), Vec2::ZERO);
        let before = va * BALL_MASS + vb * PIN_MASS;
        let ball = Body { pos: &mut pa, vel: &mut va, inv_mass: 1.0 / BALL_MASS, push_inv_mass: 1.0 / BALL_MASS };
        let pin = Body { pos: &mut pb, vel: &mut vb, inv_mass: 1.0 / PIN_MASS, push_inv_mass: 0.0 };
        let hit = collide(ball, pin, BALL_RADIUS + PIN_RADIUS);
        let after = va * BALL_MASS + vb * PIN_MASS;
        assert!(hit.is_some_and(|j| j > 0.0));
        assert!((before - after).length() < 1e-9);
        assert!(va.y < 8.0 && va.x < 0.0, "the ball slows and deflects: {va:?}");
        assert!(vb.y > 0.0 && vb.x > 0.0, "the pin flies off: {vb:?}");
    }

    #[test]
    fn chaos_knock_and_stand() {
        let mut rack = Rack::default();
        assert!(rack.knock(3));
        assert!(!rack.knock(3), "already down");
        assert!(!rack.knock(0) && !rack.knock(11));
        assert_eq!(rack.views().iter().filter(|p| p.standing).count(), 9);
        rack.start_roll();
        assert_eq!(rack.pinfall(), 0, "a chaos pin is no pinfall");
        assert!(rack.stand(3));
        assert!(!rack.stand(3));
        assert_eq!(rack, {
            let mut fresh = Rack::default();
            fresh.start_roll();
            fresh.pins[2].eligible = false;
            fresh
        });
    }

    #[test]
    fn sweep_keeps_standing_pins() {
        let mut rack = Rack::default();
        rack.knock(1);
        rack.sweep();
        let views = rack.views();
        assert!(views[0].y > PIT_Y && !views[0].standing);
        assert!(views[1..].iter().all(|p| p.standing));
    }
}
