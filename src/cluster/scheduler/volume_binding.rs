//! Upstream's VolumeBinding plugin: a pod's claims tie it to the nodes their volumes can be
//! reached from. A bound claim's volume with node affinity (a local volume) admits only its
//! node (`node(s) had volume node affinity conflict`); an unbound `WaitForFirstConsumer` claim
//! needs an Available volume of its class reachable from the node (`node(s) didn't find
//! available persistent volumes to bind`). A claim that does not exist, or an unbound claim of
//! an `Immediate` class, fails the pod everywhere before any node is looked at (PreFilter).
//!
//! What the filter needs is gathered once per pod per cycle from the store ([`PodVolumes::of`]);
//! a pod without claims carries nothing and costs nothing.

use super::framework::{FilterPlugin, NodeInfo, PodInfo, Unfit};
use crate::clock::Millis;
use crate::cluster::events::EventRecorder;
use crate::cluster::objects::Kind;
use crate::cluster::objects::storage::NodeSelector;
use crate::cluster::objects::{PersistentVolume, PersistentVolumeClaim, Pod, StorageClass};
use crate::cluster::store::{ObjectKey, Store, StoreError};

/// A pod's claims as the filter sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodVolumes {
    /// Upstream's PreFilter verdict, when it fails the pod on every node.
    pub unresolvable: Option<String>,
    /// The node affinity of each bound claim's volume: a node must satisfy all of them.
    pub bound: Vec<NodeSelector>,
    /// For each unbound `WaitForFirstConsumer` claim, the node affinity of every Available
    /// volume that fits it (`None`: a volume any node reaches); a node must reach one of each.
    pub unbound: Vec<Vec<Option<NodeSelector>>>,
}

impl PodVolumes {
    /// The pod's claims looked up in the store; `None` for a pod that names none.
    pub fn of(pod: &Pod, store: &Store) -> Option<PodVolumes> {
        let mut claims = pod.claim_names().peekable();
        claims.peek()?;
        let mut volumes = PodVolumes::default();
        let namespace = pod.metadata.namespace();
        for name in claims {
            let Some(claim) = store.get::<PersistentVolumeClaim>(&ObjectKey::new(namespace, name)) else {
                volumes.unresolvable = Some(format!("persistentvolumeclaim {name:?} not found"));
                break;
            };
            if claim.metadata.is_terminating() {
                volumes.unresolvable = Some(format!("persistentvolumeclaim {name:?} is being deleted"));
                break;
            }
            if claim.is_bound() {
                match store.get::<PersistentVolume>(&ObjectKey::cluster(&claim.spec.volume_name)) {
                    Some(pv) => volumes.bound.extend(pv.required_nodes().cloned()),
                    None => {
                        volumes.unresolvable = Some(format!("persistentvolume {:?} not found", claim.spec.volume_name));
                        break;
                    }
                }
                continue;
            }
            let class = store.get::<StorageClass>(&ObjectKey::cluster(claim.class_name()));
            if !class.is_some_and(StorageClass::waits_for_first_consumer) {
                volumes.unresolvable = Some("pod has unbound immediate PersistentVolumeClaims".into());
                break;
            }
            // Volumes are few (one or two per pin): a scan per unbound claim per cycle.
            let candidates = store
                .list::<PersistentVolume>()
                .filter(|pv| pv.fits(claim))
                .map(|pv| pv.required_nodes().cloned())
                .collect();
            volumes.unbound.push(candidates);
        }
        Some(volumes)
    }
}

/// The VolumeBinding filter (see the module doc). A pod's PreFilter failure is reported here
/// too, on every node, so every view of a node's verdict says why.
pub struct VolumeBinding;

impl FilterPlugin for VolumeBinding {
    fn name(&self) -> &'static str {
        "VolumeBinding"
    }
    /// It looks only at the pod's claims and the node's name and labels, never at what the
    /// node's other pods request.
    fn is_static(&self) -> bool {
        true
    }
    fn filter(&self, pod: &PodInfo, node: &NodeInfo) -> Result<(), Unfit> {
        let Some(volumes) = pod.volumes.as_deref() else { return Ok(()) };
        if let Some(why) = &volumes.unresolvable {
            return Err(Unfit::Volume(why.clone()));
        }
        if !volumes.bound.iter().all(|s| s.matches(&node.name, &node.labels)) {
            return Err(Unfit::Volume(VOLUME_NODE_AFFINITY_CONFLICT.into()));
        }
        let reachable = |candidates: &Vec<Option<NodeSelector>>| {
            candidates.iter().any(|s| s.as_ref().is_none_or(|s| s.matches(&node.name, &node.labels)))
        };
        if !volumes.unbound.iter().all(reachable) {
            return Err(Unfit::Volume(NO_AVAILABLE_VOLUMES.into()));
        }
        Ok(())
    }
}

/// VolumeBinding's PreBind for a pod just bound to `node`: each of its unbound
/// `WaitForFirstConsumer` claims is annotated with the node (`volume.kubernetes.io/selected-node`),
/// and the PV controller binds it to a volume reachable from there.
pub fn select_node(store: &mut Store, recorder: &mut EventRecorder, now: Millis, pod: &Pod, node: &str) {
    let namespace = pod.metadata.namespace();
    for name in pod.claim_names() {
        let key = ObjectKey::new(namespace, name);
        let waiting = store.get::<PersistentVolumeClaim>(&key).is_some_and(|c| {
            !c.is_bound()
                && c.selected_node().is_none()
                && store
                    .get::<StorageClass>(&ObjectKey::cluster(c.class_name()))
                    .is_some_and(StorageClass::waits_for_first_consumer)
        });
        if !waiting {
            continue;
        }
        let written = store.modify::<PersistentVolumeClaim>(&key, |c| {
            c.metadata.annotations.insert(PersistentVolumeClaim::SELECTED_NODE_ANNOTATION.into(), node.into());
        });
        // Gone is fine (the pod will fail to start, as upstream's); anything else is reported.
        if let Err(err) = written
            && !matches!(err, StoreError::NotFound { .. })
        {
            let message = format!("running PreBind plugin \"VolumeBinding\": {err}");
            recorder.record(now, Kind::Pod, &pod.metadata, "Warning", "FailedScheduling", message, "default-scheduler");
        }
    }
}

/// Upstream's `ErrReasonNodeConflict`.
pub const VOLUME_NODE_AFFINITY_CONFLICT: &str = "node(s) had volume node affinity conflict";
/// Upstream's `ErrReasonBindConflict`.
pub const NO_AVAILABLE_VOLUMES: &str = "node(s) didn't find available persistent volumes to bind";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::controllers::persistent_volume::tests::{claim, class, local_pv};
    use crate::cluster::objects::pod::PersistentVolumeClaimVolumeSource;
    use crate::cluster::objects::pod::Volume;
    use crate::cluster::scheduler::framework::tests::node;
    use crate::cluster::scheduler::framework::{Verdict, fit_error_message, run_filters};
    use std::sync::Arc;

    fn pin(name: &str) -> NodeInfo {
        let mut n = node(name, 4000, 8);
        n.labels.insert("kubernetes.io/hostname".into(), name.into());
        n
    }

    fn pod_with_claim(store: &Store, claim: &str) -> PodInfo {
        let mut pod = crate::cluster::controllers::harness::pod("db-0");
        pod.spec.volumes.push(Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.into(),
                read_only: false,
            }),
            ..Default::default()
        });
        let mut info = PodInfo::of(&pod);
        info.volumes = PodVolumes::of(&pod, store).map(Arc::new);
        info
    }

    fn store() -> Store {
        let mut store = Store::new(1);
        store.create(class("local", StorageClass::WAIT_FOR_FIRST_CONSUMER), Millis(0)).unwrap();
        store.create(class("fast", StorageClass::IMMEDIATE), Millis(0)).unwrap();
        store.create(local_pv("local-pin-1", "local", 10, "pin-1"), Millis(0)).unwrap();
        store.create(local_pv("local-pin-2", "local", 10, "pin-2"), Millis(0)).unwrap();
        store
    }

    fn verdicts(pod: &PodInfo, nodes: &[NodeInfo]) -> Vec<Verdict> {
        nodes.iter().map(|n| run_filters(pod, n)).collect()
    }

    #[test]
    fn a_bound_local_volume_admits_only_its_node() {
        let mut store = store();
        store.create(claim("data-db-0", "local", 1), Millis(0)).unwrap();
        store
            .modify::<PersistentVolumeClaim>(&ObjectKey::new("default", "data-db-0"), |c| {
                c.spec.volume_name = "local-pin-2".into()
            })
            .unwrap();
        let pod = pod_with_claim(&store, "data-db-0");
        let nodes = [pin("pin-1"), pin("pin-2"), pin("pin-3")];
        let v = verdicts(&pod, &nodes);
        assert_eq!(v[1], Verdict::Fit);
        assert_eq!(
            fit_error_message(&[v[0].clone(), v[2].clone()]),
            "0/2 nodes are available: 2 node(s) had volume node affinity conflict."
        );
        assert_eq!(
            v[0],
            Verdict::Unfit { plugin: "VolumeBinding", reasons: vec![VOLUME_NODE_AFFINITY_CONFLICT.into()] }
        );
    }

    #[test]
    fn an_unbound_wait_for_first_consumer_claim_needs_a_free_volume_on_the_node() {
        let mut store = store();
        store.create(claim("data-db-0", "local", 1), Millis(0)).unwrap();
        let pod = pod_with_claim(&store, "data-db-0");
        let v = verdicts(&pod, &[pin("pin-1"), pin("pin-2"), pin("pin-3")]);
        assert_eq!(&v[..2], [Verdict::Fit, Verdict::Fit]);
        assert_eq!(v[2], Verdict::Unfit { plugin: "VolumeBinding", reasons: vec![NO_AVAILABLE_VOLUMES.into()] });
        // A claim asking more than any volume holds finds none anywhere.
        store.create(claim("huge", "local", 100), Millis(0)).unwrap();
        let pod = pod_with_claim(&store, "huge");
        assert!(verdicts(&pod, &[pin("pin-1"), pin("pin-2")]).iter().all(|v| *v != Verdict::Fit));
    }

    #[test]
    fn a_missing_claim_or_an_unbound_immediate_one_fails_everywhere_with_upstream_s_words() {
        let mut store = store();
        let pod = pod_with_claim(&store, "nope");
        assert_eq!(
            run_filters(&pod, &pin("pin-1")),
            Verdict::Unfit {
                plugin: "VolumeBinding",
                reasons: vec![r#"persistentvolumeclaim "nope" not found"#.into()]
            }
        );
        store.create(claim("quick", "fast", 1), Millis(0)).unwrap();
        let pod = pod_with_claim(&store, "quick");
        assert_eq!(
            run_filters(&pod, &pin("pin-1")),
            Verdict::Unfit {
                plugin: "VolumeBinding",
                reasons: vec!["pod has unbound immediate PersistentVolumeClaims".into()]
            }
        );
    }

    #[test]
    fn a_pod_without_claims_carries_nothing() {
        let store = store();
        assert_eq!(PodVolumes::of(&crate::cluster::controllers::harness::pod("web"), &store), None);
    }
}
