//! Kubernetes-shaped objects: the same field names and JSON as upstream `core/v1`, `apps/v1` and
//! `coordination.k8s.io/v1`, so the real kubectl (and the k8s-openapi types) read them as their own.

pub mod event;
pub mod meta;
pub mod node;
pub mod pod;
pub mod quantity;
pub mod service;
pub mod workload;

pub use event::{Event, EventSource, Lease, LeaseSpec, ObjectReference};
pub use meta::{FieldError, LabelSelector, ObjectMeta, OwnerReference};
pub use node::{Node, NodeCondition, NodeSpec, NodeStatus, Readiness, ResourceList, Taint};
pub use pod::{Container, Pod, PodSpec, PodState, PodTemplateSpec, Requests, Toleration};
pub use quantity::{Quantity, QuantityError};
pub use service::{Endpoints, Service};
pub use workload::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};

use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use std::fmt;

/// The kinds the store holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    Node,
    Pod,
    ReplicaSet,
    Deployment,
    Event,
    Lease,
    Service,
    Endpoints,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Node,
        Kind::Pod,
        Kind::ReplicaSet,
        Kind::Deployment,
        Kind::Event,
        Kind::Lease,
        Kind::Service,
        Kind::Endpoints,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::Deployment => "Deployment",
            Kind::Event => "Event",
            Kind::Lease => "Lease",
            Kind::Service => "Service",
            Kind::Endpoints => "Endpoints",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Node | Kind::Pod | Kind::Event | Kind::Service | Kind::Endpoints => "v1",
            Kind::ReplicaSet | Kind::Deployment => "apps/v1",
            Kind::Lease => "coordination.k8s.io/v1",
        }
    }

    /// The lowercase plural used in URLs and in upstream's error messages.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::ReplicaSet => "replicasets",
            Kind::Deployment => "deployments",
            Kind::Event => "events",
            Kind::Lease => "leases",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
        }
    }

    /// `deployments.apps`: how upstream names a resource in messages (`deployments.apps "x" not found`).
    pub fn qualified_resource(self) -> String {
        match self.api_version().split_once('/') {
            Some((group, _)) => format!("{}.{group}", self.plural()),
            None => self.plural().to_string(),
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node)
    }

    pub fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == kind)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Any object the store holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Node(Node),
    Pod(Pod),
    ReplicaSet(ReplicaSet),
    Deployment(Deployment),
    Event(Event),
    Lease(Lease),
    Service(Service),
    Endpoints(Endpoints),
}

/// Why a document is not an object we can take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectError {
    #[error("missing field \"kind\"")]
    MissingKind,
    #[error(
        "kind {0:?} is not supported (supported: Node, Pod, ReplicaSet, Deployment, Event, Lease, Service, Endpoints)"
    )]
    UnsupportedKind(String),
    #[error("apiVersion {found:?} does not serve kind {kind} (expected {expected:?})")]
    WrongApiVersion { kind: Kind, found: String, expected: &'static str },
    /// A field has the wrong type or a bad value; `path` is the JSON path to it.
    #[error("{path}: {message}")]
    Field { path: String, message: String },
}

impl Object {
    /// Decodes a JSON (or YAML-converted) document by its `kind`, naming the failing field.
    pub fn from_value(value: serde_json::Value) -> Result<Object, ObjectError> {
        let kind_text = value.get("kind").and_then(|k| k.as_str()).ok_or(ObjectError::MissingKind)?;
        let kind = Kind::parse(kind_text).ok_or_else(|| ObjectError::UnsupportedKind(kind_text.to_string()))?;
        if let Some(found) = value.get("apiVersion").and_then(|v| v.as_str())
            && found != kind.api_version()
        {
            return Err(ObjectError::WrongApiVersion { kind, found: found.to_string(), expected: kind.api_version() });
        }
        fn decode<R: Resource>(value: serde_json::Value) -> Result<Object, ObjectError> {
            serde_path_to_error::deserialize::<_, R>(value)
                .map(Into::into)
                .map_err(|e| ObjectError::Field { path: e.path().to_string(), message: e.inner().to_string() })
        }
        match kind {
            Kind::Node => decode::<Node>(value),
            Kind::Pod => decode::<Pod>(value),
            Kind::ReplicaSet => decode::<ReplicaSet>(value),
            Kind::Deployment => decode::<Deployment>(value),
            Kind::Event => decode::<Event>(value),
            Kind::Lease => decode::<Lease>(value),
            Kind::Service => decode::<Service>(value),
            Kind::Endpoints => decode::<Endpoints>(value),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::ReplicaSet(_) => Kind::ReplicaSet,
            Object::Deployment(_) => Kind::Deployment,
            Object::Event(_) => Kind::Event,
            Object::Lease(_) => Kind::Lease,
            Object::Service(_) => Kind::Service,
            Object::Endpoints(_) => Kind::Endpoints,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Node(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Event(o) => &o.metadata,
            Object::Lease(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Endpoints(o) => &o.metadata,
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Object::Node(o) => o.serialize(serializer),
            Object::Pod(o) => o.serialize(serializer),
            Object::ReplicaSet(o) => o.serialize(serializer),
            Object::Deployment(o) => o.serialize(serializer),
            Object::Event(o) => o.serialize(serializer),
            Object::Lease(o) => o.serialize(serializer),
            Object::Service(o) => o.serialize(serializer),
            Object::Endpoints(o) => o.serialize(serializer),
        }
    }
}

/// What the store needs to know about a kind. One impl per kind, below.
pub trait Resource: Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned + Into<Object> {
    const KIND: Kind;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn from_object(object: &Object) -> Option<&Self>;
    /// Fills `apiVersion` and `kind`, which callers may leave empty.
    fn set_type_meta(&mut self);
    /// Kind-specific validation; name and labels are checked for every kind by the store.
    fn validate(&self, _errors: &mut Vec<FieldError>) {}
    /// Whether `metadata.generation` should move: spec changes do, status changes do not.
    fn spec_changed(&self, _old: &Self) -> bool {
        false
    }
    /// Takes `status` from the stored object: a spec write (apply) must not wipe what the
    /// controllers and kubelets reported.
    fn keep_status(&mut self, _old: &Self) {}
    /// For pods, `spec.nodeName`: the store indexes pods by node.
    fn bound_node(&self) -> Option<&str> {
        None
    }
}

macro_rules! resource {
    ($ty:ident, $kind:ident $(, validate = $validate:path)? $(, spec = $spec:tt)? $(, node = $node:expr)? $(, status = $status:tt)?) => {
        impl From<$ty> for Object {
            fn from(o: $ty) -> Object {
                Object::$kind(o)
            }
        }
        impl Resource for $ty {
            const KIND: Kind = Kind::$kind;
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn from_object(object: &Object) -> Option<&Self> {
                match object {
                    Object::$kind(o) => Some(o),
                    _ => None,
                }
            }
            fn set_type_meta(&mut self) {
                self.api_version = Kind::$kind.api_version().to_string();
                self.kind = Kind::$kind.name().to_string();
            }
            $(fn validate(&self, errors: &mut Vec<FieldError>) {
                $validate(self, errors)
            })?
            $(fn spec_changed(&self, old: &Self) -> bool {
                let _ = stringify!($spec);
                self.spec != old.spec
            })?
            $(fn keep_status(&mut self, old: &Self) {
                let _ = stringify!($status);
                self.status = old.status.clone();
            })?
            $(fn bound_node(&self) -> Option<&str> {
                ($node)(self)
            })?
        }
    };
}

resource!(Node, Node, validate = validate::node, status = yes);
resource!(Pod, Pod, validate = validate::pod, node = Pod::node_name, status = yes);
resource!(ReplicaSet, ReplicaSet, validate = validate::replica_set, spec = yes, status = yes);
resource!(Deployment, Deployment, validate = validate::deployment, spec = yes, status = yes);
resource!(Event, Event);
resource!(Lease, Lease);
resource!(Service, Service, validate = validate::service, status = yes);
resource!(Endpoints, Endpoints);

/// Kind-specific validation rules, following upstream's `pkg/apis/*/validation` in spirit.
mod validate {
    use super::*;
    use std::collections::BTreeMap;

    fn quantities(field: &str, list: &ResourceList, errors: &mut Vec<FieldError>) {
        for (name, q) in list {
            if q.milli() < 0 {
                errors.push(FieldError::new(
                    format!("{field}[{name}]"),
                    format!("Invalid value: {:?}: must be greater than or equal to 0", q.as_str()),
                ));
            }
        }
    }

    pub fn node(node: &Node, errors: &mut Vec<FieldError>) {
        quantities("status.capacity", &node.status.capacity, errors);
        quantities("status.allocatable", &node.status.allocatable, errors);
        for (i, taint) in node.spec.taints.iter().enumerate() {
            if taint.key.is_empty() {
                errors.push(FieldError::new(format!("spec.taints[{i}].key"), "Required value"));
            }
            if ![Taint::NO_SCHEDULE, Taint::PREFER_NO_SCHEDULE, Taint::NO_EXECUTE].contains(&taint.effect.as_str()) {
                errors.push(FieldError::new(
                    format!("spec.taints[{i}].effect"),
                    format!("Unsupported value: {:?}: supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"", taint.effect),
                ));
            }
        }
    }

    pub fn pod_spec(field: &str, spec: &PodSpec, errors: &mut Vec<FieldError>) {
        if spec.containers.is_empty() {
            errors.push(FieldError::new(format!("{field}.containers"), "Required value"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in spec.containers.iter().enumerate() {
            let at = format!("{field}.containers[{i}]");
            if c.name.is_empty() {
                errors.push(FieldError::new(format!("{at}.name"), "Required value"));
            } else if !seen.insert(c.name.as_str()) {
                errors.push(FieldError::new(format!("{at}.name"), format!("Duplicate value: {:?}", c.name)));
            } else {
                meta::validate_dns_label(&format!("{at}.name"), &c.name, errors);
            }
            if c.image.is_empty() {
                errors.push(FieldError::new(format!("{at}.image"), "Required value"));
            }
            quantities(&format!("{at}.resources.requests"), &c.resources.requests, errors);
            quantities(&format!("{at}.resources.limits"), &c.resources.limits, errors);
            for (name, request) in &c.resources.requests {
                if let Some(limit) = c.resources.limits.get(name)
                    && request.milli() > limit.milli()
                {
                    errors.push(FieldError::new(
                        format!("{at}.resources.requests"),
                        format!(
                            "Invalid value: {:?}: must be less than or equal to {name} limit of {}",
                            request.as_str(),
                            limit.as_str()
                        ),
                    ));
                }
            }
        }
        for (i, t) in spec.tolerations.iter().enumerate() {
            if !["", "Exists", "Equal"].contains(&t.operator.as_str()) {
                errors.push(FieldError::new(
                    format!("{field}.tolerations[{i}].operator"),
                    format!("Unsupported value: {:?}: supported values: \"Equal\", \"Exists\"", t.operator),
                ));
            }
        }
    }

    pub fn pod(pod: &Pod, errors: &mut Vec<FieldError>) {
        pod_spec("spec", &pod.spec, errors);
    }

    fn workload(
        replicas: Option<i32>,
        selector: &LabelSelector,
        template: &PodTemplateSpec,
        errors: &mut Vec<FieldError>,
    ) {
        if let Some(r) = replicas
            && r < 0
        {
            errors.push(FieldError::new(
                "spec.replicas",
                format!("Invalid value: {r}: must be greater than or equal to 0"),
            ));
        }
        if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
            errors.push(FieldError::new("spec.selector", "Required value"));
        } else if !selector.matches(&template.metadata.labels) {
            errors.push(FieldError::new(
                "spec.template.metadata.labels",
                format!(
                    "Invalid value: {:?}: `selector` does not match template `labels`",
                    labels_string(&template.metadata.labels)
                ),
            ));
        }
        meta::validate_labels("spec.template.metadata.labels", &template.metadata.labels, errors);
        pod_spec("spec.template.spec", &template.spec, errors);
    }

    fn labels_string(labels: &BTreeMap<String, String>) -> String {
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    }

    pub fn replica_set(rs: &ReplicaSet, errors: &mut Vec<FieldError>) {
        workload(rs.spec.replicas, &rs.spec.selector, &rs.spec.template, errors);
    }

    pub fn service(svc: &Service, errors: &mut Vec<FieldError>) {
        if !["", "ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&svc.spec.type_.as_str()) {
            errors.push(FieldError::new(
                "spec.type",
                format!("Unsupported value: {:?}: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"", svc.spec.type_),
            ));
        }
        // Only ExternalName and headless Services may go without ports.
        if svc.spec.ports.is_empty() && svc.spec.type_ != "ExternalName" && svc.spec.cluster_ip != "None" {
            errors.push(FieldError::new("spec.ports", "Required value"));
        }
        for (i, p) in svc.spec.ports.iter().enumerate() {
            if !(1..=65535).contains(&p.port) {
                errors.push(FieldError::new(
                    format!("spec.ports[{i}].port"),
                    format!("Invalid value: {}: must be between 1 and 65535, inclusive", p.port),
                ));
            }
        }
    }

    pub fn deployment(d: &Deployment, errors: &mut Vec<FieldError>) {
        workload(d.spec.replicas, &d.spec.selector, &d.spec.template, errors);
    }
}
