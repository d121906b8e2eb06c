//! Issue 15's safety properties under any order of knocks, restores, forced deletes and scales on
//! the stateful lane: no PersistentVolume is ever bound to two claims (nor a claim to two
//! volumes), a StatefulSet never has two pods of one ordinal, and a running pod of the set always
//! runs where its data is.

use pinsetter::cluster::objects::{
    Kind, Node, Object, PersistentVolume, PersistentVolumeClaim, Pod, PodState, StatefulSet,
};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, Request, World};
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Knock(u8),
    Restore(u8),
    ForceDelete(u8),
    Scale(u8),
    Run(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1u8..=4).prop_map(Op::Knock),
        (1u8..=4).prop_map(Op::Restore),
        (0u8..3).prop_map(Op::ForceDelete),
        (0u8..=3).prop_map(Op::Scale),
        (100u16..3_000).prop_map(Op::Run),
    ]
}

fn apply(world: &mut World, op: &Op) {
    let result = match op {
        Op::Knock(pin) => world.handle_input(Input::Knock(format!("pin-{pin}"))),
        Op::Restore(pin) => world.handle_input(Input::Restore(format!("pin-{pin}"))),
        Op::ForceDelete(ordinal) => {
            let key = ObjectKey::new("default", format!("db-{ordinal}"));
            if world.cluster().store.get::<Pod>(&key).is_none() {
                return;
            }
            world.handle_input(Input::Request { id: 1, request: Request::Delete { kind: Kind::Pod, key, force: true } })
        }
        Op::Scale(replicas) => {
            let key = ObjectKey::new("default", "db");
            let mut set = world.cluster().store.get::<StatefulSet>(&key).expect("the lane's set").clone();
            set.spec.replicas = Some(i32::from(*replicas));
            world.handle_input(Input::Apply(Box::new(Object::from(set))))
        }
        Op::Run(ms) => {
            for _ in 0..(ms / 100) {
                world.step();
            }
            Ok(())
        }
    };
    result.unwrap_or_else(|e| panic!("{op:?} refused: {e}"));
    while world.poll_output().is_some() {}
    while world.poll_reply().is_some() {}
}

fn check(world: &World) -> Result<(), TestCaseError> {
    let store = &world.cluster().store;
    // Volumes and claims: each binding is one-to-one and agrees both ways.
    let mut claimed: BTreeMap<String, String> = BTreeMap::new();
    for claim in store.list::<PersistentVolumeClaim>().filter(|c| !c.spec.volume_name.is_empty()) {
        let name = format!("{}/{}", claim.metadata.namespace(), claim.metadata.name);
        if let Some(other) = claimed.insert(claim.spec.volume_name.clone(), name.clone()) {
            return Err(TestCaseError::fail(format!("{} bound to {other} and {name}", claim.spec.volume_name)));
        }
    }
    for pv in store.list::<PersistentVolume>() {
        if let (Some(by), Some(r)) = (claimed.get(&pv.metadata.name), &pv.spec.claim_ref) {
            prop_assert_eq!(by, &format!("{}/{}", r.namespace, r.name), "{} and its claim disagree", pv.metadata.name);
        }
    }
    // The set's pods: at most one per ordinal, and a running one where its volume is.
    let mut ordinals: BTreeMap<String, usize> = BTreeMap::new();
    for pod in store.list::<Pod>().filter(|p| p.metadata.controller().is_some_and(|o| o.kind == "StatefulSet")) {
        let index = pod.metadata.labels.get(StatefulSet::POD_INDEX_LABEL).cloned().unwrap_or_default();
        *ordinals.entry(index.clone()).or_default() += 1;
        prop_assert!(ordinals[&index] <= 1, "two pods of ordinal {}", index);
        if pod.state() == PodState::Running {
            let node = pod.node_name().unwrap_or_default();
            for claim in pod.claim_names() {
                let pvc = store.get::<PersistentVolumeClaim>(&ObjectKey::new("default", claim));
                let pv = pvc.and_then(|c| store.get::<PersistentVolume>(&ObjectKey::cluster(&c.spec.volume_name)));
                let pv =
                    pv.ok_or_else(|| TestCaseError::fail(format!("{} runs without its volume", pod.metadata.name)))?;
                let labels =
                    store.get::<Node>(&ObjectKey::cluster(node)).map(|n| n.metadata.labels.clone()).unwrap_or_default();
                prop_assert!(
                    pv.reachable_from(node, &labels),
                    "{} runs on {} away from {}",
                    pod.metadata.name,
                    node,
                    pv.metadata.name
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn volumes_bind_once_and_a_set_never_runs_two_pods_of_an_ordinal(ops in prop::collection::vec(op(), 1..24)) {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("stateful").unwrap()).unwrap();
        for op in &ops {
            apply(&mut world, op);
            check(&world)?;
        }
        apply(&mut world, &Op::Run(3_000));
        check(&world)?;
    }
}
