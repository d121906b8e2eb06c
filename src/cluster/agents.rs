//! Pin agents: nodes whose kubelet is a separate process (`pinsetter pin --join`), speaking the
//! pin protocol over a WebSocket. This is the control plane's side, deterministic like the rest:
//! the WebSocket handler (`api/pins.rs`) turns frames into these calls through the World's inbox,
//! and the times here are virtual.
//!
//! An agent's Node carries the label `pinsetter.dev/agent=external`; otherwise it is a pin like
//! any other. Its kubelet is a [`Kubelet::remote`]: the agent's heartbeats renew the Lease and its
//! pod reports are written by the same functions the simulated kubelet uses, so the node
//! lifecycle controller, the scheduler and the taint-eviction controller cannot tell them apart.
//! A lost agent is seen only through missed heartbeats.

use super::kubelet::Kubelet;
use super::objects::node::NodeAddress;
use super::objects::{Kind, Lease, Node, NodeStatus, ObjectMeta, Pod, Quantity};
use super::store::ObjectKey;
use super::{Cluster, Context, controllers};
use crate::agent::protocol::{Capacity, PodPhase, PodRef};
use crate::clock::Millis;
use std::collections::BTreeMap;

/// The label that marks a node played by a pin agent.
pub const AGENT_LABEL: &str = "pinsetter.dev/agent";
pub const AGENT_EXTERNAL: &str = "external";

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
}

/// Every agent that has joined, by node name.
#[derive(Debug, Clone, Default)]
pub struct Agents {
    pub(super) pins: BTreeMap<String, AgentPin>,
    sessions: u64,
}

/// Why an agent's request was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AgentError {
    /// The name belongs to a simulated pin of the lane.
    #[error("node {0:?} is a simulated pin of this lane: choose another --name")]
    NameTaken(String),
    /// The registration itself is unusable (a bad name or quantity).
    #[error("invalid registration: {0}")]
    Invalid(String),
    /// The connection was replaced by a newer one for the same node, or the node left.
    #[error("session {session} of node {node:?} is no longer current")]
    StaleSession { node: String, session: u64 },
    /// The agent reported on something it may not touch.
    #[error("{0}")]
    Forbidden(String),
}

impl Cluster {
    /// A pin agent registers (or re-registers) its Node: created or updated with its capacity,
    /// labels and address, given a remote kubelet, and heartbeated at once. Returns the session.
    pub fn join_agent(
        &mut self,
        name: &str,
        capacity: &Capacity,
        labels: &BTreeMap<String, String>,
        address: &str,
        now: Millis,
    ) -> Result<u64, AgentError> {
        if self.kubelets.get(name).is_some_and(|k| !k.remote) {
            return Err(AgentError::NameTaken(name.into()));
        }
        let quantity = |field: &str, text: &str| {
            Quantity::parse(text).map_err(|e| AgentError::Invalid(format!("capacity.{field}: {e}")))
        };
        let resources: BTreeMap<String, Quantity> = [
            ("cpu".to_string(), quantity("cpu", &capacity.cpu)?),
            ("memory".to_string(), quantity("memory", &capacity.memory)?),
            ("pods".to_string(), Quantity::from_count(i64::from(capacity.pods))),
        ]
        .into();
        let mut all_labels = labels.clone();
        all_labels.insert("kubernetes.io/hostname".into(), name.into());
        all_labels.insert(AGENT_LABEL.into(), AGENT_EXTERNAL.into());
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host).trim_matches(['[', ']']).to_string();
        let addresses = vec![
            NodeAddress { type_: "InternalIP".into(), address: host },
            NodeAddress { type_: "Hostname".into(), address: name.into() },
        ];
        let key = ObjectKey::cluster(name);
        let written = if self.store.get::<Node>(&key).is_some() {
            self.store.modify::<Node>(&key, |n| {
                n.metadata.labels = all_labels.clone();
                n.status.capacity = resources.clone();
                n.status.allocatable = resources.clone();
                n.status.addresses = addresses.clone();
            })
        } else {
            let node = Node {
                api_version: "v1".into(),
                kind: "Node".into(),
                metadata: ObjectMeta { labels: all_labels, ..ObjectMeta::named(name) },
                status: NodeStatus {
                    capacity: resources.clone(),
                    allocatable: resources,
                    addresses,
                    ..NodeStatus::default()
                },
                ..Node::default()
            };
            self.store.create(node, now)
        };
        written.map_err(|e| AgentError::Invalid(e.to_string()))?;
        if !self.kubelets.contains_key(name) {
            let index = self.kubelets.len();
            self.kubelets.insert(name.into(), Kubelet::remote(name, index));
        }
        self.agents.sessions += 1;
        let session = self.agents.sessions;
        self.agents.pins.insert(
            name.into(),
            AgentPin {
                session,
                connected: true,
                address: address.into(),
                connected_since: now,
                last_heartbeat: None,
                heartbeats: 0,
            },
        );
        self.agent_heartbeat(name, session, now)?;
        Ok(session)
    }

    /// One heartbeat: the Lease is renewed and Ready posted, unless the pin is knocked over (a
    /// dead kubelet's heartbeats are not heard). Returns whether it reached the store.
    pub fn agent_heartbeat(&mut self, name: &str, session: u64, now: Millis) -> Result<bool, AgentError> {
        self.current(name, session)?;
        let mut ctx = Context { store: &mut self.store, recorder: &mut self.recorder, now, timing: &self.timing };
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
        let mut ctx = Context { store: &mut self.store, recorder: &mut self.recorder, now, timing: &self.timing };
        let kubelet =
            self.kubelets.get_mut(name).ok_or_else(|| AgentError::StaleSession { node: name.into(), session })?;
        kubelet.remote_pod_status(pod, phase, pod_ip, &mut ctx).map_err(AgentError::Forbidden)
    }

    /// The agent's containers for `pod` have stopped: a terminating pod is removed.
    pub fn agent_pod_deleted(&mut self, name: &str, session: u64, pod: &PodRef, now: Millis) -> Result<(), AgentError> {
        self.current(name, session)?;
        let mut ctx = Context { store: &mut self.store, recorder: &mut self.recorder, now, timing: &self.timing };
        let kubelet =
            self.kubelets.get_mut(name).ok_or_else(|| AgentError::StaleSession { node: name.into(), session })?;
        kubelet.remote_pod_deleted(pod, &mut ctx).map_err(AgentError::Forbidden)
    }

    /// A graceful leave begins: the node is cordoned and its pods evicted (gracefully, so the
    /// agent stops them and their ReplicaSets replace them elsewhere).
    pub fn agent_drain(&mut self, name: &str, session: u64, now: Millis) -> Result<usize, AgentError> {
        self.current(name, session)?;
        let _ = self.store.modify::<Node>(&ObjectKey::cluster(name), |n| n.spec.unschedulable = true);
        let pods: Vec<ObjectKey> = self.store.pods_on_node(name).map(|p| ObjectKey::of(&p.metadata)).collect();
        for key in &pods {
            let _ = controllers::delete_pod_gracefully(&mut self.store, key, now);
        }
        Ok(pods.len())
    }

    /// A graceful leave ends: what is left on the node is deleted, then its Lease and Node.
    pub fn agent_leave(&mut self, name: &str, session: u64) -> Result<(), AgentError> {
        self.current(name, session)?;
        let pods: Vec<ObjectKey> = self.store.pods_on_node(name).map(|p| ObjectKey::of(&p.metadata)).collect();
        for key in pods {
            let _ = self.store.delete::<Pod>(&key);
        }
        let _ = self.store.delete::<Lease>(&ObjectKey::new(controllers::node_lifecycle::LEASE_NAMESPACE, name));
        let _ = self.remove(Kind::Node, &ObjectKey::cluster(name), Millis::ZERO);
        self.agents.pins.remove(name);
        Ok(())
    }

    /// The agent's socket closed. Nothing else changes: the node lifecycle controller notices the
    /// silence on its own, as for a knocked pin.
    pub fn agent_disconnected(&mut self, name: &str, session: u64) {
        if let Some(pin) = self.agents.pins.get_mut(name).filter(|p| p.session == session) {
            pin.connected = false;
        }
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

    #[test]
    fn an_agent_registers_a_ready_external_node_and_silence_makes_it_not_ready() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let session = cluster.join_agent("lane-a", &capacity(), &BTreeMap::new(), "127.0.0.1:5555", Millis(0)).unwrap();
        cluster.step(Millis(0)).unwrap();
        let node = cluster.store.get::<Node>(&ObjectKey::cluster("lane-a")).unwrap().clone();
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
    fn a_knocked_agent_is_not_heard_and_a_rejoin_replaces_the_old_session() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let first = cluster.join_agent("lane-a", &capacity(), &BTreeMap::new(), "127.0.0.1:1", Millis(0)).unwrap();
        cluster.knock("lane-a").unwrap();
        assert!(!cluster.agent_heartbeat("lane-a", first, Millis(100)).unwrap());
        let second = cluster.join_agent("lane-a", &capacity(), &BTreeMap::new(), "127.0.0.1:2", Millis(200)).unwrap();
        assert!(matches!(cluster.agent_heartbeat("lane-a", first, Millis(300)), Err(AgentError::StaleSession { .. })));
        assert!(cluster.is_knocked("lane-a"), "a knocked pin stays down across a rejoin");
        cluster.restore("lane-a", Millis(400)).unwrap();
        assert!(cluster.agent_heartbeat("lane-a", second, Millis(500)).unwrap());
    }

    #[test]
    fn an_agent_cannot_take_a_simulated_pins_name_or_touch_other_pods() {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let node = Node { metadata: ObjectMeta::named("pin-1"), ..Node::default() };
        cluster.apply(crate::cluster::objects::Object::Node(node), Millis(0)).unwrap();
        assert!(matches!(
            cluster.join_agent("pin-1", &capacity(), &BTreeMap::new(), "x:1", Millis(0)),
            Err(AgentError::NameTaken(_))
        ));
        let session = cluster.join_agent("lane-a", &capacity(), &BTreeMap::new(), "x:1", Millis(0)).unwrap();
        let other = PodRef { namespace: "default".into(), name: "nope".into(), uid: String::new() };
        assert!(matches!(
            cluster.agent_pod_status("lane-a", session, &other, PodPhase::Running, None, Millis(1)),
            Err(AgentError::Forbidden(_))
        ));
    }
}
