//! Custom objects: instances of a CustomResourceDefinition's resource, kept as JSON with
//! `ObjectMeta` parsed out, so a new resource is data, not code. The store holds them all in one
//! table keyed by resource first (see [`CustomObject::key`]), so one resource's objects are a
//! range, and they share the store's resourceVersion, change log and watch path.
//!
//! Validation follows apiextensions-apiserver's structural schemas: the version's
//! `openAPIV3Schema` checks types, `required`, `enum`, bounds, `pattern`, lengths and `items`,
//! with kube-openapi's messages, and unknown fields are pruned unless
//! `x-kubernetes-preserve-unknown-fields` keeps them. No maintained crate fits: the JSON Schema
//! validators (`jsonschema`) neither prune nor word errors as Kubernetes field errors.

use super::crd::CustomResourceDefinition;
use super::meta::{FieldError, ObjectMeta};
use super::{Kind, Object, Resource};
use crate::cluster::store::ObjectKey;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Which resource a custom object belongs to, taken from its CRD when it is admitted. Not part
/// of the object's JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceRef {
    /// `<plural>.<group>`: the CRD's name.
    pub name: String,
    pub namespaced: bool,
    /// Whether the resource has a `/status` subresource (then main writes keep the stored status).
    pub status_subresource: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObject {
    #[serde(default)]
    pub api_version: CompactString,
    #[serde(default)]
    pub kind: CompactString,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Everything else (`spec`, `status`, ...), as sent, after pruning.
    #[serde(flatten)]
    pub content: Map<String, Value>,
    #[serde(skip)]
    pub resource: ResourceRef,
}

impl CustomObject {
    /// The API group, from `apiVersion` (`pinsetter.dev/v1alpha1` → `pinsetter.dev`).
    pub fn group(&self) -> &str {
        self.api_version.split_once('/').map_or("", |(group, _)| group)
    }

    /// The store key of an object of `resource` (`<plural>.<group>`): the resource first, so
    /// one resource's objects are one range of the table, and two resources never collide.
    pub fn key_in(resource: &str, namespace: &str, name: impl AsRef<str>) -> ObjectKey {
        ObjectKey::new(format!("{resource}/{namespace}"), name)
    }

    /// The first and last possible keys of `resource`'s objects.
    pub fn range_of(resource: &str) -> std::ops::RangeInclusive<ObjectKey> {
        ObjectKey::new(format!("{resource}/"), "")..=ObjectKey::new(format!("{resource}/\u{10FFFF}"), "")
    }

    pub fn status(&self) -> Option<&Value> {
        self.content.get("status")
    }
}

impl From<CustomObject> for Object {
    fn from(o: CustomObject) -> Object {
        Object::CustomObject(Arc::new(o))
    }
}

impl From<Arc<CustomObject>> for Object {
    fn from(o: Arc<CustomObject>) -> Object {
        Object::CustomObject(o)
    }
}

impl Resource for CustomObject {
    const KIND: Kind = Kind::CustomObject;
    fn shared(this: Arc<Self>) -> Object {
        Object::CustomObject(this)
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
    fn from_object(object: &Object) -> Option<&Self> {
        match object {
            Object::CustomObject(o) => Some(o.as_ref()),
            _ => None,
        }
    }
    /// A custom object carries its own `apiVersion` and `kind`.
    fn set_type_meta(&mut self) {}
    fn key(&self) -> ObjectKey {
        CustomObject::key_in(&self.resource.name, self.metadata.namespace(), self.metadata.name.clone())
    }
    fn default_namespace(&mut self) {
        let namespace = self.metadata.namespace.take().filter(|n| !n.is_empty());
        self.metadata.namespace =
            self.resource.namespaced.then(|| namespace.unwrap_or_else(|| super::DEFAULT_NAMESPACE.into()));
    }
    fn spec_changed(&self, old: &Self) -> bool {
        let without_status = |o: &CustomObject| o.content.iter().filter(|(k, _)| *k != "status").count();
        without_status(self) != without_status(old)
            || self.content.iter().any(|(k, v)| k != "status" && old.content.get(k) != Some(v))
    }
    fn keep_status(&mut self, old: &Self) {
        if self.resource.status_subresource {
            match old.content.get("status") {
                Some(status) => self.content.insert("status".into(), status.clone()),
                None => self.content.remove("status"),
            };
        }
    }
}

/// `kubectl get` cells without a CRD at hand (the API prints the CRD's columns instead).
pub fn cells(o: &CustomObject, now: crate::clock::Reading) -> Vec<Value> {
    vec![
        Value::from(o.metadata.name.clone()),
        Value::from(super::print::age(o.metadata.creation_timestamp.as_deref(), now)),
    ]
}

/// The resource `object` belongs to and its version's schema, from the CRD that serves it.
pub fn resource_of(crd: &CustomResourceDefinition) -> ResourceRef {
    let version = crd.storage_version();
    ResourceRef {
        name: crd.metadata.name.clone(),
        namespaced: crd.namespaced(),
        status_subresource: version.and_then(|v| v.subresources.as_ref()).is_some_and(|s| s.status.is_some()),
    }
}

/// Checks `object` against `schema` (a version's `openAPIV3Schema`) and prunes the fields it
/// does not know, as apiextensions-apiserver does. `metadata`, `apiVersion` and `kind` are the
/// API's and are neither checked nor pruned here.
pub fn validate_and_prune(schema: &Value, object: &mut CustomObject) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut content = Value::Object(std::mem::take(&mut object.content));
    check_object(schema, &mut content, "", &mut errors);
    if let Value::Object(map) = content {
        object.content = map;
    }
    errors
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}.{name}") }
}

/// JSON's name for a value's type, as kube-openapi reports a mismatch.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn has_type(value: &Value, type_: &str) -> bool {
    match type_ {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        _ => true,
    }
}

/// One value against one schema node.
fn check(schema: &Value, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if int_or_string {
        if !(value.is_string() || value.is_i64() || value.is_u64()) {
            let actual = type_name(value);
            errors.push(FieldError::new(
                path,
                format!("Invalid value: {actual:?}: {path} in body must be of type integer,string: {actual:?}"),
            ));
            return;
        }
    } else if let Some(type_) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, type_)
    {
        let actual = type_name(value);
        errors.push(FieldError::new(
            path,
            format!("Invalid value: {actual:?}: {path} in body must be of type {type_}: {actual:?}"),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(Value::to_string).collect();
        errors.push(FieldError::new(
            path,
            format!("Unsupported value: {value}: supported values: {}", supported.join(", ")),
        ));
    }
    match value {
        Value::Number(_) | Value::String(_) => scalar(schema, value, path, errors),
        Value::Array(items) => {
            let count = items.len();
            if let Some(max) = bound(schema, "maxItems")
                && count as f64 > max
            {
                errors.push(FieldError::new(path, format!("Too many: {count}: must have at most {max} items")));
            }
            if let Some(min) = bound(schema, "minItems")
                && (count as f64) < min
            {
                errors.push(FieldError::new(
                    path,
                    format!("Invalid value: {count}: {path} in body should have at least {min} items"),
                ));
                return;
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Value::Object(_) => check_object(schema, value, path, errors),
        Value::Bool(_) | Value::Null => {}
    }
}

fn bound(schema: &Value, name: &str) -> Option<f64> {
    schema.get(name).and_then(Value::as_f64)
}

/// A number's bounds; a string's lengths and pattern.
fn scalar(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let bound = |name: &str| bound(schema, name);
    let exclusive = |name: &str| schema.get(name).and_then(Value::as_bool) == Some(true);
    match value {
        Value::Number(n) => {
            let Some(x) = n.as_f64() else { return };
            if let Some(max) = bound("maximum") {
                if exclusive("exclusiveMaximum") && x >= max {
                    errors.push(invalid(path, value, &format!("{path} in body should be less than {max}")));
                } else if x > max {
                    errors.push(invalid(path, value, &format!("{path} in body should be less than or equal to {max}")));
                }
            }
            if let Some(min) = bound("minimum") {
                if exclusive("exclusiveMinimum") && x <= min {
                    errors.push(invalid(path, value, &format!("{path} in body should be greater than {min}")));
                } else if x < min {
                    errors.push(invalid(
                        path,
                        value,
                        &format!("{path} in body should be greater than or equal to {min}"),
                    ));
                }
            }
        }
        Value::String(s) => {
            let length = s.chars().count() as f64;
            if let Some(max) = bound("maxLength")
                && length > max
            {
                errors.push(FieldError::new(path, format!("Too long: may not be more than {max} bytes")));
            }
            if let Some(min) = bound("minLength")
                && length < min
            {
                errors.push(invalid(path, value, &format!("{path} in body should be at least {min} chars long")));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match regex::Regex::new(pattern) {
                    Ok(re) if re.is_match(s) => {}
                    Ok(_) => errors.push(invalid(path, value, &format!("{path} in body should match '{pattern}'"))),
                    Err(e) => errors.push(FieldError::new(path, format!("Internal error: invalid pattern: {e}"))),
                }
            }
        }
        _ => {}
    }
}

/// An object's `required`, `properties`, `additionalProperties` and pruning.
fn check_object(schema: &Value, value: &mut Value, path: &str, errors: &mut Vec<FieldError>) {
    let Value::Object(map) = value else { return };
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
    let properties = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties").filter(|a| a.is_object());
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if map.get(name).is_none_or(Value::is_null) {
                errors.push(FieldError::new(child(path, name), "Required value"));
            }
        }
    }
    let mut pruned = Vec::new();
    for (name, field) in map.iter_mut() {
        if let Some(field_schema) = properties.and_then(|p| p.get(name)) {
            check(field_schema, field, &child(path, name), errors);
        } else if let Some(field_schema) = additional {
            check(field_schema, field, &child(path, name), errors);
        } else if !preserve {
            pruned.push(name.clone());
        }
    }
    for name in pruned {
        map.remove(&name);
    }
}

fn invalid(path: &str, value: &Value, detail: &str) -> FieldError {
    FieldError::new(path, format!("Invalid value: {value}: {detail}"))
}

/// A printer column's `jsonPath` (`.spec.replicas`, `.status.conditions[0].type`) read from an
/// object's JSON: the simple paths CRDs use, as kubectl's JSONPath reads them.
pub fn json_path<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let mut at = value;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (name, indexes) = segment.split_once('[').map_or((segment, ""), |(n, rest)| (n, rest));
        if !name.is_empty() {
            at = at.get(name)?;
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            at = at.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "required": ["replicas"], "properties": {
                "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMaximum": true, "maximum": 1},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8, "minLength": 2},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "maybe": {"type": "string", "nullable": true}
            }}
        }})
    }

    fn errors_for(spec: Value) -> Vec<String> {
        let mut object =
            CustomObject { content: json!({"spec": spec}).as_object().unwrap().clone(), ..Default::default() };
        validate_and_prune(&schema(), &mut object).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn types_are_checked_with_kube_openapis_message() {
        assert_eq!(
            errors_for(json!({"replicas": "three"})),
            ["spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""]
        );
        assert_eq!(
            errors_for(json!({"replicas": 1, "port": true})),
            ["spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""]
        );
        assert_eq!(errors_for(json!({"replicas": 1, "port": "http", "maybe": null})), Vec::<String>::new());
    }

    #[test]
    fn required_fields_are_named() {
        assert_eq!(errors_for(json!({})), ["spec.replicas: Required value"]);
    }

    #[test]
    fn enums_list_the_supported_values() {
        assert_eq!(
            errors_for(json!({"replicas": 1, "color": "green"})),
            ["spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\""]
        );
    }

    #[test]
    fn bounds_are_inclusive_unless_exclusive() {
        assert_eq!(
            errors_for(json!({"replicas": 11})),
            ["spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"]
        );
        assert_eq!(
            errors_for(json!({"replicas": -1})),
            ["spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"]
        );
        assert_eq!(errors_for(json!({"replicas": 10})), Vec::<String>::new());
        assert_eq!(
            errors_for(json!({"replicas": 0, "ratio": 1})),
            ["spec.ratio: Invalid value: 1: spec.ratio in body should be less than 1"]
        );
    }

    #[test]
    fn strings_are_held_to_pattern_and_lengths() {
        assert_eq!(
            errors_for(json!({"replicas": 1, "name": "Abc"})),
            ["spec.name: Invalid value: \"Abc\": spec.name in body should match '^[a-z]+$'"]
        );
        assert_eq!(
            errors_for(json!({"replicas": 1, "name": "abcdefghij"})),
            ["spec.name: Too long: may not be more than 8 bytes"]
        );
        assert_eq!(
            errors_for(json!({"replicas": 1, "name": "a"})),
            ["spec.name: Invalid value: \"a\": spec.name in body should be at least 2 chars long"]
        );
    }

    #[test]
    fn arrays_check_their_length_and_every_item() {
        assert_eq!(
            errors_for(json!({"replicas": 1, "tags": ["a", 2]})),
            ["spec.tags[1]: Invalid value: \"integer\": spec.tags[1] in body must be of type string: \"integer\""]
        );
        assert_eq!(
            errors_for(json!({"replicas": 1, "tags": ["a", "b", "c"]})),
            ["spec.tags: Too many: 3: must have at most 2 items"]
        );
    }

    #[test]
    fn unknown_fields_are_pruned_unless_preserved() {
        let mut object = CustomObject {
            content: json!({"spec": {"replicas": 1, "bogus": 1, "extra": {"anything": [1]}, "labels": {"a": "b"}},
                "junk": true})
            .as_object()
            .unwrap()
            .clone(),
            ..Default::default()
        };
        assert!(validate_and_prune(&schema(), &mut object).is_empty());
        assert_eq!(
            Value::Object(object.content),
            json!({"spec": {"replicas": 1, "extra": {"anything": [1]}, "labels": {"a": "b"}}})
        );
    }

    #[test]
    fn additional_properties_are_validated() {
        assert_eq!(
            errors_for(json!({"replicas": 1, "labels": {"a": 1}})),
            ["spec.labels.a: Invalid value: \"integer\": spec.labels.a in body must be of type string: \"integer\""]
        );
    }

    #[test]
    fn json_paths_read_nested_fields_and_indexes() {
        let doc = json!({"spec": {"pins": [3, 4]}, "status": {"phase": "Knocked"}});
        assert_eq!(json_path(&doc, ".status.phase"), Some(&json!("Knocked")));
        assert_eq!(json_path(&doc, ".spec.pins[1]"), Some(&json!(4)));
        assert_eq!(json_path(&doc, ".status.missing"), None);
    }

    #[test]
    fn keys_put_the_resource_first_so_resources_never_collide() {
        let a = CustomObject::key_in("widgets.example.com", "default", "x");
        let b = CustomObject::key_in("gadgets.example.com", "default", "x");
        assert_ne!(a, b);
        assert!(CustomObject::range_of("widgets.example.com").contains(&a));
        assert!(!CustomObject::range_of("widgets.example.com").contains(&b));
        assert!(CustomObject::range_of("widgets.example.com").contains(&CustomObject::key_in(
            "widgets.example.com",
            "",
            "cluster-scoped"
        )));
    }
}

/// Why a custom object was not admitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CustomError {
    /// No established CRD serves this group, version and kind (kube-apiserver: 404).
    #[error("no matches for kind {kind:?} in version {api_version:?}")]
    NoMatch { api_version: String, kind: String },
    /// The object breaks its version's schema (422, causes naming the fields).
    #[error("{kind}.{group} {name:?} is invalid: {}", causes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Invalid { group: String, kind: String, name: String, causes: Vec<FieldError> },
}

/// The established CRD serving `api_version` and `kind`, with the served version's schema.
/// CRDs are few, so they are looked through rather than indexed.
pub fn definition_for<'s>(
    store: &'s crate::cluster::store::Store,
    api_version: &str,
    kind: &str,
) -> Option<(&'s CustomResourceDefinition, &'s super::crd::CustomResourceDefinitionVersion)> {
    let (group, version) = api_version.split_once('/')?;
    store.list::<CustomResourceDefinition>().filter(|c| c.is_established()).find_map(|crd| {
        let served = crd.spec.versions.iter().find(|v| v.name == version && v.served)?;
        (crd.spec.group == group && crd.spec.names.kind == kind).then_some((crd, served))
    })
}

/// What the API server does to a custom object before it is stored: finds its CRD, ties the
/// object to that resource, drops `status` on create when `/status` is a subresource, and
/// validates and prunes it against the version's schema. Other objects pass through.
pub fn admit(store: &crate::cluster::store::Store, object: Object, creating: bool) -> Result<Object, CustomError> {
    match object {
        Object::CustomObject(custom) => admit_custom(store, Arc::unwrap_or_clone(custom), creating).map(Object::from),
        other => Ok(other),
    }
}

fn admit_custom(
    store: &crate::cluster::store::Store,
    mut object: CustomObject,
    creating: bool,
) -> Result<CustomObject, CustomError> {
    let no_match =
        || CustomError::NoMatch { api_version: object.api_version.to_string(), kind: object.kind.to_string() };
    let (crd, version) = definition_for(store, &object.api_version, &object.kind).ok_or_else(no_match)?;
    object.resource = resource_of(crd);
    if creating && object.resource.status_subresource {
        object.content.remove("status");
    }
    let schema = version.schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref());
    let mut causes = Vec::new();
    super::meta::validate_dns_subdomain("metadata.name", &object.metadata.name, &mut causes);
    super::meta::validate_labels("metadata.labels", &object.metadata.labels, &mut causes);
    if let Some(schema) = schema {
        causes.extend(validate_and_prune(schema, &mut object));
    }
    if !causes.is_empty() {
        return Err(CustomError::Invalid {
            group: crd.spec.group.clone(),
            kind: object.kind.to_string(),
            name: object.metadata.name.clone(),
            causes,
        });
    }
    Ok(object)
}

/// A write to a custom object's `/status`: the stored object with only its `status` taken
/// from `sent` (everything else in the request is ignored, as upstream's status strategy does),
/// validated, then written with `sent`'s resourceVersion as precondition.
pub fn write_status(
    store: &mut crate::cluster::store::Store,
    sent: CustomObject,
) -> Result<Arc<CustomObject>, crate::cluster::ClusterError> {
    let admitted = admit_custom(store, sent, false)?;
    let key = admitted.key();
    let Some(stored) = store.get::<CustomObject>(&key) else {
        return Err(crate::cluster::store::StoreError::NotFound {
            resource: admitted.resource.name.clone(),
            name: key.name.to_string(),
        }
        .into());
    };
    let mut updated = stored.clone();
    updated.resource = admitted.resource.clone();
    updated.metadata.resource_version = admitted.metadata.resource_version.clone();
    match admitted.content.get("status") {
        Some(status) => updated.content.insert("status".into(), status.clone()),
        None => updated.content.remove("status"),
    };
    Ok(store.update(updated)?)
}
