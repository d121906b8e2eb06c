//! The three patch types kubectl sends: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! and strategic merge patch (merge-key lists, `$patch`, `$setElementOrder`, `$retainKeys`).

use super::status::ApiError;
use serde_json::{Map, Value};

pub const MERGE: &str = "application/merge-patch+json";
pub const JSON: &str = "application/json-patch+json";
pub const STRATEGIC: &str = "application/strategic-merge-patch+json";
pub const APPLY: &str = "application/apply-patch+yaml";

/// Applies `patch` (of the given content type) to `doc`.
pub fn apply(content_type: &str, doc: &mut Value, patch: &[u8]) -> Result<(), ApiError> {
    parse(content_type, patch)?.apply(doc)
}

/// A patch parsed and checked, ready to apply: parsing happens off the World's thread, and
/// only the (cheap) application on it.
#[derive(Debug)]
pub enum Patch {
    Merge(Value),
    Json(json_patch::Patch),
    Strategic(Value),
}

/// Parses a patch body of the given content type.
pub fn parse(content_type: &str, patch: &[u8]) -> Result<Patch, ApiError> {
    let parse = || -> Result<Value, ApiError> {
        serde_json::from_slice(patch).map_err(|e| ApiError::bad_request(format!("the patch is not valid JSON: {e}")))
    };
    match content_type {
        MERGE => Ok(Patch::Merge(parse()?)),
        JSON => Ok(Patch::Json(
            serde_json::from_value(parse()?).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?,
        )),
        // Server-side apply without managedFields: a strategic merge is a fair stand-in.
        STRATEGIC | APPLY => Ok(Patch::Strategic(parse()?)),
        other => Err(ApiError::unsupported_media_type(other, &format!("{JSON}, {MERGE}, {STRATEGIC}, {APPLY}"))),
    }
}

impl Patch {
    /// Applies the patch to `doc`.
    pub fn apply(&self, doc: &mut Value) -> Result<(), ApiError> {
        match self {
            Patch::Merge(patch) => {
                json_patch::merge(doc, patch);
                Ok(())
            }
            Patch::Json(ops) => json_patch::patch(doc, ops).map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid",
                    format!("the JSON patch could not be applied: {e}"),
                )
            }),
            Patch::Strategic(patch) => {
                strategic_merge(doc, patch, "");
                Ok(())
            }
        }
    }
}

/// The merge key of a list field, as upstream's `patchMergeKey` tags; `None` = replace.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" => Some("name"),
        "ports" => Some("containerPort"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "taints" => Some("key"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// Strategic merge of `patch` into `doc`. `field` is the name the value sits under (it picks
/// the list merge key).
pub fn strategic_merge(doc: &mut Value, patch: &Value, field: &str) {
    let Value::Object(patch_map) = patch else {
        *doc = patch.clone();
        return;
    };
    if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replacement = patch.clone();
        strip_directives(&mut replacement);
        *doc = replacement;
        return;
    }
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    let Value::Object(doc_map) = doc else { return };
    if let Some(Value::Array(keep)) = patch_map.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        doc_map.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (key, value) in patch_map {
        if key.starts_with('$') {
            continue;
        }
        if let Some(list) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let _ = list;
            continue;
        }
        match value {
            Value::Null => {
                doc_map.remove(key);
            }
            Value::Object(_) => strategic_merge(doc_map.entry(key.clone()).or_insert(Value::Null), value, key),
            Value::Array(items) => match merge_key(key) {
                Some(mk) if items.iter().all(|i| i.get(mk).is_some()) => {
                    let target = doc_map.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
                    if !target.is_array() {
                        *target = Value::Array(Vec::new());
                    }
                    let Value::Array(existing) = target else { continue };
                    for item in items {
                        let id = &item[mk];
                        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                        match existing.iter().position(|e| e.get(mk) == Some(id)) {
                            Some(i) if delete => {
                                existing.remove(i);
                            }
                            Some(i) => strategic_merge(&mut existing[i], item, key),
                            None if delete => {}
                            None => {
                                let mut new = item.clone();
                                strip_directives(&mut new);
                                existing.push(new);
                            }
                        }
                    }
                }
                _ => {
                    let mut replacement = value.clone();
                    strip_directives(&mut replacement);
                    doc_map.insert(key.clone(), replacement);
                }
            },
            scalar => {
                doc_map.insert(key.clone(), scalar.clone());
            }
        }
    }
    let _ = field;
}

fn strip_directives(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !k.starts_with('$'));
            map.values_mut().for_each(strip_directives);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merge_merges_containers_by_name_and_null_deletes() {
        let mut doc = json!({"spec": {"unschedulable": true, "template": {"spec": {"containers": [
            {"name": "ball", "image": "v1", "resources": {"requests": {"cpu": "1"}}},
            {"name": "side", "image": "s1"}
        ]}}}});
        let patch = json!({"spec": {"unschedulable": null, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "ball"}, {"name": "side"}],
            "containers": [{"name": "ball", "image": "v2"}]
        }}}});
        apply(STRATEGIC, &mut doc, patch.to_string().as_bytes()).unwrap();
        assert_eq!(doc["spec"].get("unschedulable"), None);
        let containers = &doc["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0], json!({"name": "ball", "image": "v2", "resources": {"requests": {"cpu": "1"}}}));
        assert_eq!(containers[1]["image"], "s1");
    }

    #[test]
    fn merge_and_json_patches_and_unknown_types() {
        let mut doc = json!({"spec": {"replicas": 3}, "metadata": {"labels": {"a": "1"}}});
        apply(MERGE, &mut doc, br#"{"spec":{"replicas":5},"metadata":{"labels":{"a":null,"b":"2"}}}"#).unwrap();
        assert_eq!(doc, json!({"spec": {"replicas": 5}, "metadata": {"labels": {"b": "2"}}}));
        apply(JSON, &mut doc, br#"[{"op":"replace","path":"/spec/replicas","value":7}]"#).unwrap();
        assert_eq!(doc["spec"]["replicas"], 7);
        assert!(apply(JSON, &mut doc, br#"[{"op":"test","path":"/spec/replicas","value":1}]"#).is_err());
        assert_eq!(apply("text/plain", &mut doc, b"{}").unwrap_err().code.as_u16(), 415);
        assert_eq!(apply(MERGE, &mut doc, b"{not json").unwrap_err().code.as_u16(), 400);
    }
}
