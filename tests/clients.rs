//! Kubernetes clients nobody here wrote, against the real binary (`pinsetter serve` on port 0):
//! the official Python client (`kubernetes` on PyPI, whose generated models refuse an object that
//! lacks a required field) and lightkube (strict dataclass models). Each runs a script from
//! `tests/clients/` that lists, reads and watches every kind and creates, patches, scales and
//! deletes a Deployment. The Python interpreter comes from `PINSETTER_PYTHON` (a venv with both
//! packages; `.ci/run` creates it).

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

/// The venv's interpreter, or None (with a message) where it is not set up; CI must set it.
fn python() -> Option<PathBuf> {
    match std::env::var_os("PINSETTER_PYTHON") {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            assert!(
                std::env::var_os("CI").is_none_or(|ci| ci != "true"),
                "CI must set PINSETTER_PYTHON to a venv with the kubernetes and lightkube packages (.ci/run does)"
            );
            eprintln!(
                "PINSETTER_PYTHON is not set: skipping the third-party client tests \
                 (python3 -m venv v && v/bin/pip install kubernetes lightkube, then PINSETTER_PYTHON=v/bin/python)"
            );
            None
        }
    }
}

/// Runs `tests/clients/<script>` against a fresh server; fails with the script's output if it
/// fails, and returns its stdout.
fn run_client(script: &str) -> Option<String> {
    let python = python()?;
    let serve = Serve::start(script.trim_end_matches(".py"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(script);
    let out = Command::new(&python)
        .arg(&script)
        .arg(serve.kubeconfig())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{} failed:\n{stdout}\n{}", script.display(), String::from_utf8_lossy(&out.stderr));
    Some(stdout)
}

#[test]
fn the_official_python_client_lists_reads_watches_and_writes() {
    let Some(out) = run_client("official.py") else { return };
    for kind in ["Node", "Pod", "Service", "Endpoints", "Event", "Deployment", "ReplicaSet", "Lease", "EventsV1Event"] {
        assert!(out.contains(&format!("ok: watched {kind}")), "{kind} was not watched:\n{out}");
    }
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}

#[test]
fn lightkube_lists_reads_watches_and_writes() {
    let Some(out) = run_client("lightkube_client.py") else { return };
    assert!(out.contains("ok: listed and read 10 Node"), "{out}");
    assert!(out.trim_end().ends_with("all ok"), "{out}");
}
