//! Real nodes as pins (opt-in): the nodes a label selector picks, in name order. A knock cordons
//! the node and adds the NoExecute taint [`KNOCKED_TAINT`] (the cluster's taint manager evicts),
//! or with `drain` evicts its pods through the Eviction API, which honours PodDisruptionBudgets;
//! a restore removes both. Nothing outside the selector is ever touched.

use super::{FIELD_MANAGER, RemoteError, is_conflict};
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use kube::api::{Api, EvictParams, ListParams, Patch, PatchParams};

/// The taint a knocked node carries.
pub const KNOCKED_TAINT: &str = "pinsetter.dev/knocked";

/// The nodes the selector picks, sorted by name (pin 1 is the first). Refuses a selector that
/// picks every node unless `allow_all`: the game would take the whole cluster down.
pub async fn pick(client: &kube::Client, selector: &str, allow_all: bool) -> Result<Vec<String>, RemoteError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let picked = nodes
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(RemoteError::api(format!("cannot list nodes matching {selector:?}")))?;
    let mut names: Vec<String> = picked.items.into_iter().filter_map(|n| n.metadata.name).collect();
    names.sort();
    if names.is_empty() {
        return Err(RemoteError::Selector(format!("no node matches the selector {selector:?}")));
    }
    if !allow_all {
        let all = nodes.list_metadata(&ListParams::default()).await.map_err(RemoteError::api("cannot list nodes"))?;
        if all.items.len() == names.len() {
            return Err(RemoteError::Selector(format!(
                "the selector {selector:?} matches every node of the cluster ({}): give --yes twice (or --all-nodes) to bowl with all of them",
                names.len()
            )));
        }
    }
    names.truncate(10);
    Ok(names)
}

/// What a knock or restore does to `node`, for `--dry-run`.
pub fn describe_knock(node: &str, drain: bool) -> String {
    if drain {
        format!(
            "cordon node {node} (spec.unschedulable=true, taint {KNOCKED_TAINT}=true:NoSchedule) and evict each of its pods through the Eviction API (PodDisruptionBudgets honoured; a 429 is retried)"
        )
    } else {
        format!("cordon node {node} (spec.unschedulable=true) and add the taint {KNOCKED_TAINT}=true:NoExecute")
    }
}

pub fn describe_restore(node: &str) -> String {
    format!("uncordon node {node} and remove the taint {KNOCKED_TAINT}")
}

/// The node's taints with [`KNOCKED_TAINT`] added or removed, for one merge patch (a merge patch
/// replaces the list, so the node's other taints are carried over).
fn taints_with(node: &Node, effect: Option<&str>) -> Vec<Taint> {
    let mut taints: Vec<Taint> = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    taints.retain(|t| t.key != KNOCKED_TAINT);
    if let Some(effect) = effect {
        taints.push(Taint {
            key: KNOCKED_TAINT.into(),
            value: Some("true".into()),
            effect: effect.into(),
            time_added: None,
        });
    }
    taints
}

/// Whether the game knocked `node` (it carries [`KNOCKED_TAINT`]): what the game restores on
/// exit, leaving a node the user cordoned alone.
pub fn is_knocked(node: &Node) -> bool {
    node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|t| t.iter().any(|t| t.key == KNOCKED_TAINT))
}

/// Cordons (`knocked`) or uncordons `name`, with the taint of `effect` (NoExecute for a knock;
/// NoSchedule marks a drained node as the game's) or without it.
async fn set_knocked(
    client: &kube::Client,
    name: &str,
    knocked: bool,
    effect: Option<&str>,
) -> Result<(), RemoteError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let what = format!("cannot {} node {name}", if knocked { "cordon" } else { "uncordon" });
    // The taints are a list replaced whole, so the write is conditional on the version read; the
    // node's kubelet writes it too, so a conflict is read again and retried (client-go's
    // `RetryOnConflict`, five steps).
    let mut attempts = 0;
    loop {
        let node = nodes.get(name).await.map_err(RemoteError::api(format!("cannot read node {name}")))?;
        let taints = taints_with(&node, effect);
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": node.metadata.resource_version},
            "spec": {"unschedulable": knocked, "taints": taints},
        });
        match nodes.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) && attempts < 4 => attempts += 1,
            Err(e) => return Err(RemoteError::Api { what, source: e }),
        }
    }
}

/// Knocks `node`: cordon + NoExecute taint.
pub async fn knock(client: &kube::Client, node: &str) -> Result<(), RemoteError> {
    set_knocked(client, node, true, Some("NoExecute")).await
}

/// Stands `node` again: uncordoned, the taint gone.
pub async fn restore(client: &kube::Client, node: &str) -> Result<(), RemoteError> {
    set_knocked(client, node, false, None).await
}

/// The outcome of one drain pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Drained {
    pub evicted: Vec<String>,
    /// Pods a PodDisruptionBudget protects for now (429): the caller retries them.
    pub blocked: Vec<String>,
}

/// Cordons `node` and asks the Eviction API to evict each of its pods once (DaemonSet pods stay,
/// as `kubectl drain --ignore-daemonsets` leaves them). A 429 means a PodDisruptionBudget allows
/// no disruption now: that pod is reported blocked, for the caller to retry.
pub async fn drain(client: &kube::Client, node: &str) -> Result<Drained, RemoteError> {
    set_knocked(client, node, true, Some("NoSchedule")).await?;
    let pods: Api<Pod> = Api::all(client.clone());
    let on_node = pods
        .list(&ListParams::default().fields(&format!("spec.nodeName={node}")))
        .await
        .map_err(RemoteError::api(format!("cannot list the pods on node {node}")))?;
    let mut drained = Drained::default();
    for pod in on_node {
        if pod.metadata.deletion_timestamp.is_some()
            || pod.metadata.owner_references.as_ref().is_some_and(|o| o.iter().any(|o| o.kind == "DaemonSet"))
        {
            continue;
        }
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        match api.evict(&name, &EvictParams::default()).await {
            Ok(_) => drained.evicted.push(format!("{namespace}/{name}")),
            Err(kube::Error::Api(status)) if status.code == 429 => drained.blocked.push(format!("{namespace}/{name}")),
            Err(e) if super::is_not_found(&e) => {}
            Err(e) => return Err(RemoteError::Api { what: format!("cannot evict pod {namespace}/{name}"), source: e }),
        }
    }
    Ok(drained)
}
