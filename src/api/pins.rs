//! The pin WebSocket (`GET /pins/join`) and the list of connected pins (`GET /nodes`).
//!
//! A thin shell like the rest of the API: each connection is one task that turns pin-protocol
//! frames ([`crate::agent::protocol`]) into `Request` inputs for the World, and follows the
//! pods bound to its node to tell the agent what to run (`bindPod`) and stop (`deletePod`). A
//! knocked pin is told `stopHeartbeats`, and `resume` when it stands again. The control plane's
//! rules for what an agent may do live in `cluster/agents.rs`; nothing here writes the store.
//!
//! When the server has a join token (`--join-token`, or the environment variable
//! `PINSETTER_JOIN_TOKEN`), an agent must present the same token to register. The node secret
//! an agent needs to rejoin under its name is made here (the core only keeps its hash), and
//! `POST /pins/prune` removes the Nodes of agents gone longer than `olderThan`
//! (`pinsetter ctl prune`).

use super::Api;
use super::status::ApiError;
use crate::agent::protocol::{self, AgentMessage, ContainerSpec, PodRef, ProtocolError, ServerMessage};
use crate::cluster::agents::{AgentError, DEFAULT_MAX_PINS_PER_SOURCE};
use crate::cluster::objects::{Pod, Readiness};
use crate::cluster::store::ObjectKey;
use crate::world::{AgentJoin, Answer, Request, World, WorldError};
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{Extensions, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The environment variable that sets the join token agents must present.
pub const JOIN_TOKEN_ENV: &str = "PINSETTER_JOIN_TOKEN";
/// How long a new connection has to send `register`.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a connection compares the pods bound to its node with what the agent was told.
const SYNC_EVERY: Duration = Duration::from_millis(100);
/// Frames larger than this are refused by the WebSocket layer.
const MAX_FRAME_BYTES: usize = 64 << 10;
/// How long an agent must have been gone before `pinsetter ctl prune` removes its Node, unless
/// told otherwise: long enough that a restart or a network blip never costs a node.
pub const DEFAULT_PRUNE_AFTER: &str = "1h";

/// The pin routes, merged into the API router.
pub(super) fn routes() -> Router<Api> {
    Router::new().route("/pins/join", get(join)).route("/nodes", get(nodes)).route("/pins/prune", post(prune))
}

/// A fresh node secret: 32 random bytes from the thread's CSPRNG (seeded by the OS), URL-safe.
fn new_node_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `POST /pins/prune?olderThan=1h`: deletes the Nodes (and their pods and Leases) of agents
/// disconnected at least that long, as a graceful leave would, and forgets them. Connected
/// agents are never touched. Answers the pruned pins as a `PinList`.
async fn prune(State(api): State<Api>, RawQuery(query): RawQuery) -> Response {
    let older_than = query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("olderThan="))
        .unwrap_or(DEFAULT_PRUNE_AFTER)
        .to_string();
    let older_than = match crate::clock::parse_duration(&older_than) {
        Ok(d) => d,
        Err(e) => return ApiError::bad_request(format!("olderThan {older_than:?}: {e}")).into_response(),
    };
    let pruned = match api.world.submit(Request::PruneAgents { older_than_ms: older_than.0 }).await {
        Ok(Ok(Answer::Pruned(pruned))) => {
            let epoch = api.world.view().await.map(|v| v.reading().epoch).unwrap_or_default();
            let mut items = Vec::new();
            for (name, at, refused) in pruned {
                match refused {
                    None => items.push(json!({"name": name, "disconnectedAt": epoch.stamp(at)})),
                    Some(e) => tracing::warn!(node = name, "[WS] cannot prune pin: {e}"),
                }
            }
            Ok(json!({"kind": "PinList", "apiVersion": "pinsetter.dev/v1", "items": items}))
        }
        Ok(Ok(other)) => Err(ApiError::bad_request(format!("unexpected answer {other:?}"))),
        Ok(Err(e)) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(e),
    };
    match pruned {
        Ok(value) => {
            tracing::info!(pruned = value["items"].as_array().map_or(0, Vec::len), "[WS] pruned gone pins");
            (StatusCode::OK, [("content-type", "application/json")], value.to_string()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn join(State(api): State<Api>, ws: WebSocketUpgrade, extensions: Extensions) -> Response {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.to_string());
    ws.max_message_size(MAX_FRAME_BYTES).on_upgrade(move |socket| async move {
        let mut connection = Connection { api, socket, peer, node: String::new(), session: 0 };
        connection.run().await;
    })
}

/// `GET /nodes`: every pin agent that has joined (connected or not), with its node's state.
async fn nodes(State(api): State<Api>) -> Response {
    let listing = api
        .world
        .read(|w: &World| {
            let cluster = w.cluster();
            let epoch = cluster.store.epoch();
            let items: Vec<serde_json::Value> = cluster
                .agents()
                .iter()
                .map(|(name, pin)| {
                    let node = cluster.store.get::<crate::cluster::objects::Node>(&ObjectKey::cluster(name));
                    let ready = match node.map(|n| n.readiness()) {
                        Some(Readiness::Ready) => "Ready",
                        Some(Readiness::NotReady) => "NotReady",
                        Some(Readiness::Unknown) => "Unknown",
                        None => "Gone",
                    };
                    let pods: Vec<serde_json::Value> = cluster
                        .store
                        .pods_on_node(name)
                        .map(|p| json!({"namespace": p.metadata.namespace(), "name": p.metadata.name, "state": p.state().as_str()}))
                        .collect();
                    json!({
                        "name": name,
                        "address": pin.address,
                        "connected": pin.connected,
                        "disconnectedAt": pin.disconnected_at.map(|t| epoch.stamp(t)),
                        "connectedSince": epoch.stamp(pin.connected_since),
                        "lastHeartbeat": pin.last_heartbeat.map(|t| epoch.stamp(t)),
                        "heartbeats": pin.heartbeats,
                        "session": pin.session,
                        "ready": ready,
                        "knocked": cluster.is_knocked(name),
                        "rackSlot": w.pin_number(name),
                        "pods": pods,
                    })
                })
                .collect();
            json!({"kind": "PinList", "apiVersion": "pinsetter.dev/v1", "items": items})
        })
        .await;
    match listing {
        Ok(value) => (StatusCode::OK, [("content-type", "application/json")], value.to_string()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// What the connection loop learns from the World on each sync.
struct Snapshot {
    current: bool,
    knocked: bool,
    /// Pods bound to the node: key → (uid, terminating, containers).
    pods: BTreeMap<ObjectKey, (String, bool, Vec<ContainerSpec>)>,
}

/// Why a connection ends.
enum Close {
    /// The socket closed or failed.
    Gone,
    /// The agent left gracefully.
    Left,
    /// We refused it, with a fatal `error` frame already sent.
    Refused,
}

struct Connection {
    api: Api,
    socket: WebSocket,
    peer: Option<String>,
    node: String,
    session: u64,
}

impl Connection {
    async fn run(&mut self) {
        let pods = match self.register().await {
            Ok(pods) => pods,
            Err(message) => {
                tracing::warn!(peer = self.peer.as_deref().unwrap_or("?"), "[WS] pin refused: {message}");
                self.send(&ServerMessage::Error { message, fatal: true }).await;
                let _ = self.socket.send(Message::Close(None)).await;
                return;
            }
        };
        // What the agent has been told to run (or said it runs), and what it was told to stop.
        let mut running: BTreeMap<ObjectKey, String> =
            pods.into_iter().map(|p| (ObjectKey::new(p.namespace, p.name), p.uid)).collect();
        let mut stopping: BTreeSet<ObjectKey> = BTreeSet::new();
        let mut told_knocked = false;
        let mut sync = tokio::time::interval(SYNC_EVERY);
        sync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let close = loop {
            tokio::select! {
                frame = self.socket.recv() => {
                    let step = match frame {
                        Some(Ok(Message::Text(text))) => self.handle(text.as_str(), &mut running, &mut stopping).await,
                        Some(Ok(Message::Binary(_))) => {
                            self.refuse_frame(ProtocolError::Binary).await;
                            Ok(())
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Err(Close::Gone),
                    };
                    if let Err(close) = step {
                        break close;
                    }
                }
                _ = sync.tick() => {
                    if let Err(close) = self.sync(&mut running, &mut stopping, &mut told_knocked).await {
                        break close;
                    }
                }
            }
        };
        match close {
            Close::Left => tracing::info!(node = self.node, "[WS] pin left"),
            Close::Refused => {
                let _ = self.socket.send(Message::Close(None)).await;
            }
            Close::Gone => {
                let (node, session) = (self.node.clone(), self.session);
                let marked = self.api.world.submit(Request::AgentDisconnected { node, session }).await;
                match marked {
                    Ok(Ok(_)) => tracing::info!(node = self.node, session = self.session, "[WS] pin disconnected"),
                    Ok(Err(e)) => tracing::warn!(node = self.node, "[WS] pin disconnected; cannot mark its node: {e}"),
                    Err(e) => {
                        tracing::warn!(node = self.node, "[WS] pin disconnected; the World is gone: {}", e.message)
                    }
                }
            }
        }
    }

    /// Waits for `register`, checks the token, and joins the node. Returns the pods the agent
    /// says it runs.
    async fn register(&mut self) -> Result<Vec<PodRef>, String> {
        let text = loop {
            match tokio::time::timeout(REGISTER_TIMEOUT, self.socket.recv()).await {
                Err(_) => return Err(format!("no register frame within {}s", REGISTER_TIMEOUT.as_secs())),
                Ok(Some(Ok(Message::Text(text)))) => break text.to_string(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                Ok(Some(Ok(Message::Binary(_)))) => return Err(ProtocolError::Binary.to_string()),
                Ok(_) => return Err("the connection closed before register".into()),
            }
        };
        let message = protocol::decode::<AgentMessage>(&text).map_err(|e| e.to_string())?;
        let AgentMessage::Register { node, capacity, labels, token, pods, address, node_secret } = message else {
            return Err("the first frame must be register".into());
        };
        let expected = self.api.join_token.clone().or_else(|| std::env::var(JOIN_TOKEN_ENV).ok());
        if let Some(expected) = expected
            && !expected.is_empty()
            && token.as_deref() != Some(expected.as_str())
        {
            return Err(format!(
                "join token {}: this server requires the token it was started with (--token)",
                if token.is_some() { "rejected" } else { "missing" }
            ));
        }
        let address = self.peer.clone().or(address).unwrap_or_else(|| "unknown".into());
        let new_secret = new_node_secret();
        let max_per_source = self.api.max_pins_per_source.unwrap_or(DEFAULT_MAX_PINS_PER_SOURCE);
        let timing = self.api.world.read(|w: &World| w.cluster().timing).await.map_err(|e| e.message)?;
        let join = AgentJoin {
            name: node.clone(),
            capacity,
            labels,
            pods: pods.clone(),
            address,
            node_secret,
            new_secret: new_secret.clone(),
            max_per_source,
        };
        let joined = match agent_request(&self.api.world, Request::AgentJoin(Box::new(join))).await {
            Ok(Ok(Answer::Joined(joined))) => joined,
            Ok(Ok(other)) => return Err(format!("unexpected answer {other:?}")),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err(ApiError::unavailable().message),
        };
        let session = joined.session;
        self.node = node;
        self.session = session;
        tracing::info!(node = self.node, session, peer = self.peer.as_deref().unwrap_or("?"), "[WS] pin registered");
        self.send(&ServerMessage::Registered {
            node: self.node.clone(),
            session,
            heartbeat_ms: timing.heartbeat.0,
            startup_ms: timing.startup.0,
            termination_ms: timing.termination.0,
            node_secret: joined.issued_secret.then_some(new_secret),
        })
        .await;
        Ok(pods)
    }

    /// One frame from a registered agent.
    async fn handle(
        &mut self,
        text: &str,
        running: &mut BTreeMap<ObjectKey, String>,
        stopping: &mut BTreeSet<ObjectKey>,
    ) -> Result<(), Close> {
        let message = match protocol::decode::<AgentMessage>(text) {
            Ok(m) => m,
            Err(e) => {
                self.refuse_frame(e).await;
                return Ok(());
            }
        };
        let (node, session) = (self.node.clone(), self.session);
        let result: Result<Option<ServerMessage>, AgentError> = match message {
            AgentMessage::Register { .. } => {
                self.refuse_frame(ProtocolError::Invalid("already registered on this connection".into())).await;
                return Ok(());
            }
            AgentMessage::Heartbeat { seq } => {
                let start = Instant::now();
                let heard = agent_request(&self.api.world, Request::AgentHeartbeat { node, session })
                    .await?
                    .map(|answer| matches!(answer, Answer::Heard(true)));
                tracing::debug!(
                    node = self.node,
                    seq,
                    latency_us = start.elapsed().as_micros() as u64,
                    "[WS] heartbeat"
                );
                heard.map(|heard| heard.then_some(ServerMessage::HeartbeatAck { seq }))
            }
            AgentMessage::PodStatus { pod, phase, pod_ip } => {
                agent_request(&self.api.world, Request::AgentPodStatus { node, session, pod, phase, pod_ip })
                    .await?
                    .map(|_| None)
            }
            AgentMessage::PodDeleted { pod } => {
                let key = ObjectKey::new(&pod.namespace, &pod.name);
                running.remove(&key);
                stopping.remove(&key);
                agent_request(&self.api.world, Request::AgentPodDeleted { node, session, pod }).await?.map(|_| None)
            }
            AgentMessage::Drain {} => {
                let evicted = agent_request(&self.api.world, Request::AgentDrain { node, session }).await?;
                if let Ok(Answer::Evicted(n)) = evicted {
                    tracing::info!(node = self.node, pods = n, "[WS] pin draining: cordoned, evicting its pods");
                }
                evicted.map(|_| None)
            }
            AgentMessage::Leave {} => {
                return match agent_request(&self.api.world, Request::AgentLeave { node, session }).await? {
                    Ok(_) => Err(Close::Left),
                    Err(e) => self.fatal(e).await,
                };
            }
        };
        match result {
            Ok(Some(reply)) => {
                self.send(&reply).await;
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e @ AgentError::StaleSession { .. }) => self.fatal(e).await,
            Err(e) => {
                tracing::warn!(node = self.node, "[WS] pin request refused: {e}");
                self.send(&ServerMessage::Error { message: e.to_string(), fatal: false }).await;
                Ok(())
            }
        }
    }

    /// Tells the agent what changed for its node: knocked or stood, pods to run or stop.
    async fn sync(
        &mut self,
        running: &mut BTreeMap<ObjectKey, String>,
        stopping: &mut BTreeSet<ObjectKey>,
        told_knocked: &mut bool,
    ) -> Result<(), Close> {
        let (node, session) = (self.node.clone(), self.session);
        let snapshot = read(&self.api.world, move |w| {
            let cluster = w.cluster();
            let current = cluster.agents().get(&node).is_some_and(|p| p.session == session);
            let pods = cluster
                .store
                .pods_on_node(&node)
                .map(|p: &Pod| {
                    let containers = p
                        .spec
                        .containers
                        .iter()
                        .map(|c| ContainerSpec { name: c.name.clone(), image: c.image.clone() })
                        .collect();
                    (ObjectKey::of(&p.metadata), (p.metadata.uid.clone(), p.metadata.is_terminating(), containers))
                })
                .collect();
            Snapshot { current, knocked: cluster.is_knocked(&node), pods }
        })
        .await?;
        if !snapshot.current {
            let e = AgentError::StaleSession { node: self.node.clone(), session: self.session };
            return self.fatal(e).await;
        }
        if snapshot.knocked != *told_knocked {
            *told_knocked = snapshot.knocked;
            let message = if snapshot.knocked {
                tracing::info!(node = self.node, "[WS] pin knocked over: telling its agent to stop heartbeats");
                ServerMessage::StopHeartbeats { reason: "the pin was knocked over in the game".into() }
            } else {
                tracing::info!(node = self.node, "[WS] pin stood again: telling its agent to resume");
                ServerMessage::Resume {}
            };
            self.send(&message).await;
        }
        if snapshot.knocked {
            // A knocked pin's kubelet is dead: it neither starts nor stops anything.
            return Ok(());
        }
        let mut out = Vec::new();
        for (key, (uid, terminating, containers)) in &snapshot.pods {
            let pod = PodRef { namespace: key.namespace.to_string(), name: key.name.to_string(), uid: uid.clone() };
            if *terminating {
                if stopping.insert(key.clone()) {
                    out.push(ServerMessage::DeletePod { pod });
                }
            } else if running.get(key) != Some(uid) {
                running.insert(key.clone(), uid.clone());
                out.push(ServerMessage::BindPod { pod, containers: containers.clone() });
            }
        }
        // Pods the agent runs that are no longer bound here (deleted while it was away, or
        // replaced by a pod of the same name): it drops them.
        let gone: Vec<(ObjectKey, String)> = running
            .iter()
            .filter(|(k, uid)| snapshot.pods.get(*k).is_none_or(|(u, _, _)| u != *uid))
            .map(|(k, u)| (k.clone(), u.clone()))
            .collect();
        for (key, uid) in gone {
            running.remove(&key);
            if !snapshot.pods.contains_key(&key) {
                stopping.remove(&key);
            }
            out.push(ServerMessage::DeletePod {
                pod: PodRef { namespace: key.namespace.to_string(), name: key.name.to_string(), uid },
            });
        }
        for message in out {
            self.send(&message).await;
        }
        Ok(())
    }

    async fn refuse_frame(&mut self, error: ProtocolError) {
        tracing::warn!(node = self.node, peer = self.peer.as_deref().unwrap_or("?"), "[WS] bad frame: {error}");
        self.send(&ServerMessage::Error { message: error.to_string(), fatal: false }).await;
    }

    async fn fatal(&mut self, error: AgentError) -> Result<(), Close> {
        tracing::warn!(node = self.node, "[WS] closing pin connection: {error}");
        self.send(&ServerMessage::Error { message: error.to_string(), fatal: true }).await;
        Err(Close::Refused)
    }

    async fn send(&mut self, message: &ServerMessage) {
        let _ = self.socket.send(Message::Text(protocol::encode(message).into())).await;
    }
}

/// Reads agent state on the World's owner; an unavailable World ends the connection.
async fn read<R: Send + 'static>(
    world: &super::WorldHandle,
    f: impl FnOnce(&World) -> R + Send + 'static,
) -> Result<R, Close> {
    world.read(f).await.map_err(|_| Close::Gone)
}

/// Sends an agent's message to the World as an input; an unavailable World ends the connection.
async fn agent_request(world: &super::WorldHandle, request: Request) -> Result<Result<Answer, AgentError>, Close> {
    match world.submit(request).await {
        Err(_) => Err(Close::Gone),
        Ok(Ok(answer)) => Ok(Ok(answer)),
        Ok(Err(WorldError::Agent(e))) => Ok(Err(e)),
        Ok(Err(other)) => Ok(Err(AgentError::InvalidReport(other.to_string()))),
    }
}
