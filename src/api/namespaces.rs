//! Namespaces: the three system ones (`default`, `kube-node-lease`, `kube-system`) always exist;
//! clients may create others and delete them, as on any cluster (`play --kubeconfig` creates
//! `pinsetter`, `kubectl create namespace x` works). Deleting one deletes every namespaced
//! object in it, as upstream's namespace controller does, and answers with the namespace
//! `Terminating`; here the contents go at once (pods on nodes a kubelet owns still go through
//! their graceful delete), so the namespace is gone when the answer arrives.
//!
//! Created namespaces live beside the World, in the API server, not in its store: they are not
//! watched, nor kept across a restart of `serve`.

use super::status::ApiError;
use super::{Api, Query, Target, table};
use crate::cluster::admission::NAMESPACES;
use crate::cluster::objects::meta::{FieldError, validate_dns_label};
use crate::cluster::objects::{Kind, Object};
use crate::cluster::store::ObjectKey;
use crate::world::{Answer, Request as WorldRequest};
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The namespaces clients created, by name, as the JSON they are served as.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    created: Arc<Mutex<BTreeMap<String, Value>>>,
    /// Numbers the created namespaces' uids and resourceVersions.
    serial: Arc<std::sync::atomic::AtomicU64>,
}

impl Namespaces {
    fn created(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Value>> {
        // A panic elsewhere cannot leave the map half-written: every change is one insert or remove.
        self.created.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The NamespaceLifecycle admission plugin: nothing is created in a namespace that doesn't
    /// exist (upstream answers 404 `namespaces "x" not found`).
    pub fn admit(&self, namespace: &str) -> Result<(), ApiError> {
        if NAMESPACES.contains(&namespace) || self.created().contains_key(namespace) {
            Ok(())
        } else {
            Err(ApiError::not_found("namespaces", namespace))
        }
    }
}

fn system(name: &str, epoch: crate::clock::Epoch) -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1",
        "metadata": {"name": name, "uid": format!("ns-{name}"), "resourceVersion": "1",
            "creationTimestamp": epoch.stamp(crate::clock::Millis::ZERO),
            "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

fn labels_of(namespace: &Value) -> BTreeMap<String, String> {
    namespace
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| labels.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

/// `/api/v1/namespaces[/NAME]`: get, list (with label selectors), create and delete.
pub(super) async fn route(
    api: &Api,
    method: &Method,
    target: &Target,
    query: &Query,
    table: bool,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reading = api.world.view().await?.reading();
    match (method.clone(), target.name.as_deref()) {
        (Method::GET, None) => {
            let mut all: Vec<Value> = NAMESPACES.iter().map(|n| system(n, reading.epoch)).collect();
            all.extend(api.namespaces.created().values().cloned());
            all.sort_by(|a, b| a["metadata"]["name"].as_str().cmp(&b["metadata"]["name"].as_str()));
            all.retain(|n| query.labels.matches(&labels_of(n)) && query.fields.matches(n));
            Ok(listed(all, table, reading))
        }
        (Method::GET, Some(name)) => {
            let namespace = find(api, name, reading.epoch).ok_or_else(|| ApiError::not_found("namespaces", name))?;
            Ok(listed_one(namespace, table, reading))
        }
        (Method::POST, None) => create(api, body, reading),
        (Method::DELETE, Some(name)) => delete(api, name).await,
        _ => Err(ApiError::method_not_allowed("namespaces may be read, created and deleted")),
    }
}

fn find(api: &Api, name: &str, epoch: crate::clock::Epoch) -> Option<Value> {
    if NAMESPACES.contains(&name) { Some(system(name, epoch)) } else { api.namespaces.created().get(name).cloned() }
}

fn row(namespace: &Value, reading: crate::clock::Reading) -> (Vec<Value>, Value) {
    let age = crate::cluster::objects::print::age(namespace["metadata"]["creationTimestamp"].as_str(), reading);
    (vec![namespace["metadata"]["name"].clone(), namespace["status"]["phase"].clone(), json!(age)], namespace.clone())
}

fn listed(all: Vec<Value>, table: bool, reading: crate::clock::Reading) -> Response {
    if table {
        let rows = all.iter().map(|n| row(n, reading)).collect();
        return super::json_response(StatusCode::OK, &table::table("namespaces", rows, 1, false));
    }
    super::json_response(
        StatusCode::OK,
        &json!({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": all}),
    )
}

fn listed_one(namespace: Value, table: bool, reading: crate::clock::Reading) -> Response {
    if table {
        return super::json_response(
            StatusCode::OK,
            &table::table("namespaces", vec![row(&namespace, reading)], 1, false),
        );
    }
    super::json_response(StatusCode::OK, &namespace)
}

fn create(api: &Api, body: Bytes, reading: crate::clock::Reading) -> Result<Response, ApiError> {
    let sent: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body of the request is not a Namespace: {e}")))?;
    let name = sent.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut errors: Vec<FieldError> = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::new("metadata.name", "Required value: name or generateName is required"));
    } else {
        validate_dns_label("metadata.name", &name, &mut errors);
    }
    if let Some(error) = errors.first() {
        let message = format!("{}: {}", error.field, error.message);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("Namespace {name:?} is invalid: {message}"),
        )
        .with_details(json!({"name": name, "kind": "Namespace",
            "causes": [{"reason": "FieldValueInvalid", "message": error.message, "field": error.field}]})));
    }
    let mut created = api.namespaces.created();
    if NAMESPACES.contains(&name.as_str()) || created.contains_key(&name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("namespaces {name:?} already exists"),
        )
        .with_details(json!({"name": name, "kind": "namespaces"})));
    }
    let serial = api.namespaces.serial.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let mut labels = labels_of(&sent);
    // Upstream's NamespaceDefaultLabelName: every namespace is selectable by its name.
    labels.insert("kubernetes.io/metadata.name".into(), name.clone());
    let mut metadata = json!({"name": name, "uid": format!("ns-{name}-{serial}"), "resourceVersion": serial.to_string(),
        "creationTimestamp": reading.epoch.stamp(reading.now), "labels": labels});
    if let Some(annotations) = sent.pointer("/metadata/annotations") {
        metadata["annotations"] = annotations.clone();
    }
    let namespace = json!({"kind": "Namespace", "apiVersion": "v1", "metadata": metadata,
        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
    created.insert(name, namespace.clone());
    Ok(super::json_response(StatusCode::CREATED, &namespace))
}

/// Deletes every namespaced object in `name`, then the namespace.
async fn delete(api: &Api, name: &str) -> Result<Response, ApiError> {
    if NAMESPACES.contains(&name) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("namespaces {name:?} is forbidden: this namespace may not be deleted"),
        )
        .with_details(json!({"name": name, "kind": "namespaces"})));
    }
    let Some(mut namespace) = api.namespaces.created().get(name).cloned() else {
        return Err(ApiError::not_found("namespaces", name));
    };
    let view = api.world.view().await?;
    for kind in Kind::ALL.into_iter().filter(|k| k.namespaced()) {
        let objects = view.list(kind, Some(name), None, None).map_err(|_| super::paging::expired())?;
        let keys: Vec<ObjectKey> = objects.items.iter().map(|o: &Arc<Object>| super::object_key(o)).collect();
        if keys.is_empty() {
            continue;
        }
        match api.world.write(WorldRequest::DeleteCollection { kind, keys }).await? {
            Answer::Objects(_) => {}
            other => return Err(super::unexpected(other)),
        }
    }
    api.namespaces.created().remove(name);
    let reading = view.reading();
    namespace["metadata"]["deletionTimestamp"] = json!(reading.epoch.stamp(reading.now));
    namespace["status"]["phase"] = json!("Terminating");
    Ok(super::json_response(StatusCode::OK, &namespace))
}
