//! Server-side printing, as kube-apiserver's printers (`pkg/printers/internalversion`) do it:
//! each kind's row cells for `kubectl get`. The columns they fill are declared in the kinds table
//! (`objects.rs`), beside the kind, so the two are read together.

use super::{Deployment, Endpoints, Event, Lease, Node, Pod, PodSpec, Readiness, ReplicaSet, Service};
use crate::clock::Reading;
use serde_json::{Value, json};

/// kubectl's `HumanDuration`: `42s`, `5m3s`, `3h`, `2d4h`.
pub fn human_duration(ms: u64) -> String {
    let s = ms / 1000;
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 => {
            if s.is_multiple_of(60) {
                format!("{m}m")
            } else {
                format!("{m}m{}s", s % 60)
            }
        }
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => {
            if m.is_multiple_of(60) {
                format!("{h}h")
            } else {
                format!("{h}h{}m", m % 60)
            }
        }
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => {
            if h.is_multiple_of(24) {
                format!("{d}d")
            } else {
                format!("{d}d{}h", h % 24)
            }
        }
        _ => format!("{d}d"),
    }
}

pub fn age(created: Option<&str>, now: Reading) -> String {
    created.and_then(|c| now.age_of(c)).map_or("<unknown>".into(), |age| human_duration(age.0))
}

pub fn pod(p: &Pod, now: Reading) -> Vec<Value> {
    let total = p.spec.containers.len();
    let ready = p.status.container_statuses.iter().filter(|c| c.ready).count();
    let restarts: i32 = p.status.container_statuses.iter().map(|c| c.restart_count).sum();
    let status = if p.metadata.is_terminating() {
        "Terminating".to_string()
    } else if let Some(reason) = p
        .status
        .container_statuses
        .first()
        .and_then(|c| c.state.waiting.as_ref())
        .map(|w| w.reason.to_string())
        .filter(|r| !r.is_empty())
    {
        reason
    } else if p.status.phase.is_empty() {
        "Pending".into()
    } else {
        p.status.phase.to_string()
    };
    vec![
        json!(p.metadata.name),
        json!(format!("{ready}/{total}")),
        json!(status),
        json!(restarts.to_string()),
        json!(age(p.metadata.creation_timestamp.as_deref(), now)),
        json!(p.status.pod_ip.clone().unwrap_or_else(|| "<none>".into())),
        json!(p.node_name().unwrap_or("<none>")),
        json!("<none>"),
        json!("<none>"),
    ]
}

pub fn node(n: &Node, now: Reading) -> Vec<Value> {
    let mut status = match n.readiness() {
        Readiness::Ready => "Ready".to_string(),
        _ if n.ready_condition().is_none() => "Unknown".into(),
        _ => "NotReady".into(),
    };
    if n.spec.unschedulable {
        status.push_str(",SchedulingDisabled");
    }
    let roles: Vec<&str> =
        n.metadata.labels.keys().filter_map(|k| k.strip_prefix("node-role.kubernetes.io/")).collect();
    let info = n.status.node_info.clone().unwrap_or_default();
    let ip = n.status.addresses.iter().find(|a| a.type_ == "InternalIP").map_or("<none>".into(), |a| a.address.clone());
    vec![
        json!(n.metadata.name),
        json!(status),
        json!(if roles.is_empty() { "<none>".to_string() } else { roles.join(",") }),
        json!(age(n.metadata.creation_timestamp.as_deref(), now)),
        json!(info.kubelet_version),
        json!(ip),
        json!("<none>"),
        json!(info.os_image),
        json!("pinsetter"),
        json!(info.container_runtime_version),
    ]
}

fn containers_images(spec: &PodSpec) -> (String, String) {
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = spec.containers.iter().map(|c| c.image.as_str()).collect();
    (names.join(","), images.join(","))
}

pub fn deployment(d: &Deployment, now: Reading) -> Vec<Value> {
    let desired = d.spec.replicas.unwrap_or(1);
    let (containers, images) = containers_images(&d.spec.template.spec);
    vec![
        json!(d.metadata.name),
        json!(format!("{}/{desired}", d.status.ready_replicas)),
        json!(d.status.updated_replicas),
        json!(d.status.available_replicas),
        json!(age(d.metadata.creation_timestamp.as_deref(), now)),
        json!(containers),
        json!(images),
        json!(d.spec.selector.to_selector_string()),
    ]
}

pub fn replica_set(rs: &ReplicaSet, now: Reading) -> Vec<Value> {
    let (containers, images) = containers_images(&rs.spec.template.spec);
    vec![
        json!(rs.metadata.name),
        json!(rs.spec.replicas.unwrap_or(1)),
        json!(rs.status.replicas),
        json!(rs.status.ready_replicas),
        json!(age(rs.metadata.creation_timestamp.as_deref(), now)),
        json!(containers),
        json!(images),
        json!(rs.spec.selector.to_selector_string()),
    ]
}

pub fn event(e: &Event, now: Reading) -> Vec<Value> {
    let last = e.last_timestamp.as_deref().or(e.first_timestamp.as_deref());
    vec![
        json!(age(last, now)),
        json!(e.type_),
        json!(e.reason),
        json!(format!("{}/{}", e.involved_object.kind.to_lowercase(), e.involved_object.name)),
        json!(""),
        json!(e.source.component),
        json!(e.message),
        json!(age(e.first_timestamp.as_deref(), now)),
        json!(e.count),
        json!(e.metadata.name),
    ]
}

pub fn service(svc: &Service, now: Reading) -> Vec<Value> {
    let ports: Vec<String> = svc
        .spec
        .ports
        .iter()
        .map(|p| match p.node_port {
            Some(node_port) => format!("{}:{node_port}/{}", p.port, p.protocol),
            None => format!("{}/{}", p.port, p.protocol),
        })
        .collect();
    let selector: Vec<String> = svc.spec.selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    vec![
        json!(svc.metadata.name),
        json!(svc.spec.type_),
        json!(if svc.spec.cluster_ip.is_empty() { "<none>" } else { svc.spec.cluster_ip.as_str() }),
        json!("<none>"),
        json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") }),
        json!(age(svc.metadata.creation_timestamp.as_deref(), now)),
        json!(if selector.is_empty() { "<none>".to_string() } else { selector.join(",") }),
    ]
}

/// `10.244.1.5:80,10.244.2.3:80 + 3 more...`, as kubectl prints endpoints.
pub fn endpoints(ep: &Endpoints, now: Reading) -> Vec<Value> {
    let mut all: Vec<String> = Vec::new();
    for subset in &ep.subsets {
        for a in &subset.addresses {
            if subset.ports.is_empty() {
                all.push(a.ip.clone());
            }
            for p in &subset.ports {
                all.push(format!("{}:{}", a.ip, p.port));
            }
        }
    }
    let shown = if all.is_empty() {
        "<none>".to_string()
    } else if all.len() > 3 {
        format!("{} + {} more...", all[..3].join(","), all.len() - 3)
    } else {
        all.join(",")
    };
    vec![json!(ep.metadata.name), json!(shown), json!(age(ep.metadata.creation_timestamp.as_deref(), now))]
}

pub fn lease(l: &Lease, now: Reading) -> Vec<Value> {
    vec![
        json!(l.metadata.name),
        json!(l.spec.holder_identity.clone().unwrap_or_default()),
        json!(age(l.metadata.creation_timestamp.as_deref(), now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(42_000), "42s");
        assert_eq!(human_duration(119_000), "119s");
        assert_eq!(human_duration(303_000), "5m3s");
        assert_eq!(human_duration(45 * 60_000), "45m");
        assert_eq!(human_duration(4 * 3_600_000 + 60_000), "4h1m");
        assert_eq!(human_duration(50 * 3_600_000), "2d2h");
    }
}
