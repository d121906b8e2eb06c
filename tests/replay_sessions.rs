//! Issue 16: recorded sessions replay to the digest the live session ended with — a game played
//! with the keys (through the TUI's own key path), an agent session (`serve --record` with
//! `pin --join` processes), and random input logs (a property test) — both headless
//! (`sim --replay`) and through the follower the replay viewer and the spectator use, seeking
//! at random. The kubectl-driven session is `a_recorded_serve_session_replays_to_the_same_digest`
//! in tests/replay.rs.

mod common;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pinsetter::alley::AlleyInput;
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::driver::{Driver, InputLog, LogHeader, read_input_log};
use pinsetter::follow::{DigestCheck, Follower};
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, PlayOptions};
use pinsetter::world::{Input, World};
use proptest::prelude::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `sim --replay FILE --json` through the binary: the replayed digest, and whether the log's
/// trailer agrees.
fn sim_replay(path: &Path) -> (String, serde_json::Value) {
    let out = common::pinsetter(&["sim", "--replay", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (report["digest"].as_str().unwrap().to_string(), report)
}

/// The follower over the whole log: where it ends, and its digest check.
fn follow_to_the_end(path: &Path) -> (String, Option<DigestCheck>) {
    let session = read_input_log(path).unwrap();
    let (mut follower, mut world) = Follower::recorded(&session, "log").unwrap();
    follower.advance(&mut world, u64::MAX);
    (world.digest(), follower.digest_check(&world))
}

#[test]
fn a_game_played_with_the_keys_replays_to_the_same_digest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.jsonl");
    let scenario = Scenario::resolve("default").unwrap();
    let epoch = pinsetter::clock::Epoch::at_unix_seconds(1_790_000_000);
    let options =
        PlayOptions { scenario, seed: 11, timing: Preset::Arcade, speed: 1.0, ascii: false, listen: None, epoch };
    let header = LogHeader::new(11, Preset::Arcade, epoch, &options.scenario);
    let mut app = App::new(options, None).unwrap();
    app.driver.log = Some(InputLog::create(&path, &header).unwrap());
    let run_for = |app: &mut App, ms: u64| {
        for _ in 0..ms / 10 {
            app.driver.world.step();
            app.drain();
        }
    };
    let press = |app: &mut App, code: KeyCode| {
        app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
        app.drain();
    };
    run_for(&mut app, 500);
    // The bowling keys: position, aim, hook, then the meter started and released.
    for key in [KeyCode::Right, KeyCode::Right, KeyCode::Right, KeyCode::Up, KeyCode::Char('['), KeyCode::Char(' ')] {
        press(&mut app, key);
    }
    run_for(&mut app, 560);
    press(&mut app, KeyCode::Char(' '));
    run_for(&mut app, 3_000);
    // The chaos keys: knock two pins, select pin 3 and restore it, cordon it, switch the
    // scheduler and the timing preset, reset the rack; then bowl again.
    for key in [KeyCode::Char('3'), KeyCode::Char('6')] {
        press(&mut app, key);
    }
    run_for(&mut app, 2_500);
    for key in [KeyCode::Tab, KeyCode::Tab, KeyCode::Char('u'), KeyCode::Char('c'), KeyCode::Char('s')] {
        press(&mut app, key);
    }
    run_for(&mut app, 1_500);
    for key in [KeyCode::Char('t'), KeyCode::Char('r'), KeyCode::Left, KeyCode::Char(']'), KeyCode::Char(' ')] {
        press(&mut app, key);
    }
    run_for(&mut app, 700);
    press(&mut app, KeyCode::Char(' '));
    run_for(&mut app, 4_000);
    let live = app.driver.finish();

    let session = read_input_log(&path).unwrap();
    assert!(session.lines.len() >= 16, "every game key was recorded: {} lines", session.lines.len());
    let (replayed, report) = sim_replay(&path);
    assert_eq!(replayed, live, "sim --replay ends where the played game did: {report}");
    assert_eq!(report["digest_matches"], true);
    assert_eq!(follow_to_the_end(&path), (live, Some(DigestCheck::Matches)), "and so does the follower");
}

/// A lane with one cordoned simulated pin, so every pod of `web` lands on an agent (as in
/// tests/agents.rs and `benches/agent_load.sh`).
const AGENT_LANE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agents_lane.yaml");

/// A child process killed and reaped on drop, pass or fail.
struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_agent_session_replays_to_the_same_digest() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("agents.jsonl");
    let bin = env!("CARGO_BIN_EXE_pinsetter");
    let mut serve = Proc(
        Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--scheduler", "spread", "--scenario"])
            .arg(AGENT_LANE)
            .arg("--record")
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
    let addr = loop {
        let line = lines.recv_timeout(Duration::from_secs(20)).expect("serve announces its address");
        if let Some(rest) = line.split("serving the Kubernetes API on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let agent = |name: &str| {
        Proc(
            Command::new(bin)
                .args(["pin", "--join", &format!("http://{addr}"), "--name", name, "--cpu", "2"])
                .env("RUST_LOG", "warn")
                .env("PINSETTER_DATA_DIR", dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let (lane_a, mut lane_b) = (agent("lane-a"), agent("lane-b"));
    let running_on_agents = || {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET /nodes HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let nodes: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        nodes["items"].as_array().map_or(0, |items| {
            items
                .iter()
                .filter(|n| n["name"] != "pin-1")
                .flat_map(|n| n["pods"].as_array().into_iter().flatten())
                .filter(|p| p["state"] == "Running")
                .count()
        })
    };
    let start = Instant::now();
    while running_on_agents() < 4 {
        assert!(start.elapsed() < Duration::from_secs(30), "the agents never ran the four pods");
        std::thread::sleep(Duration::from_millis(200));
    }
    // One agent dies (missed heartbeats from here on), the other keeps reporting.
    lane_b.0.kill().unwrap();
    let _ = lane_b.0.wait();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(Command::new("kill").args(["-TERM", &serve.0.id().to_string()]).status().unwrap().success());
    assert!(serve.0.wait().unwrap().success(), "serve exits cleanly on SIGTERM");
    drop(lane_a);
    let live = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(5)).ok())
        .find_map(|l| l.split("session digest ").nth(1).map(|d| d.split_whitespace().next().unwrap().to_string()))
        .expect("serve prints its session digest at exit");

    let session = read_input_log(&record).unwrap();
    let agent_inputs = session
        .lines
        .iter()
        .filter(|l| matches!(l, pinsetter::driver::LogLine::Input { input: Input::Request { .. }, .. }))
        .count();
    assert!(agent_inputs >= 6, "the agents' joins, heartbeats and pod reports were recorded: {agent_inputs}");
    let (replayed, report) = sim_replay(&record);
    assert_eq!(replayed, live, "{report}");
    assert_eq!(report["digest_matches"], true);
    assert_eq!(follow_to_the_end(&record), (live, Some(DigestCheck::Matches)));
}

/// Inputs a session can take, within the default lane (some refused: a pin or deployment the
/// lane lacks, as a live session may send).
fn any_input() -> impl Strategy<Value = Input> {
    let pin = (1u8..=11).prop_map(|p| format!("pin-{p}"));
    prop_oneof![
        (-3i8..=3).prop_map(|b| Input::Alley(AlleyInput::Move(b))),
        (-2i8..=2).prop_map(|a| Input::Alley(AlleyInput::Aim(a))),
        (-2i8..=2).prop_map(|h| Input::Alley(AlleyInput::Hook(h))),
        Just(Input::Alley(AlleyInput::Power)),
        Just(Input::Alley(AlleyInput::Power)),
        pin.clone().prop_map(Input::Knock),
        pin.clone().prop_map(Input::Restore),
        Just(Input::ResetPins),
        (pin, any::<bool>()).prop_map(|(node, unschedulable)| Input::Cordon { node, unschedulable }),
        (prop::sample::select(vec!["web", "api", "batch", "nope"]), 0i32..16)
            .prop_map(|(d, replicas)| { Input::Scale { deployment: ObjectKey::new("default", d), replicas } }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Recording a random session and replaying it gives its digest; so does the follower,
    /// after seeking back and forth at random.
    #[test]
    fn random_input_logs_replay_and_follow_to_the_same_digest(
        seed in 0u64..1_000,
        script in prop::collection::vec((0u64..150, any_input()), 1..16),
        seeks in prop::collection::vec(0u64..2_500, 0..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.jsonl");
        let scenario = Scenario::resolve("default").unwrap();
        let header = LogHeader::new(seed, Preset::Arcade, pinsetter::clock::Epoch::default(), &scenario);
        let mut driver = Driver::new(World::new(seed, Preset::Arcade, &scenario).unwrap(), 1.0);
        driver.log = Some(InputLog::create(&path, &header).unwrap());
        let step = |driver: &mut Driver, ticks: u64| {
            for _ in 0..ticks {
                driver.world.step();
                while driver.world.poll_output().is_some() {}
            }
        };
        for (wait, input) in script {
            step(&mut driver, wait);
            // Refused or not, it is recorded and replayed as it was applied.
            let _refused = driver.handle_input(input).is_err();
        }
        step(&mut driver, 100);
        let live = driver.finish();

        let session = read_input_log(&path).unwrap();
        let replayed = pinsetter::sim::replay(&session, "random.jsonl").unwrap();
        prop_assert_eq!(&replayed.report.digest, &live);
        prop_assert_eq!(replayed.digest_matches, Some(true));

        let (mut follower, mut world) = Follower::recorded(&session, "random.jsonl").unwrap();
        for at in seeks {
            follower.seek(&mut world, at).unwrap();
        }
        follower.seek(&mut world, u64::MAX).unwrap();
        prop_assert_eq!(world.digest(), live);
        prop_assert_eq!(follower.digest_check(&world), Some(DigestCheck::Matches));
    }
}
