//! The controller manager: level-triggered, idempotent reconcilers, one file per upstream
//! controller, each implementing [`Controller`] (kube-runtime's shape): the keys a change
//! triggers are declared beside `reconcile`, which reads the store, writes what differs from the
//! desired state and returns an [`Action`]. [`registry`] is the one list the cluster runs.

pub mod crd;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod garbage_collector;
#[cfg(test)]
pub mod harness;
pub mod node_lifecycle;
pub mod persistent_volume;
pub mod rbac;
pub mod replicaset;
pub mod roll;
pub mod service_account;
pub mod statefulset;
pub mod taint_eviction;

use super::Context;
use super::objects::{Kind, Pod};
use super::store::{Change, ObjectKey, Store, StoreError};
use crate::clock::Millis;

/// Every controller the cluster runs, in the order a change is offered to them (so the order
/// their work is queued in, which keeps runs reproducible). Adding a controller is one line here.
pub fn registry() -> Vec<Box<dyn Controller>> {
    vec![
        Box::new(endpoints::EndpointsController),
        Box::new(replicaset::ReplicaSetController::default()),
        Box::new(garbage_collector::GarbageCollector),
        Box::new(deployment::DeploymentController),
        Box::new(taint_eviction::TaintEvictionController::default()),
        Box::new(node_lifecycle::NodeLifecycle::default()),
        Box::new(service_account::ServiceAccountsController),
        Box::new(rbac::BootstrapPolicy),
        Box::new(rbac::ClusterRoleAggregation),
        Box::new(crd::CrdEstablishingController),
        Box::new(roll::RollController::default()),
        Box::new(disruption::DisruptionController::default()),
        Box::new(persistent_volume::PersistentVolumeController),
        Box::new(statefulset::StatefulSetController),
    ]
}

/// What a controller's work queue holds. Most controllers reconcile one object; the garbage
/// collector works on an owner that is already gone (known only by uid); a periodic controller
/// (the node monitor) has one key it requeues every period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Object(ObjectKey),
    Owner { uid: String },
    Periodic,
}

impl Key {
    /// The object key a controller keyed by objects was handed; any other key is a routing bug,
    /// reported as [`ControllerError::UnexpectedKey`] against `controller`.
    pub fn object(&self, controller: &'static str) -> Result<&ObjectKey, ControllerError> {
        match self {
            Key::Object(key) => Ok(key),
            other => Err(ControllerError::UnexpectedKey { controller, key: other.clone() }),
        }
    }

    /// The key of `meta`'s controlling owner when that owner is a `kind` (kube-runtime's
    /// `trigger_owners`: a change to what a controller owns reconciles the owner).
    pub fn controlling_owner(meta: &crate::cluster::objects::ObjectMeta, kind: &str) -> Option<Key> {
        let owner = meta.controller().filter(|o| o.kind == kind)?;
        Some(Key::Object(ObjectKey::new(meta.namespace(), &owner.name)))
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Object(key) => key.fmt(f),
            Key::Owner { uid } => write!(f, "owner {uid}"),
            Key::Periodic => f.write_str("periodic"),
        }
    }
}

/// What to do after a successful reconcile, as kube-runtime's `Action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    requeue_after: Option<Millis>,
}

impl Action {
    /// Run again after `after` even if nothing changes (a deadline, a burst to continue).
    pub fn requeue(after: Millis) -> Action {
        Action { requeue_after: Some(after) }
    }

    /// Nothing to do until a change triggers this key again.
    pub fn await_change() -> Action {
        Action { requeue_after: None }
    }

    /// From an absolute instant to run again at (what the controllers compute), if any.
    pub fn requeue_at(now: Millis, at: Option<Millis>) -> Action {
        Action { requeue_after: at.map(|at| at.saturating_sub(now)) }
    }

    pub fn requeue_after(&self) -> Option<Millis> {
        self.requeue_after
    }
}

/// Why a reconcile failed; the [`Controller::error_policy`] reports it and retries.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    /// A write failed for a reason that re-reading will not fix (invalid, already exists).
    #[error("Error updating {} {}: {source}", kind.name(), key.name)]
    Write {
        kind: Kind,
        key: ObjectKey,
        #[source]
        source: StoreError,
    },
    /// A key of a shape this controller does not reconcile (its `triggers` and `reconcile`
    /// disagree: a bug, reported rather than ignored).
    #[error("controller {controller} cannot reconcile key {key}")]
    UnexpectedKey { controller: &'static str, key: Key },
}

impl ControllerError {
    /// The object a Warning about this error is recorded on, if there is one.
    fn involved(&self) -> Option<(Kind, &ObjectKey)> {
        match self {
            ControllerError::Write { kind, key, .. } => Some((*kind, key)),
            ControllerError::UnexpectedKey { .. } => None,
        }
    }
}

/// A controller, as kube-runtime's `Controller` is assembled: what it watches, which keys a
/// change triggers, how to reconcile a key and what to do when that fails.
/// `Any` so the cluster can hand out one controller's own state (the node lifecycle's zones).
pub trait Controller: std::any::Any + std::fmt::Debug + Send + Sync {
    /// The name its stats are kept under (`replicaset`, `node_lifecycle`).
    fn name(&self) -> &'static str;

    /// The event source it records as (upstream's component: `replicaset-controller`).
    fn component(&self) -> &'static str;

    /// The kinds whose changes it follows: only their changes reach [`Controller::triggers`],
    /// and after the change log is lost these are relisted.
    fn watches(&self) -> &'static [Kind];

    /// The keys it reconciles from the start, whatever changes (a periodic controller's key).
    fn initial_keys(&self) -> Vec<Key> {
        Vec::new()
    }

    /// The keys one change makes due (as kube-runtime's `watches` / `owns` mappers). May update
    /// what the controller caches from the change stream (the node monitor's probe times).
    fn triggers(&mut self, change: &Change, store: &Store, now: Millis, out: &mut Vec<Key>);

    /// After a relist: forget cached state about objects that went while the log was lost.
    fn relisted(&mut self, _store: &Store) {}

    /// Brings the world one step toward the desired state for `key`.
    fn reconcile(&mut self, key: &Key, ctx: &mut Context) -> Result<Action, ControllerError>;

    /// What a failed reconcile does: by default a Warning event on the object involved and a
    /// retry after an exponential backoff (`failures` counts this key's failures in a row).
    fn error_policy(&mut self, _key: &Key, error: &ControllerError, failures: u32, ctx: &mut Context) -> Action {
        default_error_policy(self.component(), error, failures, ctx)
    }
}

/// client-go's default cap on a key's failure backoff (1000 s).
pub const MAX_FAILURE_BACKOFF: Millis = Millis(1_000_000);

/// The backoff before retrying a key that has failed `failures` times in a row (1 = first):
/// [`FAILED_WRITE_BACKOFF`], doubled for each further failure, up to [`MAX_FAILURE_BACKOFF`]
/// (client-go's `ItemExponentialFailureRateLimiter`, with a one-second base instead of 5 ms: an
/// instant here is a tick, not a goroutine wake-up).
pub fn failure_backoff(failures: u32) -> Millis {
    let doublings = failures.saturating_sub(1).min(20);
    Millis(FAILED_WRITE_BACKOFF.0.saturating_mul(1 << doublings).min(MAX_FAILURE_BACKOFF.0))
}

/// The default [`Controller::error_policy`]: a `FailedUpdate` Warning (as a controller's failed
/// status update is reported upstream) on the object involved, then a retry with backoff.
pub fn default_error_policy(
    component: &'static str,
    error: &ControllerError,
    failures: u32,
    ctx: &mut Context,
) -> Action {
    if let Some((kind, key)) = error.involved() {
        record_failed_update(ctx, kind, key, error.to_string(), component);
    }
    Action::requeue(failure_backoff(failures))
}

/// A `FailedUpdate` Warning on the object a failed write was for.
fn record_failed_update(ctx: &mut Context, kind: Kind, key: &ObjectKey, message: String, component: &'static str) {
    let involved = ctx.store_meta(kind, key);
    ctx.recorder.record(ctx.now, kind, &involved, "Warning", "FailedUpdate", message, component);
}

/// A controller's write, sorted as client-go's work queue sorts failures: success or an object
/// already gone needs nothing more; a conflict (someone wrote first) re-reads at once (returns
/// now); anything else is an error for the error policy.
pub fn settle<T>(
    written: Result<T, StoreError>,
    kind: Kind,
    key: &ObjectKey,
    now: Millis,
) -> Result<Option<Millis>, ControllerError> {
    match written {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(StoreError::Conflict { .. }) => Ok(Some(now)),
        Err(source @ (StoreError::AlreadyExists { .. } | StoreError::Invalid { .. })) => {
            Err(ControllerError::Write { kind, key: key.clone(), source })
        }
    }
}

/// How long a write that failed for a reason other than a conflict waits before its sync runs
/// again (client-go requeues rate-limited; a fixed pause here keeps the core simple).
pub const FAILED_WRITE_BACKOFF: Millis = Millis(1_000);

/// The earlier of two requeue times (either may be "no requeue").
pub fn earliest(a: Option<Millis>, b: Option<Millis>) -> Option<Millis> {
    a.into_iter().chain(b).min()
}

/// What a controller or kubelet does when a write of its own fails, as client-go's work queue
/// does it: a conflict (someone wrote first) requeues at once to re-read; an object that is gone
/// needs nothing more; anything else is reported as a Warning event on the object and retried
/// after [`FAILED_WRITE_BACKOFF`]. Returns when to run the sync again.
pub fn write_failed(
    ctx: &mut Context,
    kind: Kind,
    key: &ObjectKey,
    component: &'static str,
    err: &StoreError,
) -> Option<Millis> {
    match err {
        StoreError::Conflict { .. } => Some(ctx.now),
        StoreError::NotFound { .. } => None,
        StoreError::AlreadyExists { .. } | StoreError::Invalid { .. } => {
            record_failed_update(
                ctx,
                kind,
                key,
                format!("Error updating {} {}: {err}", kind.name(), key.name),
                component,
            );
            Some(ctx.now + FAILED_WRITE_BACKOFF)
        }
    }
}

/// Deletes a pod the way the API server does: an unbound pod goes at once; a bound one is marked
/// (`deletionTimestamp`) and its kubelet finishes the job once its containers have stopped. On a
/// dead node nobody finishes it, so it stays `Terminating` — as in a real cluster.
pub fn delete_pod_gracefully(store: &mut Store, key: &ObjectKey, now: Millis) -> Result<(), StoreError> {
    let Some(pod) = store.get::<Pod>(key) else {
        return Err(StoreError::NotFound { resource: "pods".into(), name: key.name.to_string() });
    };
    if pod.metadata.is_terminating() {
        return Ok(());
    }
    if pod.node_name().is_none() || matches!(pod.status.phase.as_str(), "Succeeded" | "Failed") {
        store.delete::<Pod>(key)?;
        return Ok(());
    }
    let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30);
    let deadline = store.epoch().stamp(now + Millis(grace.max(0) as u64 * 1000));
    store.modify::<Pod>(key, |p| {
        p.metadata.deletion_timestamp = Some(deadline);
        p.metadata.deletion_grace_period_seconds = Some(grace);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::events::EventRecorder;
    use crate::cluster::objects::FieldError;
    use crate::cluster::timing::{Preset, Timing};

    #[test]
    fn a_failed_write_requeues_and_only_a_real_failure_is_reported() {
        let mut store = Store::new(1);
        let mut recorder = EventRecorder::default();
        let timing = Timing::preset(Preset::Arcade);
        let mut chaos = Vec::new();
        let mut ctx = Context {
            store: &mut store,
            recorder: &mut recorder,
            now: Millis(500),
            timing: &timing,
            chaos: &mut chaos,
        };
        let key = ObjectKey::new("default", "web-abcde");
        let conflict = StoreError::Conflict { resource: "pods".into(), name: key.name.to_string() };
        let gone = StoreError::NotFound { resource: "pods".into(), name: key.name.to_string() };
        let invalid = StoreError::Invalid {
            kind: Kind::Pod,
            name: key.name.to_string(),
            causes: vec![FieldError::new("spec.containers", "Required value")],
        };
        assert_eq!(write_failed(&mut ctx, Kind::Pod, &key, "kubelet", &conflict), Some(Millis(500)));
        assert_eq!(write_failed(&mut ctx, Kind::Pod, &key, "kubelet", &gone), None);
        assert_eq!(ctx.recorder.drain().count(), 0);
        assert_eq!(
            write_failed(&mut ctx, Kind::Pod, &key, "kubelet", &invalid),
            Some(Millis(500) + FAILED_WRITE_BACKOFF)
        );
        let reported: Vec<_> = ctx.recorder.drain().map(|r| (r.type_, r.reason, r.object, r.component)).collect();
        assert_eq!(reported, [("Warning", "FailedUpdate", "pod/web-abcde".to_string(), "kubelet")]);
    }
}
