//! The StatefulSet controller (upstream `pkg/controller/statefulset`): pods with stable names
//! (`db-0`, `db-1`, ...), each with its own claims from `volumeClaimTemplates`
//! (`<template>-<set>-<ordinal>`, created before the pod and kept when the set scales down, as
//! upstream's default retention). `OrderedReady` creates ordinal N+1 only once 0..=N are Running
//! and Ready, and removes from the highest ordinal down, one at a time; `Parallel` does both at
//! once. A template change rolls the pods by ordinal, highest first, one at a time.
//!
//! A pod stuck `Terminating` on a dead node blocks its ordinal, as upstream: the set never runs
//! two pods of one ordinal, so `db-0` is not replaced until the old one is gone.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, delete_pod_gracefully, settle};
use crate::cluster::objects::pod::{PersistentVolumeClaimVolumeSource, Volume};
use crate::cluster::objects::{
    Kind, Object, ObjectMeta, OwnerReference, PersistentVolumeClaim, Pod, PodState, StatefulSet,
};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store, StoreError};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const COMPONENT: &str = "statefulset-controller";
/// How soon a sync whose write failed runs again.
const FAILED_RETRY: Millis = Millis(1_000);

#[derive(Debug, Default)]
pub struct StatefulSetController;

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        "statefulset"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::StatefulSet, Kind::Pod]
    }

    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::StatefulSet(sts) if change.type_ != ChangeType::Deleted => {
                out.push(Key::Object(ObjectKey::of(&sts.metadata)))
            }
            Object::Pod(pod) => out.extend(Key::controlling_owner(&pod.metadata, "StatefulSet")),
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        Ok(Action::requeue_at(ctx.now, sync(key.object(self.name())?, ctx)?))
    }
}

/// Upstream's `controller-revision-hash` of a template: the set's name and a hash of it.
pub fn revision(sts: &StatefulSet) -> String {
    let template = serde_json::to_vec(&sts.spec.template).unwrap_or_default();
    let digest = Sha256::digest(&template);
    let hash: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", sts.metadata.name)
}

fn running_and_ready(pod: &Pod) -> bool {
    pod.state() == PodState::Running && pod.is_ready()
}

fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(sts) = ctx.store.get::<StatefulSet>(key) else { return Ok(None) };
    if sts.metadata.is_terminating() {
        return Ok(None);
    }
    let sts = sts.clone();
    let replicas = sts.spec.replicas.unwrap_or(1).max(0) as usize;
    let update_revision = revision(&sts);
    // The set's pods by ordinal; a pod it controls whose name is not one of its ordinals is
    // not its to manage (upstream orphans such pods).
    let pods: BTreeMap<usize, (ObjectKey, bool, bool, String)> = ctx
        .store
        .pods_owned_by(&sts.metadata.uid)
        .filter_map(|p| {
            let ordinal = sts.ordinal_of(&p.metadata.name)?;
            let revision = p.metadata.labels.get(StatefulSet::REVISION_LABEL).cloned().unwrap_or_default();
            Some((ordinal, (ObjectKey::of(&p.metadata), p.metadata.is_terminating(), running_and_ready(p), revision)))
        })
        .collect();
    let ordered = !sts.parallel();
    let mut requeue = None;

    // Create what is missing, lowest ordinal first.
    for ordinal in 0..replicas {
        match pods.get(&ordinal) {
            None => {
                if let Some(at) = create(&sts, ordinal, &update_revision, ctx)? {
                    requeue = Some(at);
                    break;
                }
                if ordered {
                    // One at a time: the next waits for this one to be Running and Ready.
                    return Ok(earliest_of(requeue, update_status(key, &update_revision, ctx)?));
                }
            }
            Some((_, terminating, ready, _)) if ordered && (*terminating || !ready) => {
                return Ok(earliest_of(requeue, update_status(key, &update_revision, ctx)?));
            }
            Some(_) => {}
        }
    }

    // Scale down from the highest ordinal; OrderedReady one at a time, once the rest are ready.
    let surplus: Vec<_> = pods.range(replicas..).rev().collect();
    for (_, (pod_key, terminating, _, _)) in &surplus {
        if *terminating {
            if ordered {
                break;
            }
            continue;
        }
        if ordered && pods.range(..replicas).any(|(_, (_, t, ready, _))| *t || !ready) {
            break;
        }
        if let Some(at) = delete(&sts, pod_key, ctx)? {
            requeue = Some(at);
        }
        if ordered {
            break;
        }
    }

    // Rolling update: the highest ordinal not at the update revision is replaced, one at a time,
    // once every pod is Running and Ready.
    if surplus.is_empty() && !sts.on_delete() {
        let settled = (0..replicas).all(|o| pods.get(&o).is_some_and(|(_, t, ready, _)| !t && *ready));
        let stale = pods.range(..replicas).rev().find(|(_, (_, _, _, rev))| *rev != update_revision);
        if settled
            && let Some((_, (pod_key, ..))) = stale
            && let Some(at) = delete(&sts, pod_key, ctx)?
        {
            requeue = Some(at);
        }
    }
    Ok(earliest_of(requeue, update_status(key, &update_revision, ctx)?))
}

fn earliest_of(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    crate::cluster::controllers::earliest(a, b)
}

/// The pod of `ordinal`, its claims first (as upstream's `createPersistentVolumeClaims`).
/// Returns when to retry if a write failed.
fn create(
    sts: &StatefulSet,
    ordinal: usize,
    revision: &str,
    ctx: &mut Context,
) -> Result<Option<Millis>, ControllerError> {
    let pod_name = sts.pod_name(ordinal);
    let namespace = sts.metadata.namespace().to_string();
    for template in &sts.spec.volume_claim_templates {
        let claim_name = sts.claim_name(&template.metadata.name, ordinal);
        let claim_key = ObjectKey::new(&namespace, &claim_name);
        if ctx.store.get::<PersistentVolumeClaim>(&claim_key).is_some() {
            continue;
        }
        let mut claim = PersistentVolumeClaim {
            metadata: ObjectMeta {
                labels: sts.spec.selector.match_labels.clone().into(),
                ..ObjectMeta::namespaced(&namespace, &claim_name)
            },
            spec: template.spec.clone(),
            ..Default::default()
        };
        claim.metadata.labels.extend(template.metadata.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        claim.status.phase = PersistentVolumeClaim::PENDING.into();
        let (type_, reason, message, failed) = match ctx.store.create(claim, ctx.now) {
            Ok(_) => (
                "Normal",
                "SuccessfulCreate",
                format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {} success", sts.metadata.name),
                false,
            ),
            Err(err) => (
                "Warning",
                "FailedCreate",
                format!(
                    "create Claim {claim_name} for Pod {pod_name} in StatefulSet {} failed error: {err}",
                    sts.metadata.name
                ),
                true,
            ),
        };
        ctx.recorder.record(ctx.now, Kind::StatefulSet, &sts.metadata, type_, reason, message, COMPONENT);
        if failed {
            return Ok(Some(ctx.now + FAILED_RETRY));
        }
    }
    let mut pod = Pod {
        metadata: ObjectMeta {
            labels: sts.spec.template.metadata.labels.clone(),
            annotations: sts.spec.template.metadata.annotations.clone(),
            ..ObjectMeta::namespaced(&namespace, &pod_name)
        },
        spec: sts.spec.template.spec.clone(),
        ..Default::default()
    };
    pod.metadata.labels.insert(StatefulSet::POD_NAME_LABEL.into(), pod_name.clone());
    pod.metadata.labels.insert(StatefulSet::REVISION_LABEL.into(), revision.into());
    pod.metadata.labels.insert(StatefulSet::POD_INDEX_LABEL.into(), ordinal.to_string());
    pod.metadata.owner_references.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "StatefulSet".into(),
        name: sts.metadata.name.clone(),
        uid: sts.metadata.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    });
    // Each claim template becomes the pod's volume of that name (replacing one the template
    // may declare), as upstream's `updateStorage`.
    for template in &sts.spec.volume_claim_templates {
        let volume = Volume {
            name: template.metadata.name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: sts.claim_name(&template.metadata.name, ordinal),
                read_only: false,
            }),
            ..Default::default()
        };
        pod.spec.volumes.retain(|v| v.name != volume.name);
        pod.spec.volumes.push(volume);
    }
    crate::cluster::admission::admit_pod(&mut pod, ctx.timing);
    let (type_, reason, message, retry) = match ctx.store.create(pod, ctx.now) {
        Ok(_) => (
            "Normal",
            "SuccessfulCreate",
            format!("create Pod {pod_name} in StatefulSet {} successful", sts.metadata.name),
            None,
        ),
        Err(err) => (
            "Warning",
            "FailedCreate",
            format!("create Pod {pod_name} in StatefulSet {} failed error: {err}", sts.metadata.name),
            Some(ctx.now + FAILED_RETRY),
        ),
    };
    ctx.recorder.record(ctx.now, Kind::StatefulSet, &sts.metadata, type_, reason, message, COMPONENT);
    Ok(retry)
}

fn delete(sts: &StatefulSet, pod: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let (type_, reason, message, retry) = match delete_pod_gracefully(ctx.store, pod, ctx.now) {
        Ok(()) => (
            "Normal",
            "SuccessfulDelete",
            format!("delete Pod {} in StatefulSet {} successful", pod.name, sts.metadata.name),
            None,
        ),
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(err) => (
            "Warning",
            "FailedDelete",
            format!("delete Pod {} in StatefulSet {} failed error: {err}", pod.name, sts.metadata.name),
            Some(ctx.now + FAILED_RETRY),
        ),
    };
    ctx.recorder.record(ctx.now, Kind::StatefulSet, &sts.metadata, type_, reason, message, COMPONENT);
    Ok(retry)
}

/// Status recomputed from the pods that exist (level-triggered), written only when it differs.
fn update_status(key: &ObjectKey, update_revision: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(sts) = ctx.store.get::<StatefulSet>(key) else { return Ok(None) };
    let (mut replicas, mut ready, mut updated) = (0, 0, 0);
    let mut revisions: BTreeMap<&str, i32> = BTreeMap::new();
    for pod in ctx.store.pods_owned_by(&sts.metadata.uid).filter(|p| !p.metadata.is_terminating()) {
        replicas += 1;
        ready += i32::from(running_and_ready(pod));
        let revision = pod.metadata.labels.get(StatefulSet::REVISION_LABEL).map_or("", String::as_str);
        updated += i32::from(revision == update_revision);
        *revisions.entry(revision).or_default() += 1;
    }
    // The current revision is the one every pod had before a roll: the oldest still running,
    // or the update revision once all are updated.
    let current_revision = if updated == replicas {
        update_revision.to_string()
    } else {
        revisions
            .iter()
            .filter(|(r, _)| **r != update_revision)
            .max_by_key(|(_, n)| **n)
            .map_or(String::new(), |(r, _)| r.to_string())
    };
    let current = revisions.get(current_revision.as_str()).copied().unwrap_or(0);
    let generation = sts.metadata.generation;
    let s = &sts.status;
    if s.replicas == replicas
        && s.ready_replicas == ready
        && s.available_replicas == ready
        && s.updated_replicas == updated
        && s.current_replicas == current
        && s.current_revision == current_revision
        && s.update_revision == update_revision
        && s.observed_generation == generation
    {
        return Ok(None);
    }
    let written = ctx.store.modify::<StatefulSet>(key, |sts| {
        sts.status.replicas = replicas;
        sts.status.ready_replicas = ready;
        sts.status.available_replicas = ready;
        sts.status.updated_replicas = updated;
        sts.status.current_replicas = current;
        sts.status.current_revision = current_revision;
        sts.status.update_revision = update_revision.to_string();
        sts.status.observed_generation = generation;
    });
    settle(written, Kind::StatefulSet, key, ctx.now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::Quantity;
    use crate::cluster::objects::statefulset::StatefulSetSpec;
    use crate::cluster::objects::storage::PersistentVolumeClaimSpec;
    use proptest::prelude::*;

    fn stateful_set(replicas: i32, policy: &str) -> StatefulSet {
        let (selector, template) = harness::template("db");
        let mut claim = PersistentVolumeClaim { metadata: ObjectMeta::named("data"), ..Default::default() };
        claim.spec = PersistentVolumeClaimSpec { access_modes: vec!["ReadWriteOnce".into()], ..Default::default() };
        claim.spec.resources.requests.insert("storage".into(), Quantity::parse("1Gi").unwrap());
        let mut sts = StatefulSet {
            metadata: ObjectMeta::namespaced("default", "db"),
            spec: StatefulSetSpec {
                replicas: Some(replicas),
                selector,
                template,
                service_name: "db".into(),
                volume_claim_templates: vec![claim],
                ..Default::default()
            },
            ..Default::default()
        };
        sts.set_defaults();
        sts.spec.pod_management_policy = Some(policy.into());
        sts
    }

    fn sync(h: &mut Harness, key: &ObjectKey) {
        h.run(&mut StatefulSetController, &Key::Object(key.clone()));
    }

    fn pod_names(h: &Harness) -> Vec<String> {
        h.store.list::<Pod>().filter(|p| !p.metadata.is_terminating()).map(|p| p.metadata.name.clone()).collect()
    }

    /// The kubelet's part: every pod of the set Running and Ready on pin-1.
    fn start_all(h: &mut Harness) {
        let keys: Vec<ObjectKey> = h.store.list::<Pod>().map(|p| ObjectKey::of(&p.metadata)).collect();
        for key in keys {
            let started = harness::running(h.store.get::<Pod>(&key).unwrap().clone(), "pin-1", "10.1.0.1", true);
            h.store.modify::<Pod>(&key, |p| *p = started).unwrap();
        }
    }

    #[test]
    fn ordered_ready_creates_the_claim_then_the_pod_and_waits_for_each_to_be_ready() {
        let mut h = Harness::new();
        let key = h.seed(stateful_set(3, StatefulSet::ORDERED_READY));
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0"]);
        let claim = h.store.get::<PersistentVolumeClaim>(&ObjectKey::new("default", "data-db-0")).unwrap();
        assert_eq!(claim.spec.resources.requests["storage"].as_str(), "1Gi");
        let pod = h.store.get::<Pod>(&ObjectKey::new("default", "db-0")).unwrap();
        assert_eq!(pod.claim_names().collect::<Vec<_>>(), ["data-db-0"]);
        assert_eq!(pod.metadata.labels[StatefulSet::POD_NAME_LABEL], "db-0");
        let events: Vec<String> = h.events().into_iter().map(|e| e.3).collect();
        assert_eq!(
            events,
            [
                "create Claim data-db-0 Pod db-0 in StatefulSet db success",
                "create Pod db-0 in StatefulSet db successful"
            ]
        );
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0"], "db-1 waits for db-0 to be Running and Ready");
        start_all(&mut h);
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0", "db-1"]);
        start_all(&mut h);
        sync(&mut h, &key);
        start_all(&mut h);
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0", "db-1", "db-2"]);
        let status = &h.store.get::<StatefulSet>(&key).unwrap().status;
        assert_eq!((status.replicas, status.ready_replicas), (3, 3));
    }

    #[test]
    fn parallel_creates_every_pod_at_once() {
        let mut h = Harness::new();
        let key = h.seed(stateful_set(3, StatefulSet::PARALLEL));
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0", "db-1", "db-2"]);
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first_and_keeps_its_claim() {
        let mut h = Harness::new();
        let key = h.seed(stateful_set(3, StatefulSet::ORDERED_READY));
        for _ in 0..3 {
            sync(&mut h, &key);
            start_all(&mut h);
        }
        assert_eq!(pod_names(&h), ["db-0", "db-1", "db-2"]);
        h.store.modify::<StatefulSet>(&key, |s| s.spec.replicas = Some(1)).unwrap();
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0", "db-1"], "db-2 goes first, alone");
        // The kubelet finishes db-2.
        h.store.delete::<Pod>(&ObjectKey::new("default", "db-2")).unwrap();
        sync(&mut h, &key);
        assert_eq!(pod_names(&h), ["db-0"]);
        assert!(h.store.get::<PersistentVolumeClaim>(&ObjectKey::new("default", "data-db-2")).is_some());
    }

    #[test]
    fn a_template_change_rolls_the_pods_highest_ordinal_first() {
        let mut h = Harness::new();
        let key = h.seed(stateful_set(2, StatefulSet::PARALLEL));
        sync(&mut h, &key);
        start_all(&mut h);
        h.store
            .modify::<StatefulSet>(&key, |s| s.spec.template.spec.containers[0].image = "postgres:17".into())
            .unwrap();
        sync(&mut h, &key);
        let terminating: Vec<_> =
            h.store.list::<Pod>().filter(|p| p.metadata.is_terminating()).map(|p| p.metadata.name.clone()).collect();
        assert_eq!(terminating, ["db-1"]);
        h.store.delete::<Pod>(&ObjectKey::new("default", "db-1")).unwrap();
        sync(&mut h, &key);
        let db1 = h.store.get::<Pod>(&ObjectKey::new("default", "db-1")).unwrap();
        assert_eq!(db1.spec.containers[0].image, "postgres:17");
        assert!(!h.store.get::<Pod>(&ObjectKey::new("default", "db-0")).unwrap().metadata.is_terminating());
    }

    #[test]
    fn a_pod_stuck_terminating_blocks_its_ordinal() {
        let mut h = Harness::new();
        let key = h.seed(stateful_set(1, StatefulSet::ORDERED_READY));
        sync(&mut h, &key);
        start_all(&mut h);
        delete_pod_gracefully(&mut h.store, &ObjectKey::new("default", "db-0"), h.now).unwrap();
        sync(&mut h, &key);
        assert_eq!(h.store.list::<Pod>().count(), 1, "no second db-0 while the first is terminating");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Sync,
        Scale(i32),
        Start,
        Finish,
        DeletePod(usize),
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever scaling, starting, deleting and finishing happens, the set never has two pods
        /// of one ordinal, and `OrderedReady` creates ordinal N only while 0..N are Running and
        /// Ready.
        #[test]
        fn no_stateful_set_runs_two_pods_of_one_ordinal(
            parallel in any::<bool>(),
            ops in proptest::collection::vec(prop_oneof![
                Just(Op::Sync), Just(Op::Sync), (0i32..5).prop_map(Op::Scale), Just(Op::Start),
                Just(Op::Finish), (0usize..5).prop_map(Op::DeletePod),
            ], 1..50),
        ) {
            let policy = if parallel { StatefulSet::PARALLEL } else { StatefulSet::ORDERED_READY };
            let mut h = Harness::new();
            let key = h.seed(stateful_set(2, policy));
            for op in ops {
                let before: BTreeMap<usize, bool> = {
                    let sts = h.store.get::<StatefulSet>(&key).unwrap();
                    h.store.list::<Pod>().filter_map(|p| Some((sts.ordinal_of(&p.metadata.name)?, running_and_ready(p) && !p.metadata.is_terminating()))).collect()
                };
                match op {
                    Op::Sync => sync(&mut h, &key),
                    Op::Scale(n) => { h.store.modify::<StatefulSet>(&key, |s| s.spec.replicas = Some(n)).unwrap(); }
                    Op::Start => start_all(&mut h),
                    Op::Finish => {
                        let gone: Vec<ObjectKey> = h.store.list::<Pod>().filter(|p| p.metadata.is_terminating()).map(|p| ObjectKey::of(&p.metadata)).collect();
                        for k in gone { h.store.delete::<Pod>(&k).unwrap(); }
                    }
                    Op::DeletePod(n) => {
                        let k = ObjectKey::new("default", format!("db-{n}"));
                        if h.store.get::<Pod>(&k).is_some() { delete_pod_gracefully(&mut h.store, &k, h.now).unwrap(); }
                    }
                }
                let sts = h.store.get::<StatefulSet>(&key).unwrap();
                let mut ordinals = std::collections::BTreeSet::new();
                for pod in h.store.list::<Pod>() {
                    let ordinal = sts.ordinal_of(&pod.metadata.name);
                    prop_assert!(ordinal.is_some(), "{} is not one of the set's ordinals", pod.metadata.name);
                    prop_assert!(ordinals.insert(ordinal), "two pods of ordinal {ordinal:?}");
                }
                if !parallel {
                    for &ordinal in ordinals.iter().flatten() {
                        if !before.contains_key(&ordinal) {
                            prop_assert!((0..ordinal).all(|o| before.get(&o) == Some(&true)), "db-{ordinal} created before its predecessors were ready: {before:?}");
                        }
                    }
                }
            }
        }
    }
}
