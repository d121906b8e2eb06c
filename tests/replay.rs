//! A seeded game replays exactly: the same bowling inputs at the same ticks give the same score,
//! the same pins down and the same Kubernetes event digest.

mod common;

use pinsetter::alley::{AlleyInput, Phase};
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};

/// Bowls until game over with a fixed script: a pocket line, the power meter released after
/// `hold` ticks. Returns (score, digest, events).
fn play(seed: u64, hold: u32) -> (u16, String, u64) {
    let mut world = World::new(seed, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    for input in [[AlleyInput::Move(1); 8].as_slice(), &[AlleyInput::Aim(1); 2], &[AlleyInput::Hook(-1); 5]].concat() {
        world.handle_input(Input::Alley(input)).unwrap();
    }
    for _ in 0..200_000 {
        match world.alley().phase() {
            Phase::GameOver => break,
            Phase::Aiming => {
                world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
                for _ in 0..hold {
                    world.step();
                }
                world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
            }
            _ => world.step(),
        }
        while world.poll_output().is_some() {}
    }
    assert_eq!(world.alley().phase(), Phase::GameOver, "the script finishes the game");
    (world.alley().scorecard().total(), world.digest(), world.event_count())
}

#[test]
fn same_seed_and_inputs_replay_the_same_game_and_cluster_history() {
    let first = play(3, 56);
    let second = play(3, 56);
    assert_eq!(first, second);
    assert!(first.0 <= 300);
    assert!(first.2 > 100, "pins fell, so the control plane had work: {} events", first.2);
    let other = play(3, 40);
    assert_ne!(first.1, other.1, "different releases should give a different history");
}

/// Issue 10: `serve --record` writes the session's inputs (here the real kubectl's apply,
/// scale, delete and cordon, and a knock over the pins API), and `sim --replay` replays the file
/// headlessly to the digest the live session ended with. A log of another format version is
/// refused.
#[test]
fn a_recorded_serve_session_replays_to_the_same_digest() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;
    if Command::new("kubectl").arg("version").arg("--client").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install kubectl");
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let dir = std::env::temp_dir().join(format!("pinsetter-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let record = dir.join("session.jsonl");
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_pinsetter"))
            .args(["serve", "--listen", "127.0.0.1:0", "--seed", "3", "--record"])
            .arg(&record)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = serve.0.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let server = loop {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        if let Some(rest) = line.split("serving the Kubernetes API on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, common::pinsetter(&["kubeconfig", "--server", &server]).stdout).unwrap();
    let kubectl = |args: &[&str]| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let manifest = dir.join("lane.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: lane\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: lane}\n  template:\n    metadata:\n      labels: {app: lane}\n    spec:\n      containers:\n      - name: ball\n        image: ball:1\n        resources:\n          requests: {cpu: 100m, memory: 64Mi}\n",
    )
    .unwrap();
    kubectl(&["apply", "-f", manifest.to_str().unwrap()]);
    kubectl(&["scale", "deployment", "lane", "--replicas=4"]);
    let web = kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]);
    let pod = web.lines().next().expect("web pods").to_string();
    kubectl(&["delete", &pod, "--wait=false"]);
    kubectl(&["cordon", "pin-2"]);
    let knocked = common::pinsetter(&["ctl", "--server", &server, "knock", "pin-3"]);
    assert!(knocked.status.success(), "{}", String::from_utf8_lossy(&knocked.stderr));
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &serve.0.id().to_string()]).status().unwrap().success());
    assert!(serve.0.wait().unwrap().success(), "serve exits cleanly on SIGTERM");
    let live = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(5)).ok())
        .find_map(|l| l.split("session digest ").nth(1).map(|d| d.split_whitespace().next().unwrap().to_string()))
        .expect("serve prints its session digest at exit");

    let replayed = common::pinsetter(&["sim", "--replay", record.to_str().unwrap(), "--json"]);
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert!(report["inputs"].as_u64().unwrap() >= 5, "{report}");
    assert_eq!(report["recorded_digest"], live.as_str());
    assert_eq!(report["digest"], live.as_str(), "the replay ends where the live session did");
    assert_eq!(report["digest_matches"], true);

    // Another format version is refused, saying so.
    let text = std::fs::read_to_string(&record).unwrap();
    let other = dir.join("future.jsonl");
    std::fs::write(&other, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();
    let refused = common::pinsetter(&["sim", "--replay", other.to_str().unwrap(), "--json"]);
    assert!(!refused.status.success());
    let says = String::from_utf8_lossy(&refused.stderr);
    assert!(says.contains("format version 2") && says.contains("replays version 1"), "{says}");
    let _ = std::fs::remove_dir_all(&dir);
}
