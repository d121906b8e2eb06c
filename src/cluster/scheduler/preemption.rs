//! DefaultPreemption, kube-scheduler's PostFilter plugin
//! (`pkg/scheduler/framework/plugins/defaultpreemption`): when a pod fits on no node, look for a
//! node where evicting pods of *lower* priority would make room, pick the node whose victims
//! matter least, and evict them. The preemptor is then *nominated* to that node
//! (`status.nominatedNodeName`) and binds on a later cycle, once its victims have terminated
//! gracefully; meanwhile the room is held for it.
//!
//! This file decides (which node, which victims, or why not); the scheduler acts on it (deletes
//! the victims, records `Preempted` events, nominates).
//!
//! Not modelled: PodDisruptionBudgets (upstream's first tie-breaker), `preemptionPolicy: Never`,
//! and victims' start times (upstream's last tie-breaker; we fall back to rack order).

use super::framework::{
    NodeInfo, PodInfo, Resources, Unfit, dynamic_unfit, fit_error_from_counts, passes_dynamic_filters,
    passes_static_filters,
};
use crate::cluster::store::ObjectKey;
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// Upstream's reason for a node where no eviction could help (it fails a filter that evicting
/// pods does not change: cordon, taints, nodeSelector).
pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
/// Upstream's reason for a node that runs no pod of lower priority.
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Upstream's answer for a pod whose earlier preemption is still under way.
pub const NOT_ELIGIBLE_TERMINATING: &str = "not eligible due to a terminating pod on the nominated node.";

/// A pod bound to a node, as preemption sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resident {
    /// Only a victim's key is ever needed (lists are kept across cycles: a whole pod kept
    /// would hold on to its old versions).
    pub key: ObjectKey,
    pub priority: i32,
    pub requests: Resources,
    /// Already being deleted: it still holds its room, and cannot be a victim again.
    pub terminating: bool,
}

/// The pods bound to one node, as preemption sees them, and the lowest priority among those
/// that could still be victims (not terminating): a preemptor of no higher priority finds no
/// victims there without reading the list. After a strike every pod has the same priority, and
/// the dry run asks each of a thousand nodes, for each kind of pending pod, every cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResidents {
    pods: Vec<Resident>,
    /// `i32::MAX` when every pod is terminating, or there is none.
    lowest_live_priority: i32,
}

impl Default for NodeResidents {
    fn default() -> NodeResidents {
        NodeResidents::new(Vec::new())
    }
}

impl NodeResidents {
    pub fn new(pods: Vec<Resident>) -> NodeResidents {
        let lowest_live_priority = Self::lowest_live(&pods);
        NodeResidents { pods, lowest_live_priority }
    }

    fn lowest_live(pods: &[Resident]) -> i32 {
        pods.iter().filter(|r| !r.terminating).map(|r| r.priority).min().unwrap_or(i32::MAX)
    }

    pub fn pods(&self) -> &[Resident] {
        &self.pods
    }

    /// Marks a victim as being deleted: it holds its room still, and is no victim again.
    pub fn mark_terminating(&mut self, victim: usize) {
        if let Some(r) = self.pods.get_mut(victim) {
            r.terminating = true;
            self.lowest_live_priority = Self::lowest_live(&self.pods);
        }
    }

    /// Whether any pod here could make way for a pod of `priority`.
    fn has_victims_for(&self, priority: i32) -> bool {
        self.lowest_live_priority < priority
    }
}

/// Why evicting pods on a node cannot make room for the preemptor.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoRoom {
    /// It fails a filter evictions do not change ([`NOT_HELPFUL`]).
    NotHelpful,
    /// No pod there has lower priority ([`NO_VICTIMS`]).
    NoVictims,
    /// Even with every lower-priority pod gone it does not fit.
    Unfit(Unfit),
}

impl NoRoom {
    /// Upstream's words for the FitError message.
    pub fn reasons(&self) -> Vec<String> {
        match self {
            NoRoom::NotHelpful => vec![NOT_HELPFUL.into()],
            NoRoom::NoVictims => vec![NO_VICTIMS.into()],
            NoRoom::Unfit(unfit) => unfit.reasons(),
        }
    }
}

/// The node to preempt on and the victims there (indexes into that node's residents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub node: usize,
    pub victims: Vec<usize>,
}

/// Upstream's `SelectVictimsOnNode`: remove every lower-priority pod; if the preemptor then
/// fits, give pods back, most important first, as long as it still fits. What cannot be given
/// back are the victims. `Err` says why not, for the FitError message.
pub fn select_victims_on_node(pod: &PodInfo, node: &NodeInfo, residents: &NodeResidents) -> Result<Vec<usize>, NoRoom> {
    if !passes_static_filters(pod, node) {
        return Err(NoRoom::NotHelpful);
    }
    select_victims(pod, node, residents)
}

/// [`select_victims_on_node`] on a node known to pass the static filters.
fn select_victims(pod: &PodInfo, node: &NodeInfo, residents: &NodeResidents) -> Result<Vec<usize>, NoRoom> {
    // After a strike most nodes have no pod of lower priority: known without reading the list.
    if !residents.has_victims_for(pod.priority) {
        return Err(NoRoom::NoVictims);
    }
    let residents = residents.pods();
    let evictable = |r: &Resident| !r.terminating && r.priority < pod.priority;
    // The node passes the static filters, which evictions do not change: only the dynamic
    // ones are tried again, on a copy of its room alone (no name, taints or labels to clone;
    // this runs for every node, for every pod that preempts).
    let mut trial = NodeInfo {
        name: Default::default(),
        allocatable: node.allocatable,
        requested: node.requested,
        taints: Default::default(),
        labels: Default::default(),
        unschedulable: false,
        readiness: node.readiness,
    };
    // Every evictable pod gone first, without listing them (there is one at least: see above).
    for r in residents.iter().filter(|r| evictable(r)) {
        adjust(&mut trial, &r.requests, -1);
    }
    if let Some(unfit) = dynamic_unfit(pod, &trial) {
        return Err(NoRoom::Unfit(unfit));
    }
    let mut potential: Vec<usize> = (0..residents.len()).filter(|&i| evictable(&residents[i])).collect();
    potential.sort_by_key(|&i| (Reverse(residents[i].priority), i));
    let mut victims = Vec::new();
    for i in potential {
        adjust(&mut trial, &residents[i].requests, 1);
        if !passes_dynamic_filters(pod, &trial) {
            adjust(&mut trial, &residents[i].requests, -1);
            victims.push(i);
        }
    }
    Ok(victims)
}

fn adjust(node: &mut NodeInfo, r: &Resources, sign: i64) {
    node.requested.cpu_milli += sign * r.cpu_milli;
    node.requested.memory_milli += sign * r.memory_milli;
    node.requested.pods += sign;
}

/// Upstream's DefaultPreemption defaults (`minCandidateNodesPercentage`,
/// `minCandidateNodesAbsolute`): the dry run stops once it has found this share of the nodes
/// where preemption might help as candidates, and at least this many.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// Upstream's `calculateNumCandidates`: how many candidates the dry run looks for among
/// `potential` nodes.
pub fn num_candidates(potential: usize) -> usize {
    (potential * MIN_CANDIDATE_NODES_PERCENTAGE / 100).max(MIN_CANDIDATE_NODES_ABSOLUTE).min(potential)
}

/// Upstream's `nodesWherePreemptionMightHelp`: the positions of the nodes passing the
/// static filters (those evictions do not change), the `potential` of [`find_candidate`].
pub fn potential_nodes(pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<usize> {
    (0..nodes.len()).filter(|&j| passes_static_filters(pod, &nodes[j])).collect()
}

/// Upstream's `DryRunPreemption` then `pickOneNodeForPreemption`, without PDBs or start times.
///
/// The dry run goes over the nodes where preemption might help (`potential`, from
/// [`potential_nodes`]), from `offset(n)` among those `n` (upstream's random offset, drawn only when it
/// matters: when the dry run would stop before seeing them all), until it has found
/// [`num_candidates`]. Of those it picks the node whose most important victim is least
/// important, then the lowest sum of victim priorities, then the fewest victims, then rack
/// order.
///
/// `Err` is upstream's FitError message for preemption, e.g.
/// `0/10 nodes are available: 3 Preemption is not helpful for scheduling, 7 No preemption victims found for incoming pod.`
/// (with no candidate found, every node was tried, so its counts are complete).
pub fn find_candidate(
    pod: &PodInfo,
    nodes: &[NodeInfo],
    potential: &[usize],
    residents: &[NodeResidents],
    offset: impl FnOnce(usize) -> usize,
) -> Result<Candidate, String> {
    // (most important victim's priority, sum of shifted priorities, victims, rack position)
    type Rank = (i32, i64, usize, usize);
    let mut no_room: BTreeMap<NoRoom, usize> = BTreeMap::new();
    if potential.len() < nodes.len() {
        no_room.insert(NoRoom::NotHelpful, nodes.len() - potential.len());
    }
    let wanted = num_candidates(potential.len());
    let start = if wanted < potential.len() { offset(potential.len()) % potential.len() } else { 0 };
    let mut best: Option<(Rank, Vec<usize>)> = None;
    let mut found = 0;
    let none = NodeResidents::default();
    for &j in potential[start..].iter().chain(&potential[..start]) {
        let at = residents.get(j).unwrap_or(&none);
        let here = at.pods();
        match select_victims(pod, &nodes[j], at) {
            Ok(victims) => {
                let highest = victims.iter().map(|&v| here[v].priority).max().unwrap_or(i32::MIN);
                // Upstream shifts each priority by MaxInt32+1 so the sum of negatives still orders.
                let sum: i64 = victims.iter().map(|&v| i64::from(here[v].priority) + (1i64 << 31)).sum();
                let rank = (highest, sum, victims.len(), j);
                if best.as_ref().is_none_or(|(b, _)| rank < *b) {
                    best = Some((rank, victims));
                }
                found += 1;
                if found >= wanted {
                    break;
                }
            }
            Err(why) => *no_room.entry(why).or_default() += 1,
        }
    }
    match best {
        Some(((_, _, _, node), victims)) => Ok(Candidate { node, victims }),
        None => Err(fit_error_from_counts(nodes.len(), no_room.into_iter().map(|(why, n)| (why.reasons(), n)))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::framework::tests::{node, pod_named as pod};
    use super::*;
    use crate::cluster::objects::Taint;

    fn resident(name: &str, cpu: i64, priority: i32) -> Resident {
        let p = pod(name, cpu);
        Resident { key: p.key, priority, requests: p.requests, terminating: false }
    }

    fn bind(node: &mut NodeInfo, residents: &[Resident]) {
        for r in residents {
            adjust(node, &r.requests, 1);
        }
    }

    #[test]
    fn evicts_the_fewest_and_least_important_pods_that_make_room() {
        let mut a = node("a", 4000, 8);
        let here = vec![resident("low-big", 2000, 0), resident("low-small", 1000, 0), resident("lowest", 1000, -10)];
        bind(&mut a, &here);
        let here = NodeResidents::new(here);
        let mut preemptor = pod("urgent", 1000);
        preemptor.priority = 1000;
        preemptor.requests.memory_milli = 0;
        // Removing any 1000m is enough: the lowest priority goes, the others are given back.
        assert_eq!(select_victims_on_node(&preemptor, &a, &here), Ok(vec![2]));
        preemptor.requests.cpu_milli = 2500;
        // 2500m: give back the most important first: low-big would leave only 2000m, so it
        // stays a victim; low-small can come back (3000m free); then lowest cannot.
        assert_eq!(select_victims_on_node(&preemptor, &a, &here), Ok(vec![0, 2]));
    }

    /// What the node's lowest live priority says follows its victims: once its only
    /// lower-priority pod is terminating, there are no victims there for that preemptor.
    #[test]
    fn a_terminating_pod_is_no_victim_again() {
        let mut a = node("a", 1000, 8);
        let here = vec![resident("low", 600, 0), resident("peer", 400, 1000)];
        bind(&mut a, &here);
        let mut here = NodeResidents::new(here);
        let mut preemptor = pod("urgent", 400);
        preemptor.priority = 1000;
        preemptor.requests.memory_milli = 0;
        assert_eq!(select_victims_on_node(&preemptor, &a, &here), Ok(vec![0]));
        here.mark_terminating(0);
        assert_eq!(select_victims_on_node(&preemptor, &a, &here), Err(NoRoom::NoVictims));
        // A more important preemptor still finds the peer.
        preemptor.priority = 2000;
        assert_eq!(select_victims_on_node(&preemptor, &a, &here), Ok(vec![1]));
    }

    #[test]
    fn picks_the_node_whose_victims_matter_least() {
        let (mut a, mut b) = (node("a", 2000, 8), node("b", 2000, 8));
        let on_a = vec![resident("a-mid", 2000, 500)];
        let on_b = vec![resident("b-low-1", 1000, 0), resident("b-low-2", 1000, 0)];
        bind(&mut a, &on_a);
        bind(&mut b, &on_b);
        let mut preemptor = pod("urgent", 1500);
        preemptor.priority = 1000;
        preemptor.requests.memory_milli = 0;
        // a needs one victim of priority 500; b two of priority 0: b's most important victim
        // matters less, so b wins although it costs more pods.
        let candidate =
            find_candidate(&preemptor, &[a, b], &[0, 1], &[on_a, on_b].map(NodeResidents::new), |_| unreachable!())
                .unwrap();
        assert_eq!(candidate, Candidate { node: 1, victims: vec![0, 1] });
    }

    #[test]
    fn says_why_preemption_cannot_help_in_upstreams_words() {
        let (mut a, mut b, mut c) = (node("a", 1000, 8), node("b", 1000, 8), node("c", 1000, 8));
        a.taints.push(Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE));
        let on_b = vec![resident("peer", 1000, 1000)];
        let on_c = vec![resident("low", 200, 0), resident("high", 800, 2000)];
        bind(&mut b, &on_b);
        bind(&mut c, &on_c);
        let mut preemptor = pod("urgent", 500);
        preemptor.priority = 1000;
        preemptor.requests.memory_milli = 0;
        let nodes = [a, b, c];
        let potential = potential_nodes(&preemptor, &nodes);
        assert_eq!(potential, [1, 2], "the tainted node is not one where preemption might help");
        let message = find_candidate(
            &preemptor,
            &nodes,
            &potential,
            &[vec![], on_b, on_c].map(NodeResidents::new),
            |_| unreachable!(),
        )
        .unwrap_err();
        assert_eq!(
            message,
            "0/3 nodes are available: 1 Insufficient cpu, 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
    }
    #[test]
    fn looks_for_upstreams_number_of_candidates() {
        // 10 % of the nodes where preemption might help, at least 100, at most all of them.
        assert_eq!(num_candidates(10), 10);
        assert_eq!(num_candidates(300), 100);
        assert_eq!(num_candidates(1_000), 100);
        assert_eq!(num_candidates(5_000), 500);
    }

    /// 300 full nodes; on node `cheap` the victim matters less than anywhere else.
    fn full_nodes(cheap: usize) -> (Vec<NodeInfo>, Vec<NodeResidents>, PodInfo) {
        let (mut nodes, mut residents) = (Vec::new(), Vec::new());
        for j in 0..300 {
            let mut n = node(&format!("n{j}"), 1000, 8);
            let here = vec![resident(&format!("r{j}"), 1000, if j == cheap { 0 } else { 10 })];
            bind(&mut n, &here);
            nodes.push(n);
            residents.push(NodeResidents::new(here));
        }
        let mut preemptor = pod("urgent", 1000);
        preemptor.priority = 1000;
        preemptor.requests.memory_milli = 0;
        (nodes, residents, preemptor)
    }

    #[test]
    fn the_dry_run_stops_at_enough_candidates_from_its_offset() {
        // The cheapest node lies 150 nodes past the offset: past the 100 candidates the dry run
        // looks for, so it is not seen, and the best of the 100 seen (rack order among equals,
        // so the first after the offset) is picked.
        let (nodes, residents, preemptor) = full_nodes(200);
        let all = potential_nodes(&preemptor, &nodes);
        let candidate = find_candidate(&preemptor, &nodes, &all, &residents, |n| {
            assert_eq!(n, 300, "the offset is drawn among the nodes where preemption might help");
            50
        })
        .unwrap();
        assert_eq!(candidate, Candidate { node: 50, victims: vec![0] });
        // Within the window it is seen and wins; the window wraps around the end.
        let (nodes, residents, preemptor) = full_nodes(260);
        let candidate = find_candidate(&preemptor, &nodes, &all, &residents, |_| 250).unwrap();
        assert_eq!(candidate.node, 260);
        let (nodes, residents, preemptor) = full_nodes(20);
        assert_eq!(find_candidate(&preemptor, &nodes, &all, &residents, |_| 250).unwrap().node, 20);
    }

    #[test]
    fn with_no_candidate_every_node_is_counted() {
        let (mut nodes, mut residents, mut preemptor) = full_nodes(0);
        preemptor.priority = 5;
        for n in &mut nodes[..100] {
            n.taints.push(Taint::new("dedicated", Taint::NO_SCHEDULE));
        }
        // The last node is too small even with its one lower-priority pod gone.
        residents[299] = NodeResidents::new(vec![resident("small", 100, 0)]);
        nodes[299].requested = Resources { cpu_milli: 100, memory_milli: 0, pods: 1 };
        nodes[299].allocatable.cpu_milli = 500;
        let potential = potential_nodes(&preemptor, &nodes);
        let message = find_candidate(&preemptor, &nodes, &potential, &residents, |_| 7).unwrap_err();
        assert_eq!(
            message,
            "0/300 nodes are available: 1 Insufficient cpu, 100 Preemption is not helpful for scheduling, 199 No preemption victims found for incoming pod."
        );
    }
}
