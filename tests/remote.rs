//! Bowling against a "real" cluster: the library behind `play --kubeconfig` (kube-rs) pointed at
//! `pinsetter serve` on port 0, the stand-in for kind or minikube. Fake pins register, their
//! kubelet (Pinsetter) runs their pods, a knock silences it and serve's own node-lifecycle
//! controller and scheduler move the pods; cleanup leaves nothing labelled owned; real-nodes
//! mode cordons and taints, and drains through the Eviction API past a PodDisruptionBudget; a
//! viewer's credentials get one line naming the missing permission; the view reconnects after
//! an API server restart. Every process started here is killed on drop.

mod common;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use pinsetter::remote::fake_pins::{self, Kubelet, Order};
use pinsetter::remote::{self, OWNED_LABEL, cluster_view, real_nodes};
use pinsetter::scenario::Scenario;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pinsetter");

/// `pinsetter serve` in a data directory of its own, killed on drop.
struct Serve {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn test_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pinsetter-remote-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Serve {
    fn start(dir: &std::path::Path, listen: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen, "--seed", "5"])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("PINSETTER_DATA_DIR", dir)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pinsetter serve starts");
        let rx = common::announced_address(&mut child);
        let mut serve = Serve { child, url: String::new(), dir: dir.to_path_buf() };
        serve.url = rx.recv_timeout(Duration::from_secs(30)).expect("serve announces its address");
        serve
    }

    /// A kubeconfig for this server (and `token`), as `pinsetter kubeconfig` prints it.
    fn kubeconfig(&self, token: Option<&str>) -> PathBuf {
        let mut command = Command::new(BIN);
        command.args(["kubeconfig", "--server", &self.url]).env("PINSETTER_DATA_DIR", &self.dir);
        if let Some(token) = token {
            command.args(["--token", token]);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let path = self.dir.join(format!("kubeconfig-{}", token.unwrap_or("anonymous")));
        std::fs::write(&path, out.stdout).unwrap();
        path
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// Evaluates the async block until it yields Some, for up to 60 s (a loaded CI machine is
/// slow); a macro so the block may borrow the test's APIs.
macro_rules! eventually {
    ($what:expr, $check:expr) => {{
        let start = Instant::now();
        loop {
            if let Some(value) = $check.await {
                break value;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {}", $what);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }};
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn node_of(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

fn running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The pods fake pins run: the scenario's Deployments' replicas (its StatefulSet and local
/// volumes stay on the simulated lane: fake pins have no disks).
fn desired(scenario: &Scenario) -> usize {
    usize::try_from(scenario.deployment_replicas().values().sum::<u64>()).unwrap()
}

#[test]
fn fake_pins_run_their_pods_a_knock_moves_them_and_cleanup_leaves_nothing() {
    let dir = test_dir("fake");
    let serve = Serve::start(&dir, "127.0.0.1:0", &[]);
    let kubeconfig = serve.kubeconfig(None);
    let scenario = Scenario::resolve("default").unwrap();
    let want = desired(&scenario);
    runtime().block_on(async {
        let connection = remote::connect(Some(&kubeconfig), None).await.unwrap();
        let client = connection.client.clone();
        remote::preflight(&client, remote::Mode::FakePins).await.unwrap();
        fake_pins::register(&client, &scenario, 1).await.unwrap();
        let kubelet = Kubelet::start(client.clone(), &scenario, 1).unwrap();
        let nodes: Api<Node> = Api::all(client.clone());
        let pods: Api<Pod> = Api::namespaced(client.clone(), remote::NAMESPACE);

        // Registered, Ready, and every pod of the scenario Running on a fake pin.
        let registered = nodes.list(&ListParams::default().labels(OWNED_LABEL)).await.unwrap();
        assert_eq!(registered.items.len(), 10);
        let pin3 = nodes.get("pinsetter-pin-3").await.unwrap();
        assert_eq!(pin3.metadata.labels.as_ref().unwrap()["pinsetter.dev/pin"], "3");
        assert!(
            pin3.spec
                .as_ref()
                .unwrap()
                .taints
                .as_ref()
                .unwrap()
                .iter()
                .any(|t| t.key == "pinsetter.dev/pin" && t.effect == "NoSchedule")
        );
        eventually!("all ten pins Ready", async {
            let list = nodes.list(&ListParams::default().labels(OWNED_LABEL)).await.ok()?;
            list.items.iter().all(ready).then_some(())
        });
        let placed = eventually!("every scenario pod Running on a fake pin", async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let running: Vec<Pod> = list.items.into_iter().filter(running).collect();
            (running.len() == want && running.iter().all(|p| fake_pins::pin_number(node_of(p)).is_some()))
                .then_some(running)
        });
        let started = placed.iter().find(|p| node_of(p) == "pinsetter-pin-3").expect("pin 3 holds pods");
        let status = started.status.as_ref().unwrap();
        assert!(status.pod_ip.is_some() && status.start_time.is_some());
        assert!(
            status
                .container_statuses
                .as_ref()
                .unwrap()
                .iter()
                .all(|c| c.ready && c.state.as_ref().unwrap().running.is_some())
        );
        assert!(status.conditions.as_ref().unwrap().iter().any(|c| c.type_ == "Ready" && c.status == "True"));

        // Knock pin 3: its kubelet falls silent; serve's control plane does the rest.
        assert!(kubelet.order(Order::Knock(3)));
        eventually!("pin 3 NotReady", async { (!ready(&nodes.get("pinsetter-pin-3").await.ok()?)).then_some(()) });
        eventually!("pin 3's pods replaced, Running on standing pins", async {
            let list = pods.list(&ListParams::default()).await.ok()?;
            let running: Vec<&Pod> = list.items.iter().filter(|p| running(p)).collect();
            (running.len() == want && running.iter().all(|p| node_of(p) != "pinsetter-pin-3")).then_some(())
        });

        // Restore: Ready again, and the evicted pods' deletes are finished by its kubelet.
        assert!(kubelet.order(Order::Restore(3)));
        eventually!("pin 3 Ready again, its evicted pods gone", async {
            let node = nodes.get("pinsetter-pin-3").await.ok()?;
            let list = pods.list(&ListParams::default().fields("spec.nodeName=pinsetter-pin-3")).await.ok()?;
            (ready(&node) && list.items.iter().all(|p| p.metadata.deletion_timestamp.is_none())).then_some(())
        });
        drop(kubelet);

        let cleaned = remote::cleanup(&client).await.unwrap();
        assert_eq!((cleaned.nodes, cleaned.leases), (10, 10));
        let owned = ListParams::default().labels(OWNED_LABEL);
        assert!(nodes.list(&owned).await.unwrap().items.is_empty());
        assert!(
            Api::<Lease>::namespaced(client.clone(), "kube-node-lease").list(&owned).await.unwrap().items.is_empty()
        );
        assert!(Api::<Deployment>::all(client.clone()).list(&owned).await.unwrap().items.is_empty());
        assert!(Api::<Namespace>::all(client.clone()).list(&owned).await.unwrap().items.is_empty());
    });
}

#[test]
fn real_nodes_are_cordoned_and_tainted_and_a_drain_waits_for_the_budget() {
    let dir = test_dir("nodes");
    let serve = Serve::start(&dir, "127.0.0.1:0", &[]);
    let kubeconfig = serve.kubeconfig(None);
    runtime().block_on(async {
        let client = remote::connect(Some(&kubeconfig), None).await.unwrap().client;
        let nodes: Api<Node> = Api::all(client.clone());

        let every = real_nodes::pick(&client, "kubernetes.io/hostname", false).await.unwrap_err();
        assert!(every.to_string().contains("matches every node"), "{every}");
        let picked = real_nodes::pick(&client, "pinsetter.dev/rack-slot in (1,2)", false).await.unwrap();
        assert_eq!(picked, ["pin-1", "pin-2"]);

        real_nodes::knock(&client, "pin-1").await.unwrap();
        let knocked = nodes.get("pin-1").await.unwrap();
        assert_eq!(knocked.spec.as_ref().unwrap().unschedulable, Some(true));
        assert!(real_nodes::is_knocked(&knocked));
        assert!(
            knocked
                .spec
                .as_ref()
                .unwrap()
                .taints
                .as_ref()
                .unwrap()
                .iter()
                .any(|t| t.key == real_nodes::KNOCKED_TAINT && t.effect == "NoExecute")
        );
        real_nodes::restore(&client, "pin-1").await.unwrap();
        let restored = nodes.get("pin-1").await.unwrap();
        assert_ne!(restored.spec.as_ref().unwrap().unschedulable, Some(true));
        assert!(!real_nodes::is_knocked(&restored));
        let untouched = nodes.get("pin-5").await.unwrap();
        assert!(!real_nodes::is_knocked(&untouched));

        // The lane's own budget over `web`, tightened to allow no disruption, blocks the drain
        // (429), then lets it through. (Upstream refuses a second budget over the same pods.)
        let budgets: Api<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
            Api::namespaced(client.clone(), "default");
        budgets
            .patch("web", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"maxUnavailable": 0}})))
            .await
            .unwrap();
        let pods: Api<Pod> = Api::all(client.clone());
        // The node holding the most Running web pods is drained.
        let (web_node, on_node) = eventually!("web pods Running", async {
            let list = pods.list(&ListParams::default().labels("app=web")).await.ok()?;
            let mut by_node = std::collections::BTreeMap::<String, usize>::new();
            for pod in list.items.iter().filter(|p| running(p)) {
                *by_node.entry(node_of(pod).to_string()).or_default() += 1;
            }
            by_node.into_iter().max_by_key(|(_, n)| *n)
        });
        // The budget's status (disruptionsAllowed 0) is the disruption controller's to write first.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let blocked = real_nodes::drain(&client, &web_node).await.unwrap();
        assert_eq!(blocked.blocked.len(), on_node, "every web pod protected: {blocked:?}");
        assert!(blocked.evicted.iter().all(|p| !p.contains("/web-")), "{blocked:?}");
        budgets
            .patch("web", &PatchParams::default(), &Patch::Merge(serde_json::json!({"spec": {"maxUnavailable": 12}})))
            .await
            .unwrap();
        eventually!("the drain allowed", async {
            let pass = real_nodes::drain(&client, &web_node).await.ok()?;
            pass.blocked.is_empty().then_some(())
        });
        eventually!("no active pod left on the drained node", async {
            let list = pods.list(&ListParams::default().fields(&format!("spec.nodeName={web_node}"))).await.ok()?;
            list.items.iter().all(|p| p.metadata.deletion_timestamp.is_some()).then_some(())
        });
    });
}

#[test]
fn a_viewer_gets_one_line_naming_the_missing_permission() {
    let dir = test_dir("viewer");
    std::fs::write(dir.join("tokens"), "viewer-token,viewer\n").unwrap();
    let tokens = dir.join("tokens");
    let serve = Serve::start(&dir, "127.0.0.1:0", &["--tls", "--token-file", tokens.to_str().unwrap()]);
    let kubeconfig = serve.kubeconfig(Some("viewer-token"));
    let out = Command::new(BIN)
        .args(["play", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("PINSETTER_DATA_DIR", &dir)
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line, no stack trace: {stderr}");
    assert!(
        // The viewer may not even list nodes (upstream's `view` role has no nodes): the first
        // permission the view needs is the one named.
        stderr.contains(r#"missing permission: cannot list resource "nodes" in API group "" at the cluster scope"#)
            && stderr.contains("pinsetter rbac --mode fake-pins"),
        "{stderr}"
    );
}

#[test]
fn the_view_reconnects_after_an_api_server_restart_and_catches_up() {
    let dir = test_dir("restart");
    let first = Serve::start(&dir, "127.0.0.1:0", &[]);
    let kubeconfig = first.kubeconfig(None);
    let listen = first.url.trim_start_matches("http://").to_string();
    let scenario = Scenario::resolve("default").unwrap();
    let runtime = cluster_view::runtime().unwrap();
    let connection = runtime.block_on(remote::connect(Some(&kubeconfig), None)).unwrap();
    runtime.block_on(fake_pins::register(&connection.client, &scenario, 1)).unwrap();
    let mut view = cluster_view::RemoteView::fake_pins(runtime, connection, &scenario, 1).unwrap();
    let pin = pinsetter::cluster::store::ObjectKey::cluster("pinsetter-pin-4");
    let until = |view: &mut cluster_view::RemoteView, what: &str, ok: &dyn Fn(&cluster_view::RemoteView) -> bool| {
        let start = Instant::now();
        loop {
            view.apply_changes();
            if ok(view) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}: {:?}", view.panel);
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    until(&mut view, "the mirror holds the fake pins", &|v| {
        v.store.get::<pinsetter::cluster::objects::Node>(&pin).is_some() && v.panel.latency.is_some()
    });
    assert!(view.panel.version.ends_with("-pinsetter"), "{:?}", view.panel);
    // The panel counts the game's pods and replicas, not those of the cluster's own workloads
    // (serve runs the default lane's Deployments in `default` beside the game's).
    let want = i64::try_from(desired(&scenario)).unwrap();
    until(&mut view, "the game's pods Running, and only the game's counted", &|v| {
        let counts = pinsetter::world::PodCounts::of(&v.store);
        counts.desired == want && counts.running == want
    });

    drop(first);
    until(&mut view, "disconnected", &|v| v.panel.disconnected.is_some());
    // A new API server on the same address; its cluster has none of the first one's fake pins
    // until the game registers them again.
    let second = Serve::start(&dir, &listen, &[]);
    until(&mut view, "reconnected, the vanished pins gone", &|v| {
        v.panel.disconnected.is_none() && v.store.get::<pinsetter::cluster::objects::Node>(&pin).is_none()
    });
    let client = view.connection().client.clone();
    view.block_on(fake_pins::register(&client, &scenario, 1)).unwrap();
    until(&mut view, "the re-registered pins seen", &|v| {
        v.store.get::<pinsetter::cluster::objects::Node>(&pin).is_some()
    });
    drop(second);
}

/// The real binary in a real terminal (tmux) against serve: the rack shows the remote fake
/// pins and the panel where the game is; a chaos knock (`3`) is carried out by serve's control
/// plane (its node goes NotReady on the card); `q` quits and cleans the cluster up.
#[test]
fn play_kubeconfig_in_a_real_terminal_knocks_through_the_api_and_cleans_up() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux (.ci/run does)");
        eprintln!("tmux is not installed: skipping the terminal smoke test");
        return;
    }
    let dir = test_dir("tmux");
    let serve = Serve::start(&dir, "127.0.0.1:0", &[]);
    let kubeconfig = serve.kubeconfig(None);
    let socket = format!("pinsetter-remote-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").arg("-L").arg(&socket).args(args).output().expect("tmux runs");
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux").args(["-L", &self.0, "kill-server"]).output();
        }
    }
    let _kill = Kill(socket.clone());
    let command = format!("PINSETTER_DATA_DIR={} exec {BIN} play --kubeconfig {}", dir.display(), kubeconfig.display());
    let started = tmux(&["new-session", "-d", "-s", "remote", "-x", "180", "-y", "50", &command]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
    let capture = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "remote"]).stdout).into_owned();
    let wait_for = |what: &str, ok: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            let screen = capture();
            if ok(&screen) {
                return screen;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "timed out waiting for {what}; screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for("the remote pins and the cluster panel", &|s| {
        (1..=10).all(|p| s.contains(&format!("pinsetter-pin-{p}")))
            && s.contains("fake pins")
            && s.contains("-pinsetter")
            && s.contains("rtt")
    });
    tmux(&["send-keys", "-t", "remote", "3"]);
    wait_for("pin 3 down and NotReady on the remote cluster", &|s| s.contains("DOWN · NotReady"));
    tmux(&["send-keys", "-t", "remote", "q"]);
    let start = Instant::now();
    while tmux(&["has-session", "-t", "remote"]).status.success() {
        assert!(start.elapsed() < Duration::from_secs(30), "q did not quit; screen:\n{}", capture());
        std::thread::sleep(Duration::from_millis(100));
    }
    runtime().block_on(async {
        let client = remote::connect(Some(&kubeconfig), None).await.unwrap().client;
        let owned = Api::<Node>::all(client).list(&ListParams::default().labels(OWNED_LABEL)).await.unwrap();
        assert!(
            owned.items.is_empty(),
            "the game cleaned up on exit: {:?}",
            owned.items.iter().map(|n| &n.metadata.name).collect::<Vec<_>>()
        );
    });
}
