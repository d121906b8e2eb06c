//! The seed's greedy policy: order the pending batch by dominant resource share (largest first),
//! then priority (highest first), and bind each pod to the first node, in rack order, that passes
//! every filter.
//!
//! First fit is found with a max-tree over the nodes' free resources, so a batch of `p` pods on
//! `n` nodes costs about `p·log n` instead of `p·n`. Static filters (cordon, taints, selector) are
//! evaluated once per node for each distinct (tolerations, nodeSelector) class in the batch.

use super::framework::{
    Explanation, NodeInfo, Placement, PodInfo, Resources, passes_dynamic_filters, passes_static_filters,
};
use super::volume_binding::PodVolumes;
use std::collections::BTreeMap;

/// Dominant resource share in millionths: the larger of the pod's cpu and memory requests as a
/// fraction of the whole lane's allocatable (integer maths, so the order is exact and portable).
pub fn dominant_share(requests: &Resources, total: &Resources) -> i64 {
    // i64 when the product fits (any request below 9 TB of memory), i128 beyond.
    let share = |req: i64, total: i64| match req.checked_mul(1_000_000) {
        _ if total <= 0 => 0,
        Some(scaled) => scaled / total,
        None => ((req as i128 * 1_000_000) / total as i128) as i64,
    };
    share(requests.cpu_milli, total.cpu_milli).max(share(requests.memory_milli, total.memory_milli))
}

/// The order the greedy policy places a batch in: dominant share desc, priority desc, then the
/// order the pods arrived in (stable).
pub fn batch_order(pods: &[PodInfo], nodes: &[NodeInfo]) -> Vec<usize> {
    let total = nodes.iter().fold(Resources::default(), |acc, n| Resources {
        cpu_milli: acc.cpu_milli + n.allocatable.cpu_milli,
        memory_milli: acc.memory_milli + n.allocatable.memory_milli,
        pods: acc.pods + n.allocatable.pods,
    });
    // One integer per pod, ordered as (share desc, priority desc, index): the index makes the
    // keys distinct, so an unstable sort gives the stable order. Replicas share their requests,
    // so the share is computed once per run of them.
    let mut last: Option<(Resources, u64)> = None;
    let mut keyed: Vec<u128> = pods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let share = match last {
                Some((requests, share)) if requests == p.requests => share,
                _ => {
                    let share = !((dominant_share(&p.requests, &total) as u64) ^ (1 << 63));
                    last = Some((p.requests, share));
                    share
                }
            };
            let priority = !((p.priority as u32) ^ (1 << 31));
            (share as u128) << 64 | (priority as u128) << 32 | i as u128
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|key| key as u32 as usize).collect()
}

/// The policy's answer in the framework's terms: [`place_batch`], in [`batch_order`]. Greedy
/// does not score, so the record is the filters' verdicts (kept by the scheduler) and a note.
pub fn place(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool) -> Placement {
    let order = batch_order(pods, nodes);
    let node = place_in_order(pods, nodes, &order);
    let why = pods
        .iter()
        .zip(&node)
        .map(|(_, n)| {
            record.then(|| Explanation {
                scores: Vec::new(),
                note: match n {
                    Some(_) => "greedy: the first node in rack order that passes every filter".into(),
                    None => "greedy: no node passes every filter".into(),
                },
            })
        })
        .collect();
    Placement { node, order, why }
}

/// What the static filters look at in a pod: tolerations, nodeSelector and claims.
type StaticClass<'a> = (
    &'a [crate::cluster::objects::Toleration],
    &'a BTreeMap<String, String>,
    Option<&'a PodVolumes>,
    Option<&'a super::pod_constraints::PodConstraints>,
);

/// Places the batch; returns, per pod (same indexes as `pods`), the chosen node's index.
/// `nodes[..].requested` is updated with every binding, so the caller sees the outcome.
pub fn place_batch(pods: &[PodInfo], nodes: &mut [NodeInfo]) -> Vec<Option<usize>> {
    let order = batch_order(pods, nodes);
    place_in_order(pods, nodes, &order)
}

fn place_in_order(pods: &[PodInfo], nodes: &mut [NodeInfo], order: &[usize]) -> Vec<Option<usize>> {
    let mut classes: BTreeMap<StaticClass, usize> = BTreeMap::new();
    let mut class_of = Vec::with_capacity(pods.len());
    let mut last: Option<(StaticClass, usize)> = None;
    for pod in pods {
        let class =
            (pod.tolerations.as_slice(), &pod.node_selector, pod.volumes.as_deref(), pod.constraints.as_deref());
        // Replicas come in runs: the map is asked once per run.
        let number = match last {
            Some((previous, number)) if previous == class => number,
            _ => {
                let next = classes.len();
                *classes.entry(class).or_insert(next)
            }
        };
        last = Some((class, number));
        class_of.push(number);
    }
    // One tree per class; `feasible[class][node]` remembers the static verdict.
    let mut representatives = vec![0usize; classes.len()];
    for (i, &c) in class_of.iter().enumerate().rev() {
        representatives[c] = i;
    }
    let feasible: Vec<Vec<bool>> = representatives
        .iter()
        .map(|&rep| nodes.iter().map(|n| passes_static_filters(&pods[rep], n)).collect())
        .collect();
    let mut trees: Vec<FirstFitTree> = feasible
        .iter()
        .map(|mask| FirstFitTree::new(nodes.iter().zip(mask).map(|(n, &ok)| ok.then(|| n.free()))))
        .collect();

    // Replicas of one template come one after another in the order, and for the next pod of the
    // same shape the first fit cannot lie left of the last one's (those nodes did not fit then
    // and have only filled since): so it is the last pod's node if that still fits, none if
    // the last found none, else a descent. A node's leaves are brought up to date only when
    // the batch moves on from it or descends, so a run of pods onto one node updates them once.
    let mut placement = vec![None; pods.len()];
    let mut last: Option<(usize, Option<usize>)> = None;
    let mut stale: Option<usize> = None;
    let refresh = |trees: &mut [FirstFitTree], nodes: &[NodeInfo], node: usize| {
        for (tree, mask) in trees.iter_mut().zip(&feasible) {
            if mask[node] {
                tree.update(node, Some(nodes[node].free()));
            }
        }
    };
    for &i in order {
        let pod = &pods[i];
        let repeat = last.filter(|&(j, _)| same_shape(&pods[j], class_of[j], pod, class_of[i]));
        let chosen = match repeat {
            Some((_, None)) => None,
            Some((_, Some(node))) if passes_dynamic_filters(pod, &nodes[node]) => Some(node),
            _ => {
                if let Some(node) = stale.take() {
                    refresh(&mut trees, nodes, node);
                }
                trees[class_of[i]].first_fit(pod, nodes)
            }
        };
        last = Some((i, chosen));
        let Some(node) = chosen else { continue };
        if let Some(previous) = stale.filter(|&s| s != node) {
            refresh(&mut trees, nodes, previous);
        }
        stale = Some(node);
        let n = &mut nodes[node];
        n.requested.cpu_milli += pod.requests.cpu_milli;
        n.requested.memory_milli += pod.requests.memory_milli;
        n.requested.pods += 1;
        placement[i] = Some(node);
    }
    placement
}

/// Whether `b` must land where `a` did or further right: the same static class (so the same
/// claims and constraints) and requests, and no claims or constraints (whose filters need not
/// shrink monotonically as nodes fill).
fn same_shape(a: &PodInfo, class_a: usize, b: &PodInfo, class_b: usize) -> bool {
    class_a == class_b && a.requests == b.requests && a.volumes.is_none() && a.constraints.is_none()
}

/// A segment tree of per-subtree maxima of free cpu, memory and pod slots. A subtree whose
/// maxima are all too small cannot hold a fitting node, so the leftmost fit is found by a
/// pruned descent. The tree only prunes: a leaf is taken only if the framework's filters
/// agree (the static ones through the class's mask, which keeps a failing node out of the
/// tree; the dynamic ones asked at the leaf), so every filter in the list binds greedy too.
struct FirstFitTree {
    leaves: usize,
    max: Vec<Resources>,
}

const NONE_FREE: Resources = Resources { cpu_milli: -1, memory_milli: -1, pods: -1 };

impl FirstFitTree {
    fn new(free: impl ExactSizeIterator<Item = Option<Resources>>) -> FirstFitTree {
        let leaves = free.len().next_power_of_two().max(1);
        let mut max = vec![NONE_FREE; 2 * leaves];
        for (i, f) in free.enumerate() {
            max[leaves + i] = f.unwrap_or(NONE_FREE);
        }
        for v in (1..leaves).rev() {
            max[v] = Self::join(max[2 * v], max[2 * v + 1]);
        }
        FirstFitTree { leaves, max }
    }

    fn join(a: Resources, b: Resources) -> Resources {
        Resources {
            cpu_milli: a.cpu_milli.max(b.cpu_milli),
            memory_milli: a.memory_milli.max(b.memory_milli),
            pods: a.pods.max(b.pods),
        }
    }

    fn could_fit(free: &Resources, req: &Resources) -> bool {
        free.pods >= 1 && free.cpu_milli >= req.cpu_milli && free.memory_milli >= req.memory_milli
    }

    fn update(&mut self, index: usize, free: Option<Resources>) {
        let mut v = self.leaves + index;
        self.max[v] = free.unwrap_or(NONE_FREE);
        while v > 1 {
            v /= 2;
            self.max[v] = Self::join(self.max[2 * v], self.max[2 * v + 1]);
        }
    }

    fn first_fit(&self, pod: &PodInfo, nodes: &[NodeInfo]) -> Option<usize> {
        self.descend(1, pod, nodes)
    }

    fn descend(&self, v: usize, pod: &PodInfo, nodes: &[NodeInfo]) -> Option<usize> {
        if !Self::could_fit(&self.max[v], &pod.requests) {
            return None;
        }
        if v >= self.leaves {
            let node = v - self.leaves;
            // The static filters passed for this pod's class when the tree was built.
            return passes_dynamic_filters(pod, &nodes[node]).then_some(node);
        }
        self.descend(2 * v, pod, nodes).or_else(|| self.descend(2 * v + 1, pod, nodes))
    }
}

#[cfg(test)]
mod tests {
    use super::super::framework::run_filters;
    use super::*;
    use crate::cluster::objects::{Readiness, Taint};
    use crate::cluster::store::ObjectKey;

    fn node(name: &str, cpu: i64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            allocatable: Resources { cpu_milli: cpu, memory_milli: 8 << 40, pods: 110 },
            requested: Resources::default(),
            taints: Default::default(),
            labels: Default::default(),
            unschedulable: false,
            readiness: Readiness::Ready,
        }
    }

    fn pod(name: &str, cpu: i64, priority: i32) -> PodInfo {
        PodInfo {
            key: ObjectKey::new("default", name),
            requests: Resources { cpu_milli: cpu, memory_milli: 1 << 30, pods: 1 },
            priority,
            tolerations: Default::default(),
            node_selector: BTreeMap::new(),
            volumes: None,
            constraints: None,
        }
    }

    #[test]
    fn orders_by_dominant_share_then_priority() {
        let nodes = vec![node("a", 4000)];
        let pods = vec![
            pod("small-negative", 100, -10),
            pod("small-low", 100, 0),
            pod("big", 2000, 0),
            pod("small-high", 100, 1000),
            pod("small-low-2", 100, 0),
        ];
        let order: Vec<&str> = batch_order(&pods, &nodes).into_iter().map(|i| pods[i].key.name.as_str()).collect();
        assert_eq!(order, ["big", "small-high", "small-low", "small-low-2", "small-negative"]);
    }

    #[test]
    fn places_each_pod_on_the_first_node_that_fits() {
        let mut nodes = vec![node("a", 1000), node("b", 3000), node("c", 3000)];
        nodes[1].taints.push(Taint::new(Taint::UNREACHABLE, Taint::NO_SCHEDULE));
        let pods = vec![pod("x", 2000, 0), pod("y", 800, 0), pod("z", 800, 0)];
        let placed = place_batch(&pods, &mut nodes);
        // x (largest) skips a (too small) and b (tainted); y fits a; z no longer fits a → c.
        assert_eq!(placed, [Some(2), Some(0), Some(2)]);
        assert_eq!(nodes[2].requested.cpu_milli, 2800);
    }

    /// Places `pods` on `nodes` with the batch and, one by one in the batch's order, with a
    /// linear scan through every filter: the two must agree pod for pod.
    fn assert_agrees_with_a_linear_scan(mut nodes: Vec<NodeInfo>, pods: &[PodInfo]) {
        let mut scan_nodes = nodes.clone();
        let placed = place_batch(pods, &mut nodes);
        for i in batch_order(pods, &scan_nodes.clone()) {
            let expect =
                scan_nodes.iter().position(|n| run_filters(&pods[i], n) == super::super::framework::Verdict::Fit);
            assert_eq!(placed[i], expect, "pod {i}");
            if let Some(n) = expect {
                scan_nodes[n].requested.cpu_milli += pods[i].requests.cpu_milli;
                scan_nodes[n].requested.memory_milli += pods[i].requests.memory_milli;
                scan_nodes[n].requested.pods += 1;
            }
        }
        assert_eq!(nodes, scan_nodes);
    }

    /// A deterministic pseudo-random stream for the instances below.
    fn lcg(mut state: u64) -> impl FnMut() -> i64 {
        move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as i64
        }
    }

    #[test]
    fn first_fit_tree_agrees_with_a_linear_scan() {
        let mut next = lcg(12345);
        let nodes: Vec<NodeInfo> = (0..37).map(|i| node(&format!("n{i}"), 500 + next() % 4000)).collect();
        let pods: Vec<PodInfo> =
            (0..300).map(|i| pod(&format!("p{i}"), 50 + next() % 1500, (next() % 3) as i32)).collect();
        assert_agrees_with_a_linear_scan(nodes, &pods);
    }

    #[test]
    fn runs_of_one_shape_land_where_a_linear_scan_puts_them() {
        // Few shapes, so runs of identical pods (the replicas of a Deployment) follow one
        // another; some nodes tainted and some pods tolerating it, so runs cross classes; more
        // pods than fit, so some runs find no node.
        let mut next = lcg(777);
        let nodes: Vec<NodeInfo> = (0..53)
            .map(|i| {
                let mut n = node(&format!("n{i}"), 1000 + next() % 3000);
                if next() % 4 == 0 {
                    n.taints.push(Taint::new("dedicated", Taint::NO_SCHEDULE));
                }
                n
            })
            .collect();
        let shapes = [(700, 0), (300, 5), (300, 0), (120, 0), (2500, 0)];
        let pods: Vec<PodInfo> = (0..900)
            .map(|i| {
                let (cpu, priority) = shapes[(next() % 5) as usize];
                let mut p = pod(&format!("p{i}"), cpu, priority);
                if next() % 3 == 0 {
                    p.tolerations = vec![crate::cluster::objects::Toleration {
                        key: "dedicated".into(),
                        operator: "Exists".into(),
                        ..Default::default()
                    }]
                    .into();
                }
                p
            })
            .collect();
        let placed = place_batch(&pods, &mut nodes.clone());
        assert!(placed.iter().any(Option::is_none) && placed.iter().filter(|p| p.is_some()).count() > 100);
        assert_agrees_with_a_linear_scan(nodes, &pods);
    }
}
