//! `pinsetter bench game_spectators`: the ten-pin game's step time (one tick, its inbox pumped)
//! while `Game` followers are served over gRPC on loopback, one of them never reading; run with
//! 0 and with 50 followers to compare.

use super::proto;
use crate::bench::Measurement;
use crate::cluster::timing::Preset;
use crate::driver::{Driver, Feed, LogHeader};
use crate::scenario::Scenario;
use crate::world::{Input, World};
use std::time::{Duration, Instant};

/// Steps timed per run.
const TICKS: u32 = 6_000;

/// The ten-pin game stepped `TICKS` times (knocks and resets as in `world_step`), with
/// `followers` following it over gRPC (the last one never reads past the header).
pub fn spectators(followers: usize) -> anyhow::Result<Measurement> {
    use anyhow::Context;
    let scenario = Scenario::resolve("default").context("the default lane ships with the binary")?;
    let world = World::new(1, Preset::Arcade, &scenario)?;
    let (handle, inbox) = crate::api::inbox();
    let feed = Feed::new(LogHeader::new(1, Preset::Arcade, crate::clock::Epoch::at_unix_seconds(0), &scenario));
    if inbox.publish_feed(feed.clone()).is_err() {
        anyhow::bail!("the feed was published twice");
    }
    let mut driver = Driver::new(world, 1.0);
    driver.feed = Some(feed.clone());
    driver.pump(&inbox);
    let server = crate::api::Server::start("127.0.0.1:0".parse()?, handle)?;
    let address = format!("grpc://{}", server.addr);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("the followers' runtime")?;
    let mut stalled = Vec::new();
    for i in 0..followers {
        let mut client = runtime.block_on(super::client::connect(&address, None))?;
        let mut updates = runtime.block_on(client.game(proto::GameRequest {}))?.into_inner();
        if i + 1 == followers {
            // Never read: held open until the run ends.
            stalled.push(updates);
        } else {
            runtime.spawn(async move { while let Ok(Some(_)) = updates.message().await {} });
        }
    }
    while feed.followers() < followers {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut times = Vec::with_capacity(TICKS as usize);
    for tick in 0..TICKS {
        if tick % 500 == 100 {
            let pin = format!("pin-{}", tick / 500 % 10 + 1);
            driver.handle_input(Input::Knock(pin))?;
        }
        if tick % 500 == 400 {
            driver.handle_input(Input::ResetPins)?;
        }
        let start = Instant::now();
        driver.advance(Duration::from_millis(crate::clock::TICK_MS));
        driver.pump(&inbox);
        while driver.world.poll_output().is_some() {}
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    drop(stalled);
    server.stop();
    runtime.shutdown_timeout(Duration::from_millis(200));
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Ok(Measurement {
        name: match followers {
            0 => "game_spectators (none)".to_string(),
            n => format!("game_spectators ({n}, 1 never reading)"),
        },
        nodes: 10,
        pods: driver.world.pod_counts().running as usize,
        pods_per_sec: None,
        solve_ms: pick(0.5),
        p99_ms: Some(pick(0.99)),
        runs: times.len(),
        unplaced: None,
    })
}
