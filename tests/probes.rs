//! Scripted probes in the simulated kubelet: readiness decides the pod's Ready condition and so
//! its Service's Endpoints; liveness failures restart the container with upstream's events and
//! back-off; a script that does not parse is refused at admission.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pinsetter::api;
use pinsetter::cluster::events::EventRecord;
use pinsetter::cluster::objects::{Endpoints, Object, Pod, Service};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, Output, World};
use serde_json::{Value, json};
use tower::ServiceExt;

const PIN: &str = r#"
apiVersion: v1
kind: Node
metadata: {name: pin-1}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
  allocatable: {cpu: "4", memory: 8Gi, pods: "110"}
"#;

fn world() -> World {
    World::new(1, Preset::Arcade, &Scenario::parse(PIN, "test").unwrap()).unwrap()
}

fn apply(world: &mut World, object: Value) {
    let pod: Pod = serde_json::from_value(object).unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(pod)))).unwrap();
}

/// A `web` pod with `probes` (container fields) and `script` as its probe script.
fn web_pod(name: &str, probes: Value, script: Option<&str>) -> Value {
    let mut container = json!({"name": "web", "image": "nginx", "ports": [{"containerPort": 8080}]});
    for (k, v) in probes.as_object().unwrap() {
        container[k] = v.clone();
    }
    let annotations = script.map(|s| json!({"pinsetter.dev/probe-script": s})).unwrap_or(json!({}));
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}, "annotations": annotations},
        "spec": {"containers": [container]}})
}

fn run(world: &mut World, ms: u64, log: &mut Vec<EventRecord>) {
    for _ in 0..ms / 10 {
        world.step();
        while let Some(output) = world.poll_output() {
            if let Output::Event(e) = output {
                log.push(e);
            }
        }
    }
}

/// (ready, not ready) endpoint pod names of Service `web`.
fn endpoints(world: &World) -> (Vec<String>, Vec<String>) {
    let ep = world.cluster().store.get::<Endpoints>(&ObjectKey::new("default", "web")).unwrap();
    let names = |ready: bool| {
        ep.subsets
            .iter()
            .flat_map(|s| if ready { &s.addresses } else { &s.not_ready_addresses })
            .filter_map(|a| a.target_ref.as_ref().map(|r| r.name.to_string()))
            .collect()
    };
    (names(true), names(false))
}

fn pod(world: &World, name: &str) -> Pod {
    world.cluster().store.get::<Pod>(&ObjectKey::new("default", name)).unwrap().clone()
}

#[test]
fn a_failing_readiness_probe_takes_the_pod_out_of_its_endpoints_and_a_passing_one_returns_it() {
    let mut world = world();
    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    world
        .handle_input(Input::Apply(Box::new(Object::from(serde_json::from_value::<Service>(service).unwrap()))))
        .unwrap();
    let readiness = json!({"readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}});
    apply(&mut world, web_pod("steady", readiness.clone(), None));
    apply(&mut world, web_pod("flaky", readiness, Some("readiness fail from 5s for 10s")));
    let mut log = Vec::new();
    run(&mut world, 3_000, &mut log);
    assert_eq!(endpoints(&world), (vec!["flaky".into(), "steady".into()], vec![]));

    run(&mut world, 5_000, &mut log);
    assert_eq!(endpoints(&world), (vec!["steady".into()], vec!["flaky".into()]), "failing from 5 s");
    let flaky = pod(&world, "flaky");
    assert!(!flaky.is_ready());
    let ready = flaky.status.conditions.iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(
        (ready.reason.as_str(), ready.message.as_str()),
        ("ContainersNotReady", "containers with unready status: [web]")
    );
    let unhealthy: Vec<&EventRecord> = log.iter().filter(|e| e.reason == "Unhealthy").collect();
    assert!(!unhealthy.is_empty());
    assert!(unhealthy.iter().all(|e| e.object == "pod/flaky" && e.type_ == "Warning"), "{unhealthy:#?}");
    assert_eq!(unhealthy[0].message, "Readiness probe failed: HTTP probe failed with statuscode: 503");

    run(&mut world, 10_000, &mut log);
    assert_eq!(endpoints(&world), (vec!["flaky".into(), "steady".into()], vec![]), "passing again after 15 s");
    assert_eq!(pod(&world, "flaky").status.container_statuses[0].restart_count, 0, "readiness never restarts");
}

#[test]
fn a_failing_liveness_probe_restarts_the_container_with_upstreams_events_and_back_off() {
    let mut world = world();
    let liveness = json!({"livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}}});
    apply(&mut world, web_pod("sick", liveness.clone(), Some("liveness fail from 3s")));
    apply(&mut world, web_pod("blip", liveness, Some("liveness fail from 3s for 2s")));
    let mut log = Vec::new();
    run(&mut world, 12_000, &mut log);

    let blip = pod(&world, "blip");
    assert_eq!(blip.status.container_statuses[0].restart_count, 1, "one kill, then healthy");
    assert!(blip.is_ready());
    let sick = pod(&world, "sick");
    let status = &sick.status.container_statuses[0];
    assert!(status.restart_count >= 3, "keeps failing, keeps restarting: {}", status.restart_count);
    let last = status.last_state.terminated.as_ref().expect("lastState.terminated");
    assert_eq!((last.exit_code, last.reason.as_str()), (137, "Error"));

    let of = |object: &str, reason: &str| -> Vec<String> {
        log.iter().filter(|e| e.object == object && e.reason == reason).map(|e| e.message.clone()).collect()
    };
    assert_eq!(of("pod/blip", "Killing"), ["Container web failed liveness probe, will be restarted"]);
    assert_eq!(of("pod/blip", "Unhealthy")[0], r#"Liveness probe failed: command "cat /tmp/healthy" exited with 1"#);
    let backoffs = of("pod/sick", "BackOff");
    assert!(!backoffs.is_empty(), "the second kill backs off");
    assert!(
        backoffs[0].starts_with("Back-off restarting failed container web in pod sick_default("),
        "{}",
        backoffs[0]
    );
}

#[tokio::test]
async fn a_probe_script_that_does_not_parse_is_refused_with_its_field_path() {
    let (handle, inbox) = api::inbox();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let worker = std::thread::spawn(move || {
        let mut world = world();
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            inbox.drain(&mut world);
            world.step();
            while world.poll_output().is_some() {}
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let router = api::router(handle, "127.0.0.1:0".parse().unwrap());
    let pod = web_pod("bad", json!({"livenessProbe": {"exec": {"command": ["true"]}}}), Some("liveness flaky from 3s"));
    let request = Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/pods")
        .header("content-type", "application/json")
        .body(Body::from(pod.to_string()))
        .unwrap();
    let response = router.oneshot(request).await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    worker.join().unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let status: Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(status["reason"], "Invalid");
    let cause = &status["details"]["causes"][0];
    assert_eq!(cause["field"], "metadata.annotations[pinsetter.dev/probe-script]");
    assert!(cause["message"].as_str().unwrap().contains("expected `<readiness|liveness> fail from"), "{status:#}");
}

/// A pod with a preStop hook lingers `Terminating` while the hook runs, up to its grace period.
#[test]
fn a_pre_stop_hook_holds_the_pod_terminating_for_its_time_capped_by_the_grace_period() {
    let mut world = world();
    let hook = json!({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "60"]}}}});
    let mut drains = web_pod("drains", hook.clone(), None);
    drains["metadata"]["annotations"]["pinsetter.dev/prestop-seconds"] = json!("5");
    let mut hangs = web_pod("hangs", hook, None);
    hangs["spec"]["terminationGracePeriodSeconds"] = json!(3);
    apply(&mut world, drains);
    apply(&mut world, hangs);
    let mut log = Vec::new();
    run(&mut world, 2_000, &mut log);
    for name in ["drains", "hangs"] {
        world.handle_input(Input::DeletePod(ObjectKey::new("default", name))).unwrap();
    }
    run(&mut world, 2_500, &mut log);
    let exists =
        |world: &World, name: &str| world.cluster().store.get::<Pod>(&ObjectKey::new("default", name)).is_some();
    assert!(exists(&world, "drains") && pod(&world, "drains").metadata.is_terminating(), "its hook runs 5 s");
    assert!(exists(&world, "hangs"), "its hook (60 s) runs until the 3 s grace period ends");
    run(&mut world, 1_500, &mut log);
    assert!(!exists(&world, "hangs"), "killed at the end of its grace period");
    assert!(exists(&world, "drains"));
    run(&mut world, 2_000, &mut log);
    assert!(!exists(&world, "drains"), "gone once its hook returned");

    let of = |object: &str, reason: &str| -> Vec<String> {
        log.iter().filter(|e| e.object == object && e.reason == reason).map(|e| e.message.clone()).collect()
    };
    assert_eq!(of("pod/drains", "Killing"), ["Stopping container web"]);
    assert_eq!(of("pod/hangs", "FailedPreStopHook"), ["PreStopHook failed"]);
    assert!(of("pod/drains", "FailedPreStopHook").is_empty(), "5 s fits in the default 30 s");
}
