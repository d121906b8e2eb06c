//! One filter list: the yes/no answer every policy asks (`fits`) must be the answer the "why"
//! verdicts give (`run_filters`), and no policy may bind a pod to a node those verdicts call
//! unfit. Random small lanes with cordons, taints, labels and partly used nodes, and random pods
//! with tolerations, selectors, priorities, and node affinity, pod (anti-)affinity and topology
//! spread terms (as their PreFilter leaves them: selected pods counted per zone).

use pinsetter::cluster::objects::storage::{NodeSelector, NodeSelectorRequirement, NodeSelectorTerm};
use pinsetter::cluster::objects::{Readiness, Taint, Toleration};
use pinsetter::cluster::scheduler::Policy;
use pinsetter::cluster::scheduler::framework::{
    FILTERS, NodeInfo, PodInfo, Resources, Verdict, add_request, fits, passes_static_filters, run_filters,
};
use pinsetter::cluster::scheduler::pod_constraints::{PodConstraints, SpreadDomains, TermDomains};
use pinsetter::cluster::store::ObjectKey;
use proptest::prelude::*;
use std::collections::BTreeMap;

const TAINT_KEYS: [&str; 3] = [Taint::UNREACHABLE, "dedicated", "gpu"];
const EFFECTS: [&str; 3] = [Taint::NO_SCHEDULE, Taint::NO_EXECUTE, Taint::PREFER_NO_SCHEDULE];
const ZONES: [&str; 2] = ["a", "b"];

fn taint() -> impl Strategy<Value = Taint> {
    (0..TAINT_KEYS.len(), 0..EFFECTS.len(), any::<bool>()).prop_map(|(k, e, valued)| Taint {
        key: TAINT_KEYS[k].into(),
        value: if valued { "x".into() } else { String::new() },
        effect: EFFECTS[e].into(),
        time_added: None,
    })
}

fn toleration() -> impl Strategy<Value = Toleration> {
    // Key index past the end = the empty key (with Exists, tolerates everything).
    (0..=TAINT_KEYS.len(), any::<bool>(), 0..=EFFECTS.len()).prop_map(|(k, exists, e)| Toleration {
        key: TAINT_KEYS.get(k).map_or(String::new(), |k| k.to_string()),
        operator: if exists { "Exists".into() } else { "Equal".into() },
        value: if exists { String::new() } else { "x".into() },
        effect: EFFECTS.get(e).map_or(String::new(), |e| e.to_string()),
        toleration_seconds: None,
    })
}

fn node(index: usize) -> impl Strategy<Value = NodeInfo> {
    (
        1_000i64..8_000,
        1i64..16,
        1i64..6,
        (0i64..8_000, 0i64..16, 0i64..6),
        prop::collection::vec(taint(), 0..3),
        prop::option::of(0..ZONES.len()),
        prop::bool::weighted(0.2),
    )
        .prop_map(move |(cpu, mem_gi, pods, (used_cpu, used_gi, used_pods), taints, zone, cordoned)| NodeInfo {
            name: format!("pin-{}", index + 1).into(),
            allocatable: Resources { cpu_milli: cpu, memory_milli: mem_gi << 30 << 10, pods },
            requested: Resources {
                cpu_milli: used_cpu.min(cpu),
                memory_milli: used_gi.min(mem_gi) << 30 << 10,
                pods: used_pods.min(pods),
            },
            taints: taints.into(),
            labels: zone.map(|z| ("zone".to_string(), ZONES[z].to_string())).into_iter().collect(),
            unschedulable: cordoned,
            readiness: Readiness::Ready,
        })
}

/// Selected pods per zone (a zone may be absent: nothing there).
fn zone_counts() -> impl Strategy<Value = BTreeMap<String, i64>> {
    prop::collection::btree_map(prop::sample::select(ZONES.to_vec()).prop_map(String::from), 0i64..3, 0..=2)
}

fn term() -> impl Strategy<Value = TermDomains> {
    (zone_counts(), any::<bool>()).prop_map(|(domains, matches_itself)| TermDomains {
        topology_key: "zone".into(),
        domains,
        matches_itself,
    })
}

fn spread() -> impl Strategy<Value = SpreadDomains> {
    (zone_counts(), 1i64..3, any::<bool>(), 0i64..=1).prop_map(|(counts, max_skew, hard, self_match)| SpreadDomains {
        topology_key: "zone".into(),
        max_skew,
        hard,
        min: counts.values().copied().min().unwrap_or(0),
        max: counts.values().copied().max().unwrap_or(0),
        counts,
        self_match,
    })
}

/// Node affinity (zone In [..]), required pod affinity and anti-affinity on the zone, and a
/// topology spread constraint on the zone, each present or not.
fn constraints() -> impl Strategy<Value = PodConstraints> {
    (
        prop::option::of(prop::sample::subsequence(ZONES.to_vec(), 1..=2)),
        prop::collection::vec(term(), 0..2),
        prop::collection::vec(term(), 0..2),
        prop::collection::vec(spread(), 0..2),
    )
        .prop_map(|(zones, affinity, anti_affinity, spread)| PodConstraints {
            required_nodes: zones.map(|zones| NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: vec![NodeSelectorRequirement {
                        key: "zone".into(),
                        operator: "In".into(),
                        values: zones.into_iter().map(String::from).collect(),
                    }],
                    ..Default::default()
                }],
            }),
            affinity,
            anti_affinity,
            spread,
            ..Default::default()
        })
}

fn pod(index: usize) -> impl Strategy<Value = PodInfo> {
    (
        0i64..3_000,
        0i64..4_096,
        prop::sample::select(vec![-10, 0, 1000]),
        prop::collection::vec(toleration(), 0..3),
        prop::option::weighted(0.3, 0..ZONES.len()),
        prop::option::weighted(0.3, constraints()),
    )
        .prop_map(move |(cpu, mem_mi, priority, tolerations, zone, constraints)| PodInfo {
            key: ObjectKey::new("default", format!("pod-{index}")),
            requests: Resources { cpu_milli: cpu, memory_milli: mem_mi << 20 << 10, pods: 1 },
            priority,
            tolerations: tolerations.into(),
            node_selector: zone.map(|z| ("zone".to_string(), ZONES[z].to_string())).into_iter().collect(),
            volumes: None,
            constraints: constraints.map(std::sync::Arc::new),
        })
}

fn nodes() -> impl Strategy<Value = Vec<NodeInfo>> {
    (1usize..8).prop_flat_map(|n| (0..n).map(node).collect::<Vec<_>>())
}

fn pods() -> impl Strategy<Value = Vec<PodInfo>> {
    (1usize..24).prop_flat_map(|n| (0..n).map(pod).collect::<Vec<_>>())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// `fits` and the static filters are the filter list's answers, not a copy of them.
    #[test]
    fn fits_is_the_verdict_of_the_filter_list(node in node(0), pod in pod(0)) {
        prop_assert_eq!(fits(&pod, &node), run_filters(&pod, &node) == Verdict::Fit);
        let statics = FILTERS.iter().filter(|p| p.is_static()).all(|p| p.filter(&pod, &node).is_ok());
        prop_assert_eq!(passes_static_filters(&pod, &node), statics);
    }

    /// Every policy binds a pod only to a node whose verdict, at the moment of binding (in the
    /// order the policy placed the batch), is Fit; and the nodes it hands back carry exactly
    /// those bindings.
    #[test]
    fn every_policy_binds_only_where_the_filters_say_fit(nodes in nodes(), pods in pods()) {
        for policy in Policy::ALL {
            let mut placed_nodes = nodes.clone();
            let mut cursor = 0;
            let placement = policy.place(&pods, &mut placed_nodes, &mut cursor, false);
            let mut replay = nodes.clone();
            for &i in &placement.order {
                let Some(j) = placement.node[i] else { continue };
                let verdict = run_filters(&pods[i], &replay[j]);
                prop_assert_eq!(
                    &verdict, &Verdict::Fit,
                    "{} bound {} to {}", policy, pods[i].key, replay[j].name
                );
                add_request(&mut replay[j], &pods[i].requests);
            }
            let bound = placement.node.iter().filter(|n| n.is_some()).count();
            let ordered = placement.order.iter().filter(|&&i| placement.node[i].is_some()).count();
            prop_assert_eq!(bound, ordered, "{} bound a pod it did not order", policy);
            prop_assert_eq!(&placed_nodes, &replay, "{}: the nodes it hands back are its bindings", policy);
        }
    }
}

/// The two properties above only mean something if the random lanes exercise every filter:
/// a fixed case where each filter in the list is the one that rejects.
#[test]
fn each_filter_rejects_something() {
    let base = NodeInfo {
        name: "pin-1".into(),
        allocatable: Resources { cpu_milli: 1000, memory_milli: 1 << 30 << 10, pods: 2 },
        requested: Resources::default(),
        taints: Default::default(),
        labels: Default::default(),
        unschedulable: false,
        readiness: Readiness::Ready,
    };
    let pod = PodInfo {
        key: ObjectKey::new("default", "p"),
        requests: Resources { cpu_milli: 100, memory_milli: 0, pods: 1 },
        priority: 0,
        tolerations: Default::default(),
        node_selector: BTreeMap::new(),
        volumes: None,
        constraints: None,
    };
    let mut cordoned = base.clone();
    cordoned.unschedulable = true;
    let mut tainted = base.clone();
    tainted.taints.push(Taint::new("dedicated", Taint::NO_SCHEDULE));
    let mut selective = pod.clone();
    selective.node_selector.insert("zone".into(), "a".into());
    let mut full = base.clone();
    full.requested.pods = 2;
    let rejected_by = |p: &PodInfo, n: &NodeInfo| match run_filters(p, n) {
        Verdict::Unfit { plugin, .. } => Some(plugin),
        Verdict::Fit => None,
    };
    assert_eq!(rejected_by(&pod, &cordoned), Some("NodeUnschedulable"));
    assert_eq!(rejected_by(&pod, &tainted), Some("TaintToleration"));
    assert_eq!(rejected_by(&selective, &base), Some("NodeAffinity"));
    assert_eq!(rejected_by(&pod, &full), Some("NodeResourcesFit"));
    let mut claiming = pod.clone();
    claiming.volumes = Some(std::sync::Arc::new(pinsetter::cluster::scheduler::volume_binding::PodVolumes {
        unresolvable: Some(r#"persistentvolumeclaim "data" not found"#.into()),
        ..Default::default()
    }));
    assert_eq!(rejected_by(&claiming, &base), Some("VolumeBinding"));
    let mut zoned = base.clone();
    zoned.labels.insert("zone".into(), "a".into());
    let with = |c: PodConstraints| PodInfo { constraints: Some(std::sync::Arc::new(c)), ..pod.clone() };
    let crowded_zone_a = SpreadDomains {
        topology_key: "zone".into(),
        max_skew: 1,
        hard: true,
        counts: [("a".to_string(), 1), ("b".to_string(), 0)].into(),
        min: 0,
        max: 1,
        self_match: 1,
    };
    let spreading = with(PodConstraints { spread: vec![crowded_zone_a], ..Default::default() });
    assert_eq!(rejected_by(&spreading, &zoned), Some("PodTopologySpread"));
    let web_in_zone_a =
        TermDomains { topology_key: "zone".into(), domains: [("a".to_string(), 1)].into(), matches_itself: true };
    let shunning = with(PodConstraints { anti_affinity: vec![web_in_zone_a], ..Default::default() });
    assert_eq!(rejected_by(&shunning, &zoned), Some("InterPodAffinity"));
    assert_eq!(rejected_by(&pod, &base), None);
    let names: Vec<&str> = FILTERS.iter().map(|p| p.name()).collect();
    assert_eq!(
        names,
        [
            "NodeUnschedulable",
            "TaintToleration",
            "NodeAffinity",
            "NodeResourcesFit",
            "VolumeBinding",
            "PodTopologySpread",
            "InterPodAffinity"
        ]
    );
    for n in [&cordoned, &tainted, &full] {
        assert!(!fits(&pod, n), "{}", n.name);
    }
}
