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
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// Dominant resource share in millionths: the larger of the pod's cpu and memory requests as a
/// fraction of the whole lane's allocatable (integer maths, so the order is exact and portable).
pub fn dominant_share(requests: &Resources, total: &Resources) -> i64 {
    let share = |req: i64, total: i64| if total <= 0 { 0 } else { ((req as i128 * 1_000_000) / total as i128) as i64 };
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
    let mut order: Vec<usize> = (0..pods.len()).collect();
    let keys: Vec<(i64, i32)> = pods.iter().map(|p| (dominant_share(&p.requests, &total), p.priority)).collect();
    order.sort_by_key(|&i| (Reverse(keys[i].0), Reverse(keys[i].1), i));
    order
}

/// The policy's answer in the framework's terms: [`place_batch`], in [`batch_order`]. Greedy
/// does not score, so the record is the filters' verdicts (kept by the scheduler) and a note.
pub fn place(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool) -> Placement {
    let order = batch_order(pods, nodes);
    let node = place_batch(pods, nodes);
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
    let mut classes: BTreeMap<StaticClass, usize> = BTreeMap::new();
    let mut class_of = Vec::with_capacity(pods.len());
    for pod in pods {
        let next = classes.len();
        class_of.push(
            *classes
                .entry((
                    pod.tolerations.as_slice(),
                    &pod.node_selector,
                    pod.volumes.as_deref(),
                    pod.constraints.as_deref(),
                ))
                .or_insert(next),
        );
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

    let mut placement = vec![None; pods.len()];
    for i in order {
        let pod = &pods[i];
        let Some(node) = trees[class_of[i]].first_fit(pod, nodes) else { continue };
        let n = &mut nodes[node];
        n.requested.cpu_milli += pod.requests.cpu_milli;
        n.requested.memory_milli += pod.requests.memory_milli;
        n.requested.pods += 1;
        let free = n.free();
        for (tree, mask) in trees.iter_mut().zip(&feasible) {
            if mask[node] {
                tree.update(node, Some(free));
            }
        }
        placement[i] = Some(node);
    }
    placement
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
            taints: vec![],
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
            pod("small-low", 100, 0),
            pod("big", 2000, 0),
            pod("small-high", 100, 1000),
            pod("small-low-2", 100, 0),
        ];
        let order: Vec<&str> = batch_order(&pods, &nodes).into_iter().map(|i| pods[i].key.name.as_str()).collect();
        assert_eq!(order, ["big", "small-high", "small-low", "small-low-2"]);
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

    #[test]
    fn first_fit_tree_agrees_with_a_linear_scan() {
        // Deterministic pseudo-random instance: the tree must pick exactly what a scan picks.
        let mut state = 12345u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as i64
        };
        let mut nodes: Vec<NodeInfo> = (0..37).map(|i| node(&format!("n{i}"), 500 + next() % 4000)).collect();
        let pods: Vec<PodInfo> =
            (0..300).map(|i| pod(&format!("p{i}"), 50 + next() % 1500, (next() % 3) as i32)).collect();
        let mut scan_nodes = nodes.clone();
        let placed = place_batch(&pods, &mut nodes);
        for i in batch_order(&pods, &scan_nodes.clone()) {
            let expect =
                scan_nodes.iter().position(|n| run_filters(&pods[i], n) == super::super::framework::Verdict::Fit);
            assert_eq!(placed[i], expect, "pod {i}");
            if let Some(n) = expect {
                scan_nodes[n].requested.cpu_milli += pods[i].requests.cpu_milli;
                scan_nodes[n].requested.memory_milli += pods[i].requests.memory_milli;
                scan_nodes[n].requested.pods += 1;
            }
        }
    }
}
