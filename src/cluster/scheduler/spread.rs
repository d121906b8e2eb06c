//! The `spread` policy, upstream's default profile in miniature: score every feasible node with
//! LeastAllocated (room left after the pod) and BalancedAllocation (cpu and memory used in step),
//! weight 1 each, and bind to the highest total, one pod at a time in priority order. Ties go to
//! rack order.
//!
//! The effect: pods even out across the standing pins, so a knocked pin takes as few pods down as
//! possible and every pin keeps headroom. The cost: free capacity is smeared thin, so a big pod
//! may find no single pin with room for it (see `binpack`).

use super::framework::{BalancedAllocation, LeastAllocated, NodeInfo, Placement, PodInfo, Weighted, place_by_score};

/// The plugins and weights (upstream's default gives both weight 1).
pub const PLUGINS: [Weighted; 2] =
    [Weighted { plugin: &LeastAllocated, weight: 1 }, Weighted { plugin: &BalancedAllocation, weight: 1 }];

/// Places a batch starting the node sample at the first node (tests, benches).
pub fn place_batch(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool) -> Placement {
    place_batch_from(pods, nodes, &mut 0, record)
}

/// Places a batch, sampling nodes from `cursor` on (see [`place_by_score`]) and moving it.
pub fn place_batch_from(pods: &[PodInfo], nodes: &mut [NodeInfo], cursor: &mut usize, record: bool) -> Placement {
    place_by_score(pods, nodes, &PLUGINS, "spread", cursor, record)
}

#[cfg(test)]
mod tests {
    use super::super::framework::tests::{node, pod_named as pod};
    use super::*;

    #[test]
    fn evens_the_pods_out_over_the_nodes() {
        let mut nodes = vec![node("a", 4000, 8), node("b", 4000, 8), node("c", 4000, 8)];
        // b already runs something: it gets the fewest new pods.
        nodes[1].requested.cpu_milli = 1000;
        nodes[1].requested.memory_milli = 2 << 30 << 10;
        nodes[1].requested.pods = 1;
        let pods: Vec<PodInfo> = (0..8).map(|i| pod(&format!("p{i}"), 500)).collect();
        let placed = place_batch(&pods, &mut nodes, true);
        let count = |j| placed.node.iter().filter(|n| **n == Some(j)).count();
        assert!(count(1) < count(0) && count(1) < count(2), "b was loaded: {:?}", placed.node);
        // The first pod went to a (tie with c broken by rack order) and its record shows why.
        assert_eq!(placed.node[0], Some(0));
        let why = placed.why[0].as_ref().unwrap();
        assert_eq!(why.scores.len(), 3);
        assert_eq!(why.scores[0].plugins[0].plugin, "LeastAllocated");
        assert!(why.scores[0].total >= why.scores[1].total);
        // Used cpu ends within one pod of each other.
        let used: Vec<i64> = nodes.iter().map(|n| n.requested.cpu_milli).collect();
        assert!(used.iter().max().unwrap() - used.iter().min().unwrap() <= 500, "{used:?}");
    }
}
