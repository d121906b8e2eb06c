//! Fields Pinsetter does not model are kept: an object POSTed with them comes back from GET with
//! every field it was sent, unchanged (the server may add fields, never drop or rewrite one).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use pinsetter::api;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::World;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tower::ServiceExt;

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

async fn send(lane: &Lane, method: &str, uri: &str, body: &Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Every field of `sent` is in `got` with the same value (objects recursively; arrays element
/// by element), so nothing was dropped or rewritten. Returns the first difference's path.
fn missing(sent: &Value, got: &Value, path: &str) -> Option<String> {
    match (sent, got) {
        (Value::Object(s), Value::Object(g)) => s.iter().find_map(|(k, v)| match g.get(k) {
            Some(gv) => missing(v, gv, &format!("{path}.{k}")),
            None => Some(format!("{path}.{k} dropped")),
        }),
        (Value::Array(s), Value::Array(g)) if s.len() == g.len() => {
            s.iter().zip(g).enumerate().find_map(|(i, (sv, gv))| missing(sv, gv, &format!("{path}[{i}]")))
        }
        _ if sent == got => None,
        _ => Some(format!("{path}: sent {sent}, got {got}")),
    }
}

/// POSTs `object` to `collection`, GETs it back and checks nothing sent was lost.
async fn round_trip(lane: &Lane, collection: &str, object: Value) -> Value {
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let (status, created) = send(lane, "POST", collection, &object).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, got) = send(lane, "GET", &format!("{collection}/{name}"), &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    for (what, answer) in [("create", &created), ("get", &got)] {
        if let Some(diff) = missing(&object["spec"], &answer["spec"], "spec") {
            panic!("{what} lost a field: {diff}\n{answer:#}");
        }
    }
    got
}

fn container() -> Value {
    json!({
        "name": "web", "image": "nginx:1.27",
        "command": ["nginx"], "args": ["-g", "daemon off;"],
        "workingDir": "/srv", "imagePullPolicy": "IfNotPresent",
        "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true, "mountPropagation": "None"}],
        "lifecycle": {
            "postStart": {"exec": {"command": ["sh", "-c", "echo up"]}},
            "preStop": {"httpGet": {"path": "/drain", "port": 8080}}
        },
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5, "failureThreshold": 2},
        "livenessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 3},
        "startupProbe": {"tcpSocket": {"port": 8080}, "successThreshold": 1},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "notAFieldUpstreamKnows": {"kept": [1, 2, 3]}
    })
}

fn pod_spec() -> Value {
    json!({
        "containers": [container()],
        "initContainers": [{"name": "init", "image": "busybox", "command": ["true"], "stdin": true}],
        "dnsPolicy": "ClusterFirst",
        "hostname": "web-a",
        "securityContext": {"fsGroup": 2000},
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}]}
                ]},
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
                ]
            },
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 50,
                "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                    "topologyKey": "kubernetes.io/hostname", "matchLabelKeys": ["pod-template-hash"]}}]}
        },
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}},
            "nodeTaintsPolicy": "Honor"}],
        "enableServiceLinks": false
    })
}

#[tokio::test]
async fn a_pod_keeps_every_field_it_was_sent() {
    let lane = lane();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "whole", "labels": {"app": "web"}}, "spec": pod_spec()});
    let got = round_trip(&lane, "/api/v1/namespaces/default/pods", pod).await;
    // Upstream's types read the fields we keep, typed or not.
    let theirs: core::Pod = serde_json::from_value(got).unwrap();
    let spec = theirs.spec.unwrap();
    let c = &spec.containers[0];
    assert_eq!(c.readiness_probe.as_ref().unwrap().period_seconds, Some(5));
    assert_eq!(c.security_context.as_ref().unwrap().run_as_non_root, Some(true));
    assert_eq!(
        c.lifecycle.as_ref().unwrap().pre_stop.as_ref().unwrap().http_get.as_ref().unwrap().path.as_deref(),
        Some("/drain")
    );
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.topology_spread_constraints.unwrap()[0].node_taints_policy.as_deref(), Some("Honor"));
}

#[tokio::test]
async fn deployments_replicasets_and_services_keep_every_field_they_were_sent() {
    let lane = lane();
    let template = json!({"metadata": {"labels": {"app": "kept"}}, "spec": pod_spec()});
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "kept"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kept"}}, "template": template,
            "revisionHistoryLimit": 4, "progressDeadlineSeconds": 120, "minReadySeconds": 2}});
    let got = round_trip(&lane, "/apis/apps/v1/namespaces/default/deployments", deployment).await;
    let theirs: apps::Deployment = serde_json::from_value(got).unwrap();
    assert_eq!(theirs.spec.unwrap().revision_history_limit, Some(4));

    let replicaset = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "kept-rs"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kept-rs"}}, "minReadySeconds": 5,
            "template": {"metadata": {"labels": {"app": "kept-rs"}}, "spec": pod_spec()}}});
    round_trip(&lane, "/apis/apps/v1/namespaces/default/replicasets", replicaset).await;

    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kept"},
        "spec": {"selector": {"app": "kept"}, "sessionAffinity": "ClientIP", "internalTrafficPolicy": "Local",
            "ports": [{"port": 80, "targetPort": 8080, "appProtocol": "http"}], "publishNotReadyAddresses": true}});
    let got = round_trip(&lane, "/api/v1/namespaces/default/services", service).await;
    let theirs: core::Service = serde_json::from_value(got).unwrap();
    assert_eq!(theirs.spec.unwrap().session_affinity.as_deref(), Some("ClientIP"));
}

#[tokio::test]
async fn a_node_keeps_every_field_it_was_sent() {
    let lane = lane();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kept-node"},
        "spec": {"providerID": "kind://docker/kept", "podCIDRs": ["10.244.9.0/24"], "configSource": {"x": 1}}});
    round_trip(&lane, "/api/v1/nodes", node).await;
}
