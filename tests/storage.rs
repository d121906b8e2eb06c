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
    let spec = theirs.spec.unwrap();
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
