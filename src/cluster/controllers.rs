//! The controller manager: level-triggered, idempotent reconcilers, one file per upstream
//! controller. Each `reconcile(key, ctx)` reads the store, writes what differs from the desired
//! state, and may ask to be called again at a later instant.

pub mod deployment;
pub mod endpoints;
pub mod garbage_collector;
pub mod node_lifecycle;
pub mod replicaset;
pub mod taint_eviction;

use super::objects::Pod;
use super::store::{ObjectKey, Store, StoreError};
use crate::clock::Millis;

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
