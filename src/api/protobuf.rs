//! Kubernetes protobuf request bodies. Since client-go 1.31, `kubectl create deployment` sends
//! `application/vnd.kubernetes.protobuf` and gives up on a 415, so the kinds kubectl creates
//! that way are decoded here (with the kube-rs project's `k8s-pb` types) into the same JSON the
//! JSON path takes.

use super::status::ApiError;
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::{Map, Value, json};

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\0";

/// Decodes the `k8s\0` + `runtime.Unknown` envelope and the object inside it to JSON.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ApiError::bad_request("protobuf body without the Kubernetes \"k8s\\0\" prefix"))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(envelope)
        .map_err(|e| ApiError::bad_request(format!("malformed protobuf envelope: {e}")))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (type_meta.api_version.unwrap_or_default(), type_meta.kind.unwrap_or_default());
    if kind.is_empty() || api_version.is_empty() {
        return Err(ApiError::bad_request("protobuf envelope names no apiVersion and kind"));
    }
    let raw = unknown.raw.unwrap_or_default();
    let bad = |e: prost::DecodeError| ApiError::bad_request(format!("malformed protobuf {kind}: {e}"));
    // Map values (ConfigMap and Secret data) are kept whole: an empty value is still a key.
    let mut data = Map::new();
    let mut spec_fields = Map::new();
    let mut value = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => {
            let cm = core::ConfigMap::decode(raw.as_slice()).map_err(bad)?;
            data.insert("data".into(), json!(cm.data));
            data.insert("binaryData".into(), base64_values(&cm.binary_data));
            json!({"metadata": object_meta(cm.metadata.as_ref()), "immutable": cm.immutable})
        }
        ("v1", "Secret") => {
            let secret = core::Secret::decode(raw.as_slice()).map_err(bad)?;
            data.insert("data".into(), base64_values(&secret.data));
            data.insert("stringData".into(), json!(secret.string_data));
            json!({"metadata": object_meta(secret.metadata.as_ref()), "immutable": secret.immutable, "type": secret.r#type})
        }
        ("policy/v1", "PodDisruptionBudget") => {
            let pdb = k8s_pb::api::policy::v1::PodDisruptionBudget::decode(raw.as_slice()).map_err(bad)?;
            let spec = pdb.spec.unwrap_or_default();
            // Kept past the pruning: `maxUnavailable: 0` is a budget, not an empty field.
            let int_or_string = |v: &k8s_pb::apimachinery::pkg::util::intstr::IntOrString| match v.r#type {
                Some(1) => json!(v.str_val.clone().unwrap_or_default()),
                _ => json!(v.int_val.unwrap_or(0)),
            };
            for (field, value) in [("minAvailable", &spec.min_available), ("maxUnavailable", &spec.max_unavailable)] {
                if let Some(value) = value {
                    spec_fields.insert(field.into(), int_or_string(value));
                }
            }
            if let Some(selector) = &spec.selector {
                let expressions: Vec<Value> = selector
                    .match_expressions
                    .iter()
                    .map(|e| json!({"key": e.key, "operator": e.operator, "values": e.values}))
                    .collect();
                spec_fields.insert(
                    "selector".into(),
                    json!({"matchLabels": selector.match_labels, "matchExpressions": expressions}),
                );
            }
            let policy = spec.unhealthy_pod_eviction_policy;
            json!({"metadata": object_meta(pdb.metadata.as_ref()), "spec": {"unhealthyPodEvictionPolicy": policy}})
        }
        ("apps/v1", "Deployment") => deployment(&apps::Deployment::decode(raw.as_slice()).map_err(bad)?),
        ("v1", "Service") => service(&core::Service::decode(raw.as_slice()).map_err(bad)?),
        ("v1", "Pod") => {
            let pod = core::Pod::decode(raw.as_slice()).map_err(bad)?;
            json!({"metadata": object_meta(pod.metadata.as_ref()), "spec": pod.spec.as_ref().map(pod_spec)})
        }
        (
            _,
            "ServiceAccount"
            | "Role"
            | "ClusterRole"
            | "RoleBinding"
            | "ClusterRoleBinding"
            | "TokenRequest"
            | "SelfSubjectAccessReview"
            | "SelfSubjectReview",
        ) => super::auth::protobuf_to_json(&kind, &raw).map_err(bad)?,
        _ => {
            return Err(ApiError::unsupported_media_type(
                &format!("{CONTENT_TYPE} for {api_version} {kind}"),
                "application/json, application/yaml, and protobuf for the kinds kubectl creates",
            ));
        }
    };
    value["apiVersion"] = json!(api_version);
    value["kind"] = json!(kind);
    prune(&mut value);
    if !spec_fields.is_empty() {
        let spec = value.as_object_mut().map(|o| o.entry("spec").or_insert_with(|| json!({})));
        if let Some(Value::Object(spec)) = spec {
            // A selector's empty parts go; `{}` itself stays (it selects every pod).
            if let Some(Value::Object(selector)) = spec_fields.get_mut("selector") {
                selector.retain(|_, v| {
                    v.as_object().is_none_or(|m| !m.is_empty()) && v.as_array().is_none_or(|a| !a.is_empty())
                });
            }
            spec.extend(spec_fields);
        }
    }
    for (field, values) in data {
        if values.as_object().is_some_and(|m| !m.is_empty()) {
            value[field] = values;
        }
    }
    Ok(value)
}

/// `[]byte` map values as JSON writes them: base64.
fn base64_values(values: &std::collections::BTreeMap<String, Vec<u8>>) -> Value {
    use base64::Engine;
    values.iter().map(|(k, v)| (k.clone(), json!(base64::engine::general_purpose::STANDARD.encode(v)))).collect()
}

pub(super) fn object_meta(m: Option<&meta::ObjectMeta>) -> Value {
    let Some(m) = m else { return json!({}) };
    json!({
        "name": m.name, "generateName": m.generate_name, "namespace": m.namespace,
        "labels": m.labels, "annotations": m.annotations,
    })
}

fn deployment(d: &apps::Deployment) -> Value {
    let spec = d.spec.as_ref().map(|s| {
        json!({
            "replicas": s.replicas,
            "selector": s.selector.as_ref().map(|sel| json!({"matchLabels": sel.match_labels})),
            "template": s.template.as_ref().map(|t| json!({"metadata": object_meta(t.metadata.as_ref()), "spec": t.spec.as_ref().map(pod_spec)})),
        })
    });
    json!({"metadata": object_meta(d.metadata.as_ref()), "spec": spec})
}

fn service(svc: &core::Service) -> Value {
    let spec = svc.spec.as_ref().map(|s| {
        let ports: Vec<Value> = s
            .ports
            .iter()
            .map(|p| {
                // intstr: type 0 is an int, 1 a string.
                let target = p.target_port.as_ref().map(|t| match t.r#type {
                    Some(1) => json!(t.str_val),
                    _ => json!(t.int_val),
                });
                json!({"name": p.name, "protocol": p.protocol, "port": p.port, "targetPort": target, "nodePort": p.node_port})
            })
            .collect();
        json!({"type": s.r#type, "clusterIP": s.cluster_ip, "ports": ports, "selector": s.selector})
    });
    json!({"metadata": object_meta(svc.metadata.as_ref()), "spec": spec})
}

fn pod_spec(s: &core::PodSpec) -> Value {
    let containers: Vec<Value> = s
        .containers
        .iter()
        .map(|c| {
            let quantities = |m: &std::collections::BTreeMap<String, k8s_pb::apimachinery::pkg::api::resource::Quantity>| -> Map<String, Value> {
                m.iter().map(|(k, q)| (k.clone(), json!(q.string))).collect()
            };
            json!({
                "name": c.name, "image": c.image,
                "ports": c.ports.iter().map(|p| json!({"containerPort": p.container_port, "name": p.name, "protocol": p.protocol})).collect::<Vec<_>>(),
                "env": c.env.iter().map(|e| json!({"name": e.name, "value": e.value})).collect::<Vec<_>>(),
                "resources": c.resources.as_ref().map(|r| json!({"requests": quantities(&r.requests), "limits": quantities(&r.limits)})),
            })
        })
        .collect();
    json!({
        "containers": containers, "nodeSelector": s.node_selector, "priority": s.priority,
        "priorityClassName": s.priority_class_name,
    })
}

/// Go writes every zero scalar; JSON clients omit them. Drop nulls, empty strings, maps and
/// lists (but keep `replicas: 0`, whose zero means something).
fn prune(value: &mut Value) {
    if let Value::Object(map) = value {
        map.retain(|k, v| {
            prune(v);
            let empty = match v {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::Number(n) => n.as_i64() == Some(0) && k != "replicas",
                Value::Bool(b) => !*b,
            };
            !empty
        });
    } else if let Value::Array(items) = value {
        items.iter_mut().for_each(prune);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `kubectl create deployment web --image=nginx --replicas=3` sends, built with the
    /// same types, wrapped the same way.
    fn kubectl_body() -> Vec<u8> {
        let labels: std::collections::BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let deployment = apps::Deployment {
            metadata: Some(meta::ObjectMeta {
                name: Some("web".into()),
                generate_name: Some(String::new()),
                labels: labels.clone(),
                ..Default::default()
            }),
            spec: Some(apps::DeploymentSpec {
                replicas: Some(3),
                selector: Some(meta::LabelSelector { match_labels: labels.clone(), ..Default::default() }),
                template: Some(core::PodTemplateSpec {
                    metadata: Some(meta::ObjectMeta { labels, ..Default::default() }),
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("nginx".into()),
                            image: Some("nginx".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: Some(Default::default()),
        };
        let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
            }),
            raw: Some(deployment.encode_to_vec()),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC, &unknown.encode_to_vec()].concat()
    }

    #[test]
    fn decodes_what_kubectl_create_deployment_sends() {
        let value = decode(&kubectl_body()).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"app": "web"}},
                   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}})
        );
        let object = crate::cluster::objects::Object::from_value(value).unwrap();
        assert_eq!(object.kind(), crate::cluster::objects::Kind::Deployment);
    }

    fn envelope(kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some("v1".into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC, &unknown.encode_to_vec()].concat()
    }

    #[test]
    fn decodes_what_kubectl_create_configmap_and_secret_send() {
        let metadata = Some(meta::ObjectMeta { name: Some("x".into()), ..Default::default() });
        let cm = core::ConfigMap {
            metadata: metadata.clone(),
            data: [("a".to_string(), "b".to_string()), ("empty".to_string(), String::new())].into(),
            ..Default::default()
        };
        let value = decode(&envelope("ConfigMap", cm.encode_to_vec())).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b", "empty": ""}})
        );
        let secret = core::Secret {
            metadata,
            data: [("a".to_string(), b"b".to_vec())].into(),
            r#type: Some(String::new()),
            ..Default::default()
        };
        let value = decode(&envelope("Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "data": {"a": "Yg=="}})
        );
        let object = crate::cluster::objects::Object::from_value(value).unwrap();
        assert_eq!(serde_json::to_value(&object).unwrap()["type"], "Opaque");
    }

    #[test]
    fn decodes_what_kubectl_create_poddisruptionbudget_sends() {
        use k8s_pb::api::policy::v1 as policy;
        use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
        let pdb = policy::PodDisruptionBudget {
            metadata: Some(meta::ObjectMeta { name: Some("web".into()), ..Default::default() }),
            spec: Some(policy::PodDisruptionBudgetSpec {
                max_unavailable: Some(IntOrString { r#type: Some(0), int_val: Some(0), str_val: None }),
                selector: Some(meta::LabelSelector {
                    match_labels: [("app".to_string(), "web".to_string())].into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut body = envelope("PodDisruptionBudget", pdb.encode_to_vec());
        // The envelope helper names v1; a PDB's is policy/v1.
        let mut unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(&body[MAGIC.len()..]).unwrap();
        unknown.type_meta.as_mut().unwrap().api_version = Some("policy/v1".into());
        body = [MAGIC, &unknown.encode_to_vec()].concat();
        let value = decode(&body).unwrap();
        assert_eq!(
            value,
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
                "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}})
        );
    }

    #[test]
    fn garbage_is_a_bad_request_not_a_panic() {
        for body in [&b""[..], b"k8s\0", b"k8s\0\xff\xff\xff", b"nope", &kubectl_body()[..20]] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.code.as_u16(), 400, "{body:?}");
        }
    }
}
