//! `storage.k8s.io/v1` StorageClass and `core/v1` PersistentVolume and PersistentVolumeClaim:
//! where a pod's data lives and how a claim finds it. Shapes, validation and `kubectl get` cells
//! as kube-apiserver has them (`pkg/apis/core/validation`, `pkg/printers/internalversion`).
//! Volume sources and fields Pinsetter does not model are kept whole (`extra`), never dropped.

use super::meta::{FieldError, ObjectMeta};
use super::print::age;
use super::quantity::Quantity;
use crate::clock::Reading;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Fields of an object Pinsetter does not model, kept as they came so GET returns them.
pub type Unmodeled = BTreeMap<String, Value>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageClass {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub provisioner: String,
    /// `Delete` unless given, as upstream defaults it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_policy: Option<String>,
    /// `Immediate` unless given: `WaitForFirstConsumer` binds a claim only once a pod using it
    /// is scheduled, so a local volume is picked on the pod's node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_binding_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_volume_expansion: Option<bool>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extra: Unmodeled,
}

impl StorageClass {
    pub const IMMEDIATE: &str = "Immediate";
    pub const WAIT_FOR_FIRST_CONSUMER: &str = "WaitForFirstConsumer";
    /// The annotation that makes a class the default for claims naming none.
    pub const DEFAULT_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";

    pub fn waits_for_first_consumer(&self) -> bool {
        self.volume_binding_mode.as_deref() == Some(StorageClass::WAIT_FOR_FIRST_CONSUMER)
    }

    /// Upstream's defaults: reclaimPolicy `Delete`, volumeBindingMode `Immediate`.
    pub fn set_defaults(&mut self) {
        self.reclaim_policy.get_or_insert_with(|| PersistentVolume::DELETE.into());
        self.volume_binding_mode.get_or_insert_with(|| StorageClass::IMMEDIATE.into());
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolume {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PersistentVolumeSpec,
    #[serde(default)]
    pub status: PersistentVolumeStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeSpec {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    /// The claim this volume is bound (or being bound) to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_ref: Option<ClaimRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_reclaim_policy: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub storage_class_name: String,
    /// Which nodes can reach the volume: a local volume's one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_affinity: Option<VolumeNodeAffinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// Other volume sources (nfs, csi, ...) and fields, kept whole.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeNodeAffinity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<NodeSelector>,
}

/// `core/v1` NodeSelector: the terms are ORed, each term's requirements ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelector {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorTerm {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<NodeSelectorRequirement>,
    /// Requirements on node fields (`metadata.name`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_fields: Vec<NodeSelectorRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl NodeSelectorRequirement {
    /// Upstream's `nodeaffinity` requirement match (Gt/Lt compare integers).
    fn matches(&self, value: Option<&str>) -> bool {
        let number = |s: &str| s.parse::<i64>().ok();
        match self.operator.as_str() {
            "In" => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            "NotIn" => value.is_none_or(|v| !self.values.iter().any(|x| x == v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            "Gt" | "Lt" => {
                let (Some(have), Some(want)) = (value.and_then(number), self.values.first().and_then(|s| number(s)))
                else {
                    return false;
                };
                if self.operator == "Gt" { have > want } else { have < want }
            }
            _ => false,
        }
    }
}

impl NodeSelector {
    /// Whether a node with these labels and this name is selected: any term whose requirements
    /// all hold (an empty term selects nothing, as upstream).
    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.node_selector_terms.iter().any(|term| term.matches(node_name, labels))
    }
}

impl NodeSelectorTerm {
    /// Whether every requirement holds for the node (an empty term selects nothing, as upstream).
    pub fn matches(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        (!self.match_expressions.is_empty() || !self.match_fields.is_empty())
            && self.match_expressions.iter().all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self.match_fields.iter().all(|r| r.matches((r.key == "metadata.name").then_some(node_name)))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeStatus {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl PersistentVolume {
    pub const AVAILABLE: &str = "Available";
    pub const BOUND: &str = "Bound";
    pub const RELEASED: &str = "Released";
    pub const DELETE: &str = "Delete";
    pub const RETAIN: &str = "Retain";

    /// The node-affinity a pod using this volume must satisfy, if the volume has one.
    pub fn required_nodes(&self) -> Option<&NodeSelector> {
        self.spec.node_affinity.as_ref().and_then(|a| a.required.as_ref())
    }

    /// Whether a node may use this volume (no node affinity: every node).
    pub fn reachable_from(&self, node_name: &str, labels: &BTreeMap<String, String>) -> bool {
        self.required_nodes().is_none_or(|s| s.matches(node_name, labels))
    }

    pub fn storage(&self) -> i64 {
        self.spec.capacity.get("storage").map_or(0, Quantity::milli)
    }

    /// Whether this volume is free to be bound to `claim`: Available (no claimRef, or a
    /// claimRef naming this claim without a uid, pre-bound), of the claim's class, holding at
    /// least what it asks, with every access mode it needs.
    pub fn fits(&self, claim: &PersistentVolumeClaim) -> bool {
        let free = match &self.spec.claim_ref {
            None => true,
            Some(r) => {
                r.name == claim.metadata.name
                    && r.namespace == claim.metadata.namespace()
                    && (r.uid.is_empty() || r.uid == claim.metadata.uid)
            }
        };
        free && self.metadata.deletion_timestamp.is_none()
            && self.spec.storage_class_name == claim.class_name()
            && self.storage() >= claim.requested_storage()
            && claim.spec.access_modes.iter().all(|m| self.spec.access_modes.contains(m))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaim {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PersistentVolumeClaimSpec,
    #[serde(default)]
    pub status: PersistentVolumeClaimStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    #[serde(default)]
    pub resources: VolumeResourceRequirements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// The PersistentVolume this claim is bound to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub volume_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_mode: Option<String>,
    /// selector, dataSource, ... kept whole.
    #[serde(flatten)]
    pub extra: Unmodeled,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeResourceRequirements {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersistentVolumeClaimStatus {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_modes: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity: BTreeMap<String, Quantity>,
}

impl PersistentVolumeClaim {
    pub const PENDING: &str = "Pending";
    pub const BOUND: &str = "Bound";
    /// Set by the scheduler on a `WaitForFirstConsumer` claim: the node its first pod was
    /// scheduled to, where the volume must be found.
    pub const SELECTED_NODE_ANNOTATION: &str = "volume.kubernetes.io/selected-node";
    /// Set by the PV controller once it has bound the claim (upstream's `bind-completed`).
    pub const BIND_COMPLETED_ANNOTATION: &str = "pv.kubernetes.io/bind-completed";

    pub fn class_name(&self) -> &str {
        self.spec.storage_class_name.as_deref().unwrap_or("")
    }

    pub fn requested_storage(&self) -> i64 {
        self.spec.resources.requests.get("storage").map_or(0, Quantity::milli)
    }

    pub fn is_bound(&self) -> bool {
        !self.spec.volume_name.is_empty()
    }

    pub fn selected_node(&self) -> Option<&str> {
        self.metadata.annotations.get(Self::SELECTED_NODE_ANNOTATION).map(String::as_str)
    }
}

const ACCESS_MODES: [(&str, &str); 4] =
    [("ReadWriteOnce", "RWO"), ("ReadOnlyMany", "ROX"), ("ReadWriteMany", "RWX"), ("ReadWriteOncePod", "RWOP")];

/// kubectl's access-mode abbreviations (`RWO,ROX`), in upstream's order.
fn access_modes_string(modes: &[String]) -> String {
    ACCESS_MODES.iter().filter(|(m, _)| modes.iter().any(|x| x == m)).map(|(_, a)| *a).collect::<Vec<_>>().join(",")
}

fn access_modes(field: &str, modes: &[String], errors: &mut Vec<FieldError>) {
    if modes.is_empty() {
        errors.push(FieldError::new(field, "Required value: at least 1 access mode is required"));
    }
    for mode in modes {
        if !ACCESS_MODES.iter().any(|(m, _)| m == mode) {
            errors.push(FieldError::new(
                field,
                format!("Unsupported value: {mode:?}: supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\""),
            ));
        }
    }
}

fn reclaim_policy(field: &str, policy: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(p) = policy
        && !["Delete", "Recycle", "Retain"].contains(&p)
    {
        errors.push(FieldError::new(
            field,
            format!("Unsupported value: {p:?}: supported values: \"Delete\", \"Recycle\", \"Retain\""),
        ));
    }
}

pub fn validate_storage_class(sc: &StorageClass, errors: &mut Vec<FieldError>) {
    if sc.provisioner.is_empty() {
        errors.push(FieldError::new("provisioner", "Required value"));
    }
    reclaim_policy("reclaimPolicy", sc.reclaim_policy.as_deref(), errors);
    if let Some(mode) = sc.volume_binding_mode.as_deref()
        && ![StorageClass::IMMEDIATE, StorageClass::WAIT_FOR_FIRST_CONSUMER].contains(&mode)
    {
        errors.push(FieldError::new(
            "volumeBindingMode",
            format!("Unsupported value: {mode:?}: supported values: \"Immediate\", \"WaitForFirstConsumer\""),
        ));
    }
}

/// Upstream keeps a class's provisioner, parameters, reclaimPolicy and binding mode fixed.
pub fn validate_storage_class_update(sc: &StorageClass, old: &StorageClass, errors: &mut Vec<FieldError>) {
    let fixed = [
        ("provisioner", sc.provisioner != old.provisioner),
        ("parameters", sc.parameters != old.parameters),
        ("reclaimPolicy", sc.reclaim_policy != old.reclaim_policy),
        ("volumeBindingMode", sc.volume_binding_mode != old.volume_binding_mode),
    ];
    for (field, changed) in fixed {
        if changed {
            errors.push(FieldError::new(field, "Forbidden: updates to parameters are forbidden."));
        }
    }
}

pub fn validate_persistent_volume(pv: &PersistentVolume, errors: &mut Vec<FieldError>) {
    access_modes("spec.accessModes", &pv.spec.access_modes, errors);
    if !pv.spec.capacity.contains_key("storage") {
        errors.push(FieldError::new("spec.capacity", "Required value"));
    }
    reclaim_policy("spec.persistentVolumeReclaimPolicy", pv.spec.persistent_volume_reclaim_policy.as_deref(), errors);
    let has_source = pv.spec.local.is_some() || pv.spec.host_path.is_some() || !pv.spec.extra.is_empty();
    if !has_source {
        errors.push(FieldError::new("spec", "Required value: must specify a volume type"));
    }
    if pv.spec.local.is_some() && pv.required_nodes().is_none() {
        errors.push(FieldError::new("spec.nodeAffinity", "Required value: Local volume requires node affinity"));
    }
}

pub fn validate_persistent_volume_claim(pvc: &PersistentVolumeClaim, errors: &mut Vec<FieldError>) {
    access_modes("spec.accessModes", &pvc.spec.access_modes, errors);
    if !pvc.spec.resources.requests.contains_key("storage") {
        errors.push(FieldError::new("spec.resources[storage]", "Required value"));
    }
}

/// Upstream: a claim's spec is immutable once created, but for its resource requests (expansion)
/// and the binder's `volumeName`.
pub fn validate_persistent_volume_claim_update(
    pvc: &PersistentVolumeClaim,
    old: &PersistentVolumeClaim,
    errors: &mut Vec<FieldError>,
) {
    let mut spec = pvc.spec.clone();
    spec.resources = old.spec.resources.clone();
    if old.spec.volume_name.is_empty() {
        spec.volume_name.clear();
    }
    let mut old_spec = old.spec.clone();
    if old.spec.volume_name.is_empty() {
        old_spec.volume_name.clear();
    }
    if spec != old_spec {
        errors.push(FieldError::new(
            "spec",
            "Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims",
        ));
    }
}

pub fn storage_class_cells(sc: &StorageClass, now: Reading) -> Vec<Value> {
    let default = sc.metadata.annotations.get(StorageClass::DEFAULT_ANNOTATION).is_some_and(|v| v == "true");
    let name = if default { format!("{} (default)", sc.metadata.name) } else { sc.metadata.name.clone() };
    vec![
        json!(name),
        json!(sc.provisioner),
        json!(sc.reclaim_policy.as_deref().unwrap_or(PersistentVolume::DELETE)),
        json!(sc.volume_binding_mode.as_deref().unwrap_or(StorageClass::IMMEDIATE)),
        json!(sc.allow_volume_expansion.unwrap_or(false)),
        json!(age(sc.metadata.creation_timestamp.as_deref(), now)),
    ]
}

pub fn persistent_volume_cells(pv: &PersistentVolume, now: Reading) -> Vec<Value> {
    let claim = pv.spec.claim_ref.as_ref().map_or(String::new(), |r| format!("{}/{}", r.namespace, r.name));
    vec![
        json!(pv.metadata.name),
        json!(pv.spec.capacity.get("storage").map_or("", Quantity::as_str)),
        json!(access_modes_string(&pv.spec.access_modes)),
        json!(pv.spec.persistent_volume_reclaim_policy.as_deref().unwrap_or("")),
        json!(pv.status.phase),
        json!(claim),
        json!(pv.spec.storage_class_name),
        json!("<unset>"),
        json!(pv.status.reason),
        json!(age(pv.metadata.creation_timestamp.as_deref(), now)),
        json!(pv.spec.volume_mode.as_deref().unwrap_or("Filesystem")),
    ]
}

pub fn persistent_volume_claim_cells(pvc: &PersistentVolumeClaim, now: Reading) -> Vec<Value> {
    // As upstream's printer: capacity and access modes only once bound.
    let (capacity, modes) = if pvc.is_bound() {
        (
            pvc.status.capacity.get("storage").map_or("", Quantity::as_str).to_string(),
            access_modes_string(&pvc.status.access_modes),
        )
    } else {
        (String::new(), String::new())
    };
    vec![
        json!(pvc.metadata.name),
        json!(pvc.status.phase),
        json!(pvc.spec.volume_name),
        json!(capacity),
        json!(modes),
        json!(pvc.class_name()),
        json!("<unset>"),
        json!(age(pvc.metadata.creation_timestamp.as_deref(), now)),
        json!(pvc.spec.volume_mode.as_deref().unwrap_or("Filesystem")),
    ]
}

/// Upstream's PV defaults: reclaim policy `Retain` for a hand-made volume, phase `Pending`
/// until the controller sees it (we go straight to Available in the controller).
pub fn default_persistent_volume(pv: &mut PersistentVolume) {
    pv.spec.persistent_volume_reclaim_policy.get_or_insert_with(|| PersistentVolume::RETAIN.into());
    pv.spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
}

pub fn default_persistent_volume_claim(pvc: &mut PersistentVolumeClaim) {
    pvc.spec.volume_mode.get_or_insert_with(|| "Filesystem".into());
    if pvc.status.phase.is_empty() {
        pvc.status.phase = PersistentVolumeClaim::PENDING.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirement(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_node_selector_ors_its_terms_and_ands_their_requirements() {
        let labels: BTreeMap<String, String> =
            [("kubernetes.io/hostname".to_string(), "pin-3".to_string()), ("zone".into(), "a".into())].into();
        let term =
            |reqs: Vec<NodeSelectorRequirement>| NodeSelectorTerm { match_expressions: reqs, ..Default::default() };
        let on = |terms: Vec<NodeSelectorTerm>| NodeSelector { node_selector_terms: terms };
        assert!(
            on(vec![term(vec![requirement("kubernetes.io/hostname", "In", &["pin-3"])])]).matches("pin-3", &labels)
        );
        assert!(
            !on(vec![term(vec![requirement("kubernetes.io/hostname", "In", &["pin-4"])])]).matches("pin-3", &labels)
        );
        assert!(
            !on(vec![term(vec![requirement("zone", "In", &["a"]), requirement("disk", "Exists", &[])])])
                .matches("pin-3", &labels)
        );
        assert!(
            on(vec![term(vec![requirement("disk", "Exists", &[])]), term(vec![requirement("zone", "NotIn", &["b"])])])
                .matches("pin-3", &labels)
        );
        assert!(!on(vec![term(vec![])]).matches("pin-3", &labels), "an empty term selects nothing");
        let by_name = NodeSelectorTerm {
            match_fields: vec![requirement("metadata.name", "In", &["pin-3"])],
            ..Default::default()
        };
        assert!(on(vec![by_name]).matches("pin-3", &BTreeMap::new()));
    }

    #[test]
    fn access_modes_print_as_kubectl_abbreviates_them() {
        let modes = vec!["ReadWriteMany".to_string(), "ReadWriteOnce".to_string()];
        assert_eq!(access_modes_string(&modes), "RWO,RWX");
    }

    #[test]
    fn a_claim_s_spec_is_immutable_but_for_requests_and_its_first_volume_name() {
        let mut old = PersistentVolumeClaim::default();
        old.spec.access_modes = vec!["ReadWriteOnce".into()];
        let mut bound = old.clone();
        bound.spec.volume_name = "pv-1".into();
        let mut errors = Vec::new();
        validate_persistent_volume_claim_update(&bound, &old, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        let mut changed = bound.clone();
        changed.spec.access_modes = vec!["ReadWriteMany".into()];
        validate_persistent_volume_claim_update(&changed, &bound, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "spec");
    }
}
