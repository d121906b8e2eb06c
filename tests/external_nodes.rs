//! `serve` as a stand-in real cluster for kubelets it does not simulate (issue 13): Nodes created
//! through the API are external, their status is what their kubelet posts to `nodes/status`, and
//! pods bound to them move only through `pods/status` and graceful deletes, as upstream.

mod common;

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

const MERGE: &str = "application/merge-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

/// A World that answers requests but whose clock stands still after start-up: what a status
/// write stored is what a GET returns, with no controller moving in between.
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
        for _ in 0..200 {
            world.step();
        }
        while !flag.load(Ordering::Relaxed) {
            inbox.drain(&mut world);
            while world.poll_output().is_some() {}
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    Lane { router: api::router(handle, "127.0.0.1:0".parse().unwrap()), stop }
}

async fn send(lane: &Lane, method: &str, uri: &str, content_type: &str, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(if body.is_null() { Body::empty() } else { Body::from(body.to_string()) })
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into())))
}

async fn get(lane: &Lane, uri: &str) -> Value {
    let (code, value) = send(lane, "GET", uri, "application/json", Value::Null).await;
    assert_eq!(code, StatusCode::OK, "GET {uri}: {value}");
    value
}

fn external_node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"pinsetter.dev/pin": "true"}},
           "spec": {"taints": [{"key": "pinsetter.dev/pin", "value": "true", "effect": "NoSchedule"}]}})
}

/// What a kubelet (and KWOK) posts: Ready, capacity, allocatable and nodeInfo.
fn ready_status(heartbeat: &str) -> Value {
    json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                        "message": "kubelet is posting ready status", "lastHeartbeatTime": heartbeat,
                        "lastTransitionTime": heartbeat}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "allocatable": {"cpu": "3900m", "memory": "7Gi", "pods": "110"},
        "nodeInfo": {"kubeletVersion": "v1.32.4-fake", "containerRuntimeVersion": "fake://1.0",
                     "osImage": "Pinsetter", "kernelVersion": "6.0", "operatingSystem": "linux",
                     "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": "",
                     "kubeProxyVersion": ""}}})
}

#[tokio::test]
async fn a_node_status_patch_sets_ready_capacity_allocatable_and_node_info() {
    let lane = lane();
    let (code, created) = send(&lane, "POST", "/api/v1/nodes", "application/json", external_node("ext-1")).await;
    assert_eq!(code, StatusCode::CREATED, "{created}");
    let (code, patched) =
        send(&lane, "PATCH", "/api/v1/nodes/ext-1/status", STRATEGIC, ready_status("2026-01-01T00:00:00Z")).await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    let node = get(&lane, "/api/v1/nodes/ext-1").await;
    assert_eq!(node["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(node["status"]["conditions"][0]["status"], "True");
    assert_eq!(node["status"]["capacity"]["cpu"], "4");
    assert_eq!(node["status"]["allocatable"]["memory"], "7Gi");
    assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], "v1.32.4-fake");
    // The status write left spec and labels as they were.
    assert_eq!(node["spec"]["taints"][0]["key"], "pinsetter.dev/pin");
    assert_eq!(node["metadata"]["labels"]["pinsetter.dev/pin"], "true");
    // GET on the subresource answers the whole object, as upstream.
    let status = get(&lane, "/api/v1/nodes/ext-1/status").await;
    assert_eq!(status["status"]["capacity"]["pods"], "110");

    // A merge patch (kube-rs's Patch::Merge) on the status moves only what it names.
    let ready_false =
        json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}});
    let (code, _) = send(&lane, "PATCH", "/api/v1/nodes/ext-1/status", MERGE, ready_false).await;
    assert_eq!(code, StatusCode::OK);
    let node = get(&lane, "/api/v1/nodes/ext-1").await;
    assert_eq!(node["status"]["conditions"][0]["status"], "False");
    assert_eq!(node["status"]["capacity"]["cpu"], "4");
}

#[tokio::test]
async fn a_spec_write_keeps_the_status_and_a_status_write_keeps_the_spec() {
    let lane = lane();
    send(&lane, "POST", "/api/v1/nodes", "application/json", external_node("ext-1")).await;
    send(&lane, "PATCH", "/api/v1/nodes/ext-1/status", STRATEGIC, ready_status("2026-01-01T00:00:00Z")).await;

    // PUT to the main resource with the status emptied and a spec change: the status stays.
    let mut node = get(&lane, "/api/v1/nodes/ext-1").await;
    node["status"] = json!({});
    node["spec"]["unschedulable"] = json!(true);
    let (code, put) = send(&lane, "PUT", "/api/v1/nodes/ext-1", "application/json", node).await;
    assert_eq!(code, StatusCode::OK, "{put}");
    let node = get(&lane, "/api/v1/nodes/ext-1").await;
    assert_eq!(node["spec"]["unschedulable"], true);
    assert_eq!(node["status"]["capacity"]["cpu"], "4", "a spec PUT clobbered the status: {node}");

    // PUT to /status with a spec change and a label: only the status is written.
    let mut sent = node.clone();
    sent["spec"]["unschedulable"] = json!(false);
    sent["spec"]["taints"] = json!([]);
    sent["metadata"]["labels"]["extra"] = json!("x");
    sent["status"]["capacity"]["cpu"] = json!("8");
    let (code, put) = send(&lane, "PUT", "/api/v1/nodes/ext-1/status", "application/json", sent).await;
    assert_eq!(code, StatusCode::OK, "{put}");
    let after = get(&lane, "/api/v1/nodes/ext-1").await;
    assert_eq!(after["status"]["capacity"]["cpu"], "8");
    assert_eq!(after["spec"], node["spec"], "a status PUT changed the spec");
    assert!(after["metadata"]["labels"].get("extra").is_none(), "{after}");

    // A stale resourceVersion on a status PUT is a Conflict, as on any update.
    let mut stale = after.clone();
    stale["metadata"]["resourceVersion"] = node["metadata"]["resourceVersion"].clone();
    let (code, status) = send(&lane, "PUT", "/api/v1/nodes/ext-1/status", "application/json", stale).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::CONFLICT, Some("Conflict")), "{status}");

    // Deployments too (every kind with status): a status merge patch does not scale it.
    let deployment = get(&lane, "/apis/apps/v1/namespaces/default/deployments").await["items"][0].clone();
    let name = deployment["metadata"]["name"].as_str().unwrap().to_string();
    let uri = format!("/apis/apps/v1/namespaces/default/deployments/{name}/status");
    let patch = json!({"spec": {"replicas": 77}, "status": {"observedGeneration": 99}});
    let (code, patched) = send(&lane, "PATCH", &uri, MERGE, patch).await;
    assert_eq!(code, StatusCode::OK, "{patched}");
    assert_eq!(patched["status"]["observedGeneration"], 99, "{patched}");
    let after = get(&lane, &format!("/apis/apps/v1/namespaces/default/deployments/{name}")).await;
    assert_eq!(after["spec"]["replicas"], deployment["spec"]["replicas"]);
}

#[tokio::test]
async fn status_of_a_kind_without_status_is_not_found_and_apply_to_status_writes_only_status() {
    let lane = lane();
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
    let (code, _) = send(&lane, "POST", "/api/v1/namespaces/default/configmaps", "application/json", config_map).await;
    assert_eq!(code, StatusCode::CREATED);
    let (code, status) =
        send(&lane, "PATCH", "/api/v1/namespaces/default/configmaps/c/status", MERGE, json!({"data": {}})).await;
    assert_eq!((code, status["reason"].as_str()), (StatusCode::NOT_FOUND, Some("NotFound")), "{status}");

    send(&lane, "POST", "/api/v1/nodes", "application/json", external_node("ext-1")).await;
    let mut applied = ready_status("2026-01-01T00:00:00Z");
    applied["apiVersion"] = json!("v1");
    applied["kind"] = json!("Node");
    applied["metadata"] = json!({"name": "ext-1"});
    applied["spec"] = json!({"unschedulable": true});
    let (code, answer) = send(
        &lane,
        "PATCH",
        "/api/v1/nodes/ext-1/status?fieldManager=kubelet&force=true",
        "application/apply-patch+yaml",
        applied,
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{answer}");
    let node = get(&lane, "/api/v1/nodes/ext-1").await;
    assert_eq!(node["status"]["nodeInfo"]["containerRuntimeVersion"], "fake://1.0");
    assert!(node["spec"].get("unschedulable").is_none_or(|u| *u == false), "{node}");
    // Applying to the status of a node that does not exist creates nothing.
    let (code, _) = send(
        &lane,
        "PATCH",
        "/api/v1/nodes/nope/status?fieldManager=kubelet",
        "application/apply-patch+yaml",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "nope"}}),
    )
    .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(
        send(&lane, "GET", "/api/v1/nodes/nope", "application/json", Value::Null).await.0,
        StatusCode::NOT_FOUND
    );
}

fn pod_on(name: &str, node: Option<&str>) -> Value {
    let mut pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 7,
                 "tolerations": [{"key": "pinsetter.dev/pin", "operator": "Exists"}],
                 "containers": [{"name": "ball", "image": "ball:1"}]}});
    match node {
        Some(node) => pod["spec"]["nodeName"] = json!(node),
        // Selects no node, so the lane's scheduler leaves it unbound.
        None => pod["spec"]["nodeSelector"] = json!({"pinsetter.dev/none": "none"}),
    }
    pod
}

#[tokio::test]
async fn deleting_a_pod_on_an_external_node_waits_for_its_kubelet_unless_there_is_none() {
    let lane = lane();
    send(&lane, "POST", "/api/v1/nodes", "application/json", external_node("ext-1")).await;
    let pods = "/api/v1/namespaces/default/pods";
    for (name, node) in [("bound", Some("ext-1")), ("unbound", None), ("orphan", Some("ghost"))] {
        let (code, created) = send(&lane, "POST", pods, "application/json", pod_on(name, node)).await;
        assert_eq!(code, StatusCode::CREATED, "{created}");
    }

    // Bound to an existing node: Terminating, with the pod's own grace period, until its kubelet
    // finishes with gracePeriodSeconds 0.
    let (code, deleted) = send(&lane, "DELETE", &format!("{pods}/bound"), "application/json", Value::Null).await;
    assert_eq!(code, StatusCode::OK, "{deleted}");
    let pod = get(&lane, &format!("{pods}/bound")).await;
    assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod}");
    assert_eq!(pod["metadata"]["deletionGracePeriodSeconds"], 7);
    // A status write from its kubelet while it terminates is still taken.
    let (code, _) =
        send(&lane, "PATCH", &format!("{pods}/bound/status"), MERGE, json!({"status": {"phase": "Running"}})).await;
    assert_eq!(code, StatusCode::OK);
    assert!(get(&lane, &format!("{pods}/bound")).await["metadata"]["deletionTimestamp"].is_string());
    let (code, _) =
        send(&lane, "DELETE", &format!("{pods}/bound"), "application/json", json!({"gracePeriodSeconds": 0})).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(send(&lane, "GET", &format!("{pods}/bound"), "", Value::Null).await.0, StatusCode::NOT_FOUND);

    // Bound to no node, or to a node that is gone: deleted at once.
    for name in ["unbound", "orphan"] {
        let (code, _) = send(&lane, "DELETE", &format!("{pods}/{name}"), "application/json", Value::Null).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(
            send(&lane, "GET", &format!("{pods}/{name}"), "", Value::Null).await.0,
            StatusCode::NOT_FOUND,
            "{name}"
        );
    }
}

/// The end-to-end run: the real `pinsetter serve` on port 0 and a stand-in kubelet written here
/// over plain HTTP (what `play --kubeconfig` does through kube-rs, KWOK-style).
mod end_to_end {
    use super::common;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;
    use std::io::{Read, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    const NODES: [&str; 3] = ["ext-1", "ext-2", "ext-3"];
    const REPLICAS: usize = 6;

    /// `pinsetter serve`, killed and reaped on drop, pass or fail.
    struct Serve {
        child: Child,
        addr: String,
    }

    impl Drop for Serve {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// One plain HTTP/1.0 request: the status code and the body as JSON (Null when not JSON).
    fn request(addr: &str, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let mut stream = std::net::TcpStream::connect(addr).expect("the server accepts connections");
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let code = response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (code, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    impl Serve {
        fn start() -> Serve {
            let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
                .args(["serve", "--listen", "127.0.0.1:0", "--timing", "arcade", "--scheduler", "spread"])
                .args(["--scenario", "tiny"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .env("RUST_LOG", "warn")
                .stderr(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("pinsetter serve starts");
            let rx = common::announced_address(&mut child);
            // Wrapped first, so the child is killed even if the announcement never comes.
            let mut serve = Serve { child, addr: String::new() };
            let url = rx.recv_timeout(Duration::from_secs(30)).expect("serve announces its address");
            serve.addr = url.trim_start_matches("http://").to_string();
            serve
        }

        fn get(&self, path: &str) -> Value {
            let (code, value) = request(&self.addr, "GET", path, "application/json", "");
            assert_eq!(code, 200, "GET {path}: {value}");
            value
        }

        fn send(&self, method: &str, path: &str, content_type: &str, body: &Value) -> Value {
            let (code, value) = request(&self.addr, method, path, content_type, &body.to_string());
            assert!((200..300).contains(&code), "{method} {path} answered {code}: {value}");
            value
        }

        fn eventually(&self, what: &str, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
            let start = Instant::now();
            loop {
                let value = self.get(path);
                if ok(&value) {
                    return value;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "timed out waiting for {what}; last {path}:\n{value:#}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn now_stamp(serve_epoch: Instant) -> String {
        // Any RFC 3339 time does: the control plane goes by when it sees the Lease change.
        let secs = serve_epoch.elapsed().as_secs();
        format!("2026-01-01T00:{:02}:{:02}.000000Z", (secs / 60) % 60, secs % 60)
    }

    /// The stand-in kubelet: renews each live node's Lease, posts Ready when the node is not,
    /// moves pods bound to it to Running through `pods/status` and finishes their graceful
    /// deletes. Nodes in `stopped` get nothing (their kubelet is gone).
    fn kubelet(addr: String, stop: Arc<AtomicBool>, stopped: Arc<Mutex<BTreeSet<String>>>) {
        let started = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            for node in NODES {
                if stopped.lock().unwrap().contains(node) {
                    continue;
                }
                let stamp = now_stamp(started);
                let lease = format!("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}");
                let renew = json!({"spec": {"renewTime": stamp}});
                request(&addr, "PATCH", &lease, super::MERGE, &renew.to_string());
                let (_, current) = request(&addr, "GET", &format!("/api/v1/nodes/{node}"), "application/json", "");
                let ready = current["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                if !ready {
                    let status = super::ready_status(&stamp).to_string();
                    request(&addr, "PATCH", &format!("/api/v1/nodes/{node}/status"), super::STRATEGIC, &status);
                }
                let pods_on = format!("/api/v1/pods?fieldSelector=spec.nodeName={node}");
                let (_, pods) = request(&addr, "GET", &pods_on, "application/json", "");
                for pod in pods["items"].as_array().into_iter().flatten() {
                    let (ns, name) =
                        (pod["metadata"]["namespace"].as_str().unwrap(), pod["metadata"]["name"].as_str().unwrap());
                    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
                    if pod["metadata"].get("deletionTimestamp").is_some() {
                        request(&addr, "DELETE", &path, "application/json", r#"{"gracePeriodSeconds":0}"#);
                    } else if pod["status"]["phase"] != "Running" {
                        let running = json!({"status": {"phase": "Running", "hostIP": "10.99.0.1", "podIP": "10.99.1.1",
                            "startTime": stamp,
                            "conditions": [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"},
                                           {"type": "PodScheduled", "status": "True"}],
                            "containerStatuses": [{"name": "ball", "ready": true, "restartCount": 0, "image": "ball:1",
                                                   "imageID": "", "started": true,
                                                   "state": {"running": {"startedAt": stamp}}}]}});
                        request(&addr, "PATCH", &format!("{path}/status"), super::STRATEGIC, &running.to_string());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn condition<'a>(node: &'a Value, type_: &str) -> Option<&'a Value> {
        node["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_)
    }

    fn has_taint(node: &Value, key: &str, effect: &str) -> bool {
        node["spec"]["taints"].as_array().is_some_and(|t| t.iter().any(|t| t["key"] == key && t["effect"] == effect))
    }

    fn workload(pods: &Value) -> Vec<&Value> {
        pods["items"]
            .as_array()
            .map_or(vec![], |items| items.iter().filter(|p| p["metadata"]["labels"]["app"] == "bowl").collect())
    }

    fn running_on<'a>(pods: &'a [&'a Value], nodes: &[&str]) -> usize {
        pods.iter()
            .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
            .filter(|p| p["status"]["phase"] == "Running")
            .filter(|p| p["spec"]["nodeName"].as_str().is_some_and(|n| nodes.contains(&n)))
            .count()
    }

    #[test]
    fn a_silent_external_node_goes_not_ready_its_pods_move_and_it_comes_back() {
        let serve = Serve::start();
        for node in NODES {
            serve.send("POST", "/api/v1/nodes", "application/json", &super::external_node(node));
            let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": node, "namespace": "kube-node-lease"},
                "spec": {"holderIdentity": node, "leaseDurationSeconds": 40}});
            serve.send(
                "POST",
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                "application/json",
                &lease,
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(Mutex::new(BTreeSet::new()));
        let stand_in = {
            let (addr, stop, stopped) = (serve.addr.clone(), stop.clone(), stopped.clone());
            std::thread::spawn(move || kubelet(addr, stop, stopped))
        };
        struct StopOnDrop(Arc<AtomicBool>);
        impl Drop for StopOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = StopOnDrop(stop.clone());

        // Every node Ready first, or the scheduler may put every replica on the first one up.
        serve.eventually("every external node Ready", "/api/v1/nodes", |nodes| {
            NODES.iter().all(|name| {
                nodes["items"].as_array().into_iter().flatten().any(|n| {
                    n["metadata"]["name"] == *name
                        && condition(n, "Ready").is_some_and(|c| c["status"] == "True")
                        && !has_taint(n, "node.kubernetes.io/not-ready", "NoSchedule")
                        && !has_taint(n, "node.kubernetes.io/unreachable", "NoSchedule")
                })
            })
        });
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bowl"},
            "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "bowl"}},
              "template": {"metadata": {"labels": {"app": "bowl"}}, "spec": {
                "nodeSelector": {"pinsetter.dev/pin": "true"},
                "tolerations": [{"key": "pinsetter.dev/pin", "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
                "containers": [{"name": "ball", "image": "ball:1", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}});
        serve.send("POST", "/apis/apps/v1/namespaces/default/deployments", "application/json", &deployment);

        let pods =
            serve.eventually("every replica Running on the external nodes, some on ext-2", "/api/v1/pods", |v| {
                let pods = workload(v);
                running_on(&pods, &NODES) == REPLICAS && running_on(&pods, &["ext-2"]) > 0
            });
        let on_ext_2: Vec<String> = workload(&pods)
            .iter()
            .filter(|p| p["spec"]["nodeName"] == "ext-2")
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        // The phase is the stand-in kubelet's: nothing simulated ran these pods.
        assert!(workload(&pods).iter().all(|p| p["status"]["hostIP"] == "10.99.0.1"), "{pods:#}");

        // ext-2's kubelet stops: no Lease renewals, no status.
        stopped.lock().unwrap().insert("ext-2".to_string());
        let node = serve.eventually("ext-2 NotReady with the unreachable taints", "/api/v1/nodes/ext-2", |n| {
            has_taint(n, "node.kubernetes.io/unreachable", "NoExecute")
        });
        let ready = condition(&node, "Ready").unwrap();
        assert_eq!(
            (ready["status"].as_str(), ready["reason"].as_str(), ready["message"].as_str()),
            (Some("Unknown"), Some("NodeStatusUnknown"), Some("Kubelet stopped posting node status."))
        );
        assert!(has_taint(&node, "node.kubernetes.io/unreachable", "NoSchedule"), "{node:#}");
        // Events are written a moment after they are reported (as client-go's broadcaster does).
        serve.eventually("a NodeNotReady event for ext-2", "/api/v1/events", |events| {
            events["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["reason"] == "NodeNotReady" && e["involvedObject"]["name"] == "ext-2")
        });
        let pods = serve.eventually("the replicas Running on ext-1 and ext-3", "/api/v1/pods", |v| {
            running_on(&workload(v), &["ext-1", "ext-3"]) == REPLICAS
        });
        // Evicted pods on the silent node stay Terminating: only their kubelet can finish them.
        for name in &on_ext_2 {
            let pod = workload(&pods).into_iter().find(|p| p["metadata"]["name"] == name.as_str());
            let pod = pod.unwrap_or_else(|| panic!("{name} was removed without its kubelet"));
            assert!(pod["metadata"]["deletionTimestamp"].is_string(), "{pod:#}");
            assert!(pod["metadata"]["deletionGracePeriodSeconds"].as_i64().is_some_and(|g| g > 0), "{pod:#}");
        }

        // The kubelet comes back: Ready again, the taints go, the Terminating pods are finished.
        stopped.lock().unwrap().clear();
        serve.eventually("ext-2 Ready without the unreachable taints", "/api/v1/nodes/ext-2", |n| {
            condition(n, "Ready").is_some_and(|c| c["status"] == "True")
                && !has_taint(n, "node.kubernetes.io/unreachable", "NoSchedule")
                && !has_taint(n, "node.kubernetes.io/unreachable", "NoExecute")
                && has_taint(n, "pinsetter.dev/pin", "NoSchedule")
        });
        serve.eventually("ext-2's old pods gone", "/api/v1/pods", |v| {
            workload(v).iter().all(|p| !on_ext_2.iter().any(|n| p["metadata"]["name"] == n.as_str()))
        });
        stop.store(true, Ordering::Relaxed);
        stand_in.join().unwrap();
    }
}
