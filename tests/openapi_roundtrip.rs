//! Our objects are upstream's: every kind the store holds, taken from a running lane (pods
//! bound, nodes tainted, events recorded), deserializes into the `k8s-openapi` types and keeps
//! its meaning.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::coordination::v1 as coordination;
use k8s_openapi::api::core::v1 as core;
use pinsetter::cluster::objects::{Deployment, Endpoints, Event, Lease, Node, Object, Pod, ReplicaSet, Service};
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};
use serde::de::DeserializeOwned;

fn upstream<T: DeserializeOwned>(ours: &impl serde::Serialize) -> T {
    let json = serde_json::to_value(ours).unwrap();
    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("upstream rejects {json}: {e}"))
}

#[test]
fn every_kind_round_trips_through_the_upstream_types() {
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    for _ in 0..100 {
        world.step();
    }
    let service: Service = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}}))
    .unwrap();
    world.handle_input(Input::Apply(Box::new(Object::Service(service)))).unwrap();
    world.handle_input(Input::Knock("pin-3".into())).unwrap();
    for _ in 0..300 {
        world.step();
    }
    let store = &world.cluster().store;

    for pod in store.list::<Pod>() {
        let theirs: core::Pod = upstream(pod);
        assert_eq!(theirs.metadata.name.as_deref(), Some(pod.metadata.name.as_str()));
        let spec = theirs.spec.unwrap();
        assert_eq!(spec.node_name.as_deref(), pod.node_name());
        assert_eq!(
            spec.containers[0].resources.as_ref().unwrap().requests.as_ref().unwrap()["cpu"].0,
            pod.spec.containers[0].resources.requests["cpu"].as_str()
        );
        assert_eq!(theirs.status.unwrap().phase.as_deref(), Some(pod.status.phase.as_str()).filter(|p| !p.is_empty()));
        assert_eq!(theirs.metadata.deletion_timestamp.is_some(), pod.metadata.is_terminating());
    }
    for node in store.list::<Node>() {
        let theirs: core::Node = upstream(node);
        let taints = theirs.spec.unwrap().taints.unwrap_or_default();
        assert_eq!(taints.len(), node.spec.taints.len());
        let ready = theirs.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert_eq!(ready.status, node.ready_condition().unwrap().status);
    }
    assert!(
        store.list::<Node>().any(|n| n.spec.taints.iter().any(|t| t.key == "node.kubernetes.io/unreachable")),
        "the knocked pin is tainted"
    );
    for d in store.list::<Deployment>() {
        let theirs: apps::Deployment = upstream(d);
        assert_eq!(theirs.spec.unwrap().replicas, d.spec.replicas);
        let status = theirs.status.unwrap();
        assert!(status.conditions.unwrap().iter().any(|c| c.type_ == "Available"));
    }
    for rs in store.list::<ReplicaSet>() {
        let theirs: apps::ReplicaSet = upstream(rs);
        assert_eq!(theirs.metadata.owner_references.unwrap()[0].kind, "Deployment");
    }
    for e in store.list::<Event>() {
        let theirs: core::Event = upstream(e);
        assert_eq!(theirs.reason.as_deref(), Some(e.reason.as_str()));
        assert_eq!(theirs.involved_object.name.as_deref(), Some(e.involved_object.name.as_str()));
    }
    assert!(store.list::<Event>().any(|e| e.reason == "TaintManagerEviction"));
    for svc in store.list::<Service>() {
        let theirs: core::Service = upstream(svc);
        let spec = theirs.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some(svc.spec.cluster_ip.as_str()));
        assert_eq!(
            spec.ports.unwrap()[0].target_port,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()))
        );
    }
    for ep in store.list::<Endpoints>() {
        let theirs: core::Endpoints = upstream(ep);
        assert!(!theirs.subsets.unwrap_or_default().is_empty());
    }
    assert_eq!(store.len::<Endpoints>(), 1);
    for lease in store.list::<Lease>() {
        let theirs: coordination::Lease = upstream(lease);
        assert!(theirs.spec.unwrap().renew_time.is_some(), "renewTime is a MicroTime upstream can parse");
    }
}
