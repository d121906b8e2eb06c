//! The API server's handlers, driven with axum's `oneshot` (no socket): every route kubectl
//! uses and every error path, answered as Kubernetes answers them.

mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::lane::{Lane, lane, lane_with};
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

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

async fn send(lane: &Lane, method: &str, uri: &str, content_type: &str, body: impl Into<Body>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .header("accept", TABLE)
        .body(body.into())
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())))
}

async fn get(lane: &Lane, uri: &str) -> (StatusCode, Value) {
    let request = Request::builder().uri(uri).body(Body::empty()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

async fn resource_version(lane: &Lane) -> u64 {
    get(lane, "/api/v1/nodes").await.1["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

const DEPLOYMENT: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"lane"},
  "spec":{"replicas":2,"selector":{"matchLabels":{"app":"lane"}},
  "template":{"metadata":{"labels":{"app":"lane"}},"spec":{"containers":[{"name":"ball","image":"ball:1",
  "resources":{"requests":{"cpu":"100m","memory":"64Mi"}}}]}}}}"#;

#[tokio::test]
async fn discovery_is_what_kubectl_needs() {
    let lane = lane();
    let (code, version) = get(&lane, "/version").await;
    assert_eq!((code, version["major"].as_str(), version["minor"].as_str()), (StatusCode::OK, Some("1"), Some("32")));
    let (_, core) = get(&lane, "/api/v1").await;
    let resources = core["resources"].as_array().unwrap();
    let eviction = resources.iter().find(|r| r["name"] == "pods/eviction").expect("drain needs pods/eviction");
    assert_eq!(
        (eviction["group"].as_str(), eviction["version"].as_str(), eviction["kind"].as_str()),
        (Some("policy"), Some("v1"), Some("Eviction"))
    );
    let pods = resources.iter().find(|r| r["name"] == "pods").unwrap();
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["categories"], json!(["all"]));
    let (_, groups) = get(&lane, "/apis").await;
    assert!(groups["groups"].as_array().unwrap().iter().any(|g| g["name"] == "apps"));
    let (_, apps) = get(&lane, "/apis/apps/v1").await;
    assert!(apps["resources"].as_array().unwrap().iter().any(|r| r["name"] == "deployments/scale"));
    let (_, openapi) = get(&lane, "/openapi/v3/apis/apps/v1").await;
    let doc = openapi.to_string();
    assert!(doc.contains("fieldValidation") && doc.contains("\"kind\":\"Deployment\""));
    assert_eq!(get(&lane, "/apis/nope/v1").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn tables_have_upstreams_columns_and_lists_carry_a_resource_version() {
    let lane = lane();
    let (code, table) = send(&lane, "GET", "/api/v1/nodes", "application/json", Body::empty()).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(table["kind"], "Table");
    let names: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(&names[..5], ["Name", "Status", "Roles", "Age", "Version"]);
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["cells"][1], "Ready");
    assert_eq!(rows[0]["object"]["kind"], "PartialObjectMetadata");
    let (_, pods) = send(&lane, "GET", "/api/v1/namespaces/default/pods", "application/json", Body::empty()).await;
    let names: Vec<&str> =
        pods["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    let (_, list) = get(&lane, "/api/v1/pods?fieldSelector=spec.nodeName=pin-1,status.phase!=Failed").await;
    assert_eq!(list["kind"], "PodList");
    assert!(list["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() > 0);
    let items = list["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.iter().all(|p| p["spec"]["nodeName"] == "pin-1"));
    let (_, selected) =
        get(&lane, "/apis/apps/v1/namespaces/default/deployments?labelSelector=app%20in%20(web,api)").await;
    assert_eq!(selected["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn errors_are_status_objects_and_bad_bodies_change_nothing() {
    let lane = lane();
    let (code, status) = get(&lane, "/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(
        (code, status["kind"].as_str(), status["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("Status"), Some("NotFound"))
    );
    assert_eq!(status["message"], "pods \"nope\" not found");

    // Heartbeats write leases meanwhile, so compare what these requests could have written.
    let quiet = || async {
        (get(&lane, "/apis/apps/v1/namespaces/default/deployments").await.1["items"].clone(), {
            let mut node = get(&lane, "/api/v1/nodes/pin-1").await.1;
            node["metadata"]["resourceVersion"].take();
            node["status"].take();
            node
        })
    };
    let before = quiet().await;
    let url = "/apis/apps/v1/namespaces/default/deployments";
    let (code, s) = send(&lane, "POST", url, "application/json", "{not json").await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")));
    let (code, _) =
        send(&lane, "POST", url, "application/json", r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"}}"#)
            .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let invalid = DEPLOYMENT.replace("\"replicas\":2", "\"replicas\":-1");
    let (code, s) = send(&lane, "POST", url, "application/json", invalid).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")));
    assert_eq!(s["details"]["causes"][0]["field"], "spec.replicas");
    let (code, s) = send(&lane, "POST", url, "text/plain", DEPLOYMENT).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("UnsupportedMediaType")));
    let huge = vec![b' '; api::MAX_BODY_BYTES + 1];
    let (code, _) = send(&lane, "POST", url, "application/json", huge).await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);
    let (code, _) = send(&lane, "PATCH", "/api/v1/nodes/pin-1", "application/merge-patch+json", "{oops").await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    assert_eq!(quiet().await, before, "refused requests must not write");

    let (code, _) = send(&lane, "POST", url, "application/json", DEPLOYMENT).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, s) = send(&lane, "POST", url, "application/json", DEPLOYMENT).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::CONFLICT, Some("AlreadyExists")));
}

/// Issue 9, finding 1: a body whose `metadata` is not an object once panicked the World's
/// thread (PATCH) or a handler (POST). Now it is a 400 and the server goes on serving.
#[tokio::test]
async fn metadata_that_is_not_an_object_is_refused_and_the_server_lives_on() {
    let lane = lane();
    let web = "/apis/apps/v1/namespaces/default/deployments/web";
    for (method, uri, content_type, body) in [
        ("PATCH", web, "application/merge-patch+json", r#"{"metadata":"x"}"#),
        ("PATCH", web, "application/json-patch+json", r#"[{"op":"replace","path":"/metadata","value":"x"}]"#),
        ("PATCH", web, "application/strategic-merge-patch+json", r#"{"metadata":["x"]}"#),
        ("PATCH", web, "application/merge-patch+json", r#"{"metadata":{"namespace":7}}"#),
        ("POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", r#"{"metadata":"x"}"#),
        ("PUT", web, "application/json", r#"{"metadata":"x"}"#),
    ] {
        let (code, status) = send(&lane, method, uri, content_type, body).await;
        assert_eq!(
            (code, status["kind"].as_str(), status["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("Status"), Some("BadRequest")),
            "{method} {body}: {status}"
        );
        let (code, web) = get(&lane, web).await;
        assert_eq!((code, &web["spec"]["replicas"]), (StatusCode::OK, &json!(12)), "still serving, unchanged");
    }
}

#[tokio::test]
async fn writes_behave_like_kube_apiserver() {
    let lane = lane();
    // PUT with a stale resourceVersion is a Conflict.
    let (_, node) = get(&lane, "/api/v1/nodes/pin-2").await;
    let mut stale = node.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    stale["metadata"]["labels"]["x"] = json!("y");
    let (code, s) = send(&lane, "PUT", "/api/v1/nodes/pin-2", "application/json", stale.to_string()).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::CONFLICT, Some("Conflict")));

    // cordon: a strategic merge patch.
    let (code, patched) = send(
        &lane,
        "PATCH",
        "/api/v1/nodes/pin-2",
        "application/strategic-merge-patch+json",
        r#"{"spec":{"unschedulable":true}}"#,
    )
    .await;
    assert_eq!((code, patched["spec"]["unschedulable"].as_bool()), (StatusCode::OK, Some(true)));

    // scale: a merge patch on the scale subresource.
    let (code, scale) = send(
        &lane,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":5}}"#,
    )
    .await;
    assert_eq!(
        (code, scale["kind"].as_str(), scale["spec"]["replicas"].as_i64()),
        (StatusCode::OK, Some("Scale"), Some(5))
    );
    let (_, web) = get(&lane, "/apis/apps/v1/namespaces/default/deployments/web").await;
    assert_eq!(web["spec"]["replicas"], 5);

    // eviction (drain): 201 Success, then the pod is terminating.
    let (_, pods) = get(&lane, "/api/v1/pods?fieldSelector=spec.nodeName=pin-1").await;
    let name = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let eviction =
        json!({"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": name, "namespace": "default"}});
    let (code, s) = send(
        &lane,
        "POST",
        &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
        "application/json",
        eviction.to_string(),
    )
    .await;
    assert_eq!((code, s["status"].as_str()), (StatusCode::CREATED, Some("Success")));
    let (_, pod) = get(&lane, &format!("/api/v1/namespaces/default/pods/{name}")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_string() || pod["kind"] == "Status");

    // JSON patch, and its failing `test` op is refused without a write.
    let before = resource_version(&lane).await;
    let (code, _) = send(
        &lane,
        "PATCH",
        "/api/v1/nodes/pin-3",
        "application/json-patch+json",
        r#"[{"op":"test","path":"/metadata/name","value":"pin-9"}]"#,
    )
    .await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resource_version(&lane).await >= before);

    // logs are text.
    let request = Request::builder()
        .uri(format!("/api/v1/namespaces/default/pods/{}/log", pods["items"][1]["metadata"]["name"].as_str().unwrap()))
        .body(Body::empty())
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain");
}

#[tokio::test]
async fn watch_streams_the_current_state_then_changes() {
    let lane = lane();
    let request = Request::builder()
        .uri("/api/v1/namespaces/default/pods?watch=true&resourceVersion=0&labelSelector=app%3Dcache")
        .body(Body::empty())
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/json");
    let mut body = response.into_body();
    let mut lines: Vec<Value> = Vec::new();
    // Three cache pods arrive as ADDED; then scaling cache to 4 adds one more.
    let mut scaled = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while lines.iter().filter(|l| l["type"] == "ADDED").count() < 4 {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("watch went quiet").unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            for line in String::from_utf8_lossy(&data).lines() {
                lines.push(serde_json::from_str(line).unwrap());
            }
        }
        if !scaled && lines.len() >= 3 {
            scaled = true;
            let (code, _) = send(
                &lane,
                "PATCH",
                "/apis/apps/v1/namespaces/default/deployments/cache/scale",
                "application/merge-patch+json",
                r#"{"spec":{"replicas":4}}"#,
            )
            .await;
            assert_eq!(code, StatusCode::OK);
        }
    }
    assert!(lines.iter().all(|l| l["object"]["metadata"]["labels"]["app"] == "cache"), "the selector filters events");
}

#[tokio::test]
async fn a_watch_from_a_forgotten_resource_version_is_told_it_expired() {
    let lane = lane_with(|world| world.set_change_log_capacity(16));
    let request = Request::builder().uri("/api/v1/nodes?watch=true&resourceVersion=1").body(Body::empty()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "kube-apiserver answers 200, then an ERROR event");
    let bytes = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
        .await
        .expect("the stream ends")
        .unwrap()
        .to_bytes();
    let event: Value = serde_json::from_slice(bytes.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(event["type"], "ERROR");
    assert_eq!((event["object"]["code"].as_u64(), event["object"]["reason"].as_str()), (Some(410), Some("Expired")));
}

/// Fuzz-style: random bodies, content types, selectors and patches never make the server
/// answer 5xx, and a refused request never writes.
#[test]
fn random_requests_never_panic_and_never_partially_write() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lane = lane();
    let paths = prop::sample::select(vec![
        "/api/v1/namespaces/default/pods",
        "/api/v1/namespaces/default/pods/x",
        "/api/v1/nodes/pin-1",
        "/api/v1/nodes",
        "/apis/apps/v1/namespaces/default/deployments",
        "/apis/apps/v1/namespaces/default/deployments/web",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "/api/v1/namespaces/default/pods?labelSelector=",
        "/api/v1/pods?fieldSelector=",
    ]);
    let methods = prop::sample::select(vec!["POST", "PUT", "PATCH", "GET"]);
    let types = prop::sample::select(vec![
        "application/json",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/vnd.kubernetes.protobuf",
        "application/yaml",
        "text/plain",
    ]);
    let json_ish = prop_oneof![
        any::<Vec<u8>>(),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        Just(br#"{"spec":{"replicas":"many"}}"#.to_vec()),
        Just(br#"{"spec":{"unschedulable":"yes"}}"#.to_vec()),
        Just(br#"[{"op":"remove","path":"/metadata"}]"#.to_vec()),
        Just(br#"{"metadata":"x"}"#.to_vec()),
        Just(br#"[{"op":"replace","path":"/metadata","value":"x"}]"#.to_vec()),
        Just(br#"{"metadata":{"namespace":7}}"#.to_vec()),
        Just(br#"{"metadata":{"name":"Bad Name"}}"#.to_vec()),
        Just(b"k8s\0\x0a\x02zz".to_vec()),
    ];
    let mut runner = TestRunner::new(Config { cases: 200, ..Config::default() });
    runner
        .run(&(paths, methods, types, json_ish, "[ -~]{0,12}"), |(path, method, content_type, body, selector)| {
            runtime.block_on(async {
                let before = resource_version(&lane).await;
                let uri = if path.ends_with('=') {
                    format!(
                        "{path}{}",
                        selector
                            .bytes()
                            .map(|b| if b.is_ascii_alphanumeric() {
                                (b as char).to_string()
                            } else {
                                format!("%{b:02X}")
                            })
                            .collect::<String>()
                    )
                } else {
                    path.to_string()
                };
                let request = Request::builder()
                    .method(method)
                    .uri(&uri)
                    .header("content-type", content_type)
                    .body(Body::from(body))
                    .unwrap();
                let response = lane.router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                prop_assert!(!status.is_server_error(), "{method} {uri} ({content_type}) answered {status}");
                if !status.is_success() {
                    // The World keeps stepping (heartbeats write leases), so compare a quiet
                    // view: the deployments and nodes that requests could have touched.
                    let after = resource_version(&lane).await;
                    prop_assert!(after >= before);
                    let (_, web) = get(&lane, "/apis/apps/v1/namespaces/default/deployments/web").await;
                    prop_assert_eq!(&web["spec"]["replicas"], &json!(12));
                    let (_, node) = get(&lane, "/api/v1/nodes/pin-1").await;
                    prop_assert!(node["spec"]["unschedulable"].is_null());
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Issue 9, finding 3: a Scale body of another kind, name or namespace is refused as
/// kube-apiserver refuses it, and nothing is scaled.
#[tokio::test]
async fn a_scale_body_must_be_a_scale_for_the_deployment_on_the_url() {
    let lane = lane();
    let url = "/apis/apps/v1/namespaces/default/deployments/web/scale";
    for (body, says) in [
        (
            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 3}}),
            "Pod in version \"v1\" cannot be handled as a Scale",
        ),
        (
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "api", "namespace": "default"}, "spec": {"replicas": 3}}),
            "the name of the object (api) does not match the name on the URL (web)",
        ),
        (
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web", "namespace": "kube-system"}, "spec": {"replicas": 3}}),
            "the namespace of the object (kube-system) does not match the namespace on the URL (default)",
        ),
        (json!({"spec": {"replicas": 3}}), "the name of the object () does not match the name on the URL (web)"),
    ] {
        let (code, status) = send(&lane, "PUT", url, "application/json", body.to_string()).await;
        assert_eq!((code, status["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")), "{body}");
        assert!(status["message"].as_str().unwrap().contains(says), "{body}: {status}");
        let (_, web) = get(&lane, "/apis/apps/v1/namespaces/default/deployments/web").await;
        assert_eq!(web["spec"]["replicas"], json!(12), "{body} must not scale");
    }
    let good = json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": {"name": "web", "namespace": "default"}, "spec": {"replicas": 3}});
    let (code, scale) = send(&lane, "PUT", url, "application/json", good.to_string()).await;
    assert_eq!((code, scale["spec"]["replicas"].as_i64()), (StatusCode::OK, Some(3)));
}

/// Issue 9, finding 4: errors axum produces itself (413 body limit, 405 method router, 400 from
/// the WebSocket extractor) come back as `Status` objects in JSON, as every other error does.
#[tokio::test]
async fn errors_from_the_framework_are_status_objects_too() {
    let lane = lane();
    let huge = vec![b' '; api::MAX_BODY_BYTES + 1];
    for (method, uri, body, code, reason) in [
        ("POST", "/api/v1/namespaces/default/pods", huge, StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge"),
        ("POST", "/pins/join", vec![], StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed"),
        ("GET", "/pins/join", vec![], StatusCode::BAD_REQUEST, "BadRequest"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(Body::from(body));
        let response = lane.router.clone().oneshot(request.unwrap()).await.unwrap();
        assert_eq!(response.status(), code, "{method} {uri}");
        assert_eq!(response.headers()["content-type"], "application/json", "{method} {uri}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let status: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (status["kind"].as_str(), status["reason"].as_str(), status["code"].as_u64()),
            (Some("Status"), Some(reason), Some(u64::from(code.as_u16()))),
            "{method} {uri}: {status}"
        );
        assert!(!status["message"].as_str().unwrap().is_empty());
    }
}

/// Issue 9, finding 9: a watcher that stops reading while many changes happen is ended with a
/// 410 Expired ERROR event once its bounded queue is full, instead of buffering without limit.
#[tokio::test]
async fn a_watcher_that_falls_too_far_behind_is_ended_with_410() {
    let mut lane = lane();
    let (handle, inbox) = api::inbox();
    // A second World owner for a router with a small watch queue (the lane's router keeps its own).
    let stop = lane.stop.clone();
    std::thread::spawn(move || {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        while !stop.load(Ordering::Relaxed) {
            inbox.drain(&mut world);
            world.step();
            while world.poll_output().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let limits = api::Limits { watch_queue: 20, ..api::Limits::default() };
    lane.router = api::router_with_limits(handle, "127.0.0.1:0".parse().unwrap(), &api::Security::default(), limits);
    let rv = resource_version(&lane).await;
    let request =
        Request::builder().uri(format!("/api/v1/pods?watch=true&resourceVersion={rv}")).body(Body::empty()).unwrap();
    let watch = lane.router.clone().oneshot(request).await.unwrap();
    assert_eq!(watch.status(), StatusCode::OK);
    // The watch is not read while 40 pods are created (80+ pod changes).
    let (code, _) = send(
        &lane,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":52}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    loop {
        let (_, web) = get(&lane, "/apis/apps/v1/namespaces/default/deployments/web").await;
        if web["status"]["replicas"].as_i64() == Some(52) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the watcher's poll (every 500 ms at most) time to see the changes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bytes = tokio::time::timeout(Duration::from_secs(30), watch.into_body().collect())
        .await
        .expect("the stream ends")
        .unwrap()
        .to_bytes();
    let events: Vec<Value> =
        bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    assert!(events.len() <= 21, "at most the queue and the error: {}", events.len());
    let last = events.last().unwrap();
    assert_eq!(last["type"], "ERROR");
    assert_eq!((last["object"]["code"].as_u64(), last["object"]["reason"].as_str()), (Some(410), Some("Expired")));
    assert!(last["object"]["message"].as_str().unwrap().contains("fell more than 20 events behind"), "{last}");
}

/// Issue 9, finding 5: a 30,000-level nested YAML body is refused by a byte scan before the
/// (quadratic) parser sees it; shallow YAML still creates.
#[tokio::test]
async fn deeply_nested_yaml_is_refused_before_parsing() {
    let lane = lane();
    let url = "/apis/apps/v1/namespaces/default/deployments";
    // Leases are renewed meanwhile (the control plane's every retry period), so compare what
    // these requests could have written: the Deployments.
    let deployments = || async { get(&lane, "/apis/apps/v1/namespaces/default/deployments").await.1["items"].clone() };
    let before = deployments().await;
    let depth = 30_000;
    for body in [
        format!("metadata: {{name: deep}}\nspec: {}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("metadata: {{name: deep}}\nspec:\n{}x", "- ".repeat(depth)),
        format!("spec: \"\\\\\" {}", "{a: ".repeat(depth)),
    ] {
        let (code, status) = send(&lane, "POST", url, "application/yaml", body).await;
        assert_eq!((code, status["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")), "{status}");
        assert!(status["message"].as_str().unwrap().contains("nests deeper than 100 levels"), "{status}");
    }
    assert_eq!(deployments().await, before, "refused bodies write nothing");
    let yaml = "metadata:\n  name: shallow\n  labels: {app: shallow}\n  annotations: {note: \"[[[[ {{{{\"}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: shallow}\n  template:\n    metadata:\n      labels: {app: shallow}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    let (code, status) = send(&lane, "POST", url, "application/yaml", yaml).await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
}

/// Issue 9, finding 6: what kube-apiserver refuses is refused with its codes, messages and
/// field paths, and nothing is written.
#[tokio::test]
async fn validation_gaps_upstream_refuses_are_refused() {
    let lane = lane();
    let pod = |name: &str, container: &str, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations},
               "spec": {"containers": [{"name": container, "image": "nginx"}]}})
        .to_string()
    };
    let (code, status) =
        send(&lane, "POST", "/api/v1/namespaces/nowhere/pods", "application/json", pod("p", "c", json!({}))).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")), "{status}");
    assert_eq!(status["message"], "namespaces \"nowhere\" not found");

    let (code, status) =
        send(&lane, "POST", "/api/v1/namespaces/default/pods", "application/json", pod("p", "Bad_Name", json!({})))
            .await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")), "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.containers[0].name");
    assert!(status["message"].as_str().unwrap().contains("Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"));

    let big = json!({"a": "x".repeat(200 * 1024), "b": "y".repeat(100 * 1024)});
    let (code, status) =
        send(&lane, "POST", "/api/v1/namespaces/default/pods", "application/json", pod("p", "c", big)).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")), "{status}");
    assert_eq!(
        status["message"],
        "Pod \"p\" is invalid: metadata.annotations: Too long: must have at most 262144 bytes"
    );
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueTooLong");

    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "noports"},
                         "spec": {"type": "ClusterIP", "selector": {"app": "web"}}});
    let (code, status) =
        send(&lane, "POST", "/api/v1/namespaces/default/services", "application/json", service.to_string()).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")), "{status}");
    assert_eq!(status["message"], "Service \"noports\" is invalid: spec.ports: Required value");
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueRequired");
    for refused in ["/api/v1/namespaces/default/pods/p", "/api/v1/namespaces/default/services/noports"] {
        assert_eq!(get(&lane, refused).await.0, StatusCode::NOT_FOUND, "refused requests must not write");
    }

    let (code, status) = send(
        &lane,
        "POST",
        "/api/v1/namespaces/kube-system/pods",
        "application/json",
        pod("ok", "c-1", json!({"a": "b"})),
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{status}");
}

/// A view of what only requests change (controllers and heartbeats don't): specs of
/// deployments, services and nodes (but their taints), and pods no controller owns (but
/// their binding).
async fn request_owned_state(lane: &Lane) -> Vec<Value> {
    let mut view = Vec::new();
    for uri in ["/apis/apps/v1/deployments", "/api/v1/services", "/api/v1/nodes", "/api/v1/pods"] {
        let (_, list) = get(lane, uri).await;
        for item in list["items"].as_array().into_iter().flatten() {
            // Controllers' pods, and pods a kubelet is finishing deleting, change on their own.
            let pod = uri.ends_with("pods");
            if pod
                && (item["metadata"]["ownerReferences"].is_array() || item["metadata"]["deletionTimestamp"].is_string())
            {
                continue;
            }
            let mut spec = item["spec"].clone();
            if pod && let Some(spec) = spec.as_object_mut() {
                // The scheduler binds.
                spec.remove("nodeName");
            }
            if uri.ends_with("nodes")
                && let Some(spec) = spec.as_object_mut()
            {
                // The node lifecycle controller taints nodes with no kubelet.
                spec.remove("taints");
            }
            view.push(json!([
                item["metadata"]["namespace"],
                item["metadata"]["name"],
                item["metadata"]["labels"],
                spec
            ]));
        }
    }
    view
}

fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "",
            "default",
            "web",
            "Pod",
            "v1",
            "None",
            "ClusterIP",
            "-1",
            "1e9",
            "$patch",
            "replace"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "metadata",
                    "spec",
                    "status",
                    "name",
                    "namespace",
                    "kind",
                    "apiVersion",
                    "replicas",
                    "containers",
                    "labels",
                    "annotations",
                    "ports",
                    "selector",
                    "op",
                    "path",
                    "value",
                    "image",
                    "resources",
                    "x",
                ])
                .prop_map(String::from),
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The long fuzz run over request decoding and patching (issue 9): every write route and
/// content type, with random bytes, random JSON, and valid objects with one field replaced by
/// a random value. No 5xx, no panic, and a refused request changes nothing.
/// `PROPTEST_CASES=20000 cargo test --release --test api fuzz -- --ignored --nocapture`
#[test]
#[ignore = "long: run by hand with PROPTEST_CASES"]
fn fuzz_request_decoding_and_patching() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(2000);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let lane = lane();
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fz","namespace":"default","labels":{"app":"fz"}},"spec":{"containers":[{"name":"c","image":"i"}]}}"#;
    let service = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"fz"},"spec":{"selector":{"app":"fz"},"ports":[{"port":80}]}}"#;
    let node = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"fz"},"spec":{}}"#;
    let scale = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":3}}"#;
    let templates: Vec<Value> =
        [pod, service, node, scale, DEPLOYMENT].iter().map(|t| serde_json::from_str(t).unwrap()).collect();
    let routes = prop::sample::select(vec![
        ("POST", "/api/v1/namespaces/default/pods"),
        ("POST", "/api/v1/namespaces/nowhere/pods"),
        ("PUT", "/api/v1/namespaces/default/pods/fz"),
        ("PATCH", "/api/v1/namespaces/default/pods/fz"),
        ("PATCH", "/api/v1/namespaces/default/pods/fz/status"),
        ("DELETE", "/api/v1/namespaces/default/pods/fz"),
        ("POST", "/api/v1/namespaces/default/pods/fz/eviction"),
        ("POST", "/api/v1/nodes"),
        ("PUT", "/api/v1/nodes/pin-1"),
        ("PATCH", "/api/v1/nodes/pin-1"),
        ("PATCH", "/api/v1/nodes/pin-1/status"),
        ("POST", "/api/v1/namespaces/default/services"),
        ("PUT", "/api/v1/namespaces/default/services/fz"),
        ("PATCH", "/api/v1/namespaces/default/services/fz"),
        ("POST", "/apis/apps/v1/namespaces/default/deployments"),
        ("PUT", "/apis/apps/v1/namespaces/default/deployments/web"),
        ("PATCH", "/apis/apps/v1/namespaces/default/deployments/web"),
        ("PUT", "/apis/apps/v1/namespaces/default/deployments/web/scale"),
        ("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale"),
        ("DELETE", "/apis/apps/v1/namespaces/default/deployments/lane"),
    ]);
    let types = prop::sample::select(vec![
        "application/json",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/json-patch+json",
        "application/apply-patch+yaml",
        "",
        "text/plain",
    ]);
    let mutated = (0..templates.len(), prop::collection::vec("[a-z]{1,10}", 1..4), arbitrary_json()).prop_map(
        move |(t, path, value)| {
            let mut doc = templates[t].clone();
            let mut at = &mut doc;
            for key in &path[..path.len() - 1] {
                if !at.is_object() {
                    break;
                }
                at = at.as_object_mut().unwrap().entry(key.clone()).or_insert_with(|| json!({}));
            }
            if let Some(map) = at.as_object_mut() {
                map.insert(path[path.len() - 1].clone(), value);
            }
            doc.to_string().into_bytes()
        },
    );
    let bodies = prop_oneof![
        any::<Vec<u8>>(),
        arbitrary_json().prop_map(|v| v.to_string().into_bytes()),
        mutated,
        (arbitrary_json(), "[ -~]{1,8}").prop_map(|(v, path)| {
            json!([{"op": "replace", "path": format!("/{path}"), "value": v}]).to_string().into_bytes()
        }),
        "([\\[{\"':, a-z0-9-]|\n){0,200}".prop_map(String::into_bytes),
    ];
    // Counted across shrinking too: every request sent is an input run.
    let (run, refused) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    let codes = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u64>::new());
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&(routes, types, bodies), |((method, uri), content_type, body)| {
        runtime.block_on(async {
            let before = request_owned_state(&lane).await;
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .header("content-type", content_type)
                .body(Body::from(body.clone()))
                .unwrap();
            let response = lane.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            run.set(run.get() + 1);
            *codes.borrow_mut().entry(status.as_u16()).or_default() += 1;
            prop_assert!(
                !status.is_server_error(),
                "{method} {uri} ({content_type}) answered {status}: {} for {}",
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&body)
            );
            if !status.is_success() {
                refused.set(refused.get() + 1);
                let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                prop_assert_eq!(&reply["kind"], &json!("Status"), "{} {}: {}", method, uri, reply);
                prop_assert_eq!(
                    request_owned_state(&lane).await,
                    before,
                    "{} {} ({}) was refused ({}) but wrote",
                    method,
                    uri,
                    content_type,
                    status
                );
            }
            Ok(())
        })
    });
    println!("fuzz: {} requests, {} refused, by status: {:?}", run.get(), refused.get(), codes.borrow());
    result.unwrap();
}

/// Reads the lines of a watch until `enough` says so (or 20 s pass: then the test fails).
async fn watch_lines(response: axum::response::Response, enough: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut body = response.into_body();
    let mut lines: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !enough(&lines) {
        let frame = tokio::time::timeout_at(deadline, body.frame()).await.expect("watch went quiet").unwrap().unwrap();
        if let Ok(data) = frame.into_data() {
            for line in String::from_utf8_lossy(&data).lines() {
                lines.push(serde_json::from_str(line).unwrap());
            }
        }
    }
    lines
}

/// Issue 10: GET, list and watch are served from the published read view, so they answer while
/// the World's owner is busy (here: it published once and then never drains again).
#[tokio::test]
async fn reads_answer_while_the_worlds_owner_is_busy() {
    let (handle, inbox) = api::inbox();
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    for _ in 0..200 {
        world.step();
    }
    inbox.drain(&mut world);
    // The owner keeps the inbox and the World but never drains again.
    let _busy_owner = (inbox, world);
    let lane =
        Lane { router: api::router(handle, "127.0.0.1:0".parse().unwrap()), stop: Arc::new(AtomicBool::new(false)) };
    let answer = |uri: &'static str| {
        let lane = &lane;
        async move {
            tokio::time::timeout(Duration::from_secs(10), get(lane, uri)).await.expect("answered without the World")
        }
    };
    let (code, node) = answer("/api/v1/nodes/pin-1").await;
    assert_eq!((code, node["metadata"]["name"].as_str()), (StatusCode::OK, Some("pin-1")));
    let (code, pods) = answer("/api/v1/namespaces/default/pods").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(pods["items"].as_array().unwrap().len(), 46);
    let (code, scale) = answer("/apis/apps/v1/namespaces/default/deployments/web/scale").await;
    assert_eq!((code, scale["kind"].as_str()), (StatusCode::OK, Some("Scale")));
    let request = Request::builder().uri("/api/v1/nodes?watch=true").body(Body::empty()).unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let lines = watch_lines(response, |lines| lines.len() == 10).await;
    assert!(lines.iter().all(|l| l["type"] == "ADDED"), "{lines:?}");
}

/// Issue 11: a watch started from a list's resourceVersion reports objects created after the
/// list as ADDED (upstream's cacher: no previous object, so ADDED), and every event comes in
/// resourceVersion order.
#[tokio::test]
async fn a_watch_from_a_lists_resource_version_sees_later_objects_as_added_in_order() {
    let lane = lane();
    let (_, list) = get(&lane, "/api/v1/namespaces/default/pods?labelSelector=app%3Dcache").await;
    let listed: Vec<String> =
        list["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
    let rv = list["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // Two cache pods are created after the list and before the watch starts.
    let (code, _) = send(
        &lane,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/cache/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":5}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let request = Request::builder()
        .uri(format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={rv}&labelSelector=app%3Dcache"))
        .body(Body::empty())
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let is_new = |l: &Value| !listed.iter().any(|n| l["object"]["metadata"]["name"] == n.as_str());
    let lines = watch_lines(response, |lines| lines.iter().filter(|l| is_new(l)).count() >= 2).await;
    let firsts: Vec<&Value> = lines
        .iter()
        .filter(|l| is_new(l))
        .filter({
            let mut seen = std::collections::BTreeSet::new();
            move |l| seen.insert(l["object"]["metadata"]["name"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(firsts.len(), 2, "{lines:?}");
    assert!(firsts.iter().all(|l| l["type"] == "ADDED"), "new pods must arrive as ADDED: {firsts:?}");
    let versions: Vec<u64> =
        lines.iter().map(|l| l["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "events in resourceVersion order: {versions:?}");
    assert!(versions[0] > rv.parse().unwrap(), "nothing from before the list");
}

/// Issue 11: `limit`/`continue` as upstream: pages with an opaque continue token and
/// `remainingItemCount`, all pages one consistent list (as of the first page) even when objects
/// change in between; a garbled token is a 400, one older than the view's window a 410.
#[tokio::test]
async fn lists_paginate_with_limit_and_continue_consistently() {
    let lane = lane();
    let (_, whole) = get(&lane, "/api/v1/namespaces/default/pods").await;
    let whole_names: Vec<&str> =
        whole["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(whole_names.len(), 46);
    let (code, first) = get(&lane, "/api/v1/namespaces/default/pods?limit=10").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(first["items"].as_array().unwrap().len(), 10);
    assert_eq!(first["metadata"]["remainingItemCount"], 36);
    // The lane changes between pages: the pages still add up to the list of the first page.
    let (code, _) = send(
        &lane,
        "PATCH",
        "/apis/apps/v1/namespaces/default/deployments/web/scale",
        "application/merge-patch+json",
        r#"{"spec":{"replicas":2}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let mut names: Vec<String> = Vec::new();
    let mut page = first;
    let first_rv = page["metadata"]["resourceVersion"].clone();
    loop {
        assert_eq!(page["metadata"]["resourceVersion"], first_rv, "every page is served at the first page's version");
        names.extend(
            page["items"].as_array().unwrap().iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()),
        );
        let Some(token) = page["metadata"]["continue"].as_str() else { break };
        let (code, next) = get(&lane, &format!("/api/v1/namespaces/default/pods?limit=10&continue={token}")).await;
        assert_eq!(code, StatusCode::OK, "{next}");
        page = next;
    }
    assert_eq!(names, whole_names);
    let (_, now) = get(&lane, "/api/v1/namespaces/default/pods").await;
    assert_ne!(now["metadata"]["resourceVersion"], first_rv, "the lane did change between the pages");
    // A selector narrows pages; upstream then sends no remainingItemCount.
    let (_, cache) = get(&lane, "/api/v1/namespaces/default/pods?limit=1&labelSelector=app%3Dcache").await;
    assert_eq!(cache["items"].as_array().unwrap().len(), 1);
    assert!(cache["metadata"]["continue"].is_string() && cache["metadata"].get("remainingItemCount").is_none());
    // Garbled and expired tokens.
    let (code, status) = get(&lane, "/api/v1/namespaces/default/pods?limit=10&continue=garbage!").await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::BAD_REQUEST, Some("BadRequest")));
    assert!(status["message"].as_str().unwrap().starts_with("invalid continue token"), "{status}");
    let ancient = api::paging::ContinueToken {
        resource_version: 1,
        after: pinsetter::cluster::store::ObjectKey::new("default", "a"),
    }
    .encode();
    let (code, status) = get(&lane, &format!("/api/v1/namespaces/default/pods?limit=10&continue={ancient}")).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::GONE, Some("Expired")), "{status}");
}

#[tokio::test]
async fn delete_answers_as_upstreams_storage_does_for_each_kind() {
    let lane = lane();
    let (code, created) =
        send(&lane, "POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", DEPLOYMENT).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    // Deployments (like nodes, replicasets, events, leases, endpoints): a Status naming what went.
    let (code, status) = send(&lane, "DELETE", "/apis/apps/v1/namespaces/default/deployments/lane", "", "").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
               "details": {"name": "lane", "group": "apps", "kind": "deployments", "uid": created["metadata"]["uid"]}})
    );
    // Pods: the object itself (upstream's pod storage sets ReturnDeletedObject).
    let (_, pods) = get(&lane, "/api/v1/namespaces/default/pods").await;
    let name = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let (code, pod) = send(&lane, "DELETE", &format!("/api/v1/namespaces/default/pods/{name}"), "", "").await;
    assert_eq!(
        (code, pod["kind"].as_str(), pod["metadata"]["name"].as_str()),
        (StatusCode::OK, Some("Pod"), Some(&*name))
    );
}

#[tokio::test]
async fn validation_causes_carry_upstreams_field_error_types() {
    let lane = lane();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "causes"},
        "spec": {"containers": [{"name": "a", "image": "ball:1"}, {"name": "a", "image": ""}]}});
    let (code, status) =
        send(&lane, "POST", "/api/v1/namespaces/default/pods", "application/json", pod.to_string()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    let causes = status["details"]["causes"].as_array().unwrap();
    let reason_of = |field: &str| causes.iter().find(|c| c["field"] == field).map(|c| c["reason"].clone());
    assert_eq!(reason_of("spec.containers[1].name"), Some(json!("FieldValueDuplicate")), "{status}");
    assert_eq!(reason_of("spec.containers[1].image"), Some(json!("FieldValueRequired")), "{status}");

    let (_, node) = get(&lane, "/api/v1/nodes/pin-3").await;
    let mut bad = node.clone();
    bad["spec"]["taints"] = json!([{"key": "k", "effect": "Sometimes"}]);
    let (code, status) = send(&lane, "PUT", "/api/v1/nodes/pin-3", "application/json", bad.to_string()).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["details"]["causes"][0]["reason"], "FieldValueNotSupported", "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.taints[0].effect", "{status}");
}

#[tokio::test]
async fn cordon_taints_the_node_as_upstreams_node_lifecycle_controller_does() {
    let lane = lane();
    let cordon = |on: bool| format!(r#"{{"spec":{{"unschedulable":{on}}}}}"#);
    let unschedulable_taint = |node: &Value| {
        node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "node.kubernetes.io/unschedulable" && t["effect"] == "NoSchedule")
    };
    for on in [true, false] {
        let (code, _) =
            send(&lane, "PATCH", "/api/v1/nodes/pin-4", "application/strategic-merge-patch+json", cordon(on)).await;
        assert_eq!(code, StatusCode::OK);
        // The controller acts on its next monitor pass.
        let mut node = Value::Null;
        for _ in 0..200 {
            node = get(&lane, "/api/v1/nodes/pin-4").await.1;
            if unschedulable_taint(&node) == on {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert_eq!(unschedulable_taint(&node), on, "{}", node["spec"]);
    }
}

#[tokio::test]
async fn pod_logs_take_upstreams_options_and_follow_until_the_pod_stops() {
    let lane = lane();
    let (_, pods) = get(&lane, "/api/v1/namespaces/default/pods?fieldSelector=status.phase=Running").await;
    let name = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let container = pods["items"][0]["spec"]["containers"][0]["name"].as_str().unwrap().to_string();
    let log = |query: &str| format!("/api/v1/namespaces/default/pods/{name}/log?{query}");
    let text = |v: Value| v.as_str().unwrap_or_default().to_string();

    let (code, all) = send(&lane, "GET", &log(""), "", "").await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(text(all.clone()).lines().count(), 2, "{all}");
    let (_, tail) = send(&lane, "GET", &log("tailLines=1"), "", "").await;
    assert_eq!(text(tail), text(all.clone()).lines().last().unwrap().to_string() + "\n");
    let (_, limited) = send(&lane, "GET", &log("limitBytes=7"), "", "").await;
    assert_eq!(text(limited), text(all.clone())[..7]);
    let (_, stamped) = send(&lane, "GET", &log(&format!("timestamps=true&container={container}")), "", "").await;
    let start = pods["items"][0]["status"]["startTime"].as_str().unwrap();
    assert!(text(stamped).lines().all(|l| l.starts_with(&format!("{start} "))));

    let (code, status) = send(&lane, "GET", &log("container=nope"), "", "").await;
    assert_eq!(
        (code, status["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some(&*format!("container nope is not valid for pod {name}")))
    );
    let (code, status) = send(&lane, "GET", &log("previous=true"), "", "").await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{status}");

    // follow: the log, then the stream stays open until the pod goes.
    let request = Request::builder().uri(log("follow=true")).body(Body::empty()).unwrap();
    let mut body = lane.router.clone().oneshot(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(String::from_utf8_lossy(&first), text(all));
    assert!(tokio::time::timeout(Duration::from_millis(300), body.frame()).await.is_err(), "ended while running");
    let force = r#"{"gracePeriodSeconds":0}"#;
    let (code, _) =
        send(&lane, "DELETE", &format!("/api/v1/namespaces/default/pods/{name}"), "application/json", force).await;
    assert_eq!(code, StatusCode::OK);
    assert!(tokio::time::timeout(Duration::from_secs(20), body.frame()).await.unwrap().is_none(), "still open");
}

#[tokio::test]
async fn server_side_apply_creates_updates_and_records_managers() {
    let lane = lane();
    let uri = |query: &str| format!("/apis/apps/v1/namespaces/default/deployments/ssa?{query}");
    let yaml = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: ssa}}\n  template:\n    metadata:\n      labels: {{app: ssa}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1\n"
        )
    };
    const APPLY: &str = "application/apply-patch+yaml";
    let (code, status) = send(&lane, "PATCH", &uri(""), APPLY, yaml(1)).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
    assert_eq!(status["details"]["causes"][0]["field"], "fieldManager");

    let (code, created) = send(&lane, "PATCH", &uri("fieldManager=alice"), APPLY, yaml(1)).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(
        (&entry["manager"], &entry["operation"], &entry["apiVersion"], &entry["fieldsType"]),
        (&json!("alice"), &json!("Apply"), &json!("apps/v1"), &json!("FieldsV1"))
    );
    assert!(entry["time"].is_string());
    assert_eq!(entry["fieldsV1"]["f:spec"]["f:replicas"], json!({}));

    let (code, updated) = send(&lane, "PATCH", &uri("fieldManager=alice"), APPLY, yaml(3)).await;
    assert_eq!((code, &updated["spec"]["replicas"]), (StatusCode::OK, &json!(3)));
    assert_eq!(updated["metadata"]["uid"], created["metadata"]["uid"]);

    let (code, conflict) = send(&lane, "PATCH", &uri("fieldManager=bob"), APPLY, yaml(4)).await;
    assert_eq!(code, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["message"], "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas");
    let (code, forced) = send(&lane, "PATCH", &uri("fieldManager=bob&force=true"), APPLY, yaml(4)).await;
    assert_eq!((code, &forced["spec"]["replicas"]), (StatusCode::OK, &json!(4)));
}

#[tokio::test]
async fn events_are_served_through_events_k8s_io_v1_too() {
    let lane = lane();
    let (_, groups) = get(&lane, "/apis").await;
    assert!(groups["groups"].as_array().unwrap().iter().any(|g| g["name"] == "events.k8s.io"), "{groups}");
    let (code, resources) = get(&lane, "/apis/events.k8s.io/v1").await;
    assert_eq!((code, &resources["resources"][0]["name"]), (StatusCode::OK, &json!("events")));

    let (code, list) = get(&lane, "/apis/events.k8s.io/v1/namespaces/default/events").await;
    assert_eq!(
        (code, &list["apiVersion"], &list["kind"]),
        (StatusCode::OK, &json!("events.k8s.io/v1"), &json!("EventList"))
    );
    let (_, core) = get(&lane, "/api/v1/namespaces/default/events").await;
    let (event, core_event) = (&list["items"][0], &core["items"][0]);
    assert_eq!(event["apiVersion"], "events.k8s.io/v1");
    assert_eq!(event["note"], core_event["message"]);
    assert_eq!(event["regarding"], core_event["involvedObject"]);
    assert_eq!(event["deprecatedSource"], core_event["source"]);
    assert!(event["eventTime"].is_string() && event.get("message").is_none(), "{event}");

    let name = event["metadata"]["name"].as_str().unwrap();
    let (code, one) = get(&lane, &format!("/apis/events.k8s.io/v1/namespaces/default/events/{name}")).await;
    assert_eq!((code, &one["note"]), (StatusCode::OK, &core_event["message"]));

    let request = Request::builder()
        .uri("/apis/events.k8s.io/v1/namespaces/default/events?watch=true")
        .body(Body::empty())
        .unwrap();
    let mut body = lane.router.clone().oneshot(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    let first: Value = serde_json::from_slice(&first).unwrap();
    assert_eq!((&first["type"], &first["object"]["apiVersion"]), (&json!("ADDED"), &json!("events.k8s.io/v1")));
    assert!(first["object"]["note"].is_string(), "{first}");

    let (code, _) =
        send(&lane, "DELETE", &format!("/apis/events.k8s.io/v1/namespaces/default/events/{name}"), "", "").await;
    assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn a_plain_http_kubeconfig_satisfies_client_node_and_an_https_one_verifies() {
    // @kubernetes/client-node: "HTTP protocol is not allowed when skipTLSVerify is not set or false".
    let http = api::kubeconfig("http://127.0.0.1:8001", None, None);
    assert!(http.contains("    server: http://127.0.0.1:8001\n    insecure-skip-tls-verify: true\n"), "{http}");
    let https = api::kubeconfig("https://127.0.0.1:8001", Some("PEM"), Some("t"));
    assert!(https.contains("certificate-authority-data") && !https.contains("insecure"), "{https}");
}

/// Evictions answer as `eviction.go` does once a PodDisruptionBudget covers the pod: 429
/// TooManyRequests with the budget's counts while it allows no disruption (nothing written),
/// 500 under two budgets; a budget with both minAvailable and maxUnavailable is refused.
#[tokio::test]
async fn evictions_honour_pod_disruption_budgets() {
    let lane = lane();
    let pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    let both = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "both"},
        "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}});
    let (code, s) = send(&lane, "POST", pdbs, "application/json", both.to_string()).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("Invalid")));
    assert_eq!(s["details"]["causes"][0]["field"], "spec");
    assert!(s["message"].as_str().unwrap().ends_with("minAvailable and maxUnavailable cannot be both set"), "{s}");

    // The default lane's budget lets one web pod go at a time; tighten it to none.
    let (code, _) = send(
        &lane,
        "PATCH",
        &format!("{pdbs}/web"),
        "application/merge-patch+json",
        r#"{"spec":{"maxUnavailable":0}}"#.to_string(),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    let status = loop {
        let (_, pdb) = get(&lane, &format!("{pdbs}/web")).await;
        if pdb["status"]["observedGeneration"] == 2 {
            break pdb["status"].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let healthy = status["currentHealthy"].as_i64().unwrap();
    assert_eq!((status["disruptionsAllowed"].as_i64(), status["desiredHealthy"].as_i64()), (Some(0), Some(healthy)));

    let (_, pods) = get(&lane, "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb").await;
    let name = pods["items"][0]["metadata"]["name"].as_str().unwrap().to_string();
    let eviction =
        json!({"kind": "Eviction", "apiVersion": "policy/v1", "metadata": {"name": name, "namespace": "default"}});
    let uri = format!("/api/v1/namespaces/default/pods/{name}/eviction");
    let before = resource_version(&lane).await;
    let (code, s) = send(&lane, "POST", &uri, "application/json", eviction.to_string()).await;
    assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        s,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "Cannot evict pod as it would violate the pod's disruption budget.",
            "reason": "TooManyRequests", "code": 429,
            "details": {"causes": [{"reason": "DisruptionBudget",
                "message": format!("The disruption budget web needs {healthy} healthy pods and has {healthy} currently")}]}})
    );
    let (_, pod) = get(&lane, &format!("/api/v1/namespaces/default/pods/{name}")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_null(), "a refused eviction deletes nothing");
    let (_, pdb) = get(&lane, &format!("{pdbs}/web")).await;
    assert!(pdb["status"]["disruptedPods"].is_null());
    assert!(pdb["metadata"]["resourceVersion"].as_str().unwrap().parse::<u64>().unwrap() <= before);

    let second = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web-too"},
        "spec": {"minAvailable": "10%", "selector": {"matchLabels": {"app": "web"}}}});
    send(&lane, "POST", pdbs, "application/json", second.to_string()).await;
    let (code, s) = send(&lane, "POST", &uri, "application/json", eviction.to_string()).await;
    assert_eq!((code, s["reason"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("InternalError")));
    assert_eq!(
        s["message"],
        "Internal error occurred: This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."
    );
}

/// A watch's DELETED event and a force delete's answer carry the delete's resourceVersion, as
/// kube-apiserver's do (an informer resumes from it), though the store logs the deleted object
/// as it was stored.
#[tokio::test]
async fn a_deletion_carries_the_deletes_resource_version() {
    let lane = lane();
    let (code, created) = send(
        &lane,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        "application/json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"doomed"},"data":{"a":"1"}}"#,
    )
    .await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let created_rv: u64 = created["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    let request = Request::builder()
        .uri(format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={created_rv}"))
        .body(Body::empty())
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let (code, _) = send(&lane, "DELETE", "/api/v1/namespaces/default/configmaps/doomed", "", "").await;
    assert_eq!(code, StatusCode::OK);
    let after_delete = resource_version(&lane).await;
    let lines = watch_lines(response, |lines| lines.iter().any(|l| l["type"] == "DELETED")).await;
    let deleted = lines.iter().find(|l| l["type"] == "DELETED").unwrap();
    let deleted_rv: u64 = deleted["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(created_rv < deleted_rv && deleted_rv <= after_delete, "{created_rv} < {deleted_rv} <= {after_delete}");
    assert_eq!(deleted["object"]["data"]["a"], "1", "the object as it was");

    // A pod deleted with no grace period goes at once; the answer is stamped likewise.
    let (_, pods) = get(&lane, "/api/v1/namespaces/default/pods").await;
    let pod = &pods["items"][0];
    let name = pod["metadata"]["name"].as_str().unwrap();
    let before: u64 = resource_version(&lane).await;
    let (code, answer) = send(
        &lane,
        "DELETE",
        &format!("/api/v1/namespaces/default/pods/{name}"),
        "application/json",
        r#"{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0}"#,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let answered: u64 = answer["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap();
    assert!(answered > before, "the answer carries the delete's resourceVersion: {answered} > {before}");
    assert_eq!(get(&lane, &format!("/api/v1/namespaces/default/pods/{name}")).await.0, StatusCode::NOT_FOUND);
}
