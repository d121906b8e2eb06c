//! Leader election for the control plane's components, as client-go's `tools/leaderelection`
//! does it for kube-scheduler and kube-controller-manager: every replica of a component contends
//! for one `coordination.k8s.io/v1` Lease in `kube-system`, and only the replica holding it acts.
//!
//! Each replica runs upstream's `tryAcquireOrRenew` every retryPeriod: it remembers the Lease
//! record it last saw and *when it first saw it* (its own clock, never the Lease's timestamps),
//! and takes a Lease held by another only once that record has not changed for leaseDuration.
//! A leader that has not renewed for renewDeadline stops leading at once; renewDeadline is
//! shorter than leaseDuration, so it has stopped before any standby may take over (no split
//! brain). As upstream's processes exit when they lose the lease and are restarted, a replica
//! that stops leading or is restored after a knock comes back as a standby with a new identity.
//!
//! Deterministic: virtual time, identities from a named seeded stream. Work per instant is
//! nothing unless some replica is due, then O(replicas). Retries are not jittered (upstream
//! jitters acquire retries by up to 20 %): replicas due at one instant try in replica order.

use super::events::EventRecorder;
use super::objects::{Kind, Lease, LeaseSpec, ObjectMeta};
use super::store::{ObjectKey, Store};
use super::timing::Timing;
use crate::clock::Millis;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Where the components' Leases live, as upstream's `--leader-elect-resource-namespace`.
pub const LEASE_NAMESPACE: &str = "kube-system";
/// The event reason client-go's resource lock records ("… became leader").
pub const REASON: &str = "LeaderElection";
/// The most replicas a component may run: beyond any real HA control plane.
pub const MAX_REPLICAS: usize = 9;

/// An elected component of the control plane; its Lease has its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Component {
    KubeScheduler,
    KubeControllerManager,
}

impl Component {
    pub const ALL: [Component; 2] = [Component::KubeScheduler, Component::KubeControllerManager];

    /// The binary's name, which is also its Lease's.
    pub fn name(self) -> &'static str {
        match self {
            Component::KubeScheduler => "kube-scheduler",
            Component::KubeControllerManager => "kube-controller-manager",
        }
    }

    /// The event source its leader-election events carry (kube-scheduler records as its
    /// profile's scheduler name).
    fn event_source(self) -> &'static str {
        match self {
            Component::KubeScheduler => "default-scheduler",
            Component::KubeControllerManager => "kube-controller-manager",
        }
    }

    pub fn lease_key(self) -> ObjectKey {
        ObjectKey::new(LEASE_NAMESPACE, self.name())
    }
}

impl std::str::FromStr for Component {
    type Err = String;
    fn from_str(text: &str) -> Result<Component, String> {
        Component::ALL
            .into_iter()
            .find(|c| c.name() == text)
            .ok_or_else(|| format!("unknown component {text:?}: expected kube-scheduler or kube-controller-manager"))
    }
}

/// A control plane that cannot be built as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    #[error("--control-plane-replicas must be between 1 and {MAX_REPLICAS}, not {0}")]
    Replicas(usize),
}

/// The parts of a Lease a replica compares to notice a renewal (client-go's observedRecord).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    holder: String,
    acquire_time: Option<String>,
    renew_time: Option<String>,
    transitions: i32,
}

impl Record {
    fn of(lease: &Lease) -> Record {
        Record {
            holder: lease.spec.holder_identity.clone().unwrap_or_default(),
            acquire_time: lease.spec.acquire_time.clone(),
            renew_time: lease.spec.renew_time.clone(),
            transitions: lease.spec.lease_transitions.unwrap_or(0),
        }
    }
}

/// One process of a component.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    /// `<hostname>_<uuid>`, as upstream's holderIdentity; a restart gets a new uuid.
    pub identity: String,
    /// Running (not knocked).
    pub alive: bool,
    /// Cut off from the API server: every read and write fails (its lease cannot be renewed).
    pub isolated: bool,
    /// When it last renewed the Lease while leading (None: a standby).
    pub renewed_at: Option<Millis>,
    /// The record last seen and when this replica first saw it.
    #[serde(skip)]
    observed: Option<(Record, Millis)>,
    #[serde(skip)]
    next_try: Millis,
}

impl Replica {
    pub fn is_leading(&self) -> bool {
        self.renewed_at.is_some()
    }
}

/// One component's replicas and what the panel and `sim --json` report of them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Elected {
    pub component: Component,
    pub replicas: Vec<Replica>,
    /// Since when no replica leads (None while one does). Starts at zero: nobody leads yet.
    pub leaderless_since: Option<Millis>,
    /// How many times a replica became leader.
    pub leader_changes: u64,
    /// The longest stretch without a leader that has ended (the open one is `leaderless_since`).
    pub longest_gap: Millis,
    /// The earliest instant any replica is due (its retry, or its leader's renew deadline).
    #[serde(skip)]
    next_due: Millis,
}

impl Elected {
    /// The replica that leads, if any (at most one: the property tests check it).
    pub fn leader(&self) -> Option<usize> {
        self.replicas.iter().position(Replica::is_leading)
    }

    /// The longest leaderless stretch so far, counting the open one up to `now`.
    pub fn longest_gap_until(&self, now: Millis) -> Millis {
        let open = self.leaderless_since.map_or(Millis::ZERO, |since| now.saturating_sub(since));
        self.longest_gap.max(open)
    }

    fn stop_leading(&mut self, index: usize, now: Millis) {
        if let Some(replica) = self.replicas.get_mut(index)
            && replica.renewed_at.take().is_some()
        {
            self.leaderless_since = Some(now);
        }
    }
}

/// Every elected component of the control plane.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    components: [Elected; 2],
    identities: Xoshiro256PlusPlus,
}

impl LeaderElection {
    /// `replicas` processes of each component, none leading yet: they contend from instant zero.
    pub fn new(seed: u64, replicas: usize) -> Result<LeaderElection, ElectionError> {
        if !(1..=MAX_REPLICAS).contains(&replicas) {
            return Err(ElectionError::Replicas(replicas));
        }
        Ok(LeaderElection::build(seed, replicas))
    }

    /// One replica of each component (`--control-plane-replicas 1`, the default).
    pub fn single(seed: u64) -> LeaderElection {
        LeaderElection::build(seed, 1)
    }

    fn build(seed: u64, replicas: usize) -> LeaderElection {
        let mut identities = crate::rng::stream(seed, "leader-election");
        let components = Component::ALL.map(|component| Elected {
            component,
            replicas: (0..replicas)
                .map(|index| Replica {
                    identity: identity(&mut identities, index),
                    alive: true,
                    isolated: false,
                    renewed_at: None,
                    observed: None,
                    next_try: Millis::ZERO,
                })
                .collect(),
            leaderless_since: Some(Millis::ZERO),
            leader_changes: 0,
            longest_gap: Millis::ZERO,
            next_due: Millis::ZERO,
        });
        LeaderElection { components, identities }
    }

    pub fn component(&self, component: Component) -> &Elected {
        &self.components[component as usize]
    }

    pub fn components(&self) -> &[Elected] {
        &self.components
    }

    /// Whether the component has a leader now: only then does it act.
    pub fn is_led(&self, component: Component) -> bool {
        self.component(component).leader().is_some()
    }

    /// When some replica is next due.
    pub fn next_deadline(&self) -> Millis {
        self.components.iter().map(|c| c.next_due).min().unwrap_or(Millis::ZERO)
    }

    /// The pinsetter is knocked: the component's leading replica crashes and stops acting at
    /// once. Returns its identity (None when nobody leads: there is no leader to knock).
    pub fn knock_leader(&mut self, component: Component, now: Millis) -> Option<String> {
        let elected = &mut self.components[component as usize];
        let index = elected.leader()?;
        elected.stop_leading(index, now);
        let replica = &mut elected.replicas[index];
        replica.alive = false;
        Some(replica.identity.clone())
    }

    /// Knocked replicas of the component start again, as standbys with new identities (a
    /// restarted process gets a new uuid). Returns how many came back.
    pub fn restore(&mut self, component: Component, now: Millis) -> usize {
        let elected = &mut self.components[component as usize];
        let mut back = 0;
        for (index, replica) in elected.replicas.iter_mut().enumerate() {
            if !replica.alive {
                replica.alive = true;
                replica.identity = identity(&mut self.identities, index);
                replica.observed = None;
                replica.next_try = now;
                back += 1;
            }
        }
        elected.next_due = elected.next_due.min(now);
        back
    }

    /// Cuts a replica off from the API server, or reconnects it (a network partition: it keeps
    /// running but can neither read nor renew the Lease).
    pub fn isolate(&mut self, component: Component, index: usize, isolated: bool) {
        if let Some(replica) = self.components[component as usize].replicas.get_mut(index) {
            replica.isolated = isolated;
        }
    }

    /// Runs every replica that is due at `now`: acquire or renew, and a leader past its renew
    /// deadline stops leading. Returns whether a component gained a leader.
    pub fn step(&mut self, store: &mut Store, recorder: &mut EventRecorder, now: Millis, timing: &Timing) -> bool {
        let mut acquired = false;
        for index in 0..self.components.len() {
            if self.components[index].next_due > now {
                continue;
            }
            acquired |= self.step_component(index, store, recorder, now, timing);
        }
        acquired
    }

    fn step_component(
        &mut self,
        component_index: usize,
        store: &mut Store,
        recorder: &mut EventRecorder,
        now: Millis,
        timing: &Timing,
    ) -> bool {
        let mut acquired = false;
        for index in 0..self.components[component_index].replicas.len() {
            let elected = &mut self.components[component_index];
            let replica = &elected.replicas[index];
            if !replica.alive || replica.next_try > now {
                continue;
            }
            let was_leading = replica.is_leading();
            let succeeded = try_acquire_or_renew(elected, index, store, now, timing);
            let replica = &mut elected.replicas[index];
            replica.next_try = now + timing.retry_period;
            if succeeded {
                replica.renewed_at = Some(now);
                if !was_leading {
                    let identity = replica.identity.clone();
                    if let Some(since) = elected.leaderless_since.take() {
                        elected.longest_gap = elected.longest_gap.max(now.saturating_sub(since));
                    }
                    elected.leader_changes += 1;
                    acquired = true;
                    record(store, recorder, elected.component, now, format!("{identity} became leader"));
                }
            }
        }
        let elected = &mut self.components[component_index];
        // A leader that could not renew within renewDeadline stops at once, and its process
        // exits: it comes back as a standby under a new identity.
        if let Some(index) = elected.leader()
            && let Some(renewed) = elected.replicas[index].renewed_at
            && now.saturating_sub(renewed) >= timing.renew_deadline
        {
            elected.stop_leading(index, now);
            let old = std::mem::replace(&mut elected.replicas[index].identity, identity(&mut self.identities, index));
            elected.replicas[index].observed = None;
            record(store, recorder, elected.component, now, format!("{old} stopped leading"));
        }
        elected.next_due = elected
            .replicas
            .iter()
            .filter(|r| r.alive)
            .flat_map(|r| [Some(r.next_try), r.renewed_at.map(|at| at + timing.renew_deadline)])
            .flatten()
            .min()
            .unwrap_or(Millis(u64::MAX));
        acquired
    }
}

/// client-go's `tryAcquireOrRenew`: true when this replica holds the Lease afresh.
fn try_acquire_or_renew(elected: &mut Elected, index: usize, store: &mut Store, now: Millis, timing: &Timing) -> bool {
    let key = elected.component.lease_key();
    let replica = &mut elected.replicas[index];
    if replica.isolated {
        return false;
    }
    let micro_now = store.epoch().stamp_micros(now);
    let duration_seconds = i32::try_from(timing.lease_duration.0.div_ceil(1000)).unwrap_or(i32::MAX);
    let Some(lease) = store.get::<Lease>(&key) else {
        let lease = Lease {
            metadata: ObjectMeta::namespaced(LEASE_NAMESPACE, elected.component.name()),
            spec: LeaseSpec {
                holder_identity: Some(replica.identity.clone()),
                lease_duration_seconds: Some(duration_seconds),
                acquire_time: Some(micro_now.clone()),
                renew_time: Some(micro_now),
                lease_transitions: Some(0),
                extra: Default::default(),
            },
            ..Lease::default()
        };
        return match store.create(lease, now) {
            Ok(created) => {
                replica.observed = Some((Record::of(&created), now));
                true
            }
            Err(_) => false,
        };
    };
    let seen = Record::of(lease);
    if replica.observed.as_ref().is_none_or(|(record, _)| *record != seen) {
        replica.observed = Some((seen.clone(), now));
    }
    let observed_at = replica.observed.as_ref().map_or(now, |(_, at)| *at);
    let mine = seen.holder == replica.identity;
    if !seen.holder.is_empty() && !mine && observed_at + timing.lease_duration > now {
        return false;
    }
    let identity = replica.identity.clone();
    let written = store.modify::<Lease>(&key, |lease| {
        if !mine {
            lease.spec.acquire_time = Some(micro_now.clone());
            lease.spec.lease_transitions = Some(seen.transitions + 1);
        }
        lease.spec.holder_identity = Some(identity);
        lease.spec.lease_duration_seconds = Some(duration_seconds);
        lease.spec.renew_time = Some(micro_now);
    });
    match written {
        Ok(lease) => {
            replica.observed = Some((Record::of(&lease), now));
            true
        }
        Err(_) => false,
    }
}

/// client-go's `LeaseLock.RecordEvent`: a Normal `LeaderElection` event on the Lease.
fn record(store: &mut Store, recorder: &mut EventRecorder, component: Component, now: Millis, message: String) {
    let meta = store
        .get::<Lease>(&component.lease_key())
        .map(|lease| lease.metadata.clone())
        .unwrap_or_else(|| ObjectMeta::namespaced(LEASE_NAMESPACE, component.name()));
    recorder.record(now, Kind::Lease, &meta, "Normal", REASON, message, component.event_source());
}

/// `pinsetter-cp-<n>_<uuid>`: the replica's host and a uuid from the seeded stream.
fn identity(identities: &mut Xoshiro256PlusPlus, index: usize) -> String {
    let uuid = uuid::Builder::from_random_bytes(identities.random()).into_uuid();
    format!("pinsetter-cp-{}_{uuid}", index + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::TICK_MS;
    use crate::cluster::timing::Preset;

    struct Plane {
        election: LeaderElection,
        store: Store,
        recorder: EventRecorder,
        timing: Timing,
        now: Millis,
    }

    impl Plane {
        fn new(replicas: usize) -> Plane {
            let timing = Timing::preset(Preset::Kubernetes);
            Plane {
                election: LeaderElection::new(1, replicas).unwrap(),
                store: Store::new(1),
                recorder: EventRecorder::new(&timing),
                timing,
                now: Millis::ZERO,
            }
        }

        /// Steps tick by tick up to and including `until`.
        fn run_until(&mut self, until: Millis) {
            while self.now <= until {
                self.election.step(&mut self.store, &mut self.recorder, self.now, &self.timing);
                self.now = self.now + Millis(TICK_MS);
            }
        }

        /// Steps until the component's leader changes; returns when and who.
        fn run_until_leader_changes(&mut self, limit: Millis) -> (Millis, Option<usize>) {
            let before = self.leader();
            while self.now <= limit {
                self.election.step(&mut self.store, &mut self.recorder, self.now, &self.timing);
                if self.leader() != before {
                    return (self.now, self.leader());
                }
                self.now = self.now + Millis(TICK_MS);
            }
            panic!("the leader stayed {before:?} until {limit}")
        }

        fn leader(&self) -> Option<usize> {
            self.election.component(Component::KubeScheduler).leader()
        }

        fn replica(&self, index: usize) -> &Replica {
            &self.election.component(Component::KubeScheduler).replicas[index]
        }

        fn lease(&self) -> LeaseSpec {
            self.store.get::<Lease>(&Component::KubeScheduler.lease_key()).expect("the Lease exists").spec.clone()
        }

        fn messages(&mut self) -> Vec<String> {
            self.recorder
                .drain()
                .filter(|r| r.reason == REASON)
                .map(|r| format!("{} {}", r.object, r.message))
                .collect()
        }
    }

    #[test]
    fn the_first_replica_creates_the_lease_and_becomes_leader() {
        let mut plane = Plane::new(1);
        plane.run_until(Millis::ZERO);
        let me = plane.replica(0).identity.clone();
        assert!(me.starts_with("pinsetter-cp-1_") && me.len() == "pinsetter-cp-1_".len() + 36, "{me}");
        let lease = plane.lease();
        assert_eq!(lease.holder_identity.as_deref(), Some(me.as_str()));
        assert_eq!(lease.lease_duration_seconds, Some(15));
        assert_eq!(lease.lease_transitions, Some(0));
        assert_eq!(lease.acquire_time.as_deref(), Some("2026-01-01T00:00:00.000000Z"));
        assert_eq!(lease.acquire_time, lease.renew_time);
        assert_eq!(plane.leader(), Some(0));
        assert!(plane.election.is_led(Component::KubeControllerManager));
        assert_eq!(
            plane.messages(),
            [
                format!("lease/kube-scheduler {me} became leader"),
                format!(
                    "lease/kube-controller-manager {} became leader",
                    plane.election.component(Component::KubeControllerManager).replicas[0].identity
                ),
            ]
        );
    }

    #[test]
    fn the_leader_renews_every_retry_period_keeping_its_acquire_time() {
        let mut plane = Plane::new(2);
        plane.run_until(Millis(2_000));
        let lease = plane.lease();
        assert_eq!(lease.renew_time.as_deref(), Some("2026-01-01T00:00:02.000000Z"));
        assert_eq!(lease.acquire_time.as_deref(), Some("2026-01-01T00:00:00.000000Z"));
        assert_eq!(lease.lease_transitions, Some(0));
        // A steadily renewed lease is never taken, however long the standby waits.
        plane.run_until(Millis(60_000));
        assert_eq!(plane.leader(), Some(0));
        assert_eq!(plane.election.component(Component::KubeScheduler).leader_changes, 1);
    }

    #[test]
    fn a_leader_that_cannot_renew_stops_at_its_renew_deadline() {
        let mut plane = Plane::new(1);
        plane.run_until(Millis(4_000));
        let old = plane.replica(0).identity.clone();
        plane.messages();
        plane.election.isolate(Component::KubeScheduler, 0, true);
        let (at, leader) = plane.run_until_leader_changes(Millis(60_000));
        // Last renewed at 4 s: it stops at 14 s, not a tick later.
        assert_eq!((at, leader), (Millis(14_000), None));
        assert_eq!(plane.messages(), [format!("lease/kube-scheduler {old} stopped leading")]);
        // Its process restarts under a new identity, as upstream's exits on losing the lease.
        assert_ne!(plane.replica(0).identity, old);
        let gap_open = plane.election.component(Component::KubeScheduler).leaderless_since;
        assert_eq!(gap_open, Some(Millis(14_000)));
    }

    #[test]
    fn a_standby_takes_over_only_after_lease_duration_and_counts_the_transition() {
        let mut plane = Plane::new(3);
        plane.run_until(Millis(4_000));
        assert_eq!(plane.leader(), Some(0));
        plane.messages();
        // The leader's last renewal was at 4 s; it crashes at 4.01 s.
        let knocked = plane.election.knock_leader(Component::KubeScheduler, plane.now);
        assert_eq!(knocked.as_deref(), Some(plane.replica(0).identity.as_str()));
        assert_eq!(plane.leader(), None);
        let (at, leader) = plane.run_until_leader_changes(Millis(60_000));
        // The standbys last saw the record change at 4 s: 15 s later, the first to retry takes it.
        assert_eq!((at, leader), (Millis(20_000), Some(1)));
        let lease = plane.lease();
        assert_eq!(lease.holder_identity.as_deref(), Some(plane.replica(1).identity.as_str()));
        assert_eq!(lease.lease_transitions, Some(1));
        assert_eq!(lease.acquire_time.as_deref(), Some("2026-01-01T00:00:20.000000Z"));
        let elected = plane.election.component(Component::KubeScheduler);
        assert_eq!(elected.leader_changes, 2);
        assert_eq!(elected.longest_gap, Millis(20_000 - 4_010));
        assert_eq!(plane.messages(), [format!("lease/kube-scheduler {} became leader", plane.replica(1).identity)]);
    }

    #[test]
    fn a_restored_replica_comes_back_as_a_standby_with_a_new_identity() {
        let mut plane = Plane::new(2);
        plane.run_until(Millis(1_000));
        let old = plane.replica(0).identity.clone();
        plane.election.knock_leader(Component::KubeScheduler, plane.now);
        assert_eq!(plane.election.restore(Component::KubeScheduler, plane.now), 1);
        assert!(plane.replica(0).alive);
        assert_ne!(plane.replica(0).identity, old);
        // Neither it (a new identity) nor the other standby may take the lease before it expires.
        let (at, leader) = plane.run_until_leader_changes(Millis(60_000));
        assert_eq!(at, Millis(16_000));
        assert!(leader.is_some());
    }

    #[test]
    fn replicas_out_of_range_are_refused_with_the_flag_named() {
        for bad in [0, MAX_REPLICAS + 1] {
            let err = LeaderElection::new(1, bad).unwrap_err();
            assert!(err.to_string().starts_with("--control-plane-replicas must be between 1 and 9"), "{err}");
        }
        assert_eq!("kube-scheduler".parse::<Component>(), Ok(Component::KubeScheduler));
        assert!("kube-proxy".parse::<Component>().unwrap_err().contains("kube-controller-manager"));
    }
}

#[cfg(test)]
mod gating {
    use super::*;
    use crate::cluster::Cluster;
    use crate::cluster::objects::{Deployment, Pod};
    use crate::cluster::tests::lane;

    fn bound_and_total(cluster: &crate::cluster::Cluster) -> (usize, usize) {
        let pods: Vec<&Pod> = cluster.store.list::<Pod>().collect();
        (pods.iter().filter(|p| p.node_name().is_some()).count(), pods.len())
    }

    /// Steps every tick for `span` from `now`, checking `during` after each step.
    fn run(cluster: &mut Cluster, now: &mut Millis, span: Millis, during: impl Fn(&Cluster, Millis)) {
        let until = *now + span;
        while *now < until {
            cluster.step(*now).unwrap();
            during(cluster, *now);
            *now = *now + Millis(10);
        }
    }

    #[test]
    fn without_a_leader_nothing_is_reconciled_or_scheduled_until_a_standby_leads() {
        let mut cluster = lane(3, 6);
        cluster.set_control_plane_replicas(1, 2).unwrap();
        let mut now = Millis::ZERO;
        run(&mut cluster, &mut now, Millis(1_000), |_, _| {});
        assert_eq!(bound_and_total(&cluster), (6, 6));
        let key = ObjectKey::of(&cluster.store.list::<Deployment>().next().unwrap().metadata);
        let replicas = cluster.store.get::<Deployment>(&key).unwrap().spec.replicas.unwrap_or(1);
        // A standby takes over 750 ms after it last saw a renewal (at most 100 ms before).
        let wait = cluster.timing.lease_duration.saturating_sub(cluster.timing.retry_period);

        // The scheduler's leader crashes: the new pods are made but stay Pending.
        assert_eq!(cluster.knock_leader(&[Component::KubeScheduler], now).len(), 1);
        cluster.scale(&key, replicas + 2).unwrap();
        run(&mut cluster, &mut now, wait, |c, at| {
            assert_eq!(bound_and_total(c).0, 6, "nothing scheduled at {at}");
        });
        assert_eq!(bound_and_total(&cluster), (6, 8));
        run(&mut cluster, &mut now, Millis(500), |_, _| {});
        assert!(cluster.leader_election.is_led(Component::KubeScheduler));
        assert_eq!(bound_and_total(&cluster), (8, 8));

        // The controller manager's leader crashes: a scale-up makes no pods until a standby leads.
        assert_eq!(cluster.knock_leader(&[Component::KubeControllerManager], now).len(), 1);
        cluster.scale(&key, replicas + 4).unwrap();
        run(&mut cluster, &mut now, wait, |c, at| {
            assert_eq!(bound_and_total(c), (8, 8), "nothing reconciled at {at}");
        });
        run(&mut cluster, &mut now, Millis(500), |_, _| {});
        assert_eq!(bound_and_total(&cluster), (10, 10));
    }
}
