//! The node lifecycle controller (upstream `pkg/controller/nodelifecycle`).
//!
//! Every monitor period it checks each node's Lease (upstream reads every node each pass; here a
//! pass reads only the nodes that changed since their last check, left work undone, or fell
//! silent, and counts the rest from what it last saw, so a quiet 5,000-node lane costs a walk
//! over a map, not 5,000 store reads). Silence longer than the grace period makes
//! the node's Ready condition `Unknown` ("Kubelet stopped posting node status."), records
//! `NodeNotReady`, marks its pods not ready, and taints it `node.kubernetes.io/unreachable`:
//! NoSchedule at once (so the scheduler stops placing pods there) and NoExecute through its
//! zone's eviction rate limiter (so the taint-eviction controller starts evicting). When the
//! kubelet reports Ready again, the taints go.
//!
//! Zones are upstream's (`handleDisruption`): nodes labelled with a zone are grouped by region
//! and zone, each zone is `Normal`, `PartialDisruption` (at least 3 and
//! `unhealthy_zone_threshold` of its nodes NotReady) or `FullDisruption` (all NotReady), and
//! each has its own limiter: the primary rate when Normal or FullDisruption, the secondary rate
//! in a partially disrupted zone of a large cluster and none in a small one. When every zone is
//! fully disrupted the controller assumes it is the one cut off ("master disruption mode"): it
//! removes every zoned node's NoExecute condition taint and stops all evictions until some node
//! is Ready again, then gives every zoned node a fresh grace period.
//!
//! Nodes without a zone label (the ten-pin lanes) are a product decision away from upstream,
//! which would put them all in one "" zone: they keep the game's one shared limiter at the
//! primary rate and no disruption states, so knocking six of ten pins still evicts as before.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, default_error_policy, earliest, settle};
use crate::cluster::leader_election::Component;
use crate::cluster::objects::pod::PodCondition;
use crate::cluster::objects::{Kind, Lease, Node, Object, ObjectMeta, Pod, Readiness, Taint};
use crate::cluster::scheduler::rack_order_key;
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};
use crate::cluster::timing::Timing;
use serde::Serialize;
use std::collections::BTreeMap;

pub const LEASE_NAMESPACE: &str = "kube-node-lease";
const COMPONENT: &str = "node-controller";

/// The labels a node's zone is read from, newest first (upstream's `GetZoneKey` prefers the
/// deprecated beta labels when both are set, as old nodes carry them).
const ZONE_LABELS: [&str; 2] = ["failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone"];
const REGION_LABELS: [&str; 2] = ["failure-domain.beta.kubernetes.io/region", "topology.kubernetes.io/region"];
/// A node with this label is left out of the zone's disruption count (upstream's
/// `isNodeExcludedFromDisruptionChecks`).
const EXCLUDE_DISRUPTION_LABEL: &str = "node.kubernetes.io/exclude-disruption";
/// Fewer NotReady nodes than this never make a zone PartialDisruption (upstream's `> 2`).
const PARTIAL_DISRUPTION_MIN_NOT_READY: usize = 3;

/// A node's place in the monitor's pass: rack order (`pin-2` before `pin-10`), then the name.
type RackKey = (String, u64, String);

fn rack_key(name: &str) -> RackKey {
    let (prefix, number) = rack_order_key(name);
    (prefix.to_string(), number, name.to_string())
}

/// Index of a zone in [`NodeLifecycle::zones`]; stable for the controller's life.
type ZoneId = usize;

/// Upstream's `ZoneState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ZoneState {
    /// A zone seen for the first time; it takes its real state at the end of the pass.
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

impl ZoneState {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneState::Initial => "Initial",
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        }
    }

    /// Upstream's `ComputeZoneState` on the counts of one zone.
    pub fn compute(ready: usize, not_ready: usize, unhealthy_zone_threshold: f64) -> ZoneState {
        let total = ready + not_ready;
        if ready == 0 && not_ready > 0 {
            ZoneState::FullDisruption
        } else if not_ready >= PARTIAL_DISRUPTION_MIN_NOT_READY
            && not_ready as f64 / total as f64 >= unhealthy_zone_threshold
        {
            ZoneState::PartialDisruption
        } else {
            ZoneState::Normal
        }
    }
}

impl std::fmt::Display for ZoneState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which rate a zone's limiter runs at. Kept as a choice rather than a number so a change of
/// timing preset applies at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvictionRate {
    /// `node-eviction-rate` (`HealthyQPSFunc`).
    Primary,
    /// `secondary-node-eviction-rate` (`ReducedQPSFunc` in a large cluster).
    Secondary,
    /// No evictions (`ReducedQPSFunc` in a small cluster; master disruption mode).
    Stopped,
}

impl EvictionRate {
    /// Upstream's `setLimiterInZone`: the rate for a zone of `size` nodes in `state`.
    pub fn for_zone(state: ZoneState, size: usize, timing: &Timing) -> EvictionRate {
        match state {
            ZoneState::PartialDisruption if size > timing.large_cluster_size_threshold => EvictionRate::Secondary,
            ZoneState::PartialDisruption => EvictionRate::Stopped,
            ZoneState::Initial | ZoneState::Normal | ZoneState::FullDisruption => EvictionRate::Primary,
        }
    }

    fn interval(self, timing: &Timing) -> Option<Millis> {
        match self {
            EvictionRate::Primary => Some(timing.eviction_interval()),
            EvictionRate::Secondary => Some(timing.secondary_eviction_interval()),
            EvictionRate::Stopped => None,
        }
    }

    /// Nodes per second under `timing`.
    pub fn per_sec(self, timing: &Timing) -> f64 {
        match self {
            EvictionRate::Primary => timing.eviction_rate_per_sec,
            EvictionRate::Secondary => timing.secondary_eviction_rate_per_sec,
            EvictionRate::Stopped => 0.0,
        }
    }
}

/// A zone's NoExecute tainting limiter: client-go's token bucket of burst 1, as upstream's
/// `RateLimitedTimedQueue` uses it.
#[derive(Debug, Clone)]
struct ZoneLimiter {
    rate: EvictionRate,
    /// When it last let a node be tainted (`None`: its one token is there).
    last_accept: Option<Millis>,
}

impl Default for ZoneLimiter {
    fn default() -> ZoneLimiter {
        ZoneLimiter { rate: EvictionRate::Primary, last_accept: None }
    }
}

impl ZoneLimiter {
    fn has_token(&self, now: Millis, timing: &Timing) -> bool {
        self.rate.interval(timing).is_some_and(|gap| self.last_accept.is_none_or(|t| now.saturating_sub(t) >= gap))
    }

    fn try_accept(&mut self, now: Millis, timing: &Timing) -> bool {
        let accepted = self.has_token(now, timing);
        if accepted {
            self.last_accept = Some(now);
        }
        accepted
    }

    /// Upstream's `SwapLimiter`: a new bucket, full unless the old one was empty (then drained,
    /// so a change of rate never lets an extra node through).
    fn swap(&mut self, rate: EvictionRate, now: Millis, timing: &Timing) {
        if rate == self.rate {
            return;
        }
        let drained = !self.has_token(now, timing);
        *self = ZoneLimiter { rate, last_accept: drained.then_some(now) };
    }
}

/// One zone: its name, its state as of the last pass and its limiter.
#[derive(Debug, Clone)]
struct Zone {
    /// `region:zone` as the labels spell it, or "" for nodes without either.
    name: String,
    state: ZoneState,
    limiter: ZoneLimiter,
    /// Nodes counted in the last pass, and how many of them were not Ready.
    nodes: usize,
    not_ready: usize,
}

/// A zone as the panel and `sim --json` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZoneStatus {
    pub zone: String,
    pub state: ZoneState,
    pub nodes: usize,
    pub not_ready: usize,
    /// The rate its NoExecute taints are let through at.
    pub eviction_rate: EvictionRate,
    pub eviction_rate_per_sec: f64,
}

/// What the monitor knows of a node between passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Probe {
    /// Upstream's `probeTimestamp`: when its Lease was last seen renewed (or the node first seen).
    at: Millis,
    /// Its zone; `None` without a zone label (the shared limiter, no disruption states).
    zone: Option<ZoneId>,
    /// Counted in its zone's state (not excluded from disruption checks).
    counted: bool,
    /// The node changed since its last check, or that check has a write to retry: the next
    /// pass must read it. A clean node is read again only when it falls silent (or, in no zone,
    /// when the shared limiter could let its NoExecute taint through), so a pass over 5,000
    /// quiet nodes reads none, and one over a knocked rack of 500 reads none either while they
    /// wait their turn for a NoExecute taint.
    dirty: bool,
    /// What its last check found, which stands until it changes.
    last: Findings,
}

impl Probe {
    fn new(at: Millis, zone: Option<ZoneId>, counted: bool) -> Probe {
        Probe { at, zone, counted, dirty: true, last: Findings::default() }
    }

    /// Whether a pass must read the node: it changed, or it has been silent past the grace
    /// period and is not Unknown yet, or it is in no zone, lacks its NoExecute taint and the
    /// shared limiter has a token for it (a check is what takes the token).
    fn needs_check(&self, now: Millis, timing: &Timing, unzoned: &ZoneLimiter) -> bool {
        self.dirty
            || (!self.last.unknown && now.saturating_sub(self.at) > timing.grace)
            || (self.zone.is_none() && self.last.lacks_no_execute && unzoned.has_token(now, timing))
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodeLifecycle {
    /// Every node, with its probe time and zone. Kept from the change stream, so a monitor pass
    /// neither sorts names, parses timestamps nor reads labels.
    probes: BTreeMap<RackKey, Probe>,
    /// Every zone ever seen; a zone id indexes this.
    zones: Vec<Zone>,
    zone_ids: BTreeMap<String, ZoneId>,
    /// The NoExecute limiter of the nodes in no zone, at the primary rate.
    unzoned: ZoneLimiter,
}

/// Upstream's `GetZoneKey`, readable: `region:zone`, or the zone alone without a region; `None`
/// for a node without a zone label, which stays out of the zones (see the module doc).
fn zone_name(node: &Node) -> Option<String> {
    let first =
        |keys: &[&str]| keys.iter().find_map(|k| node.metadata.labels.get(*k)).map_or("", String::as_str).to_string();
    match (first(&REGION_LABELS), first(&ZONE_LABELS)) {
        (_, zone) if zone.is_empty() => None,
        (region, zone) if region.is_empty() => Some(zone),
        (region, zone) => Some(format!("{region}:{zone}")),
    }
}

impl NodeLifecycle {
    /// A node was added, changed or deleted (the informer's view): its zone may have changed.
    pub fn observe_node(&mut self, node: &Node, deleted: bool, now: Millis) {
        let key = rack_key(&node.metadata.name);
        if deleted {
            self.probes.remove(&key);
            return;
        }
        let zone = zone_name(node).map(|name| self.zone_id(name));
        let counted = !node.metadata.labels.contains_key(EXCLUDE_DISRUPTION_LABEL);
        let probe = self.probes.entry(key).or_insert_with(|| Probe::new(now, zone, counted));
        probe.zone = zone;
        probe.counted = counted;
        probe.dirty = true;
    }

    fn zone_id(&mut self, name: String) -> ZoneId {
        if let Some(&id) = self.zone_ids.get(&name) {
            return id;
        }
        let id = self.zones.len();
        let zone = Zone {
            name: name.clone(),
            state: ZoneState::Initial,
            limiter: ZoneLimiter::default(),
            nodes: 0,
            not_ready: 0,
        };
        self.zones.push(zone);
        self.zone_ids.insert(name, id);
        id
    }

    /// A Lease in `kube-node-lease` was written: its node has been heard from now, as upstream
    /// sets `probeTimestamp` when it observes a renewal.
    pub fn observe_lease(&mut self, node: &str, now: Millis) {
        if let Some(probe) = self.probes.get_mut(&rack_key(node)) {
            probe.at = now;
        }
    }

    /// After a relist: nodes deleted while the change log was out of reach are dropped.
    /// The survivors are checked afresh: their changes in that gap were not seen either.
    pub fn forget_missing(&mut self, exists: impl Fn(&str) -> bool) {
        self.probes.retain(|(_, _, name), _| exists(name));
        for probe in self.probes.values_mut() {
            probe.dirty = true;
        }
    }

    /// Every zone with nodes, in name order, as the last pass left it.
    pub fn zones(&self, timing: &Timing) -> Vec<ZoneStatus> {
        self.zone_ids
            .values()
            .map(|&id| &self.zones[id])
            .filter(|zone| zone.nodes > 0)
            .map(|zone| ZoneStatus {
                zone: zone.name.clone(),
                state: zone.state,
                nodes: zone.nodes,
                not_ready: zone.not_ready,
                eviction_rate: zone.limiter.rate,
                eviction_rate_per_sec: zone.limiter.rate.per_sec(timing),
            })
            .collect()
    }

    /// Master disruption mode: every zone with nodes is fully disrupted, so evictions are off.
    pub fn master_disruption(&self) -> bool {
        let mut zones = self.zones.iter().filter(|z| z.nodes > 0).peekable();
        zones.peek().is_some() && zones.all(|z| z.state == ZoneState::FullDisruption)
    }

    /// The eviction regime in a few words for the pinsetter panel; `None` while every zone is
    /// Normal (the usual case says nothing).
    pub fn regime(&self, timing: &Timing) -> Option<String> {
        if self.master_disruption() {
            return Some("master disruption: every zone down, evictions stopped".into());
        }
        let disrupted: Vec<String> = self
            .zones(timing)
            .into_iter()
            .filter(|z| z.state != ZoneState::Normal && z.state != ZoneState::Initial)
            .map(|z| format!("zone {} {}, {}", z.zone, z.state, rate_words(z.eviction_rate_per_sec)))
            .collect();
        match disrupted.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            // Many zones (a stadium strike of six racks) would not fit by name: count them.
            _ => {
                let mut by_regime: BTreeMap<(ZoneState, String), usize> = BTreeMap::new();
                for z in self.zones(timing).into_iter().filter(|z| z.state != ZoneState::Initial) {
                    *by_regime.entry((z.state, rate_words(z.eviction_rate_per_sec))).or_default() += 1;
                }
                let parts: Vec<String> = by_regime
                    .into_iter()
                    .rev()
                    .map(|((state, rate), n)| match state {
                        ZoneState::Normal => format!("{n} Normal"),
                        _ => format!("{n} {state}, {rate} each"),
                    })
                    .collect();
                Some(format!("zones: {}", parts.join(" · ")))
            }
        }
    }

    /// One pass over every node, then the zones' states, then the NoExecute taints the zones'
    /// limiters let through. A node whose write fails does not stop the pass: the others are
    /// still checked, and the first failure is returned after.
    pub fn monitor(&mut self, ctx: &mut Context) -> Result<Action, ControllerError> {
        let mut requeue = Some(ctx.now + ctx.timing.monitor_period);
        let mut failure = None;
        // Ready and NotReady nodes per zone this pass.
        let mut counts = vec![(0usize, 0usize); self.zones.len()];
        // Per zone, the first node in rack order that waits for a NoExecute taint: a limiter of
        // burst 1 lets at most one through a pass, so the rest of upstream's queue can wait.
        let mut queued: Vec<Option<String>> = vec![None; self.zones.len()];
        let NodeLifecycle { probes, unzoned, .. } = self;
        for ((_, _, name), probe) in probes.iter_mut() {
            if probe.needs_check(ctx.now, ctx.timing, unzoned) {
                let tainting = match probe.zone {
                    Some(_) => Tainting::Queued,
                    None => Tainting::Inline(&mut *unzoned),
                };
                match monitor_node(name, probe.at, tainting, ctx) {
                    Ok(Checked { retry, found }) => {
                        requeue = earliest(requeue, retry);
                        (probe.dirty, probe.last) = (retry.is_some(), found);
                    }
                    Err(err) => {
                        probe.dirty = true;
                        failure.get_or_insert(err);
                        continue;
                    }
                }
            }
            let Some(zone) = probe.zone else { continue };
            if probe.last.wants_no_execute && queued[zone].is_none() {
                queued[zone] = Some(name.clone());
            }
            if probe.counted && probe.last.reported {
                let (ready, not_ready) = &mut counts[zone];
                if probe.last.ready {
                    *ready += 1;
                } else {
                    *not_ready += 1;
                }
            }
        }
        if self.handle_disruption(&counts, ctx) {
            // Every zoned node's NoExecute taint goes, and nothing is queued any more.
            queued.clear();
            let names: Vec<String> =
                self.probes.iter().filter(|(_, p)| p.zone.is_some()).map(|((_, _, name), _)| name.clone()).collect();
            for name in names {
                match mark_node_as_reachable(&name, ctx) {
                    Ok(at) => requeue = earliest(requeue, at),
                    Err(err) => {
                        failure.get_or_insert(err);
                    }
                }
            }
        }
        for (zone, name) in queued.into_iter().enumerate() {
            let Some(name) = name else { continue };
            if !self.zones[zone].limiter.try_accept(ctx.now, ctx.timing) {
                continue;
            }
            match add_no_execute_taint(&name, ctx) {
                Ok(at) => requeue = earliest(requeue, at),
                Err(err) => {
                    failure.get_or_insert(err);
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(Action::requeue_at(ctx.now, requeue)),
        }
    }

    /// Upstream's `handleDisruption` on this pass's counts: each zone's new state and limiter.
    /// Returns true when entering master disruption mode (every node's NoExecute taint must go).
    fn handle_disruption(&mut self, counts: &[(usize, usize)], ctx: &mut Context) -> bool {
        let threshold = ctx.timing.unhealthy_zone_threshold;
        let mut new_states = Vec::with_capacity(counts.len());
        let (mut all_are_fully_disrupted, mut all_were_fully_disrupted) = (true, true);
        for (zone, &(ready, not_ready)) in self.zones.iter_mut().zip(counts) {
            let state = ZoneState::compute(ready, not_ready, threshold);
            let present = ready + not_ready > 0;
            if present {
                all_are_fully_disrupted &= state == ZoneState::FullDisruption;
                all_were_fully_disrupted &= zone.nodes > 0 && zone.state == ZoneState::FullDisruption;
            } else {
                // Upstream forgets a zone without nodes; it is Initial if it comes back.
                zone.state = ZoneState::Initial;
            }
            (zone.nodes, zone.not_ready) = (ready + not_ready, not_ready);
            new_states.push(state);
        }
        let ids: Vec<ZoneId> = (0..self.zones.len()).filter(|&id| self.zones[id].nodes > 0).collect();
        if all_are_fully_disrupted && all_were_fully_disrupted {
            return false;
        }
        if all_are_fully_disrupted {
            for &id in &ids {
                let zone = &mut self.zones[id];
                zone.limiter.swap(EvictionRate::Stopped, ctx.now, ctx.timing);
                zone.state = ZoneState::FullDisruption;
            }
            record_controller_event(
                ctx,
                "Warning",
                "EnteringMasterDisruptionMode",
                "Controller detected that all Nodes are not-Ready. Entering master disruption mode.".into(),
            );
            return true;
        }
        if all_were_fully_disrupted {
            // Nodes unheard from only because this controller was cut off get a fresh grace period.
            for probe in self.probes.values_mut().filter(|p| p.zone.is_some()) {
                probe.at = ctx.now;
            }
            for &id in &ids {
                let zone = &mut self.zones[id];
                let rate = EvictionRate::for_zone(new_states[id], zone.nodes, ctx.timing);
                zone.limiter.swap(rate, ctx.now, ctx.timing);
                zone.state = new_states[id];
            }
            record_controller_event(
                ctx,
                "Normal",
                "ExitingMasterDisruptionMode",
                "Controller detected that some Nodes are Ready. Exiting master disruption mode.".into(),
            );
            return false;
        }
        for &id in &ids {
            let zone = &mut self.zones[id];
            let state = new_states[id];
            if zone.state == state {
                continue;
            }
            zone.limiter.swap(EvictionRate::for_zone(state, zone.nodes, ctx.timing), ctx.now, ctx.timing);
            let first_seen = zone.state == ZoneState::Initial;
            zone.state = state;
            // A zone first seen healthy is no change of regime (upstream logs it; no Event here).
            if first_seen && state == ZoneState::Normal {
                continue;
            }
            let message = format!("Controller detected that zone {} is now in state {state}.", zone.name);
            let type_ = if state == ZoneState::Normal { "Normal" } else { "Warning" };
            record_controller_event(ctx, type_, "ZoneStateChanged", message);
        }
        false
    }
}

/// A zone limiter's rate as the panel says it.
fn rate_words(per_sec: f64) -> String {
    if per_sec > 0.0 { format!("evicting {per_sec} nodes/s") } else { "no evictions".into() }
}

/// An event about the controller's own regime, not one node: recorded on
/// kube-controller-manager's leader-election Lease, the object that stands for the component.
fn record_controller_event(ctx: &mut Context, type_: &'static str, reason: &'static str, message: String) {
    let key = Component::KubeControllerManager.lease_key();
    let meta = ctx
        .store
        .get::<Lease>(&key)
        .map_or_else(|| ObjectMeta::namespaced(key.namespace.clone(), key.name.clone()), |l| l.metadata.clone());
    ctx.recorder.record(ctx.now, Kind::Lease, &meta, type_, reason, message, COMPONENT);
}

/// The node monitor is periodic: one key, requeued every `monitor_period`, that checks the
/// nodes due a look; the change stream keeps each node's probe time and zone and marks it due.
impl Controller for NodeLifecycle {
    fn name(&self) -> &'static str {
        "node_lifecycle"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Node, Kind::Lease]
    }

    fn initial_keys(&self) -> Vec<Key> {
        vec![Key::Periodic]
    }

    fn triggers(&mut self, change: &Change, _store: &Store, now: Millis, _out: &mut Vec<Key>) {
        let deleted = change.type_ == ChangeType::Deleted;
        match &change.object {
            Object::Node(node) => self.observe_node(node, deleted, now),
            Object::Lease(lease) if !deleted && lease.metadata.namespace() == LEASE_NAMESPACE => {
                self.observe_lease(&lease.metadata.name, now)
            }
            _ => {}
        }
    }

    fn relisted(&mut self, store: &Store) {
        self.forget_missing(|name| store.get::<Node>(&ObjectKey::cluster(name)).is_some());
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        match key {
            Key::Periodic => self.monitor(ctx),
            _ => Err(ControllerError::UnexpectedKey { controller: self.name(), key: key.clone() }),
        }
    }

    /// A failed write is reported as usual, but the next pass is never later than the period:
    /// every other node still needs watching.
    fn error_policy(&mut self, _key: &Key, error: &ControllerError, failures: u32, ctx: &mut Context) -> Action {
        let backoff = default_error_policy(COMPONENT, error, failures, ctx).requeue_after();
        Action::requeue(backoff.map_or(ctx.timing.monitor_period, |b| b.min(ctx.timing.monitor_period)))
    }
}

/// The conditions a kubelet posts; the controller sets each to Unknown when it falls silent.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Upstream's `tryUpdateNodeHealth` for a silent kubelet: every kubelet condition not already
/// Unknown becomes Unknown, "stopped posting" for one it had posted; a Ready it never posted is
/// added as "never posted" (with the node's creation as the heartbeat). Upstream adds the
/// pressure conditions the same way; the simulated kubelet posts only Ready, so those are left
/// out when absent, to keep a knocked pin's card as it was.
fn mark_unknown(node: &mut Node, now: &str) {
    for kind in KUBELET_CONDITIONS {
        match node.status.conditions.iter_mut().find(|c| c.type_ == kind) {
            Some(c) if c.status == "Unknown" => {}
            None if kind != "Ready" => {}
            Some(c) => {
                c.status = "Unknown".into();
                c.reason = "NodeStatusUnknown".into();
                c.message = "Kubelet stopped posting node status.".into();
                c.last_transition_time = Some(now.to_string());
            }
            None => node.status.conditions.push(crate::cluster::objects::NodeCondition {
                type_: kind.into(),
                status: "Unknown".into(),
                reason: "NodeStatusNeverUpdated".into(),
                message: "Kubelet never posted node status.".into(),
                last_heartbeat_time: node.metadata.creation_timestamp.as_deref().map(str::to_string),
                last_transition_time: Some(now.to_string()),
            }),
        }
    }
}

/// One node's check: when to look again sooner than the next period (a write lost a race), and
/// what it found.
#[derive(Debug, Default)]
struct Checked {
    retry: Option<Millis>,
    found: Findings,
}

/// What a check found of a node; it holds until the node changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Findings {
    /// Its Ready condition is True (what the zone state counts).
    ready: bool,
    /// It has a Ready condition at all. A node whose kubelet never reported is in its startup
    /// grace period and left out of its zone's state: else a lane's first pass, before any
    /// kubelet has posted, would find every zone fully disrupted.
    reported: bool,
    /// It should carry a NoExecute condition taint and does not: its zone's limiter decides.
    wants_no_execute: bool,
    /// It lacked its NoExecute condition taint when checked (whether or not this pass adds it).
    lacks_no_execute: bool,
    /// Its Ready condition is Unknown after the check.
    unknown: bool,
}

/// The condition taint a node's readiness calls for. A node whose kubelet has not reported yet
/// is neither: it gets the grace period.
fn wanted_condition_taint(node: &Node) -> Option<&'static str> {
    match node.ready_condition().map(|_| node.readiness()) {
        None | Some(Readiness::Ready) => None,
        Some(Readiness::Unknown) => Some(Taint::UNREACHABLE),
        Some(Readiness::NotReady) => Some(Taint::NOT_READY),
    }
}

fn is_condition_taint(t: &Taint) -> bool {
    t.key == Taint::UNREACHABLE || t.key == Taint::NOT_READY
}

/// How a node's NoExecute condition taint is let through.
enum Tainting<'a> {
    /// A zoned node: the monitor queues it for its zone's limiter after the pass.
    Queued,
    /// A node in no zone: tainted in the same write as its NoSchedule taint when the shared
    /// limiter has a token, as the game always did (its lanes' timelines stay as they were).
    Inline(&'a mut ZoneLimiter),
}

/// Checks one node: its Ready condition against its probe time, its NoSchedule taints (not rate
/// limited), and its NoExecute one (see [`Tainting`]). A zoned node that already has the other
/// condition's NoExecute taint swaps it at once, as upstream's `SwapNodeControllerTaint`.
fn monitor_node(name: &str, probe: Millis, tainting: Tainting, ctx: &mut Context) -> Result<Checked, ControllerError> {
    let key = ObjectKey::cluster(name);
    let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(Checked::default()) };
    let silent = ctx.now.saturating_sub(probe) > ctx.timing.grace;
    let mut retry = None;

    if silent && node.readiness() != Readiness::Unknown {
        let now = ctx.store.epoch().stamp(ctx.now);
        let was_ready = node.readiness() == Readiness::Ready;
        let updated = match ctx.store.modify::<Node>(&key, |n| mark_unknown(n, &now)) {
            Ok(updated) => updated,
            Err(err) => {
                let retry = settle(Err::<(), _>(err), Kind::Node, &key, ctx.now)?;
                return Ok(Checked { retry, ..Checked::default() });
            }
        };
        // Upstream records NodeNotReady only for a node that was Ready (not for one whose
        // kubelet never posted).
        if was_ready {
            ctx.recorder.record(
                ctx.now,
                Kind::Node,
                &updated.metadata,
                "Normal",
                "NodeNotReady",
                format!("Node {name} status is now: NodeNotReady"),
                COMPONENT,
            );
        }
        retry = mark_pods_not_ready(name, ctx)?;
    }

    retry = earliest(retry, sync_unschedulable_taint(&key, ctx)?);
    retry = earliest(retry, sync_memory_pressure_taint(&key, ctx)?);
    let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(Checked { retry, ..Checked::default() }) };
    let ready = node.readiness() == Readiness::Ready;
    let reported = node.ready_condition().is_some();
    let wanted = wanted_condition_taint(node);
    let has = |effect: &str| wanted.is_some_and(|k| node.has_taint(k, effect));
    let stale = node.spec.taints.iter().any(|t| is_condition_taint(t) && Some(t.key.as_str()) != wanted);
    let need_no_schedule = wanted.is_some() && !has(Taint::NO_SCHEDULE);
    let lacks_no_execute = wanted.is_some() && !has(Taint::NO_EXECUTE);
    let (add_no_execute, wants_no_execute) = match tainting {
        Tainting::Queued => {
            let swap = lacks_no_execute
                && node.spec.taints.iter().any(|t| t.effect == Taint::NO_EXECUTE && is_condition_taint(t));
            (swap, lacks_no_execute && !swap)
        }
        Tainting::Inline(limiter) => (lacks_no_execute && limiter.try_accept(ctx.now, ctx.timing), false),
    };
    let unknown = node.readiness() == Readiness::Unknown;
    let found = Findings { ready, reported, wants_no_execute, lacks_no_execute, unknown };
    if !(stale || need_no_schedule || add_no_execute) {
        return Ok(Checked { retry, found });
    }
    let now = ctx.store.epoch().stamp(ctx.now);
    let written = ctx.store.modify::<Node>(&key, |n| {
        n.spec.taints.retain(|t| !is_condition_taint(t) || Some(t.key.as_str()) == wanted);
        if let Some(k) = wanted {
            if need_no_schedule {
                n.spec.taints.push(Taint::new(k, Taint::NO_SCHEDULE));
            }
            if add_no_execute {
                n.spec.taints.push(Taint { time_added: Some(now.clone()), ..Taint::new(k, Taint::NO_EXECUTE) });
            }
        }
    });
    Ok(Checked { retry: earliest(retry, settle(written, Kind::Node, &key, ctx.now)?), found })
}

/// The NoExecute condition taint a node's zone limiter let through (upstream's
/// `doNoExecuteTaintingPass`), stamped with `timeAdded` so tolerationSeconds count from now.
fn add_no_execute_taint(name: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let key = ObjectKey::cluster(name);
    let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(None) };
    let Some(wanted) = wanted_condition_taint(node) else { return Ok(None) };
    if node.has_taint(wanted, Taint::NO_EXECUTE) {
        return Ok(None);
    }
    let now = ctx.store.epoch().stamp(ctx.now);
    let written = ctx.store.modify::<Node>(&key, |n| {
        n.spec.taints.push(Taint { time_added: Some(now), ..Taint::new(wanted, Taint::NO_EXECUTE) });
    });
    settle(written, Kind::Node, &key, ctx.now)
}

/// Upstream's `markNodeAsReachable`: the unreachable and not-ready NoExecute taints go (the
/// NoSchedule ones stay: the scheduler should still avoid the node).
fn mark_node_as_reachable(name: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let key = ObjectKey::cluster(name);
    let is_no_execute_condition_taint = |t: &Taint| t.effect == Taint::NO_EXECUTE && is_condition_taint(t);
    let Some(node) = ctx.store.get::<Node>(&key) else { return Ok(None) };
    if !node.spec.taints.iter().any(is_no_execute_condition_taint) {
        return Ok(None);
    }
    let written = ctx.store.modify::<Node>(&key, |n| n.spec.taints.retain(|t| !is_no_execute_condition_taint(t)));
    settle(written, Kind::Node, &key, ctx.now)
}

/// Upstream's `doNoScheduleTaintingPass` for cordon: `spec.unschedulable` is mirrored by the
/// `node.kubernetes.io/unschedulable:NoSchedule` taint, added on cordon and removed on uncordon.
/// Returns when to retry if the write lost a race; other write failures go to the error policy,
/// as every other write of this controller.
fn sync_unschedulable_taint(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(node) = ctx.store.get::<Node>(key) else { return Ok(None) };
    if node.spec.unschedulable == node.has_taint(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE) {
        return Ok(None);
    }
    settle(ctx.store.modify::<Node>(key, mirror_unschedulable), Kind::Node, key, ctx.now)
}

/// The taint upstream's TaintNodesByCondition puts on a node reporting `MemoryPressure=True`.
pub const MEMORY_PRESSURE_TAINT: &str = "node.kubernetes.io/memory-pressure";

/// Upstream's `doNoScheduleTaintingPass` for conditions: `MemoryPressure=True` is mirrored by the
/// `node.kubernetes.io/memory-pressure:NoSchedule` taint, so no new pod lands on a node evicting
/// its own; the taint goes when the condition does (False, or Unknown once the node is silent).
fn sync_memory_pressure_taint(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(node) = ctx.store.get::<Node>(key) else { return Ok(None) };
    let pressure = node.status.conditions.iter().any(|c| c.type_ == "MemoryPressure" && c.status == "True");
    if pressure == node.has_taint(MEMORY_PRESSURE_TAINT, Taint::NO_SCHEDULE) {
        return Ok(None);
    }
    let written = ctx.store.modify::<Node>(key, |n| {
        n.spec.taints.retain(|t| !(t.key == MEMORY_PRESSURE_TAINT && t.effect == Taint::NO_SCHEDULE));
        if pressure {
            n.spec.taints.push(Taint::new(MEMORY_PRESSURE_TAINT, Taint::NO_SCHEDULE));
        }
    });
    settle(written, Kind::Node, key, ctx.now)
}

fn mirror_unschedulable(node: &mut Node) {
    let is_unschedulable_taint = |t: &Taint| t.key == Taint::UNSCHEDULABLE && t.effect == Taint::NO_SCHEDULE;
    node.spec.taints.retain(|t| !is_unschedulable_taint(t));
    if node.spec.unschedulable {
        node.spec.taints.push(Taint::new(Taint::UNSCHEDULABLE, Taint::NO_SCHEDULE));
    }
}

/// Upstream's `MarkPodsNotReady`: the pods' Ready condition turns False. Returns when to retry
/// if a pod could not be written.
fn mark_pods_not_ready(node: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let pods: Vec<ObjectKey> =
        ctx.store.pods_on_node(node).filter(|p| p.is_ready()).map(|p| ObjectKey::of(&p.metadata)).collect();
    let now = ctx.store.epoch().stamp_compact(ctx.now);
    let mut requeue = None;
    for key in pods {
        let written = ctx.store.modify::<Pod>(&key, |p| {
            for c in p.status.conditions.iter_mut().filter(|c| c.type_ == "Ready" || c.type_ == "ContainersReady") {
                *c = PodCondition {
                    type_: c.type_.clone(),
                    status: "False".into(),
                    last_transition_time: Some(now.clone()),
                    reason: Default::default(),
                    message: Default::default(),
                };
            }
            for cs in &mut p.status.container_statuses {
                cs.ready = false;
            }
        });
        requeue = earliest(requeue, settle(written, Kind::Pod, &key, ctx.now)?);
    }
    Ok(requeue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::Recorded;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::{Lease, NodeCondition, ObjectMeta};

    fn ready_node(store: &mut Store, name: &str) {
        let mut node = Node { metadata: ObjectMeta::named(name), ..Node::default() };
        node.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        });
        store.create(node, Millis::ZERO).unwrap();
    }

    fn readiness(store: &Store, name: &str) -> Readiness {
        store.get::<Node>(&ObjectKey::cluster(name)).unwrap().readiness()
    }

    fn taints(h: &Harness, name: &str) -> Vec<(String, String)> {
        let node = h.store.get::<Node>(&ObjectKey::cluster(name)).unwrap();
        node.spec.taints.iter().map(|t| (t.key.clone(), t.effect.clone())).collect()
    }

    #[test]
    fn probe_times_come_from_observed_lease_renewals() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        for name in ["pin-10", "pin-2"] {
            ready_node(&mut h.store, name);
        }
        let triggered = h.triggered(&mut lifecycle, 0);
        assert_eq!(triggered, [], "a periodic controller queues no keys on changes");
        // Only pin-2's lease renewal is observed, late: pin-10 has been silent since it was added.
        h.now = h.timing.grace;
        let since = h.store.resource_version();
        let lease = Lease { metadata: ObjectMeta::namespaced(LEASE_NAMESPACE, "pin-2"), ..Lease::default() };
        h.seed(lease);
        h.triggered(&mut lifecycle, since);
        h.now = h.timing.grace + Millis(1);
        assert_eq!(h.run(&mut lifecycle, &Key::Periodic), Action::requeue(h.timing.monitor_period));
        assert_eq!(readiness(&h.store, "pin-2"), Readiness::Ready);
        assert_eq!(readiness(&h.store, "pin-10"), Readiness::Unknown);
        // Rack order: pin-2 before pin-10, whatever the string order.
        let order: Vec<&str> = lifecycle.probes.keys().map(|(_, _, n)| n.as_str()).collect();
        assert_eq!(order, ["pin-2", "pin-10"]);
        let since = h.store.resource_version();
        h.store.delete::<Node>(&ObjectKey::cluster("pin-10")).unwrap();
        h.triggered(&mut lifecycle, since);
        assert_eq!(lifecycle.probes.len(), 1);
    }

    #[test]
    fn cordon_adds_the_unschedulable_taint_and_uncordon_removes_it() {
        let mut h = Harness::new();
        let key = ObjectKey::cluster("pin-1");
        ready_node(&mut h.store, "pin-1");
        let unschedulable_taints = |store: &Store| {
            let node = store.get::<Node>(&key).unwrap();
            node.spec.taints.iter().filter(|t| t.key == Taint::UNSCHEDULABLE && t.effect == Taint::NO_SCHEDULE).count()
        };
        for (cordoned, taints) in [(true, 1), (true, 1), (false, 0)] {
            h.store.modify::<Node>(&key, |n| n.spec.unschedulable = cordoned).unwrap();
            let mut ctx = h.context();
            assert_eq!(sync_unschedulable_taint(&key, &mut ctx), Ok(None));
            assert_eq!(unschedulable_taints(&h.store), taints, "unschedulable: {cordoned}");
        }
    }

    #[test]
    fn a_node_silent_past_the_grace_period_goes_unknown_unreachable_and_its_pods_not_ready() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        assert_eq!(lifecycle.initial_keys(), [Key::Periodic]);
        ready_node(&mut h.store, "pin-1");
        let pod = h.seed(harness::running(harness::pod("web-x"), "pin-1", "10.0.0.1", true));
        h.triggered(&mut lifecycle, 0);

        // Within the grace period: nothing happens.
        h.now = h.timing.grace;
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(h.writes(), []);
        assert_eq!(readiness(&h.store, "pin-1"), Readiness::Ready);

        h.now = h.timing.grace + Millis(1);
        h.run(&mut lifecycle, &Key::Periodic);
        let node = h.store.get::<Node>(&ObjectKey::cluster("pin-1")).unwrap();
        let ready = node.ready_condition().unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        );
        assert_eq!(
            taints(&h, "pin-1"),
            [
                (Taint::UNREACHABLE.into(), Taint::NO_SCHEDULE.into()),
                (Taint::UNREACHABLE.into(), Taint::NO_EXECUTE.into())
            ]
        );
        assert!(!h.store.get::<Pod>(&pod).unwrap().is_ready());
        let events = h.events();
        assert_eq!(
            events,
            [(
                "Normal",
                "NodeNotReady",
                "node/pin-1".to_string(),
                "Node pin-1 status is now: NodeNotReady".to_string()
            )]
        );
    }

    #[test]
    fn a_node_whose_kubelet_never_posted_goes_unknown_as_never_updated_without_an_event() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        let node = Node { metadata: ObjectMeta::named("registered"), ..Node::default() };
        h.store.create(node, Millis::ZERO).unwrap();
        h.triggered(&mut lifecycle, 0);
        h.now = h.timing.grace + Millis(1);
        h.run(&mut lifecycle, &Key::Periodic);
        let node = h.store.get::<Node>(&ObjectKey::cluster("registered")).unwrap();
        let ready = node.ready_condition().unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str(), ready.message.as_str()),
            ("Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
        );
        assert_eq!(ready.last_heartbeat_time.as_deref(), node.metadata.creation_timestamp.as_deref());
        assert_eq!(h.events(), []);
    }

    #[test]
    fn a_node_ready_again_loses_its_condition_taints() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        ready_node(&mut h.store, "pin-1");
        h.store
            .modify::<Node>(&ObjectKey::cluster("pin-1"), |n| {
                n.spec.taints = vec![
                    Taint::new(Taint::UNREACHABLE, Taint::NO_SCHEDULE),
                    Taint::new(Taint::UNREACHABLE, Taint::NO_EXECUTE),
                    Taint::new("dedicated", Taint::NO_SCHEDULE),
                ]
            })
            .unwrap();
        h.triggered(&mut lifecycle, 0);
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(taints(&h, "pin-1"), [("dedicated".into(), Taint::NO_SCHEDULE.into())]);
    }

    #[test]
    fn a_pass_reads_only_the_nodes_that_changed_or_fell_silent() {
        let mut h = Harness::new();
        let mut lifecycle = NodeLifecycle::default();
        for name in ["pin-1", "pin-2"] {
            ready_node(&mut h.store, name);
        }
        h.observe(&mut lifecycle);
        h.run(&mut lifecycle, &Key::Periodic);
        assert!(lifecycle.probes.values().all(|p| !p.dirty && p.last.ready && p.last.reported), "both clean");

        // Cordoned behind the informer's back: a pass works from what it has seen, so it does
        // not read pin-1 again (a pass over 5,000 quiet nodes reads none of them).
        h.store.modify::<Node>(&ObjectKey::cluster("pin-1"), |n| n.spec.unschedulable = true).unwrap();
        h.now = h.timing.monitor_period;
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(taints(&h, "pin-1"), []);
        // Once the change is observed, the next pass reads pin-1 and mirrors the cordon.
        h.observe(&mut lifecycle);
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(taints(&h, "pin-1"), [(Taint::UNSCHEDULABLE.into(), Taint::NO_SCHEDULE.into())]);

        // Silence needs no change to be noticed: past the grace period both are read and go
        // Unknown.
        h.now = h.timing.grace + Millis(1);
        h.run(&mut lifecycle, &Key::Periodic);
        assert_eq!(
            (readiness(&h.store, "pin-1"), readiness(&h.store, "pin-2")),
            (Readiness::Unknown, Readiness::Unknown)
        );
        // The shared limiter lets one NoExecute taint through per interval: the node it holds
        // back is read again once there is a token, so a later pass taints it without any
        // change to wake it.
        for _ in 0..3 {
            h.now = h.now + h.timing.eviction_interval();
            h.observe(&mut lifecycle);
            h.run(&mut lifecycle, &Key::Periodic);
        }
        for name in ["pin-1", "pin-2"] {
            assert!(taints(&h, name).contains(&(Taint::UNREACHABLE.into(), Taint::NO_EXECUTE.into())), "{name}");
        }
        assert!(lifecycle.probes.values().all(|p| p.last.unknown && !p.last.ready && !p.dirty), "all settled");
    }

    // ---- zones -------------------------------------------------------------------------------

    const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

    fn zoned_node(store: &mut Store, name: &str, zone: &str) {
        let mut node = Node { metadata: ObjectMeta::named(name), ..Node::default() };
        node.metadata.labels.insert(ZONE_LABEL.into(), zone.into());
        node.status.conditions.push(NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            ..Default::default()
        });
        store.create(node, Millis::ZERO).unwrap();
    }

    /// A harness with upstream's timings and `sizes` zones `zone-a`, `zone-b` ... of that many
    /// Ready nodes each (`a-1`, `a-2` ...), every one known to `lifecycle`.
    fn zoned_cluster(sizes: &[usize]) -> (Harness, NodeLifecycle) {
        let mut h = Harness::new();
        h.timing = Timing::preset(crate::cluster::timing::Preset::Kubernetes);
        let mut lifecycle = NodeLifecycle::default();
        for (z, &size) in sizes.iter().enumerate() {
            let letter = (b'a' + z as u8) as char;
            for i in 1..=size {
                zoned_node(&mut h.store, &format!("{letter}-{i}"), &format!("zone-{letter}"));
            }
        }
        h.observe(&mut lifecycle);
        h.run(&mut lifecycle, &Key::Periodic);
        (h, lifecycle)
    }

    /// Passes every monitor period from now to `until` (each after the changes so far are
    /// observed, as the cluster delivers them), the nodes not `silent` renewing their
    /// Leases before each; the events recorded on the way.
    fn run_until(
        h: &mut Harness,
        lifecycle: &mut NodeLifecycle,
        until: Millis,
        silent: impl Fn(&str) -> bool,
    ) -> Vec<Recorded> {
        let mut events = Vec::new();
        while h.now + h.timing.monitor_period <= until {
            h.now = h.now + h.timing.monitor_period;
            let names: Vec<String> = lifecycle.probes.keys().map(|(_, _, n)| n.clone()).collect();
            for name in names.iter().filter(|n| !silent(n)) {
                lifecycle.observe_lease(name, h.now);
            }
            h.observe(&mut *lifecycle);
            h.run(&mut *lifecycle, &Key::Periodic);
            events.extend(h.events());
        }
        events
    }

    /// The nodes carrying a NoExecute condition taint, and when each got it, in rack order.
    fn no_execute_since(h: &Harness) -> Vec<(String, Millis)> {
        let mut tainted: Vec<(String, Millis)> = h
            .store
            .list::<Node>()
            .filter_map(|n| {
                let t = n.spec.taints.iter().find(|t| t.effect == Taint::NO_EXECUTE && is_condition_taint(t))?;
                let added = h.store.epoch().parse(t.time_added.as_deref()?)?;
                Some((n.metadata.name.clone(), added))
            })
            .collect();
        tainted.sort_by_key(|(name, at)| (*at, rack_key(name)));
        tainted
    }

    fn state_of(lifecycle: &NodeLifecycle, h: &Harness, zone: &str) -> (ZoneState, EvictionRate) {
        let zones = lifecycle.zones(&h.timing);
        let status = zones.iter().find(|z| z.zone == zone).unwrap_or_else(|| panic!("no {zone} in {zones:?}"));
        (status.state, status.eviction_rate)
    }

    fn zone_events(events: &[Recorded]) -> Vec<(&'static str, String)> {
        events.iter().filter(|e| e.1 != "NodeNotReady").map(|e| (e.1, e.3.clone())).collect()
    }

    #[test]
    fn zone_state_is_upstreams_compute_zone_state() {
        let threshold = 0.55;
        let cases = [
            // (ready, not ready, state)
            (0, 0, ZoneState::Normal),
            (0, 1, ZoneState::FullDisruption),
            (0, 2, ZoneState::FullDisruption),
            (5, 0, ZoneState::Normal),
            // Fewer than 3 NotReady is never partial, whatever the share.
            (1, 2, ZoneState::Normal),
            (2, 3, ZoneState::PartialDisruption),
            (3, 3, ZoneState::Normal),
            // The threshold itself counts (>=): 11 of 20 is 0.55.
            (9, 11, ZoneState::PartialDisruption),
            (10, 10, ZoneState::Normal),
            (22, 29, ZoneState::PartialDisruption),
        ];
        for (ready, not_ready, state) in cases {
            assert_eq!(ZoneState::compute(ready, not_ready, threshold), state, "{ready} ready, {not_ready} not");
        }
    }

    #[test]
    fn each_state_picks_upstreams_limiter() {
        let timing = Timing::preset(crate::cluster::timing::Preset::Kubernetes);
        let large = timing.large_cluster_size_threshold + 1;
        let small = timing.large_cluster_size_threshold;
        let cases = [
            (ZoneState::Normal, small, EvictionRate::Primary),
            (ZoneState::FullDisruption, small, EvictionRate::Primary),
            (ZoneState::FullDisruption, large, EvictionRate::Primary),
            (ZoneState::PartialDisruption, large, EvictionRate::Secondary),
            (ZoneState::PartialDisruption, small, EvictionRate::Stopped),
        ];
        for (state, size, rate) in cases {
            assert_eq!(EvictionRate::for_zone(state, size, &timing), rate, "{state} with {size} nodes");
        }
        assert_eq!(EvictionRate::Primary.per_sec(&timing), 0.1);
        assert_eq!(EvictionRate::Secondary.per_sec(&timing), 0.01);
        let arcade = Timing::preset(crate::cluster::timing::Preset::Arcade);
        let ratio = |t: &Timing| t.secondary_eviction_rate_per_sec / t.eviction_rate_per_sec;
        // 0.01 / 0.1 is not exactly 2 / 20 in binary floating point.
        assert!((ratio(&arcade) - ratio(&timing)).abs() < 1e-12, "arcade keeps upstream's ratio of the two rates");
    }

    #[test]
    fn a_fully_disrupted_zone_is_tainted_at_the_primary_rate_while_others_are_healthy() {
        let (mut h, mut lifecycle) = zoned_cluster(&[4, 4]);
        let until = h.timing.grace + Millis(60_000);
        let events = run_until(&mut h, &mut lifecycle, until, |n| n.starts_with("a-"));
        assert_eq!(state_of(&lifecycle, &h, "zone-a"), (ZoneState::FullDisruption, EvictionRate::Primary));
        assert_eq!(state_of(&lifecycle, &h, "zone-b"), (ZoneState::Normal, EvictionRate::Primary));
        assert_eq!(
            zone_events(&events),
            [("ZoneStateChanged", "Controller detected that zone zone-a is now in state FullDisruption.".into())]
        );
        let tainted = no_execute_since(&h);
        let names: Vec<&str> = tainted.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["a-1", "a-2", "a-3", "a-4"]);
        let gaps: Vec<Millis> = tainted.windows(2).map(|w| Millis(w[1].1.0 - w[0].1.0)).collect();
        assert_eq!(gaps, vec![h.timing.eviction_interval(); 3], "one node per 1/node-eviction-rate");
    }

    #[test]
    fn a_partially_disrupted_large_zone_slows_to_the_secondary_rate_and_a_small_one_stops() {
        // zone-a: 52 nodes (large), 29 silent = 0.56; zone-b: 10 nodes (small), 6 silent = 0.6.
        let (mut h, mut lifecycle) = zoned_cluster(&[52, 10]);
        let silent = |n: &str| {
            let (zone, i) = n.split_once('-').unwrap();
            let i: usize = i.parse().unwrap();
            (zone == "a" && i <= 29) || (zone == "b" && i <= 6)
        };
        let window = Millis(300_000);
        let until = h.timing.grace + h.timing.monitor_period + window;
        let events = run_until(&mut h, &mut lifecycle, until, silent);
        assert_eq!(state_of(&lifecycle, &h, "zone-a"), (ZoneState::PartialDisruption, EvictionRate::Secondary));
        assert_eq!(state_of(&lifecycle, &h, "zone-b"), (ZoneState::PartialDisruption, EvictionRate::Stopped));
        assert_eq!(
            zone_events(&events),
            [
                ("ZoneStateChanged", "Controller detected that zone zone-a is now in state PartialDisruption.".into()),
                ("ZoneStateChanged", "Controller detected that zone zone-b is now in state PartialDisruption.".into()),
            ]
        );
        let tainted = no_execute_since(&h);
        assert!(tainted.iter().all(|(n, _)| n.starts_with("a-")), "the small zone stops evicting: {tainted:?}");
        let gaps: Vec<Millis> = tainted.windows(2).map(|w| Millis(w[1].1.0 - w[0].1.0)).collect();
        let interval = h.timing.secondary_eviction_interval();
        assert_eq!(gaps, vec![interval; tainted.len() - 1], "one node per 1/secondary-node-eviction-rate");
        // The first taint comes at once (the bucket starts full), then one per interval.
        let first = tainted[0].1;
        let expected = 1 + ((until.0 - first.0) / interval.0) as usize;
        assert_eq!(tainted.len(), expected, "{tainted:?}");
    }

    #[test]
    fn every_zone_down_is_master_disruption_mode_which_untaints_and_recovers_with_a_fresh_grace_period() {
        let (mut h, mut lifecycle) = zoned_cluster(&[3, 3]);
        // zone-a goes first: its nodes are tainted at the primary rate.
        let a_down = h.timing.grace + Millis(20_000);
        run_until(&mut h, &mut lifecycle, a_down, |n| n.starts_with("a-"));
        assert!(!no_execute_since(&h).is_empty());
        assert!(!lifecycle.master_disruption());
        // Then every node is silent: every zone is FullDisruption.
        let all_down = a_down + h.timing.grace + Millis(30_000);
        let events = run_until(&mut h, &mut lifecycle, all_down, |_| true);
        assert!(lifecycle.master_disruption());
        assert_eq!(
            zone_events(&events),
            [(
                "EnteringMasterDisruptionMode",
                "Controller detected that all Nodes are not-Ready. Entering master disruption mode.".into()
            )]
        );
        assert_eq!(no_execute_since(&h), [], "master disruption removes every NoExecute condition taint");
        for zone in ["zone-a", "zone-b"] {
            assert_eq!(state_of(&lifecycle, &h, zone), (ZoneState::FullDisruption, EvictionRate::Stopped));
        }
        for name in ["a-1", "b-3"] {
            assert_eq!(taints(&h, name), [(Taint::UNREACHABLE.into(), Taint::NO_SCHEDULE.into())]);
        }
        // zone-b's kubelets come back: Ready again, renewing.
        for i in 1..=3 {
            h.store
                .modify::<Node>(&ObjectKey::cluster(format!("b-{i}")), |n| {
                    n.status.conditions[0].status = "True".into();
                })
                .unwrap();
        }
        let back = h.now + h.timing.monitor_period;
        let events = run_until(&mut h, &mut lifecycle, back, |n| n.starts_with("a-"));
        assert!(!lifecycle.master_disruption());
        assert_eq!(
            zone_events(&events),
            [(
                "ExitingMasterDisruptionMode",
                "Controller detected that some Nodes are Ready. Exiting master disruption mode.".into()
            )]
        );
        assert_eq!(state_of(&lifecycle, &h, "zone-a"), (ZoneState::FullDisruption, EvictionRate::Primary));
        assert_eq!(state_of(&lifecycle, &h, "zone-b"), (ZoneState::Normal, EvictionRate::Primary));
        let probes: Vec<Millis> = lifecycle.probes.values().map(|p| p.at).collect();
        assert!(probes.iter().all(|&at| at == back), "every probe is reset on leaving: {probes:?}");
        // zone-a's nodes are still Unknown: tainted again, but the limiter starts drained.
        let until = Millis(back.0 + h.timing.eviction_interval().0 * 3);
        run_until(&mut h, &mut lifecycle, until, |n| n.starts_with("a-"));
        let tainted = no_execute_since(&h);
        let times: Vec<Millis> = tainted.iter().map(|(_, at)| *at).collect();
        let interval = h.timing.eviction_interval();
        assert_eq!(times, [1, 2, 3].map(|k| Millis(back.0 + interval.0 * k)), "{tainted:?}");
    }
}
