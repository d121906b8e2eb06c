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
use crate::cluster::controllers::{earliest, write_failed};
use crate::cluster::objects::pod::PodCondition;
use crate::cluster::objects::{Kind, Node, Pod, Readiness, Taint};
use crate::cluster::scheduler::rack_order_key;
use crate::cluster::store::ObjectKey;
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

    pub fn monitor(&mut self, ctx: &mut Context) -> Option<Millis> {
        let NodeLifecycle { probes, limiter } = self;
        let mut requeue = Some(ctx.now + ctx.timing.monitor_period);
        for ((_, _, name), probe) in probes.iter() {
            requeue = earliest(requeue, limiter.monitor_node(name, *probe, ctx));
        }
        requeue
    }
}

impl EvictionLimiter {
    /// Checks one node; returns when to look again sooner than the next period (a failed write).
    fn monitor_node(&mut self, name: &str, probe: Millis, ctx: &mut Context) -> Option<Millis> {
        let key = ObjectKey::cluster(name);
        let node = ctx.store.get::<Node>(&key)?;
        let silent = ctx.now.saturating_sub(probe) > ctx.timing.grace;
        let mut pods_retry = None;

        if silent && node.readiness() != Readiness::Unknown {
            let now = ctx.now.to_rfc3339();
            let updated = match ctx.store.modify::<Node>(&key, |n| {
                if n.ready_condition().is_none() {
                    n.status
                        .conditions
                        .push(crate::cluster::objects::NodeCondition { type_: "Ready".into(), ..Default::default() });
                }
                for c in &mut n.status.conditions {
                    c.status = "Unknown".into();
                    c.reason = "NodeStatusUnknown".into();
                    c.message = "Kubelet stopped posting node status.".into();
                    c.last_transition_time = Some(now.clone());
                }
            }) {
                Ok(updated) => updated,
                Err(err) => return write_failed(ctx, Kind::Node, &key, COMPONENT, &err),
            };
            ctx.recorder.record(
                ctx.store,
                ctx.now,
                Kind::Node,
                &updated.metadata,
                "Normal",
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
                "node-controller",
            );
            pods_retry = mark_pods_not_ready(name, ctx);
        }

        pods_retry = earliest(pods_retry, sync_unschedulable_taint(&key, ctx));
        let node = ctx.store.get::<Node>(&key)?;
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
            return pods_retry;
        }
        if need_no_execute {
            self.last_no_execute = Some(ctx.now);
        }
        let now = ctx.now.to_rfc3339();
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
        earliest(pods_retry, written.err().and_then(|err| write_failed(ctx, Kind::Node, &key, COMPONENT, &err)))
    }
}

/// Upstream's `doNoScheduleTaintingPass` for cordon: `spec.unschedulable` is mirrored by the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint, added on cordon and removed on uncordon.
/// Returns when to retry if the node could not be written.
fn sync_unschedulable_taint(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let node = ctx.store.get::<Node>(key)?;
    if node.spec.unschedulable == node.has_taint(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE) {
        return None;
    }
    let written = ctx.store.modify::<Node>(key, mirror_unschedulable);
    written.err().and_then(|err| write_failed(ctx, Kind::Node, key, COMPONENT, &err))
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
fn mark_pods_not_ready(node: &str, ctx: &mut Context) -> Option<Millis> {
    let pods: Vec<ObjectKey> =
        ctx.store.pods_on_node(node).filter(|p| p.is_ready()).map(|p| ObjectKey::of(&p.metadata)).collect();
    let now = ctx.now.to_rfc3339();
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
        if let Err(err) = written {
            requeue = earliest(requeue, write_failed(ctx, Kind::Pod, &key, COMPONENT, &err));
        }
    }
    requeue
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::events::EventRecorder;
    use crate::cluster::objects::{NodeCondition, ObjectMeta};
    use crate::cluster::store::Store;
    use crate::cluster::timing::{Preset, Timing};

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

    #[test]
    fn probe_times_come_from_observed_lease_renewals() {
        let mut store = Store::new(crate::rng::stream(1, "store"));
        let mut recorder = EventRecorder::default();
        let timing = Timing::preset(Preset::Arcade);
        let mut lifecycle = NodeLifecycle::default();
        for name in ["pin-10", "pin-2"] {
            ready_node(&mut store, name);
            lifecycle.observe_node(name, false, Millis::ZERO);
        }
        // Only pin-2's lease renewal is observed, late: pin-10 has been silent since it was added.
        let heard = Millis(timing.grace.0);
        lifecycle.observe_lease("pin-2", heard);
        let now = Millis(timing.grace.0 + 1);
        let mut ctx = Context { store: &mut store, recorder: &mut recorder, now, timing: &timing };
        assert_eq!(lifecycle.monitor(&mut ctx), Some(now + timing.monitor_period));
        assert_eq!(readiness(&store, "pin-2"), Readiness::Ready);
        assert_eq!(readiness(&store, "pin-10"), Readiness::Unknown);
        // Rack order: pin-2 before pin-10, whatever the string order.
        let order: Vec<&str> = lifecycle.probes.keys().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(order, ["pin-2", "pin-10"]);
        lifecycle.observe_node("pin-10", true, now);
        assert_eq!(lifecycle.probes.len(), 1);
    }

    #[test]
    fn cordon_adds_the_unschedulable_taint_and_uncordon_removes_it() {
        let mut store = Store::new(crate::rng::stream(1, "store"));
        let mut recorder = EventRecorder::default();
        let timing = Timing::preset(Preset::Arcade);
        let key = ObjectKey::cluster("pin-1");
        ready_node(&mut store, "pin-1");
        let unschedulable_taints = |store: &Store| {
            let node = store.get::<Node>(&key).unwrap();
            node.spec.taints.iter().filter(|t| t.key == Taint::UNSCHEDULABLE && t.effect == Taint::NO_SCHEDULE).count()
        };
        for (cordoned, taints) in [(true, 1), (true, 1), (false, 0)] {
            store.modify::<Node>(&key, |n| n.spec.unschedulable = cordoned).unwrap();
            let mut ctx = Context { store: &mut store, recorder: &mut recorder, now: Millis::ZERO, timing: &timing };
            assert_eq!(sync_unschedulable_taint(&key, &mut ctx), None);
            assert_eq!(unschedulable_taints(&store), taints, "unschedulable: {cordoned}");
        }
    }
}
