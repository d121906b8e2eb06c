//! `core/v1` Pod and the pieces of it the scheduler and kubelet read: containers with requests,
//! tolerations, nodeSelector, priority, and the phase/conditions the kubelet reports.

use super::meta::LabelSelector;
use super::meta::ObjectMeta;
use super::node::{ResourceList, Taint};
use super::shared::Shared;
use super::storage::{NodeSelector, NodeSelectorTerm};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// Status first: the store compares every write with what it replaces (a write that changes
/// nothing is skipped), and nearly every pod write changes its status, so the comparison
/// stops there instead of walking the metadata and spec the two versions share.
impl PartialEq for Pod {
    fn eq(&self, other: &Pod) -> bool {
        let Pod { api_version, kind, metadata, spec, status } = self;
        *status == other.status
            && *spec == other.spec
            && *metadata == other.metadata
            && *api_version == other.api_version
            && *kind == other.kind
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateSpec {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Shared: a ReplicaSet's pods, and every version of each, hold their template's containers once.
    #[serde(default)]
    pub containers: Shared<Vec<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Shared: each version of a pod holds them once (admission adds two to every pod).
    #[serde(default, skip_serializing_if = "super::shared::is_empty")]
    pub tolerations: Shared<Vec<Toleration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    /// Typed where the scheduler reads them (claims); every other source kept whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    /// Read by the scheduler's NodeAffinity and InterPodAffinity plugins. Boxed: most pods
    /// have none, and inline it would take 144 bytes of every version of every pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Box<Affinity>>,
    /// Read by the scheduler's PodTopologySpread plugin.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topology_spread_constraints: Vec<TopologySpreadConstraint>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

/// One of a pod's volumes. Typed where Pinsetter reads them: `persistentVolumeClaim` (the
/// scheduler's VolumeBinding filter) and `configMap`/`secret`/`projected` (the kubelet mounts
/// them); emptyDir, hostPath, ... stay as they came in `source`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    #[serde(flatten)]
    pub source: BTreeMap<String, serde_json::Value>,
}

/// Fields of a volume source or reference Pinsetter does not read (`items`, `defaultMode`, ...),
/// kept so they come back as written.
pub type Unmodeled = BTreeMap<String, serde_json::Value>;

/// A `configMap` volume, or a ConfigMap among a `projected` volume's sources.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigMapVolumeSource {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(flatten)]
    pub rest: Unmodeled,
}

/// A `secret` volume: the Secret is named by `secretName` here (but `name` in a projection).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVolumeSource {
    #[serde(default)]
    pub secret_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    #[serde(flatten)]
    pub rest: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectedVolumeSource {
    #[serde(default)]
    pub sources: Vec<VolumeProjection>,
    #[serde(flatten)]
    pub rest: Unmodeled,
}

/// One source of a `projected` volume; serviceAccountToken, downwardAPI, ... are kept in `rest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeProjection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// A projected Secret is named by `name`, as a ConfigMap is: the same shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ConfigMapVolumeSource>,
    #[serde(flatten)]
    pub rest: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimVolumeSource {
    pub claim_name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub resources: ResourceRequirements,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: ResourceList,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: ResourceList,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// Where an env var's value comes from; `fieldRef` and `resourceFieldRef` are kept in `rest`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
    #[serde(flatten)]
    pub rest: Unmodeled,
}

/// `configMapKeyRef` / `secretKeyRef`: one key of a named ConfigMap or Secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

/// `envFrom`: every key of a ConfigMap or Secret as env vars, each name prefixed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<ConfigRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ConfigRef>,
}

/// `configMapRef` / `secretRef` of an `envFrom`: a whole ConfigMap or Secret by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigRef {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub container_port: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub effect: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// Upstream's `Toleration.ToleratesTaint`: an empty key with `Exists` tolerates everything;
    /// an empty effect matches every effect; `Equal` (the default) compares values.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != taint.effect {
            return false;
        }
        if !self.key.is_empty() && self.key != taint.key {
            return false;
        }
        match self.operator.as_str() {
            "Exists" => true,
            "" | "Equal" => self.value == taint.value,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub phase: CompactString,
    /// Shared: the store hands a pod the conditions of the pod written just before it when they
    /// are equal (see `PodListMemo` in `store.rs`), so a burst of pods started in one second
    /// holds one list, not one each.
    #[serde(default, skip_serializing_if = "super::shared::is_empty")]
    pub conditions: Shared<Vec<PodCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<CompactString>,
    #[serde(default, rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<CompactString>,
    #[serde(default, rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<CompactString>,
    /// Shared as `conditions` are.
    #[serde(default, skip_serializing_if = "super::shared::is_empty")]
    pub container_statuses: Shared<Vec<ContainerStatus>>,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub reason: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub message: CompactString,
    /// Set by the scheduler when this pod preempted others: the node whose room is being freed
    /// for it (`kubectl get pod -o wide` shows it as NOMINATED NODE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nominated_node_name: Option<CompactString>,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: CompactString,
    pub status: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<CompactString>,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub reason: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub message: CompactString,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: CompactString,
    #[serde(default)]
    pub ready: bool,
    #[serde(default)]
    pub restart_count: i32,
    #[serde(default)]
    pub image: CompactString,
    /// Always sent, as upstream's kubelet does (`""` until the image is pulled): strict
    /// generated clients refuse a container status without it.
    #[serde(default, rename = "imageID")]
    pub image_id: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
    #[serde(default)]
    pub state: ContainerState,
    /// How the previous run ended (a liveness kill), as `kubectl describe` shows it.
    #[serde(default, skip_serializing_if = "ContainerState::is_empty")]
    pub last_state: ContainerState,
    /// Fields Pinsetter does not model, kept as they came so GET returns them.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<ContainerStateWaiting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<ContainerStateRunning>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated: Option<ContainerStateTerminated>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateWaiting {
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub reason: CompactString,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub message: CompactString,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateRunning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<CompactString>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateTerminated {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub reason: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<CompactString>,
}

impl ContainerState {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_none() && self.running.is_none() && self.terminated.is_none()
    }
}

/// The pod's state as a player (and `kubectl get pods`' STATUS column) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum PodState {
    /// Not yet bound to a node.
    Pending,
    /// Bound; the kubelet is starting its containers.
    ContainerCreating,
    Running,
    /// Marked for deletion, waiting for its kubelet to stop it.
    Terminating,
    Succeeded,
    Failed,
}

impl PodState {
    pub fn as_str(self) -> &'static str {
        match self {
            PodState::Pending => "Pending",
            PodState::ContainerCreating => "ContainerCreating",
            PodState::Running => "Running",
            PodState::Terminating => "Terminating",
            PodState::Succeeded => "Completed",
            PodState::Failed => "Failed",
        }
    }
}

/// Sum of the pod's container requests, the quantity the scheduler fits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requests {
    pub cpu_milli: i64,
    pub memory_milli: i64,
}

impl Pod {
    pub fn node_name(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    pub fn requests(&self) -> Requests {
        let mut total = Requests::default();
        for c in &self.spec.containers {
            total.cpu_milli += c.resources.requests.get("cpu").map_or(0, |q| q.milli());
            total.memory_milli += c.resources.requests.get("memory").map_or(0, |q| q.milli());
        }
        total
    }

    pub fn priority(&self) -> i32 {
        self.spec.priority.unwrap_or(0)
    }

    pub fn state(&self) -> PodState {
        if self.metadata.is_terminating() {
            return PodState::Terminating;
        }
        match self.status.phase.as_str() {
            "Running" => PodState::Running,
            "Succeeded" => PodState::Succeeded,
            "Failed" => PodState::Failed,
            _ if self.node_name().is_some() => PodState::ContainerCreating,
            _ => PodState::Pending,
        }
    }

    /// Counts toward its ReplicaSet: not terminating, not finished (upstream's `IsPodActive`).
    pub fn is_active(&self) -> bool {
        !self.metadata.is_terminating() && !matches!(self.status.phase.as_str(), "Succeeded" | "Failed")
    }

    /// The claims the pod's volumes name, in order.
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.spec.volumes.iter().filter_map(|v| v.persistent_volume_claim.as_ref()).map(|c| c.claim_name.as_str())
    }

    pub fn is_ready(&self) -> bool {
        self.status.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True")
    }
}

// ---------------------------------------------------------------------------------------------
// Container lifecycle, probes and mounts; pod affinity and topology spread. Typed where
// Pinsetter reads them; handlers Pinsetter only carries (httpGet, tcpSocket, grpc, sleep) and
// newer fields stay whole in `extra`.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeMount {
    pub name: String,
    #[serde(default)]
    pub mount_path: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
    #[serde(flatten)]
    pub extra: Unmodeled,
}

/// `postStart` and `preStop` hooks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
    #[serde(flatten)]
    pub extra: Unmodeled,
}

/// A hook: `exec` typed; `httpGet`, `tcpSocket` and `sleep` kept whole in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
}

/// A readiness, liveness or startup probe. Unset timings read as upstream's defaults (the
/// accessors), and are stored as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    /// `httpGet`, `tcpSocket`, `grpc`: carried, not run.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

impl Probe {
    /// Upstream's `SetDefaults_Probe`: 0 s delay, 1 s timeout, every 10 s, 1 success, 3 failures.
    pub fn initial_delay_seconds(&self) -> i32 {
        self.initial_delay_seconds.unwrap_or(0)
    }
    pub fn timeout_seconds(&self) -> i32 {
        self.timeout_seconds.filter(|&s| s > 0).unwrap_or(1)
    }
    pub fn period_seconds(&self) -> i32 {
        self.period_seconds.filter(|&s| s > 0).unwrap_or(10)
    }
    pub fn success_threshold(&self) -> i32 {
        self.success_threshold.filter(|&s| s > 0).unwrap_or(1)
    }
    pub fn failure_threshold(&self) -> i32 {
        self.failure_threshold.filter(|&s| s > 0).unwrap_or(3)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Affinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<NodeAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_affinity: Option<PodAffinity>,
    /// Same shape as `podAffinity`, read the other way round.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_anti_affinity: Option<PodAffinity>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeAffinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelector>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<PreferredSchedulingTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreferredSchedulingTerm {
    pub weight: i32,
    pub preference: NodeSelectorTerm,
}

/// `podAffinity` or `podAntiAffinity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinity {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_during_scheduling_ignored_during_execution: Vec<PodAffinityTerm>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferred_during_scheduling_ignored_during_execution: Vec<WeightedPodAffinityTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodAffinityTerm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    /// Empty: the pod's own namespace, as upstream.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    #[serde(default)]
    pub topology_key: String,
    /// `namespaceSelector`, `matchLabelKeys`, ...: carried, not read.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightedPodAffinityTerm {
    pub weight: i32,
    pub pod_affinity_term: PodAffinityTerm,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpreadConstraint {
    pub max_skew: i32,
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) or `ScheduleAnyway` (a score).
    pub when_unsatisfiable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<LabelSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_domains: Option<i32>,
    /// `nodeAffinityPolicy`, `nodeTaintsPolicy`, `matchLabelKeys`: carried; upstream's defaults
    /// (Honor, Ignore, none) are what the scheduler applies.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

impl TopologySpreadConstraint {
    pub const DO_NOT_SCHEDULE: &'static str = "DoNotSchedule";
    pub const SCHEDULE_ANYWAY: &'static str = "ScheduleAnyway";
}

impl Pod {
    /// Whether the pod's placement depends on where other pods are (pod affinity, anti-affinity,
    /// topology spread): such pods are placed one per scheduling cycle, as upstream places every pod.
    pub fn has_inter_pod_constraints(&self) -> bool {
        !self.spec.topology_spread_constraints.is_empty()
            || self.spec.affinity.as_ref().is_some_and(|a| a.pod_affinity.is_some() || a.pod_anti_affinity.is_some())
    }
}
