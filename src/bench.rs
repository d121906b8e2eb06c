//! `pinsetter bench`: throughput figures for the hot paths, as JSON (`--json`) or a table.
//! These are measurements, not tests: nothing here asserts a speed.

use crate::clock::{Millis, TICK_MS};
use crate::cluster::objects::{Readiness, Taint};
use crate::cluster::scheduler::flow::{self, Network};
use crate::cluster::scheduler::framework::{NodeInfo, PodInfo, Resources, add_request};
use crate::cluster::scheduler::{greedy, spread};
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::scenario::{LaneSize, Scenario};
use crate::world::{Input, Output, World};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub name: String,
    pub nodes: usize,
    pub pods: usize,
    /// Pods placed per second of wall time (median of the runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pods_per_sec: Option<f64>,
    /// Milliseconds for one run (median).
    pub solve_ms: f64,
    /// Milliseconds: 99th percentile of the runs where several were taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    pub runs: usize,
    /// Pods left unplaced (for a batch benchmark: the lane is sized so this is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unplaced: Option<usize>,
}

/// One entry of the results: a measurement, and the objective where one applies (the flow
/// benchmark's min-cost flow cost, the `cost` that `--dump-flow` writes).
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    #[serde(flatten)]
    pub measurement: Measurement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub objective: Option<i64>,
    /// What a whole-World entry (startup, world_step at scale, over_capacity) adds.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub world: Option<WorldFigures>,
}

impl From<Measurement> for Entry {
    fn from(measurement: Measurement) -> Entry {
        Entry { measurement, objective: None, world: None }
    }
}

/// Figures of a benchmark that runs a whole World (a generated lane, every controller).
#[derive(Debug, Clone, Serialize)]
pub struct WorldFigures {
    /// Game time covered, milliseconds.
    pub game_ms: u64,
    /// Ticks stepped (one per 10 ms of game time).
    pub ticks: u64,
    /// Mean tick wall time, milliseconds.
    pub mean_ms: f64,
    /// The process's peak resident set so far (VmHWM): entries run smallest first, so each
    /// figure is the peak up to and including that entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    pub running: i64,
    pub pending: i64,
    /// FailedScheduling event records the World emitted during the measured window (where
    /// the entry counts them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_scheduling: Option<u64>,
    /// Game time per wall time over the window's frames (1: the clock's pace; below: the
    /// play loop slowed the game to keep drawing), where the entry times frames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub game_per_wall: Option<f64>,
}

/// The names `pinsetter bench [FILTER]` matches against, in the order they run.
pub const GROUPS: [&str; 13] = [
    "greedy_batch",
    "spread_one_by_one",
    "flow_replace",
    "flow_replace_mixed",
    "world_step",
    "frame",
    "startup",
    "world_step_knock",
    "over_capacity",
    "game_spectators",
    "pods_view",
    "stadium_first_frame",
    "stadium_frame",
];

/// `nodes` pins with 30 pods each, generated as `--nodes N --pods 30N` generates them (sized
/// so the pods fit at about 75 %).
fn thirty_per_node(nodes: usize) -> Scenario {
    Scenario::generate(&LaneSize::new(nodes, nodes * 30)).expect("30 pods a node is inside the envelope")
}

/// Steps `world` `ticks` times, timing each step and draining its outputs (counting
/// FailedScheduling records).
fn timed_steps(world: &mut World, ticks: u64, times: &mut Vec<f64>, failed_scheduling: &mut u64) {
    for _ in 0..ticks {
        let start = Instant::now();
        world.step();
        while let Some(output) = world.poll_output() {
            if let Output::Event(e) = &output
                && e.reason == "FailedScheduling"
            {
                *failed_scheduling += 1;
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
}

fn world_entry(name: &str, nodes: usize, world: &World, times: Vec<f64>, build_ms: f64, failed: u64) -> Entry {
    let counts = world.pod_counts();
    let ticks = times.len() as u64;
    let total: f64 = times.iter().sum::<f64>() + build_ms;
    let mean_ms = if times.is_empty() { 0.0 } else { times.iter().sum::<f64>() / times.len() as f64 };
    let (median, p99) = if times.is_empty() { (0.0, 0.0) } else { median_and_p99(times) };
    let startup = name == "startup" || name == "over_capacity";
    Entry {
        measurement: Measurement {
            name: name.into(),
            nodes,
            pods: counts.desired as usize,
            pods_per_sec: None,
            // A start-up or a fixed window is one run: its whole wall time. A steady window
            // is many ticks: the median tick.
            solve_ms: if startup { total } else { median },
            p99_ms: Some(p99),
            runs: if startup { 1 } else { ticks as usize },
            unplaced: None,
        },
        objective: None,
        world: Some(WorldFigures {
            game_ms: ticks * TICK_MS,
            ticks,
            mean_ms,
            peak_rss_bytes: crate::sim::peak_rss_bytes(),
            running: counts.running,
            pending: counts.pending,
            failed_scheduling: Some(failed),
            game_per_wall: None,
        }),
    }
}

/// The whole-World entries at one lane size: `startup` (empty to every pod Running: wall ms
/// including building the World, ticks, peak RSS), then on the same World `world_step`
/// (`steady` of game time with nothing happening: median, mean and p99 tick) and
/// `world_step_knock` (1 % of the pins knocked, then `after_knock` of game time to recover).
pub fn world_at_scale(nodes: usize, steady: Millis, after_knock: Millis, wanted: impl Fn(&str) -> bool) -> Vec<Entry> {
    crate::sim::reset_peak_rss();
    let scenario = thirty_per_node(nodes);
    let start = Instant::now();
    let mut world = World::new(1, Preset::Arcade, &scenario).expect("a generated lane is valid");
    let build_ms = start.elapsed().as_secs_f64() * 1000.0;
    // Up to two minutes of game time to come up; checked every 100 ms of game time, outside
    // the timed steps.
    let (mut times, mut failed) = (Vec::new(), 0);
    for _ in 0..1_200 {
        let counts = world.pod_counts();
        if counts.running >= counts.desired {
            break;
        }
        timed_steps(&mut world, 10, &mut times, &mut failed);
    }
    let mut entries = Vec::new();
    if wanted("startup") {
        entries.push(world_entry("startup", nodes, &world, times, build_ms, failed));
    }
    if wanted("world_step") {
        let (mut times, mut failed) = (Vec::new(), 0);
        timed_steps(&mut world, steady.0 / TICK_MS, &mut times, &mut failed);
        entries.push(world_entry("world_step", nodes, &world, times, 0.0, failed));
    }
    if wanted("world_step_knock") {
        for i in 0..nodes.div_ceil(100) {
            let pin = format!("pin-{}", i * 100 + 1);
            if let Err(e) = world.handle_input(Input::Knock(pin)) {
                eprintln!("bench: knocking a generated pin failed: {e}");
            }
        }
        let (mut times, mut failed) = (Vec::new(), 0);
        timed_steps(&mut world, after_knock.0 / TICK_MS, &mut times, &mut failed);
        entries.push(world_entry("world_step_knock", nodes, &world, times, 0.0, failed));
    }
    // Dropped, not leaked, though freeing 150,000 pods takes a moment: the next lane's peak
    // RSS must not count this one's.
    drop(world);
    entries
}

/// The over-capacity lane of issue 10: 1,000 pins of 4 cpu / 8Gi and 30,000 pods, of which
/// about 26,000 can never be placed. Wall time (World built and stepped) for `game` of game
/// time, and the FailedScheduling records emitted.
pub fn over_capacity(game: Millis) -> Entry {
    let size =
        LaneSize { node_cpu_milli: Some(4_000), node_memory_bytes: Some(8 << 30), ..LaneSize::new(1_000, 30_000) };
    crate::sim::reset_peak_rss();
    let scenario = Scenario::generate(&size).expect("the over-capacity lane is inside the envelope");
    let start = Instant::now();
    let mut world = World::new(1, Preset::Arcade, &scenario).expect("a generated lane is valid");
    let build_ms = start.elapsed().as_secs_f64() * 1000.0;
    let (mut times, mut failed) = (Vec::new(), 0);
    timed_steps(&mut world, game.0 / TICK_MS, &mut times, &mut failed);
    let entry = world_entry("over_capacity", 1_000, &world, times, build_ms, failed);
    drop(world);
    entry
}

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub results: Vec<Entry>,
}

/// A homogeneous lane of `nodes` pins (4 cpu, 8Gi, 110 pods) and a pending batch of
/// `pods_per_node × nodes` pods of five shapes, sized to fit.
pub fn lane(nodes: usize, pods_per_node: usize) -> (Vec<NodeInfo>, Vec<PodInfo>) {
    let node_infos = (0..nodes)
        .map(|i| NodeInfo {
            name: compact_str::format_compact!("pin-{}", i + 1),
            allocatable: Resources { cpu_milli: 4000, memory_milli: (8i64 << 30) * 1000, pods: 110 },
            requested: Resources::default(),
            taints: Default::default(),
            labels: Default::default(),
            unschedulable: false,
            readiness: Readiness::Ready,
        })
        .collect();
    // 30 pods of these shapes average ~100m cpu and ~200Mi: a pin holds them with room to spare.
    let shapes: [(i64, i64, i32); 5] = [(50, 64, 0), (100, 128, 0), (200, 512, 1000), (100, 256, 0), (50, 128, -10)];
    let pods = (0..nodes * pods_per_node)
        .map(|i| {
            let (cpu, mem_mi, priority) = shapes[i % shapes.len()];
            PodInfo {
                key: ObjectKey::new("default", format!("pod-{i}")),
                requests: Resources { cpu_milli: cpu, memory_milli: (mem_mi << 20) * 1000, pods: 1 },
                priority,
                tolerations: Default::default(),
                node_selector: BTreeMap::new(),
                volumes: None,
                constraints: None,
            }
        })
        .collect();
    (node_infos, pods)
}

fn median_and_p99(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let p = |q: f64| samples[((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1];
    (p(0.5), p(0.99))
}

/// Batch greedy placement at each lane size with 30 pods per node.
pub fn greedy_batch(sizes: &[usize]) -> Vec<Measurement> {
    sizes
        .iter()
        .map(|&nodes| {
            let (node_infos, pods) = lane(nodes, 30);
            let runs = if nodes <= 1_000 { 9 } else { 5 };
            let mut times = Vec::new();
            let mut unplaced = 0;
            for _ in 0..runs {
                let mut lane = node_infos.clone();
                let start = Instant::now();
                let placed = greedy::place_batch(&pods, &mut lane);
                times.push(start.elapsed().as_secs_f64() * 1000.0);
                unplaced = placed.iter().filter(|p| p.is_none()).count();
            }
            let (median, p99) = median_and_p99(times);
            Measurement {
                name: "greedy_batch".into(),
                nodes,
                pods: pods.len(),
                pods_per_sec: Some(pods.len() as f64 / (median / 1000.0)),
                solve_ms: median,
                p99_ms: Some(p99),
                runs,
                unplaced: Some(unplaced),
            }
        })
        .collect()
}

/// One World tick on the default lane while pins fall and pods move (what the game loop pays
/// per 10 ms of game time), measured over a scripted knock-and-reset minute.
pub fn world_step() -> Measurement {
    let scenario = Scenario::resolve("default").expect("the default lane ships with the binary");
    let mut world = World::new(1, Preset::Arcade, &scenario).expect("the default lane is valid");
    let mut times = Vec::new();
    for tick in 0..6_000u32 {
        if tick % 500 == 100 {
            let pin = format!("pin-{}", tick / 500 % 10 + 1);
            let _ = world.handle_input(crate::world::Input::Knock(pin));
        }
        if tick % 500 == 400 {
            let _ = world.handle_input(crate::world::Input::ResetPins);
        }
        let start = Instant::now();
        world.step();
        while world.poll_output().is_some() {}
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let runs = times.len();
    let (median, p99) = median_and_p99(times);
    Measurement {
        name: "world_step".into(),
        nodes: 10,
        pods: world.pod_counts().running as usize,
        pods_per_sec: None,
        solve_ms: median,
        p99_ms: Some(p99),
        runs,
        unplaced: None,
    }
}

/// One pod at a time, as kube-scheduler works: for each of `pods` pods, run every filter on
/// every one of `nodes` nodes and score the feasible ones with the `spread` policy's plugins
/// (LeastAllocated + BalancedAllocation), then bind to the best. Upstream scores a sample of the
/// nodes on big clusters; this scores them all.
pub fn score_one_at_a_time(nodes: usize, pods: usize) -> Measurement {
    let (node_infos, mut batch) = lane(nodes, pods.div_ceil(nodes.max(1)));
    batch.truncate(pods);
    let runs = 3;
    let mut times = Vec::new();
    let mut unplaced = 0;
    for _ in 0..runs {
        let mut lane = node_infos.clone();
        let start = Instant::now();
        let placed = spread::place_batch(&batch, &mut lane, false);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        unplaced = placed.node.iter().filter(|p| p.is_none()).count();
    }
    let (median, p99) = median_and_p99(times);
    Measurement {
        name: "spread_one_by_one".into(),
        nodes,
        pods: batch.len(),
        pods_per_sec: Some(batch.len() as f64 / (median / 1000.0)),
        solve_ms: median,
        p99_ms: Some(p99),
        runs,
        unplaced: Some(unplaced),
    }
}

/// The flow benchmark's instance: a lane of `nodes` pins running the batch's pods in order,
/// with every tenth pin knocked down (tainted unreachable, its pods gone). Returns the standing
/// snapshot and the displaced pods.
///
/// - `mixed = false` (the lane): every pin runs 30 pods, six of each shape (75% of its
///   cpu, 80% of its memory). Every standing pin looks the same, so the flow has many equally
///   cheap choices and few distinct path costs: an easy instance for the solver.
/// - `mixed = true`: pin j runs `10 + 37j mod 27` pods (10 to 36), so loads, and costs, differ.
pub fn knocked_lane(nodes: usize, mixed: bool) -> (Vec<NodeInfo>, Vec<PodInfo>) {
    let (mut node_infos, pods) = lane(nodes, 30);
    let knocked = |j: usize| j % 10 == 9;
    let target = |j: usize| if mixed { 10 + (j * 37) % 27 } else { 30 };
    let mut displaced = Vec::new();
    let (mut j, mut on_j) = (0, 0);
    for pod in pods {
        while j < nodes && on_j == target(j) {
            j += 1;
            on_j = 0;
        }
        if j == nodes {
            break;
        }
        on_j += 1;
        if knocked(j) {
            displaced.push(pod);
        } else {
            add_request(&mut node_infos[j], &pod.requests);
        }
    }
    for (j, node) in node_infos.iter_mut().enumerate() {
        if knocked(j) {
            node.taints.push(Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE));
            node.readiness = Readiness::Unknown;
        }
    }
    (node_infos, displaced)
}

/// Knock 10% of a lane and re-place the displaced pods with the `flow` policy: solve time and
/// the objective. Also returns the solved instance (every priority level's network side by
/// side, see [`Network::disjoint_union`]) and its cost, for `--dump-flow`.
pub fn flow_replace(nodes: usize, mixed: bool) -> (Entry, Network, i64) {
    let (node_infos, displaced) = knocked_lane(nodes, mixed);
    let runs = 3;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let mut lane = node_infos.clone();
        let start = Instant::now();
        let outcome = flow::solve_batch(&displaced, &mut lane, false, true);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        last = Some(outcome);
    }
    let (median, p99) = median_and_p99(times);
    let outcome = last.expect("at least one run");
    let network = Network::disjoint_union(outcome.tiers.iter().filter_map(|t| t.network.as_ref()));
    let cost = outcome.cost();
    let measurement = Measurement {
        name: if mixed { "flow_replace_mixed" } else { "flow_replace" }.into(),
        nodes,
        pods: displaced.len(),
        pods_per_sec: Some(displaced.len() as f64 / (median / 1000.0)),
        solve_ms: median,
        p99_ms: Some(p99),
        runs,
        unplaced: Some(outcome.placement.node.iter().filter(|p| p.is_none()).count()),
    };
    (Entry { measurement, objective: Some(cost), world: None }, network, cost)
}

/// `--dump-flow`'s JSON: the instance and our solution's cost.
#[derive(Debug, Serialize)]
pub struct FlowDump<'a> {
    pub nodes: &'a [flow::FlowNode],
    pub arcs: &'a [flow::FlowArc],
    pub cost: i64,
}

pub fn print_table(results: &Results) {
    println!(
        "{:<18} {:>7} {:>8} {:>14} {:>10} {:>10} {:>12} {:>8} {:>9} {:>10}",
        "NAME", "NODES", "PODS", "PODS/S", "MEDIAN ms", "P99 ms", "OBJECTIVE", "TICKS", "RSS MiB", "FAILEDSCH"
    );
    for Entry { measurement: m, objective, world } in &results.results {
        println!(
            "{:<18} {:>7} {:>8} {:>14} {:>10.3} {:>10} {:>12} {:>8} {:>9} {:>10}",
            m.name,
            m.nodes,
            m.pods,
            m.pods_per_sec.map_or("-".into(), |p| format!("{p:.0}")),
            m.solve_ms,
            m.p99_ms.map_or("-".into(), |p| format!("{p:.3}")),
            objective.map_or("-".into(), |o| o.to_string()),
            world.as_ref().map_or("-".into(), |w| w.ticks.to_string()),
            world.as_ref().and_then(|w| w.peak_rss_bytes).map_or("-".into(), |b| (b >> 20).to_string()),
            world.as_ref().and_then(|w| w.failed_scheduling).map_or("-".into(), |f| f.to_string()),
        );
    }
}

/// `stadium_first_frame`: from nothing (the built-in name) to the stadium's first frame drawn
/// at 200×50, as `play --scenario stadium` shows it: the lane built, the World started, one
/// drain and one draw. Pods flow in as the game runs; the first frame does not wait for them.
pub fn stadium_first_frame() -> anyhow::Result<(Measurement, crate::tui::App)> {
    use anyhow::Context;
    let start = Instant::now();
    let options = stadium_options()?;
    let mut app = crate::tui::App::new(options, None).context("starting the stadium")?;
    app.drain();
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50))?;
    terminal.draw(|frame| crate::tui::view::render(frame, &app))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    let measurement = Measurement {
        name: "stadium_first_frame".into(),
        nodes: app.driver.world.pins().len(),
        pods: app.driver.world.cluster().store.len::<crate::cluster::objects::Pod>(),
        pods_per_sec: None,
        solve_ms: ms,
        p99_ms: None,
        runs: 1,
        unplaced: None,
    };
    Ok((measurement, app))
}

fn stadium_options() -> anyhow::Result<crate::tui::PlayOptions> {
    Ok(crate::tui::PlayOptions {
        scenario: Scenario::resolve("stadium")?,
        seed: 1,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    })
}

/// The racks `stadium_frame_strike` knocks: all but 6 and 7, as `sim`'s eight-zone strike.
const STRIKE_RACKS: [u8; 8] = [1, 2, 3, 4, 5, 8, 9, 10];
/// The game time `stadium_frame_strike` watches: the racks going NotReady, their pods evicted
/// and rescheduled where they fit, the rest preempting or waiting.
const STRIKE_WINDOW: Millis = Millis(20_000);

/// `stadium_frame`: a frame of the play loop at 200×50 on the stadium (5,000 nodes, 150,000
/// pods), `frames` times from the first frame on: the driver advanced by one tick's worth of
/// wall time (it runs a busy tick in slices, a frame between them, as the play loop does),
/// then the frame drawn; the pods flowing in, then a rack knocked every 400 frames and the
/// rack reset 300 frames later. Each entry says how much game time its frames covered.
/// Four entries: the lane view (rack cards) from the first frame, so the fill is in it; the
/// same with the heat map open; the lane view again once every pod runs (the stadium as
/// the target states it: full, a rack knocked and reset in turn); and the heat map
/// from a strike of eight racks on (no reset: its game time against the frames' wall time
/// says how far the game falls behind the clock).
pub fn stadium_frames(mut app: crate::tui::App, frames: usize) -> anyhow::Result<Vec<Entry>> {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(200, 50))?;
    let mut entries = Vec::new();
    let heat_map_key = KeyEvent::new(KeyCode::Char('h'), KeyModifiers::NONE);
    for name in ["stadium_frame", "stadium_frame_heatmap", "stadium_frame_full", "stadium_frame_strike"] {
        if name == "stadium_frame_heatmap" || name == "stadium_frame_strike" {
            app.handle_key(heat_map_key);
        }
        let strike = name == "stadium_frame_strike";
        if strike {
            // Eight racks at once (the two left standing cannot hold their pods, so the
            // scheduler preempts and reports the rest unschedulable), watched on the heat map.
            for pin in STRIKE_RACKS {
                app.driver.handle_input(Input::KnockPin(pin))?;
            }
        }
        if name == "stadium_frame_full" {
            app.handle_key(heat_map_key);
            app.driver.handle_input(Input::ResetPins)?;
            // Untimed: stand every rack and let every pod run (at most 2 minutes of game time).
            for _ in 0..12_000 {
                let counts = app.driver.world.pod_counts();
                if counts.running >= counts.desired {
                    break;
                }
                app.driver.world.step();
                app.drain();
            }
        }
        let mut times = Vec::with_capacity(frames);
        let (began, mut ticks) = (app.driver.world.now(), 0u64);
        // The strike's window is game time: its frames advance less of it while it is heavy.
        let strike_until = Millis(began.0 + STRIKE_WINDOW.0);
        for i in 0.. {
            let done = if strike { app.driver.world.now() >= strike_until } else { i >= frames };
            if done {
                break;
            }
            // The strike runs its course: no knocks and resets of its own.
            if !strike && i % 400 == 50 {
                app.driver.handle_input(Input::KnockPin((i / 400 % 10 + 1) as u8))?;
            }
            if !strike && i % 400 == 350 {
                app.driver.handle_input(Input::ResetPins)?;
            }
            let start = Instant::now();
            ticks += u64::from(app.driver.advance(std::time::Duration::from_millis(TICK_MS)));
            app.drain();
            terminal.draw(|frame| crate::tui::view::render(frame, &app))?;
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        let wall_ms = times.iter().sum::<f64>();
        let mean = wall_ms / times.len().max(1) as f64;
        let runs = times.len();
        let (median, p99) = median_and_p99(times);
        let counts = app.driver.world.pod_counts();
        entries.push(Entry {
            measurement: Measurement {
                name: name.into(),
                nodes: app.driver.world.pins().len(),
                pods: counts.running as usize,
                pods_per_sec: None,
                solve_ms: median,
                p99_ms: Some(p99),
                runs,
                unplaced: None,
            },
            objective: None,
            world: Some(WorldFigures {
                game_ms: app.driver.world.now().0 - began.0,
                ticks,
                mean_ms: mean,
                peak_rss_bytes: crate::sim::peak_rss_bytes(),
                running: counts.running,
                pending: counts.pending,
                failed_scheduling: None,
                game_per_wall: Some((app.driver.world.now().0 - began.0) as f64 / wall_ms.max(f64::MIN_POSITIVE)),
            }),
        });
    }
    // Leaked, not dropped: freeing 150,000 pods object by object costs seconds.
    std::mem::forget(app);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn world_entries_come_up_then_measure_steady_and_knocked_ticks() {
        let entries = world_at_scale(20, Millis(500), Millis(2_000), |_| true);
        let names: Vec<&str> = entries.iter().map(|e| e.measurement.name.as_str()).collect();
        assert_eq!(names, ["startup", "world_step", "world_step_knock"]);
        let startup = entries[0].world.as_ref().expect("world figures");
        assert_eq!((startup.running, startup.pending), (600, 0), "{startup:?}");
        assert!(startup.ticks > 0);
        let steady = entries[1].world.as_ref().expect("world figures");
        assert_eq!(steady.ticks, 50);
        assert_eq!(entries[2].world.as_ref().expect("world figures").ticks, 200);
        let only_startup = world_at_scale(20, Millis(500), Millis(500), |name| name == "startup");
        assert_eq!(only_startup.len(), 1);
    }
}
