//! Server-side apply (`PATCH` with `application/apply-patch+yaml`, what `kubectl apply
//! --server-side` sends): a missing object is created (201), the body may be YAML, `fieldManager`
//! is required, and each applier's fields are recorded in `metadata.managedFields` (FieldsV1), so
//! a second applier that would change a field the first set gets upstream's 409 naming it,
//! unless it forces and takes the field over.
//!
//! Without the OpenAPI schema upstream merges with, lists are merged by their strategic merge
//! key (`containers` by name, ...) and every other list is atomic. A field a manager stops
//! applying is removed unless another manager owns it too.

use super::patch::strategic_merge;
use super::status::ApiError;
use super::{
    Api, PATCH_ATTEMPTS, Target, WorldRequest, answered_object, check_yaml_depth, decode_body, json_response, key_of,
    off_the_workers, qualified, replace_request, to_json,
};
use crate::cluster::objects::meta::ManagedFieldsEntry;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde_json::{Map, Value, json};

/// One step of a FieldsV1 path: `f:<field>`, or `k:<key json>` for a list item by merge key.
type PathElement = String;

/// `fieldManager` (required) and `force`, from the query.
fn options(uri: &Uri) -> Result<(String, bool), ApiError> {
    let pairs: Vec<(String, String)> = axum::extract::Query::try_from_uri(uri).map(|q| q.0).unwrap_or_default();
    let manager = pairs.iter().find(|(k, _)| k == "fieldManager").map(|(_, v)| v.clone()).unwrap_or_default();
    let force = pairs.iter().any(|(k, v)| k == "force" && (v == "true" || v == "1"));
    if manager.is_empty() {
        let message = "Required value: is required for apply patch";
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: {message}"),
        )
        .with_details(json!({"group": "meta.k8s.io", "kind": "PatchOptions",
            "causes": [{"reason": "FieldValueRequired", "message": message, "field": "fieldManager"}]})));
    }
    Ok((manager, force))
}

/// The applied configuration: YAML (JSON is YAML too), an object of the URL's kind and name.
fn parse_config(body: &[u8], target: &Target) -> Result<Value, ApiError> {
    check_yaml_depth(body)?;
    let config: Value = serde_norway::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid YAML: {e}")))?;
    let Value::Object(map) = &config else {
        return Err(ApiError::bad_request("an applied configuration must be an object"));
    };
    let kind = target.info.kind_name;
    if map.get("kind").and_then(Value::as_str) != Some(kind) || map.get("apiVersion").and_then(Value::as_str).is_none()
    {
        return Err(ApiError::bad_request(format!("an applied {kind} must set apiVersion and kind: {kind}")));
    }
    let name = config["metadata"]["name"].as_str().unwrap_or("");
    if Some(name) != target.name.as_deref() {
        return Err(ApiError::bad_request("the name of the object does not match the name on the URL"));
    }
    Ok(config)
}

/// The merge key of a list field (as strategic merge uses), for `k:` path elements.
fn list_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "env" | "volumes" | "imagePullSecrets" | "ports" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "conditions" => Some("type"),
        "taints" => Some("key"),
        "ownerReferences" => Some("uid"),
        _ => None,
    }
}

/// Maps whose keys are data (so the map itself is a member, `.` in FieldsV1, as upstream shows).
fn is_map(field: &str) -> bool {
    matches!(field, "labels" | "annotations" | "matchLabels" | "nodeSelector" | "requests" | "limits")
}

/// FieldsV1 of an applied configuration: every field it sets, without the identity fields
/// upstream strips (`apiVersion`, `kind`, `metadata.name`/`namespace`/...) and without `status`.
pub fn fields_v1(config: &Value) -> Value {
    let mut top = config.as_object().cloned().unwrap_or_default();
    for identity in ["apiVersion", "kind", "status"] {
        top.remove(identity);
    }
    if let Some(Value::Object(meta)) = top.get_mut("metadata") {
        for identity in
            ["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"]
        {
            meta.remove(identity);
        }
        if meta.is_empty() {
            top.remove("metadata");
        }
    }
    fields_of(&Value::Object(top), "")
}

fn fields_of(value: &Value, field: &str) -> Value {
    let mut set = Map::new();
    match value {
        Value::Object(map) => {
            if is_map(field) {
                set.insert(".".into(), json!({}));
            }
            // An empty struct (`spec: {}`) sets nothing; an empty map is still set.
            let sets_something = |k: &str, v: &Value| !v.as_object().is_some_and(Map::is_empty) || is_map(k);
            for (k, v) in map.iter().filter(|(k, v)| sets_something(k, v)) {
                set.insert(format!("f:{k}"), fields_of(v, k));
            }
        }
        Value::Array(items) => {
            let Some(key) = list_key(field) else { return json!({}) };
            for item in items {
                let Some(k) = item.get(key) else { continue };
                let mut member = fields_of(item, "");
                if let Value::Object(m) = &mut member {
                    m.insert(".".into(), json!({}));
                }
                set.insert(format!("k:{}", json!({ (key): k })), member);
            }
        }
        _ => {}
    }
    Value::Object(set)
}

/// Every leaf of a FieldsV1 set (a field set with no members below it), as its path.
fn leaves(set: &Value) -> Vec<Vec<PathElement>> {
    fn walk(set: &Value, path: &mut Vec<PathElement>, out: &mut Vec<Vec<PathElement>>) {
        let members: Vec<(&String, &Value)> =
            set.as_object().into_iter().flatten().filter(|(k, _)| *k != ".").collect();
        if members.is_empty() {
            if !path.is_empty() {
                out.push(path.clone());
            }
            return;
        }
        for (k, v) in members {
            path.push(k.clone());
            walk(v, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    walk(set, &mut Vec::new(), &mut out);
    out
}

/// The value a path names in an object (`None` when absent).
fn value_at<'a>(doc: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut at = doc;
    for element in path {
        at = if let Some(field) = element.strip_prefix("f:") {
            at.get(field)?
        } else {
            let key: Map<String, Value> = serde_json::from_str(element.strip_prefix("k:")?).ok()?;
            at.as_array()?.iter().find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))?
        };
    }
    Some(at)
}

/// Whether a FieldsV1 set holds `path`.
fn owns(set: &Value, path: &[PathElement]) -> bool {
    path.iter().try_fold(set, |at, element| at.get(element)).is_some()
}

/// Removes from the live object what `manager` applied before (`previous`) and no longer applies
/// (`now`), unless another manager owns it too: upstream's apply drops such fields.
fn remove_unapplied(live: &mut Value, previous: &Value, now: &Value, others: &[&Value], path: &mut Vec<PathElement>) {
    let Some(members) = previous.as_object() else { return };
    for (element, below) in members.iter().filter(|(k, _)| *k != ".") {
        path.push(element.clone());
        let shared = others.iter().any(|set| owns(set, path));
        // A leaf, a map or a list item is owned as a whole; a struct on the way (`f:metadata`)
        // is not, and only what was applied below it goes.
        let whole = below.as_object().is_none_or(|m| m.is_empty() || m.contains_key("."));
        match now.get(element) {
            Some(still) => remove_unapplied(live, below, still, others, path),
            None if whole && !shared => remove_at(live, path),
            None => remove_unapplied(live, below, &json!({}), others, path),
        }
        path.pop();
    }
}

/// Removes the field or list item a path names from an object.
fn remove_at(doc: &mut Value, path: &[PathElement]) {
    let Some((last, parent)) = path.split_last() else { return };
    let mut at = doc;
    for element in parent {
        let next = if let Some(field) = element.strip_prefix("f:") {
            at.get_mut(field)
        } else {
            let key: Option<Map<String, Value>> = element.strip_prefix("k:").and_then(|k| serde_json::from_str(k).ok());
            match (key, at.as_array_mut()) {
                (Some(key), Some(items)) => {
                    items.iter_mut().find(|item| key.iter().all(|(k, v)| item.get(k) == Some(v)))
                }
                _ => None,
            }
        };
        let Some(next) = next else { return };
        at = next;
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = at.as_object_mut() {
            map.remove(field);
        }
    } else if let (Some(Ok(key)), Some(items)) =
        (last.strip_prefix("k:").map(serde_json::from_str::<Map<String, Value>>), at.as_array_mut())
    {
        items.retain(|item| !key.iter().all(|(k, v)| item.get(k) == Some(v)));
    }
}

/// Upstream's path notation: `.spec.template.spec.containers[name="web"].image`.
fn path_string(path: &[PathElement]) -> String {
    let mut text = String::new();
    for element in path {
        if let Some(field) = element.strip_prefix("f:") {
            text.push('.');
            text.push_str(field);
        } else if let Some(Ok(key)) = element.strip_prefix("k:").map(serde_json::from_str::<Map<String, Value>>) {
            let pairs: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
            text.push_str(&format!("[{}]", pairs.join(",")));
        }
    }
    text
}

/// Removes `path` (and any set left empty above it) from a FieldsV1 set.
fn remove_leaf(set: &mut Value, path: &[PathElement]) {
    let Some((first, rest)) = path.split_first() else { return };
    let Some(map) = set.as_object_mut() else { return };
    if rest.is_empty() {
        map.remove(first);
    } else if let Some(child) = map.get_mut(first) {
        remove_leaf(child, rest);
        if child.as_object().is_some_and(|c| c.keys().all(|k| k == ".")) {
            map.remove(first);
        }
    }
}

/// A conflict: another manager applied this field with a different value.
struct Conflict {
    manager: String,
    path: Vec<PathElement>,
}

/// Upstream's 409 for apply conflicts (`NewConflictError`): a cause per field, naming its manager.
fn conflict_error(conflicts: &[Conflict]) -> ApiError {
    let message = match conflicts {
        [one] => format!("Apply failed with 1 conflict: conflict with {:?}: {}", one.manager, path_string(&one.path)),
        many => {
            let mut managers: Vec<&str> = many.iter().map(|c| c.manager.as_str()).collect();
            managers.sort_unstable();
            managers.dedup();
            let mut lines = Vec::new();
            for manager in managers {
                lines.push(format!("conflicts with {manager:?}:"));
                for c in many.iter().filter(|c| c.manager == manager) {
                    lines.push(format!("- {}", path_string(&c.path)));
                }
            }
            format!("Apply failed with {} conflicts: {}", many.len(), lines.join("\n"))
        }
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {:?}", c.manager), "field": path_string(&c.path)})
        })
        .collect();
    ApiError::new(StatusCode::CONFLICT, "Conflict", message).with_details(json!({"causes": causes}))
}

/// Merges an applied configuration into the live object's JSON, recording `manager`'s fields;
/// other appliers' fields that would change are conflicts unless `force` hands them over.
pub fn merge_applied(
    live: &mut Value,
    config: &Value,
    manager: &str,
    force: bool,
    api_version: &str,
    time: String,
) -> Result<(), ApiError> {
    let fields = fields_v1(config);
    let mut entries: Vec<ManagedFieldsEntry> =
        serde_json::from_value(live["metadata"]["managedFields"].clone()).unwrap_or_default();
    let mut conflicts = Vec::new();
    for leaf in leaves(&fields) {
        for entry in entries.iter().filter(|e| e.manager != manager && e.operation == "Apply") {
            if owns(&entry.fields_v1, &leaf) && value_at(live, &leaf) != value_at(config, &leaf) {
                conflicts.push(Conflict { manager: entry.manager.clone(), path: leaf.clone() });
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for conflict in &conflicts {
        for entry in entries.iter_mut().filter(|e| e.manager == conflict.manager) {
            remove_leaf(&mut entry.fields_v1, &conflict.path);
        }
    }
    entries.retain(|e| e.manager == manager || e.fields_v1.as_object().is_some_and(|m| !m.is_empty()));
    let mut applied = config.clone();
    if let Some(Value::Object(meta)) = applied.get_mut("metadata") {
        // Identity and versions are the server's; a stale resourceVersion is not a precondition here.
        for server_owned in ["resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"] {
            meta.remove(server_owned);
        }
    }
    if let Some(previous) = entries.iter().find(|e| e.manager == manager && e.operation == "Apply") {
        let others: Vec<&Value> = entries.iter().filter(|e| e.manager != manager).map(|e| &e.fields_v1).collect();
        remove_unapplied(live, &previous.fields_v1, &fields, &others, &mut Vec::new());
    }
    strategic_merge(live, &applied, "");
    let entry = ManagedFieldsEntry {
        manager: manager.to_string(),
        operation: "Apply".into(),
        api_version: api_version.to_string(),
        time: Some(time),
        fields_type: "FieldsV1".into(),
        fields_v1: fields,
        subresource: String::new(),
    };
    match entries.iter_mut().find(|e| e.manager == manager && e.operation == "Apply") {
        Some(mine) => *mine = entry,
        None => entries.push(entry),
    }
    live["metadata"]["managedFields"] = serde_json::to_value(&entries).unwrap_or(Value::Null);
    Ok(())
}

pub(super) async fn server_side_apply(api: &Api, target: Target, uri: &Uri, body: Bytes) -> Result<Response, ApiError> {
    let kind = target.info.kind.ok_or_else(ApiError::path_not_found)?;
    let (manager, force) = options(uri)?;
    let parse_target = target.clone();
    let config = off_the_workers(move || parse_config(&body, &parse_target)).await?;
    let key = key_of(&target);
    let view = api.world.view().await?;
    // Read, merge, write back with the read resourceVersion as precondition (or create); a write
    // that lost a race is retried on the newer object, as kube-apiserver's GuaranteedUpdate does.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let snapshot = view.get(kind, &key);
        let api_version = config["apiVersion"].as_str().unwrap_or_default().to_string();
        let time = snapshot.now.epoch.stamp(snapshot.now.now);
        let created = snapshot.items.is_none();
        // Applying to `/status` writes an existing object's status only; it never creates.
        if created && target.sub.is_some() {
            return Err(ApiError::not_found(&qualified(target.info), &key.name));
        }
        let mut doc = match snapshot.items.as_deref() {
            Some(current) => to_json(current),
            None => json!({"apiVersion": api_version, "kind": target.info.kind_name,
                           "metadata": {"name": key.name}}),
        };
        merge_applied(&mut doc, &config, &manager, force, &api_version, time)?;
        let object = decode_body(&target, "application/json", doc.to_string().as_bytes())?;
        let (code, request) = if created {
            if target.info.namespaced {
                crate::cluster::admission::admit_namespace(object.meta().namespace())?;
            }
            (StatusCode::CREATED, WorldRequest::Create(Box::new(object)))
        } else {
            (StatusCode::OK, replace_request(&target, object))
        };
        match api.world.write(request).await {
            Err(e) if (e.code == StatusCode::CONFLICT) && attempts < PATCH_ATTEMPTS => {
                api.world.published_after(snapshot.resource_version).await?;
            }
            written => return Ok(json_response(code, &to_json(&answered_object(written?)?))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web"}},
      "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"web","image":"nginx:1"}]}}}}"#;

    #[test]
    fn fields_an_applier_stops_applying_are_removed_unless_another_owns_them() {
        let config: Value = serde_json::from_str(DEPLOYMENT).unwrap();
        let mut live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        merge_applied(&mut live, &config, "alice", false, "apps/v1", "T1".into()).unwrap();
        let mut smaller = config.clone();
        smaller["metadata"].as_object_mut().unwrap().remove("labels");
        smaller["spec"].as_object_mut().unwrap().remove("replicas");
        // bob shares replicas (same value), so only the labels go.
        let mut bob = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
        merge_applied(&mut live, &bob, "bob", false, "apps/v1", "T2".into()).unwrap();
        merge_applied(&mut live, &smaller, "alice", false, "apps/v1", "T3".into()).unwrap();
        assert!(live["metadata"].get("labels").is_none(), "{live}");
        assert_eq!(live["metadata"]["name"], "web", "only what was applied goes: {live}");
        assert_eq!(live["spec"]["replicas"], 2);
        assert_eq!(live["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1");
        bob["spec"] = json!({});
        merge_applied(&mut live, &bob, "bob", false, "apps/v1", "T4".into()).unwrap();
        assert!(live["spec"].get("replicas").is_none(), "{live}");
    }

    #[test]
    fn fields_v1_is_upstreams_shape() {
        let config: Value = serde_json::from_str(DEPLOYMENT).unwrap();
        assert_eq!(
            fields_v1(&config),
            json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                   "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                       "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
    }

    #[test]
    fn a_second_applier_conflicts_unless_it_forces() {
        let config: Value = serde_json::from_str(DEPLOYMENT).unwrap();
        let mut live = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
        merge_applied(&mut live, &config, "alice", false, "apps/v1", "T1".into()).unwrap();
        assert_eq!(live["spec"]["replicas"], 2);
        assert_eq!(live["metadata"]["managedFields"][0]["manager"], "alice");
        assert_eq!(live["metadata"]["managedFields"][0]["operation"], "Apply");

        // The same values are shared ownership, not a conflict.
        merge_applied(&mut live, &config, "bob", false, "apps/v1", "T2".into()).unwrap();
        let mut change = config.clone();
        change["spec"]["replicas"] = json!(5);
        change["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        let err = merge_applied(&mut live.clone(), &change, "carol", false, "apps/v1", "T3".into()).unwrap_err();
        assert_eq!(err.code, StatusCode::CONFLICT);
        assert!(
            err.message.starts_with("Apply failed with 4 conflicts: conflicts with \"alice\":\n- "),
            "{}",
            err.message
        );
        assert!(err.message.contains("- .spec.template.spec.containers[name=\"web\"].image"), "{}", err.message);
        assert_eq!(err.details["causes"][0]["reason"], "FieldManagerConflict");

        merge_applied(&mut live, &change, "carol", true, "apps/v1", "T3".into()).unwrap();
        assert_eq!(live["spec"]["replicas"], 5);
        let alice = &live["metadata"]["managedFields"][0];
        assert_eq!(alice["manager"], "alice");
        assert!(alice["fieldsV1"]["f:spec"].get("f:replicas").is_none(), "forced away: {alice}");
    }
}
