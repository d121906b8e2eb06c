//! Admission: defaults the API server fills in before a pod is stored, and the namespaces
//! objects may be created in.

use super::objects::{Node, Pod, Taint, Toleration};
use super::timing::Timing;

/// Upstream's well-known priority classes; other names keep the pod's own `spec.priority`.
fn priority_of_class(name: &str) -> Option<i32> {
    match name {
        "system-node-critical" => Some(2_000_001_000),
        "system-cluster-critical" => Some(2_000_000_000),
        _ => None,
    }
}

/// The DefaultTolerationSeconds admission plugin (not-ready and unreachable NoExecute, with the
/// preset's seconds), pod defaults, and priority from well-known priority classes.
pub fn admit_pod(pod: &mut Pod, timing: &Timing) {
    for key in [Taint::NOT_READY, Taint::UNREACHABLE] {
        let taint = Taint::new(key, Taint::NO_EXECUTE);
        if !pod.spec.tolerations.iter().any(|t| t.tolerates(&taint)) {
            pod.spec.tolerations.push(Toleration {
                key: key.into(),
                operator: "Exists".into(),
                effect: Taint::NO_EXECUTE.into(),
                toleration_seconds: Some(timing.toleration_seconds),
                ..Default::default()
            });
        }
    }
    if pod.spec.priority.is_none() {
        pod.spec.priority = Some(pod.spec.priority_class_name.as_deref().and_then(priority_of_class).unwrap_or(0));
    }
    pod.spec.restart_policy.get_or_insert_with(|| "Always".into());
    pod.spec.scheduler_name.get_or_insert_with(|| "default-scheduler".into());
    pod.spec.termination_grace_period_seconds.get_or_insert(30);
    if pod.status.phase.is_empty() {
        pod.status.phase = "Pending".into();
    }
}

/// The system namespaces, which always exist; clients may create others (`src/api/namespaces.rs`).
pub const NAMESPACES: [&str; 3] = ["default", "kube-node-lease", "kube-system"];

/// The TaintNodesByCondition admission plugin: a Node created through the API starts tainted
/// `node.kubernetes.io/not-ready:NoSchedule`, so nothing is scheduled onto it before its
/// kubelet reports Ready (the node lifecycle controller then removes the taint).
pub fn admit_new_node(node: &mut Node) {
    if !node.has_taint(Taint::NOT_READY, Taint::NO_SCHEDULE) {
        node.spec.taints.push(Taint::new(Taint::NOT_READY, Taint::NO_SCHEDULE));
    }
}

#[cfg(test)]
mod node_tests {
    use super::*;

    #[test]
    fn a_new_node_is_tainted_not_ready_once() {
        let mut node = Node::default();
        admit_new_node(&mut node);
        admit_new_node(&mut node);
        let taints: Vec<(&str, &str)> = node.spec.taints.iter().map(|t| (t.key.as_str(), t.effect.as_str())).collect();
        assert_eq!(taints, [(Taint::NOT_READY, Taint::NO_SCHEDULE)]);
    }
}
