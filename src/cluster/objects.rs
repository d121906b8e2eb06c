//! Kubernetes-shaped objects: the same field names and JSON as upstream `core/v1`, `apps/v1` and
//! `coordination.k8s.io/v1`, so the real kubectl (and the k8s-openapi types) read them as their own.

pub mod config;
pub mod crd;
pub mod custom;
pub mod event;
pub mod meta;
pub mod node;
pub mod pdb;
pub mod pod;
pub mod print;
pub mod quantity;
pub mod rbac;
pub mod service;
pub mod service_account;
pub mod shared;
pub mod statefulset;
pub mod storage;
pub mod workload;

pub use config::{ConfigMap, Secret};
pub use crd::CustomResourceDefinition;
pub use custom::CustomObject;
pub use event::{Event, EventSource, Lease, LeaseSpec, ObjectReference};
pub use meta::{FieldError, LabelSelector, ObjectMeta, OwnerReference};
pub use node::{Node, NodeCondition, NodeSpec, NodeStatus, Readiness, ResourceList, Taint};
pub use pdb::PodDisruptionBudget;
pub use pod::{Container, Pod, PodSpec, PodState, PodTemplateSpec, Requests, Toleration};
pub use quantity::{Quantity, QuantityError};
pub use rbac::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject};
pub use service::{Endpoints, Service};
pub use service_account::ServiceAccount;
pub use shared::Shared;
pub use statefulset::StatefulSet;
pub use storage::{PersistentVolume, PersistentVolumeClaim, StorageClass};
pub use workload::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};

use super::store::{ObjectKey, Store, StoreError, Stored, Table};
use crate::clock::Millis;
use serde::de::DeserializeOwned;
use serde::{Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// The namespace an object lands in when its request names none, as kubectl's context does.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The verbs every built-in kind serves.
pub const ALL_VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// Generates, from the kinds table below, `Kind`, `Object`, the store's per-kind maps and the
/// per-kind `Resource` impls. Read the table, not this.
macro_rules! kinds {
    ($(
        $kind:ident {
            store: $field:ident, group: $group:literal, version: $version:literal, plural: $plural:literal,
            singular: $singular:literal, short_names: [$($short:literal),*], namespaced: $namespaced:literal,
            verbs: $verbs:expr, categories: [$($category:literal),*],
            columns: [$(($column:literal, $priority:literal)),* $(,)?],
            cells: $cells:path,
            hooks: { $($hooks:tt)* },
        }
    )*) => {
        /// The kinds the store holds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum Kind {
            $($kind,)*
        }

        impl Kind {
            pub const ALL: [Kind; [$(Kind::$kind),*].len()] = [$(Kind::$kind),*];

            pub const fn name(self) -> &'static str {
                match self {
                    $(Kind::$kind => stringify!($kind),)*
                }
            }

            /// The API group (`""` is core).
            pub const fn group(self) -> &'static str {
                match self {
                    $(Kind::$kind => $group,)*
                }
            }

            pub const fn version(self) -> &'static str {
                match self {
                    $(Kind::$kind => $version,)*
                }
            }

            pub const fn api_version(self) -> &'static str {
                match self {
                    $(Kind::$kind => if $group.is_empty() { $version } else { concat!($group, "/", $version) },)*
                }
            }

            /// The lowercase plural used in URLs and in upstream's error messages.
            pub const fn plural(self) -> &'static str {
                match self {
                    $(Kind::$kind => $plural,)*
                }
            }

            pub const fn singular(self) -> &'static str {
                match self {
                    $(Kind::$kind => $singular,)*
                }
            }

            /// What `kubectl get` accepts instead of the plural (`po`, `deploy`).
            pub const fn short_names(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$kind => &[$($short),*],)*
                }
            }

            pub const fn namespaced(self) -> bool {
                match self {
                    $(Kind::$kind => $namespaced,)*
                }
            }

            pub const fn verbs(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$kind => $verbs,)*
                }
            }

            /// Discovery categories: `all` makes `kubectl get all` include the kind.
            pub const fn categories(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$kind => &[$($category),*],)*
                }
            }

            /// `kubectl get` columns as kube-apiserver declares them: (name, priority); priority 1
            /// shows only with `-o wide`. [`Object::cells`] fills them in this order.
            pub const fn columns(self) -> &'static [(&'static str, u8)] {
                match self {
                    $(Kind::$kind => &[$(($column, $priority)),*],)*
                }
            }

            /// Runs `op` with this kind's Rust type: static dispatch, one match for every by-kind
            /// operation.
            pub fn dispatch<Op: KindOp>(self, op: Op) -> Op::Output {
                match self {
                    $(Kind::$kind => op.run::<$kind>(),)*
                }
            }
        }

        /// Any object the store holds.
        #[derive(Debug, Clone, PartialEq)]
        ///
        /// Each object behind an `Arc`: the store's table, its change log and every reader
        /// share one copy of each version, so a write costs one clone, not one per holder.
        pub enum Object {
            $($kind(Arc<$kind>),)*
        }

        impl Object {
            pub fn kind(&self) -> Kind {
                match self {
                    $(Object::$kind(_) => Kind::$kind,)*
                }
            }

            pub fn meta(&self) -> &ObjectMeta {
                match self {
                    $(Object::$kind(o) => &o.metadata,)*
                }
            }

            /// The row `kubectl get` prints for this object, one cell per [`Kind::columns`].
            pub fn cells(&self, now: crate::clock::Reading) -> Vec<serde_json::Value> {
                match self {
                    $(Object::$kind(o) => $cells(o.as_ref(), now),)*
                }
            }

            /// This object at another resourceVersion: what a deletion answers with, since the
            /// store keeps a deleted object as it was stored (see [`Store::delete`]).
            pub fn with_resource_version(self, resource_version: u64) -> Object {
                match self {
                    $(Object::$kind(mut o) => {
                        Arc::make_mut(&mut o).metadata.resource_version = resource_version.to_string().into();
                        Object::$kind(o)
                    })*
                }
            }

            /// Runs `op` on the typed object inside: static dispatch, as [`Kind::dispatch`].
            pub fn dispatch<Op: ObjectOp>(self, op: Op) -> Op::Output {
                match self {
                    $(Object::$kind(o) => op.run(Arc::unwrap_or_clone(o)),)*
                }
            }
        }

        impl Serialize for Object {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(Object::$kind(o) => o.as_ref().serialize(serializer),)*
                }
            }
        }

        /// The store's per-kind maps, one per kind in the table.
        #[derive(Debug, Clone, Default)]
        pub struct KindTables {
            $($field: Table<$kind>,)*
        }

        $(
            impl Stored for $kind {
                fn table(tables: &KindTables) -> &Table<Self> {
                    &tables.$field
                }
                fn table_mut(tables: &mut KindTables) -> &mut Table<Self> {
                    &mut tables.$field
                }
            }
            resource!($kind { $($hooks)* });
        )*
    };
}

/// Something done for one kind with its Rust type (see [`Kind::dispatch`]).
pub trait KindOp {
    type Output;
    fn run<R: Stored>(self) -> Self::Output;
}

/// Something done to one object with its Rust type (see [`Object::dispatch`]).
pub trait ObjectOp {
    type Output;
    fn run<R: Stored>(self, object: R) -> Self::Output;
}

impl Kind {
    pub fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == kind)
    }

    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// `deployments.apps`: how upstream names a resource in messages (`deployments.apps "x" not found`).
    pub fn qualified_resource(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            group => format!("{}.{group}", self.plural()),
        }
    }

    /// `Deployment.apps`: how upstream names a kind in an Invalid error (core kinds bare).
    pub fn qualified_kind(self) -> String {
        match self.group() {
            "" => self.name().to_string(),
            group => format!("{}.{group}", self.name()),
        }
    }

    /// Where an object of this kind lives: the one place namespaces are defaulted. A namespaced
    /// kind with no (or an empty) namespace is in `default`; a cluster-scoped one has none.
    pub fn key(self, namespace: Option<&str>, name: impl AsRef<str>) -> ObjectKey {
        ObjectKey::new(self.namespace_of(namespace).unwrap_or_default(), name)
    }

    /// The namespace an object of this kind is stored with (see [`Kind::key`]).
    pub fn namespace_of(self, namespace: Option<&str>) -> Option<&str> {
        self.namespaced().then(|| namespace.filter(|n| !n.is_empty()).unwrap_or(DEFAULT_NAMESPACE))
    }

    /// How many objects of this kind the store holds.
    pub fn count(self, store: &Store) -> usize {
        struct Count<'s>(&'s Store);
        impl KindOp for Count<'_> {
            type Output = usize;
            fn run<R: Stored>(self) -> usize {
                self.0.len::<R>()
            }
        }
        self.dispatch(Count(store))
    }

    /// Every object of this kind, in key order (shared, not copied: callers take them off the
    /// World's thread).
    pub fn list(self, store: &Store) -> Vec<Object> {
        struct List<'s>(&'s Store);
        impl KindOp for List<'_> {
            type Output = Vec<Object>;
            fn run<R: Stored>(self) -> Vec<Object> {
                self.0.list_shared::<R>().cloned().map(R::shared).collect()
            }
        }
        self.dispatch(List(store))
    }

    /// One object of this kind, shared with the store.
    pub fn get(self, store: &Store, key: &ObjectKey) -> Option<Object> {
        struct Get<'s, 'k>(&'s Store, &'k ObjectKey);
        impl KindOp for Get<'_, '_> {
            type Output = Option<Object>;
            fn run<R: Stored>(self) -> Option<Object> {
                self.0.get_shared::<R>(self.1).cloned().map(R::shared)
            }
        }
        self.dispatch(Get(store, key))
    }

    /// One object's metadata, borrowed: what an event about it needs, without a clone of the object.
    pub fn meta_in<'s>(self, store: &'s Store, key: &ObjectKey) -> Option<&'s ObjectMeta> {
        struct Meta<'s, 'k>(&'s Store, &'k ObjectKey);
        impl<'s> KindOp for Meta<'s, '_> {
            type Output = Option<&'s ObjectMeta>;
            fn run<R: Stored>(self) -> Option<&'s ObjectMeta> {
                self.0.get::<R>(self.1).map(Resource::meta)
            }
        }
        self.dispatch(Meta(store, key))
    }

    /// Whether the kind serves a `/status` subresource (discovery lists `<plural>/status`).
    pub fn has_status(self) -> bool {
        struct HasStatus;
        impl KindOp for HasStatus {
            type Output = bool;
            fn run<R: Stored>(self) -> bool {
                R::HAS_STATUS
            }
        }
        self.dispatch(HasStatus)
    }

    /// Removes one object of this kind now (see [`Store::delete`]).
    pub fn delete(self, store: &mut Store, key: &ObjectKey) -> Result<Object, StoreError> {
        struct Delete<'s, 'k>(&'s mut Store, &'k ObjectKey);
        impl KindOp for Delete<'_, '_> {
            type Output = Result<Object, StoreError>;
            fn run<R: Stored>(self) -> Result<Object, StoreError> {
                self.0.delete::<R>(self.1).map(R::shared)
            }
        }
        self.dispatch(Delete(store, key))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `Node, Pod, ...`: the kinds named in errors.
fn supported_kinds() -> String {
    Kind::ALL.into_iter().filter(|k| *k != Kind::CustomObject).map(Kind::name).collect::<Vec<_>>().join(", ")
}

/// Why a document is not an object we can take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObjectError {
    #[error("missing field \"kind\"")]
    MissingKind,
    #[error("kind {0:?} is not supported (supported: {supported})", supported = supported_kinds())]
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
        let custom_group = value.get("apiVersion").and_then(|v| v.as_str()).is_some_and(|v| v.contains('/'));
        let kind = match Kind::parse(kind_text).filter(|k| *k != Kind::CustomObject) {
            Some(kind) => kind,
            // A kind of a named group the table does not hold: a custom resource's, which
            // the cluster resolves against its CRDs when it is admitted.
            None if custom_group => Kind::CustomObject,
            None => return Err(ObjectError::UnsupportedKind(kind_text.to_string())),
        };
        if let Some(found) = value.get("apiVersion").and_then(|v| v.as_str())
            && kind != Kind::CustomObject
            && found != kind.api_version()
        {
            return Err(ObjectError::WrongApiVersion { kind, found: found.to_string(), expected: kind.api_version() });
        }
        struct Decode(serde_json::Value);
        impl KindOp for Decode {
            type Output = Result<Object, ObjectError>;
            fn run<R: Stored>(self) -> Result<Object, ObjectError> {
                serde_path_to_error::deserialize::<_, R>(self.0)
                    .map(|mut o| {
                        o.decoded();
                        o.into()
                    })
                    .map_err(|e| ObjectError::Field { path: e.path().to_string(), message: e.inner().to_string() })
            }
        }
        kind.dispatch(Decode(value))
    }

    /// Creates this object in the store (see [`Store::create`]).
    pub fn create_in(self, store: &mut Store, now: Millis) -> Result<Object, StoreError> {
        struct Create<'s>(&'s mut Store, Millis);
        impl ObjectOp for Create<'_> {
            type Output = Result<Object, StoreError>;
            fn run<R: Stored>(self, object: R) -> Result<Object, StoreError> {
                self.0.create(object, self.1).map(R::shared)
            }
        }
        self.dispatch(Create(store, now))
    }
}

/// What the store needs to know about a kind. One impl per kind, from the kinds table.
pub trait Resource: Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned + Into<Object> {
    const KIND: Kind;
    /// This object as an [`Object`], shared rather than copied.
    fn shared(this: Arc<Self>) -> Object;
    fn meta(&self) -> &ObjectMeta;
    fn meta_mut(&mut self) -> &mut ObjectMeta;
    fn from_object(object: &Object) -> Option<&Self>;
    /// Fills `apiVersion` and `kind`, which callers may leave empty.
    fn set_type_meta(&mut self);
    /// Where this object lives (its namespace defaulted as [`Kind::key`] does).
    fn key(&self) -> ObjectKey {
        Self::KIND.key(self.meta().namespace.as_deref(), &self.meta().name)
    }
    /// Puts a namespaced object without one in `default`, and clears a cluster-scoped one's.
    fn default_namespace(&mut self) {
        let current = self.meta().namespace.as_deref();
        let wanted = Self::KIND.namespace_of(current);
        if current != wanted {
            let namespace = wanted.map(compact_str::CompactString::from);
            self.meta_mut().namespace = namespace;
        }
    }
    /// Just decoded from a request: apply the version's conversion and defaults (Secret's
    /// `stringData` into `data`, its `type`), as upstream's decoder does.
    fn decoded(&mut self) {}
    /// Kind-specific validation; name and labels are checked for every kind by the store.
    fn validate(&self, _errors: &mut Vec<FieldError>) {}
    /// Kind-specific rules for an update against the stored object (immutable fields).
    fn validate_update(&self, _old: &Self, _errors: &mut Vec<FieldError>) {}
    /// [`Resource::validate`] of an update: all of it, unless the kind checks only what the
    /// update changed (a pod's status writes leave its spec as it was validated, and upstream
    /// does not validate it again on them).
    fn validate_changed(&self, _old: &Self, errors: &mut Vec<FieldError>) {
        self.validate(errors)
    }
    /// Whether `metadata.generation` should move: spec changes do, status changes do not.
    fn spec_changed(&self, _old: &Self) -> bool {
        false
    }
    /// Whether the kind has a `/status` subresource (the table's `keep_status` kinds).
    const HAS_STATUS: bool = false;
    /// Takes `status` from the stored object: a spec write (apply) must not wipe what the
    /// controllers and kubelets reported.
    fn keep_status(&mut self, _old: &Self) {}
    /// A `/status` write onto the stored object: only `status` changes, as upstream's status
    /// strategies keep the stored spec (and metadata) whatever the client sent.
    fn take_status(&mut self, _written: Self) {}
    /// For pods, `spec.nodeName`: the store indexes pods by node.
    fn bound_node(&self) -> Option<&str> {
        None
    }
}

/// One kind's `Resource` impl; the hooks, each optional, in this order. `by_hand` kinds
/// write their own (custom objects carry their own type meta and key).
macro_rules! resource {
    ($kind:ident { by_hand: yes, }) => {};
    ($kind:ident {
        $(validate: $validate:path,)?
        $(validate_update: $validate_update:path,)?
        $(validate_changed: $validate_changed:path,)?
        $(decoded: $decoded:path,)?
        $(bound_node: $node:path,)?
        $(spec_moves_generation: $spec:ident,)?
        $(keep_status: $status:ident,)?
    }) => {
        impl From<$kind> for Object {
            fn from(o: $kind) -> Object {
                Object::$kind(Arc::new(o))
            }
        }
        impl From<Arc<$kind>> for Object {
            fn from(o: Arc<$kind>) -> Object {
                Object::$kind(o)
            }
        }
        impl Resource for $kind {
            const KIND: Kind = Kind::$kind;
            fn shared(this: Arc<Self>) -> Object {
                Object::$kind(this)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
            fn from_object(object: &Object) -> Option<&Self> {
                match object {
                    Object::$kind(o) => Some(o.as_ref()),
                    _ => None,
                }
            }
            fn set_type_meta(&mut self) {
                // Compared first: nearly every write already carries them, and this runs on each.
                let (api_version, kind) = (Kind::$kind.api_version(), Kind::$kind.name());
                // `const_new` points at the static text: no allocation, in this object or its
                // copies.
                if self.api_version != api_version {
                    self.api_version = compact_str::CompactString::const_new(api_version);
                }
                if self.kind != kind {
                    self.kind = compact_str::CompactString::const_new(kind);
                }
            }
            $(fn validate(&self, errors: &mut Vec<FieldError>) {
                $validate(self, errors)
            })?
            $(fn validate_update(&self, old: &Self, errors: &mut Vec<FieldError>) {
                $validate_update(self, old, errors)
            })?
            $(fn validate_changed(&self, old: &Self, errors: &mut Vec<FieldError>) {
                $validate_changed(self, old, errors)
            })?
            $(fn decoded(&mut self) {
                $decoded(self)
            })?
            $(fn bound_node(&self) -> Option<&str> {
                $node(self)
            })?
            $(fn spec_changed(&self, old: &Self) -> bool {
                let _ = stringify!($spec);
                self.spec != old.spec
            })?
            $(const HAS_STATUS: bool = { let _ = stringify!($status); true };
            fn keep_status(&mut self, old: &Self) {
                self.status = old.status.clone();
            }
            fn take_status(&mut self, written: Self) {
                self.status = written.status;
            })?
        }
    };
}

// The kinds table: one entry per built-in kind, and everything that differs by kind is here —
// the `Kind` and `Object` variants, the store's map, discovery, `kubectl get` columns, and the
// kind's hooks (validation, status, ...). Everything else reaches kinds through `Kind` and
// `Object` methods generated from it (`Kind::ALL`, `kind.plural()`, `kind.list(store)`, ...).
// Variant order is `Kind`'s order (it sorts by it), so new kinds go at the end.
kinds! {
    Node {
        store: nodes, group: "", version: "v1", plural: "nodes", singular: "node", short_names: ["no"],
        namespaced: false, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0), ("Internal-IP", 1),
            ("External-IP", 1), ("OS-Image", 1), ("Kernel-Version", 1), ("Container-Runtime", 1)],
        cells: print::node,
        hooks: { validate: validate::node, keep_status: yes, },
    }
    Pod {
        store: pods, group: "", version: "v1", plural: "pods", singular: "pod", short_names: ["po"],
        namespaced: true, verbs: ALL_VERBS, categories: ["all"],
        columns: [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
            ("Nominated Node", 1), ("Readiness Gates", 1)],
        cells: print::pod,
        hooks: { validate: validate::pod, validate_changed: validate::pod_changed, bound_node: Pod::node_name, keep_status: yes, },
    }
    ReplicaSet {
        store: replica_sets, group: "apps", version: "v1", plural: "replicasets", singular: "replicaset",
        short_names: ["rs"], namespaced: true, verbs: ALL_VERBS, categories: ["all"],
        columns: [("Name", 0), ("Desired", 0), ("Current", 0), ("Ready", 0), ("Age", 0), ("Containers", 1),
            ("Images", 1), ("Selector", 1)],
        cells: print::replica_set,
        hooks: { validate: validate::replica_set, spec_moves_generation: yes, keep_status: yes, },
    }
    Deployment {
        store: deployments, group: "apps", version: "v1", plural: "deployments", singular: "deployment",
        short_names: ["deploy"], namespaced: true, verbs: ALL_VERBS, categories: ["all"],
        columns: [("Name", 0), ("Ready", 0), ("Up-to-date", 0), ("Available", 0), ("Age", 0), ("Containers", 1),
            ("Images", 1), ("Selector", 1)],
        cells: print::deployment,
        hooks: { validate: validate::deployment, spec_moves_generation: yes, keep_status: yes, },
    }
    Event {
        store: events, group: "", version: "v1", plural: "events", singular: "event", short_names: ["ev"],
        namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
            ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)],
        cells: print::event,
        hooks: {},
    }
    Lease {
        store: leases, group: "coordination.k8s.io", version: "v1", plural: "leases", singular: "lease",
        short_names: [], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Holder", 0), ("Age", 0)],
        cells: print::lease,
        hooks: {},
    }
    Service {
        store: services, group: "", version: "v1", plural: "services", singular: "service", short_names: ["svc"],
        namespaced: true, verbs: ALL_VERBS, categories: ["all"],
        columns: [("Name", 0), ("Type", 0), ("Cluster-IP", 0), ("External-IP", 0), ("Port(s)", 0), ("Age", 0),
            ("Selector", 1)],
        cells: print::service,
        hooks: { validate: validate::service, keep_status: yes, },
    }
    Endpoints {
        store: endpoints, group: "", version: "v1", plural: "endpoints", singular: "endpoints",
        short_names: ["ep"], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Endpoints", 0), ("Age", 0)],
        cells: print::endpoints,
        hooks: {},
    }
    ConfigMap {
        store: config_maps, group: "", version: "v1", plural: "configmaps", singular: "configmap",
        short_names: ["cm"], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Data", 0), ("Age", 0)],
        cells: config::config_map_cells,
        hooks: { validate: config::validate_config_map, validate_update: config::validate_config_map_update, },
    }
    Secret {
        store: secrets, group: "", version: "v1", plural: "secrets", singular: "secret", short_names: [],
        namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Type", 0), ("Data", 0), ("Age", 0)],
        cells: config::secret_cells,
        hooks: {
            validate: config::validate_secret,
            validate_update: config::validate_secret_update,
            decoded: Secret::merge_string_data,
        },
    }
    ServiceAccount {
        store: service_accounts, group: "", version: "v1", plural: "serviceaccounts", singular: "serviceaccount",
        short_names: ["sa"], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Secrets", 0), ("Age", 0)],
        cells: service_account::service_account_cells,
        hooks: {},
    }
    Role {
        store: roles, group: "rbac.authorization.k8s.io", version: "v1", plural: "roles", singular: "role",
        short_names: [], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Created At", 0)],
        cells: rbac::role_cells,
        hooks: { validate: rbac::validate_role, },
    }
    ClusterRole {
        store: cluster_roles, group: "rbac.authorization.k8s.io", version: "v1", plural: "clusterroles",
        singular: "clusterrole", short_names: [], namespaced: false, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Created At", 0)],
        cells: rbac::cluster_role_cells,
        hooks: { validate: rbac::validate_cluster_role, },
    }
    RoleBinding {
        store: role_bindings, group: "rbac.authorization.k8s.io", version: "v1", plural: "rolebindings",
        singular: "rolebinding", short_names: [], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)],
        cells: rbac::role_binding_cells,
        hooks: {
            validate: rbac::validate_role_binding,
            validate_update: rbac::validate_role_binding_update,
            decoded: rbac::default_role_binding,
        },
    }
    ClusterRoleBinding {
        store: cluster_role_bindings, group: "rbac.authorization.k8s.io", version: "v1",
        plural: "clusterrolebindings", singular: "clusterrolebinding", short_names: [], namespaced: false,
        verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Role", 0), ("Age", 0), ("Users", 1), ("Groups", 1), ("ServiceAccounts", 1)],
        cells: rbac::cluster_role_binding_cells,
        hooks: {
            validate: rbac::validate_cluster_role_binding,
            validate_update: rbac::validate_cluster_role_binding_update,
            decoded: rbac::default_cluster_role_binding,
        },
    }
    CustomResourceDefinition {
        store: custom_resource_definitions, group: "apiextensions.k8s.io", version: "v1",
        plural: "customresourcedefinitions", singular: "customresourcedefinition", short_names: ["crd", "crds"],
        namespaced: false, verbs: ALL_VERBS, categories: ["api-extensions"],
        columns: [("Name", 0), ("Created At", 0)],
        cells: crd::cells,
        hooks: {
            validate: crd::validate,
            validate_update: crd::validate_update,
            decoded: CustomResourceDefinition::set_defaults,
            spec_moves_generation: yes,
            keep_status: yes,
        },
    }
    PodDisruptionBudget {
        store: pod_disruption_budgets, group: "policy", version: "v1", plural: "poddisruptionbudgets",
        singular: "poddisruptionbudget", short_names: ["pdb"], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Min Available", 0), ("Max Unavailable", 0), ("Allowed Disruptions", 0), ("Age", 0)],
        cells: pdb::cells,
        hooks: { validate: pdb::validate, spec_moves_generation: yes, keep_status: yes, },
    }
    // Every custom resource's objects, keyed by resource first (`custom.rs`). Not a resource
    // of its own: the API serves each CRD's resource from here, named by the CRD.
    CustomObject {
        store: custom_objects, group: "", version: "", plural: "", singular: "", short_names: [],
        namespaced: true, verbs: &[], categories: [],
        columns: [("Name", 0), ("Age", 0)],
        cells: custom::cells,
        hooks: { by_hand: yes, },
    }
    // Storage and StatefulSets (issue 15): where a pod's data lives, and the pods tied to it.
    StorageClass {
        store: storage_classes, group: "storage.k8s.io", version: "v1", plural: "storageclasses",
        singular: "storageclass", short_names: ["sc"], namespaced: false, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Provisioner", 0), ("ReclaimPolicy", 0), ("VolumeBindingMode", 0),
            ("AllowVolumeExpansion", 0), ("Age", 0)],
        cells: storage::storage_class_cells,
        hooks: {
            validate: storage::validate_storage_class,
            validate_update: storage::validate_storage_class_update,
            decoded: StorageClass::set_defaults,
        },
    }
    PersistentVolume {
        store: persistent_volumes, group: "", version: "v1", plural: "persistentvolumes",
        singular: "persistentvolume", short_names: ["pv"], namespaced: false, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Capacity", 0), ("Access Modes", 0), ("Reclaim Policy", 0), ("Status", 0),
            ("Claim", 0), ("StorageClass", 0), ("VolumeAttributesClass", 0), ("Reason", 0), ("Age", 0),
            ("VolumeMode", 1)],
        cells: storage::persistent_volume_cells,
        hooks: {
            validate: storage::validate_persistent_volume,
            decoded: storage::default_persistent_volume,
            keep_status: yes,
        },
    }
    PersistentVolumeClaim {
        store: persistent_volume_claims, group: "", version: "v1", plural: "persistentvolumeclaims",
        singular: "persistentvolumeclaim", short_names: ["pvc"], namespaced: true, verbs: ALL_VERBS, categories: [],
        columns: [("Name", 0), ("Status", 0), ("Volume", 0), ("Capacity", 0), ("Access Modes", 0),
            ("StorageClass", 0), ("VolumeAttributesClass", 0), ("Age", 0), ("VolumeMode", 1)],
        cells: storage::persistent_volume_claim_cells,
        hooks: {
            validate: storage::validate_persistent_volume_claim,
            validate_update: storage::validate_persistent_volume_claim_update,
            decoded: storage::default_persistent_volume_claim,
            keep_status: yes,
        },
    }
    StatefulSet {
        store: stateful_sets, group: "apps", version: "v1", plural: "statefulsets", singular: "statefulset",
        short_names: ["sts"], namespaced: true, verbs: ALL_VERBS, categories: ["all"],
        columns: [("Name", 0), ("Ready", 0), ("Age", 0), ("Containers", 1), ("Images", 1)],
        cells: statefulset::cells,
        hooks: {
            validate: statefulset::validate,
            validate_update: statefulset::validate_update,
            decoded: StatefulSet::set_defaults,
            spec_moves_generation: yes,
            keep_status: yes,
        },
    }
}

pub(crate) use validate::workload as validate_workload;

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

    /// Reads the containers and tolerations only: [`pod_changed`] skips it when neither changed.
    pub fn pod_spec(field: &str, spec: &PodSpec, errors: &mut Vec<FieldError>) {
        if spec.containers.is_empty() {
            errors.push(FieldError::new(format!("{field}.containers"), "Required value"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in spec.containers.iter().enumerate() {
            // Field paths are written only for errors: every pod write validates its spec, and
            // formatting four paths per container was a measurable share of a start-up.
            let at = || format!("{field}.containers[{i}]");
            let under = |suffix: &str, found: Vec<FieldError>, errors: &mut Vec<FieldError>| {
                errors.extend(
                    found.into_iter().map(|e| FieldError { field: format!("{}{suffix}{}", at(), e.field), ..e }),
                );
            };
            if c.name.is_empty() {
                errors.push(FieldError::new(format!("{}.name", at()), "Required value"));
            } else if !seen.insert(c.name.as_str()) {
                errors.push(FieldError::new(format!("{}.name", at()), format!("Duplicate value: {:?}", c.name)));
            } else {
                let mut found = Vec::new();
                meta::validate_dns_label("", &c.name, &mut found);
                under(".name", found, errors);
            }
            if c.image.is_empty() {
                errors.push(FieldError::new(format!("{}.image", at()), "Required value"));
            }
            let mut found = Vec::new();
            quantities("", &c.resources.requests, &mut found);
            under(".resources.requests", found, errors);
            let mut found = Vec::new();
            quantities("", &c.resources.limits, &mut found);
            under(".resources.limits", found, errors);
            for (name, request) in &c.resources.requests {
                if let Some(limit) = c.resources.limits.get(name)
                    && request.milli() > limit.milli()
                {
                    errors.push(FieldError::new(
                        format!("{}.resources.requests", at()),
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
        pod_annotations(pod, errors);
    }

    /// A pod update: what [`pod_spec`] and the annotation checks read (containers,
    /// tolerations, annotations) checked only when it changed, since the stored pod passed.
    /// Each pod is written about four times on its way to Running: three of them status
    /// only, and the binding sets only `nodeName`.
    pub fn pod_changed(pod: &Pod, old: &Pod, errors: &mut Vec<FieldError>) {
        let containers_changed = pod.spec.containers != old.spec.containers;
        if containers_changed || pod.spec.tolerations != old.spec.tolerations {
            pod_spec("spec", &pod.spec, errors);
        }
        if containers_changed || !pod.metadata.annotations.same(&old.metadata.annotations) {
            pod_annotations(pod, errors);
        }
    }

    /// The probe and preStop annotations, which name the pod's containers.
    fn pod_annotations(pod: &Pod, errors: &mut Vec<FieldError>) {
        let annotations = &pod.metadata.annotations;
        crate::cluster::kubelet::probes::validate("metadata.annotations", annotations, &pod.spec.containers, errors);
        crate::cluster::kubelet::probes::validate_pre_stop("metadata.annotations", annotations, errors);
    }

    pub fn workload(
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
        let annotations = &template.metadata.annotations;
        let field = "spec.template.metadata.annotations";
        crate::cluster::kubelet::probes::validate(field, annotations, &template.spec.containers, errors);
        crate::cluster::kubelet::probes::validate_pre_stop(field, annotations, errors);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A valid object of `kind` named `name` in `default`: the minimal document, plus what the
    /// kinds with required fields need.
    fn sample(kind: Kind, name: &str) -> Object {
        if kind == Kind::CustomObject {
            return Object::from(CustomObject {
                api_version: "example.com/v1".into(),
                kind: "Widget".into(),
                metadata: ObjectMeta::named(name),
                resource: custom::ResourceRef {
                    name: "widgets.example.com".into(),
                    namespaced: true,
                    ..Default::default()
                },
                ..Default::default()
            });
        }
        let template =
            json!({"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
        let mut doc = json!({"kind": kind.name(), "apiVersion": kind.api_version(), "metadata": {"name": name}});
        match kind {
            Kind::Pod => doc["spec"] = template["spec"].clone(),
            Kind::ReplicaSet | Kind::Deployment => {
                doc["spec"] = json!({"selector": {"matchLabels": {"app": "x"}}, "template": template});
            }
            Kind::Service => doc["spec"] = json!({"ports": [{"port": 80}]}),
            Kind::StorageClass => doc["provisioner"] = json!("kubernetes.io/no-provisioner"),
            Kind::PersistentVolume => {
                doc["spec"] = json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                    "hostPath": {"path": "/data"}});
            }
            Kind::PersistentVolumeClaim => {
                doc["spec"] = json!({"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}});
            }
            Kind::StatefulSet => {
                doc["spec"] = json!({"selector": {"matchLabels": {"app": "x"}}, "template": template});
            }
            Kind::RoleBinding | Kind::ClusterRoleBinding => {
                doc["roleRef"] = json!({"apiGroup": rbac::GROUP, "kind": "ClusterRole", "name": "view"});
            }
            Kind::CustomResourceDefinition => {
                doc["metadata"]["name"] = json!(format!("{name}s.example.com"));
                doc["spec"] = json!({"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": format!("{name}s"), "kind": "X"},
                    "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object"}}}]});
            }
            _ => {}
        }
        Object::from_value(doc).unwrap()
    }

    #[test]
    fn a_pod_specs_errors_name_the_container_field_they_are_about() {
        let quantity = |text: &str| Quantity::parse(text).unwrap();
        let mut pod: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "ok", "image": "nginx"},
            {"name": "Bad_Name", "image": ""},
            {"name": "ok", "image": "nginx"},
        ]}}))
        .unwrap();
        let resources = &mut pod.spec.containers[0].resources;
        resources.requests.insert("cpu".into(), quantity("-1"));
        resources.requests.insert("memory".into(), quantity("2Gi"));
        resources.limits.insert("memory".into(), quantity("1Gi"));
        let mut errors = Vec::new();
        validate::pod(&pod, &mut errors);
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.containers[0].resources.requests[cpu]",
                "spec.containers[0].resources.requests",
                "spec.containers[1].name",
                "spec.containers[1].image",
                "spec.containers[2].name",
            ],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("must be greater than or equal to 0"), "{errors:?}");
        assert!(errors[1].message.contains("must be less than or equal to memory limit of 1Gi"), "{errors:?}");
        assert!(errors[2].message.contains("RFC 1123 label"), "{errors:?}");
        assert!(errors[4].message.starts_with("Duplicate value"), "{errors:?}");
    }

    #[test]
    fn every_kind_prints_one_cell_per_column() {
        for kind in Kind::ALL {
            let object = sample(kind, "x");
            assert_eq!(
                object.cells(crate::clock::Reading { now: Millis(0), epoch: Default::default() }).len(),
                kind.columns().len(),
                "{kind}"
            );
            assert_eq!(kind.columns()[..].iter().filter(|(name, _)| *name == "Name").count(), 1, "{kind}");
        }
    }

    #[test]
    fn every_kind_is_listed_got_counted_and_deleted_through_the_table() {
        let mut store = Store::new(1);
        for kind in Kind::ALL {
            let created = sample(kind, "x").create_in(&mut store, Millis(0)).unwrap();
            let key = match &created {
                Object::CustomObject(o) => o.key(),
                _ => kind.key(None, created.meta().name.clone()),
            };
            assert_eq!(created.meta().namespace.as_deref(), kind.namespaced().then_some(DEFAULT_NAMESPACE), "{kind}");
            assert_eq!(kind.count(&store), 1, "{kind}");
            assert_eq!(kind.get(&store, &key).as_ref(), Some(&created), "{kind}");
            assert_eq!(kind.meta_in(&store, &key).map(|m| m.uid.as_str()), Some(created.meta().uid.as_str()));
            assert_eq!(kind.list(&store), std::slice::from_ref(&created), "{kind}");
            assert_eq!(kind.delete(&mut store, &key).unwrap().meta().name, key.name, "{kind}");
            assert_eq!(kind.count(&store), 0, "{kind}");
            assert!(kind.get(&store, &key).is_none(), "{kind}");
        }
    }

    #[test]
    fn names_plurals_and_api_versions_find_their_kind() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            assert_eq!(Kind::from_plural(kind.plural()), Some(kind));
            assert_eq!(sample(kind, "x").kind(), kind);
        }
        assert_eq!(Kind::Deployment.api_version(), "apps/v1");
        assert_eq!(Kind::Lease.qualified_resource(), "leases.coordination.k8s.io");
        assert_eq!(Kind::Pod.api_version(), "v1");
        let err = Object::from_value(json!({"kind": "Widget"})).unwrap_err();
        assert!(err.to_string().starts_with("kind \"Widget\" is not supported (supported: Node, Pod, "), "{err}");
    }

    #[test]
    fn namespaces_are_defaulted_by_scope() {
        assert_eq!(Kind::Pod.key(None, "p"), ObjectKey::new("default", "p"));
        assert_eq!(Kind::Pod.key(Some(""), "p"), ObjectKey::new("default", "p"));
        assert_eq!(Kind::Pod.key(Some("kube-system"), "p"), ObjectKey::new("kube-system", "p"));
        assert_eq!(Kind::Node.key(Some("default"), "n"), ObjectKey::cluster("n"));
    }
}
