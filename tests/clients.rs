//! Kubernetes clients nobody here wrote, against the real binary (`pinsetter serve` on port 0):
//! the official Python client (`kubernetes` on PyPI, whose generated models refuse an object that
//! lacks a required field), lightkube (strict dataclass models) and `@kubernetes/client-node`
//! (which refuses a plain-HTTP kubeconfig without `insecure-skip-tls-verify`). Each runs a script from
//! `tests/clients/` that lists, reads and watches every kind and creates, patches, scales and
//! deletes a Deployment. The Python interpreter comes from `PINSETTER_PYTHON` (a venv with both
//! packages) and client-node from `PINSETTER_NODE_PATH` (a node_modules); `.ci/run` sets both up.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `pinsetter serve` on port 0 with its kubeconfig in a directory of its own; killed on drop.
struct Serve {
    child: Child,
    dir: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Serve {
    fn start(name: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "3"])
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("pinsetter serve starts");
        let rx = common::announced_address(&mut child);
        let dir = std::env::temp_dir().join(format!("pinsetter-clients-{}-{name}", std::process::id()));
        let serve = Serve { child, dir };
        let server = rx.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        std::fs::create_dir_all(&serve.dir).unwrap();
        let kubeconfig = common::pinsetter(&["kubeconfig", "--server", &server]);
        assert!(kubeconfig.status.success(), "{}", String::from_utf8_lossy(&kubeconfig.stderr));
        std::fs::write(serve.kubeconfig(), kubeconfig.stdout).unwrap();
        serve
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

/// Runs `program tests/clients/<script> KUBECONFIG` against a fresh server, with `env` set;
/// fails with the script's output if it fails, and returns its stdout.
fn run_client(program: &Path, script: &str, env: &[(&str, &Path)]) -> String {
    let serve = Serve::start(script.split('.').next().unwrap_or(script));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = Command::new(program)
        .arg(&script)
        .arg(serve.kubeconfig())
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
    let out = run_client(&python, "official.py", &[]);
    for kind in ["Node", "Pod", "Service", "Endpoints", "Event", "Deployment", "ReplicaSet", "Lease", "EventsV1Event"] {
        assert!(out.contains(&format!("ok: watched {kind}")), "{kind} was not watched:\n{out}");
    }
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}

#[test]
fn lightkube_lists_reads_watches_and_writes() {
    let Some(python) = python() else { return };
    let out = run_client(&python, "lightkube_client.py", &[]);
    assert!(out.contains("ok: listed and read 10 Node"), "{out}");
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}

#[test]
fn kubernetes_client_node_works_with_the_printed_kubeconfig() {
    let Some(modules) = from_env(
        "PINSETTER_NODE_PATH",
        "a node_modules with @kubernetes/client-node",
        "npm install --prefix d @kubernetes/client-node, then PINSETTER_NODE_PATH=d/node_modules",
    ) else {
        return;
    };
    let out = run_client(Path::new("node"), "client_node.cjs", &[("NODE_PATH", &modules)]);
    assert!(out.contains("ok: watched") && out.trim_end().ends_with("all ok"), "{out}");
}
