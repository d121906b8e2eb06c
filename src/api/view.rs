//! The published read view, shaped like kube-apiserver's watch cache: GET, list and watch are
//! served from here, on the API's threads, and never wait for the World.
//!
//! After each drain the World's owner [`ReadView::publish`]es the store's new changes (the
//! change log's own `Arc`s, no deep clones) and the resourceVersion. Per kind the view keeps the
//! current objects and a bounded window of recent changes, each with the object it replaced
//! (upstream's `prevObject`), so a watch can tell ADDED from MODIFIED for its own selector and a
//! paginated list can be answered as of the resourceVersion its first page was served at.

use crate::clock::{Millis, Reading};
use crate::cluster::objects::{Kind, Object};
use crate::cluster::store::{ChangeType, ObjectKey, Store};
use crate::world::World;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Where the view files an object: its store key (custom objects' keys start with their
/// resource, so two resources' objects never collide in the one custom cache).
fn key_of(object: &Object) -> ObjectKey {
    match object {
        Object::CustomObject(o) => crate::cluster::objects::Resource::key(o.as_ref()),
        other => ObjectKey::of(other.meta()),
    }
}

/// Changes each kind keeps for watches and `continue` tokens: a client further behind than this
/// must relist (410 Expired), as with upstream's watch cache capacity.
pub const DEFAULT_WINDOW: usize = 50_000;

/// Changes older than this (game time) are compacted away, as kube-apiserver compacts etcd every
/// `--etcd-compaction-interval` (5 min by default): a client that comes back after a longer pause
/// with an old resourceVersion gets 410 Expired and relists, whatever the count.
pub const COMPACTION_INTERVAL: Millis = Millis(5 * 60 * 1000);

/// One change as a watcher sees it, with the object it replaced.
#[derive(Debug, Clone)]
pub struct WindowEntry {
    pub resource_version: u64,
    pub type_: ChangeType,
    pub object: Arc<Object>,
    /// The object as it was before this change (`None` for a creation).
    pub prev: Option<Arc<Object>>,
    /// When the change was published (game time): compaction goes by it.
    pub published_at: Millis,
}

/// The view no longer reaches back to the resourceVersion asked for: the client must relist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    /// The oldest resourceVersion the view can still answer from.
    pub oldest: u64,
    /// The view's current resourceVersion.
    pub current: u64,
}

/// A consistent read: objects (in key order), at `resource_version`, with the World's clock
/// read when it was published (`now`: game time and the epoch its timestamps count from).
#[derive(Debug, Clone)]
pub struct Snapshot<T> {
    pub items: T,
    pub resource_version: u64,
    pub now: Reading,
}

#[derive(Debug, Default)]
struct KindCache {
    objects: BTreeMap<ObjectKey, Arc<Object>>,
    window: VecDeque<WindowEntry>,
    /// Every change after this resourceVersion is in `window`.
    complete_after: u64,
}

#[derive(Debug)]
struct ViewState {
    resource_version: u64,
    /// The store's [`Store::resource_version_base`]: versions below it are another
    /// history's.
    resource_version_base: u64,
    now: Reading,
    kinds: BTreeMap<Kind, KindCache>,
    window: usize,
    /// Times the publisher fell out of the store's change log and rebuilt the view.
    resyncs: u64,
}

/// Shared between the World's owner (which publishes) and every request handler (which reads).
#[derive(Debug)]
pub struct ReadView {
    state: RwLock<ViewState>,
}

impl Default for ReadView {
    fn default() -> ReadView {
        ReadView::with_window(DEFAULT_WINDOW)
    }
}

impl ReadView {
    pub fn with_window(window: usize) -> ReadView {
        let kinds = Kind::ALL.iter().map(|k| (*k, KindCache::default())).collect();
        ReadView {
            state: RwLock::new(ViewState {
                resource_version: 0,
                resource_version_base: 0,
                now: Reading { now: Millis::ZERO, epoch: Default::default() },
                kinds,
                window: window.max(1),
                resyncs: 0,
            }),
        }
    }

    /// A reader never leaves the view half-written (the publisher does no fallible work under
    /// the lock), so a poisoned lock's data is still whole.
    fn read(&self) -> RwLockReadGuard<'_, ViewState> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, ViewState> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Brings the view up to the World's store: the new changes when the store's change log
    /// still holds them (work proportional to what changed), a full rebuild when it does not.
    /// Returns the published resourceVersion.
    pub fn publish(&self, world: &World) -> u64 {
        self.publish_store(&world.cluster().store, world.now())
    }

    pub fn publish_store(&self, store: &Store, now: Millis) -> u64 {
        let rv = store.resource_version();
        let mut state = self.write();
        state.now = Reading { now, epoch: store.epoch() };
        if rv == state.resource_version && state.resyncs > 0 {
            compact(&mut state.kinds, now);
            return rv;
        }
        let first = state.resyncs == 0;
        match store.changes_since(state.resource_version).filter(|_| !first) {
            Some(changes) => {
                let window = state.window;
                for change in changes {
                    let cache = state.kinds.entry(change.object.kind()).or_default();
                    let key = key_of(&change.object);
                    // One allocation shared by the cache and the window (the object inside is
                    // already shared with the store).
                    let object = Arc::new(change.object.clone());
                    let prev = match change.type_ {
                        ChangeType::Deleted => cache.objects.remove(&key),
                        ChangeType::Added | ChangeType::Modified => cache.objects.insert(key, Arc::clone(&object)),
                    };
                    if cache.window.len() == window
                        && let Some(dropped) = cache.window.pop_front()
                    {
                        cache.complete_after = dropped.resource_version;
                    }
                    cache.window.push_back(WindowEntry {
                        resource_version: change.resource_version,
                        type_: change.type_,
                        object,
                        prev,
                        published_at: now,
                    });
                }
                compact(&mut state.kinds, now);
            }
            None => {
                if !first {
                    tracing::warn!(
                        from = state.resource_version,
                        to = rv,
                        "the read view fell out of the store's change log; rebuilt it (watchers relist)"
                    );
                }
                for kind in Kind::ALL {
                    let objects =
                        super::objects_of(store, kind).into_iter().map(|o| (key_of(&o), Arc::new(o))).collect();
                    state.kinds.insert(kind, KindCache { objects, window: VecDeque::new(), complete_after: rv });
                }
                state.resyncs += 1;
            }
        }
        state.resource_version = rv;
        state.resource_version_base = store.resource_version_base();
        rv
    }

    /// The view's resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    /// Versions below this one were issued by another history (an earlier server).
    pub fn resource_version_base(&self) -> u64 {
        self.read().resource_version_base
    }

    /// The World's clock as last published.
    pub fn reading(&self) -> Reading {
        self.read().now
    }

    /// How many times the view was rebuilt from the whole store (the first publish included).
    pub fn resyncs(&self) -> u64 {
        self.read().resyncs
    }

    pub fn get(&self, kind: Kind, key: &ObjectKey) -> Snapshot<Option<Arc<Object>>> {
        let state = self.read();
        let items = state.kinds.get(&kind).and_then(|c| c.objects.get(key)).cloned();
        Snapshot { items, resource_version: state.resource_version, now: state.now }
    }

    /// Objects of `kind` (in `namespace` if given) with keys after `after`, as they were at
    /// resourceVersion `at` (now if `None`): the current objects with the changes since `at`
    /// undone, each from its earliest later change's `prev`.
    pub fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        at: Option<u64>,
        after: Option<&ObjectKey>,
    ) -> Result<Snapshot<Vec<Arc<Object>>>, TooOld> {
        self.list_where(kind, |key| namespace.is_none_or(|ns| key.namespace == ns), at, after)
    }

    /// One custom resource's objects (`resource` is its CRD's name), in `namespace` if given,
    /// as [`ReadView::list`].
    pub fn list_custom(
        &self,
        resource: &str,
        namespace: Option<&str>,
        at: Option<u64>,
        after: Option<&ObjectKey>,
    ) -> Result<Snapshot<Vec<Arc<Object>>>, TooOld> {
        let prefix = format!("{resource}/");
        let after = after.cloned().unwrap_or_else(|| ObjectKey::new(prefix.clone(), ""));
        let in_scope = |key: &ObjectKey| {
            key.namespace.strip_prefix(&prefix).is_some_and(|ns| namespace.is_none_or(|wanted| ns == wanted))
        };
        self.list_where(Kind::CustomObject, in_scope, at, Some(&after))
    }

    fn list_where(
        &self,
        kind: Kind,
        in_namespace: impl Fn(&ObjectKey) -> bool,
        at: Option<u64>,
        after: Option<&ObjectKey>,
    ) -> Result<Snapshot<Vec<Arc<Object>>>, TooOld> {
        use std::ops::Bound;
        let state = self.read();
        let current = state.resource_version;
        let Some(cache) = state.kinds.get(&kind) else {
            return Ok(Snapshot { items: Vec::new(), resource_version: current, now: state.now });
        };
        let at = at.unwrap_or(current).min(current);
        if at < cache.complete_after {
            return Err(TooOld { oldest: cache.complete_after, current });
        }
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        // Keys changed since `at`, with what they were then (None: they did not exist).
        let mut then: BTreeMap<ObjectKey, Option<Arc<Object>>> = BTreeMap::new();
        let start = cache.window.partition_point(|e| e.resource_version <= at);
        for entry in cache.window.range(start..) {
            then.entry(key_of(&entry.object)).or_insert_with(|| entry.prev.clone());
        }
        let mut items = Vec::new();
        let mut current_items = cache.objects.range::<ObjectKey, _>((lower, Bound::Unbounded)).peekable();
        let mut changed = then.range::<ObjectKey, _>((lower, Bound::Unbounded)).peekable();
        loop {
            let next = match (current_items.peek(), changed.peek()) {
                (None, None) => break,
                (Some((k, _)), Some((c, _))) if k < c => current_items.next().map(|(k, o)| (k, Some(o))),
                (Some((k, _)), Some((c, _))) if k == c => {
                    current_items.next();
                    changed.next().map(|(k, o)| (k, o.as_ref()))
                }
                (Some(_), None) => current_items.next().map(|(k, o)| (k, Some(o))),
                (_, Some(_)) => changed.next().map(|(k, o)| (k, o.as_ref())),
            };
            if let Some((key, Some(object))) = next
                && in_namespace(key)
            {
                items.push(object.clone());
            }
        }
        Ok(Snapshot { items, resource_version: at, now: state.now })
    }

    /// The changes to `kind` after `since`, oldest first.
    pub fn changes_since(&self, kind: Kind, since: u64) -> Result<Snapshot<Vec<WindowEntry>>, TooOld> {
        let state = self.read();
        let current = state.resource_version;
        let Some(cache) = state.kinds.get(&kind) else {
            return Ok(Snapshot { items: Vec::new(), resource_version: current, now: state.now });
        };
        if since < cache.complete_after {
            return Err(TooOld { oldest: cache.complete_after, current });
        }
        let start = cache.window.partition_point(|e| e.resource_version <= since);
        Ok(Snapshot {
            items: cache.window.range(start..).cloned().collect(),
            resource_version: current,
            now: state.now,
        })
    }
}

/// Drops changes published more than [`COMPACTION_INTERVAL`] before `now`.
fn compact(kinds: &mut BTreeMap<Kind, KindCache>, now: Millis) {
    let horizon = now.saturating_sub(COMPACTION_INTERVAL);
    for cache in kinds.values_mut() {
        while cache.window.front().is_some_and(|e| e.published_at < horizon) {
            if let Some(dropped) = cache.window.pop_front() {
                cache.complete_after = dropped.resource_version;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::timing::Preset;
    use crate::scenario::Scenario;
    use crate::world::Input;

    fn versions(items: &[Arc<Object>]) -> Vec<(ObjectKey, String)> {
        items.iter().map(|o| (ObjectKey::of(o.meta()), o.meta().resource_version.to_string())).collect()
    }

    fn store_pods(world: &World) -> Vec<(ObjectKey, String)> {
        super::super::objects_of(&world.cluster().store, Kind::Pod)
            .iter()
            .map(|o| (ObjectKey::of(o.meta()), o.meta().resource_version.to_string()))
            .collect()
    }

    fn scale(world: &mut World, replicas: i32) {
        let deployment = ObjectKey::new("default", "web");
        world.handle_input(Input::Scale { deployment, replicas }).unwrap();
    }

    #[test]
    fn a_list_and_the_changes_after_it_add_up_to_the_store_and_old_lists_are_reproduced() {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        let view = ReadView::default();
        view.publish(&world);
        let first = view.list(Kind::Pod, None, None, None).unwrap();
        assert_eq!(versions(&first.items), store_pods(&world));
        for (round, replicas) in [30, 5, 12].into_iter().enumerate() {
            scale(&mut world, replicas);
            for tick in 0..300 {
                world.step();
                if tick % (7 + round) == 0 {
                    view.publish(&world);
                }
            }
        }
        view.publish(&world);
        // The view now is the store now.
        assert_eq!(versions(&view.list(Kind::Pod, None, None, None).unwrap().items), store_pods(&world));
        // The first list, replayed with every change since, in order, is the store now.
        let mut replayed: BTreeMap<ObjectKey, String> = versions(&first.items).into_iter().collect();
        let changes = view.changes_since(Kind::Pod, first.resource_version).unwrap();
        assert!(changes.items.len() > 100, "the lane changed: {}", changes.items.len());
        assert!(changes.items.windows(2).all(|w| w[0].resource_version < w[1].resource_version));
        for change in &changes.items {
            let key = key_of(&change.object);
            assert_eq!(change.prev.is_none(), !replayed.contains_key(&key), "prev is what was there: {key}");
            match change.type_ {
                ChangeType::Deleted => replayed.remove(&key),
                _ => replayed.insert(key, change.object.meta().resource_version.to_string()),
            };
        }
        assert_eq!(replayed.into_iter().collect::<Vec<_>>(), store_pods(&world));
        // And the list as of the first resourceVersion is the first list, page by page too.
        let then = view.list(Kind::Pod, None, Some(first.resource_version), None).unwrap();
        assert_eq!(versions(&then.items), versions(&first.items));
        let middle = ObjectKey::of(first.items[20].meta());
        let rest = view.list(Kind::Pod, Some("default"), Some(first.resource_version), Some(&middle)).unwrap();
        assert_eq!(versions(&rest.items), versions(&first.items[21..]));
    }

    #[test]
    fn changes_older_than_the_compaction_interval_are_gone_and_their_readers_must_relist() {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        let view = ReadView::default();
        view.publish_store(&world.cluster().store, Millis::ZERO);
        let listed = view.resource_version();
        scale(&mut world, 30);
        for _ in 0..100 {
            world.step();
        }
        view.publish_store(&world.cluster().store, Millis(1_000));
        let early = view.changes_since(Kind::Pod, listed).expect("within the interval: all there");
        assert!(!early.items.is_empty());
        // Four minutes later a client that listed at `listed` can still catch up.
        scale(&mut world, 10);
        for _ in 0..100 {
            world.step();
        }
        view.publish_store(&world.cluster().store, Millis(1_000) + Millis(4 * 60 * 1000));
        assert!(view.changes_since(Kind::Pod, listed).is_ok());
        let recent = view.resource_version();
        // Past five minutes the changes published at 1 s are compacted: few changes, yet 410.
        view.publish_store(&world.cluster().store, Millis(1_000) + COMPACTION_INTERVAL + Millis(1));
        let too_old = view.changes_since(Kind::Pod, listed).unwrap_err();
        assert!(too_old.oldest > listed, "{too_old:?}");
        assert!(view.changes_since(Kind::Pod, recent).is_ok(), "a reader from after the compaction carries on");
    }

    #[test]
    fn a_publisher_that_falls_out_of_the_change_log_rebuilds_and_old_readers_must_relist() {
        let mut world = World::new(1, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
        let view = ReadView::with_window(8);
        view.publish(&world);
        let before = view.resource_version();
        world.set_change_log_capacity(16);
        scale(&mut world, 40);
        for _ in 0..200 {
            world.step();
        }
        view.publish(&world);
        assert_eq!(view.resyncs(), 2, "the first publish and the rebuild");
        assert_eq!(versions(&view.list(Kind::Pod, None, None, None).unwrap().items), store_pods(&world));
        let too_old = view.changes_since(Kind::Pod, before).unwrap_err();
        assert_eq!(too_old.current, view.resource_version());
        assert!(view.list(Kind::Pod, None, Some(before), None).is_err());
        // Within the window, changes keep flowing after the rebuild.
        let rebuilt = view.resource_version();
        world.set_change_log_capacity(10_000);
        scale(&mut world, 41);
        view.publish(&world);
        assert!(!view.changes_since(Kind::Pod, rebuilt).unwrap().items.is_empty());
    }
}
