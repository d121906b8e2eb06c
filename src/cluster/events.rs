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
use std::collections::{BTreeSet, VecDeque};
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
/// reports would otherwise do 30,000 times. A group is stored under this view's hash.
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

/// One similar group and the distinct messages seen lately for it (upstream's `aggregateRecord`).
#[derive(Debug, Clone)]
struct SimilarGroup {
    key: Hashed<Arc<SimilarKey>>,
    /// Sorted, and fewer than [`AGGREGATE_MAX_EVENTS`]: a binary search, no tree nodes.
    messages: Vec<Arc<str>>,
    /// The number of its last use: its place in [`EventRecorder::use_order`].
    last_use: u64,
}

/// One use of a similar group, in [`EventRecorder::use_order`].
#[derive(Debug, Clone, Copy)]
struct Use {
    number: u64,
    at: Millis,
    /// The group's hash: with `number`, what finds it again.
    hash: u64,
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
    /// Similar groups by their key's hash: found by a borrowed key ([`SimilarRef`]) or, to drop
    /// one, by its use number, so no second copy of a key is kept anywhere.
    similar: hashbrown::HashTable<SimilarGroup>,
    /// Every use of a similar group, least recent first, as upstream's LRU cache orders them:
    /// (use number, when, the group's hash). A group used again leaves its earlier entries
    /// behind, stale (its `last_use` is later): they are skipped when met, and swept out when
    /// they outnumber the live ones. A start-up makes a group per pod and reason, so this is
    /// a push and a pop per report where an ordered map would allocate and rebalance.
    use_order: VecDeque<Use>,
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
            similar: hashbrown::HashTable::new(),
            use_order: VecDeque::new(),
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
        // Uses are in time order, so the idle ones are at the front.
        while let Some(&Use { at, .. }) = self.use_order.front()
            && now.saturating_sub(at) > self.similar_window
        {
            if let Some(used) = self.use_order.pop_front() {
                self.drop_group_last_used(used);
            }
        }
        self.uses += 1;
        let number = self.uses;
        let hash = hash_of(&similar);
        let group = match self.similar.find_mut(hash, |g| g.key.hash == hash && g.key.key.view() == similar) {
            Some(group) => group,
            None => {
                let group = SimilarGroup {
                    key: Hashed { hash, key: Arc::new(similar.to_owned_key()) },
                    messages: Vec::new(),
                    last_use: number,
                };
                self.similar.insert_unique(hash, group, |g| g.key.hash).into_mut()
            }
        };
        // Used now: it moves to the back of the LRU order.
        group.last_use = number;
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
        let event = if combine {
            (group.key.event(None), Arc::from(format!("{COMBINED_PREFIX}{message}")))
        } else {
            (group.key.event(Some(Arc::clone(&message))), message)
        };
        self.use_order.push_back(Use { number, at: now, hash });
        while self.similar.len() > MAX_SIMILAR_GROUPS {
            let Some(used) = self.use_order.pop_front() else { break };
            self.drop_group_last_used(used);
        }
        // Stale uses (of groups used again since) outnumber the live ones: sweep them out,
        // which keeps the order's length within twice the groups' however often one is used.
        if self.use_order.len() > 2 * self.similar.len() + 64 {
            let similar = &self.similar;
            self.use_order.retain(|used| similar.find(used.hash, |g| g.last_use == used.number).is_some());
        }
        event
    }

    /// Drops the group whose last use this was; a stale use (its group used again since, or
    /// already dropped) drops nothing.
    fn drop_group_last_used(&mut self, used: Use) {
        if let Ok(group) = self.similar.find_entry(used.hash, |g| g.last_use == used.number) {
            group.remove();
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

    /// A known group is found again by the borrowed key of a new report, and only by its own.
    #[test]
    fn a_borrowed_similar_key_finds_its_group_and_no_other() {
        let mut recorder = EventRecorder::new(&Timing::preset(Preset::Arcade));
        let probe = SimilarRef {
            component: "kubelet",
            kind: "Pod",
            namespace: "default",
            name: "web-1",
            uid: "0a1b2c3d-0000-4000-8000-00000000000a",
            type_: "Normal",
            reason: "Started",
        };
        let (first, _) = recorder.aggregate(probe, "Started container web", Millis(0));
        let (again, _) = recorder.aggregate(probe, "Started container web", Millis(1));
        assert_eq!(first, again, "the same report is the same event");
        assert_eq!(recorder.similar.len(), 1);
        for (at, other) in
            [SimilarRef { uid: "another", ..probe }, SimilarRef { reason: "Created", ..probe }].into_iter().enumerate()
        {
            let (key, _) = recorder.aggregate(other, "Started container web", Millis(2 + at as u64));
            assert_ne!(key, first, "{other:?}");
            assert_eq!(recorder.similar.len(), 2 + at, "{other:?} has a group of its own");
        }
        let group = recorder.similar.iter().find(|g| g.key.key.view() == probe).expect("the first group is kept");
        assert_eq!(group.messages.len(), 1);
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
        assert!(!recorder.similar.iter().any(|g| g.key.key.name == "web-49"), "the least recently used went first");
        assert!(recorder.similar.iter().any(|g| g.key.key.name == "web-50"));
        assert!(recorder.use_order.len() <= 2 * MAX_SIMILAR_GROUPS + 64, "the use order is bounded too");
        // The most recent group is the one kept.
        assert!(recorder.similar.iter().any(|g| g.key.key.name == format!("web-{}", MAX_SIMILAR_GROUPS + 49)));
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
        let names: BTreeSet<&str> = recorder.similar.iter().map(|g| g.key.key.name.as_str()).collect();
        let second_used = format!("web-{:05}", MAX_SIMILAR_GROUPS - 2);
        assert!(!names.contains(second_used.as_str()), "the least recently used went first");
        assert!(names.contains(format!("web-{:05}", MAX_SIMILAR_GROUPS - 1).as_str()), "used again: kept");
        assert!(names.contains("web-00000") && names.contains("web-last"));
        assert_eq!(names.len(), MAX_SIMILAR_GROUPS);
    }

    /// A group said again and again keeps one live place in the use order, and a group idle
    /// past the aggregation window starts afresh: its distinct messages are forgotten.
    #[test]
    fn a_busy_group_stays_small_and_an_idle_one_starts_afresh() {
        let (mut store, mut recorder, pod) = setup();
        for i in 0..10_000 {
            report(&mut recorder, i, &pod, &format!("message {}", i % 3));
        }
        recorder.flush(&mut store);
        assert_eq!(recorder.similar.len(), 1);
        assert!(recorder.use_order.len() <= 2 + 64, "{} uses kept for one group", recorder.use_order.len());
        assert_eq!(recorder.similar.iter().next().map(|g| g.messages.len()), Some(3));
        // Another group, used once past the window after the first's last use: the first goes.
        let mut other = pod.clone();
        other.name = "web-other".into();
        let later = 10_000 + recorder.similar_window.0 + 1;
        report(&mut recorder, later, &other, "message 0");
        let names: Vec<&str> = recorder.similar.iter().map(|g| g.key.key.name.as_str()).collect();
        assert_eq!(names, ["web-other"]);
        report(&mut recorder, later, &pod, "message 9");
        let first = recorder.similar.iter().find(|g| g.key.key.name == "web-abcde").expect("a new group");
        assert_eq!(first.messages.len(), 1, "the idle group's messages were forgotten");
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
