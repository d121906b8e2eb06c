//! How a pin's node fails, and what its kubelet does about it.
//!
//! - [`Failure::Crash`]: the kubelet stops dead with its containers (the parent module).
//! - [`Failure::Partition`]: the kubelet keeps its containers running, but nothing it sends
//!   reaches the control plane and nothing the control plane writes reaches it. The node goes
//!   NotReady, its pods are evicted and replaced elsewhere, while the originals still run here:
//!   duplicates, until the partition heals and the kubelet, syncing again, kills the pods the API
//!   deleted while it was away (upstream's `HandlePodCleanups` after a reconnect).
//! - [`Failure::Pressure`]: the node stays Ready but posts `MemoryPressure=True`; its eviction
//!   manager evicts one pod per housekeeping interval, ranked as upstream ranks them, until the
//!   pressure is relieved.
//!
//! Pins run no real containers, so memory use is modelled: a container uses its memory limit,
//! else its request, else [`BEST_EFFORT_USAGE`]. The pressure is a shortfall of a quarter of the
//! node's memory capacity; it is relieved once the evicted pods' modelled use covers it (or no pod
//! is left to evict). Upstream ranks by "usage exceeds requests", then priority, then usage above
//! requests; with modelled use, the QoS class stands in for the first key (a BestEffort pod always
//! exceeds its zero request, a Guaranteed one never exceeds), so BestEffort goes first, then
//! Burstable, each by priority then use above requests. Guaranteed pods are never evicted here:
//! upstream evicts them only when system daemons overrun their reservation, which pins do not
//! model, so a pressure with only Guaranteed pods left is relieved.

use super::{COMPONENT, Kubelet, record_killing};
use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{earliest, write_failed};
use crate::cluster::objects::pod::{ContainerState, ContainerStateTerminated, PodCondition};
use crate::cluster::objects::{Kind, Node, Pod};
use crate::cluster::store::ObjectKey;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;

/// What a node suffers when its pin falls (or wobbles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Failure {
    /// The kubelet and its containers stop dead.
    Crash,
    /// The kubelet's heartbeats and status writes are cut; its containers keep running.
    Partition,
    /// The node runs low on memory: `MemoryPressure=True`, pods evicted until relieved.
    Pressure,
}

impl Failure {
    pub const ALL: [Failure; 3] = [Failure::Crash, Failure::Partition, Failure::Pressure];

    /// The verb of `sim --at` and the key of `sim --json`'s per-failure figures.
    pub fn name(self) -> &'static str {
        match self {
            Failure::Crash => "crash",
            Failure::Partition => "partition",
            Failure::Pressure => "pressure",
        }
    }

    /// What a pin card says of a node failing this way.
    pub fn describe(self) -> &'static str {
        match self {
            Failure::Crash => "crashed",
            Failure::Partition => "partitioned",
            Failure::Pressure => "memory pressure",
        }
    }

    /// Whether the pin lies down (a crash or a partition) rather than wobbling on its spot.
    pub fn fells_pin(self) -> bool {
        !matches!(self, Failure::Pressure)
    }
}

/// A container with neither a memory limit nor a request is modelled as using this much.
pub const BEST_EFFORT_USAGE: i64 = 128 << 20;
/// Upstream's default hard eviction threshold, `memory.available<100Mi`.
const THRESHOLD_BYTES: i64 = 100 << 20;

/// A node under memory pressure: how much its eviction manager still has to reclaim.
#[derive(Debug, Clone)]
pub(super) struct MemoryPressure {
    /// Bytes still to free; set from the node's capacity at the first housekeeping pass.
    to_reclaim: Option<i64>,
    next_housekeeping: Millis,
}

/// Upstream's QoS classes (`v1.PodQOSClass`), in eviction order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QosClass {
    BestEffort,
    Burstable,
    Guaranteed,
}

impl QosClass {
    /// Upstream's `GetPodQOS`: Guaranteed when every container's cpu and memory limits are set
    /// and requests (defaulting to limits) equal them; BestEffort when nothing is requested or
    /// limited; Burstable otherwise.
    pub fn of(pod: &Pod) -> QosClass {
        let containers = &pod.spec.containers;
        if containers.iter().all(|c| c.resources.requests.is_empty() && c.resources.limits.is_empty()) {
            return QosClass::BestEffort;
        }
        let guaranteed = containers.iter().all(|c| {
            ["cpu", "memory"].iter().all(|resource| match c.resources.limits.get(*resource) {
                Some(limit) => {
                    c.resources.requests.get(*resource).is_none_or(|request| request.milli() == limit.milli())
                }
                None => false,
            })
        });
        if guaranteed { QosClass::Guaranteed } else { QosClass::Burstable }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::BestEffort => "BestEffort",
            QosClass::Burstable => "Burstable",
            QosClass::Guaranteed => "Guaranteed",
        }
    }
}

/// One container's modelled memory use and request, in bytes.
fn container_memory(container: &crate::cluster::objects::pod::Container) -> (i64, i64) {
    let request = container.resources.requests.get("memory").map_or(0, |q| q.value());
    let usage = container.resources.limits.get("memory").map_or(request, |q| q.value());
    (if usage == 0 { BEST_EFFORT_USAGE } else { usage }, request)
}

/// The pod's modelled memory use and request, in bytes.
fn pod_memory(pod: &Pod) -> (i64, i64) {
    pod.spec.containers.iter().map(container_memory).fold((0, 0), |(u, r), (cu, cr)| (u + cu, r + cr))
}

/// The eviction manager's order for memory pressure (smaller evicts first).
pub fn eviction_rank(pod: &Pod) -> (QosClass, i32, Reverse<i64>, String, String) {
    let (usage, request) = pod_memory(pod);
    (
        QosClass::of(pod),
        pod.priority(),
        Reverse(usage - request),
        pod.metadata.namespace().to_string(),
        pod.metadata.name.clone(),
    )
}

/// `Ki` as upstream prints a memory quantity the kubelet measured.
fn kibibytes(bytes: i64) -> String {
    format!("{}Ki", bytes.max(0) / 1024)
}

/// Upstream's eviction message: the node's shortfall and each container using more than it asked.
fn eviction_message(pod: &Pod, available: i64) -> String {
    let mut message = format!(
        "The node was low on resource: memory. Threshold quantity: {}, available: {}. ",
        crate::cluster::objects::Quantity::from_bytes(THRESHOLD_BYTES).as_str(),
        kibibytes(available)
    );
    for container in &pod.spec.containers {
        let (usage, request) = container_memory(container);
        if usage > request {
            let request = container.resources.requests.get("memory").map_or("0", |q| q.as_str());
            message.push_str(&format!(
                "Container {} was using {}, request is {request}, has larger consumption of memory. ",
                container.name,
                kibibytes(usage)
            ));
        }
    }
    message
}

impl Kubelet {
    /// What the node suffers now, if anything.
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// Whether the control plane hears this kubelet (not crashed, not cut off).
    pub fn heard(&self) -> bool {
        !matches!(self.failure, Some(Failure::Crash | Failure::Partition))
    }

    /// The node fails this way. A crash overrides any other failure; another failure on a node
    /// already failing changes nothing. `running` are the pods bound here whose containers
    /// run, which a partition keeps running out of the control plane's sight.
    pub fn fail<'a>(&mut self, failure: Failure, now: Millis, running: impl Iterator<Item = &'a Pod>) {
        match (self.failure, failure) {
            (Some(Failure::Crash), _) => {}
            (_, Failure::Crash) => self.knock(),
            (Some(_), _) => {}
            (None, Failure::Partition) => {
                self.failure = Some(Failure::Partition);
                self.cut_off = running.map(|p| (ObjectKey::of(&p.metadata), p.clone())).collect();
            }
            (None, Failure::Pressure) => {
                self.failure = Some(Failure::Pressure);
                self.pressure = Some(MemoryPressure { to_reclaim: None, next_housekeeping: now });
            }
        }
    }

    /// Pods still running here that the API has deleted or is deleting: duplicates of their
    /// replacements, while a partition hides them.
    pub fn duplicates(&self) -> usize {
        self.duplicated.len()
    }

    /// The API changed pod `key`, which may be one this kubelet runs cut off: is it now running
    /// twice?
    pub fn observe_cut_off(&mut self, store: &crate::cluster::store::Store, key: &ObjectKey) {
        if let Some(pod) = self.cut_off.get(key)
            && runs_twice(store, key, pod)
        {
            self.duplicated.insert(key.clone());
        }
    }

    /// A partition heals: pods the API deleted while the kubelet was away are killed at once;
    /// those it is deleting are stopped by the pod sync, as any terminating pod; the rest keep
    /// running and are reported Ready again (no restart: their containers never stopped).
    pub(super) fn reconnect(&mut self, ctx: &mut Context) {
        self.duplicated.clear();
        for (key, pod) in std::mem::take(&mut self.cut_off) {
            let current = ctx.store.get::<Pod>(&key);
            match current {
                Some(p) if p.metadata.uid == pod.metadata.uid => {
                    self.reconnected.insert(key);
                }
                _ => record_killing(&pod, ctx),
            }
        }
    }

    /// The eviction manager's housekeeping under memory pressure: evicts the first-ranked pod,
    /// or, once enough is reclaimed, relieves the pressure. Returns when to run again.
    pub(super) fn housekeeping(&mut self, ctx: &mut Context) -> Option<Millis> {
        let pressure = self.pressure.as_mut()?;
        if ctx.now < pressure.next_housekeeping {
            return Some(pressure.next_housekeeping);
        }
        let node_key = ObjectKey::cluster(&self.node);
        let capacity = ctx.store.get::<Node>(&node_key)?.status.capacity.get("memory").map_or(0, |q| q.value());
        let Some(to_reclaim) = pressure.to_reclaim else {
            // The first pass measures the shortfall; evictions start at the next, once the
            // posted condition has had a moment to taint the node against new pods.
            pressure.to_reclaim = Some((capacity / 4).max(1));
            pressure.next_housekeeping = ctx.now + ctx.timing.heartbeat;
            return Some(pressure.next_housekeeping);
        };
        let victim = ctx
            .store
            .pods_on_node(&self.node)
            .filter(|p| p.is_active() && QosClass::of(p) != QosClass::Guaranteed)
            .min_by_key(|p| eviction_rank(p))
            .map(|p| ObjectKey::of(&p.metadata));
        let Some(victim) = victim.filter(|_| to_reclaim > 0) else {
            // Relieved: the next status report posts MemoryPressure=False.
            self.pressure = None;
            self.failure = None;
            return None;
        };
        pressure.next_housekeeping = ctx.now + ctx.timing.heartbeat;
        let next = pressure.next_housekeeping;
        let available = THRESHOLD_BYTES - to_reclaim.min(THRESHOLD_BYTES);
        match evict(&victim, available, ctx) {
            Ok(freed) => {
                if let Some(p) = self.pressure.as_mut() {
                    p.to_reclaim = Some(to_reclaim - freed);
                }
                self.starting.remove(&victim);
                Some(next)
            }
            Err(err) => earliest(Some(next), write_failed(ctx, Kind::Pod, &victim, COMPONENT, &err)),
        }
    }
}

/// A pod whose containers ran through a partition is reported Ready again (the node lifecycle
/// controller marked it not ready while the node was silent); no `Started` event, no restart.
pub(super) fn report_ready_again(key: &ObjectKey, ctx: &mut Context) -> Result<(), crate::cluster::store::StoreError> {
    let now = ctx.store.epoch().stamp_compact(ctx.now);
    ctx.store.modify::<Pod>(key, |p| {
        for c in p.status.conditions.iter_mut().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady") {
            if c.status != "True" {
                c.status = "True".into();
                c.last_transition_time = Some(now.clone());
            }
        }
        for cs in &mut p.status.container_statuses {
            cs.ready = true;
        }
    })?;
    Ok(())
}

/// The pod this kubelet remembers runs twice: the API has deleted it (or replaced it by another
/// of its name), or is deleting it and its ReplicaSet or Job has already replaced it. A bare pod
/// has no replacement, and a StatefulSet makes none while the old pod is terminating
/// (upstream's at-most-one pod per identity), so neither counts until the pod is gone.
fn runs_twice(store: &crate::cluster::store::Store, key: &ObjectKey, pod: &Pod) -> bool {
    store.get::<Pod>(key).is_none_or(|p| {
        let replaced_by_its_controller =
            p.metadata.is_terminating() && p.metadata.controller().is_some_and(|o| o.kind != "StatefulSet");
        p.metadata.uid != pod.metadata.uid || replaced_by_its_controller
    })
}

/// Upstream's eviction: the pod's containers are killed and it is left `Failed`, reason
/// `Evicted`, with a `DisruptionTarget` condition and a Warning `Evicted` event. Returns the
/// bytes freed.
fn evict(key: &ObjectKey, available: i64, ctx: &mut Context) -> Result<i64, crate::cluster::store::StoreError> {
    let Some(pod) = ctx.store.get::<Pod>(key).cloned() else { return Ok(0) };
    let message = eviction_message(&pod, available);
    let now = ctx.store.epoch().stamp_compact(ctx.now);
    let evicted = ctx.store.modify::<Pod>(key, |p| {
        p.status.phase = "Failed".into();
        p.status.reason = "Evicted".into();
        p.status.message = message.as_str().into();
        for c in p.status.conditions.iter_mut().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady") {
            c.status = "False".into();
            c.last_transition_time = Some(now.clone());
        }
        p.status.conditions.push(PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            last_transition_time: Some(now.clone()),
            reason: "TerminationByKubelet".into(),
            message: message.as_str().into(),
        });
        for cs in &mut p.status.container_statuses {
            cs.ready = false;
            cs.started = Some(false);
            let started_at = cs.state.running.as_ref().and_then(|r| r.started_at.clone());
            cs.state = ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 137,
                    reason: "Error".into(),
                    started_at,
                    finished_at: Some(now.clone()),
                }),
                ..Default::default()
            };
        }
    })?;
    ctx.recorder.record(ctx.now, Kind::Pod, &evicted.metadata, "Warning", "Evicted", message, COMPONENT);
    record_killing(&evicted, ctx);
    Ok(pod_memory(&pod).0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::Quantity;
    use crate::cluster::objects::pod::Container;

    fn pod(name: &str, priority: i32, requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Pod {
        let list =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), Quantity::parse(v).unwrap())).collect();
        let mut pod = Pod::default();
        pod.metadata.name = name.into();
        pod.spec.priority = Some(priority);
        let mut container = Container { name: "app".into(), ..Default::default() };
        container.resources.requests = list(requests);
        container.resources.limits = list(limits);
        pod.spec.containers.push(container);
        pod
    }

    #[test]
    fn qos_classes_follow_upstream() {
        assert_eq!(QosClass::of(&pod("a", 0, &[], &[])), QosClass::BestEffort);
        assert_eq!(QosClass::of(&pod("a", 0, &[("memory", "64Mi")], &[])), QosClass::Burstable);
        let both = [("cpu", "100m"), ("memory", "64Mi")];
        assert_eq!(QosClass::of(&pod("a", 0, &both, &both)), QosClass::Guaranteed);
        assert_eq!(QosClass::of(&pod("a", 0, &[], &both)), QosClass::Guaranteed, "requests default to limits");
        assert_eq!(QosClass::of(&pod("a", 0, &[("memory", "32Mi")], &both)), QosClass::Burstable);
    }

    #[test]
    fn eviction_ranks_best_effort_then_burstable_by_priority_then_use_guaranteed_last() {
        let both = [("cpu", "100m"), ("memory", "64Mi")];
        let pods = [
            pod("guaranteed-low", -10, &both, &both),
            pod("burstable-high", 100, &[("memory", "32Mi")], &[("memory", "64Mi")]),
            pod("burstable-low-small", 0, &[("memory", "32Mi")], &[("memory", "48Mi")]),
            pod("burstable-low-big", 0, &[("memory", "32Mi")], &[("memory", "256Mi")]),
            pod("best-effort-high", 1000, &[], &[]),
            pod("best-effort-low", 0, &[], &[]),
        ];
        let mut ranked: Vec<&Pod> = pods.iter().collect();
        ranked.sort_by_key(|p| eviction_rank(p));
        let names: Vec<&str> = ranked.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "best-effort-low",
                "best-effort-high",
                "burstable-low-big",
                "burstable-low-small",
                "burstable-high",
                "guaranteed-low"
            ]
        );
    }

    #[test]
    fn the_eviction_message_names_the_containers_using_more_than_they_asked() {
        let message = eviction_message(&pod("a", 0, &[("memory", "32Mi")], &[("memory", "64Mi")]), 50 << 20);
        assert_eq!(
            message,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. Container app was using 65536Ki, request is 32Mi, has larger consumption of memory. "
        );
    }
}
