//! [`Shared`]: a field value that many versions of many objects hold once.
//!
//! Every write of a Pod stores a new version of it, and the store's change log keeps the old
//! ones for watchers; a ReplicaSet's pods are copies of one template. Without sharing, each
//! version of each of 150,000 pods copies its containers (names, images, resources, ports ..)
//! again. A `Shared` field is copied on write instead: versions and sibling pods point at one
//! value until one of them changes it, and two versions compare equal by pointer first.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

/// A copy-on-write value: reads go straight through, `&mut` access copies it first if another
/// object shares it. Serializes exactly as `T`.
pub struct Shared<T>(Arc<T>);

/// A new handle on the one value, whatever `T` is: cloning never copies it.
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Shared<T> {
        Shared(Arc::clone(&self.0))
    }
}

/// A type whose empty `Shared` value is one allocation for the whole process: every
/// `ObjectMeta::default()` (each Event, each written object's `..Default::default()`) would
/// otherwise allocate three empty values only to drop or keep them.
pub trait SharedEmpty: Sized + 'static {
    fn empty() -> &'static Shared<Self>;
}

impl<T: SharedEmpty> Default for Shared<T> {
    fn default() -> Shared<T> {
        Shared(Arc::clone(&T::empty().0))
    }
}

macro_rules! shared_empty {
    ($($t:ty),* $(,)?) => {$(
        impl SharedEmpty for $t {
            fn empty() -> &'static Shared<$t> {
                static EMPTY: std::sync::LazyLock<Shared<$t>> = std::sync::LazyLock::new(|| Shared::new(<$t>::default()));
                &EMPTY
            }
        }
    )*};
}

shared_empty!(
    std::collections::BTreeMap<String, String>,
    super::meta::Annotations,
    Vec<super::meta::OwnerReference>,
    Vec<super::pod::Container>,
    Vec<super::pod::Toleration>,
    Vec<super::node::Taint>,
    Vec<super::pod::PodCondition>,
    Vec<super::pod::ContainerStatus>,
);

impl<T> Shared<T> {
    pub fn new(value: T) -> Shared<T> {
        Shared(Arc::new(value))
    }

    /// Whether both are the one shared value (not merely equal): then a check already passed
    /// by one holds for the other.
    pub fn same(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> From<T> for Shared<T> {
    fn from(value: T) -> Shared<T> {
        Shared::new(value)
    }
}

// Concrete, not `impl<T> for &Shared<T> where &T: IntoIterator`: that blanket form sends type
// inference into an endless `Shared<Shared<..>>` search wherever a loop's type is still open.
impl<'a, T> IntoIterator for &'a Shared<Vec<T>> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Writing through a shared list copies it first, as any `&mut` access does.
impl<'a, T: Clone> IntoIterator for &'a mut Shared<Vec<T>> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        Arc::make_mut(&mut self.0).iter_mut()
    }
}

impl<'a, K, V> IntoIterator for &'a Shared<std::collections::BTreeMap<K, V>> {
    type Item = (&'a K, &'a V);
    type IntoIter = std::collections::btree_map::Iter<'a, K, V>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T, A> FromIterator<A> for Shared<T>
where
    T: FromIterator<A>,
{
    fn from_iter<I: IntoIterator<Item = A>>(items: I) -> Shared<T> {
        Shared::new(items.into_iter().collect())
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Clone> DerefMut for Shared<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.0)
    }
}

impl<T: PartialEq> PartialEq for Shared<T> {
    fn eq(&self, other: &Shared<T>) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl<T: Eq> Eq for Shared<T> {}

impl<T: Ord> PartialOrd for Shared<T> {
    fn partial_cmp(&self, other: &Shared<T>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Shared<T> {
    fn cmp(&self, other: &Shared<T>) -> std::cmp::Ordering {
        if Arc::ptr_eq(&self.0, &other.0) { std::cmp::Ordering::Equal } else { self.0.cmp(&other.0) }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize> Serialize for Shared<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Shared<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shared<T>, D::Error> {
        T::deserialize(deserializer).map(Shared::new)
    }
}

/// For `skip_serializing_if` on a shared list.
pub fn is_empty<T>(list: &Shared<Vec<T>>) -> bool {
    list.is_empty()
}

/// For `skip_serializing_if` on a shared map.
pub fn is_empty_map<K, V>(map: &Shared<std::collections::BTreeMap<K, V>>) -> bool {
    map.is_empty()
}

pub fn is_empty_annotations(map: &Shared<super::meta::Annotations>) -> bool {
    map.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_copies_only_the_writers_value() {
        let first: Shared<Vec<u8>> = vec![1, 2].into();
        let mut second = first.clone();
        assert!(Arc::ptr_eq(&first.0, &second.0), "a clone shares");
        second.push(3);
        assert_eq!((&*first, &*second), (&vec![1, 2], &vec![1, 2, 3]));
        assert!(!Arc::ptr_eq(&first.0, &second.0));
        assert_ne!(first, second);
        assert_eq!(first, Shared::new(vec![1, 2]), "equal by value, not only by pointer");
    }

    #[test]
    fn it_serializes_as_its_value() {
        let value: Shared<Vec<String>> = vec!["a".to_string()].into();
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, r#"["a"]"#);
        assert_eq!(serde_json::from_str::<Shared<Vec<String>>>(&json).unwrap(), value);
    }
}
