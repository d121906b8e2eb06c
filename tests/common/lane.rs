//! An API server in process: a World owned by a thread that drains the inbox and steps time, as
//! `serve` does, and its router, driven with axum's `oneshot` (no socket).

use axum::Router;
use pinsetter::api;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::World;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The router of a running lane; dropping it stops the World's thread.
pub struct Lane {
    pub router: Router,
    pub stop: Arc<AtomicBool>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The default lane, up (pods Running) before it serves.
pub fn lane() -> Lane {
    lane_with(|_| {})
}

/// The default lane after `setup`, up (pods Running) before it serves.
pub fn lane_with(setup: impl FnOnce(&mut World) + Send + 'static) -> Lane {
    let (handle, inbox) = api::inbox();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        setup(&mut world);
        for _ in 0..200 {
            world.step();
        }
        while !flag.load(Ordering::Relaxed) {
            inbox.drain(&mut world);
            world.step();
            while world.poll_output().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Lane { router: api::router(handle, "127.0.0.1:0".parse().unwrap()), stop }
}
