//! Scenarios: the lane a game or simulation starts from, written as Kubernetes manifests
//! (multi-document YAML of Nodes and Deployments), or generated for large lanes.

use crate::cluster::objects::pod::ResourceRequirements;
use crate::cluster::objects::{
    Container, Deployment, DeploymentSpec, LabelSelector, Node, NodeStatus, Object, ObjectError, ObjectMeta, PodSpec,
    PodTemplateSpec, Quantity,
};
use crate::cluster::scheduler::Policy;
use crate::cluster::store::ObjectKey;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The lanes that ship inside the binary, by name.
pub const BUILTIN: [(&str, &str); 3] = [
    ("default", include_str!("../assets/scenarios/default.yaml")),
    ("tiny", include_str!("../assets/scenarios/tiny.yaml")),
    ("stateful", include_str!("../assets/scenarios/stateful.yaml")),
];

/// Kubernetes' published scalability limits ("Considerations for large clusters",
/// kubernetes.io/docs/setup/best-practices/cluster-large/): the envelope this simulator
/// supports. Inputs beyond it take minutes and gigabytes instead of failing, so they are refused
/// before anything is built.
pub const MAX_NODES: usize = 5_000;
pub const MAX_PODS: u64 = 150_000;
/// The kubelet's default `maxPods`, and the published per-node limit.
pub const MAX_PODS_PER_NODE: usize = 110;

/// Generated lanes are sized so their pods fill about this share of the lane (cpu and memory):
/// room for a knocked pin's pods, as a real cluster keeps headroom.
const TARGET_FILL_PERCENT: i64 = 75;
/// A generated pin is never smaller than the default lane's (4 cpu, 8Gi): lightly loaded lanes
/// keep the game's pin size instead of shrinking to slivers a knock cannot be absorbed by.
const MIN_NODE_CPU_MILLI: i64 = 4_000;
const MIN_NODE_MEMORY_BYTES: i64 = 8 << 30;
/// Zones a generated lane's nodes are spread over, round robin, as a cloud region's three.
const GENERATED_ZONES: [&str; 3] = ["alley-1a", "alley-1b", "alley-1c"];
const GENERATED_REGION: &str = "alley-1";

/// A generated lane: `--nodes N --pods M [--node-cpu Q] [--node-memory Q]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSize {
    pub nodes: usize,
    pub pods: usize,
    /// Each node's cpu in millicores; `None` sizes it so the pods fill about 75 %.
    pub node_cpu_milli: Option<i64>,
    /// Each node's memory in bytes; `None` sizes it so the pods fill about 75 %.
    pub node_memory_bytes: Option<i64>,
}

impl LaneSize {
    pub fn new(nodes: usize, pods: usize) -> LaneSize {
        LaneSize { nodes, pods, node_cpu_milli: None, node_memory_bytes: None }
    }
}

/// The built-in generated lanes: `arena` (1,000 pins of the default lane's size, about two
/// thirds full) and `stadium` (Kubernetes' published limits: 5,000 nodes of 32 cpu / 128Gi /
/// 110 pods, 150,000 pods in five Deployments, all of which fit). Both stand in
/// [`STADIUM_ZONES`] zones, one rack per pin. `envelope` is the stadium's older name.
pub const ARENA: LaneSize =
    LaneSize { nodes: 1_000, pods: 4_500, node_cpu_milli: Some(4_000), node_memory_bytes: Some(8 << 30) };
pub const STADIUM: LaneSize =
    LaneSize { nodes: 5_000, pods: 150_000, node_cpu_milli: Some(32_000), node_memory_bytes: Some(128 << 30) };
/// The big lanes' zones, `zone-1` .. `zone-10`: one per pin, so a fallen pin is a failed zone.
pub const STADIUM_ZONES: usize = 10;

/// An input beyond the supported envelope; each message names the input, the limit and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error(
        "{input}: {count} nodes is beyond the supported envelope of 5000 nodes (Kubernetes' published scalability limit)"
    )]
    Nodes { input: String, count: usize },
    #[error(
        "{input}: {count} pods is beyond the supported envelope of 150000 pods (Kubernetes' published scalability limit)"
    )]
    Pods { input: String, count: u64 },
    #[error(
        "{input}: {pods} pods on {nodes} nodes is {per_node} pods per node, beyond the supported 110 pods per node (the kubelet's default maxPods, Kubernetes' published limit)"
    )]
    PodsPerNode { input: String, pods: usize, nodes: usize, per_node: usize },
    #[error("{input}: a generated lane needs at least 1 node")]
    NoNodes { input: String },
    #[error("{input}: must be more than 0")]
    NotPositive { input: String },
}

#[derive(Debug, Clone)]
pub struct Scenario {
    /// Where it came from (a path, or `builtin:default`), for error messages.
    pub origin: String,
    /// The objects, each with its 1-based document number in the source.
    pub objects: Vec<(usize, Object)>,
    /// The scheduling policy the lane starts with (`--scheduler`; a manifest does not set it).
    /// It travels with the lane so every shell that builds a World from one (play, sim, serve)
    /// starts it the same way; the game's `s` key changes it afterwards.
    pub scheduler: Policy,
    /// Replicas of kube-scheduler and of kube-controller-manager, each contending for its
    /// Lease (`--control-plane-replicas`; travels with the lane like `scheduler`).
    pub control_plane_replicas: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{origin}: document {document}: not valid YAML: {message}")]
    Yaml { origin: String, document: usize, message: String },
    #[error("{origin}: document {document}: {error}")]
    Object { origin: String, document: usize, error: ObjectError },
    #[error("{origin}: document {document} ({kind} {name:?}): {message}")]
    Invalid { origin: String, document: usize, kind: String, name: String, message: String },
    #[error("{0}: no objects: a scenario needs at least one Node")]
    Empty(String),
    #[error(
        "unknown scenario {0:?}: give a path to a YAML file, or one of: default, tiny, stateful, ha, arena, stadium (alias envelope)"
    )]
    Unknown(String),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

/// The objects in multi-document YAML, each with its document number (from 1; empty documents
/// are skipped); every error names the origin, the document and the field. Lanes, the Roll CRD
/// and `sim --rolls` manifests are all read through here.
pub fn parse_documents(text: &str, origin: &str) -> Result<Vec<(usize, Object)>, ScenarioError> {
    let mut objects = Vec::new();
    for (i, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let number = i + 1;
        let yaml = serde_norway::Value::deserialize(document).map_err(|e| ScenarioError::Yaml {
            origin: origin.into(),
            document: number,
            message: e.to_string(),
        })?;
        if yaml.is_null() {
            continue;
        }
        let json = serde_json::to_value(&yaml).map_err(|e| ScenarioError::Yaml {
            origin: origin.into(),
            document: number,
            message: e.to_string(),
        })?;
        let object = Object::from_value(json).map_err(|error| ScenarioError::Object {
            origin: origin.into(),
            document: number,
            error,
        })?;
        objects.push((number, object));
    }
    Ok(objects)
}

impl Scenario {
    /// `--scenario` takes a path, or the name of a built-in lane (`default`, `tiny`, `ha` (the
    /// default lane with 3 control-plane replicas), `arena`, `stadium` (alias `envelope`)).
    pub fn resolve(spec: &str) -> Result<Scenario, ScenarioError> {
        let path = Path::new(spec);
        if path.exists() {
            let text =
                std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: spec.into(), source })?;
            return Scenario::parse(&text, spec);
        }
        let name = spec.trim_end_matches(".yaml").rsplit('/').next().unwrap_or(spec);
        match name {
            "arena" => return Ok(Scenario::in_ten_zones(&ARENA, "builtin:arena")?),
            "stadium" | "envelope" => return Ok(Scenario::in_ten_zones(&STADIUM, "builtin:stadium")?),
            // The default lane with a highly available control plane: knock its leader.
            "ha" => {
                let mut lane = Scenario::resolve("default")?;
                lane.origin = "builtin:ha".into();
                lane.control_plane_replicas = 3;
                return Ok(lane);
            }
            _ => {}
        }
        // A path to a shipped lane that is not on disk (run from elsewhere) still finds it.
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Scenario::parse(text, &format!("builtin:{n}")),
            None => Err(ScenarioError::Unknown(spec.into())),
        }
    }

    /// Parses multi-document YAML; every error names the origin, the document and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let objects = parse_documents(text, origin)?;
        if !objects.iter().any(|(_, o)| matches!(o, Object::Node(_))) {
            return Err(ScenarioError::Empty(origin.into()));
        }
        let scenario =
            Scenario { origin: origin.into(), objects, scheduler: Policy::default(), control_plane_replicas: 1 };
        scenario.check_envelope()?;
        Ok(scenario)
    }

    /// Refuses a lane beyond Kubernetes' published limits: more than 5,000 nodes, or more than
    /// 150,000 pods desired (Deployments', StatefulSets' and unowned ReplicaSets' replicas, plus bare Pods).
    pub fn check_envelope(&self) -> Result<(), EnvelopeError> {
        let nodes = self.objects.iter().filter(|(_, o)| matches!(o, Object::Node(_))).count();
        if nodes > MAX_NODES {
            return Err(EnvelopeError::Nodes { input: self.origin.clone(), count: nodes });
        }
        let pods = self.desired_pods();
        if pods > MAX_PODS {
            return Err(EnvelopeError::Pods { input: self.origin.clone(), count: pods });
        }
        Ok(())
    }

    /// Pods the lane's objects ask for before any scaling: replicas of Deployments, StatefulSets
    /// and ReplicaSets no Deployment owns, plus bare Pods.
    pub fn desired_pods(&self) -> u64 {
        let replicas = |r: Option<i32>| u64::try_from(r.unwrap_or(1)).unwrap_or(0);
        self.objects
            .iter()
            .map(|(_, object)| match object {
                Object::Deployment(d) => replicas(d.spec.replicas),
                Object::StatefulSet(s) => replicas(s.spec.replicas),
                Object::ReplicaSet(r) if r.metadata.controller().is_none() => replicas(r.spec.replicas),
                Object::Pod(_) => 1,
                _ => 0,
            })
            .sum()
    }

    /// The replicas each Deployment starts with, by `namespace/name` key, for checking a script
    /// of `scale` actions against the envelope.
    pub fn deployment_replicas(&self) -> BTreeMap<ObjectKey, u64> {
        self.objects
            .iter()
            .filter_map(|(_, object)| match object {
                Object::Deployment(d) => Some((
                    ObjectKey::new(
                        match d.metadata.namespace() {
                            "" => "default",
                            namespace => namespace,
                        },
                        d.metadata.name.clone(),
                    ),
                    u64::try_from(d.spec.replicas.unwrap_or(1)).unwrap_or(0),
                )),
                _ => None,
            })
            .collect()
    }

    /// `--nodes N --pods M`: checks the size against the envelope before building anything
    /// (a million nodes would take gigabytes to refuse afterwards), then builds the lane.
    pub fn generate(size: &LaneSize) -> Result<Scenario, EnvelopeError> {
        let input = format!("--nodes {} --pods {}", size.nodes, size.pods);
        if size.nodes == 0 {
            return Err(EnvelopeError::NoNodes { input: format!("--nodes {}", size.nodes) });
        }
        if size.nodes > MAX_NODES {
            return Err(EnvelopeError::Nodes { input: format!("--nodes {}", size.nodes), count: size.nodes });
        }
        if size.pods as u64 > MAX_PODS {
            return Err(EnvelopeError::Pods { input: format!("--pods {}", size.pods), count: size.pods as u64 });
        }
        let per_node = size.pods.div_ceil(size.nodes);
        if per_node > MAX_PODS_PER_NODE {
            return Err(EnvelopeError::PodsPerNode { input, pods: size.pods, nodes: size.nodes, per_node });
        }
        if size.node_cpu_milli.is_some_and(|c| c <= 0) {
            return Err(EnvelopeError::NotPositive { input: "--node-cpu".into() });
        }
        if size.node_memory_bytes.is_some_and(|m| m <= 0) {
            return Err(EnvelopeError::NotPositive { input: "--node-memory".into() });
        }
        Ok(Scenario::build(size))
    }

    /// A built-in big lane: `size` with its nodes in [`STADIUM_ZONES`] zones of equal size, dealt
    /// round robin (`pin-1` in `zone-1`, `pin-2` in `zone-2`, .. `pin-11` in `zone-1`), so each
    /// pin of the game is one whole zone and a scheduler that fills nodes in name order (greedy's
    /// first fit) still puts pods in every zone: no pin of the ten stands empty.
    fn in_ten_zones(size: &LaneSize, origin: &str) -> Result<Scenario, EnvelopeError> {
        let mut lane = Scenario::generate(size)?;
        lane.origin = origin.into();
        let nodes = lane.objects.iter_mut().filter_map(|(_, object)| match object {
            Object::Node(node) => Some(std::sync::Arc::make_mut(node)),
            _ => None,
        });
        for (index, node) in nodes.enumerate() {
            let zone = format!("zone-{}", index % STADIUM_ZONES + 1);
            node.metadata.labels.insert("topology.kubernetes.io/zone".into(), zone);
        }
        Ok(lane)
    }

    /// A lane of `nodes` pins sized so `pods` fit at about 75 % (see [`Scenario::generate`],
    /// which also checks the envelope; this does not).
    pub fn generated(nodes: usize, pods: usize) -> Scenario {
        Scenario::build(&LaneSize::new(nodes, pods))
    }

    /// The generated lane: `pods` pods in five Deployments of the default lane's shapes (split
    /// by share, remainders to the first), on `nodes` pins labelled as kubelets label them and
    /// spread round robin over three zones of one region. Unless given, each pin's cpu (whole
    /// cores) and memory (whole Gi) are sized so the pods fill about 75 % of the lane, and never
    /// less than the default lane's 4 cpu / 8Gi; every pin holds 110 pods (the kubelet's default maxPods).
    fn build(size: &LaneSize) -> Scenario {
        let nodes = size.nodes.max(1);
        let share_total: usize = GENERATED_SHAPES.iter().map(|s| s.share).sum();
        let mut replicas: Vec<usize> = GENERATED_SHAPES.iter().map(|s| size.pods * s.share / share_total).collect();
        let short = size.pods - replicas.iter().sum::<usize>();
        for r in replicas.iter_mut().take(short) {
            *r += 1;
        }
        let demand = |per_pod: fn(&GeneratedShape) -> i64| -> i64 {
            GENERATED_SHAPES.iter().zip(&replicas).map(|(s, &n)| per_pod(s) * n as i64).sum()
        };
        let largest = |per_pod: fn(&GeneratedShape) -> i64| GENERATED_SHAPES.iter().map(per_pod).max().unwrap_or(0);
        // Per node, demand / 75 %, rounded up to the unit a node is sold in.
        let sized = |total: i64, unit: i64, floor: i64| {
            let ceil_div = |a: i64, b: i64| (a + b - 1) / b;
            let per_node = ceil_div(total * 100, TARGET_FILL_PERCENT * nodes as i64);
            ceil_div(per_node.max(floor), unit) * unit
        };
        let cpu_milli = size
            .node_cpu_milli
            .unwrap_or_else(|| sized(demand(|s| s.cpu_milli), 1000, largest(|s| s.cpu_milli).max(MIN_NODE_CPU_MILLI)));
        let memory_bytes = size.node_memory_bytes.unwrap_or_else(|| {
            sized(demand(|s| s.memory_mi << 20), 1 << 30, largest(|s| s.memory_mi << 20).max(MIN_NODE_MEMORY_BYTES))
        });
        let mut objects = Vec::with_capacity(nodes + GENERATED_SHAPES.len());
        for i in 1..=nodes {
            let capacity: BTreeMap<String, Quantity> = [
                ("cpu".to_string(), Quantity::from_millicores(cpu_milli)),
                ("memory".to_string(), Quantity::from_bytes(memory_bytes)),
                ("pods".to_string(), Quantity::from_count(MAX_PODS_PER_NODE as i64)),
            ]
            .into();
            let name = format!("pin-{i}");
            let labels: BTreeMap<String, String> = [
                ("kubernetes.io/hostname", name.as_str()),
                ("kubernetes.io/os", "linux"),
                ("kubernetes.io/arch", "amd64"),
                ("topology.kubernetes.io/region", GENERATED_REGION),
                ("topology.kubernetes.io/zone", GENERATED_ZONES[(i - 1) % GENERATED_ZONES.len()]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            let node = Node {
                metadata: ObjectMeta { labels: labels.into(), ..ObjectMeta::named(name) },
                status: NodeStatus { allocatable: capacity.clone(), capacity, ..Default::default() },
                ..Default::default()
            };
            objects.push((i, Object::from(node)));
        }
        for (shape, count) in GENERATED_SHAPES.iter().zip(replicas) {
            objects.push((objects.len() + 1, Object::from(generated_deployment(shape, count as i32))));
        }
        Scenario {
            origin: format!("generated:{nodes}x{}", size.pods),
            objects,
            scheduler: Policy::default(),
            control_plane_replicas: 1,
        }
    }
}

/// One of the generated lane's workloads (the default lane's shapes).
struct GeneratedShape {
    name: &'static str,
    /// Percent of the lane's pods.
    share: usize,
    cpu_milli: i64,
    memory_mi: i64,
    priority: i32,
}

const GENERATED_SHAPES: [GeneratedShape; 5] = [
    GeneratedShape { name: "web", share: 30, cpu_milli: 500, memory_mi: 512, priority: 0 },
    GeneratedShape { name: "api", share: 20, cpu_milli: 750, memory_mi: 1024, priority: 0 },
    GeneratedShape { name: "cache", share: 10, cpu_milli: 1500, memory_mi: 3072, priority: 1000 },
    GeneratedShape { name: "worker", share: 15, cpu_milli: 250, memory_mi: 512, priority: 0 },
    GeneratedShape { name: "batch", share: 25, cpu_milli: 500, memory_mi: 1024, priority: -10 },
];

fn generated_deployment(shape: &GeneratedShape, replicas: i32) -> Deployment {
    let GeneratedShape { name, cpu_milli, memory_mi, priority, .. } = *shape;
    let labels: BTreeMap<String, String> = [("app".to_string(), name.to_string())].into();
    let resources: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity::from_millicores(cpu_milli)),
        ("memory".to_string(), Quantity::from_bytes(memory_mi << 20)),
    ]
    .into();
    Deployment {
        metadata: ObjectMeta { name: name.into(), labels: labels.clone().into(), ..ObjectMeta::default() },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: labels.clone(), ..Default::default() },
            template: PodTemplateSpec {
                metadata: ObjectMeta { labels: labels.into(), ..ObjectMeta::default() },
                spec: PodSpec {
                    priority: Some(priority),
                    containers: vec![Container {
                        name: name.into(),
                        image: format!("registry.local/{name}:1"),
                        resources: ResourceRequirements { requests: resources.clone(), limits: resources },
                        ..Default::default()
                    }]
                    .into(),
                    ..Default::default()
                },
            },
            strategy: None,
            extra: Default::default(),
        },
        ..Deployment::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_lanes_parse() {
        let default = Scenario::resolve("default").unwrap();
        let nodes = default.objects.iter().filter(|(_, o)| matches!(o, Object::Node(_))).count();
        assert_eq!(nodes, 10);
        assert_eq!(Scenario::resolve("tiny").unwrap().objects.len(), 5);
        assert!(matches!(Scenario::resolve("nope"), Err(ScenarioError::Unknown(_))));
    }

    fn nodes(scenario: &Scenario) -> Vec<&Node> {
        scenario
            .objects
            .iter()
            .filter_map(|(_, o)| match o {
                Object::Node(n) => Some(n.as_ref()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn generated_lanes_fill_about_three_quarters_and_count_every_pod() {
        for (n, p) in [(3, 10), (10, 45), (100, 3_000), (1_000, 30_000), (5_000, 150_000), (7, 0)] {
            let lane = Scenario::generate(&LaneSize::new(n, p)).unwrap();
            assert_eq!(lane.desired_pods(), p as u64, "{n}x{p}");
            let pins = nodes(&lane);
            assert_eq!(pins.len(), n);
            let cpu = pins[0].status.allocatable["cpu"].milli() * n as i64;
            let memory = pins[0].status.allocatable["memory"].value() * n as i64;
            let (mut want_cpu, mut want_memory) = (0, 0);
            for (_, o) in &lane.objects {
                if let Object::Deployment(d) = o {
                    let requests = &d.spec.template.spec.containers[0].resources.requests;
                    let replicas = i64::from(d.spec.replicas.unwrap_or(1));
                    want_cpu += requests["cpu"].milli() * replicas;
                    want_memory += requests["memory"].value() * replicas;
                }
            }
            assert!(want_cpu * 100 <= cpu * 75, "{n}x{p}: {want_cpu}m of {cpu}m is over 75 %");
            assert!(want_memory * 100 <= memory * 75, "{n}x{p}: {want_memory} of {memory} bytes is over 75 %");
            if p >= 1_000 {
                // Rounding to whole cores and Gi leaves it near 75 %, not far below.
                assert!(want_cpu * 100 > cpu * 60, "{n}x{p}: {want_cpu}m of {cpu}m is under 60 %");
                assert!(want_memory * 100 > memory * 60, "{n}x{p}: {want_memory} of {memory} is under 60 %");
            }
        }
    }

    #[test]
    fn generated_nodes_carry_kubelet_and_zone_labels() {
        let lane = Scenario::generate(&LaneSize::new(6, 60)).unwrap();
        let pins = nodes(&lane);
        let zones: Vec<&str> = pins.iter().map(|n| n.metadata.labels["topology.kubernetes.io/zone"].as_str()).collect();
        assert_eq!(zones, ["alley-1a", "alley-1b", "alley-1c", "alley-1a", "alley-1b", "alley-1c"]);
        for pin in pins {
            let labels = &pin.metadata.labels;
            assert_eq!(labels["kubernetes.io/hostname"], pin.metadata.name);
            assert_eq!(labels["topology.kubernetes.io/region"], "alley-1");
            assert_eq!(labels["kubernetes.io/os"], "linux");
            assert_eq!(pin.status.allocatable["pods"].value(), 110);
        }
    }

    #[test]
    fn given_node_sizes_are_kept_and_the_stadium_is_the_envelope_in_ten_zones() {
        let size = LaneSize { node_cpu_milli: Some(3_500), node_memory_bytes: Some(6 << 30), ..LaneSize::new(4, 8) };
        let lane = Scenario::generate(&size).unwrap();
        let pin = nodes(&lane)[0];
        assert_eq!(pin.status.capacity["cpu"].as_str(), "3500m");
        assert_eq!(pin.status.capacity["memory"].as_str(), "6Gi");
        let stadium = Scenario::resolve("stadium").unwrap();
        assert_eq!(nodes(&stadium).len(), MAX_NODES);
        assert_eq!(stadium.desired_pods(), MAX_PODS);
        assert_eq!(nodes(&stadium)[0].status.capacity["cpu"].as_str(), "32");
        assert_eq!(nodes(&stadium)[0].status.capacity["memory"].as_str(), "128Gi");
        let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
        for node in nodes(&stadium) {
            *per_zone.entry(node.metadata.labels["topology.kubernetes.io/zone"].as_str()).or_default() += 1;
        }
        let want: BTreeMap<String, usize> = (1..=10).map(|z| (format!("zone-{z}"), 500)).collect();
        assert_eq!(per_zone.into_iter().map(|(z, n)| (z.to_string(), n)).collect::<BTreeMap<_, _>>(), want);
        let zone = |name: &str| {
            nodes(&stadium).into_iter().find(|n| n.metadata.name == name).unwrap().metadata.labels
                ["topology.kubernetes.io/zone"]
                .clone()
        };
        assert_eq!(
            (zone("pin-1"), zone("pin-2"), zone("pin-10"), zone("pin-11"), zone("pin-5000")),
            ("zone-1".into(), "zone-2".into(), "zone-10".into(), "zone-1".into(), "zone-10".into())
        );
        assert_eq!(Scenario::resolve("envelope").unwrap().objects.len(), stadium.objects.len());
        let arena = Scenario::resolve("arena").unwrap();
        let arena_zones: std::collections::BTreeSet<&str> =
            nodes(&arena).into_iter().map(|n| n.metadata.labels["topology.kubernetes.io/zone"].as_str()).collect();
        assert_eq!((nodes(&arena).len(), arena_zones.len()), (1_000, STADIUM_ZONES));
    }

    #[test]
    fn the_envelope_is_checked_before_building() {
        assert!(matches!(Scenario::generate(&LaneSize::new(5_001, 1)), Err(EnvelopeError::Nodes { count: 5_001, .. })));
        assert!(matches!(Scenario::generate(&LaneSize::new(0, 1)), Err(EnvelopeError::NoNodes { .. })));
        assert!(matches!(
            Scenario::generate(&LaneSize::new(2, 221)),
            Err(EnvelopeError::PodsPerNode { per_node: 111, .. })
        ));
        assert!(Scenario::generate(&LaneSize::new(2, 220)).is_ok());
        let text = "kind: Node\napiVersion: v1\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 150001\n  template:\n    spec:\n      containers:\n      - name: c\n";
        let err = Scenario::parse(text, "big.yaml").unwrap_err();
        assert!(matches!(err, ScenarioError::Envelope(EnvelopeError::Pods { count: 150_001, .. })), "{err}");
    }

    #[test]
    fn errors_name_document_and_field() {
        let text = "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n      - name: c\n        resources:\n          requests: {cpu: 12x}\n";
        let err = Scenario::parse(text, "lane.yaml").unwrap_err().to_string();
        assert!(
            err.starts_with("lane.yaml: document 2: spec.template.spec.containers[0].resources.requests.cpu"),
            "{err}"
        );
        assert!(err.contains("12x"), "{err}");
        let err = Scenario::parse("kind: Frobnicator\n", "x.yaml").unwrap_err().to_string();
        assert!(err.contains("document 1") && err.contains("Frobnicator"), "{err}");
        let err = Scenario::parse("a: [unclosed\n", "y.yaml").unwrap_err().to_string();
        assert!(err.contains("y.yaml: document 1: not valid YAML"), "{err}");
    }
}
