//! The endpoints controller (upstream `pkg/controller/endpoint`): each Service's Endpoints lists
//! the pods its selector picks, ready ones under `addresses` and the rest under
//! `notReadyAddresses`, so a knocked pin's pods drop out of a Service as soon as the control
//! plane marks them not ready.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, settle};
use crate::cluster::objects::service::{EndpointAddress, EndpointPort, EndpointSubset, IntOrString};
use crate::cluster::objects::{Endpoints, Kind, Object, ObjectMeta, ObjectReference, Pod, Service};
use crate::cluster::store::{Change, ObjectKey, Store};

const COMPONENT: &str = "endpoint-controller";

#[derive(Debug, Default)]
pub struct EndpointsController;

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoints"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Service, Kind::Pod]
    }

    /// A Service itself, and every Service whose selector picks a pod that changed.
    fn triggers(&mut self, change: &Change, store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::Service(svc) => out.push(Key::Object(ObjectKey::of(&svc.metadata))),
            // Few Services per namespace: a scan is fine.
            Object::Pod(pod) => out.extend(
                store
                    .list::<Service>()
                    .filter(|s| s.metadata.namespace() == pod.metadata.namespace() && !s.spec.selector.is_empty())
                    .filter(|s| s.spec.selector.iter().all(|(k, v)| pod.metadata.labels.get(k) == Some(v)))
                    .map(|s| Key::Object(ObjectKey::of(&s.metadata))),
            ),
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        Ok(Action::requeue_at(ctx.now, sync(key.object(self.name())?, ctx)?))
    }
}

fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(service) = ctx.store.get::<Service>(key).cloned() else {
        // The Service is gone: so are its Endpoints (already gone is as good).
        return settle(ctx.store.delete::<Endpoints>(key), Kind::Endpoints, key, ctx.now);
    };
    if service.spec.selector.is_empty() {
        // A selector-less Service's Endpoints are managed by hand, as upstream.
        return Ok(None);
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
            ip: pod.status.pod_ip.as_deref().unwrap_or_default().to_string(),
            node_name: pod.node_name().map(str::to_string),
            target_ref: Some(ObjectReference {
                kind: "Pod".into(),
                namespace: pod.metadata.namespace().into(),
                name: pod.metadata.name.as_str().into(),
                uid: pod.metadata.uid.clone(),
                api_version: Default::default(),
                extra: Default::default(),
            }),
            extra: Default::default(),
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
        ports.push(EndpointPort {
            name: sp.name.clone(),
            port,
            protocol: sp.protocol.clone(),
            extra: Default::default(),
        });
    }
    let subsets = if addresses.is_empty() && not_ready.is_empty() {
        Vec::new()
    } else {
        vec![EndpointSubset { addresses, not_ready_addresses: not_ready, ports }]
    };
    let desired = Endpoints {
        metadata: ObjectMeta {
            labels: service.metadata.labels.clone(),
            ..ObjectMeta::namespaced(key.namespace.as_str(), key.name.as_str())
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
    settle(written, Kind::Endpoints, key, ctx.now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::service::ServicePort;

    fn service(selector: &[(&str, &str)]) -> Service {
        let mut svc = Service { metadata: ObjectMeta::namespaced("default", "web"), ..Service::default() };
        svc.spec.selector = selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        svc.spec.ports = vec![ServicePort {
            name: "http".into(),
            protocol: "TCP".into(),
            port: 80,
            target_port: Some(IntOrString::Int(8080)),
            ..ServicePort::default()
        }];
        svc
    }

    fn ips(addresses: &[EndpointAddress]) -> Vec<&str> {
        addresses.iter().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_pods_are_addresses_and_the_rest_not_ready_addresses() {
        let mut h = Harness::new();
        let web = [("app", "web")];
        let key = h.seed(service(&web));
        h.seed(harness::running(harness::labelled(harness::pod("ready"), &web), "pin-1", "10.0.0.1", true));
        h.seed(harness::running(harness::labelled(harness::pod("starting"), &web), "pin-2", "10.0.0.2", false));
        h.seed(harness::running(harness::labelled(harness::pod("other"), &[("app", "db")]), "pin-1", "10.0.0.3", true));
        // No IP yet: not listed at all.
        h.seed(harness::labelled(harness::pod("unscheduled"), &web));
        let leaving =
            h.seed(harness::running(harness::labelled(harness::pod("leaving"), &web), "pin-3", "10.0.0.4", true));
        crate::cluster::controllers::delete_pod_gracefully(&mut h.store, &leaving, Millis::ZERO).unwrap();

        assert_eq!(h.run(&mut EndpointsController, &Key::Object(key.clone())), Action::await_change());
        let endpoints = h.store.get::<Endpoints>(&key).expect("created");
        let [subset] = endpoints.subsets.as_slice() else { panic!("{:?}", endpoints.subsets) };
        assert_eq!(ips(&subset.addresses), ["10.0.0.1"]);
        assert_eq!(ips(&subset.not_ready_addresses), ["10.0.0.2"]);
        assert_eq!(subset.addresses[0].node_name.as_deref(), Some("pin-1"));
        assert_eq!(
            subset.ports,
            [EndpointPort { name: "http".into(), port: 8080, protocol: "TCP".into(), extra: Default::default() }]
        );

        // The pod turns not ready (its pin fell): it moves over, in an update of the same object.
        let ready = ObjectKey::new("default", "ready");
        h.store.modify::<Pod>(&ready, |p| p.status.conditions[0].status = "False".into()).unwrap();
        h.run(&mut EndpointsController, &Key::Object(key.clone()));
        let subset = &h.store.get::<Endpoints>(&key).unwrap().subsets[0];
        assert!(subset.addresses.is_empty());
        assert_eq!(ips(&subset.not_ready_addresses), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(
            h.writes(),
            [harness::Write {
                type_: crate::cluster::store::ChangeType::Modified,
                kind: Kind::Endpoints,
                name: "web".into()
            }]
        );
    }

    #[test]
    fn a_deleted_service_takes_its_endpoints_and_a_selectorless_one_is_left_alone() {
        let mut h = Harness::new();
        let key = h.seed(service(&[("app", "web")]));
        h.run(&mut EndpointsController, &Key::Object(key.clone()));
        assert!(h.store.get::<Endpoints>(&key).is_some());
        h.store.delete::<Service>(&key).unwrap();
        h.run(&mut EndpointsController, &Key::Object(key.clone()));
        assert!(h.store.get::<Endpoints>(&key).is_none());
        // Gone already: nothing to do, no error.
        assert_eq!(h.reconcile(&mut EndpointsController, &Key::Object(key.clone())), Ok(Action::await_change()));

        // Hand-managed Endpoints of a selector-less Service stay as written.
        let manual = h.seed(Service { metadata: ObjectMeta::namespaced("default", "external"), ..service(&[]) });
        h.seed(Endpoints { metadata: ObjectMeta::namespaced("default", "external"), ..Endpoints::default() });
        h.run(&mut EndpointsController, &Key::Object(manual));
        assert_eq!(h.writes(), []);
    }

    #[test]
    fn a_pod_change_triggers_the_services_that_select_it() {
        let mut h = Harness::new();
        let web = h.seed(service(&[("app", "web")]));
        h.seed(Service { metadata: ObjectMeta::namespaced("default", "all"), ..service(&[]) });
        h.seed(Service { metadata: ObjectMeta::namespaced("other", "web"), ..service(&[("app", "web")]) });
        let since = h.store.resource_version();
        h.seed(harness::labelled(harness::pod("web-x"), &[("app", "web"), ("tier", "front")]));
        h.seed(harness::labelled(harness::pod("db-x"), &[("app", "db")]));
        assert_eq!(h.triggered(&mut EndpointsController, since), [Key::Object(web)]);
    }
}
