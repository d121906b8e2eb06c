//! kube-scheduler in miniature: a queue of unbound pods, a cycle that snapshots the nodes, runs
//! the filters and the policy, binds, and records why — so the game can answer "why here?" and
//! "why pending?" for any pod.

pub mod framework;
pub mod greedy;

use self::framework::{NodeInfo, PodInfo, Resources, Verdict, fit_error_message, run_filters, snapshot};
use super::events::EventRecorder;
use super::objects::{Kind, Node, Object, Pod};
use super::store::{Change, ChangeType, ObjectKey, Store};
use crate::clock::Millis;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Upstream's initial and maximum per-pod backoff after a failed attempt.
const INITIAL_BACKOFF: Millis = Millis(1_000);
const MAX_BACKOFF: Millis = Millis(10_000);

/// The scheduling policy in force. (Only the seed's greedy policy exists so far.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    Greedy,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Greedy => "greedy",
        }
    }
}

/// Why a pod is where it is (or is not anywhere yet): every node's verdict and the outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub at: Millis,
    pub policy: &'static str,
    /// The node bound to, or `None` when nothing fit.
    pub node: Option<String>,
    /// Every node's filter verdict at the moment this pod was placed, in rack order. Empty when
    /// recording is off (huge lanes) and the pod was bound.
    pub verdicts: Vec<(String, Verdict)>,
    /// One line: "first fit in rack order" or upstream's FailedScheduling message.
    pub message: String,
}

#[derive(Debug, Clone, Copy)]
struct QueueEntry {
    next_attempt: Millis,
    backoff: Millis,
    /// Failed its last attempt: waits for a cluster change (or its backoff) before retrying.
    unschedulable: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SchedulerStats {
    pub cycles: u64,
    pub attempts: u64,
    pub bound: u64,
    pub failed: u64,
    /// The latest bindings, newest last: (pod, node, when).
    pub recent: VecDeque<(String, String, Millis)>,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    pub policy: Policy,
    /// Record every node's verdict for bound pods too (costs p·n per cycle; off for huge lanes).
    pub record_verdicts: bool,
    queue: BTreeMap<ObjectKey, QueueEntry>,
    decisions: BTreeMap<ObjectKey, Decision>,
    last_failure: BTreeMap<ObjectKey, String>,
    pub stats: SchedulerStats,
}

/// Rack order: `pin-2` before `pin-10` (names compared with their trailing number as a number).
pub fn rack_order_key(name: &str) -> (&str, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, number) = name.split_at(name.len() - digits);
    (prefix, number.parse().unwrap_or(0))
}

impl Scheduler {
    pub fn new(policy: Policy) -> Scheduler {
        Scheduler {
            policy,
            record_verdicts: true,
            queue: BTreeMap::new(),
            decisions: BTreeMap::new(),
            last_failure: BTreeMap::new(),
            stats: SchedulerStats::default(),
        }
    }

    /// Pods waiting to be placed.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    pub fn decision(&self, pod: &ObjectKey) -> Option<&Decision> {
        self.decisions.get(pod)
    }

    /// When the next cycle has work, if ever.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.queue.values().map(|e| e.next_attempt).min()
    }

    /// The scheduler's informer: keeps the queue in step with the store.
    pub fn observe(&mut self, change: &Change, now: Millis) {
        match &*change.object {
            Object::Pod(pod) => {
                let key = ObjectKey::of(&pod.metadata);
                let wants_node = change.type_ != ChangeType::Deleted
                    && pod.node_name().is_none()
                    && !pod.metadata.is_terminating()
                    && pod.spec.scheduler_name.as_deref().is_none_or(|s| s == "default-scheduler");
                if wants_node {
                    self.queue.entry(key).or_insert(QueueEntry {
                        next_attempt: now,
                        backoff: INITIAL_BACKOFF,
                        unschedulable: false,
                    });
                } else {
                    self.queue.remove(&key);
                    self.last_failure.remove(&key);
                    if change.type_ == ChangeType::Deleted {
                        self.decisions.remove(&key);
                        // Freed resources may let a waiting pod fit now.
                        if pod.node_name().is_some() {
                            self.wake_unschedulable(now);
                        }
                    }
                }
            }
            Object::Node(_) => self.wake_unschedulable(now),
            _ => {}
        }
    }

    /// Upstream moves unschedulable pods back to the active queue on cluster events that might
    /// make them fit (a node added or changed, a pod deleted).
    fn wake_unschedulable(&mut self, now: Millis) {
        for entry in self.queue.values_mut().filter(|e| e.unschedulable) {
            entry.unschedulable = false;
            entry.next_attempt = entry.next_attempt.min(now);
        }
    }

    /// One scheduling cycle over every pod that is due: place the batch, bind, and record.
    pub fn run_cycle(&mut self, store: &mut Store, recorder: &mut EventRecorder, now: Millis) {
        let due: Vec<ObjectKey> =
            self.queue.iter().filter(|(_, e)| e.next_attempt <= now).map(|(k, _)| k.clone()).collect();
        if due.is_empty() {
            return;
        }
        self.stats.cycles += 1;
        let pods: Vec<PodInfo> = due
            .iter()
            .filter_map(|k| store.get::<Pod>(k))
            .filter(|p| p.node_name().is_none() && !p.metadata.is_terminating())
            .map(PodInfo::of)
            .collect();
        let mut node_objects: Vec<&Node> = store.list::<Node>().collect();
        node_objects.sort_by(|a, b| rack_order_key(&a.metadata.name).cmp(&rack_order_key(&b.metadata.name)));
        let before = snapshot(store, node_objects);
        let mut after = before.clone();
        let placement = match self.policy {
            Policy::Greedy => greedy::place_batch(&pods, &mut after),
        };
        let mut replay = before;
        let order = greedy::batch_order(&pods, &replay);
        for i in order {
            let pod = &pods[i];
            self.stats.attempts += 1;
            match placement[i] {
                Some(n) => {
                    let verdicts = if self.record_verdicts { verdicts_for(pod, &replay) } else { Vec::new() };
                    add_request(&mut replay[n], &pod.requests);
                    let node = replay[n].name.clone();
                    self.bind(store, recorder, now, pod, node, verdicts);
                }
                None => {
                    let verdicts = verdicts_for(pod, &replay);
                    let message = fit_error_message(verdicts.iter().map(|(_, v)| v));
                    self.fail(store, recorder, now, pod, message, verdicts);
                }
            }
        }
    }

    fn bind(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        pod: &PodInfo,
        node: String,
        verdicts: Vec<(String, Verdict)>,
    ) {
        let bound = store.modify::<Pod>(&pod.key, |p| {
            p.spec.node_name = Some(node.clone());
            set_pod_scheduled(p, "True", "", "", now);
        });
        let Ok(bound) = bound else { return };
        self.queue.remove(&pod.key);
        self.last_failure.remove(&pod.key);
        self.stats.bound += 1;
        self.stats.recent.push_back((pod.key.name.clone(), node.clone(), now));
        if self.stats.recent.len() > 8 {
            self.stats.recent.pop_front();
        }
        recorder.record(
            store,
            now,
            Kind::Pod,
            &bound.metadata,
            "Normal",
            "Scheduled",
            format!("Successfully assigned {} to {node}", pod.key),
            "default-scheduler",
        );
        let message = format!("{}: the first node in rack order that passes every filter", self.policy.name());
        self.decisions.insert(
            pod.key.clone(),
            Decision { at: now, policy: self.policy.name(), node: Some(node), verdicts, message },
        );
    }

    fn fail(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        pod: &PodInfo,
        message: String,
        verdicts: Vec<(String, Verdict)>,
    ) {
        self.stats.failed += 1;
        if let Some(entry) = self.queue.get_mut(&pod.key) {
            entry.unschedulable = true;
            entry.next_attempt = now + entry.backoff;
            entry.backoff = Millis((entry.backoff.0 * 2).min(MAX_BACKOFF.0));
        }
        if self.last_failure.get(&pod.key) != Some(&message) {
            self.last_failure.insert(pod.key.clone(), message.clone());
            if let Ok(p) =
                store.modify::<Pod>(&pod.key, |p| set_pod_scheduled(p, "False", "Unschedulable", &message, now))
            {
                recorder.record(
                    store,
                    now,
                    Kind::Pod,
                    &p.metadata,
                    "Warning",
                    "FailedScheduling",
                    message.clone(),
                    "default-scheduler",
                );
            }
        }
        self.decisions
            .insert(pod.key.clone(), Decision { at: now, policy: self.policy.name(), node: None, verdicts, message });
    }
}

fn verdicts_for(pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<(String, Verdict)> {
    nodes.iter().map(|n| (n.name.clone(), run_filters(pod, n))).collect()
}

fn add_request(node: &mut NodeInfo, r: &Resources) {
    node.requested.cpu_milli += r.cpu_milli;
    node.requested.memory_milli += r.memory_milli;
    node.requested.pods += 1;
}

fn set_pod_scheduled(pod: &mut Pod, status: &str, reason: &str, message: &str, now: Millis) {
    use super::objects::pod::PodCondition;
    let conditions = &mut pod.status.conditions;
    let condition = PodCondition {
        type_: "PodScheduled".into(),
        status: status.into(),
        last_transition_time: Some(now.to_rfc3339()),
        reason: reason.into(),
        message: message.into(),
    };
    match conditions.iter_mut().find(|c| c.type_ == "PodScheduled") {
        Some(c) if c.status == status && c.message == message => {}
        Some(c) => *c = condition,
        None => conditions.push(condition),
    }
    if pod.status.phase.is_empty() {
        pod.status.phase = "Pending".into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rack_order_puts_pin_10_last() {
        let mut names = vec!["pin-10", "pin-2", "pin-1", "other"];
        names.sort_by_key(|n| rack_order_key(n));
        assert_eq!(names, ["other", "pin-1", "pin-2", "pin-10"]);
    }
}
