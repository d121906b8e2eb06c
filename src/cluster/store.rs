//! The versioned object store: the one write path for every change.
//!
//! Like etcd behind the API server: every write bumps a single `resourceVersion` counter and is
//! appended to a bounded change log. Controllers follow the log (as informers follow a watch);
//! a follower that falls out of the window must relist, as a watch gets `410 Gone`.

use super::objects::{FieldError, Kind, KindTables, Object, ObjectMeta, Pod, PodState, Resource, Shared, meta};
use crate::clock::Millis;
use compact_str::CompactString;
use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

mod table;
pub use table::Table;

/// Where an object lives: cluster-scoped kinds have an empty namespace.
///
/// Both parts are inline strings (up to 24 bytes, as `default` and `web-7d9f8c6b5d-x2b4c` are):
/// the store, the work queues and every index are ordered maps of these keys, so a lookup among
/// 150,000 pods compares bytes inside the map's own nodes instead of chasing a pointer per
/// comparison, and building or cloning a key allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: CompactString,
    pub name: CompactString,
}

impl ObjectKey {
    pub fn new(namespace: impl AsRef<str>, name: impl AsRef<str>) -> ObjectKey {
        ObjectKey { namespace: CompactString::new(namespace), name: CompactString::new(name) }
    }

    pub fn cluster(name: impl AsRef<str>) -> ObjectKey {
        ObjectKey::new("", name)
    }

    pub fn of(meta: &ObjectMeta) -> ObjectKey {
        ObjectKey::new(meta.namespace(), &meta.name)
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// A store failure, each with upstream's reason (the API layer maps them to HTTP codes).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// 404: nothing by that name.
    #[error("{resource} {name:?} not found")]
    NotFound { resource: String, name: String },
    /// 409: create of a name that exists.
    #[error("{resource} {name:?} already exists")]
    AlreadyExists { resource: String, name: String },
    /// 409: update with a stale `resourceVersion`.
    #[error(
        "Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"
    )]
    Conflict { resource: String, name: String },
    /// 422: the object breaks a validation rule; `causes` name the fields.
    #[error("{} {name:?} is invalid: {}", kind.qualified_kind(), causes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    Invalid { kind: Kind, name: String, causes: Vec<FieldError> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One entry of the change log: what a watcher sees.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource_version: u64,
    pub type_: ChangeType,
    pub object: Object,
}

/// A pod index by node name or owner uid: looked up by hash, never iterated (what it indexes
/// is ordered: a node's pods are a key-ordered set), so no order leaks from it. The scheduler's
/// snapshot reads every node's requests each cycle: 5,000 B-tree searches by name cost more than
/// the cycle's placement did.
type Index<V> = super::LookupMap<String, V>;

/// How many changes the log keeps: watchers further behind than this must relist.
pub const DEFAULT_LOG_CAPACITY: usize = 50_000;

#[derive(Debug, Clone)]
pub struct Store {
    /// One map per kind, as the kinds table (`objects.rs`) declares them.
    tables: KindTables,
    /// Pods by `spec.nodeName`: the kubelet's and the scheduler's view, kept on the write path.
    pods_by_node: Index<BTreeSet<ObjectKey>>,
    /// Pods by their controlling owner's uid: what a ReplicaSet reconcile reads.
    pods_by_owner: Index<BTreeSet<ObjectKey>>,
    /// Active and ready pod counts by controlling owner's uid, kept on the write path, so a
    /// ReplicaSet sync counts its pods without looking each one up by key.
    owned_counts: Index<OwnedPodCounts>,
    /// What the pods bound to each node request, and their priorities (finished pods aside),
    /// kept on the write path: the scheduler's snapshot reads it per node instead of summing
    /// every pod each cycle (upstream's scheduler cache keeps the same sums in its `NodeInfo`s).
    requested_by_node: Index<NodeResidentTotals>,
    /// Counts changes to any node's residents (see [`Store::residents_changes`]).
    residents_changes: u64,
    /// The nodes whose residents changed, each under the count that changed them, oldest
    /// first: a scheduling cycle re-reads only these nodes' requests instead of all 5,000
    /// (upstream's scheduler cache updates its NodeInfos from pod events the same way).
    /// Bounded: a reader further behind than it reaches reads everything again.
    residents_journal: VecDeque<(u64, CompactString)>,
    /// The newest count the journal no longer holds (0: it has dropped nothing).
    residents_journal_dropped: u64,
    /// Pods by state (`PodState as usize`), and the Pending ones by key: what the panel and the
    /// unscheduled list read every frame, without walking 150,000 pods.
    pods_by_state: [usize; POD_STATES],
    pending_pods: BTreeSet<ObjectKey>,
    /// The Pending pods with volumes: the cluster sheet looks among them for pods stuck by
    /// storage every frame, and after a strike 40,000 pods without volumes are Pending.
    pending_with_volumes: BTreeSet<ObjectKey>,
    resource_version: u64,
    /// Where this store's resourceVersions start (after it): see
    /// [`Store::start_resource_versions_after`].
    resource_version_base: u64,
    log: VecDeque<Change>,
    log_capacity: usize,
    /// Generated names and uids.
    rng: Xoshiro256PlusPlus,
    /// Events' uids: the recorder writes Events at its own pace (after a step, coalesced,
    /// capped), so how many it writes, and when, must not shift the names and uids of pods.
    event_rng: Xoshiro256PlusPlus,
    /// Where game time zero is in the timestamps written here (the World's, set at its start).
    epoch: crate::clock::Epoch,
    /// Recently written pod conditions and container statuses, handed to the next pod that
    /// writes equal ones.
    pod_list_memo: PodListMemo,
    /// The pod created last, as stored: the next create is checked against it (see
    /// [`Baseline::Sibling`]).
    last_pod_created: Option<Object>,
}

/// What a write is checked against.
enum Baseline<'a, R> {
    /// Nothing: a create, every rule checked.
    Nothing,
    /// The stored object of an update: its update rules apply, and what the update leaves
    /// unchanged passed when it was stored.
    Stored(&'a R),
    /// The pod created just before a create: what the two share (a ReplicaSet's burst shares
    /// its template's labels, containers and tolerations) passed the same checks, so only the
    /// rest is checked; no update rules.
    Sibling(&'a R),
}

/// Writes a resourceVersion into the copy's own (inline) string: every update writes one.
fn write_resource_version(into: &mut CompactString, rv: u64) {
    use std::fmt::Write;
    into.clear();
    if write!(into, "{rv}").is_err() {
        *into = rv.to_string().into();
    }
}

/// Upstream's alphabet for generated name suffixes: no vowels, no look-alikes.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Per-kind access to the store's maps, so the write path is written once, generically. The
/// impls come from the kinds table (`objects.rs`).
pub trait Stored: Resource + 'static {
    fn table(tables: &KindTables) -> &Table<Self>;
    fn table_mut(tables: &mut KindTables) -> &mut Table<Self>;
}

impl Store {
    /// A store whose random streams (names and uids; Events' uids) derive from `seed`.
    pub fn new(seed: u64) -> Store {
        Store::with_log_capacity(seed, DEFAULT_LOG_CAPACITY)
    }

    pub fn with_log_capacity(seed: u64, log_capacity: usize) -> Store {
        Store {
            tables: KindTables::default(),
            pods_by_node: Index::default(),
            pods_by_owner: Index::default(),
            owned_counts: Index::default(),
            requested_by_node: Index::default(),
            residents_changes: 0,
            residents_journal: VecDeque::new(),
            residents_journal_dropped: 0,
            pods_by_state: [0; POD_STATES],
            pending_pods: BTreeSet::new(),
            pending_with_volumes: BTreeSet::new(),
            resource_version: 0,
            resource_version_base: 0,
            log: VecDeque::new(),
            log_capacity: log_capacity.max(1),
            rng: crate::rng::stream(seed, "store"),
            event_rng: crate::rng::stream(seed, "store/events"),
            epoch: crate::clock::Epoch::default(),
            pod_list_memo: PodListMemo::default(),
            last_pod_created: None,
        }
    }

    /// Formats and parses this store's timestamps (`creationTimestamp` and every other).
    pub fn epoch(&self) -> crate::clock::Epoch {
        self.epoch
    }

    /// Sets where game time zero is; before the first write, so every timestamp agrees.
    pub fn set_epoch(&mut self, epoch: crate::clock::Epoch) {
        self.epoch = epoch;
    }

    /// Shrinks or grows the change log's window (tests use a small one to exercise relists).
    pub fn set_log_capacity(&mut self, capacity: usize) {
        self.log_capacity = capacity.max(1);
        while self.log.len() > self.log_capacity {
            self.log.pop_front();
        }
    }

    /// The store's current `resourceVersion`.
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn get<R: Stored>(&self, key: &ObjectKey) -> Option<&R> {
        R::table(&self.tables).get(key).map(Arc::as_ref)
    }

    /// One object as stored, shared: a reader that keeps it (a watch, a GET) copies nothing.
    pub fn get_shared<R: Stored>(&self, key: &ObjectKey) -> Option<&Arc<R>> {
        R::table(&self.tables).get(key)
    }

    pub fn list<R: Stored>(&self) -> impl DoubleEndedIterator<Item = &R> + ExactSizeIterator {
        R::table(&self.tables).values().map(Arc::as_ref)
    }

    /// Every object of a kind as stored, shared (see [`Store::get_shared`]).
    pub fn list_shared<R: Stored>(&self) -> impl DoubleEndedIterator<Item = &Arc<R>> + ExactSizeIterator {
        R::table(&self.tables).values()
    }

    /// The objects with keys in `range`, in key order (one custom resource's objects).
    pub fn range<R: Stored>(&self, range: std::ops::RangeInclusive<ObjectKey>) -> impl Iterator<Item = &R> {
        R::table(&self.tables).range(range).map(Arc::as_ref)
    }

    pub fn len<R: Stored>(&self) -> usize {
        R::table(&self.tables).len()
    }

    pub fn is_empty<R: Stored>(&self) -> bool {
        R::table(&self.tables).is_empty()
    }

    /// Pods bound to `node`, in key order.
    pub fn pods_on_node(&self, node: &str) -> impl Iterator<Item = &Pod> {
        self.shared_pods_on_node(node).map(Arc::as_ref)
    }

    /// The same, as the stored `Arc`s, for a caller that keeps them past its borrow.
    pub fn shared_pods_on_node(&self, node: &str) -> impl Iterator<Item = &Arc<Pod>> {
        self.pods_by_node.get(node).into_iter().flatten().filter_map(|k| Pod::table(&self.tables).get(k))
    }

    /// Pods whose controlling owner has this uid.
    pub fn pods_owned_by(&self, owner_uid: &str) -> impl Iterator<Item = &Pod> {
        self.pods_by_owner
            .get(owner_uid)
            .into_iter()
            .flatten()
            .filter_map(|k| Pod::table(&self.tables).get(k).map(Arc::as_ref))
    }

    /// How many pods are in `state` now.
    pub fn pods_in_state(&self, state: PodState) -> usize {
        self.pods_by_state[state as usize]
    }

    /// The Pending pods (not yet bound to a node), in key order.
    pub fn pending_pods(&self) -> impl Iterator<Item = &Pod> {
        self.pending_pods.iter().filter_map(|k| Pod::table(&self.tables).get(k).map(Arc::as_ref))
    }

    /// The Pending pods that have volumes, in key order.
    pub fn pending_pods_with_volumes(&self) -> impl Iterator<Item = &Pod> {
        self.pending_with_volumes.iter().filter_map(|k| Pod::table(&self.tables).get(k).map(Arc::as_ref))
    }

    /// What the pods bound to `node` request, finished pods aside.
    pub fn requested_on_node(&self, node: &str) -> NodeRequested {
        self.requested_by_node.get(node).map(|totals| totals.requested).unwrap_or_default()
    }

    /// The lowest priority among the pods bound to `node`, finished pods aside and terminating
    /// ones counted (none: no pod is there).
    pub fn lowest_priority_on_node(&self, node: &str) -> Option<i32> {
        self.requested_by_node.get(node).and_then(|totals| totals.priorities.first()).map(|&(priority, _)| priority)
    }

    /// The count of changes to any node's residents so far: keep it to ask
    /// [`Store::nodes_changed_since`] later. Residents change in what the scheduler reads of
    /// them: which pods are bound there (finished pods aside), their requests, priority, or
    /// termination; status writes leave them alone.
    pub fn residents_changes(&self) -> u64 {
        self.residents_changes
    }

    /// The nodes whose residents (so perhaps their requests) changed after `count` (a
    /// [`Store::residents_changes`] answer), some more than once; `None` when that is too long
    /// ago to say (or is no count of this store's), and every node must be read again.
    pub fn nodes_changed_since(&self, count: u64) -> Option<impl Iterator<Item = &str>> {
        if count < self.residents_journal_dropped || count > self.residents_changes {
            return None;
        }
        let start = self.residents_journal.partition_point(|(at, _)| *at <= count);
        Some(self.residents_journal.range(start..).map(|(_, node)| node.as_str()))
    }

    /// How many pods controlled by this uid are active (not terminating, not finished), and how
    /// many of those are ready.
    pub fn owned_pod_counts(&self, owner_uid: &str) -> OwnedPodCounts {
        self.owned_counts.get(owner_uid).copied().unwrap_or_default()
    }

    /// Changes after `resource_version`, or `None` when the log no longer reaches back that far
    /// (the caller must relist, like a watch answered with 410 Gone).
    pub fn changes_since(&self, resource_version: u64) -> Option<impl Iterator<Item = &Change>> {
        let oldest = self.log.front().map_or(self.resource_version + 1, |c| c.resource_version);
        if resource_version + 1 < oldest && resource_version < self.resource_version {
            return None;
        }
        // Every write takes the next resourceVersion and appends once, so the log's versions
        // are consecutive and the follower's place is found by arithmetic (checked, with a
        // search to fall back on); a follower that is up to date costs nothing.
        let start = if resource_version >= self.resource_version {
            self.log.len()
        } else {
            let guess = usize::try_from((resource_version + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
            match self.log.get(guess) {
                Some(c) if c.resource_version == resource_version + 1 => guess,
                _ => self.log.partition_point(|c| c.resource_version <= resource_version),
            }
        };
        Some(self.log.range(start..))
    }

    /// A random lowercase suffix as upstream's `utilrand.String`.
    pub fn random_suffix(&mut self, len: usize) -> String {
        (0..len).map(|_| NAME_ALPHABET[self.rng.random_range(0..NAME_ALPHABET.len())] as char).collect()
    }

    /// A version-4 style uid (`8-4-4-4-12` hex digits, the third group starting with `4`),
    /// written into one allocation: every object created takes one.
    fn new_uid(rng: &mut Xoshiro256PlusPlus) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let random: u128 = rng.random();
        let mut uid = String::with_capacity(36);
        for digit in 0..32 {
            if matches!(digit, 8 | 12 | 16 | 20) {
                uid.push('-');
            }
            let nibble = if digit == 12 { 4 } else { (random >> (124 - 4 * digit)) & 0xf };
            uid.push(char::from(HEX[nibble as usize]));
        }
        uid
    }

    /// Every kind's metadata rules, then the kind's own (and an update's rules against the
    /// stored object).
    fn validate<R: Resource>(obj: &R, baseline: Baseline<'_, R>) -> Result<(), StoreError> {
        let mut causes = Vec::new();
        let m = obj.meta();
        // What a write shares with its baseline (its name; labels and annotations it still
        // shares) passed these checks when the baseline was stored.
        let old_meta = match baseline {
            Baseline::Stored(old) | Baseline::Sibling(old) => Some(old.meta()),
            Baseline::Nothing => None,
        };
        if old_meta.is_none_or(|o| o.name != m.name) {
            // RBAC names are path segments (`system:basic-user`), as upstream's `ValidateRBACName`.
            if R::KIND.group() == crate::cluster::objects::rbac::GROUP {
                crate::cluster::objects::rbac::validate_path_segment_name("metadata.name", &m.name, &mut causes);
            } else {
                meta::validate_dns_subdomain("metadata.name", &m.name, &mut causes);
            }
        }
        if old_meta.is_none_or(|o| !o.labels.same(&m.labels)) {
            meta::validate_labels("metadata.labels", &m.labels, &mut causes);
        }
        if old_meta.is_none_or(|o| !o.annotations.same(&m.annotations)) {
            meta::validate_annotations("metadata.annotations", &m.annotations, &mut causes);
        }
        // Upstream's order: the update rules (immutable fields), then the object's own.
        match baseline {
            Baseline::Stored(old) => {
                obj.validate_update(old, &mut causes);
                obj.validate_changed(old, &mut causes);
            }
            Baseline::Sibling(sibling) => obj.validate_changed(sibling, &mut causes),
            Baseline::Nothing => obj.validate(&mut causes),
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Invalid { kind: R::KIND, name: m.name.clone(), causes })
        }
    }

    /// Creates an object: fills name (from `generateName`), namespace, uid, resourceVersion,
    /// generation and creationTimestamp, as the API server does.
    pub fn create<R: Stored>(&mut self, mut obj: R, now: Millis) -> Result<Arc<R>, StoreError> {
        obj.set_type_meta();
        obj.default_namespace();
        if obj.meta().name.is_empty() && !obj.meta().generate_name.is_empty() {
            let mut attempts = 0;
            loop {
                let name = [obj.meta().generate_name.as_str(), &self.random_suffix(5)].concat();
                obj.meta_mut().name = name;
                if !R::table(&self.tables).contains_key(&obj.key()) || attempts > 8 {
                    break;
                }
                attempts += 1;
            }
        }
        let sibling = match &self.last_pod_created {
            Some(Object::Pod(pod)) => (&**pod as &dyn std::any::Any).downcast_ref::<R>(),
            _ => None,
        };
        Self::validate(&obj, sibling.map_or(Baseline::Nothing, Baseline::Sibling))?;
        let key = obj.key();
        if R::table(&self.tables).contains_key(&key) {
            return Err(StoreError::AlreadyExists {
                resource: R::KIND.qualified_resource(),
                name: key.name.to_string(),
            });
        }
        let uid = Self::new_uid(if R::KIND == Kind::Event { &mut self.event_rng } else { &mut self.rng });
        let rv = self.next_rv();
        let m = obj.meta_mut();
        m.uid = uid;
        write_resource_version(&mut m.resource_version, rv);
        m.creation_timestamp = Some(self.epoch.stamp_compact(now));
        m.deletion_timestamp = None;
        m.generation = Some(1);
        self.pod_list_memo.share(None, &mut obj);
        self.index(None, Some(&obj));
        let obj = Arc::new(obj);
        R::table_mut(&mut self.tables).insert(key, Arc::clone(&obj));
        if R::KIND == Kind::Pod {
            self.last_pod_created = Some(R::shared(Arc::clone(&obj)));
        }
        self.append(rv, ChangeType::Added, R::shared(Arc::clone(&obj)));
        Ok(obj)
    }

    /// Replaces an object. A non-empty `resourceVersion` must match the stored one (optimistic
    /// concurrency); an empty one is an unconditional update. Identity fields (uid,
    /// creationTimestamp) cannot change. A write that changes nothing is not a write: no new
    /// resourceVersion, no change-log entry, as the API server skips no-op updates.
    pub fn update<R: Stored>(&mut self, mut obj: R) -> Result<Arc<R>, StoreError> {
        obj.set_type_meta();
        obj.default_namespace();
        let key = obj.key();
        self.replace(&key, obj)
    }

    /// Reads, changes and writes back one object: the controllers' read-modify-write. The key
    /// is the caller's, so a write that keeps the name (every one does) builds no new key.
    pub fn modify<R: Stored>(&mut self, key: &ObjectKey, change: impl FnOnce(&mut R)) -> Result<Arc<R>, StoreError> {
        let Some(mut obj) = R::table(&self.tables).get(key).map(|o| R::clone(o)) else {
            return Err(StoreError::NotFound { resource: R::KIND.qualified_resource(), name: key.name.to_string() });
        };
        change(&mut obj);
        obj.set_type_meta();
        obj.default_namespace();
        let meta = obj.meta();
        if meta.name != key.name || meta.namespace.as_deref().unwrap_or_default() != key.namespace {
            return self.update(obj);
        }
        self.replace(key, obj)
    }

    /// [`Store::update`] of an object whose type and namespace are already set, stored at `key`.
    fn replace<R: Stored>(&mut self, key: &ObjectKey, mut obj: R) -> Result<Arc<R>, StoreError> {
        let Some(slot) = R::table_mut(&mut self.tables).get_mut(key) else {
            return Err(StoreError::NotFound { resource: R::KIND.qualified_resource(), name: key.name.to_string() });
        };
        let sent_rv = &obj.meta().resource_version;
        if !sent_rv.is_empty() && *sent_rv != slot.meta().resource_version {
            return Err(StoreError::Conflict { resource: R::KIND.qualified_resource(), name: key.name.to_string() });
        }
        Self::validate(&obj, Baseline::Stored(&**slot))?;
        {
            let old_meta = slot.meta();
            let spec_changed = obj.spec_changed(slot);
            let generation = old_meta.generation.map(|g| if spec_changed { g + 1 } else { g });
            let m = obj.meta_mut();
            m.uid.clone_from(&old_meta.uid);
            m.creation_timestamp.clone_from(&old_meta.creation_timestamp);
            m.generation = generation;
            m.resource_version.clone_from(&old_meta.resource_version);
            // Deletion can only start, never be undone, through an update.
            if m.deletion_timestamp.is_none() {
                m.deletion_timestamp.clone_from(&old_meta.deletion_timestamp);
            }
        }
        if obj == **slot {
            return Ok(Arc::clone(slot));
        }
        self.resource_version += 1;
        let rv = self.resource_version;
        write_resource_version(&mut obj.meta_mut().resource_version, rv);
        self.pod_list_memo.share(Some(&**slot), &mut obj);
        let obj = Arc::new(obj);
        let old = std::mem::replace(slot, Arc::clone(&obj));
        self.index(Some(&*old), Some(&obj));
        self.append(rv, ChangeType::Modified, R::shared(Arc::clone(&obj)));
        Ok(obj)
    }

    /// Removes an object now. (Graceful deletion — setting `deletionTimestamp` and letting the
    /// kubelet finish — is an update; this is its last step.)
    ///
    /// The object is returned, and logged as `Deleted`, as it was stored: not copied to stamp
    /// the delete's resourceVersion into it (Events are deleted by the hundred thousand). The
    /// delete's resourceVersion is the change's, and what the API stamps on a watch's DELETED
    /// event and a DELETE's answer ([`Object::with_resource_version`]).
    pub fn delete<R: Stored>(&mut self, key: &ObjectKey) -> Result<Arc<R>, StoreError> {
        let Some(obj) = R::table_mut(&mut self.tables).remove(key) else {
            return Err(StoreError::NotFound { resource: R::KIND.qualified_resource(), name: key.name.to_string() });
        };
        self.index(Some(&*obj), None);
        let rv = self.next_rv();
        self.append(rv, ChangeType::Deleted, R::shared(Arc::clone(&obj)));
        Ok(obj)
    }

    /// Starts this store's resourceVersions after `base` (a store not yet written). etcd keeps
    /// its revision across API server restarts; a live server's store starts afresh, so it
    /// starts past any version an earlier server process issued (the shell picks the base from
    /// the wall clock): a client resuming a watch from an earlier process's version is then
    /// told to relist, never resumed silently into another history.
    pub fn start_resource_versions_after(&mut self, base: u64) {
        debug_assert_eq!(self.resource_version, 0, "the store has been written");
        self.resource_version = self.resource_version.max(base);
        self.resource_version_base = base;
    }

    /// Versions below this were not issued by this store (0: it started at the beginning).
    pub fn resource_version_base(&self) -> u64 {
        self.resource_version_base
    }

    fn next_rv(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    fn append(&mut self, resource_version: u64, type_: ChangeType, object: Object) {
        if self.log.len() == self.log_capacity {
            self.log.pop_front();
        }
        self.log.push_back(Change { resource_version, type_, object });
    }

    /// Keeps the pod indexes (by node, by controlling owner) in step with the pods table.
    fn index<R: Stored>(&mut self, old: Option<&R>, new: Option<&R>) {
        if R::KIND != Kind::Pod {
            return;
        }
        self.count_owned(as_pod(old), as_pod(new));
        self.count_requested(as_pod(old), as_pod(new));
        self.count_state(as_pod(old), as_pod(new));
        fn node_of<R: Resource>(o: Option<&R>) -> Option<(&str, &ObjectMeta)> {
            o.and_then(|o| o.bound_node().map(|n| (n, o.meta())))
        }
        fn owner_of<R: Resource>(o: Option<&R>) -> Option<(&str, &ObjectMeta)> {
            o.and_then(|o| o.meta().controller().map(|r| (r.uid.as_str(), o.meta())))
        }
        reindex(&mut self.pods_by_node, node_of(old), node_of(new));
        reindex(&mut self.pods_by_owner, owner_of(old), owner_of(new));
    }
}

/// Active pods (and the ready among them) of one controlling owner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnedPodCounts {
    pub active: usize,
    pub ready: usize,
}

impl Store {
    /// Moves a pod's contribution to its owner's counts from what it was to what it is.
    fn count_owned(&mut self, old: Option<&Pod>, new: Option<&Pod>) {
        fn contribution(p: Option<&Pod>) -> Option<(&str, bool)> {
            p.filter(|p| p.is_active())
                .and_then(|p| p.metadata.controller().map(|owner| (owner.uid.as_str(), p.is_ready())))
        }
        let (before, after) = (contribution(old), contribution(new));
        if before == after {
            return;
        }
        if let Some((uid, ready)) = before
            && let Some(counts) = self.owned_counts.get_mut(uid)
        {
            counts.active -= 1;
            counts.ready -= usize::from(ready);
            if counts.active == 0 {
                self.owned_counts.remove(uid);
            }
        }
        if let Some((uid, ready)) = after {
            update_by_name(&mut self.owned_counts, uid, |counts| {
                counts.active += 1;
                counts.ready += usize::from(ready);
            });
        }
    }
}

/// The cpu, memory and pod count requested on one node by the pods bound there (finished pods
/// aside): what NodeResourcesFit subtracts from allocatable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeRequested {
    pub cpu_milli: i64,
    pub memory_milli: i64,
    pub pods: i64,
}

/// One node's entry in the store's residents index: what its pods request, and how many of
/// them hold each priority, lowest first (a node holds a few priorities at most; preemption
/// reads the lowest: a node whose every pod is at the preemptor's priority or above has no
/// victim for it). Terminating pods count; finished ones do not.
#[derive(Debug, Clone, Default)]
struct NodeResidentTotals {
    requested: NodeRequested,
    priorities: Vec<(i32, u32)>,
}

impl Store {
    /// Moves a pod's requests from what was counted to what is: a pod counts on its node while
    /// bound and not finished (a PUT may also change a bound pod's requests). Journals the
    /// node's residents as changed when anything the scheduler reads of the pod did.
    fn count_requested(&mut self, old: Option<&Pod>, new: Option<&Pod>) {
        type Counted<'p> = (&'p str, super::objects::pod::Requests, i32, bool);
        fn counted(p: Option<&Pod>) -> Option<Counted<'_>> {
            p.filter(|p| !matches!(p.status.phase.as_str(), "Succeeded" | "Failed"))
                .and_then(|p| p.node_name().map(|node| (node, p.requests(), p.priority(), p.metadata.is_terminating())))
        }
        let (before, after) = (counted(old), counted(new));
        if before == after {
            return;
        }
        self.residents_changes += 1;
        for (node, ..) in [&before, &after].into_iter().flatten() {
            if self.residents_journal.len() == RESIDENTS_JOURNAL_CAPACITY
                && let Some((dropped, _)) = self.residents_journal.pop_front()
            {
                self.residents_journal_dropped = dropped;
            }
            self.residents_journal.push_back((self.residents_changes, CompactString::new(node)));
        }
        if let Some((node, r, priority, _)) = before
            && let Some(totals) = self.requested_by_node.get_mut(node)
        {
            let sum = &mut totals.requested;
            sum.cpu_milli -= r.cpu_milli;
            sum.memory_milli -= r.memory_milli;
            sum.pods -= 1;
            let counts = &mut totals.priorities;
            if let Ok(at) = counts.binary_search_by_key(&priority, |&(p, _)| p) {
                counts[at].1 -= 1;
                if counts[at].1 == 0 {
                    counts.remove(at);
                }
            }
            if sum.pods == 0 {
                self.requested_by_node.remove(node);
            }
        }
        if let Some((node, r, priority, _)) = after {
            update_by_name(&mut self.requested_by_node, node, |totals| {
                let sum = &mut totals.requested;
                sum.cpu_milli += r.cpu_milli;
                sum.memory_milli += r.memory_milli;
                sum.pods += 1;
                match totals.priorities.binary_search_by_key(&priority, |&(p, _)| p) {
                    Ok(at) => totals.priorities[at].1 += 1,
                    Err(at) => totals.priorities.insert(at, (priority, 1)),
                }
            });
        }
    }
}

/// Residents changes the journal keeps: a few cycles' worth of binds and evictions at the
/// stadium's size; past it the scheduler reads every node once.
const RESIDENTS_JOURNAL_CAPACITY: usize = 1 << 16;

/// How many [`PodState`]s there are (the index's array size).
const POD_STATES: usize = PodState::Failed as usize + 1;

impl Store {
    /// Moves a pod from the state it was counted in to the one it is in now.
    fn count_state(&mut self, old: Option<&Pod>, new: Option<&Pod>) {
        fn pending_with_volumes(p: Option<&Pod>) -> bool {
            p.is_some_and(|p| !p.spec.volumes.is_empty() && p.state() == PodState::Pending)
        }
        match (pending_with_volumes(old), pending_with_volumes(new), new.or(old)) {
            (false, true, Some(p)) => {
                self.pending_with_volumes.insert(ObjectKey::of(&p.metadata));
            }
            (true, false, Some(p)) => {
                self.pending_with_volumes.remove(&ObjectKey::of(&p.metadata));
            }
            _ => {}
        }
        let (before, after) = (old.map(Pod::state), new.map(Pod::state));
        if before == after {
            return;
        }
        if let Some(state) = before {
            self.pods_by_state[state as usize] -= 1;
        }
        if let Some(state) = after {
            self.pods_by_state[state as usize] += 1;
        }
        let pod = new.or(old).map(|p| ObjectKey::of(&p.metadata));
        match (before == Some(PodState::Pending), after == Some(PodState::Pending), pod) {
            (false, true, Some(key)) => {
                self.pending_pods.insert(key);
            }
            (true, false, Some(key)) => {
                self.pending_pods.remove(&key);
            }
            _ => {}
        }
    }
}

/// The pod behind a generic object, when it is one.
fn as_pod<R: Stored>(object: Option<&R>) -> Option<&Pod> {
    object.and_then(|o| (o as &dyn std::any::Any).downcast_ref::<Pod>())
}

/// Recently written pod lists (conditions, container statuses, tolerations), so that a pod
/// written with new ones shares them with a pod written just before when they are equal.
/// Values are unchanged; only who holds them.
///
/// The kubelet stamps conditions and statuses at one-second resolution, so a burst (a node
/// starting its pods, a start-up of 150,000) writes the same lists over and over: shared,
/// they cost a pointer per pod version, not about 900 bytes. Admission gives every pod the
/// same two tolerations, but each ReplicaSet's burst of creates holds its own copy, and the
/// scheduler keys its per-cycle caches by what a pod tolerates: shared, two pods'
/// tolerations compare equal by pointer, not string by string.
#[derive(Debug, Clone, Default)]
struct PodListMemo {
    conditions: Recent<super::objects::pod::PodCondition>,
    container_statuses: Recent<super::objects::pod::ContainerStatus>,
    tolerations: Recent<super::objects::pod::Toleration>,
}

impl PodListMemo {
    fn share<R: Stored>(&mut self, old: Option<&R>, new: &mut R) {
        let Some(pod) = (new as &mut dyn std::any::Any).downcast_mut::<Pod>() else { return };
        let old = as_pod(old);
        let status = &mut pod.status;
        if !old.is_some_and(|o| o.status.conditions.same(&status.conditions)) {
            self.conditions.share(&mut status.conditions);
        }
        if !old.is_some_and(|o| o.status.container_statuses.same(&status.container_statuses)) {
            self.container_statuses.share(&mut status.container_statuses);
        }
        if !old.is_some_and(|o| o.spec.tolerations.same(&pod.spec.tolerations)) {
            self.tolerations.share(&mut pod.spec.tolerations);
        }
    }
}

/// How many distinct recent lists a [`Recent`] remembers: enough for bursts that interleave a
/// few kinds of write (the scheduler binding while kubelets start pods).
const RECENT: usize = 4;

/// The last few distinct lists written, most recent first.
#[derive(Debug, Clone)]
struct Recent<T>([Option<Shared<Vec<T>>>; RECENT]);

impl<T> Default for Recent<T> {
    fn default() -> Recent<T> {
        Recent(Default::default())
    }
}

impl<T: PartialEq> Recent<T> {
    /// Points `list` at an equal recent one, or remembers it as the most recent.
    fn share(&mut self, list: &mut Shared<Vec<T>>) {
        if list.is_empty() {
            return;
        }
        let found = self.0.iter().position(|recent| recent.as_ref().is_some_and(|r| r == list));
        self.0[..=found.unwrap_or(RECENT - 1)].rotate_right(1);
        match (found, &self.0[0]) {
            (Some(_), Some(recent)) => list.clone_from(recent),
            _ => self.0[0] = Some(list.clone()),
        }
    }
}

/// Changes `index`'s entry for `name`, made when missing: the name is copied only then
/// (nearly every write finds its owner's or node's entry there already).
fn update_by_name<V: Default>(index: &mut Index<V>, name: &str, change: impl FnOnce(&mut V)) {
    match index.get_mut(name) {
        Some(value) => change(value),
        None => change(index.entry(name.to_string()).or_default()),
    }
}

/// Moves a pod between the sets of `index` when the value it is indexed by (`at`) changed.
/// Borrowed: nearly every pod write keeps its node and owner, and then allocates nothing.
fn reindex(
    index: &mut Index<BTreeSet<ObjectKey>>,
    before: Option<(&str, &ObjectMeta)>,
    after: Option<(&str, &ObjectMeta)>,
) {
    fn indexed<'a>(entry: Option<(&'a str, &'a ObjectMeta)>) -> Option<(&'a str, &'a str, &'a str)> {
        entry.map(|(at, meta)| (at, meta.namespace(), meta.name.as_str()))
    }
    if indexed(before) == indexed(after) {
        return;
    }
    if let Some((at, meta)) = before
        && let Some(set) = index.get_mut(at)
    {
        set.remove(&ObjectKey::of(meta));
        if set.is_empty() {
            index.remove(at);
        }
    }
    if let Some((at, meta)) = after {
        let key = ObjectKey::of(meta);
        match index.get_mut(at) {
            Some(set) => {
                set.insert(key);
            }
            None => {
                index.insert(at.to_string(), BTreeSet::from([key]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::objects::{Container, PodSpec};

    fn store() -> Store {
        Store::new(1)
    }

    fn pod(name: &str) -> Pod {
        Pod {
            metadata: ObjectMeta::namespaced("default", name),
            spec: PodSpec {
                containers: vec![Container { name: "c".into(), image: "nginx".into(), ..Default::default() }].into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn ready(at: &str) -> Vec<crate::cluster::objects::pod::PodCondition> {
        ["PodScheduled", "Ready"]
            .map(|type_| crate::cluster::objects::pod::PodCondition {
                type_: type_.into(),
                status: "True".into(),
                last_transition_time: Some(at.into()),
                ..Default::default()
            })
            .to_vec()
    }

    /// Pods written with equal conditions hold one list; a pod whose conditions differ keeps
    /// its own, and every pod still reads exactly what was written for it.
    #[test]
    fn pods_written_with_equal_conditions_share_them() {
        let mut s = store();
        let mut written = Vec::new();
        for (name, at) in [("a", "t1"), ("b", "t1"), ("c", "t2"), ("d", "t1")] {
            let mut p = pod(name);
            p.status.conditions = ready(at).into();
            written.push(s.create(p, Millis(0)).unwrap());
        }
        let [a, b, c, d] = [0, 1, 2, 3].map(|i| &written[i].status.conditions);
        assert!(a.same(b) && a.same(d), "equal lists are one list, even with another written between");
        assert!(!a.same(c));
        assert_eq!((&**a, &**c), (&ready("t1"), &ready("t2")));

        // An update that changes them takes an equal recent list too; the old version keeps its own.
        let key = ObjectKey::new("default", "c");
        let updated = s.modify::<Pod>(&key, |p| p.status.conditions = ready("t1").into()).unwrap();
        assert!(updated.status.conditions.same(a));
        assert_eq!(*written[2].status.conditions, ready("t2"));
    }

    /// Pods created with equal tolerations, each in its own list (as two ReplicaSets' bursts
    /// are), hold one list once stored; different tolerations stay their own.
    #[test]
    fn pods_created_with_equal_tolerations_share_them() {
        use crate::cluster::objects::pod::Toleration;
        let toleration = |key: &str| Toleration { key: key.into(), operator: "Exists".into(), ..Default::default() };
        let mut s = store();
        let mut written = Vec::new();
        for (name, key) in [("a", "x"), ("b", "x"), ("c", "y")] {
            let mut p = pod(name);
            p.spec.tolerations = vec![toleration(key)].into();
            written.push(s.create(p, Millis(0)).unwrap());
        }
        let [a, b, c] = [0, 1, 2].map(|i| &written[i].spec.tolerations);
        assert!(a.same(b), "equal tolerations are one list");
        assert!(!a.same(c));
        assert_eq!((&**a, &**c), (&vec![toleration("x")], &vec![toleration("y")]));
    }

    /// Uids are the random draw's hex digits in upstream's `8-4-4-4-12` groups, the version
    /// digit `4` in place of the thirteenth: the same uids the store always gave, so a seed's
    /// digests stay what they were.
    #[test]
    fn uids_are_the_draws_hex_digits_with_a_version_digit() {
        let mut s = store();
        let mut rng = s.rng.clone();
        for _ in 0..64 {
            let draw: u128 = rng.random();
            let hex = format!("{draw:032x}");
            let expected =
                format!("{}-{}-4{}-{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[16..20], &hex[20..32]);
            assert_eq!(Store::new_uid(&mut s.rng), expected);
        }
    }

    #[test]
    fn every_write_bumps_one_resource_version() {
        let mut s = store();
        let a = s.create(pod("a"), Millis(0)).unwrap();
        let b = s.create(pod("b"), Millis(0)).unwrap();
        assert_eq!(a.metadata.resource_version, "1");
        assert_eq!(b.metadata.resource_version, "2");
        assert_eq!(a.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(a.kind, "Pod");
        assert_ne!(a.metadata.uid, b.metadata.uid);
        let mut a2 = Pod::clone(&a);
        a2.metadata.labels.insert("x".into(), "y".into());
        let a2 = s.update(a2).unwrap();
        assert_eq!(a2.metadata.resource_version, "3");
        s.delete::<Pod>(&ObjectKey::new("default", "b")).unwrap();
        assert_eq!(s.resource_version(), 4);
        let types: Vec<_> = s.changes_since(0).unwrap().map(|c| c.type_).collect();
        assert_eq!(types, [ChangeType::Added, ChangeType::Added, ChangeType::Modified, ChangeType::Deleted]);
    }

    #[test]
    fn stale_resource_version_is_a_conflict() {
        let mut s = store();
        let a = s.create(pod("a"), Millis(0)).unwrap();
        let mut first = Pod::clone(&a);
        first.metadata.labels.insert("v".into(), "1".into());
        s.update(first).unwrap();
        let mut stale = Pod::clone(&a);
        stale.metadata.labels.insert("v".into(), "2".into());
        let err = s.update(stale).unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("the object has been modified"));
        assert_eq!(s.get::<Pod>(&ObjectKey::new("default", "a")).unwrap().metadata.labels["v"], "1");
    }

    #[test]
    fn create_twice_is_already_exists_and_missing_is_not_found() {
        let mut s = store();
        s.create(pod("a"), Millis(0)).unwrap();
        let err = s.create(pod("a"), Millis(0)).unwrap_err();
        assert_eq!(err.to_string(), "pods \"a\" already exists");
        let err = s.delete::<Pod>(&ObjectKey::new("default", "zz")).unwrap_err();
        assert_eq!(err.to_string(), "pods \"zz\" not found");
        let err = s.update(pod("zz")).unwrap_err();
        assert!(matches!(err, StoreError::NotFound { .. }));
    }

    #[test]
    fn invalid_objects_change_nothing() {
        let mut s = store();
        let mut bad = pod("Bad_Name");
        bad.spec.containers.clear();
        let err = s.create(bad, Millis(0)).unwrap_err();
        let StoreError::Invalid { causes, .. } = &err else { panic!("{err}") };
        let fields: Vec<_> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["metadata.name", "spec.containers"]);
        assert_eq!(s.resource_version(), 0);
        assert_eq!(s.len::<Pod>(), 0);
    }

    /// A create is checked against the pod created before it only where the two share their
    /// parts: whatever it does not share (its name, other labels, other containers) is
    /// checked, and a refused create changes nothing.
    #[test]
    fn a_create_after_a_sibling_is_checked_where_it_differs() {
        let mut s = store();
        let mut first = pod("a");
        first.metadata.labels = Shared::new([("app".to_string(), "web".to_string())].into());
        let stored = s.create(first.clone(), Millis(0)).unwrap();
        let sibling =
            |name: &str| Pod { metadata: ObjectMeta { name: name.into(), ..first.metadata.clone() }, ..first.clone() };

        let err = s.create(sibling("Bad_Name"), Millis(0)).unwrap_err();
        assert!(matches!(&err, StoreError::Invalid { causes, .. } if causes[0].field == "metadata.name"), "{err}");
        let mut bad_labels = sibling("b");
        bad_labels.metadata.labels = Shared::new([("app".to_string(), "not valid!".to_string())].into());
        let err = s.create(bad_labels, Millis(0)).unwrap_err();
        assert!(matches!(&err, StoreError::Invalid { causes, .. } if causes[0].field == "metadata.labels"), "{err}");
        let mut bad_container = sibling("c");
        bad_container.spec.containers[0].image.clear();
        let err = s.create(bad_container, Millis(0)).unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid { causes, .. } if causes[0].field == "spec.containers[0].image"),
            "{err}"
        );
        assert_eq!((s.resource_version(), s.len::<Pod>()), (1, 1), "refused creates write nothing");

        let second = s.create(sibling("d"), Millis(0)).unwrap();
        assert!(second.metadata.labels.same(&stored.metadata.labels));
        assert_eq!(s.len::<Pod>(), 2);
    }

    /// An update is checked where it changes the pod: a spec or a probe annotation made
    /// invalid is refused and changes nothing, while status writes pass without the spec
    /// being checked again.
    #[test]
    fn pod_updates_are_validated_where_they_change_the_pod() {
        let mut s = store();
        let key = ObjectKey::new("default", "a");
        s.create(pod("a"), Millis(0)).unwrap();
        let err = s.modify::<Pod>(&key, |p| p.spec.containers[0].name.clear()).unwrap_err();
        let StoreError::Invalid { causes, .. } = &err else { panic!("{err}") };
        assert_eq!(causes.iter().map(|c| c.field.as_str()).collect::<Vec<_>>(), ["spec.containers[0].name"]);
        let err = s
            .modify::<Pod>(&key, |p| {
                crate::cluster::objects::meta::set_annotation(
                    &mut p.metadata.annotations,
                    crate::cluster::kubelet::probes::PROBE_SCRIPT_ANNOTATION,
                    "not a probe script".into(),
                )
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid { .. }), "{err}");
        assert_eq!(s.resource_version(), 1, "refused updates write nothing");
        s.modify::<Pod>(&key, |p| p.status.phase = "Running".into()).unwrap();
        assert_eq!(s.get::<Pod>(&key).map(|p| p.status.phase.as_str()), Some("Running"));
        assert_eq!(s.resource_version(), 2);
    }

    #[test]
    fn no_op_update_is_not_a_write() {
        let mut s = store();
        let a = s.create(pod("a"), Millis(0)).unwrap();
        s.update(Pod::clone(&a)).unwrap();
        assert_eq!(s.resource_version(), 1);
    }

    /// A store started after a base issues versions past it and says where its history starts.
    #[test]
    fn resource_versions_start_after_the_base() {
        let mut s = store();
        s.start_resource_versions_after(1_000_000);
        let created = s.create(pod("a"), Millis::ZERO).unwrap();
        assert_eq!(created.metadata.resource_version, "1000001");
        assert_eq!(s.resource_version(), 1_000_001);
        assert_eq!(s.resource_version_base(), 1_000_000);
        let changes: Vec<u64> = s.changes_since(1_000_000).unwrap().map(|c| c.resource_version).collect();
        assert_eq!(changes, [1_000_001]);
    }

    #[test]
    fn generate_name_and_node_index() {
        let mut s = store();
        let mut p = pod("");
        p.metadata.generate_name = "web-".into();
        p.spec.node_name = Some("pin-1".into());
        let p = s.create(p, Millis(0)).unwrap();
        assert!(p.metadata.name.starts_with("web-") && p.metadata.name.len() == 9, "{}", p.metadata.name);
        assert_eq!(s.pods_on_node("pin-1").count(), 1);
        s.modify::<Pod>(&ObjectKey::of(&p.metadata), |p| p.spec.node_name = Some("pin-2".into())).unwrap();
        assert_eq!(s.pods_on_node("pin-1").count(), 0);
        assert_eq!(s.pods_on_node("pin-2").count(), 1);
    }

    #[test]
    fn owned_pod_counts_follow_every_write() {
        use crate::cluster::objects::OwnerReference;
        use crate::cluster::objects::pod::PodCondition;
        let mut s = store();
        let owned = |name: &str| {
            let mut p = pod(name);
            p.metadata.owner_references.push(OwnerReference {
                kind: "ReplicaSet".into(),
                name: "web".into(),
                uid: "rs-uid".into(),
                controller: true,
                ..Default::default()
            });
            p
        };
        let scan = |s: &Store| {
            let active: Vec<&Pod> = s.pods_owned_by("rs-uid").filter(|p| p.is_active()).collect();
            OwnedPodCounts { active: active.len(), ready: active.iter().filter(|p| p.is_ready()).count() }
        };
        for name in ["a", "b", "c"] {
            s.create(owned(name), Millis(0)).unwrap();
        }
        s.create(pod("unowned"), Millis(0)).unwrap();
        assert_eq!(s.owned_pod_counts("rs-uid"), OwnedPodCounts { active: 3, ready: 0 });
        let ready = |p: &mut Pod| {
            p.status.conditions.push(PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                ..Default::default()
            })
        };
        s.modify::<Pod>(&ObjectKey::new("default", "a"), ready).unwrap();
        s.modify::<Pod>(&ObjectKey::new("default", "b"), ready).unwrap();
        assert_eq!(s.owned_pod_counts("rs-uid"), OwnedPodCounts { active: 3, ready: 2 });
        // Terminating and finished pods are not active; a deleted one is gone.
        s.modify::<Pod>(&ObjectKey::new("default", "a"), |p| {
            p.metadata.deletion_timestamp = Some(crate::clock::Epoch::default().stamp(Millis(1)))
        })
        .unwrap();
        s.modify::<Pod>(&ObjectKey::new("default", "c"), |p| p.status.phase = "Failed".into()).unwrap();
        assert_eq!(s.owned_pod_counts("rs-uid"), OwnedPodCounts { active: 1, ready: 1 });
        assert_eq!(s.owned_pod_counts("rs-uid"), scan(&s));
        s.delete::<Pod>(&ObjectKey::new("default", "b")).unwrap();
        assert_eq!(s.owned_pod_counts("rs-uid"), OwnedPodCounts::default());
        assert_eq!(s.owned_pod_counts("rs-uid"), scan(&s));
    }

    #[test]
    fn a_follower_too_far_behind_must_relist() {
        let mut s = Store::with_log_capacity(1, 3);
        for name in ["a", "b", "c", "d", "e"] {
            s.create(pod(name), Millis(0)).unwrap();
        }
        assert!(s.changes_since(0).is_none());
        assert_eq!(s.changes_since(2).unwrap().count(), 3);
        assert_eq!(s.changes_since(5).unwrap().count(), 0);
    }

    /// A follower's place in the log is found by arithmetic: from every cursor still in the
    /// window, exactly the later changes, in order, however far the log has wrapped.
    #[test]
    fn a_follower_gets_exactly_the_changes_after_its_cursor() {
        let mut s = Store::with_log_capacity(1, 4);
        for i in 0..9 {
            let name = format!("p{i}");
            s.create(pod(&name), Millis(0)).unwrap();
            s.modify::<Pod>(&ObjectKey::new("default", &name), |p| {
                p.metadata.labels.insert("step".into(), i.to_string());
            })
            .unwrap();
        }
        let latest = s.resource_version();
        assert_eq!(latest, 18);
        for cursor in latest - 4..=latest {
            let versions: Vec<u64> = s.changes_since(cursor).unwrap().map(|c| c.resource_version).collect();
            assert_eq!(versions, (cursor + 1..=latest).collect::<Vec<_>>(), "from {cursor}");
        }
        assert!(s.changes_since(latest - 5).is_none(), "one before the window must relist");
        assert_eq!(s.changes_since(latest + 3).unwrap().count(), 0, "a cursor ahead sees nothing");
    }

    /// `modify` writes where the changed object says, as `update` would: a change that renames
    /// it is a write to that other name (here, one that does not exist), not to the key read.
    #[test]
    fn a_modify_that_renames_writes_to_the_new_name() {
        let mut s = Store::new(1);
        s.create(pod("a"), Millis(0)).unwrap();
        let renamed = s.modify::<Pod>(&ObjectKey::new("default", "a"), |p| p.metadata.name = "b".into());
        assert!(matches!(renamed, Err(StoreError::NotFound { ref name, .. }) if name == "b"), "{renamed:?}");
        let kept = s
            .modify::<Pod>(&ObjectKey::new("default", "a"), |p| {
                p.metadata.labels.insert("app".into(), "web".into());
            })
            .unwrap();
        assert_eq!(kept.metadata.name, "a");
        assert_eq!(kept.metadata.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(kept.metadata.resource_version, s.resource_version().to_string());
    }

    /// The indexes kept on the write path (requested per node, pods by state, the pending set)
    /// against a recount.
    mod requested_by_node {
        use super::*;
        use crate::cluster::objects::quantity::Quantity;
        use proptest::prelude::*;

        /// One write to a pod: create it, bind it, change its request (a PUT), run it, start
        /// its deletion, finish it, or delete it.
        #[derive(Debug, Clone)]
        enum Write {
            Create(u8, i64),
            /// A pod with a volume.
            CreateWithVolume(u8),
            Bind(u8, u8),
            Request(u8, i64),
            Run(u8),
            Terminate(u8),
            Finish(u8),
            Delete(u8),
        }

        fn write() -> impl Strategy<Value = Write> {
            prop_oneof![
                (0u8..6, 1i64..2000).prop_map(|(p, cpu)| Write::Create(p, cpu)),
                (0u8..6).prop_map(Write::CreateWithVolume),
                (0u8..6, 0u8..3).prop_map(|(p, n)| Write::Bind(p, n)),
                (0u8..6, 1i64..2000).prop_map(|(p, cpu)| Write::Request(p, cpu)),
                (0u8..6).prop_map(Write::Run),
                (0u8..6).prop_map(Write::Terminate),
                (0u8..6).prop_map(Write::Finish),
                (0u8..6).prop_map(Write::Delete),
            ]
        }

        fn with_cpu(mut pod: Pod, cpu: i64) -> Pod {
            pod.spec.containers[0].resources.requests.insert("cpu".into(), Quantity::from_millicores(cpu));
            pod
        }

        proptest! {
            /// The index the scheduler's snapshot reads always equals a recount of the pods.
            #[test]
            fn always_equals_a_recount(writes in prop::collection::vec(write(), 1..40)) {
                let mut s = store();
                // What preemption reads of each node's residents, and the version that says so.
                let residents = |s: &Store, node: &str| -> Vec<(String, i64, bool)> {
                    s.list::<Pod>()
                        .filter(|p| p.node_name() == Some(node) && p.status.phase != "Succeeded")
                        .map(|p| (p.metadata.name.to_string(), p.requests().cpu_milli, p.metadata.is_terminating()))
                        .collect()
                };
                for w in &writes {
                    let before: Vec<_> = (0..3).map(|n| residents(&s, &format!("n{n}"))).collect();
                    let since = s.residents_changes();
                    let key = |p: &u8| ObjectKey::new("default", format!("p{p}"));
                    let written = match w {
                        Write::Create(p, cpu) => {
                            // Three priorities, so that each node's lowest moves as pods come and go.
                            let mut created = with_cpu(pod(&format!("p{p}")), *cpu);
                            created.spec.priority = Some(i32::from(p % 3) * 100 - 100);
                            s.create(created, Millis(0)).map(drop)
                        }
                        Write::CreateWithVolume(p) => {
                            let mut with_volume = pod(&format!("p{p}"));
                            with_volume.spec.volumes.push(crate::cluster::objects::pod::Volume { name: "data".into(), ..Default::default() });
                            s.create(with_volume, Millis(0)).map(drop)
                        }
                        Write::Bind(p, n) => s.modify::<Pod>(&key(p), |pod| pod.spec.node_name = Some(format!("n{n}"))).map(drop),
                        Write::Request(p, cpu) => match s.get::<Pod>(&key(p)) {
                            Some(old) => s.update(with_cpu(old.clone(), *cpu)).map(drop),
                            None => Ok(()),
                        },
                        Write::Run(p) => s.modify::<Pod>(&key(p), |pod| pod.status.phase = "Running".into()).map(drop),
                        Write::Terminate(p) => s.modify::<Pod>(&key(p), |pod| pod.metadata.deletion_timestamp = Some("2026-01-01T00:00:00Z".into())).map(drop),
                        Write::Finish(p) => s.modify::<Pod>(&key(p), |pod| pod.status.phase = "Succeeded".into()).map(drop),
                        Write::Delete(p) => s.delete::<Pod>(&key(p)).map(drop),
                    };
                    // Only a pod that is (or is not yet) there refuses a write.
                    if let Err(e) = written {
                        prop_assert!(matches!(e, StoreError::NotFound { .. } | StoreError::AlreadyExists { .. }), "{e}");
                    }
                    for (n, had) in before.iter().enumerate() {
                        let node = format!("n{n}");
                        let mut recount = NodeRequested::default();
                        for pod in s.list::<Pod>().filter(|p| p.node_name() == Some(node.as_str()) && p.status.phase != "Succeeded") {
                            recount.cpu_milli += pod.requests().cpu_milli;
                            recount.memory_milli += pod.requests().memory_milli;
                            recount.pods += 1;
                        }
                        prop_assert_eq!(s.requested_on_node(&node), recount, "{} after {:?}", node, w);
                        let lowest = s.list::<Pod>()
                            .filter(|p| p.node_name() == Some(node.as_str()) && p.status.phase != "Succeeded")
                            .map(Pod::priority)
                            .min();
                        prop_assert_eq!(s.lowest_priority_on_node(&node), lowest, "{} lowest priority after {:?}", node, w);
                        // The journal names the node exactly when its residents moved.
                        let journaled = s.nodes_changed_since(since).is_some_and(|mut c| c.any(|changed| changed == node));
                        prop_assert_eq!(journaled, *had != residents(&s, &node), "{} journaled after {:?}", node, w);
                    }
                    for state in [PodState::Pending, PodState::ContainerCreating, PodState::Running, PodState::Terminating, PodState::Succeeded] {
                        let recount = s.list::<Pod>().filter(|p| p.state() == state).count();
                        prop_assert_eq!(s.pods_in_state(state), recount, "{:?} after {:?}", state, w);
                    }
                    let pending: Vec<&str> = s.pending_pods().map(|p| p.metadata.name.as_str()).collect();
                    let recount: Vec<&str> = s.list::<Pod>().filter(|p| p.state() == PodState::Pending).map(|p| p.metadata.name.as_str()).collect();
                    prop_assert_eq!(pending, recount, "pending after {:?}", w);
                    let with_volumes: Vec<&str> = s.pending_pods_with_volumes().map(|p| p.metadata.name.as_str()).collect();
                    let recount: Vec<&str> = s.pending_pods().filter(|p| !p.spec.volumes.is_empty()).map(|p| p.metadata.name.as_str()).collect();
                    prop_assert_eq!(with_volumes, recount, "pending with volumes after {:?}", w);
                }
            }
        }
    }
}
