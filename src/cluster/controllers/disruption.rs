//! The disruption controller (upstream's `pkg/controller/disruption`): keeps each
//! PodDisruptionBudget's status — expected, desired and currently healthy pods, how many
//! disruptions are allowed, and the pods the Eviction API is deleting — and [`evict`], the
//! Eviction API's budget check (`pkg/registry/core/pod/storage/eviction.go`), which reads that
//! status and decrements it in the same write as the delete.
//!
//! Where this differs from upstream: the finders know ReplicaSets and Deployments (the kinds
//! Pinsetter runs), not ReplicationControllers, StatefulSets or the generic scale subresource; a
//! `NoPods` / `UnmanagedPods` event is recorded when the status is written, not on every sync
//! (upstream's recorder aggregates the repeats; ours would log each); and the disrupted-pod
//! timeout is upstream's two minutes under the `kubernetes` timings, scaled by 1/20 (6 s) in
//! arcade, as the other control-plane periods are.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, delete_pod_gracefully, settle};
use crate::cluster::objects::pdb::{ALWAYS_ALLOW, PodDisruptionBudget, SYNC_FAILED, scaled_value};
use crate::cluster::objects::service::IntOrString;
use crate::cluster::objects::{Deployment, Kind, LabelSelector, Object, Pod, ReplicaSet};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store, StoreError};
use crate::cluster::timing::{Preset, Timing};
use std::collections::{BTreeMap, BTreeSet};

const COMPONENT: &str = "controllermanager";

/// Upstream's `DeletionTimeout`: how long a pod the Eviction API named may stay undeleted before
/// the controller stops discounting it (2 min; arcade's 1/20 of it).
pub fn deletion_timeout(timing: &Timing) -> Millis {
    match timing.preset {
        Preset::Kubernetes => Millis(120_000),
        Preset::Arcade => Millis(6_000),
    }
}

/// Upstream's `MaxDisruptedPodSize`: the eviction refuses once this many are unconfirmed.
const MAX_DISRUPTED_PODS: usize = 2000;

#[derive(Debug, Default)]
pub struct DisruptionController {
    /// Every budget's selector by namespace and name, from the change stream: the budgets a pod
    /// change concerns are found without reading every budget in the store.
    selectors: BTreeMap<String, BTreeMap<String, Option<LabelSelector>>>,
}

impl Controller for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::PodDisruptionBudget, Kind::Pod]
    }

    /// A budget itself, and the budgets in a changed pod's namespace whose selector matches it.
    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::PodDisruptionBudget(budget) => {
                let namespace = budget.metadata.namespace().to_string();
                if change.type_ == ChangeType::Deleted {
                    if let Some(names) = self.selectors.get_mut(&namespace) {
                        names.remove(&budget.metadata.name);
                        if names.is_empty() {
                            self.selectors.remove(&namespace);
                        }
                    }
                } else {
                    self.selectors
                        .entry(namespace)
                        .or_default()
                        .insert(budget.metadata.name.clone(), budget.spec.selector.clone());
                    out.push(Key::Object(ObjectKey::of(&budget.metadata)));
                }
            }
            Object::Pod(pod) => {
                let namespace = pod.metadata.namespace();
                let Some(budgets) = self.selectors.get(namespace) else { return };
                for (name, selector) in budgets {
                    if selector.as_ref().is_some_and(|s| s.matches(&pod.metadata.labels)) {
                        out.push(Key::Object(ObjectKey::new(namespace, name)));
                    }
                }
            }
            _ => {}
        }
    }

    fn relisted(&mut self, store: &Store) {
        self.selectors.clear();
        for budget in store.list::<PodDisruptionBudget>() {
            self.selectors
                .entry(budget.metadata.namespace().to_string())
                .or_default()
                .insert(budget.metadata.name.clone(), budget.spec.selector.clone());
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        Ok(Action::requeue_at(ctx.now, sync(key.object(self.name())?, ctx)?))
    }
}

/// The pods in `namespace` a budget covers, in key order (an index range, not a scan of every pod).
fn covered_pods<'s>(store: &'s Store, budget: &'s PodDisruptionBudget) -> impl Iterator<Item = &'s Pod> {
    let namespace = budget.metadata.namespace();
    store
        .range::<Pod>(ObjectKey::new(namespace, "")..=ObjectKey::new(namespace, "\u{10FFFF}"))
        .filter(|pod| budget.covers(&pod.metadata.labels))
}

/// What a sync computed, before it is written.
struct Computed {
    expected: i32,
    desired: i32,
    current_healthy: i32,
    disrupted: BTreeMap<String, String>,
    recheck: Option<Millis>,
    unmanaged: bool,
    no_pods: bool,
    /// Pods the Eviction API named that outlived the timeout (each gets a `NotDeleted` Warning).
    not_deleted: Vec<ObjectKey>,
}

fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(budget) = ctx.store.get::<PodDisruptionBudget>(key) else { return Ok(None) };
    if budget.metadata.is_terminating() {
        return Ok(None);
    }
    let pods: Vec<&Pod> = covered_pods(ctx.store, budget).collect();
    let counted = expected_count(ctx.store, budget, &pods);
    let (expected, desired, unmanaged) = match counted {
        Ok(counts) => counts,
        Err(message) => return fail_safe(key, message, ctx),
    };
    let timeout = deletion_timeout(ctx.timing);
    let (disrupted, recheck, not_deleted) = disrupted_pod_map(ctx.store, budget, &pods, ctx.now, timeout);
    let current_healthy = count_healthy(&pods, &disrupted, ctx.store, ctx.now, timeout);
    let computed = Computed {
        expected,
        desired,
        current_healthy,
        disrupted,
        recheck,
        unmanaged,
        no_pods: pods.is_empty(),
        not_deleted,
    };
    write_status(key, computed, ctx)
}

/// Upstream's `getExpectedPodCount`: (expectedPods, desiredHealthy, whether some covered pods
/// have no controller). An integer `minAvailable` counts the pods; everything else asks their
/// controllers' scale.
fn expected_count(store: &Store, budget: &PodDisruptionBudget, pods: &[&Pod]) -> Result<(i32, i32, bool), String> {
    let spec = &budget.spec;
    if let Some(max) = &spec.max_unavailable {
        let (expected, unmanaged) = expected_scale(store, pods)?;
        let max = scaled_value(max, expected, true).ok_or_else(|| invalid_value(max))?;
        return Ok((expected, (expected - max).max(0), unmanaged));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pods.len() as i32, *n, false)),
        Some(min) => {
            let (expected, unmanaged) = expected_scale(store, pods)?;
            let min = scaled_value(min, expected, true).ok_or_else(|| invalid_value(min))?;
            Ok((expected, min, unmanaged))
        }
        None => Ok((0, 0, false)),
    }
}

fn invalid_value(value: &IntOrString) -> String {
    format!("invalid value for IntOrString: invalid value {value:?}")
}

/// Upstream's `getExpectedScale`: the sum of the scales of the covered pods' controllers (a
/// Deployment's replicas for its ReplicaSets' pods), and whether some pods have none.
fn expected_scale(store: &Store, pods: &[&Pod]) -> Result<(i32, bool), String> {
    let mut scales: BTreeMap<&str, i32> = BTreeMap::new();
    let mut seen_owners: BTreeSet<&str> = BTreeSet::new();
    let mut unmanaged = false;
    for pod in pods {
        let Some(owner) = pod.metadata.controller() else {
            unmanaged = true;
            continue;
        };
        if !seen_owners.insert(owner.uid.as_str()) {
            continue;
        }
        let apps = owner.api_version.starts_with("apps/") || owner.api_version.starts_with("extensions/");
        let replica_set = (apps && owner.kind == "ReplicaSet")
            .then(|| store.get::<ReplicaSet>(&ObjectKey::new(pod.metadata.namespace(), &owner.name)))
            .flatten()
            .filter(|rs| rs.metadata.uid == owner.uid);
        let Some(rs) = replica_set else { return Err(format!("found no controllers for pod {:?}", pod.metadata.name)) };
        let scale = match rs.metadata.controller().filter(|o| o.kind == "Deployment") {
            None => (rs.metadata.uid.as_str(), rs.spec.replicas.unwrap_or(1)),
            Some(owner) => {
                let deployment = store
                    .get::<Deployment>(&ObjectKey::new(rs.metadata.namespace(), &owner.name))
                    .filter(|d| d.metadata.uid == owner.uid);
                let Some(d) = deployment else {
                    return Err(format!("found no controllers for pod {:?}", pod.metadata.name));
                };
                (d.metadata.uid.as_str(), d.spec.replicas.unwrap_or(1))
            }
        };
        scales.insert(scale.0, scale.1);
    }
    Ok((scales.values().sum(), unmanaged))
}

/// Upstream's `buildDisruptedPodMap`: the named pods still within the timeout (and when the
/// first of them expires), and those that outlived it.
fn disrupted_pod_map(
    store: &Store,
    budget: &PodDisruptionBudget,
    pods: &[&Pod],
    now: Millis,
    timeout: Millis,
) -> (BTreeMap<String, String>, Option<Millis>, Vec<ObjectKey>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Millis> = None;
    let mut not_deleted = Vec::new();
    if budget.status.disrupted_pods.is_empty() {
        return (kept, recheck, not_deleted);
    }
    for pod in pods.iter().filter(|p| !p.metadata.is_terminating()) {
        let Some(at) = budget.status.disrupted_pods.get(&pod.metadata.name) else { continue };
        let expected_deletion = store.epoch().parse(at).unwrap_or(Millis::ZERO) + timeout;
        if expected_deletion < now {
            not_deleted.push(ObjectKey::of(&pod.metadata));
        } else {
            recheck = Some(recheck.map_or(expected_deletion, |r| r.min(expected_deletion)));
            kept.insert(pod.metadata.name.clone(), at.clone());
        }
    }
    (kept, recheck, not_deleted)
}

/// Upstream's `countHealthyPods`: Ready pods, neither being deleted nor named by an eviction.
fn count_healthy(
    pods: &[&Pod],
    disrupted: &BTreeMap<String, String>,
    store: &Store,
    now: Millis,
    timeout: Millis,
) -> i32 {
    let named_recently = |pod: &Pod| {
        disrupted
            .get(&pod.metadata.name)
            .is_some_and(|at| store.epoch().parse(at).unwrap_or(Millis::ZERO) + timeout > now)
    };
    pods.iter().filter(|p| !p.metadata.is_terminating() && !named_recently(p) && p.is_ready()).count() as i32
}

/// Upstream's `updatePdbStatus`: writes only when something differs.
fn write_status(key: &ObjectKey, c: Computed, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(budget) = ctx.store.get::<PodDisruptionBudget>(key) else { return Ok(None) };
    // A budget matching no pods yet is held at zero: its first pods may appear before this
    // controller has looked.
    let allowed = if c.expected <= 0 { 0 } else { (c.current_healthy - c.desired).max(0) };
    let status = &budget.status;
    let up_to_date = status.current_healthy == c.current_healthy
        && status.desired_healthy == c.desired
        && status.expected_pods == c.expected
        && status.disruptions_allowed == allowed
        && status.disrupted_pods == c.disrupted
        && status.observed_generation == budget.metadata.generation
        && budget.conditions_are_up_to_date();
    let meta = budget.metadata.clone();
    for pod in &c.not_deleted {
        if let Some(pod_meta) = ctx.store.get::<Pod>(pod).map(|p| p.metadata.clone()) {
            // Upstream's words, namespace twice included.
            let message = format!(
                "Pod was expected by PDB {}/{} to be deleted but it wasn't",
                meta.namespace(),
                meta.namespace()
            );
            ctx.recorder.record(ctx.now, Kind::Pod, &pod_meta, "Warning", "NotDeleted", message, COMPONENT);
        }
    }
    if up_to_date {
        return Ok(c.recheck);
    }
    if c.no_pods {
        let message = "No matching pods found".to_string();
        ctx.recorder.record(ctx.now, Kind::PodDisruptionBudget, &meta, "Normal", "NoPods", message, COMPONENT);
    }
    if c.unmanaged {
        let selector = meta_selector(ctx.store, key);
        let message = format!(
            "Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value."
        );
        ctx.recorder.record(ctx.now, Kind::PodDisruptionBudget, &meta, "Warning", "UnmanagedPods", message, COMPONENT);
    }
    let stamp = ctx.store.epoch().stamp(ctx.now);
    let written = ctx.store.modify::<PodDisruptionBudget>(key, |b| {
        b.status.current_healthy = c.current_healthy;
        b.status.desired_healthy = c.desired;
        b.status.expected_pods = c.expected;
        b.status.disruptions_allowed = allowed;
        b.status.disrupted_pods = c.disrupted;
        b.status.observed_generation = b.metadata.generation;
        b.set_disruption_allowed_condition(&stamp);
    });
    match settle(written, Kind::PodDisruptionBudget, key, ctx.now)? {
        Some(again) => Ok(Some(again)),
        None => Ok(c.recheck),
    }
}

/// The selector as the event prints it (Go's `%v` of the pointer; the string form here).
fn meta_selector(store: &Store, key: &ObjectKey) -> String {
    store
        .get::<PodDisruptionBudget>(key)
        .and_then(|b| b.spec.selector.as_ref())
        .map_or_else(|| "nil".to_string(), LabelSelector::to_selector_string)
}

/// Upstream's `failSafe`: when the expected count cannot be computed, no disruption is allowed
/// and the condition says why; a pod change triggers the next try.
fn fail_safe(key: &ObjectKey, message: String, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(meta) = ctx.store.get::<PodDisruptionBudget>(key).map(|b| b.metadata.clone()) else { return Ok(None) };
    let event = format!("Failed to calculate the number of expected pods: {message}");
    ctx.recorder.record(
        ctx.now,
        Kind::PodDisruptionBudget,
        &meta,
        "Warning",
        "CalculateExpectedPodCountFailed",
        event,
        COMPONENT,
    );
    let stamp = ctx.store.epoch().stamp(ctx.now);
    let written = ctx.store.modify::<PodDisruptionBudget>(key, |b| {
        b.status.disruptions_allowed = 0;
        b.status.observed_generation = b.metadata.generation;
        b.set_condition("False", SYNC_FAILED, &message, &stamp);
    });
    settle(written, Kind::PodDisruptionBudget, key, ctx.now)
}

/// Why the Eviction API refused, as `eviction.go` words it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvictionError {
    /// 429: the budget allows no disruption now (`cause` names the budget and its counts).
    #[error("Cannot evict pod as it would violate the pod's disruption budget.")]
    Budget { budget: String, cause: String },
    /// 500: upstream does not decide between budgets.
    #[error("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")]
    MultipleBudgets,
    /// 403: a status no controller writes (negative allowance, too many unconfirmed evictions).
    #[error("poddisruptionbudget.policy {budget:?} is forbidden: {reason}")]
    Forbidden { budget: String, reason: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What an eviction did: the budget it was charged to, if one covered the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evicted {
    pub budget: Option<String>,
}

/// The Eviction API (`pods/eviction`): a graceful delete, unless a budget covering the pod
/// allows no disruption. An allowed eviction decrements the budget's `disruptionsAllowed` and
/// names the pod in its `disruptedPods` in the same input as the delete, so no second eviction
/// can spend the same allowance.
pub fn evict(store: &mut Store, key: &ObjectKey, now: Millis) -> Result<Evicted, EvictionError> {
    let Some(pod) = store.get::<Pod>(key) else {
        return Err(StoreError::NotFound { resource: "pods".into(), name: key.name.to_string() }.into());
    };
    // Upstream's `canIgnorePDB`: a pod already finished, not yet running, or being deleted has
    // caused its disruption already.
    let ignore =
        matches!(pod.status.phase.as_str(), "Succeeded" | "Failed" | "Pending" | "") || pod.metadata.is_terminating();
    let ready = pod.is_ready();
    let (budget, several) = if ignore {
        (None, false)
    } else {
        let mut covering = store
            .range::<PodDisruptionBudget>(
                ObjectKey::new(&key.namespace, "")..=ObjectKey::new(&key.namespace, "\u{10FFFF}"),
            )
            .filter(|b| b.covers(&pod.metadata.labels));
        let first = covering.next().cloned();
        let several = first.is_some() && covering.next().is_some();
        (first, several)
    };
    if several {
        return Err(EvictionError::MultipleBudgets);
    }
    let Some(budget) = budget else {
        delete_pod_gracefully(store, key, now)?;
        return Ok(Evicted { budget: None });
    };
    let name = budget.metadata.name.clone();
    if !ready {
        let always = budget.spec.unhealthy_pod_eviction_policy.as_deref() == Some(ALWAYS_ALLOW);
        let healthy_enough =
            budget.status.current_healthy >= budget.status.desired_healthy && budget.status.desired_healthy > 0;
        if always || healthy_enough {
            // An unhealthy pod counts in neither currentHealthy nor desiredHealthy: nothing to charge.
            delete_pod_gracefully(store, key, now)?;
            return Ok(Evicted { budget: Some(name) });
        }
    }
    check_and_decrement(store, budget, &key.name, now)?;
    delete_pod_gracefully(store, key, now)?;
    Ok(Evicted { budget: Some(name) })
}

/// Upstream's `checkAndDecrement`.
fn check_and_decrement(
    store: &mut Store,
    mut budget: PodDisruptionBudget,
    pod: &str,
    now: Millis,
) -> Result<(), EvictionError> {
    let name = budget.metadata.name.clone();
    if budget.status.observed_generation < budget.metadata.generation {
        let cause = format!("The disruption budget {name} is still being processed by the server.");
        return Err(EvictionError::Budget { budget: name, cause });
    }
    if budget.status.disruptions_allowed < 0 {
        return Err(EvictionError::Forbidden { budget: name, reason: "pdb disruptions allowed is negative" });
    }
    if budget.status.disrupted_pods.len() > MAX_DISRUPTED_PODS {
        let reason = "DisruptedPods map too big - too many evictions not confirmed by PDB controller";
        return Err(EvictionError::Forbidden { budget: name, reason });
    }
    if budget.status.disruptions_allowed == 0 {
        let cause = format!(
            "The disruption budget {name} needs {} healthy pods and has {} currently",
            budget.status.desired_healthy, budget.status.current_healthy
        );
        return Err(EvictionError::Budget { budget: name, cause });
    }
    let stamp = store.epoch().stamp(now);
    budget.status.disruptions_allowed -= 1;
    if budget.status.disruptions_allowed == 0 {
        budget.set_disruption_allowed_condition(&stamp);
    }
    budget.status.disrupted_pods.insert(pod.to_string(), stamp);
    store.update(budget)?;
    Ok(())
}

/// The budget covering a pod, for the describe view (the first by name when several do).
pub fn budget_covering<'s>(store: &'s Store, pod: &Pod) -> Option<&'s PodDisruptionBudget> {
    let namespace = pod.metadata.namespace();
    store
        .range::<PodDisruptionBudget>(ObjectKey::new(namespace, "")..=ObjectKey::new(namespace, "\u{10FFFF}"))
        .find(|b| b.covers(&pod.metadata.labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::ObjectMeta;
    use crate::cluster::objects::pdb::PodDisruptionBudgetSpec;

    fn budget(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        let (selector, _) = harness::template("web");
        PodDisruptionBudget {
            metadata: ObjectMeta::namespaced("default", "web"),
            spec: PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                selector: Some(selector),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// A Deployment `web` of `replicas`, its ReplicaSet, and `ready` Ready pods of it (then one
    /// more not Ready when `unready`).
    fn web(h: &mut Harness, replicas: i32, ready: usize, unready: bool) -> Vec<ObjectKey> {
        let d = h.seed(harness::deployment("web", replicas));
        let d_uid = h.store.get::<Deployment>(&d).unwrap().metadata.uid.clone();
        let mut rs = harness::replica_set("web-abc", replicas);
        rs.metadata.labels.insert("app".into(), "web".into());
        rs.metadata.owner_references.push(crate::cluster::objects::OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: d_uid,
            controller: true,
            block_owner_deletion: true,
        });
        rs.spec.selector = harness::template("web").0;
        rs.spec.template = harness::template("web").1;
        let rs = h.seed(rs);
        let rs_uid = h.store.get::<ReplicaSet>(&rs).unwrap().metadata.uid.clone();
        let mut keys = Vec::new();
        for i in 0..ready + usize::from(unready) {
            let pod = harness::labelled(harness::pod(&format!("web-{i}")), &[("app", "web")]);
            let pod = harness::running(pod, "pin-1", "10.0.0.1", i < ready);
            keys.push(h.seed(harness::owned_by(pod, "ReplicaSet", "web-abc", &rs_uid)));
        }
        keys
    }

    fn status(h: &Harness) -> crate::cluster::objects::pdb::PodDisruptionBudgetStatus {
        h.store.get::<PodDisruptionBudget>(&ObjectKey::new("default", "web")).unwrap().status.clone()
    }

    fn sync_web(h: &mut Harness) -> Action {
        h.run(&mut DisruptionController::default(), &Key::Object(ObjectKey::new("default", "web")))
    }

    #[test]
    fn an_integer_min_available_counts_the_pods_and_allows_the_surplus() {
        let mut h = Harness::new();
        web(&mut h, 3, 3, false);
        h.seed(budget(Some(IntOrString::Int(2)), None));
        assert_eq!(sync_web(&mut h), Action::await_change());
        let s = status(&h);
        assert_eq!((s.expected_pods, s.desired_healthy, s.current_healthy, s.disruptions_allowed), (3, 2, 3, 1));
        assert_eq!(s.observed_generation, Some(1));
        let c = &s.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str(), c.reason.as_str()),
            ("DisruptionAllowed", "True", "SufficientPods")
        );
        // Nothing changed: no second write.
        sync_web(&mut h);
        assert_eq!(h.writes(), []);
    }

    #[test]
    fn percentages_and_max_unavailable_use_the_deployment_s_scale() {
        // 4 replicas wanted, 3 Ready (one missing): 50% max unavailable → desired 2, allowed 1.
        let mut h = Harness::new();
        web(&mut h, 4, 3, false);
        h.seed(budget(None, Some(IntOrString::String("50%".into()))));
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!((s.expected_pods, s.desired_healthy, s.current_healthy, s.disruptions_allowed), (4, 2, 3, 1));
        // minAvailable 100% of 4 with 3 Ready: none allowed, InsufficientPods.
        h.store
            .modify::<PodDisruptionBudget>(&ObjectKey::new("default", "web"), |b| {
                b.spec.max_unavailable = None;
                b.spec.min_available = Some(IntOrString::String("100%".into()));
            })
            .unwrap();
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!((s.expected_pods, s.desired_healthy, s.disruptions_allowed), (4, 4, 0));
        assert_eq!(s.observed_generation, Some(2));
        assert_eq!(s.conditions[0].reason, "InsufficientPods");
    }

    #[test]
    fn unready_and_terminating_pods_are_not_healthy() {
        let mut h = Harness::new();
        let pods = web(&mut h, 3, 2, true);
        h.store
            .modify::<Pod>(&pods[0], |p| p.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into()))
            .unwrap();
        h.seed(budget(Some(IntOrString::Int(1)), None));
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!((s.current_healthy, s.disruptions_allowed), (1, 0));
    }

    #[test]
    fn a_pod_whose_controller_is_gone_fails_safe_and_one_without_any_is_reported() {
        let mut h = Harness::new();
        let orphan = harness::labelled(harness::pod("orphan"), &[("app", "web")]);
        let orphan = harness::owned_by(harness::running(orphan, "pin-1", "10.0.0.1", true), "ReplicaSet", "gone", "u1");
        let orphan = h.seed(orphan);
        h.seed(budget(Some(IntOrString::String("50%".into())), None));
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!((s.conditions[0].reason.as_str(), s.conditions[0].status.as_str()), ("SyncFailed", "False"));
        assert_eq!(s.conditions[0].message, "found no controllers for pod \"orphan\"");
        assert_eq!(h.events()[0].1, "CalculateExpectedPodCountFailed");

        // No controller at all: counted out of the scale, and a Warning says so.
        h.store.modify::<Pod>(&orphan, |p| p.metadata.owner_references.clear()).unwrap();
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!((s.expected_pods, s.current_healthy, s.disruptions_allowed), (0, 1, 0));
        assert_eq!(s.conditions[0].reason, "InsufficientPods");
        assert_eq!(h.events()[0].1, "UnmanagedPods");
    }

    #[test]
    fn an_eviction_is_refused_at_zero_and_charged_otherwise() {
        let mut h = Harness::new();
        let pods = web(&mut h, 3, 3, false);
        h.seed(budget(Some(IntOrString::Int(2)), None));
        sync_web(&mut h);
        h.now = Millis(1_000);
        assert_eq!(evict(&mut h.store, &pods[0], h.now), Ok(Evicted { budget: Some("web".into()) }));
        assert!(h.store.get::<Pod>(&pods[0]).unwrap().metadata.is_terminating());
        let s = status(&h);
        assert_eq!(s.disruptions_allowed, 0);
        assert_eq!(s.disrupted_pods.keys().collect::<Vec<_>>(), ["web-0"]);
        assert_eq!(s.conditions[0].reason, "InsufficientPods");
        // The second eviction finds nothing left to spend, and changes nothing.
        let rv = h.store.resource_version();
        assert_eq!(
            evict(&mut h.store, &pods[1], h.now),
            Err(EvictionError::Budget {
                budget: "web".into(),
                cause: "The disruption budget web needs 2 healthy pods and has 3 currently".into()
            })
        );
        assert_eq!(h.store.resource_version(), rv);
        // The controller sees the evicted pod terminating: 2 healthy of 2 desired.
        sync_web(&mut h);
        let s = status(&h);
        assert_eq!((s.current_healthy, s.disruptions_allowed), (2, 0));
        assert!(s.disrupted_pods.is_empty(), "a pod being deleted leaves the map");
    }

    #[test]
    fn a_named_pod_not_deleted_in_time_counts_again_and_is_reported() {
        let mut h = Harness::new();
        web(&mut h, 3, 3, false);
        h.seed(budget(Some(IntOrString::Int(2)), None));
        sync_web(&mut h);
        // An eviction named web-1 but its delete never happened.
        let stamp = h.store.epoch().stamp(Millis::ZERO);
        h.store
            .modify::<PodDisruptionBudget>(&ObjectKey::new("default", "web"), |b| {
                b.status.disrupted_pods.insert("web-1".into(), stamp);
                b.status.disruptions_allowed = 0;
            })
            .unwrap();
        assert_eq!(sync_web(&mut h), Action::requeue(Millis(6_000)));
        assert_eq!((status(&h).current_healthy, status(&h).disruptions_allowed), (2, 0));
        h.now = Millis(7_000);
        sync_web(&mut h);
        assert_eq!((status(&h).current_healthy, status(&h).disruptions_allowed), (3, 1));
        assert!(status(&h).disrupted_pods.is_empty());
        assert_eq!(
            h.events(),
            [(
                "Warning",
                "NotDeleted",
                "pod/web-1".to_string(),
                "Pod was expected by PDB default/default to be deleted but it wasn't".to_string()
            )]
        );
    }

    #[test]
    fn unhealthy_pods_follow_the_eviction_policy_and_two_budgets_are_refused() {
        let mut h = Harness::new();
        let pods = web(&mut h, 3, 2, true);
        let unready = pods[2].clone();
        h.seed(budget(Some(IntOrString::Int(3)), None));
        sync_web(&mut h);
        // IfHealthyBudget: 2 healthy of 3 desired → the unready pod is guarded too.
        assert!(matches!(evict(&mut h.store, &unready, h.now), Err(EvictionError::Budget { .. })));
        h.store
            .modify::<PodDisruptionBudget>(&ObjectKey::new("default", "web"), |b| {
                b.spec.unhealthy_pod_eviction_policy = Some(ALWAYS_ALLOW.into());
            })
            .unwrap();
        sync_web(&mut h);
        assert_eq!(evict(&mut h.store, &unready, h.now), Ok(Evicted { budget: Some("web".into()) }));
        assert!(status(&h).disrupted_pods.is_empty(), "nothing charged for an unhealthy pod");

        let mut second = budget(Some(IntOrString::Int(1)), None);
        second.metadata.name = "also-web".into();
        h.seed(second);
        assert_eq!(evict(&mut h.store, &pods[0], h.now), Err(EvictionError::MultipleBudgets));
    }

    #[test]
    fn pod_changes_trigger_only_the_budgets_that_select_them() {
        let mut h = Harness::new();
        let mut controller = DisruptionController::default();
        h.seed(budget(Some(IntOrString::Int(1)), None));
        let mut other = budget(Some(IntOrString::Int(1)), None);
        other.metadata.name = "db".into();
        other.spec.selector = Some(harness::template("db").0);
        h.seed(other);
        assert_eq!(
            h.triggered(&mut controller, 0),
            [Key::Object(ObjectKey::new("default", "web")), Key::Object(ObjectKey::new("default", "db"))]
        );
        let since = h.store.resource_version();
        h.seed(harness::labelled(harness::pod("web-x"), &[("app", "web")]));
        h.seed(harness::labelled(harness::pod("cache-x"), &[("app", "cache")]));
        assert_eq!(h.triggered(&mut controller, since), [Key::Object(ObjectKey::new("default", "web"))]);
    }
}
