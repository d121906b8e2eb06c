//! `pinsetter sim`: run a scenario headless, as fast as the CPU allows (virtual time, no
//! sleeping), with a script of timed actions, and report what the control plane did.

use crate::clock::{Millis, parse_duration};
use crate::cluster::Failure;
use crate::cluster::controllers::node_lifecycle::ZoneStatus;
use crate::cluster::controllers::roll::{self, RollStatus};
use crate::cluster::events::EventRecord;
use crate::cluster::objects::{CustomObject, Deployment, Node, Pod, Readiness};
use crate::cluster::scheduler::Policy;
use crate::cluster::scheduler::framework::{
    FilterPlugin, NodeInfo, NodeResourcesFit, PodInfo, passes_static_filters, snapshot,
};
use crate::cluster::scheduler::rack_order_key;
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::scenario::{EnvelopeError, MAX_PODS, Scenario};
use crate::world::{FailureEffects, Input, Output, PodCounts, World, WorldError};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The longest `--until` a run takes: a day of game time. Every timer Kubernetes runs by
/// default fires many times in a day (the longest, the event TTL, is 1 h; the scheduler's
/// unschedulable-pod flush is 5 min), so a longer run only repeats itself, while its wall time
/// grows with it (a tick per 10 ms of game time: 8,640,000 ticks a day).
pub const MAX_UNTIL: Millis = Millis(24 * 60 * 60 * 1000);

/// Why a run was not started or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(
        "--until {hours}h: beyond the supported 24h of game time (every default Kubernetes timer, the longest being the 1h event TTL, fires many times a day; longer runs only repeat, at 8,640,000 ticks a day)"
    )]
    Until { hours: u64 },
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    World(#[from] WorldError),
}

/// Refuses a run beyond the supported envelope before it starts: a lane beyond Kubernetes'
/// limits, `--until` beyond [`MAX_UNTIL`], or a script whose `scale` actions would take the
/// lane past 150,000 desired pods (the first such action is named).
pub fn check_envelope(scenario: &Scenario, actions: &[Action], until: Millis) -> Result<(), SimError> {
    if until > MAX_UNTIL {
        return Err(SimError::Until { hours: until.0.div_ceil(3_600_000) });
    }
    scenario.check_envelope()?;
    let mut replicas = scenario.deployment_replicas();
    let mut desired = scenario.desired_pods();
    let mut script: Vec<&Action> = actions.iter().collect();
    script.sort_by_key(|a| a.at);
    for action in script {
        if let Input::Scale { deployment, replicas: wanted } = &action.input
            && let Some(current) = replicas.get_mut(deployment)
        {
            let wanted = u64::try_from(*wanted).unwrap_or(0);
            desired = desired - *current + wanted;
            *current = wanted;
            if desired > MAX_PODS {
                return Err(EnvelopeError::Pods { input: format!("--at '{}'", action.text), count: desired }.into());
            }
        }
    }
    Ok(())
}

/// The process's peak resident set (VmHWM in /proc/self/status), where the OS reports one.
/// For the shells' reports; the core does no I/O.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

/// Starts [`peak_rss_bytes`] afresh from what the process holds now (Linux's `clear_refs` 5),
/// so a benchmark entry reports its own peak, not an earlier entry's. Where that is not
/// possible the peak stays the process's.
pub fn reset_peak_rss() {
    if let Err(err) = std::fs::write("/proc/self/clear_refs", "5") {
        tracing::debug!("peak RSS not reset: {err}");
    }
}

/// One `--at` entry: when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub at: Millis,
    pub input: Input,
    /// As the user wrote it, for the timeline.
    pub text: String,
}

/// `sim --rolls FILE`: every object in the manifest's documents (Rolls, or anything else
/// `kubectl apply` takes), applied at time 0 in file order.
pub fn manifest_actions(text: &str, origin: &str) -> Result<Vec<Action>, crate::scenario::ScenarioError> {
    Ok(crate::scenario::parse_documents(text, origin)?
        .into_iter()
        .map(|(_, object)| {
            let kind = match &object {
                crate::cluster::objects::Object::CustomObject(o) => o.kind.to_string(),
                other => other.kind().name().to_string(),
            };
            Action {
                at: Millis::ZERO,
                text: format!("apply {kind} {} ({origin})", object.meta().name),
                input: Input::Apply(Box::new(object)),
            }
        })
        .collect())
}

/// One Roll at the end of a run, for `sim --json`.
#[derive(Debug, Clone, Serialize)]
pub struct RollReport {
    pub namespace: String,
    pub name: String,
    pub status: RollStatus,
}

fn roll_reports(world: &World) -> Vec<RollReport> {
    let store = &world.cluster().store;
    store
        .range::<CustomObject>(CustomObject::range_of(roll::CRD_NAME))
        .filter(|o| roll::is_roll(o))
        .map(|o| RollReport {
            namespace: o.metadata.namespace().to_string(),
            name: o.metadata.name.clone(),
            status: RollStatus::of(o),
        })
        .collect()
}

/// Parses `5s knock pin-3`, `40s reset`, `10s restore pin-3`, `12s scale web 20`,
/// `3s cordon pin-2`, `3s uncordon pin-2`, `4s delete-pod web-abcde`, `5s knock-leader`,
/// `5s knock-leader kube-scheduler`, `9s restore-leader`, `5s partition pin-3`,
/// `5s pressure pin-3`, `5s knock-zone zone-3` (every node labelled with that zone), and
/// `partition-zone`, `pressure-zone`, `restore-zone`.
pub fn parse_action(text: &str) -> Result<Action, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let usage = "expected '<time> <action>', e.g. '5s knock pin-3'. Actions: knock NODE, partition NODE, pressure NODE, restore NODE, knock-zone ZONE, partition-zone ZONE, pressure-zone ZONE, restore-zone ZONE, reset, scale DEPLOYMENT REPLICAS, cordon NODE, uncordon NODE, delete-pod POD, knock-leader [COMPONENT], restore-leader [COMPONENT]";
    let [time, verb, args @ ..] = words.as_slice() else {
        return Err(format!("bad --at {text:?}: {usage}"));
    };
    let at = parse_duration(time).map_err(|e| format!("bad --at {text:?}: {e}"))?;
    let key = |name: &str| match name.split_once('/') {
        Some((ns, n)) => ObjectKey::new(ns, n),
        None => ObjectKey::new("default", name),
    };
    let input = match (*verb, args) {
        ("knock", [node]) => Input::Knock(node.to_string()),
        ("partition", [node]) => Input::Fail { node: node.to_string(), failure: Failure::Partition },
        ("pressure", [node]) => Input::Fail { node: node.to_string(), failure: Failure::Pressure },
        ("knock-zone", [zone]) => Input::FailZone { zone: zone.to_string(), failure: Failure::Crash },
        ("partition-zone", [zone]) => Input::FailZone { zone: zone.to_string(), failure: Failure::Partition },
        ("pressure-zone", [zone]) => Input::FailZone { zone: zone.to_string(), failure: Failure::Pressure },
        ("restore-zone", [zone]) => Input::RestoreZone(zone.to_string()),
        ("restore", [node]) => Input::Restore(node.to_string()),
        ("reset", []) => Input::ResetPins,
        ("cordon", [node]) => Input::Cordon { node: node.to_string(), unschedulable: true },
        ("uncordon", [node]) => Input::Cordon { node: node.to_string(), unschedulable: false },
        ("delete-pod", [pod]) => Input::DeletePod(key(pod)),
        ("knock-leader" | "restore-leader", [] | [_]) => {
            let component = match args.first() {
                Some(name) => Some(name.parse().map_err(|e| format!("bad --at {text:?}: {e}"))?),
                None => None,
            };
            if *verb == "knock-leader" { Input::KnockLeader(component) } else { Input::RestoreLeader(component) }
        }
        ("scale", [deployment, replicas]) => {
            let replicas: i32 =
                replicas.parse().ok().filter(|r| *r >= 0).ok_or_else(|| {
                    format!("bad --at {text:?}: replicas must be a whole number ≥ 0, got {replicas:?}")
                })?;
            Input::Scale { deployment: key(deployment), replicas }
        }
        _ => return Err(format!("bad --at {text:?}: {usage}")),
    };
    Ok(Action { at, input, text: text.to_string() })
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles.
    pub fn of(values: &[u64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Percentiles { count: sorted.len(), p50: rank(0.50), p99: rank(0.99), max: sorted[sorted.len() - 1] }
    }
}

/// What `sim --json` prints. Field meanings are documented in the README.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub timing: Preset,
    /// The scheduling policy the run used (`--scheduler`).
    pub policy: Policy,
    pub until_ms: u64,
    pub nodes: usize,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub creating: i64,
    pub terminating: i64,
    pub lost: i64,
    /// Pods that can't run until a pin returns: their data is on a local volume only a down
    /// pin reaches (see `World::waiting_for_their_pin`).
    pub waiting_for_their_pin: i64,
    pub displaced: u64,
    pub evicted: u64,
    pub rescheduled: u64,
    pub recovery_ms: Percentiles,
    /// What each kind of node failure did: nodes, displaced pods, duplicates (a partition's
    /// peak and those killed on reconnect), replacements Running and how long they took.
    pub failures: BTreeMap<Failure, FailureEffects>,
    pub longest_pending_ms: u64,
    pub events: u64,
    pub resource_version: u64,
    pub digest: String,
    /// What went wrong while running (a control-plane livelock, dropped outputs): empty when healthy.
    pub faults: Vec<String>,
    /// Per elected component (kube-scheduler, kube-controller-manager): its replicas, who
    /// leads at the end, how often the leader changed and the longest time without one.
    pub leader_election: Vec<LeaderReport>,
    /// Every zone at the end as the node lifecycle controller sees it: its disruption state
    /// (Normal, PartialDisruption, FullDisruption), nodes, NotReady nodes and eviction rate.
    pub zones: Vec<ZoneStatus>,
    /// Every zone fully disrupted: the controller assumes it is the one cut off and evicts nothing.
    pub master_disruption: bool,
    /// Every Roll at the end (`--rolls`, or one a script applied) with its status: the last
    /// throw's phase, times, displaced pods and recovery.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rolls: Vec<RollReport>,
    /// Wall time of the run (building the World and stepping it), milliseconds. Measured by
    /// this shell; the core reads no clock.
    pub wall_ms: u64,
    /// The process's peak resident set at the end of the run (VmHWM), if the OS reports it.
    /// Under `--compare` it covers every run so far, not this one alone.
    pub peak_rss_bytes: Option<u64>,
}

/// One elected component in `sim --json`.
#[derive(Debug, Clone, Serialize)]
pub struct LeaderReport {
    pub component: &'static str,
    pub replicas: usize,
    /// The holder at the end (None while leaderless).
    pub leader: Option<String>,
    /// Times a replica became leader (the first acquisition included).
    pub leader_changes: u64,
    /// The longest stretch without a leader, the one still open at the end included.
    pub longest_leaderless_ms: u64,
}

fn leader_reports(world: &World) -> Vec<LeaderReport> {
    let now = world.now();
    world
        .cluster()
        .leader_election
        .components()
        .iter()
        .map(|elected| LeaderReport {
            component: elected.component.name(),
            replicas: elected.replicas.len(),
            leader: elected.leader().map(|i| elected.replicas[i].identity.clone()),
            leader_changes: elected.leader_changes,
            longest_leaderless_ms: elected.longest_gap_until(now).0,
        })
        .collect()
}

/// Runs the scenario to `until`, applying `actions` at their times; calls `on_event` for every
/// event and note as it happens (the plain timeline). The policy is the scenario's
/// (`scenario.scheduler`).
///
/// The World is leaked, not dropped: this is the `sim` command's last act before the process
/// exits, and freeing a 150,000-pod World object by object took about a fifth of the run.
pub fn run(
    scenario: &Scenario,
    seed: u64,
    timing: Preset,
    actions: &[Action],
    until: Millis,
    on_output: impl FnMut(&Output),
) -> Result<Report, SimError> {
    check_envelope(scenario, actions, until)?;
    let start = Instant::now();
    let mut world = World::new(seed, timing, scenario)?;
    drive(&mut world, actions, until, on_output, World::step)?;
    let report = report(&world, scenario, seed, timing, until, start.elapsed());
    std::mem::forget(world);
    Ok(report)
}

/// The headless loop: apply each action when its time comes, drain the outputs, step.
fn drive(
    world: &mut World,
    actions: &[Action],
    until: Millis,
    mut on_output: impl FnMut(&Output),
    mut step: impl FnMut(&mut World),
) -> Result<(), WorldError> {
    let mut script: Vec<&Action> = actions.iter().collect();
    script.sort_by_key(|a| a.at);
    let mut next = 0;
    loop {
        while next < script.len() && script[next].at <= world.now() {
            world.handle_input(script[next].input.clone())?;
            next += 1;
        }
        while let Some(output) = world.poll_output() {
            on_output(&output);
        }
        if world.now() >= until {
            return Ok(());
        }
        step(world);
    }
}

fn report(world: &World, scenario: &Scenario, seed: u64, timing: Preset, until: Millis, wall: Duration) -> Report {
    let PodCounts { desired, running, pending, creating, terminating, lost, .. } = world.pod_counts();
    let metrics = world.metrics();
    Report {
        scenario: scenario.origin.clone(),
        seed,
        timing,
        policy: world.cluster().scheduler.policy,
        until_ms: until.0,
        nodes: world.pins().len(),
        desired,
        running,
        pending,
        creating,
        terminating,
        lost,
        waiting_for_their_pin: world.waiting_for_their_pin(),
        displaced: metrics.displaced,
        evicted: metrics.evicted,
        rescheduled: metrics.rescheduled,
        recovery_ms: Percentiles::of(&metrics.recovery_ms),
        failures: metrics.by_failure.clone(),
        longest_pending_ms: metrics.longest_pending_ms,
        events: world.event_count(),
        resource_version: world.cluster().store.resource_version(),
        digest: world.digest(),
        faults: world.faults().iter().map(ToString::to_string).collect(),
        leader_election: leader_reports(world),
        zones: world.cluster().node_lifecycle().map(|n| n.zones(&world.cluster().timing)).unwrap_or_default(),
        master_disruption: world.cluster().node_lifecycle().is_some_and(|n| n.master_disruption()),
        rolls: roll_reports(world),
        wall_ms: wall.as_millis() as u64,
        peak_rss_bytes: peak_rss_bytes(),
    }
}

// ---------------------------------------------------------------------------------------------
// sim --compare
// ---------------------------------------------------------------------------------------------

/// One policy's row in `sim --compare`: the same lane and script, run under this policy.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    pub policy: Policy,
    /// The most pods waiting for a node (the scheduler's queue) after any tick.
    pub pending_max: usize,
    /// Knock to replacement Running, per displaced pod (as in the plain report).
    pub recovery_ms: Percentiles,
    /// Nodes running at least one active pod at the end.
    pub nodes_in_use: usize,
    /// At the end, on nodes a new pod could use (Ready, not cordoned, no taint it does not
    /// tolerate): the free cpu (millicores) and memory (MiB) on nodes where not even one
    /// `reference_pod` fits. Capacity a policy has cut into slivers nothing can use.
    pub stranded_cpu_milli: i64,
    pub stranded_memory_mib: i64,
    /// What "fits" is measured with: the lane's typical pod, the request shape most of its
    /// Deployments' replicas ask for (e.g. "500m/1024Mi"); the same for every policy.
    pub reference_pod: String,
    /// Wall time of the ticks in which the scheduler ran at least one cycle, summed. Measured
    /// here, outside the core (which reads no clock); whole ticks, so the controllers and
    /// kubelets that ran in the same ticks are included.
    pub sched_ms: f64,
    pub sched_cycles: u64,
    /// Pods that preempted others, and the victims they evicted.
    pub preemptions: u64,
    pub victims: u64,
    /// The plain `sim --json` report of the run.
    pub report: Report,
}

/// Runs the same scenario and script once per policy.
pub fn compare(
    scenario: &Scenario,
    seed: u64,
    timing: Preset,
    actions: &[Action],
    until: Millis,
    policies: &[Policy],
) -> Result<Vec<PolicyReport>, SimError> {
    check_envelope(scenario, actions, until)?;
    // One untimed run first, so the first policy measured does not pay for cold caches and
    // first-time allocations the others then reuse.
    if let Some(&first) = policies.first() {
        let mut lane = scenario.clone();
        lane.scheduler = first;
        drive(&mut World::new(seed, timing, &lane)?, actions, until, |_| {}, World::step)?;
    }
    policies
        .iter()
        .map(|&policy| {
            let mut lane = scenario.clone();
            lane.scheduler = policy;
            let start = Instant::now();
            let mut world = World::new(seed, timing, &lane)?;
            let mut pending_max = world.cluster().scheduler.queue_len();
            let mut sched = Duration::ZERO;
            drive(
                &mut world,
                actions,
                until,
                |_| {},
                |w| {
                    let cycles = w.cluster().scheduler.stats.cycles;
                    let start = Instant::now();
                    w.step();
                    let took = start.elapsed();
                    if w.cluster().scheduler.stats.cycles > cycles {
                        sched += took;
                    }
                    pending_max = pending_max.max(w.cluster().scheduler.queue_len());
                },
            )?;
            let (stranded_cpu_milli, stranded_memory_mib, reference_pod) = stranded(&world);
            let stats = &world.cluster().scheduler.stats;
            Ok(PolicyReport {
                policy,
                pending_max,
                recovery_ms: Percentiles::of(&world.metrics().recovery_ms),
                nodes_in_use: nodes_in_use(&world),
                stranded_cpu_milli,
                stranded_memory_mib,
                reference_pod,
                sched_ms: sched.as_secs_f64() * 1000.0,
                sched_cycles: stats.cycles,
                preemptions: stats.preemptions,
                victims: stats.victims,
                report: report(&world, &lane, seed, timing, until, start.elapsed()),
            })
        })
        .collect()
}

fn nodes_in_use(world: &World) -> usize {
    let store = &world.cluster().store;
    world.pins().iter().filter(|n| store.pods_on_node(n).any(Pod::is_active)).count()
}

/// (stranded cpu millicores, stranded memory MiB, the reference pod) as [`PolicyReport`] defines them.
fn stranded(world: &World) -> (i64, i64, String) {
    let store = &world.cluster().store;
    // The lane's typical pod: the request shape most replicas ask for. It depends only on the
    // lane, so every policy's figure is measured against the same pod.
    let mut shapes: BTreeMap<(i64, i64), (i64, Pod)> = BTreeMap::new();
    for d in store.list::<Deployment>() {
        let pod = Pod { spec: d.spec.template.spec.clone(), ..Pod::default() };
        let r = pod.requests();
        shapes.entry((r.cpu_milli, r.memory_milli)).or_insert((0, pod)).0 += i64::from(d.spec.replicas.unwrap_or(1));
    }
    let Some((_, reference)) = shapes.into_values().max_by_key(|(n, _)| *n) else { return (0, 0, "none".into()) };
    let pod = PodInfo::of(&reference);
    let label = format!("{}m/{}Mi", pod.requests.cpu_milli, (pod.requests.memory_milli / 1000) >> 20);
    let mut node_objects: Vec<&Node> = store.list::<Node>().collect();
    node_objects.sort_by(|a, b| rack_order_key(&a.metadata.name).cmp(&rack_order_key(&b.metadata.name)));
    let nodes: Vec<NodeInfo> = snapshot(store, node_objects);
    let (mut cpu, mut memory) = (0, 0);
    for node in nodes.iter().filter(|n| n.readiness == Readiness::Ready && passes_static_filters(&pod, n)) {
        if !NodeResourcesFit.passes(&pod, node) {
            let free = node.free();
            cpu += free.cpu_milli.max(0);
            memory += free.memory_milli.max(0);
        }
    }
    (cpu, (memory / 1000) >> 20, label)
}

/// `sim --compare`'s table.
pub fn compare_table(rows: &[PolicyReport]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<12} {:>11} {:>13} {:>13} {:>10} {:>13} {:>13} {:>9} {:>7} {:>10}",
        "POLICY",
        "PENDING MAX",
        "RECOVERY P50",
        "RECOVERY P99",
        "NODES USED",
        "STRANDED CPU",
        "STRANDED MEM",
        "SCHED ms",
        "CYCLES",
        "PREEMPTED"
    )];
    for r in rows {
        lines.push(format!(
            "{:<12} {:>11} {:>10} ms {:>10} ms {:>10} {:>12}m {:>11}Mi {:>9.2} {:>7} {:>10}",
            r.policy.name(),
            r.pending_max,
            r.recovery_ms.p50,
            r.recovery_ms.p99,
            r.nodes_in_use,
            r.stranded_cpu_milli,
            r.stranded_memory_mib,
            r.sched_ms,
            r.sched_cycles,
            r.victims
        ));
    }
    if let Some(r) = rows.first() {
        lines.push(format!(
            "stranded: free capacity on usable pins where not even one {} pod (the lane's typical) fits. sched ms: wall time of the ticks that ran a scheduling cycle.",
            r.reference_pod
        ));
    }
    lines
}

/// A `kubectl get events`-style line.
pub fn format_event(e: &EventRecord) -> String {
    format!("{:>8}  {:<7}  {:<20}  {:<28}  {}", e.at.to_string(), e.type_, e.reason, e.object, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_bad_ones_explain() {
        let a = parse_action("5s knock pin-3").unwrap();
        assert_eq!((a.at, a.input), (Millis(5000), Input::Knock("pin-3".into())));
        assert_eq!(parse_action("40s reset").unwrap().input, Input::ResetPins);
        assert_eq!(
            parse_action("1m scale web 20").unwrap().input,
            Input::Scale { deployment: ObjectKey::new("default", "web"), replicas: 20 }
        );
        let a = parse_action("5s knock-leader kube-scheduler").unwrap();
        assert_eq!(a.input, Input::KnockLeader(Some(crate::cluster::leader_election::Component::KubeScheduler)));
        assert_eq!(parse_action("9s restore-leader").unwrap().input, Input::RestoreLeader(None));
        assert_eq!(
            parse_action("5s partition pin-3").unwrap().input,
            Input::Fail { node: "pin-3".into(), failure: Failure::Partition }
        );
        assert_eq!(
            parse_action("5s pressure pin-3").unwrap().input,
            Input::Fail { node: "pin-3".into(), failure: Failure::Pressure }
        );
        assert_eq!(
            parse_action("5s knock-zone zone-3").unwrap().input,
            Input::FailZone { zone: "zone-3".into(), failure: Failure::Crash }
        );
        assert_eq!(parse_action("9s restore-zone zone-3").unwrap().input, Input::RestoreZone("zone-3".into()));
        let err = parse_action("5s knock-leader kube-proxy").unwrap_err();
        assert!(err.contains("unknown component \"kube-proxy\""), "{err}");
        for bad in [
            "",
            "5s",
            "knock pin-3",
            "5x knock pin-3",
            "5s explode pin-3",
            "5s scale web -1",
            "5s knock",
            "5s knock-leader a b",
            "5s partition",
            "5s pressure pin-1 pin-2",
            "5s knock-zone",
            "5s wobble pin-3",
        ] {
            let err = parse_action(bad).unwrap_err();
            assert!(err.starts_with("bad --at"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of(&[5, 1, 4, 2, 3]);
        assert_eq!((p.count, p.p50, p.p99, p.max), (5, 3, 5, 5));
        assert_eq!(Percentiles::of(&[]).count, 0);
    }
}

/// What `sim --replay` reports: the replayed run's figures and digest, next to the digest the
/// live session recorded at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Replayed {
    #[serde(flatten)]
    pub report: Report,
    /// Inputs the log held (and the replay applied).
    pub inputs: usize,
    /// The digest the live session ended with (its trailer), if it ended cleanly.
    pub recorded_digest: Option<String>,
    /// Whether the replay ended with the recorded digest.
    pub digest_matches: Option<bool>,
}

/// Replays a recorded session headlessly: the same World (seed, timing, lane from the log's
/// header), each input applied at the tick it was recorded at, stepped to the tick the session
/// ended at (or its last input, for a log without a trailer). The clock epoch must already be
/// the header's (the caller sets it: it is process-global).
pub fn replay(session: &crate::driver::RecordedSession, path: &str) -> Result<Replayed, ReplayError> {
    use crate::driver::LogLine;
    let start = Instant::now();
    let header = &session.header;
    let scenario = header.scenario(path)?;
    let preset = header.preset(path)?;
    let mut world = World::with_epoch(header.seed, preset, &scenario, header.epoch())?;
    let drain = |world: &mut World| {
        while world.poll_output().is_some() {}
        while world.poll_reply().is_some() {}
    };
    let step_to = |world: &mut World, tick: u64| {
        while world.now().0 < tick * crate::clock::TICK_MS {
            world.step();
            while world.poll_output().is_some() {}
        }
    };
    let (mut inputs, mut recorded) = (0, None);
    let mut until = 0;
    for line in &session.lines {
        match line {
            LogLine::Input { tick, input } => {
                step_to(&mut world, *tick);
                // A refused input was refused live too, and changed nothing there either.
                if let Err(e) = world.handle_input(input.clone()) {
                    tracing::debug!("replayed input refused, as it was live: {e}");
                }
                drain(&mut world);
                inputs += 1;
                until = until.max(*tick);
            }
            LogLine::End { tick, digest, .. } => {
                until = until.max(*tick);
                recorded = Some(digest.clone());
            }
        }
    }
    step_to(&mut world, until);
    drain(&mut world);
    let report = self::report(&world, &scenario, header.seed, preset, world.now(), start.elapsed());
    let digest_matches = recorded.as_ref().map(|d| *d == report.digest);
    Ok(Replayed { report, inputs, recorded_digest: recorded, digest_matches })
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Log(#[from] crate::driver::InputLogError),
    #[error(transparent)]
    World(#[from] WorldError),
}
