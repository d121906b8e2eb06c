//! Scenarios: the lane a game or simulation starts from, written as Kubernetes manifests
//! (multi-document YAML of Nodes and Deployments), or generated for large lanes.

use crate::cluster::objects::pod::ResourceRequirements;
use crate::cluster::objects::{
    Container, Deployment, DeploymentSpec, LabelSelector, Node, NodeStatus, Object, ObjectError, ObjectMeta, PodSpec,
    PodTemplateSpec, Quantity,
};
use crate::cluster::scheduler::Policy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The lanes that ship inside the binary, by name.
pub const BUILTIN: [(&str, &str); 2] = [
    ("default", include_str!("../assets/scenarios/default.yaml")),
    ("tiny", include_str!("../assets/scenarios/tiny.yaml")),
];

/// The generated lane `stadium` stands for.
/// 4.5 pods a pin, as the default lane: about two thirds full.
pub const STADIUM: (usize, usize) = (1_000, 4_500);

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
    #[error("unknown scenario {0:?}: give a path to a YAML file, or one of: default, tiny, stadium")]
    Unknown(String),
}

impl Scenario {
    /// `--scenario` takes a path, or the name of a built-in lane (`default`, `tiny`, `stadium`).
    pub fn resolve(spec: &str) -> Result<Scenario, ScenarioError> {
        let path = Path::new(spec);
        if path.exists() {
            let text =
                std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: spec.into(), source })?;
            return Scenario::parse(&text, spec);
        }
        let name = spec.trim_end_matches(".yaml").rsplit('/').next().unwrap_or(spec);
        if name == "stadium" {
            return Ok(Scenario::generated(STADIUM.0, STADIUM.1));
        }
        // A path to a shipped lane that is not on disk (run from elsewhere) still finds it.
        match BUILTIN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => Scenario::parse(text, &format!("builtin:{n}")),
            None => Err(ScenarioError::Unknown(spec.into())),
        }
    }

    /// Parses multi-document YAML; every error names the origin, the document and the field.
    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
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
        if !objects.iter().any(|(_, o)| matches!(o, Object::Node(_))) {
            return Err(ScenarioError::Empty(origin.into()));
        }
        Ok(Scenario { origin: origin.into(), objects, scheduler: Policy::default() })
    }

    /// A lane of `nodes` pins (4 cpu, 8Gi each) and about `pods` pods in five deployments of
    /// the default lane's shapes.
    pub fn generated(nodes: usize, pods: usize) -> Scenario {
        let mut objects = Vec::new();
        for i in 1..=nodes {
            let capacity: BTreeMap<String, Quantity> = [
                ("cpu".to_string(), Quantity::from_millicores(4000)),
                ("memory".to_string(), Quantity::from_bytes(8 << 30)),
                ("pods".to_string(), Quantity::from_count(110)),
            ]
            .into();
            let node = Node {
                metadata: ObjectMeta::named(format!("pin-{i}")),
                status: NodeStatus { allocatable: capacity.clone(), capacity, ..Default::default() },
                ..Default::default()
            };
            objects.push((i, Object::Node(node)));
        }
        // (name, share of pods, cpu milli, memory Mi, priority)
        let shapes = [
            ("web", 30, 500, 512, 0),
            ("api", 20, 750, 1024, 0),
            ("cache", 10, 1500, 3072, 1000),
            ("worker", 15, 250, 512, 0),
            ("batch", 25, 500, 1024, -10),
        ];
        for (name, share, cpu, mem, priority) in shapes {
            let replicas = (pods * share / 100) as i32;
            objects.push((
                objects.len() + 1,
                Object::Deployment(generated_deployment(name, replicas, cpu, mem, priority)),
            ));
        }
        Scenario { origin: format!("generated:{nodes}x{pods}"), objects, scheduler: Policy::default() }
    }
}

fn generated_deployment(name: &str, replicas: i32, cpu_milli: i64, memory_mi: i64, priority: i32) -> Deployment {
    let labels: BTreeMap<String, String> = [("app".to_string(), name.to_string())].into();
    let resources: BTreeMap<String, Quantity> = [
        ("cpu".to_string(), Quantity::from_millicores(cpu_milli)),
        ("memory".to_string(), Quantity::from_bytes(memory_mi << 20)),
    ]
    .into();
    Deployment {
        metadata: ObjectMeta { name: name.into(), labels: labels.clone(), ..ObjectMeta::default() },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: labels.clone(), ..Default::default() },
            template: PodTemplateSpec {
                metadata: ObjectMeta { labels, ..ObjectMeta::default() },
                spec: PodSpec {
                    priority: Some(priority),
                    containers: vec![Container {
                        name: name.into(),
                        image: format!("registry.local/{name}:1"),
                        resources: ResourceRequirements { requests: resources.clone(), limits: resources },
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            },
            strategy: None,
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
