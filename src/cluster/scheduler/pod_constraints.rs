//! Upstream's NodeAffinity (the `affinity.nodeAffinity` half; nodeSelector is in `framework.rs`),
//! InterPodAffinity and PodTopologySpread plugins, filter and score.
//!
//! Upstream's PreFilter is [`PodConstraints::of`]: once per pod per cycle it counts, per topology
//! domain, the pods each term or constraint selects, so the filters and scores ask a map per node
//! instead of scanning pods per node. A pod with inter-pod terms is placed alone in its cycle
//! (see `Scheduler::run_cycle`), so the counts it sees include every pod placed before it.
//!
//! Not modelled: the incoming pod is not checked against *existing* pods' anti-affinity (the
//! symmetric half of upstream's InterPodAffinity), `namespaceSelector`, `matchLabelKeys`, and the
//! `nodeAffinityPolicy`/`nodeTaintsPolicy` fields (upstream's defaults, Honor and Ignore, apply).

use super::framework::{FilterPlugin, MAX_NODE_SCORE, NodeInfo, PodInfo, ScorePlugin, Unfit};
use crate::cluster::objects::Pod;
use crate::cluster::objects::meta::LabelSelector;
use crate::cluster::objects::pod::{PodAffinityTerm, PreferredSchedulingTerm, TopologySpreadConstraint};
use crate::cluster::objects::storage::NodeSelector;
use crate::cluster::store::{ObjectKey, Store};
use std::collections::BTreeMap;

/// Upstream's reasons.
pub const NODE_AFFINITY_MISMATCH: &str = "node(s) didn't match Pod's node affinity/selector";
pub const AFFINITY_RULES: &str = "node(s) didn't match pod affinity rules";
pub const ANTI_AFFINITY_RULES: &str = "node(s) didn't match pod anti-affinity rules";
pub const SPREAD_CONSTRAINTS: &str = "node(s) didn't match pod topology spread constraints";
pub const SPREAD_MISSING_LABEL: &str = "node(s) didn't match pod topology spread constraints (missing required label)";

/// What the affinity and spread plugins need of one pod, computed once per cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodConstraints {
    /// `nodeAffinity.requiredDuringScheduling...`: a node must match it.
    pub required_nodes: Option<NodeSelector>,
    /// `nodeAffinity.preferredDuringScheduling...`, scored by weight.
    pub preferred_nodes: Vec<PreferredSchedulingTerm>,
    /// Required pod affinity: a node's domain must hold a selected pod.
    pub affinity: Vec<TermDomains>,
    /// Required pod anti-affinity: a node's domain must hold no selected pod.
    pub anti_affinity: Vec<TermDomains>,
    /// Preferred affinity (positive weight) and anti-affinity (negative weight).
    pub preferred_pods: Vec<(i64, TermDomains)>,
    /// The topology spread constraints with the selected pods counted per domain.
    pub spread: Vec<SpreadDomains>,
    /// The lowest and highest preferred-pod sum over the nodes, to normalize the score.
    pub preferred_pods_range: (i64, i64),
}

/// A pod-affinity term: the domains (values of `topology_key`) holding pods it selects, with
/// how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TermDomains {
    pub topology_key: String,
    pub domains: BTreeMap<String, i64>,
    /// The incoming pod matches its own term: upstream lets the first pod of a group that
    /// requires affinity to itself land on any node with the key.
    pub matches_itself: bool,
}

/// One topology spread constraint as the filter and score read it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpreadDomains {
    pub topology_key: String,
    pub max_skew: i64,
    /// `DoNotSchedule` (filter); otherwise `ScheduleAnyway` (score).
    pub hard: bool,
    /// Selected pods per domain, every eligible domain present (zero included).
    pub counts: BTreeMap<String, i64>,
    /// The smallest count over the eligible domains (0 while fewer than `minDomains` exist).
    pub min: i64,
    pub max: i64,
    /// 1 when the incoming pod matches the constraint's selector.
    pub self_match: i64,
}

impl PodConstraints {
    /// The node-affinity part, which needs nothing but the pod (`None` for a pod without it).
    pub fn of_node_affinity(pod: &Pod) -> Option<PodConstraints> {
        let node_affinity = pod.spec.affinity.as_ref()?.node_affinity.as_ref()?;
        Some(PodConstraints {
            required_nodes: node_affinity.required_during_scheduling_ignored_during_execution.clone(),
            preferred_nodes: node_affinity.preferred_during_scheduling_ignored_during_execution.clone(),
            ..PodConstraints::default()
        })
    }

    /// Upstream's PreFilter for all three plugins: node affinity as written, and the pods each
    /// inter-pod term and spread constraint selects counted per domain of `nodes`.
    pub fn of(pod: &Pod, store: &Store, nodes: &[NodeInfo]) -> Option<PodConstraints> {
        let mut constraints = PodConstraints::of_node_affinity(pod).unwrap_or_default();
        if !pod.has_inter_pod_constraints() {
            return (constraints != PodConstraints::default()).then_some(constraints);
        }
        let by_name: BTreeMap<&str, &NodeInfo> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        let namespace = pod.metadata.namespace();
        let affinity = pod.spec.affinity.as_ref();
        let term_domains = |term: &PodAffinityTerm| {
            let namespaces: Vec<&str> = if term.namespaces.is_empty() {
                vec![namespace]
            } else {
                term.namespaces.iter().map(String::as_str).collect()
            };
            let selector = term.label_selector.as_ref();
            let mut domains: BTreeMap<String, i64> = BTreeMap::new();
            for ns in namespaces {
                for other in pods_in(store, ns).filter(|p| selects(selector, p)) {
                    let domain =
                        other.node_name().and_then(|n| by_name.get(n)).and_then(|n| n.labels.get(&term.topology_key));
                    if let Some(domain) = domain {
                        *domains.entry(domain.clone()).or_default() += 1;
                    }
                }
            }
            let matches_itself = term.namespaces.iter().all(|ns| ns == namespace) && selects(selector, pod);
            TermDomains { topology_key: term.topology_key.clone(), domains, matches_itself }
        };
        if let Some(a) = affinity.and_then(|a| a.pod_affinity.as_ref()) {
            constraints.affinity =
                a.required_during_scheduling_ignored_during_execution.iter().map(term_domains).collect();
            for w in &a.preferred_during_scheduling_ignored_during_execution {
                constraints.preferred_pods.push((i64::from(w.weight), term_domains(&w.pod_affinity_term)));
            }
        }
        if let Some(a) = affinity.and_then(|a| a.pod_anti_affinity.as_ref()) {
            constraints.anti_affinity =
                a.required_during_scheduling_ignored_during_execution.iter().map(term_domains).collect();
            for w in &a.preferred_during_scheduling_ignored_during_execution {
                constraints.preferred_pods.push((-i64::from(w.weight), term_domains(&w.pod_affinity_term)));
            }
        }
        if !constraints.preferred_pods.is_empty() {
            let sums = nodes.iter().map(|n| constraints.preferred_pods_sum(n));
            constraints.preferred_pods_range = sums.fold((i64::MAX, i64::MIN), |(lo, hi), s| (lo.min(s), hi.max(s)));
        }
        constraints.spread = spread_domains(pod, &pod.spec.topology_spread_constraints, store, nodes, &constraints);
        Some(constraints)
    }

    fn preferred_pods_sum(&self, node: &NodeInfo) -> i64 {
        self.preferred_pods
            .iter()
            .map(|(weight, term)| {
                let count = node.labels.get(&term.topology_key).and_then(|d| term.domains.get(d)).copied().unwrap_or(0);
                weight * count
            })
            .sum()
    }

    /// Whether the node passes the pod's node selector and required node affinity (upstream's
    /// `nodeAffinityPolicy: Honor` decides which nodes count as spread domains this way).
    fn node_eligible(&self, pod: &Pod, node: &NodeInfo) -> bool {
        pod.spec.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v))
            && self.required_nodes.as_ref().is_none_or(|s| s.matches(&node.name, &node.labels))
    }
}

/// The pods of one namespace that count for affinity and spread: not terminating, not finished.
fn pods_in<'a>(store: &'a Store, namespace: &str) -> impl Iterator<Item = &'a Pod> {
    store
        .range::<Pod>(ObjectKey::new(namespace, "")..=ObjectKey::new(namespace, "\u{10FFFF}"))
        .filter(|p| p.is_active())
}

/// A nil selector selects nothing, as upstream's affinity and spread terms read it.
fn selects(selector: Option<&LabelSelector>, pod: &Pod) -> bool {
    selector.is_some_and(|s| s.matches(&pod.metadata.labels))
}

fn spread_domains(
    pod: &Pod,
    spread: &[TopologySpreadConstraint],
    store: &Store,
    nodes: &[NodeInfo],
    constraints: &PodConstraints,
) -> Vec<SpreadDomains> {
    if spread.is_empty() {
        return Vec::new();
    }
    // Eligible nodes: they pass the pod's node affinity and carry every constraint's key.
    let eligible: BTreeMap<&str, &NodeInfo> = nodes
        .iter()
        .filter(|n| constraints.node_eligible(pod, n))
        .filter(|n| spread.iter().all(|c| n.labels.contains_key(&c.topology_key)))
        .map(|n| (n.name.as_str(), n))
        .collect();
    let namespace = pod.metadata.namespace();
    spread
        .iter()
        .map(|c| {
            let mut counts: BTreeMap<String, i64> =
                eligible.values().map(|n| (n.labels[&c.topology_key].clone(), 0)).collect();
            let selector = c.label_selector.as_ref();
            for other in pods_in(store, namespace).filter(|p| selects(selector, p)) {
                if let Some(node) = other.node_name().and_then(|n| eligible.get(n)) {
                    *counts.entry(node.labels[&c.topology_key].clone()).or_default() += 1;
                }
            }
            let too_few_domains = c.min_domains.is_some_and(|m| (counts.len() as i64) < i64::from(m));
            let min = if too_few_domains { 0 } else { counts.values().copied().min().unwrap_or(0) };
            SpreadDomains {
                topology_key: c.topology_key.clone(),
                max_skew: i64::from(c.max_skew.max(1)),
                hard: c.when_unsatisfiable != TopologySpreadConstraint::SCHEDULE_ANYWAY,
                max: counts.values().copied().max().unwrap_or(0),
                counts,
                min,
                self_match: i64::from(selects(selector, pod)),
            }
        })
        .collect()
}

/// Required node affinity. Filter reason as upstream's NodeAffinity (the nodeSelector half
/// lives in `framework::NodeAffinity`, which runs this too, so NodeAffinity is one entry).
pub fn node_affinity_passes(pod: &PodInfo, node: &NodeInfo) -> bool {
    pod.constraints
        .as_deref()
        .and_then(|c| c.required_nodes.as_ref())
        .is_none_or(|s| s.matches(&node.name, &node.labels))
}

/// The InterPodAffinity filter: required pod affinity and anti-affinity.
pub struct InterPodAffinity;

impl FilterPlugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }
    /// It reads the counts gathered at PreFilter and the node's labels.
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(c) = pod.constraints.as_deref() else { return Ok(()) };
        let domain_count = |t: &TermDomains| node.labels.get(&t.topology_key).and_then(|d| t.domains.get(d)).copied();
        // Upstream: with no pod selected anywhere by any term, a pod matching its own terms may
        // start the group on any node carrying the keys.
        let first_of_group = c.affinity.iter().all(|t| t.domains.is_empty() && t.matches_itself);
        let affinity_holds = c.affinity.iter().all(|t| {
            if first_of_group {
                node.labels.contains_key(&t.topology_key)
            } else {
                domain_count(t).is_some_and(|n| n > 0)
            }
        });
        if !affinity_holds {
            return Err(Unfit::Rule(AFFINITY_RULES));
        }
        if c.anti_affinity.iter().any(|t| domain_count(t).is_some_and(|n| n > 0)) {
            return Err(Unfit::Rule(ANTI_AFFINITY_RULES));
        }
        Ok(())
    }
}

/// The PodTopologySpread filter: each `DoNotSchedule` constraint's skew stays within `maxSkew`.
pub struct PodTopologySpread;

impl FilterPlugin for PodTopologySpread {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(c) = pod.constraints.as_deref() else { return Ok(()) };
        for s in c.spread.iter().filter(|s| s.hard) {
            let Some(domain) = node.labels.get(&s.topology_key) else {
                return Err(Unfit::Rule(SPREAD_MISSING_LABEL));
            };
            let count = s.counts.get(domain).copied().unwrap_or(0);
            if count + s.self_match - s.min > s.max_skew {
                return Err(Unfit::Rule(SPREAD_CONSTRAINTS));
            }
        }
        Ok(())
    }
}

/// NodeAffinity's score: the weights of the preferred terms the node matches, as a share of
/// all the pod's preferred weight (upstream normalizes by the best node's sum instead).
pub struct NodeAffinityScore;

impl ScorePlugin for NodeAffinityScore {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(c) = pod.constraints.as_deref() else { return 0 };
        let total: i64 = c.preferred_nodes.iter().map(|t| i64::from(t.weight.max(0))).sum();
        if total == 0 {
            return 0;
        }
        let matched: i64 = c
            .preferred_nodes
            .iter()
            .filter(|t| t.preference.matches(&node.name, &node.labels))
            .map(|t| i64::from(t.weight.max(0)))
            .sum();
        matched * MAX_NODE_SCORE / total
    }
}

/// InterPodAffinity's score: Σ weight × selected pods in the node's domain, per preferred term
/// (anti-affinity weights negative), normalized over the nodes to 0..=100 as upstream.
pub struct InterPodAffinityScore;

impl ScorePlugin for InterPodAffinityScore {
    fn name(&self) -> &'static str {
        "InterPodAffinity"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(c) = pod.constraints.as_deref() else { return 0 };
        let (lo, hi) = c.preferred_pods_range;
        if c.preferred_pods.is_empty() || hi <= lo {
            return 0;
        }
        (c.preferred_pods_sum(node) - lo) * MAX_NODE_SCORE / (hi - lo)
    }
}

/// PodTopologySpread's score for `ScheduleAnyway` constraints: the fewer selected pods in the
/// node's domain, the higher, normalized over the domains (upstream normalizes over nodes and
/// weighs each constraint by the log of its domain count; here every constraint weighs 1).
pub struct PodTopologySpreadScore;

impl ScorePlugin for PodTopologySpreadScore {
    fn name(&self) -> &'static str {
        "PodTopologySpread"
    }
    fn score(&self, pod: &PodInfo, node: &NodeInfo) -> i64 {
        let Some(c) = pod.constraints.as_deref() else { return 0 };
        let soft: Vec<&SpreadDomains> = c.spread.iter().filter(|s| !s.hard).collect();
        if soft.is_empty() {
            return 0;
        }
        let mut score = 0;
        for s in &soft {
            let Some(count) = node.labels.get(&s.topology_key).map(|d| s.counts.get(d).copied().unwrap_or(0)) else {
                continue;
            };
            score += if s.max == s.min { MAX_NODE_SCORE } else { (s.max - count) * MAX_NODE_SCORE / (s.max - s.min) };
        }
        score / soft.len() as i64
    }
}

/// The three score plugins at upstream's default weight (2 each), added to a policy's own only
/// for a pod that has affinity or spread terms, so every other pod scores exactly as before.
pub const SCORES: [super::framework::Weighted; 3] = [
    super::framework::Weighted { plugin: &NodeAffinityScore, weight: 2 },
    super::framework::Weighted { plugin: &InterPodAffinityScore, weight: 2 },
    super::framework::Weighted { plugin: &PodTopologySpreadScore, weight: 2 },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Millis;
    use crate::cluster::controllers::harness::{labelled, pod, running};
    use crate::cluster::scheduler::framework::tests::node;
    use crate::cluster::scheduler::framework::{Verdict, fits, run_filters, total_score};
    use serde_json::json;

    /// pin-1..pin-n, zones a, b, c in turn.
    fn pins(n: usize) -> Vec<NodeInfo> {
        (1..=n)
            .map(|i| {
                let mut node = node(&format!("pin-{i}"), 4000, 8);
                node.labels.insert("kubernetes.io/hostname".into(), node.name.to_string());
                node.labels.insert("topology.kubernetes.io/zone".into(), ["a", "b", "c"][(i - 1) % 3].into());
                node
            })
            .collect()
    }

    /// A store holding `app=web` pods bound to `on`.
    fn store_with_web_on(on: &[&str]) -> Store {
        let mut store = Store::new(1);
        for (i, node) in on.iter().enumerate() {
            let web = running(labelled(pod(&format!("web-{i}")), &[("app", "web")]), node, "10.0.0.1", true);
            store.create(web, Millis(0)).unwrap();
        }
        store
    }

    /// An `app=web` pod with `spec` merged in from JSON (affinity, topologySpreadConstraints).
    fn web_pod(spec: serde_json::Value) -> Pod {
        let mut value = serde_json::to_value(labelled(pod("new"), &[("app", "web")])).unwrap();
        for (k, v) in spec.as_object().unwrap() {
            value["spec"][k] = v.clone();
        }
        serde_json::from_value(value).unwrap()
    }

    fn verdicts(pod: &Pod, store: &Store, nodes: &[NodeInfo]) -> Vec<Verdict> {
        let info = PodInfo::for_cycle(pod, store, nodes);
        nodes
            .iter()
            .map(|n| {
                let v = run_filters(&info, n);
                assert_eq!(fits(&info, n), v == Verdict::Fit, "fits and run_filters agree");
                v
            })
            .collect()
    }

    fn unfit(plugin: &'static str, reason: &str) -> Verdict {
        Verdict::Unfit { plugin, reasons: vec![reason.into()] }
    }

    #[test]
    fn required_node_affinity_filters_with_the_node_selector_reason() {
        let pod = web_pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]}]}]}}}}));
        let v = verdicts(&pod, &store_with_web_on(&[]), &pins(3));
        assert_eq!(v[1], Verdict::Fit);
        assert_eq!(v[0], unfit("NodeAffinity", NODE_AFFINITY_MISMATCH));
        assert_eq!(v[2], unfit("NodeAffinity", NODE_AFFINITY_MISMATCH));
        // Without the store (PodInfo::of) the required terms still apply.
        assert!(!fits(&PodInfo::of(&pod), &pins(1)[0]));
    }

    #[test]
    fn preferred_node_affinity_scores_by_weight() {
        let wanted = web_pod(json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 80, "preference": {"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["a"]}]}},
            {"weight": 20, "preference": {"matchFields": [
                {"key": "metadata.name", "operator": "In", "values": ["pin-2"]}]}}]}}}));
        let nodes = pins(3);
        let info = PodInfo::of(&wanted);
        let scores: Vec<i64> = nodes.iter().map(|n| NodeAffinityScore.score(&info, n)).collect();
        assert_eq!(scores, [80, 20, 0]);
        // It joins a policy's own plugins for this pod only.
        assert_eq!(total_score(&info, &nodes[0], &[]), 2 * 80);
        assert_eq!(total_score(&PodInfo::of(&pod("plain")), &nodes[0], &[]), 0);
    }

    #[test]
    fn required_anti_affinity_keeps_replicas_apart_by_host_and_by_zone() {
        let store = store_with_web_on(&["pin-1"]);
        let nodes = pins(6);
        let term = |key: &str| {
            json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": key}]}}})
        };
        let v = verdicts(&web_pod(term("kubernetes.io/hostname")), &store, &nodes);
        assert_eq!(v[0], unfit("InterPodAffinity", ANTI_AFFINITY_RULES));
        assert!(v[1..].iter().all(|v| *v == Verdict::Fit));
        // By zone: pin-1 and pin-4 are zone a.
        let v = verdicts(&web_pod(term("topology.kubernetes.io/zone")), &store, &nodes);
        let failing: Vec<usize> = (0..6).filter(|&j| v[j] != Verdict::Fit).collect();
        assert_eq!(failing, [0, 3]);
        assert_eq!(v[3], unfit("InterPodAffinity", ANTI_AFFINITY_RULES));
    }

    #[test]
    fn required_pod_affinity_needs_a_selected_pod_in_the_domain_unless_it_starts_the_group() {
        let affinity = |app: &str| {
            json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": "topology.kubernetes.io/zone"}]}}})
        };
        let nodes = pins(3);
        let v = verdicts(&web_pod(affinity("web")), &store_with_web_on(&["pin-2"]), &nodes);
        assert_eq!(
            v,
            [unfit("InterPodAffinity", AFFINITY_RULES), Verdict::Fit, unfit("InterPodAffinity", AFFINITY_RULES)]
        );
        // No `web` pod anywhere and the pod is `web` itself: it may start the group anywhere.
        let v = verdicts(&web_pod(affinity("web")), &store_with_web_on(&[]), &nodes);
        assert!(v.iter().all(|v| *v == Verdict::Fit));
        // ... but not when it needs some other app that is nowhere.
        let v = verdicts(&web_pod(affinity("db")), &store_with_web_on(&[]), &nodes);
        assert!(v.iter().all(|v| *v == unfit("InterPodAffinity", AFFINITY_RULES)));
    }

    #[test]
    fn topology_spread_do_not_schedule_holds_the_skew() {
        // Zone a holds 2 web pods, zone b 1, zone c none.
        let store = store_with_web_on(&["pin-1", "pin-4", "pin-2"]);
        let mut nodes = pins(6);
        let spread = |skew: i32| {
            web_pod(
                json!({"topologySpreadConstraints": [{"maxSkew": skew, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
            )
        };
        let v = verdicts(&spread(1), &store, &nodes);
        let fit: Vec<usize> = (0..6).filter(|&j| v[j] == Verdict::Fit).collect();
        assert_eq!(fit, [2, 5], "only zone c keeps the skew within 1");
        assert_eq!(v[0], unfit("PodTopologySpread", SPREAD_CONSTRAINTS));
        assert_eq!(v[1], unfit("PodTopologySpread", SPREAD_CONSTRAINTS), "b would be 2 against c's 0");
        let v = verdicts(&spread(2), &store, &nodes);
        assert_eq!((0..6).filter(|&j| v[j] == Verdict::Fit).count(), 4, "a would be 3 against 0");
        // A node without the key cannot take the pod.
        nodes.push(node("bare", 4000, 8));
        let v = verdicts(&spread(1), &store, &nodes);
        assert_eq!(v[6], unfit("PodTopologySpread", SPREAD_MISSING_LABEL));
    }

    #[test]
    fn topology_spread_schedule_anyway_scores_the_emptier_domain_higher() {
        // Zone a (pin-1, pin-4) holds 2 web pods, zone b 1, zone c none.
        let store = store_with_web_on(&["pin-1", "pin-4", "pin-2"]);
        let nodes = pins(6);
        let pod = web_pod(json!({"topologySpreadConstraints": [{"maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "web"}}}]}));
        let info = PodInfo::for_cycle(&pod, &store, &nodes);
        assert!(nodes.iter().all(|n| run_filters(&info, n) == Verdict::Fit), "ScheduleAnyway never filters");
        let scores: Vec<i64> = nodes[..3].iter().map(|n| PodTopologySpreadScore.score(&info, n)).collect();
        assert_eq!(scores, [0, 50, 100]);
    }

    #[test]
    fn preferred_anti_affinity_scores_domains_without_the_selected_pods_higher() {
        let store = store_with_web_on(&["pin-1"]);
        let nodes = pins(2);
        let pod = web_pod(json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}},
                "topologyKey": "kubernetes.io/hostname"}}]}}}));
        let info = PodInfo::for_cycle(&pod, &store, &nodes);
        let scores: Vec<i64> = nodes.iter().map(|n| InterPodAffinityScore.score(&info, n)).collect();
        assert_eq!(scores, [0, 100]);
    }

    #[test]
    fn pods_without_terms_carry_nothing() {
        let store = store_with_web_on(&["pin-1"]);
        let info = PodInfo::for_cycle(&pod("plain"), &store, &pins(3));
        assert_eq!(info.constraints, None);
    }
}
