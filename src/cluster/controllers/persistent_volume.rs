//! The PersistentVolume controller (upstream `pkg/controller/volume/persistentvolume`, the
//! "binder"): binds each claim to the smallest Available volume that fits it (class, capacity,
//! access modes), both ways — `claimRef` on the volume, `volumeName` on the claim — and
//! reclaims a volume whose claim is gone (`Delete` removes it, `Retain` leaves it `Released`).
//!
//! A claim of a `WaitForFirstConsumer` class waits until the scheduler has picked its pod's node
//! (the `volume.kubernetes.io/selected-node` annotation); only volumes that node can reach are
//! then candidates, so a local volume is taken on the pod's pin.
//!
//! Keys: a cluster-scoped key is a volume, a namespaced key a claim.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, earliest, settle};
use crate::cluster::objects::storage::ClaimRef;
use crate::cluster::objects::{Kind, Node, Object, PersistentVolume, PersistentVolumeClaim, StorageClass};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};

const COMPONENT: &str = "persistentvolume-controller";

#[derive(Debug, Default)]
pub struct PersistentVolumeController;

impl Controller for PersistentVolumeController {
    fn name(&self) -> &'static str {
        "persistent_volume"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::PersistentVolume, Kind::PersistentVolumeClaim, Kind::StorageClass]
    }

    /// A claim itself and the volume it names; a volume itself, its claim, and — when it is
    /// free — the unbound claims of its class that may now take it.
    fn triggers(&mut self, change: &Change, store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::PersistentVolumeClaim(claim) => {
                if change.type_ != ChangeType::Deleted {
                    out.push(Key::Object(ObjectKey::of(&claim.metadata)));
                }
                if claim.is_bound() {
                    out.push(Key::Object(ObjectKey::cluster(&claim.spec.volume_name)));
                }
            }
            Object::PersistentVolume(pv) => {
                if change.type_ != ChangeType::Deleted {
                    out.push(Key::Object(ObjectKey::cluster(&pv.metadata.name)));
                }
                match &pv.spec.claim_ref {
                    Some(r) => out.push(Key::Object(ObjectKey::new(&r.namespace, &r.name))),
                    // Claims are few beside the pods that use them: a scan of the unbound is fine.
                    None => out.extend(
                        store
                            .list::<PersistentVolumeClaim>()
                            .filter(|c| !c.is_bound() && c.class_name() == pv.spec.storage_class_name)
                            .map(|c| Key::Object(ObjectKey::of(&c.metadata))),
                    ),
                }
            }
            Object::StorageClass(sc) if change.type_ != ChangeType::Deleted => out.extend(
                store
                    .list::<PersistentVolumeClaim>()
                    .filter(|c| !c.is_bound() && c.class_name() == sc.metadata.name)
                    .map(|c| Key::Object(ObjectKey::of(&c.metadata))),
            ),
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        let at = if key.namespace.is_empty() { sync_volume(key, ctx)? } else { sync_claim(key, ctx)? };
        Ok(Action::requeue_at(ctx.now, at))
    }
}

/// Upstream's `syncClaim`: an unbound claim finds its volume; a bound one is kept consistent.
fn sync_claim(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(claim) = ctx.store.get::<PersistentVolumeClaim>(key) else { return Ok(None) };
    if claim.metadata.is_terminating() {
        return Ok(None);
    }
    if claim.is_bound() {
        let volume = ctx.store.get::<PersistentVolume>(&ObjectKey::cluster(&claim.spec.volume_name));
        return match volume {
            // The volume went: upstream's `Lost` claim (its data is gone with it).
            None => set_claim_phase(key, "Lost", ctx),
            Some(pv) if !claims_volume(pv, claim) => Ok(None),
            Some(pv) => {
                let pv_key = ObjectKey::cluster(&pv.metadata.name);
                let pv = pv.clone();
                let claim = claim.clone();
                complete_binding(&pv_key, &pv, key, &claim, ctx)
            }
        };
    }
    let claim = claim.clone();
    let class = ctx.store.get::<StorageClass>(&ObjectKey::cluster(claim.class_name()));
    let waits = class.is_some_and(StorageClass::waits_for_first_consumer);
    let node = match claim.selected_node() {
        Some(name) => ctx.store.get::<Node>(&ObjectKey::cluster(name)).map(|n| (name, &n.metadata.labels)),
        None if waits => {
            ctx.recorder.record(
                ctx.now,
                Kind::PersistentVolumeClaim,
                &claim.metadata,
                "Normal",
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding".into(),
                COMPONENT,
            );
            return Ok(None);
        }
        None => None,
    };
    // Upstream's `findBestMatchForClaim`: the smallest volume that fits, ties by name.
    let best = ctx
        .store
        .list::<PersistentVolume>()
        .filter(|pv| pv.fits(&claim))
        .filter(|pv| node.is_none_or(|(name, labels)| pv.reachable_from(name, labels)))
        .min_by_key(|pv| (pv.storage(), pv.metadata.name.clone()))
        .map(|pv| pv.metadata.name.clone());
    let Some(volume) = best else {
        if claim.class_name().is_empty() {
            ctx.recorder.record(
                ctx.now,
                Kind::PersistentVolumeClaim,
                &claim.metadata,
                "Normal",
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set".into(),
                COMPONENT,
            );
        }
        return Ok(None);
    };
    let pv_key = ObjectKey::cluster(&volume);
    // The volume first, as upstream: its claimRef is what reserves it.
    let claim_ref = ClaimRef {
        api_version: "v1".into(),
        kind: "PersistentVolumeClaim".into(),
        namespace: claim.metadata.namespace().to_string(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.to_string(),
    };
    let written = ctx.store.modify::<PersistentVolume>(&pv_key, |pv| {
        pv.spec.claim_ref = Some(claim_ref);
        pv.status.phase = PersistentVolume::BOUND.into();
    });
    if let Some(at) = settle(written, Kind::PersistentVolume, &pv_key, ctx.now)? {
        return Ok(Some(at));
    }
    let Some(pv) = ctx.store.get::<PersistentVolume>(&pv_key).cloned() else { return Ok(None) };
    complete_binding(&pv_key, &pv, key, &claim, ctx)
}

/// Whether `pv`'s claimRef names this very claim (by uid once it has one).
fn claims_volume(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    pv.spec.claim_ref.as_ref().is_some_and(|r| {
        r.name == claim.metadata.name
            && r.namespace == claim.metadata.namespace()
            && (r.uid.is_empty() || r.uid == claim.metadata.uid)
    })
}

/// Brings both sides of a binding to Bound: the volume's phase, the claim's `volumeName`,
/// annotation, phase, capacity and access modes. Writes only what differs.
fn complete_binding(
    pv_key: &ObjectKey,
    pv: &PersistentVolume,
    key: &ObjectKey,
    claim: &PersistentVolumeClaim,
    ctx: &mut Context,
) -> Result<Option<Millis>, ControllerError> {
    let mut requeue = None;
    if pv.status.phase != PersistentVolume::BOUND {
        let written =
            ctx.store.modify::<PersistentVolume>(pv_key, |pv| pv.status.phase = PersistentVolume::BOUND.into());
        requeue = settle(written, Kind::PersistentVolume, pv_key, ctx.now)?;
    }
    let done = claim.spec.volume_name == pv.metadata.name
        && claim.status.phase == PersistentVolumeClaim::BOUND
        && claim.status.capacity == pv.spec.capacity
        && claim.status.access_modes == pv.spec.access_modes
        && claim.metadata.annotations.contains_key(PersistentVolumeClaim::BIND_COMPLETED_ANNOTATION);
    if done {
        return Ok(requeue);
    }
    let newly = !claim.is_bound();
    let written = ctx.store.modify::<PersistentVolumeClaim>(key, |c| {
        c.spec.volume_name = pv.metadata.name.clone();
        c.metadata.annotations.insert(PersistentVolumeClaim::BIND_COMPLETED_ANNOTATION.into(), "yes".into());
        c.status.phase = PersistentVolumeClaim::BOUND.into();
        c.status.capacity = pv.spec.capacity.clone();
        c.status.access_modes = pv.spec.access_modes.clone();
    });
    let at = settle(written, Kind::PersistentVolumeClaim, key, ctx.now)?;
    if newly && at.is_none() {
        let meta = ctx.store_meta(Kind::PersistentVolumeClaim, key);
        ctx.recorder.record(
            ctx.now,
            Kind::PersistentVolumeClaim,
            &meta,
            "Normal",
            "Bound",
            format!("Successfully bound to PersistentVolume {}", pv.metadata.name),
            COMPONENT,
        );
    }
    Ok(earliest(requeue, at))
}

fn set_claim_phase(key: &ObjectKey, phase: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    if ctx.store.get::<PersistentVolumeClaim>(key).is_none_or(|c| c.status.phase == phase) {
        return Ok(None);
    }
    let written = ctx.store.modify::<PersistentVolumeClaim>(key, |c| c.status.phase = phase.into());
    settle(written, Kind::PersistentVolumeClaim, key, ctx.now)
}

/// Upstream's `syncVolume`: a free volume is Available; one whose claim is gone is reclaimed.
fn sync_volume(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(pv) = ctx.store.get::<PersistentVolume>(key) else { return Ok(None) };
    if pv.metadata.is_terminating() {
        return Ok(None);
    }
    let Some(claim_ref) = &pv.spec.claim_ref else {
        return set_volume_phase(key, PersistentVolume::AVAILABLE, ctx);
    };
    let claim = ctx.store.get::<PersistentVolumeClaim>(&ObjectKey::new(&claim_ref.namespace, &claim_ref.name));
    let released = match claim {
        // Pre-bound by hand (no uid yet): the claim's sync binds it.
        Some(_) if claim_ref.uid.is_empty() => false,
        Some(claim) => claim.metadata.uid != claim_ref.uid,
        None => true,
    };
    if !released {
        return Ok(None);
    }
    let policy = pv.spec.persistent_volume_reclaim_policy.as_deref().unwrap_or(PersistentVolume::RETAIN);
    if policy == PersistentVolume::DELETE {
        let pv_meta = pv.metadata.clone();
        let deleted = ctx.store.delete::<PersistentVolume>(key);
        let at = settle(deleted, Kind::PersistentVolume, key, ctx.now)?;
        if at.is_none() {
            ctx.recorder.record(
                ctx.now,
                Kind::PersistentVolume,
                &pv_meta,
                "Normal",
                "VolumeDelete",
                format!(
                    "persistentvolume {} deleted: its claim is gone and its reclaim policy is Delete",
                    pv_meta.name
                ),
                COMPONENT,
            );
        }
        return Ok(at);
    }
    // Retain: the data stays, and so does the claimRef, until an admin frees the volume.
    set_volume_phase(key, PersistentVolume::RELEASED, ctx)
}

fn set_volume_phase(key: &ObjectKey, phase: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    if ctx.store.get::<PersistentVolume>(key).is_none_or(|pv| pv.status.phase == phase) {
        return Ok(None);
    }
    let written = ctx.store.modify::<PersistentVolume>(key, |pv| pv.status.phase = phase.into());
    settle(written, Kind::PersistentVolume, key, ctx.now)
}

/// The local volume that ties a pod to its node: a claim of the pod's bound to a
/// PersistentVolume with required node affinity. Knock that node and the pod cannot run
/// anywhere else until it returns.
pub fn local_volume_of<'s>(
    store: &'s Store,
    pod: &'s crate::cluster::objects::Pod,
) -> Option<(&'s str, &'s PersistentVolume)> {
    pod.claim_names().find_map(|claim| {
        let pvc = store.get::<PersistentVolumeClaim>(&ObjectKey::new(pod.metadata.namespace(), claim))?;
        let pv = store.get::<PersistentVolume>(&ObjectKey::cluster(&pvc.spec.volume_name))?;
        pv.required_nodes().map(|_| (claim, pv))
    })
}

/// Whether any Ready node can use this volume: when none can, the pod whose data it holds waits
/// for that node to come back.
pub fn reachable_by_a_ready_node(store: &Store, pv: &PersistentVolume) -> bool {
    store.list::<Node>().any(|n| {
        n.readiness() == crate::cluster::objects::Readiness::Ready
            && pv.reachable_from(&n.metadata.name, &n.metadata.labels)
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cluster::controllers::harness::Harness;
    use crate::cluster::objects::ObjectMeta;
    use crate::cluster::objects::storage::{
        NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, VolumeNodeAffinity,
    };
    use proptest::prelude::*;

    /// A `local` PV of `gi` GiB on `node` (node affinity by hostname), Retain unless told.
    pub fn local_pv(name: &str, class: &str, gi: i64, node: &str) -> PersistentVolume {
        let mut pv = PersistentVolume { metadata: ObjectMeta::named(name), ..Default::default() };
        pv.spec
            .capacity
            .insert("storage".into(), crate::cluster::objects::Quantity::parse(&format!("{gi}Gi")).unwrap());
        pv.spec.access_modes = vec!["ReadWriteOnce".into()];
        pv.spec.storage_class_name = class.into();
        pv.spec.persistent_volume_reclaim_policy = Some(PersistentVolume::RETAIN.into());
        pv.spec.local = Some(serde_json::json!({"path": "/mnt/disks/ssd"}));
        pv.spec.node_affinity = Some(VolumeNodeAffinity {
            required: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "kubernetes.io/hostname".into(),
                        operator: "In".into(),
                        values: vec![node.into()],
                    }],
                    ..Default::default()
                }],
            }),
        });
        pv
    }

    pub fn claim(name: &str, class: &str, gi: i64) -> PersistentVolumeClaim {
        let mut c = PersistentVolumeClaim { metadata: ObjectMeta::namespaced("default", name), ..Default::default() };
        c.spec.access_modes = vec!["ReadWriteOnce".into()];
        c.spec.storage_class_name = Some(class.into());
        c.spec
            .resources
            .requests
            .insert("storage".into(), crate::cluster::objects::Quantity::parse(&format!("{gi}Gi")).unwrap());
        c.status.phase = PersistentVolumeClaim::PENDING.into();
        c
    }

    pub fn class(name: &str, mode: &str) -> StorageClass {
        StorageClass {
            metadata: ObjectMeta::named(name),
            provisioner: "kubernetes.io/no-provisioner".into(),
            reclaim_policy: Some("Delete".into()),
            volume_binding_mode: Some(mode.into()),
            ..Default::default()
        }
    }

    fn node(name: &str) -> Node {
        let mut n = Node { metadata: ObjectMeta::named(name), ..Default::default() };
        n.metadata.labels.insert("kubernetes.io/hostname".into(), name.into());
        n
    }

    fn sync(h: &mut Harness, key: &ObjectKey) {
        h.run(&mut PersistentVolumeController, &Key::Object(key.clone()));
    }

    #[test]
    fn an_immediate_claim_binds_the_smallest_volume_that_fits_both_ways() {
        let mut h = Harness::new();
        h.seed(class("fast", StorageClass::IMMEDIATE));
        h.seed(local_pv("big", "fast", 100, "pin-1"));
        h.seed(local_pv("small", "fast", 5, "pin-1"));
        h.seed(local_pv("too-small", "fast", 1, "pin-1"));
        h.seed(local_pv("other-class", "slow", 5, "pin-1"));
        let key = h.seed(claim("data", "fast", 2));
        sync(&mut h, &key);
        let c = h.store.get::<PersistentVolumeClaim>(&key).unwrap();
        assert_eq!(c.spec.volume_name, "small");
        assert_eq!(c.status.phase, "Bound");
        assert_eq!(c.status.capacity["storage"].as_str(), "5Gi");
        let pv = h.store.get::<PersistentVolume>(&ObjectKey::cluster("small")).unwrap();
        assert_eq!(pv.status.phase, "Bound");
        assert_eq!(
            pv.spec.claim_ref.as_ref().map(|r| (r.name.as_str(), r.uid.as_str())),
            Some(("data", c.metadata.uid.as_str()))
        );
        assert_eq!(
            h.events(),
            [(
                "Normal",
                "Bound",
                "persistentvolumeclaim/data".to_string(),
                "Successfully bound to PersistentVolume small".to_string()
            )]
        );
        sync(&mut h, &key);
        assert_eq!(h.writes(), [], "a bound claim's sync writes nothing");
    }

    #[test]
    fn a_wait_for_first_consumer_claim_binds_only_on_its_selected_node() {
        let mut h = Harness::new();
        h.seed(class("local", StorageClass::WAIT_FOR_FIRST_CONSUMER));
        h.seed(node("pin-1"));
        h.seed(node("pin-2"));
        h.seed(local_pv("local-pin-1", "local", 10, "pin-1"));
        h.seed(local_pv("local-pin-2", "local", 10, "pin-2"));
        let key = h.seed(claim("data-db-0", "local", 1));
        sync(&mut h, &key);
        assert_eq!(h.writes(), []);
        assert_eq!(h.events()[0].3, "waiting for first consumer to be created before binding");
        h.store
            .modify::<PersistentVolumeClaim>(&key, |c| {
                c.metadata.annotations.insert(PersistentVolumeClaim::SELECTED_NODE_ANNOTATION.into(), "pin-2".into());
            })
            .unwrap();
        sync(&mut h, &key);
        assert_eq!(h.store.get::<PersistentVolumeClaim>(&key).unwrap().spec.volume_name, "local-pin-2");
    }

    #[test]
    fn a_deleted_claim_s_volume_is_deleted_or_released_by_its_reclaim_policy() {
        let mut h = Harness::new();
        h.seed(class("fast", StorageClass::IMMEDIATE));
        let mut deleting = local_pv("deleting", "fast", 1, "pin-1");
        deleting.spec.persistent_volume_reclaim_policy = Some("Delete".into());
        h.seed(deleting);
        let a = h.seed(claim("a", "fast", 1));
        sync(&mut h, &a);
        h.seed(local_pv("kept", "fast", 1, "pin-1"));
        let b = h.seed(claim("b", "fast", 1));
        sync(&mut h, &b);
        assert_eq!(h.store.get::<PersistentVolumeClaim>(&b).unwrap().spec.volume_name, "kept");
        h.store.delete::<PersistentVolumeClaim>(&a).unwrap();
        h.store.delete::<PersistentVolumeClaim>(&b).unwrap();
        sync(&mut h, &ObjectKey::cluster("deleting"));
        sync(&mut h, &ObjectKey::cluster("kept"));
        assert!(h.store.get::<PersistentVolume>(&ObjectKey::cluster("deleting")).is_none());
        let kept = h.store.get::<PersistentVolume>(&ObjectKey::cluster("kept")).unwrap();
        assert_eq!(kept.status.phase, "Released");
        assert!(kept.spec.claim_ref.is_some(), "Retain keeps the claimRef until an admin frees it");
        // A new claim of the same name does not take the released volume (its uid differs).
        let again = h.seed(claim("b", "fast", 1));
        sync(&mut h, &again);
        assert!(!h.store.get::<PersistentVolumeClaim>(&again).unwrap().is_bound());
    }

    #[derive(Debug, Clone)]
    enum Op {
        Claim(u8, i64),
        Volume(u8, i64),
        DeleteClaim(u8),
        Sync(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..6, 1i64..4).prop_map(|(n, gi)| Op::Claim(n, gi)),
            (0u8..4, 1i64..4).prop_map(|(n, gi)| Op::Volume(n, gi)),
            (0u8..6).prop_map(Op::DeleteClaim),
            (0u8..10).prop_map(Op::Sync),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever claims and volumes come and go, and in whatever order keys are synced, no
        /// volume is ever bound to two claims, and a bound claim's volume names it.
        #[test]
        fn no_volume_is_ever_bound_to_two_claims(ops in proptest::collection::vec(op(), 1..40)) {
            let mut h = Harness::new();
            h.seed(class("fast", StorageClass::IMMEDIATE));
            for op in ops {
                match op {
                    Op::Claim(n, gi) => {
                        let key = ObjectKey::new("default", format!("c{n}"));
                        if h.store.get::<PersistentVolumeClaim>(&key).is_none() {
                            h.store.create(claim(&key.name, "fast", gi), h.now).unwrap();
                        }
                    }
                    Op::Volume(n, gi) => {
                        let key = ObjectKey::cluster(format!("v{n}"));
                        if h.store.get::<PersistentVolume>(&key).is_none() {
                            h.store.create(local_pv(&key.name, "fast", gi, "pin-1"), h.now).unwrap();
                        }
                    }
                    Op::DeleteClaim(n) => {
                        let key = ObjectKey::new("default", format!("c{n}"));
                        if h.store.get::<PersistentVolumeClaim>(&key).is_some() {
                            h.store.delete::<PersistentVolumeClaim>(&key).unwrap();
                        }
                    }
                    Op::Sync(n) if n < 6 => sync(&mut h, &ObjectKey::new("default", format!("c{n}"))),
                    Op::Sync(n) => sync(&mut h, &ObjectKey::cluster(format!("v{}", n - 6))),
                }
                let mut holders = std::collections::BTreeMap::<&str, Vec<&str>>::new();
                for c in h.store.list::<PersistentVolumeClaim>().filter(|c| c.is_bound()) {
                    holders.entry(c.spec.volume_name.as_str()).or_default().push(&c.metadata.name);
                    if let Some(pv) = h.store.get::<PersistentVolume>(&ObjectKey::cluster(&c.spec.volume_name)) {
                        prop_assert!(claims_volume(pv, c), "{} is bound to {} whose claimRef is {:?}", c.metadata.name, pv.metadata.name, pv.spec.claim_ref);
                    }
                }
                for (pv, claims) in holders {
                    prop_assert!(claims.len() <= 1, "{pv} is bound to {claims:?}");
                }
            }
        }
    }
}
