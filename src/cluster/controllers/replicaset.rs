//! The ReplicaSet controller (upstream `pkg/controller/replicaset`): keep `spec.replicas` active
//! pods. Terminating pods do not count, so a pod evicted from a dead node is replaced at once,
//! even while it is stuck `Terminating` there.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{delete_pod_gracefully, earliest, write_failed};
use crate::cluster::objects::{Kind, ObjectMeta, OwnerReference, Pod, PodState, ReplicaSet};
use crate::cluster::store::{ObjectKey, StoreError};

const COMPONENT: &str = "replicaset-controller";

/// Upstream's `BurstReplicas`: at most this many pods created or deleted per sync, so one
/// `scale` to 20,000 neither blocks the control plane nor floods the API at once.
pub const BURST_REPLICAS: usize = 500;
/// Upstream's `SlowStartInitialBatchSize`: the first batch of a sync creates one pod.
const SLOW_START_INITIAL_BATCH: usize = 1;
/// When a sync that hit the burst cap runs again: by then the informer has seen its creations
/// (upstream waits on expectations; one tick here), so the rest is created over following ticks.
pub const BURST_RESYNC: Millis = Millis(crate::clock::TICK_MS);
/// How soon a sync that failed to create is retried.
const FAILED_CREATE_RETRY: Millis = Millis(1_000);

pub fn reconcile(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let rs = ctx.store.get::<ReplicaSet>(key)?;
    if rs.metadata.is_terminating() {
        return None;
    }
    let desired = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    // Borrowed, not cloned: only counts and (when scaling down) the victims' keys are needed.
    let active = ctx.store.pods_owned_by(&rs.metadata.uid).filter(|p| p.is_active()).count();
    let mut requeue = None;

    if active < desired {
        let missing = desired - active;
        let burst = missing.min(BURST_REPLICAS);
        let rs = rs.clone();
        let template = pod_from_template(&rs);
        let (_, failure) = slow_start_batch(burst, SLOW_START_INITIAL_BATCH, || {
            let mut pod = template.clone();
            crate::cluster::admission::admit_pod(&mut pod, ctx.timing);
            let (type_, reason, message, result) = match ctx.store.create(pod, ctx.now) {
                Ok(created) => {
                    ("Normal", "SuccessfulCreate", format!("Created pod: {}", created.metadata.name), Ok(()))
                }
                Err(err) => ("Warning", "FailedCreate", format!("Error creating: {err}"), Err(err)),
            };
            ctx.recorder.record(ctx.store, ctx.now, Kind::ReplicaSet, &rs.metadata, type_, reason, message, COMPONENT);
            result
        });
        requeue = if failure.is_some() {
            Some(ctx.now + FAILED_CREATE_RETRY)
        } else if missing > burst {
            Some(ctx.now + BURST_RESYNC)
        } else {
            None
        };
        return earliest(requeue, update_status(key, ctx));
    } else if active > desired {
        // Upstream's deletion ranking: unscheduled before scheduled, pending before running,
        // not-ready before ready, newest first.
        let mut ranked: Vec<(u8, std::cmp::Reverse<u64>, &Pod)> = ctx
            .store
            .pods_owned_by(&rs.metadata.uid)
            .filter(|p| p.is_active())
            .map(|p| {
                let rank = match p.state() {
                    PodState::Pending => 0,
                    PodState::ContainerCreating => 1,
                    _ if !p.is_ready() => 2,
                    _ => 3,
                };
                (rank, std::cmp::Reverse(p.metadata.resource_version.parse::<u64>().unwrap_or(0)), p)
            })
            .collect();
        ranked.sort_by_key(|(rank, rv, _)| (*rank, *rv));
        let surplus = active - desired;
        let burst = surplus.min(BURST_REPLICAS);
        let victims: Vec<ObjectKey> = ranked.iter().take(burst).map(|(_, _, p)| ObjectKey::of(&p.metadata)).collect();
        let rs_meta = rs.metadata.clone();
        for victim in victims {
            match delete_pod_gracefully(ctx.store, &victim, ctx.now) {
                Ok(()) => ctx.recorder.record(
                    ctx.store,
                    ctx.now,
                    Kind::ReplicaSet,
                    &rs_meta,
                    "Normal",
                    "SuccessfulDelete",
                    format!("Deleted pod: {}", victim.name),
                    COMPONENT,
                ),
                // Already gone: the informer will tell us; the next sync recounts.
                Err(StoreError::NotFound { .. }) => {}
                Err(err) => {
                    ctx.recorder.record(
                        ctx.store,
                        ctx.now,
                        Kind::ReplicaSet,
                        &rs_meta,
                        "Warning",
                        "FailedDelete",
                        format!("Error deleting: {err}"),
                        COMPONENT,
                    );
                    requeue = Some(ctx.now + FAILED_CREATE_RETRY);
                }
            }
        }
        if requeue.is_none() && surplus > burst {
            requeue = Some(ctx.now + BURST_RESYNC);
        }
    }
    earliest(requeue, update_status(key, ctx))
}

/// Status from what exists now (level-triggered: recomputed, never incremented).
fn update_status(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let rs = ctx.store.get::<ReplicaSet>(key)?;
    let (mut replicas, mut ready) = (0, 0);
    for pod in ctx.store.pods_owned_by(&rs.metadata.uid).filter(|p| p.is_active()) {
        replicas += 1;
        ready += i32::from(pod.is_ready());
    }
    let generation = rs.metadata.generation;
    let status = &rs.status;
    if status.replicas == replicas
        && status.fully_labeled_replicas == replicas
        && status.ready_replicas == ready
        && status.available_replicas == ready
        && status.observed_generation == generation
    {
        return None;
    }
    let written = ctx.store.modify::<ReplicaSet>(key, |rs| {
        rs.status.replicas = replicas;
        rs.status.fully_labeled_replicas = replicas;
        rs.status.ready_replicas = ready;
        rs.status.available_replicas = ready;
        rs.status.observed_generation = generation;
    });
    written.err().and_then(|err| write_failed(ctx, Kind::ReplicaSet, key, COMPONENT, &err))
}

/// Upstream's `slowStartBatch`: calls `create` in batches of `initial`, then twice as many each
/// time, `count` in all; after a batch with a failure it stops (the batch itself runs to its end,
/// as upstream's runs in parallel). Returns the successes and the first failure.
pub fn slow_start_batch<E>(
    count: usize,
    initial: usize,
    mut create: impl FnMut() -> Result<(), E>,
) -> (usize, Option<E>) {
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = remaining.min(initial.max(1));
    while batch > 0 {
        let mut first_failure = None;
        for _ in 0..batch {
            match create() {
                Ok(()) => successes += 1,
                Err(err) => {
                    first_failure.get_or_insert(err);
                }
            }
        }
        if first_failure.is_some() {
            return (successes, first_failure);
        }
        remaining -= batch;
        batch = (2 * batch).min(remaining);
    }
    (successes, None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::events::EventRecorder;
    use crate::cluster::objects::{Container, LabelSelector, PodSpec, PodTemplateSpec, ReplicaSetSpec};
    use crate::cluster::store::Store;
    use crate::cluster::timing::{Preset, Timing};

    fn replica_set(store: &mut Store, replicas: i32) -> ObjectKey {
        let labels: std::collections::BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        let rs = ReplicaSet {
            metadata: ObjectMeta::namespaced("default", "web-1"),
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector { match_labels: labels.clone(), ..Default::default() },
                template: PodTemplateSpec {
                    metadata: ObjectMeta { labels, ..ObjectMeta::default() },
                    spec: PodSpec {
                        containers: vec![Container { name: "web".into(), image: "nginx".into(), ..Default::default() }],
                        ..Default::default()
                    },
                },
            },
            ..ReplicaSet::default()
        };
        ObjectKey::of(&store.create(rs, Millis::ZERO).unwrap().metadata)
    }

    #[test]
    fn slow_start_doubles_batches_and_stops_after_the_batch_that_failed() {
        let mut sizes = Vec::new();
        let mut calls = 0;
        let (ok, err) = slow_start_batch(20, 1, || {
            calls += 1;
            sizes.push(calls);
            Ok::<(), ()>(())
        });
        assert_eq!((ok, err), (20, None));
        assert_eq!(calls, 20);

        // Batches 1, 2, 4, 8: the 5th call (in the batch of 4, calls 4..=7) fails; that batch
        // still runs to its end (7 calls, 6 successes) and no batch of 8 starts.
        let mut calls = 0;
        let (ok, err) = slow_start_batch(100, 1, || {
            calls += 1;
            if calls == 5 { Err(calls) } else { Ok(()) }
        });
        assert_eq!((ok, err, calls), (6, Some(5), 7));

        // A failure in the very first batch stops at once.
        let mut calls = 0;
        let (ok, err) = slow_start_batch(100, 1, || {
            calls += 1;
            Err::<(), _>("quota")
        });
        assert_eq!((ok, err, calls), (0, Some("quota"), 1));
    }

    #[test]
    fn a_big_scale_up_creates_one_burst_per_sync_and_asks_to_run_again() {
        let mut store = Store::new(crate::rng::stream(1, "store"));
        let mut recorder = EventRecorder::default();
        let timing = Timing::preset(Preset::Arcade);
        let key = replica_set(&mut store, 1_200);
        let mut ctx = Context { store: &mut store, recorder: &mut recorder, now: Millis(50), timing: &timing };

        assert_eq!(reconcile(&key, &mut ctx), Some(Millis(50) + BURST_RESYNC));
        assert_eq!(ctx.store.len::<Pod>(), BURST_REPLICAS);
        assert_eq!(reconcile(&key, &mut ctx), Some(Millis(50) + BURST_RESYNC));
        assert_eq!(ctx.store.len::<Pod>(), 2 * BURST_REPLICAS);
        assert_eq!(reconcile(&key, &mut ctx), None);
        assert_eq!(ctx.store.len::<Pod>(), 1_200);
        assert_eq!(ctx.store.get::<ReplicaSet>(&key).unwrap().status.replicas, 1_200);

        // Scaling down is capped the same way.
        ctx.store.modify::<ReplicaSet>(&key, |rs| rs.spec.replicas = Some(100)).unwrap();
        assert_eq!(reconcile(&key, &mut ctx), Some(Millis(50) + BURST_RESYNC));
        let active = |ctx: &Context| ctx.store.list::<Pod>().filter(|p| p.is_active()).count();
        assert_eq!(active(&ctx), 1_200 - BURST_REPLICAS);
        assert_eq!(reconcile(&key, &mut ctx), Some(Millis(50) + BURST_RESYNC));
        assert_eq!(active(&ctx), 1_200 - 2 * BURST_REPLICAS);
        assert_eq!(reconcile(&key, &mut ctx), None);
        assert_eq!(active(&ctx), 100);
    }
}
