//! `metav1.ObjectMeta`, owner references, label selectors and the helpers every kind shares.

use super::shared::Shared;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

fn is_false(b: &bool) -> bool {
    !*b
}

/// An object's annotations: a sorted vector, not a B-tree. Most objects carry one or two
/// (every scheduled pod its decision), and a B-tree spends a 544-byte node on the first, a fifth
/// of a pod's memory on a 150,000-pod lane. Ordered, and serialized, as a B-tree map is.
pub type Annotations = litemap::LiteMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub generate_name: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<CompactString>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "CompactString::is_empty")]
    pub resource_version: CompactString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<CompactString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<i64>,
    /// Shared: a ReplicaSet's pods, and every version of each, hold their template's labels once.
    #[serde(default, skip_serializing_if = "super::shared::is_empty_map")]
    pub labels: Shared<BTreeMap<String, String>>,
    /// Shared: every version of a pod holds the scheduler's decision (and the rest) once.
    #[serde(default, skip_serializing_if = "super::shared::is_empty_annotations")]
    pub annotations: Shared<Annotations>,
    /// Shared: every version of an object holds its owners once.
    #[serde(default, skip_serializing_if = "super::shared::is_empty")]
    pub owner_references: Shared<Vec<OwnerReference>>,
    /// Server-side apply's field ownership. Boxed: most objects never have any, and an empty
    /// one costs a pointer, not a Vec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_fields: Option<Box<Vec<ManagedFieldsEntry>>>,
}

/// `metav1.ManagedFieldsEntry`: which manager set which fields (`fieldsV1`), and how.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedFieldsEntry {
    #[serde(default)]
    pub manager: String,
    #[serde(default)]
    pub operation: String,
    #[serde(default)]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default)]
    pub fields_type: String,
    #[serde(default, rename = "fieldsV1", skip_serializing_if = "serde_json::Value::is_null")]
    pub fields_v1: serde_json::Value,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subresource: String,
}

impl ObjectMeta {
    pub fn named(name: impl Into<String>) -> ObjectMeta {
        ObjectMeta { name: name.into(), ..ObjectMeta::default() }
    }

    pub fn namespaced(namespace: impl Into<CompactString>, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta { name: name.into(), namespace: Some(namespace.into()), ..ObjectMeta::default() }
    }

    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    pub fn is_terminating(&self) -> bool {
        self.deletion_timestamp.is_some()
    }

    /// The controlling owner (`controller: true`), as upstream's `GetControllerOf`.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|r| r.controller)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub controller: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub block_owner_deletion: bool,
}

/// `metav1.LabelSelector`: `matchLabels` plus `matchExpressions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// An empty selector matches everything, as upstream's `LabelSelectorAsSelector`.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|req| {
                let value = labels.get(&req.key);
                match req.operator.as_str() {
                    "In" => value.is_some_and(|v| req.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !req.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }

    /// `app=web,tier=front` as kubectl prints selectors.
    pub fn to_selector_string(&self) -> String {
        let mut parts: Vec<String> = self.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for req in &self.match_expressions {
            parts.push(match req.operator.as_str() {
                "Exists" => req.key.clone(),
                "DoesNotExist" => format!("!{}", req.key),
                op => format!("{} {} ({})", req.key, op.to_lowercase(), req.values.join(",")),
            });
        }
        parts.join(",")
    }
}

/// A field that failed validation, named by its JSON path as upstream's `field.Error` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// RFC 1123 subdomain, the rule for most object names.
pub fn validate_dns_subdomain(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if !ok {
        errors.push(FieldError::new(
            field,
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ));
    }
}

/// RFC 1123 label, the rule for container and port names.
pub fn validate_dns_label(field: &str, name: &str, errors: &mut Vec<FieldError>) {
    if name.len() > 63 {
        errors.push(FieldError::new(field, format!("Invalid value: {name:?}: must be no more than 63 characters")));
    }
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        errors.push(FieldError::new(
            field,
            format!(
                "Invalid value: {name:?}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ),
        ));
    }
}

/// Upstream's `TotalAnnotationSizeLimitB`: keys and values together, 256 KiB.
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Sets one annotation. A first one gets a map with room for just itself: the scheduler
/// annotates each pod it places, and a map grown by `insert` reserves room for four.
pub fn set_annotation(annotations: &mut Shared<Annotations>, key: &str, value: String) {
    if annotations.is_empty() {
        let mut first = Annotations::with_capacity(1);
        first.insert(key.to_string(), value);
        *annotations = Shared::new(first);
    } else {
        annotations.insert(key.to_string(), value);
    }
}

/// Annotations may hold anything, but not more than [`MAX_ANNOTATIONS_BYTES`] in total.
pub fn validate_annotations(field: &str, annotations: &Annotations, errors: &mut Vec<FieldError>) {
    let total: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_ANNOTATIONS_BYTES {
        errors.push(FieldError::new(field, format!("Too long: must have at most {MAX_ANNOTATIONS_BYTES} bytes")));
    }
}

/// Label keys and values: ≤ 63 characters of alphanumerics, `-`, `_`, `.` (keys may carry a
/// `prefix/`).
pub fn validate_labels(field: &str, labels: &BTreeMap<String, String>, errors: &mut Vec<FieldError>) {
    let ok_part = |s: &str, allow_empty: bool| {
        (allow_empty || !s.is_empty())
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && (s.is_empty()
                || (s.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && s.ends_with(|c: char| c.is_ascii_alphanumeric())))
    };
    for (key, value) in labels {
        let name = key.rsplit_once('/').map_or(key.as_str(), |(_, n)| n);
        if !ok_part(name, false) {
            errors.push(FieldError::new(
                field.to_string(),
                format!("Invalid value: {key:?}: name part must consist of alphanumeric characters, '-', '_' or '.'"),
            ));
        }
        if !ok_part(value, true) {
            errors.push(FieldError::new(field.to_string(), format!("Invalid value: {value:?}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'")));
        }
    }
}
