//! What kubectl learns before it asks for anything: `/version`, legacy discovery (`/api`,
//! `/apis`, `/api/v1`, `/apis/<group>/<version>`) and a paths-only OpenAPI v3 document, which is
//! enough for `kubectl apply -f` to skip client-side validation and send `fieldValidation`.

use crate::cluster::objects::Kind;
use serde_json::{Value, json};

/// A resource the API serves. `kind` is `None` for read-only virtual resources (namespaces).
#[derive(Debug, Clone, Copy)]
pub struct ResourceInfo {
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind_name: &'static str,
    pub group: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub kind: Option<Kind>,
}

const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

pub const RESOURCES: [ResourceInfo; 10] = [
    ResourceInfo {
        plural: "pods",
        singular: "pod",
        kind_name: "Pod",
        group: "",
        namespaced: true,
        short_names: &["po"],
        verbs: ALL_VERBS,
        categories: &["all"],
        kind: Some(Kind::Pod),
    },
    ResourceInfo {
        plural: "nodes",
        singular: "node",
        kind_name: "Node",
        group: "",
        namespaced: false,
        short_names: &["no"],
        verbs: ALL_VERBS,
        categories: &[],
        kind: Some(Kind::Node),
    },
    ResourceInfo {
        plural: "events",
        singular: "event",
        kind_name: "Event",
        group: "",
        namespaced: true,
        short_names: &["ev"],
        verbs: ALL_VERBS,
        categories: &[],
        kind: Some(Kind::Event),
    },
    // The same Events through the newer API (src/api/events_v1.rs converts them).
    ResourceInfo {
        plural: "events",
        singular: "event",
        kind_name: "Event",
        group: "events.k8s.io",
        namespaced: true,
        short_names: &["ev"],
        verbs: &["get", "list", "watch"],
        categories: &[],
        kind: Some(Kind::Event),
    },
    ResourceInfo {
        plural: "services",
        singular: "service",
        kind_name: "Service",
        group: "",
        namespaced: true,
        short_names: &["svc"],
        verbs: ALL_VERBS,
        categories: &["all"],
        kind: Some(Kind::Service),
    },
    ResourceInfo {
        plural: "endpoints",
        singular: "endpoints",
        kind_name: "Endpoints",
        group: "",
        namespaced: true,
        short_names: &["ep"],
        verbs: ALL_VERBS,
        categories: &[],
        kind: Some(Kind::Endpoints),
    },
    ResourceInfo {
        plural: "namespaces",
        singular: "namespace",
        kind_name: "Namespace",
        group: "",
        namespaced: false,
        short_names: &["ns"],
        verbs: &["get", "list"],
        categories: &[],
        kind: None,
    },
    ResourceInfo {
        plural: "deployments",
        singular: "deployment",
        kind_name: "Deployment",
        group: "apps",
        namespaced: true,
        short_names: &["deploy"],
        verbs: ALL_VERBS,
        categories: &["all"],
        kind: Some(Kind::Deployment),
    },
    ResourceInfo {
        plural: "replicasets",
        singular: "replicaset",
        kind_name: "ReplicaSet",
        group: "apps",
        namespaced: true,
        short_names: &["rs"],
        verbs: ALL_VERBS,
        categories: &["all"],
        kind: Some(Kind::ReplicaSet),
    },
    ResourceInfo {
        plural: "leases",
        singular: "lease",
        kind_name: "Lease",
        group: "coordination.k8s.io",
        namespaced: true,
        short_names: &[],
        verbs: ALL_VERBS,
        categories: &[],
        kind: Some(Kind::Lease),
    },
];

/// The namespaces that exist (fixed: the game's objects live in these).
pub use crate::cluster::admission::NAMESPACES;

pub fn find(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
}

pub const GROUPS: [&str; 3] = ["apps", "coordination.k8s.io", "events.k8s.io"];

/// kubectl picks its bundled minor version from this (see kubectl-compat.md §1): report 1.32.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "32", "gitVersion": "v1.32.4-pinsetter",
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "rustc",
        "platform": "linux/amd64"
    })
}

pub fn api_versions(server: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}]})
}

pub fn api_groups() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|g| {
            let gv = json!({"groupVersion": format!("{g}/v1"), "version": "v1"});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `APIResourceList` for one group (`""` = core), subresources included.
pub fn resource_list(group: &str) -> Option<Value> {
    if !group.is_empty() && !GROUPS.contains(&group) {
        return None;
    }
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let mut entry = json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind_name,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            entry["categories"] = json!(r.categories);
        }
        resources.push(entry);
        let sub = |name: &str, kind: &str, verbs: &[&str]| json!({"name": format!("{}/{name}", r.plural), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs});
        match r.plural {
            "pods" => {
                resources.push(sub("log", "Pod", &["get"]));
                let mut eviction = sub("eviction", "Eviction", &["create"]);
                eviction["group"] = json!("policy");
                eviction["version"] = json!("v1");
                resources.push(eviction);
                resources.push(sub("status", "Pod", &["get", "patch", "update"]));
            }
            "deployments" => {
                let mut scale = sub("scale", "Scale", &["get", "patch", "update"]);
                scale["group"] = json!("autoscaling");
                scale["version"] = json!("v1");
                resources.push(scale);
                resources.push(sub("status", "Deployment", &["get", "patch", "update"]));
            }
            "nodes" => resources.push(sub("status", "Node", &["get", "patch", "update"])),
            _ => {}
        }
    }
    let group_version = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

pub fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=PINSETTER1"}));
    for g in GROUPS {
        paths.insert(
            format!("apis/{g}/v1"),
            json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/v1?hash=PINSETTER1")}),
        );
    }
    json!({"paths": paths})
}

/// A paths-only document: one PATCH operation per kind that declares `fieldValidation`, which
/// tells kubectl the server validates fields itself.
pub fn openapi_group(group: &str) -> Option<Value> {
    if !group.is_empty() && !GROUPS.contains(&group) {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let prefix = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/v1") };
        paths.insert(
            format!("{prefix}/{}/{{name}}", r.plural),
            json!({"patch": {
                "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": r.kind_name},
                "parameters": [{"name": "fieldValidation", "in": "query"}]
            }}),
        );
    }
    Some(json!({"openapi": "3.0.0", "info": {"title": "Pinsetter", "version": "v1.32.4"}, "paths": paths}))
}
