//! The garbage collector (background propagation): when an owner is gone, delete what it
//! controlled — a Deployment's ReplicaSets, a ReplicaSet's pods.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::delete_pod_gracefully;
use crate::cluster::objects::{Pod, ReplicaSet};
use crate::cluster::store::ObjectKey;

pub fn collect(owner_uid: &str, ctx: &mut Context) -> Option<Millis> {
    let replica_sets: Vec<ObjectKey> = ctx
        .store
        .list::<ReplicaSet>()
        .filter(|rs| rs.metadata.controller().is_some_and(|o| o.uid == owner_uid))
        .map(|rs| ObjectKey::of(&rs.metadata))
        .collect();
    for key in replica_sets {
        let _ = ctx.store.delete::<ReplicaSet>(&key);
    }
    let pods: Vec<ObjectKey> = ctx.store.pods_owned_by(owner_uid).map(|p: &Pod| ObjectKey::of(&p.metadata)).collect();
    for key in pods {
        let _ = delete_pod_gracefully(ctx.store, &key, ctx.now);
    }
    None
}
