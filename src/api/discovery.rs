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
    pub version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub kind: Option<Kind>,
}

impl ResourceInfo {
    /// A kind's entry, from the kinds table.
    pub const fn of(kind: Kind) -> ResourceInfo {
        ResourceInfo {
            plural: kind.plural(),
            singular: kind.singular(),
            kind_name: kind.name(),
            group: kind.group(),
            version: kind.version(),
            namespaced: kind.namespaced(),
            short_names: kind.short_names(),
            verbs: kind.verbs(),
            categories: kind.categories(),
            kind: Some(kind),
        }
    }
}

/// Namespaces are served read-only: the game's objects live in a fixed set of them.
const NAMESPACE_RESOURCE: ResourceInfo = ResourceInfo {
    plural: "namespaces",
    singular: "namespace",
    kind_name: "Namespace",
    group: "",
    version: "v1",
    namespaced: false,
    short_names: &["ns"],
    verbs: &["get", "list"],
    categories: &[],
    kind: None,
};

/// The same Events through the newer API (`src/api/events_v1.rs` converts them).
const EVENTS_V1_RESOURCE: ResourceInfo = ResourceInfo {
    plural: "events",
    singular: "event",
    kind_name: "Event",
    group: "events.k8s.io",
    version: "v1",
    namespaced: true,
    short_names: &["ev"],
    verbs: &["get", "list", "watch"],
    categories: &[],
    kind: Some(Kind::Event),
};

/// Every kind in the kinds table, then namespaces and events.k8s.io's view of Events.
pub const RESOURCES: [ResourceInfo; Kind::ALL.len() + 2] = {
    let mut all = [NAMESPACE_RESOURCE; Kind::ALL.len() + 2];
    let mut i = 0;
    while i < Kind::ALL.len() {
        all[i] = ResourceInfo::of(Kind::ALL[i]);
        i += 1;
    }
    all[Kind::ALL.len() + 1] = EVENTS_V1_RESOURCE;
    all
};

/// The namespaces that exist (fixed: the game's objects live in these).
pub use crate::cluster::admission::NAMESPACES;

pub fn find(group: &str, plural: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.plural == plural)
}

/// The named API groups served: the kinds table's, in table order, then events.k8s.io.
pub static GROUPS: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    let mut groups: Vec<&str> = Vec::new();
    for group in Kind::ALL.map(Kind::group) {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    groups.push(EVENTS_V1_RESOURCE.group);
    groups.extend(REVIEWS.iter().map(|(group, ..)| *group));
    groups
});

/// The review APIs (`src/api/auth.rs`): create-only, nothing stored. (group, resource, kind)
const REVIEWS: [(&str, &str, &str); 2] = [
    ("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview"),
    ("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview"),
];

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
    for r in RESOURCES.iter().filter(|r| r.group == group && !r.plural.is_empty()) {
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
            }
            "deployments" | "statefulsets" => {
                let mut scale = sub("scale", "Scale", &["get", "patch", "update"]);
                scale["group"] = json!("autoscaling");
                scale["version"] = json!("v1");
                resources.push(scale);
            }
            "serviceaccounts" => {
                let mut token = sub("token", "TokenRequest", &["create"]);
                token["group"] = json!("authentication.k8s.io");
                token["version"] = json!("v1");
                resources.push(token);
            }
            _ => {}
        }
        // Every kind whose status its controllers or kubelets write (the kinds table says which).
        if r.kind.is_some_and(|k| k.group() == r.group && k.has_status()) {
            resources.push(sub("status", r.kind_name, &["get", "patch", "update"]));
        }
    }
    for (_, name, kind) in REVIEWS.iter().filter(|(g, ..)| *g == group) {
        resources
            .push(json!({"name": name, "singularName": "", "namespaced": false, "kind": kind, "verbs": ["create"]}));
    }
    let group_version = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}))
}

pub fn openapi_root() -> Value {
    let mut paths = serde_json::Map::new();
    paths.insert("api/v1".into(), json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=PINSETTER1"}));
    for g in GROUPS.iter() {
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
    for r in RESOURCES.iter().filter(|r| r.group == group && !r.plural.is_empty()) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_in_the_table_is_discovered_in_its_group() {
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::CustomObject) {
            let list = resource_list(kind.group()).unwrap();
            let entry = list["resources"].as_array().unwrap().iter().find(|r| r["name"] == kind.plural()).unwrap();
            assert_eq!(entry["kind"], kind.name());
            assert_eq!(entry["singularName"], kind.singular());
            assert_eq!(entry["namespaced"], kind.namespaced());
            assert_eq!(find(kind.group(), kind.plural()).and_then(|r| r.kind), Some(kind));
            let expected_group =
                if kind.group().is_empty() { "v1".to_string() } else { format!("{}/v1", kind.group()) };
            assert_eq!(list["groupVersion"], expected_group);
        }
        assert_eq!(
            *GROUPS,
            [
                "apps",
                "coordination.k8s.io",
                "rbac.authorization.k8s.io",
                "apiextensions.k8s.io",
                "policy",
                "storage.k8s.io",
                "events.k8s.io",
                "authentication.k8s.io",
                "authorization.k8s.io"
            ]
        );
        assert!(find("", "namespaces").is_some_and(|r| r.kind.is_none()));
    }

    #[test]
    fn status_subresources_are_listed_for_the_kinds_with_status() {
        let names = |group: &str| -> Vec<String> {
            resource_list(group).unwrap()["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].as_str().unwrap().to_string())
                .collect()
        };
        let (core, apps, policy) = (names(""), names("apps"), names("policy"));
        for status in ["pods/status", "nodes/status", "services/status", "persistentvolumes/status"] {
            assert!(core.contains(&status.to_string()), "{status} missing from {core:?}");
        }
        assert!(core.contains(&"persistentvolumeclaims/status".to_string()));
        for status in ["deployments/status", "replicasets/status", "statefulsets/status"] {
            assert!(apps.contains(&status.to_string()), "{status} missing from {apps:?}");
        }
        assert!(policy.contains(&"poddisruptionbudgets/status".to_string()));
        assert!(names("apiextensions.k8s.io").contains(&"customresourcedefinitions/status".to_string()));
        assert!(!core.iter().any(|n| n == "configmaps/status" || n == "events/status"));
        assert!(!names("events.k8s.io").iter().any(|n| n.ends_with("/status")));
        assert_eq!(core.iter().filter(|n| *n == "pods/status").count(), 1);
    }
}
