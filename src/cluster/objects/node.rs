//! `core/v1` Node: a pin. Capacity, taints, `spec.unschedulable` and the Ready condition are what
//! the scheduler and the node lifecycle controller read.

use super::meta::ObjectMeta;
use super::quantity::Quantity;
use super::storage::Unmodeled;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub type ResourceList = BTreeMap<String, Quantity>;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: NodeSpec,
    #[serde(default)]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(default, skip_serializing_if = "is_false")]
    pub unschedulable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taints: Vec<Taint>,
    #[serde(default, rename = "podCIDR", skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_added: Option<String>,
}

impl Taint {
    pub const NO_SCHEDULE: &'static str = "NoSchedule";
    pub const NO_EXECUTE: &'static str = "NoExecute";
    pub const PREFER_NO_SCHEDULE: &'static str = "PreferNoSchedule";
    /// Added by the node lifecycle controller when the Ready condition is `Unknown`.
    pub const UNREACHABLE: &'static str = "node.kubernetes.io/unreachable";
    /// Added by the node lifecycle controller when the Ready condition is `False`.
    pub const NOT_READY: &'static str = "node.kubernetes.io/not-ready";
    /// Mirrors `spec.unschedulable` (cordon), as upstream's TaintNodesByCondition.
    pub const UNSCHEDULABLE: &'static str = "node.kubernetes.io/unschedulable";

    pub fn new(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), value: String::new(), effect: effect.into(), time_added: None }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: ResourceList,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub allocatable: ResourceList,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<NodeCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<NodeAddress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeSystemInfo>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAddress {
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

/// Upstream's kubelet always sends every field (`""` when it does not know), and strict generated
/// clients (the official Python client, lightkube) refuse a Node that lacks any of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSystemInfo {
    #[serde(default, rename = "machineID")]
    pub machine_id: String,
    #[serde(default, rename = "systemUUID")]
    pub system_uuid: String,
    #[serde(default, rename = "bootID")]
    pub boot_id: String,
    #[serde(default)]
    pub kernel_version: String,
    #[serde(default)]
    pub kube_proxy_version: String,
    #[serde(default)]
    pub kubelet_version: String,
    #[serde(default)]
    pub os_image: String,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub operating_system: String,
    #[serde(default)]
    pub container_runtime_version: String,
}

/// What the Ready condition says, the way `kubectl get nodes` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Readiness {
    Ready,
    NotReady,
    /// The node lifecycle controller stopped hearing from the kubelet.
    Unknown,
}

impl Node {
    pub fn ready_condition(&self) -> Option<&NodeCondition> {
        self.status.conditions.iter().find(|c| c.type_ == "Ready")
    }

    pub fn readiness(&self) -> Readiness {
        match self.ready_condition().map(|c| c.status.as_str()) {
            Some("True") => Readiness::Ready,
            Some("Unknown") => Readiness::Unknown,
            _ => Readiness::NotReady,
        }
    }

    pub fn allocatable(&self, resource: &str) -> i64 {
        self.status.allocatable.get(resource).or_else(|| self.status.capacity.get(resource)).map_or(0, Quantity::milli)
    }

    pub fn has_taint(&self, key: &str, effect: &str) -> bool {
        self.spec.taints.iter().any(|t| t.key == key && t.effect == effect)
    }
}
