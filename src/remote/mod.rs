//! Bowling against a real cluster through kube-rs (`play --kubeconfig`, `cleanup`, `rbac`).
//!
//! The bowling stays local; only the cluster is remote. Two kinds of pins:
//! - [`fake_pins`] (the default, safe on any cluster): ten Nodes `pinsetter-pin-N` registered
//!   through the API, with Pinsetter as their kubelet, as KWOK does. A knock stops one's kubelet;
//!   the cluster's own node-lifecycle controller and scheduler do the rest.
//! - [`real_nodes`] (opt-in): the nodes a label selector picks; a knock cordons and taints (or
//!   drains through the Eviction API).
//!
//! [`cluster_view`] mirrors the remote cluster into the store the game screen already renders.
//! Everything created is labelled [`OWNED_LABEL`], so [`cleanup`] (and a crashed game's next
//! `pinsetter cleanup`) can find it without remembering anything.
//!
//! This is a shell: it does I/O and reads the wall clock; the deterministic core is untouched.

pub mod cluster_view;
pub mod fake_pins;
pub mod game;
pub mod real_nodes;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// The label on everything Pinsetter creates in a cluster: what `cleanup` deletes.
pub const OWNED_LABEL: &str = "pinsetter.dev/owned";
/// The label (and taint key) that marks a fake pin; its value is the pin's number.
pub const PIN_LABEL: &str = "pinsetter.dev/pin";
/// The namespace of the scenario's Deployments.
pub const NAMESPACE: &str = "pinsetter";
/// The field manager named in every write, so `kubectl get --show-managed-fields` says who.
pub const FIELD_MANAGER: &str = "pinsetter";

/// Which pins the game knocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Nodes Pinsetter registers and is the kubelet of.
    FakePins,
    /// The cluster's own nodes, picked by a label selector.
    Nodes,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::FakePins => "fake pins",
            Mode::Nodes => "nodes",
        }
    }
}

/// A failure the caller reports as one line (the CLI) or branches on (tests).
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error("cannot build a client for the cluster: {0}")]
    Client(#[source] kube::Error),
    /// kubectl's wording for `auth can-i`, plus what to do about it.
    #[error(
        "missing permission: cannot {verb} resource \"{resource}\" in API group \"{group}\"{scope}; `pinsetter rbac --mode {mode}` prints the ClusterRole this needs"
    )]
    Forbidden { verb: String, resource: String, group: String, scope: String, mode: &'static str },
    #[error("{0}")]
    Selector(String),
    #[error("the scenario cannot go to a cluster: {0}")]
    Scenario(String),
    #[error("{what}: {source}")]
    Api { what: String, source: kube::Error },
}

impl RemoteError {
    pub fn api(what: impl Into<String>) -> impl FnOnce(kube::Error) -> RemoteError {
        let what = what.into();
        move |source| RemoteError::Api { what, source }
    }
}

/// A client for one context of one kubeconfig, and what the panel says about it.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    pub context: String,
    pub server: String,
}

/// Resolves the kubeconfig as kubectl does: `--kubeconfig PATH`, else `KUBECONFIG` (a list of
/// files, merged), else `~/.kube/config`; `--context NAME`, else the current context.
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Connection, RemoteError> {
    let config_file = match kubeconfig {
        Some(path) => Kubeconfig::read_from(path),
        None => Kubeconfig::read(),
    }
    .map_err(RemoteError::Kubeconfig)?;
    let context_name = context.map(str::to_string).or_else(|| config_file.current_context.clone()).unwrap_or_default();
    let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let mut config =
        kube::Config::from_custom_kubeconfig(config_file, &options).await.map_err(RemoteError::Kubeconfig)?;
    // kube's default client retries 429, 503 and 504 up to 15 times with a backoff growing to
    // minutes. To the game a 429 is an answer (an eviction a PodDisruptionBudget refuses, which
    // the drain reports and tries again on its next pass, as `kubectl drain` does), and a key that
    // froze for minutes would be worse than an error; the reflectors keep their own backoff.
    config.default_retry = false;
    let server = config.cluster_url.to_string().trim_end_matches('/').to_string();
    let client = kube::Client::try_from(config).map_err(RemoteError::Client)?;
    Ok(Connection { client, context: context_name, server })
}

/// One RBAC rule a mode needs: a verb on a resource (optionally a subresource) of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: &'static str,
    pub verb: &'static str,
    /// Namespaced resources are checked in this namespace ("" = cluster-wide).
    pub namespace: &'static str,
}

const fn allow(group: &'static str, resource: &'static str, verb: &'static str) -> Permission {
    Permission { group, resource, subresource: "", verb, namespace: "" }
}

const fn allow_sub(
    group: &'static str,
    resource: &'static str,
    subresource: &'static str,
    verb: &'static str,
) -> Permission {
    Permission { group, resource, subresource, verb, namespace: "" }
}

/// What the game reads in either mode: the view's reflectors.
const VIEW: &[Permission] = &[
    allow("", "nodes", "list"),
    allow("", "nodes", "watch"),
    allow("", "pods", "list"),
    allow("", "pods", "watch"),
    allow("apps", "deployments", "list"),
    allow("apps", "deployments", "watch"),
];

/// Fake pins: registering nodes, their leases and the scenario; being their kubelet; cleanup.
const FAKE_PINS: &[Permission] = &[
    allow("", "nodes", "create"),
    allow("", "nodes", "patch"),
    allow("", "nodes", "delete"),
    allow_sub("", "nodes", "status", "patch"),
    allow("", "namespaces", "create"),
    allow("", "namespaces", "delete"),
    allow("", "namespaces", "list"),
    allow("apps", "deployments", "create"),
    allow("apps", "deployments", "delete"),
    allow_sub("", "pods", "status", "patch"),
    allow("", "pods", "delete"),
    allow("coordination.k8s.io", "leases", "create"),
    allow("coordination.k8s.io", "leases", "patch"),
    allow("coordination.k8s.io", "leases", "list"),
    allow("coordination.k8s.io", "leases", "delete"),
];

/// Real nodes: cordon and taint (a patch), and the drain's evictions.
const NODES: &[Permission] =
    &[allow("", "nodes", "get"), allow("", "nodes", "patch"), allow_sub("", "pods", "eviction", "create")];

/// Every permission `mode` needs, the view's first.
pub fn permissions(mode: Mode) -> Vec<Permission> {
    let own = match mode {
        Mode::FakePins => FAKE_PINS,
        Mode::Nodes => NODES,
    };
    VIEW.iter().chain(own).copied().collect()
}

/// The minimal ClusterRole for `mode`, as YAML for `kubectl apply -f -`: one rule per
/// (group, resource), verbs merged.
pub fn cluster_role_yaml(mode: Mode) -> String {
    let mut rules: std::collections::BTreeMap<(&str, String), std::collections::BTreeSet<&str>> = Default::default();
    for p in permissions(mode) {
        let resource =
            if p.subresource.is_empty() { p.resource.to_string() } else { format!("{}/{}", p.resource, p.subresource) };
        rules.entry((p.group, resource)).or_default().insert(p.verb);
    }
    let name = match mode {
        Mode::FakePins => "pinsetter-fake-pins",
        Mode::Nodes => "pinsetter-nodes",
    };
    let mut yaml = format!(
        "# The least `pinsetter play --pins {}` needs. Bind it to your user with:\n#   kubectl create clusterrolebinding {name} --clusterrole={name} --user=YOU\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {name}\n  labels:\n    {OWNED_LABEL}: \"true\"\nrules:\n",
        match mode {
            Mode::FakePins => "fake",
            Mode::Nodes => "nodes",
        }
    );
    for ((group, resource), verbs) in rules {
        let verbs: Vec<String> = verbs.iter().map(|v| format!("\"{v}\"")).collect();
        yaml.push_str(&format!(
            "- apiGroups: [\"{group}\"]\n  resources: [\"{resource}\"]\n  verbs: [{}]\n",
            verbs.join(", ")
        ));
    }
    yaml
}

/// Asks the API server, with one SelfSubjectAccessReview per permission, whether these
/// credentials may do what `mode` needs; the first refusal is the error (named as kubectl's
/// `auth can-i` would name it).
pub async fn preflight(client: &kube::Client, mode: Mode) -> Result<(), RemoteError> {
    let reviews: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    for p in permissions(mode) {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(p.group.to_string()),
                    resource: Some(p.resource.to_string()),
                    subresource: (!p.subresource.is_empty()).then(|| p.subresource.to_string()),
                    verb: Some(p.verb.to_string()),
                    namespace: (!p.namespace.is_empty()).then(|| p.namespace.to_string()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = reviews.create(&PostParams::default(), &review).await.map_err(RemoteError::api(
            "cannot ask the API server what these credentials may do (SelfSubjectAccessReview)",
        ))?;
        if !answer.status.is_some_and(|s| s.allowed) {
            let resource = if p.subresource.is_empty() {
                p.resource.to_string()
            } else {
                format!("{}/{}", p.resource, p.subresource)
            };
            return Err(RemoteError::Forbidden {
                verb: p.verb.to_string(),
                resource,
                group: p.group.to_string(),
                scope: if p.namespace.is_empty() {
                    " at the cluster scope".to_string()
                } else {
                    format!(" in the namespace \"{}\"", p.namespace)
                },
                mode: match mode {
                    Mode::FakePins => "fake-pins",
                    Mode::Nodes => "nodes",
                },
            });
        }
    }
    Ok(())
}

/// What `cleanup` deleted, by kind, for its one-line report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub deployments: usize,
    pub leases: usize,
    pub nodes: usize,
    pub namespaces: usize,
}

/// Deletes everything labelled [`OWNED_LABEL`]: the scenario's Deployments, the fake pins'
/// Leases and Nodes, and the namespace. Dependents first, so nothing is orphaned if it stops
/// half-way; a second run finds whatever the first left.
pub async fn cleanup(client: &kube::Client) -> Result<Cleaned, RemoteError> {
    let owned = ListParams::default().labels(OWNED_LABEL);
    let now = DeleteParams::default().grace_period(0);
    let mut cleaned = Cleaned::default();
    let deployments: Api<Deployment> = Api::all(client.clone());
    for d in deployments.list(&owned).await.map_err(RemoteError::api("cannot list Deployments"))? {
        let namespace = d.metadata.namespace.clone().unwrap_or_default();
        let name = d.metadata.name.clone().unwrap_or_default();
        delete_if_present(
            Api::<Deployment>::namespaced(client.clone(), &namespace),
            &name,
            &DeleteParams::foreground(),
        )
        .await
        .map_err(RemoteError::api(format!("cannot delete Deployment {namespace}/{name}")))?;
        cleaned.deployments += 1;
    }
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    for lease in leases.list(&owned).await.map_err(RemoteError::api("cannot list Leases in kube-node-lease"))? {
        let name = lease.metadata.name.unwrap_or_default();
        delete_if_present(leases.clone(), &name, &now)
            .await
            .map_err(RemoteError::api(format!("cannot delete Lease {name}")))?;
        cleaned.leases += 1;
    }
    let nodes: Api<Node> = Api::all(client.clone());
    for node in nodes.list(&owned).await.map_err(RemoteError::api("cannot list Nodes"))? {
        let name = node.metadata.name.unwrap_or_default();
        delete_if_present(nodes.clone(), &name, &now)
            .await
            .map_err(RemoteError::api(format!("cannot delete Node {name}")))?;
        cleaned.nodes += 1;
    }
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces.list(&owned).await.map_err(RemoteError::api("cannot list Namespaces"))? {
        let name = ns.metadata.name.unwrap_or_default();
        delete_if_present(namespaces.clone(), &name, &DeleteParams::default())
            .await
            .map_err(RemoteError::api(format!("cannot delete Namespace {name}")))?;
        cleaned.namespaces += 1;
    }
    Ok(cleaned)
}

/// A delete that counts "already gone" (404) as done: cleanup races the garbage collector.
async fn delete_if_present<K>(api: Api<K>, name: &str, params: &DeleteParams) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(error),
    }
}

/// True for a 404 from the API server.
pub fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

/// True for a 409 (already exists, or a conflict).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_gets_one_rule_per_resource_with_its_verbs_merged() {
        let fake = cluster_role_yaml(Mode::FakePins);
        assert!(fake.contains("name: pinsetter-fake-pins"), "{fake}");
        assert!(
            fake.contains("- apiGroups: [\"\"]\n  resources: [\"nodes\"]\n  verbs: [\"create\", \"delete\", \"list\", \"patch\", \"watch\"]\n"),
            "{fake}"
        );
        assert!(fake.contains("resources: [\"nodes/status\"]\n  verbs: [\"patch\"]"), "{fake}");
        assert!(!fake.contains("pods/eviction"), "fake pins evict nothing: {fake}");
        let nodes = cluster_role_yaml(Mode::Nodes);
        assert!(nodes.contains("name: pinsetter-nodes"), "{nodes}");
        assert!(nodes.contains("resources: [\"pods/eviction\"]\n  verbs: [\"create\"]"), "{nodes}");
        assert!(!nodes.contains("namespaces"), "real nodes create nothing: {nodes}");
    }
}
