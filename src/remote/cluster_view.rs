//! The remote cluster as the game screen sees it.
//!
//! Design (the smallest honest one): the screen already renders a [`Store`] (the World's), so
//! the remote cluster becomes another `Store`, a mirror fed by kube-runtime watchers (list, then
//! watch; relist after an expired watch or a restarted API server, as reflectors do). The
//! screen's rack and pod views read whichever store is the cluster (`tui::view::cluster_store`),
//! so the embedded World and a real cluster share every line of rendering code and cannot
//! drift. The bowling stays in the local World; after each frame [`RemoteView::sync`] turns its
//! knocked and restored pins into orders for the remote pins (a fake pin's kubelet falls silent;
//! a real node is cordoned and tainted, or drained).
//!
//! The watchers run on a small tokio runtime owned here; their changes cross to the screen's
//! thread over a channel and are applied between frames, so drawing never waits on the network.

use super::fake_pins::{self, Kubelet, Order};
use super::{Connection, Mode, real_nodes};
use crate::clock::Millis;
use crate::cluster::objects::{Deployment, Kind, Node, Object, Pod};
use crate::cluster::store::{ObjectKey, Store, Stored};
use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// What the panel says about where the game is.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    pub context: String,
    pub server: String,
    /// `gitVersion` from `/version`.
    pub version: String,
    pub mode: &'static str,
    /// The last `/version` round trip.
    pub latency: Option<Duration>,
    /// Why the last request or watch failed, while the API server cannot be reached.
    pub disconnected: Option<String>,
    /// The last thing a knock or restore could not do (a drain blocked by a budget, a refusal).
    pub note: Option<String>,
}

/// A change from the cluster, carried from the watchers to the screen's thread.
#[derive(Debug)]
enum Change {
    /// A (re)list of `kind` began: objects it does not list again are gone.
    Relist(Kind),
    Apply(Box<Object>),
    /// The (re)list of `kind` ended.
    Listed(Kind),
    Delete(Kind, ObjectKey),
    /// `/version` answered: the round trip, and the server's gitVersion.
    Reached(Duration, String),
    Unreachable(String),
    Note(String),
}

/// How the remote pins are knocked.
enum Pins {
    Fake(Kubelet),
    Nodes { drain: bool, names: Vec<String> },
}

/// The mirror of the remote cluster, and the link that carries knocks to it.
pub struct RemoteView {
    pub store: Store,
    pub panel: Panel,
    connection: Connection,
    changes: mpsc::Receiver<Change>,
    sender: mpsc::Sender<Change>,
    relisting: BTreeMap<Kind, BTreeSet<ObjectKey>>,
    pins: Pins,
    /// The pins the remote side was last told are down (1 to 10).
    knocked: BTreeSet<u8>,
    /// Owns the watcher, kubelet and latency tasks; dropped last.
    runtime: tokio::runtime::Runtime,
}

/// A runtime for the remote tasks: one worker is plenty for ten pins and three watches.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("pinsetter-remote").enable_all().build()
}

impl RemoteView {
    /// Fake pins: the kubelet of the ten registered pins starts with the view.
    pub fn fake_pins(
        runtime: tokio::runtime::Runtime,
        connection: Connection,
        scenario: &crate::scenario::Scenario,
        lease_seconds: i32,
    ) -> Result<RemoteView, super::RemoteError> {
        let kubelet = {
            let _inside = runtime.enter();
            Kubelet::start(connection.client.clone(), scenario, lease_seconds)?
        };
        Ok(RemoteView::start(runtime, connection, Mode::FakePins, Pins::Fake(kubelet)))
    }

    /// Real nodes: `names[i]` is pin i + 1.
    pub fn nodes(
        runtime: tokio::runtime::Runtime,
        connection: Connection,
        names: Vec<String>,
        drain: bool,
    ) -> RemoteView {
        RemoteView::start(runtime, connection, Mode::Nodes, Pins::Nodes { drain, names })
    }

    fn start(runtime: tokio::runtime::Runtime, connection: Connection, mode: Mode, pins: Pins) -> RemoteView {
        let (sender, changes) = mpsc::channel();
        let client = connection.client.clone();
        runtime.spawn(mirror(Api::<k8s_openapi::api::core::v1::Node>::all(client.clone()), Kind::Node, sender.clone()));
        // Fake pins run only the game's namespace (their taint keeps everything else off), so the
        // panel's pods and desired replicas are the game's; real nodes run any namespace's pods.
        match mode {
            Mode::FakePins => {
                let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), super::NAMESPACE);
                let deployments =
                    Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client.clone(), super::NAMESPACE);
                runtime.spawn(mirror(pods, Kind::Pod, sender.clone()));
                runtime.spawn(mirror(deployments, Kind::Deployment, sender.clone()));
            }
            Mode::Nodes => {
                let pods = Api::<k8s_openapi::api::core::v1::Pod>::all(client.clone());
                let deployments = Api::<k8s_openapi::api::apps::v1::Deployment>::all(client.clone());
                runtime.spawn(mirror(pods, Kind::Pod, sender.clone()));
                runtime.spawn(mirror(deployments, Kind::Deployment, sender.clone()));
            }
        }
        runtime.spawn(ping(client, sender.clone()));
        let panel = Panel {
            context: connection.context.clone(),
            server: connection.server.clone(),
            mode: mode.name(),
            ..Default::default()
        };
        RemoteView {
            store: Store::new(0),
            panel,
            connection,
            changes,
            sender,
            relisting: BTreeMap::new(),
            pins,
            knocked: BTreeSet::new(),
            runtime,
        }
    }

    /// Applies what arrived from the cluster since the last frame.
    pub fn apply_changes(&mut self) {
        while let Ok(change) = self.changes.try_recv() {
            match change {
                Change::Relist(kind) => {
                    self.relisting.insert(kind, BTreeSet::new());
                }
                Change::Apply(object) => {
                    let kind = object.kind();
                    let key = match *object {
                        Object::Node(node) => upsert(&mut self.store, Arc::unwrap_or_clone(node)),
                        Object::Pod(pod) => upsert(&mut self.store, Arc::unwrap_or_clone(pod)),
                        Object::Deployment(d) => upsert(&mut self.store, Arc::unwrap_or_clone(d)),
                        _ => None,
                    };
                    if let (Some(seen), Some(key)) = (self.relisting.get_mut(&kind), key) {
                        seen.insert(key);
                    }
                }
                Change::Listed(kind) => {
                    if let Some(seen) = self.relisting.remove(&kind) {
                        match kind {
                            Kind::Node => forget_unlisted::<Node>(&mut self.store, &seen),
                            Kind::Pod => forget_unlisted::<Pod>(&mut self.store, &seen),
                            Kind::Deployment => forget_unlisted::<Deployment>(&mut self.store, &seen),
                            _ => {}
                        }
                    }
                }
                Change::Delete(kind, key) => {
                    let gone = match kind {
                        Kind::Node => self.store.delete::<Node>(&key).map(drop),
                        Kind::Pod => self.store.delete::<Pod>(&key).map(drop),
                        Kind::Deployment => self.store.delete::<Deployment>(&key).map(drop),
                        _ => Ok(()),
                    };
                    if let Err(error) = gone {
                        tracing::debug!(%error, "a deleted object the mirror did not hold");
                    }
                }
                Change::Reached(latency, version) => {
                    self.panel.latency = Some(latency);
                    self.panel.version = version;
                    self.panel.disconnected = None;
                }
                Change::Unreachable(why) => self.panel.disconnected = Some(why),
                Change::Note(note) => self.panel.note = Some(note),
            }
        }
        if let Pins::Fake(kubelet) = &self.pins
            && let Some(error) = kubelet.last_error()
        {
            self.panel.note = Some(error);
        }
    }

    /// Frame work: the cluster's changes in, then the local World's knocks and restores out.
    pub fn sync(&mut self, world: &crate::world::World) {
        self.apply_changes();
        for (i, name) in world.pins().iter().take(usize::from(fake_pins::PINS)).enumerate() {
            let number = u8::try_from(i + 1).unwrap_or(u8::MAX);
            let down = world.cluster().is_knocked(name);
            if down == self.knocked.contains(&number) {
                continue;
            }
            if down {
                self.knocked.insert(number);
            } else {
                self.knocked.remove(&number);
            }
            self.order(number, down);
        }
    }

    /// Tells the remote side that pin `number` fell (`down`) or stands again.
    pub fn order(&mut self, number: u8, down: bool) {
        match &self.pins {
            Pins::Fake(kubelet) => {
                let order = if down { Order::Knock(number) } else { Order::Restore(number) };
                if !kubelet.order(order) {
                    self.panel.note = Some("the fake pins' kubelet has stopped".into());
                }
            }
            Pins::Nodes { drain, names } => {
                let Some(node) = names.get(usize::from(number) - 1).cloned() else { return };
                let client = self.connection.client.clone();
                let sender = self.sender.clone();
                let drain = *drain;
                self.runtime.spawn(async move {
                    let result = match (down, drain) {
                        (true, false) => real_nodes::knock(&client, &node).await.map(|()| None),
                        (true, true) => drain_until_done(&client, &node, &sender).await.map(Some),
                        (false, _) => real_nodes::restore(&client, &node).await.map(|()| None),
                    };
                    let note = match result {
                        Ok(Some(evicted)) => format!("drained {node}: {evicted} pods evicted"),
                        Ok(None) => format!("{} {node}", if down { "knocked (cordoned, tainted)" } else { "restored" }),
                        Err(error) => error.to_string(),
                    };
                    // The screen may have gone (the game ended): nothing left to tell.
                    if sender.send(Change::Note(note)).is_err() {
                        tracing::debug!("a knock finished after the game ended");
                    }
                });
            }
        }
    }

    /// The pins the remote side was told are down.
    pub fn knocked(&self) -> &BTreeSet<u8> {
        &self.knocked
    }

    /// Runs `future` on the view's runtime, for the shell's start and cleanup.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    pub fn connection(&self) -> &Connection {
        &self.connection
    }
}

/// Drains `node`, retrying the pods a PodDisruptionBudget protects (429) every second and
/// saying so on the panel, until none is left.
async fn drain_until_done(
    client: &kube::Client,
    node: &str,
    sender: &mpsc::Sender<Change>,
) -> Result<usize, super::RemoteError> {
    let mut evicted = 0;
    loop {
        let pass = real_nodes::drain(client, node).await?;
        evicted += pass.evicted.len();
        if pass.blocked.is_empty() {
            return Ok(evicted);
        }
        let note = format!(
            "draining {node}: {} blocked by a PodDisruptionBudget (429), retrying: {}",
            pass.blocked.len(),
            pass.blocked.join(", ")
        );
        if sender.send(Change::Note(note)).is_err() {
            return Ok(evicted);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Writes a mirrored object into the store: an update when it holds one by that key (the
/// store's resourceVersion is its own, so the update is unconditional), else a create.
fn upsert<R: Stored>(store: &mut Store, mut object: R) -> Option<ObjectKey> {
    let key = object.key();
    object.meta_mut().resource_version.clear();
    let written =
        if store.get::<R>(&key).is_some() { store.update(object) } else { store.create(object, Millis::ZERO) };
    match written {
        Ok(_) => Some(key),
        Err(error) => {
            tracing::warn!(%error, "the mirror could not hold a remote object");
            None
        }
    }
}

/// After a relist: what it did not list again was deleted while the watch was away.
fn forget_unlisted<R: Stored>(store: &mut Store, seen: &BTreeSet<ObjectKey>) {
    let gone: Vec<ObjectKey> = store.list::<R>().map(|o| o.key()).filter(|k| !seen.contains(k)).collect();
    for key in gone {
        if let Err(error) = store.delete::<R>(&key) {
            tracing::debug!(%error, "already gone from the mirror");
        }
    }
}

/// A kube-runtime object as Pinsetter's own kind (both are the Kubernetes JSON).
fn decode<K: serde::Serialize>(object: &K) -> Option<Object> {
    let value = serde_json::to_value(object).ok()?;
    match Object::from_value(value) {
        Ok(object) => Some(object),
        Err(error) => {
            tracing::warn!(%error, "a remote object the mirror cannot read");
            None
        }
    }
}

/// Feeds one kind's list and watch into the mirror, relisting as kube-runtime's watcher does
/// after an error; backs off while the server is away.
async fn mirror<K>(api: Api<K>, kind: Kind, sender: mpsc::Sender<Change>)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + 'static,
{
    let mut events = std::pin::pin!(watcher(api, watcher::Config::default()).default_backoff());
    while let Some(event) = events.next().await {
        let change = match event {
            Ok(watcher::Event::Init) => Change::Relist(kind),
            Ok(watcher::Event::InitApply(object) | watcher::Event::Apply(object)) => match decode(&object) {
                Some(object) => Change::Apply(Box::new(object)),
                None => continue,
            },
            Ok(watcher::Event::InitDone) => Change::Listed(kind),
            Ok(watcher::Event::Delete(object)) => {
                let meta = object.meta();
                Change::Delete(kind, kind.key(meta.namespace.as_deref(), meta.name.clone().unwrap_or_default()))
            }
            Err(error) => Change::Unreachable(format!("{} watch: {error}", kind.qualified_resource())),
        };
        if sender.send(change).is_err() {
            return;
        }
    }
}

/// Measures the round trip of `/version` every second; a failure is "disconnected".
async fn ping(client: kube::Client, sender: mpsc::Sender<Change>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        let start = Instant::now();
        let change = match client.apiserver_version().await {
            Ok(info) => Change::Reached(start.elapsed(), info.git_version),
            Err(error) => Change::Unreachable(error.to_string()),
        };
        if sender.send(change).is_err() {
            return;
        }
    }
}
