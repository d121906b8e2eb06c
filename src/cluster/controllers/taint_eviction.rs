//! The taint-eviction controller (upstream's `pkg/controller/tainteviction`, the old "taint
//! manager"): a pod on a node with a NoExecute taint it does not tolerate is deleted; one that
//! tolerates it for `tolerationSeconds` is deleted when that time has passed since the taint's
//! `timeAdded`.

use crate::clock::Millis;
use crate::cluster::Context;
use crate::cluster::controllers::delete_pod_gracefully;
use crate::cluster::objects::{Kind, Node, Pod, Taint};
use crate::cluster::store::ObjectKey;

pub fn reconcile(key: &ObjectKey, ctx: &mut Context) -> Option<Millis> {
    let pod = ctx.store.get::<Pod>(key)?;
    if pod.metadata.is_terminating() {
        return None;
    }
    let node = ctx.store.get::<Node>(&ObjectKey::cluster(pod.node_name()?))?;
    let mut evict_at: Option<Millis> = None;
    for taint in node.spec.taints.iter().filter(|t| t.effect == Taint::NO_EXECUTE) {
        let matching: Vec<_> = pod.spec.tolerations.iter().filter(|t| t.tolerates(taint)).collect();
        let deadline = if matching.is_empty() {
            Some(ctx.now)
        } else {
            // Tolerated forever unless every matching toleration is time-bound.
            let seconds = matching
                .iter()
                .map(|t| t.toleration_seconds)
                .collect::<Option<Vec<i64>>>()
                .and_then(|s| s.into_iter().min());
            seconds.map(|s| {
                let added = taint.time_added.as_deref().and_then(Millis::parse_rfc3339).unwrap_or(ctx.now);
                added + Millis(s.max(0) as u64 * 1000)
            })
        };
        evict_at = match (evict_at, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    let at = evict_at?;
    if at > ctx.now {
        return Some(at);
    }
    let meta = pod.metadata.clone();
    if delete_pod_gracefully(ctx.store, key, ctx.now).is_ok() {
        ctx.recorder.record(
            ctx.store,
            ctx.now,
            Kind::Pod,
            &meta,
            "Normal",
            "TaintManagerEviction",
            format!("Marking for deletion Pod {key}"),
            "taint-eviction-controller",
        );
    }
    None
}
