//! Pin agents: nodes whose kubelet is a separate process (`pinsetter pin --join`), speaking the
//! pin protocol over a WebSocket. This is the control plane's side, deterministic like the rest:
//! the WebSocket handler (`api/pins.rs`) turns frames into these calls through the World's inbox,
//! and the times here are virtual.
//!
//! An agent's Node carries the label `pinsetter.dev/agent=external`; otherwise it is a pin like
//! any other. Its kubelet is a [`Kubelet::remote`]: the agent's heartbeats renew the Lease and its
//! pod reports are written by the same functions the simulated kubelet uses, so the node
//! lifecycle controller, the scheduler and the taint-eviction controller cannot tell them apart.
//! A lost agent is seen only through missed heartbeats; its Node is also annotated with when it
//! left ([`DISCONNECTED_AT_ANNOTATION`]), so `pinsetter ctl prune` can remove it later.
//!
//! Who may play a node: the first join issues a node secret (made at the edge, kept here only
//! as its SHA-256), and every later session for that name must present it, the way a kubelet
//! keeps its client certificate. A Node this agent did not create (from the API or the
//! scenario) is never taken over, and every field an agent reports is validated before any
//! write.

pub mod protocol;

use self::protocol::{Capacity, PodPhase, PodRef};
use super::kubelet::Kubelet;
use super::objects::meta::{FieldError, validate_dns_subdomain, validate_labels};
use super::objects::node::NodeAddress;
use super::objects::{Kind, Lease, Node, NodeStatus, ObjectMeta, Pod, Quantity};
use super::store::ObjectKey;
use super::{Cluster, Context, controllers};
use crate::clock::Millis;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};

/// The label that marks a node played by a pin agent.
pub const AGENT_LABEL: &str = "pinsetter.dev/agent";
pub const AGENT_EXTERNAL: &str = "external";
/// Set on an agent's Node when its connection closes (RFC 3339), removed when it rejoins.
pub const DISCONNECTED_AT_ANNOTATION: &str = "pinsetter.dev/agent-disconnected-at";
/// How many agent Nodes one source address may hold unless the server says otherwise.
pub const DEFAULT_MAX_PINS_PER_SOURCE: usize = 64;
/// Bounds on what an agent may offer: beyond any real machine, so a typo or an attack is refused.
const MAX_CPU_MILLICORES: i64 = 1024 * 1000;
const MAX_MEMORY_BYTES: i64 = 1 << 50;
const MAX_PODS: u32 = 1000;
const MAX_LABELS: usize = 64;
/// Upstream's NodeRestriction admission keeps kubelets off this label prefix.
const RESTRICTED_LABEL_PREFIX: &str = "node-restriction.kubernetes.io/";

/// What the control plane knows of one agent's connection (for `GET /nodes`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentPin {
    /// Which connection this is: a rejoin gets a new one, and the old socket's late calls are
    /// ignored.
    pub session: u64,
    pub connected: bool,
    /// The agent's address as the server saw it.
    pub address: String,
    pub connected_since: Millis,
    pub last_heartbeat: Option<Millis>,
    pub heartbeats: u64,
    /// When the last connection closed (None while connected).
    pub disconnected_at: Option<Millis>,
    /// The IP the join cap counts this pin against.
    #[serde(skip)]
    source: String,
    /// SHA-256 of the node secret issued at the first join.
    #[serde(skip)]
    secret_hash: [u8; 32],
    /// The uid of the Node this agent created: a Node of the same name made later by someone
    /// else is not its to take.
    #[serde(skip)]
    node_uid: String,
}

/// Every agent that has joined, by node name.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    pub(super) pins: BTreeMap<String, AgentPin>,
    /// Node names by source IP, for the join cap without a scan.
    by_source: BTreeMap<String, BTreeSet<String>>,
    sessions: u64,
}

/// One `register` frame, with what the edge adds: the peer's address, a freshly made secret to
/// issue if this is a first join, and the join cap.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    pub name: &'a str,
    pub capacity: &'a Capacity,
    pub labels: &'a BTreeMap<String, String>,
    /// What the agent says it runs.
    pub pods: &'a [PodRef],
    /// `ip:port` (the peer's, or the agent's own report).
    pub address: &'a str,
    /// The node secret the agent presents (from an earlier join).
    pub node_secret: Option<&'a str>,
    /// Issued (its hash kept) when this is the name's first join.
    pub new_secret: &'a str,
    pub max_per_source: usize,
}

impl<'a> Registration<'a> {
    /// A first join with nothing running and the default cap. The secret it issues is empty:
    /// for in-process callers (tests, demos) that never rejoin over a socket.
    pub fn new(
        name: &'a str,
        capacity: &'a Capacity,
        labels: &'a BTreeMap<String, String>,
        address: &'a str,
    ) -> Registration<'a> {
        Registration {
            name,
            capacity,
            labels,
            pods: &[],
            address,
            node_secret: None,
            new_secret: "",
            max_per_source: DEFAULT_MAX_PINS_PER_SOURCE,
        }
    }
}

/// An accepted registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub session: u64,
    /// Whether `new_secret` became the node's secret (a first join): the agent must be told it.
    pub issued_secret: bool,
}

/// Why an agent's request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// The name belongs to a simulated pin of the lane.
    #[error("node {0:?} is a simulated pin of this lane: choose another --name")]
    NameTaken(String),
    /// A Node of that name exists and no pin agent created it (the API or the scenario did).
    #[error("node {0:?} exists and was not created by a pin agent: choose another --name")]
    NotAgentNode(String),
    /// Another connection plays this node now.
    #[error("node {0:?} is held by a connected pin agent: a second session for it is refused")]
    Held(String),
    /// The node's agent disconnected; only it (with its node secret) may come back.
    #[error(
        "node {0:?} belongs to a pin agent that disconnected: rejoining needs its node secret (or free the name with `pinsetter ctl prune`)"
    )]
    SecretRequired(String),
    /// The node secret presented is not the one issued for this node.
    #[error("node secret rejected for node {0:?}")]
    SecretRejected(String),
    /// One source address already holds as many agent nodes as allowed.
    #[error(
        "too many pin agents from {address}: it already holds {max} nodes (the server's --max-pins-per-source); leave or prune some first"
    )]
    TooManyFromSource { address: String, max: usize },
    /// The registration or a report is unusable (a bad name, quantity, label or address).
    #[error("invalid registration: {0}")]
    Invalid(String),
    /// A report carried a field that does not validate.
    #[error("invalid report: {0}")]
    InvalidReport(String),
    /// The store refused a write the agent's request needed.
    #[error("the store refused: {0}")]
    Store(String),
    /// The connection was replaced by a newer one for the same node, or the node left.
    #[error("session {session} of node {node:?} is no longer current")]
    StaleSession { node: String, session: u64 },
    /// The agent reported on something it may not touch.
    #[error("{0}")]
    Forbidden(String),
}

fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares without an early exit, so the time taken says nothing about where they differ.
fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `ip:port`, `[v6]:port` or a bare IP → the IP; anything else is refused.
fn source_ip(address: &str) -> Result<IpAddr, AgentError> {
    address
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| address.parse::<IpAddr>())
        .map_err(|_| AgentError::Invalid(format!("address: Invalid value: {address:?}: must be a valid IP address")))
}

fn store_error(error: impl std::fmt::Display) -> AgentError {
    AgentError::Store(error.to_string())
}

fn join_errors(errors: &[FieldError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A pod reference as upstream would accept it: a DNS-1123 label namespace, a DNS subdomain
/// name, a bounded uid.
fn validate_pod_ref(field: &str, pod: &PodRef, errors: &mut Vec<FieldError>) {
    validate_dns_subdomain(&format!("{field}.namespace"), &pod.namespace, errors);
    if pod.namespace.len() > 63 || pod.namespace.contains('.') {
        errors.push(FieldError::new(
            format!("{field}.namespace"),
            format!(
                "Invalid value: {:?}: a lowercase RFC 1123 label must be no more than 63 characters and contain no '.'",
                pod.namespace
            ),
        ));
    }
    validate_dns_subdomain(&format!("{field}.name"), &pod.name, errors);
    if pod.uid.len() > 128 {
        errors.push(FieldError::new(format!("{field}.uid"), "Too long: may not be more than 128 bytes"));
    }
}

/// Every field of a registration, before anything is written.
fn validate_registration(r: &Registration) -> Result<BTreeMap<String, Quantity>, AgentError> {
    let mut errors = Vec::new();
    validate_dns_subdomain("node", r.name, &mut errors);
    if r.labels.len() > MAX_LABELS {
        errors.push(FieldError::new(
            "labels",
            format!("Too many: {}: must have at most {MAX_LABELS} items", r.labels.len()),
        ));
    }
    validate_labels("labels", r.labels, &mut errors);
    for key in r.labels.keys() {
        if let Some((prefix, _)) = key.rsplit_once('/') {
            validate_dns_subdomain("labels", prefix, &mut errors);
        }
        if key.starts_with(RESTRICTED_LABEL_PREFIX) {
            errors.push(FieldError::new(
                "labels",
                format!("Forbidden: is not allowed to set the {RESTRICTED_LABEL_PREFIX} label prefix: {key:?}"),
            ));
        }
    }
    let mut quantity = |field: &str, text: &str, max: i64, unit: fn(&Quantity) -> i64| match Quantity::parse(text) {
        Ok(q) if unit(&q) > 0 && unit(&q) <= max => Some(q),
        Ok(_) => {
            errors.push(FieldError::new(
                format!("capacity.{field}"),
                format!(
                    "Invalid value: {text:?}: must be more than 0 and at most {}",
                    Quantity::from_count(max).as_str()
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(FieldError::new(format!("capacity.{field}"), format!("Invalid value: {text:?}: {e}")));
            None
        }
    };
    let cpu = quantity("cpu", &r.capacity.cpu, MAX_CPU_MILLICORES, Quantity::milli);
    let memory = quantity("memory", &r.capacity.memory, MAX_MEMORY_BYTES, Quantity::value);
    if r.capacity.pods == 0 || r.capacity.pods > MAX_PODS {
        errors.push(FieldError::new(
            "capacity.pods",
            format!("Invalid value: {}: must be between 1 and {MAX_PODS}", r.capacity.pods),
        ));
    }
    if r.pods.len() > MAX_PODS as usize {
        errors.push(FieldError::new("pods", format!("Too many: {}: must have at most {MAX_PODS} items", r.pods.len())));
    } else {
        for (i, pod) in r.pods.iter().enumerate() {
            validate_pod_ref(&format!("pods[{i}]"), pod, &mut errors);
        }
    }
    if r.node_secret.is_some_and(|s| s.len() > 256) {
        errors.push(FieldError::new("nodeSecret", "Too long: may not be more than 256 bytes"));
    }
    match (cpu, memory, errors.is_empty()) {
        (Some(cpu), Some(memory), true) => Ok([
            ("cpu".to_string(), cpu),
            ("memory".to_string(), memory),
            ("pods".to_string(), Quantity::from_count(i64::from(r.capacity.pods))),
        ]
        .into()),
        _ => Err(AgentError::Invalid(join_errors(&errors))),
    }
}

impl Agents {
    fn forget_source(&mut self, source: &str, name: &str) {
        if let Some(names) = self.by_source.get_mut(source) {
            names.remove(name);
            if names.is_empty() {
                self.by_source.remove(source);
            }
        }
    }
}

impl Cluster {
    /// A pin agent registers (or re-registers) its Node: created or updated with its capacity,
    /// labels and address, given a remote kubelet, and heartbeated at once. A name already
    /// played by an agent needs that agent's node secret; a live session can be replaced only
    /// by it (its old socket may be half-open after a network cut). Nothing is written unless
    /// every check passes.
    pub fn join_agent(&mut self, r: &Registration, now: Millis) -> Result<Joined, AgentError> {
        let name = r.name;
        if self.kubelets.get(name).is_some_and(|k| !k.remote) {
            return Err(AgentError::NameTaken(name.into()));
        }
        let resources = validate_registration(r)?;
        let source = source_ip(r.address)?;
        let key = ObjectKey::cluster(name);
        let existing_uid = self.store.get::<Node>(&key).map(|n| n.metadata.uid.clone());
        let issued_secret = match self.agents.pins.get(name) {
            None if existing_uid.is_some() => return Err(AgentError::NotAgentNode(name.into())),
            None => true,
            Some(pin) => {
                let presented = r.node_secret.map(secret_hash);
                match presented {
                    Some(hash) if same_hash(&hash, &pin.secret_hash) => {}
                    _ if pin.connected => return Err(AgentError::Held(name.into())),
                    None => return Err(AgentError::SecretRequired(name.into())),
                    Some(_) => return Err(AgentError::SecretRejected(name.into())),
                }
                if existing_uid.as_ref().is_some_and(|uid| *uid != pin.node_uid) {
                    return Err(AgentError::NotAgentNode(name.into()));
                }
                false
            }
        };
        let source = source.to_string();
        let held = self.agents.by_source.get(&source);
        if !held.is_some_and(|names| names.contains(name)) && held.map_or(0, BTreeSet::len) >= r.max_per_source {
            return Err(AgentError::TooManyFromSource { address: source, max: r.max_per_source });
        }
        let mut all_labels = r.labels.clone();
        all_labels.insert("kubernetes.io/hostname".into(), name.into());
        all_labels.insert(AGENT_LABEL.into(), AGENT_EXTERNAL.into());
        let addresses = vec![
            NodeAddress { type_: "InternalIP".into(), address: source.clone() },
            NodeAddress { type_: "Hostname".into(), address: name.into() },
        ];
        let written = if existing_uid.is_some() {
            self.store
                .modify::<Node>(&key, |n| {
                    n.metadata.labels = all_labels.clone().into();
                    n.metadata.annotations.remove(DISCONNECTED_AT_ANNOTATION);
                    n.status.capacity = resources.clone();
                    n.status.allocatable = resources.clone();
                    n.status.addresses = addresses.clone();
                })
                .map(|_| ())
        } else {
            let node = Node {
                api_version: "v1".into(),
                kind: "Node".into(),
                metadata: ObjectMeta { labels: all_labels.into(), ..ObjectMeta::named(name) },
                status: NodeStatus {
                    capacity: resources.clone(),
                    allocatable: resources,
                    addresses,
                    ..NodeStatus::default()
                },
                ..Node::default()
            };
            self.store.create(node, now).map(|_| ())
        };
        written.map_err(|e| AgentError::Invalid(e.to_string()))?;
        let node_uid = self.store.get::<Node>(&key).map(|n| n.metadata.uid.clone()).unwrap_or_default();
        if !self.kubelets.contains_key(name) {
            let index = self.kubelet_number(name);
            self.kubelets.insert(name.into(), Kubelet::remote(name, index));
        }
        self.agents.sessions += 1;
        let session = self.agents.sessions;
        let secret_hash = match self.agents.pins.get(name) {
            Some(pin) if !issued_secret => pin.secret_hash,
            _ => secret_hash(r.new_secret),
        };
        let previous = self.agents.pins.insert(
            name.into(),
            AgentPin {
                session,
                connected: true,
                address: r.address.into(),
                connected_since: now,
                last_heartbeat: None,
                heartbeats: 0,
                disconnected_at: None,
                source: source.clone(),
                secret_hash,
                node_uid,
            },
        );
        if let Some(previous) = previous {
            self.agents.forget_source(&previous.source, name);
        }
        self.agents.by_source.entry(source).or_default().insert(name.into());
        self.agent_heartbeat(name, session, now)?;
        Ok(Joined { session, issued_secret })
    }

    /// One heartbeat: the Lease is renewed and Ready posted, unless the pin is knocked over (a
    /// dead kubelet's heartbeats are not heard). Returns whether it reached the store.
    pub fn agent_heartbeat(&mut self, name: &str, session: u64, now: Millis) -> Result<bool, AgentError> {
        self.current(name, session)?;
        let mut ctx = Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        };
        let Some(kubelet) = self.kubelets.get_mut(name) else {
            return Err(AgentError::StaleSession { node: name.into(), session });
        };
        let heard = kubelet.remote_heartbeat(&mut ctx);
        if heard && let Some(pin) = self.agents.pins.get_mut(name) {
            pin.last_heartbeat = Some(now);
            pin.heartbeats += 1;
        }
        Ok(heard)
    }

    /// The agent's containers for `pod` changed state.
    pub fn agent_pod_status(
        &mut self,
        name: &str,
        session: u64,
        pod: &PodRef,
        phase: PodPhase,
        pod_ip: Option<String>,
        now: Millis,
    ) -> Result<(), AgentError> {
        self.current(name, session)?;
        let mut errors = Vec::new();
        validate_pod_ref("pod", pod, &mut errors);
        if let Some(ip) = &pod_ip
            && ip.parse::<IpAddr>().is_err()
        {
            errors.push(FieldError::new("podIP", format!("Invalid value: {ip:?}: must be a valid IP address")));
        }
        if !errors.is_empty() {
            return Err(AgentError::InvalidReport(join_errors(&errors)));
        }
        let mut ctx = Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        };
        let kubelet =
            self.kubelets.get_mut(name).ok_or_else(|| AgentError::StaleSession { node: name.into(), session })?;
        kubelet.remote_pod_status(pod, phase, pod_ip, &mut ctx).map_err(AgentError::Forbidden)
    }

    /// The agent's containers for `pod` have stopped: a terminating pod is removed.
    pub fn agent_pod_deleted(&mut self, name: &str, session: u64, pod: &PodRef, now: Millis) -> Result<(), AgentError> {
        self.current(name, session)?;
        let mut errors = Vec::new();
        validate_pod_ref("pod", pod, &mut errors);
        if !errors.is_empty() {
            return Err(AgentError::InvalidReport(join_errors(&errors)));
        }
        let mut ctx = Context {
            store: &mut self.store,
            recorder: &mut self.recorder,
            now,
            timing: &self.timing,
            chaos: &mut self.chaos,
        };
        let kubelet =
            self.kubelets.get_mut(name).ok_or_else(|| AgentError::StaleSession { node: name.into(), session })?;
        kubelet.remote_pod_deleted(pod, &mut ctx).map_err(AgentError::Forbidden)
    }

    /// A graceful leave begins: the node is cordoned and its pods evicted (gracefully, so the
    /// agent stops them and their ReplicaSets replace them elsewhere).
    pub fn agent_drain(&mut self, name: &str, session: u64, now: Millis) -> Result<usize, AgentError> {
        self.current(name, session)?;
        let key = ObjectKey::cluster(name);
        if self.store.get::<Node>(&key).is_some() {
            self.store.modify::<Node>(&key, |n| n.spec.unschedulable = true).map_err(store_error)?;
        }
        let pods: Vec<ObjectKey> = self.store.pods_on_node(name).map(|p| ObjectKey::of(&p.metadata)).collect();
        for key in &pods {
            controllers::delete_pod_gracefully(&mut self.store, key, now).map_err(store_error)?;
        }
        Ok(pods.len())
    }

    /// A graceful leave ends: what is left on the node is deleted, then its Lease and Node.
    pub fn agent_leave(&mut self, name: &str, session: u64) -> Result<(), AgentError> {
        self.current(name, session)?;
        let pods: Vec<ObjectKey> = self.store.pods_on_node(name).map(|p| ObjectKey::of(&p.metadata)).collect();
        for key in pods {
            self.store.delete::<Pod>(&key).map_err(store_error)?;
        }
        let lease = ObjectKey::new(controllers::node_lifecycle::LEASE_NAMESPACE, name);
        if self.store.get::<Lease>(&lease).is_some() {
            self.store.delete::<Lease>(&lease).map_err(store_error)?;
        }
        // The Node may already be gone (deleted through the API); the kubelet goes either way.
        let node = ObjectKey::cluster(name);
        if self.store.get::<Node>(&node).is_some() {
            self.remove(Kind::Node, &node, Millis::ZERO).map_err(store_error)?;
        } else {
            self.kubelets.remove(name);
        }
        if let Some(pin) = self.agents.pins.remove(name) {
            self.agents.forget_source(&pin.source, name);
        }
        Ok(())
    }

    /// The agent's socket closed. The node lifecycle controller notices the silence on its own,
    /// as for a knocked pin; the Node is annotated with when the agent left, so that
    /// `pinsetter ctl prune` can tell gone agents from live ones.
    pub fn agent_disconnected(&mut self, name: &str, session: u64, now: Millis) -> Result<(), AgentError> {
        let Some(pin) = self.agents.pins.get_mut(name).filter(|p| p.session == session) else {
            return Ok(());
        };
        pin.connected = false;
        pin.disconnected_at = Some(now);
        let key = ObjectKey::cluster(name);
        if self.store.get::<Node>(&key).is_some() {
            let stamp = self.store.epoch().stamp(now);
            self.store
                .modify::<Node>(&key, |n| {
                    n.metadata.annotations.insert(DISCONNECTED_AT_ANNOTATION.into(), stamp);
                })
                .map_err(|e| AgentError::Invalid(e.to_string()))?;
        }
        Ok(())
    }

    /// Agents disconnected for at least `older_than`, with their last session (for
    /// [`Cluster::agent_leave`]) and when they left. Connected agents are never listed.
    pub fn agents_gone_for(&self, older_than: Millis, now: Millis) -> Vec<(String, u64, Millis)> {
        self.agents
            .pins
            .iter()
            .filter(|(_, pin)| !pin.connected)
            .filter_map(|(name, pin)| {
                let at = pin.disconnected_at?;
                (now.0.saturating_sub(at.0) >= older_than.0).then(|| (name.clone(), pin.session, at))
            })
            .collect()
    }

    /// Every agent that has joined and not left, by node name.
    pub fn agents(&self) -> &BTreeMap<String, AgentPin> {
        &self.agents.pins
    }

    /// Whether `name` is a node played by a pin agent.
    pub fn is_agent(&self, name: &str) -> bool {
        self.kubelets.get(name).is_some_and(|k| k.remote)
    }

    fn current(&self, name: &str, session: u64) -> Result<(), AgentError> {
        match self.agents.pins.get(name) {
            Some(pin) if pin.session == session => Ok(()),
            _ => Err(AgentError::StaleSession { node: name.into(), session }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::Readiness;
    use crate::cluster::timing::{Preset, Timing};

    fn capacity() -> Capacity {
        Capacity { cpu: "4".into(), memory: "8Gi".into(), pods: 110 }
    }

    /// A registration from `address` presenting `secret`, issuing `issue` if it is a first join.
    fn join(
        cluster: &mut Cluster,
        name: &str,
        address: &str,
        secret: Option<&str>,
        issue: &str,
        now: u64,
    ) -> Result<Joined, AgentError> {
        let capacity = capacity();
        let labels = BTreeMap::new();
        let registration = Registration {
            node_secret: secret,
            new_secret: issue,
            ..Registration::new(name, &capacity, &labels, address)
        };
        cluster.join_agent(&registration, Millis(now))
    }

    fn node(cluster: &Cluster, name: &str) -> Option<Node> {
        cluster.store.get::<Node>(&ObjectKey::cluster(name)).cloned()
    }

    #[test]
    fn an_agent_registers_a_ready_external_node_and_silence_makes_it_not_ready() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let joined = join(&mut cluster, "lane-a", "127.0.0.1:5555", None, "s1", 0).unwrap();
        assert!(joined.issued_secret, "a first join issues the node secret");
        let session = joined.session;
        cluster.step(Millis(0)).unwrap();
        let node = node(&cluster, "lane-a").unwrap();
        assert_eq!(node.metadata.labels.get(AGENT_LABEL).map(String::as_str), Some(AGENT_EXTERNAL));
        assert_eq!(node.readiness(), Readiness::Ready);
        assert_eq!(node.status.addresses[0].address, "127.0.0.1");
        // Heartbeats keep it Ready; then it falls silent.
        for t in (500..=3_000).step_by(500) {
            assert!(cluster.agent_heartbeat("lane-a", session, Millis(t)).unwrap());
            cluster.step(Millis(t)).unwrap();
        }
        let ready = cluster.store.get::<Node>(&ObjectKey::cluster("lane-a")).unwrap().readiness();
        assert_eq!(ready, Readiness::Ready);
        for t in (3_100..=6_000).step_by(100) {
            cluster.step(Millis(t)).unwrap();
        }
        let ready = cluster.store.get::<Node>(&ObjectKey::cluster("lane-a")).unwrap().readiness();
        assert_eq!(ready, Readiness::Unknown);
    }

    #[test]
    fn a_knocked_agent_is_not_heard_and_its_own_rejoin_replaces_the_old_session() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let first = join(&mut cluster, "lane-a", "127.0.0.1:1", None, "s1", 0).unwrap().session;
        cluster.knock("lane-a").unwrap();
        assert!(!cluster.agent_heartbeat("lane-a", first, Millis(100)).unwrap());
        // The same agent after a half-open cut: its secret lets it replace the stale session.
        let second = join(&mut cluster, "lane-a", "127.0.0.1:2", Some("s1"), "s2", 200).unwrap();
        assert!(!second.issued_secret, "a rejoin keeps the secret it had");
        assert!(matches!(cluster.agent_heartbeat("lane-a", first, Millis(300)), Err(AgentError::StaleSession { .. })));
        assert!(cluster.is_knocked("lane-a"), "a knocked pin stays down across a rejoin");
        cluster.restore("lane-a", Millis(400)).unwrap();
        assert!(cluster.agent_heartbeat("lane-a", second.session, Millis(500)).unwrap());
    }

    #[test]
    fn a_name_is_kept_by_its_secret_live_or_gone() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let real = join(&mut cluster, "lane-a", "127.0.0.1:1", None, "real", 0).unwrap().session;
        let before = node(&cluster, "lane-a").unwrap();
        assert_eq!(join(&mut cluster, "lane-a", "10.0.0.9:1", None, "evil", 1), Err(AgentError::Held("lane-a".into())));
        assert_eq!(
            join(&mut cluster, "lane-a", "10.0.0.9:1", Some("guess"), "evil", 1),
            Err(AgentError::Held("lane-a".into()))
        );
        assert!(cluster.agent_heartbeat("lane-a", real, Millis(2)).unwrap(), "the real session stays current");
        cluster.agent_disconnected("lane-a", real, Millis(3)).unwrap();
        assert_eq!(
            join(&mut cluster, "lane-a", "10.0.0.9:1", None, "evil", 4),
            Err(AgentError::SecretRequired("lane-a".into()))
        );
        assert_eq!(
            join(&mut cluster, "lane-a", "10.0.0.9:1", Some("guess"), "evil", 4),
            Err(AgentError::SecretRejected("lane-a".into()))
        );
        let after = node(&cluster, "lane-a").unwrap();
        assert_eq!(after.status.addresses, before.status.addresses, "refused joins write nothing");
        let back = join(&mut cluster, "lane-a", "127.0.0.1:7", Some("real"), "unused", 5).unwrap();
        assert!(!back.issued_secret);
        let node = node(&cluster, "lane-a").unwrap();
        assert!(!node.metadata.annotations.contains_key(DISCONNECTED_AT_ANNOTATION), "a rejoin clears the mark");
    }

    #[test]
    fn an_agent_cannot_take_a_simulated_pin_or_an_api_created_node() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let pin = Node { metadata: ObjectMeta::named("pin-1"), ..Node::default() };
        cluster.apply(crate::cluster::objects::Object::from(pin), Millis(0)).unwrap();
        assert!(matches!(join(&mut cluster, "pin-1", "127.0.0.1:1", None, "s", 0), Err(AgentError::NameTaken(_))));
        let mut labels = BTreeMap::new();
        labels.insert("team".to_string(), "db".to_string());
        let api_node =
            Node { metadata: ObjectMeta { labels: labels.into(), ..ObjectMeta::named("db-1") }, ..Node::default() };
        cluster.store.create(api_node, Millis(0)).unwrap();
        assert_eq!(
            join(&mut cluster, "db-1", "127.0.0.1:1", None, "s", 1),
            Err(AgentError::NotAgentNode("db-1".into()))
        );
        let node = node(&cluster, "db-1").unwrap();
        assert_eq!(node.metadata.labels.get("team").map(String::as_str), Some("db"), "labels untouched");
        assert!(!cluster.is_agent("db-1"));
    }

    #[test]
    fn bad_fields_are_refused_without_a_write() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        for (name, address) in [("Bad_Name", "127.0.0.1:1"), ("lane-x", "not-an-ip; 203.0.113.66")] {
            let refused = join(&mut cluster, name, address, None, "s", 0);
            assert!(matches!(refused, Err(AgentError::Invalid(_))), "{name} {address}: {refused:?}");
            assert!(node(&cluster, name).is_none());
        }
        let capacity = capacity();
        let mut labels = BTreeMap::new();
        labels.insert("bad key!".to_string(), "v".to_string());
        let refused = cluster.join_agent(&Registration::new("lane-l", &capacity, &labels, "127.0.0.1:1"), Millis(0));
        assert!(matches!(refused, Err(AgentError::Invalid(_))), "{refused:?}");
        let huge = Capacity { cpu: "1000000".into(), memory: "8Gi".into(), pods: 110 };
        let refused =
            cluster.join_agent(&Registration::new("lane-h", &huge, &BTreeMap::new(), "127.0.0.1:1"), Millis(0));
        assert!(matches!(refused, Err(AgentError::Invalid(m)) if m.contains("capacity.cpu")));
        assert!(node(&cluster, "lane-l").is_none() && node(&cluster, "lane-h").is_none());

        let session = join(&mut cluster, "lane-a", "127.0.0.1:1", None, "s", 0).unwrap().session;
        let pod = Pod {
            metadata: ObjectMeta::namespaced("default", "web-1"),
            spec: crate::cluster::objects::PodSpec {
                node_name: Some("lane-a".into()),
                containers: vec![crate::cluster::objects::pod::Container {
                    name: "web".into(),
                    image: "nginx".into(),
                    ..Default::default()
                }]
                .into(),
                ..Default::default()
            },
            ..Pod::default()
        };
        cluster.store.create(pod, Millis(0)).unwrap();
        let uid = cluster.store.get::<Pod>(&ObjectKey::new("default", "web-1")).unwrap().metadata.uid.clone();
        let pod = PodRef { namespace: "default".into(), name: "web-1".into(), uid };
        let bad_ip = Some("not-an-ip; 203.0.113.66".to_string());
        let refused = cluster.agent_pod_status("lane-a", session, &pod, PodPhase::Running, bad_ip, Millis(1));
        assert!(matches!(refused, Err(AgentError::InvalidReport(m)) if m.contains("podIP")));
        let stored = cluster.store.get::<Pod>(&ObjectKey::new("default", "web-1")).unwrap();
        assert!(stored.status.pod_ip.is_none(), "nothing written: {:?}", stored.status.pod_ip);
        cluster
            .agent_pod_status("lane-a", session, &pod, PodPhase::Running, Some("10.245.0.7".into()), Millis(2))
            .unwrap();
        let stored = cluster.store.get::<Pod>(&ObjectKey::new("default", "web-1")).unwrap();
        assert_eq!(stored.status.pod_ip.as_deref(), Some("10.245.0.7"));
    }

    #[test]
    fn joins_are_capped_per_source_address_and_a_rejoin_does_not_count_twice() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let capacity = capacity();
        let labels = BTreeMap::new();
        let capped = |name: &'static str, address: &'static str| Registration {
            max_per_source: 2,
            new_secret: "s",
            ..Registration::new(name, &capacity, &labels, address)
        };
        cluster.join_agent(&capped("a", "10.0.0.1:1"), Millis(0)).unwrap();
        let b = cluster.join_agent(&capped("b", "10.0.0.1:2"), Millis(0)).unwrap();
        let refused = cluster.join_agent(&capped("c", "10.0.0.1:3"), Millis(0));
        assert_eq!(refused, Err(AgentError::TooManyFromSource { address: "10.0.0.1".into(), max: 2 }));
        assert!(node(&cluster, "c").is_none());
        cluster.join_agent(&capped("c", "10.0.0.2:3"), Millis(0)).unwrap();
        // b comes back (its own secret) from the same address: still two.
        cluster.agent_disconnected("b", b.session, Millis(1)).unwrap();
        let rejoin = Registration { node_secret: Some("s"), ..capped("b", "10.0.0.1:9") };
        let b = cluster.join_agent(&rejoin, Millis(2)).unwrap();
        // A graceful leave frees the place.
        cluster.agent_leave("b", b.session).unwrap();
        cluster.join_agent(&capped("d", "10.0.0.1:4"), Millis(3)).unwrap();
    }

    #[test]
    fn a_disconnected_agent_is_marked_and_listed_once_gone_long_enough() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let gone = join(&mut cluster, "gone", "127.0.0.1:1", None, "s", 0).unwrap().session;
        join(&mut cluster, "live", "127.0.0.1:2", None, "s", 0).unwrap();
        cluster.agent_disconnected("gone", gone, Millis(1_000)).unwrap();
        let node = node(&cluster, "gone").unwrap();
        assert_eq!(
            node.metadata.annotations.get(DISCONNECTED_AT_ANNOTATION),
            Some(&cluster.store.epoch().stamp(Millis(1_000)))
        );
        assert!(cluster.agents_gone_for(Millis(5_000), Millis(5_999)).is_empty());
        assert_eq!(
            cluster.agents_gone_for(Millis(5_000), Millis(6_000)),
            vec![("gone".to_string(), gone, Millis(1_000))]
        );
    }
}
