//! `pinsetter bench`: throughput figures for the hot paths, as JSON (`--json`) or a table.
//! These are measurements, not tests: nothing here asserts a speed.

use crate::cluster::objects::{Readiness, Taint};
use crate::cluster::scheduler::flow::{self, Network};
use crate::cluster::scheduler::framework::{NodeInfo, PodInfo, Resources, add_request};
use crate::cluster::scheduler::{greedy, spread};
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::scenario::Scenario;
use crate::world::World;
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
}

impl From<Measurement> for Entry {
    fn from(measurement: Measurement) -> Entry {
        Entry { measurement, objective: None }
    }
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
            name: format!("pin-{}", i + 1),
            allocatable: Resources { cpu_milli: 4000, memory_milli: (8i64 << 30) * 1000, pods: 110 },
            requested: Resources::default(),
            taints: vec![],
            labels: BTreeMap::new(),
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
                tolerations: vec![],
                node_selector: BTreeMap::new(),
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
    (Entry { measurement, objective: Some(cost) }, network, cost)
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
        "{:<18} {:>7} {:>8} {:>14} {:>10} {:>10} {:>12}",
        "NAME", "NODES", "PODS", "PODS/S", "MEDIAN ms", "P99 ms", "OBJECTIVE"
    );
    for Entry { measurement: m, objective } in &results.results {
        println!(
            "{:<18} {:>7} {:>8} {:>14} {:>10.3} {:>10} {:>12}",
            m.name,
            m.nodes,
            m.pods,
            m.pods_per_sec.map_or("-".into(), |p| format!("{p:.0}")),
            m.solve_ms,
            m.p99_ms.map_or("-".into(), |p| format!("{p:.3}")),
            objective.map_or("-".into(), |o| o.to_string())
        );
    }
}
