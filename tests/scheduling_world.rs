//! The scheduler inside the whole World: preemption as upstream does it, switching policies
//! mid-game, the "why here" record on the pod, and every policy keeping every node within its
//! allocatable through knocks and resets.

use pinsetter::clock::{Millis, TICK_MS};
use pinsetter::cluster::objects::{Node, Object, Pod, PodState};
use pinsetter::cluster::scheduler::{DECISION_ANNOTATION, Policy};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, Output, World};
use std::collections::BTreeSet;

/// One 2-cpu pin fully used by two priority-0 pods.
const FULL_PIN: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: pin-1}
status:
  capacity: {cpu: "2", memory: 4Gi, pods: "110"}
  allocatable: {cpu: "2", memory: 4Gi, pods: "110"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: low}
spec:
  replicas: 2
  selector: {matchLabels: {app: low}}
  template:
    metadata: {labels: {app: low}}
    spec:
      containers:
      - name: low
        image: busybox
        resources: {requests: {cpu: "1", memory: 512Mi}}
"#;

const URGENT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: urgent, namespace: default}
spec:
  priority: 1000
  containers:
  - name: urgent
    image: busybox
    resources: {requests: {cpu: 1500m, memory: 512Mi}}
"#;

fn run(world: &mut World, ms: u64, log: &mut Vec<Output>) {
    for _ in 0..ms / TICK_MS {
        world.step();
        log.extend(std::iter::from_fn(|| world.poll_output()));
    }
}

fn events<'a>(log: &'a [Output], reason: &str) -> Vec<&'a pinsetter::cluster::events::EventRecord> {
    log.iter()
        .filter_map(|o| match o {
            Output::Event(e) if e.reason == reason => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn a_high_priority_pod_preempts_lower_ones_and_binds_once_they_are_gone() {
    let scenario = Scenario::parse(FULL_PIN, "test").unwrap();
    let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
    let mut log = Vec::new();
    run(&mut world, 2_000, &mut log);
    let urgent: Pod = serde_norway::from_str(URGENT).unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(urgent)))).unwrap();
    log.extend(std::iter::from_fn(|| world.poll_output()));

    let key = ObjectKey::new("default", "urgent");
    let store = &world.cluster().store;
    let preemptor = store.get::<Pod>(&key).unwrap();
    assert_eq!(preemptor.status.nominated_node_name.as_deref(), Some("pin-1"), "nominated at once");
    assert_eq!(preemptor.node_name(), None, "but not bound while its victims terminate");
    let preempted = events(&log, "Preempted");
    assert_eq!(preempted.len(), 2, "1500m needs both 1000m pods gone: {preempted:#?}");
    for e in &preempted {
        assert_eq!(e.type_, "Normal");
        assert_eq!(e.message, format!("Preempted by pod {} on node pin-1", preemptor.metadata.uid));
        assert!(e.object.starts_with("pod/low-"), "{}", e.object);
    }
    // Upstream: a successful preemption leaves the FitError without a preemption suffix.
    let first_failure = events(&log, "FailedScheduling").into_iter().find(|e| e.object == "pod/urgent").unwrap();
    assert_eq!(first_failure.message, "0/1 nodes are available: 1 Insufficient cpu.");

    run(&mut world, 2_000, &mut log);
    let store = &world.cluster().store;
    let preemptor = store.get::<Pod>(&key).unwrap();
    assert_eq!(preemptor.node_name(), Some("pin-1"));
    assert_eq!(preemptor.state(), PodState::Running);
    // The victims' replacements cannot preempt (nothing there has lower priority than theirs).
    let replacement_failure =
        events(&log, "FailedScheduling").into_iter().rev().find(|e| e.object.starts_with("pod/low-"));
    assert_eq!(
        replacement_failure.map(|e| e.message.as_str()),
        Some(
            "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
    );
    // "Why here" is on the pod for kubectl, as compact JSON.
    let why: serde_json::Value =
        serde_json::from_str(preemptor.metadata.annotations.get(DECISION_ANNOTATION).expect("annotated"))
            .expect("the annotation is JSON");
    assert_eq!(why["node"], "pin-1");
    assert_eq!(why["policy"], "greedy");
    assert_eq!(world.cluster().scheduler.stats.victims, 2);
}

/// Nodes running the pods not in `before` (the replacements of displaced pods).
fn nodes_of_new_pods(world: &World, before: &BTreeSet<String>) -> BTreeSet<String> {
    world
        .cluster()
        .store
        .list::<Pod>()
        .filter(|p| !before.contains(&p.metadata.name) && p.is_active())
        .filter_map(|p| p.node_name().map(str::to_string))
        .collect()
}

/// The issue's "done when": switch to binpack, knock two pins, and the displaced pods pack onto
/// fewer pins than the same knock spreads them onto under spread.
fn replacements_after_knock(policy: Policy) -> (BTreeSet<String>, World) {
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    let mut log = Vec::new();
    run(&mut world, 1_000, &mut log);
    world.handle_input(Input::SetPolicy(policy)).unwrap();
    let before: BTreeSet<String> = world.cluster().store.list::<Pod>().map(|p| p.metadata.name.clone()).collect();
    world.handle_input(Input::Knock("pin-4".into())).unwrap();
    world.handle_input(Input::Knock("pin-5".into())).unwrap();
    run(&mut world, 6_000, &mut log);
    let notes: Vec<&Output> = log.iter().filter(|o| matches!(o, Output::Note { .. })).collect();
    assert!(
        notes.iter().any(|o| matches!(o, Output::Note { text, .. } if text.contains(policy.name()))),
        "switching is noted: {notes:?}"
    );
    (nodes_of_new_pods(&world, &before), world)
}

#[test]
fn binpack_packs_the_displaced_pods_onto_fewer_pins_than_spread() {
    let (packed, world) = replacements_after_knock(Policy::Binpack);
    let (spread, _) = replacements_after_knock(Policy::Spread);
    assert!(!packed.is_empty());
    assert!(packed.len() < spread.len(), "binpack used {packed:?}, spread {spread:?}");
    // Each replacement's record says why, in the scoring policy's terms.
    let pod = world
        .cluster()
        .store
        .list::<Pod>()
        .find(|p| world.cluster().scheduler.decision(p).is_some_and(|d| d.policy == "binpack"))
        .expect("a pod placed by binpack");
    let decision = world.cluster().scheduler.decision(pod).unwrap();
    let chosen = decision.node.as_deref().unwrap();
    let best = decision.scores.iter().map(|s| s.total).max().unwrap();
    let here = decision.scores.iter().find(|s| s.node == chosen).unwrap();
    assert_eq!(here.total, best, "binpack binds to a highest-scoring node");
    assert_eq!(here.plugins[0].plugin, "MostAllocated");
    assert_eq!(decision.verdicts.len(), 10, "every pin's filter verdict is recorded");
}

#[test]
fn every_policy_keeps_every_node_within_allocatable_through_knocks_and_resets() {
    for policy in Policy::ALL {
        let mut scenario = Scenario::resolve("default").unwrap();
        scenario.scheduler = policy;
        let mut world = World::new(7, Preset::Arcade, &scenario).unwrap();
        let script: [(u64, Input); 7] = [
            (1_000, Input::Knock("pin-1".into())),
            (1_000, Input::Knock("pin-2".into())),
            (1_500, Input::Knock("pin-5".into())),
            (2_000, Input::Knock("pin-7".into())),
            (3_000, Input::Cordon { node: "pin-8".into(), unschedulable: true }),
            (6_000, Input::ResetPins),
            (7_000, Input::SetPolicy(policy.next())),
        ];
        let mut next = 0;
        for tick in 0..1_000u64 {
            while next < script.len() && script[next].0 <= tick * TICK_MS {
                world.handle_input(script[next].1.clone()).unwrap();
                next += 1;
            }
            world.step();
            while world.poll_output().is_some() {}
            if tick % 10 == 0 {
                assert_within_allocatable(&world, policy, Millis(tick * TICK_MS));
            }
        }
        assert_eq!(world.pod_counts().lost, 0, "{policy}");
    }
}

fn assert_within_allocatable(world: &World, policy: Policy, at: Millis) {
    let store = &world.cluster().store;
    for node in store.list::<Node>() {
        let pods: Vec<&Pod> = store
            .pods_on_node(&node.metadata.name)
            .filter(|p| !matches!(p.status.phase.as_str(), "Succeeded" | "Failed"))
            .collect();
        let cpu: i64 = pods.iter().map(|p| p.requests().cpu_milli).sum();
        let memory: i64 = pods.iter().map(|p| p.requests().memory_milli).sum();
        assert!(
            cpu <= node.allocatable("cpu") && memory <= node.allocatable("memory"),
            "{policy} overcommitted {} at {at}: cpu {cpu}m, memory {memory}",
            node.metadata.name
        );
        assert!(pods.len() as i64 <= node.allocatable("pods") / 1000);
    }
}

/// A pod that fits nowhere is parked (upstream's unschedulablePods): while nothing that could
/// help it happens — the pin keeps heartbeating — it costs no scheduling attempt and records no
/// new FailedScheduling event. Freeing the pin's room moves it back, and it binds.
#[test]
fn an_unschedulable_pod_waits_parked_until_room_is_freed() {
    let scenario = Scenario::parse(FULL_PIN, "test").unwrap();
    let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
    let mut log = Vec::new();
    run(&mut world, 2_000, &mut log);
    // Priority 0, like the pods on the pin: preemption cannot help it.
    let big: Pod = serde_norway::from_str(
        &URGENT.replace("name: urgent, ", "name: big, ").replace("priority: 1000", "priority: 0"),
    )
    .unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(big)))).unwrap();
    run(&mut world, 1_000, &mut log);
    let failed = |log: &[Output]| events(log, "FailedScheduling").into_iter().filter(|e| e.object == "pod/big").count();
    assert_eq!(failed(&log), 1, "it failed once");
    assert_eq!(world.cluster().scheduler.unschedulable_len(), 1, "and is parked");
    let attempts = world.cluster().scheduler.stats.attempts;

    let mut parked = Vec::new();
    run(&mut world, 10_000, &mut parked);
    assert_eq!(world.cluster().scheduler.stats.attempts, attempts, "no attempt while nothing could help");
    assert_eq!(failed(&parked), 0, "no new FailedScheduling event");
    let key = ObjectKey::new("default", "big");
    assert_eq!(world.cluster().store.get::<Pod>(&key).unwrap().node_name(), None);

    // Scaling `low` to zero deletes its pods from the pin: that frees the room.
    let mut low = world
        .cluster()
        .store
        .get::<pinsetter::cluster::objects::Deployment>(&ObjectKey::new("default", "low"))
        .unwrap()
        .clone();
    low.spec.replicas = Some(0);
    world.handle_input(Input::Apply(Box::new(Object::from(low)))).unwrap();
    run(&mut world, 3_000, &mut log);
    assert_eq!(world.cluster().store.get::<Pod>(&key).unwrap().node_name(), Some("pin-1"));
    assert_eq!(world.cluster().scheduler.queue_len(), 0);
}

/// A big lane keeps no per-pod record of plain bindings (no verdicts are recorded past 100
/// nodes); "why here" is then read back from the pod's annotation, and says the same.
#[test]
fn a_big_lanes_bound_pods_explain_themselves_from_their_annotation() {
    use pinsetter::scenario::LaneSize;
    let mut world = World::new(3, Preset::Arcade, &Scenario::generate(&LaneSize::new(120, 360)).unwrap()).unwrap();
    run(&mut world, 10_000, &mut Vec::new());
    let cluster = world.cluster();
    let bound: Vec<&Pod> = cluster.store.list::<Pod>().filter(|p| p.node_name().is_some()).collect();
    assert_eq!(bound.len(), 360, "every pod placed");
    for pod in bound {
        let decision = cluster.scheduler.decision(pod).expect("a bound pod says why");
        assert!(matches!(decision, std::borrow::Cow::Owned(_)), "read from the annotation, not kept");
        assert_eq!(decision.node.as_deref(), pod.node_name());
        assert_eq!(decision.policy, "greedy");
        assert!(decision.message.contains(pod.node_name().unwrap()), "{}", decision.message);
        assert!(decision.verdicts.is_empty() && decision.scores.is_empty());
    }
}

/// [`FULL_PIN`] twice: a second 2-cpu pin, and four priority-0 pods to fill both.
fn two_full_pins() -> String {
    let second = FULL_PIN.split("---").next().expect("the node comes first").replace("pin-1", "pin-2");
    format!("{second}---{}", FULL_PIN.replace("replicas: 2", "replicas: 4"))
}

/// Upstream's PodEligibleToPreemptOthers: a preemptor waits for its victims only while its
/// nominated node is still one it could use. Its node knocked (victims stuck terminating, the
/// node tainted unreachable), it preempts on another pin and runs there.
#[test]
fn a_preemptor_whose_nominated_pin_falls_preempts_on_another() {
    let scenario = Scenario::parse(&two_full_pins(), "test").unwrap();
    let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
    let mut log = Vec::new();
    run(&mut world, 2_000, &mut log);
    let urgent: Pod = serde_norway::from_str(URGENT).unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(urgent)))).unwrap();
    let key = ObjectKey::new("default", "urgent");
    let nominated = world.cluster().store.get::<Pod>(&key).unwrap().status.nominated_node_name.clone();
    let nominated = nominated.expect("nominated at once");
    world.handle_input(Input::Knock(nominated.to_string())).unwrap();
    run(&mut world, 20_000, &mut log);

    let preemptor = world.cluster().store.get::<Pod>(&key).unwrap();
    let other = if nominated == "pin-1" { "pin-2" } else { "pin-1" };
    assert_eq!(preemptor.node_name(), Some(other), "{:?}", preemptor.status);
    assert_eq!(preemptor.state(), PodState::Running);
}
