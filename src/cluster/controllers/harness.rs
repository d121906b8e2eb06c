//! A test harness for one controller, as a unit test needs it: a store seeded with objects, one
//! reconcile of one key (with the error policy and its backoff, as the cluster runs it), and what
//! came of it — the writes, the events and the [`Action`].

use super::{Action, Controller, ControllerError, Key};
use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::events::EventRecorder;
use crate::cluster::objects::pod::PodCondition;
use crate::cluster::objects::{
    Container, Deployment, DeploymentSpec, Kind, LabelSelector, ObjectMeta, OwnerReference, Pod, PodSpec,
    PodTemplateSpec, ReplicaSet, ReplicaSetSpec,
};
use crate::cluster::store::{ChangeType, ObjectKey, Store, Stored};
use crate::cluster::timing::{Preset, Timing};
use std::collections::BTreeMap;

/// One write a reconcile made, as an informer would see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub type_: ChangeType,
    pub kind: Kind,
    pub name: String,
}

/// An event a reconcile recorded: type, reason, object (`pod/web-x`) and message.
pub type Recorded = (&'static str, &'static str, String, String);

pub struct Harness {
    pub store: Store,
    pub recorder: EventRecorder,
    pub timing: Timing,
    pub now: Millis,
    /// Chaos the reconciles asked for (the World would apply it), oldest first.
    pub chaos: Vec<crate::cluster::Chaos>,
    /// Failures in a row per key, as the cluster's rate limiter keeps them.
    failures: BTreeMap<Key, u32>,
    /// The store's resourceVersion before the last reconcile: its writes are those after.
    before: u64,
    /// How far [`Harness::observe`] has delivered the change stream.
    observed: u64,
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

impl Harness {
    /// An empty store at time zero with the arcade timings.
    pub fn new() -> Harness {
        Harness {
            store: Store::new(1),
            recorder: EventRecorder::default(),
            timing: Timing::preset(Preset::Arcade),
            now: Millis::ZERO,
            chaos: Vec::new(),
            failures: BTreeMap::new(),
            before: 0,
            observed: 0,
        }
    }

    /// Seeds the store with an object (created as the API server would, uid and all).
    pub fn seed<R: Stored>(&mut self, object: R) -> ObjectKey {
        let created = self.store.create(object, self.now).expect("a seed object is valid and new");
        ObjectKey::of(created.meta())
    }

    /// Runs the controller for one key as the cluster does: a reconcile and, when it fails, the
    /// controller's error policy with this key's failures in a row (a success forgets them).
    pub fn run(&mut self, controller: &mut dyn Controller, key: &Key) -> Action {
        match self.reconcile(controller, key) {
            Ok(action) => {
                self.failures.remove(key);
                action
            }
            Err(err) => {
                let failures = self.failures.entry(key.clone()).or_insert(0);
                *failures += 1;
                let failures = *failures;
                let mut ctx = self.context();
                controller.error_policy(key, &err, failures, &mut ctx)
            }
        }
    }

    /// One bare reconcile, for tests of the result itself.
    pub fn reconcile(&mut self, controller: &mut dyn Controller, key: &Key) -> Result<Action, ControllerError> {
        self.before = self.store.resource_version();
        self.drain_events();
        let mut ctx = self.context();
        controller.reconcile(key, &mut ctx)
    }

    /// The keys the changes since `resource_version` trigger in `controller`, in order.
    pub fn triggered(&mut self, controller: &mut dyn Controller, resource_version: u64) -> Vec<Key> {
        let mut keys = Vec::new();
        let changes: Vec<_> = self.store.changes_since(resource_version).expect("within the log").cloned().collect();
        for change in &changes {
            controller.triggers(change, &self.store, self.now, &mut keys);
        }
        keys
    }

    /// The keys the changes not yet observed trigger, as the cluster delivers the change stream
    /// to every controller before each reconcile (its own writes included).
    pub fn observe(&mut self, controller: &mut dyn Controller) -> Vec<Key> {
        let keys = self.triggered(controller, self.observed);
        self.observed = self.store.resource_version();
        keys
    }

    /// The writes of the last reconcile (Events excluded: see [`Harness::events`]).
    pub fn writes(&self) -> Vec<Write> {
        self.store
            .changes_since(self.before)
            .expect("within the log")
            .filter(|c| c.object.kind() != Kind::Event)
            .map(|c| Write { type_: c.type_, kind: c.object.kind(), name: c.object.meta().name.clone() })
            .collect()
    }

    /// The events recorded since the last call (a reconcile starts with none).
    pub fn events(&mut self) -> Vec<Recorded> {
        self.recorder.drain().map(|r| (r.type_, r.reason, r.object, r.message)).collect()
    }

    fn drain_events(&mut self) {
        self.recorder.drain().for_each(drop);
    }

    pub fn context(&mut self) -> Context<'_> {
        Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now: self.now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        }
    }
}

/// A minimal valid pod in `default`, not yet scheduled.
pub fn pod(name: &str) -> Pod {
    Pod {
        metadata: ObjectMeta::namespaced("default", name),
        spec: PodSpec {
            containers: vec![Container { name: "app".into(), image: "nginx".into(), ..Default::default() }].into(),
            ..Default::default()
        },
        ..Pod::default()
    }
}

/// `pod` as its kubelet reports it once started on `node`: Running with `ip`, Ready or not.
pub fn running(mut pod: Pod, node: &str, ip: &str, ready: bool) -> Pod {
    pod.spec.node_name = Some(node.into());
    pod.status.phase = "Running".into();
    pod.status.pod_ip = Some(ip.into());
    let status = if ready { "True" } else { "False" };
    pod.status.conditions.push(PodCondition { type_: "Ready".into(), status: status.into(), ..Default::default() });
    pod
}

/// `pod` with `labels`.
pub fn labelled(mut pod: Pod, labels: &[(&str, &str)]) -> Pod {
    pod.metadata.labels.extend(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pod
}

/// `pod` controlled by the owner of that kind, name and uid.
pub fn owned_by(mut pod: Pod, kind: &str, name: &str, uid: &str) -> Pod {
    pod.metadata.owner_references.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: kind.into(),
        name: name.into(),
        uid: uid.into(),
        controller: true,
        block_owner_deletion: true,
    });
    pod
}

/// A valid selector and pod template for pods labelled `app=<app>`.
pub fn template(app: &str) -> (LabelSelector, PodTemplateSpec) {
    let labels: std::collections::BTreeMap<String, String> = [("app".to_string(), app.to_string())].into();
    let selector = LabelSelector { match_labels: labels.clone(), ..Default::default() };
    let template = PodTemplateSpec {
        metadata: ObjectMeta { labels: labels.into(), ..ObjectMeta::default() },
        spec: pod(app).spec,
    };
    (selector, template)
}

/// A Deployment `name` in `default` of `replicas` pods labelled `app=<name>`.
pub fn deployment(name: &str, replicas: i32) -> Deployment {
    let (selector, template) = template(name);
    Deployment {
        metadata: ObjectMeta::namespaced("default", name),
        spec: DeploymentSpec { replicas: Some(replicas), selector, template, ..Default::default() },
        ..Deployment::default()
    }
}

/// A ReplicaSet `name` in `default` of `replicas` pods labelled `app=<name>`.
pub fn replica_set(name: &str, replicas: i32) -> ReplicaSet {
    let (selector, template) = template(name);
    ReplicaSet {
        metadata: ObjectMeta::namespaced("default", name),
        spec: ReplicaSetSpec { replicas: Some(replicas), selector, template, extra: Default::default() },
        ..ReplicaSet::default()
    }
}

#[cfg(test)]
mod tests {
    //! The minimal controller of `docs/extending.md` (the same code), so the guide stays true.
    use super::*;
    use crate::cluster::controllers::settle;
    use crate::cluster::objects::Service;
    use crate::cluster::objects::{Object, service::ServicePort};
    use crate::cluster::store::Change;

    #[derive(Debug, Default)]
    pub struct ServiceLabeller;

    impl Controller for ServiceLabeller {
        fn name(&self) -> &'static str {
            "service_labeller"
        }
        fn component(&self) -> &'static str {
            "service-labeller"
        }
        fn watches(&self) -> &'static [Kind] {
            &[Kind::Service]
        }

        fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
            if let Object::Service(svc) = &change.object
                && change.type_ != ChangeType::Deleted
            {
                out.push(Key::Object(ObjectKey::of(&svc.metadata)));
            }
        }

        fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
            let key = key.object(self.name())?;
            let labelled = ctx.store.get::<Service>(key).is_none_or(|s| s.metadata.labels.contains_key("seen"));
            if !labelled {
                let written = ctx.store.modify::<Service>(key, |s| {
                    s.metadata.labels.insert("seen".into(), "true".into());
                });
                if let Some(at) = settle(written, Kind::Service, key, ctx.now)? {
                    return Ok(Action::requeue_at(ctx.now, Some(at)));
                }
            }
            Ok(Action::await_change())
        }
    }

    #[test]
    fn the_guide_s_minimal_controller_labels_a_service_once() {
        let mut h = Harness::new();
        let mut svc = Service { metadata: ObjectMeta::namespaced("default", "web"), ..Service::default() };
        svc.spec.ports = vec![ServicePort { port: 80, ..ServicePort::default() }];
        let key = h.seed(svc);
        let mut labeller = ServiceLabeller;
        assert_eq!(h.triggered(&mut labeller, 0), [Key::Object(key.clone())]);
        assert_eq!(h.run(&mut labeller, &Key::Object(key.clone())), Action::await_change());
        assert_eq!(h.store.get::<Service>(&key).unwrap().metadata.labels.get("seen").map(String::as_str), Some("true"));
        h.run(&mut labeller, &Key::Object(key));
        assert_eq!(h.writes(), []);
    }
}
