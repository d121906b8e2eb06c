//! `core/v1` Event (the shape `kubectl get events` and `describe` read) and
//! `coordination.k8s.io/v1` Lease (node heartbeats, and the control plane's leader election).

use super::meta::ObjectMeta;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub involved_object: ObjectReference,
    #[serde(default)]
    pub reason: CompactString,
    #[serde(default)]
    pub message: String,
    /// `Normal` or `Warning`.
    #[serde(default, rename = "type")]
    pub type_: CompactString,
    #[serde(default)]
    pub count: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_timestamp: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_timestamp: Option<CompactString>,
    #[serde(default)]
    pub source: EventSource,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub reporting_component: CompactString,
    /// `action`, `related`, `reportingInstance`, `series`, ...: kept as a client wrote them.
    #[serde(flatten)]
    pub extra: super::storage::Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub namespace: CompactString,
    #[serde(default)]
    pub name: CompactString,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub api_version: CompactString,
    /// `fieldPath`, `resourceVersion`: kept as written.
    #[serde(flatten)]
    pub extra: super::storage::Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub component: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub host: CompactString,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: LeaseSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_identity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_duration_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renew_time: Option<String>,
    /// `metav1.MicroTime` of the current holder's acquisition (leader election only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acquire_time: Option<String>,
    /// How many times the Lease changed holder (leader election only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_transitions: Option<i32>,
    /// `strategy`, `preferredHolder`: kept as written.
    #[serde(flatten)]
    pub extra: super::storage::Unmodeled,
}
