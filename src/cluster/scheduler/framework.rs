//! The scheduling framework's filter half, named as in kube-scheduler
//! (`pkg/scheduler/framework/plugins`): a node passes a pod only if every filter plugin passes.
//! Policies (see `greedy.rs`) decide the order pods are placed in and which passing node wins.

use crate::cluster::objects::{Node, Pod, Readiness, Taint, Toleration};
use crate::cluster::store::{ObjectKey, Store};
use serde::Serialize;
use std::collections::BTreeMap;

/// cpu (millicores), memory (milli-bytes) and a pod count, the three resources NodeResourcesFit checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resources {
    pub cpu_milli: i64,
    pub memory_milli: i64,
    pub pods: i64,
}

/// A node as the scheduler sees it in one cycle: a snapshot, like upstream's `NodeInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub allocatable: Resources,
    pub requested: Resources,
    pub taints: Vec<Taint>,
    pub labels: BTreeMap<String, String>,
    pub unschedulable: bool,
    pub readiness: Readiness,
}

impl NodeInfo {
    pub fn free(&self) -> Resources {
        Resources {
            cpu_milli: self.allocatable.cpu_milli - self.requested.cpu_milli,
            memory_milli: self.allocatable.memory_milli - self.requested.memory_milli,
            pods: self.allocatable.pods - self.requested.pods,
        }
    }
}

/// What the filters need of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodInfo {
    pub key: ObjectKey,
    pub requests: Resources,
    pub priority: i32,
    pub tolerations: Vec<Toleration>,
    pub node_selector: BTreeMap<String, String>,
}

impl PodInfo {
    pub fn of(pod: &Pod) -> PodInfo {
        let r = pod.requests();
        PodInfo {
            key: ObjectKey::of(&pod.metadata),
            requests: Resources { cpu_milli: r.cpu_milli, memory_milli: r.memory_milli, pods: 1 },
            priority: pod.priority(),
            tolerations: pod.spec.tolerations.clone(),
            node_selector: pod.spec.node_selector.clone(),
        }
    }
}

/// Builds the cycle's snapshot: every node, in the order given, with what its pods request.
pub fn snapshot<'a>(store: &Store, nodes: impl IntoIterator<Item = &'a Node>) -> Vec<NodeInfo> {
    nodes
        .into_iter()
        .map(|node| {
            let mut requested = Resources::default();
            for pod in store.pods_on_node(&node.metadata.name) {
                if matches!(pod.status.phase.as_str(), "Succeeded" | "Failed") {
                    continue;
                }
                let r = pod.requests();
                requested.cpu_milli += r.cpu_milli;
                requested.memory_milli += r.memory_milli;
                requested.pods += 1;
            }
            NodeInfo {
                name: node.metadata.name.clone(),
                allocatable: Resources {
                    cpu_milli: node.allocatable("cpu"),
                    memory_milli: node.allocatable("memory"),
                    pods: node.allocatable("pods") / 1000,
                },
                requested,
                taints: node.spec.taints.clone(),
                labels: node.metadata.labels.clone(),
                unschedulable: node.spec.unschedulable,
                readiness: node.readiness(),
            }
        })
        .collect()
}

/// Why a node failed a pod. `reasons()` gives upstream's exact strings, which the
/// FailedScheduling message counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Unfit {
    Unschedulable,
    UntoleratedTaint {
        key: String,
        value: String,
    },
    NodeSelectorMismatch,
    /// Each of "pods", "cpu", "memory" that does not fit, in upstream's order.
    Insufficient(Vec<&'static str>),
}

impl Unfit {
    pub fn reasons(&self) -> Vec<String> {
        match self {
            Unfit::Unschedulable => vec!["node(s) were unschedulable".into()],
            Unfit::UntoleratedTaint { key, value } => vec![format!("node(s) had untolerated taint {{{key}: {value}}}")],
            Unfit::NodeSelectorMismatch => vec!["node(s) didn't match Node's node affinity/selector".into()],
            Unfit::Insufficient(what) => what
                .iter()
                .map(|r| if *r == "pods" { "Too many pods".to_string() } else { format!("Insufficient {r}") })
                .collect(),
        }
    }
}

/// A filter plugin: can this node run this pod? Static plugins look only at the node's
/// labels, taints and flags, so a policy may evaluate them once per node per cycle.
pub trait FilterPlugin {
    fn name(&self) -> &'static str;
    fn is_static(&self) -> bool;
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit>;
}

/// `spec.unschedulable` (cordon) rejects pods that do not tolerate
/// `node.kubernetes.io/unschedulable:NoSchedule`.
pub struct NodeUnschedulable;
impl FilterPlugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        "NodeUnschedulable"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let taint = Taint::new(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE);
        if node.unschedulable && !pod.tolerations.iter().any(|t| t.tolerates(&taint)) {
            return Err(Unfit::Unschedulable);
        }
        Ok(())
    }
}

/// NoSchedule and NoExecute taints must be tolerated (upstream's TaintToleration filter). This is
/// also how a NotReady node repels pods: the node lifecycle controller taints it.
pub struct TaintToleration;
impl FilterPlugin for TaintToleration {
    fn name(&self) -> &'static str {
        "TaintToleration"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let untolerated = node.taints.iter().find(|taint| {
            (taint.effect == Taint::NO_SCHEDULE || taint.effect == Taint::NO_EXECUTE)
                && !pod.tolerations.iter().any(|t| t.tolerates(taint))
        });
        match untolerated {
            Some(t) => Err(Unfit::UntoleratedTaint { key: t.key.clone(), value: t.value.clone() }),
            None => Ok(()),
        }
    }
}

/// `spec.nodeSelector`: every label must match (upstream's NodeAffinity plugin).
pub struct NodeAffinity;
impl FilterPlugin for NodeAffinity {
    fn name(&self) -> &'static str {
        "NodeAffinity"
    }
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        if pod.node_selector.iter().all(|(k, v)| node.labels.get(k) == Some(v)) {
            Ok(())
        } else {
            Err(Unfit::NodeSelectorMismatch)
        }
    }
}

/// Requests must fit in allocatable minus what the node's pods already request.
pub struct NodeResourcesFit;
impl FilterPlugin for NodeResourcesFit {
    fn name(&self) -> &'static str {
        "NodeResourcesFit"
    }
    fn is_static(&self) -> bool {
        false
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let free = node.free();
        let mut short = Vec::new();
        if free.pods < 1 {
            short.push("pods");
        }
        if pod.requests.cpu_milli > free.cpu_milli {
            short.push("cpu");
        }
        if pod.requests.memory_milli > free.memory_milli {
            short.push("memory");
        }
        if short.is_empty() { Ok(()) } else { Err(Unfit::Insufficient(short)) }
    }
}

/// The filters in upstream's order: the first failing one is the node's verdict.
pub const FILTERS: [&(dyn FilterPlugin + Sync); 4] =
    [&NodeUnschedulable, &TaintToleration, &NodeAffinity, &NodeResourcesFit];

/// One node's answer for one pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
pub enum Verdict {
    /// Passed every filter.
    Fit,
    /// Failed `plugin` for `reasons`.
    Unfit { plugin: &'static str, reasons: Vec<String> },
}

pub fn run_filters(pod: &PodInfo, node: &NodeInfo) -> Verdict {
    for plugin in FILTERS {
        if let Err(unfit) = plugin.filter(pod, node) {
            return Verdict::Unfit { plugin: plugin.name(), reasons: unfit.reasons() };
        }
    }
    Verdict::Fit
}

/// Only the static filters: the part of a verdict that does not depend on what else is bound.
pub fn run_static_filters(pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
    FILTERS.iter().filter(|p| p.is_static()).try_for_each(|p| p.filter(pod, node))
}

/// Upstream's FitError message: `0/10 nodes are available: 3 node(s) had untolerated taint
/// {node.kubernetes.io/unreachable: }, 7 Insufficient cpu.` (reason counts sorted as strings).
pub fn fit_error_message<'a>(verdicts: impl IntoIterator<Item = &'a Verdict>) -> String {
    let mut total = 0;
    let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
    for verdict in verdicts {
        total += 1;
        if let Verdict::Unfit { reasons, .. } = verdict {
            for r in reasons {
                *histogram.entry(r.as_str()).or_default() += 1;
            }
        }
    }
    let mut parts: Vec<String> = histogram.iter().map(|(reason, n)| format!("{n} {reason}")).collect();
    parts.sort();
    if parts.is_empty() {
        format!("0/{total} nodes are available.")
    } else {
        format!("0/{total} nodes are available: {}.", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn node(name: &str, cpu: i64, mem_gi: i64) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            allocatable: Resources { cpu_milli: cpu, memory_milli: mem_gi << 30 << 10, pods: 110 },
            requested: Resources::default(),
            taints: vec![],
            labels: BTreeMap::new(),
            unschedulable: false,
            readiness: Readiness::Ready,
        }
    }

    fn pod(cpu: i64) -> PodInfo {
        PodInfo {
            key: ObjectKey::new("default", "p"),
            requests: Resources { cpu_milli: cpu, memory_milli: 0, pods: 1 },
            priority: 0,
            tolerations: vec![],
            node_selector: BTreeMap::new(),
        }
    }

    #[test]
    fn untolerated_taints_fail_and_tolerations_pass() {
        let mut n = node("a", 4000, 8);
        n.taints.push(Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE));
        let mut p = pod(100);
        assert_eq!(
            run_filters(&p, &n),
            Verdict::Unfit {
                plugin: "TaintToleration",
                reasons: vec!["node(s) had untolerated taint {node.kubernetes.io/unreachable: }".into()]
            }
        );
        p.tolerations.push(Toleration {
            key: Taint::UNREACHABLE.into(),
            operator: "Exists".into(),
            effect: "NoExecute".into(),
            toleration_seconds: Some(300),
            ..Default::default()
        });
        assert_eq!(run_filters(&p, &n), Verdict::Fit);
        // PreferNoSchedule never filters.
        n.taints = vec![Taint::new("soft", Taint::PREFER_NO_SCHEDULE)];
        assert_eq!(run_filters(&pod(100), &n), Verdict::Fit);
        // An empty-key Exists toleration tolerates everything.
        n.taints = vec![Taint { key: "k".into(), value: "v".into(), effect: "NoSchedule".into(), time_added: None }];
        let mut all = pod(100);
        all.tolerations.push(Toleration { operator: "Exists".into(), ..Default::default() });
        assert_eq!(run_filters(&all, &n), Verdict::Fit);
        let mut wrong_value = pod(100);
        wrong_value.tolerations.push(Toleration { key: "k".into(), value: "w".into(), ..Default::default() });
        assert!(matches!(run_filters(&wrong_value, &n), Verdict::Unfit { .. }));
    }

    #[test]
    fn cordon_selector_and_resources() {
        let mut n = node("a", 1000, 1);
        n.unschedulable = true;
        assert_eq!(
            run_filters(&pod(100), &n),
            Verdict::Unfit { plugin: "NodeUnschedulable", reasons: vec!["node(s) were unschedulable".into()] }
        );
        n.unschedulable = false;
        let mut p = pod(100);
        p.node_selector.insert("disk".into(), "ssd".into());
        assert!(matches!(run_filters(&p, &n), Verdict::Unfit { plugin: "NodeAffinity", .. }));
        n.labels.insert("disk".into(), "ssd".into());
        assert_eq!(run_filters(&p, &n), Verdict::Fit);
        let mut big = pod(1500);
        big.requests.memory_milli = 2 << 30 << 10;
        assert_eq!(
            run_filters(&big, &n),
            Verdict::Unfit {
                plugin: "NodeResourcesFit",
                reasons: vec!["Insufficient cpu".into(), "Insufficient memory".into()]
            }
        );
        n.requested.pods = 110;
        assert_eq!(
            run_filters(&pod(1), &n),
            Verdict::Unfit { plugin: "NodeResourcesFit", reasons: vec!["Too many pods".into()] }
        );
    }

    #[test]
    fn failed_scheduling_message_matches_upstream_format() {
        let taint = Verdict::Unfit {
            plugin: "TaintToleration",
            reasons: vec!["node(s) had untolerated taint {node.kubernetes.io/unreachable: }".into()],
        };
        let cpu = Verdict::Unfit { plugin: "NodeResourcesFit", reasons: vec!["Insufficient cpu".into()] };
        let verdicts: Vec<Verdict> = std::iter::repeat_n(taint, 3).chain(std::iter::repeat_n(cpu, 7)).collect();
        assert_eq!(
            fit_error_message(&verdicts),
            "0/10 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 7 Insufficient cpu."
        );
        assert_eq!(fit_error_message(&[]), "0/0 nodes are available.");
    }
}
