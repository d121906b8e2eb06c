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
use crate::cluster::objects::pod::PodCondition;
use crate::cluster::objects::{Kind, Lease, Node, Pod, Readiness, Taint};
use crate::cluster::scheduler::rack_order_key;
use crate::cluster::store::ObjectKey;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";

#[derive(Debug, Clone, Default)]
pub struct NodeLifecycle {
    /// When the rate limiter last let a node be NoExecute-tainted.
    last_no_execute: Option<Millis>,
}

impl NodeLifecycle {
    pub fn monitor(&mut self, ctx: &mut Context) -> Option<Millis> {
        // Names only: a pass over a thousand healthy nodes must not clone a thousand Nodes.
        let mut names: Vec<String> = ctx.store.list::<Node>().map(|n| n.metadata.name.clone()).collect();
        names.sort_by(|a, b| rack_order_key(a).cmp(&rack_order_key(b)));
        for name in names {
            self.monitor_node(&name, ctx);
        }
        Some(ctx.now + ctx.timing.monitor_period)
    }

    fn monitor_node(&mut self, name: &str, ctx: &mut Context) {
        let key = ObjectKey::cluster(name);
        let Some(node) = ctx.store.get::<Node>(&key) else { return };
        let renewed = ctx
            .store
            .get::<Lease>(&ObjectKey::new(LEASE_NAMESPACE, name))
            .and_then(|l| l.spec.renew_time.as_deref())
            .and_then(Millis::parse_rfc3339)
            .or_else(|| node.metadata.creation_timestamp.as_deref().and_then(Millis::parse_rfc3339))
            .unwrap_or(Millis::ZERO);
        let silent = ctx.now.saturating_sub(renewed) > ctx.timing.grace;

        if silent && node.readiness() != Readiness::Unknown {
            let now = ctx.now.to_rfc3339();
            let Ok(updated) = ctx.store.modify::<Node>(&key, |n| {
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
            }) else {
                return;
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
            mark_pods_not_ready(name, ctx);
        }

        let Some(node) = ctx.store.get::<Node>(&key) else { return };
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
            return;
        }
        if need_no_execute {
            self.last_no_execute = Some(ctx.now);
        }
        let now = ctx.now.to_rfc3339();
        let _ = ctx.store.modify::<Node>(&key, |n| {
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
    }
}

/// Upstream's `MarkPodsNotReady`: the pods' Ready condition turns False.
fn mark_pods_not_ready(node: &str, ctx: &mut Context) {
    let pods: Vec<ObjectKey> =
        ctx.store.pods_on_node(node).filter(|p| p.is_ready()).map(|p| ObjectKey::of(&p.metadata)).collect();
    let now = ctx.now.to_rfc3339();
    for key in pods {
        let _ = ctx.store.modify::<Pod>(&key, |p| {
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
    }
}
