//! Fields Pinsetter does not model are kept: an object POSTed with them comes back from GET with
//! every field it was sent, unchanged (the server may add fields, never drop or rewrite one).

mod common;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::lane::{Lane, lane};
use http_body_util::BodyExt;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use serde_json::{Value, json};
use tower::ServiceExt;

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
        if let Some(diff) = missing_outside_metadata(&object, answer) {
            panic!("{what} lost a field: {diff}\n{answer:#}");
        }
    }
    got
}

/// Every field sent is kept, metadata (the server's to stamp) and status (its owner's to write,
/// as upstream ignores it on create) aside.
fn missing_outside_metadata(sent: &Value, got: &Value) -> Option<String> {
    let mut sent = sent.clone();
    if let Some(map) = sent.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    missing(&sent, got, "")
}

/// PUTs the stored object back with an unmodeled field added at `pointer` (and a label), then
/// strategic-merge PATCHes a label: after each, GET returns every field it held before.
async fn survives_put_and_patch(lane: &Lane, item: &str, pointer: &str) {
    survives_put_and_patch_beside_controllers(lane, item, pointer, &[]).await;
}

/// [`survives_put_and_patch`] for an object the control plane writes too (the lane runs in real
/// time): a PUT that meets a newer version (409) is read again and retried, as any client does,
/// and the fields at `owned` (a controller's: a node's taints) are left out of the comparisons.
async fn survives_put_and_patch_beside_controllers(lane: &Lane, item: &str, pointer: &str, owned: &[&str]) {
    let strip = |mut v: Value| {
        for p in owned {
            let (parent, key) = p.rsplit_once('/').unwrap();
            if let Some(Value::Object(parent)) = v.pointer_mut(parent) {
                parent.remove(key);
            }
        }
        v
    };
    let mut attempts = 0;
    let current = loop {
        let (_, mut current) = send(lane, "GET", item, &Value::Null).await;
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let Some(Value::Object(parent)) = current.pointer_mut(parent) else { panic!("{pointer} has no object parent") };
        parent.insert(key.to_string(), json!({"added": "by put"}));
        current["metadata"]["labels"]["put"] = json!("yes");
        let (status, put) = send(lane, "PUT", item, &current).await;
        if status == StatusCode::CONFLICT && attempts < 5 {
            attempts += 1;
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{put}");
        break strip(current);
    };
    let (_, after_put) = send(lane, "GET", item, &Value::Null).await;
    let after_put = strip(after_put);
    if let Some(diff) = missing_outside_metadata(&current, &after_put) {
        panic!("PUT lost a field: {diff}\n{after_put:#}");
    }
    let request = Request::builder()
        .method("PATCH")
        .uri(item)
        .header("content-type", "application/strategic-merge-patch+json")
        .body(Body::from(json!({"metadata": {"labels": {"patched": "yes"}}}).to_string()))
        .unwrap();
    let response = lane.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (_, after_patch) = send(lane, "GET", item, &Value::Null).await;
    let after_patch = strip(after_patch);
    assert_eq!(after_patch["metadata"]["labels"]["patched"], "yes");
    if let Some(diff) = missing_outside_metadata(&after_put, &after_patch) {
        panic!("PATCH lost a field: {diff}\n{after_patch:#}");
    }
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
    survives_put_and_patch(&lane, "/api/v1/namespaces/default/pods/whole", "/spec/containers/0/notAFieldUpstreamKnows")
        .await;
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
    assert_eq!(theirs.spec.revision_history_limit, Some(4));
    survives_put_and_patch(&lane, "/apis/apps/v1/namespaces/default/deployments/kept", "/spec/notAFieldUpstreamKnows")
        .await;

    let replicaset = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "kept-rs"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "kept-rs"}}, "minReadySeconds": 5,
            "template": {"metadata": {"labels": {"app": "kept-rs"}}, "spec": pod_spec()}}});
    round_trip(&lane, "/apis/apps/v1/namespaces/default/replicasets", replicaset).await;
    survives_put_and_patch(
        &lane,
        "/apis/apps/v1/namespaces/default/replicasets/kept-rs",
        "/spec/notAFieldUpstreamKnows",
    )
    .await;

    let service = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kept"},
        "spec": {"selector": {"app": "kept"}, "sessionAffinity": "ClientIP", "internalTrafficPolicy": "Local",
            "ports": [{"port": 80, "targetPort": 8080, "appProtocol": "http"}], "publishNotReadyAddresses": true}});
    let got = round_trip(&lane, "/api/v1/namespaces/default/services", service).await;
    let theirs: core::Service = serde_json::from_value(got).unwrap();
    assert_eq!(theirs.spec.unwrap().session_affinity.as_deref(), Some("ClientIP"));
    survives_put_and_patch(&lane, "/api/v1/namespaces/default/services/kept", "/spec/notAFieldUpstreamKnows").await;
}

#[tokio::test]
async fn a_node_keeps_every_field_it_was_sent() {
    let lane = lane();
    let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "kept-node"},
        "spec": {"providerID": "kind://docker/kept", "podCIDRs": ["10.244.9.0/24"], "configSource": {"x": 1}},
        "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            "nodeInfo": {"kubeletVersion": "v1.31.0", "osImage": "Pinsetter"},
            "addresses": [{"type": "InternalIP", "address": "10.0.9.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}});
    round_trip(&lane, "/api/v1/nodes", node.clone()).await;
    // A node's status is its kubelet's to write, and comes back as written.
    let (_, got) = send(&lane, "GET", "/api/v1/nodes/kept-node", &Value::Null).await;
    for field in ["nodeInfo", "addresses", "daemonEndpoints"] {
        if let Some(diff) = missing(&node["status"][field], &got["status"][field], field) {
            panic!("node status lost a field: {diff}\n{got:#}");
        }
    }
    // A node nobody runs is tainted by the node lifecycle controller as it goes NotReady: its
    // taints are the controller's, not what the client sent.
    survives_put_and_patch_beside_controllers(
        &lane,
        "/api/v1/nodes/kept-node",
        "/spec/notAFieldUpstreamKnows",
        &["/spec/taints"],
    )
    .await;
}

/// The other kinds, each POSTed with fields Pinsetter does not read and read back whole.
#[tokio::test]
async fn every_other_kind_keeps_every_field_it_was_sent() {
    let lane = lane();
    let ns = "/api/v1/namespaces/default";
    let objects = [
        (
            "/apis/apps/v1/namespaces/default/statefulsets",
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "ledger"}, "spec": {"replicas": 0, "serviceName": "ledger", "minReadySeconds": 3,
                "selector": {"matchLabels": {"app": "ledger"}}, "podManagementPolicy": "Parallel",
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "ordinals": {"start": 0}, "revisionHistoryLimit": 3,
                "template": {"metadata": {"labels": {"app": "ledger"}}, "spec": pod_spec()}}}),
        ),
        (
            &format!("{ns}/persistentvolumeclaims"),
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem",
                "resources": {"requests": {"storage": "1Gi"}}, "storageClassName": "local",
                "dataSourceRef": {"kind": "VolumeSnapshot", "name": "snap", "apiGroup": "snapshot.storage.k8s.io"}}}),
        ),
        (
            "/api/v1/persistentvolumes",
            json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv-kept"}, "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "manual", "mountOptions": ["noatime"],
                "volumeMode": "Filesystem", "hostPath": {"path": "/tmp/kept", "type": "DirectoryOrCreate"}}}),
        ),
        (
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            json!({"apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget", "metadata": {"name": "ledger"}, "spec": {"minAvailable": 1,
                "selector": {"matchLabels": {"app": "ledger"}}, "unhealthyPodEvictionPolicy": "AlwaysAllow"}}),
        ),
        (
            &format!("{ns}/configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"},
            "data": {"a": "1"}, "binaryData": {"b": "AAE="}, "immutable": true}),
        ),
        (
            &format!("{ns}/endpoints"),
            json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
            "subsets": [{"addresses": [{"ip": "10.1.2.3", "hostname": "h", "nodeName": "pin-1",
                "targetRef": {"kind": "Pod", "name": "x", "namespace": "default"}}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "appProtocol": "http"}]}]}),
        ),
        (
            &format!("{ns}/events"),
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "ev.1"},
            "involvedObject": {"kind": "Pod", "name": "x", "namespace": "default", "fieldPath": "spec.containers{web}"},
            "reason": "Pulled", "message": "pulled", "type": "Normal", "count": 2,
            "source": {"component": "kubelet", "host": "pin-1"}, "reportingComponent": "kubelet",
            "reportingInstance": "pin-1", "action": "Pull", "related": {"kind": "Node", "name": "pin-1"}}),
        ),
        (
            "/apis/coordination.k8s.io/v1/namespaces/default/leases",
            json!({"apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease", "metadata": {"name": "lock"}, "spec": {"holderIdentity": "me", "leaseDurationSeconds": 15,
                "leaseTransitions": 2, "strategy": "OldestEmulationVersion", "preferredHolder": "you"}}),
        ),
    ];
    for (collection, object) in objects {
        round_trip(&lane, collection, object).await;
    }
}
