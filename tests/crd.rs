//! CustomResourceDefinitions over HTTP, driven with axum's `oneshot` as `tests/api.rs` does:
//! definitions validated and established as apiextensions-apiserver does, and the custom
//! resources they define served like any kind.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pinsetter::api;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::World;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower::ServiceExt;

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

/// A World owned by a thread that drains the inbox and steps time, as `serve` does.
struct Lane {
    router: Router,
    stop: Arc<AtomicBool>,
}

impl Drop for Lane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn lane() -> Lane {
    let (handle, inbox) = api::inbox();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    std::thread::spawn(move || {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        while !flag.load(Ordering::Relaxed) {
            inbox.drain(&mut world);
            world.step();
            while world.poll_output().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Lane { router: api::router(handle, "127.0.0.1:0".parse().unwrap()), stop }
}

async fn send(lane: &Lane, method: &str, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request =
        Request::builder().method(method).uri(uri).header("content-type", content_type).body(body.into()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())))
}

async fn get(lane: &Lane, uri: &str) -> (StatusCode, Value) {
    send(lane, "GET", uri, "application/json", Body::empty()).await
}

fn widgets() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Color", "type": "string", "jsonPath": ".spec.color", "priority": 1}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["replicas"], "properties": {
                        "replicas": {"type": "integer", "minimum": 0, "maximum": 10},
                        "color": {"type": "string", "enum": ["red", "blue"]},
                        "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
                        "tags": {"type": "array", "items": {"type": "string", "minLength": 2}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                    }},
                    "status": {"type": "object", "properties": {"ready": {"type": "integer"}}}
                }}}
            }]
        }
    })
}

/// Waits for the establishing controller (a few ticks) and returns the CRD.
async fn established(lane: &Lane, name: &str) -> Value {
    for _ in 0..500 {
        let (code, crd) = get(lane, &format!("{CRDS}/{name}")).await;
        assert_eq!(code, StatusCode::OK, "{crd}");
        if crd["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "Established")) {
            return crd;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("{name} was never established");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definition_is_validated_as_upstream_and_refused_whole() {
    let lane = lane();
    let mut bad = widgets();
    bad["metadata"]["name"] = json!("gadgets.example.com");
    bad["spec"]["scope"] = json!("Everywhere");
    bad["spec"]["versions"][0]["storage"] = json!(false);
    let (code, status) = send(&lane, "POST", CRDS, "application/json", bad.to_string()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "CustomResourceDefinition");
    assert_eq!(status["details"]["group"], "apiextensions.k8s.io");
    let causes: Vec<(&str, &str)> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["field"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        causes,
        [
            ("metadata.name", "FieldValueInvalid"),
            ("spec.scope", "FieldValueNotSupported"),
            ("spec.versions", "FieldValueInvalid"),
        ]
    );
    assert!(
        status["message"].as_str().unwrap().starts_with(
            "CustomResourceDefinition.apiextensions.k8s.io \"gadgets.example.com\" is invalid: metadata.name: Invalid value: \"gadgets.example.com\": must be spec.names.plural+\".\"+spec.group"
        ),
        "{status}"
    );
    let (_, list) = get(&lane, CRDS).await;
    assert_eq!(list["items"], json!([]), "nothing was written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_definition_is_established_and_discovered_as_a_crd() {
    let lane = lane();
    let (code, created) = send(&lane, "POST", CRDS, "application/json", widgets().to_string()).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    assert_eq!(created["spec"]["names"]["singular"], "widget", "defaulted");
    assert_eq!(created["spec"]["names"]["listKind"], "WidgetList", "defaulted");
    let crd = established(&lane, "widgets.example.com").await;
    let conditions: Vec<(&str, &str, &str)> = crd["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap(), c["status"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(conditions, [("NamesAccepted", "True", "NoConflicts"), ("Established", "True", "InitialNamesAccepted")]);
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    let (_, group) = get(&lane, "/apis/apiextensions.k8s.io/v1").await;
    let entry = group["resources"].as_array().unwrap().iter().find(|r| r["name"] == "customresourcedefinitions");
    assert_eq!(entry.unwrap()["shortNames"], json!(["crd", "crds"]));
}
