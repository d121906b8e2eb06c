//! Serving CustomResourceDefinitions' resources: a CRD in the read view becomes a resource the
//! routes serve like any kind (`discovery::ResourceInfo`), its group and version appear in
//! discovery, and `kubectl get` prints its `additionalPrinterColumns`.

use super::discovery::ResourceInfo;
use super::view::ReadView;
use crate::clock::Reading;
use crate::cluster::objects::crd::{CustomResourceColumnDefinition, CustomResourceDefinitionVersion};
use crate::cluster::objects::custom::json_path;
use crate::cluster::objects::print::age;
use crate::cluster::objects::{CustomResourceDefinition, Kind, Object};
use crate::cluster::store::ObjectKey;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

/// One served version of a CRD's resource, as the routes need it.
#[derive(Debug)]
pub struct CustomInfo {
    pub info: ResourceInfo,
    /// The CRD's name, `<plural>.<group>`: the store files the objects under it.
    pub resource: String,
    pub columns: Vec<CustomResourceColumnDefinition>,
    pub status_subresource: bool,
}

/// Every distinct served definition seen, kept for the process's life: the routes hold
/// `&'static ResourceInfo`, as for built-in kinds. Only a CRD whose served shape changes adds
/// an entry, so this stays as small as the set of definitions ever applied.
static INTERNED: LazyLock<Mutex<BTreeMap<String, &'static CustomInfo>>> = LazyLock::new(Default::default);

fn leak_strs(items: &[String]) -> &'static [&'static str] {
    Box::leak(items.iter().map(|s| &*Box::leak(s.clone().into_boxed_str())).collect::<Vec<_>>().into_boxed_slice())
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn intern(crd: &CustomResourceDefinition, version: &CustomResourceDefinitionVersion) -> &'static CustomInfo {
    let names = &crd.spec.names;
    let status_subresource = version.subresources.as_ref().is_some_and(|s| s.status.is_some());
    let identity = json!([
        crd.metadata.name,
        crd.spec.group,
        version.name,
        crd.spec.scope,
        names,
        version.additional_printer_columns,
        status_subresource
    ])
    .to_string();
    let mut interned = INTERNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    interned.entry(identity).or_insert_with(|| {
        Box::leak(Box::new(CustomInfo {
            info: ResourceInfo {
                plural: leak(&names.plural),
                singular: leak(&names.singular),
                kind_name: leak(&names.kind),
                group: leak(&crd.spec.group),
                version: leak(&version.name),
                namespaced: crd.namespaced(),
                short_names: leak_strs(&names.short_names),
                verbs: crate::cluster::objects::ALL_VERBS,
                categories: leak_strs(&names.categories),
                kind: Some(Kind::CustomObject),
            },
            resource: crd.metadata.name.clone(),
            columns: version.additional_printer_columns.clone(),
            status_subresource,
        }))
    })
}

/// Established CRDs, from the read view.
fn definitions(view: &ReadView) -> Vec<CustomResourceDefinition> {
    let Ok(snapshot) = view.list(Kind::CustomResourceDefinition, None, None, None) else { return Vec::new() };
    snapshot
        .items
        .iter()
        .filter_map(|o| match o.as_ref() {
            Object::CustomResourceDefinition(crd) if crd.is_established() => Some(CustomResourceDefinition::clone(crd)),
            _ => None,
        })
        .collect()
}

/// The served resource `plural` in `group`/`version`, if an established CRD defines it.
pub fn resolve(view: &ReadView, group: &str, version: &str, plural: &str) -> Option<&'static CustomInfo> {
    let crd = view.get(Kind::CustomResourceDefinition, &ObjectKey::cluster(format!("{plural}.{group}"))).items?;
    let Object::CustomResourceDefinition(crd) = crd.as_ref() else { return None };
    let served = crd.spec.versions.iter().find(|v| v.name == version && v.served)?;
    crd.is_established().then(|| intern(crd, served))
}

/// The resource an established CRD serves at its storage version, for readers holding the
/// CRD itself rather than the read view (the game's resource views).
pub fn served(crd: &CustomResourceDefinition) -> Option<&'static CustomInfo> {
    let version = crd.storage_version().filter(|v| v.served)?;
    crd.is_established().then(|| intern(crd, version))
}

/// `APIGroup` entries for the groups CRDs add (`/apis`), the storage version preferred.
pub fn groups(view: &ReadView) -> Vec<Value> {
    let mut by_group: BTreeMap<String, (Vec<String>, Option<String>)> = BTreeMap::new();
    for crd in definitions(view) {
        let entry = by_group.entry(crd.spec.group.clone()).or_default();
        for v in crd.spec.versions.iter().filter(|v| v.served) {
            if !entry.0.contains(&v.name) {
                entry.0.push(v.name.clone());
            }
            if v.storage {
                entry.1 = Some(v.name.clone());
            }
        }
    }
    by_group
        .into_iter()
        .map(|(group, (versions, preferred))| {
            let gv = |v: &str| json!({"groupVersion": format!("{group}/{v}"), "version": v});
            let preferred = preferred.or_else(|| versions.first().cloned()).unwrap_or_default();
            json!({"name": group, "versions": versions.iter().map(|v| gv(v)).collect::<Vec<_>>(),
                "preferredVersion": gv(&preferred)})
        })
        .collect()
}

/// `APIResourceList` for a group and version CRDs serve (`/apis/<group>/<version>`).
pub fn resource_list(view: &ReadView, group: &str, version: &str) -> Option<Value> {
    let mut resources = Vec::new();
    for crd in definitions(view).iter().filter(|c| c.spec.group == group) {
        let Some(v) = crd.spec.versions.iter().find(|v| v.name == version && v.served) else { continue };
        let info = intern(crd, v);
        let mut entry = json!({
            "name": info.info.plural, "singularName": info.info.singular, "namespaced": info.info.namespaced,
            "kind": info.info.kind_name, "verbs": info.info.verbs,
        });
        if !info.info.short_names.is_empty() {
            entry["shortNames"] = json!(info.info.short_names);
        }
        if !info.info.categories.is_empty() {
            entry["categories"] = json!(info.info.categories);
        }
        resources.push(entry);
        if info.status_subresource {
            resources.push(json!({"name": format!("{}/status", info.info.plural), "singularName": "",
                "namespaced": info.info.namespaced, "kind": info.info.kind_name, "verbs": ["get", "patch", "update"]}));
        }
    }
    (!resources.is_empty()).then(|| {
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{group}/{version}"),
            "resources": resources})
    })
}

/// The printer columns: `Name`, then the CRD's; `Age` when the CRD declares none, as
/// apiextensions-apiserver's table convertor does.
fn columns(custom: &CustomInfo) -> Vec<CustomResourceColumnDefinition> {
    let age = CustomResourceColumnDefinition {
        name: "Age".into(),
        type_: "date".into(),
        json_path: ".metadata.creationTimestamp".into(),
        ..Default::default()
    };
    if custom.columns.is_empty() { vec![age] } else { custom.columns.clone() }
}

pub fn column_definitions(custom: &CustomInfo) -> Vec<Value> {
    let name = json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0});
    std::iter::once(name)
        .chain(columns(custom).iter().map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description,
                "priority": c.priority})
        }))
        .collect()
}

/// One row's cells, read from the object's JSON by each column's `jsonPath`; `date` columns
/// print as an age, as upstream's convertor does.
pub fn cells(custom: &CustomInfo, object: &Value, now: Reading) -> Vec<Value> {
    std::iter::once(object["metadata"]["name"].clone())
        .chain(columns(custom).iter().map(|c| match json_path(object, &c.json_path) {
            Some(Value::String(at)) if c.type_ == "date" => json!(age(Some(at), now)),
            Some(value) => value.clone(),
            None => Value::Null,
        }))
        .collect()
}

/// `/openapi/v3` index entries (`apis/<group>/<version>`) for what established CRDs serve. The
/// `hash` changes with the definitions behind a document (their resourceVersions), so kubectl's
/// cache follows CRDs as they come, change and go.
pub fn openapi_paths(view: &ReadView) -> Vec<(String, Value)> {
    let mut by_group_version: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for crd in definitions(view) {
        for version in crd.spec.versions.iter().filter(|v| v.served) {
            let stamp = format!("{}@{}", crd.metadata.name, crd.metadata.resource_version);
            by_group_version.entry(format!("apis/{}/{}", crd.spec.group, version.name)).or_default().push(stamp);
        }
    }
    by_group_version
        .into_iter()
        .map(|(path, stamps)| {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(stamps.join(",").as_bytes());
            let hash: String = digest.iter().take(16).map(|b| format!("{b:02X}")).collect();
            let url = json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")});
            (path, url)
        })
        .collect()
}

/// The OpenAPI v3 document for a group and version CRDs serve (`/openapi/v3/apis/<g>/<v>`):
/// per resource, a PATCH operation declaring `fieldValidation` (kubectl then leaves validation
/// to the server, as for built-in kinds) and the version's `openAPIV3Schema` as a component
/// carrying `x-kubernetes-group-version-kind` (what `kubectl explain` looks up), named as
/// upstream names it (`dev.pinsetter.v1alpha1.Roll`). No `requestBody`: custom objects take
/// JSON merge patches, never strategic ones, so kubectl must not look for merge keys here.
pub fn openapi_group(view: &ReadView, group: &str, version: &str) -> Option<Value> {
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for crd in definitions(view).iter().filter(|c| c.spec.group == group) {
        let Some(served) = crd.spec.versions.iter().find(|v| v.name == version && v.served) else { continue };
        let names = &crd.spec.names;
        let gvk = json!({"group": group, "version": version, "kind": names.kind});
        let scope = if crd.namespaced() { "namespaces/{namespace}/" } else { "" };
        paths.insert(
            format!("/apis/{group}/{version}/{scope}{}/{{name}}", names.plural),
            json!({"patch": {
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": "fieldValidation", "in": "query"}]
            }}),
        );
        let mut schema = served
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.clone())
            .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
        // As apiextensions-apiserver publishes it: the type meta and metadata every object has.
        if let Some(properties) =
            schema.as_object_mut().and_then(|s| s.entry("properties").or_insert_with(|| json!({})).as_object_mut())
        {
            properties.insert(
                "apiVersion".into(),
                json!({"type": "string",
                    "description": "APIVersion defines the versioned schema of this representation of an object."}),
            );
            properties.insert(
                "kind".into(),
                json!({"type": "string",
                    "description": "Kind is a string value representing the REST resource this object represents."}),
            );
            properties
                .insert("metadata".into(), json!({"type": "object", "description": "Standard object's metadata."}));
        }
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        let reversed: Vec<&str> = group.split('.').rev().collect();
        schemas.insert(format!("{}.{version}.{}", reversed.join("."), names.kind), schema);
    }
    (!paths.is_empty()).then(|| {
        json!({"openapi": "3.0.0", "info": {"title": "Pinsetter", "version": "v1.32.4"}, "paths": paths,
            "components": {"schemas": schemas}})
    })
}
