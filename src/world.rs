//! The World: the mini-Kubernetes and the bowling alley under one virtual clock. This is where
//! they meet — a fallen pin becomes a failed node (crashed when the ball hit it, partitioned when
//! another pin did), a wobbling one a node under memory pressure, a reset rack restored nodes —
//! and nowhere else.
//!
//! Sans-IO, like quinn-proto: inputs go in through [`World::handle_input`], time moves only by
//! [`World::step`] (one fixed tick), and what happened comes out of [`World::poll_output`]. No
//! wall clock, no I/O, no threads; ordered maps only; randomness from named seeded streams.
//! Same seed + same inputs = same event log, byte for byte ([`World::digest`]).

use crate::alley::{Alley, AlleyEvent, AlleyInput, FallCause};
use crate::clock::{Epoch, Millis, TICK_MS};
use crate::cluster::agents::protocol::{Capacity, PodPhase, PodRef};
use crate::cluster::agents::{AgentError, Joined, Registration};
use crate::cluster::controllers::disruption::{EvictionError, evict};
use crate::cluster::events::EventRecord;
use crate::cluster::leader_election::{Component, ElectionError};
use crate::cluster::objects::Kind;
use crate::cluster::objects::{Deployment, Node, Object, Pod, PodState, StatefulSet};
use crate::cluster::scheduler::{Policy, rack_order_key};
use crate::cluster::store::{ChangeType, ObjectKey};
use crate::cluster::timing::{Preset, Timing};
use crate::cluster::{Chaos, Cluster, ClusterError, Failure, LookupMap};
use crate::scenario::{Scenario, ScenarioError};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

pub mod racks;
pub use racks::Racks;

/// Everything the outside world can ask of the World. Serializable, so a session's inputs can
/// be logged and replayed ([`crate::driver::InputLog`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Input {
    /// A node stops dead, as if its pin was knocked over (chaos key, `sim --at '5s knock pin-3'`).
    Knock(String),
    /// The node fails as `failure` says: a crash is [`Input::Knock`]; a partition cuts its
    /// heartbeats but keeps its pods running; a pressure makes its kubelet evict pods
    /// (`sim --at '5s partition pin-3'`, the game's shifted and alt digit keys).
    Fail {
        node: String,
        failure: Failure,
    },
    /// Every node labelled `topology.kubernetes.io/zone=<zone>` fails as `failure` says
    /// (`sim --at '5s knock-zone zone-3'`).
    FailZone {
        zone: String,
        failure: Failure,
    },
    /// Every node of the zone comes back.
    RestoreZone(String),
    /// The node's kubelet comes back (reconnects, or is relieved of its pressure).
    Restore(String),
    /// The pinsetter stands every pin again and every knocked node comes back.
    ResetPins,
    /// The pinsetter itself is knocked: the leading replica of the component (of both when
    /// None) crashes; nothing it does happens until a standby acquires the Lease
    /// (`sim --at '5s knock-leader kube-scheduler'`, the game's `k` key).
    KnockLeader(Option<Component>),
    /// The knocked replicas of the component (of both when None) start again, as standbys.
    RestoreLeader(Option<Component>),
    /// Create or replace an object (`kubectl apply`).
    Apply(#[serde(with = "serde_object")] Box<Object>),
    Scale {
        #[serde(with = "serde_key")]
        deployment: ObjectKey,
        replicas: i32,
    },
    Cordon {
        node: String,
        unschedulable: bool,
    },
    DeletePod(#[serde(with = "serde_key")] ObjectKey),
    SetTiming(#[serde(with = "serde_preset")] Preset),
    /// Switch the scheduling policy (the game's `s` key). Pods already bound stay where they are;
    /// the next scheduling cycle uses the new policy.
    SetPolicy(#[serde(with = "serde_policy")] Policy),
    /// A bowling control of the lane's first bowler (the player at the keyboard).
    Alley(AlleyInput),
    /// A bowling control of bowler `bowler` (index into [`Alley::bowlers`]), refused when it
    /// is not their turn (`pinsetter play --join`'s keys, through gRPC `Act`).
    Bowl {
        bowler: u8,
        control: AlleyInput,
    },
    /// A bowler joins the game (`pinsetter play --join --name NAME`), starting at frame 1 of
    /// their own card.
    JoinBowler {
        name: String,
    },
    /// An API server write or a pin agent's message, answered by a [`Reply`] with this id
    /// (from [`World::poll_reply`]).
    Request {
        id: RequestId,
        request: Request,
    },
    /// Pin `n` (1..=10) falls as a chaos key knocks it: its node, or on a racked lane every
    /// node of its rack ([`World::pin_nodes`]).
    KnockPin(u8),
    /// Pin `n` (1..=10) fails as `failure` says, every node it stands for (the shifted and alt
    /// chaos keys: a partitioned pin falls, one under memory pressure wobbles but stands).
    FailPin {
        pin: u8,
        failure: Failure,
    },
    /// Pin `n` stands again and every node it stands for comes back.
    StandPin(u8),
}

/// Tells a [`Reply`] to its [`Input::Request`].
pub type RequestId = u64;

/// What API clients and pin agents ask of the World: everything that writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Request {
    /// POST: a new object (answers it as stored).
    Create(#[serde(with = "serde_object")] Box<Object>),
    /// PUT, and PATCH once applied by the API: the object's `resourceVersion`, when set, must
    /// still be current (answers it as stored).
    Replace(#[serde(with = "serde_object")] Box<Object>),
    /// PUT or PATCH on a `/status` subresource: only the object's `status` is written.
    ReplaceStatus(#[serde(with = "serde_object")] Box<Object>),
    /// DELETE; `force` (`gracePeriodSeconds: 0`) removes a pod at once, without its kubelet.
    Delete {
        #[serde(with = "serde_kind")]
        kind: Kind,
        #[serde(with = "serde_key")]
        key: ObjectKey,
        force: bool,
    },
    /// DELETE on a collection: the keys the API selected (answers those it deleted).
    DeleteCollection {
        #[serde(with = "serde_kind")]
        kind: Kind,
        #[serde(with = "serde_keys")]
        keys: Vec<ObjectKey>,
    },
    /// `pods/eviction`: a graceful delete, unless a PodDisruptionBudget allows no disruption.
    Evict(#[serde(with = "serde_key")] ObjectKey),
    /// `deployments/scale` (answers the deployment).
    Scale {
        #[serde(with = "serde_key")]
        deployment: ObjectKey,
        replicas: i32,
    },
    /// The pins API's knock and restore (`pinsetter ctl knock`).
    Knock(String),
    Restore(String),
    /// A pin agent joins (`pinsetter pin --join`); the new secret is made by the shell so the
    /// input replays the same.
    AgentJoin(Box<AgentJoin>),
    AgentHeartbeat {
        node: String,
        session: u64,
    },
    AgentPodStatus {
        node: String,
        session: u64,
        pod: PodRef,
        phase: PodPhase,
        pod_ip: Option<String>,
    },
    AgentPodDeleted {
        node: String,
        session: u64,
        pod: PodRef,
    },
    AgentDrain {
        node: String,
        session: u64,
    },
    AgentLeave {
        node: String,
        session: u64,
    },
    AgentDisconnected {
        node: String,
        session: u64,
    },
    /// Agents disconnected for longer than this leave (`pinsetter ctl prune`).
    PruneAgents {
        older_than_ms: u64,
    },
}

/// An agent's registration, owned (see [`Registration`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentJoin {
    pub name: String,
    pub capacity: Capacity,
    pub labels: BTreeMap<String, String>,
    pub pods: Vec<PodRef>,
    pub address: String,
    pub node_secret: Option<String>,
    pub new_secret: String,
    pub max_per_source: usize,
}

/// The World's answer to one [`Input::Request`].
#[derive(Debug)]
pub struct Reply {
    pub id: RequestId,
    pub result: Result<Answer, WorldError>,
}

#[derive(Debug)]
pub enum Answer {
    Done,
    Object(Box<Object>),
    Objects(Vec<Object>),
    Joined(Joined),
    /// Whether a heartbeat was heard (a knocked pin's is not).
    Heard(bool),
    /// Pods an agent's drain evicted.
    Evicted(usize),
    /// Agents pruned: name, disconnected at, and why one could not leave.
    Pruned(Vec<(String, Millis, Option<AgentError>)>),
}

/// What the World reports, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Output {
    /// A Kubernetes event was recorded.
    Event(EventRecord),
    /// Something happened on the lane.
    Alley(AlleyEvent),
    /// A plain-words note from the pinsetter to the player (not a Kubernetes event).
    Note { at: Millis, text: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("no pin is node {0:?}")]
    UnknownNode(String),
    #[error("no pin {0}: pins are 1 to 10, and this lane has fewer nodes")]
    UnknownPin(u8),
    #[error("no node is labelled {ZONE_LABEL}={0}")]
    UnknownZone(String),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    ControlPlane(#[from] ElectionError),
    /// The Eviction API refused: a PodDisruptionBudget allows no disruption now.
    #[error(transparent)]
    Eviction(#[from] EvictionError),
    #[error(transparent)]
    Bowling(#[from] crate::alley::TurnError),
}

/// Something that went wrong while the World ran on its own (not in answer to an input):
/// recorded and reported (`sim` prints them) instead of being hidden.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Fault {
    /// The control plane failed on its own: its round bound hit at one instant (see
    /// [`ClusterError::Livelock`]), or a pin that could not be stood again.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Outputs were discarded because nobody drained them and the queue reached its bound.
    #[error("{dropped} outputs dropped (first at {first_at}): more than {cap} were waiting undrained")]
    OutputsDropped { first_at: Millis, dropped: u64, cap: usize },
}

/// Outputs waiting to be drained before the oldest are dropped (and a [`Fault`] recorded).
pub const OUTPUT_CAPACITY: usize = 100_000;
/// Outputs one pod or node may have waiting, on top of [`OUTPUT_CAPACITY`].
const OUTPUTS_PER_OBJECT: usize = 8;
/// Faults kept; later ones are counted in the last entry's kind only (a livelock repeating
/// every tick must not grow memory without bound).
const FAULT_CAPACITY: usize = 100;

/// Recovery and disruption figures, for `sim --json` and the cluster's scorecard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// What each kind of failure did (`crash`, `partition`, `pressure`).
    pub by_failure: BTreeMap<Failure, FailureEffects>,
    /// Pods that were on a node when it was knocked.
    pub displaced: u64,
    /// Pods deleted by the taint-eviction controller.
    pub evicted: u64,
    /// Replacements that reached Running.
    pub rescheduled: u64,
    /// Game time from a pod's node being knocked to its replacement Running, per replacement.
    pub recovery_ms: Vec<u64>,
    /// The longest any pod has waited unbound.
    pub longest_pending_ms: u64,
    /// Sum over samples of available/desired, per deployment, for availability.
    availability: BTreeMap<String, (f64, u64)>,
}

impl Metrics {
    /// Time-weighted share of desired replicas that were available, per deployment.
    pub fn availability(&self) -> BTreeMap<String, f64> {
        self.availability.iter().map(|(k, (sum, n))| (k.clone(), if *n == 0 { 1.0 } else { sum / *n as f64 })).collect()
    }
}

/// What one kind of failure did over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FailureEffects {
    /// Nodes that failed this way.
    pub nodes: u64,
    /// Pods that lost their place: on the node when it crashed or was cut off, or evicted by
    /// its kubelet under memory pressure.
    pub displaced: u64,
    /// The most pods running twice at once: a partitioned original and its replacement.
    pub duplicates_peak: u64,
    /// Duplicates their kubelet killed when its partition healed.
    pub duplicates_killed: u64,
    /// Replacements that reached Running.
    pub recovered: u64,
    /// The longest and the total game time from the failure to a replacement Running.
    pub recovery_max_ms: u64,
    pub recovery_total_ms: u64,
}

/// The cluster's line on the scorecard for one bowling frame.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FrameReport {
    pub displaced: u64,
    pub longest_pending_ms: u64,
    pub recovery_max_ms: Option<u64>,
    /// Lowest availability across deployments during the frame (0..=1).
    pub availability: f64,
    availability_sum: f64,
    availability_samples: u64,
}

impl FrameReport {
    pub fn mean_availability(&self) -> f64 {
        if self.availability_samples == 0 { 1.0 } else { self.availability_sum / self.availability_samples as f64 }
    }
}

/// The well-known label naming a node's failure domain.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// How long the pinsetter takes to sweep and lower a fresh rack: the fallen pins' nodes stay
/// dead until then, so the player sees the control plane react to a strike.
pub const PINSETTER_CYCLE: Millis = Millis(3_000);
/// How often availability is sampled.
const SAMPLE_EVERY: Millis = Millis(100);
/// Nodes a note names one by one; beyond this (a rack of hundreds) it counts them.
const MAX_NAMED_NODES: usize = 10;
/// Rounds of controller chaos one instant may apply (a Roll throws once per instant).
const MAX_CHAOS_ROUNDS: usize = 8;
/// How many log lines the world keeps for the UI.
const LOG_CAPACITY: usize = 500;

pub struct World {
    now: Millis,
    seed: u64,
    cluster: Cluster,
    alley: Alley,
    /// Node name for each rack slot (pin 1 = index 0); pins beyond ten are nodes without a pin.
    pins: Vec<String>,
    /// On a lane of more than ten nodes, the nodes each pin stands for.
    racks: Option<Racks>,
    outputs: VecDeque<Output>,
    /// Answers to [`Input::Request`]s, kept apart from the outputs: those may be dropped when
    /// undrained, an answer must not be.
    replies: VecDeque<Reply>,
    log: VecDeque<Output>,
    digest: Sha256,
    event_count: u64,
    metrics: Metrics,
    frames: Vec<FrameReport>,
    cursor: u64,
    /// Displaced pods still alive on a knocked node: pod → (owner uid, knocked at, how).
    displaced: BTreeMap<ObjectKey, (String, Millis, Failure)>,
    /// Evicted pods waiting for a replacement: owner uid → failure times (oldest first).
    awaiting: BTreeMap<String, VecDeque<(Millis, Failure)>>,
    /// Pods seen Running, to tell a pod that starts running from one that runs on. Found by
    /// hash (every pod write of a 150,000-pod start-up asks) and never iterated, so its order
    /// cannot leak; the hasher's seed is fixed.
    running: HashSet<ObjectKey, FixedState>,
    pending_since: PendingSince,
    next_sample: Millis,
    /// When the pinsetter finishes lowering the rack, if it is cycling.
    rack_lowered_at: Option<Millis>,
    /// Availability is sampled only once the lane has first come up complete.
    lane_up: bool,
    faults: Vec<Fault>,
    /// A tick whose control-plane work is under way in slices ([`World::step_within`]).
    mid_tick: bool,
}

impl World {
    pub fn new(seed: u64, preset: Preset, scenario: &Scenario) -> Result<World, WorldError> {
        World::with_epoch(seed, preset, scenario, Epoch::default())
    }

    /// A World whose object timestamps count from `epoch`: interactive shells pass their start
    /// in real time; headless runs keep the fixed default, so they replay byte for byte.
    pub fn with_epoch(seed: u64, preset: Preset, scenario: &Scenario, epoch: Epoch) -> Result<World, WorldError> {
        let mut cluster = Cluster::new(seed, Timing::preset(preset));
        cluster.store.start_resource_versions_after(epoch.resource_version_base());
        cluster.set_control_plane_replicas(seed, scenario.control_plane_replicas)?;
        cluster.store.set_epoch(epoch);
        cluster.scheduler.policy = scenario.scheduler;
        if scenario.objects.iter().filter(|(_, o)| matches!(o, Object::Node(_))).count() > 100 {
            // Keep every node's verdict for every pod on game-sized lanes; on big ones only messages.
            cluster.scheduler.record_verdicts = false;
        }
        // The Roll CRD is part of every lane, as built-in APIs are: `kubectl get rolls` works at once.
        let roll_crd = crate::cluster::controllers::roll::definition()?;
        cluster.apply(roll_crd, Millis::ZERO)?;
        let mut pins = Vec::new();
        for (document, object) in &scenario.objects {
            let (kind, name) = (object.kind().name().to_string(), object.meta().name.clone());
            if let Object::Node(node) = object {
                pins.push(node.metadata.name.clone());
            }
            cluster.apply(object.clone(), Millis::ZERO).map_err(|e| ScenarioError::Invalid {
                origin: scenario.origin.clone(),
                document: *document,
                kind,
                name,
                message: e.to_string(),
            })?;
        }
        pins.sort_by(|a, b| rack_order_key(a).cmp(&rack_order_key(b)));
        let racks = Racks::new(&pins, |name| {
            let node = cluster.store.get::<Node>(&ObjectKey::cluster(name))?;
            node.metadata.labels.get(racks::ZONE_LABEL).map(String::as_str)
        });
        let mut world = World {
            now: Millis::ZERO,
            seed,
            cluster,
            alley: Alley::new(crate::rng::stream(seed, "alley")),
            pins,
            racks,
            outputs: VecDeque::new(),
            replies: VecDeque::new(),
            log: VecDeque::new(),
            digest: Sha256::new(),
            event_count: 0,
            metrics: Metrics::default(),
            frames: vec![FrameReport { availability: 1.0, ..Default::default() }],
            cursor: 0,
            displaced: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            running: HashSet::default(),
            pending_since: PendingSince::default(),
            next_sample: Millis::ZERO,
            rack_lowered_at: None,
            lane_up: false,
            faults: Vec::new(),
            mid_tick: false,
        };
        world.settle();
        Ok(world)
    }

    /// The clock as a shell shows it: now, and the epoch object timestamps count from.
    pub fn reading(&self) -> crate::clock::Reading {
        crate::clock::Reading { now: self.now, epoch: self.cluster.store.epoch() }
    }

    pub fn now(&self) -> Millis {
        self.now
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn alley(&self) -> &Alley {
        &self.alley
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One report per bowling frame so far (index 0 = frame 1).
    pub fn frame_reports(&self) -> &[FrameReport] {
        &self.frames
    }

    /// Node names in rack order; the first ten are pins 1–10.
    pub fn pins(&self) -> &[String] {
        &self.pins
    }

    /// The recent log (events and notes), oldest first.
    pub fn log(&self) -> impl DoubleEndedIterator<Item = &Output> {
        self.log.iter()
    }

    /// Events recorded so far.
    /// What went wrong while running, oldest first (empty in a healthy run).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn record_fault(&mut self, fault: Fault) {
        if self.faults.len() < FAULT_CAPACITY {
            self.faults.push(fault);
        }
    }

    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    /// A hash of the whole event log so far: equal digests mean equal histories.
    pub fn digest(&self) -> String {
        format!("{:x}", self.digest.clone().finalize())
    }

    pub fn handle_input(&mut self, input: Input) -> Result<(), WorldError> {
        self.finish_tick();
        let applied = self.apply(input);
        self.settle();
        applied
    }

    /// Applies one input; the control plane reacts in [`World::settle`], which the caller runs.
    fn apply(&mut self, input: Input) -> Result<(), WorldError> {
        let now = self.now;
        match input {
            Input::Knock(node) => self.apply_failure(&node, Failure::Crash)?,
            Input::Fail { node, failure } => self.apply_failure(&node, failure)?,
            Input::FailZone { zone, failure } => {
                for node in self.zone_nodes(&zone)? {
                    self.apply_failure(&node, failure)?;
                }
            }
            Input::RestoreZone(zone) => {
                let nodes = self.zone_nodes(&zone)?;
                let pins: BTreeSet<u8> = nodes.iter().filter_map(|n| self.pin_number(n)).collect();
                for pin in pins {
                    self.alley.stand_pin(pin);
                }
                self.restore(&nodes);
            }
            Input::KnockPin(pin) => {
                if self.pin_nodes(pin).is_empty() {
                    return Err(WorldError::UnknownPin(pin));
                }
                self.knock_pin(pin);
            }
            Input::FailPin { pin, failure } => {
                if self.pin_nodes(pin).is_empty() {
                    return Err(WorldError::UnknownPin(pin));
                }
                for node in self.pin_nodes(pin).to_vec() {
                    self.apply_failure(&node, failure)?;
                }
            }
            Input::StandPin(pin) => {
                if self.pin_nodes(pin).is_empty() {
                    return Err(WorldError::UnknownPin(pin));
                }
                self.alley.stand_pin(pin);
                let nodes = self.pin_nodes(pin).to_vec();
                self.restore(&nodes);
            }
            Input::Restore(node) => {
                self.check_node(&node)?;
                if let Some(pin) = self.pin_number(&node) {
                    self.alley.stand_pin(pin);
                }
                self.restore(&[node]);
            }
            Input::ResetPins => {
                self.rack_lowered_at = None;
                self.alley.reset_rack();
                let all = self.pins.clone();
                self.restore(&all);
            }
            Input::KnockLeader(component) => {
                let components = component.map_or(Component::ALL.to_vec(), |c| vec![c]);
                let knocked = self.cluster.knock_leader(&components, now);
                let text = if knocked.is_empty() {
                    "pinsetter: no leader to knock: every replica is down or still waiting for the Lease".to_string()
                } else {
                    format!(
                        "pinsetter: knocked the leader ({}): nothing of its work happens until a standby acquires the Lease, {} s after it last saw it renewed",
                        knocked.join(", "),
                        self.cluster.timing.lease_duration.0 as f64 / 1000.0
                    )
                };
                self.emit(Output::Note { at: now, text });
            }
            Input::RestoreLeader(component) => {
                let components = component.map_or(Component::ALL.to_vec(), |c| vec![c]);
                let back = self.cluster.restore_control_plane(&components, now);
                if back > 0 {
                    let text = format!(
                        "pinsetter: {back} control-plane replica{} restarted as standby{}",
                        if back == 1 { "" } else { "s" },
                        if back == 1 { "" } else { "s" }
                    );
                    self.emit(Output::Note { at: now, text });
                }
            }
            Input::Apply(object) => {
                self.cluster.apply(*object, now)?;
            }
            Input::Scale { deployment, replicas } => self.cluster.scale(&deployment, replicas)?,
            Input::Cordon { node, unschedulable } => self.cluster.cordon(&node, unschedulable)?,
            Input::DeletePod(key) => self.cluster.delete_pod(&key, now)?,
            Input::SetTiming(preset) => self.cluster.set_timing(Timing::preset(preset), now),
            Input::SetPolicy(policy) => {
                if self.cluster.scheduler.policy != policy {
                    self.cluster.scheduler.policy = policy;
                    let text = format!("scheduler: {} policy from now on: {}", policy.name(), policy.summary());
                    self.emit(Output::Note { at: now, text });
                }
            }
            Input::Alley(input) => self.alley.handle(input)?,
            Input::Bowl { bowler, control } => self.alley.handle_as(bowler, control)?,
            Input::JoinBowler { name } => {
                self.alley.join(&name)?;
            }
            Input::Request { id, request } => {
                let result = self.request(request);
                self.replies.push_back(Reply { id, result });
            }
        }
        Ok(())
    }

    /// Sets how many changes the store's change log keeps (tests shrink it to force relists).
    pub fn set_change_log_capacity(&mut self, capacity: usize) {
        self.cluster.store.set_log_capacity(capacity);
    }

    /// The next answer to an [`Input::Request`], in the order they were handled.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        self.replies.pop_front()
    }

    /// Runs one request (the control plane reacts afterwards, in [`World::handle_input`]).
    fn request(&mut self, request: Request) -> Result<Answer, WorldError> {
        let now = self.now;
        let object = |o: Object| Answer::Object(Box::new(o));
        Ok(match request {
            Request::Create(o) => object(self.cluster.create(*o, now)?),
            Request::Replace(o) => object(self.cluster.replace(*o)?),
            Request::ReplaceStatus(o) => object(self.cluster.replace_status(*o)?),
            Request::Delete { kind: Kind::Pod, key, force: true } => {
                let deleted = self.cluster.store.delete::<Pod>(&key).map_err(ClusterError::from)?;
                object(Object::Pod(deleted).with_resource_version(self.cluster.store.resource_version()))
            }
            Request::Delete { kind, key, .. } => object(self.cluster.remove(kind, &key, now)?),
            Request::DeleteCollection { kind, keys } => {
                // An object already gone (deleted meanwhile) is simply not in the answer.
                Answer::Objects(keys.iter().filter_map(|k| self.cluster.remove(kind, k, now).ok()).collect())
            }
            Request::Evict(key) => match evict(&mut self.cluster.store, &key, now) {
                Ok(_) => Answer::Done,
                Err(refused) => {
                    if let EvictionError::Budget { cause, .. } = &refused {
                        let text = format!("eviction of pod {key} refused (429): {cause}");
                        self.emit(Output::Note { at: now, text });
                    }
                    return Err(refused.into());
                }
            },
            Request::Scale { deployment, replicas } => {
                self.cluster.scale(&deployment, replicas)?;
                let scaled = self.cluster.store.get_shared::<Deployment>(&deployment).cloned();
                object(Object::Deployment(scaled.ok_or_else(|| {
                    WorldError::Cluster(ClusterError::from(crate::cluster::store::StoreError::NotFound {
                        resource: "deployments.apps".into(),
                        name: deployment.name.to_string(),
                    }))
                })?))
            }
            Request::Knock(node) => {
                self.apply(Input::Knock(node))?;
                Answer::Done
            }
            Request::Restore(node) => {
                self.apply(Input::Restore(node))?;
                Answer::Done
            }
            Request::AgentJoin(join) => {
                let registration = Registration {
                    name: &join.name,
                    capacity: &join.capacity,
                    labels: &join.labels,
                    pods: &join.pods,
                    address: &join.address,
                    node_secret: join.node_secret.as_deref(),
                    new_secret: &join.new_secret,
                    max_per_source: join.max_per_source,
                };
                Answer::Joined(self.join_agent_unsettled(&registration)?)
            }
            Request::AgentHeartbeat { node, session } => {
                Answer::Heard(self.cluster.agent_heartbeat(&node, session, now)?)
            }
            Request::AgentPodStatus { node, session, pod, phase, pod_ip } => {
                self.cluster.agent_pod_status(&node, session, &pod, phase, pod_ip, now)?;
                Answer::Done
            }
            Request::AgentPodDeleted { node, session, pod } => {
                self.cluster.agent_pod_deleted(&node, session, &pod, now)?;
                Answer::Done
            }
            Request::AgentDrain { node, session } => Answer::Evicted(self.cluster.agent_drain(&node, session, now)?),
            Request::AgentLeave { node, session } => {
                self.agent_leave_unsettled(&node, session)?;
                Answer::Done
            }
            Request::AgentDisconnected { node, session } => {
                self.cluster.agent_disconnected(&node, session, now)?;
                Answer::Done
            }
            Request::PruneAgents { older_than_ms } => {
                let gone = self.cluster.agents_gone_for(Millis(older_than_ms), now);
                let pruned = gone
                    .into_iter()
                    .map(|(name, session, at)| {
                        let refused = self.agent_leave_unsettled(&name, session).err();
                        (name, at, refused)
                    })
                    .collect();
                Answer::Pruned(pruned)
            }
        })
    }

    /// A pin agent joins (`pinsetter pin --join`): its node takes the next place in the rack (a
    /// pin on the deck when the lane has fewer than ten), so it can be knocked and stood like
    /// any other. Returns its session, and whether the registration's new node secret was issued.
    pub fn join_agent(&mut self, registration: &Registration) -> Result<Joined, AgentError> {
        self.finish_tick();
        let joined = self.join_agent_unsettled(registration)?;
        self.settle();
        Ok(joined)
    }

    fn join_agent_unsettled(&mut self, registration: &Registration) -> Result<Joined, AgentError> {
        let joined = self.cluster.join_agent(registration, self.now)?;
        let name = registration.name;
        if !self.pins.iter().any(|p| p == name) {
            self.pins.push(name.to_string());
        }
        Ok(joined)
    }

    /// A pin agent left gracefully: its node is gone from the cluster and from the rack.
    pub fn agent_leave(&mut self, name: &str, session: u64) -> Result<(), AgentError> {
        self.finish_tick();
        self.agent_leave_unsettled(name, session)?;
        self.settle();
        Ok(())
    }

    fn agent_leave_unsettled(&mut self, name: &str, session: u64) -> Result<(), AgentError> {
        self.cluster.agent_leave(name, session)?;
        if let Some(at) = self.pins.iter().position(|p| p == name)
            && at >= 10
        {
            // Only pins beyond the rack leave the list: removing one of the ten would shift
            // every pin after it onto another rack slot.
            self.pins.remove(at);
        }
        Ok(())
    }

    /// Advances one fixed tick: the ball moves, the control plane runs what is due.
    pub fn step(&mut self) {
        self.finish_tick();
        self.step_within(usize::MAX);
    }

    /// [`World::step`] in slices of at most `rounds` control-plane rounds, so a shell can
    /// draw while a busy tick (the stadium filling) is under way: `true` once the tick is
    /// done, `false` while its work remains (call again to carry on). Slicing changes nothing
    /// but when frames are drawn: an input, a pin agent's join or leave, or a plain `step`
    /// first finishes the tick under way, so every input still lands between ticks and a
    /// replay reaches the same digest.
    pub fn step_within(&mut self, rounds: usize) -> bool {
        if !self.mid_tick {
            self.now = self.now + Millis(TICK_MS);
            self.alley.step(TICK_MS);
            self.settle_alley();
        }
        self.settle_within(rounds)
    }

    /// Whether a tick is under way in slices (the screen may say the control plane is busy).
    pub fn is_mid_tick(&self) -> bool {
        self.mid_tick
    }

    /// Finishes a tick [`World::step_within`] left under way, if any.
    fn finish_tick(&mut self) {
        if self.mid_tick {
            self.settle_within(usize::MAX);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the control plane next has work (the alley, when moving, wants every tick).
    pub fn next_deadline(&self) -> Option<Millis> {
        self.cluster.next_deadline()
    }

    fn check_node(&self, node: &str) -> Result<(), WorldError> {
        if self.pins.iter().any(|p| p == node) { Ok(()) } else { Err(WorldError::UnknownNode(node.into())) }
    }

    /// Pin number (1..=10) of a node in the rack, if it has one (on a racked lane, its rack's).
    pub fn pin_number(&self, node: &str) -> Option<u8> {
        match &self.racks {
            Some(racks) => racks.pin_of(node),
            None => self.pins.iter().take(10).position(|p| p == node).map(|i| i as u8 + 1),
        }
    }

    /// The racks, on a lane of more than ten nodes (each pin then stands for many nodes).
    pub fn racks(&self) -> Option<&Racks> {
        self.racks.as_ref()
    }

    /// The nodes pin `pin` (1..=10) stands for: its rack's, or its one node; empty if none.
    pub fn pin_nodes(&self, pin: u8) -> &[String] {
        match &self.racks {
            Some(racks) => racks.nodes(pin),
            None => match usize::from(pin).checked_sub(1).filter(|&i| i < 10).and_then(|i| self.pins.get(i)) {
                Some(node) => std::slice::from_ref(node),
                None => &[],
            },
        }
    }

    /// Knocks what `pin` stands for; the alley's pin falls once all of it is down.
    fn knock_pin(&mut self, pin: u8) {
        let nodes: Vec<String> = self.pin_nodes(pin).iter().filter(|n| !self.cluster.is_knocked(n)).cloned().collect();
        for node in &nodes {
            self.knock(node);
        }
        self.alley.knock_pin(pin);
    }

    /// After `node` fell: its pin falls too once every node it stands for is down.
    ///
    /// Asked from the rack's last node back: a zone knock fells its nodes in rack order, so the
    /// last is the one still up until the end, and 500 nodes cost 500 looks, not 125,000.
    fn topple_if_all_down(&mut self, node: &str) {
        if let Some(pin) = self.pin_number(node)
            && self.pin_nodes(pin).iter().rev().all(|n| self.cluster.is_knocked(n))
        {
            self.alley.knock_pin(pin);
        }
    }

    /// A chaos key, `sim --at` or the pins API fails a node: its pin falls (or, under pressure,
    /// stays up).
    fn apply_failure(&mut self, node: &str, failure: Failure) -> Result<(), WorldError> {
        self.check_node(node)?;
        if self.cluster.failure(node).is_some_and(|f| f == failure || f == Failure::Crash) {
            return Ok(());
        }
        if self.fail_node(node, failure) && failure == Failure::Pressure {
            let text =
                format!("pinsetter: {node} runs low on memory: its kubelet evicts pods until the pressure is relieved");
            self.emit(Output::Note { at: self.now, text });
        }
        if failure.fells_pin() {
            self.topple_if_all_down(node);
        }
        Ok(())
    }

    /// Pin `pin` was knocked over by pin `by`: its nodes are cut off, not crashed. Their kubelets
    /// keep running their pods out of the control plane's sight until the pinsetter stands the
    /// pin again, when they kill the ones replaced meanwhile.
    fn partition_pin(&mut self, pin: u8, by: u8) {
        let nodes: Vec<String> = self.pin_nodes(pin).iter().filter(|n| !self.cluster.is_knocked(n)).cloned().collect();
        let mut cut = Vec::new();
        for node in nodes {
            if self.cluster.failure(&node) == Some(Failure::Pressure) {
                // Lying on the deck it is cut off, whatever it suffered standing: the partition
                // takes the pressure's place (a failing kubelet takes no second failure).
                if let Err(err) = self.cluster.restore(&node, self.now) {
                    self.record_fault(err.into());
                }
            }
            if self.fail_node(&node, Failure::Partition) {
                cut.push(node);
            }
        }
        let what = match cut.as_slice() {
            [] => return,
            [node] => format!("{node} is cut off, its pods run on unseen"),
            _ => format!("{} nodes are cut off, their pods run on unseen", cut.len()),
        };
        let text = format!("pin {pin} knocked by pin {by}: network partition: {what}");
        self.emit(Output::Note { at: self.now, text });
    }

    /// Pin `pin` wobbled but stayed up: its nodes run low on memory for a while. Each kubelet's
    /// eviction manager relieves its pressure by itself; the pinsetter's reset relieves what is
    /// left.
    fn wobble_pin(&mut self, pin: u8) {
        let nodes: Vec<String> =
            self.pin_nodes(pin).iter().filter(|n| self.cluster.failure(n).is_none()).cloned().collect();
        let mut pressed = Vec::new();
        for node in nodes {
            if self.fail_node(&node, Failure::Pressure) {
                pressed.push(node);
            }
        }
        let what = match pressed.as_slice() {
            [] => return,
            [node] => node.clone(),
            _ => format!("{} nodes", pressed.len()),
        };
        let text = format!("pin {pin} wobbled: memory pressure on {what} (tainted; evictions until relieved)");
        self.emit(Output::Note { at: self.now, text });
    }

    fn knock(&mut self, node: &str) {
        self.fail_node(node, Failure::Crash);
    }

    /// The pins whose nodes are labelled with this zone, in rack order (none is an error).
    fn zone_nodes(&self, zone: &str) -> Result<Vec<String>, WorldError> {
        let store = &self.cluster.store;
        let nodes: Vec<String> = self
            .pins
            .iter()
            .filter(|name| {
                store
                    .get::<Node>(&ObjectKey::cluster(name.as_str()))
                    .is_some_and(|n| n.metadata.labels.get(ZONE_LABEL).is_some_and(|z| z == zone))
            })
            .cloned()
            .collect();
        if nodes.is_empty() { Err(WorldError::UnknownZone(zone.into())) } else { Ok(nodes) }
    }

    /// The node fails as `failure` says and its displaced pods are counted; returns whether
    /// anything changed (a failing kubelet takes no second failure, but for a crash).
    fn fail_node(&mut self, node: &str, failure: Failure) -> bool {
        let before = self.cluster.failure(node);
        if self.cluster.fail(node, failure, self.now).is_err() || self.cluster.failure(node) == before {
            return false;
        }
        self.metrics.by_failure.entry(failure).or_default().nodes += 1;
        if failure == Failure::Pressure {
            return true;
        }
        if before.is_some_and(Failure::fells_pin) {
            // A partition turning into a crash: its pods were counted when it was cut off.
            return true;
        }
        let now = self.now;
        let pods: Vec<(ObjectKey, String)> = self
            .cluster
            .store
            .pods_on_node(node)
            .filter(|p| p.is_active())
            .filter_map(|p| p.metadata.controller().map(|o| (ObjectKey::of(&p.metadata), o.uid.clone())))
            .collect();
        self.metrics.displaced += pods.len() as u64;
        self.metrics.by_failure.entry(failure).or_default().displaced += pods.len() as u64;
        self.frame_mut().displaced += pods.len() as u64;
        for (pod, owner) in pods {
            self.displaced.insert(pod, (owner, now, failure));
        }
        true
    }

    fn restore(&mut self, nodes: &[String]) {
        let relieved: Vec<String> =
            nodes.iter().filter(|n| self.cluster.failure(n) == Some(Failure::Pressure)).cloned().collect();
        for node in &relieved {
            if let Err(err) = self.cluster.restore(node, self.now) {
                self.record_fault(err.into());
            }
        }
        let back: Vec<String> = nodes.iter().filter(|n| self.cluster.is_knocked(n)).cloned().collect();
        // Duplicates killed on reconnecting, by node: one note each, or one for a whole rack.
        let mut killed_on: Vec<(&str, u64)> = Vec::new();
        for node in &back {
            let killed = self.cluster.duplicates_on(node) as u64;
            if let Err(err) = self.cluster.restore(node, self.now) {
                self.record_fault(err.into());
                continue;
            }
            if killed > 0 {
                self.metrics.by_failure.entry(Failure::Partition).or_default().duplicates_killed += killed;
                killed_on.push((node, killed));
            }
            // Pods not yet evicted simply come back with their node: nothing to recover.
            let on_node: Vec<ObjectKey> =
                self.cluster.store.pods_on_node(node).map(|p| ObjectKey::of(&p.metadata)).collect();
            for pod in on_node {
                self.displaced.remove(&pod);
            }
        }
        // A rack of hundreds reconnecting is one note, not hundreds.
        let notes: Vec<String> = match killed_on.as_slice() {
            [] => Vec::new(),
            many if many.len() > MAX_NAMED_NODES => {
                let killed: u64 = many.iter().map(|(_, k)| k).sum();
                vec![format!(
                    "pinsetter: {} nodes reconnect: their kubelets kill {killed} pods the API deleted while they were cut off (their replacements run elsewhere)",
                    many.len()
                )]
            }
            few => few
                .iter()
                .map(|(node, killed)| {
                    format!(
                        "pinsetter: {node} reconnects: its kubelet kills {killed} pod{} the API deleted while it was cut off (their replacements run elsewhere)",
                        if *killed == 1 { "" } else { "s" }
                    )
                })
                .collect(),
        };
        for text in notes {
            self.emit(Output::Note { at: self.now, text });
        }
        if !back.is_empty() {
            let who = if back.len() > MAX_NAMED_NODES { format!("{} nodes", back.len()) } else { back.join(", ") };
            let text = format!(
                "pinsetter: {who} stand{} again and rejoin Ready. Evicted pods stay where they were rescheduled: Kubernetes does not move pods back on its own.",
                if back.len() == 1 { "s" } else { "" }
            );
            self.emit(Output::Note { at: self.now, text });
        }
    }

    fn frame_mut(&mut self) -> &mut FrameReport {
        let frame = usize::from(self.alley.frame().clamp(1, 10)) - 1;
        while self.frames.len() <= frame {
            self.frames.push(FrameReport { availability: 1.0, ..Default::default() });
        }
        &mut self.frames[frame]
    }

    /// Runs the control plane for this instant and routes everything that came out.
    fn settle(&mut self) {
        self.settle_alley();
        self.settle_within(usize::MAX);
    }

    /// What the alley did this tick becomes cluster inputs: pins that fell, a rack lowered.
    fn settle_alley(&mut self) {
        while let Some(event) = self.alley.poll_event() {
            match event {
                // How the pin fell picks what its nodes suffer. A chaos key has already failed
                // them as it chose (whatever is still up crashes, as the ball's hit does).
                AlleyEvent::PinDown(pin) => match self.alley.fall_cause(pin) {
                    Some(FallCause::Pin(by)) => self.partition_pin(pin, by),
                    Some(FallCause::Ball | FallCause::Chaos) | None => {
                        let nodes: Vec<String> =
                            self.pin_nodes(pin).iter().filter(|n| !self.cluster.is_knocked(n)).cloned().collect();
                        for node in &nodes {
                            self.knock(node);
                        }
                    }
                },
                AlleyEvent::PinWobbled(pin) => self.wobble_pin(pin),
                AlleyEvent::RackReset => self.rack_lowered_at = Some(self.now + PINSETTER_CYCLE),
                _ => {}
            }
            self.emit(Output::Alley(event));
        }
        if self.rack_lowered_at.is_some_and(|t| t <= self.now) {
            self.rack_lowered_at = None;
            // Only pins standing on the lane come back (one bowled over since stays down).
            let standing: Vec<String> = self
                .alley
                .pins()
                .iter()
                .filter(|p| p.standing)
                .flat_map(|p| self.pin_nodes(p.number).iter().cloned())
                .collect();
            self.restore(&standing);
        }
    }

    /// The control plane's work at this instant, at most `rounds` of it now (see
    /// [`World::step_within`]); once it is quiet, chaos, the event log and the metrics follow.
    fn settle_within(&mut self, rounds: usize) -> bool {
        self.mid_tick = true;
        match self.cluster.step_within(self.now, rounds) {
            Ok(false) => return false,
            Ok(true) => {}
            Err(err) => self.cluster_fault(err),
        }
        self.mid_tick = false;
        // Chaos a controller asked for (a Roll's throw) falls as a player's knock does; the
        // control plane then sees it at this same instant. A bound, in case a controller keeps
        // asking: what is left waits for the next tick.
        for _ in 0..MAX_CHAOS_ROUNDS {
            let chaos = self.cluster.take_chaos();
            if chaos.is_empty() {
                break;
            }
            for request in chaos {
                self.apply_chaos(request);
            }
            self.step_cluster();
        }
        let records: Vec<EventRecord> = self.cluster.recorder.drain().collect();
        // Of a burst longer than the log, only the last LOG_CAPACITY would stay in it: the
        // others are not copied there only to be dropped again within this loop.
        let unlogged = records.len().saturating_sub(LOG_CAPACITY);
        for (i, record) in records.into_iter().enumerate() {
            self.event_count += 1;
            digest_event(&mut self.digest, &record);
            if record.reason == "TaintManagerEviction" {
                self.metrics.evicted += 1;
            }
            self.emit_logged(Output::Event(record), i >= unlogged);
        }
        self.follow_pods();
        if self.now >= self.next_sample {
            self.next_sample = self.now + SAMPLE_EVERY;
            let duplicates = self.cluster.duplicates() as u64;
            if duplicates > 0 {
                let effects = self.metrics.by_failure.entry(Failure::Partition).or_default();
                effects.duplicates_peak = effects.duplicates_peak.max(duplicates);
            }
            self.sample_availability();
        }
        true
    }

    fn step_cluster(&mut self) {
        if let Err(err) = self.cluster.step(self.now) {
            self.cluster_fault(err);
        }
    }

    fn cluster_fault(&mut self, err: ClusterError) {
        let text = format!("pinsetter: control plane fault: {err}");
        self.record_fault(err.into());
        self.emit(Output::Note { at: self.now, text });
    }

    /// Applies a controller's chaos exactly as `Input::Knock` / `Input::Restore` are applied
    /// (the pin falls or stands on the lane too), with a log line saying who did it.
    fn apply_chaos(&mut self, request: Chaos) {
        let (node, by, knock) = match request {
            Chaos::Knock { node, by } => (node, by, true),
            Chaos::Restore { node, by } => (node, by, false),
        };
        if self.check_node(&node).is_err() {
            return;
        }
        let verb = if knock {
            if self.cluster.is_knocked(&node) {
                return;
            }
            self.knock(&node);
            self.topple_if_all_down(&node);
            "knocked"
        } else {
            if !self.cluster.is_knocked(&node) {
                return;
            }
            if let Some(pin) = self.pin_number(&node) {
                self.alley.stand_pin(pin);
            }
            self.restore(std::slice::from_ref(&node));
            "stood"
        };
        let text = format!("{by} {verb} {node}{}", if knock { "" } else { " again" });
        self.emit(Output::Note { at: self.now, text });
    }

    fn emit(&mut self, output: Output) {
        self.emit_logged(output, true);
    }

    /// [`World::emit`], keeping a copy in the log only if `logged`.
    fn emit_logged(&mut self, output: Output, logged: bool) {
        if logged && !matches!(output, Output::Alley(_)) {
            if self.log.len() == LOG_CAPACITY {
                self.log.pop_front();
            }
            self.log.push_back(output.clone());
        }
        self.outputs.push_back(output);
        // Nobody draining (a headless run that only reads metrics) must not grow without bound,
        // but what is dropped is counted and reported, never lost silently.
        if self.outputs.len() > self.output_capacity() {
            self.outputs.pop_front();
            let at = self.now;
            match self.faults.iter_mut().rev().find_map(|f| match f {
                Fault::OutputsDropped { dropped, .. } => Some(dropped),
                Fault::Cluster(_) => None,
            }) {
                Some(dropped) => *dropped += 1,
                None => {
                    let cap = self.output_capacity();
                    self.record_fault(Fault::OutputsDropped { first_at: at, dropped: 1, cap })
                }
            }
        }
    }

    /// One instant may honestly report a few things per pod and node (a start-up burst binds
    /// every pod at once), so the bound on undrained outputs grows with the cluster.
    fn output_capacity(&self) -> usize {
        let store = &self.cluster.store;
        OUTPUT_CAPACITY + OUTPUTS_PER_OBJECT * (store.len::<Pod>() + store.len::<Node>())
    }

    /// Follows pod changes for the recovery metrics: evictions, replacements reaching Running,
    /// time spent unbound.
    fn follow_pods(&mut self) {
        let now = self.now;
        let changes: Option<Vec<(ChangeType, std::sync::Arc<Pod>)>> =
            self.cluster.store.changes_since(self.cursor).map(|changes| {
                changes
                    .filter_map(|c| match &c.object {
                        Object::Pod(p) => Some((c.type_, std::sync::Arc::clone(p))),
                        _ => None,
                    })
                    .collect()
            });
        self.cursor = self.cluster.store.resource_version();
        let Some(changes) = changes else {
            self.running = self
                .cluster
                .store
                .list::<Pod>()
                .filter(|p| p.state() == PodState::Running)
                .map(|p| ObjectKey::of(&p.metadata))
                .collect();
            // The log overflowed (a start-up burst): relist the pending pods too, or pods that
            // never change again would never count as pending. Known ones keep their start.
            let pending: BTreeSet<ObjectKey> = self
                .cluster
                .store
                .list::<Pod>()
                .filter(|p| p.state() == PodState::Pending && !p.metadata.is_terminating())
                .map(|p| ObjectKey::of(&p.metadata))
                .collect();
            self.pending_since.retain(|key| pending.contains(key));
            for key in pending {
                self.pending_since.insert(key, now);
            }
            self.note_longest_pending();
            return;
        };
        for (type_, pod) in changes {
            let key = ObjectKey::of(&pod.metadata);
            let gone = type_ == ChangeType::Deleted || pod.metadata.is_terminating();
            if gone {
                self.running.remove(&key);
                self.pending_since.remove(&key);
                if let Some((owner, knocked_at, failure)) = self.displaced.remove(&key) {
                    self.awaiting.entry(owner).or_default().push_back((knocked_at, failure));
                }
                continue;
            }
            match pod.state() {
                PodState::Pending => {
                    self.pending_since.insert(key, now);
                }
                PodState::Running => {
                    self.pending_since.remove(&key);
                    if self.running.insert(key) {
                        let owner = pod.metadata.controller().map(|o| o.uid.as_str());
                        if let Some(queue) = owner.and_then(|o| self.awaiting.get_mut(o))
                            && let Some((knocked_at, failure)) = queue.pop_front()
                        {
                            let took = now.saturating_sub(knocked_at).0;
                            self.metrics.recovery_ms.push(took);
                            self.metrics.rescheduled += 1;
                            let effects = self.metrics.by_failure.entry(failure).or_default();
                            effects.recovered += 1;
                            effects.recovery_max_ms = effects.recovery_max_ms.max(took);
                            effects.recovery_total_ms += took;
                            let frame = self.frame_mut();
                            frame.recovery_max_ms = Some(frame.recovery_max_ms.unwrap_or(0).max(took));
                        }
                    }
                }
                PodState::Failed => {
                    self.pending_since.remove(&key);
                    // Evicted by its kubelet under memory pressure: a replacement is coming.
                    if self.running.remove(&key)
                        && pod.status.reason == "Evicted"
                        && let Some(owner) = pod.metadata.controller().map(|o| o.uid.clone())
                    {
                        self.metrics.by_failure.entry(Failure::Pressure).or_default().displaced += 1;
                        self.frame_mut().displaced += 1;
                        self.awaiting.entry(owner).or_default().push_back((now, Failure::Pressure));
                    }
                }
                _ => {
                    self.pending_since.remove(&key);
                }
            }
        }
        self.note_longest_pending();
    }

    /// The longest wait of a pod still pending now, into the run's and the frame's figures.
    fn note_longest_pending(&mut self) {
        let now = self.now;
        let longest = self.pending_since.oldest().map_or(0, |since| now.saturating_sub(since).0);
        self.metrics.longest_pending_ms = self.metrics.longest_pending_ms.max(longest);
        let frame = self.frame_mut();
        frame.longest_pending_ms = frame.longest_pending_ms.max(longest);
    }

    fn sample_availability(&mut self) {
        if !self.lane_up {
            let counts = self.pod_counts();
            self.lane_up = counts.desired > 0 && counts.running >= counts.desired;
            if !self.lane_up {
                return;
            }
        }
        let mut lowest: f64 = 1.0;
        let samples: Vec<(String, f64)> = self
            .cluster
            .store
            .list::<Deployment>()
            .map(|d| {
                let desired = d.spec.replicas.unwrap_or(1).max(0);
                let share = if desired == 0 {
                    1.0
                } else {
                    f64::from(d.status.available_replicas.min(desired)) / f64::from(desired)
                };
                (d.metadata.name.clone(), share)
            })
            .collect();
        let mut total = 0.0;
        for (name, share) in &samples {
            let entry = self.metrics.availability.entry(name.clone()).or_insert((0.0, 0));
            entry.0 += share;
            entry.1 += 1;
            lowest = lowest.min(*share);
            total += share;
        }
        let mean = if samples.is_empty() { 1.0 } else { total / samples.len() as f64 };
        let frame = self.frame_mut();
        frame.availability = frame.availability.min(lowest);
        frame.availability_sum += mean;
        frame.availability_samples += 1;
    }

    /// Counts pods by what a player sees: (desired, running, pending, creating, terminating).
    pub fn pod_counts(&self) -> PodCounts {
        PodCounts::of(&self.cluster.store)
    }
}

impl PodCounts {
    /// The counts of any store: the World's, or a remote cluster's mirror (`play --kubeconfig`).
    pub fn of(store: &crate::cluster::store::Store) -> PodCounts {
        let replicas = |r: Option<i32>| i64::from(r.unwrap_or(1).max(0));
        let desired = store.list::<Deployment>().map(|d| replicas(d.spec.replicas)).sum::<i64>()
            + store.list::<StatefulSet>().map(|s| replicas(s.spec.replicas)).sum::<i64>();
        // Kept by the store on its write path: a frame reads four numbers, not every pod.
        let count = |state| i64::try_from(store.pods_in_state(state)).unwrap_or(i64::MAX);
        let mut counts = PodCounts {
            desired,
            pending: count(PodState::Pending),
            creating: count(PodState::ContainerCreating),
            running: count(PodState::Running),
            terminating: count(PodState::Terminating),
            ..PodCounts::default()
        };
        let active = counts.pending + counts.creating + counts.running;
        // A pod waiting for its pin still holds its replica (a StatefulSet never runs two of an
        // ordinal): not lost. Counted only when something is missing, so it costs nothing usually.
        if counts.desired > active {
            counts.waiting_for_their_pin = waiting_for_their_pin(store);
            counts.lost = (counts.desired - active - counts.waiting_for_their_pin).max(0);
        }
        counts
    }
}

impl World {
    /// Pods that wait for a pin to come back (see [`waiting_for_their_pin`]).
    pub fn waiting_for_their_pin(&self) -> i64 {
        waiting_for_their_pin(&self.cluster.store)
    }
}

/// Pods that wait for a pin to come back: not Running, and their data is on a local volume no
/// Ready node reaches (a StatefulSet's pod whose pin was knocked). Their controller can't replace
/// them elsewhere, as upstream: the volume's node affinity holds them.
fn waiting_for_their_pin(store: &crate::cluster::store::Store) -> i64 {
    use crate::cluster::controllers::persistent_volume::{local_volume_of, reachable_by_a_ready_node};
    // Only a local PersistentVolume holds a pod to its pin: without any (the stadium's 150,000
    // pods, every frame while a knocked zone's pods are replaced) there is nothing to scan.
    if store.is_empty::<crate::cluster::objects::PersistentVolume>() {
        return 0;
    }
    let waiting = store
        .list::<Pod>()
        .filter(|p| !p.spec.volumes.is_empty() && p.state() != PodState::Running)
        .filter_map(|p| local_volume_of(store, p))
        .filter(|(_, pv)| !reachable_by_a_ready_node(store, pv))
        .count();
    i64::try_from(waiting).unwrap_or(i64::MAX)
}

/// Feeds one event to the run's digest as the line `{at} {type} {reason} {object} {message}`,
/// piece by piece: a start-up reports 450,000 events, and formatting each into a fresh string
/// first cost more than hashing it.
fn digest_event(digest: &mut Sha256, record: &EventRecord) {
    digest.update(itoa::Buffer::new().format(record.at.0));
    for part in [" ", record.type_, " ", record.reason, " ", &record.object, " ", &record.message, "\n"] {
        digest.update(part);
    }
}

/// Pods pending now and since when, with the start times counted apart so the longest wait is
/// the first key, not a scan of every pending pod on every tick (26,000 on the over-capacity lane).
#[derive(Debug, Clone, Default)]
struct PendingSince {
    /// Found by hash, as `World::running`; `retain` visits it in no fixed order, but all it
    /// does there is count down `starts`, which comes out the same in any order.
    by_pod: LookupMap<ObjectKey, Millis>,
    starts: BTreeMap<Millis, usize>,
}

impl PendingSince {
    /// Notes a pod pending since `now`; one already pending keeps its start.
    fn insert(&mut self, pod: ObjectKey, now: Millis) {
        if let std::collections::hash_map::Entry::Vacant(entry) = self.by_pod.entry(pod) {
            entry.insert(now);
            *self.starts.entry(now).or_default() += 1;
        }
    }

    fn remove(&mut self, pod: &ObjectKey) {
        if let Some(since) = self.by_pod.remove(pod) {
            forget_start(&mut self.starts, since);
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(&ObjectKey) -> bool) {
        let starts = &mut self.starts;
        self.by_pod.retain(|pod, since| {
            let kept = keep(pod);
            if !kept {
                forget_start(starts, *since);
            }
            kept
        });
    }

    /// When the longest-waiting pod still pending started waiting.
    fn oldest(&self) -> Option<Millis> {
        self.starts.first_key_value().map(|(since, _)| *since)
    }
}

fn forget_start(starts: &mut BTreeMap<Millis, usize>, since: Millis) {
    if let Some(count) = starts.get_mut(&since) {
        *count -= 1;
        if *count == 0 {
            starts.remove(&since);
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PodCounts {
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub creating: i64,
    pub terminating: i64,
    /// Desired replicas with no active pod at all (neither running, starting, pending, nor
    /// waiting for its pin): must always be 0 once the controllers have run.
    pub lost: i64,
    /// Pods that wait for a down pin holding their data ([`World::waiting_for_their_pin`]);
    /// counted only while desired replicas are missing, which is when it matters.
    pub waiting_for_their_pin: i64,
}

/// Serde for the core types an [`Input`] carries that have no serde of their own (the store's
/// key, a kind, an object, the timing preset, the scheduling policy), as the log writes them.
mod serde_key {
    use crate::cluster::store::ObjectKey;
    use serde::{Deserialize, Deserializer, Serializer};

    /// `namespace/name`, or `name` for a cluster-scoped object (names never contain `/`).
    pub fn to_text(key: &ObjectKey) -> String {
        if key.namespace.is_empty() { key.name.to_string() } else { format!("{}/{}", key.namespace, key.name) }
    }

    pub fn from_text(text: &str) -> ObjectKey {
        // The last '/' ends the namespace: a custom object's starts with its resource.
        match text.rsplit_once('/') {
            Some((namespace, name)) => ObjectKey::new(namespace, name),
            None => ObjectKey::cluster(text),
        }
    }

    pub fn serialize<S: Serializer>(key: &ObjectKey, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_text(key))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectKey, D::Error> {
        Ok(from_text(&String::deserialize(d)?))
    }
}

mod serde_keys {
    use crate::cluster::store::ObjectKey;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(keys: &[ObjectKey], s: S) -> Result<S::Ok, S::Error> {
        keys.iter().map(super::serde_key::to_text).collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ObjectKey>, D::Error> {
        Ok(Vec::<String>::deserialize(d)?.iter().map(|t| super::serde_key::from_text(t)).collect())
    }
}

mod serde_kind {
    use crate::cluster::objects::Kind;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let name = String::deserialize(d)?;
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| D::Error::custom(format!("unknown kind {name:?}")))
    }
}

mod serde_object {
    use crate::cluster::objects::Object;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<S: Serializer>(object: &Object, s: S) -> Result<S::Ok, S::Error> {
        object.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Box<Object>, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Object::from_value(value).map(Box::new).map_err(D::Error::custom)
    }
}

mod serde_preset {
    use crate::cluster::timing::Preset;
    use clap::ValueEnum;
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error};

    pub fn serialize<S: Serializer>(preset: &Preset, s: S) -> Result<S::Ok, S::Error> {
        preset.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Preset, D::Error> {
        let name = String::deserialize(d)?;
        Preset::from_str(&name, true).map_err(D::Error::custom)
    }
}

mod serde_policy {
    use crate::cluster::scheduler::Policy;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(policy: &Policy, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(policy.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Policy, D::Error> {
        let name = String::deserialize(d)?;
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| D::Error::custom(format!("unknown policy {name:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_pending_start_follows_pods_leaving_in_any_order() {
        let pod = |name: &str| ObjectKey::new("default", name);
        let mut pending = PendingSince::default();
        assert_eq!(pending.oldest(), None);
        pending.insert(pod("a"), Millis(10));
        pending.insert(pod("b"), Millis(10));
        pending.insert(pod("c"), Millis(30));
        // Pending again: keeps its first start.
        pending.insert(pod("a"), Millis(50));
        assert_eq!(pending.oldest(), Some(Millis(10)));
        pending.remove(&pod("a"));
        assert_eq!(pending.oldest(), Some(Millis(10)), "b still waits since 10");
        pending.retain(|key| *key != pod("b"));
        assert_eq!(pending.oldest(), Some(Millis(30)));
        pending.remove(&pod("c"));
        pending.remove(&pod("c"));
        assert_eq!(pending.oldest(), None);
    }

    #[test]
    fn undrained_outputs_past_the_bound_are_a_recorded_fault() {
        let scenario = Scenario::generated(2, 2);
        let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
        while world.poll_output().is_some() {}
        assert!(world.faults().is_empty());
        let cap = world.output_capacity();
        for _ in 0..cap + 5 {
            world.emit(Output::Note { at: world.now, text: String::new() });
        }
        assert_eq!(world.faults(), [Fault::OutputsDropped { first_at: Millis::ZERO, dropped: 5, cap }]);
        assert!(world.faults()[0].to_string().starts_with("5 outputs dropped"));
    }

    #[test]
    fn two_worlds_in_one_process_stamp_from_their_own_epochs() {
        let scenario = Scenario::resolve("tiny").unwrap();
        let hour_later = Epoch::at_unix_seconds(crate::clock::EPOCH_UNIX_SECONDS + 3_600);
        let mut first = World::new(1, Preset::Arcade, &scenario).unwrap();
        let mut second = World::with_epoch(1, Preset::Arcade, &scenario, hour_later).unwrap();
        // Both run after both exist: pods the first creates now still count from its epoch.
        for _ in 0..100 {
            first.step();
            second.step();
        }
        let created = |w: &World| {
            let pod = w.cluster.store.list::<Pod>().next().expect("pods were created");
            pod.metadata.creation_timestamp.clone().unwrap_or_default()
        };
        assert!(created(&first).starts_with("2026-01-01T00:00:"), "{}", created(&first));
        assert!(created(&second).starts_with("2026-01-01T01:00:"), "{}", created(&second));
        assert_eq!(first.digest(), second.digest(), "digests hash game time, not stamps");
    }

    /// Issue 12: a tick run in slices (so the stadium can draw frames while it fills) ends as
    /// one `step` does, and an input that arrives mid-tick lands after the tick, as a replay
    /// applies it.
    #[test]
    fn a_tick_run_in_slices_ends_as_one_step_does() {
        let scenario = Scenario::generated(30, 600);
        let mut whole = World::new(1, Preset::Arcade, &scenario).unwrap();
        let mut sliced = World::new(1, Preset::Arcade, &scenario).unwrap();
        // The knock comes in the first tick past 200 ms that a slice leaves unfinished.
        let mut knock_at = None;
        let (mut slices, mut unfinished) = (0, 0);
        for _ in 0..400 {
            loop {
                slices += 1;
                if knock_at.is_none() && sliced.now() >= Millis(200) && sliced.is_mid_tick() {
                    sliced.handle_input(Input::Knock("pin-3".into())).unwrap();
                    assert!(!sliced.is_mid_tick(), "an input finishes the tick first");
                    knock_at = Some(sliced.now());
                    break;
                }
                if sliced.step_within(3) {
                    break;
                }
                unfinished += 1;
            }
            whole.step();
            if Some(whole.now()) == knock_at {
                whole.handle_input(Input::Knock("pin-3".into())).unwrap();
            }
            assert_eq!(sliced.now(), whole.now());
        }
        assert!(knock_at.is_some(), "a tick past 200 ms was cut, so the knock came mid-tick");
        assert!(unfinished > 100, "ticks were cut: {unfinished} slices of {slices} left work");
        assert!(whole.cluster.is_knocked("pin-3") && sliced.cluster.is_knocked("pin-3"));
        assert_eq!(sliced.digest(), whole.digest());
        assert_eq!(sliced.event_count, whole.event_count);
        assert_eq!(sliced.cluster.store.resource_version(), whole.cluster.store.resource_version());
    }

    /// Issue 10: a start-up burst overflowed the change log, the relist forgot pending pods,
    /// and 26,004 pods that never left Pending reported `longest_pending_ms: 0`.
    #[test]
    fn pods_pending_through_a_change_log_overflow_count_as_pending() {
        let scenario = Scenario::resolve("tiny").unwrap();
        let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
        world.set_change_log_capacity(4);
        // Far more web pods than three 2-cpu pins hold, all created in one burst.
        world.handle_input(Input::Scale { deployment: ObjectKey::new("default", "web"), replicas: 100 }).unwrap();
        for _ in 0..500 {
            world.step();
        }
        assert!(world.pod_counts().pending > 50, "{:?}", world.pod_counts());
        assert!(world.metrics().longest_pending_ms >= 4_000, "{}", world.metrics().longest_pending_ms);
    }

    /// Custom objects' writes go through the input log like any other: their JSON finds its
    /// CRD again, and their keys (resource first, empty namespace for a cluster-scoped one)
    /// come back whole.
    #[test]
    fn custom_object_requests_survive_the_input_log() {
        use crate::cluster::objects::CustomObject;
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("tiny").unwrap()).unwrap();
        let crd = Object::from_value(serde_json::json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "lanes.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"plural": "lanes", "kind": "Lane"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object"}}}]}
        }))
        .unwrap();
        world.handle_input(Input::Apply(Box::new(crd))).unwrap();
        for _ in 0..5 {
            world.step();
        }
        let lane = Object::from_value(serde_json::json!({"apiVersion": "example.com/v1", "kind": "Lane",
            "metadata": {"name": "one"}}))
        .unwrap();
        let key = CustomObject::key_in("lanes.example.com", "", "one");
        let inputs = [
            Input::Request { id: 1, request: Request::Create(Box::new(lane)) },
            Input::Request { id: 2, request: Request::Delete { kind: Kind::CustomObject, key, force: false } },
        ];
        for input in inputs {
            let line = serde_json::to_string(&input).unwrap();
            let back: Input = serde_json::from_str(&line).unwrap();
            assert_eq!(back, input, "{line}");
            world.handle_input(back).unwrap();
        }
        let replies: Vec<Reply> = std::iter::from_fn(|| world.poll_reply()).collect();
        assert!(replies.iter().all(|r| r.result.is_ok()), "{replies:?}");
        assert_eq!(world.cluster().store.len::<CustomObject>(), 0);
    }

    /// Two bowlers through the World: a join and controls are logged inputs (they survive the
    /// log's JSON), a control out of turn is refused and changes nothing, and the same inputs
    /// give the same digest and the same two cards.
    #[test]
    fn two_bowlers_take_turns_through_logged_inputs() {
        let run = || {
            let mut world = World::new(3, Preset::Arcade, &Scenario::resolve("tiny").unwrap()).unwrap();
            let apply = |world: &mut World, input: Input| {
                let line = serde_json::to_string(&input).unwrap();
                let back: Input = serde_json::from_str(&line).unwrap();
                assert_eq!(back, input, "{line}");
                world.handle_input(back)
            };
            apply(&mut world, Input::JoinBowler { name: "bob".into() }).unwrap();
            let out_of_turn = apply(&mut world, Input::Bowl { bowler: 1, control: AlleyInput::Power });
            assert!(
                matches!(&out_of_turn, Err(WorldError::Bowling(crate::alley::TurnError::NotYourTurn { .. }))),
                "{out_of_turn:?}"
            );
            assert_eq!(world.alley().phase(), crate::alley::Phase::Aiming, "the refusal changed nothing");
            let mut turns = Vec::new();
            while world.alley().phase() != crate::alley::Phase::GameOver && world.now() < Millis(3_000_000) {
                let up = world.alley().bowler_up();
                let (bowler, frame) = (up, world.alley().frame());
                if turns.last() != Some(&(bowler, frame)) {
                    turns.push((bowler, frame));
                }
                let power = Input::Bowl { bowler: up, control: AlleyInput::Power };
                apply(&mut world, power.clone()).unwrap();
                for _ in 0..4 + u32::from(up) {
                    world.step();
                }
                apply(&mut world, power).unwrap();
                while world.alley().phase() != crate::alley::Phase::Aiming
                    && world.alley().phase() != crate::alley::Phase::GameOver
                {
                    world.step();
                }
                while world.poll_output().is_some() {}
            }
            let cards: Vec<_> = world.alley().bowlers().iter().map(|b| b.scorecard().clone()).collect();
            (turns, cards, world.digest())
        };
        let (turns, cards, digest) = run();
        let expected: Vec<(u8, u8)> = (1..=10).flat_map(|f| [(0, f), (1, f)]).collect();
        assert_eq!(turns, expected);
        assert!(cards.iter().all(crate::alley::ScoreCard::is_complete));
        assert_eq!(run(), (turns, cards, digest), "same inputs, same game, same digest");
    }

    /// A partition: the cut-off node's pods are replaced elsewhere while they still run there
    /// (duplicates), and when it heals its kubelet kills them; every Deployment ends with its
    /// replicas, nothing lost. A crash, by contrast, leaves no duplicates.
    #[test]
    fn a_partition_shows_duplicates_and_kills_them_on_reconnect() {
        let run = |failure: Failure| {
            let scenario = Scenario::resolve("tiny").unwrap();
            let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
            for _ in 0..100 {
                world.step();
            }
            let on_pin = world.cluster().store.pods_on_node("pin-1").filter(|p| p.is_active()).count();
            assert!(on_pin > 0, "pin-1 runs pods before the failure");
            let input = Input::Fail { node: "pin-1".into(), failure };
            let line = serde_json::to_string(&input).unwrap();
            world.handle_input(serde_json::from_str(&line).unwrap()).unwrap();
            assert!(world.cluster().is_knocked("pin-1"), "the pin lies down");
            let mut duplicates_seen = 0;
            for _ in 0..300 {
                world.step();
                duplicates_seen = duplicates_seen.max(world.cluster().duplicates());
            }
            world.handle_input(Input::Restore("pin-1".into())).unwrap();
            for _ in 0..200 {
                world.step();
            }
            let counts = world.pod_counts();
            (on_pin, duplicates_seen, world.cluster().duplicates(), counts, world.metrics().by_failure.clone())
        };
        let (on_pin, seen, after, counts, effects) = run(Failure::Partition);
        assert_eq!(seen, on_pin, "every pod of the cut-off node ran twice for a while");
        assert_eq!(after, 0, "the duplicate window closed on reconnect");
        assert_eq!((counts.running, counts.pending, counts.lost), (counts.desired, 0, 0), "{counts:?}");
        let partition = &effects[&Failure::Partition];
        assert_eq!(partition.duplicates_peak, on_pin as u64);
        assert_eq!(partition.duplicates_killed, on_pin as u64);
        assert_eq!(partition.recovered, on_pin as u64);
        let (_, seen, _, counts, effects) = run(Failure::Crash);
        assert_eq!(seen, 0, "a crashed node runs nothing");
        assert_eq!(counts.running, counts.desired);
        assert!(!effects.contains_key(&Failure::Partition));
    }

    /// A pin wobbled into memory pressure and then knocked over by another pin lies on the deck
    /// cut off: the partition takes the pressure's place rather than being refused, so a pin
    /// down never leaves its node Ready.
    #[test]
    fn a_pin_under_pressure_knocked_by_a_pin_is_partitioned() {
        let scenario = Scenario::resolve("default").unwrap();
        let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
        for _ in 0..300 {
            world.step();
        }
        world.wobble_pin(4);
        assert_eq!(world.cluster().failure("pin-4"), Some(Failure::Pressure));
        world.partition_pin(4, 2);
        assert_eq!(world.cluster().failure("pin-4"), Some(Failure::Partition));
        assert_eq!(world.metrics().by_failure[&Failure::Partition].nodes, 1);
        assert!(world.faults().is_empty(), "{:?}", world.faults());
    }

    /// Memory pressure: the node stays Ready, posts MemoryPressure and is tainted; its kubelet
    /// evicts BestEffort pods before Burstable ones, by priority, never a Guaranteed one while
    /// others remain; restore clears the condition and the taint.
    #[test]
    fn memory_pressure_evicts_best_effort_then_burstable_by_priority() {
        let scenario = Scenario::resolve("tiny").unwrap();
        let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
        // Only pin-1 takes new pods, so every pod below lands there.
        for pin in ["pin-2", "pin-3"] {
            world.handle_input(Input::Cordon { node: pin.into(), unschedulable: true }).unwrap();
        }
        let deployment = |name: &str, priority: i32, resources: serde_json::Value| {
            Object::from_value(serde_json::json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                        "spec": {"priority": priority, "containers": [{"name": "app", "image": "x", "resources": resources}]}}}
            }))
            .unwrap()
        };
        let guaranteed = serde_json::json!({"limits": {"cpu": "10m", "memory": "64Mi"}});
        let burstable = serde_json::json!({"requests": {"memory": "64Mi"}, "limits": {"memory": "512Mi"}});
        for object in [
            deployment("guaranteed", -100, guaranteed),
            deployment("burstable-high", 100, burstable.clone()),
            deployment("burstable-low", 0, burstable),
            deployment("besteffort-high", 1000, serde_json::json!({})),
            deployment("besteffort-low", 0, serde_json::json!({})),
        ] {
            world.handle_input(Input::Apply(Box::new(object))).unwrap();
        }
        for _ in 0..100 {
            world.step();
        }
        for pin in ["pin-2", "pin-3"] {
            world.handle_input(Input::Cordon { node: pin.into(), unschedulable: false }).unwrap();
        }
        world.handle_input(Input::Fail { node: "pin-1".into(), failure: Failure::Pressure }).unwrap();
        assert!(!world.cluster().is_knocked("pin-1"), "a node under pressure stands");
        let mut evicted: Vec<String> = Vec::new();
        let mut tainted = false;
        for _ in 0..400 {
            world.step();
            let store = &world.cluster().store;
            let node = store.get::<Node>(&ObjectKey::cluster("pin-1")).unwrap();
            assert_eq!(node.readiness(), crate::cluster::objects::Readiness::Ready);
            tainted |= node.has_taint("node.kubernetes.io/memory-pressure", "NoSchedule");
            while let Some(output) = world.poll_output() {
                if let Output::Event(e) = output
                    && e.reason == "Evicted"
                {
                    assert!(e.message.starts_with("The node was low on resource: memory."), "{}", e.message);
                    evicted.push(e.object.rsplit_once('-').map_or(e.object.clone(), |(d, _)| d.to_string()));
                }
            }
        }
        assert!(tainted, "the node lifecycle controller tainted the pressured node");
        let owners: Vec<&str> = evicted.iter().map(|o| o.rsplit_once('-').map_or(o.as_str(), |(d, _)| d)).collect();
        let order = ["besteffort-low", "besteffort-high", "burstable-low", "burstable-high"];
        assert!(owners.len() >= 2, "{evicted:?}");
        assert!(owners.iter().zip(order).all(|(o, want)| o.ends_with(want)), "{evicted:?}");
        assert!(!owners.iter().any(|o| o.ends_with("guaranteed")), "{evicted:?}");
        world.handle_input(Input::Restore("pin-1".into())).unwrap();
        for _ in 0..50 {
            world.step();
        }
        let node = world.cluster().store.get::<Node>(&ObjectKey::cluster("pin-1")).unwrap();
        assert!(!node.has_taint("node.kubernetes.io/memory-pressure", "NoSchedule"));
        assert!(node.status.conditions.iter().any(|c| c.type_ == "MemoryPressure" && c.status == "False"));
        assert!(world.metrics().by_failure[&Failure::Pressure].displaced >= 2);
    }

    /// Issue 10: API writes and agent messages are inputs (serializable, so they can be logged)
    /// answered by id; a refusal is an answer too, and changes nothing.
    #[test]
    fn requests_are_serializable_inputs_answered_by_id() {
        let scenario = Scenario::resolve("tiny").unwrap();
        let mut world = World::new(1, Preset::Arcade, &scenario).unwrap();
        let deployment = scenario.objects.iter().find(|(_, o)| o.kind() == Kind::Deployment).unwrap().1.clone();
        let inputs = [
            Input::Request {
                id: 7,
                request: Request::Scale { deployment: ObjectKey::new("default", "web"), replicas: 4 },
            },
            Input::Request { id: 8, request: Request::Knock("no-such-pin".into()) },
            Input::Request { id: 9, request: Request::Create(Box::new(deployment)) },
            Input::Request {
                id: 10,
                request: Request::Delete { kind: Kind::Node, key: ObjectKey::cluster("pin-1"), force: false },
            },
            Input::SetPolicy(Policy::ALL[1]),
            Input::SetTiming(Preset::Kubernetes),
        ];
        for input in inputs {
            let line = serde_json::to_string(&input).unwrap();
            let back: Input = serde_json::from_str(&line).unwrap();
            assert_eq!(back, input, "{line}");
            world.handle_input(back).unwrap();
        }
        let replies: Vec<Reply> = std::iter::from_fn(|| world.poll_reply()).collect();
        assert_eq!(replies.iter().map(|r| r.id).collect::<Vec<_>>(), [7, 8, 9, 10]);
        match &replies[0].result {
            Ok(Answer::Object(o)) => match o.as_ref() {
                Object::Deployment(d) => assert_eq!(d.spec.replicas, Some(4)),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(matches!(&replies[1].result, Err(WorldError::UnknownNode(n)) if n == "no-such-pin"));
        assert!(matches!(&replies[2].result, Err(WorldError::Cluster(_))), "web exists: {:?}", replies[2].result);
        assert!(matches!(&replies[3].result, Ok(Answer::Object(_))));
        assert!(
            world.cluster().store.get::<Node>(&ObjectKey::cluster("pin-1")).is_none_or(|n| n.metadata.is_terminating())
        );
    }
}
