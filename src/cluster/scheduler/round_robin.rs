//! The `round-robin` policy: deal the pods out like cards. A cursor walks the nodes in rack
//! order; each pod goes to the first node at or after the cursor that passes every filter, and
//! the cursor moves one past it. The cursor survives between cycles, so successive batches keep
//! rotating instead of starting again at pin-1.
//!
//! It ignores how full a node is (no score plugins): it spreads pod *counts* evenly, not load,
//! which is why upstream scores instead. Pods are placed in priority order.

use super::framework::{Explanation, NodeInfo, Placement, PodInfo, add_request, fits, priority_order};

/// Places the batch, advancing `cursor` (an index into `nodes`, kept modulo their number).
pub fn place_batch(pods: &[PodInfo], nodes: &mut [NodeInfo], cursor: &mut usize, record: bool) -> Placement {
    let mut placement = Placement::empty(pods.len());
    let n = nodes.len();
    for i in priority_order(pods) {
        let pod = &pods[i];
        let start = if n == 0 { 0 } else { *cursor % n };
        let chosen = (0..n).map(|k| (start + k) % n).find(|&j| fits(pod, &nodes[j]));
        if let Some(j) = chosen {
            add_request(&mut nodes[j], &pod.requests);
            placement.node[i] = Some(j);
            *cursor = (j + 1) % n;
        }
        if record {
            let note = match (chosen, start) {
                (Some(j), s) if j == s => format!("round-robin: {} was next in rotation", nodes[j].name),
                (Some(j), s) => format!(
                    "round-robin: next in rotation from {} that passes every filter: {}",
                    nodes[s].name, nodes[j].name
                ),
                (None, _) => "round-robin: no node passes every filter".to_string(),
            };
            placement.why[i] = Some(Explanation { scores: Vec::new(), note });
        }
        placement.order.push(i);
    }
    placement
}

#[cfg(test)]
mod tests {
    use super::super::framework::tests::{node, pod_named as pod};
    use super::*;

    #[test]
    fn rotates_over_the_nodes_and_remembers_where_it_stopped() {
        let mut nodes = vec![node("a", 4000, 8), node("b", 4000, 8), node("c", 4000, 8)];
        let pods: Vec<PodInfo> = (0..4).map(|i| pod(&format!("p{i}"), 100)).collect();
        let mut cursor = 0;
        let placed = place_batch(&pods, &mut nodes, &mut cursor, false);
        assert_eq!(placed.node, [Some(0), Some(1), Some(2), Some(0)]);
        // The next batch carries on from b, not from a.
        let placed = place_batch(&pods[..2], &mut nodes, &mut cursor, false);
        assert_eq!(placed.node, [Some(1), Some(2)]);
    }

    #[test]
    fn skips_nodes_that_fail_a_filter() {
        let mut nodes = vec![node("a", 4000, 8), node("b", 4000, 8), node("c", 4000, 8)];
        nodes[1].unschedulable = true;
        let pods: Vec<PodInfo> = (0..4).map(|i| pod(&format!("p{i}"), 100)).collect();
        let mut cursor = 0;
        let placed = place_batch(&pods, &mut nodes, &mut cursor, true);
        assert_eq!(placed.node, [Some(0), Some(2), Some(0), Some(2)]);
        let note = &placed.why[1].as_ref().unwrap().note;
        assert!(note.contains("from b") && note.ends_with(": c"), "{note}");
    }
}
