//! The endpoints controller (upstream `pkg/controller/endpoint`): each Service's Endpoints lists
//! the pods its selector picks, ready ones under `addresses` and the rest under
//! `notReadyAddresses`, so a knocked pin's pods drop out of a Service as soon as the control
//! plane marks them not ready.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::write_failed;
use crate::cluster::objects::service::{EndpointAddress, EndpointPort, EndpointSubset, IntOrString};
use crate::cluster::objects::{Endpoints, Kind, ObjectMeta, ObjectReference, Pod, Service};

const COMPONENT: &str = "endpoint-controller";
use crate::cluster::store::ObjectKey;

pub fn reconcile(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let Some(service) = ctx.store.get::<Service>(key).cloned() else {
        // The Service is gone: so are its Endpoints (already gone is as good).
        return ctx
            .store
            .delete::<Endpoints>(key)
            .err()
            .and_then(|err| write_failed(ctx, Kind::Endpoints, key, COMPONENT, &err));
    };
    if service.spec.selector.is_empty() {
        // A selector-less Service's Endpoints are managed by hand, as upstream.
        return None;
    }
    let mut addresses = Vec::new();
    let mut not_ready = Vec::new();
    let mut ports: Vec<EndpointPort> = Vec::new();
    let pods: Vec<&Pod> = ctx
        .store
        .list::<Pod>()
        .filter(|p| p.metadata.namespace() == key.namespace)
        .filter(|p| service.spec.selector.iter().all(|(k, v)| p.metadata.labels.get(k) == Some(v)))
        .filter(|p| !p.metadata.is_terminating() && p.status.pod_ip.is_some())
        .collect();
    for pod in &pods {
        let address = EndpointAddress {
            ip: pod.status.pod_ip.clone().unwrap_or_default(),
            node_name: pod.node_name().map(str::to_string),
            target_ref: Some(ObjectReference {
                kind: "Pod".into(),
                namespace: pod.metadata.namespace().to_string(),
                name: pod.metadata.name.clone(),
                uid: pod.metadata.uid.clone(),
                api_version: String::new(),
            }),
        };
        if pod.is_ready() { addresses.push(address) } else { not_ready.push(address) }
    }
    for sp in &service.spec.ports {
        let port = match &sp.target_port {
            Some(IntOrString::Int(p)) => *p,
            // A named target port resolves through the first selected pod's container ports.
            Some(IntOrString::String(name)) => pods
                .iter()
                .flat_map(|p| p.spec.containers.iter().flat_map(|c| c.ports.iter()))
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .map_or(sp.port, |cp| cp.container_port),
            None => sp.port,
        };
        ports.push(EndpointPort { name: sp.name.clone(), port, protocol: sp.protocol.clone() });
    }
    let subsets = if addresses.is_empty() && not_ready.is_empty() {
        Vec::new()
    } else {
        vec![EndpointSubset { addresses, not_ready_addresses: not_ready, ports }]
    };
    let desired = Endpoints {
        metadata: ObjectMeta {
            labels: service.metadata.labels.clone(),
            ..ObjectMeta::namespaced(&key.namespace, &key.name)
        },
        subsets,
        ..Endpoints::default()
    };
    let written = match ctx.store.get::<Endpoints>(key) {
        Some(_) => ctx
            .store
            .modify::<Endpoints>(key, |e| {
                e.subsets = desired.subsets;
                e.metadata.labels = desired.metadata.labels;
            })
            .map(drop),
        None => ctx.store.create(desired, ctx.now).map(drop),
    };
    written.err().and_then(|err| write_failed(ctx, Kind::Endpoints, key, COMPONENT, &err))
}
