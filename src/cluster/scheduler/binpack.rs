//! The `binpack` policy: score every feasible node with MostAllocated and bind to the highest,
//! one pod at a time in priority order (ties go to rack order). The fullest pin that still fits
//! wins, so pods pack onto as few pins as possible.
//!
//! The effect: whole pins stay empty, ready for a big pod (or to be switched off), and little
//! capacity is stranded in slivers. The cost: a knocked pin takes many pods down with it.
//! BalancedAllocation is left out on purpose: it pulls pods toward empty, evenly used nodes,
//! which works against packing.

use super::framework::{MostAllocated, NodeInfo, Placement, PodInfo, Weighted, place_by_score};

pub const PLUGINS: [Weighted; 1] = [Weighted { plugin: &MostAllocated, weight: 1 }];

/// Places a batch starting the node sample at the first node (tests, benches).
pub fn place_batch(pods: &[PodInfo], nodes: &mut [NodeInfo], record: bool) -> Placement {
    place_batch_from(pods, nodes, &mut 0, record)
}

/// Places a batch, sampling nodes from `cursor` on (see [`place_by_score`]) and moving it.
pub fn place_batch_from(pods: &[PodInfo], nodes: &mut [NodeInfo], cursor: &mut usize, record: bool) -> Placement {
    place_by_score(pods, nodes, &PLUGINS, "binpack", cursor, record)
}

#[cfg(test)]
mod tests {
    use super::super::framework::tests::{node, pod_named as pod};
    use super::*;

    #[test]
    fn fills_one_node_before_starting_the_next() {
        let mut nodes = vec![node("a", 2000, 8), node("b", 2000, 8), node("c", 2000, 8)];
        // c is already half full: it is filled first.
        nodes[2].requested.cpu_milli = 1000;
        nodes[2].requested.pods = 1;
        let pods: Vec<PodInfo> = (0..5).map(|i| pod(&format!("p{i}"), 500)).collect();
        let placed = place_batch(&pods, &mut nodes, false);
        assert_eq!(placed.node, [Some(2), Some(2), Some(0), Some(0), Some(0)]);
        assert_eq!(nodes[1].requested.pods, 0, "b stays empty");
    }
}
