//! Property tests of the deterministic core: random small lanes, random scripts of timed chaos
//! (knock, restore, reset, scale, cordon), driven through `World::handle_input` / `step` /
//! `poll_output` exactly as `pinsetter sim` drives it.
//!
//! Properties:
//! - the scheduler never binds a node beyond its allocatable cpu, memory or pod count;
//! - no desired replica is `lost` once the control plane has had a second to react;
//! - when capacity allows, every Deployment converges after the pins are reset;
//! - same seed + same inputs = same digest, and a knocked pin changes the digest.
//!
//! Case counts are small (the crate is unoptimised in `cargo test`); raise them locally with
//! `PROPTEST_CASES=...` when hunting.

use pinsetter::clock::{Millis, TICK_MS};
use pinsetter::cluster::objects::{Deployment, Node, Object, Pod, PodState, ReplicaSet};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

// ---------------------------------------------------------------------------------------------
// Inputs: lanes and scripts
// ---------------------------------------------------------------------------------------------

/// Which lane a case runs on.
#[derive(Debug, Clone)]
enum Lane {
    Builtin(&'static str),
    Generated { nodes: usize, pods: usize },
}

impl Lane {
    fn scenario(&self) -> Scenario {
        match self {
            Lane::Builtin(name) => Scenario::resolve(name).expect("built-in lane resolves"),
            Lane::Generated { nodes, pods } => Scenario::generated(*nodes, *pods),
        }
    }
}

/// Built-in lanes, or a generated lane of 3..=12 pins with up to `max_pods_per_node` pods per
/// pin (capped at 120 pods).
fn lane(max_pods_per_node: usize) -> impl Strategy<Value = Lane> {
    let generated = (3usize..=12)
        .prop_flat_map(move |nodes| (Just(nodes), 0usize..=(nodes * max_pods_per_node).min(120)))
        .prop_map(|(nodes, pods)| Lane::Generated { nodes, pods });
    prop_oneof![
        1 => Just(Lane::Builtin("default")),
        1 => Just(Lane::Builtin("tiny")),
        4 => generated,
    ]
}

/// An action whose targets are picked (by `Index`) from the lane's pins and deployments once the
/// lane exists, so every action names something real.
#[derive(Debug, Clone)]
enum Act {
    Knock(Index),
    Restore(Index),
    ResetPins,
    Scale(Index, i32),
    Cordon(Index, bool),
}

#[derive(Debug, Clone)]
struct Timed {
    at: Millis,
    act: Act,
}

fn act(max_replicas: i32) -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => any::<Index>().prop_map(Act::Knock),
        2 => any::<Index>().prop_map(Act::Restore),
        1 => Just(Act::ResetPins),
        2 => (any::<Index>(), 0..=max_replicas).prop_map(|(d, n)| Act::Scale(d, n)),
        2 => (any::<Index>(), any::<bool>()).prop_map(|(n, on)| Act::Cordon(n, on)),
    ]
}

/// Up to `max_len` actions at 10 ms-aligned instants in the first eight seconds, in time order
/// (ties keep their generated order, as `sim::run`'s stable sort does).
fn script(max_len: usize, max_replicas: i32) -> impl Strategy<Value = Vec<Timed>> {
    prop::collection::vec(((0u64..800).prop_map(|t| Millis(t * TICK_MS)), act(max_replicas)), 0..=max_len).prop_map(
        |mut v| {
            v.sort_by_key(|(at, _)| *at);
            v.into_iter().map(|(at, act)| Timed { at, act }).collect()
        },
    )
}

/// The deployments of a lane, as `kubectl scale` would name them.
fn deployments(scenario: &Scenario) -> Vec<ObjectKey> {
    scenario
        .objects
        .iter()
        .filter_map(|(_, o)| match o {
            Object::Deployment(d) => {
                Some(ObjectKey::new(d.metadata.namespace.clone().unwrap_or_else(|| "default".into()), &d.metadata.name))
            }
            _ => None,
        })
        .collect()
}

/// Turns an abstract script into World inputs against this lane's pins and deployments.
fn resolve(script: &[Timed], pins: &[String], deployments: &[ObjectKey]) -> Vec<(Millis, Input)> {
    script
        .iter()
        .map(|t| {
            let input = match &t.act {
                Act::Knock(i) => Input::Knock(i.get(pins).clone()),
                Act::Restore(i) => Input::Restore(i.get(pins).clone()),
                Act::ResetPins => Input::ResetPins,
                Act::Scale(i, replicas) => Input::Scale { deployment: i.get(deployments).clone(), replicas: *replicas },
                Act::Cordon(i, unschedulable) => {
                    Input::Cordon { node: i.get(pins).clone(), unschedulable: *unschedulable }
                }
            };
            (t.at, input)
        })
        .collect()
}

fn world(seed: u64, scenario: &Scenario) -> World {
    World::new(seed, Preset::Arcade, scenario).expect("lane builds a world")
}

fn pins(world: &World) -> Vec<String> {
    world.pins().to_vec()
}

// ---------------------------------------------------------------------------------------------
// The driver
// ---------------------------------------------------------------------------------------------

/// Drives `world` to `until` the way `sim::run` does: at each instant apply every action that is
/// due, drain the outputs, then step one 10 ms tick. `check(world, last_action_at)` runs after
/// every input and after every tick. Returns every output, as debug text, for comparisons.
fn drive(
    world: &mut World,
    script: &[(Millis, Input)],
    until: Millis,
    mut check: impl FnMut(&World, Millis) -> Result<(), TestCaseError>,
) -> Result<Vec<String>, TestCaseError> {
    let mut outputs = Vec::new();
    let mut next = 0;
    let mut last_action = Millis::ZERO;
    loop {
        while next < script.len() && script[next].0 <= world.now() {
            let (_, input) = &script[next];
            if let Err(e) = world.handle_input(input.clone()) {
                return Err(TestCaseError::fail(format!("{input:?} at {:?} was refused: {e}", world.now())));
            }
            last_action = world.now();
            next += 1;
            check(world, last_action)?;
        }
        while let Some(output) = world.poll_output() {
            outputs.push(format!("{output:?}"));
        }
        if world.now() >= until {
            break;
        }
        world.step();
        check(world, last_action)?;
    }
    Ok(outputs)
}

/// When the script's last action happens (or zero).
fn last_at(script: &[(Millis, Input)]) -> Millis {
    script.last().map_or(Millis::ZERO, |(at, _)| *at)
}

// ---------------------------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------------------------

/// No node holds more than its allocatable cpu, memory and pod slots.
///
/// Which pods count: every pod bound to the node that is not in a terminal phase (Succeeded or
/// Failed) — *including* Terminating pods, and including pods left on a node that has since been
/// knocked, NotReady, tainted or cordoned. That is exactly what the scheduler's snapshot
/// (`scheduler::framework::snapshot`) charges a node with, as upstream's NodeInfo does (a
/// terminating pod's containers still hold their resources until the kubelet confirms they are
/// gone). A pod's `nodeName` never changes once set, nothing in these scripts changes a node's
/// allocatable, and pods only leave a node by being deleted, so if every bind was checked against
/// that snapshot the inequality holds at every instant by construction: the strict form (with
/// Terminating pods) is therefore the right one to check and is stronger than counting only
/// active pods. A violation means the scheduler bound beyond capacity (or double-counted free
/// space within a batch).
fn check_no_overcommit(world: &World) -> Result<(), TestCaseError> {
    let store = &world.cluster().store;
    for node in store.list::<Node>() {
        let name = &node.metadata.name;
        let (mut cpu, mut memory, mut pods) = (0i64, 0i64, 0i64);
        for pod in store.pods_on_node(name) {
            if matches!(pod.status.phase.as_str(), "Succeeded" | "Failed") {
                continue;
            }
            let r = pod.requests();
            cpu += r.cpu_milli;
            memory += r.memory_milli;
            pods += 1;
        }
        let (cpu_cap, memory_cap, pods_cap) =
            (node.allocatable("cpu"), node.allocatable("memory"), node.allocatable("pods") / 1000);
        prop_assert!(
            cpu <= cpu_cap && memory <= memory_cap && pods <= pods_cap,
            "at {:?} node {} is overcommitted: cpu {}/{} m, memory {}/{} milli-bytes, pods {}/{}",
            world.now(),
            name,
            cpu,
            cpu_cap,
            memory,
            memory_cap,
            pods,
            pods_cap
        );
    }
    Ok(())
}

/// How long the control plane gets to react before `lost` must be zero.
const REACTION: Millis = Millis(1_000);

fn check_nothing_lost(world: &World, last_action: Millis) -> Result<(), TestCaseError> {
    if world.now() < last_action + REACTION {
        return Ok(());
    }
    let counts = world.pod_counts();
    prop_assert_eq!(
        counts.lost,
        0,
        "at {:?} ({:?} after the last action at {:?}): {:?}",
        world.now(),
        world.now().saturating_sub(last_action),
        last_action,
        counts
    );
    // The total can hide one deployment's shortfall behind another's surplus (during a scale
    // down): check each deployment's own pods too.
    let store = &world.cluster().store;
    for d in store.list::<Deployment>() {
        let desired = i64::from(d.spec.replicas.unwrap_or(1).max(0));
        let active = store
            .list::<ReplicaSet>()
            .filter(|rs| rs.metadata.controller().is_some_and(|o| o.uid == d.metadata.uid))
            .flat_map(|rs| store.pods_owned_by(&rs.metadata.uid))
            .filter(|p| matches!(p.state(), PodState::Pending | PodState::ContainerCreating | PodState::Running))
            .count() as i64;
        prop_assert!(
            active >= desired,
            "at {:?} deployment {} has {} of {} desired pods",
            world.now(),
            d.metadata.name,
            active,
            desired
        );
    }
    Ok(())
}

/// Capacity of one pin: (cpu milli, memory milli-bytes, pod slots).
type Shape = (i64, i64, i64);

/// Whether `replicas` of each pod `shape` can always all be placed on `n` identical nodes of
/// `capacity`, however badly the pods already running are spread (Kubernetes never moves a
/// running pod to make room, so convergence after chaos may depend on fragmentation).
///
/// A pod P = (c, m, 1) stays unschedulable only if every node refuses it: each node is short of
/// cpu (uses more than C - c), of memory (more than M - m) or of pod slots (more than S - 1).
/// Split the nodes into those three groups, of sizes a, b, k; then the other pods' total cpu
/// exceeds a·(C - c), their memory exceeds b·(M - m) and their count exceeds k·(S - 1). If no
/// split (a + b + k = n) admits that for any shape, a pending pod always fits somewhere.
fn always_fits(shapes: &[(Shape, i64)], capacity: Shape, n: i64) -> bool {
    let total = shapes
        .iter()
        .fold((0i64, 0i64, 0i64), |t, ((c, m, p), count)| (t.0 + c * count, t.1 + m * count, t.2 + p * count));
    for &((c, m, p), count) in shapes {
        if count == 0 {
            continue;
        }
        let others = (total.0 - c, total.1 - m, total.2 - p);
        for a in 0..=n {
            for b in 0..=(n - a) {
                let k = n - a - b;
                let short_cpu = a == 0 || others.0 > a * (capacity.0 - c);
                let short_memory = b == 0 || others.1 > b * (capacity.1 - m);
                let short_pods = k == 0 || others.2 > k * (capacity.2 - p);
                if short_cpu && short_memory && short_pods {
                    return false;
                }
            }
        }
    }
    true
}

/// `always_fits` for the lane as it stands (desired replicas of every deployment).
fn capacity_allows(world: &World) -> bool {
    let store = &world.cluster().store;
    let nodes: Vec<&Node> = store.list::<Node>().collect();
    let capacity = |n: &Node| (n.allocatable("cpu"), n.allocatable("memory"), n.allocatable("pods") / 1000);
    let Some(first) = nodes.first() else { return false };
    if nodes.iter().any(|n| capacity(n) != capacity(first)) {
        return false; // every lane used here is homogeneous; the bound above assumes it
    }
    let shapes: Vec<(Shape, i64)> = store
        .list::<Deployment>()
        .map(|d| {
            let r = Pod { spec: d.spec.template.spec.clone(), ..Pod::default() }.requests();
            ((r.cpu_milli, r.memory_milli, 1), i64::from(d.spec.replicas.unwrap_or(1).max(0)))
        })
        .collect();
    always_fits(&shapes, capacity(first), nodes.len() as i64)
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// After every input and every tick, no node is bound beyond its allocatable resources.
    #[test]
    fn no_node_is_ever_overcommitted(seed in 0u64..1_000, lane in lane(10), script in script(10, 40)) {
        let scenario = lane.scenario();
        let mut world = world(seed, &scenario);
        let inputs = resolve(&script, &pins(&world), &deployments(&scenario));
        let until = last_at(&inputs) + Millis(3_000);
        check_no_overcommit(&world)?;
        drive(&mut world, &inputs, until, |w, _| check_no_overcommit(w))?;
    }

    /// Once the control plane has had a second of game time since the last action, every desired
    /// replica has a pod (running, starting or pending): `lost` is zero. Checked at every tick of
    /// every quiet second, not only at the end.
    #[test]
    fn nothing_is_lost_once_the_control_plane_has_reacted(
        seed in 0u64..1_000,
        lane in lane(10),
        script in script(10, 40),
    ) {
        let scenario = lane.scenario();
        let mut world = world(seed, &scenario);
        let inputs = resolve(&script, &pins(&world), &deployments(&scenario));
        let until = last_at(&inputs) + Millis(2_000);
        drive(&mut world, &inputs, until, check_nothing_lost)?;
        let counts = world.pod_counts();
        prop_assert_eq!(counts.lost, 0, "at the end: {:?}", counts);
    }

    /// After chaos, a final reset (every pin stands) and uncordon of every pin, and a few seconds,
    /// every Deployment is fully available and no pod is Pending — whenever the desired pods fit
    /// however fragmented the lane has become (`capacity_allows`); lanes are sized so that this
    /// is the common case.
    #[test]
    fn deployments_converge_when_capacity_allows(
        seed in 0u64..1_000,
        lane in lane(3),
        script in script(10, 8),
    ) {
        let scenario = lane.scenario();
        let mut world = world(seed, &scenario);
        let pins = pins(&world);
        let mut inputs = resolve(&script, &pins, &deployments(&scenario));
        let end = last_at(&inputs) + Millis(TICK_MS);
        inputs.push((end, Input::ResetPins));
        for pin in &pins {
            inputs.push((end, Input::Cordon { node: pin.clone(), unschedulable: false }));
        }
        let until = end + Millis(5_000);
        drive(&mut world, &inputs, until, |_, _| Ok(()))?;
        if capacity_allows(&world) {
            let store = &world.cluster().store;
            for d in store.list::<Deployment>() {
                let desired = d.spec.replicas.unwrap_or(1);
                prop_assert_eq!(
                    d.status.available_replicas,
                    desired,
                    "deployment {} at {:?}: status {:?}",
                    d.metadata.name,
                    world.now(),
                    d.status
                );
            }
            let pending: Vec<&str> = store
                .list::<Pod>()
                .filter(|p| p.state() == PodState::Pending)
                .map(|p| p.metadata.name.as_str())
                .collect();
            prop_assert!(pending.is_empty(), "pods still Pending at {:?}: {:?}", world.now(), pending);
            let counts = world.pod_counts();
            prop_assert_eq!(counts.running, counts.desired, "{:?}", counts);
        }
    }

    /// Same seed + same inputs = same history: same digest, same outputs, same counts.
    #[test]
    fn same_seed_and_actions_give_the_same_digest(
        seed in any::<u64>(),
        lane in lane(10),
        script in script(8, 20),
    ) {
        let scenario = lane.scenario();
        let run = || -> Result<(String, Vec<String>, String), TestCaseError> {
            let mut world = world(seed, &scenario);
            let inputs = resolve(&script, &pins(&world), &deployments(&scenario));
            let until = last_at(&inputs) + Millis(2_000);
            let outputs = drive(&mut world, &inputs, until, |_, _| Ok(()))?;
            Ok((world.digest(), outputs, format!("{:?}", world.pod_counts())))
        };
        let (digest_a, outputs_a, counts_a) = run()?;
        let (digest_b, outputs_b, counts_b) = run()?;
        if let Some(i) = outputs_a.iter().zip(&outputs_b).position(|(a, b)| a != b) {
            prop_assert!(false, "output {} differs:\n  {}\n  {}", i, outputs_a[i], outputs_b[i]);
        }
        prop_assert_eq!(outputs_a.len(), outputs_b.len());
        prop_assert_eq!(counts_a, counts_b);
        prop_assert_eq!(digest_a, digest_b);
    }

    /// The digest means something: the same script (without pin chaos) with one pin knocked and
    /// never restored gives a different digest than without that knock.
    #[test]
    fn knocking_a_pin_changes_the_digest(
        seed in 0u64..1_000,
        lane in lane(10),
        script in script(6, 20),
        pin in any::<Index>(),
        knock_at in (0u64..800).prop_map(|t| Millis(t * TICK_MS)),
    ) {
        let scenario = lane.scenario();
        let run = |with_knock: bool| -> Result<String, TestCaseError> {
            let mut world = world(seed, &scenario);
            let pins = pins(&world);
            let mut inputs: Vec<(Millis, Input)> = resolve(&script, &pins, &deployments(&scenario))
                .into_iter()
                .filter(|(_, i)| matches!(i, Input::Scale { .. } | Input::Cordon { .. }))
                .collect();
            let until = last_at(&inputs).max(knock_at) + Millis(3_000);
            if with_knock {
                inputs.push((knock_at, Input::Knock(pin.get(&pins).clone())));
                inputs.sort_by_key(|(at, _)| *at);
            }
            drive(&mut world, &inputs, until, |_, _| Ok(()))?;
            Ok(world.digest())
        };
        let quiet = run(false)?;
        let knocked = run(true)?;
        prop_assert_ne!(quiet, knocked);
    }
}

// ---------------------------------------------------------------------------------------------
// Sanity checks of the test's own reasoning
// ---------------------------------------------------------------------------------------------

/// The capacity bound used by `deployments_converge_when_capacity_allows` accepts small loads,
/// refuses loads that can fragment, and the lanes it is exercised on often pass it.
#[test]
fn capacity_bound_is_neither_vacuous_nor_trivial() {
    let pin = (4_000, 8 << 40, 110);
    // One 1.5-cpu pod per pin on three pins: always fits.
    assert!(always_fits(&[((1_500, 3 << 40, 1), 3)], pin, 3));
    // Eight 1.5-cpu pods on three 4-cpu pins can be left unplaceable (each pin holding two,
    // with 1 cpu free) even though 12 cpu > 8 × 1.5 - 1.5.
    assert!(!always_fits(&[((1_500, 3 << 40, 1), 8)], pin, 3));
    // More than fits at all.
    assert!(!always_fits(&[((500, 1 << 40, 1), 100)], pin, 3));
    let fitting = (3..=12)
        .flat_map(|nodes| (0..=nodes * 3).map(move |pods| (nodes, pods)))
        .filter(|&(nodes, pods)| capacity_allows(&world(1, &Scenario::generated(nodes, pods))))
        .count();
    assert!(fitting > 100, "only {fitting} generated lanes pass the capacity bound");
    assert!(capacity_allows(&world(1, &Scenario::resolve("tiny").unwrap())));
}
