//! Server-side printing: `meta.k8s.io/v1 Table` with kube-apiserver's columns, so `kubectl get`
//! shows what users expect (READY, STATUS, RESTARTS, AGE; `-o wide` adds the priority-1 ones).

use crate::clock::Reading;
use crate::cluster::objects::{Kind, Object};
use serde_json::{Value, json};

pub use crate::cluster::objects::print::human_duration;

fn col(name: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": "string", "format": format, "description": "", "priority": priority})
}

/// Column definitions for a resource (by plural): a kind's come from the kinds table.
pub fn columns(resource: &str) -> Vec<Value> {
    let named: &[(&str, u8)] = match Kind::from_plural(resource) {
        Some(kind) => kind.columns(),
        None if resource == "namespaces" => &[("Name", 0), ("Status", 0), ("Age", 0)],
        None => &[("Name", 0), ("Created At", 0)],
    };
    named.iter().map(|(n, p)| col(n, *p)).collect()
}

/// The cells of one row.
pub fn cells(object: &Object, now: Reading) -> Vec<Value> {
    object.cells(now)
}

/// A Table of `rows` (objects already serialized), with the full object or only its metadata.
pub fn table(resource: &str, rows: Vec<(Vec<Value>, Value)>, resource_version: u64, include_object: bool) -> Value {
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|(cells, object)| {
            let object = if include_object {
                object
            } else {
                json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"]})
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns(resource),
        "rows": rows,
    })
}
