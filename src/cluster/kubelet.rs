//! A simulated pin's kubelet: renews its Lease every heartbeat, reports the node Ready, starts
//! bound pods (Pending → ContainerCreating → Running after the start-up delay), and stops and
//! removes pods marked for deletion.
//!
//! A knocked kubelet stops dead: no heartbeats, no status, its containers gone. The control plane
//! is not told — it finds out only from the missed heartbeats, as in a real cluster. A node may
//! also be cut off (partitioned) or run short of memory: see [`failure`].
//!
//! A *remote* kubelet is the control plane's side of a pin agent (`pinsetter pin --join`): it
//! does not run on the work queue; the agent's heartbeats and pod reports arrive over the pin
//! protocol and are applied here by the same functions the simulated kubelet uses
//! ([`Kubelet::remote_heartbeat`], [`Kubelet::remote_pod_status`]), so the store sees the same
//! writes and events from both.

pub mod config_refs;
pub mod probes;

use self::config_refs::Held;
use super::Context;
use super::agents::protocol::{PodPhase, PodRef};
use super::controllers::node_lifecycle::LEASE_NAMESPACE;
use super::controllers::{earliest, write_failed};
use super::objects::node::{NodeAddress, NodeSystemInfo};
use super::objects::pod::{
    ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus, PodCondition,
};
use super::objects::{Kind, Lease, LeaseSpec, Node, NodeCondition, ObjectMeta, Pod, Readiness};
use super::store::{ObjectKey, StoreError};
use crate::clock::Millis;
use compact_str::CompactString;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub mod failure;
use failure::{Failure, MemoryPressure};

/// How often a healthy kubelet refreshes `lastHeartbeatTime` on the Node (upstream's
/// nodeStatusReportFrequency is 5 minutes; the Lease carries the real heartbeat).
const STATUS_REPORT_EVERY: Millis = Millis(60_000);
const COMPONENT: &str = "kubelet";
/// Kubelets whose renewals share a phase: the default lane's ten pins renew together, as
/// they always have; the next ten a tick later, and so on (see [`Kubelet::phase`]).
const PHASE_GROUP: usize = 10;

#[derive(Debug, Clone)]
pub struct Kubelet {
    pub node: String,
    /// Its Node's and its Lease's keys, built once: each renewal looks both up.
    node_key: ObjectKey,
    lease_key: ObjectKey,
    /// Set when the Node was last found Ready with its MemoryPressure condition matching
    /// (holding whether the kubelet was under pressure then); cleared by any change to the Node
    /// (the kubelet watches its own Node, as upstream's does). While set, a renewal that is not
    /// due to report has nothing to read.
    settled: Option<bool>,
    /// What the node suffers now (None: healthy).
    failure: Option<Failure>,
    /// Played by a pin agent over the pin protocol, not simulated here.
    pub remote: bool,
    index: usize,
    /// Pods whose containers are being created, and when they will be up.
    starting: BTreeMap<ObjectKey, Millis>,
    /// Pods whose containers are stopping, and when they will be gone.
    stopping: BTreeMap<ObjectKey, Millis>,
    /// Pods whose containers died with the pin: restarted when it stands again.
    crashed: BTreeSet<ObjectKey>,
    /// Pods whose containers wait for a missing ConfigMap or Secret, and when to try again.
    held: BTreeMap<ObjectKey, Held>,
    /// Running pods whose probes are scripted, with their probers' state.
    probes: BTreeMap<ObjectKey, probes::PodProbes>,
    /// While partitioned: the pods whose containers it keeps running, as it last saw them.
    cut_off: BTreeMap<ObjectKey, Pod>,
    /// Of `cut_off`, those the API has meanwhile deleted or replaced: they run twice. Kept as
    /// their changes arrive (a pod never stops running twice while cut off), so counting them
    /// costs nothing per cut-off pod.
    duplicated: BTreeSet<ObjectKey>,
    /// Back from a partition: pods that kept running, to report Ready again without a restart.
    reconnected: BTreeSet<ObjectKey>,
    /// Under memory pressure: what the eviction manager still has to reclaim.
    pressure: Option<MemoryPressure>,
    last_status_report: Option<Millis>,
    /// Whether the renewals have taken their phase yet (see [`Kubelet::phase`]).
    phased: bool,
    next_ip: u32,
}

impl Kubelet {
    pub fn new(node: &str, index: usize) -> Kubelet {
        Kubelet {
            node: node.into(),
            node_key: ObjectKey::cluster(node),
            lease_key: ObjectKey::new(LEASE_NAMESPACE, node),
            settled: None,
            failure: None,
            remote: false,
            index,
            starting: BTreeMap::new(),
            stopping: BTreeMap::new(),
            crashed: BTreeSet::new(),
            held: BTreeMap::new(),
            probes: BTreeMap::new(),
            cut_off: BTreeMap::new(),
            duplicated: BTreeSet::new(),
            reconnected: BTreeSet::new(),
            pressure: None,
            last_status_report: None,
            phased: false,
            next_ip: 2,
        }
    }

    /// The informer's word that this kubelet's Node changed: its status must be read again.
    pub fn observe_node_change(&mut self) {
        self.settled = None;
    }

    pub fn knock(&mut self) {
        if self.failure != Some(Failure::Crash) {
            self.failure = Some(Failure::Crash);
            self.crashed.extend(self.starting.keys().cloned());
            // Containers kept running through a partition die with the pin too.
            self.crashed.extend(std::mem::take(&mut self.cut_off).into_keys());
            self.duplicated.clear();
            self.pressure = None;
            self.starting.clear();
            self.stopping.clear();
            self.held.clear();
            self.probes.clear();
        }
    }

    /// The node recovers from whatever it suffered. Returns true if the control plane had lost
    /// it (crashed or cut off), so its heartbeats and pod syncs must start again.
    pub fn restore(&mut self, ctx: &mut Context) -> bool {
        let was_lost = !self.heard();
        if self.failure == Some(Failure::Partition) {
            self.reconnect(ctx);
        }
        self.failure = None;
        self.pressure = None;
        was_lost
    }

    /// The node's InternalIP: 10.0.0.10 onwards, carrying into the third octet past 10.0.0.255
    /// so every kubelet of a 5,000-node lane has a valid, distinct address.
    fn host_ip(&self) -> String {
        let n = self.index + 10;
        ipv4([10, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff])
    }

    /// The control plane's side of a pin agent: no work-queue heartbeats or pod syncs.
    pub fn remote(node: &str, index: usize) -> Kubelet {
        Kubelet { remote: true, ..Kubelet::new(node, index) }
    }

    pub fn heartbeat(&mut self, ctx: &mut Context) -> Option<Millis> {
        if !self.heard() || self.remote {
            return None;
        }
        let mut next = ctx.now + ctx.timing.heartbeat;
        if !self.phased {
            self.phased = true;
            next = next.saturating_sub(self.phase(ctx.timing.heartbeat));
        }
        let housekeeping = self.housekeeping(ctx);
        earliest(earliest(Some(next), self.renew(ctx)), housekeeping)
    }

    /// This kubelet's offset within `period`. Real kubelets start at different moments and
    /// run at their own pace, so their Lease renewals, status posts and container starts are
    /// spread; a lane's kubelets all register at its first instant, and without a phase the
    /// stadium's 5,000 would renew in one tick each period (a stall of hundreds of milliseconds
    /// twice a second of game time) and start 150,000 containers in one tick. Groups of
    /// [`PHASE_GROUP`] take successive ticks; the renewal's second period is shortened by it,
    /// and container starts take it on top of the start-up time.
    fn phase(&self, period: Millis) -> Millis {
        let slots = (period.0 / crate::clock::TICK_MS).max(1);
        let group = u64::try_from(self.index / PHASE_GROUP).unwrap_or(0);
        Millis((group % slots) * crate::clock::TICK_MS)
    }

    /// A pin agent's heartbeat: the same Lease renewal and status report as a simulated one.
    /// A knocked pin's heartbeats are dropped (it is dead to the control plane). Returns
    /// whether it was applied.
    pub fn remote_heartbeat(&mut self, ctx: &mut Context) -> bool {
        if !self.heard() {
            return false;
        }
        self.renew(ctx);
        true
    }

    /// Renews the Lease and reports status; returns when to retry a write that failed.
    fn renew(&mut self, ctx: &mut Context) -> Option<Millis> {
        let (epoch, now) = (ctx.store.epoch(), ctx.now);
        let stamp = |l: &mut Lease| epoch.stamp_micros_into(now, l.spec.renew_time.get_or_insert_default());
        let renewed = match ctx.store.modify::<Lease>(&self.lease_key, stamp) {
            Err(StoreError::NotFound { .. }) => {
                let lease = Lease {
                    metadata: ObjectMeta::namespaced(LEASE_NAMESPACE, &self.node),
                    spec: LeaseSpec {
                        holder_identity: Some(self.node.clone()),
                        lease_duration_seconds: Some(40),
                        renew_time: Some(epoch.stamp_micros(now)),
                        ..LeaseSpec::default()
                    },
                    ..Lease::default()
                };
                ctx.store.create(lease, ctx.now).map(drop)
            }
            written => written.map(drop),
        };
        let retry = renewed.err().and_then(|err| write_failed(ctx, Kind::Lease, &self.lease_key, COMPONENT, &err));
        earliest(retry, self.report_status(ctx))
    }

    /// Posts Ready (and the node's addresses and info) when it is not already so, and refreshes
    /// `lastHeartbeatTime` now and then.
    fn report_status(&mut self, ctx: &mut Context) -> Option<Millis> {
        let key = &self.node_key;
        let due = self.last_status_report.is_none_or(|t| ctx.now.saturating_sub(t) >= STATUS_REPORT_EVERY);
        let pressure = self.pressure.is_some();
        if !due && self.settled == Some(pressure) {
            return None;
        }
        let node = ctx.store.get::<Node>(key)?;
        let was_ready = node.readiness() == Readiness::Ready;
        // The condition is posted once a pressure starts, and kept False after.
        let memory_condition = node.status.conditions.iter().find(|c| c.type_ == "MemoryPressure");
        let pressure_changed = memory_condition.map_or(pressure, |c| (c.status == "True") != pressure);
        if was_ready && !due && !pressure_changed {
            self.settled = Some(pressure);
            return None;
        }
        self.last_status_report = Some(ctx.now);
        let now = ctx.store.epoch().stamp(ctx.now);
        let host_ip = self.host_ip();
        let written = ctx.store.modify::<Node>(key, |n| {
            let ready = NodeCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(now.clone()),
                reason: "KubeletReady".into(),
                message: "kubelet is posting ready status".into(),
            };
            match n.status.conditions.iter_mut().find(|c| c.type_ == "Ready") {
                Some(c) if c.status == "True" => c.last_heartbeat_time = Some(now.clone()),
                Some(c) => *c = ready,
                None => n.status.conditions.push(ready),
            }
            if pressure_changed {
                let (status, reason, message) = if pressure {
                    ("True", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available")
                } else {
                    ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available")
                };
                let condition = NodeCondition {
                    type_: "MemoryPressure".into(),
                    status: status.into(),
                    last_heartbeat_time: Some(now.clone()),
                    last_transition_time: Some(now.clone()),
                    reason: reason.into(),
                    message: message.into(),
                };
                match n.status.conditions.iter_mut().find(|c| c.type_ == "MemoryPressure") {
                    Some(c) => *c = condition,
                    None => n.status.conditions.push(condition),
                }
            }
            if n.status.addresses.is_empty() {
                n.status.addresses = vec![
                    NodeAddress { type_: "InternalIP".into(), address: host_ip.clone() },
                    NodeAddress { type_: "Hostname".into(), address: n.metadata.name.clone() },
                ];
            }
            n.status.node_info.get_or_insert_with(|| NodeSystemInfo {
                kubelet_version: "v1.32.4-pinsetter".into(),
                os_image: "Pinsetter pin".into(),
                architecture: "amd64".into(),
                operating_system: "linux".into(),
                container_runtime_version: "pinsetter://0.1.0".into(),
                ..Default::default()
            });
            if n.status.allocatable.is_empty() {
                n.status.allocatable = n.status.capacity.clone();
            }
        });
        let node = match written {
            Ok(node) => node,
            Err(err) => return write_failed(ctx, Kind::Node, key, COMPONENT, &err),
        };
        if pressure_changed {
            let reason = if pressure { "NodeHasInsufficientMemory" } else { "NodeHasSufficientMemory" };
            let message = format!("Node {} status is now: {reason}", self.node);
            ctx.recorder.record(ctx.now, Kind::Node, &node.metadata, "Normal", reason, message, COMPONENT);
        }
        if !was_ready {
            let message = format!("Node {} status is now: NodeReady", self.node);
            ctx.recorder.record(ctx.now, Kind::Node, &node.metadata, "Normal", "NodeReady", message, COMPONENT);
        }
        None
    }

    /// Brings one pod's containers toward what its spec says.
    pub fn sync_pod(&mut self, key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
        if !self.heard() || self.remote {
            return None;
        }
        let reconnected = self.reconnected.remove(key);
        // Held, not re-read: starting a pod reads it several times, and each look-up among
        // 150,000 pods is a cache miss.
        let Some(pod) = ctx.store.get_shared::<Pod>(key).filter(|p| p.node_name() == Some(self.node.as_str())).cloned()
        else {
            self.starting.remove(key);
            self.stopping.remove(key);
            self.crashed.remove(key);
            self.held.remove(key);
            self.probes.remove(key);
            return None;
        };
        if pod.metadata.is_terminating() {
            self.probes.remove(key);
            return self.stop(key, ctx);
        }
        if reconnected && pod.status.phase == "Running" {
            // Its containers ran through the partition: Ready again, no restart.
            if pod.is_ready() {
                return None;
            }
            return failure::report_ready_again(key, ctx)
                .err()
                .and_then(|err| write_failed(ctx, Kind::Pod, key, COMPONENT, &err));
        }
        // Unready while its readiness probe fails is the prober's business, not a crash.
        let unready_after_crash = pod.status.phase == "Running" && !pod.is_ready() && !self.probes.contains_key(key);
        if self.crashed.remove(key) || unready_after_crash {
            // The pin came back: its containers start again (and count a restart).
            let restarted = ctx.store.modify::<Pod>(key, |p| {
                for cs in &mut p.status.container_statuses {
                    cs.restart_count += 1;
                }
            });
            return match restarted {
                Ok(restarted) => self.start(key, restarted, ctx),
                Err(err) => {
                    // Crashed it stays, so the retry counts the restart again.
                    self.crashed.insert(key.clone());
                    write_failed(ctx, Kind::Pod, key, COMPONENT, &err)
                }
            };
        }
        match pod.status.phase.as_str() {
            "Running" => self.run_probes(key, ctx),
            "Succeeded" | "Failed" => None,
            _ => self.start(key, pod, ctx),
        }
    }

    /// Starts `pod` (as stored at `key` now) toward Running.
    fn start(&mut self, key: &ObjectKey, mut pod: Arc<Pod>, ctx: &mut Context) -> Option<Millis> {
        let up_at = match self.starting.get(key) {
            Some(&t) => t,
            None => {
                // Nodes start pods at their own pace: on a big lane that comes up at one instant,
                // 150,000 containers would otherwise all start in one tick.
                let up_at = ctx.now + ctx.timing.startup + self.phase(ctx.timing.startup);
                match set_container_creating(key, self.host_ip(), ctx) {
                    Ok(written) => pod = written,
                    Err(err) => return write_failed(ctx, Kind::Pod, key, COMPONENT, &err),
                }
                self.starting.insert(key.clone(), up_at);
                up_at
            }
        };
        if ctx.now < up_at {
            return Some(up_at);
        }
        if let Some(retry_at) = self.hold_for_config(key, &pod, ctx) {
            return Some(retry_at);
        }
        let pod_ip = self.pod_ip();
        let unready = probes::PodProbes::unready_at_start(&pod);
        match set_running(key, pod_ip, &unready, ctx) {
            Ok(running) => {
                self.starting.remove(key);
                let probes = probes::PodProbes::start(&running, ctx)?;
                let next = probes.next_at();
                self.probes.insert(key.clone(), probes);
                next
            }
            Err(err) => write_failed(ctx, Kind::Pod, key, COMPONENT, &err),
        }
    }

    /// Runs the pod's due probes (see [`probes`]); returns when the next is due.
    fn run_probes(&mut self, key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
        let probes = self.probes.get_mut(key)?;
        match probes.run(key, ctx) {
            Ok(next) => next,
            Err(err) => write_failed(ctx, Kind::Pod, key, COMPONENT, &err),
        }
    }

    /// A pin agent reports a pod's containers: checked against what this pin may touch (a pod
    /// bound to it, with the same uid), then written exactly as the simulated kubelet writes.
    pub fn remote_pod_status(
        &mut self,
        pod: &PodRef,
        phase: PodPhase,
        pod_ip: Option<String>,
        ctx: &mut Context,
    ) -> Result<(), String> {
        if !self.heard() {
            return Err(format!("node {} is down: its reports are not heard", self.node));
        }
        let key = self.own_pod(pod, ctx)?;
        let current = ctx.store.get::<Pod>(&key).map(|p| (p.metadata.is_terminating(), p.status.phase.clone()));
        match (current, phase) {
            (Some((true, _)), _) => Ok(()),
            (Some((_, running)), PodPhase::Pending) if running == "Running" => Ok(()),
            (_, PodPhase::Pending) => {
                set_container_creating(&key, self.host_ip(), ctx).map(drop).map_err(|e| e.to_string())
            }
            (_, PodPhase::Running) => {
                let pod_ip = pod_ip.unwrap_or_else(|| self.pod_ip());
                set_running(&key, pod_ip, &[], ctx).map(drop).map_err(|e| e.to_string())
            }
        }
    }

    /// A pin agent stopped a pod's containers: a terminating pod bound to it is removed, as the
    /// simulated kubelet removes it when its containers are gone.
    pub fn remote_pod_deleted(&mut self, pod: &PodRef, ctx: &mut Context) -> Result<(), String> {
        if !self.heard() {
            return Err(format!("node {} is down: its reports are not heard", self.node));
        }
        let Ok(key) = self.own_pod(pod, ctx) else { return Ok(()) };
        if let Some(pod) = ctx.store.get::<Pod>(&key).filter(|p| p.metadata.is_terminating()).cloned() {
            record_killing(&pod, ctx);
            match ctx.store.delete::<Pod>(&key) {
                Ok(_) | Err(StoreError::NotFound { .. }) => {}
                Err(err) => return Err(err.to_string()),
            }
        }
        Ok(())
    }

    /// The key of a pod bound to this pin with this uid, or why the agent may not touch it.
    fn own_pod(&self, pod: &PodRef, ctx: &Context) -> Result<ObjectKey, String> {
        let key = ObjectKey::new(&pod.namespace, &pod.name);
        match ctx.store.get::<Pod>(&key) {
            None => Err(format!("pod {key} not found")),
            Some(p) if p.node_name() != Some(self.node.as_str()) => {
                Err(format!("pod {key} is not bound to node {}", self.node))
            }
            Some(p) if !pod.uid.is_empty() && p.metadata.uid != pod.uid => {
                Err(format!("pod {key} has uid {}, not {}", p.metadata.uid, pod.uid))
            }
            Some(_) => Ok(key),
        }
    }

    /// Holds a pod whose volumes or environment name a ConfigMap or Secret that is not there
    /// (see [`config_refs`]): each try reports upstream's event, the next comes after a backoff
    /// or as soon as what is missing is written. Returns when to try again, or `None` to start.
    fn hold_for_config(&mut self, key: &ObjectKey, pod: &Pod, ctx: &mut Context) -> Option<Millis> {
        let mounts = config_refs::mount_failures(pod, ctx.store);
        let envs = if mounts.is_empty() { config_refs::env_failures(pod, ctx.store) } else { Vec::new() };
        if mounts.is_empty() && envs.is_empty() {
            self.held.remove(key);
            return None;
        }
        let waiting: BTreeMap<&str, &str> = envs.iter().map(|f| (f.container.as_str(), f.message.as_str())).collect();
        let status_written = pod.status.container_statuses.iter().all(|cs| match waiting.get(cs.name.as_str()) {
            Some(message) => cs
                .state
                .waiting
                .as_ref()
                .is_some_and(|w| w.reason == config_refs::CREATE_CONTAINER_CONFIG_ERROR && w.message == *message),
            None => true,
        });
        // Woken early (what it refers to was written) with nothing new to report: keep waiting.
        let held = self.held.get(key).copied();
        if status_written && let Some(held) = held.filter(|h| ctx.now < h.retry_at) {
            return Some(held.retry_at);
        }
        let attempts = held.map_or(0, |h| h.attempts + 1);
        let after = if mounts.is_empty() {
            Held::sync_backoff(ctx.timing.heartbeat)
        } else {
            Held::mount_backoff(attempts, ctx.timing.heartbeat)
        };
        let retry_at = ctx.now + after;
        self.held.insert(key.clone(), Held { attempts, retry_at });
        if !status_written && let Err(err) = set_config_error(key, &waiting, ctx) {
            return write_failed(ctx, Kind::Pod, key, COMPONENT, &err).or(Some(retry_at));
        }
        for failure in &mounts {
            let message = failure.to_string();
            ctx.recorder.record(ctx.now, Kind::Pod, &pod.metadata, "Warning", "FailedMount", message, COMPONENT);
        }
        for failure in &envs {
            let message = format!("Error: {}", failure.message);
            ctx.recorder.record(ctx.now, Kind::Pod, &pod.metadata, "Warning", "Failed", message, COMPONENT);
        }
        Some(retry_at)
    }

    fn stop(&mut self, key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
        self.starting.remove(key);
        self.held.remove(key);
        let gone_at = match self.stopping.get(key) {
            Some(&t) => t,
            None => {
                // A preStop hook runs first, for as long as the grace period lets it.
                let pre_stop = ctx.store.get::<Pod>(key).and_then(probes::PreStop::of).map_or(Millis(0), |h| h.delay());
                let gone_at = ctx.now + pre_stop + ctx.timing.termination;
                self.stopping.insert(key.clone(), gone_at);
                if let Some(pod) = ctx.store.get::<Pod>(key).cloned() {
                    record_killing(&pod, ctx);
                }
                gone_at
            }
        };
        if ctx.now < gone_at {
            return Some(gone_at);
        }
        self.stopping.remove(key);
        if let Some(pod) = ctx.store.get::<Pod>(key)
            && probes::PreStop::of(pod).is_some_and(|h| h.outlived_grace())
        {
            // As the kubelet: the hook is cut off with the container, and says so.
            let meta = pod.metadata.clone();
            let message = "PreStopHook failed".to_string();
            ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Warning", "FailedPreStopHook", message, COMPONENT);
        }
        ctx.store.delete::<Pod>(key).err().and_then(|err| write_failed(ctx, Kind::Pod, key, COMPONENT, &err))
    }

    /// A pod IP from the node's /24: `10.244.<n>.0/24` for the first 256 kubelets, as a
    /// flannel-style 10.244.0.0/16 hands them out; past that the /16 is full, and kubelet `n`
    /// takes `10.<128 + n / 256>.<n % 256>.0/24` (distinct for 28,000 kubelets, and clear of
    /// the first range).
    fn pod_ip(&mut self) -> String {
        let (n, host) = (self.index, (self.next_ip % 250 + 2) as usize);
        let ip = if n < 256 { ipv4([10, 244, n, host]) } else { ipv4([10, 128 + (n / 256) % 112, n % 256, host]) };
        self.next_ip += 1;
        ip
    }
}

/// `a.b.c.d`, written without the formatting machinery: each pod's start writes two
/// addresses, and `format!` cost ten times the pushes.
fn ipv4(octets: [usize; 4]) -> String {
    let mut ip = String::with_capacity(15);
    for (i, octet) in octets.into_iter().enumerate() {
        if i > 0 {
            ip.push('.');
        }
        ip.push_str(itoa::Buffer::new().format(octet));
    }
    ip
}

/// Containers being created (`Pending`, `ContainerCreating`), keeping restart counts; gives
/// back the pod as written.
fn set_container_creating(key: &ObjectKey, host_ip: String, ctx: &mut Context) -> Result<Arc<Pod>, StoreError> {
    ctx.store.modify::<Pod>(key, |p| {
        p.status.phase = "Pending".into();
        p.status.host_ip = Some(host_ip.into());
        let restarts: BTreeMap<CompactString, i32> =
            p.status.container_statuses.iter().map(|c| (c.name.clone(), c.restart_count)).collect();
        p.status.container_statuses = p
            .spec
            .containers
            .iter()
            .map(|c| ContainerStatus {
                name: c.name.as_str().into(),
                ready: false,
                restart_count: restarts.get(c.name.as_str()).copied().unwrap_or(0),
                image: c.image.as_str().into(),
                image_id: CompactString::default(),
                started: Some(false),
                state: ContainerState {
                    waiting: Some(ContainerStateWaiting { reason: "ContainerCreating".into(), ..Default::default() }),
                    ..Default::default()
                },
                last_state: Default::default(),
                extra: Default::default(),
            })
            .collect();
    })
}

/// The named containers cannot be created for their config (`CreateContainerConfigError`, with
/// the message); the others stay as they are.
fn set_config_error(key: &ObjectKey, waiting: &BTreeMap<&str, &str>, ctx: &mut Context) -> Result<(), StoreError> {
    ctx.store.modify::<Pod>(key, |p| {
        for cs in &mut p.status.container_statuses {
            if let Some(message) = waiting.get(cs.name.as_str()) {
                cs.state = ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: config_refs::CREATE_CONTAINER_CONFIG_ERROR.into(),
                        message: (*message).into(),
                    }),
                    ..Default::default()
                };
            }
        }
    })?;
    Ok(())
}

/// Containers up: `Running`, ready (but those in `unready`, whose readiness probe has not passed
/// yet), with the pod's conditions and a `Started` event per container.
fn set_running(key: &ObjectKey, pod_ip: String, unready: &[String], ctx: &mut Context) -> Result<Arc<Pod>, StoreError> {
    let now = ctx.store.epoch().stamp_compact(ctx.now);
    let pod = ctx.store.modify::<Pod>(key, |p| {
        p.status.phase = "Running".into();
        p.status.start_time.get_or_insert_with(|| now.clone());
        p.status.pod_ip.get_or_insert_with(|| pod_ip.into());
        for cs in &mut p.status.container_statuses {
            cs.ready = !unready.iter().any(|u| *u == cs.name);
            cs.started = Some(true);
            cs.state = ContainerState {
                running: Some(ContainerStateRunning { started_at: Some(now.clone()) }),
                ..Default::default()
            };
        }
        probes::set_ready_conditions(p, &now);
        for type_ in ["Initialized", "PodScheduled"] {
            let condition = PodCondition {
                type_: type_.into(),
                status: "True".into(),
                last_transition_time: Some(now.clone()),
                ..Default::default()
            };
            match p.status.conditions.iter_mut().find(|c| c.type_ == type_) {
                Some(c) if c.status == "True" => {}
                Some(c) => *c = condition,
                None => p.status.conditions.push(condition),
            }
        }
    })?;
    let names: Vec<String> = pod.spec.containers.iter().map(|c| c.name.clone()).collect();
    for name in names {
        ctx.recorder.record(
            ctx.now,
            Kind::Pod,
            &pod.metadata,
            "Normal",
            "Started",
            ["Started container ", name.as_str()].concat(),
            COMPONENT,
        );
    }
    Ok(pod)
}

/// The kubelet's `Killing` event, one per container it stops.
fn record_killing(pod: &Pod, ctx: &mut Context) {
    for c in &pod.spec.containers {
        let message = format!("Stopping container {}", c.name);
        ctx.recorder.record(ctx.now, Kind::Pod, &pod.metadata, "Normal", "Killing", message, "kubelet");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Every kubelet of the stadium has a valid, distinct node address and pod range; the ten
    /// pins keep the addresses they always had.
    #[test]
    fn addresses_are_valid_and_distinct_at_the_stadiums_size() {
        let mut hosts = BTreeSet::new();
        let mut pod_ranges = BTreeSet::new();
        for index in 0..5_000 {
            let mut kubelet = Kubelet::new(&format!("pin-{}", index + 1), index);
            let host: Ipv4Addr = kubelet.host_ip().parse().expect("a valid node address");
            let pod: Ipv4Addr = kubelet.pod_ip().parse().expect("a valid pod address");
            assert!(hosts.insert(host), "{host} given twice");
            assert!(pod_ranges.insert(pod.octets()[..3].to_vec()), "{pod}'s /24 given twice");
            assert!(!hosts.contains(&pod), "{pod} is also a node's address");
        }
        let first = Kubelet::new("pin-1", 0);
        assert_eq!(first.host_ip(), "10.0.0.10");
        let mut tenth = Kubelet::new("pin-10", 9);
        assert_eq!((tenth.host_ip(), tenth.pod_ip()), ("10.0.0.19".to_string(), "10.244.9.4".to_string()));
    }
}
