//! The driver: the only owner of the World in an interactive session. It maps wall time to game
//! time with a speed multiplier and advances the World in fixed ticks (pause stops stepping), so
//! the game plays the same at any frame rate; and between ticks [`pump`] applies what API
//! clients and pin agents sent as [`Input`]s, publishes the read view and routes the World's
//! replies to the handlers waiting for them. `play`, `serve` and the tests all go through it.

use crate::api::{Inbox, Work};
use crate::clock::TICK_MS;
use crate::world::{Input, World};
use std::collections::BTreeMap;
use std::time::Duration;

/// Applies every request waiting in `inbox` to the World as an [`Input::Request`] (at this tick
/// boundary), runs the agent-state reads, publishes the read view, then sends each reply to the
/// handler waiting for it: after the publish, so a client reads its own write. Returns how
/// many requests ran.
pub fn pump(world: &mut World, inbox: &Inbox) -> usize {
    let mut waiting = BTreeMap::new();
    while let Some(work) = inbox.next_work() {
        match work {
            Work::Request(request, reply) => {
                let id = inbox.next_id();
                waiting.insert(id, reply);
                let input = Input::Request { id, request };
                // A bug reachable from one request must cost that request (its caller sees the
                // oneshot dropped: 503), never the World and every other client with it.
                let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.handle_input(input)));
                match applied {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!("a request input was refused outright: {e}"),
                    Err(_) => {
                        waiting.remove(&id);
                        tracing::error!("a request panicked on the World's thread; it was refused and the World kept");
                    }
                }
            }
            Work::Read(read) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(world))).is_err() {
                    tracing::error!("a read panicked on the World's thread; it was refused and the World kept");
                }
            }
        }
    }
    inbox.publish(world);
    let ran = waiting.len();
    while let Some(reply) = world.poll_reply() {
        match waiting.remove(&reply.id) {
            // The caller may have gone (its client hung up): nobody is left to answer.
            Some(handler) => {
                handler.send(reply.result).ok();
            }
            None => tracing::error!(id = reply.id, "a reply nobody waits for"),
        }
    }
    ran
}

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
