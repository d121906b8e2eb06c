//! The Deployment controller (upstream `pkg/controller/deployment`): owns one ReplicaSet per pod
//! template (named `<deployment>-<pod-template-hash>`), scales it to `spec.replicas`, scales older
//! ones to zero, and reports the status `kubectl rollout status` waits on.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::{Action, Controller, ControllerError, Key, earliest, settle};
use crate::cluster::objects::workload::DeploymentCondition;
use crate::cluster::objects::{Deployment, Kind, Object, ObjectMeta, OwnerReference, ReplicaSet, ReplicaSetSpec};
use crate::cluster::store::{Change, ChangeType, ObjectKey, Store};
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

#[derive(Debug, Default)]
pub struct DeploymentController;

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        "deployment"
    }

    fn component(&self) -> &'static str {
        COMPONENT
    }

    fn watches(&self) -> &'static [Kind] {
        &[Kind::Deployment, Kind::ReplicaSet]
    }

    /// A Deployment itself (the garbage collector handles its deletion), and the owner of a
    /// ReplicaSet that changed.
    fn triggers(&mut self, change: &Change, _store: &Store, _now: Millis, out: &mut Vec<Key>) {
        match &change.object {
            Object::Deployment(d) if change.type_ != ChangeType::Deleted => {
                out.push(Key::Object(ObjectKey::of(&d.metadata)))
            }
            Object::ReplicaSet(rs) => {
                out.extend(Key::controlling_owner(&rs.metadata, "Deployment"));
            }
            _ => {}
        }
    }

    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError> {
        Ok(Action::requeue_at(ctx.now, sync(key.object(self.name())?, ctx)?))
    }
}

fn sync(key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, ControllerError> {
    let Some(d) = ctx.store.get::<Deployment>(key).cloned() else { return Ok(None) };
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
                Err(err) => requeue = earliest(requeue, settle(Err::<(), _>(err), Kind::Deployment, key, ctx.now)?),
            }
        }
        Some(rs) if rs.spec.replicas != Some(desired) => {
            let from = rs.spec.replicas.unwrap_or(0);
            let rs_key = ObjectKey::of(&rs.metadata);
            match ctx.store.modify::<ReplicaSet>(&rs_key, |rs| rs.spec.replicas = Some(desired)) {
                Ok(_) => scaled(ctx, &d, &new_name, if desired > from { "up" } else { "down" }, Some(from), desired),
                Err(err) => requeue = earliest(requeue, settle(Err::<(), _>(err), Kind::ReplicaSet, &rs_key, ctx.now)?),
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
            Err(err) => requeue = earliest(requeue, settle(Err::<(), _>(err), Kind::ReplicaSet, &old_key, ctx.now)?),
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
    let now = ctx.store.epoch().stamp(ctx.now);
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
    Ok(earliest(requeue, settle(written, Kind::Deployment, key, ctx.now)?))
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
            }]
            .into(),
            ..ObjectMeta::default()
        },
        spec: ReplicaSetSpec { replicas: Some(replicas), selector, template, extra: Default::default() },
        ..ReplicaSet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::harness::{self, Harness};
    use crate::cluster::controllers::{MAX_FAILURE_BACKOFF, failure_backoff};

    fn replica_sets(h: &Harness) -> Vec<(String, Option<i32>)> {
        h.store.list::<ReplicaSet>().map(|rs| (rs.metadata.name.clone(), rs.spec.replicas)).collect()
    }

    #[test]
    fn a_new_deployment_gets_one_replica_set_named_by_its_template_hash() {
        let mut h = Harness::new();
        let key = h.seed(harness::deployment("web", 3));
        let d = h.store.get::<Deployment>(&key).unwrap().clone();
        let hash = pod_template_hash(&d);

        assert_eq!(h.run(&mut DeploymentController, &Key::Object(key.clone())), Action::await_change());
        let name = format!("web-{hash}");
        assert_eq!(replica_sets(&h), [(name.clone(), Some(3))]);
        let rs = h.store.get::<ReplicaSet>(&ObjectKey::new("default", &name)).unwrap();
        assert_eq!(rs.spec.template.metadata.labels.get(HASH_LABEL), Some(&hash));
        assert_eq!(rs.metadata.controller().map(|o| o.uid.as_str()), Some(d.metadata.uid.as_str()));
        let events = h.events();
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].1, events[0].3.as_str()),
            ("ScalingReplicaSet", &*format!("Scaled up replica set {name} to 3"))
        );
        // Nothing is available yet, and the status says so.
        let status = &h.store.get::<Deployment>(&key).unwrap().status;
        let available = status.conditions.iter().find(|c| c.type_ == "Available").unwrap();
        assert_eq!((available.status.as_str(), available.reason.as_str()), ("False", "MinimumReplicasUnavailable"));

        // Level-triggered: a second run changes nothing.
        h.run(&mut DeploymentController, &Key::Object(key));
        assert_eq!(h.writes(), []);
    }

    #[test]
    fn a_changed_template_scales_the_old_replica_set_to_zero_and_a_new_one_up() {
        let mut h = Harness::new();
        let key = h.seed(harness::deployment("web", 3));
        h.run(&mut DeploymentController, &Key::Object(key.clone()));
        let old = replica_sets(&h)[0].0.clone();
        h.store.modify::<Deployment>(&key, |d| d.spec.template.spec.containers[0].image = "nginx:2".into()).unwrap();

        h.run(&mut DeploymentController, &Key::Object(key.clone()));
        let new = format!("web-{}", pod_template_hash(h.store.get::<Deployment>(&key).unwrap()));
        assert_ne!(new, old);
        let mut expected = vec![(old.clone(), Some(0)), (new.clone(), Some(3))];
        expected.sort();
        assert_eq!(replica_sets(&h), expected);
        let messages: Vec<String> = h.events().into_iter().map(|e| e.3).collect();
        assert_eq!(
            messages,
            [format!("Scaled up replica set {new} to 3"), format!("Scaled down replica set {old} from 3 to 0")]
        );
    }

    #[test]
    fn a_taken_replica_set_name_fails_with_a_warning_and_backs_off_longer_each_time() {
        let mut h = Harness::new();
        let key = h.seed(harness::deployment("web", 1));
        let hash = pod_template_hash(h.store.get::<Deployment>(&key).unwrap());
        // Someone else's ReplicaSet holds the name this Deployment's must have.
        h.seed(harness::replica_set(&format!("web-{hash}"), 1));
        let key = Key::Object(key);

        for (failures, backoff) in [(1, 1_000), (2, 2_000), (3, 4_000)] {
            assert_eq!(failure_backoff(failures), Millis(backoff));
            assert_eq!(h.run(&mut DeploymentController, &key), Action::requeue(Millis(backoff)));
            let events = h.events();
            assert_eq!(events.len(), 1, "{events:?}");
            let (type_, reason, object, message) = &events[0];
            assert_eq!((*type_, *reason, object.as_str()), ("Warning", "FailedUpdate", "deployment/web"));
            assert!(message.starts_with("Error updating Deployment web: "), "{message}");
            assert!(message.contains("already exists"), "{message}");
        }
        assert_eq!(failure_backoff(40), MAX_FAILURE_BACKOFF);

        // Once the name is free the sync succeeds, and the next failure starts over at 1 s.
        h.store.delete::<ReplicaSet>(&ObjectKey::new("default", format!("web-{hash}"))).unwrap();
        assert_eq!(h.run(&mut DeploymentController, &key), Action::await_change());
        h.store.delete::<ReplicaSet>(&ObjectKey::new("default", format!("web-{hash}"))).unwrap();
        h.seed(harness::replica_set(&format!("web-{hash}"), 1));
        assert_eq!(h.run(&mut DeploymentController, &key), Action::requeue(Millis(1_000)));
    }

    #[test]
    fn a_replica_set_change_triggers_the_deployment_that_controls_it() {
        let mut h = Harness::new();
        let key = h.seed(harness::deployment("web", 1));
        h.run(&mut DeploymentController, &Key::Object(key.clone()));
        let since = h.store.resource_version();
        h.seed(harness::replica_set("loose", 1));
        let rs = ObjectKey::new("default", replica_sets(&h)[1].0.clone());
        h.store.modify::<ReplicaSet>(&rs, |rs| rs.status.replicas = 1).unwrap();
        assert_eq!(h.triggered(&mut DeploymentController, since), [Key::Object(key)]);
    }
}
