//! The ReplicaSet controller (upstream `pkg/controller/replicaset`): keep `spec.replicas` active
//! pods. Terminating pods do not count, so a pod evicted from a dead node is replaced at once,
//! even while it is stuck `Terminating` there.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::delete_pod_gracefully;
use crate::cluster::objects::{Kind, ObjectMeta, OwnerReference, Pod, PodState, ReplicaSet};
use crate::cluster::store::ObjectKey;

pub fn reconcile(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let rs = ctx.store.get::<ReplicaSet>(key)?.clone();
    if rs.metadata.is_terminating() {
        return None;
    }
    let owned: Vec<Pod> = ctx.store.pods_owned_by(&rs.metadata.uid).cloned().collect();
    let mut active: Vec<&Pod> = owned.iter().filter(|p| p.is_active()).collect();
    let desired = rs.spec.replicas.unwrap_or(1).max(0) as usize;

    if active.len() < desired {
        for _ in active.len()..desired {
            let mut pod = pod_from_template(&rs);
            crate::cluster::admission::admit_pod(&mut pod, ctx.timing);
            match ctx.store.create(pod, ctx.now) {
                Ok(created) => ctx.recorder.record(
                    ctx.store,
                    ctx.now,
                    Kind::ReplicaSet,
                    &rs.metadata,
                    "Normal",
                    "SuccessfulCreate",
                    format!("Created pod: {}", created.metadata.name),
                    "replicaset-controller",
                ),
                Err(err) => {
                    ctx.recorder.record(
                        ctx.store,
                        ctx.now,
                        Kind::ReplicaSet,
                        &rs.metadata,
                        "Warning",
                        "FailedCreate",
                        format!("Error creating: {err}"),
                        "replicaset-controller",
                    );
                    return Some(ctx.now + Millis(1_000));
                }
            }
        }
    } else if active.len() > desired {
        // Upstream's deletion ranking: unscheduled before scheduled, pending before running,
        // not-ready before ready, newest first.
        active.sort_by_key(|p| {
            let rank = match p.state() {
                PodState::Pending => 0,
                PodState::ContainerCreating => 1,
                _ if !p.is_ready() => 2,
                _ => 3,
            };
            (rank, std::cmp::Reverse(p.metadata.resource_version.parse::<u64>().unwrap_or(0)))
        });
        let surplus: Vec<ObjectKey> =
            active.iter().take(active.len() - desired).map(|p| ObjectKey::of(&p.metadata)).collect();
        for victim in surplus {
            if delete_pod_gracefully(ctx.store, &victim, ctx.now).is_ok() {
                ctx.recorder.record(
                    ctx.store,
                    ctx.now,
                    Kind::ReplicaSet,
                    &rs.metadata,
                    "Normal",
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", victim.name),
                    "replicaset-controller",
                );
            }
        }
    }

    // Status from what exists now (level-triggered: recomputed, never incremented).
    let owned: Vec<&Pod> = ctx.store.pods_owned_by(&rs.metadata.uid).filter(|p| p.is_active()).collect();
    let replicas = owned.len() as i32;
    let ready = owned.iter().filter(|p| p.is_ready()).count() as i32;
    let generation = rs.metadata.generation;
    let _ = ctx.store.modify::<ReplicaSet>(key, |rs| {
        rs.status.replicas = replicas;
        rs.status.fully_labeled_replicas = replicas;
        rs.status.ready_replicas = ready;
        rs.status.available_replicas = ready;
        rs.status.observed_generation = generation;
    });
    None
}

fn pod_from_template(rs: &ReplicaSet) -> Pod {
    let template = &rs.spec.template;
    let mut metadata = ObjectMeta {
        generate_name: format!("{}-", rs.metadata.name),
        namespace: rs.metadata.namespace.clone(),
        labels: template.metadata.labels.clone(),
        annotations: template.metadata.annotations.clone(),
        ..ObjectMeta::default()
    };
    metadata.owner_references.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: rs.metadata.name.clone(),
        uid: rs.metadata.uid.clone(),
        controller: true,
        block_owner_deletion: true,
    });
    Pod { metadata, spec: template.spec.clone(), ..Pod::default() }
}
