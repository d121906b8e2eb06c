//! Helpers shared by the tests that run the real binary.

#[allow(dead_code)]
pub mod lane;
#[allow(dead_code)]
pub mod tui;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output};
use std::sync::mpsc::Receiver;

/// Follows the stderr (piped) of `pinsetter serve` or `play --listen` and yields the address it
/// announces (`http://HOST:PORT`). The caller wraps the child so it is killed even if the
/// announcement never comes, then waits on the receiver.
#[allow(dead_code)] // each test binary uses some of these helpers
pub fn announced_address(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    rx
}

/// Runs the built `pinsetter` binary from the crate root (so `assets/...` paths resolve), with
/// backtraces off so error output is what a user sees.
#[allow(dead_code)]
pub fn pinsetter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pinsetter"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .expect("the pinsetter binary runs")
}

/// kubectl, where installed (CI installs it: `.ci/run` adds Debian's kubernetes-client); the
/// caller skips with a message elsewhere.
#[allow(dead_code)]
pub fn kubectl_present() -> bool {
    let present = Command::new("kubectl").args(["version", "--client"]).output().is_ok();
    if !present {
        assert!(std::env::var_os("CI").is_none_or(|ci| ci != "true"), "CI must install kubectl (.ci/run does)");
        eprintln!("kubectl is not installed: skipping this kubectl test");
    }
    present
}
