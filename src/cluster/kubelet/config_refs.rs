//! The ConfigMaps and Secrets a pod uses, as the kubelet reads them before starting its
//! containers: `configMap`/`secret` volumes (and `projected` sources of those) must be there to
//! mount, and `env[].valueFrom` / `envFrom` references to build the environment. A missing one
//! holds the pod with upstream's event and is retried; `optional: true` references never block.
//!
//! Messages are kube's own: the kubelet's ConfigMap/Secret managers answer NotFound for the
//! singular resource (`configmap "app-config" not found`), the operation generator wraps a
//! volume's as `MountVolume.SetUp failed for volume "cfg" : ...`, and `makeEnvironmentVariables`
//! names missing keys (`couldn't find key k in ConfigMap ns/name`).
//!
//! [`ConfigUsers`] indexes bound pods by what they reference, so a ConfigMap or Secret that
//! appears wakes exactly the pods that may be waiting for it (level-triggered, no scans).

use crate::clock::Millis;
use crate::cluster::objects::pod::{ConfigMapVolumeSource, Unmodeled};
use crate::cluster::objects::{ConfigMap, Object, Pod, Secret};
use crate::cluster::store::{ObjectKey, Store};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

impl ConfigKind {
    /// The resource the kubelet's managers name in NotFound (`configmap`, `secret`).
    fn resource(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "configmap",
            ConfigKind::Secret => "secret",
        }
    }

    /// The kind as `makeEnvironmentVariables` names it in a missing-key error.
    fn kind(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }

    /// The keys a stored ConfigMap (data and binaryData) or Secret has, if it exists.
    fn keys(self, store: &Store, key: &ObjectKey) -> Option<BTreeSet<String>> {
        match self {
            ConfigKind::ConfigMap => {
                store.get::<ConfigMap>(key).map(|c| c.data.keys().chain(c.binary_data.keys()).cloned().collect())
            }
            ConfigKind::Secret => store.get::<Secret>(key).map(|s| s.data.keys().cloned().collect()),
        }
    }
}

/// A ConfigMap or Secret a pod names: its kind and namespaced name.
pub type ConfigKey = (ConfigKind, ObjectKey);

/// A volume that cannot be set up: the kubelet's `FailedMount` event says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {cause}")]
pub struct MountFailure {
    pub volume: String,
    pub cause: String,
}

/// A container whose environment cannot be built: waiting `CreateContainerConfigError`, with
/// this message, and a `Failed` event "Error: <message>".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EnvFailure {
    pub container: String,
    pub message: String,
}

pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

/// Every ConfigMap and Secret the pod's volumes and containers name, optional or not.
pub fn references(pod: &Pod) -> BTreeSet<ConfigKey> {
    let namespace = pod.metadata.namespace();
    let key = |kind, name: &str| (kind, ObjectKey::new(namespace, name));
    let mut refs = BTreeSet::new();
    for volume in &pod.spec.volumes {
        refs.extend(volume.config_map.as_ref().map(|c| key(ConfigKind::ConfigMap, &c.name)));
        refs.extend(volume.secret.as_ref().map(|s| key(ConfigKind::Secret, &s.secret_name)));
        for source in volume.projected.iter().flat_map(|p| &p.sources) {
            refs.extend(source.config_map.as_ref().map(|c| key(ConfigKind::ConfigMap, &c.name)));
            refs.extend(source.secret.as_ref().map(|s| key(ConfigKind::Secret, &s.name)));
        }
    }
    for container in &pod.spec.containers {
        for from in &container.env_from {
            refs.extend(from.config_map_ref.as_ref().map(|r| key(ConfigKind::ConfigMap, &r.name)));
            refs.extend(from.secret_ref.as_ref().map(|r| key(ConfigKind::Secret, &r.name)));
        }
        for source in container.env.iter().filter_map(|e| e.value_from.as_ref()) {
            refs.extend(source.config_map_key_ref.as_ref().map(|r| key(ConfigKind::ConfigMap, &r.name)));
            refs.extend(source.secret_key_ref.as_ref().map(|r| key(ConfigKind::Secret, &r.name)));
        }
    }
    refs
}

/// The volumes that cannot be set up, in the pod's order (upstream reports each on its own).
pub fn mount_failures(pod: &Pod, store: &Store) -> Vec<MountFailure> {
    let namespace = pod.metadata.namespace();
    let mut failures = Vec::new();
    for volume in &pod.spec.volumes {
        let mut causes = Vec::new();
        if let Some(c) = &volume.config_map {
            causes.extend(source_error(store, namespace, ConfigKind::ConfigMap, &c.name, c.optional, &c.rest));
        }
        if let Some(s) = &volume.secret {
            causes.extend(source_error(store, namespace, ConfigKind::Secret, &s.secret_name, s.optional, &s.rest));
        }
        for source in volume.projected.iter().flat_map(|p| &p.sources) {
            let named = [(ConfigKind::ConfigMap, &source.config_map), (ConfigKind::Secret, &source.secret)];
            for (kind, projection) in named {
                if let Some(ConfigMapVolumeSource { name, optional, rest }) = projection {
                    causes.extend(source_error(store, namespace, kind, name, *optional, rest));
                }
            }
        }
        if !causes.is_empty() {
            failures.push(MountFailure { volume: volume.name.clone(), cause: aggregate(causes) });
        }
    }
    failures
}

/// Why one ConfigMap/Secret source cannot be mounted: it is missing, or an `items` entry names
/// a key it lacks (both forgiven when optional, as upstream's plugins do).
fn source_error(
    store: &Store,
    namespace: &str,
    kind: ConfigKind,
    name: &str,
    optional: Option<bool>,
    rest: &Unmodeled,
) -> Option<String> {
    let optional = optional == Some(true);
    let Some(keys) = kind.keys(store, &ObjectKey::new(namespace, name)) else {
        return (!optional).then(|| format!("{} {name:?} not found", kind.resource()));
    };
    let items = rest.get("items").and_then(|i| i.as_array()).into_iter().flatten();
    let missing = items.filter_map(|i| i.get("key")?.as_str()).find(|k| !keys.contains(*k))?;
    if optional {
        return None;
    }
    Some(match kind {
        ConfigKind::ConfigMap => format!("configmap references non-existent config key: {missing}"),
        ConfigKind::Secret => format!("references non-existent secret key: {missing}"),
    })
}

/// client-go's `utilerrors.NewAggregate(...).Error()`: one error as itself, several distinct
/// ones bracketed and comma-separated.
fn aggregate(causes: Vec<String>) -> String {
    let mut seen = BTreeSet::new();
    let distinct: Vec<String> = causes.into_iter().filter(|c| seen.insert(c.clone())).collect();
    match distinct.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// The containers whose environment cannot be built, in order: `envFrom` first, then `env`,
/// each container stopping at its first error, as upstream's `makeEnvironmentVariables`.
pub fn env_failures(pod: &Pod, store: &Store) -> Vec<EnvFailure> {
    let namespace = pod.metadata.namespace();
    let missing = |kind: ConfigKind, name: &str| format!("{} {name:?} not found", kind.resource());
    let exists = |kind: ConfigKind, name: &str| kind.keys(store, &ObjectKey::new(namespace, name)).is_some();
    let mut failures = Vec::new();
    'containers: for container in &pod.spec.containers {
        for from in &container.env_from {
            let refs = [(ConfigKind::ConfigMap, &from.config_map_ref), (ConfigKind::Secret, &from.secret_ref)];
            for (kind, r) in refs {
                if let Some(r) = r.as_ref().filter(|r| r.optional != Some(true) && !exists(kind, &r.name)) {
                    failures.push(EnvFailure { container: container.name.clone(), message: missing(kind, &r.name) });
                    continue 'containers;
                }
            }
        }
        for source in container.env.iter().filter_map(|e| e.value_from.as_ref()) {
            let refs =
                [(ConfigKind::ConfigMap, &source.config_map_key_ref), (ConfigKind::Secret, &source.secret_key_ref)];
            for (kind, selector) in refs {
                let Some(selector) = selector.as_ref().filter(|s| s.optional != Some(true)) else { continue };
                let message = match kind.keys(store, &ObjectKey::new(namespace, &selector.name)) {
                    None => missing(kind, &selector.name),
                    Some(keys) if !keys.contains(&selector.key) => {
                        format!("couldn't find key {} in {} {namespace}/{}", selector.key, kind.kind(), selector.name)
                    }
                    Some(_) => continue,
                };
                failures.push(EnvFailure { container: container.name.clone(), message });
                continue 'containers;
            }
        }
    }
    failures
}

/// A pod held by a missing ConfigMap/Secret: how often it was tried, and when next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub attempts: u32,
    pub retry_at: Millis,
}

impl Held {
    /// The volume manager's backoff: upstream starts at 500 ms and doubles up to 2 min 2 s; here
    /// scaled by the kubelet's heartbeat (10 s upstream), so the arcade preset retries as much
    /// faster as it heartbeats.
    pub fn mount_backoff(attempts: u32, heartbeat: Millis) -> Millis {
        let initial = heartbeat.0 / 20;
        let max = heartbeat.0 * 122 / 10;
        Millis(initial.saturating_mul(1 << attempts.min(16)).min(max).max(1))
    }

    /// The pod worker's back-off after a failed sync (upstream: 10 s, the heartbeat period).
    pub fn sync_backoff(heartbeat: Millis) -> Millis {
        Millis(heartbeat.0.max(1))
    }
}

/// Bound pods indexed by the ConfigMaps and Secrets they reference (the kubelet's configmap and
/// secret managers register each pod's references the same way), so a change to one wakes
/// only its users.
#[derive(Debug, Clone, Default)]
pub struct ConfigUsers {
    users: BTreeMap<ConfigKey, BTreeMap<ObjectKey, String>>,
    /// What each indexed pod references (a pod's spec cannot change its references).
    refs: BTreeMap<ObjectKey, BTreeSet<ConfigKey>>,
}

impl ConfigUsers {
    /// A bound pod was written (indexed once) or deleted (forgotten).
    pub fn observe_pod(&mut self, pod: &Pod, deleted: bool) {
        let key = ObjectKey::of(&pod.metadata);
        if deleted {
            for config in self.refs.remove(&key).into_iter().flatten() {
                if let Some(users) = self.users.get_mut(&config) {
                    users.remove(&key);
                    if users.is_empty() {
                        self.users.remove(&config);
                    }
                }
            }
            return;
        }
        let Some(node) = pod.node_name() else { return };
        if self.refs.contains_key(&key) {
            return;
        }
        let refs = references(pod);
        if refs.is_empty() {
            return;
        }
        for config in &refs {
            self.users.entry(config.clone()).or_default().insert(key.clone(), node.to_string());
        }
        self.refs.insert(key, refs);
    }

    /// The pods (and their nodes) that reference what this change wrote, if it is a ConfigMap
    /// or Secret.
    pub fn users_of(&self, object: &Object) -> impl Iterator<Item = (&ObjectKey, &String)> {
        let config = match object {
            Object::ConfigMap(c) => Some((ConfigKind::ConfigMap, ObjectKey::of(&c.metadata))),
            Object::Secret(s) => Some((ConfigKind::Secret, ObjectKey::of(&s.metadata))),
            _ => None,
        };
        config.and_then(|c| self.users.get(&c)).into_iter().flatten()
    }

    /// Forgets everything (before a relist offers every pod again).
    pub fn clear(&mut self) {
        self.users.clear();
        self.refs.clear();
    }
}

#[cfg(test)]
mod tests {
    use crate::clock::Millis;
    use crate::cluster::objects::{ConfigMap, Event, Node, Object, ObjectMeta, Pod};
    use crate::cluster::store::ObjectKey;
    use crate::cluster::timing::{Preset, Timing};
    use crate::cluster::{Cluster, events::EventRecord};
    use serde_json::{Value, json};

    /// A pin and a pod already bound to it (no scheduler needed), with the given spec parts.
    fn cluster_with_pod(spec: Value) -> Cluster {
        let mut cluster = Cluster::new(1, Timing::preset(Preset::Arcade));
        let node = Node { metadata: ObjectMeta::named("pin-1"), ..Node::default() };
        cluster.apply(Object::from(node), Millis::ZERO).unwrap();
        let mut pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"nodeName": "pin-1", "containers": [{"name": "app", "image": "app:1"}]},
        });
        for (field, value) in spec.as_object().unwrap() {
            pod["spec"][field] = value.clone();
        }
        let pod: Pod = serde_json::from_value(pod).unwrap();
        cluster.apply(Object::from(pod), Millis::ZERO).unwrap();
        cluster
    }

    fn run(cluster: &mut Cluster, from: u64, to: u64, log: &mut Vec<EventRecord>) {
        for t in (from..=to).step_by(5) {
            cluster.step(Millis(t)).unwrap();
            log.extend(cluster.recorder.drain());
        }
    }

    fn pod(cluster: &Cluster) -> &Pod {
        cluster.store.get::<Pod>(&ObjectKey::new("default", "app")).unwrap()
    }

    fn waiting(cluster: &Cluster) -> Option<(String, String)> {
        let state = &pod(cluster).status.container_statuses.first()?.state;
        state.waiting.as_ref().map(|w| (w.reason.to_string(), w.message.to_string()))
    }

    fn config_map(name: &str, data: &[(&str, &str)]) -> Object {
        let mut cm = ConfigMap { metadata: ObjectMeta::namespaced("default", name), ..ConfigMap::default() };
        cm.data = data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Object::from(cm)
    }

    #[test]
    fn a_missing_config_map_volume_holds_the_pod_until_the_config_map_is_created() {
        let mut cluster = cluster_with_pod(json!({
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420}}],
        }));
        let mut log = Vec::new();
        run(&mut cluster, 0, 3_000, &mut log);
        assert_eq!(pod(&cluster).status.phase, "Pending");
        assert_eq!(waiting(&cluster), Some(("ContainerCreating".into(), String::new())));
        let failed: Vec<&EventRecord> = log.iter().filter(|e| e.reason == "FailedMount").collect();
        assert!(failed.len() > 2, "retried with backoff: {failed:?}");
        assert!(failed.len() < 20, "backoff, not every tick: {}", failed.len());
        assert!(failed.iter().all(|e| e.type_ == "Warning" && e.component == "kubelet" && e.object == "pod/app"));
        let message = r#"MountVolume.SetUp failed for volume "cfg" : configmap "app-config" not found"#;
        assert!(failed.iter().all(|e| e.message == message), "{failed:?}");
        // The correlator keeps one Event, counted.
        let stored: Vec<&Event> = cluster.store.list::<Event>().filter(|e| e.reason == "FailedMount").collect();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].count as usize, failed.len());
        assert_eq!(stored[0].message, message);

        // Created, the ConfigMap wakes the pod at once: no waiting for the next retry.
        cluster.apply(config_map("app-config", &[("k", "v")]), Millis(3_001)).unwrap();
        cluster.step(Millis(3_001)).unwrap();
        assert_eq!(pod(&cluster).status.phase, "Running");
        // Its unmodeled volume fields come back as written.
        let volume = serde_json::to_value(&pod(&cluster).spec.volumes[0]).unwrap();
        assert_eq!(volume, json!({"name": "cfg", "configMap": {"name": "app-config", "defaultMode": 420}}));
    }

    #[test]
    fn a_missing_env_reference_is_a_create_container_config_error_until_the_key_exists() {
        let mut cluster = cluster_with_pod(json!({"containers": [{
            "name": "app", "image": "app:1",
            "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "mode"}}}],
        }]}));
        let mut log = Vec::new();
        run(&mut cluster, 0, 2_000, &mut log);
        let message = r#"configmap "x" not found"#.to_string();
        assert_eq!(waiting(&cluster), Some(("CreateContainerConfigError".into(), message.clone())));
        assert_eq!(pod(&cluster).status.phase, "Pending");
        let failed: Vec<&EventRecord> = log.iter().filter(|e| e.reason == "Failed").collect();
        assert!(!failed.is_empty() && failed.iter().all(|e| e.message == format!("Error: {message}")), "{failed:?}");

        // There, but without the key: upstream's missing-key message.
        cluster.apply(config_map("x", &[("other", "1")]), Millis(2_001)).unwrap();
        run(&mut cluster, 2_001, 2_100, &mut log);
        let message = "couldn't find key mode in ConfigMap default/x".to_string();
        assert_eq!(waiting(&cluster), Some(("CreateContainerConfigError".into(), message)));

        cluster.apply(config_map("x", &[("mode", "fast")]), Millis(2_101)).unwrap();
        cluster.step(Millis(2_101)).unwrap();
        assert_eq!(pod(&cluster).status.phase, "Running");
        assert_eq!(waiting(&cluster), None);
    }

    #[test]
    fn env_from_a_missing_secret_blocks_but_optional_references_never_do() {
        let optional = json!({
            "volumes": [
                {"name": "cfg", "configMap": {"name": "nope", "optional": true}},
                {"name": "sec", "secret": {"secretName": "nope", "optional": true}},
            ],
            "containers": [{
                "name": "app", "image": "app:1",
                "envFrom": [{"secretRef": {"name": "nope", "optional": true}}],
                "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "a", "optional": true}}}],
            }],
        });
        let mut cluster = cluster_with_pod(optional);
        run(&mut cluster, 0, 1_000, &mut Vec::new());
        assert_eq!(pod(&cluster).status.phase, "Running");

        let mut cluster = cluster_with_pod(json!({"containers": [{
            "name": "app", "image": "app:1", "envFrom": [{"prefix": "DB_", "secretRef": {"name": "db"}}],
        }]}));
        run(&mut cluster, 0, 1_000, &mut Vec::new());
        assert_eq!(waiting(&cluster), Some(("CreateContainerConfigError".into(), r#"secret "db" not found"#.into())));
    }

    #[test]
    fn a_projected_volume_reports_all_its_missing_sources_in_one_message() {
        let mut cluster = cluster_with_pod(json!({"volumes": [{"name": "all", "projected": {"sources": [
            {"configMap": {"name": "a"}},
            {"secret": {"name": "b"}},
            {"serviceAccountToken": {"path": "token"}},
        ]}}]}));
        let mut log = Vec::new();
        run(&mut cluster, 0, 500, &mut log);
        let mount = log.iter().find(|e| e.reason == "FailedMount").expect("FailedMount");
        assert_eq!(
            mount.message,
            r#"MountVolume.SetUp failed for volume "all" : [configmap "a" not found, secret "b" not found]"#
        );
        // An item naming a key the ConfigMap lacks fails the mount too.
        let mut cluster = cluster_with_pod(json!({"volumes": [{"name": "cfg", "configMap": {
            "name": "a", "items": [{"key": "missing", "path": "m"}],
        }}]}));
        cluster.apply(config_map("a", &[("k", "v")]), Millis::ZERO).unwrap();
        let mut log = Vec::new();
        run(&mut cluster, 0, 500, &mut log);
        let mount = log.iter().find(|e| e.reason == "FailedMount").expect("FailedMount");
        assert_eq!(
            mount.message,
            r#"MountVolume.SetUp failed for volume "cfg" : configmap references non-existent config key: missing"#
        );
    }
}
