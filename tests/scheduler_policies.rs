//! Property tests of the scheduling policies on random snapshots (no World: fast), and of the
//! min-cost flow solver against independent answers.
//!
//! - the flow policy's cost equals the brute-force optimum of its cost model on small random
//!   batches (whenever its first solve was feasible, which it is for any single class of pods),
//!   and is never below it;
//! - the solver's optimum equals a plain Bellman-Ford successive-shortest-path solver's;
//! - no policy ever overcommits a node, or binds a pod to a node it may not use (taints,
//!   nodeSelector, cordon), and none leaves a pod pending that would fit somewhere.

use pinsetter::cluster::objects::{Readiness, Taint, Toleration};
use pinsetter::cluster::scheduler::Policy;
use pinsetter::cluster::scheduler::flow::{self, Network, TierModel};
use pinsetter::cluster::scheduler::framework::{
    NodeInfo, PodInfo, Resources, StaticFit, Verdict, fit_error_for, fit_error_message, fits, passes_static_filters,
    run_filters,
};
use pinsetter::cluster::store::ObjectKey;
use proptest::prelude::*;
use std::collections::BTreeMap;

const MI: i64 = (1 << 20) * 1000;

#[derive(Debug, Clone)]
struct NodeSpec {
    cpu: i64,
    mem_mi: i64,
    max_pods: i64,
    used_cpu: i64,
    used_mem_mi: i64,
    taint: Option<&'static str>,
    cordoned: bool,
    ssd: bool,
}

#[derive(Debug, Clone)]
struct PodSpec {
    cpu: i64,
    mem_mi: i64,
    priority: i32,
    tolerates: Option<&'static str>,
    wants_ssd: bool,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    (
        (1i64..=8).prop_map(|c| c * 500),
        (1i64..=8).prop_map(|m| m * 512),
        1i64..=6,
        0i64..=4,
        0i64..=4,
        prop_oneof![4 => Just(None), 1 => Just(Some("dedicated")), 1 => Just(Some(Taint::UNREACHABLE))],
        prop::bool::weighted(0.15),
        any::<bool>(),
    )
        .prop_map(|(cpu, mem_mi, max_pods, used_cpu, used_mem, taint, cordoned, ssd)| NodeSpec {
            cpu,
            mem_mi,
            max_pods,
            used_cpu: cpu * used_cpu / 8,
            used_mem_mi: mem_mi * used_mem / 8,
            taint,
            cordoned,
            ssd,
        })
}

fn pod_spec() -> impl Strategy<Value = PodSpec> {
    (
        (0i64..=6).prop_map(|c| c * 250),
        (0i64..=4).prop_map(|m| m * 512),
        prop_oneof![Just(0), Just(-10), Just(1000)],
        prop_oneof![3 => Just(None), 1 => Just(Some("dedicated"))],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(cpu, mem_mi, priority, tolerates, wants_ssd)| PodSpec {
            cpu,
            mem_mi,
            priority,
            tolerates,
            wants_ssd,
        })
}

fn node(i: usize, s: &NodeSpec) -> NodeInfo {
    let mut labels = BTreeMap::new();
    if s.ssd {
        labels.insert("disk".to_string(), "ssd".to_string());
    }
    NodeInfo {
        name: format!("pin-{}", i + 1).into(),
        allocatable: Resources { cpu_milli: s.cpu, memory_milli: s.mem_mi * MI, pods: s.max_pods },
        requested: Resources {
            cpu_milli: s.used_cpu,
            memory_milli: s.used_mem_mi * MI,
            pods: i64::from(s.used_cpu > 0 || s.used_mem_mi > 0),
        },
        taints: s.taint.map(|key| vec![Taint::new(key, Taint::NO_SCHEDULE)]).unwrap_or_default().into(),
        labels: labels.into(),
        unschedulable: s.cordoned,
        readiness: Readiness::Ready,
    }
}

fn pod(i: usize, s: &PodSpec) -> PodInfo {
    let mut node_selector = BTreeMap::new();
    if s.wants_ssd {
        node_selector.insert("disk".to_string(), "ssd".to_string());
    }
    PodInfo {
        key: ObjectKey::new("default", format!("pod-{i}")),
        requests: Resources { cpu_milli: s.cpu, memory_milli: s.mem_mi * MI, pods: 1 },
        priority: s.priority,
        tolerations: s
            .tolerates
            .map(|key| {
                vec![Toleration {
                    key: key.into(),
                    operator: "Exists".into(),
                    effect: "NoSchedule".into(),
                    ..Default::default()
                }]
            })
            .unwrap_or_default()
            .into(),
        node_selector,
        volumes: None,
        constraints: None,
    }
}

/// Every assignment of `pods` to `nodes` or to nothing that really fits (filters and all three
/// resources), each as one node index (or `None`) per pod.
fn valid_assignments(pods: &[PodInfo], nodes: &[NodeInfo]) -> Vec<Vec<Option<usize>>> {
    let choices = nodes.len() + 1;
    let mut all = Vec::new();
    for code in 0..choices.pow(pods.len() as u32) {
        let assignment: Vec<Option<usize>> =
            (0..pods.len()).map(|i| (code / choices.pow(i as u32) % choices).checked_sub(1)).collect();
        let mut state = nodes.to_vec();
        let ok = pods.iter().zip(&assignment).all(|(p, a)| match a {
            None => true,
            Some(j) => {
                let fit = fits(p, &state[*j]);
                state[*j].requested.cpu_milli += p.requests.cpu_milli;
                state[*j].requested.memory_milli += p.requests.memory_milli;
                state[*j].requested.pods += 1;
                fit
            }
        });
        if ok {
            all.push(assignment);
        }
    }
    all
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The flow's placement costs exactly the brute-force optimum of its own cost model when
    /// its first solve was feasible (always, for one class of pods), and never less.
    #[test]
    fn flow_cost_equals_the_brute_force_optimum(
        node_specs in prop::collection::vec(node_spec(), 1..=3),
        shapes in prop::collection::vec(pod_spec(), 1..=3),
        picks in prop::collection::vec(0usize..3, 1..=5),
    ) {
        // One priority level (the flow solves each level on its own).
        let pods: Vec<PodInfo> = picks
            .iter()
            .enumerate()
            .map(|(i, &k)| PodInfo { priority: 0, ..pod(i, &shapes[k % shapes.len()]) })
            .collect();
        let nodes: Vec<NodeInfo> = node_specs.iter().enumerate().map(|(i, s)| node(i, s)).collect();
        let members: Vec<usize> = (0..pods.len()).collect();
        let model = TierModel::build(&pods, &members, &nodes, &BTreeMap::new());
        let best = valid_assignments(&pods, &nodes)
            .iter()
            .map(|a| model.cost_of(a).expect("the model expresses every valid assignment"))
            .min()
            .expect("leaving every pod out is always valid");
        let mut after = nodes.clone();
        let outcome = flow::solve_batch(&pods, &mut after, false, false);
        let ours = model.cost_of(&outcome.placement.node).expect("the flow's placement is in its own model");
        prop_assert!(ours >= best, "flow {ours} beat the brute-force optimum {best}");
        let tier = &outcome.tiers[0];
        if tier.solves == 1 {
            prop_assert_eq!(ours, best);
            prop_assert_eq!(tier.cost, best, "the solver's reported cost is the optimum");
        }
        if model.classes.len() == 1 {
            prop_assert_eq!(tier.solves, 1, "one class is never overcommitted");
        }
    }

    /// The primal-dual solver agrees with a textbook one-unit-at-a-time Bellman-Ford solver on
    /// random networks, including ones with no feasible flow.
    #[test]
    fn solver_agrees_with_bellman_ford(
        n in 2usize..=6,
        raw_arcs in prop::collection::vec((0usize..6, 0usize..6, 0i64..=4, 0i64..=9), 0..=14),
        raw_supply in prop::collection::vec((0usize..6, 0usize..6, 1i64..=3), 1..=3),
    ) {
        let mut supplies = vec![0i64; n];
        for &(from, to, units) in &raw_supply {
            supplies[from % n] += units;
            supplies[to % n] -= units;
        }
        let mut net = Network::default();
        for &s in &supplies {
            net.add_node(s);
        }
        for &(from, to, capacity, cost) in &raw_arcs {
            if from % n != to % n {
                net.add_arc(from % n, to % n, capacity, cost);
            }
        }
        let reference = bellman_ford_min_cost(&net);
        match flow::solve(&net) {
            Ok(solution) => {
                prop_assert_eq!(Some(solution.cost), reference);
                // The flow respects capacities and conserves supply.
                let mut balance = supplies.clone();
                for (a, f) in net.arcs.iter().zip(&solution.flow) {
                    prop_assert!(0 <= *f && *f <= a.capacity);
                    balance[a.from] -= f;
                    balance[a.to] += f;
                }
                prop_assert!(balance.iter().all(|b| *b == 0), "{balance:?}");
            }
            Err(flow::FlowError::Infeasible { .. }) => prop_assert_eq!(reference, None),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    /// Every policy: no node over its allocatable cpu, memory or pod count; every binding passes
    /// the filters (taints, nodeSelector, cordon) on the node as it was; and no pod left pending
    /// would fit anywhere once the batch is placed.
    #[test]
    fn no_policy_overcommits_ignores_a_filter_or_strands_a_fitting_pod(
        node_specs in prop::collection::vec(node_spec(), 1..=6),
        pod_specs in prop::collection::vec(pod_spec(), 0..=24),
        cursor in 0usize..6,
    ) {
        let nodes: Vec<NodeInfo> = node_specs.iter().enumerate().map(|(i, s)| node(i, s)).collect();
        let pods: Vec<PodInfo> = pod_specs.iter().enumerate().map(|(i, s)| pod(i, s)).collect();
        for policy in Policy::ALL {
            let mut after = nodes.clone();
            let mut rotation = cursor;
            let placement = policy.place(&pods, &mut after, &mut rotation, true);
            prop_assert_eq!(placement.order.len(), pods.len(), "{} forgot a pod", policy);
            let mut used: Vec<Resources> = nodes.iter().map(|n| n.requested).collect();
            for (i, choice) in placement.node.iter().enumerate() {
                let Some(j) = *choice else { continue };
                let static_only = NodeInfo { requested: Resources::default(), ..nodes[j].clone() };
                prop_assert_eq!(
                    run_filters(&pods[i], &static_only), Verdict::Fit,
                    "{} bound {} to {}, which it may not use", policy, pods[i].key.name, nodes[j].name
                );
                used[j].cpu_milli += pods[i].requests.cpu_milli;
                used[j].memory_milli += pods[i].requests.memory_milli;
                used[j].pods += 1;
            }
            for (j, n) in nodes.iter().enumerate() {
                prop_assert!(
                    used[j].cpu_milli <= n.allocatable.cpu_milli
                        && used[j].memory_milli <= n.allocatable.memory_milli
                        && used[j].pods <= n.allocatable.pods
                        || used[j] == n.requested,
                    "{} overcommitted {}: {:?} of {:?}", policy, n.name, used[j], n.allocatable
                );
                prop_assert_eq!(used[j], after[j].requested, "{} misreported {}", policy, n.name);
            }
            for (i, choice) in placement.node.iter().enumerate() {
                if choice.is_none() {
                    prop_assert!(
                        !after.iter().any(|n| fits(&pods[i], n)),
                        "{} left {} pending though it fits", policy, pods[i].key.name
                    );
                }
            }
        }
    }
}

proptest! {
    /// The FitError a big lane spells from the snapshot's kept static verdicts is the one
    /// every node's own verdict gives, and preemption's candidates are the nodes passing every
    /// static filter.
    #[test]
    fn kept_static_verdicts_give_the_fit_error_of_every_verdict(
        node_specs in prop::collection::vec(node_spec(), 0..=12),
        pod_spec in pod_spec(),
    ) {
        let nodes: Vec<NodeInfo> = node_specs.iter().enumerate().map(|(i, s)| node(i, s)).collect();
        let pod = pod(0, &pod_spec);
        let verdicts: Vec<Verdict> = nodes.iter().map(|n| run_filters(&pod, n)).collect();
        let kept = StaticFit::of(&pod, &nodes);
        prop_assert_eq!(kept.fit_error(&pod, &nodes), fit_error_message(&verdicts));
        prop_assert_eq!(fit_error_for(&pod, &nodes), fit_error_message(&verdicts));
        let potential: Vec<usize> = (0..nodes.len()).filter(|&j| passes_static_filters(&pod, &nodes[j])).collect();
        prop_assert_eq!(kept.potential(&pod, &nodes), potential);
    }
}

/// Min-cost flow the slow, obvious way: a super source and sink, then one unit at a time along
/// a Bellman-Ford shortest path in the residual graph. `None` when not every unit gets through.
fn bellman_ford_min_cost(net: &Network) -> Option<i64> {
    let n = net.nodes.len() + 2;
    let (s, t) = (n - 2, n - 1);
    // (to, capacity, cost, reverse index) per node.
    let mut edges: Vec<Vec<(usize, i64, i64, usize)>> = vec![Vec::new(); n];
    let mut add = |from: usize, to: usize, cap: i64, cost: i64| {
        let (rf, rt) = (edges[to].len(), edges[from].len());
        edges[from].push((to, cap, cost, rf));
        edges[to].push((from, 0, -cost, rt));
    };
    for a in &net.arcs {
        add(a.from, a.to, a.capacity, a.cost);
    }
    let mut want = 0;
    for v in &net.nodes {
        if v.supply > 0 {
            add(s, v.id, v.supply, 0);
            want += v.supply;
        } else if v.supply < 0 {
            add(v.id, t, -v.supply, 0);
        }
    }
    let mut cost = 0;
    for _ in 0..want {
        let mut dist = vec![i64::MAX; n];
        let mut prev: Vec<Option<(usize, usize)>> = vec![None; n];
        dist[s] = 0;
        for _ in 0..n {
            for u in 0..n {
                if dist[u] == i64::MAX {
                    continue;
                }
                for (k, &(v, cap, c, _)) in edges[u].iter().enumerate() {
                    if cap > 0 && dist[u] + c < dist[v] {
                        dist[v] = dist[u] + c;
                        prev[v] = Some((u, k));
                    }
                }
            }
        }
        if dist[t] == i64::MAX {
            return None;
        }
        let mut v = t;
        while let Some((u, k)) = prev[v] {
            edges[u][k].1 -= 1;
            let (to, _, _, r) = edges[u][k];
            edges[to][r].1 += 1;
            v = u;
        }
        cost += dist[t];
    }
    Some(cost)
}
