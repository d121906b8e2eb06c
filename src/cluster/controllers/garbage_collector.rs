//! The garbage collector (background propagation): when an owner is gone, delete what it
//! controlled — a Deployment's ReplicaSets, a ReplicaSet's pods.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, delete_pod_gracefully, earliest, settle};
use crate::cluster::objects::{Kind, Object, Pod, ReplicaSet};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};

const COMPONENT: &str = "garbage-collector-controller";

#[derive(Debug, Default)]
pub struct GarbageCollector;

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage_collector"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Deployment, Kind::ReplicaSet]
    }

    /// An owner deleted: its uid, since a new owner of the same name owns nothing of the old's.
    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        if change.type_ != ChangeType::Deleted {
            return;
        }
        match &change.object {
            Object::Deployment(d) => out.push(Key::Owner { uid: d.metadata.uid.clone() }),
            Object::ReplicaSet(rs) => out.push(Key::Owner { uid: rs.metadata.uid.clone() }),
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let Key::Owner { uid } = key else {
            return Err(ControllerError::UnexpectedKey { controller: self.name(), key: key.clone() });
        };
        Ok(Action::requeue_at(ctx.now, collect(uid, ctx)?))
    }
}

fn collect(owner_uid: &str, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let replica_sets: Vec<ObjectKey> = ctx
        .store
        .list::<ReplicaSet>()
        .filter(|rs| rs.metadata.controller().is_some_and(|o| o.uid == owner_uid))
        .map(|rs| ObjectKey::of(&rs.metadata))
        .collect();
    let mut requeue = None;
    for key in replica_sets {
        requeue = earliest(requeue, settle(ctx.store.delete::<ReplicaSet>(&key), Kind::ReplicaSet, &key, ctx.now)?);
    }
    let pods: Vec<ObjectKey> = ctx.store.pods_owned_by(owner_uid).map(|p: &Pod| ObjectKey::of(&p.metadata)).collect();
    for key in pods {
        requeue = earliest(requeue, settle(delete_pod_gracefully(ctx.store, &key, ctx.now), Kind::Pod, &key, ctx.now)?);
    }
    Ok(requeue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::objects::{Deployment, OwnerReference};

    fn replica_set(name: &str, owner_uid: &str) -> ReplicaSet {
        let mut rs = harness::replica_set(name, 1);
        rs.metadata.owner_references.push(OwnerReference {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            uid: owner_uid.into(),
            controller: true,
            block_owner_deletion: true,
        });
        rs
    }

    #[test]
    fn the_dependents_of_a_gone_owner_are_deleted_and_others_kept() {
        let mut h = Harness::new();
        h.seed(replica_set("web-old", "uid-gone"));
        h.seed(replica_set("web-new", "uid-alive"));
        h.seed(harness::owned_by(harness::pod("orphan"), "ReplicaSet", "web-old", "uid-gone"));
        h.seed(harness::running(
            harness::owned_by(harness::pod("orphan-running"), "ReplicaSet", "web-old", "uid-gone"),
            "pin-1",
            "10.0.0.1",
            true,
        ));
        h.seed(harness::owned_by(harness::pod("kept"), "ReplicaSet", "web-new", "uid-alive"));

        let action = h.run(&mut GarbageCollector, &Key::Owner { uid: "uid-gone".into() });
        assert_eq!(action, Action::await_change());
        let rs = |name: &str| h.store.get::<ReplicaSet>(&ObjectKey::new("default", name)).is_some();
        let pod = |name: &str| h.store.get::<Pod>(&ObjectKey::new("default", name));
        assert!(!rs("web-old") && rs("web-new"));
        // The unbound pod goes at once; the running one gracefully, through its kubelet.
        assert!(pod("orphan").is_none());
        assert!(pod("orphan-running").unwrap().metadata.is_terminating());
        assert!(pod("kept").unwrap().is_active());
    }

    #[test]
    fn only_an_owner_deleted_triggers_collection_by_its_uid() {
        let mut h = Harness::new();
        let d = h.seed(harness::deployment("web", 1));
        let rs = h.seed(replica_set("web-1", "uid-x"));
        assert_eq!(h.triggered(&mut GarbageCollector, 0), []);
        let since = h.store.resource_version();
        let d_uid = h.store.delete::<Deployment>(&d).unwrap().metadata.uid.clone();
        let rs_uid = h.store.delete::<ReplicaSet>(&rs).unwrap().metadata.uid.clone();
        assert_eq!(h.triggered(&mut GarbageCollector, since), [Key::Owner { uid: d_uid }, Key::Owner { uid: rs_uid }]);
        // A key that is not an owner's is a bug reported, not ignored.
        let wrong = Key::Object(ObjectKey::new("default", "web"));
        assert!(matches!(
            h.reconcile(&mut GarbageCollector, &wrong),
            Err(ControllerError::UnexpectedKey { controller: "garbage_collector", .. })
        ));
    }
}
