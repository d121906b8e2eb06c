//! The Deployment controller (upstream `pkg/controller/deployment`): owns one ReplicaSet per pod
//! template (named `<deployment>-<pod-template-hash>`), scales it to `spec.replicas`, scales older
//! ones to zero, and reports the status `kubectl rollout status` waits on.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{earliest, write_failed};
use crate::cluster::objects::workload::DeploymentCondition;
use crate::cluster::objects::{Deployment, Kind, ObjectMeta, OwnerReference, ReplicaSet, ReplicaSetSpec};
use crate::cluster::store::ObjectKey;
use sha2::{Digest, Sha256};

const HASH_LABEL: &str = "pod-template-hash";
const COMPONENT: &str = "deployment-controller";

/// A stable, name-safe hash of the pod template, as upstream's `ComputeHash` (10 characters
/// from the same vowel-free alphabet as generated names).
pub fn pod_template_hash(d: &Deployment) -> String {
    let json = serde_json::to_vec(&d.spec.template).unwrap_or_default();
    let digest = Sha256::digest(&json);
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    digest.iter().take(10).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

pub fn reconcile(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let d = ctx.store.get::<Deployment>(key)?.clone();
    let desired = d.spec.replicas.unwrap_or(1).max(0);
    let hash = pod_template_hash(&d);
    let new_name = format!("{}-{hash}", d.metadata.name);
    let owned: Vec<ReplicaSet> = ctx
        .store
        .list::<ReplicaSet>()
        .filter(|rs| {
            rs.metadata.namespace == d.metadata.namespace
                && rs.metadata.controller().is_some_and(|o| o.uid == d.metadata.uid)
        })
        .cloned()
        .collect();

    let mut requeue = None;
    match owned.iter().find(|rs| rs.metadata.name == new_name) {
        None => {
            let rs = new_replica_set(&d, &new_name, &hash, desired);
            match ctx.store.create(rs, ctx.now) {
                Ok(_) => scaled(ctx, &d, &new_name, "up", None, desired),
                Err(err) => requeue = earliest(requeue, write_failed(ctx, Kind::Deployment, key, COMPONENT, &err)),
            }
        }
        Some(rs) if rs.spec.replicas != Some(desired) => {
            let from = rs.spec.replicas.unwrap_or(0);
            let rs_key = ObjectKey::of(&rs.metadata);
            match ctx.store.modify::<ReplicaSet>(&rs_key, |rs| rs.spec.replicas = Some(desired)) {
                Ok(_) => scaled(ctx, &d, &new_name, if desired > from { "up" } else { "down" }, Some(from), desired),
                Err(err) => requeue = earliest(requeue, write_failed(ctx, Kind::ReplicaSet, &rs_key, COMPONENT, &err)),
            }
        }
        Some(_) => {}
    }
    // A changed template retires the old ReplicaSets (the Recreate strategy's shape).
    for old in owned.iter().filter(|rs| rs.metadata.name != new_name && rs.spec.replicas.unwrap_or(0) > 0) {
        let from = old.spec.replicas.unwrap_or(0);
        let old_key = ObjectKey::of(&old.metadata);
        match ctx.store.modify::<ReplicaSet>(&old_key, |rs| rs.spec.replicas = Some(0)) {
            Ok(_) => scaled(ctx, &d, &old.metadata.name, "down", Some(from), 0),
            Err(err) => requeue = earliest(requeue, write_failed(ctx, Kind::ReplicaSet, &old_key, COMPONENT, &err)),
        }
    }

    let owned: Vec<&ReplicaSet> = ctx
        .store
        .list::<ReplicaSet>()
        .filter(|rs| {
            rs.metadata.namespace == d.metadata.namespace
                && rs.metadata.controller().is_some_and(|o| o.uid == d.metadata.uid)
        })
        .collect();
    let replicas: i32 = owned.iter().map(|rs| rs.status.replicas).sum();
    let ready: i32 = owned.iter().map(|rs| rs.status.ready_replicas).sum();
    let available: i32 = owned.iter().map(|rs| rs.status.available_replicas).sum();
    let updated = owned.iter().find(|rs| rs.metadata.name == new_name).map_or(0, |rs| rs.status.replicas);
    let now = ctx.now.to_rfc3339();
    let generation = d.metadata.generation;
    let written = ctx.store.modify::<Deployment>(key, |d| {
        let s = &mut d.status;
        s.observed_generation = generation;
        s.replicas = replicas;
        s.updated_replicas = updated;
        s.ready_replicas = ready;
        s.available_replicas = available;
        s.unavailable_replicas = (desired - available).max(0);
        let (status, reason, message) = if available >= desired {
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.".to_string())
        } else {
            ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".to_string())
        };
        set_condition(&mut s.conditions, "Available", status, reason, message, &now);
        let (reason, message) = if updated == desired && available >= desired {
            ("NewReplicaSetAvailable", format!("ReplicaSet \"{new_name}\" has successfully progressed."))
        } else {
            ("ReplicaSetUpdated", format!("ReplicaSet \"{new_name}\" is progressing."))
        };
        set_condition(&mut s.conditions, "Progressing", "True", reason, message, &now);
    });
    earliest(requeue, written.err().and_then(|err| write_failed(ctx, Kind::Deployment, key, COMPONENT, &err)))
}

fn set_condition(
    conditions: &mut Vec<DeploymentCondition>,
    type_: &str,
    status: &str,
    reason: &str,
    message: String,
    now: &str,
) {
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status && c.reason == reason && c.message == message => {}
        Some(c) => {
            if c.status != status {
                c.last_transition_time = Some(now.to_string());
            }
            c.status = status.into();
            c.reason = reason.into();
            c.message = message;
            c.last_update_time = Some(now.to_string());
        }
        None => conditions.push(DeploymentCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_update_time: Some(now.to_string()),
            last_transition_time: Some(now.to_string()),
        }),
    }
}

fn scaled(ctx: &mut Context, d: &Deployment, rs: &str, direction: &str, from: Option<i32>, to: i32) {
    let message = match from {
        Some(from) => format!("Scaled {direction} replica set {rs} from {from} to {to}"),
        None => format!("Scaled {direction} replica set {rs} to {to}"),
    };
    ctx.recorder.record(
        ctx.store,
        ctx.now,
        Kind::Deployment,
        &d.metadata,
        "Normal",
        "ScalingReplicaSet",
        message,
        "deployment-controller",
    );
}

fn new_replica_set(d: &Deployment, name: &str, hash: &str, replicas: i32) -> ReplicaSet {
    let mut template = d.spec.template.clone();
    template.metadata.labels.insert(HASH_LABEL.into(), hash.into());
    let mut selector = d.spec.selector.clone();
    selector.match_labels.insert(HASH_LABEL.into(), hash.into());
    let mut labels = template.metadata.labels.clone();
    labels.insert(HASH_LABEL.into(), hash.into());
    ReplicaSet {
        metadata: ObjectMeta {
            name: name.into(),
            namespace: d.metadata.namespace.clone(),
            labels,
            owner_references: vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: d.metadata.name.clone(),
                uid: d.metadata.uid.clone(),
                controller: true,
                block_owner_deletion: true,
            }],
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec { replicas: Some(replicas), selector, template },
        ..ReplicaSet::default()
    }
}
