//! The ReplicaSet controller (upstream `pkg/controller/replicaset`): keep `spec.replicas` active
//! pods. Terminating pods do not count, so a pod evicted from a dead node is replaced at once,
//! even while it is stuck `Terminating` there.

use std::collections::BTreeMap;

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, delete_pod_gracefully, earliest, settle};
use crate::cluster::objects::{Kind, Object, ObjectMeta, OwnerReference, Pod, PodState, ReplicaSet};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store, StoreError};

const COMPONENT: &str = "replicaset-controller";

/// Upstream's `BurstReplicas`: at most this many pods created or deleted per sync, so one
/// `scale` to 20,000 neither blocks the control plane nor floods the API at once.
pub const BURST_REPLICAS: usize = 500;
/// Upstream's `SlowStartInitialBatchSize`: the first batch of a sync creates one pod.
const SLOW_START_INITIAL_BATCH: usize = 1;
/// How long a sync that hit the burst cap waits for its informer to observe what it did
/// (upstream's expectations; one tick here). Until then the ReplicaSet creates or deletes
/// nothing more, however often its pods' changes wake it: a 30,000-replica ReplicaSet fills at
/// 500 pods a tick rather than all at one instant, as upstream's does over its informer's
/// round trips.
pub const BURST_RESYNC: Millis = Millis(crate::clock::TICK_MS);
/// How soon a sync that failed to create is retried.
const FAILED_CREATE_RETRY: Millis = Millis(1_000);

#[derive(Debug, Default)]
pub struct ReplicaSetController {
    /// ReplicaSets whose last sync hit [`BURST_REPLICAS`], and when that burst is observed.
    awaiting: BTreeMap<ObjectKey, Millis>,
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        "replicaset"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::ReplicaSet, Kind::Pod]
    }

    /// A ReplicaSet itself (the garbage collector handles its deletion), and the owner of a pod
    /// that changed.
    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::ReplicaSet(rs) if change.type_ != ChangeType::Deleted => {
                out.push(Key::Object(ObjectKey::of(&rs.metadata)))
            }
            Object::Pod(pod) => {
                out.extend(Key::controlling_owner(&pod.metadata, "ReplicaSet"));
            }
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        let key = key.object(self.name())?;
        if let Some(&observed) = self.awaiting.get(key) {
            if observed > ctx.now {
                return Ok(Action::requeue_at(ctx.now, earliest(Some(observed), update_status(key, ctx)?)));
            }
            self.awaiting.remove(key);
        }
        let (requeue, capped) = sync(key, ctx)?;
        if capped {
            self.awaiting.insert(key.clone(), ctx.now + BURST_RESYNC);
        }
        Ok(Action::requeue_at(ctx.now, requeue))
    }
}

/// One sync: the next time it asks to run, and whether it hit the burst cap.
fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<(Option<Millis>, bool), ControllerError> {
    let Some(rs) = ctx.store.get::<ReplicaSet>(key) else { return Ok((None, false)) };
    if rs.metadata.is_terminating() {
        return Ok((None, false));
    }
    let desired = rs.spec.replicas.unwrap_or(1).max(0) as usize;
    // Counted by the store on its write path: a sync costs nothing per pod unless it scales down.
    let active = ctx.store.owned_pod_counts(&rs.metadata.uid).active;
    let mut requeue = None;

    if active < desired {
        let missing = desired - active;
        let burst = missing.min(BURST_REPLICAS);
        let rs = rs.clone();
        // Admitted once for the burst: admission depends on the template alone, and the
        // replicas then share what it added (their tolerations are one allocation, and the
        // scheduler's equal-class checks compare pointers, not lists).
        let mut template = pod_from_template(&rs);
        crate::cluster::admission::admit_pod(&mut template, ctx.timing);
        let (_, failure) = slow_start_batch(burst, SLOW_START_INITIAL_BATCH, || {
            let pod = template.clone();
            let (type_, reason, message, result) = match ctx.store.create(pod, ctx.now) {
                Ok(created) => {
                    // The store may have pointed the pod at an equal list it already holds:
                    // the rest of the burst takes that one, so no write compares the lists.
                    template.spec.tolerations.clone_from(&created.spec.tolerations);
                    ("Normal", "SuccessfulCreate", ["Created pod: ", created.metadata.name.as_str()].concat(), Ok(()))
                }
                Err(err) => ("Warning", "FailedCreate", format!("Error creating: {err}"), Err(err)),
            };
            ctx.recorder.record(ctx.now, Kind::ReplicaSet, &rs.metadata, type_, reason, message, COMPONENT);
            result
        });
        requeue = if failure.is_some() {
            Some(ctx.now + FAILED_CREATE_RETRY)
        } else if missing > burst {
            Some(ctx.now + BURST_RESYNC)
        } else {
            None
        };
        return Ok((earliest(requeue, update_status(key, ctx)?), missing > burst));
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
        return Ok((earliest(requeue, update_status(key, ctx)?), surplus > burst));
    }
    Ok((earliest(requeue, update_status(key, ctx)?), false))
}

/// Status from what exists now (level-triggered: recomputed, never incremented).
fn update_status(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(rs) = ctx.store.get::<ReplicaSet>(key) else { return Ok(None) };
    let counts = ctx.store.owned_pod_counts(&rs.metadata.uid);
    let (replicas, ready) = (counts.active as i32, counts.ready as i32);
    let generation = rs.metadata.generation;
    let status = &rs.status;
    if status.replicas == replicas
        && status.fully_labeled_replicas == replicas
        && status.ready_replicas == ready
        && status.available_replicas == ready
        && status.observed_generation == generation
    {
        return Ok(None);
    }
    let written = ctx.store.modify::<ReplicaSet>(key, |rs| {
        rs.status.replicas = replicas;
        rs.status.fully_labeled_replicas = replicas;
        rs.status.ready_replicas = ready;
        rs.status.available_replicas = ready;
        rs.status.observed_generation = generation;
    });
    settle(written, Kind::ReplicaSet, key, ctx.now)
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
        generate_name: compact_str::format_compact!("{}-", rs.metadata.name),
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
    use crate::cluster::controllers::harness::{self, Harness, Write};
    use crate::cluster::objects::{Container, LabelSelector, PodSpec, PodTemplateSpec, ReplicaSetSpec};

    fn replica_set(replicas: i32) -> ReplicaSet {
        let labels: std::collections::BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        ReplicaSet {
            metadata: ObjectMeta::namespaced("default", "web-1"),
            spec: ReplicaSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector { match_labels: labels.clone(), ..Default::default() },
                template: PodTemplateSpec {
                    metadata: ObjectMeta { labels: labels.into(), ..ObjectMeta::default() },
                    spec: PodSpec {
                        containers: vec![Container { name: "web".into(), image: "nginx".into(), ..Default::default() }]
                            .into(),
                        ..Default::default()
                    },
                },
                extra: Default::default(),
            },
            ..ReplicaSet::default()
        }
    }

    /// A pod of `rs` (as its template makes them) named `name`.
    fn pod_of(h: &Harness, rs: &ObjectKey, name: &str) -> Pod {
        let mut pod = pod_from_template(h.store.get::<ReplicaSet>(rs).unwrap());
        pod.metadata.name = name.into();
        pod
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
        let mut h = Harness::new();
        h.now = Millis(50);
        let rs = h.seed(replica_set(1_200));
        let key = Key::Object(rs.clone());
        let controller = &mut ReplicaSetController::default();

        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(h.store.len::<Pod>(), BURST_REPLICAS);
        let events = h.events();
        assert_eq!(events.len(), BURST_REPLICAS);
        assert!(events.iter().all(|(type_, reason, object, _)| (*type_, *reason, object.as_str())
            == ("Normal", "SuccessfulCreate", "replicaset/web-1")));
        // Woken again at the same instant (its pods changed), it waits for the burst to be seen.
        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(h.store.len::<Pod>(), BURST_REPLICAS);
        h.now = h.now + BURST_RESYNC;
        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(h.store.len::<Pod>(), 2 * BURST_REPLICAS);
        h.now = h.now + BURST_RESYNC;
        assert_eq!(h.run(controller, &key), Action::await_change());
        assert_eq!(h.store.len::<Pod>(), 1_200);
        assert_eq!(h.store.get::<ReplicaSet>(&rs).unwrap().status.replicas, 1_200);

        // Scaling down is capped and paced the same way.
        h.store.modify::<ReplicaSet>(&rs, |rs| rs.spec.replicas = Some(100)).unwrap();
        let active = |h: &Harness| h.store.list::<Pod>().filter(|p| p.is_active()).count();
        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(active(&h), 1_200 - BURST_REPLICAS);
        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(active(&h), 1_200 - BURST_REPLICAS);
        h.now = h.now + BURST_RESYNC;
        assert_eq!(h.run(controller, &key), Action::requeue(BURST_RESYNC));
        assert_eq!(active(&h), 1_200 - 2 * BURST_REPLICAS);
        h.now = h.now + BURST_RESYNC;
        assert_eq!(h.run(controller, &key), Action::await_change());
        assert_eq!(active(&h), 100);
    }

    #[test]
    fn created_pods_carry_the_template_and_a_controller_reference() {
        let mut h = Harness::new();
        let rs = h.seed(replica_set(2));
        h.run(&mut ReplicaSetController::default(), &Key::Object(rs.clone()));
        let uid = h.store.get::<ReplicaSet>(&rs).unwrap().metadata.uid.clone();
        let pods: Vec<&Pod> = h.store.list::<Pod>().collect();
        assert_eq!(pods.len(), 2);
        for pod in pods {
            assert!(pod.metadata.name.starts_with("web-1-"), "{}", pod.metadata.name);
            assert_eq!(pod.metadata.labels.get("app").map(String::as_str), Some("web"));
            let owner = pod.metadata.controller().unwrap();
            assert_eq!((owner.kind.as_str(), owner.uid.as_str()), ("ReplicaSet", uid.as_str()));
        }
    }

    #[test]
    fn scaling_down_deletes_unscheduled_then_not_ready_pods_and_keeps_ready_ones() {
        let mut h = Harness::new();
        let rs = h.seed(replica_set(3));
        let ready = pod_of(&h, &rs, "web-1-ready");
        let not_ready = pod_of(&h, &rs, "web-1-slow");
        let unscheduled = pod_of(&h, &rs, "web-1-pending");
        h.seed(harness::running(ready, "pin-1", "10.0.0.1", true));
        h.seed(harness::running(not_ready, "pin-2", "10.0.0.2", false));
        h.seed(unscheduled);
        h.store.modify::<ReplicaSet>(&rs, |rs| rs.spec.replicas = Some(1)).unwrap();

        assert_eq!(h.run(&mut ReplicaSetController::default(), &Key::Object(rs.clone())), Action::await_change());
        let pod = |name: &str| h.store.get::<Pod>(&ObjectKey::new("default", name));
        // Unbound: gone at once. Bound: marked for its kubelet to finish.
        assert!(pod("web-1-pending").is_none());
        assert!(pod("web-1-slow").unwrap().metadata.is_terminating());
        assert!(pod("web-1-ready").unwrap().is_active());
        let deleted: Vec<String> = h.events().into_iter().filter(|e| e.1 == "SuccessfulDelete").map(|e| e.3).collect();
        assert_eq!(deleted, ["Deleted pod: web-1-pending", "Deleted pod: web-1-slow"]);
        // Status counts what remains active.
        let status = &h.store.get::<ReplicaSet>(&rs).unwrap().status;
        assert_eq!((status.replicas, status.ready_replicas), (1, 1));
    }

    #[test]
    fn a_replacement_is_created_for_a_terminating_pod_and_the_status_write_is_the_last() {
        let mut h = Harness::new();
        let rs = h.seed(replica_set(1));
        let gone = h.seed(harness::running(pod_of(&h, &rs, "web-1-old"), "pin-1", "10.0.0.1", true));
        delete_pod_gracefully(&mut h.store, &gone, Millis::ZERO).unwrap();
        h.run(&mut ReplicaSetController::default(), &Key::Object(rs.clone()));
        let writes = h.writes();
        assert_eq!(writes.len(), 2, "{writes:?}");
        assert_eq!((writes[0].type_, writes[0].kind), (ChangeType::Added, Kind::Pod));
        assert_eq!(writes[1], Write { type_: ChangeType::Modified, kind: Kind::ReplicaSet, name: "web-1".into() });
    }

    #[test]
    fn a_pod_change_triggers_the_replica_set_that_controls_it() {
        let mut h = Harness::new();
        let rs = h.seed(replica_set(1));
        let since = h.store.resource_version();
        h.seed(harness::owned_by(harness::pod("web-1-x"), "ReplicaSet", "web-1", "any"));
        h.seed(harness::owned_by(harness::pod("job-x"), "Job", "job", "other"));
        h.seed(harness::pod("bare"));
        assert_eq!(h.triggered(&mut ReplicaSetController::default(), since), [Key::Object(rs.clone())]);
        // Its own creation triggers it too; its deletion is the garbage collector's business.
        assert_eq!(h.triggered(&mut ReplicaSetController::default(), 0)[0], Key::Object(rs.clone()));
        h.store.delete::<ReplicaSet>(&rs).unwrap();
        let since = h.store.resource_version() - 1;
        assert_eq!(h.triggered(&mut ReplicaSetController::default(), since), []);
    }
}
