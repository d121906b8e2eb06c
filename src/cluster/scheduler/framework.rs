//! The scheduling framework, named as in kube-scheduler (`pkg/scheduler/framework/plugins`).
//!
//! - **Filter** plugins say whether a node can run a pod at all; a node passes only if every
//!   filter passes (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit).
//! - **Score** plugins rank the nodes that passed, 0..=100 each (LeastAllocated, MostAllocated,
//!   BalancedAllocation); a policy weighs them into a total.
//! - A **policy** (`greedy.rs`, `round_robin.rs`, `spread.rs`, `binpack.rs`, `flow.rs`) decides
//!   the order a batch is placed in and how the winning node is chosen, and hands back a
//!   [`Placement`] with an [`Explanation`] per pod, which the scheduler records as "why here".

use crate::cluster::objects::{Node, Pod, Readiness, Taint, Toleration};
use crate::cluster::store::{ObjectKey, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// cpu (millicores), memory (milli-bytes) and a pod count, the three resources NodeResourcesFit checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_milli: i64,
    pub memory_milli: i64,
    pub pods: i64,
}

impl Resources {
    /// What one pod asks of its node: its cpu and memory requests, and one pod.
    pub fn requested_by(pod: &Pod) -> Resources {
        let r = pod.requests();
        Resources { cpu_milli: r.cpu_milli, memory_milli: r.memory_milli, pods: 1 }
    }
}

/// A node as the scheduler sees it in one cycle: a snapshot, like upstream's `NodeInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: compact_str::CompactString,
    pub allocatable: Resources,
    pub requested: Resources,
    /// Shared: a snapshot is copied two or three times a cycle, and after a strike 4,000 of
    /// the stadium's nodes carry taints.
    pub taints: crate::cluster::objects::Shared<Vec<Taint>>,
    pub labels: crate::cluster::objects::Shared<BTreeMap<String, String>>,
    pub unschedulable: bool,
    pub readiness: Readiness,
}

impl NodeInfo {
    pub fn free(&self) -> Resources {
        Resources {
            cpu_milli: self.allocatable.cpu_milli - self.requested.cpu_milli,
            memory_milli: self.allocatable.memory_milli - self.requested.memory_milli,
            pods: self.allocatable.pods - self.requested.pods,
        }
    }
}

/// What the filters need of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub key: ObjectKey,
    pub requests: Resources,
    pub priority: i32,
    pub tolerations: crate::cluster::objects::Shared<Vec<Toleration>>,
    pub node_selector: BTreeMap<String, String>,
    /// The pod's claims as VolumeBinding sees them; `None` for a pod without claims (nearly
    /// all), so cloning a PodInfo stays cheap.
    pub volumes: Option<std::sync::Arc<super::volume_binding::PodVolumes>>,
    /// Node affinity, pod (anti-)affinity and topology spread as their plugins read them;
    /// `None` for a pod without any (nearly all).
    pub constraints: Option<std::sync::Arc<super::pod_constraints::PodConstraints>>,
}

impl PodInfo {
    /// What the filters need of a pod, its claims looked up in `store` (see [`PodInfo::of`]).
    pub fn with_volumes(pod: &Pod, store: &Store) -> PodInfo {
        PodInfo {
            volumes: super::volume_binding::PodVolumes::of(pod, store).map(std::sync::Arc::new),
            ..PodInfo::of(pod)
        }
    }

    /// Everything the filters need of a pod in one cycle: its claims, and the pods its affinity
    /// and spread terms select counted per domain of `nodes` (upstream's PreFilter).
    pub fn for_cycle(pod: &Pod, store: &Store, nodes: &[NodeInfo]) -> PodInfo {
        let constraints = if pod.has_inter_pod_constraints() {
            super::pod_constraints::PodConstraints::of(pod, store, nodes).map(std::sync::Arc::new)
        } else {
            None
        };
        let info = PodInfo::with_volumes(pod, store);
        if constraints.is_some() { PodInfo { constraints, ..info } } else { info }
    }

    /// What the filters need of a pod, claims and inter-pod terms aside (they need the store).
    pub fn of(pod: &Pod) -> PodInfo {
        PodInfo {
            key: ObjectKey::of(&pod.metadata),
            requests: Resources::requested_by(pod),
            priority: pod.priority(),
            tolerations: pod.spec.tolerations.clone(),
            node_selector: pod.spec.node_selector.clone(),
            volumes: None,
            constraints: super::pod_constraints::PodConstraints::of_node_affinity(pod).map(std::sync::Arc::new),
        }
    }
}

/// Builds the cycle's snapshot: every node, in the order given, with what its pods request.
pub fn snapshot<'a>(store: &Store, nodes: impl IntoIterator<Item = &'a Node>) -> Vec<NodeInfo> {
    nodes
        .into_iter()
        .map(|node| {
            let r = store.requested_on_node(&node.metadata.name);
            NodeInfo::of(node, Resources { cpu_milli: r.cpu_milli, memory_milli: r.memory_milli, pods: r.pods })
        })
        .collect()
}

impl NodeInfo {
    /// `node` as a snapshot holds it, with these requests.
    pub fn of(node: &Node, requested: Resources) -> NodeInfo {
        NodeInfo {
            name: node.metadata.name.as_str().into(),
            allocatable: Resources {
                cpu_milli: node.allocatable("cpu"),
                memory_milli: node.allocatable("memory"),
                pods: node.allocatable("pods") / 1000,
            },
            requested,
            taints: node.spec.taints.clone().into(),
            labels: node.metadata.labels.clone(),
            unschedulable: node.spec.unschedulable,
            readiness: node.readiness(),
        }
    }
}

/// Why a node failed a pod. `reasons()` gives upstream's exact strings, which the
/// FailedScheduling message counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Unfit {
    Unschedulable,
    UntoleratedTaint {
        key: String,
        value: String,
    },
    NodeSelectorMismatch,
    /// Each of "pods", "cpu", "memory" that does not fit, in upstream's order.
    Insufficient(Vec<&'static str>),
    /// VolumeBinding's reason, in upstream's words.
    Volume(String),
    /// An affinity or topology spread rule's reason, in upstream's words.
    Rule(&'static str),
}

impl Unfit {
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Unfit::Unschedulable => vec!["node(s) were unschedulable".into()],
            Unfit::UntoleratedTaint { key, value } => vec![format!("node(s) had untolerated taint {{{key}: {value}}}")],
            Unfit::NodeSelectorMismatch => vec!["node(s) didn't match Pod's node affinity/selector".into()],
            Unfit::Insufficient(what) => what
                .iter()
                .map(|r| if *r == "pods" { "Too many pods".to_string() } else { format!("Insufficient {r}") })
                .collect(),
            Unfit::Volume(why) => vec![why.clone()],
            Unfit::Rule(why) => vec![(*why).to_string()],
        }
    }
}

/// A filter plugin: can this node run this pod? Static plugins look only at the node's
/// labels, taints and flags, so a policy may evaluate them once per node per cycle.
pub trait FilterPlugin {
    fn name(&self) -> &'static str;
    fn is_static(&self) -> bool;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit>;
    /// The same answer as `filter`, without building the reasons: the hot path of the scoring
    /// policies asks this of every node for every pod, so it must not allocate.
    fn passes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        self.filter(pod, node).is_ok()
    }
}

/// `spec.unschedulable` (cordon) rejects pods that do not tolerate
/// `node.kubernetes.io/unschedulable:NoSchedule`.
pub struct NodeUnschedulable;
impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        if self.passes(pod, node) { Ok(()) } else { Err(Unfit::Unschedulable) }
    }
    fn passes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        // The taint is built only for a cordoned node: this runs for every node, every pod.
        !node.unschedulable || {
            let taint = Taint::new(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE);
            pod.tolerations.iter().any(|t| t.tolerates(&taint))
        }
    }
}

/// NoSchedule and NoExecute taints must be tolerated (upstream's TaintToleration filter). This is
/// also how a NotReady node repels pods: the node lifecycle controller taints it.
pub struct TaintToleration;
impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let untolerated = node.taints.iter().find(|taint| {
            (taint.effect == Taint::NO_SCHEDULE || taint.effect == Taint::NO_EXECUTE)
                && !pod.tolerations.iter().any(|t| t.tolerates(taint))
        });
        match untolerated {
            Some(t) => Err(Unfit::UntoleratedTaint { key: t.key.clone(), value: t.value.clone() }),
            None => Ok(()),
        }
    }
    fn passes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        node.taints.iter().all(|taint| {
            (taint.effect != Taint::NO_SCHEDULE && taint.effect != Taint::NO_EXECUTE)
                || pod.tolerations.iter().any(|t| t.tolerates(taint))
        })
    }
}

/// `spec.nodeSelector` (every label must match) and `affinity.nodeAffinity`'s required terms:
/// upstream's NodeAffinity plugin.
pub struct NodeAffinity;
impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        if pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && super::pod_constraints::node_affinity_passes(pod, node)
        {
            Ok(())
        } else {
            Err(Unfit::NodeSelectorMismatch)
        }
    }
}

/// Requests must fit in allocatable minus what the node's pods already request.
pub struct NodeResourcesFit;
impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn is_static(&self) -> bool {
        false
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let free = node.free();
        let mut short = Vec::new();
        if free.pods < 1 {
            short.push("pods");
        }
        if pod.requests.cpu_milli > free.cpu_milli {
            short.push("cpu");
        }
        if pod.requests.memory_milli > free.memory_milli {
            short.push("memory");
        }
        if short.is_empty() { Ok(()) } else { Err(Unfit::Insufficient(short)) }
    }
    fn passes(&self, pod: &PodInfo, node: &NodeInfo) -> bool {
        let free = node.free();
        free.pods >= 1 && pod.requests.cpu_milli <= free.cpu_milli && pod.requests.memory_milli <= free.memory_milli
    }
}

/// The filters in upstream's order: the first failing one is the node's verdict.
pub const FILTERS: [&(dyn FilterPlugin + Sync); 7] = [
    &NodeUnschedulable,
    &TaintToleration,
    &NodeAffinity,
    &NodeResourcesFit,
    &super::volume_binding::VolumeBinding,
    &super::pod_constraints::PodTopologySpread,
    &super::pod_constraints::InterPodAffinity,
];

/// One node's answer for one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    /// Passed every filter.
    Fit,
    /// Failed `plugin` for `reasons`.
    Unfit { plugin: &'static str, reasons: Vec<String> },
}

pub fn run_filters(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    for plugin in FILTERS {
        if let Err(unfit) = plugin.filter(pod, node) {
            return Verdict::Unfit { plugin: plugin.name(), reasons: unfit.reasons() };
        }
    }
    Verdict::Fit
}

/// Every filter at once, as a yes or no: what every policy asks of each node for each pod.
/// Derived from [`FILTERS`], so a filter added there binds every policy. The dynamic filters
/// (NodeResourcesFit) go first because they are the cheapest and the ones that fail most.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    FILTERS.iter().filter(|p| !p.is_static()).all(|p| p.passes(pod, node)) && passes_static_filters(pod, node)
}

/// The static filters of [`FILTERS`] as a yes or no: cordon, taints and nodeSelector, none of
/// which depend on what else is bound to the node.
pub fn passes_static_filters(pod: &PodInfo, node: &NodeInfo) -> bool {
    FILTERS.iter().filter(|p| p.is_static()).all(|p| p.passes(pod, node))
}

// ---------------------------------------------------------------------------------------------
// The score half
// ---------------------------------------------------------------------------------------------

/// Upstream's `framework.MaxNodeScore`: every score plugin answers in `0..=MAX_NODE_SCORE`.
pub const MAX_NODE_SCORE: i64 = 100;

/// A score plugin: how well does this node suit this pod, from 0 to [`MAX_NODE_SCORE`]? Asked
/// only of nodes that passed every filter, and computed as if the pod were already on the node
/// (its requests added to the node's), as upstream's NodeResourcesFit scorers do.
///
/// Upstream substitutes 100m cpu / 200MB for pods that request nothing when scoring; we score
/// requests as written.
pub trait ScorePlugin {
    fn name(&self) -> &'static str;
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64;
}

/// cpu and memory requested on the node once this pod is added, with the node's allocatable.
fn with_pod(pod: &PodInfo, node: &NodeInfo) -> [(i64, i64); 2] {
    [
        (node.requested.cpu_milli + pod.requests.cpu_milli, node.allocatable.cpu_milli),
        (node.requested.memory_milli + pod.requests.memory_milli, node.allocatable.memory_milli),
    ]
}

/// NodeResourcesFit's `LeastAllocated` strategy, upstream's default: per resource
/// `(allocatable − requested) × 100 / allocatable`, averaged over cpu and memory (weight 1 each,
/// integer division as upstream). The emptier node scores higher, so pods spread out.
pub struct LeastAllocated;
impl ScorePlugin for LeastAllocated {
    fn name(&self) -> &'static str {
        "LeastAllocated"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let [cpu, memory] = with_pod(pod, node);
        (least_requested_score(cpu.0, cpu.1) + least_requested_score(memory.0, memory.1)) / 2
    }
}

/// Upstream's `leastRequestedScore`.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// NodeResourcesFit's `MostAllocated` strategy, upstream's answer for bin packing: per resource
/// `requested × 100 / allocatable`, averaged over cpu and memory. The fuller node scores higher,
/// so pods pack onto few nodes and whole nodes stay free.
pub struct MostAllocated;
impl ScorePlugin for MostAllocated {
    fn name(&self) -> &'static str {
        "MostAllocated"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let [cpu, memory] = with_pod(pod, node);
        (most_requested_score(cpu.0, cpu.1) + most_requested_score(memory.0, memory.1)) / 2
    }
}

/// Upstream's `mostRequestedScore` (a request above capacity counts as full).
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity <= 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// Upstream's `NodeResourcesBalancedAllocation`: prefers nodes whose cpu and memory are used in
/// the same proportion, so neither runs out while the other sits idle (which strands it).
/// `(1 − |cpu fraction − memory fraction| / 2) × 100`, fractions capped at 1. Floating point as
/// upstream computes it; IEEE arithmetic is the same on every platform, so it stays deterministic.
pub struct BalancedAllocation;
impl ScorePlugin for BalancedAllocation {
    fn name(&self) -> &'static str {
        "BalancedAllocation"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let fraction =
            |(requested, capacity): (i64, i64)| (capacity > 0).then(|| (requested as f64 / capacity as f64).min(1.0));
        let [cpu, memory] = with_pod(pod, node);
        // Upstream skips a resource the node has none of; with fewer than two left, std is 0.
        let std = match (fraction(cpu), fraction(memory)) {
            (Some(a), Some(b)) => ((a - b) / 2.0).abs(),
            _ => 0.0,
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

/// A score plugin and its weight in a policy: a node's total is `Σ weight × score`, as upstream.
#[derive(Clone, Copy)]
pub struct Weighted {
    pub plugin: &'static (dyn ScorePlugin + Sync),
    pub weight: i64,
}

impl std::fmt::Debug for Weighted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}×{}", self.plugin.name(), self.weight)
    }
}

/// A node's total under a policy's plugins.
/// A pod with affinity or spread terms is also scored by their plugins ([`constraint_scores`]).
pub fn total_score(pod: &PodInfo, node: &NodeInfo, plugins: &[Weighted]) -> i64 {
    plugins.iter().chain(constraint_scores(pod)).map(|w| w.weight * w.plugin.score(pod, node)).sum()
}

/// NodeAffinity, InterPodAffinity and PodTopologySpread's scores, for a pod that has their terms
/// (none otherwise, so every other pod's scores and "why here" tables stay as they were).
pub fn constraint_scores(pod: &PodInfo) -> &'static [Weighted] {
    if pod.constraints.is_some() { &super::pod_constraints::SCORES } else { &[] }
}

/// One plugin's score for one node, for the "why here" record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginScore {
    pub plugin: &'static str,
    pub weight: i64,
    pub score: i64,
}

/// One feasible node's scores for one pod, and their weighted total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeScore {
    pub node: String,
    pub plugins: Vec<PluginScore>,
    pub total: i64,
}

/// Every feasible node's scores, in rack order: what a scoring policy saw for one pod.
pub fn score_table(pod: &PodInfo, nodes: &[NodeInfo], plugins: &[Weighted]) -> Vec<NodeScore> {
    nodes.iter().filter(|n| fits(pod, n)).map(|n| node_score(pod, n, plugins)).collect()
}

/// One node's scores for one pod, per plugin and weighted.
fn node_score(pod: &PodInfo, node: &NodeInfo, plugins: &[Weighted]) -> NodeScore {
    let scores: Vec<PluginScore> = plugins
        .iter()
        .chain(constraint_scores(pod))
        .map(|w| PluginScore { plugin: w.plugin.name(), weight: w.weight, score: w.plugin.score(pod, node) })
        .collect();
    NodeScore { node: node.name.to_string(), total: scores.iter().map(|s| s.weight * s.score).sum(), plugins: scores }
}

// ---------------------------------------------------------------------------------------------
// What a policy hands back
// ---------------------------------------------------------------------------------------------

/// Why a policy put one pod where it did, beyond the filters: the scores it weighed and a note.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Explanation {
    /// Every feasible node's scores (empty for policies that do not score).
    pub scores: Vec<NodeScore>,
    /// One line in plain words: "highest total score", "next in rotation after pin-3", ...
    pub note: String,
}

/// A policy's answer for a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    /// Per pod (same indexes as the batch): the chosen node's index, or `None`.
    pub node: Vec<Option<usize>>,
    /// The order the pods were placed in; the scheduler binds and records in this order.
    pub order: Vec<usize>,
    /// Per pod, when the caller asked for records.
    pub why: Vec<Option<Explanation>>,
}

impl Placement {
    pub fn empty(pods: usize) -> Placement {
        Placement { node: vec![None; pods], order: Vec::with_capacity(pods), why: vec![None; pods] }
    }
}

/// Adds a bound pod's requests to its node's snapshot.
pub fn add_request(node: &mut NodeInfo, r: &Resources) {
    node.requested.cpu_milli += r.cpu_milli;
    node.requested.memory_milli += r.memory_milli;
    node.requested.pods += 1;
}

/// Upstream's queue order (the `PrioritySort` plugin): priority desc, then arrival (here the
/// batch's order, which is the queue's key order).
pub fn priority_order(pods: &[PodInfo]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(pods[i].priority), i));
    order
}

/// Upstream's `minFeasibleNodesToFind`: below this many nodes every node is filtered and scored.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream's `minFeasibleNodesPercentageToFind`: the adaptive percentage never goes lower.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// Upstream's `numFeasibleNodesToFind` with the default (adaptive) `percentageOfNodesToScore`:
/// all nodes below 100, else `50 − nodes/125` percent of them (at least 5 %, at least 100
/// nodes). At 5,000 nodes a pod is scored against the first 500 feasible ones.
pub fn num_feasible_nodes_to_find(all: usize) -> usize {
    if all < MIN_FEASIBLE_NODES_TO_FIND {
        return all;
    }
    let percentage = (50 - all as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    (all * percentage as usize / 100).max(MIN_FEASIBLE_NODES_TO_FIND)
}

/// The scoring policies' bind step, one pod at a time as kube-scheduler does: in priority order,
/// run every filter on the nodes from `cursor` on (upstream's `nextStartNodeIndex`) until
/// [`num_feasible_nodes_to_find`] pass, score those, bind to the highest total (ties go to the
/// earlier node in rack order), and let the next pod see the result. `cursor` moves past the
/// nodes looked at, so successive pods (and cycles) sample different nodes, as upstream.
pub fn place_by_score(
    pods: &[PodInfo],
    nodes: &mut [NodeInfo],
    plugins: &[Weighted],
    policy: &str,
    cursor: &mut usize,
    record: bool,
) -> Placement {
    let mut placement = Placement::empty(pods.len());
    let n = nodes.len();
    let wanted = num_feasible_nodes_to_find(n);
    let mut feasible: Vec<usize> = Vec::with_capacity(wanted);
    for i in priority_order(pods) {
        let pod = &pods[i];
        let start = if n == 0 { 0 } else { *cursor % n };
        let mut best: Option<(i64, usize)> = None;
        let mut processed = 0;
        feasible.clear();
        while processed < n && feasible.len() < wanted {
            let j = (start + processed) % n;
            processed += 1;
            let node = &nodes[j];
            if !fits(pod, node) {
                continue;
            }
            feasible.push(j);
            let total = total_score(pod, node, plugins);
            if best.is_none_or(|(b, bj)| total > b || (total == b && j < bj)) {
                best = Some((total, j));
            }
        }
        if n > 0 {
            *cursor = (start + processed) % n;
        }
        if record {
            feasible.sort_unstable();
            let scores: Vec<NodeScore> = feasible.iter().map(|&j| node_score(pod, &nodes[j], plugins)).collect();
            let note = match best {
                Some((total, _)) => {
                    format!(
                        "{policy}: highest total score ({total}) of {} feasible node(s); ties go to rack order",
                        scores.len()
                    )
                }
                None => format!("{policy}: no node passes every filter"),
            };
            placement.why[i] = Some(Explanation { scores, note });
        }
        if let Some((_, j)) = best {
            add_request(&mut nodes[j], &pod.requests);
            placement.node[i] = Some(j);
        }
        placement.order.push(i);
    }
    placement
}

/// Upstream's FitError message: `0/10 nodes are available: 3 node(s) had untolerated taint
/// {node.kubernetes.io/unreachable: }, 7 Insufficient cpu.` (reason counts sorted as strings).
pub fn fit_error_message<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> String {
    let mut total = 0;
    let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
    for verdict in verdicts {
        total += 1;
        if let Verdict::Unfit { reasons, .. } = verdict {
            for r in reasons {
                *histogram.entry(r.as_str()).or_default() += 1;
            }
        }
    }
    let mut parts: Vec<String> = histogram.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    if parts.is_empty() {
        format!("0/{total} nodes are available.")
    } else {
        format!("0/{total} nodes are available: {}.", parts.join(", "))
    }
}

/// [`fit_error_message`] straight from the nodes, without a verdict per node: each distinct
/// [`Unfit`] is counted and spelled once, so a pod failing on thousands of nodes costs no
/// string per node.
pub fn fit_error_for(pod: &PodInfo, nodes: &[NodeInfo]) -> String {
    let mut unfits: BTreeMap<Unfit, usize> = BTreeMap::new();
    for node in nodes {
        if let Some(unfit) = FILTERS.iter().find_map(|plugin| plugin.filter(pod, node).err()) {
            *unfits.entry(unfit).or_default() += 1;
        }
    }
    fit_error_from_counts(nodes.len(), unfits.into_iter().map(|(unfit, n)| (unfit.reasons(), n)))
}

/// The verdicts of the filters that lead [`FILTERS`] and read only what a node snapshot keeps
/// (NodeUnschedulable, TaintToleration, NodeAffinity: the node's cordon, taints and labels, the
/// pod's tolerations, selector and affinity) on a snapshot's nodes for one kind of pod: the
/// positions of the nodes that pass them, and how many fail each way. They hold while the
/// snapshot does, whatever is bound: after a strike 4,000 nodes fail on a taint, and asking
/// them again for every kind of pod in every cycle was a tenth of the cycle. The filters
/// after them (NodeResourcesFit, and the claims and pod rules read from the store each cycle)
/// are asked only of the nodes that pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StaticFit {
    pub pass: Vec<usize>,
    pub unfit: BTreeMap<Unfit, usize>,
}

/// How many filters lead [`FILTERS`] that a [`StaticFit`] answers.
fn leading_static_filters() -> usize {
    FILTERS.iter().take_while(|p| p.is_static()).count()
}

impl StaticFit {
    pub fn of(pod: &PodInfo, nodes: &[NodeInfo]) -> StaticFit {
        let leading = &FILTERS[..leading_static_filters()];
        let mut fit = StaticFit::default();
        // Neighbours in rack order mostly fail alike (a dead rack's 500 taints): a run of
        // equal verdicts is counted before it is looked up.
        let mut run: Option<(Unfit, usize)> = None;
        for (j, node) in nodes.iter().enumerate() {
            let Some(unfit) = leading.iter().find_map(|p| p.filter(pod, node).err()) else {
                fit.pass.push(j);
                continue;
            };
            match &mut run {
                Some((same, n)) if *same == unfit => *n += 1,
                _ => {
                    if let Some((done, n)) = run.replace((unfit, 1)) {
                        *fit.unfit.entry(done).or_default() += n;
                    }
                }
            }
        }
        if let Some((done, n)) = run {
            *fit.unfit.entry(done).or_default() += n;
        }
        fit
    }

    /// [`fit_error_for`] with the leading filters' verdicts known: the same message, each
    /// node counted under the first filter it fails.
    pub fn fit_error(&self, pod: &PodInfo, nodes: &[NodeInfo]) -> String {
        let rest = &FILTERS[leading_static_filters()..];
        let mut unfits = self.unfit.clone();
        for &j in &self.pass {
            if let Some(unfit) = rest.iter().find_map(|p| p.filter(pod, &nodes[j]).err()) {
                *unfits.entry(unfit).or_default() += 1;
            }
        }
        fit_error_from_counts(nodes.len(), unfits.into_iter().map(|(unfit, n)| (unfit.reasons(), n)))
    }

    /// The nodes passing every static filter (where preemption might help: upstream's
    /// `nodesWherePreemptionMightHelp`), as [`super::preemption::potential_nodes`] finds them.
    pub fn potential(&self, pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<usize> {
        let rest = &FILTERS[leading_static_filters()..];
        let passes = |j: usize| rest.iter().filter(|p| p.is_static()).all(|p| p.passes(pod, &nodes[j]));
        self.pass.iter().copied().filter(|&j| passes(j)).collect()
    }
}

/// Upstream's FitError message from each distinct list of reasons and how many nodes gave it.
pub fn fit_error_from_counts(total: usize, counted: impl IntoIterator<Item = (Vec<String>, usize)>) -> String {
    let mut histogram: BTreeMap<String, usize> = BTreeMap::new();
    for (reasons, n) in counted {
        for reason in reasons {
            *histogram.entry(reason).or_default() += n;
        }
    }
    let mut parts: Vec<String> = histogram.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    if parts.is_empty() {
        format!("0/{total} nodes are available.")
    } else {
        format!("0/{total} nodes are available: {}.", parts.join(", "))
    }
}

/// The first dynamic filter of [`FILTERS`] (those that look at what the node's pods request)
/// that fails, if any: for a node already known to pass the static ones.
pub fn dynamic_unfit(pod: &PodInfo, node: &NodeInfo) -> Option<Unfit> {
    FILTERS.iter().filter(|p| !p.is_static()).find_map(|plugin| plugin.filter(pod, node).err())
}

/// The dynamic filters of [`FILTERS`] as a yes or no.
pub fn passes_dynamic_filters(pod: &PodInfo, node: &NodeInfo) -> bool {
    FILTERS.iter().filter(|p| !p.is_static()).all(|p| p.passes(pod, node))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A Ready node with `cpu` millicores, `mem_gi` GiB and room for 110 pods.
    pub fn node(name: &str, cpu: i64, mem_gi: i64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            allocatable: Resources { cpu_milli: cpu, memory_milli: mem_gi << 30 << 10, pods: 110 },
            requested: Resources::default(),
            taints: Default::default(),
            labels: Default::default(),
            unschedulable: false,
            readiness: Readiness::Ready,
        }
    }

    /// A pod asking `cpu` millicores and, in proportion, 2 MiB of memory per millicore (so on a
    /// 4 cpu / 8 GiB node cpu and memory fill in step).
    pub fn pod_named(name: &str, cpu: i64) -> PodInfo {
        PodInfo {
            key: ObjectKey::new("default", name),
            requests: Resources { cpu_milli: cpu, memory_milli: cpu << 21 << 10, pods: 1 },
            priority: 0,
            tolerations: Default::default(),
            node_selector: BTreeMap::new(),
            volumes: None,
            constraints: None,
        }
    }

    fn pod(cpu: i64) -> PodInfo {
        PodInfo {
            key: ObjectKey::new("default", "p"),
            requests: Resources { cpu_milli: cpu, memory_milli: 0, pods: 1 },
            priority: 0,
            tolerations: Default::default(),
            node_selector: BTreeMap::new(),
            volumes: None,
            constraints: None,
        }
    }

    #[test]
    fn untolerated_taints_fail_and_tolerations_pass() {
        let mut n = node("a", 4000, 8);
        n.taints.push(Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE));
        let mut p = pod(100);
        assert_eq!(
            run_filters(&p, &n),
            Verdict::Unfit {
                plugin: "TaintToleration",
                reasons: vec!["node(s) had untolerated taint {node.kubernetes.io/unreachable: }".into()]
            }
        );
        p.tolerations.push(Toleration {
            key: Taint::UNREACHABLE.into(),
            operator: "Exists".into(),
            effect: "NoExecute".into(),
            toleration_seconds: Some(300),
            ..Default::default()
        });
        assert_eq!(run_filters(&p, &n), Verdict::Fit);
        // PreferNoSchedule never filters.
        n.taints = vec![Taint::new("soft", Taint::PREFER_NO_SCHEDULE)].into();
        assert_eq!(run_filters(&pod(100), &n), Verdict::Fit);
        // An empty-key Exists toleration tolerates everything.
        n.taints =
            vec![Taint { key: "k".into(), value: "v".into(), effect: "NoSchedule".into(), time_added: None }].into();
        let mut all = pod(100);
        all.tolerations.push(Toleration { operator: "Exists".into(), ..Default::default() });
        assert_eq!(run_filters(&all, &n), Verdict::Fit);
        let mut wrong_value = pod(100);
        wrong_value.tolerations.push(Toleration { key: "k".into(), value: "w".into(), ..Default::default() });
        assert!(matches!(run_filters(&wrong_value, &n), Verdict::Unfit { .. }));
    }

    #[test]
    fn cordon_selector_and_resources() {
        let mut n = node("a", 1000, 1);
        n.unschedulable = true;
        assert_eq!(
            run_filters(&pod(100), &n),
            Verdict::Unfit { plugin: "NodeUnschedulable", reasons: vec!["node(s) were unschedulable".into()] }
        );
        n.unschedulable = false;
        let mut p = pod(100);
        p.node_selector.insert("disk".into(), "ssd".into());
        assert!(matches!(run_filters(&p, &n), Verdict::Unfit { plugin: "NodeAffinity", .. }));
        n.labels.insert("disk".into(), "ssd".into());
        assert_eq!(run_filters(&p, &n), Verdict::Fit);
        let mut big = pod(1500);
        big.requests.memory_milli = 2 << 30 << 10;
        assert_eq!(
            run_filters(&big, &n),
            Verdict::Unfit {
                plugin: "NodeResourcesFit",
                reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()]
            }
        );
        n.requested.pods = 110;
        assert_eq!(
            run_filters(&pod(1), &n),
            Verdict::Unfit { plugin: "NodeResourcesFit", reasons: vec!["Too many pods".into()] }
        );
    }

    /// A node of 4 cpu / 8 GiB already running `cpu` millicores and `mem_gi` GiB, and a pod.
    fn scoring(cpu: i64, mem_gi: i64, pod_cpu: i64, pod_mem_gi: i64) -> (PodInfo, NodeInfo) {
        let mut n = node("a", 4000, 8);
        n.requested = Resources { cpu_milli: cpu, memory_milli: mem_gi << 30 << 10, pods: 1 };
        let mut p = pod(pod_cpu);
        p.requests.memory_milli = pod_mem_gi << 30 << 10;
        (p, n)
    }

    #[test]
    fn least_allocated_scores_the_room_left_after_the_pod() {
        // cpu 2000/4000 used after the pod → 50; memory 4/8 → 50.
        let (p, n) = scoring(1000, 2, 1000, 2);
        assert_eq!(LeastAllocated.score(&p, &n), 50);
        // cpu 1000/4000 → 75, memory 1/8 → 87 (integer division per resource, then the mean).
        let (p, n) = scoring(0, 0, 1000, 1);
        assert_eq!(LeastAllocated.score(&p, &n), (75 + 87) / 2);
        // More than the node has scores 0 for that resource, as upstream.
        let (p, n) = scoring(3500, 0, 1000, 0);
        assert_eq!(LeastAllocated.score(&p, &n), 50);
        assert_eq!(least_requested_score(5, 0), 0);
    }

    #[test]
    fn most_allocated_scores_how_full_the_node_gets() {
        let (p, n) = scoring(1000, 2, 1000, 2);
        assert_eq!(MostAllocated.score(&p, &n), 50);
        let (p, n) = scoring(0, 0, 1000, 1);
        assert_eq!(MostAllocated.score(&p, &n), (25 + 12) / 2);
        // A request above capacity counts as full, not as more than full.
        assert_eq!(most_requested_score(5000, 4000), 100);
        assert_eq!(most_requested_score(5, 0), 0);
    }

    #[test]
    fn balanced_allocation_prefers_cpu_and_memory_in_step() {
        // Both at 50% → perfectly balanced.
        let (p, n) = scoring(1000, 2, 1000, 2);
        assert_eq!(BalancedAllocation.score(&p, &n), 100);
        // cpu 50%, memory 25% → std 0.125 → 87.
        let (p, n) = scoring(1000, 1, 1000, 1);
        assert_eq!(BalancedAllocation.score(&p, &n), 87);
        // cpu 100%, memory 0% → std 0.5 → 50; fractions cap at 1.
        let (p, n) = scoring(4000, 0, 1000, 0);
        assert_eq!(BalancedAllocation.score(&p, &n), 50);
        // A node with no memory at all is judged on cpu alone: std 0.
        let (p, mut n) = scoring(1000, 0, 1000, 0);
        n.allocatable.memory_milli = 0;
        assert_eq!(BalancedAllocation.score(&p, &n), 100);
    }

    #[test]
    fn totals_weigh_each_plugin_and_tables_list_only_feasible_nodes() {
        let (p, n) = scoring(1000, 1, 1000, 1);
        let plugins =
            [Weighted { plugin: &LeastAllocated, weight: 2 }, Weighted { plugin: &BalancedAllocation, weight: 1 }];
        let least = LeastAllocated.score(&p, &n);
        assert_eq!(total_score(&p, &n, &plugins), 2 * least + 87);
        let mut cordoned = n.clone();
        cordoned.name = "b".into();
        cordoned.unschedulable = true;
        let table = score_table(&p, &[n, cordoned], &plugins);
        assert_eq!(table.len(), 1);
        assert_eq!(table[0].node, "a");
        assert_eq!(table[0].plugins[0], PluginScore { plugin: "LeastAllocated", weight: 2, score: least });
        assert_eq!(table[0].total, 2 * least + 87);
    }

    #[test]
    fn feasible_nodes_to_find_follows_upstreams_adaptive_percentage() {
        assert_eq!(num_feasible_nodes_to_find(10), 10);
        assert_eq!(num_feasible_nodes_to_find(99), 99);
        assert_eq!(num_feasible_nodes_to_find(150), 100, "49% of 150 is below the 100-node floor");
        assert_eq!(num_feasible_nodes_to_find(1_000), 420);
        assert_eq!(num_feasible_nodes_to_find(5_000), 500);
        assert_eq!(num_feasible_nodes_to_find(15_000), 750, "5% at most");
    }

    #[test]
    fn big_lanes_score_a_rotating_sample_but_never_strand_a_pod_that_fits() {
        let mut nodes: Vec<NodeInfo> = (0..1_000).map(|j| node(&format!("pin-{}", j + 1), 4000, 8)).collect();
        // Only the last node can take the big pod: the scan goes on until it finds it.
        nodes[999].allocatable.cpu_milli = 64_000;
        nodes[999].allocatable.memory_milli = 128 << 30 << 10;
        let pods = vec![pod_named("big", 32_000), pod_named("small", 100), pod_named("small-2", 100)];
        let mut cursor = 0;
        let placed = place_by_score(
            &pods,
            &mut nodes,
            &[Weighted { plugin: &LeastAllocated, weight: 1 }],
            "spread",
            &mut cursor,
            true,
        );
        assert_eq!(placed.node[0], Some(999));
        // The big pod looked at every node; each small one at 420 feasible nodes from there on.
        assert_eq!(placed.why[1].as_ref().unwrap().scores.len(), 420);
        assert_eq!(cursor, (1_000 + 2 * 420) % 1_000);
        assert!(placed.node[1].is_some_and(|j| j < 420) && placed.node[2].is_some_and(|j| (420..840).contains(&j)));
    }

    #[test]
    fn fit_error_from_the_nodes_equals_the_message_from_every_verdict() {
        let mut nodes: Vec<NodeInfo> = (0..12).map(|j| node(&format!("pin-{}", j + 1), 4000, 8)).collect();
        nodes[0].unschedulable = true;
        nodes[1].taints.push(Taint::new("node.kubernetes.io/unreachable", Taint::NO_EXECUTE));
        nodes[2].taints.push(Taint::new("node.kubernetes.io/unreachable", Taint::NO_EXECUTE));
        nodes[3].taints.push(Taint::new("dedicated", Taint::NO_SCHEDULE));
        nodes[4].requested = Resources { cpu_milli: 3_900, memory_milli: 0, pods: 0 };
        nodes[5].requested = Resources { cpu_milli: 3_900, memory_milli: 8 << 30 << 10, pods: 0 };
        nodes[6].requested = Resources { cpu_milli: 0, memory_milli: 0, pods: 110 };
        nodes[7].requested = Resources { cpu_milli: 3_900, memory_milli: 0, pods: 0 };
        let pod = pod_named("p", 500);
        let mut picky = pod_named("picky", 100);
        picky.node_selector.insert("disk".into(), "ssd".into());
        for pod in [pod, picky] {
            let verdicts: Vec<Verdict> = nodes.iter().map(|n| run_filters(&pod, n)).collect();
            assert_eq!(fit_error_for(&pod, &nodes), fit_error_message(&verdicts));
            let static_fit = StaticFit::of(&pod, &nodes);
            assert_eq!(static_fit.fit_error(&pod, &nodes), fit_error_message(&verdicts));
            let potential: Vec<usize> = (0..nodes.len()).filter(|&j| passes_static_filters(&pod, &nodes[j])).collect();
            assert_eq!(static_fit.potential(&pod, &nodes), potential);
        }
        assert_eq!(fit_error_for(&pod_named("p", 1), &[]), "0/0 nodes are available.");
    }

    #[test]
    fn failed_scheduling_message_matches_upstream_format() {
        let taint = Verdict::Unfit {
            plugin: "TaintToleration",
            reasons: vec!["node(s) had untolerated taint {node.kubernetes.io/unreachable: }".into()],
        };
        let cpu = Verdict::Unfit { plugin: "NodeResourcesFit", reasons: vec!["Insufficient cpu".into()] };
        let verdicts: Vec<Verdict> = std::iter::repeat_n(taint, 3).chain(std::iter::repeat_n(cpu, 7)).collect();
        assert_eq!(
            fit_error_message(&verdicts),
            "0/10 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 7 Insufficient cpu."
        );
        assert_eq!(fit_error_message(&[]), "0/0 nodes are available.");
    }
}
