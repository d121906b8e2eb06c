//! The `flow` policy: place the whole pending batch at once, as a min-cost flow — the approach
//! of Quincy (Isard et al., SOSP 2009) and Firmament (Gog et al., OSDI 2016). Where the other
//! policies place one pod at a time and never revisit a choice, the flow weighs every pod against
//! every node together and finds the cheapest assignment of the whole batch for its cost model.
//!
//! ## The network (one per priority level, highest first)
//!
//! ```text
//!  class c ──(cap: how many of c fit on n alone, cost: 100 × (100 − LeastAllocated))──> node n
//!  (supply:                                                                              │
//!   its pods)   node n ──(k unit arcs: the 1st costs 0, the 2nd Δn, the 3rd 2Δn, …)───> sink
//!     │                                                                         (demand: all)
//!     └──────────────(cap: its pods, cost: U, larger than any placement)──────────────> sink
//! ```
//!
//! - Pods with the same requests, tolerations and nodeSelector form a **class** (Firmament's
//!   equivalence classes): they are interchangeable, so the network has one node per class, not
//!   per pod, and stays small on big lanes.
//! - A pod's arc cost is its LeastAllocated score on the node *before the batch*, turned into a
//!   cost (in hundredths of a score point). On its own that would pour the whole batch onto the
//!   emptiest node; the **slot arcs** add the rest: the m-th batch pod on a node pays `(m−1)·Δ`,
//!   where Δ is how much one typical pod of the batch lowers that node's LeastAllocated score.
//!   The cost is convex in the number of pods per node, so the optimum spreads load the way
//!   placing them one by one with LeastAllocated would — exactly so for a batch of identical pods,
//!   up to integer rounding — but chosen for the batch as a whole.
//! - The **unscheduled** arc lets an infeasible batch still solve: a pod that cannot be placed
//!   pays `U`. Because `U` exceeds any placement's cost, the flow places as many pods as the
//!   capacities allow before it optimises where.
//! - **Priority** is strict, as upstream's queue: each priority level is solved in turn on what
//!   the levels above it left, so a low-priority pod never takes room a higher one needed.
//!
//! ## Multi-resource fit, honestly
//!
//! Capacities in a flow are one number per arc, but a node has cpu, memory and a pod count. We
//! give each class→node arc the exact count of that class that fits on the node alone, and each
//! node `k` slots, a bound computed from the batch's smallest requests. For a single class that
//! is exact. A mix of classes can still overcommit a node (each fits, together they do not), so
//! after solving we **check every node** and, where the assigned pods do not fit, cut its slots to
//! the number that fits taken smallest first, and solve again (at most [`MAX_RESOLVES`] times).
//! Each cut lowers a slot count, so this ends. The first solve is optimal for the true problem
//! whenever it needs no cut (it solves a relaxation and its answer is feasible); after a cut the
//! answer is feasible but may not be optimal (vector bin packing is NP-hard; we do not pretend).
//! Pods the flow leaves out are finally offered, one by one, to the node with the best
//! LeastAllocated score that fits them, so nothing that fits stays pending.
//!
//! ## The solver
//!
//! Successive shortest paths with node potentials (Dijkstra on reduced costs), augmenting along
//! every shortest path of a round at once (a blocking flow on the zero-reduced-cost arcs, as in
//! Dinic's algorithm): the primal-dual method. Arcs are scanned in insertion order, so ties break
//! the same way every run.

use super::framework::{
    Explanation, LeastAllocated, NodeInfo, NodeScore, Placement, PluginScore, PodInfo, Resources, ScorePlugin,
    add_request, fits, passes_static_filters,
};
use crate::cluster::objects::Toleration;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};

// ---------------------------------------------------------------------------------------------
// Min-cost flow: the instance and the solver
// ---------------------------------------------------------------------------------------------

/// A node of a flow network: positive supply is a source, negative a demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowNode {
    pub id: usize,
    pub supply: i64,
}

/// A directed arc with a capacity and a cost per unit of flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FlowArc {
    pub from: usize,
    pub to: usize,
    pub capacity: i64,
    pub cost: i64,
}

/// A min-cost flow instance. Its JSON is what `pinsetter bench --dump-flow` writes, so another
/// solver can check our answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    pub nodes: Vec<FlowNode>,
    pub arcs: Vec<FlowArc>,
}

impl Network {
    pub fn add_node(&mut self, supply: i64) -> usize {
        let id = self.nodes.len();
        self.nodes.push(FlowNode { id, supply });
        id
    }

    pub fn add_arc(&mut self, from: usize, to: usize, capacity: i64, cost: i64) -> usize {
        self.arcs.push(FlowArc { from, to, capacity, cost });
        self.arcs.len() - 1
    }

    /// Several instances side by side as one (ids renumbered): its optimum is the sum of theirs.
    pub fn disjoint_union<'a>(parts: impl IntoIterator<Item = &'a Network>) -> Network {
        let mut all = Network::default();
        for part in parts {
            let offset = all.nodes.len();
            for node in &part.nodes {
                all.add_node(node.supply);
            }
            for arc in &part.arcs {
                all.add_arc(arc.from + offset, arc.to + offset, arc.capacity, arc.cost);
            }
        }
        all
    }
}

/// Why an instance cannot be solved. The scheduler's own networks never hit these (every pod
/// has an `unscheduled` arc), but a caller handing us any network may.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// Supplies must sum to zero: every unit that leaves a source arrives at a demand.
    #[error("supplies sum to {0}, not to zero")]
    Unbalanced(i64),
    /// A node's `id` is not its position in the list.
    #[error("node at position {position} has id {id}")]
    BadNodeId { position: usize, id: usize },
    /// An arc names a node that does not exist.
    #[error("arc {arc} joins {from} → {to}, but there are only {nodes} nodes")]
    NoSuchNode { arc: usize, from: usize, to: usize, nodes: usize },
    /// The solver needs non-negative capacities and costs (ours always are).
    #[error("arc {arc} has a negative capacity or cost")]
    Negative { arc: usize },
    /// The arcs cannot carry every unit of supply to a demand.
    #[error("only {routed} of {supply} units of supply can reach a demand")]
    Infeasible { routed: i64, supply: i64 },
}

/// An optimal flow: its cost, the flow on each arc (same indexes as the network's arcs), and how
/// many shortest-path rounds it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solution {
    pub cost: i64,
    pub flow: Vec<i64>,
    pub rounds: usize,
}

/// Solves a min-cost flow instance exactly.
pub fn solve(network: &Network) -> Result<Solution, FlowError> {
    let n = network.nodes.len();
    for (position, node) in network.nodes.iter().enumerate() {
        if node.id != position {
            return Err(FlowError::BadNodeId { position, id: node.id });
        }
    }
    let total: i64 = network.nodes.iter().map(|v| v.supply).sum();
    if total != 0 {
        return Err(FlowError::Unbalanced(total));
    }
    for (arc, a) in network.arcs.iter().enumerate() {
        if a.from >= n || a.to >= n {
            return Err(FlowError::NoSuchNode { arc, from: a.from, to: a.to, nodes: n });
        }
        if a.capacity < 0 || a.cost < 0 {
            return Err(FlowError::Negative { arc });
        }
    }
    // A super source feeds every supply and a super sink drains every demand.
    let (source, sink) = (n, n + 1);
    let mut graph = Residual::with_nodes(n + 2);
    for a in &network.arcs {
        graph.add(a.from, a.to, a.capacity, a.cost);
    }
    let mut supply = 0;
    for v in &network.nodes {
        if v.supply > 0 {
            graph.add(source, v.id, v.supply, 0);
            supply += v.supply;
        } else if v.supply < 0 {
            graph.add(v.id, sink, -v.supply, 0);
        }
    }
    graph.finish();
    let (routed, rounds) = graph.primal_dual(source, sink);
    if routed < supply {
        return Err(FlowError::Infeasible { routed, supply });
    }
    let flow: Vec<i64> = network.arcs.iter().enumerate().map(|(k, a)| a.capacity - graph.cap[2 * k]).collect();
    let cost = network.arcs.iter().zip(&flow).map(|(a, f)| a.cost * f).sum();
    Ok(Solution { cost, flow, rounds })
}

/// The residual graph: edge `2k` is the k-th arc, `2k+1` its reverse; out-edges in CSR form.
struct Residual {
    head: Vec<u32>,
    tail: Vec<u32>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    first: Vec<u32>,
    adj: Vec<u32>,
}

const INFINITE: i64 = i64::MAX / 4;

impl Residual {
    fn with_nodes(n: usize) -> Residual {
        Residual {
            head: Vec::new(),
            tail: Vec::new(),
            cap: Vec::new(),
            cost: Vec::new(),
            first: vec![0; n + 1],
            adj: Vec::new(),
        }
    }

    fn add(&mut self, from: usize, to: usize, capacity: i64, cost: i64) {
        for (h, t, c, w) in [(to, from, capacity, cost), (from, to, 0, -cost)] {
            self.head.push(h as u32);
            self.tail.push(t as u32);
            self.cap.push(c);
            self.cost.push(w);
        }
    }

    /// Groups the edges by their tail (a counting sort, keeping insertion order within a node).
    fn finish(&mut self) {
        let n = self.first.len() - 1;
        let mut count = vec![0u32; n + 1];
        for &t in &self.tail {
            count[t as usize + 1] += 1;
        }
        for v in 0..n {
            count[v + 1] += count[v];
        }
        self.first.copy_from_slice(&count);
        let mut next = count;
        self.adj = vec![0; self.tail.len()];
        for (e, &t) in self.tail.iter().enumerate() {
            self.adj[next[t as usize] as usize] = e as u32;
            next[t as usize] += 1;
        }
    }

    fn edges(&self, v: usize) -> std::ops::Range<usize> {
        self.first[v] as usize..self.first[v + 1] as usize
    }

    /// Sends as much flow as possible from `s` to `t` at least cost; returns (flow, rounds).
    fn primal_dual(&mut self, s: usize, t: usize) -> (i64, usize) {
        let n = self.first.len() - 1;
        let mut potential = vec![0i64; n];
        let mut dist = vec![INFINITE; n];
        let mut level = vec![-1i32; n];
        let mut cursor = vec![0usize; n];
        let mut heap = BinaryHeap::new();
        let mut queue = VecDeque::new();
        let mut path = Vec::new();
        let (mut flow, mut rounds) = (0, 0);
        loop {
            // Shortest distances on reduced costs (all ≥ 0 thanks to the potentials).
            dist.fill(INFINITE);
            dist[s] = 0;
            heap.push(Reverse((0i64, s)));
            while let Some(Reverse((d, u))) = heap.pop() {
                if d > dist[u] {
                    continue;
                }
                if u == t {
                    break;
                }
                for i in self.edges(u) {
                    let e = self.adj[i] as usize;
                    if self.cap[e] > 0 {
                        let v = self.head[e] as usize;
                        let nd = d + self.cost[e] + potential[u] - potential[v];
                        if nd < dist[v] {
                            dist[v] = nd;
                            heap.push(Reverse((nd, v)));
                        }
                    }
                }
            }
            heap.clear();
            if dist[t] >= INFINITE {
                return (flow, rounds);
            }
            rounds += 1;
            // Nodes beyond t's distance move by t's distance: reduced costs stay ≥ 0 everywhere
            // and every shortest s–t path is now made of zero-reduced-cost edges.
            let to_t = dist[t];
            for v in 0..n {
                potential[v] += dist[v].min(to_t);
            }
            // Blocking flows on the admissible (zero-reduced-cost) subgraph, level by level.
            loop {
                level.fill(-1);
                level[s] = 0;
                queue.push_back(s);
                while let Some(u) = queue.pop_front() {
                    for i in self.edges(u) {
                        let e = self.adj[i] as usize;
                        let v = self.head[e] as usize;
                        if level[v] < 0 && self.admissible(e, &potential) {
                            level[v] = level[u] + 1;
                            queue.push_back(v);
                        }
                    }
                }
                if level[t] < 0 {
                    break;
                }
                for (c, &f) in cursor.iter_mut().zip(&self.first) {
                    *c = f as usize;
                }
                loop {
                    let pushed = self.augment(s, t, &mut level, &mut cursor, &potential, &mut path);
                    if pushed == 0 {
                        break;
                    }
                    flow += pushed;
                }
            }
        }
    }

    fn admissible(&self, e: usize, potential: &[i64]) -> bool {
        self.cap[e] > 0 && self.cost[e] + potential[self.tail[e] as usize] - potential[self.head[e] as usize] == 0
    }

    /// Finds one path along the level graph (iteratively: no recursion depth to worry about)
    /// and pushes its bottleneck. Returns 0 when none is left.
    fn augment(
        &mut self,
        s: usize,
        t: usize,
        level: &mut [i32],
        cursor: &mut [usize],
        potential: &[i64],
        path: &mut Vec<usize>,
    ) -> i64 {
        path.clear();
        let mut u = s;
        loop {
            if u == t {
                let pushed = path.iter().map(|&e| self.cap[e]).min().unwrap_or(0);
                for &e in path.iter() {
                    self.cap[e] -= pushed;
                    self.cap[e ^ 1] += pushed;
                }
                return pushed;
            }
            let mut advanced = false;
            while cursor[u] < self.first[u + 1] as usize {
                let e = self.adj[cursor[u]] as usize;
                let v = self.head[e] as usize;
                if level[v] == level[u] + 1 && self.admissible(e, potential) {
                    path.push(e);
                    u = v;
                    advanced = true;
                    break;
                }
                cursor[u] += 1;
            }
            if !advanced {
                if u == s {
                    return 0;
                }
                level[u] = -1;
                let Some(e) = path.pop() else { return 0 };
                u = self.tail[e] as usize;
                cursor[u] += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The scheduling model
// ---------------------------------------------------------------------------------------------

/// Costs are in hundredths of a score point, so the load penalty can be finer than one point.
pub const COST_SCALE: i64 = 100;
/// At most this many solves per priority level while cutting overcommitted nodes' slots.
pub const MAX_RESOLVES: usize = 16;
/// The smallest cost of leaving a pod unscheduled (larger when placements could cost more).
pub const MIN_UNSCHEDULED_COST: i64 = 1_000_000;

/// A class→node arc: how many of the class fit on the node alone, and what each costs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementArc {
    pub class: usize,
    /// Index into [`TierModel::candidates`].
    pub candidate: usize,
    pub capacity: i64,
    /// The class's LeastAllocated score on the node before the batch.
    pub score: i64,
    pub cost: i64,
}

/// One priority level's pods as a flow network, and how to read the answer back.
#[derive(Debug, Clone, PartialEq)]
pub struct TierModel {
    pub priority: i32,
    /// Pods (indexes into the batch) grouped into classes of identical needs, in batch order.
    pub classes: Vec<Vec<usize>>,
    /// Node indexes (into the snapshot) that can take at least one pod, in rack order.
    pub candidates: Vec<usize>,
    /// Slots per candidate: how many of this level's pods it may take in total.
    pub slots: Vec<i64>,
    /// The load penalty Δ per candidate: the m-th pod there pays `(m−1)·Δ`.
    pub penalty: Vec<i64>,
    pub arcs: Vec<PlacementArc>,
    pub unscheduled_cost: i64,
}

type ClassKey<'a> = (
    i64,
    i64,
    &'a [Toleration],
    &'a BTreeMap<String, String>,
    Option<&'a super::volume_binding::PodVolumes>,
    Option<&'a super::pod_constraints::PodConstraints>,
);

impl TierModel {
    /// Builds the network's data for `members` (all of one priority) on `nodes` as they stand.
    /// `slot_limits` caps the slots of nodes found overcommitted by an earlier solve.
    pub fn build(
        pods: &[PodInfo],
        members: &[usize],
        nodes: &[NodeInfo],
        slot_limits: &BTreeMap<usize, i64>,
    ) -> TierModel {
        let priority = members.first().map_or(0, |&i| pods[i].priority);
        let mut index: BTreeMap<ClassKey, usize> = BTreeMap::new();
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for &i in members {
            let p = &pods[i];
            let key = (
                p.requests.cpu_milli,
                p.requests.memory_milli,
                p.tolerations.as_slice(),
                &p.node_selector,
                p.volumes.as_deref(),
                p.constraints.as_deref(),
            );
            let next = classes.len();
            let c = *index.entry(key).or_insert(next);
            if c == classes.len() {
                classes.push(Vec::new());
            }
            classes[c].push(i);
        }
        let batch = members.len() as i64;
        let typical = Resources {
            cpu_milli: members.iter().map(|&i| pods[i].requests.cpu_milli).sum::<i64>() / batch.max(1),
            memory_milli: members.iter().map(|&i| pods[i].requests.memory_milli).sum::<i64>() / batch.max(1),
            pods: 1,
        };
        let mut model = TierModel {
            priority,
            classes,
            candidates: Vec::new(),
            slots: Vec::new(),
            penalty: Vec::new(),
            arcs: Vec::new(),
            unscheduled_cost: MIN_UNSCHEDULED_COST,
        };
        let mut max_path = 0;
        for (j, node) in nodes.iter().enumerate() {
            let free = node.free();
            if free.pods < 1 {
                continue;
            }
            let candidate = model.candidates.len();
            let mut arcs = Vec::new();
            let (mut smallest_cpu, mut smallest_memory) = (i64::MAX, i64::MAX);
            for (c, members) in model.classes.iter().enumerate() {
                let rep = &pods[members[0]];
                if !passes_static_filters(rep, node) {
                    continue;
                }
                let r = &rep.requests;
                let capacity = free
                    .pods
                    .min(fit_count(free.cpu_milli, r.cpu_milli))
                    .min(fit_count(free.memory_milli, r.memory_milli))
                    .min(members.len() as i64);
                if capacity < 1 {
                    continue;
                }
                smallest_cpu = smallest_cpu.min(r.cpu_milli);
                smallest_memory = smallest_memory.min(r.memory_milli);
                let score = LeastAllocated.score(rep, node);
                arcs.push(PlacementArc { class: c, candidate, capacity, score, cost: COST_SCALE * (100 - score) });
            }
            if arcs.is_empty() {
                continue;
            }
            let slots = free
                .pods
                .min(batch)
                .min(arcs.iter().map(|a| a.capacity).sum())
                .min(fit_count(free.cpu_milli, smallest_cpu))
                .min(fit_count(free.memory_milli, smallest_memory))
                .min(slot_limits.get(&j).copied().unwrap_or(i64::MAX));
            if slots < 1 {
                continue;
            }
            let penalty = load_penalty(&typical, &node.allocatable);
            max_path = max_path.max(arcs.iter().map(|a| a.cost).max().unwrap_or(0) + (slots - 1) * penalty);
            model.candidates.push(j);
            model.slots.push(slots);
            model.penalty.push(penalty);
            model.arcs.extend(arcs);
        }
        model.unscheduled_cost = MIN_UNSCHEDULED_COST.max(max_path + 1);
        model
    }

    /// The flow network: classes (supply = their pods), candidates, and a sink (demand = all).
    pub fn network(&self) -> Network {
        let mut net = Network::default();
        let batch: i64 = self.classes.iter().map(|c| c.len() as i64).sum();
        for class in &self.classes {
            net.add_node(class.len() as i64);
        }
        let first_candidate = net.nodes.len();
        for _ in &self.candidates {
            net.add_node(0);
        }
        let sink = net.add_node(-batch);
        for a in &self.arcs {
            net.add_arc(a.class, first_candidate + a.candidate, a.capacity, a.cost);
        }
        for (c, class) in self.classes.iter().enumerate() {
            net.add_arc(c, sink, class.len() as i64, self.unscheduled_cost);
        }
        for (k, (&slots, &penalty)) in self.slots.iter().zip(&self.penalty).enumerate() {
            for m in 0..slots {
                net.add_arc(first_candidate + k, sink, 1, m * penalty);
            }
        }
        net
    }

    /// How many pods of each class the solution puts on each candidate (arcs in `self.arcs` order).
    fn counts(&self, solution: &Solution) -> Vec<i64> {
        solution.flow[..self.arcs.len()].to_vec()
    }

    /// Candidates whose assigned pods do not fit together, with the slot count that does fit
    /// (the assigned pods taken smallest first).
    fn overcommitted(&self, pods: &[PodInfo], nodes: &[NodeInfo], counts: &[i64]) -> Vec<(usize, i64)> {
        let mut per_candidate: Vec<Vec<(Resources, i64)>> = vec![Vec::new(); self.candidates.len()];
        for (a, &x) in self.arcs.iter().zip(counts) {
            if x > 0 {
                per_candidate[a.candidate].push((pods[self.classes[a.class][0]].requests, x));
            }
        }
        let mut over = Vec::new();
        for (k, mut assigned) in per_candidate.into_iter().enumerate() {
            let free = nodes[self.candidates[k]].free();
            let total = assigned
                .iter()
                .fold((0, 0, 0), |(c, m, p), (r, x)| (c + r.cpu_milli * x, m + r.memory_milli * x, p + x));
            if total.0 <= free.cpu_milli && total.1 <= free.memory_milli && total.2 <= free.pods {
                continue;
            }
            assigned.sort_by_key(|(r, _)| (r.cpu_milli, r.memory_milli));
            let (mut cpu, mut memory, mut fit) = (0, 0, 0);
            'fill: for (r, x) in assigned {
                for _ in 0..x {
                    if fit + 1 > free.pods
                        || cpu + r.cpu_milli > free.cpu_milli
                        || memory + r.memory_milli > free.memory_milli
                    {
                        break 'fill;
                    }
                    cpu += r.cpu_milli;
                    memory += r.memory_milli;
                    fit += 1;
                }
            }
            over.push((self.candidates[k], fit));
        }
        over
    }

    /// The model's cost of an assignment (per pod of the batch: a node index, or `None`), or
    /// `None` if the network cannot express it (no arc, or more pods than arcs or slots allow).
    /// For checking the solver against brute force.
    pub fn cost_of(&self, assignment: &[Option<usize>]) -> Option<i64> {
        let mut cost = 0;
        let mut on_arc = vec![0i64; self.arcs.len()];
        let mut on_candidate = vec![0i64; self.candidates.len()];
        for (c, class) in self.classes.iter().enumerate() {
            for &i in class {
                match assignment[i] {
                    None => cost += self.unscheduled_cost,
                    Some(node) => {
                        let k = self.candidates.iter().position(|&j| j == node)?;
                        let a = self.arcs.iter().position(|a| a.class == c && a.candidate == k)?;
                        on_arc[a] += 1;
                        on_candidate[k] += 1;
                        cost += self.arcs[a].cost;
                    }
                }
            }
        }
        for (a, &x) in on_arc.iter().enumerate() {
            if x > self.arcs[a].capacity {
                return None;
            }
        }
        for (k, &x) in on_candidate.iter().enumerate() {
            if x > self.slots[k] {
                return None;
            }
            cost += self.penalty[k] * x * (x - 1) / 2;
        }
        Some(cost)
    }
}

/// How many requests of `each` fit in `free` (unbounded for a request of zero).
fn fit_count(free: i64, each: i64) -> i64 {
    if each <= 0 { i64::MAX } else { (free / each).max(0) }
}

/// Δ: how much one typical pod lowers a node's LeastAllocated score, in cost units (the mean
/// over cpu and memory of `100 × request / allocatable`, scaled by [`COST_SCALE`]).
fn load_penalty(typical: &Resources, allocatable: &Resources) -> i64 {
    let drop = |request: i64, capacity: i64| {
        if capacity <= 0 {
            0
        } else {
            (i128::from(request) * 100 * i128::from(COST_SCALE) / i128::from(capacity)) as i64
        }
    };
    (drop(typical.cpu_milli, allocatable.cpu_milli) + drop(typical.memory_milli, allocatable.memory_milli)) / 2
}

// ---------------------------------------------------------------------------------------------
// The policy
// ---------------------------------------------------------------------------------------------

/// What one priority level's solve did, for `bench` and the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct TierReport {
    pub priority: i32,
    pub pods: usize,
    /// The cost of the last network solved (the one `network` holds when kept).
    pub cost: i64,
    /// Solves it took (more than one when a node was overcommitted and its slots were cut).
    pub solves: usize,
    pub rounds: usize,
    /// Pods placed by the one-by-one fallback after the flow left them out.
    pub fallback: usize,
    pub network: Option<Network>,
}

/// A batch placed by the flow policy, with what each level's solve did.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowOutcome {
    pub placement: Placement,
    pub tiers: Vec<TierReport>,
}

impl FlowOutcome {
    /// The sum of every level's cost: the objective the flow minimised.
    pub fn cost(&self) -> i64 {
        self.tiers.iter().map(|t| t.cost).sum()
    }
}

/// The policy's entry point for the scheduler.
pub fn place_batch(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool) -> Placement {
    solve_batch(pods, nodes, record, false).placement
}

/// Places the batch level by level (priority desc); `nodes` are updated with every binding.
/// `keep_networks` keeps each level's last network in its report (for `--dump-flow`).
pub fn solve_batch(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool, keep_networks: bool) -> FlowOutcome {
    let mut levels: BTreeMap<Reverse<i32>, Vec<usize>> = BTreeMap::new();
    for (i, p) in pods.iter().enumerate() {
        levels.entry(Reverse(p.priority)).or_default().push(i);
    }
    let mut placement = Placement::empty(pods.len());
    let mut left_out = Vec::new();
    let mut tiers = Vec::new();
    for (Reverse(priority), members) in levels {
        let mut limits = BTreeMap::new();
        let mut solves = 0;
        let (model, network, solution, counts) = loop {
            let model = TierModel::build(pods, &members, nodes, &limits);
            let network = model.network();
            solves += 1;
            // Our networks are balanced, non-negative and always feasible (every class has its
            // unscheduled arc); should that ever break, the pods fall through to the fallback.
            let solution =
                solve(&network).unwrap_or_else(|_| Solution { cost: 0, flow: vec![0; network.arcs.len()], rounds: 0 });
            let counts = model.counts(&solution);
            let over = model.overcommitted(pods, nodes, &counts);
            if over.is_empty() || solves >= MAX_RESOLVES {
                break (model, network, solution, counts);
            }
            limits.extend(over);
        };
        // Read the answer back: a class's pods go to its nodes in batch order and rack order.
        let mut load = vec![0usize; model.candidates.len()];
        let mut placed_here = Vec::new();
        for (c, class) in model.classes.iter().enumerate() {
            let mut members = class.iter();
            for (a, &x) in model.arcs.iter().zip(&counts) {
                if a.class != c {
                    continue;
                }
                let node = model.candidates[a.candidate];
                for _ in 0..x {
                    let Some(&i) = members.next() else { break };
                    // Only reachable when the solve budget ran out on an overcommitted node.
                    if !fits(&pods[i], &nodes[node]) {
                        left_out.push(i);
                        continue;
                    }
                    add_request(&mut nodes[node], &pods[i].requests);
                    load[a.candidate] += 1;
                    placement.node[i] = Some(node);
                    placed_here.push(i);
                    if record {
                        placement.why[i] = Some(explain(&model, c, &solution, nodes, Some((node, load[a.candidate]))));
                    }
                }
            }
            left_out.extend(members.copied());
        }
        // Nothing that fits stays pending: offer the left-out pods one by one to the node with
        // the best LeastAllocated score (they may fit now that the slots were cut).
        let mut fallback = 0;
        left_out.sort_unstable();
        for i in std::mem::take(&mut left_out) {
            let best = nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| fits(&pods[i], n))
                .max_by_key(|&(j, n)| (LeastAllocated.score(&pods[i], n), Reverse(j)))
                .map(|(j, _)| j);
            let c = model.classes.iter().position(|class| class.contains(&i)).unwrap_or(0);
            match best {
                Some(j) => {
                    add_request(&mut nodes[j], &pods[i].requests);
                    placement.node[i] = Some(j);
                    placed_here.push(i);
                    fallback += 1;
                    if record {
                        let mut why = explain(&model, c, &solution, nodes, None);
                        why.note = format!(
                            "flow left it out of the batch (a cut node's slots); placed afterwards by LeastAllocated on {}",
                            nodes[j].name
                        );
                        placement.why[i] = Some(why);
                    }
                }
                None => {
                    left_out.push(i);
                    if record {
                        placement.why[i] = Some(explain(&model, c, &solution, nodes, None));
                    }
                }
            }
        }
        placed_here.sort_unstable();
        placement.order.extend(placed_here);
        tiers.push(TierReport {
            priority,
            pods: members.len(),
            cost: solution.cost,
            solves,
            rounds: solution.rounds,
            fallback,
            network: keep_networks.then_some(network),
        });
    }
    // Pods left pending come last, so their verdicts are taken on the cycle's final state.
    placement.order.extend(left_out);
    FlowOutcome { placement, tiers }
}

/// The record for one pod of class `c`: every node it had an arc to, with the arc's score.
fn explain(
    model: &TierModel,
    c: usize,
    solution: &Solution,
    nodes: &[NodeInfo],
    at: Option<(usize, usize)>,
) -> Explanation {
    let scores = model
        .arcs
        .iter()
        .filter(|a| a.class == c)
        .map(|a| {
            let score = PluginScore { plugin: LeastAllocated.name(), weight: 1, score: a.score };
            NodeScore {
                node: nodes[model.candidates[a.candidate]].name.to_string(),
                plugins: vec![score],
                total: a.score,
            }
        })
        .collect();
    let batch: usize = model.classes.iter().map(Vec::len).sum();
    let note = match at {
        Some((node, m)) => format!(
            "flow: one min-cost flow over the {batch} pod(s) at priority {} (cost {}): arc cost 100×(100 − LeastAllocated), plus {} per earlier batch pod on the node; this pod is the batch's #{m} on {}",
            model.priority,
            solution.cost,
            model.candidates.iter().position(|&j| j == node).map_or(0, |k| model.penalty[k]),
            nodes[node].name
        ),
        None => format!(
            "flow: sent to 'unscheduled' in the min-cost flow over the {batch} pod(s) at priority {}: no room left for it",
            model.priority
        ),
    };
    Explanation { scores, note }
}

#[cfg(test)]
mod tests {
    use super::super::framework::tests::{node, pod_named as pod};
    use super::*;

    fn network(supplies: &[i64], arcs: &[(usize, usize, i64, i64)]) -> Network {
        let mut net = Network::default();
        for &s in supplies {
            net.add_node(s);
        }
        for &(from, to, capacity, cost) in arcs {
            net.add_arc(from, to, capacity, cost);
        }
        net
    }

    #[test]
    fn solver_finds_the_cheapest_routing() {
        // Two units from 0 to 3: the direct arc takes one at cost 5, the detour one at 1+1+1.
        let net = network(&[2, 0, 0, -2], &[(0, 3, 1, 5), (0, 1, 2, 1), (1, 2, 1, 1), (2, 3, 2, 1), (1, 3, 1, 9)]);
        let solution = solve(&net).unwrap();
        assert_eq!(solution.cost, 8);
        assert_eq!(solution.flow, [1, 1, 1, 1, 0]);
    }

    #[test]
    fn solver_explains_what_it_cannot_solve() {
        assert_eq!(solve(&network(&[1, 0], &[])), Err(FlowError::Unbalanced(1)));
        assert_eq!(solve(&network(&[1, -1], &[])), Err(FlowError::Infeasible { routed: 0, supply: 1 }));
        assert_eq!(solve(&network(&[1, -1], &[(0, 1, 1, -1)])), Err(FlowError::Negative { arc: 0 }));
        assert!(matches!(solve(&network(&[0], &[(0, 3, 1, 1)])), Err(FlowError::NoSuchNode { .. })));
    }

    #[test]
    fn a_batch_of_identical_pods_is_spread_by_the_slot_costs() {
        // a is empty, b already half full: four pods go 3 to a and 1 to b... or whatever the
        // model says is cheapest — check it against every possible assignment.
        let mut nodes = vec![node("a", 4000, 8), node("b", 4000, 8)];
        nodes[1].requested = Resources { cpu_milli: 1000, memory_milli: 1000 << 21 << 10, pods: 1 };
        let pods: Vec<PodInfo> = (0..4).map(|i| pod(&format!("p{i}"), 500)).collect();
        let before = nodes.clone();
        let outcome = solve_batch(&pods, &mut nodes, true, true);
        let placed = &outcome.placement.node;
        let on = |j| placed.iter().filter(|n| **n == Some(j)).count();
        assert_eq!((on(0), on(1)), (3, 1), "{placed:?}");
        let members: Vec<usize> = (0..4).collect();
        let model = TierModel::build(&pods, &members, &before, &BTreeMap::new());
        let mut best = i64::MAX;
        for code in 0..3usize.pow(4) {
            let assignment: Vec<Option<usize>> =
                (0..4).map(|i| [None, Some(0), Some(1)][code / 3usize.pow(i) % 3]).collect();
            if let Some(c) = model.cost_of(&assignment) {
                best = best.min(c);
            }
        }
        assert_eq!(outcome.cost(), best);
        assert_eq!(model.cost_of(placed), Some(best));
        assert!(outcome.placement.why[0].as_ref().unwrap().note.starts_with("flow: one min-cost flow"));
    }

    #[test]
    fn higher_priority_is_placed_first_and_the_rest_goes_unscheduled() {
        let mut nodes = vec![node("a", 1000, 8)];
        let mut pods: Vec<PodInfo> = (0..3).map(|i| pod(&format!("p{i}"), 500)).collect();
        pods[2].priority = 1000;
        let outcome = solve_batch(&pods, &mut nodes, false, false);
        assert_eq!(outcome.placement.node, [Some(0), None, Some(0)]);
        assert_eq!(outcome.tiers.len(), 2);
        // The pending pod comes last in the order, so its verdict is taken on the final state.
        assert_eq!(outcome.placement.order.last(), Some(&1));
    }

    #[test]
    fn a_mix_that_overcommits_is_cut_and_solved_again() {
        // Each class fits on a twice on its own, but 2 + 2 needs 1900m of a's 1800m: the first
        // solve overcommits a, the second (a cut to 3 slots) does not.
        let mut nodes = vec![node("a", 1800, 8)];
        let mut pods: Vec<PodInfo> = (0..2).map(|i| pod(&format!("big{i}"), 600)).collect();
        pods.extend((0..2).map(|i| pod(&format!("small{i}"), 350)));
        for p in &mut pods {
            p.requests.memory_milli = 0;
        }
        let outcome = solve_batch(&pods, &mut nodes, false, false);
        assert_eq!(outcome.tiers[0].solves, 2);
        assert!(nodes[0].requested.cpu_milli <= 1800, "{:?}", nodes[0].requested);
        assert_eq!(outcome.placement.node.iter().filter(|n| n.is_some()).count(), 3, "{:?}", outcome.placement.node);
    }
}
