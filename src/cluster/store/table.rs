//! One kind's objects in the store: ordered by key for whatever lists them, found by hash for
//! whatever names one.
//!
//! A list (kubectl's, an informer's relist) must come in key order, so the order is a B-tree.
//! But nearly every access names one object — a controller's get, each write's read-modify-write
//! — and among 150,000 pods a B-tree lookup is five levels of string compares, a third of a
//! 5,000-node start-up. So a hash index finds an object's slot in one step. The index is never
//! iterated: nothing can see its order, so the store stays deterministic, and its hasher is
//! foldhash's fixed-seed one, the same every run.

use super::ObjectKey;
use crate::cluster::LookupMap;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Table<R> {
    /// Every key in order, with its object's slot.
    order: BTreeMap<ObjectKey, u32>,
    /// The same keys by hash, for lookups only.
    index: LookupMap<ObjectKey, u32>,
    slots: Vec<Option<Arc<R>>>,
    /// Slots freed by deletes, reused by creates.
    free: Vec<u32>,
}

impl<R> Default for Table<R> {
    fn default() -> Table<R> {
        Table { order: BTreeMap::new(), index: LookupMap::default(), slots: Vec::new(), free: Vec::new() }
    }
}

impl<R> Table<R> {
    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<R>> {
        let &slot = self.index.get(key)?;
        self.slots[slot as usize].as_ref()
    }

    pub fn get_mut(&mut self, key: &ObjectKey) -> Option<&mut Arc<R>> {
        let &slot = self.index.get(key)?;
        self.slots[slot as usize].as_mut()
    }

    pub fn contains_key(&self, key: &ObjectKey) -> bool {
        self.index.contains_key(key)
    }

    /// Stores `object` under `key`, giving back what was there.
    pub fn insert(&mut self, key: ObjectKey, object: Arc<R>) -> Option<Arc<R>> {
        if let Some(&slot) = self.index.get(&key) {
            return self.slots[slot as usize].replace(object);
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(object);
                slot
            }
            None => {
                // More than four billion objects of one kind is far past any lane's memory.
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 objects of one kind");
                self.slots.push(Some(object));
                slot
            }
        };
        self.order.insert(key.clone(), slot);
        self.index.insert(key, slot);
        None
    }

    pub fn remove(&mut self, key: &ObjectKey) -> Option<Arc<R>> {
        let slot = self.index.remove(key)?;
        self.order.remove(key);
        self.free.push(slot);
        self.slots[slot as usize].take()
    }

    /// The objects in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Arc<R>> + ExactSizeIterator {
        self.order.values().map(|&slot| self.occupied(slot))
    }

    /// The objects with keys in `range`, in key order.
    pub fn range(&self, range: std::ops::RangeInclusive<ObjectKey>) -> impl DoubleEndedIterator<Item = &Arc<R>> {
        self.order.range(range).map(|(_, &slot)| self.occupied(slot))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn occupied(&self, slot: u32) -> &Arc<R> {
        // `insert` and `remove` fill and empty a slot together with its key's entries.
        self.slots[slot as usize].as_ref().expect("a key in the order has its object in its slot")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectKey {
        ObjectKey::new("default", name)
    }

    #[test]
    fn lists_in_key_order_whatever_the_insert_and_delete_order() {
        let mut table = Table::default();
        for name in ["c", "a", "d", "b"] {
            assert!(table.insert(key(name), Arc::new(name.to_string())).is_none());
        }
        assert_eq!(table.remove(&key("c")).as_deref().map(String::as_str), Some("c"));
        assert!(table.remove(&key("c")).is_none());
        // The freed slot is reused; the order is still the keys'.
        table.insert(key("0"), Arc::new("0".to_string()));
        let listed: Vec<&str> = table.values().map(|o| o.as_str()).collect();
        assert_eq!(listed, ["0", "a", "b", "d"]);
        assert_eq!(table.values().next_back().map(|o| o.as_str()), Some("d"));
        assert_eq!(table.len(), 4);
        let ranged: Vec<&str> = table.range(key("a")..=key("b")).map(|o| o.as_str()).collect();
        assert_eq!(ranged, ["a", "b"]);
    }

    #[test]
    fn insert_over_a_key_replaces_its_object_and_lookups_follow() {
        let mut table = Table::default();
        table.insert(key("a"), Arc::new(1));
        assert_eq!(table.insert(key("a"), Arc::new(2)).as_deref(), Some(&1));
        *table.get_mut(&key("a")).expect("present") = Arc::new(3);
        assert_eq!(table.get(&key("a")).map(|o| **o), Some(3));
        assert!(table.contains_key(&key("a")) && !table.contains_key(&key("b")));
        assert_eq!(table.len(), 1);
        table.remove(&key("a"));
        assert!(table.is_empty() && table.get(&key("a")).is_none());
    }
}
