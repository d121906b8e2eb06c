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
pub mod leader_election;
pub mod objects;
pub mod scheduler;
pub mod store;
pub mod timing;

use self::controllers::{Controller, Key};
use self::events::EventRecorder;
use self::kubelet::Kubelet;
pub use self::kubelet::failure::Failure;
use self::leader_election::{Component, LeaderElection};
use self::objects::{Deployment, Kind, Node, Object, Pod, Resource};
use self::scheduler::{Policy, Scheduler};
use self::store::{Change, ChangeType, ObjectKey, Store, StoreError};
use self::timing::Timing;
use crate::clock::Millis;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Errors from operations on the cluster that callers (CLI, game, API) branch on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The named node has no kubelet in this world (not a pin).
    #[error("node {0:?} not found")]
    NoSuchNode(String),
    /// A custom object no CRD serves, or one its schema refuses.
    #[error(transparent)]
    Custom(#[from] objects::custom::CustomError),
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

/// A map the core only looks things up in and never walks: hashed with foldhash's fixed seed,
/// so finding one key among 150,000 is one step, not a B-tree descent of string compares; and
/// since nothing iterates it, its order cannot reach an outcome. Whatever is walked stays an
/// ordered map.
pub type LookupMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Work the control plane does at a given instant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Task {
    /// One key of one controller (its index in [`controllers::registry`]).
    Reconcile(usize, Key),
    /// A kubelet's heartbeat, by its number in `Cluster::kubelet_names`: heartbeats are most
    /// of the queue's traffic (every kubelet, every period), and a number costs nothing to
    /// compare or clone.
    KubeletHeartbeat(usize),
    /// A pod to sync, by its kubelet's number (as the heartbeat): one per write of every
    /// bound pod.
    KubeletSyncPod(usize, ObjectKey),
}

/// Up to how many changes' room the informers' delivery buffer keeps between dispatches.
const DELIVERY_BUFFER_KEPT: usize = 1_024;

/// A work queue keyed by virtual time that holds each task at most once (at its earliest time),
/// like client-go's delaying work queue.
#[derive(Debug, Clone, Default)]
struct WorkQueue {
    /// Tasks in the order they are due (ties: the first queued), which is the only order
    /// anything sees.
    by_time: BTreeMap<(Millis, u64), Task>,
    /// When each queued task is due, found by hash: every pod write and heartbeat asks, and
    /// nothing iterates it (so its order cannot leak; the hasher's seed is fixed).
    when: LookupMap<Task, (Millis, u64)>,
    seq: u64,
}

impl WorkQueue {
    fn add(&mut self, task: Task, at: Millis) {
        use std::collections::hash_map::Entry;
        let seq = self.seq + 1;
        // One lookup of `when` whether the task is queued or not: heartbeats alone are
        // thousands of adds per game second on the stadium.
        match self.when.entry(task) {
            Entry::Occupied(mut queued) => {
                let (t, old_seq) = *queued.get();
                if t <= at {
                    return;
                }
                self.seq = seq;
                queued.insert((at, seq));
                if let Some(task) = self.by_time.remove(&(t, old_seq)) {
                    self.by_time.insert((at, seq), task);
                }
            }
            Entry::Vacant(slot) => {
                self.seq = seq;
                let task = slot.key().clone();
                slot.insert((at, seq));
                self.by_time.insert((at, seq), task);
            }
        }
    }

    fn pop_due(&mut self, now: Millis) -> Option<Task> {
        let (&(at, _), _) = self.by_time.first_key_value()?;
        if at > now {
            return None;
        }
        let (_, task) = self.by_time.pop_first()?;
        self.when.remove(&task);
        Some(task)
    }

    fn next_deadline(&self) -> Option<Millis> {
        self.by_time.first_key_value().map(|(&(at, _), _)| at)
    }
}

/// The kubelet a task names by number (None once its node is gone).
fn numbered_kubelet<'k>(
    kubelets: &'k mut BTreeMap<String, Kubelet>,
    names: &[String],
    number: usize,
) -> Option<&'k mut Kubelet> {
    names.get(number).and_then(|name| kubelets.get_mut(name))
}

/// How many times each controller has reconciled, by controller name: the pinsetter panel
/// shows them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(transparent)]
pub struct ControllerStats(pub BTreeMap<&'static str, u64>);

impl ControllerStats {
    /// Reconciles so far of the controller named `name` (0 for a name not registered).
    pub fn get(&self, name: &str) -> u64 {
        self.0.get(name).copied().unwrap_or(0)
    }
}

/// A registered controller with what the cluster keeps about it.
#[derive(Debug)]
struct Registered {
    controller: Box<dyn Controller>,
    reconciles: u64,
}

/// What a reconcile may touch: the store, the event recorder, the clock, the timing preset, and
/// the chaos it asks the World for.
pub struct Context<'a> {
    pub store: &'a mut Store,
    pub recorder: &'a mut EventRecorder,
    pub now: Millis,
    pub timing: &'a Timing,
    pub chaos: &'a mut Vec<Chaos>,
}

/// A node failure a controller asks for (a Roll's throw). A controller cannot fell a pin: the
/// pin is the World's. So the request waits in the cluster until the World takes it
/// ([`Cluster::take_chaos`], after each step) and applies it exactly as a player's knock or
/// restore. Requests come from the store's state, so a replay makes them again: they are not
/// inputs and are never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chaos {
    /// Knock `node` (its kubelet stops dead); `by` names who asked, for the log (`Roll split`).
    Knock { node: String, by: String },
    /// Stand `node` again.
    Restore { node: String, by: String },
}

impl Context<'_> {
    /// The stored object's metadata for an event about it (a bare name when it is gone).
    pub fn store_meta(&self, kind: Kind, key: &ObjectKey) -> objects::ObjectMeta {
        let stored = kind.meta_in(self.store, key);
        stored.cloned().unwrap_or_else(|| objects::ObjectMeta::namespaced(key.namespace.as_str(), key.name.as_str()))
    }
}

#[derive(Debug)]
pub struct Cluster {
    pub store: Store,
    pub timing: Timing,
    pub scheduler: Scheduler,
    pub recorder: EventRecorder,
    kubelets: BTreeMap<String, Kubelet>,
    /// Counts changes to any kubelet's failure (and to the set of kubelets): a view that
    /// shows every node's failure re-reads them only when this moved.
    failures_changed: u64,
    /// Every kubelet name ever seen, numbered in order of arrival (a returning name keeps its
    /// number): see [`Cluster::kubelet_number`].
    kubelet_ids: LookupMap<String, usize>,
    kubelet_names: Vec<String>,
    /// Bound pods by the ConfigMaps and Secrets they use: writing one wakes their kubelets.
    config_users: kubelet::config_refs::ConfigUsers,
    /// Nodes cut off by a partition, so counting duplicates visits only them.
    partitioned: BTreeSet<String>,
    /// Pin agents' connections (their kubelets are the remote ones in `kubelets`).
    agents: agents::Agents,
    /// The controllers, from [`controllers::registry`]; a task names one by its index here.
    controllers: Vec<Registered>,
    /// By kind (its index in [`Kind::ALL`]): the controllers that watch it, in registration
    /// order. A change is offered only to these: a pod write at start-up is not shown to the
    /// dozen controllers that never look at pods.
    watchers: [Vec<usize>; Kind::ALL.len()],
    /// Failures in a row per (controller, key), for the error policy's backoff; a success
    /// forgets the key, as client-go's rate limiter does.
    failures: BTreeMap<(usize, Key), u32>,
    /// Reused buffer for the keys a change triggers.
    triggered: Vec<Key>,
    /// The changes one dispatch delivers, kept to reuse its allocation.
    delivering: Vec<Change>,
    queue: WorkQueue,
    /// How far this cluster's informers have read the store's change log.
    cursor: u64,
    /// Service cluster IPs handed out so far (deterministic, in order).
    next_cluster_ip: u32,
    /// The replicas of kube-scheduler and kube-controller-manager: each acts only while one of
    /// its replicas holds its Lease.
    pub leader_election: LeaderElection,
    /// Reconciles that fell due while kube-controller-manager had no leader: run when one
    /// acquires (a new leader starts from what its informers list).
    parked: BTreeSet<Task>,
    /// Chaos the controllers asked for, until the World takes it.
    chaos: Vec<Chaos>,
    /// An instant run in slices ([`Cluster::step_within`]) and not yet quiet: when, and the
    /// rounds it has taken so far (the livelock bound counts them all).
    unsettled: Option<(Millis, usize)>,
    /// The pod status writes a kubelet's sync made while planning its own next sync, by
    /// resourceVersion, oldest first, until the informers deliver them: see [`KubeletWrites`].
    kubelet_writes: KubeletWrites,
}

/// The resourceVersions a kubelet's pod sync wrote to its own pod and then requeued itself.
///
/// As upstream's kubelet, a pod's own status update does not start another sync of the pod
/// (its config source hands status-only changes to `HandlePodReconcile`, not to the pod
/// worker): the sync that wrote it already planned the next one. Without this, each of the
/// two status writes of a start-up (`ContainerCreating`, `Running`) woke a sync that found
/// nothing to do, 300,000 wasted rounds on a 150,000-pod lane. A sync that did not requeue
/// itself is woken by its write as any other change would wake it.
#[derive(Debug, Default)]
struct KubeletWrites(std::collections::VecDeque<(std::ops::RangeInclusive<u64>, ObjectKey)>);

impl KubeletWrites {
    fn wrote(&mut self, versions: std::ops::RangeInclusive<u64>, pod: &ObjectKey) {
        if !versions.is_empty() {
            self.0.push_back((versions, pod.clone()));
        }
    }

    /// Forgets every write: a relist offers each object as new.
    fn forget(&mut self) {
        self.0.clear();
    }

    /// Whether this change is a write a kubelet made to `pod` (and planned past). Changes
    /// arrive in resourceVersion order, so what lies before this one is dropped.
    fn own(&mut self, resource_version: u64, pod: &Pod) -> bool {
        while self.0.front().is_some_and(|(versions, _)| *versions.end() < resource_version) {
            self.0.pop_front();
        }
        self.0.front().is_some_and(|(versions, key)| {
            versions.contains(&resource_version)
                && key.name == pod.metadata.name
                && key.namespace == pod.metadata.namespace()
        })
    }
}

impl Cluster {
    pub fn new(seed: u64, timing: Timing) -> Cluster {
        let controllers: Vec<Registered> =
            controllers::registry().into_iter().map(|controller| Registered { controller, reconciles: 0 }).collect();
        let mut watchers: [Vec<usize>; Kind::ALL.len()] = Default::default();
        for (index, registered) in controllers.iter().enumerate() {
            for &kind in registered.controller.watches() {
                watchers[kind as usize].push(index);
            }
        }
        let mut queue = WorkQueue::default();
        for (index, registered) in controllers.iter().enumerate() {
            for key in registered.controller.initial_keys() {
                queue.add(Task::Reconcile(index, key), Millis::ZERO);
            }
        }
        Cluster {
            store: Store::new(seed),
            timing,
            scheduler: Scheduler::new(Policy::Greedy, seed),
            recorder: EventRecorder::new(&timing),
            kubelets: BTreeMap::new(),
            kubelet_ids: LookupMap::default(),
            kubelet_names: Vec::new(),
            config_users: Default::default(),
            partitioned: BTreeSet::new(),
            failures_changed: 0,
            agents: agents::Agents::default(),
            controllers,
            watchers,
            failures: BTreeMap::new(),
            triggered: Vec::new(),
            delivering: Vec::new(),
            queue,
            cursor: 0,
            next_cluster_ip: 0,
            leader_election: LeaderElection::single(seed),
            parked: BTreeSet::new(),
            chaos: Vec::new(),
            unsettled: None,
            kubelet_writes: KubeletWrites::default(),
        }
    }

    /// The chaos asked for since the last call, in the order it was asked (the one drain point).
    pub fn take_chaos(&mut self) -> Vec<Chaos> {
        std::mem::take(&mut self.chaos)
    }

    /// Runs `replicas` of each elected component instead of one (before the first step).
    pub fn set_control_plane_replicas(
        &mut self,
        seed: u64,
        replicas: usize,
    ) -> Result<(), leader_election::ElectionError> {
        self.leader_election = LeaderElection::new(seed, replicas)?;
        Ok(())
    }

    /// The pinsetter itself is knocked: the leading replica of each given component crashes.
    /// Returns the identities that went down.
    pub fn knock_leader(&mut self, components: &[Component], now: Millis) -> Vec<String> {
        components.iter().filter_map(|c| self.leader_election.knock_leader(*c, now)).collect()
    }

    /// The knocked replicas of the given components start again, as standbys.
    pub fn restore_control_plane(&mut self, components: &[Component], now: Millis) -> usize {
        components.iter().map(|c| self.leader_election.restore(*c, now)).sum()
    }

    /// Creates or replaces an object the way `kubectl apply` would (admission included).
    /// A Node gets a simulated kubelet, which registers it and starts heartbeating.
    pub fn apply(&mut self, object: Object, now: Millis) -> Result<Object, ClusterError> {
        let object = objects::custom::admit(&self.store, object, true)?;
        let applied = match object {
            Object::Node(node) => {
                let node = Arc::unwrap_or_clone(node);
                let name = node.metadata.name.clone();
                let node = match self.store.get::<Node>(&ObjectKey::cluster(&name)) {
                    Some(_) => self.store.update(node)?,
                    None => self.store.create(node, now)?,
                };
                if !self.kubelets.contains_key(&name) {
                    let index = self.kubelet_number(&name);
                    self.kubelets.insert(name.clone(), Kubelet::new(&name, index));
                    self.failures_changed += 1;
                    self.queue.add(Task::KubeletHeartbeat(index), now);
                }
                Object::Node(node)
            }
            Object::Pod(pod) => {
                let mut pod = Arc::unwrap_or_clone(pod);
                admission::admit_pod(&mut pod, &self.timing);
                Object::Pod(upsert(&mut self.store, pod, now)?)
            }
            Object::Service(svc) => {
                let mut svc = Arc::unwrap_or_clone(svc);
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
        Ok(match objects::custom::admit(&self.store, object, true)? {
            Object::Pod(o) => {
                let mut o = Arc::unwrap_or_clone(o);
                admission::admit_pod(&mut o, &self.timing);
                Object::Pod(self.store.create(o, now)?)
            }
            Object::Service(o) => {
                let mut o = Arc::unwrap_or_clone(o);
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
                self.0.update(obj).map(R::shared)
            }
        }
        let object = match objects::custom::admit(&self.store, object, false)? {
            Object::Service(o) => {
                let mut o = Arc::unwrap_or_clone(o);
                self.admit_service(&mut o);
                Object::from(o)
            }
            other => other,
        };
        Ok(object.dispatch(Put(&mut self.store))?)
    }

    /// `PUT`/`PATCH` to `/status`: only the status is written; spec and metadata stay as stored
    /// (upstream's status strategies). The sent resourceVersion is still the precondition.
    pub fn replace_status(&mut self, object: Object) -> Result<Object, ClusterError> {
        struct PutStatus<'s>(&'s mut Store);
        impl objects::ObjectOp for PutStatus<'_> {
            type Output = Result<Object, StoreError>;
            fn run<R: store::Stored>(self, written: R) -> Result<Object, StoreError> {
                let key = written.key();
                let Some(stored) = self.0.get::<R>(&key) else {
                    return Err(StoreError::NotFound {
                        resource: R::KIND.qualified_resource(),
                        name: key.name.to_string(),
                    });
                };
                let mut updated = stored.clone();
                updated.meta_mut().resource_version = written.meta().resource_version.clone();
                updated.take_status(written);
                self.0.update(updated).map(R::shared)
            }
        }
        match object {
            Object::CustomObject(o) => {
                Ok(Object::CustomObject(objects::custom::write_status(&mut self.store, Arc::unwrap_or_clone(o))?))
            }
            other => Ok(other.dispatch(PutStatus(&mut self.store))?),
        }
    }

    /// `DELETE`: pods go gracefully (their kubelet finishes the job); everything else at once,
    /// with the garbage collector removing what it owned.
    /// An object deleted at once is answered with the delete's resourceVersion, as
    /// kube-apiserver answers.
    pub fn remove(&mut self, kind: Kind, key: &ObjectKey, now: Millis) -> Result<Object, ClusterError> {
        let deleted = match kind {
            // A pod bound to a node that no longer exists has no kubelet to finish a graceful
            // delete: it goes at once, as upstream's pod GC force-deletes orphaned pods.
            Kind::Pod
                if self
                    .store
                    .get::<Pod>(key)
                    .and_then(Pod::node_name)
                    .is_some_and(|node| self.store.get::<Node>(&ObjectKey::cluster(node)).is_none()) =>
            {
                Object::Pod(self.store.delete::<Pod>(key)?)
            }
            Kind::Pod => {
                controllers::delete_pod_gracefully(&mut self.store, key, now)?;
                return Ok(match self.store.get_shared::<Pod>(key) {
                    Some(p) => Object::Pod(Arc::clone(p)),
                    None => Object::from(Pod {
                        metadata: objects::ObjectMeta::namespaced(key.namespace.as_str(), key.name.as_str()),
                        ..Pod::default()
                    }),
                });
            }
            Kind::Node => {
                self.kubelets.remove(key.name.as_str());
                self.failures_changed += 1;
                Object::Node(self.store.delete::<Node>(key)?)
            }
            other => other.delete(&mut self.store, key)?,
        };
        Ok(deleted.with_resource_version(self.store.resource_version()))
    }

    /// The pin falls: its kubelet stops dead. The control plane is not told; it must notice.
    pub fn knock(&mut self, node: &str) -> Result<(), ClusterError> {
        let kubelet = self.kubelets.get_mut(node).ok_or_else(|| ClusterError::NoSuchNode(node.into()))?;
        kubelet.knock();
        self.failures_changed += 1;
        self.partitioned.remove(node);
        Ok(())
    }

    /// The node fails this way ([`Failure`]); as with a knock, the control plane is not told.
    pub fn fail(&mut self, node: &str, failure: Failure, now: Millis) -> Result<(), ClusterError> {
        let kubelet = self.kubelets.get_mut(node).ok_or_else(|| ClusterError::NoSuchNode(node.into()))?;
        let running = self.store.pods_on_node(node).filter(|p| p.is_active());
        kubelet.fail(failure, now, running);
        self.failures_changed += 1;
        match kubelet.failure() {
            Some(Failure::Partition) => {
                self.partitioned.insert(node.to_string());
            }
            Some(Failure::Crash) => {
                self.partitioned.remove(node);
            }
            // The eviction manager's first housekeeping pass is due now.
            Some(Failure::Pressure) => {
                let heartbeat = self.heartbeat_task(node);
                self.queue.add(heartbeat, now);
            }
            None => {}
        }
        Ok(())
    }

    /// What the node suffers now, if anything (a pressure ends by itself once relieved).
    pub fn failure(&self, node: &str) -> Option<Failure> {
        self.kubelets.get(node).and_then(Kubelet::failure)
    }

    /// Every node's failure, in name order: a view merges it with its own name-ordered nodes
    /// in one pass instead of looking 5,000 names up each frame.
    pub fn failures(&self) -> impl Iterator<Item = (&str, Option<Failure>)> {
        self.kubelets.iter().map(|(name, kubelet)| (name.as_str(), kubelet.failure()))
    }

    /// Moves whenever [`Cluster::failures`] may have changed: a view that keeps the last value
    /// it read skips the merge over every node while nothing fails or recovers.
    pub fn failures_changed(&self) -> u64 {
        self.failures_changed
    }

    /// Pods that partitioned kubelets still run although the API deleted (or is deleting) them:
    /// the duplicates of their replacements.
    pub fn duplicates(&self) -> usize {
        self.partitioned.iter().filter_map(|n| self.kubelets.get(n)).map(Kubelet::duplicates).sum()
    }

    /// [`Cluster::duplicates`] on one node: what its kubelet kills when it reconnects.
    pub fn duplicates_on(&self, node: &str) -> usize {
        self.kubelets.get(node).filter(|_| self.partitioned.contains(node)).map_or(0, Kubelet::duplicates)
    }

    /// The pin stands again: its kubelet restarts (or reconnects) and heartbeats at once.
    pub fn restore(&mut self, node: &str, now: Millis) -> Result<(), ClusterError> {
        let kubelet = self.kubelets.get_mut(node).ok_or_else(|| ClusterError::NoSuchNode(node.into()))?;
        self.partitioned.remove(node);
        let mut ctx = Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        };
        let had_failure = kubelet.failure().is_some();
        let was_lost = kubelet.restore(&mut ctx);
        self.failures_changed += 1;
        if had_failure || was_lost {
            // A relieved pressure is posted at once; a lost kubelet heartbeats at once.
            let heartbeat = self.heartbeat_task(node);
            self.queue.add(heartbeat, now);
        }
        if was_lost {
            let pods: Vec<ObjectKey> = self.store.pods_on_node(node).map(|p| ObjectKey::of(&p.metadata)).collect();
            for pod in pods {
                let task = self.sync_pod_task(node, pod);
                self.queue.add(task, now);
            }
        }
        Ok(())
    }

    /// Whether the node's pin is down: crashed or cut off (a node under pressure stands).
    pub fn is_knocked(&self, node: &str) -> bool {
        self.failure(node).is_some_and(Failure::fells_pin)
    }

    pub fn pins(&self) -> impl Iterator<Item = &str> {
        self.kubelets.keys().map(String::as_str)
    }

    /// `kubectl scale`.
    pub fn scale(&mut self, key: &ObjectKey, replicas: i32) -> Result<(), ClusterError> {
        self.store.modify::<Deployment>(key, |d| d.spec.replicas = Some(replicas))?;
        Ok(())
    }

    /// The number of `node`'s kubelet, given on first sight and kept for the name's life: it
    /// names the kubelet's heartbeat task, and spaces its addresses and start-up phase, so no
    /// two kubelets ever share one (a node deleted and another added included).
    fn kubelet_number(&mut self, node: &str) -> usize {
        match self.kubelet_ids.get(node) {
            Some(&id) => id,
            None => {
                let id = self.kubelet_names.len();
                self.kubelet_names.push(node.to_string());
                self.kubelet_ids.insert(node.to_string(), id);
                id
            }
        }
    }

    /// The heartbeat task of `node`'s kubelet.
    fn heartbeat_task(&mut self, node: &str) -> Task {
        Task::KubeletHeartbeat(self.kubelet_number(node))
    }

    /// The task of `node`'s kubelet syncing `pod`.
    fn sync_pod_task(&mut self, node: &str, pod: ObjectKey) -> Task {
        Task::KubeletSyncPod(self.kubelet_number(node), pod)
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
        let nodes: Vec<String> = self.kubelets.keys().cloned().collect();
        for node in nodes {
            let heartbeat = self.heartbeat_task(&node);
            self.queue.add(heartbeat, now);
        }
        // Periodic controllers pick up the new period at once.
        for (index, registered) in self.controllers.iter().enumerate() {
            for key in registered.controller.initial_keys() {
                self.queue.add(Task::Reconcile(index, key), now);
            }
        }
    }

    /// The node lifecycle controller, for its zones' disruption states (the panel, `sim --json`).
    pub fn node_lifecycle(&self) -> Option<&controllers::node_lifecycle::NodeLifecycle> {
        self.controllers.iter().find_map(|r| (r.controller.as_ref() as &dyn std::any::Any).downcast_ref())
    }

    /// How many times each registered controller has reconciled, by name.
    pub fn controller_stats(&self) -> ControllerStats {
        ControllerStats(self.controllers.iter().map(|r| (r.controller.name(), r.reconciles)).collect())
    }

    /// When something is next due, so headless loops may skip idle time.
    pub fn next_deadline(&self) -> Option<Millis> {
        let scheduler =
            self.scheduler.next_deadline().filter(|_| self.leader_election.is_led(Component::KubeScheduler));
        let leader_election = Some(self.leader_election.next_deadline());
        [self.queue.next_deadline(), scheduler, leader_election, self.recorder.flush_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs everything due at `now` until the control plane is quiet for this instant. A bound
    /// on rounds keeps a controller bug from hanging the game; hitting it is an error (the
    /// remaining work stays queued for the next instant).
    pub fn step(&mut self, now: Millis) -> Result<(), ClusterError> {
        self.step_bounded(now, MAX_ROUNDS_PER_INSTANT, ROUNDS_PER_OBJECT, usize::MAX).map(|_| ())
    }

    /// [`Cluster::step`] in slices of at most `rounds` rounds, so a shell can draw a frame in
    /// the middle of a busy instant (the stadium filling): `Ok(true)` once the instant is
    /// quiet, `Ok(false)` while work at `now` remains (call again with the same `now`, and
    /// change nothing in between). The rounds run in the same order however they are sliced,
    /// so the outcome is the same as one `step`.
    pub fn step_within(&mut self, now: Millis, rounds: usize) -> Result<bool, ClusterError> {
        self.step_bounded(now, MAX_ROUNDS_PER_INSTANT, ROUNDS_PER_OBJECT, rounds)
    }

    fn step_bounded(
        &mut self,
        now: Millis,
        base_rounds: usize,
        per_object: usize,
        slice: usize,
    ) -> Result<bool, ClusterError> {
        let mut rounds = match self.unsettled.take() {
            Some((at, rounds)) if at == now => rounds,
            _ => {
                self.recorder.expire(&mut self.store, now);
                if self.leader_election.next_deadline() <= now {
                    self.leader_election.step(&mut self.store, &mut self.recorder, now, &self.timing);
                }
                0
            }
        };
        // Leadership changes only at an instant's start and between steps (a knock), never
        // within one.
        let scheduling = self.leader_election.is_led(Component::KubeScheduler);
        let reconciling = self.leader_election.is_led(Component::KubeControllerManager);
        if reconciling {
            for task in std::mem::take(&mut self.parked) {
                self.queue.add(task, now);
            }
        }
        let slice_ends = rounds.saturating_add(slice);
        // Honest work grows with the cluster (a kubelet sync per pod, a heartbeat per node, all
        // at one instant at start-up), so the bound does too: only work beyond a few rounds per
        // object is a livelock.
        while rounds < base_rounds + per_object * (self.store.len::<Pod>() + self.store.len::<Node>()) {
            if rounds == slice_ends {
                self.unsettled = Some((now, rounds));
                return Ok(false);
            }
            rounds += 1;
            // A bound on the reports waiting, counted in rounds, not slices: the same
            // flushes however the instant is sliced.
            if self.recorder.queued() >= events::MAX_QUEUED_EVENTS {
                self.recorder.flush(&mut self.store);
            }
            self.dispatch(now);
            if let Some(task) = self.queue.pop_due(now) {
                if !reconciling && matches!(task, Task::Reconcile(..)) {
                    self.parked.insert(task);
                } else {
                    self.run(task, now);
                }
                continue;
            }
            if scheduling && self.scheduler.next_deadline().is_some_and(|t| t <= now) {
                self.scheduler.run_cycle(&mut self.store, &mut self.recorder, now, &self.timing);
                continue;
            }
            // Quiet: what the components reported is written once it has waited its interval.
            if self.recorder.flush_deadline().is_some_and(|due| due <= now) {
                self.recorder.flush(&mut self.store);
            }
            return Ok(true);
        }
        self.recorder.flush(&mut self.store);
        Err(ClusterError::Livelock { at: now, rounds })
    }

    fn run(&mut self, task: Task, now: Millis) {
        let mut ctx = Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        };
        let requeue = match &task {
            Task::Reconcile(index, key) => {
                let Some(registered) = self.controllers.get_mut(*index) else { return };
                registered.reconciles += 1;
                let controller = &mut registered.controller;
                let action = match controller.reconcile(key, &mut ctx) {
                    Ok(action) => {
                        if !self.failures.is_empty() {
                            self.failures.remove(&(*index, key.clone()));
                        }
                        action
                    }
                    Err(err) => {
                        let failures = self.failures.entry((*index, key.clone())).or_insert(0);
                        *failures = failures.saturating_add(1);
                        controller.error_policy(key, &err, *failures, &mut ctx)
                    }
                };
                action.requeue_after().map(|after| now + after)
            }
            Task::KubeletHeartbeat(id) => {
                numbered_kubelet(&mut self.kubelets, &self.kubelet_names, *id).and_then(|k| {
                    // Housekeeping may relieve a node's memory pressure.
                    let failure = k.failure();
                    let next = k.heartbeat(&mut ctx);
                    if k.failure() != failure {
                        self.failures_changed += 1;
                    }
                    next
                })
            }
            Task::KubeletSyncPod(id, pod) => {
                let before = ctx.store.resource_version();
                let next = numbered_kubelet(&mut self.kubelets, &self.kubelet_names, *id)
                    .and_then(|k| k.sync_pod(pod, &mut ctx));
                if next.is_some() {
                    self.kubelet_writes.wrote(before + 1..=ctx.store.resource_version(), pod);
                }
                next
            }
        };
        if let Some(at) = requeue {
            self.queue.add(task, at);
        }
    }

    /// The informers: route each new change to the components that care about it.
    fn dispatch(&mut self, now: Millis) {
        if self.cursor == self.store.resource_version() {
            return;
        }
        let mut changes = std::mem::take(&mut self.delivering);
        let in_window = match self.store.changes_since(self.cursor) {
            Some(new) => {
                changes.extend(new.cloned());
                true
            }
            None => false,
        };
        if !in_window {
            self.delivering = changes;
            self.cursor = self.store.resource_version();
            self.resync(now);
            return;
        }
        self.cursor = self.store.resource_version();
        for change in changes.drain(..) {
            self.scheduler.observe(&change, now);
            self.route(&change, now);
        }
        // A start-up burst can deliver the whole log at once; its buffer is not kept for
        // the single changes of every tick after.
        if changes.capacity() > DELIVERY_BUFFER_KEPT {
            changes = Vec::new();
        }
        self.delivering = changes;
    }

    /// Offers a change to every controller watching its kind (in registration order) and queues
    /// the keys it triggers; a change to a bound pod also wakes its kubelet.
    fn route(&mut self, change: &Change, now: Millis) {
        let mut triggered = std::mem::take(&mut self.triggered);
        for &index in &self.watchers[change.object.kind() as usize] {
            self.controllers[index].controller.triggers(change, &self.store, now, &mut triggered);
            for key in triggered.drain(..) {
                self.queue.add(Task::Reconcile(index, key), now);
            }
        }
        self.triggered = triggered;
        if let Object::Pod(pod) = &change.object {
            self.config_users.observe_pod(pod, change.type_ == ChangeType::Deleted);
            // A pod deleted or being deleted behind a partition now runs twice.
            if change.type_ != ChangeType::Added
                && let Some(node) = pod.node_name()
                && self.partitioned.contains(node)
                && let Some(kubelet) = self.kubelets.get_mut(node)
            {
                kubelet.observe_cut_off(&self.store, &ObjectKey::of(&pod.metadata));
            }
        }
        if let Object::Node(node) = &change.object
            && let Some(kubelet) = self.kubelets.get_mut(&node.metadata.name)
        {
            kubelet.observe_node_change();
        }
        if let Object::Pod(pod) = &change.object
            && change.type_ != ChangeType::Deleted
            && let Some(node) = pod.node_name()
            && !self.kubelet_writes.own(change.resource_version, pod)
            && self.kubelets.contains_key(node)
        {
            let task = self.sync_pod_task(node, ObjectKey::of(&pod.metadata));
            self.queue.add(task, now);
        }
        if change.type_ != ChangeType::Deleted {
            // A ConfigMap or Secret changed: few pods, and rarely.
            let users: Vec<(ObjectKey, String)> =
                self.config_users.users_of(&change.object).map(|(pod, node)| (pod.clone(), node.clone())).collect();
            for (pod, node) in users {
                let task = self.sync_pod_task(&node, pod);
                self.queue.add(task, now);
            }
        }
    }

    /// Fell out of the change log's window: relist what the controllers, the scheduler and the
    /// kubelets watch, as an informer does after 410, and offer it all as added.
    fn resync(&mut self, now: Millis) {
        // A relist offers every object as new: each wakes its kubelet.
        self.kubelet_writes.forget();
        let mut watched: BTreeSet<Kind> = [Kind::Node, Kind::Pod, Kind::ConfigMap, Kind::Secret].into();
        watched.extend(self.controllers.iter().flat_map(|r| r.controller.watches().iter().copied()));
        let rv = self.store.resource_version();
        let synthetic: Vec<Change> = RELIST_ORDER
            .into_iter()
            .filter(|kind| watched.contains(kind))
            .flat_map(|kind| kind.list(&self.store))
            .map(|o| Change { resource_version: rv, type_: ChangeType::Added, object: o })
            .collect();
        for registered in &mut self.controllers {
            registered.controller.relisted(&self.store);
        }
        self.config_users.clear();
        self.scheduler.relisted();
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

/// The order a relist offers kinds in: owners before what they own, so a relisted pod finds its
/// ReplicaSet already queued; Leases last (a relist is a renewal observed now, or nodes would
/// look silent). Every kind is here, so no watched kind can be forgotten.
const RELIST_ORDER: [Kind; Kind::ALL.len()] = [
    Kind::Node,
    Kind::StorageClass,
    Kind::PersistentVolume,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::PersistentVolumeClaim,
    Kind::ReplicaSet,
    Kind::Pod,
    Kind::Service,
    Kind::Endpoints,
    Kind::ConfigMap,
    Kind::Secret,
    Kind::PodDisruptionBudget,
    Kind::CustomResourceDefinition,
    Kind::Event,
    Kind::Lease,
    Kind::ServiceAccount,
    Kind::ClusterRole,
    Kind::Role,
    Kind::ClusterRoleBinding,
    Kind::RoleBinding,
    Kind::CustomObject,
];

/// Create, or update when it exists (keeping the stored resourceVersion: apply is last-writer-wins).
/// [`upsert`] for an object of any kind.
struct Upsert<'s> {
    store: &'s mut Store,
    now: Millis,
}

impl objects::ObjectOp for Upsert<'_> {
    type Output = Result<Object, StoreError>;
    fn run<R: store::Stored>(self, obj: R) -> Result<Object, StoreError> {
        upsert(self.store, obj, self.now).map(R::shared)
    }
}

fn upsert<R: store::Stored>(store: &mut Store, mut obj: R, now: Millis) -> Result<Arc<R>, StoreError> {
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

    /// The scheduler keeps its node snapshot from cycle to cycle and changes a node in place
    /// when it changes: every node cordoned after the first pods ran gets none of the new
    /// ones, and the one uncordoned then gets them all.
    #[test]
    fn the_next_cycle_sees_a_node_changed_since_the_last() {
        let mut cluster = lane(3, 3);
        let mut now = Millis::ZERO;
        let mut run = |cluster: &mut Cluster, steps: u64| {
            for _ in 0..steps {
                now = now + Millis(10);
                cluster.step(now).unwrap();
            }
        };
        run(&mut cluster, 300);
        assert!(cluster.store.list::<Pod>().all(|p| p.node_name().is_some()));
        for node in ["pin-1", "pin-2", "pin-3"] {
            cluster.cordon(node, true).unwrap();
        }
        cluster.scale(&ObjectKey::new("default", "web"), 4).unwrap();
        run(&mut cluster, 300);
        let waiting: Vec<ObjectKey> = cluster
            .store
            .list::<Pod>()
            .filter(|p| p.node_name().is_none())
            .map(|p| ObjectKey::of(&p.metadata))
            .collect();
        assert_eq!(waiting.len(), 3, "the new pods wait while every node is cordoned");
        cluster.cordon("pin-2", false).unwrap();
        run(&mut cluster, 300);
        for key in &waiting {
            let pod = cluster.store.get::<Pod>(key).expect("still there");
            assert_eq!(pod.node_name(), Some("pin-2"), "{key}");
        }
    }

    /// A kubelet's own write is recognised by its version and pod only, and once the informers
    /// are past it, it is forgotten.
    #[test]
    fn kubelet_writes_are_known_by_version_and_pod() {
        let pod = |name: &str| Pod { metadata: objects::ObjectMeta::namespaced("default", name), ..Default::default() };
        let mut writes = KubeletWrites::default();
        writes.wrote(5..=6, &ObjectKey::new("default", "a"));
        // As `Cluster::run` writes it for a sync that wrote nothing: versions 7 before and after.
        let (before, after) = (7, 7);
        writes.wrote(before + 1..=after, &ObjectKey::new("default", "b"));
        writes.wrote(9..=9, &ObjectKey::new("default", "c"));
        assert_eq!(writes.0.len(), 2, "a sync that wrote nothing is not kept");
        assert!(!writes.own(4, &pod("a")));
        assert!(writes.own(5, &pod("a")));
        assert!(!writes.own(6, &pod("b")), "another pod's change at that version");
        assert!(!writes.own(8, &pod("a")));
        assert!(writes.own(9, &pod("c")));
        assert!(!writes.own(10, &pod("c")));
        assert!(writes.0.is_empty());
    }

    #[test]
    fn controllers_come_from_one_registry_with_stats_by_name() {
        let names: Vec<&str> = controllers::registry().iter().map(|c| c.name()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        // A relist can offer every kind, so no watched kind is forgotten.
        assert_eq!(RELIST_ORDER.into_iter().collect::<BTreeSet<_>>(), Kind::ALL.into_iter().collect());

        let mut cluster = lane(3, 6);
        for t in 0..100 {
            cluster.step(Millis(t * 10)).unwrap();
        }
        let stats = cluster.controller_stats();
        assert_eq!(stats.0.keys().copied().collect::<BTreeSet<_>>(), unique);
        for name in ["deployment", "replicaset", "node_lifecycle"] {
            assert!(stats.get(name) > 0, "{name}: {stats:?}");
        }
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["replicaset"], stats.get("replicaset"));
    }

    #[test]
    fn a_relist_reaches_every_controller_that_watches_a_kind() {
        let mut cluster = Cluster::new(1, Timing::preset(timing::Preset::Arcade));
        // A Service that selects no pod: only its own change can wake the endpoints controller.
        let mut svc =
            objects::Service { metadata: objects::ObjectMeta::namespaced("default", "web"), ..Default::default() };
        svc.spec.selector = [("app".to_string(), "web".to_string())].into();
        svc.spec.ports = vec![objects::service::ServicePort { port: 80, ..Default::default() }];
        cluster.apply(Object::from(svc), Millis::ZERO).unwrap();
        cluster
            .apply(
                Object::from(Node { metadata: objects::ObjectMeta::named("pin-1"), ..Node::default() }),
                Millis::ZERO,
            )
            .unwrap();
        // The informers have read nothing and the log keeps only the last write: a relist.
        cluster.store.set_log_capacity(1);
        assert!(cluster.store.changes_since(0).is_none());
        cluster.step(Millis::ZERO).unwrap();
        let endpoints = cluster.store.get::<objects::Endpoints>(&ObjectKey::new("default", "web"));
        assert!(endpoints.expect("the relisted Service was reconciled").subsets.is_empty());
    }

    #[test]
    fn a_failing_key_is_retried_with_growing_backoff_and_a_warning_each_time() {
        use controllers::harness;
        let mut cluster = Cluster::new(1, Timing::preset(timing::Preset::Arcade));
        let d = harness::deployment("web", 1);
        let hash = controllers::deployment::pod_template_hash(&d);
        // Another's ReplicaSet holds the name the Deployment's must have.
        cluster.apply(Object::from(harness::replica_set(&format!("web-{hash}"), 0)), Millis::ZERO).unwrap();
        cluster.apply(Object::from(d), Millis::ZERO).unwrap();
        let mut warned = Vec::new();
        for t in 0..800 {
            cluster.step(Millis(t * 10)).unwrap();
            warned.extend(cluster.recorder.drain().filter(|r| r.reason == "FailedUpdate").map(|r| (r.at, r.object)));
        }
        let at: Vec<u64> = warned.iter().map(|(at, _)| at.0).collect();
        assert_eq!(at, [0, 1_000, 3_000, 7_000]);
        assert!(warned.iter().all(|(_, object)| object == "deployment/web"));
    }

    /// A kubelet renews its Lease every period without writing its Node, and reads the Node
    /// again only when it changed: a Ready condition overwritten behind its back is posted
    /// again at its next renewal, not at the next status report a minute later.
    #[test]
    fn a_kubelet_reposts_ready_at_its_next_renewal_after_its_node_changed() {
        let mut cluster = lane(2, 2);
        let mut now = Millis::ZERO;
        let mut run_for = |cluster: &mut Cluster, ms: u64| {
            for _ in 0..ms / crate::clock::TICK_MS {
                cluster.step(now).unwrap();
                now = now + Millis(crate::clock::TICK_MS);
            }
        };
        run_for(&mut cluster, 3_000);
        let node_key = ObjectKey::cluster("pin-1");
        let lease_key = ObjectKey::new(controllers::node_lifecycle::LEASE_NAMESPACE, "pin-1");
        let renewed = |c: &Cluster| c.store.get::<objects::Lease>(&lease_key).and_then(|l| l.spec.renew_time.clone());
        let node_rv = |c: &Cluster| c.store.get::<Node>(&node_key).map(|n| n.metadata.resource_version.clone());
        let (lease_before, node_before) = (renewed(&cluster), node_rv(&cluster));
        run_for(&mut cluster, 1_000);
        assert_ne!(renewed(&cluster), lease_before, "the Lease is renewed every period");
        assert_eq!(node_rv(&cluster), node_before, "a quiet renewal does not write the Node");

        cluster
            .store
            .modify::<Node>(&node_key, |n| {
                if let Some(ready) = n.status.conditions.iter_mut().find(|c| c.type_ == "Ready") {
                    ready.status = "False".into();
                    ready.reason = "SomeoneElse".into();
                }
            })
            .unwrap();
        let readiness = |c: &Cluster| c.store.get::<Node>(&node_key).map(|n| n.readiness());
        assert_eq!(readiness(&cluster), Some(objects::Readiness::NotReady));
        let period = cluster.timing.heartbeat.0;
        run_for(&mut cluster, period + 2 * crate::clock::TICK_MS);
        assert_eq!(readiness(&cluster), Some(objects::Readiness::Ready), "posted again within one period");
    }

    #[test]
    fn an_instant_that_never_settles_is_a_livelock_error_not_a_silent_stop() {
        let mut cluster = lane(3, 20);
        let err = cluster.step_bounded(Millis::ZERO, 3, 0, usize::MAX).unwrap_err();
        assert_eq!(err, ClusterError::Livelock { at: Millis::ZERO, rounds: 3 });
        assert!(err.to_string().contains("did not settle at"), "{err}");
        // The work left is still queued: the next instant carries on where this one stopped.
        cluster.step(Millis(10)).unwrap();
        assert!(!cluster.store.is_empty::<Pod>());
    }
}
