//! The controller manager: level-triggered, idempotent reconcilers, one file per upstream
//! controller. Each `reconcile(key, ctx)` reads the store, writes what differs from the desired
//! state, and may ask to be called again at a later instant.

pub mod deployment;
pub mod endpoints;
pub mod garbage_collector;
pub mod node_lifecycle;
pub mod replicaset;
pub mod taint_eviction;

use super::Context;
use super::objects::{Kind, Pod};
use super::store::{ObjectKey, Store, StoreError};
use crate::clock::Millis;

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
            let involved = ctx.store_meta(kind, key);
            ctx.recorder.record(
                ctx.store,
                ctx.now,
                kind,
                &involved,
                "Warning",
                "FailedUpdate",
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
        return Err(StoreError::NotFound { resource: "pods".into(), name: key.name.clone() });
    };
    if pod.metadata.is_terminating() {
        return Ok(());
    }
    if pod.node_name().is_none() || matches!(pod.status.phase.as_str(), "Succeeded" | "Failed") {
        store.delete::<Pod>(key)?;
        return Ok(());
    }
    let grace = pod.spec.termination_grace_period_seconds.unwrap_or(30);
    store.modify::<Pod>(key, |p| {
        p.metadata.deletion_timestamp = Some((now + Millis(grace.max(0) as u64 * 1000)).to_rfc3339());
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
        let mut store = Store::new(crate::rng::stream(1, "store"));
        let mut recorder = EventRecorder::default();
        let timing = Timing::preset(Preset::Arcade);
        let mut ctx = Context { store: &mut store, recorder: &mut recorder, now: Millis(500), timing: &timing };
        let key = ObjectKey::new("default", "web-abcde");
        let conflict = StoreError::Conflict { resource: "pods".into(), name: key.name.clone() };
        let gone = StoreError::NotFound { resource: "pods".into(), name: key.name.clone() };
        let invalid = StoreError::Invalid {
            kind: Kind::Pod,
            name: key.name.clone(),
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
