//! The mini-Kubernetes: store, scheduler, controllers and simulated kubelets, deterministic and
//! driven by virtual time. Knows nothing of bowling; `world.rs` connects it to the alley.
//!
//! Data flow, as in a real control plane: every component writes through the [`store::Store`];
//! [`Cluster::step`] follows the store's change log like informers follow a watch, enqueues the
//! keys each component cares about on a work queue ordered by virtual time, and runs what is due.

pub mod admission;
pub mod agents;
pub mod controllers;
pub mod events;
pub mod kubelet;
pub mod objects;
pub mod scheduler;
pub mod store;
pub mod timing;

use self::controllers::{deployment, endpoints, garbage_collector, node_lifecycle, replicaset, taint_eviction};
use self::events::EventRecorder;
use self::kubelet::Kubelet;
use self::objects::{Deployment, Kind, Node, Object, Pod, ReplicaSet, Resource};
use self::scheduler::{Policy, Scheduler};
use self::store::{Change, ChangeType, ObjectKey, Store, StoreError};
use self::timing::Timing;
use crate::clock::Millis;
use std::collections::{BTreeMap, BTreeSet};

/// Errors from operations on the cluster that callers (CLI, game, API) branch on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The named node has no kubelet in this world (not a pin).
    #[error("node {0:?} not found")]
    NoSuchNode(String),
    /// The control plane kept finding work at one instant: a controller bug (two components
    /// undoing each other), reported rather than hanging the game or silently cut short.
    #[error(
        "the control plane did not settle at {at}: still busy after {rounds} rounds (a livelock between controllers?)"
    )]
    Livelock { at: Millis, rounds: usize },
}

/// Rounds (a task, a scheduling cycle or a batch of changes) one instant may take before
/// [`Cluster::step`] gives up with [`ClusterError::Livelock`].
pub const MAX_ROUNDS_PER_INSTANT: usize = 100_000;
/// Rounds one instant may spend per pod and node, on top of [`MAX_ROUNDS_PER_INSTANT`].
const ROUNDS_PER_OBJECT: usize = 8;

/// Work the control plane does at a given instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Task {
    ReconcileDeployment(ObjectKey),
    ReconcileReplicaSet(ObjectKey),
    /// The endpoints controller brings one Service's Endpoints up to date.
    ReconcileEndpoints(ObjectKey),
    /// The taint-eviction controller checks one pod against its node's NoExecute taints.
    TaintEviction(ObjectKey),
    /// Delete what an owner (by uid) left behind.
    CollectGarbage(String),
    NodeMonitor,
    KubeletHeartbeat(String),
    KubeletSyncPod(String, ObjectKey),
}

/// A work queue keyed by virtual time that holds each task at most once (at its earliest time),
/// like client-go's delaying work queue.
#[derive(Debug, Clone, Default)]
struct WorkQueue {
    by_time: BTreeSet<(Millis, u64, Task)>,
    when: BTreeMap<Task, (Millis, u64)>,
    seq: u64,
}

impl WorkQueue {
    fn add(&mut self, task: Task, at: Millis) {
        if let Some(&(t, seq)) = self.when.get(&task) {
            if t <= at {
                return;
            }
            self.by_time.remove(&(t, seq, task.clone()));
        }
        self.seq += 1;
        self.when.insert(task.clone(), (at, self.seq));
        self.by_time.insert((at, self.seq, task));
    }

    fn pop_due(&mut self, now: Millis) -> Option<Task> {
        let first = self.by_time.first()?;
        if first.0 > now {
            return None;
        }
        let (_, _, task) = self.by_time.pop_first()?;
        self.when.remove(&task);
        Some(task)
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.by_time.first().map(|(t, _, _)| *t)
    }
}

/// How many times each controller has reconciled: the pinsetter panel shows them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ControllerStats {
    pub deployment: u64,
    pub replicaset: u64,
    pub node_lifecycle: u64,
    pub taint_eviction: u64,
    pub garbage_collector: u64,
    pub endpoints: u64,
}

/// What a reconcile may touch: the store, the event recorder, the clock and the timing preset.
pub struct Context<'a> {
    pub store: &'a mut Store,
    pub recorder: &'a mut EventRecorder,
    pub now: Millis,
    pub timing: &'a Timing,
}

impl Context<'_> {
    /// The stored object's metadata for an event about it (a bare name when it is gone).
    pub fn store_meta(&self, kind: Kind, key: &ObjectKey) -> objects::ObjectMeta {
        let stored = kind.meta_in(self.store, key);
        stored.cloned().unwrap_or_else(|| objects::ObjectMeta::namespaced(&key.namespace, &key.name))
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub store: Store,
    pub timing: Timing,
    pub scheduler: Scheduler,
    pub recorder: EventRecorder,
    pub stats: ControllerStats,
    kubelets: BTreeMap<String, Kubelet>,
    /// Pin agents' connections (their kubelets are the remote ones in `kubelets`).
    agents: agents::Agents,
    node_lifecycle: node_lifecycle::NodeLifecycle,
    queue: WorkQueue,
    /// How far this cluster's informers have read the store's change log.
    cursor: u64,
    /// Service cluster IPs handed out so far (deterministic, in order).
    next_cluster_ip: u32,
}

impl Cluster {
    pub fn new(seed: u64, timing: Timing) -> Cluster {
        let mut queue = WorkQueue::default();
        queue.add(Task::NodeMonitor, Millis::ZERO);
        Cluster {
            store: Store::new(crate::rng::stream(seed, "store")),
            timing,
            scheduler: Scheduler::new(Policy::Greedy),
            recorder: EventRecorder::new(&timing),
            stats: ControllerStats::default(),
            kubelets: BTreeMap::new(),
            agents: agents::Agents::default(),
            node_lifecycle: node_lifecycle::NodeLifecycle::default(),
            queue,
            cursor: 0,
            next_cluster_ip: 0,
        }
    }

    /// Creates or replaces an object the way `kubectl apply` would (admission included).
    /// A Node gets a simulated kubelet, which registers it and starts heartbeating.
    pub fn apply(&mut self, object: Object, now: Millis) -> Result<Object, ClusterError> {
        let applied = match object {
            Object::Node(node) => {
                let name = node.metadata.name.clone();
                let node = match self.store.get::<Node>(&ObjectKey::cluster(&name)) {
                    Some(_) => self.store.update(node)?,
                    None => self.store.create(node, now)?,
                };
                if !self.kubelets.contains_key(&name) {
                    let index = self.kubelets.len();
                    self.kubelets.insert(name.clone(), Kubelet::new(&name, index));
                    self.queue.add(Task::KubeletHeartbeat(name), now);
                }
                Object::Node(node)
            }
            Object::Pod(mut pod) => {
                admission::admit_pod(&mut pod, &self.timing);
                Object::Pod(upsert(&mut self.store, pod, now)?)
            }
            Object::Service(mut svc) => {
                self.admit_service(&mut svc);
                Object::Service(upsert(&mut self.store, svc, now)?)
            }
            other => other.dispatch(Upsert { store: &mut self.store, now })?,
        };
        Ok(applied)
    }

    /// `POST`: creates an object as the API server does (admission for pods). Unlike
    /// [`Cluster::apply`], an existing name is `AlreadyExists`, and a Node gets no simulated
    /// kubelet: a node nobody runs goes NotReady, as it would in a real cluster.
    pub fn create(&mut self, object: Object, now: Millis) -> Result<Object, ClusterError> {
        Ok(match object {
            Object::Pod(mut o) => {
                admission::admit_pod(&mut o, &self.timing);
                Object::Pod(self.store.create(o, now)?)
            }
            Object::Service(mut o) => {
                self.admit_service(&mut o);
                Object::Service(self.store.create(o, now)?)
            }
            other => other.create_in(&mut self.store, now)?,
        })
    }

    /// Service defaults as the API server fills them: type ClusterIP, a cluster IP from the
    /// service range (10.96.0.0/12, handed out in order), TCP, and targetPort = port.
    fn admit_service(&mut self, svc: &mut objects::Service) {
        use objects::service::IntOrString;
        if svc.spec.type_.is_empty() {
            svc.spec.type_ = "ClusterIP".into();
        }
        let existing = self.store.get::<objects::Service>(&svc.key());
        let kept = existing.map(|e| e.spec.cluster_ip.clone()).filter(|ip| !ip.is_empty());
        if svc.spec.cluster_ip.is_empty() {
            svc.spec.cluster_ip = kept.unwrap_or_else(|| {
                self.next_cluster_ip += 1;
                format!("10.96.{}.{}", self.next_cluster_ip / 250, self.next_cluster_ip % 250 + 1)
            });
        }
        if svc.spec.cluster_ip != "None" && svc.spec.cluster_ips.is_empty() {
            svc.spec.cluster_ips = vec![svc.spec.cluster_ip.clone()];
        }
        for port in &mut svc.spec.ports {
            if port.protocol.is_empty() {
                port.protocol = "TCP".into();
            }
            port.target_port.get_or_insert(IntOrString::Int(port.port));
        }
    }

    /// `PUT`: replaces the spec and metadata (a stale resourceVersion is a Conflict); status
    /// belongs to the controllers and kubelets, as the status subresource does upstream.
    pub fn replace(&mut self, object: Object) -> Result<Object, ClusterError> {
        struct Put<'s>(&'s mut Store);
        impl objects::ObjectOp for Put<'_> {
            type Output = Result<Object, StoreError>;
            fn run<R: store::Stored>(self, mut obj: R) -> Result<Object, StoreError> {
                if let Some(old) = self.0.get::<R>(&obj.key()) {
                    obj.keep_status(old);
                }
                self.0.update(obj).map(Into::into)
            }
        }
        let object = match object {
            Object::Service(mut o) => {
                self.admit_service(&mut o);
                Object::Service(o)
            }
            other => other,
        };
        Ok(object.dispatch(Put(&mut self.store))?)
    }

    /// `DELETE`: pods go gracefully (their kubelet finishes the job); everything else at once,
    /// with the garbage collector removing what it owned.
    pub fn remove(&mut self, kind: Kind, key: &ObjectKey, now: Millis) -> Result<Object, ClusterError> {
        Ok(match kind {
            Kind::Pod => {
                controllers::delete_pod_gracefully(&mut self.store, key, now)?;
                match self.store.get::<Pod>(key) {
                    Some(p) => Object::Pod(p.clone()),
                    None => Object::Pod(Pod {
                        metadata: objects::ObjectMeta::namespaced(&key.namespace, &key.name),
                        ..Pod::default()
                    }),
                }
            }
            Kind::Node => {
                self.kubelets.remove(&key.name);
                Object::Node(self.store.delete::<Node>(key)?)
            }
            other => other.delete(&mut self.store, key)?,
        })
    }

    /// The pin falls: its kubelet stops dead. The control plane is not told; it must notice.
    pub fn knock(&mut self, node: &str) -> Result<(), ClusterError> {
        let kubelet = self.kubelets.get_mut(node).ok_or_else(|| ClusterError::NoSuchNode(node.into()))?;
        kubelet.knock();
        Ok(())
    }

    /// The pin stands again: its kubelet restarts and heartbeats at once.
    pub fn restore(&mut self, node: &str, now: Millis) -> Result<(), ClusterError> {
        let kubelet = self.kubelets.get_mut(node).ok_or_else(|| ClusterError::NoSuchNode(node.into()))?;
        if kubelet.restore() {
            self.queue.add(Task::KubeletHeartbeat(node.into()), now);
            let pods: Vec<ObjectKey> = self.store.pods_on_node(node).map(|p| ObjectKey::of(&p.metadata)).collect();
            for pod in pods {
                self.queue.add(Task::KubeletSyncPod(node.into(), pod), now);
            }
        }
        Ok(())
    }

    pub fn is_knocked(&self, node: &str) -> bool {
        self.kubelets.get(node).is_some_and(|k| !k.alive)
    }

    pub fn pins(&self) -> impl Iterator<Item = &str> {
        self.kubelets.keys().map(String::as_str)
    }

    /// `kubectl scale`.
    pub fn scale(&mut self, key: &ObjectKey, replicas: i32) -> Result<(), ClusterError> {
        self.store.modify::<Deployment>(key, |d| d.spec.replicas = Some(replicas))?;
        Ok(())
    }

    /// `kubectl cordon` / `uncordon`.
    pub fn cordon(&mut self, node: &str, unschedulable: bool) -> Result<(), ClusterError> {
        self.store.modify::<Node>(&ObjectKey::cluster(node), |n| n.spec.unschedulable = unschedulable)?;
        Ok(())
    }

    /// `kubectl delete pod`: graceful, as the API server does it.
    pub fn delete_pod(&mut self, key: &ObjectKey, now: Millis) -> Result<(), ClusterError> {
        controllers::delete_pod_gracefully(&mut self.store, key, now)?;
        Ok(())
    }

    pub fn set_timing(&mut self, timing: Timing, now: Millis) {
        self.timing = timing;
        self.recorder.set_timing(&timing);
        for node in self.kubelets.keys() {
            self.queue.add(Task::KubeletHeartbeat(node.clone()), now);
        }
        self.queue.add(Task::NodeMonitor, now);
    }

    /// When something is next due, so headless loops may skip idle time.
    pub fn next_deadline(&self) -> Option<Millis> {
        [self.queue.next_deadline(), self.scheduler.next_deadline()].into_iter().flatten().min()
    }

    /// Runs everything due at `now` until the control plane is quiet for this instant. A bound
    /// on rounds keeps a controller bug from hanging the game; hitting it is an error (the
    /// remaining work stays queued for the next instant).
    pub fn step(&mut self, now: Millis) -> Result<(), ClusterError> {
        self.step_bounded(now, MAX_ROUNDS_PER_INSTANT, ROUNDS_PER_OBJECT)
    }

    fn step_bounded(&mut self, now: Millis, base_rounds: usize, per_object: usize) -> Result<(), ClusterError> {
        self.recorder.expire(&mut self.store, now);
        let mut rounds = 0;
        // Honest work grows with the cluster (a kubelet sync per pod, a heartbeat per node, all
        // at one instant at start-up), so the bound does too: only work beyond a few rounds per
        // object is a livelock.
        while rounds < base_rounds + per_object * (self.store.len::<Pod>() + self.store.len::<Node>()) {
            rounds += 1;
            self.dispatch(now);
            if let Some(task) = self.queue.pop_due(now) {
                self.run(task, now);
                continue;
            }
            if self.scheduler.next_deadline().is_some_and(|t| t <= now) {
                self.scheduler.run_cycle(&mut self.store, &mut self.recorder, now, &self.timing);
                continue;
            }
            return Ok(());
        }
        Err(ClusterError::Livelock { at: now, rounds })
    }

    fn run(&mut self, task: Task, now: Millis) {
        let mut ctx = Context { store: &mut self.store, recorder: &mut self.recorder, now, timing: &self.timing };
        let requeue = match &task {
            Task::ReconcileDeployment(key) => {
                self.stats.deployment += 1;
                deployment::reconcile(key, &mut ctx)
            }
            Task::ReconcileReplicaSet(key) => {
                self.stats.replicaset += 1;
                replicaset::reconcile(key, &mut ctx)
            }
            Task::TaintEviction(key) => {
                self.stats.taint_eviction += 1;
                taint_eviction::reconcile(key, &mut ctx)
            }
            Task::ReconcileEndpoints(key) => {
                self.stats.endpoints += 1;
                endpoints::reconcile(key, &mut ctx)
            }
            Task::CollectGarbage(uid) => {
                self.stats.garbage_collector += 1;
                garbage_collector::collect(uid, &mut ctx)
            }
            Task::NodeMonitor => {
                self.stats.node_lifecycle += 1;
                self.node_lifecycle.monitor(&mut ctx)
            }
            Task::KubeletHeartbeat(node) => self.kubelets.get_mut(node).and_then(|k| k.heartbeat(&mut ctx)),
            Task::KubeletSyncPod(node, pod) => self.kubelets.get_mut(node).and_then(|k| k.sync_pod(pod, &mut ctx)),
        };
        if let Some(at) = requeue {
            self.queue.add(task, at);
        }
    }

    /// The informers: route each new change to the components that care about it.
    fn dispatch(&mut self, now: Millis) {
        let changes: Option<Vec<Change>> = self.store.changes_since(self.cursor).map(|c| c.cloned().collect());
        let Some(changes) = changes else {
            self.cursor = self.store.resource_version();
            self.resync(now);
            return;
        };
        self.cursor = self.store.resource_version();
        for change in &changes {
            self.scheduler.observe(change, now);
            self.route(change, now);
        }
    }

    fn route(&mut self, change: &Change, now: Millis) {
        let deleted = change.type_ == ChangeType::Deleted;
        match &*change.object {
            Object::Pod(pod) => {
                let key = ObjectKey::of(&pod.metadata);
                // Services whose selector picks this pod (few per namespace: a scan is fine).
                let services: Vec<ObjectKey> = self
                    .store
                    .list::<objects::Service>()
                    .filter(|s| s.metadata.namespace() == pod.metadata.namespace() && !s.spec.selector.is_empty())
                    .filter(|s| s.spec.selector.iter().all(|(k, v)| pod.metadata.labels.get(k) == Some(v)))
                    .map(|s| ObjectKey::of(&s.metadata))
                    .collect();
                for service in services {
                    self.queue.add(Task::ReconcileEndpoints(service), now);
                }
                if let Some(owner) = pod.metadata.controller().filter(|o| o.kind == "ReplicaSet") {
                    self.queue
                        .add(Task::ReconcileReplicaSet(ObjectKey::new(pod.metadata.namespace(), &owner.name)), now);
                }
                if let Some(node) = pod.node_name()
                    && !deleted
                {
                    if self.kubelets.contains_key(node) {
                        self.queue.add(Task::KubeletSyncPod(node.to_string(), key.clone()), now);
                    }
                    self.queue.add(Task::TaintEviction(key), now);
                }
            }
            Object::ReplicaSet(rs) => {
                let key = ObjectKey::of(&rs.metadata);
                if deleted {
                    self.queue.add(Task::CollectGarbage(rs.metadata.uid.clone()), now);
                } else {
                    self.queue.add(Task::ReconcileReplicaSet(key), now);
                }
                if let Some(owner) = rs.metadata.controller().filter(|o| o.kind == "Deployment") {
                    self.queue
                        .add(Task::ReconcileDeployment(ObjectKey::new(rs.metadata.namespace(), &owner.name)), now);
                }
            }
            Object::Deployment(d) => {
                if deleted {
                    self.queue.add(Task::CollectGarbage(d.metadata.uid.clone()), now);
                } else {
                    self.queue.add(Task::ReconcileDeployment(ObjectKey::of(&d.metadata)), now);
                }
            }
            Object::Node(node) => {
                self.node_lifecycle.observe_node(&node.metadata.name, deleted, now);
                if node.spec.taints.iter().any(|t| t.effect == objects::Taint::NO_EXECUTE) {
                    let pods: Vec<ObjectKey> =
                        self.store.pods_on_node(&node.metadata.name).map(|p| ObjectKey::of(&p.metadata)).collect();
                    for pod in pods {
                        self.queue.add(Task::TaintEviction(pod), now);
                    }
                }
            }
            Object::Service(svc) => self.queue.add(Task::ReconcileEndpoints(ObjectKey::of(&svc.metadata)), now),
            Object::Lease(lease) => {
                if !deleted && lease.metadata.namespace() == node_lifecycle::LEASE_NAMESPACE {
                    self.node_lifecycle.observe_lease(&lease.metadata.name, now);
                }
            }
            Object::Event(_) | Object::Endpoints(_) | Object::ConfigMap(_) | Object::Secret(_) => {}
        }
    }

    /// Fell out of the change log's window: relist everything, as an informer does after 410.
    fn resync(&mut self, now: Millis) {
        let mut synthetic: Vec<Change> = Vec::new();
        let rv = self.store.resource_version();
        let wrap =
            |o: Object| Change { resource_version: rv, type_: ChangeType::Added, object: std::sync::Arc::new(o) };
        synthetic.extend(self.store.list::<Node>().cloned().map(Object::Node).map(wrap));
        synthetic.extend(self.store.list::<Deployment>().cloned().map(Object::Deployment).map(wrap));
        synthetic.extend(self.store.list::<ReplicaSet>().cloned().map(Object::ReplicaSet).map(wrap));
        synthetic.extend(self.store.list::<Pod>().cloned().map(Object::Pod).map(wrap));
        synthetic.extend(self.store.list::<objects::Service>().cloned().map(Object::Service).map(wrap));
        // Leases too: a relist is a renewal observed now, or nodes would look silent.
        synthetic.extend(self.store.list::<objects::Lease>().cloned().map(Object::Lease).map(wrap));
        let store = &self.store;
        self.node_lifecycle.forget_missing(|name| store.get::<Node>(&ObjectKey::cluster(name)).is_some());
        for change in &synthetic {
            self.scheduler.observe(change, now);
            self.route(change, now);
        }
    }

    /// The kind of every object in the store, counted: a cheap summary for the UI.
    pub fn counts(&self) -> BTreeMap<Kind, usize> {
        Kind::ALL.into_iter().map(|k| (k, k.count(&self.store))).collect()
    }
}

/// Create, or update when it exists (keeping the stored resourceVersion: apply is last-writer-wins).
/// [`upsert`] for an object of any kind.
struct Upsert<'s> {
    store: &'s mut Store,
    now: Millis,
}

impl objects::ObjectOp for Upsert<'_> {
    type Output = Result<Object, StoreError>;
    fn run<R: store::Stored>(self, obj: R) -> Result<Object, StoreError> {
        upsert(self.store, obj, self.now).map(Into::into)
    }
}

fn upsert<R: store::Stored>(store: &mut Store, mut obj: R, now: Millis) -> Result<R, StoreError> {
    let key = obj.key();
    if let Some(old) = store.get::<R>(&key).filter(|_| !key.name.is_empty()) {
        obj.keep_status(old);
        obj.meta_mut().resource_version.clear();
        store.update(obj)
    } else {
        store.create(obj, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    /// A cluster holding a generated lane's objects, nothing run yet.
    pub(crate) fn lane(nodes: usize, pods: usize) -> Cluster {
        let mut cluster = Cluster::new(1, Timing::preset(timing::Preset::Arcade));
        for (_, object) in Scenario::generated(nodes, pods).objects {
            cluster.apply(object, Millis::ZERO).unwrap();
        }
        cluster
    }

    #[test]
    fn an_instant_that_never_settles_is_a_livelock_error_not_a_silent_stop() {
        let mut cluster = lane(3, 20);
        let err = cluster.step_bounded(Millis::ZERO, 3, 0).unwrap_err();
        assert_eq!(err, ClusterError::Livelock { at: Millis::ZERO, rounds: 3 });
        assert!(err.to_string().contains("did not settle at"), "{err}");
        // The work left is still queued: the next instant carries on where this one stopped.
        cluster.step(Millis(10)).unwrap();
        assert!(!cluster.store.is_empty::<Pod>());
    }
}
