//! # Pinsetter
//!
//! A terminal bowling alley that is also a working miniature Kubernetes: the pins are nodes, the
//! pinsetter is the control plane, and every pin that falls is a node that stops heartbeating.
//!
//! ## Map of the crate (read this first)
//!
//! - [`world`]: the deterministic core — the cluster and the alley under one virtual clock, with
//!   `handle_input` / `step` / `poll_output`. Same seed + same inputs = same event log.
//!   `world::racks`: on lanes over ten nodes each pin is a rack of nodes.
//! - [`cluster`]: the mini-Kubernetes, knowing nothing of bowling.
//!   - [`cluster::objects`]: the kinds table (one entry per kind) and the kinds: Node, Pod,
//!     ReplicaSet, Deployment, Event, Lease, Service, Endpoints, ConfigMap, Secret,
//!     ServiceAccount, and RBAC's Role, ClusterRole, RoleBinding, ClusterRoleBinding,
//!     CustomResourceDefinition (`crd`), PodDisruptionBudget (`pdb`), StorageClass,
//!     PersistentVolume, PersistentVolumeClaim (`storage`) and StatefulSet; quantities.
//!     `custom`: CRD-defined objects kept as JSON
//!     (one table keyed by resource), admitted against their structural schema. `shared`:
//!     copy-on-write fields (containers, labels ..) that a pod's versions and siblings hold once.
//!   - [`cluster::store`]: the versioned store (resourceVersion, change log, one write path);
//!     each kind a key-ordered table with a lookup-only hash index (`store/table.rs`).
//!   - [`cluster::scheduler`]: queue, filter and score plugins (`framework`; the VolumeBinding
//!     filter in `volume_binding`; NodeAffinity, InterPodAffinity and PodTopologySpread in
//!     `pod_constraints`), one file per policy (`greedy`, `round_robin`, `spread`,
//!     `binpack`, `flow`), `preemption`.
//!   - [`cluster::controllers`]: the `Controller` trait and `registry()` (the one list the
//!     cluster runs); replicaset, deployment, endpoints, node_lifecycle, taint_eviction,
//!     garbage_collector, service_account, rbac (bootstrap policy, clusterrole aggregation),
//!     crd (establishes CRDs, deletes a deleted CRD's objects), roll (the `Roll` CRD's scripted
//!     throws: asks the World for knocks through `cluster::Chaos`), disruption (PDB status, and
//!     `evict`, the Eviction API's budget check), persistent_volume (binds claims, reclaims
//!     volumes), statefulset — one file per controller, unit-tested on `harness`.
//!   - [`cluster::kubelet`]: a simulated pin: heartbeats and pod phases; `config_refs`
//!     (ConfigMaps/Secrets a pod waits for), `probes` (scripted readiness/liveness, preStop).
//!   - [`cluster::leader_election`]: kube-scheduler's and kube-controller-manager's replicas
//!     contending for their Leases in `kube-system` (client-go's algorithm); only a leader acts.
//!   - [`cluster::timing`]: the `arcade` and `kubernetes` presets.
//! - [`alley`]: the bowling game (lane, ball, pins, scoring; one or more bowlers taking turns
//!   frame by frame; what felled each pin, and which wobbled), knowing nothing of Kubernetes.
//! - [`scenario`]: loading lanes from multi-document YAML manifests, and generated lanes.
//! - [`sim`]: the headless runner behind `pinsetter sim` (scripted knocks, metrics, digest).
//! - [`bench`](mod@bench): the benchmarks behind `pinsetter bench`.
//! - [`driver`]: owns the World between ticks: `pump` applies queued API and agent requests
//!   (each a serializable `world::Input`), publishes the read view, then answers; the input log
//!   (`--record`) that `sim --replay` replays to the same digest.
//! - [`follow`]: a replica World fed a session's inputs (`FeedLine`s), for the spectator and
//!   `pinsetter replay`: never ahead of its source, seeks back by rebuilding from the header.
//! - [`api`]: the Kubernetes-compatible HTTP API. Reads come from [`api::view`] (kube-apiserver's
//!   watch cache, published by the driver), never from the World's thread; writes are requests
//!   answered by id. `paging` (limit/continue), `logs`, `apply` (server-side apply),
//!   `events_v1`, `discovery` and `table` (both from the kinds table), `crd` (CRDs' resources:
//!   discovery, printer columns), `pins` (agents' WebSocket), `auth` (token file, ServiceAccount
//!   JWTs, TokenRequest, whoami/can-i) and `rbac` (the authorizer), run as one middleware before
//!   every handler.
//! - [`grpc`]: the gRPC service (`proto/pinsetter/v1`) on the API's port: Watch, Events, the live
//!   Game feed (the driver's `Feed`), Act; health and reflection; `grpc::client::follow` and
//!   `grpc::client::join` (a bowler's seat).
//! - [`agent`]: `pinsetter pin --join`, a pin as its own process; [`ctl`]: the tiny built-in client.
//! - [`tui`]: the terminal shell (ratatui), driving the World through the driver; `tui::following`
//!   is the same screen read-only over a follower's replica (`replay`, the spectator), or with a
//!   seat in it (`play --join`: the bowling keys go to the host as the joined bowler's);
//!   `tui::resources` the k9s-style `:` command bar and resource tables (kubectl get's columns);
//!   `tui::heatmap` one cell per node on racked lanes (`h`).
//! - [`remote`]: bowling against a real cluster through kube-rs (`play --kubeconfig`): fake pins
//!   with Pinsetter as their kubelet (`fake_pins`), real nodes (`real_nodes`), the reflector-fed
//!   mirror the game screen renders (`cluster_view`), `cleanup`, `rbac` and the preflight.
//! - [`clock`], [`rng`]: virtual time and named seeded random streams.
//! - [`storage`]: the data directory (`PINSETTER_DATA_DIR`) and atomic file writes.
//!
//! Shells (the terminal UI, the driver loop, the CLI in `main.rs`) only call into the core; the core does no I/O, reads no clock and spawns nothing.

#![forbid(unsafe_code)]

pub mod agent;
pub mod alley;
pub mod api;
pub mod bench;
pub mod clock;
pub mod cluster;
pub mod ctl;
pub mod driver;
pub mod follow;
pub mod grpc;
pub mod remote;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod storage;
pub mod tui;
pub mod world;
