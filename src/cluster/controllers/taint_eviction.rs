//! The taint-eviction controller (upstream's `pkg/controller/tainteviction`, the old "taint
//! manager"): a pod on a node with a NoExecute taint it does not tolerate is deleted; one that
//! tolerates it for `tolerationSeconds` is deleted when that time has passed since the taint's
//! `timeAdded`.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, delete_pod_gracefully, settle};
use crate::cluster::objects::{Kind, Node, Object, Pod, Taint};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};
use std::collections::BTreeSet;

const COMPONENT: &str = "taint-eviction-controller";

/// Keeps upstream's `taintedNodes`: the names of the nodes with a NoExecute taint, learnt from
/// the Node changes it is offered, so a pod change on an untainted node costs one lookup in a set
/// that is empty while the cluster is healthy, not a Node read.
#[derive(Debug, Default)]
pub struct TaintEvictionController {
    tainted_nodes: BTreeSet<String>,
}

impl Controller for TaintEvictionController {
    fn name(&self) -> &'static str {
        "taint_eviction"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Pod, Kind::Node]
    }

    /// A pod that changed on a node with a NoExecute taint, and every pod on a node that has
    /// one. As upstream's taint manager, a pod on an untainted node is not looked at: its
    /// kubelet's status writes would otherwise each cost a reconcile that finds nothing.
    fn triggers(&mut self, change: &Change, store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::Pod(pod)
                if change.type_ != ChangeType::Deleted
                    && pod.node_name().is_some_and(|name| self.tainted_nodes.contains(name)) =>
            {
                out.push(Key::Object(ObjectKey::of(&pod.metadata)));
            }
            Object::Node(node) => {
                let name = &node.metadata.name;
                let tainted = change.type_ != ChangeType::Deleted
                    && node.spec.taints.iter().any(|t| t.effect == Taint::NO_EXECUTE);
                if !tainted {
                    self.tainted_nodes.remove(name.as_str());
                    return;
                }
                if !self.tainted_nodes.contains(name.as_str()) {
                    self.tainted_nodes.insert(name.to_string());
                }
                out.extend(store.pods_on_node(name).map(|p| Key::Object(ObjectKey::of(&p.metadata))))
            }
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        Ok(Action::requeue_at(ctx.now, sync(key.object(self.name())?, ctx)?))
    }
}

fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(pod) = ctx.store.get::<Pod>(key) else { return Ok(None) };
    if pod.metadata.is_terminating() {
        return Ok(None);
    }
    let Some(node) = pod.node_name().and_then(|name| ctx.store.get::<Node>(&ObjectKey::cluster(name))) else {
        return Ok(None);
    };
    let mut evict_at: Option<Millis> = None;
    for taint in node.spec.taints.iter().filter(|t| t.effect == Taint::NO_EXECUTE) {
        let matching: Vec<_> = pod.spec.tolerations.iter().filter(|t| t.tolerates(taint)).collect();
        let deadline = if matching.is_empty() {
            Some(ctx.now)
        } else {
            // Tolerated forever unless every matching toleration is time-bound.
            let seconds = matching
                .iter()
                .map(|t| t.toleration_seconds)
                .collect::<Option<Vec<i64>>>()
                .and_then(|s| s.into_iter().min());
            seconds.map(|s| {
                let added = taint.time_added.as_deref().and_then(|t| ctx.store.epoch().parse(t)).unwrap_or(ctx.now);
                added + Millis(s.max(0) as u64 * 1000)
            })
        };
        evict_at = match (evict_at, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let Some(at) = evict_at else { return Ok(None) };
    if at > ctx.now {
        return Ok(Some(at));
    }
    let meta = pod.metadata.clone();
    let deleted = delete_pod_gracefully(ctx.store, key, ctx.now);
    if deleted.is_ok() {
        ctx.recorder.record(
            ctx.now,
            Kind::Pod,
            &meta,
            "Normal",
            "TaintManagerEviction",
            format!("Marking for deletion Pod {key}"),
            COMPONENT,
        );
    }
    settle(deleted, Kind::Pod, key, ctx.now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::ObjectMeta;
    use crate::cluster::objects::pod::Toleration;

    /// `pin-1`, unreachable since `since`.
    fn unreachable_node(since: Millis) -> Node {
        let mut node = Node { metadata: ObjectMeta::named("pin-1"), ..Node::default() };
        node.spec.taints = vec![
            Taint::new(Taint::UNREACHABLE, Taint::NO_SCHEDULE),
            Taint {
                time_added: Some(crate::clock::Epoch::default().stamp(since)),
                ..Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE)
            },
        ];
        node
    }

    fn on_pin_1(name: &str, seconds: Option<Option<i64>>) -> Pod {
        let mut pod = harness::running(harness::pod(name), "pin-1", "10.0.0.1", true);
        if let Some(toleration_seconds) = seconds {
            pod.spec.tolerations.push(Toleration {
                key: Taint::UNREACHABLE.into(),
                operator: "Exists".into(),
                effect: Taint::NO_EXECUTE.into(),
                toleration_seconds,
                ..Toleration::default()
            });
        }
        pod
    }

    fn terminating(h: &Harness, name: &str) -> bool {
        h.store.get::<Pod>(&ObjectKey::new("default", name)).unwrap().metadata.is_terminating()
    }

    #[test]
    fn a_pod_that_does_not_tolerate_the_taint_is_evicted_and_one_that_does_forever_stays() {
        let mut h = Harness::new();
        let mut controller = TaintEvictionController::default();
        h.seed(unreachable_node(Millis::ZERO));
        let bare = h.seed(on_pin_1("bare", None));
        let forever = h.seed(on_pin_1("forever", Some(None)));

        assert_eq!(h.run(&mut controller, &Key::Object(bare)), Action::await_change());
        assert!(terminating(&h, "bare"));
        assert_eq!(
            h.events(),
            [(
                "Normal",
                "TaintManagerEviction",
                "pod/bare".to_string(),
                "Marking for deletion Pod default/bare".to_string()
            )]
        );
        assert_eq!(h.run(&mut controller, &Key::Object(forever)), Action::await_change());
        assert!(!terminating(&h, "forever"));
        assert_eq!(h.events(), []);
    }

    #[test]
    fn a_pod_tolerating_for_a_while_is_evicted_when_its_toleration_seconds_have_passed() {
        let mut h = Harness::new();
        let mut controller = TaintEvictionController::default();
        h.seed(unreachable_node(Millis(1_000)));
        let key = Key::Object(h.seed(on_pin_1("patient", Some(Some(5)))));

        h.now = Millis(2_000);
        assert_eq!(h.run(&mut controller, &key), Action::requeue(Millis(4_000)));
        assert!(!terminating(&h, "patient"));
        h.now = Millis(6_000);
        assert_eq!(h.run(&mut controller, &key), Action::await_change());
        assert!(terminating(&h, "patient"));
    }

    #[test]
    fn a_no_execute_taint_triggers_the_pods_on_its_node_and_only_such_pods_trigger_themselves() {
        let mut h = Harness::new();
        let mut controller = TaintEvictionController::default();
        let mut quiet = unreachable_node(Millis::ZERO);
        quiet.metadata.name = "pin-2".into();
        quiet.spec.taints.retain(|t| t.effect != Taint::NO_EXECUTE);
        h.seed(quiet);
        let on_node = h.seed(on_pin_1("a", None));
        let mut elsewhere = on_pin_1("b", None);
        elsewhere.spec.node_name = Some("pin-2".into());
        h.seed(elsewhere);
        h.seed(harness::pod("unbound"));
        // pin-1 does not exist yet: its pod triggers nothing.
        assert_eq!(h.triggered(&mut controller, 0), []);
        let since = h.store.resource_version();
        h.seed(unreachable_node(Millis::ZERO));
        assert_eq!(h.triggered(&mut controller, since), [Key::Object(on_node.clone())]);
        // Now a change to the pod on pin-1 triggers it; the one on pin-2 (NoSchedule only) not.
        let since = h.store.resource_version();
        for name in ["a", "b"] {
            h.store.modify::<Pod>(&ObjectKey::new("default", name), |p| p.status.message = "x".into()).unwrap();
        }
        assert_eq!(h.triggered(&mut controller, since), [Key::Object(on_node.clone())]);
        // Untainted again: its pods' changes trigger nothing; deleted, neither.
        let since = h.store.resource_version();
        h.store.modify::<Node>(&ObjectKey::cluster("pin-1"), |n| n.spec.taints.clear()).unwrap();
        h.store.modify::<Pod>(&on_node, |p| p.status.message = "y".into()).unwrap();
        assert_eq!(h.triggered(&mut controller, since), []);
        let since = h.store.resource_version();
        h.store
            .modify::<Node>(&ObjectKey::cluster("pin-1"), |n| {
                n.spec.taints = unreachable_node(Millis::ZERO).spec.taints
            })
            .unwrap();
        assert_eq!(h.triggered(&mut controller, since), [Key::Object(on_node.clone())]);
        let since = h.store.resource_version();
        h.store.delete::<Node>(&ObjectKey::cluster("pin-1")).unwrap();
        h.store.modify::<Pod>(&on_node, |p| p.status.message = "z".into()).unwrap();
        assert_eq!(h.triggered(&mut controller, since), []);
    }
}
