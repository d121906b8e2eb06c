//! The driver: the only owner of the World in an interactive session. It maps wall time to game
//! time with a speed multiplier and advances the World in fixed ticks (pause stops stepping), so
//! the game plays the same at any frame rate.

use crate::clock::TICK_MS;
use crate::world::World;
use std::time::Duration;

/// Speeds the `+`/`-` keys step through.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Most ticks run for one frame: after a long stall the game skips ahead rather than freezing
/// the screen to catch up.
const MAX_TICKS_PER_ADVANCE: u32 = 400;

pub struct Driver {
    pub world: World,
    pub speed: f64,
    pub paused: bool,
    /// Game-time milliseconds owed but not yet stepped.
    owed_ms: f64,
}

impl Driver {
    pub fn new(world: World, speed: f64) -> Driver {
        Driver { world, speed, paused: false, owed_ms: 0.0 }
    }

    /// Advances by `wall` of real time; returns how many ticks ran.
    pub fn advance(&mut self, wall: Duration) -> u32 {
        if self.paused {
            return 0;
        }
        self.owed_ms += wall.as_secs_f64() * 1000.0 * self.speed;
        let mut ticks = 0;
        while self.owed_ms >= TICK_MS as f64 && ticks < MAX_TICKS_PER_ADVANCE {
            self.world.step();
            self.owed_ms -= TICK_MS as f64;
            ticks += 1;
        }
        if ticks == MAX_TICKS_PER_ADVANCE {
            self.owed_ms = 0.0;
        }
        ticks
    }

    pub fn faster(&mut self) {
        self.speed = SPEEDS.iter().copied().find(|s| *s > self.speed).unwrap_or(self.speed);
    }

    pub fn slower(&mut self) {
        self.speed = SPEEDS.iter().rev().copied().find(|s| *s < self.speed).unwrap_or(self.speed);
    }
}
