//! Fake pins: ten Nodes registered through the API with Pinsetter as their kubelet, as KWOK's
//! controllers are for its fake nodes. The kubelet renews each standing pin's Lease in
//! `kube-node-lease`, posts its node status, starts the pods the cluster's scheduler binds to it
//! (Pending → Running through `pods/status`) and finishes their graceful deletes. A knocked pin's
//! kubelet falls silent: the cluster's node-lifecycle controller notices the Lease go stale,
//! marks the Node NotReady, taints it and evicts; its scheduler places the replacements.

use super::{FIELD_MANAGER, NAMESPACE, OWNED_LABEL, PIN_LABEL, RemoteError, is_conflict, is_not_found};
use crate::cluster::objects::Object;
use crate::scenario::Scenario;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::sync::mpsc;

/// The label every fake pin carries, as KWOK's nodes carry `type: kwok`: what the scenario's
/// pods select.
pub const NODE_TYPE_LABEL: &str = "type";
pub const NODE_TYPE: &str = "pinsetter-fake-pin";
/// How many pins a rack holds.
pub const PINS: u8 = 10;
/// The namespace of node Leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";
/// The kubelet's default `nodeLeaseDurationSeconds`.
pub const DEFAULT_LEASE_SECONDS: i32 = 40;
/// Upstream kubelets post their status at least every `nodeStatusReportFrequency` (5 min) even
/// when nothing changed; counted here in lease renewals, which keeps it well inside that.
const RENEWALS_PER_STATUS: u32 = 10;

/// The Node name of pin `number` (1 to 10).
pub fn pin_name(number: u8) -> String {
    format!("pinsetter-pin-{number}")
}

/// The pin number of a fake pin's Node name.
pub fn pin_number(name: &str) -> Option<u8> {
    name.strip_prefix("pinsetter-pin-")?.parse().ok().filter(|n| (1..=PINS).contains(n))
}

fn owned_labels() -> BTreeMap<String, String> {
    BTreeMap::from([(OWNED_LABEL.to_string(), "true".to_string())])
}

/// The scenario's first ten Nodes give the pins' capacity; its Deployments the workloads.
struct Lane {
    capacity: Vec<Value>,
    deployments: Vec<Deployment>,
}

fn lane(scenario: &Scenario) -> Result<Lane, RemoteError> {
    let mut capacity = Vec::new();
    let mut deployments = Vec::new();
    for (_, object) in &scenario.objects {
        match object {
            Object::Node(node) => {
                let json = serde_json::to_value(node.as_ref()).unwrap_or_default();
                capacity.push(json.pointer("/status/capacity").cloned().unwrap_or(Value::Null));
            }
            Object::Deployment(d) => {
                let json = serde_json::to_value(d.as_ref()).unwrap_or_default();
                deployments.push(remote_deployment(json).map_err(|e| RemoteError::Scenario(e.to_string()))?);
            }
            _ => {}
        }
    }
    Ok(Lane { capacity, deployments })
}

/// One of the scenario's Deployments as it goes to a real cluster: in [`NAMESPACE`], labelled
/// owned, its pods tolerating the pins' taint and selecting the fake pins ([`NODE_TYPE`]). The
/// lane's PriorityClasses exist only inside Pinsetter, so `priority` and `priorityClassName` go
/// (a real cluster's Priority admission refuses a pod that names a class it lacks).
fn remote_deployment(mut json: Value) -> Result<Deployment, serde_json::Error> {
    if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
        let keep = ["name", "labels", "annotations"];
        meta.retain(|k, _| keep.contains(&k.as_str()));
        meta.insert("namespace".into(), json!(NAMESPACE));
        let labels = meta.entry("labels").or_insert_with(|| json!({}));
        labels[OWNED_LABEL] = json!("true");
    }
    if let Some(object) = json.as_object_mut() {
        object.remove("status");
    }
    if let Some(pod) = json.pointer_mut("/spec/template/spec").and_then(Value::as_object_mut) {
        pod.remove("priority");
        pod.remove("priorityClassName");
        pod.remove("nodeName");
        let tolerations = pod.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(list) = tolerations.as_array_mut() {
            list.push(json!({"key": PIN_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}));
        }
        // A nodeSelector (not node affinity) so any scheduler places them, Pinsetter's own too.
        let selector = pod.entry("nodeSelector").or_insert_with(|| json!({}));
        selector[NODE_TYPE_LABEL] = json!(NODE_TYPE);
    }
    if let Some(labels) = json.pointer_mut("/spec/template/metadata/labels").and_then(Value::as_object_mut) {
        labels.insert(OWNED_LABEL.into(), json!("true"));
    }
    serde_json::from_value(json)
}

/// The Node of pin `number`: labelled, tainted so only the scenario's pods land there.
fn pin_node(number: u8) -> Result<Node, serde_json::Error> {
    let name = pin_name(number);
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                PIN_LABEL: number.to_string(),
                OWNED_LABEL: "true",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                NODE_TYPE_LABEL: NODE_TYPE,
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": [{"key": PIN_LABEL, "value": "true", "effect": "NoSchedule"}]},
    }))
}

/// RFC 3339 with seconds, as `metav1.Time` serializes.
fn now_seconds() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).unwrap_or_else(|_| jiff::Timestamp::now()).to_string()
}

/// RFC 3339 with microseconds, as `metav1.MicroTime` serializes.
fn now_micro() -> String {
    let now = jiff::Timestamp::now();
    format!("{:.6}", now)
}

/// The status a kubelet posts: Ready (with this heartbeat), no pressure, capacity, addresses and
/// nodeInfo.
fn node_status(number: u8, capacity: &Value) -> Value {
    let now = now_seconds();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    json!({"status": {
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": format!("10.250.0.{number}")},
            {"type": "Hostname", "address": pin_name(number)},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": format!("pinsetter-pin-{number}"),
            "systemUUID": format!("pinsetter-pin-{number}"),
            "bootID": "",
            "kernelVersion": "",
            "osImage": "Pinsetter fake pin",
            "containerRuntimeVersion": "pinsetter://fake",
            "kubeletVersion": concat!("v0.0.0-pinsetter-", env!("CARGO_PKG_VERSION")),
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }})
}

/// Registers the namespace, the ten pins and the scenario's Deployments (each tolerated if it
/// already exists, so a game after a crash starts on what the crash left).
pub async fn register(client: &kube::Client, scenario: &Scenario, lease_seconds: i32) -> Result<(), RemoteError> {
    let lane = lane(scenario)?;
    let create = PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let namespace = Namespace {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(NAMESPACE.into()),
            labels: Some(owned_labels()),
            ..Default::default()
        },
        ..Default::default()
    };
    match namespaces.create(&create, &namespace).await {
        Ok(_) => {}
        Err(e) if is_conflict(&e) => {}
        Err(e) => return Err(RemoteError::Api { what: format!("cannot create the namespace {NAMESPACE}"), source: e }),
    }
    let nodes: Api<Node> = Api::all(client.clone());
    for number in 1..=PINS {
        let name = pin_name(number);
        let node = pin_node(number).map_err(|e| RemoteError::Scenario(e.to_string()))?;
        match nodes.create(&create, &node).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(RemoteError::Api { what: format!("cannot register the Node {name}"), source: e }),
        }
        let capacity = lane.capacity.get(usize::from(number) - 1).cloned().unwrap_or(Value::Null);
        post_node_status(&nodes, number, &capacity).await?;
        renew_lease(client, number, lease_seconds).await?;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    for deployment in &lane.deployments {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        match deployments.create(&create, deployment).await {
            Ok(_) => {}
            Err(e) if is_conflict(&e) => {}
            Err(e) => {
                return Err(RemoteError::Api {
                    what: format!("cannot create the Deployment {NAMESPACE}/{name}"),
                    source: e,
                });
            }
        }
    }
    Ok(())
}

async fn post_node_status(nodes: &Api<Node>, number: u8, capacity: &Value) -> Result<(), RemoteError> {
    let name = pin_name(number);
    nodes
        .patch_status(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(node_status(number, capacity)))
        .await
        .map_err(RemoteError::api(format!("cannot post the status of Node {name}")))?;
    Ok(())
}

/// Renews pin `number`'s Lease, creating it (owned by its Node, as the kubelet's is) when it is
/// missing.
async fn renew_lease(client: &kube::Client, number: u8, lease_seconds: i32) -> Result<(), RemoteError> {
    let name = pin_name(number);
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let renewal =
        json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": lease_seconds, "renewTime": now_micro()}});
    match leases.patch(&name, &PatchParams::default(), &Patch::Merge(&renewal)).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(RemoteError::Api { what: format!("cannot renew the Lease of {name}"), source: e }),
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let uid = nodes
        .get(&name)
        .await
        .map_err(RemoteError::api(format!("cannot read the Node {name}")))?
        .metadata
        .uid
        .unwrap_or_default();
    let lease: Lease = serde_json::from_value(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": LEASE_NAMESPACE,
            "labels": {OWNED_LABEL: "true"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}],
        },
        "spec": renewal["spec"],
    }))
    .map_err(|e| RemoteError::Scenario(e.to_string()))?;
    match leases.create(&PostParams { field_manager: Some(FIELD_MANAGER.into()), ..Default::default() }, &lease).await {
        Ok(_) => Ok(()),
        Err(e) if is_conflict(&e) => Ok(()),
        Err(e) => Err(RemoteError::Api { what: format!("cannot create the Lease of {name}"), source: e }),
    }
}

/// What the game asks of the kubelet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Pin N is down: its kubelet falls silent.
    Knock(u8),
    /// Pin N is up again: its kubelet resumes.
    Restore(u8),
}

/// The running kubelet of the ten pins; dropping it stops it.
pub struct Kubelet {
    orders: mpsc::UnboundedSender<Order>,
    errors: tokio::sync::watch::Receiver<Option<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl Kubelet {
    /// Starts the kubelet of every pin, renewing each Lease every quarter of `lease_seconds`
    /// (upstream's renew interval is 10 s for the default 40 s lease).
    pub fn start(client: kube::Client, scenario: &Scenario, lease_seconds: i32) -> Result<Kubelet, RemoteError> {
        let lane = lane(scenario)?;
        let (orders, receiver) = mpsc::unbounded_channel();
        let (report, errors) = tokio::sync::watch::channel(None);
        let renew = Duration::from_millis((u64::try_from(lease_seconds.max(1)).unwrap_or(1) * 1000 / 4).max(100));
        let state = State {
            client,
            capacity: lane.capacity,
            lease_seconds,
            knocked: BTreeSet::new(),
            started: BTreeSet::new(),
            report,
        };
        let task = tokio::spawn(state.run(receiver, renew));
        Ok(Kubelet { orders, errors, task })
    }

    /// Sends an order; false once the kubelet has stopped.
    pub fn order(&self, order: Order) -> bool {
        self.orders.send(order).is_ok()
    }

    /// The last API error the kubelet met (it keeps going: the next renewal retries).
    pub fn last_error(&self) -> Option<String> {
        self.errors.borrow().clone()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct State {
    client: kube::Client,
    capacity: Vec<Value>,
    lease_seconds: i32,
    knocked: BTreeSet<u8>,
    /// Pods this kubelet already reported Running, by uid: a watch event for them needs nothing.
    started: BTreeSet<String>,
    report: tokio::sync::watch::Sender<Option<String>>,
}

impl State {
    async fn run(mut self, mut orders: mpsc::UnboundedReceiver<Order>, renew: Duration) {
        let pods_api: Api<Pod> = Api::all(self.client.clone());
        let (pods, writer) = reflector::store::<Pod>();
        let watch = watcher(pods_api, watcher::Config::default()).default_backoff().reflect(writer).applied_objects();
        let mut watch = std::pin::pin!(watch);
        let mut ticker = tokio::time::interval(renew);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renewals: u32 = 0;
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    renewals = renewals.wrapping_add(1);
                    let post_status = renewals.is_multiple_of(RENEWALS_PER_STATUS);
                    for number in 1..=PINS {
                        if self.knocked.contains(&number) {
                            continue;
                        }
                        let result = renew_lease(&self.client, number, self.lease_seconds).await;
                        self.note(result);
                        if post_status {
                            self.post_status(number).await;
                        }
                    }
                }
                order = orders.recv() => match order {
                    Some(Order::Knock(number)) => {
                        self.knocked.insert(number);
                    }
                    Some(Order::Restore(number)) => {
                        if self.knocked.remove(&number) {
                            let result = renew_lease(&self.client, number, self.lease_seconds).await;
                            self.note(result);
                            self.post_status(number).await;
                            let name = pin_name(number);
                            for pod in pods.state().iter().filter(|p| bound_to(p, &name)) {
                                self.handle_pod(pod).await;
                            }
                        }
                    }
                    None => return,
                },
                event = watch.next() => match event {
                    Some(Ok(pod)) => {
                        if pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(pin_number).is_some_and(|n| !self.knocked.contains(&n)) {
                            self.handle_pod(&pod).await;
                        }
                    }
                    Some(Err(error)) => self.say(format!("the pod watch failed (retrying): {error}")),
                    None => return,
                },
            }
        }
    }

    fn note(&self, result: Result<(), RemoteError>) {
        if let Err(error) = result {
            self.say(error.to_string());
        }
    }

    /// Keeps going after a failed request (the next renewal retries), telling the screen why.
    fn say(&self, problem: String) {
        tracing::warn!(problem, "fake pin kubelet");
        self.report.send_replace(Some(problem));
    }

    async fn post_status(&self, number: u8) {
        let nodes: Api<Node> = Api::all(self.client.clone());
        let capacity = self.capacity.get(usize::from(number) - 1).cloned().unwrap_or(Value::Null);
        let result = post_node_status(&nodes, number, &capacity).await;
        self.note(result);
    }

    /// A pod on a standing pin: finish its graceful delete, or start it.
    async fn handle_pod(&mut self, pod: &Pod) {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        if pod.metadata.deletion_timestamp.is_some() {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(uid.clone()), resource_version: None }),
                ..Default::default()
            };
            match api.delete(&name, &params).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) || is_conflict(&e) => {}
                Err(e) => self.note(Err(RemoteError::Api {
                    what: format!("cannot finish deleting pod {namespace}/{name}"),
                    source: e,
                })),
            }
            self.started.remove(&uid);
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if self.started.contains(&uid) || phase == Some("Running") {
            self.started.insert(uid);
            return;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        let number = pin_number(&node).unwrap_or(0);
        let ip = format!("10.244.{number}.{}", 2 + self.started.len() % 250);
        let status = running_status(pod, &ip, number);
        match api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER), &Patch::Merge(&status)).await {
            Ok(_) => {
                self.started.insert(uid);
            }
            Err(e) if is_not_found(&e) => {}
            Err(e) => self.note(Err(RemoteError::Api {
                what: format!("cannot post the status of pod {namespace}/{name}"),
                source: e,
            })),
        }
    }
}

fn bound_to(pod: &Pod, node: &str) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node)
}

/// A started pod's status as a kubelet posts it: Running, every container running and ready, the
/// conditions (keeping the scheduler's PodScheduled), IPs and start time.
fn running_status(pod: &Pod, pod_ip: &str, number: u8) -> Value {
    let now = now_seconds();
    let containers: Vec<Value> = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "image": c.image.clone().unwrap_or_default(),
                "imageID": format!("pinsetter://{}", c.image.clone().unwrap_or_default()),
                "containerID": format!("pinsetter://{}-{i}", pod.metadata.uid.clone().unwrap_or_default()),
                "ready": true,
                "started": true,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            })
        })
        .collect();
    let scheduled = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .and_then(|c| serde_json::to_value(c).ok())
        .unwrap_or_else(|| json!({"type": "PodScheduled", "status": "True", "lastTransitionTime": now}));
    let condition =
        |kind: &str| json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": now});
    let host_ip = format!("10.250.0.{number}");
    json!({"status": {
        "phase": "Running",
        "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"), condition("Ready"), condition("ContainersReady"), scheduled],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": now,
        "containerStatuses": containers,
    }})
}
