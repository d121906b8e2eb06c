//! The `Roll` controller: a scripted throw (`pinsetter.dev/v1alpha1`, `kind: Roll`), declared,
//! so chaos is reproducible (`kubectl apply -f assets/rolls/split.yaml`, `sim --rolls`). The CRD
//! is shipped in `assets/crds/roll.yaml` and installed in every lane at start ([`definition`]).
//!
//! Level-triggered and idempotent, as the course's reconcile loop: each reconcile reads the
//! Roll's spec, its status and the clock, and takes the one step that is due, recording it in
//! `status` (through the status subresource's write path) *before* asking for the chaos, so a
//! second reconcile of the same state asks for nothing.
//!
//! - **When**: `at` (a duration after `creationTimestamp`; none means at once) throws once;
//!   `schedule: "every 45s"` throws at creation + 45 s, + 90 s, ... A throw that falls due while
//!   the last one's pins wait for their `restoreAfter` waits for them to stand; throws missed
//!   while nobody reconciled (a leaderless control plane) are skipped, not made up in a burst.
//! - **What**: `pins: [3, 4]` are nodes `pin-3` and `pin-4`; `zone: zone-3` is every node
//!   labelled `topology.kubernetes.io/zone=zone-3`. A pin that does not exist gets a `NodeNotFound`
//!   Warning on the Roll and the others are knocked. `failure: crash` is the only failure: the
//!   pin falls and its kubelet stops dead, as a player's knock.
//! - **How**: the controller cannot fell a pin (the World owns the alley), so it asks with
//!   [`Chaos`] through its `Context`; the World applies it as it applies `Input::Knock`.
//! - **Status** holds the *last* throw: `phase` (`Pending` → `Knocked` → `Restored`; a scheduled
//!   Roll goes back to `Knocked` at its next throw), `knockedAt`, `restoredAt`, `nodes`, `throws`
//!   (how many so far), `displacedPods` and `recoverySeconds`.
//! - **Recovery**: at the knock the controller records, for each controlling owner of a pod
//!   bound to a knocked node (a ReplicaSet), how many of its pods were Running (`recoveryTargets`).
//!   The throw has recovered at the first reconcile at which every such owner again has that
//!   many pods Running, not terminating, on nodes this Roll does not hold down (a knocked node's
//!   pods count again once it is restored). `recoverySeconds` is that instant minus `knockedAt`.
//!   Pods with no owner have no replacement and are not waited for. A change to a pod of an
//!   awaited owner triggers the check: nothing is polled.
//! - **Deletion**: a Roll deleted while its pins are down has them stood again (as chaos tools
//!   end an experiment when it is deleted), with a `Restored` event naming the deletion.

use super::{Action, Controller, ControllerError, Key, settle};
use crate::clock::{Millis, parse_duration};
use crate::cluster::objects::custom::{self, CustomError};
use crate::cluster::objects::{CustomObject, FieldError, Kind, Node, Object, ObjectMeta, PodState, Resource};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store, StoreError};
use crate::cluster::{Chaos, ClusterError, Context};
use crate::scenario::ScenarioError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The Roll CRD, embedded so every lane has it whatever the working directory.
pub const CRD_MANIFEST: &str = include_str!("../../../assets/crds/roll.yaml");
/// Where [`CRD_MANIFEST`] comes from, for error messages.
const CRD_ORIGIN: &str = "builtin:assets/crds/roll.yaml";
/// The CRD's name, `<plural>.<group>`: also the resource custom objects of it are stored under.
pub const CRD_NAME: &str = "rolls.pinsetter.dev";
pub const GROUP: &str = "pinsetter.dev";
pub const API_VERSION: &str = "pinsetter.dev/v1alpha1";
pub const KIND: &str = "Roll";
/// The event source, as upstream names a controller's (`replicaset-controller`).
pub const COMPONENT: &str = "roll-controller";
/// The well-known label `zone` selects nodes by.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

pub const PENDING: &str = "Pending";
pub const KNOCKED: &str = "Knocked";
pub const RESTORED: &str = "Restored";

/// The Roll CRD as an object to apply. It carries kubectl's last-applied annotation, as if
/// `kubectl apply -f assets/crds/` had created it, so the README's `kubectl apply` of that
/// directory is a clean three-way merge instead of a warning about a missing annotation.
pub fn definition() -> Result<Object, ScenarioError> {
    let mut documents = crate::scenario::parse_documents(CRD_MANIFEST, CRD_ORIGIN)?;
    match documents.pop() {
        Some((_, Object::CustomResourceDefinition(mut crd))) if documents.is_empty() => {
            if let Ok(applied) = serde_norway::from_str::<serde_json::Value>(CRD_MANIFEST) {
                std::sync::Arc::make_mut(&mut crd)
                    .metadata
                    .annotations
                    .insert("kubectl.kubernetes.io/last-applied-configuration".into(), format!("{applied}\n"));
            }
            Ok(Object::CustomResourceDefinition(crd))
        }
        _ => Err(ScenarioError::Invalid {
            origin: CRD_ORIGIN.into(),
            document: 1,
            kind: "CustomResourceDefinition".into(),
            name: CRD_NAME.into(),
            message: "expected exactly one CustomResourceDefinition".into(),
        }),
    }
}

/// Whether a custom object is a Roll.
pub fn is_roll(object: &CustomObject) -> bool {
    object.kind == KIND && object.group() == GROUP
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RollSpec {
    at: Option<String>,
    schedule: Option<String>,
    #[serde(default)]
    pins: Vec<u64>,
    zone: Option<String>,
    restore_after: Option<String>,
}

/// A Roll's `status`, as the controller writes it (see the module doc).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knocked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    #[serde(default)]
    pub throws: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub displaced_pods: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recovery_targets: Vec<RecoveryTarget>,
}

/// An owner of displaced pods and how many of its pods were Running at the knock.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTarget {
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub running: u64,
}

impl RollStatus {
    /// The status a Roll carries (an absent or unreadable one is a fresh Roll's).
    pub fn of(roll: &CustomObject) -> RollStatus {
        roll.status().and_then(|s| RollStatus::deserialize(s).ok()).unwrap_or_default()
    }

    fn awaiting_recovery(&self) -> bool {
        self.knocked_at.is_some() && self.recovery_seconds.is_none() && !self.recovery_targets.is_empty()
    }
}

/// When a Roll throws and restores, in absolute game time.
struct Plan {
    created: Millis,
    /// The first throw (`at`, or one period for a schedule).
    first: Millis,
    every: Option<Millis>,
    restore_after: Option<Millis>,
}

impl Plan {
    fn of(spec: &RollSpec, created: Millis) -> Result<Plan, String> {
        let duration = |field: &str, text: &str| parse_duration(text).map_err(|e| format!("spec.{field}: {e}"));
        let restore_after = spec.restore_after.as_deref().map(|t| duration("restoreAfter", t)).transpose()?;
        let (first, every) = match (&spec.at, &spec.schedule) {
            (Some(_), Some(_)) => return Err("spec.at and spec.schedule are mutually exclusive".into()),
            (Some(at), None) => (duration("at", at)?, None),
            (None, Some(schedule)) => {
                let period = schedule
                    .strip_prefix("every ")
                    .ok_or_else(|| format!("spec.schedule: {schedule:?} is not of the form \"every <duration>\""))?;
                let period = duration("schedule", period)?;
                if period == Millis::ZERO {
                    return Err("spec.schedule: the period must be more than zero".into());
                }
                (period, Some(period))
            }
            (None, None) => (Millis::ZERO, None),
        };
        Ok(Plan { created, first: created + first, every, restore_after })
    }

    /// When the throw after `throws` throws is due (none: a one-off Roll that has thrown).
    fn next_throw(&self, throws: u64) -> Option<Millis> {
        match self.every {
            None => (throws == 0).then_some(self.first),
            Some(every) => Some(self.created + Millis(every.0.saturating_mul(throws.saturating_add(1)))),
        }
    }

    /// The throw count after throwing at `now`: missed throws are skipped, not made up.
    fn throws_at(&self, now: Millis, throws: u64) -> u64 {
        match self.every {
            Some(every) => (now.saturating_sub(self.created).0 / every.0).max(throws + 1),
            None => throws + 1,
        }
    }
}

/// An event to record on the Roll once its status is written.
type Note = (&'static str, &'static str, String);

#[derive(Debug, Default)]
pub struct RollController {
    /// Rolls awaiting recovery, by the uid of an owner they wait on: a change to one of its
    /// pods triggers them.
    awaiting: BTreeMap<String, BTreeSet<ObjectKey>>,
    /// The owner uids each awaiting Roll is filed under in `awaiting`.
    awaited_owners: BTreeMap<ObjectKey, Vec<String>>,
    /// The nodes each Roll holds down, as last seen.
    down: BTreeMap<ObjectKey, Vec<String>>,
    /// Rolls deleted while holding nodes down: their nodes, to stand again.
    orphaned: BTreeMap<ObjectKey, Vec<String>>,
    /// Set by a relist that found Rolls gone: their keys are triggered by the next change.
    orphans_to_trigger: bool,
}

impl RollController {
    fn forget(&mut self, key: &ObjectKey) {
        for uid in self.awaited_owners.remove(key).unwrap_or_default() {
            if let Some(rolls) = self.awaiting.get_mut(&uid) {
                rolls.remove(key);
                if rolls.is_empty() {
                    self.awaiting.remove(&uid);
                }
            }
        }
    }

    fn observe(&mut self, key: &ObjectKey, status: &RollStatus) {
        self.forget(key);
        if status.phase.as_deref() == Some(KNOCKED) {
            self.down.insert(key.clone(), status.nodes.clone());
        } else {
            self.down.remove(key);
        }
        if status.awaiting_recovery() {
            let uids: Vec<String> = status.recovery_targets.iter().map(|t| t.uid.clone()).collect();
            for uid in &uids {
                self.awaiting.entry(uid.clone()).or_default().insert(key.clone());
            }
            self.awaited_owners.insert(key.clone(), uids);
        }
    }

    /// A Roll that is gone: stand what it held down.
    fn reconcile_gone(&mut self, key: &ObjectKey, ctx: &mut Context) -> Action {
        self.forget(key);
        self.down.remove(key);
        if let Some(nodes) = self.orphaned.remove(key)
            && !nodes.is_empty()
        {
            for node in &nodes {
                ctx.chaos.push(Chaos::Restore { node: node.clone(), by: format!("{KIND} {}", key.name) });
            }
            let meta = ObjectMeta::namespaced(namespace_of(key), key.name.as_str());
            let message = format!("Roll deleted: stood {} again", nodes.join(", "));
            ctx.recorder.record_as(ctx.now, (KIND, API_VERSION), &meta, "Normal", "Restored", message, COMPONENT);
        }
        Action::await_change()
    }
}

/// A Roll's namespace, from its store key (`rolls.pinsetter.dev/<namespace>`).
fn namespace_of(key: &ObjectKey) -> &str {
    key.namespace.split_once('/').map_or("", |(_, namespace)| namespace)
}

impl Controller for RollController {
    fn name(&self) -> &'static str {
        "roll"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::CustomObject, Kind::Pod]
    }

    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        if self.orphans_to_trigger {
            self.orphans_to_trigger = false;
            out.extend(self.orphaned.keys().cloned().map(Key::Object));
        }
        match &change.object {
            Object::CustomObject(roll) if is_roll(roll) => {
                let key = roll.key();
                let status = RollStatus::of(roll);
                if change.type_ == ChangeType::Deleted {
                    self.forget(&key);
                    self.down.remove(&key);
                    if status.phase.as_deref() == Some(KNOCKED) && !status.nodes.is_empty() {
                        self.orphaned.insert(key.clone(), status.nodes);
                    }
                } else {
                    self.observe(&key, &status);
                }
                out.push(Key::Object(key));
            }
            Object::Pod(pod) if !self.awaiting.is_empty() => {
                if let Some(owner) = pod.metadata.controller()
                    && let Some(rolls) = self.awaiting.get(&owner.uid)
                {
                    out.extend(rolls.iter().cloned().map(Key::Object));
                }
            }
            _ => {}
        }
    }

    fn relisted(&mut self, store: &Store) {
        // Rolls deleted while the change log was lost still have their pins stood again.
        let gone: Vec<(ObjectKey, Vec<String>)> = std::mem::take(&mut self.down)
            .into_iter()
            .filter(|(key, _)| store.get::<CustomObject>(key).is_none())
            .collect();
        self.orphans_to_trigger |= !gone.is_empty();
        self.orphaned.extend(gone);
        self.awaiting.clear();
        self.awaited_owners.clear();
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        let Some(roll) = ctx.store.get::<CustomObject>(key).filter(|o| is_roll(o)) else {
            return Ok(self.reconcile_gone(key, ctx));
        };
        let status = RollStatus::of(roll);
        let mut next = status.clone();
        let mut notes: Vec<Note> = Vec::new();
        let mut chaos: Vec<Chaos> = Vec::new();
        let epoch = ctx.store.epoch();
        let created = roll.metadata.creation_timestamp.as_deref().and_then(|t| epoch.parse(t)).unwrap_or(ctx.now);
        let spec = match roll.content.get("spec").map(RollSpec::deserialize).transpose() {
            Ok(spec) => spec.unwrap_or_default(),
            Err(err) => return Ok(self.invalid(roll.metadata.clone(), format!("spec: {err}"), ctx)),
        };
        let plan = match Plan::of(&spec, created) {
            Ok(plan) => plan,
            Err(message) => return Ok(self.invalid(roll.metadata.clone(), message, ctx)),
        };
        let by = format!("{KIND} {}", roll.metadata.name);
        let now = ctx.now;
        if next.phase.is_none() {
            next.phase = Some(PENDING.into());
        }
        let knocked_at = next.knocked_at.as_deref().and_then(|t| epoch.parse(t));

        // The last throw's pins stand again when their time is up.
        let restore_at = match (next.phase.as_deref(), plan.restore_after, knocked_at) {
            (Some(KNOCKED), Some(after), Some(at)) => Some(at + after),
            _ => None,
        };
        if let Some(at) = restore_at
            && now >= at
        {
            next.phase = Some(RESTORED.into());
            next.restored_at = Some(epoch.stamp(now));
            chaos.extend(next.nodes.iter().map(|node| Chaos::Restore { node: node.clone(), by: by.clone() }));
            let seconds = plan.restore_after.map_or(0.0, Millis::as_secs_f64);
            notes.push(("Normal", "Restored", format!("Stood {} again after {seconds}s", next.nodes.join(", "))));
        }

        // A throw, when due and the last one's pins are not waiting to stand.
        let waiting_to_stand = next.phase.as_deref() == Some(KNOCKED) && plan.restore_after.is_some();
        let throw_at = plan.next_throw(next.throws);
        if let Some(at) = throw_at
            && now >= at
            && !waiting_to_stand
        {
            self.throw(&spec, &plan, &by, ctx.store, now, &mut next, &mut notes, &mut chaos);
        }

        // Recovery, measured from the store.
        if next.awaiting_recovery() && recovered(ctx.store, &next) {
            let since = next.knocked_at.as_deref().and_then(|t| epoch.parse(t)).unwrap_or(now);
            let seconds = now.saturating_sub(since).as_secs_f64();
            next.recovery_seconds = Some(seconds);
            notes.push((
                "Normal",
                "Recovered",
                format!("Every displaced pod's replacement is Running again, {seconds}s after the knock"),
            ));
        }

        if next != status {
            let mut sent = roll.clone();
            let value = serde_json::to_value(&next).map_err(|e| invalid_status(key, &e.to_string()))?;
            sent.content.insert("status".into(), value);
            let meta = roll.metadata.clone();
            if let Some(again) = write_status(ctx, key, sent)? {
                // Someone wrote first: re-read before anything is thrown.
                return Ok(Action::requeue_at(now, Some(again)));
            }
            ctx.chaos.extend(chaos);
            for (type_, reason, message) in notes {
                ctx.recorder.record_as(now, (KIND, API_VERSION), &meta, type_, reason, message, COMPONENT);
            }
        }

        // Wake for the next timed step; recovery and edits arrive as changes.
        let restore_at = match (next.phase.as_deref(), plan.restore_after) {
            (Some(KNOCKED), Some(after)) => next.knocked_at.as_deref().and_then(|t| epoch.parse(t)).map(|t| t + after),
            _ => None,
        };
        let throw_at = plan.next_throw(next.throws).filter(|_| restore_at.is_none());
        Ok(Action::requeue_at(now, super::earliest(restore_at, throw_at)))
    }
}

impl RollController {
    /// Knocks the Roll's nodes: the new status, its events and the chaos to ask for.
    #[allow(clippy::too_many_arguments)]
    fn throw(
        &self,
        spec: &RollSpec,
        plan: &Plan,
        by: &str,
        store: &Store,
        now: Millis,
        next: &mut RollStatus,
        notes: &mut Vec<Note>,
        chaos: &mut Vec<Chaos>,
    ) {
        next.throws = plan.throws_at(now, next.throws);
        let mut nodes: Vec<String> = Vec::new();
        for pin in &spec.pins {
            let name = format!("pin-{pin}");
            if store.get::<Node>(&ObjectKey::cluster(&name)).is_some() {
                nodes.push(name);
            } else {
                notes.push((
                    "Warning",
                    "NodeNotFound",
                    format!("nodes \"{name}\" not found: pin {pin} was not knocked"),
                ));
            }
        }
        if let Some(zone) = &spec.zone {
            let before = nodes.len();
            nodes.extend(
                store
                    .list::<Node>()
                    .filter(|n| n.metadata.labels.get(ZONE_LABEL) == Some(zone))
                    .map(|n| n.metadata.name.clone()),
            );
            if nodes.len() == before {
                notes.push((
                    "Warning",
                    "NodeNotFound",
                    format!("no node is labelled {ZONE_LABEL}={zone}: nothing was knocked"),
                ));
            }
        }
        // In the order the spec names them, each once.
        let mut seen = BTreeSet::new();
        nodes.retain(|n| seen.insert(n.clone()));
        if nodes.is_empty() {
            return;
        }
        let mut displaced = 0u64;
        let mut targets: BTreeMap<String, RecoveryTarget> = BTreeMap::new();
        for node in &nodes {
            for pod in store.pods_on_node(node).filter(|p| p.is_active()) {
                displaced += 1;
                if let Some(owner) = pod.metadata.controller()
                    && !targets.contains_key(&owner.uid)
                {
                    let running = store.pods_owned_by(&owner.uid).filter(|p| p.state() == PodState::Running).count();
                    targets.insert(
                        owner.uid.clone(),
                        RecoveryTarget {
                            kind: owner.kind.clone(),
                            name: owner.name.clone(),
                            uid: owner.uid.clone(),
                            running: running as u64,
                        },
                    );
                }
            }
        }
        let stamp = store.epoch().stamp(now);
        next.phase = Some(KNOCKED.into());
        next.knocked_at = Some(stamp);
        next.restored_at = None;
        next.displaced_pods = Some(displaced);
        next.recovery_targets = targets.into_values().collect();
        // Nothing owned was displaced: nothing to wait for.
        next.recovery_seconds = next.recovery_targets.is_empty().then_some(0.0);
        chaos.extend(nodes.iter().map(|node| Chaos::Knock { node: node.clone(), by: by.to_string() }));
        notes.push((
            "Normal",
            "Knocked",
            format!(
                "Knocked {} (crash): {displaced} pod{} displaced",
                nodes.join(", "),
                if displaced == 1 { "" } else { "s" }
            ),
        ));
        next.nodes = nodes;
    }

    /// A spec the controller cannot carry out: a Warning, and nothing until it is edited.
    fn invalid(&self, meta: ObjectMeta, message: String, ctx: &mut Context) -> Action {
        ctx.recorder.record_as(ctx.now, (KIND, API_VERSION), &meta, "Warning", "InvalidSpec", message, COMPONENT);
        Action::await_change()
    }
}

/// Whether every owner in `status.recovery_targets` runs as many pods as at the knock, on nodes
/// this Roll does not hold down.
fn recovered(store: &Store, status: &RollStatus) -> bool {
    let down: BTreeSet<&str> = if status.phase.as_deref() == Some(KNOCKED) {
        status.nodes.iter().map(String::as_str).collect()
    } else {
        BTreeSet::new()
    };
    status.recovery_targets.iter().all(|target| {
        let running = store
            .pods_owned_by(&target.uid)
            .filter(|p| p.state() == PodState::Running && p.node_name().is_some_and(|n| !down.contains(n)))
            .count();
        running as u64 >= target.running
    })
}

fn invalid_status(key: &ObjectKey, message: &str) -> ControllerError {
    ControllerError::Write {
        kind: Kind::CustomObject,
        key: key.clone(),
        source: StoreError::Invalid {
            kind: Kind::CustomObject,
            name: key.name.to_string(),
            causes: vec![FieldError::new("status", message)],
        },
    }
}

/// Writes a Roll's status through the status subresource's path (validated against the CRD's
/// schema, with the read resourceVersion as precondition), sorted as [`settle`] sorts writes.
fn write_status(ctx: &mut Context, key: &ObjectKey, sent: CustomObject) -> Result<Option<Millis>, ControllerError> {
    match custom::write_status(ctx.store, sent) {
        Ok(_) => Ok(None),
        Err(ClusterError::Store(err)) => settle(Err::<(), _>(err), Kind::CustomObject, key, ctx.now),
        // The CRD went, and its objects with it.
        Err(ClusterError::Custom(CustomError::NoMatch { .. })) => Ok(None),
        Err(ClusterError::Custom(CustomError::Invalid { name, causes, .. })) => Err(ControllerError::Write {
            kind: Kind::CustomObject,
            key: key.clone(),
            source: StoreError::Invalid { kind: Kind::CustomObject, name, causes },
        }),
        Err(other) => Err(invalid_status(key, &other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::CustomResourceDefinition;
    use crate::cluster::objects::crd::established_status;
    use crate::cluster::timing::Preset;
    use crate::scenario::Scenario;
    use crate::world::{Input, Output, World};
    use serde_json::json;

    /// A harness whose store serves the Roll CRD, with nodes `pin-<n>` for each of `pins`
    /// (labelled with a zone when one is given).
    fn alley(pins: &[(u64, Option<&str>)]) -> Harness {
        let mut h = Harness::new();
        let Ok(Object::CustomResourceDefinition(crd)) = definition() else { panic!("the shipped CRD parses") };
        let mut crd = std::sync::Arc::unwrap_or_clone(crd);
        crd.status = established_status(&crd, &h.store.epoch().stamp(h.now));
        h.seed(crd);
        for (pin, zone) in pins {
            let mut node = Node { metadata: ObjectMeta::named(format!("pin-{pin}")), ..Node::default() };
            if let Some(zone) = zone {
                node.metadata.labels.insert(ZONE_LABEL.into(), zone.to_string());
            }
            h.seed(node);
        }
        h
    }

    fn roll(h: &mut Harness, name: &str, spec: serde_json::Value) -> Key {
        let object = Object::from_value(json!({"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}))
        .unwrap();
        let admitted = custom::admit(&h.store, object, true).expect("a valid Roll");
        let created = admitted.create_in(&mut h.store, h.now).unwrap();
        Key::Object(CustomObject::key_in(CRD_NAME, "default", created.meta().name.clone()))
    }

    /// A Running pod of ReplicaSet `web` (uid `rs-web`) on `node`.
    fn web_pod(h: &mut Harness, name: &str, node: &str) {
        let pod = harness::owned_by(harness::pod(name), "ReplicaSet", "web", "rs-web");
        h.seed(harness::running(pod, node, "10.0.0.1", true));
    }

    fn status(h: &Harness, key: &Key) -> RollStatus {
        let Key::Object(key) = key else { panic!("{key:?}") };
        RollStatus::of(h.store.get::<CustomObject>(key).expect("the Roll exists"))
    }

    fn knocks(h: &Harness) -> Vec<(bool, &str)> {
        h.chaos
            .iter()
            .map(|c| match c {
                Chaos::Knock { node, .. } => (true, node.as_str()),
                Chaos::Restore { node, .. } => (false, node.as_str()),
            })
            .collect()
    }

    #[test]
    fn every_lane_starts_with_the_roll_crd_established() {
        let world = World::new(1, Preset::Arcade, &Scenario::resolve("tiny").unwrap()).unwrap();
        let key = ObjectKey::cluster(CRD_NAME);
        let crd = world.cluster().store.get::<CustomResourceDefinition>(&key).expect("installed at start");
        assert!(crd.is_established(), "{:?}", crd.status);
        assert_eq!(crd.spec.names.kind, KIND);
    }

    #[test]
    fn a_roll_throws_at_its_time_once_and_stands_its_pins_after_restore_after() {
        let mut h = alley(&[(3, None), (4, None)]);
        web_pod(&mut h, "web-a", "pin-3");
        web_pod(&mut h, "web-b", "pin-4");
        let key = roll(&mut h, "split", json!({"at": "30s", "pins": [3], "failure": "crash", "restoreAfter": "20s"}));
        let mut controller = RollController::default();

        let action = h.run(&mut controller, &key);
        assert_eq!(status(&h, &key).phase.as_deref(), Some(PENDING));
        assert_eq!(action.requeue_after(), Some(Millis(30_000)));
        assert!(h.chaos.is_empty());

        h.now = Millis(30_000);
        let action = h.run(&mut controller, &key);
        assert_eq!(knocks(&h), [(true, "pin-3")]);
        let thrown = status(&h, &key);
        assert_eq!(thrown.phase.as_deref(), Some(KNOCKED));
        assert_eq!(thrown.knocked_at.as_deref(), Some("2026-01-01T00:00:30Z"));
        assert_eq!((thrown.displaced_pods, thrown.throws, thrown.nodes.clone()), (Some(1), 1, vec!["pin-3".into()]));
        assert_eq!(thrown.recovery_targets[0].running, 2);
        assert_eq!(thrown.recovery_seconds, None, "web-a is on the knocked pin");
        assert_eq!(action.requeue_after(), Some(Millis(20_000)));
        let events = h.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!((events[0].1, events[0].2.as_str()), ("Knocked", "roll/split"));
        assert_eq!(events[0].3, "Knocked pin-3 (crash): 1 pod displaced");

        // Idempotent: the same state reconciled again asks for nothing and writes nothing.
        h.run(&mut controller, &key);
        assert_eq!(h.chaos.len(), 1);
        assert_eq!(h.writes(), []);
        assert_eq!(h.events(), []);

        h.now = Millis(50_000);
        let action = h.run(&mut controller, &key);
        assert_eq!(knocks(&h), [(true, "pin-3"), (false, "pin-3")]);
        let stood = status(&h, &key);
        assert_eq!(stood.phase.as_deref(), Some(RESTORED));
        assert_eq!(stood.restored_at.as_deref(), Some("2026-01-01T00:00:50Z"));
        // web-a never left: its pin standing again, the owner runs both pods again.
        assert_eq!(stood.recovery_seconds, Some(20.0));
        let reasons: Vec<&str> = h.events().iter().map(|e| e.1).collect();
        assert_eq!(reasons, ["Restored", "Recovered"]);
        assert_eq!(action.requeue_after(), None, "a one-off Roll is done");
    }

    #[test]
    fn recovery_is_when_a_replacement_runs_and_a_pod_change_triggers_the_check() {
        let mut h = alley(&[(3, None), (4, None)]);
        web_pod(&mut h, "web-a", "pin-3");
        let key = roll(&mut h, "crash", json!({"pins": [3], "failure": "crash"}));
        let mut controller = RollController::default();
        h.run(&mut controller, &key);
        assert_eq!(knocks(&h), [(true, "pin-3")]);
        let rv = h.store.resource_version();
        assert_eq!(h.triggered(&mut controller, 0).last(), Some(&key));

        h.now = Millis(12_500);
        web_pod(&mut h, "web-b", "pin-4");
        assert_eq!(h.triggered(&mut controller, rv), std::slice::from_ref(&key));
        h.run(&mut controller, &key);
        let recovered = status(&h, &key);
        assert_eq!(recovered.recovery_seconds, Some(12.5));
        assert_eq!(recovered.phase.as_deref(), Some(KNOCKED), "no restoreAfter: the pin stays down");
        assert_eq!(h.events()[0].1, "Recovered");
        // Measured: nothing triggers the Roll any more.
        let rv = h.store.resource_version();
        h.triggered(&mut controller, 0);
        web_pod(&mut h, "web-c", "pin-4");
        assert_eq!(h.triggered(&mut controller, rv), []);
    }

    #[test]
    fn a_zone_roll_knocks_every_node_in_the_zone_and_only_those() {
        let mut h = alley(&[(1, Some("zone-a")), (2, Some("zone-b")), (3, Some("zone-a"))]);
        let key = roll(&mut h, "zone", json!({"zone": "zone-a", "failure": "crash"}));
        h.run(&mut RollController::default(), &key);
        assert_eq!(knocks(&h), [(true, "pin-1"), (true, "pin-3")]);
        assert_eq!(status(&h, &key).recovery_seconds, Some(0.0), "nothing was displaced");
    }

    #[test]
    fn a_scheduled_roll_throws_every_period_after_its_pins_stood() {
        let mut h = alley(&[(5, None)]);
        let key = roll(
            &mut h,
            "every",
            json!({"schedule": "every 10s", "pins": [5], "failure": "crash",
            "restoreAfter": "4s"}),
        );
        let mut controller = RollController::default();
        let mut requeues = Vec::new();
        for t in [0, 10_000, 14_000, 20_000, 24_000] {
            h.now = Millis(t);
            requeues.push(h.run(&mut controller, &key).requeue_after().map(|m| m.0));
            let s = status(&h, &key);
            assert_eq!(s.throws, t / 10_000, "at {t}");
        }
        assert_eq!(requeues, [Some(10_000), Some(4_000), Some(6_000), Some(4_000), Some(6_000)]);
        assert_eq!(knocks(&h), [(true, "pin-5"), (false, "pin-5"), (true, "pin-5"), (false, "pin-5")]);
        assert_eq!(status(&h, &key).knocked_at.as_deref(), Some("2026-01-01T00:00:20Z"), "the last throw");
    }

    #[test]
    fn a_pin_that_does_not_exist_is_a_warning_and_the_others_still_fall() {
        let mut h = alley(&[(3, None)]);
        let key = roll(&mut h, "split", json!({"pins": [3, 12], "failure": "crash"}));
        h.run(&mut RollController::default(), &key);
        assert_eq!(knocks(&h), [(true, "pin-3")]);
        let events = h.events();
        let warning = events.iter().find(|e| e.0 == "Warning").expect("a Warning");
        assert_eq!(
            (warning.1, warning.3.as_str()),
            ("NodeNotFound", "nodes \"pin-12\" not found: pin 12 was not knocked")
        );
    }

    #[test]
    fn a_roll_deleted_while_its_pins_are_down_stands_them_again() {
        let mut h = alley(&[(7, None), (10, None)]);
        let key = roll(&mut h, "split", json!({"pins": [7, 10], "failure": "crash", "restoreAfter": "20s"}));
        let mut controller = RollController::default();
        h.run(&mut controller, &key);
        h.triggered(&mut controller, 0);
        let rv = h.store.resource_version();
        let Key::Object(object_key) = &key else { unreachable!() };
        h.store.delete::<CustomObject>(object_key).unwrap();
        assert_eq!(h.triggered(&mut controller, rv), std::slice::from_ref(&key));
        h.now = Millis(5_000);
        h.run(&mut controller, &key);
        assert_eq!(knocks(&h), [(true, "pin-7"), (true, "pin-10"), (false, "pin-7"), (false, "pin-10")]);
        let events = h.events();
        assert_eq!((events[0].1, events[0].3.as_str()), ("Restored", "Roll deleted: stood pin-7, pin-10 again"));
        // Done with it: a second reconcile of the gone Roll asks for nothing more.
        h.run(&mut controller, &key);
        assert_eq!(h.chaos.len(), 4);
    }

    fn split(at: &str, restore_after: &str) -> Object {
        Object::from_value(json!({"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "split"},
            "spec": {"at": at, "pins": [7, 10], "failure": "crash", "restoreAfter": restore_after}}))
        .unwrap()
    }

    /// The game shows a Roll's throw as a knock: the pins fall on the lane, the nodes' kubelets
    /// stop, and the log says the Roll did it; then they stand again.
    #[test]
    fn in_the_world_a_roll_fells_its_pins_on_the_lane_and_stands_them_again() {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        world.handle_input(Input::Apply(Box::new(split("2s", "3s")))).unwrap();
        let standing = |w: &World, pin: usize| w.alley().pins()[pin - 1].standing;
        while world.now() < Millis(2_000) {
            world.step();
        }
        assert!(world.cluster().is_knocked("pin-7") && world.cluster().is_knocked("pin-10"));
        assert!(!standing(&world, 7) && !standing(&world, 10) && standing(&world, 8));
        let notes: Vec<String> = world
            .log()
            .filter_map(|o| if let Output::Note { text, .. } = o { Some(text.clone()) } else { None })
            .collect();
        assert!(notes.contains(&"Roll split knocked pin-7".to_string()), "{notes:?}");
        while world.now() < Millis(5_000) {
            world.step();
        }
        assert!(!world.cluster().is_knocked("pin-7") && standing(&world, 7));
        let key = CustomObject::key_in(CRD_NAME, "default", "split");
        let status = RollStatus::of(world.cluster().store.get::<CustomObject>(&key).unwrap());
        assert_eq!(status.phase.as_deref(), Some(RESTORED));
    }

    /// The Roll's knocks come from the store, not the input log: replaying the logged inputs
    /// (one Apply) reaches the same digest, knocks included.
    #[test]
    fn a_replayed_session_with_a_roll_reaches_the_same_digest() {
        let scenario = Scenario::resolve("default").unwrap();
        let inputs = [Input::Apply(Box::new(split("1s", "2s")))];
        let run = |inputs: &[Input]| {
            let mut world = World::new(7, Preset::Arcade, &scenario).unwrap();
            for input in inputs {
                world.handle_input(input.clone()).unwrap();
            }
            for _ in 0..1_000 {
                world.step();
            }
            world
        };
        let live = run(&inputs);
        let logged: Vec<Input> =
            inputs.iter().map(|i| serde_json::from_str(&serde_json::to_string(i).unwrap()).unwrap()).collect();
        let replayed = run(&logged);
        assert_eq!(live.digest(), replayed.digest());
        // The history both reached holds the throw: knocked and stood again.
        let key = CustomObject::key_in(CRD_NAME, "default", "split");
        for world in [&live, &replayed] {
            let status = RollStatus::of(world.cluster().store.get::<CustomObject>(&key).unwrap());
            assert_eq!((status.phase.as_deref(), status.throws), (Some(RESTORED), 1));
        }
    }
}
