//! Storage and StatefulSets (issue 15): the new kinds are upstream's (they round-trip through
//! the `k8s-openapi` types), fields Pinsetter does not model come back whole, and a pod's
//! volumes are kept as written.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use pinsetter::cluster::objects::{Object, PersistentVolume, PersistentVolumeClaim, Pod, StatefulSet, StorageClass};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn upstream<T: DeserializeOwned>(ours: &impl serde::Serialize) -> T {
    let json = serde_json::to_value(ours).unwrap();
    serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("upstream rejects {json}: {e}"))
}

fn apply(world: &mut World, doc: Value) {
    world.handle_input(Input::Apply(Box::new(Object::from_value(doc).unwrap()))).unwrap();
}

fn tiny() -> World {
    World::new(1, Preset::Arcade, &Scenario::resolve("tiny").unwrap()).unwrap()
}

#[test]
fn storage_kinds_and_statefulsets_round_trip_through_the_upstream_types_keeping_unmodeled_fields() {
    let mut world = tiny();
    apply(
        &mut world,
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "local"},
            "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "WaitForFirstConsumer",
            "mountOptions": ["noatime"]}),
    );
    apply(
        &mut world,
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "local-pin-1"},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local", "local": {"path": "/mnt/disks/ssd1"},
                "mountOptions": ["noatime"],
                "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["pin-1"]}]}]}}}}),
    );
    apply(
        &mut world,
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "scratch"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                "resources": {"requests": {"storage": "1Gi"}},
                "selector": {"matchLabels": {"tier": "fast"}}}}),
    );
    apply(
        &mut world,
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"serviceName": "db", "replicas": 0, "selector": {"matchLabels": {"app": "db"}},
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [
                    {"name": "db", "image": "postgres:16"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                    "accessModes": ["ReadWriteOnce"], "storageClassName": "local",
                    "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    );
    let store = &world.cluster().store;

    let sc = store.get::<StorageClass>(&ObjectKey::cluster("local")).unwrap();
    let theirs: storage::StorageClass = upstream(sc);
    assert_eq!(theirs.volume_binding_mode.as_deref(), Some("WaitForFirstConsumer"));
    assert_eq!(theirs.reclaim_policy.as_deref(), Some("Delete"), "defaulted as upstream");
    assert_eq!(theirs.mount_options, Some(vec!["noatime".to_string()]), "unmodeled field kept");

    let pv = store.get::<PersistentVolume>(&ObjectKey::cluster("local-pin-1")).unwrap();
    let theirs: core::PersistentVolume = upstream(pv);
    let spec = theirs.spec.unwrap();
    assert_eq!(spec.capacity.unwrap()["storage"].0, "10Gi");
    assert_eq!(spec.local.unwrap().path, "/mnt/disks/ssd1");
    assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Retain"), "defaulted as upstream");
    assert_eq!(spec.mount_options, Some(vec!["noatime".to_string()]), "unmodeled field kept");
    let terms = spec.node_affinity.unwrap().required.unwrap().node_selector_terms;
    assert_eq!(terms[0].match_expressions.as_ref().unwrap()[0].values, Some(vec!["pin-1".to_string()]));

    let pvc = store.get::<PersistentVolumeClaim>(&ObjectKey::new("default", "scratch")).unwrap();
    let theirs: core::PersistentVolumeClaim = upstream(pvc);
    let spec = theirs.spec.unwrap();
    assert_eq!(spec.resources.unwrap().requests.unwrap()["storage"].0, "1Gi");
    assert_eq!(spec.selector.unwrap().match_labels.unwrap()["tier"], "fast", "unmodeled field kept");

    let sts = store.get::<StatefulSet>(&ObjectKey::new("default", "db")).unwrap();
    let theirs: apps::StatefulSet = upstream(sts);
    let spec = theirs.spec; // required (not an Option) in the v1_37 API types
    assert_eq!(spec.service_name.as_deref(), Some("db"));
    assert_eq!(spec.pod_management_policy.as_deref(), Some("OrderedReady"), "defaulted as upstream");
    assert_eq!(spec.update_strategy.unwrap().type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(spec.volume_claim_templates.unwrap()[0].metadata.name.as_deref(), Some("data"));
    assert_eq!(spec.persistent_volume_claim_retention_policy.unwrap().when_scaled.as_deref(), Some("Retain"));
}

#[test]
fn a_pod_s_volumes_come_back_as_written_and_its_claims_are_read() {
    let mut world = tiny();
    let volumes = json!([
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "settings", "configMap": {"name": "settings", "items": [{"key": "a", "path": "a.conf"}]}},
        {"name": "creds", "secret": {"secretName": "creds", "defaultMode": 420}},
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}
    ]);
    apply(
        &mut world,
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "i"}], "volumes": volumes}}),
    );
    let pod = world.cluster().store.get::<Pod>(&ObjectKey::new("default", "p")).unwrap();
    assert_eq!(serde_json::to_value(pod).unwrap()["spec"]["volumes"], volumes);
    assert_eq!(pod.claim_names().collect::<Vec<_>>(), ["data-db-0"]);
    let theirs: core::Pod = upstream(pod);
    assert_eq!(theirs.spec.unwrap().volumes.unwrap().len(), 6);
}

mod stateful_lane {
    use super::*;
    use pinsetter::cluster::objects::{Event, Kind, PodState};
    use pinsetter::world::Request;

    fn pod<'w>(world: &'w World, name: &str) -> Option<&'w Pod> {
        world.cluster().store.get::<Pod>(&ObjectKey::new("default", name))
    }

    /// Steps until `done` holds, failing with `what` after a simulated ten minutes.
    fn run_until(world: &mut World, what: &str, done: impl Fn(&World) -> bool) {
        let deadline = world.now().0 + 600_000;
        while !done(world) {
            assert!(world.now().0 < deadline, "not within ten minutes: {what}");
            world.step();
        }
    }

    fn running_on(world: &World, name: &str) -> Option<String> {
        pod(world, name).filter(|p| p.state() == PodState::Running).and_then(|p| p.node_name()).map(str::to_string)
    }

    /// The lesson of issue 15: the pin holding db-0's local volume falls; the Deployment's pods
    /// move, db-0 cannot (Pending with the VolumeBinding reason once its stuck pod is forced
    /// away, as an operator does); the pin returns and db-0 runs there again.
    #[test]
    fn a_knocked_pin_holds_its_stateful_pod_while_the_deployment_moves() {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("stateful").unwrap()).unwrap();
        run_until(&mut world, "db-0 and db-1 running", |w| {
            running_on(w, "db-0").is_some() && running_on(w, "db-1").is_some()
        });
        let pin = running_on(&world, "db-0").unwrap();
        run_until(&mut world, "data-db-0 bound", |w| {
            w.cluster()
                .store
                .get::<PersistentVolumeClaim>(&ObjectKey::new("default", "data-db-0"))
                .is_some_and(|c| c.status.phase == "Bound")
        });
        let claim =
            world.cluster().store.get::<PersistentVolumeClaim>(&ObjectKey::new("default", "data-db-0")).unwrap();
        assert_eq!(claim.spec.volume_name, format!("local-{pin}"), "WaitForFirstConsumer took the pod's pin's disk");

        world.handle_input(Input::Knock(pin.clone())).unwrap();
        run_until(&mut world, "the Deployment's pods moved off the knocked pin", |w| {
            let web_running_elsewhere = w
                .cluster()
                .store
                .list::<Pod>()
                .filter(|p| p.metadata.labels.get("app").is_some_and(|a| a == "web"))
                .filter(|p| p.state() == PodState::Running && p.node_name() != Some(pin.as_str()))
                .count();
            web_running_elsewhere == 4 && pod(w, "db-0").is_some_and(|p| p.metadata.is_terminating())
        });
        // As upstream: the set never runs two db-0s, so the one on the dead pin blocks it until
        // it is forced away (`kubectl delete pod db-0 --force --grace-period=0`).
        assert_eq!(pod(&world, "db-0").unwrap().node_name(), Some(pin.as_str()));
        let key = ObjectKey::new("default", "db-0");
        world
            .handle_input(Input::Request { id: 1, request: Request::Delete { kind: Kind::Pod, key, force: true } })
            .unwrap();
        run_until(&mut world, "db-0 recreated and refused by every pin", |w| {
            pod(w, "db-0").is_some_and(|p| !p.metadata.is_terminating())
                && w.cluster()
                    .store
                    .list::<Event>()
                    .any(|e| e.involved_object.name == "db-0" && e.reason == "FailedScheduling")
        });
        for _ in 0..100 {
            world.step();
        }
        let db0 = pod(&world, "db-0").unwrap();
        assert_eq!(db0.state(), PodState::Pending, "db-0 waits for its pin");
        let expected = "0/4 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 3 node(s) had volume node affinity conflict.";
        let messages: Vec<&str> = world
            .cluster()
            .store
            .list::<Event>()
            .filter(|e| e.involved_object.name == "db-0" && e.reason == "FailedScheduling")
            .map(|e| e.message.as_str())
            .collect();
        assert!(messages.iter().any(|m| m.starts_with(expected)), "{messages:?}");

        world.handle_input(Input::Restore(pin.clone())).unwrap();
        run_until(&mut world, "db-0 running again", |w| running_on(w, "db-0").is_some());
        assert_eq!(running_on(&world, "db-0"), Some(pin), "on the same pin, with its data");
    }
}
