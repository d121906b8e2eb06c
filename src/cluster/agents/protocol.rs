//! The pin protocol's words the control plane itself uses: how a pod is named, what a pin
//! offers, the phases it reports. They live in the core so the cluster never imports the agent
//! shell; `agent::protocol` (the wire format) re-exports them.

use serde::{Deserialize, Serialize};

/// A pod, as both sides name it: the uid tells a pod from a later one of the same name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub uid: String,
}

/// What a pin offers the scheduler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    /// Cores, as a Kubernetes quantity (`"4"`, `"2500m"`).
    pub cpu: String,
    /// Bytes, as a Kubernetes quantity (`"8Gi"`).
    pub memory: String,
    pub pods: u32,
}

/// The phase an agent reports for a pod's containers: the same two steps the simulated kubelet
/// takes (created, then up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    /// Bound and accepted: containers being created (`ContainerCreating`).
    Pending,
    /// Containers up and ready.
    Running,
}
