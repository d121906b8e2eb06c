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
    world.handle_input(Input::Apply(Box::new(Object::from(service)))).unwrap();
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
        assert_eq!(theirs.spec.replicas, d.spec.replicas); // required in the v1_37 types
        let status = theirs.status.unwrap();
        assert!(status.conditions.unwrap().iter().any(|c| c.type_.as_deref() == Some("Available")));
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

/// A ConfigMap and a Secret written with the upstream types come back from the store as the
/// same objects (server fields aside), `stringData` merged into `data` as upstream does.
#[test]
fn configmaps_and_secrets_round_trip_through_the_upstream_types() {
    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use pinsetter::cluster::objects::{ConfigMap, Kind, Secret};
    use pinsetter::cluster::store::ObjectKey;

    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    let meta = |name: &str| ObjectMeta { name: Some(name.into()), ..ObjectMeta::default() };
    let cm = core::ConfigMap {
        metadata: meta("settings"),
        data: Some([("lane".to_string(), "10".to_string()), ("empty".to_string(), String::new())].into()),
        binary_data: Some([("logo".to_string(), ByteString(vec![0, 159, 146, 150]))].into()),
        immutable: Some(true),
    };
    let secret = core::Secret {
        metadata: meta("creds"),
        data: Some([("password".to_string(), ByteString(b"hunter2".to_vec()))].into()),
        string_data: Some([("user".to_string(), "admin".to_string())].into()),
        type_: Some("kubernetes.io/basic-auth".into()),
        immutable: None,
    };
    for theirs in [serde_json::to_value(&cm).unwrap(), serde_json::to_value(&secret).unwrap()] {
        let mut theirs = theirs;
        let kind = if theirs.get("type").is_some() { Kind::Secret } else { Kind::ConfigMap };
        theirs["apiVersion"] = "v1".into();
        theirs["kind"] = kind.name().into();
        world.handle_input(Input::Apply(Box::new(Object::from_value(theirs).unwrap()))).unwrap();
    }
    let store = &world.cluster().store;

    let ours = store.get::<ConfigMap>(&ObjectKey::new("default", "settings")).unwrap();
    let back: core::ConfigMap = upstream(ours);
    assert_eq!((back.data, back.binary_data, back.immutable), (cm.data, cm.binary_data, cm.immutable));
    assert_eq!(back.metadata.uid.as_deref(), Some(ours.metadata.uid.as_str()));

    let ours = store.get::<Secret>(&ObjectKey::new("default", "creds")).unwrap();
    let back: core::Secret = upstream(ours);
    let expected = [
        ("password".to_string(), ByteString(b"hunter2".to_vec())),
        ("user".to_string(), ByteString(b"admin".to_vec())),
    ];
    assert_eq!(back.data, Some(expected.into()));
    assert_eq!(back.string_data, None);
    assert_eq!(back.type_.as_deref(), Some("kubernetes.io/basic-auth"));
}

/// ServiceAccounts and RBAC (issue 14): the `default` accounts and the bootstrap policy a lane
/// starts with, aggregated, and a RoleBinding to a ServiceAccount, read as k8s-openapi's types.
#[test]
fn service_accounts_and_rbac_round_trip_through_the_upstream_types() {
    use k8s_openapi::api::rbac::v1 as rbac;
    use pinsetter::cluster::objects::{ClusterRole, ClusterRoleBinding, RoleBinding, ServiceAccount};
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({"apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": "default"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}))
    .unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from(binding)))).unwrap();
    for _ in 0..20 {
        world.step();
    }
    let store = &world.cluster().store;
    assert!(store.list::<ServiceAccount>().any(|sa| sa.metadata.name == "default"));
    for sa in store.list::<ServiceAccount>() {
        let theirs: core::ServiceAccount = upstream(sa);
        assert_eq!(theirs.metadata.namespace.as_deref(), sa.metadata.namespace.as_deref());
    }
    let view = store.list::<ClusterRole>().find(|r| r.metadata.name == "view").expect("the bootstrap view role");
    let theirs: rbac::ClusterRole = upstream(view);
    let rules = theirs.rules.unwrap();
    assert!(!rules.is_empty(), "view is aggregated");
    assert!(rules.iter().any(|r| r.resources.as_ref().is_some_and(|res| res.iter().any(|x| x == "pods/log"))));
    let selectors = theirs.aggregation_rule.unwrap().cluster_role_selectors.unwrap();
    assert_eq!(selectors[0].match_labels.as_ref().unwrap()["rbac.authorization.k8s.io/aggregate-to-view"], "true");
    for binding in store.list::<ClusterRoleBinding>() {
        let theirs: rbac::ClusterRoleBinding = upstream(binding);
        assert_eq!(theirs.role_ref.name, binding.role_ref.name);
        assert_eq!(theirs.subjects.unwrap().len(), binding.subjects.len());
    }
    for binding in store.list::<RoleBinding>() {
        let theirs: rbac::RoleBinding = upstream(binding);
        assert_eq!(theirs.subjects.unwrap()[0].kind, "ServiceAccount");
    }
}

/// The shipped `Roll` CustomResourceDefinition, applied and established, is upstream's
/// `apiextensions.k8s.io/v1` object: its schema, printer columns, status subresource and the
/// conditions the establishing controller wrote all read back through the k8s-openapi type.
#[test]
fn custom_resource_definitions_round_trip_through_the_upstream_types() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use pinsetter::cluster::objects::CustomResourceDefinition;
    use pinsetter::cluster::store::ObjectKey;

    let manifest: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string("assets/crds/roll.yaml").unwrap()).unwrap();
    let theirs: apiextensions::CustomResourceDefinition = serde_json::from_value(manifest.clone()).unwrap();
    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    world.handle_input(Input::Apply(Box::new(Object::from_value(manifest).unwrap()))).unwrap();
    for _ in 0..10 {
        world.step();
    }
    let ours = world
        .cluster()
        .store
        .get::<CustomResourceDefinition>(&ObjectKey::cluster("rolls.pinsetter.dev"))
        .expect("applied")
        .clone();
    let back: apiextensions::CustomResourceDefinition = upstream(&ours);
    assert_eq!(back.spec.group, "pinsetter.dev");
    assert_eq!(back.spec.names.list_kind.as_deref(), Some("RollList"));
    assert_eq!(back.spec.versions[0].schema, theirs.spec.versions[0].schema, "the schema is kept as sent");
    assert_eq!(back.spec.versions[0].additional_printer_columns, theirs.spec.versions[0].additional_printer_columns);
    assert!(back.spec.versions[0].subresources.as_ref().unwrap().status.is_some());
    let status = back.status.expect("established");
    let conditions: Vec<(String, String)> =
        status.conditions.unwrap().into_iter().map(|c| (c.type_, c.status)).collect();
    assert_eq!(conditions, [("NamesAccepted".into(), "True".into()), ("Established".into(), "True".into())]);
    assert_eq!(status.stored_versions, Some(vec!["v1alpha1".to_string()]));
    assert_eq!(status.accepted_names.unwrap().plural, "rolls");
}

/// A PodDisruptionBudget (policy/v1) written with the upstream types comes back as the same
/// spec, and its status (the disruption controller's) reads as upstream's.
#[test]
fn pod_disruption_budgets_round_trip_through_the_upstream_types() {
    use k8s_openapi::api::policy::v1 as policy;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use pinsetter::cluster::objects::PodDisruptionBudget;
    use pinsetter::cluster::store::ObjectKey;

    let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    let theirs = policy::PodDisruptionBudget {
        metadata: ObjectMeta { name: Some("half-of-web".into()), ..ObjectMeta::default() },
        spec: Some(policy::PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::String("50%".into())),
            selector: Some(LabelSelector {
                match_labels: Some([("app".to_string(), "web".to_string())].into()),
                ..LabelSelector::default()
            }),
            unhealthy_pod_eviction_policy: Some("AlwaysAllow".into()),
            min_available: None,
        }),
        status: None,
    };
    let mut doc = serde_json::to_value(&theirs).unwrap();
    doc["apiVersion"] = "policy/v1".into();
    doc["kind"] = "PodDisruptionBudget".into();
    world.handle_input(Input::Apply(Box::new(Object::from_value(doc).unwrap()))).unwrap();
    for _ in 0..100 {
        world.step();
    }
    let ours = world.cluster().store.get::<PodDisruptionBudget>(&ObjectKey::new("default", "half-of-web")).unwrap();
    let back: policy::PodDisruptionBudget = upstream(ours);
    assert_eq!(back.spec, theirs.spec);
    assert_eq!(back.metadata.uid.as_deref(), Some(ours.metadata.uid.as_str()));
    let status = back.status.unwrap();
    assert_eq!(status.disruptions_allowed, Some(ours.status.disruptions_allowed));
    assert_eq!(status.observed_generation, Some(1), "the disruption controller has seen it");
    assert!(status.conditions.unwrap().iter().any(|c| c.type_ == "DisruptionAllowed"));
}
