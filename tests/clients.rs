//! Kubernetes clients nobody here wrote, against the real binary on port 0, both as `pinsetter
//! serve` and as the game (`play --listen`, in a tmux terminal): the official Python client
//! (`kubernetes` on PyPI, whose generated models refuse an object that lacks a required field),
//! lightkube (strict dataclass models) and `@kubernetes/client-node` (which refuses a plain-HTTP
//! kubeconfig without `insecure-skip-tls-verify`). Each runs a script from `tests/clients/` that
//! lists, reads and watches every kind and creates, patches, scales and deletes a Deployment;
//! `official.py` also evicts a pod, resumes a watch and checks the errors. kubectl's server-side
//! apply is checked here too. The Python interpreter comes from `PINSETTER_PYTHON` (a venv with
//! both packages) and client-node from `PINSETTER_NODE_PATH` (a node_modules); `.ci/run` sets both
//! up, and installs tmux.

mod common;
use common::kubectl_present;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Pinsetter serving the API on port 0, with its kubeconfig (and, for the game, its data and
/// log) in a directory of its own; stopped on drop.
struct Pinsetter {
    running: Running,
    dir: PathBuf,
}

enum Running {
    /// `pinsetter serve`, a child process.
    Serve(Child),
    /// The game, which needs a terminal: `play --listen` in a detached session of its own tmux
    /// server; `game` is its process id (the pane's).
    Play { tmux_socket: PathBuf, game: Option<String> },
}

impl Drop for Pinsetter {
    fn drop(&mut self) {
        match &mut self.running {
            Running::Serve(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Play { tmux_socket, game } => {
                // Killed outright: the game outlives its terminal closing (it was seen spinning,
                // orphaned, after kill-server alone).
                if let Some(game) = game {
                    let _ = Command::new("kill").args(["-KILL", game]).output();
                }
                let _ = tmux(tmux_socket).arg("kill-server").output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// tmux, talking to the server at `socket`.
fn tmux(socket: &Path) -> Command {
    let mut tmux = Command::new("tmux");
    tmux.arg("-S").arg(socket);
    tmux
}

impl Pinsetter {
    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pinsetter-clients-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `pinsetter serve`, its address read from the announcement on its stderr.
    fn serve(name: &str) -> Pinsetter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "3"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pinsetter serve starts");
        let rx = common::announced_address(&mut child);
        let serve = Pinsetter { running: Running::Serve(child), dir: Self::dir(name) };
        let server = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        serve.write_kubeconfig(&server);
        serve
    }

    /// The game with `--listen 127.0.0.1:0` in a 160x48 tmux terminal, its address read from the
    /// same announcement in its log (`PINSETTER_DATA_DIR/pinsetter.log`); None (with a message)
    /// where tmux is not installed.
    fn play(name: &str) -> Option<Pinsetter> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(std::env::var_os("CI").is_none_or(|ci| ci != "true"), "CI must install tmux (.ci/run does)");
            eprintln!("tmux is not installed: skipping the play --listen client test");
            return None;
        }
        let dir = Self::dir(name);
        // The server's socket in the directory, so nothing is left behind in tmux's own.
        let tmux_socket = dir.join("tmux");
        let mut play = Pinsetter { running: Running::Play { tmux_socket: tmux_socket.clone(), game: None }, dir };
        let data_dir = format!("PINSETTER_DATA_DIR={}", play.dir.display());
        let started = tmux(&tmux_socket)
            .args(["new-session", "-d", "-s", "play", "-x", "160", "-y", "48"])
            .args(["-c", env!("CARGO_MANIFEST_DIR"), "-e", &data_dir, "-e", "RUST_LOG=info"])
            .args([env!("CARGO_BIN_EXE_pinsetter"), "play", "--listen", "127.0.0.1:0", "--seed", "3"])
            .output()
            .expect("tmux runs");
        assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
        let pane = tmux(&tmux_socket)
            .args(["display-message", "-p", "-t", "play", "#{pane_pid}"])
            .output()
            .expect("tmux runs");
        let game = String::from_utf8_lossy(&pane.stdout).trim().to_string();
        assert!(game.parse::<u32>().is_ok(), "no pane pid from tmux: {game:?}");
        play.running = Running::Play { tmux_socket: tmux_socket.clone(), game: Some(game) };
        let log = play.dir.join("pinsetter.log");
        let start = Instant::now();
        let server = loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("serving the Kubernetes API on ").nth(1) {
                break rest.split_whitespace().next().unwrap_or("").to_string();
            }
            if start.elapsed() > Duration::from_secs(20) {
                let screen = tmux(&tmux_socket).args(["capture-pane", "-p", "-t", "play"]).output();
                let screen = screen.map(|out| String::from_utf8_lossy(&out.stdout).into_owned()).unwrap_or_default();
                panic!("play --listen announced no address in {}:\n{text}\nscreen:\n{screen}", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        play.write_kubeconfig(&server);
        Some(play)
    }

    fn write_kubeconfig(&self, server: &str) {
        let kubeconfig = common::pinsetter(&["kubeconfig", "--server", server]);
        assert!(kubeconfig.status.success(), "{}", String::from_utf8_lossy(&kubeconfig.stderr));
        std::fs::write(self.kubeconfig(), kubeconfig.stdout).unwrap();
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
}

/// A path from the environment, or None (with a message) where it is not set up; CI must set it.
fn from_env(var: &str, what: &str, how: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(path) => Some(PathBuf::from(path)),
        None => {
            assert!(std::env::var_os("CI").is_none_or(|ci| ci != "true"), "CI must set {var} to {what} (.ci/run does)");
            eprintln!("{var} is not set: skipping the {what} test ({how})");
            None
        }
    }
}

/// Runs `program tests/clients/<script> KUBECONFIG` against `target`, with `env` set; fails with
/// the script's output if it fails, and returns its stdout.
fn run_client(target: &Pinsetter, program: &Path, script: &str, env: &[(&str, &Path)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = Command::new(program)
        .arg(&script)
        .arg(target.kubeconfig())
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{} failed:\n{stdout}\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The venv's interpreter (`PINSETTER_PYTHON`), with the official client and lightkube.
fn python() -> Option<PathBuf> {
    from_env(
        "PINSETTER_PYTHON",
        "a venv's python with the kubernetes and lightkube packages",
        "python3 -m venv v && v/bin/pip install kubernetes lightkube, then PINSETTER_PYTHON=v/bin/python",
    )
}

#[test]
fn the_official_python_client_lists_reads_watches_and_writes() {
    let Some(python) = python() else { return };
    let out = run_client(&Pinsetter::serve("official"), &python, "official.py", &[]);
    assert_official_client_passed(&out);
}

#[test]
fn the_official_python_client_works_against_the_game() {
    let Some(python) = python() else { return };
    let Some(play) = Pinsetter::play("official-play") else { return };
    let out = run_client(&play, &python, "official.py", &[]);
    assert_official_client_passed(&out);
}

/// What `official.py` must have printed: every kind served (the script reads them from discovery;
/// these are the ones Pinsetter serves today) listed, read and watched, then the writes and errors.
fn assert_official_client_passed(out: &str) {
    let kinds = [
        "Node",
        "Pod",
        "Event",
        "Service",
        "Endpoints",
        "ConfigMap",
        "Secret",
        "ReplicaSet.apps",
        "Deployment.apps",
        "Lease.coordination.k8s.io",
        "Event.events.k8s.io",
    ];
    for kind in kinds.into_iter().chain(["Namespace"]) {
        let listed =
            out.lines().any(|line| line.starts_with("ok: listed and read ") && line.ends_with(&format!(" {kind}")));
        assert!(listed, "{kind} was not listed and read:\n{out}");
    }
    for kind in kinds {
        assert!(out.contains(&format!("ok: watched {kind}: ")), "{kind} was not watched:\n{out}");
    }
    for step in [
        "saw py-web ADDED, then MODIFIED",
        "ok: scaled Deployment py-web to 3",
        "ok: evicted pod py-web-",
        "ApiException 409 Conflict",
        "ApiException 422 Invalid",
        "ApiException 404 NotFound",
    ] {
        assert!(out.contains(step), "missing {step:?}:\n{out}");
    }
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}

#[test]
fn lightkube_lists_reads_watches_and_writes() {
    let Some(python) = python() else { return };
    assert_lightkube_passed(&run_client(&Pinsetter::serve("lightkube"), &python, "lightkube_client.py", &[]));
}

#[test]
fn lightkube_works_against_the_game() {
    let Some(python) = python() else { return };
    let Some(play) = Pinsetter::play("lightkube-play") else { return };
    assert_lightkube_passed(&run_client(&play, &python, "lightkube_client.py", &[]));
}

fn assert_lightkube_passed(out: &str) {
    assert!(out.contains("ok: listed and read 10 Node"), "{out}");
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}

/// The node_modules with client-node (`PINSETTER_NODE_PATH`).
fn node_modules() -> Option<PathBuf> {
    from_env(
        "PINSETTER_NODE_PATH",
        "a node_modules with @kubernetes/client-node",
        "npm install --prefix d @kubernetes/client-node, then PINSETTER_NODE_PATH=d/node_modules",
    )
}

fn run_client_node(target: &Pinsetter, modules: &Path) {
    let out = run_client(target, Path::new("node"), "client_node.cjs", &[("NODE_PATH", modules)]);
    assert!(out.contains("ok: watched") && out.trim_end().ends_with("all ok"), "{out}");
}

#[test]
fn kubernetes_client_node_works_with_the_printed_kubeconfig() {
    let Some(modules) = node_modules() else { return };
    run_client_node(&Pinsetter::serve("client-node"), &modules);
}

#[test]
fn kubernetes_client_node_works_against_the_game() {
    let Some(modules) = node_modules() else { return };
    let Some(play) = Pinsetter::play("client-node-play") else { return };
    run_client_node(&play, &modules);
}

/// `kubectl apply --server-side` (kubectl sends `application/apply-patch+yaml` with its field
/// manager) creates a missing Deployment, updates it on a second apply, records kubectl as the
/// manager, and a different manager changing kubectl's field is refused as a conflict naming it.
#[test]
fn kubectl_apply_server_side_creates_then_updates() {
    if !kubectl_present() {
        return;
    }
    let serve = Pinsetter::serve("ssa");
    let manifest = serve.dir.join("web.yaml");
    let kubectl = |args: &[&str]| {
        Command::new("kubectl").arg("--kubeconfig").arg(serve.kubeconfig()).args(args).output().expect("kubectl runs")
    };
    let apply = |replicas: u32, manager: &str| {
        let yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa-web\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: ssa-web}}\n  template:\n    metadata:\n      labels: {{app: ssa-web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n"
        );
        std::fs::write(&manifest, yaml).unwrap();
        kubectl(&["apply", "--server-side", "--field-manager", manager, "-f", manifest.to_str().unwrap()])
    };
    let ok = |out: std::process::Output| {
        assert!(out.status.success(), "kubectl failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let replicas_and_managers = || {
        ok(kubectl(&[
            "get",
            "deployment",
            "ssa-web",
            "-o",
            "jsonpath={.spec.replicas} {.metadata.managedFields[*].manager}/{.metadata.managedFields[*].operation}",
        ]))
    };

    assert!(ok(apply(1, "kubectl")).contains("deployment.apps/ssa-web serverside-applied"));
    assert_eq!(replicas_and_managers(), "1 kubectl/Apply", "created by the apply");
    assert!(ok(apply(2, "kubectl")).contains("deployment.apps/ssa-web serverside-applied"));
    assert_eq!(replicas_and_managers(), "2 kubectl/Apply", "updated by the second apply");

    let conflict = apply(4, "someone-else");
    assert!(!conflict.status.success(), "another manager took kubectl's field without --force-conflicts");
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(stderr.contains("conflict with \"kubectl\"") && stderr.contains(".spec.replicas"), "{stderr}");
    assert_eq!(replicas_and_managers(), "2 kubectl/Apply", "the refused apply changed nothing");
}
