//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`).
//!
//! Every monitor period it checks each node's Lease. Silence longer than the grace period makes
//! the node's Ready condition `Unknown` ("Kubelet stopped posting node status."), records
//! `NodeNotReady`, marks its pods not ready, and taints it `node.kubernetes.io/unreachable`:
//! NoSchedule at once (so the scheduler stops placing pods there) and NoExecute through the
//! eviction rate limiter (so the taint-eviction controller starts evicting). When the kubelet
//! reports Ready again, the taints go.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, default_error_policy, earliest, settle};
use crate::cluster::objects::pod::PodCondition;
use crate::cluster::objects::{Kind, Node, Object, Pod, Readiness, Taint};
use crate::cluster::scheduler::rack_order_key;
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};
use std::collections::BTreeMap;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const COMPONENT: &str = "node-controller";

/// A node's place in the monitor's pass: rack order (`pin-2` before `pin-10`), then the name.
type RackKey = (String, u64, String);

fn rack_key(name: &str) -> RackKey {
    let (prefix, number) = rack_order_key(name);
    (prefix.to_string(), number, name.to_string())
}

#[derive(Debug, Clone, Default)]
pub struct NodeLifecycle {
    /// Every node with upstream's `probeTimestamp`: when its Lease was last seen renewed (or the
    /// node first seen). Kept from the change stream, so a monitor pass neither sorts names nor
    /// parses timestamps.
    probes: BTreeMap<RackKey, Millis>,
    limiter: EvictionLimiter,
}

/// The eviction rate limiter: when it last let a node be NoExecute-tainted.
#[derive(Debug, Clone, Default)]
struct EvictionLimiter {
    last_no_execute: Option<Millis>,
}

impl NodeLifecycle {
    /// A node was added or deleted (the informer's view).
    pub fn observe_node(&mut self, name: &str, deleted: bool, now: Millis) {
        let key = rack_key(name);
        if deleted {
            self.probes.remove(&key);
        } else {
            self.probes.entry(key).or_insert(now);
        }
    }

    /// A Lease in `kube-node-lease` was written: its node has been heard from now, as upstream
    /// sets `probeTimestamp` when it observes a renewal.
    pub fn observe_lease(&mut self, node: &str, now: Millis) {
        if let Some(probe) = self.probes.get_mut(&rack_key(node)) {
            *probe = now;
        }
    }

    /// After a relist: nodes deleted while the change log was out of reach are dropped.
    pub fn forget_missing(&mut self, exists: impl Fn(&str) -> bool) {
        self.probes.retain(|(_, _, name), _| exists(name));
    }

    /// One pass over every node. A node whose write fails does not stop the pass: the others
    /// are still checked, and the first failure is returned after.
    pub fn monitor(&mut self, ctx: &mut Context) -> Result<Action, ControllerError> {
        let NodeLifecycle { probes, limiter } = self;
        let mut requeue = Some(ctx.now + ctx.timing.monitor_period);
        let mut failure = None;
        for ((_, _, name), probe) in probes.iter() {
            match limiter.monitor_node(name, *probe, ctx) {
                Ok(at) => requeue = earliest(requeue, at),
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(Action::requeue_at(ctx.now, requeue)),
        }
    }
}

/// The node monitor is periodic: one key, requeued every `monitor_period`, that checks every
/// node; the change stream only keeps each node's probe time.
impl Controller for NodeLifecycle {
    fn name(&self) -> &'static str {
        "node_lifecycle"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Node, Kind::Lease]
    }

    fn initial_keys(&self) -> Vec<Key> {
        vec![Key::Periodic]
    }

    fn triggers(&mut self, change: &Change, _store: &Store, now: Millis, _out: &mut Vec<Key>) {
        let deleted = change.type_ == ChangeType::Deleted;
        match &*change.object {
            Object::Node(node) => self.observe_node(&node.metadata.name, deleted, now),
            Object::Lease(lease) if !deleted && lease.metadata.namespace() == LEASE_NAMESPACE => {
                self.observe_lease(&lease.metadata.name, now)
            }
            _ => {}
        }
    }

    fn relisted(&mut self, store: &Store) {
        self.forget_missing(|name| store.get::<Node>(&ObjectKey::cluster(name)).is_some());
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        match key {
            Key::Periodic => self.monitor(ctx),
            _ => Err(ControllerError::UnexpectedKey { controller: self.name(), key: key.clone() }),
        }
    }

    /// A failed write is reported as usual, but the next pass is never later than the period:
    /// every other node still needs watching.
    fn error_policy(&mut self, _key: &Key, error: &ControllerError, failures: u32, ctx: &mut Context) -> Action {
        let backoff = default_error_policy(COMPONENT, error, failures, ctx).requeue_after();
        Action::requeue(backoff.map_or(ctx.timing.monitor_period, |b| b.min(ctx.timing.monitor_period)))
    }
}

/// The conditions a kubelet posts; the controller sets each to Unknown when it falls silent.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Upstream's `tryUpdateNodeHealth` for a silent kubelet: every kubelet condition not already
/// Unknown becomes Unknown, "stopped posting" for one it had posted; a Ready it never posted is
/// added as "never posted" (with the node's creation as the heartbeat). Upstream adds the
/// pressure conditions the same way; the simulated kubelet posts only Ready, so those are left
/// out when absent, to keep a knocked pin's card as it was.
fn mark_unknown(node: &mut Node, now: &str) {
    for kind in KUBELET_CONDITIONS {
        match node.status.conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) if c.status == "Unknown" => {}
            None if kind != "Ready" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = "NodeStatusUnknown".into();
                c.message = "Kubelet stopped posting node status.".into();
                c.last_transition_time = Some(now.to_string());
            }
            None => node.status.conditions.push(crate::cluster::objects::NodeCondition {
                type_: kind.into(),
                status: "Unknown".into(),
                reason: "NodeStatusNeverUpdated".into(),
                message: "Kubelet never posted node status.".into(),
                last_heartbeat_time: node.metadata.creation_timestamp.clone(),
                last_transition_time: Some(now.to_string()),
            }),
        }
    }
}

impl EvictionLimiter {
    /// Checks one node; returns when to look again sooner than the next period (a failed write).
    fn monitor_node(
        &mut self,
        name: &str,
        probe: Millis,
        ctx: &mut Context,
    ) -> Result<Option<Millis>, ControllerError> {
        let key = ObjectKey::cluster(name);
        let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(None) };
        let silent = ctx.now.saturating_sub(probe) > ctx.timing.grace;
        let mut pods_retry = None;

        if silent && node.readiness() != Readiness::Unknown {
            let now = ctx.store.epoch().stamp(ctx.now);
            let was_ready = node.readiness() == Readiness::Ready;
            let updated = match ctx.store.modify::<Node>(&key, |n| mark_unknown(n, &now)) {
                Ok(updated) => updated,
                Err(err) => return settle(Err::<(), _>(err), Kind::Node, &key, ctx.now),
            };
            // Upstream records NodeNotReady only for a node that was Ready (not for one whose
            // kubelet never posted).
            if was_ready {
                ctx.recorder.record(
                    ctx.store,
                    ctx.now,
                    Kind::Node,
                    &updated.metadata,
                    "Normal",
                    "NodeNotReady",
                    format!("Node {name} status is now: NodeNotReady"),
                    COMPONENT,
                );
            }
            pods_retry = mark_pods_not_ready(name, ctx)?;
        }

        pods_retry = earliest(pods_retry, sync_unschedulable_taint(&key, ctx)?);
        let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(pods_retry) };
        // A node whose kubelet has not reported yet is neither: it gets the grace period.
        let wanted = match node.ready_condition().map(|_| node.readiness()) {
            None | Some(Readiness::Ready) => None,
            Some(Readiness::Unknown) => Some(Taint::UNREACHABLE),
            Some(Readiness::NotReady) => Some(Taint::NOT_READY),
        };
        let is_condition_taint = |t: &Taint| t.key == Taint::UNREACHABLE || t.key == Taint::NOT_READY;
        let has = |effect: &str| wanted.is_some_and(|k| node.has_taint(k, effect));
        let stale = node.spec.taints.iter().any(|t| is_condition_taint(t) && Some(t.key.as_str()) != wanted);
        let need_no_schedule = wanted.is_some() && !has(Taint::NO_SCHEDULE);
        let rate_ok = self.last_no_execute.is_none_or(|t| ctx.now.saturating_sub(t) >= ctx.timing.eviction_interval());
        let need_no_execute = wanted.is_some() && !has(Taint::NO_EXECUTE) && rate_ok;
        if !(stale || need_no_schedule || need_no_execute) {
            return Ok(pods_retry);
        }
        if need_no_execute {
            self.last_no_execute = Some(ctx.now);
        }
        let now = ctx.store.epoch().stamp(ctx.now);
        let written = ctx.store.modify::<Node>(&key, |n| {
            n.spec.taints.retain(|t| !is_condition_taint(t) || Some(t.key.as_str()) == wanted);
            if let Some(k) = wanted {
                if need_no_schedule {
                    n.spec.taints.push(Taint::new(k, Taint::NO_SCHEDULE));
                }
                if need_no_execute {
                    n.spec.taints.push(Taint { time_added: Some(now.clone()), ..Taint::new(k, Taint::NO_EXECUTE) });
                }
            }
        });
        Ok(earliest(pods_retry, settle(written, Kind::Node, &key, ctx.now)?))
    }
}

/// Upstream's `doNoScheduleTaintingPass` for cordon: `spec.unschedulable` is mirrored by the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint, added on cordon and removed on uncordon.
/// Returns when to retry if the write lost a race; other write failures go to the error policy,
/// as every other write of this controller.
fn sync_unschedulable_taint(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(node) = ctx.store.get::<Node>(key) else { return Ok(None) };
    if node.spec.unschedulable == node.has_taint(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE) {
        return Ok(None);
    }
    settle(ctx.store.modify::<Node>(key, mirror_unschedulable), Kind::Node, key, ctx.now)
}

fn mirror_unschedulable(node: &mut Node) {
    let is_unschedulable_taint = |t: &Taint| t.key == Taint::UNSCHEDULABLE && t.effect == Taint::NO_SCHEDULE;
    node.spec.taints.retain(|t| !is_unschedulable_taint(t));
    if node.spec.unschedulable {
        node.spec.taints.push(Taint::new(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE));
    }
}

/// Upstream's `MarkPodsNotReady`: the pods' Ready condition turns False. Returns when to retry
/// if a pod could not be written.
fn mark_pods_not_ready(node: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let pods: Vec<ObjectKey> =
        ctx.store.pods_on_node(node).filter(|p| p.is_ready()).map(|p| ObjectKey::of(&p.metadata)).collect();
    let now = ctx.store.epoch().stamp(ctx.now);
    let mut requeue = None;
    for key in pods {
        let written = ctx.store.modify::<Pod>(&key, |p| {
            for c in p.status.conditions.iter_mut().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady") {
                *c = PodCondition {
                    type_: c.type_.clone(),
                    status: "False".into(),
                    last_transition_time: Some(now.clone()),
                    reason: String::new(),
                    message: String::new(),
                };
            }
            for cs in &mut p.status.container_statuses {
                cs.ready = false;
            }
        });
        requeue = earliest(requeue, settle(written, Kind::Pod, &key, ctx.now)?);
    }
    Ok(requeue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::{Lease, NodeCondition, ObjectMeta};

    fn ready_node(store: &mut Store, name: &str) {
        let mut node = Node { metadata: ObjectMeta::named(name), ..Node::default() };
        node.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        });
        store.create(node, Millis::ZERO).unwrap();
    }

    fn readiness(store: &Store, name: &str) -> Readiness {
        store.get::<Node>(&ObjectKey::cluster(name)).unwrap().readiness()
    }

    fn taints(h: &Harness, name: &str) -> Vec<(String, String)> {
        let node = h.store.get::<Node>(&ObjectKey::cluster(name)).unwrap();
        node.spec.taints.iter().map(|t| (t.key.clone(), t.effect.clone())).collect()
    }

    #[test]
    fn probe_times_come_from_observed_lease_renewals() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        for name in ["pin-10", "pin-2"] {
            ready_node(&mut h.store, name);
        }
        let triggered = h.triggered(&mut lifecycle, 0);
        assert_eq!(triggered, [], "a periodic controller queues no keys on changes");
        // Only pin-2's lease renewal is observed, late: pin-10 has been silent since it was added.
        h.now = h.timing.grace;
        let since = h.store.resource_version();
        let lease = Lease { metadata: ObjectMeta::namespaced(LEASE_NAMESPACE, "pin-2"), ..Lease::default() };
        h.seed(lease);
        h.triggered(&mut lifecycle, since);
        h.now = h.timing.grace + Millis(1);
        assert_eq!(h.run(&mut lifecycle, &Key::Periodic), Action::requeue(h.timing.monitor_period));
        assert_eq!(readiness(&h.store, "pin-2"), Readiness::Ready);
        assert_eq!(readiness(&h.store, "pin-10"), Readiness::Unknown);
        // Rack order: pin-2 before pin-10, whatever the string order.
        let order: Vec<&str> = lifecycle.probes.keys().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(order, ["pin-2", "pin-10"]);
        let since = h.store.resource_version();
        h.store.delete::<Node>(&ObjectKey::cluster("pin-10")).unwrap();
        h.triggered(&mut lifecycle, since);
        assert_eq!(lifecycle.probes.len(), 1);
    }

    #[test]
    fn cordon_adds_the_unschedulable_taint_and_uncordon_removes_it() {
        let mut h = Harness::new();
        let key = ObjectKey::cluster("pin-1");
        ready_node(&mut h.store, "pin-1");
        let unschedulable_taints = |store: &Store| {
            let node = store.get::<Node>(&key).unwrap();
            node.spec.taints.iter().filter(|t| t.key == Taint::UNSCHEDULABLE && t.effect == Taint::NO_SCHEDULE).count()
        };
        for (cordoned, taints) in [(true, 1), (true, 1), (false, 0)] {
            h.store.modify::<Node>(&key, |n| n.spec.unschedulable = cordoned).unwrap();
            let mut ctx = h.context();
            assert_eq!(sync_unschedulable_taint(&key, &mut ctx), Ok(None));
            assert_eq!(unschedulable_taints(&h.store), taints, "unschedulable: {cordoned}");
        }
    }

    #[test]
    fn a_node_silent_past_the_grace_period_goes_unknown_unreachable_and_its_pods_not_ready() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        assert_eq!(lifecycle.initial_keys(), [Key::Periodic]);
        ready_node(&mut h.store, "pin-1");
        let pod = h.seed(harness::running(harness::pod("web-x"), "pin-1", "10.0.0.1", true));
        h.triggered(&mut lifecycle, 0);

        // Within the grace period: nothing happens.
        h.now = h.timing.grace;
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(h.writes(), []);
        assert_eq!(readiness(&h.store, "pin-1"), Readiness::Ready);

        h.now = h.timing.grace + Millis(1);
        h.run(&mut lifecycle, &Key::Periodic);
        let node = h.store.get::<Node>(&ObjectKey::cluster("pin-1")).unwrap();
        let ready = node.ready_condition().unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        );
        assert_eq!(
            taints(&h, "pin-1"),
            [
                (Taint::UNREACHABLE.into(), Taint::NO_SCHEDULE.into()),
                (Taint::UNREACHABLE.into(), Taint::NO_EXECUTE.into())
            ]
        );
        assert!(!h.store.get::<Pod>(&pod).unwrap().is_ready());
        let events = h.events();
        assert_eq!(
            events,
            [(
                "Normal",
                "NodeNotReady",
                "node/pin-1".to_string(),
                "Node pin-1 status is now: NodeNotReady".to_string()
            )]
        );
    }

    #[test]
    fn a_node_whose_kubelet_never_posted_goes_unknown_as_never_updated_without_an_event() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        let node = Node { metadata: ObjectMeta::named("registered"), ..Node::default() };
        h.store.create(node, Millis::ZERO).unwrap();
        h.triggered(&mut lifecycle, 0);
        h.now = h.timing.grace + Millis(1);
        h.run(&mut lifecycle, &Key::Periodic);
        let node = h.store.get::<Node>(&ObjectKey::cluster("registered")).unwrap();
        let ready = node.ready_condition().unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
        );
        assert_eq!(ready.last_heartbeat_time, node.metadata.creation_timestamp);
        assert_eq!(h.events(), []);
    }

    #[test]
    fn a_node_ready_again_loses_its_condition_taints() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        ready_node(&mut h.store, "pin-1");
        h.store
            .modify::<Node>(&ObjectKey::cluster("pin-1"), |n| {
                n.spec.taints = vec![
                    Taint::new(Taint::UNREACHABLE, Taint::NO_SCHEDULE),
                    Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE),
                    Taint::new("dedicated", Taint::NO_SCHEDULE),
                ]
            })
            .unwrap();
        h.triggered(&mut lifecycle, 0);
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(taints(&h, "pin-1"), [("dedicated".into(), Taint::NO_SCHEDULE.into())]);
    }
}
