//! The garbage collector (background propagation): when an owner is gone, delete what it
//! controlled — a Deployment's ReplicaSets, a ReplicaSet's pods.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{delete_pod_gracefully, earliest, write_failed};
use crate::cluster::objects::{Kind, Pod, ReplicaSet};

const COMPONENT: &str = "garbage-collector-controller";
use crate::cluster::store::ObjectKey;

pub fn collect(owner_uid: &str, ctx: &mut Context) -> Option<Millis> {
    let replica_sets: Vec<ObjectKey> = ctx
        .store
        .list::<ReplicaSet>()
        .filter(|rs| rs.metadata.controller().is_some_and(|o| o.uid == owner_uid))
        .map(|rs| ObjectKey::of(&rs.metadata))
        .collect();
    let mut requeue = None;
    for key in replica_sets {
        if let Err(err) = ctx.store.delete::<ReplicaSet>(&key) {
            requeue = earliest(requeue, write_failed(ctx, Kind::ReplicaSet, &key, COMPONENT, &err));
        }
    }
    let pods: Vec<ObjectKey> = ctx.store.pods_owned_by(owner_uid).map(|p: &Pod| ObjectKey::of(&p.metadata)).collect();
    for key in pods {
        if let Err(err) = delete_pod_gracefully(ctx.store, &key, ctx.now) {
            requeue = earliest(requeue, write_failed(ctx, Kind::Pod, &key, COMPONENT, &err));
        }
    }
    requeue
}
