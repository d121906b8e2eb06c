//! Admission: defaults the API server fills in before a pod is stored, and the namespaces
//! objects may be created in.

use super::objects::{Pod, Taint, Toleration};
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

/// The namespaces of this cluster: fixed (namespaces cannot be created here).
pub const NAMESPACES: [&str; 3] = ["default", "kube-node-lease", "kube-system"];

/// The NamespaceLifecycle admission plugin: nothing is created in a namespace that doesn't
/// exist (upstream answers 404 `namespaces "x" not found`).
pub fn admit_namespace(namespace: &str) -> Result<(), super::store::StoreError> {
    if NAMESPACES.contains(&namespace) {
        Ok(())
    } else {
        Err(super::store::StoreError::NotFound { resource: "namespaces".into(), name: namespace.into() })
    }
}
