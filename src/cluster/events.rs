//! The event recorder: every component reports what it did as a `core/v1` Event, the way
//! client-go's `EventRecorder` does, and the world's event log (and its digest) is built from them.
//!
//! Stored Events go through client-go's event correlator (`tools/record/events_cache.go`): the
//! same event again bumps `count` and `lastTimestamp` on the existing object; more than a few
//! distinct messages for one object, reason and source within the aggregation window combine
//! into one event ("(combined from similar events): ..."); and events expire a TTL after their
//! last write, as the API server's event TTL does, so memory is bounded at any cluster size.
//! The world's log (the records drained by [`EventRecorder::drain`]) keeps every report as
//! made: it is what the components said, not what the store kept.
//!
//! As client-go's broadcaster does, the recorder writes to the store later, not while the
//! component reports: reports queue (the same event again within the queue only counts up)
//! and [`EventRecorder::flush`] writes them once the first has waited [`FLUSH_INTERVAL`]. A
//! burst beyond the store's cap then never writes the events the cap would evict in the same
//! flush: a 150,000-pod start-up writes tens of thousands of Events, not a million.

use super::LookupMap;
use super::objects::{Event, EventSource, Kind, ObjectMeta, ObjectReference};
use super::store::{ObjectKey, Store, StoreError};
use super::timing::Timing;
use crate::clock::Millis;
use compact_str::CompactString;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

/// Events kept in the store at most, whatever the TTL: the oldest-written go first.
const MAX_STORED_EVENTS: usize = 2_000;
/// Distinct events waiting at most before the cluster flushes them (within a busy instant too),
/// so the queue of a start-up burst stays small; a flush of this many skips all but the last
/// [`MAX_STORED_EVENTS`] new ones.
pub const MAX_QUEUED_EVENTS: usize = 16 * MAX_STORED_EVENTS;
/// How long a report waits before it is written (game time): short enough that `kubectl get
/// events` never seems to lag, long enough that a start-up's reports are written in a few big
/// flushes (each skips what the cap would evict), not one per busy instant.
pub const FLUSH_INTERVAL: Millis = Millis(250);
/// Upstream's `defaultAggregateMaxEvents`: the distinct messages at which similar events combine.
const AGGREGATE_MAX_EVENTS: usize = 10;
/// Upstream's `maxLruCacheEntries`: similar groups remembered at most, least recently used
/// forgotten first. Without it a start-up burst keeps a group per pod and reason.
const MAX_SIMILAR_GROUPS: usize = 4096;
/// Upstream's prefix for a combined event's message.
const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// One line of the event log: what `kubectl get events` shows, plus the game time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub at: Millis,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub reason: &'static str,
    /// `pod/web-7d9f-x2b4c`, `node/pin-3`, as kubectl names objects.
    pub object: String,
    pub message: String,
    pub component: &'static str,
}

/// What makes events "similar" (upstream's `EventAggregatorByReasonFunc` key): everything but
/// the message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct SimilarKey {
    component: &'static str,
    kind: &'static str,
    namespace: CompactString,
    name: CompactString,
    uid: CompactString,
    type_: &'static str,
    reason: &'static str,
}

/// A [`SimilarKey`] borrowed from the report being made: a known group is found without
/// building (and allocating) the owned key, which a ReplicaSet's 30,000 SuccessfulCreate
/// reports would otherwise do 30,000 times. Hashes exactly as the owned key does (same fields,
/// same order; a `CompactString` hashes as its `str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SimilarRef<'a> {
    component: &'static str,
    kind: &'static str,
    namespace: &'a str,
    name: &'a str,
    uid: &'a str,
    type_: &'static str,
    reason: &'static str,
}

impl SimilarRef<'_> {
    fn to_owned_key(self) -> SimilarKey {
        SimilarKey {
            component: self.component,
            kind: self.kind,
            namespace: self.namespace.into(),
            name: self.name.into(),
            uid: self.uid.into(),
            type_: self.type_,
            reason: self.reason,
        }
    }
}

impl SimilarKey {
    /// The borrowed view, which is what a probe compares with.
    fn view(&self) -> SimilarRef<'_> {
        SimilarRef {
            component: self.component,
            kind: self.kind,
            namespace: &self.namespace,
            name: &self.name,
            uid: &self.uid,
            type_: self.type_,
            reason: self.reason,
        }
    }
}

impl hashbrown::Equivalent<Hashed<Arc<SimilarKey>>> for Hashed<SimilarRef<'_>> {
    fn equivalent(&self, known: &Hashed<Arc<SimilarKey>>) -> bool {
        self.hash == known.hash && self.key == known.key.view()
    }
}

/// What makes an event "the same event again" (upstream's `getEventKey`): the similar key plus
/// the message, or no message for the combined event of its similar group.
/// Shared, not cloned: one group's key sits in several indexes, and a message in its group's
/// set and in the keys of the events that said it.
type EventKey = Hashed<(Arc<SimilarKey>, Option<Arc<str>>)>;

/// A key behind its 64-bit hash, computed once: the lookup maps hash only that integer, and
/// compare the full key only where the hashes match (once, on a hit; a collision still compares
/// correctly). Nothing iterates these maps, so their order is never seen.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hashed<K> {
    hash: u64,
    key: K,
}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl<K: Hash> Hashed<K> {
    fn new(key: K) -> Hashed<K> {
        Hashed { hash: hash_of(&key), key }
    }
}

/// A fixed seed: the same hashes every run.
fn hash_of(key: &impl Hash) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

impl Hashed<Arc<SimilarKey>> {
    /// The key of one event of this group: its hash built on the group's (the similar key is
    /// not hashed again for every event).
    fn event(&self, message: Option<Arc<str>>) -> EventKey {
        let hash = hash_of(&(self.hash, message.as_deref()));
        Hashed { hash, key: (Arc::clone(&self.key), message) }
    }
}

/// The distinct messages seen lately for one similar group (upstream's `aggregateRecord`).
#[derive(Debug, Clone, Default)]
struct SimilarGroup {
    /// Sorted, and fewer than [`AGGREGATE_MAX_EVENTS`]: a binary search, no tree nodes.
    messages: Vec<Arc<str>>,
    /// Its place in the use order ([`EventRecorder::similar_by_use`]).
    last_use: u64,
}

/// A report waiting to be written: the same event again while it waits only counts up.
#[derive(Debug, Clone)]
struct Queued {
    key: EventKey,
    /// The message to store: the last one said (a combined event's changes as it goes).
    message: Arc<str>,
    api_version: &'static str,
    first: Millis,
    last: Millis,
    count: i32,
}

/// A stored Event this recorder wrote, under the number in its name.
#[derive(Debug, Clone)]
struct StoredEvent {
    key: ObjectKey,
    correlation: EventKey,
    expires: Millis,
}

#[derive(Debug, Clone)]
pub struct EventRecorder {
    /// Records not yet drained by the world.
    pending: VecDeque<EventRecord>,
    /// Reports not yet written to the store, in the order made.
    queue: Vec<Queued>,
    /// Where each event waits in `queue`, so saying it again counts up.
    queued_at: LookupMap<EventKey, usize>,
    /// When the queue is to be written: [`FLUSH_INTERVAL`] after its first report.
    flush_at: Option<Millis>,
    /// The same event again → the number of the stored Event it bumps.
    observed: LookupMap<EventKey, u64>,
    /// Stored Events by the number they were created under (the reverse index, so expiry and
    /// eviction are integer lookups, not scans or name compares).
    stored: LookupMap<u64, StoredEvent>,
    /// Stored Events by expiry, oldest first (ties: the first created).
    expiry: BTreeSet<(Millis, u64)>,
    /// Found by a borrowed key ([`SimilarRef`]), hence hashbrown's map rather than std's.
    similar: hashbrown::HashMap<Hashed<Arc<SimilarKey>>, SimilarGroup, foldhash::fast::FixedState>,
    /// Similar groups in the order of their last use, least recent first, as upstream's LRU
    /// cache keeps them; each with when it was used, so groups idle past the window are dropped
    /// in order, and its hash to find it again.
    similar_by_use: BTreeMap<u64, (Millis, Hashed<Arc<SimilarKey>>)>,
    /// Numbers the uses of similar groups.
    uses: u64,
    /// How long an Event lives after its last write (upstream's `--event-ttl`, 1 h).
    ttl: Millis,
    /// How far back similar events count towards combining (upstream: 10 min).
    similar_window: Millis,
    counter: u64,
}

impl Default for EventRecorder {
    fn default() -> EventRecorder {
        EventRecorder::new(&Timing::preset(super::timing::Preset::Kubernetes))
    }
}

impl EventRecorder {
    /// A recorder whose TTL and aggregation window scale with the timing preset as the other
    /// timings do (upstream's 1 h and 10 min are 360 and 60 lease-renewal periods).
    pub fn new(timing: &Timing) -> EventRecorder {
        EventRecorder {
            pending: VecDeque::new(),
            queue: Vec::new(),
            queued_at: LookupMap::default(),
            flush_at: None,
            observed: LookupMap::default(),
            stored: LookupMap::default(),
            expiry: BTreeSet::new(),
            similar: hashbrown::HashMap::default(),
            similar_by_use: BTreeMap::new(),
            uses: 0,
            ttl: Millis(timing.heartbeat.0 * 360),
            similar_window: Millis(timing.heartbeat.0 * 60),
            counter: 0,
        }
    }

    /// Follows a change of timing preset (events already stored keep their expiry).
    pub fn set_timing(&mut self, timing: &Timing) {
        let fresh = EventRecorder::new(timing);
        self.ttl = fresh.ttl;
        self.similar_window = fresh.similar_window;
    }

    /// How long a stored Event lives after its last write.
    pub fn ttl(&self) -> Millis {
        self.ttl
    }

    /// Reports what a component did: into the log at once, into the store at the next
    /// [`EventRecorder::flush`].
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        now: Millis,
        kind: Kind,
        involved: &ObjectMeta,
        type_: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        let type_meta = (kind.name(), kind.api_version());
        self.record_as(now, type_meta, involved, type_, reason, message, component);
    }

    /// [`EventRecorder::record`] for an object whose kind is not a built-in one (a custom
    /// object: `("Roll", "pinsetter.dev/v1alpha1")`), so its Events name its own kind, as
    /// `kubectl describe` looks them up.
    #[allow(clippy::too_many_arguments)]
    pub fn record_as(
        &mut self,
        now: Millis,
        (kind, api_version): (&'static str, &'static str),
        involved: &ObjectMeta,
        type_: &'static str,
        reason: &'static str,
        message: String,
        component: &'static str,
    ) {
        // `pod/web-1`, as kubectl names objects: built in one allocation (this runs for every
        // event of a 150,000-pod start-up).
        let mut object = String::with_capacity(kind.len() + 1 + involved.name.len());
        object.push_str(kind);
        // Kinds are ASCII identifiers (upstream's validation), so this is their lowercase.
        object.make_ascii_lowercase();
        object.push('/');
        object.push_str(&involved.name);

        // Node events use the node's name as uid: `kubectl describe node` looks them up that way.
        let uid = if kind == Kind::Node.name() { &involved.name } else { &involved.uid };
        let similar = SimilarRef {
            component,
            kind,
            namespace: involved.namespace.as_deref().unwrap_or_default(),
            name: &involved.name,
            uid,
            type_,
            reason,
        };
        let (event_key, stored_message) = self.aggregate(similar, &message, now);
        self.pending.push_back(EventRecord { at: now, type_, reason, object, message, component });

        match self.queued_at.get(&event_key) {
            Some(&at) => {
                let queued = &mut self.queue[at];
                queued.count += 1;
                queued.last = now;
                queued.message = stored_message;
            }
            None => {
                self.flush_at.get_or_insert(now + FLUSH_INTERVAL);
                self.queued_at.insert(event_key.clone(), self.queue.len());
                let queued =
                    Queued { key: event_key, message: stored_message, api_version, first: now, last: now, count: 1 };
                self.queue.push(queued);
            }
        }
    }

    /// Reports waiting to be written.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// When the waiting reports are due to be written (none: nothing waits).
    pub fn flush_deadline(&self) -> Option<Millis> {
        self.flush_at
    }

    /// Writes the queued reports to the store: the same event again bumps `count` and
    /// `lastTimestamp` of the stored one, a new one is created, and past the cap the
    /// oldest-written go. New events the cap would evict in this same flush (the first of a
    /// burst of more than [`MAX_STORED_EVENTS`]) are not written at all.
    pub fn flush(&mut self, store: &mut Store) {
        if self.queue.is_empty() {
            return;
        }
        self.queued_at.clear();
        self.flush_at = None;
        let mut queue = std::mem::take(&mut self.queue);
        let new = queue.iter().filter(|q| !self.observed.contains_key(&q.key)).count();
        let mut unwritten = new.saturating_sub(MAX_STORED_EVENTS);
        for queued in queue.drain(..) {
            if let Some(&number) = self.observed.get(&queued.key)
                && let Some(stored) = self.stored.get(&number)
            {
                let stamp = store.epoch().stamp_compact(queued.last);
                match store.modify::<Event>(&stored.key, |e| {
                    e.count += queued.count;
                    e.last_timestamp = Some(stamp);
                    if *e.message != *queued.message {
                        e.message = queued.message.to_string();
                    }
                }) {
                    Ok(_) => {
                        self.set_expiry(number, queued.last + self.ttl);
                        continue;
                    }
                    // Deleted behind our back (kubectl delete event): start a new one.
                    Err(_) => {
                        self.forget(number);
                    }
                }
            }
            if unwritten > 0 {
                unwritten -= 1;
                continue;
            }
            self.create(store, queued);
        }
        self.queue = queue;
        while self.stored.len() > MAX_STORED_EVENTS {
            let Some(&(_, oldest)) = self.expiry.first() else { break };
            self.delete(store, oldest);
        }
    }

    fn create(&mut self, store: &mut Store, queued: Queued) {
        self.counter += 1;
        let (similar, _) = &queued.key.key;
        let namespace = if similar.namespace.is_empty() { "default" } else { similar.namespace.as_str() };
        // The static names point at their text (`const_new`): an Event allocates only what
        // is its own.
        let event = Event {
            metadata: ObjectMeta::namespaced(namespace, format!("{}.{:016x}", similar.name, self.counter)),
            involved_object: ObjectReference {
                kind: CompactString::const_new(similar.kind),
                namespace: similar.namespace.clone(),
                name: similar.name.clone(),
                uid: similar.uid.to_string(),
                api_version: CompactString::const_new(queued.api_version),
                extra: Default::default(),
            },
            reason: CompactString::const_new(similar.reason),
            message: queued.message.to_string(),
            type_: CompactString::const_new(similar.type_),
            count: queued.count,
            first_timestamp: Some(store.epoch().stamp_compact(queued.first)),
            last_timestamp: Some(store.epoch().stamp_compact(queued.last)),
            source: EventSource {
                component: CompactString::const_new(similar.component),
                host: CompactString::default(),
            },
            reporting_component: CompactString::const_new(similar.component),
            ..Default::default()
        };
        // An event that cannot be stored (an invalid involved name) is still in the log.
        if let Ok(created) = store.create(event, queued.last) {
            let number = self.counter;
            let expires = queued.last + self.ttl;
            self.observed.insert(queued.key.clone(), number);
            let key = ObjectKey::of(&created.metadata);
            self.stored.insert(number, StoredEvent { key, correlation: queued.key, expires });
            self.expiry.insert((expires, number));
        }
    }

    /// Upstream's `EventAggregate`: the key this event correlates under and the message it is
    /// stored with — its own, or combined once its group has seen enough distinct messages.
    fn aggregate(&mut self, similar: SimilarRef<'_>, message: &str, now: Millis) -> (EventKey, Arc<str>) {
        // Groups idle longer than the window start afresh (and are dropped to bound memory).
        while let Some((_, (last, _))) = self.similar_by_use.first_key_value()
            && now.saturating_sub(*last) > self.similar_window
        {
            if let Some((_, (_, group))) = self.similar_by_use.pop_first() {
                self.similar.remove(&group);
            }
        }
        let probe = Hashed::new(similar);
        let similar = match self.similar.get_key_value(&probe) {
            Some((known, _)) => known.clone(),
            None => Hashed { hash: probe.hash, key: Arc::new(probe.key.to_owned_key()) },
        };
        self.uses += 1;
        let group = self.similar.entry(similar.clone()).or_default();
        // Used now: it moves to the back of the LRU order.
        if group.last_use != 0 {
            self.similar_by_use.remove(&group.last_use);
        }
        group.last_use = self.uses;
        let message: Arc<str> = match group.messages.binary_search_by(|known| (**known).cmp(message)) {
            Ok(at) => Arc::clone(&group.messages[at]),
            Err(at) => {
                let message: Arc<str> = Arc::from(message);
                group.messages.insert(at, Arc::clone(&message));
                message
            }
        };
        let combine = group.messages.len() >= AGGREGATE_MAX_EVENTS;
        if combine {
            // Keep the set below the bound, as upstream's `PopAny` does (here: the least).
            group.messages.remove(0);
        }
        self.similar_by_use.insert(self.uses, (now, similar.clone()));
        while self.similar.len() > MAX_SIMILAR_GROUPS {
            let Some((_, (_, group))) = self.similar_by_use.pop_first() else { break };
            self.similar.remove(&group);
        }
        if combine {
            (similar.event(None), Arc::from(format!("{COMBINED_PREFIX}{message}")))
        } else {
            (similar.event(Some(Arc::clone(&message))), message)
        }
    }

    /// Deletes stored Events whose TTL has run out (the API server's event TTL).
    pub fn expire(&mut self, store: &mut Store, now: Millis) {
        while let Some(&(expires, number)) = self.expiry.first()
            && expires <= now
        {
            self.delete(store, number);
        }
    }

    fn delete(&mut self, store: &mut Store, number: u64) {
        let Some(key) = self.forget(number) else { return };
        // A delete fails only when the Event is already gone (deleted through the API).
        if let Err(err) = store.delete::<Event>(&key) {
            debug_assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
        }
    }

    /// Drops a stored Event from the indexes, giving back its key.
    fn forget(&mut self, number: u64) -> Option<ObjectKey> {
        let stored = self.stored.remove(&number)?;
        self.expiry.remove(&(stored.expires, number));
        if self.observed.get(&stored.correlation) == Some(&number) {
            self.observed.remove(&stored.correlation);
        }
        Some(stored.key)
    }

    fn set_expiry(&mut self, number: u64, expires: Millis) {
        if let Some(stored) = self.stored.get_mut(&number)
            && stored.expires != expires
        {
            self.expiry.remove(&(stored.expires, number));
            stored.expires = expires;
            self.expiry.insert((expires, number));
        }
    }

    pub fn drain(&mut self) -> impl Iterator<Item = EventRecord> + '_ {
        self.pending.drain(..)
    }

    /// Stored Events this recorder tracks (for tests and the UI's counts).
    pub fn stored_len(&self) -> usize {
        self.stored.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::timing::Preset;

    fn setup() -> (Store, EventRecorder, ObjectMeta) {
        let store = Store::new(1);
        let recorder = EventRecorder::new(&Timing::preset(Preset::Arcade));
        let mut pod = ObjectMeta::namespaced("default", "web-abcde");
        pod.uid = "uid-1".into();
        (store, recorder, pod)
    }

    /// A scheduler's report, queued.
    fn report(recorder: &mut EventRecorder, at: u64, on: &ObjectMeta, message: &str) {
        recorder.record(Millis(at), Kind::Pod, on, "Warning", "FailedScheduling", message.into(), "default-scheduler");
    }

    /// A report written at once, as a step that reported only this would.
    fn record(store: &mut Store, recorder: &mut EventRecorder, at: u64, on: &ObjectMeta, message: &str) {
        report(recorder, at, on, message);
        recorder.flush(store);
    }

    /// A known group is found by the borrowed key only if both hash alike and compare equal.
    #[test]
    fn a_borrowed_similar_key_finds_its_group_and_no_other() {
        let probe = SimilarRef {
            component: "kubelet",
            kind: "Pod",
            namespace: "default",
            name: "web-1",
            uid: "0a1b2c3d-0000-4000-8000-00000000000a",
            type_: "Normal",
            reason: "Started",
        };
        let owned = Hashed::new(Arc::new(probe.to_owned_key()));
        assert_eq!(Hashed::new(probe).hash, owned.hash, "the borrowed key hashes as the owned one");
        let mut groups: hashbrown::HashMap<_, _, foldhash::fast::FixedState> = hashbrown::HashMap::default();
        groups.insert(owned, 7);
        assert_eq!(groups.get(&Hashed::new(probe)), Some(&7));
        for other in [SimilarRef { uid: "another", ..probe }, SimilarRef { reason: "Created", ..probe }] {
            assert_eq!(groups.get(&Hashed::new(other)), None, "{other:?}");
        }
    }

    #[test]
    fn reports_wait_for_the_flush_and_repeats_in_the_queue_count_up() {
        let (mut store, mut recorder, pod) = setup();
        for at in [0, 100, 200] {
            report(&mut recorder, at, &pod, "full");
        }
        assert_eq!(store.len::<Event>(), 0, "nothing is written before the flush");
        assert_eq!(recorder.queued(), 1);
        recorder.flush(&mut store);
        let events: Vec<&Event> = store.list::<Event>().collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].count, 3);
        assert_eq!(events[0].first_timestamp, Some(crate::clock::Epoch::default().stamp(Millis(0)).into()));
        assert_eq!(events[0].last_timestamp, Some(crate::clock::Epoch::default().stamp(Millis(200)).into()));
        assert_eq!(recorder.queued(), 0);
        // Said again after the flush: the stored one counts up.
        record(&mut store, &mut recorder, 300, &pod, "full");
        assert_eq!(store.list::<Event>().map(|e| e.count).collect::<Vec<_>>(), [4]);
        assert_eq!(recorder.drain().count(), 4, "the log keeps every report");
    }

    #[test]
    fn a_burst_past_the_cap_writes_only_what_survives_it() {
        let (mut store, mut recorder, mut pod) = setup();
        for i in 0..MAX_STORED_EVENTS + 10 {
            pod.name = format!("pod-{i}");
            pod.uid = format!("uid-{i}");
            recorder.record(Millis(0), Kind::Pod, &pod, "Normal", "Scheduled", "bound".into(), "default-scheduler");
        }
        let before = store.resource_version();
        recorder.flush(&mut store);
        assert_eq!(store.len::<Event>(), MAX_STORED_EVENTS);
        assert_eq!(recorder.stored_len(), MAX_STORED_EVENTS);
        assert_eq!(store.resource_version() - before, MAX_STORED_EVENTS as u64, "one write per kept event");
        let names: BTreeSet<&str> = store.list::<Event>().map(|e| e.involved_object.name.as_str()).collect();
        assert!(!names.contains("pod-9") && names.contains("pod-10"), "the first of the burst went unwritten");
        assert_eq!(recorder.drain().count(), MAX_STORED_EVENTS + 10, "the log keeps every report");
    }

    #[test]
    fn similar_groups_are_bounded_as_upstreams_lru_cache() {
        let (mut store, mut recorder, pod) = setup();
        for i in 0..MAX_SIMILAR_GROUPS + 50 {
            let mut other = pod.clone();
            other.name = format!("web-{i}");
            other.uid = format!("uid-{i}");
            record(&mut store, &mut recorder, i as u64, &other, "0/3 nodes are available");
        }
        assert_eq!(recorder.similar.len(), MAX_SIMILAR_GROUPS);
        assert!(!recorder.similar.keys().any(|k| k.key.name == "web-49"), "the least recently used went first");
        assert_eq!(recorder.similar_by_use.len(), MAX_SIMILAR_GROUPS);
        // The most recent group is the one kept.
        assert!(recorder.similar.keys().any(|k| k.key.name == format!("web-{}", MAX_SIMILAR_GROUPS + 49)));
    }

    #[test]
    fn groups_used_at_the_same_instant_are_evicted_least_recently_used_first() {
        // Upstream's LRU cache orders by use, not by time or key: of groups used in one
        // instant, the first used goes first, and using one again moves it to the back.
        let (mut store, mut recorder, pod) = setup();
        let named = |i: usize| {
            let mut other = pod.clone();
            other.name = format!("web-{i:05}");
            other.uid = format!("uid-{i}");
            other
        };
        for i in (0..MAX_SIMILAR_GROUPS).rev() {
            record(&mut store, &mut recorder, 0, &named(i), "0/3 nodes are available");
        }
        // The first used (the greatest key) is used again, at the same instant.
        record(&mut store, &mut recorder, 0, &named(MAX_SIMILAR_GROUPS - 1), "0/3 nodes are available");
        let mut last = pod.clone();
        last.name = "web-last".into();
        record(&mut store, &mut recorder, 1, &last, "0/3 nodes are available");
        let names: BTreeSet<&str> = recorder.similar.keys().map(|k| k.key.name.as_str()).collect();
        let second_used = format!("web-{:05}", MAX_SIMILAR_GROUPS - 2);
        assert!(!names.contains(second_used.as_str()), "the least recently used went first");
        assert!(names.contains(format!("web-{:05}", MAX_SIMILAR_GROUPS - 1).as_str()), "used again: kept");
        assert!(names.contains("web-00000") && names.contains("web-last"));
        assert_eq!(recorder.similar_by_use.len(), MAX_SIMILAR_GROUPS);
    }

    #[test]
    fn the_same_event_again_bumps_count_and_last_timestamp() {
        let (mut store, mut recorder, pod) = setup();
        for at in [0, 100, 200] {
            record(&mut store, &mut recorder, at, &pod, "0/3 nodes are available");
        }
        let events: Vec<&Event> = store.list::<Event>().collect();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].count, 3);
        assert_eq!(events[0].first_timestamp, Some(crate::clock::Epoch::default().stamp(Millis(0)).into()));
        assert_eq!(events[0].last_timestamp, Some(crate::clock::Epoch::default().stamp(Millis(200)).into()));
        // The world's log keeps every report.
        assert_eq!(recorder.drain().count(), 3);
    }

    #[test]
    fn similar_events_combine_from_the_tenth_distinct_message() {
        let (mut store, mut recorder, pod) = setup();
        for i in 0..12 {
            record(&mut store, &mut recorder, i, &pod, &format!("message {i:02}"));
        }
        let messages: Vec<(String, i32)> = store.list::<Event>().map(|e| (e.message.clone(), e.count)).collect();
        assert_eq!(messages.len(), 10, "{messages:?}");
        let combined: Vec<&(String, i32)> =
            messages.iter().filter(|(m, _)| m.starts_with("(combined from similar events): ")).collect();
        assert_eq!(combined, [&("(combined from similar events): message 11".to_string(), 3)]);
        // Another object's events are not similar to these.
        let mut other = pod.clone();
        other.name = "web-fghij".into();
        other.uid = "uid-2".into();
        record(&mut store, &mut recorder, 20, &other, "message 99");
        assert!(store.list::<Event>().any(|e| e.message == "message 99"));
    }

    #[test]
    fn events_expire_a_ttl_after_their_last_write_and_the_indexes_follow() {
        let (mut store, mut recorder, pod) = setup();
        let ttl = recorder.ttl();
        record(&mut store, &mut recorder, 0, &pod, "first");
        record(&mut store, &mut recorder, 1_000, &pod, "second");
        record(&mut store, &mut recorder, ttl.0, &pod, "second");
        recorder.expire(&mut store, Millis(ttl.0 + 1));
        let left: Vec<&str> = store.list::<Event>().map(|e| e.message.as_str()).collect();
        assert_eq!(left, ["second"]);
        assert_eq!(recorder.stored_len(), 1);
        // An expired event said again is a new object with count 1.
        record(&mut store, &mut recorder, ttl.0 + 2, &pod, "first");
        let first = store.list::<Event>().find(|e| e.message == "first").unwrap();
        assert_eq!(first.count, 1);
        assert_eq!(first.first_timestamp, Some(crate::clock::Epoch::default().stamp(Millis(ttl.0 + 2)).into()));
    }

    #[test]
    fn stored_events_are_capped_oldest_written_first() {
        let (mut store, mut recorder, mut pod) = setup();
        for i in 0..MAX_STORED_EVENTS + 10 {
            pod.name = format!("pod-{i}");
            pod.uid = format!("uid-{i}");
            record(&mut store, &mut recorder, 0, &pod, "again");
        }
        assert_eq!(store.len::<Event>(), MAX_STORED_EVENTS);
        assert_eq!(recorder.stored_len(), MAX_STORED_EVENTS);
        assert!(!store.list::<Event>().any(|e| e.involved_object.name == "pod-0"));
    }
}
