//! kube-scheduler in miniature: a queue of unbound pods, a cycle that snapshots the nodes, runs
//! the filters and the policy, binds, preempts when a pod fits nowhere, and records why — so the
//! game can answer "why here?" and "why pending?" for any pod.
//!
//! One cycle, in upstream's words:
//!
//! 1. **Queue** (`queue.rs`, upstream's activeQ / backoffQ / unschedulablePods): new pods, pods
//!    whose backoff ended, and parked pods that a cluster event could help are due; a pod that
//!    fits nowhere stays parked, costing nothing, until then.
//! 2. **Snapshot**: each node's allocatable and what its pods request, in rack order. Pods that
//!    preempted others hold the room being freed for them (their *nomination*).
//! 3. **Nominated pods first**: a pod nominated by an earlier preemption tries its node first.
//! 4. **Policy** (`framework.rs` for the plugins, one file per policy): filters, scores, and the
//!    choice of node for the rest of the batch.
//! 5. **Bind** each placed pod (`Scheduled` event), recording every node's filter verdict, each
//!    score plugin's score and the winner (the "why here" record, also on the pod as the
//!    [`DECISION_ANNOTATION`] annotation).
//! 6. **PostFilter** for each pod that fits nowhere: preemption (`preemption.rs`), then
//!    `FailedScheduling` with upstream's message and a backoff.

pub mod binpack;
pub mod flow;
pub mod framework;
pub mod greedy;
pub mod pod_constraints;
pub mod preemption;
pub mod queue;
pub mod round_robin;
pub mod spread;
pub mod volume_binding;

use self::framework::{
    Explanation, LeastAllocated, NodeInfo, NodeScore, Placement, PodInfo, Resources, StaticFit, Verdict, Weighted,
    add_request, fit_error_message, fits, passes_static_filters, run_filters, snapshot,
};
use self::preemption::{NodeResidents, Resident};
use self::queue::{Requeue, SchedulingQueue};
use super::controllers::delete_pod_gracefully;
use super::events::EventRecorder;
use super::objects::{Kind, Node, Object, Pod, Readiness, Taint};
use super::store::{Change, ChangeType, ObjectKey, Store};
use super::timing::Timing;
use crate::clock::Millis;
use compact_str::CompactString;
use rand::RngExt;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::str::FromStr;
use std::sync::Arc;

/// The annotation that carries a pod's latest decision as compact JSON, so `kubectl get pod -o
/// yaml` can answer "why here?" too.
pub const DECISION_ANNOTATION: &str = "pinsetter.dev/scheduling-decision";

/// The scheduling policy in force: how a batch is ordered, which score plugins weigh the nodes,
/// and how the winning node is chosen. Everything else about a policy lives in its
/// [`POLICIES`] entry; the variants are in the same order as the entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    #[default]
    Greedy,
    RoundRobin,
    Spread,
    Binpack,
    Flow,
}

/// Places a batch on a snapshot: `(pods, nodes, cursor, record verdicts)`; the cursor is where
/// round-robin's rotation and the scoring policies' node sample (upstream's
/// `nextStartNodeIndex`) carry on from.
pub type PlaceFn = fn(&[PodInfo], &mut [NodeInfo], &mut usize, bool) -> Placement;

/// One scheduling policy, as the registry knows it: what `--scheduler` accepts, what the game's
/// `s` key shows, and what the scheduler runs.
#[derive(Debug, Clone, Copy)]
pub struct PolicyEntry {
    pub policy: Policy,
    /// The name on the command line, in JSON and in the game.
    pub name: &'static str,
    /// One line for the player: what the policy does.
    pub summary: &'static str,
    /// The score plugins and weights it ranks feasible nodes with (none for the policies that
    /// take the first fit or the next in turn).
    pub score_plugins: &'static [Weighted],
    /// The scheduler's step 4 under this policy; `nodes` are updated with every binding.
    pub place: PlaceFn,
}

/// Every policy, in the order the game's `s` key cycles through them. Adding a policy is a
/// variant of [`Policy`] and one entry here.
pub const POLICIES: [PolicyEntry; 5] = [
    PolicyEntry {
        policy: Policy::Greedy,
        name: "greedy",
        summary: "largest pods first, each on the first pin in rack order that fits",
        score_plugins: &[],
        place: |pods, nodes, _, record| greedy::place(pods, nodes, record),
    },
    PolicyEntry {
        policy: Policy::RoundRobin,
        name: "round-robin",
        summary: "pods dealt to the pins in turn",
        score_plugins: &[],
        place: round_robin::place_batch,
    },
    PolicyEntry {
        policy: Policy::Spread,
        name: "spread",
        summary: "each pod on the emptiest, most balanced pin (upstream's default)",
        score_plugins: &spread::PLUGINS,
        place: spread::place_batch_from,
    },
    PolicyEntry {
        policy: Policy::Binpack,
        name: "binpack",
        summary: "each pod on the fullest pin that still fits",
        score_plugins: &binpack::PLUGINS,
        place: binpack::place_batch_from,
    },
    PolicyEntry {
        policy: Policy::Flow,
        name: "flow",
        summary: "the whole batch at once, as a min-cost flow",
        score_plugins: &[Weighted { plugin: &LeastAllocated, weight: 1 }],
        place: |pods, nodes, _, record| flow::place_batch(pods, nodes, record),
    },
];

impl Policy {
    /// In the order the game's `s` key cycles through them (the registry's order).
    pub const ALL: [Policy; POLICIES.len()] = {
        let mut all = [Policy::Greedy; POLICIES.len()];
        let mut i = 0;
        while i < POLICIES.len() {
            all[i] = POLICIES[i].policy;
            i += 1;
        }
        all
    };

    /// The policy's registry entry (variants and entries are in the same order).
    pub fn entry(self) -> &'static PolicyEntry {
        &POLICIES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// The next policy in [`Policy::ALL`], wrapping around.
    pub fn next(self) -> Policy {
        Policy::ALL[(self as usize + 1) % Policy::ALL.len()]
    }

    /// The score plugins and weights the policy ranks feasible nodes with.
    pub fn score_plugins(self) -> &'static [Weighted] {
        self.entry().score_plugins
    }

    /// Places a batch on a snapshot with this policy: the scheduler's step 4, usable on its own
    /// (tests, benches). `nodes` are updated with every binding; `cursor` (see [`PlaceFn`]) is
    /// kept by the caller between batches.
    pub fn place(self, pods: &[PodInfo], nodes: &mut [NodeInfo], cursor: &mut usize, record: bool) -> Placement {
        (self.entry().place)(pods, nodes, cursor, record)
    }

    /// One line for the player: what the policy does.
    pub fn summary(self) -> &'static str {
        self.entry().summary
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Policy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// A policy name nobody knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl std::fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown scheduling policy {:?}: expected ", self.0)?;
        for (i, entry) in POLICIES.iter().enumerate() {
            let separator = match i {
                0 => "",
                i if i + 1 == POLICIES.len() => " or ",
                _ => ", ",
            };
            write!(f, "{separator}{}", entry.name)?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for Policy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Policy, UnknownPolicy> {
        POLICIES.iter().find(|e| e.name == s.trim()).map(|e| e.policy).ok_or_else(|| UnknownPolicy(s.to_string()))
    }
}

/// Why a pod is where it is (or is not anywhere yet): every node's verdict, every feasible
/// node's scores, and the outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub at: Millis,
    pub policy: &'static str,
    /// The node bound to, or `None` when nothing fit.
    pub node: Option<String>,
    /// Every node's filter verdict at the moment this pod was placed, in rack order. Empty when
    /// recording is off (huge lanes) and the pod was bound.
    pub verdicts: Vec<(String, Verdict)>,
    /// Each feasible node's score per plugin and weighted total, in rack order. Empty for the
    /// policies that do not score (greedy, round-robin) and when recording is off.
    pub scores: Vec<NodeScore>,
    /// The node preemption is freeing for this pod, while it waits for its victims to go.
    pub nominated: Option<String>,
    /// One line: the policy's reason for a bound pod, upstream's FailedScheduling message for a
    /// pending one.
    pub message: String,
}

impl Decision {
    /// The compact JSON of [`DECISION_ANNOTATION`]: the outcome, how many nodes passed the
    /// filters, and the three best-scoring nodes (bounded, however big the lane).
    pub fn annotation(&self) -> String {
        #[derive(Serialize)]
        struct Summary<'a> {
            policy: &'a str,
            at: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            node: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            nominated: Option<&'a str>,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            feasible: Option<usize>,
            #[serde(skip_serializing_if = "Option::is_none")]
            nodes: Option<usize>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            top: Vec<&'a NodeScore>,
        }
        let mut top: Vec<&NodeScore> = self.scores.iter().collect();
        top.sort_by_key(|s| std::cmp::Reverse(s.total));
        top.truncate(3);
        let recorded = !self.verdicts.is_empty();
        let summary = Summary {
            policy: self.policy,
            at: self.at.to_string(),
            node: self.node.as_deref(),
            nominated: self.nominated.as_deref(),
            message: &self.message,
            feasible: recorded.then(|| self.verdicts.iter().filter(|(_, v)| *v == Verdict::Fit).count()),
            nodes: recorded.then_some(self.verdicts.len()),
            top,
        };
        serde_json::to_string(&summary).unwrap_or_default()
    }

    /// A pod's decision as its [`DECISION_ANNOTATION`] records it: no verdicts or scores, and
    /// its time to the tenth of a second the annotation shows. `None` when the pod has none,
    /// or one this scheduler did not write.
    pub fn from_annotation(pod: &Pod) -> Option<Decision> {
        #[derive(Deserialize)]
        struct Summary {
            policy: String,
            at: String,
            node: Option<String>,
            nominated: Option<String>,
            message: String,
        }
        let summary: Summary = serde_json::from_str(pod.metadata.annotations.get(DECISION_ANNOTATION)?).ok()?;
        Some(Decision {
            at: Millis::parse_clock(&summary.at)?,
            policy: POLICIES.iter().find(|e| e.name == summary.policy)?.name,
            node: summary.node,
            verdicts: Vec::new(),
            scores: Vec::new(),
            nominated: summary.nominated,
            message: summary.message,
        })
    }
}

/// What the scheduler last saw of a node, to tell a change that could help a parked pod (it
/// became Ready, was uncordoned, lost a taint, gained room or labels) from one that cannot
/// (a status heartbeat).
#[derive(Debug, Clone, PartialEq)]
struct NodeFacts {
    readiness: Readiness,
    unschedulable: bool,
    taints: Vec<Taint>,
    labels: super::objects::Shared<BTreeMap<String, String>>,
    allocatable: Resources,
}

impl NodeFacts {
    fn of(node: &Node) -> NodeFacts {
        NodeFacts {
            readiness: node.readiness(),
            unschedulable: node.spec.unschedulable,
            taints: node.spec.taints.clone(),
            labels: node.metadata.labels.clone(),
            allocatable: allocatable(node),
        }
    }

    /// Compared field by field, so an unchanged node costs no allocation.
    fn same_as(&self, node: &Node, allocatable: &Resources) -> bool {
        self.readiness == node.readiness()
            && self.unschedulable == node.spec.unschedulable
            && self.taints == node.spec.taints
            && self.labels == node.metadata.labels
            && self.allocatable == *allocatable
    }

    /// Upstream's NodeAdd / NodeUpdate events the filters care about: Ready, uncordoned, a taint
    /// gone, labels changed (nodeSelector) or more allocatable.
    fn could_help(&self, node: &Node, allocatable: &Resources) -> bool {
        (self.readiness != Readiness::Ready && node.readiness() == Readiness::Ready)
            || (self.unschedulable && !node.spec.unschedulable)
            || self.taints.iter().any(|t| !node.spec.taints.contains(t))
            || self.labels != node.metadata.labels
            || allocatable.cpu_milli > self.allocatable.cpu_milli
            || allocatable.memory_milli > self.allocatable.memory_milli
            || allocatable.pods > self.allocatable.pods
    }
}

fn allocatable(node: &Node) -> Resources {
    Resources {
        cpu_milli: node.allocatable("cpu"),
        memory_milli: node.allocatable("memory"),
        pods: node.allocatable("pods") / 1000,
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SchedulerStats {
    pub cycles: u64,
    pub attempts: u64,
    pub bound: u64,
    pub failed: u64,
    /// Pods that preempted others (each nominated to a node).
    pub preemptions: u64,
    /// Pods evicted to make room for them.
    pub victims: u64,
    /// The latest bindings, newest last: (pod, node, when).
    pub recent: VecDeque<(CompactString, CompactString, Millis)>,
}

#[derive(Debug, Clone)]
pub struct Scheduler {
    pub policy: Policy,
    /// Record every node's verdict and scores for bound pods too (costs p·n per cycle; off for
    /// huge lanes).
    pub record_verdicts: bool,
    queue: SchedulingQueue,
    /// Each node as last seen, to classify its changes (see [`NodeFacts`]).
    nodes: BTreeMap<String, NodeFacts>,
    /// Every node in rack order as a cycle's snapshot reads it, its requests aside: kept until
    /// a node is added, deleted or changes what the snapshot holds, so a cycle on a steady
    /// 5,000-node lane neither sorts nor re-parses the nodes (it refreshes requests only).
    node_snapshot: Option<Vec<NodeInfo>>,
    /// Each node's position in that snapshot, by name (built with it): nominated pods find
    /// their node here every cycle.
    node_positions: super::LookupMap<CompactString, usize>,
    /// What the store counts as requested on each node of that snapshot (same order), as of
    /// its residents changes count `requested_as_of`: a cycle re-reads only the nodes whose
    /// residents changed since, not all 5,000 by name.
    requested: Vec<Resources>,
    requested_as_of: u64,
    /// Counts the snapshots built: positions in one mean nothing in the next.
    snapshot_generation: u64,
    /// The leading static filters' verdicts on that snapshot, per kind of pod (see
    /// [`StaticFit`]): dropped with it.
    static_fits: StaticFits,
    /// Each node's residents as preemption last listed them, with the store's residents
    /// version they were listed at: after a strike every cycle preempts against the same
    /// ~1,000 full nodes, and listing their 30,000 pods again each cycle was most of its time.
    residents: ResidentLists,
    /// Looked up by pod, never iterated (as `last_failure`): hashed, so no order leaks.
    decisions: super::LookupMap<ObjectKey, Decision>,
    last_failure: super::LookupMap<ObjectKey, String>,
    /// Pods that preempted, and the node each is nominated to with the room it holds there.
    nominated: BTreeMap<ObjectKey, Nomination>,
    /// A relist may have missed nominated pods' deletions: the next cycle checks each against
    /// the store once.
    nominations_unchecked: bool,
    /// Where round-robin's rotation and the scoring policies' node sample carry on from.
    cursor: usize,
    /// Where preemption's dry run starts among many nodes (upstream draws it at random).
    preemption_offsets: rand::rngs::Xoshiro256PlusPlus,
    pub stats: SchedulerStats,
}

/// Rack order: `pin-2` before `pin-10` (names compared with their trailing number as a number).
pub fn rack_order_key(name: &str) -> (&str, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (prefix, number) = name.split_at(name.len() - digits);
    (prefix, number.parse().unwrap_or(0))
}

/// A pod the policy could not place: its index in the batch, every node's verdict (when
/// verdicts are recorded), upstream's FitError message, and the scores the policy saw (if it
/// scores).
struct Failure {
    pod: usize,
    verdicts: Vec<(String, Verdict)>,
    fit_error: String,
    scores: Vec<NodeScore>,
}

/// The FitError messages of one cycle by what the filters look at in a pod, valid while the
/// snapshot stands (a bind clears it): pods alike fail alike, so an over-capacity lane's
/// 26,000 unschedulable pods cost one pass over the nodes per pod shape, not one each.
#[derive(Default)]
struct FitErrors(BTreeMap<FilterClass, String>);

/// What the filters look at in a pod: cpu and memory requests, tolerations, nodeSelector.
type FilterClass = (
    i64,
    i64,
    super::objects::Shared<Vec<super::objects::Toleration>>,
    BTreeMap<String, String>,
    Option<std::sync::Arc<volume_binding::PodVolumes>>,
    Option<std::sync::Arc<pod_constraints::PodConstraints>>,
);

impl FitErrors {
    fn message(&mut self, pod: &PodInfo, nodes: &[NodeInfo], static_fits: &mut StaticFits) -> String {
        let class = (
            pod.requests.cpu_milli,
            pod.requests.memory_milli,
            pod.tolerations.clone(),
            pod.node_selector.clone(),
            pod.volumes.clone(),
            pod.constraints.clone(),
        );
        self.0.entry(class).or_insert_with(|| static_fits.of(pod, nodes).fit_error(pod, nodes)).clone()
    }
}

/// [`StaticFit`]s of one node snapshot, by what the static filters look at in a pod.
#[derive(Debug, Clone, Default)]
struct StaticFits(BTreeMap<StaticClass, Arc<StaticFit>>);

/// What the filters a [`StaticFit`] answers look at in a pod.
type StaticClass = (
    super::objects::Shared<Vec<super::objects::Toleration>>,
    BTreeMap<String, String>,
    Option<Arc<pod_constraints::PodConstraints>>,
);

impl StaticFits {
    /// `pod`'s static verdicts on `nodes`, which must be the kept snapshot's nodes in its order.
    fn of(&mut self, pod: &PodInfo, nodes: &[NodeInfo]) -> Arc<StaticFit> {
        let class = (pod.tolerations.clone(), pod.node_selector.clone(), pod.constraints.clone());
        Arc::clone(self.0.entry(class).or_insert_with(|| Arc::new(StaticFit::of(pod, nodes))))
    }
}

/// What PostFilter (preemption) made of a pod that fits nowhere.
enum PostFilter {
    /// Victims are being evicted; the pod is nominated to their node.
    Nominated,
    /// Preemption found no way, or may not try: the suffix for the FailedScheduling message.
    Unresolved(String),
}

impl Scheduler {
    pub fn new(policy: Policy, seed: u64) -> Scheduler {
        Scheduler {
            policy,
            record_verdicts: true,
            queue: SchedulingQueue::default(),
            nodes: BTreeMap::new(),
            node_snapshot: None,
            node_positions: Default::default(),
            requested: Vec::new(),
            requested_as_of: 0,
            snapshot_generation: 0,
            static_fits: StaticFits::default(),
            residents: ResidentLists::default(),
            decisions: Default::default(),
            last_failure: Default::default(),
            nominated: BTreeMap::new(),
            nominations_unchecked: false,
            cursor: 0,
            preemption_offsets: crate::rng::stream(seed, "scheduler/preemption"),
            stats: SchedulerStats::default(),
        }
    }

    /// Pods waiting to be placed.
    pub fn queue_len(&self) -> usize {
        self.queue.len()
    }

    /// Pods parked as unschedulable until a cluster change could help them.
    pub fn unschedulable_len(&self) -> usize {
        self.queue.unschedulable_len()
    }

    /// Why `pod` is where it is. A pending pod's decision, and every decision that holds
    /// verdicts or scores, is kept here; a bound pod's plain decision (a huge lane records no
    /// verdicts) is read back from its [`DECISION_ANNOTATION`] instead, which says the same:
    /// keeping 150,000 of them here would cost about 75 MB.
    pub fn decision(&self, pod: &Pod) -> Option<Cow<'_, Decision>> {
        match self.decisions.get(&ObjectKey::of(&pod.metadata)) {
            Some(kept) => Some(Cow::Borrowed(kept)),
            None => Decision::from_annotation(pod).map(Cow::Owned),
        }
    }

    /// The node a pod is nominated to after preempting, if it is waiting for one.
    pub fn nominated_node(&self, pod: &ObjectKey) -> Option<&str> {
        self.nominated.get(pod).map(|n| n.node.as_str())
    }

    /// When the next cycle has work, if ever: O(log n), whatever is parked.
    pub fn next_deadline(&self) -> Option<Millis> {
        self.queue.next_deadline()
    }

    /// The scheduler's informer: keeps the queue in step with the store, and moves parked pods
    /// back on the cluster events that could help them (upstream's
    /// `MoveAllToActiveOrBackoffQueue`): a node added, Ready, uncordoned, untainted, relabelled
    /// or grown; a bound pod deleted or finished, freeing its room.
    pub fn observe(&mut self, change: &Change, now: Millis) {
        let deleted = change.type_ == ChangeType::Deleted;
        match &change.object {
            Object::Pod(pod) => {
                let key = ObjectKey::of(&pod.metadata);
                let wants_node = !deleted
                    && pod.node_name().is_none()
                    && !pod.metadata.is_terminating()
                    && pod.spec.scheduler_name.as_deref().is_none_or(|s| s == "default-scheduler");
                if wants_node {
                    // A PUT may change a pending pod's requests: the room it holds follows.
                    if let Some(nomination) = self.nominated.get_mut(&key) {
                        nomination.requests = Resources::requested_by(pod);
                    }
                    self.queue.add(&key, now);
                    return;
                }
                self.queue.remove(&key);
                self.last_failure.remove(&key);
                self.nominated.remove(&key);
                if deleted {
                    self.decisions.remove(&key);
                }
                let finished = matches!(pod.status.phase.as_str(), "Succeeded" | "Failed");
                if pod.node_name().is_some() && (deleted || finished) {
                    self.queue.move_all_to_active_or_backoff(now);
                }
            }
            // Upstream's VolumeBinding events: a claim, volume or class added or changed may
            // let a parked pod with claims fit (they are few, and change rarely).
            Object::PersistentVolume(_) | Object::PersistentVolumeClaim(_) | Object::StorageClass(_) if !deleted => {
                self.queue.move_all_to_active_or_backoff(now);
            }
            Object::Node(node) => {
                let name = &node.metadata.name;
                if deleted {
                    self.nodes.remove(name);
                    self.node_snapshot = None;
                    return;
                }
                let allocatable = allocatable(node);
                let helps = match self.nodes.get(name) {
                    Some(seen) if seen.same_as(node, &allocatable) => false,
                    Some(seen) => seen.could_help(node, &allocatable),
                    None => true,
                };
                if !self.nodes.get(name).is_some_and(|seen| seen.same_as(node, &allocatable)) {
                    self.nodes.insert(name.clone(), NodeFacts::of(node));
                    // A node the snapshot holds changes in its place (its name, so its rack
                    // order, stays): after a strike thousands of nodes change one by one, and
                    // rebuilding the whole snapshot for each cycle was a tenth of the cycle.
                    // The static verdicts were taken on the old node: they go.
                    let position = self.node_positions.get(name.as_str()).copied();
                    match (self.node_snapshot.as_mut(), position) {
                        (Some(kept), Some(j)) if j < kept.len() && kept[j].name == *name => {
                            kept[j] = NodeInfo::of(node, Resources::default());
                            self.static_fits = StaticFits::default();
                        }
                        _ => self.node_snapshot = None,
                    }
                }
                if helps {
                    self.queue.move_all_to_active_or_backoff(now);
                }
            }
            _ => {}
        }
    }

    /// After a relist: nodes deleted meanwhile were never seen going, so the kept snapshot
    /// may hold them.
    pub fn relisted(&mut self) {
        self.node_snapshot = None;
        self.nominations_unchecked = true;
    }

    /// The cycle's snapshot: every node in rack order with its requests as the store counts
    /// them now (the nodes themselves from [`Scheduler::node_snapshot`] while it is current).
    /// The snapshot is taken, not copied: the cycle hands a copy back once placed (see
    /// [`Scheduler::cycle`]), as only the requests differ and they are counted afresh here.
    fn snapshot(&mut self, store: &Store) -> Vec<NodeInfo> {
        let kept = self.node_snapshot.take().filter(|kept| kept.len() == store.len::<Node>());
        let (mut nodes, rebuilt) = match kept {
            Some(kept) => (kept, false),
            None => {
                let mut node_objects: Vec<&Node> = store.list::<Node>().collect();
                node_objects.sort_by_cached_key(|&node| rack_order_key(&node.metadata.name));
                let kept = snapshot(store, node_objects);
                self.node_positions = kept.iter().enumerate().map(|(j, n)| (n.name.clone(), j)).collect();
                self.static_fits = StaticFits::default();
                self.snapshot_generation += 1;
                (kept, true)
            }
        };
        let requested_of = |node: &str| {
            let r = store.requested_on_node(node);
            Resources { cpu_milli: r.cpu_milli, memory_milli: r.memory_milli, pods: r.pods }
        };
        let changed = store.nodes_changed_since(self.requested_as_of).filter(|_| !rebuilt);
        match changed {
            Some(changed) if self.requested.len() == nodes.len() => {
                for node in changed {
                    if let Some(&j) = self.node_positions.get(node) {
                        self.requested[j] = requested_of(node);
                    }
                }
            }
            _ => self.requested = nodes.iter().map(|n| requested_of(&n.name)).collect(),
        }
        self.requested_as_of = store.residents_changes();
        // The kept copy holds what the last cycle placed and held on it: every node takes
        // the store's count again, from the list (no lookups).
        for (node, requested) in nodes.iter_mut().zip(&self.requested) {
            node.requested = *requested;
        }
        debug_assert!(
            nodes.iter().all(|n| n.requested == requested_of(&n.name)),
            "the requests kept from the journal are the store's"
        );
        nodes
    }

    /// One scheduling cycle over every pod that is due (activeQ, after flushing backoffQ and
    /// the parked pods whose time is up): place the batch, bind, preempt, record.
    pub fn run_cycle(&mut self, store: &mut Store, recorder: &mut EventRecorder, now: Millis, timing: &Timing) {
        let due = self.queue.pop_due(now, queue::pods_per_cycle(self.nodes.len()));
        if due.is_empty() {
            return;
        }
        // A pod with affinity or spread terms must see where the pods before it went: it takes a
        // cycle of its own (after the batch of the others), as upstream schedules every pod.
        let alone: Vec<usize> =
            (0..due.len()).filter(|&i| store.get::<Pod>(&due[i]).is_some_and(Pod::has_inter_pod_constraints)).collect();
        // Nearly always none: the batch is the due pods as they are, not a copy.
        let batch: Cow<[ObjectKey]> = if alone.is_empty() {
            Cow::Borrowed(&due)
        } else {
            Cow::Owned(
                due.iter()
                    .enumerate()
                    .filter(|(i, _)| alone.binary_search(i).is_err())
                    .map(|(_, k)| k.clone())
                    .collect(),
            )
        };
        if !batch.is_empty() {
            self.cycle(store, recorder, now, timing, &batch);
        }
        for i in alone {
            self.cycle(store, recorder, now, timing, std::slice::from_ref(&due[i]));
        }
        self.queue.settle_in_flight(&due, now, timing);
    }

    fn cycle(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        timing: &Timing,
        due: &[ObjectKey],
    ) {
        self.stats.cycles += 1;
        let mut nodes = self.snapshot(store);
        let pods: Vec<PodInfo> = due
            .iter()
            .filter_map(|k| store.get::<Pod>(k))
            .filter(|p| p.node_name().is_none() && !p.metadata.is_terminating())
            .map(|p| PodInfo::for_cycle(p, store, &nodes))
            .collect();
        let record = self.record_verdicts;

        // Nominated pods hold the room their victims are freeing: everyone else sees it taken.
        // After a strike thousands are nominated: what each holds is kept with its nomination
        // (the informer drops it when the pod is bound or gone), not looked up in the store.
        if std::mem::take(&mut self.nominations_unchecked) {
            self.nominated.retain(|key, nomination| match store.get::<Pod>(key) {
                Some(pod) if pod.node_name().is_none() => {
                    nomination.requests = Resources::requested_by(pod);
                    true
                }
                _ => false,
            });
        }
        let positions = &self.node_positions;
        self.nominated.retain(|_, nomination| match positions.get(nomination.node.as_str()) {
            Some(&j) => {
                add_request(&mut nodes[j], &nomination.requests);
                true
            }
            None => false,
        });

        // Nominated pods that are due try their node first, highest priority first.
        let mut first: Vec<(usize, usize)> = Vec::new();
        let mut by_priority: Vec<usize> = (0..pods.len()).collect();
        by_priority.sort_by_key(|&i| (std::cmp::Reverse(pods[i].priority), i));
        for i in by_priority {
            let Some((j, r)) = self.hold(&pods[i].key) else { continue };
            release(&mut nodes[j], &r);
            if fits(&pods[i], &nodes[j]) {
                first.push((i, j));
            }
            add_request(&mut nodes[j], &r);
        }
        // The state before the nominated pods took their nodes, for the verdicts' replay: only
        // copied when there are any (a 5,000-node snapshot is worth not copying twice).
        let before = (!first.is_empty()).then(|| nodes.clone());
        for (i, j) in &first {
            let hold = self.hold(&pods[*i].key).map(|(_, r)| r).unwrap_or_default();
            release(&mut nodes[*j], &hold);
            add_request(&mut nodes[*j], &pods[*i].requests);
        }

        // The policy places the rest.
        let rest: Cow<[PodInfo]> = if first.is_empty() {
            Cow::Borrowed(&pods)
        } else {
            let taken: BTreeSet<usize> = first.iter().map(|(i, _)| *i).collect();
            Cow::Owned(pods.iter().enumerate().filter(|(i, _)| !taken.contains(i)).map(|(_, p)| p.clone()).collect())
        };
        let mut after = nodes.clone();
        let mut placement = self.policy.place(&rest, &mut after, &mut self.cursor, record);
        // The policy's copy is not read again: it is the next cycle's snapshot (nodes as they
        // are, requests to be counted again), saving a copy of 5,000 nodes per cycle.
        self.node_snapshot = Some(after);

        // Bind in placement order, taking each pod's verdicts on the state it was placed in.
        let mut replay = before.unwrap_or(nodes);
        for (i, j) in first {
            let pod = &pods[i];
            self.stats.attempts += 1;
            let hold = self.hold(&pod.key).map(|(_, r)| r).unwrap_or_default();
            release(&mut replay[j], &hold);
            let verdicts = if record { verdicts_for(pod, &replay) } else { Vec::new() };
            add_request(&mut replay[j], &pod.requests);
            let node = replay[j].name.to_string();
            let message = format!("bound to {node}, the node its preemption freed (its victims are gone)");
            let why = Explanation { scores: Vec::new(), note: message };
            self.bind(store, recorder, now, pod, node, verdicts, Some(why));
        }
        let mut failures: Vec<Failure> = Vec::new();
        let mut fit_errors = FitErrors::default();
        for &k in &placement.order {
            let pod = &rest[k];
            self.stats.attempts += 1;
            let why = placement.why.get_mut(k).and_then(Option::take);
            match placement.node[k] {
                Some(n) => {
                    let verdicts = if record { verdicts_for(pod, &replay) } else { Vec::new() };
                    add_request(&mut replay[n], &pod.requests);
                    fit_errors = FitErrors::default();
                    let node = replay[n].name.to_string();
                    self.bind(store, recorder, now, pod, node, verdicts, why);
                }
                None => {
                    let scores = why.map(|w| w.scores).unwrap_or_default();
                    // Every node's verdict only where it is kept; the message alone otherwise.
                    let (verdicts, mut fit_error) = if record {
                        let verdicts = verdicts_for(pod, &replay);
                        let fit_error = fit_error_message(verdicts.iter().map(|(_, v)| v));
                        (verdicts, fit_error)
                    } else {
                        (Vec::new(), fit_errors.message(pod, &replay, &mut self.static_fits))
                    };
                    // A PreFilter failure (a missing claim) is stated once, not counted per node.
                    if let Some(why) = pod.volumes.as_deref().and_then(|v| v.unresolvable.as_deref()) {
                        fit_error = format!("0/{} nodes are available: {why}.", replay.len());
                    }
                    failures.push(Failure { pod: k, verdicts, fit_error, scores });
                }
            }
        }
        if failures.is_empty() {
            return;
        }

        // PostFilter: preemption for the pods that fit nowhere, highest priority first.
        failures.sort_by_key(|f| (std::cmp::Reverse(rest[f.pod].priority), f.pod));
        // Residents are listed only on nodes where preemption might help some failing pod
        // (upstream's nodesWherePreemptionMightHelp: a node failing a filter that evictions do
        // not change is skipped). After a strike 4,000 of the stadium's 5,000 nodes are
        // unreachable, and listing their 120,000 pods on every cycle was most of the cycle.
        let failures: Vec<(Failure, PreemptionClass)> = failures
            .into_iter()
            .map(|f| {
                let class = PreemptionClass::of(&rest[f.pod]);
                (f, class)
            })
            .collect();
        // Each class's nodes where preemption might help, found once: this cycle's evictions do
        // not change the filters that decide it.
        let mut classes: BTreeMap<PreemptionClass, ClassPreemption> = BTreeMap::new();
        for (f, class) in &failures {
            if !classes.contains_key(class) {
                let potential = self.static_fits.of(&rest[f.pod], &replay).potential(&rest[f.pod], &replay);
                classes.insert(class.clone(), ClassPreemption { potential, hopeless: None });
            }
        }
        let mut might_help = vec![false; replay.len()];
        for &j in classes.values().flat_map(|c| &c.potential) {
            might_help[j] = true;
        }
        // A node whose every pod is at the highest failing priority or above has no victim for
        // any failing pod (nor a lower-priority victim still terminating): its list would say
        // no more than an empty one, so it is not read unless kept. After a strike the healthy
        // racks' thousand nodes change on every cycle, and most hold no pod of lower priority.
        let highest_failing = failures.iter().map(|(f, _)| rest[f.pod].priority).max().unwrap_or(i32::MIN);
        let needed = |j: usize| store.lowest_priority_on_node(&replay[j].name).is_some_and(|p| p < highest_failing);
        let mut residents = self.residents.take(
            store,
            &replay,
            self.snapshot_generation,
            &self.node_positions,
            |j| might_help[j],
            needed,
        );
        for (Failure { pod, verdicts, fit_error, scores }, class) in failures {
            let pod = &rest[pod];
            let learnt = classes.entry(class).or_insert_with(|| ClassPreemption {
                potential: self.static_fits.of(pod, &replay).potential(pod, &replay),
                hopeless: None,
            });
            let preempted = self.post_filter(store, recorder, now, pod, learnt, &mut replay, &mut residents);
            let message = match preempted {
                PostFilter::Nominated => fit_error,
                PostFilter::Unresolved(why) => format!("{fit_error} preemption: {why}"),
            };
            self.fail(store, recorder, now, timing, pod, message, verdicts, scores);
        }
        self.residents.keep(self.snapshot_generation, residents, |j| might_help[j]);
    }

    /// Where a nominated pod holds room in this cycle's snapshot, and how much.
    fn hold(&self, pod: &ObjectKey) -> Option<(usize, Resources)> {
        let nomination = self.nominated.get(pod)?;
        self.node_positions.get(nomination.node.as_str()).map(|&j| (j, nomination.requests))
    }

    /// Upstream's DefaultPreemption, applied: evict the chosen victims, record `Preempted` on
    /// each, and nominate the preemptor to their node.
    #[allow(clippy::too_many_arguments)]
    fn post_filter(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        pod: &PodInfo,
        class: &mut ClassPreemption,
        nodes: &mut [NodeInfo],
        residents: &mut Residents,
    ) -> PostFilter {
        // Upstream's PodEligibleToPreemptOthers: a pod whose last preemption is still under way
        // (a lower-priority victim still terminating on its nominated node) waits for it.
        // A nominated node the pod can no longer use at all (now tainted unreachable, say) does
        // not hold it back, as upstream.
        if let Some((j, _)) = self.hold(&pod.key)
            && passes_static_filters(pod, &nodes[j])
            && residents.lists[j].pods().iter().any(|r| r.terminating && r.priority < pod.priority)
        {
            return PostFilter::Unresolved(preemption::NOT_ELIGIBLE_TERMINATING.into());
        }
        // Pods alike in priority, requests and constraints (`class`) fail alike: ask once per
        // cycle.
        let found = match &class.hopeless {
            Some(why) => Err(why.clone()),
            None => preemption::find_candidate(pod, nodes, &class.potential, &residents.lists, |n| {
                self.preemption_offsets.random_range(0..n)
            }),
        };
        let candidate = match found {
            Ok(c) => c,
            Err(why) => {
                // As upstream: preemption that cannot help clears an earlier nomination, so the
                // pod stops holding room it will not get.
                self.nominated.remove(&pod.key);
                class.hopeless = Some(why.clone());
                return PostFilter::Unresolved(why);
            }
        };
        let node = nodes[candidate.node].name.clone();
        let preemptor_uid = store.get::<Pod>(&pod.key).map(|p| p.metadata.uid.clone()).unwrap_or_default();
        for &v in &candidate.victims {
            let victim = residents.lists[candidate.node].pods()[v].key.clone();
            // As upstream: mark why the pod is going (DisruptionTarget), delete it gracefully,
            // then tell its owner's watchers with an event.
            let stamp = store.epoch().stamp(now);
            let marked = store.modify::<Pod>(&victim, |p| {
                set_condition(
                    p,
                    "DisruptionTarget",
                    "True",
                    "PreemptionByScheduler",
                    "default-scheduler: preempting to accommodate a higher priority pod",
                    &stamp,
                )
            });
            // A victim that cannot be marked is not deleted: gone is fine (the next cycle
            // re-plans with what is there); any other failure is reported on it.
            if let Err(err) = marked {
                if !matches!(err, super::store::StoreError::NotFound { .. }) {
                    let meta = super::objects::ObjectMeta::namespaced(victim.namespace.as_str(), victim.name.as_str());
                    let message = format!("Error updating Pod {}: {err}", victim.name);
                    recorder.record(now, Kind::Pod, &meta, "Warning", "FailedUpdate", message, "default-scheduler");
                }
                continue;
            }
            if delete_pod_gracefully(store, &victim, now).is_err() {
                continue;
            }
            if let Some(meta) = store.get::<Pod>(&victim).map(|p| p.metadata.clone()) {
                recorder.record(
                    now,
                    Kind::Pod,
                    &meta,
                    "Normal",
                    "Preempted",
                    format!("Preempted by pod {preemptor_uid} on node {node}"),
                    "default-scheduler",
                );
            }
            residents.lists[candidate.node].mark_terminating(v);
            self.stats.victims += 1;
        }
        // The room is held from now on, for the rest of this cycle's preemptors too.
        add_request(&mut nodes[candidate.node], &pod.requests);
        self.stats.preemptions += 1;
        self.nominated.insert(pod.key.clone(), Nomination { node: node.to_string(), requests: pod.requests });
        PostFilter::Nominated
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        pod: &PodInfo,
        node: String,
        verdicts: Vec<(String, Verdict)>,
        why: Option<Explanation>,
    ) {
        let (scores, message) = match why {
            Some(w) => (w.scores, w.note),
            // Concatenated, not formatted: these two messages are written for every pod bound.
            None => (Vec::new(), [self.policy.name(), ": bound to ", &node].concat()),
        };
        let decision = Decision {
            at: now,
            policy: self.policy.name(),
            node: Some(node.clone()),
            verdicts,
            scores,
            nominated: None,
            message,
        };
        let annotation = decision.annotation();
        let stamp = store.epoch().stamp(now);
        let bound = store.modify::<Pod>(&pod.key, |p| {
            p.spec.node_name = Some(node.clone());
            set_pod_scheduled(p, "True", "", "", &stamp);
            super::objects::meta::set_annotation(&mut p.metadata.annotations, DECISION_ANNOTATION, annotation);
        });
        let Ok(bound) = bound else { return };
        if pod.volumes.as_ref().is_some_and(|v| !v.unbound.is_empty()) {
            volume_binding::select_node(store, recorder, now, &bound, &node);
        }
        self.queue.remove(&pod.key);
        self.last_failure.remove(&pod.key);
        self.nominated.remove(&pod.key);
        self.stats.bound += 1;
        self.stats.recent.push_back((pod.key.name.clone(), node.as_str().into(), now));
        if self.stats.recent.len() > 8 {
            self.stats.recent.pop_front();
        }
        recorder.record(
            now,
            Kind::Pod,
            &bound.metadata,
            "Normal",
            "Scheduled",
            ["Successfully assigned ", &pod.key.namespace, "/", &pod.key.name, " to ", &node].concat(),
            "default-scheduler",
        );
        if decision.verdicts.is_empty() && decision.scores.is_empty() {
            // Its annotation says all of it (see `decision`).
            self.decisions.remove(&pod.key);
        } else {
            self.decisions.insert(pod.key.clone(), decision);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        timing: &Timing,
        pod: &PodInfo,
        message: String,
        verdicts: Vec<(String, Verdict)>,
        scores: Vec<NodeScore>,
    ) {
        self.stats.failed += 1;
        // On big lanes a pending pod keeps only its message: a thousand verdicts for each of
        // thousands of waiting pods would cost gigabytes.
        let (verdicts, scores) = if self.record_verdicts { (verdicts, scores) } else { (Vec::new(), Vec::new()) };
        self.queue.requeue(&pod.key, now, timing, Requeue::Unschedulable);
        let nominated = self.nominated.get(&pod.key).map(|n| n.node.clone());
        let decision = Decision {
            at: now,
            policy: self.policy.name(),
            node: None,
            verdicts,
            scores,
            nominated: nominated.clone(),
            message: message.clone(),
        };
        let new_message = self.last_failure.get(&pod.key) != Some(&message);
        let new_nomination =
            store.get::<Pod>(&pod.key).is_some_and(|p| p.status.nominated_node_name.as_deref() != nominated.as_deref());
        if new_message || new_nomination {
            self.last_failure.insert(pod.key.clone(), message.clone());
            let annotation = decision.annotation();
            let stamp = store.epoch().stamp(now);
            let updated = store.modify::<Pod>(&pod.key, |p| {
                set_pod_scheduled(p, "False", "Unschedulable", &message, &stamp);
                p.status.nominated_node_name = nominated.map(Into::into);
                super::objects::meta::set_annotation(&mut p.metadata.annotations, DECISION_ANNOTATION, annotation);
            });
            if new_message && let Ok(p) = updated {
                recorder.record(
                    now,
                    Kind::Pod,
                    &p.metadata,
                    "Warning",
                    "FailedScheduling",
                    message,
                    "default-scheduler",
                );
            }
        }
        self.decisions.insert(pod.key.clone(), decision);
    }
}

/// What makes two pods fare the same in preemption within one cycle.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PreemptionClass {
    priority: i32,
    cpu_milli: i64,
    memory_milli: i64,
    tolerations: super::objects::Shared<Vec<super::objects::Toleration>>,
    node_selector: BTreeMap<String, String>,
    volumes: Option<std::sync::Arc<volume_binding::PodVolumes>>,
    constraints: Option<std::sync::Arc<pod_constraints::PodConstraints>>,
}

impl PreemptionClass {
    fn of(pod: &PodInfo) -> PreemptionClass {
        PreemptionClass {
            priority: pod.priority,
            cpu_milli: pod.requests.cpu_milli,
            memory_milli: pod.requests.memory_milli,
            tolerations: pod.tolerations.clone(),
            node_selector: pod.node_selector.clone(),
            volumes: pod.volumes.clone(),
            constraints: pod.constraints.clone(),
        }
    }
}

/// Where a pod that preempted is to go, and the room it holds there meanwhile (its requests).
#[derive(Debug, Clone)]
struct Nomination {
    node: String,
    requests: Resources,
}

/// What one cycle learnt of a [`PreemptionClass`]: the nodes where preemption might help its
/// pods (those passing the static filters), and, once found, why it cannot.
struct ClassPreemption {
    potential: Vec<usize>,
    hopeless: Option<String>,
}

/// One cycle's residents of each node (same order as its snapshot; empty where preemption
/// cannot help), and the store's residents changes count they hold for.
struct Residents {
    lists: Vec<NodeResidents>,
    /// Whether each list was read (or kept), not left empty as not needed.
    listed: Vec<bool>,
    as_of: u64,
}

/// Residents' lists kept from the last cycle that preempted, by position in the snapshot of
/// `generation`, as of the store's residents changes count `as_of`.
#[derive(Debug, Clone, Default)]
struct ResidentLists {
    lists: Vec<Option<NodeResidents>>,
    generation: u64,
    as_of: u64,
}

impl ResidentLists {
    /// The pods on each node where preemption might help (`might_help`, by position), as
    /// preemption sees them: a kept list unless the store's journal says the node's residents
    /// changed since, else listed from the store if `needed`, else empty (the caller knows
    /// the list would hold no victim). No node is looked up by name but those.
    fn take(
        &mut self,
        store: &Store,
        nodes: &[NodeInfo],
        generation: u64,
        positions: &super::LookupMap<CompactString, usize>,
        might_help: impl Fn(usize) -> bool,
        needed: impl Fn(usize) -> bool,
    ) -> Residents {
        let mut kept = std::mem::take(&mut self.lists);
        let changed = store.nodes_changed_since(self.as_of).filter(|_| self.generation == generation);
        match changed {
            Some(changed) if kept.len() == nodes.len() => {
                for node in changed {
                    if let Some(&j) = positions.get(node) {
                        kept[j] = None;
                    }
                }
            }
            _ => kept = Vec::new(),
        }
        let mut listed = vec![false; nodes.len()];
        let lists = (0..nodes.len())
            .map(|j| match kept.get_mut(j).and_then(Option::take) {
                _ if !might_help(j) => NodeResidents::default(),
                Some(list) => {
                    listed[j] = true;
                    list
                }
                None if needed(j) => {
                    listed[j] = true;
                    list_residents(store, &nodes[j].name)
                }
                None => NodeResidents::default(),
            })
            .collect();
        Residents { lists, listed, as_of: store.residents_changes() }
    }

    /// Keeps this cycle's lists for the next (what this cycle changed, the store's journal
    /// will say); lists of nodes this cycle did not read are dropped.
    fn keep(&mut self, generation: u64, residents: Residents, might_help: impl Fn(usize) -> bool) {
        self.generation = generation;
        self.as_of = residents.as_of;
        self.lists = residents
            .lists
            .into_iter()
            .zip(residents.listed)
            .enumerate()
            .map(|(j, (list, listed))| (listed && might_help(j)).then_some(list))
            .collect();
    }
}

/// The pods bound to `node` that still hold room there, in key order.
fn list_residents(store: &Store, node: &str) -> NodeResidents {
    let pods = store
        .shared_pods_on_node(node)
        .filter(|p| !matches!(p.status.phase.as_str(), "Succeeded" | "Failed"))
        .map(|p| Resident {
            key: ObjectKey::of(&p.metadata),
            priority: p.priority(),
            requests: Resources::requested_by(p),
            terminating: p.metadata.is_terminating(),
        })
        .collect();
    NodeResidents::new(pods)
}

fn verdicts_for(pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<(String, Verdict)> {
    nodes.iter().map(|n| (n.name.to_string(), run_filters(pod, n))).collect()
}

/// Takes a held reservation back off a node's snapshot.
fn release(node: &mut NodeInfo, r: &Resources) {
    node.requested.cpu_milli -= r.cpu_milli;
    node.requested.memory_milli -= r.memory_milli;
    node.requested.pods -= 1;
}

/// `at` is the transition time, already stamped with the store's epoch.
fn set_condition(pod: &mut Pod, type_: &str, status: &str, reason: &str, message: &str, at: &str) {
    use super::objects::pod::PodCondition;
    let condition = PodCondition {
        type_: type_.into(),
        status: status.into(),
        last_transition_time: Some(at.into()),
        reason: reason.into(),
        message: message.into(),
    };
    match pod.status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status && c.message == message => {}
        Some(c) => *c = condition,
        None => pod.status.conditions.push(condition),
    }
}

fn set_pod_scheduled(pod: &mut Pod, status: &str, reason: &str, message: &str, at: &str) {
    set_condition(pod, "PodScheduled", status, reason, message, at);
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

    #[test]
    fn policies_cycle_and_parse_by_name() {
        let mut p = Policy::Greedy;
        let mut seen = Vec::new();
        for _ in 0..Policy::ALL.len() {
            seen.push(p.name());
            assert_eq!(p.name().parse::<Policy>(), Ok(p));
            p = p.next();
        }
        assert_eq!(p, Policy::Greedy);
        assert_eq!(seen, ["greedy", "round-robin", "spread", "binpack", "flow"]);
        assert_eq!(
            "best-fit".parse::<Policy>().unwrap_err().to_string(),
            "unknown scheduling policy \"best-fit\": expected greedy, round-robin, spread, binpack or flow"
        );
    }

    #[test]
    fn registry_entries_line_up_with_the_variants() {
        for (i, entry) in POLICIES.iter().enumerate() {
            assert_eq!(entry.policy as usize, i, "{} is out of place", entry.name);
            assert_eq!(entry.policy.entry().name, entry.name);
        }
        assert_eq!(serde_json::to_string(&Policy::RoundRobin).unwrap(), "\"round-robin\"");
        assert_eq!(Policy::Spread.score_plugins().len(), 2);
    }

    fn from_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
        serde_norway::from_str(yaml).expect("a valid test object")
    }

    fn urgent(cpu: &str) -> Pod {
        from_yaml(&format!(
            "metadata: {{name: urgent, namespace: default}}\n\
             spec: {{priority: 1000, containers: [{{name: a, image: busybox, resources: {{requests: {{cpu: {cpu}}}}}}}]}}"
        ))
    }

    fn modified(pod: Pod) -> Change {
        Change { resource_version: 2, type_: ChangeType::Modified, object: Object::from(pod) }
    }

    /// A nominated pod holds room for what it requests now: a PUT changing its requests
    /// changes the hold (not looked up again each cycle), and its binding ends the nomination.
    #[test]
    fn a_nomination_holds_what_its_pod_requests_now() {
        let mut scheduler = Scheduler::new(Policy::Greedy, 1);
        let key = ObjectKey::new("default", "urgent");
        scheduler.node_positions.insert("pin-1".into(), 0);
        let was = Resources::requested_by(&urgent("1500m"));
        scheduler.nominated.insert(key.clone(), Nomination { node: "pin-1".into(), requests: was });
        assert_eq!(scheduler.hold(&key), Some((0, was)));

        let smaller = urgent("500m");
        scheduler.observe(&modified(smaller.clone()), Millis(0));
        let now = Resources::requested_by(&smaller);
        assert_ne!(now, was);
        assert_eq!(scheduler.hold(&key), Some((0, now)));

        let mut bound = smaller;
        bound.spec.node_name = Some("pin-1".into());
        scheduler.observe(&modified(bound), Millis(0));
        assert_eq!(scheduler.hold(&key), None);
        assert_eq!(scheduler.nominated_node(&key), None);
    }

    /// A relist may hide a nominated pod's deletion (or a change to its requests) from the
    /// informer: the next cycle drops the nominations of pods the store no longer holds, and
    /// the others hold what their pods request in the store.
    #[test]
    fn after_a_relist_a_nomination_of_a_pod_gone_holds_nothing() {
        let timing = Timing::preset(crate::cluster::timing::Preset::Arcade);
        let mut store = Store::new(1);
        let mut recorder = EventRecorder::new(&timing);
        let mut scheduler = Scheduler::new(Policy::Greedy, 1);
        let added = |object: Object| Change { resource_version: 1, type_: ChangeType::Added, object };
        let node: Node = from_yaml(
            "metadata: {name: pin-1}\n\
             status: {allocatable: {cpu: '1', memory: 1Gi, pods: '110'}, capacity: {cpu: '1', memory: 1Gi, pods: '110'}}",
        );
        let node = store.create(node, Millis(0)).expect("a new node");
        scheduler.observe(&added(Object::from(node)), Millis(0));
        // The nominated pod waits out a backoff (not queued); another pod makes the cycle run.
        store.create(urgent("500m"), Millis(0)).expect("a new pod");
        let mut other = urgent("100m");
        other.metadata.name = "other".into();
        let other = store.create(other, Millis(0)).expect("a new pod");
        scheduler.observe(&added(Object::from(other)), Millis(0));
        let (gone, waiting) = (ObjectKey::new("default", "gone"), ObjectKey::new("default", "urgent"));
        let seen = Resources { cpu_milli: 100, memory_milli: 0, pods: 1 };
        for key in [&gone, &waiting] {
            scheduler.nominated.insert(key.clone(), Nomination { node: "pin-1".into(), requests: seen });
        }

        scheduler.relisted();
        scheduler.run_cycle(&mut store, &mut recorder, Millis(0), &timing);
        let other = store.get::<Pod>(&ObjectKey::new("default", "other")).expect("still there");
        assert_eq!(other.node_name(), Some("pin-1"), "the cycle ran and placed it");
        assert_eq!(scheduler.nominated_node(&gone), None, "its pod is gone");
        assert_eq!(scheduler.nominated_node(&waiting), Some("pin-1"), "its pod still waits");
        let requested = Resources::requested_by(store.get::<Pod>(&waiting).expect("still there"));
        assert_ne!(requested, seen);
        assert_eq!(scheduler.hold(&waiting), Some((0, requested)));
    }
}
