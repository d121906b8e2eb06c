//! `pinsetter replay FILE` through the real binary: a log it cannot replay is refused with a
//! clear message before the terminal is taken (so without one, the log's problem is what is
//! said), and `--help` shows how to record and replay.

mod common;

use common::pinsetter;
use pinsetter::alley::AlleyInput;
use pinsetter::cluster::timing::Preset;
use pinsetter::driver::{Driver, InputLog, LogHeader};
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};

/// A short recorded session (a move, a knock), written to `dir`.
fn recorded(dir: &std::path::Path) -> std::path::PathBuf {
    let scenario = Scenario::resolve("default").unwrap();
    let header = LogHeader::new(2, Preset::Arcade, pinsetter::clock::Epoch::default(), &scenario);
    let path = dir.join("game.jsonl");
    let mut driver = Driver::new(World::new(2, Preset::Arcade, &scenario).unwrap(), 1.0);
    driver.log = Some(InputLog::create(&path, &header).unwrap());
    driver.handle_input(Input::Alley(AlleyInput::Move(2))).unwrap();
    for _ in 0..100 {
        driver.world.step();
    }
    driver.handle_input(Input::Knock("pin-4".into())).unwrap();
    for _ in 0..100 {
        driver.world.step();
    }
    driver.finish();
    path
}

fn replay_fails(path: &std::path::Path) -> String {
    let out = pinsetter(&["replay", path.to_str().unwrap()]);
    assert!(!out.status.success(), "replay {} should fail", path.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_log_of_another_version_or_not_a_log_is_refused_before_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let good = recorded(dir.path());
    let text = std::fs::read_to_string(&good).unwrap();

    let future = dir.path().join("future.jsonl");
    std::fs::write(&future, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();
    let says = replay_fails(&future);
    assert!(says.contains("format version 2") && says.contains("replays version 1"), "{says}");
    assert!(!says.contains("terminal"), "the log is refused before the terminal is looked at: {says}");

    let not_a_log = dir.path().join("notes.txt");
    std::fs::write(&not_a_log, "apiVersion: v1\nkind: Pod\n").unwrap();
    let says = replay_fails(&not_a_log);
    assert!(says.contains("is not a pinsetter input log"), "{says}");

    let says = replay_fails(&dir.path().join("missing.jsonl"));
    assert!(says.contains("cannot read the input log"), "{says}");

    // A good log gets as far as wanting a terminal (the test has none).
    let says = replay_fails(&good);
    assert!(says.contains("replay needs a terminal"), "{says}");
}

#[test]
fn replay_help_shows_the_keys_and_an_example() {
    let out = pinsetter(&["replay", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("pinsetter play --record game.jsonl") && help.contains("pinsetter replay game.jsonl"),
        "{help}"
    );
    assert!(help.contains("←/→ previous/next bowling frame") && help.contains("space/p pause"), "{help}");
}

/// The real binary in a real terminal (tmux): the replay shows REPLAY and its progress line,
/// `end` seeks to the end, where it says the digest matches, `home` plays it again, and `q`
/// quits cleanly.
#[test]
fn a_replay_in_a_real_terminal_seeks_and_ends_on_the_recorded_digest() {
    use std::process::Command;
    use std::time::{Duration, Instant};
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install tmux (.ci/run does)");
        eprintln!("tmux is not installed: skipping");
        return;
    }
    struct Tmux(String);
    impl Tmux {
        fn run(&self, args: &[&str]) -> std::process::Output {
            Command::new("tmux").arg("-L").arg(&self.0).args(args).output().expect("tmux runs")
        }
        fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
            let start = Instant::now();
            loop {
                let out = self.run(&["capture-pane", "-p", "-t", "replay"]);
                let screen = String::from_utf8_lossy(&out.stdout).into_owned();
                if ok(&screen) {
                    return screen;
                }
                assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}; screen:\n{screen}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    impl Drop for Tmux {
        fn drop(&mut self) {
            let _ = self.run(&["kill-server"]);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = recorded(dir.path());
    let tmux = Tmux(format!("pinsetter-replay-{}", std::process::id()));
    let command = format!("{} replay {}; echo EXITED $?; sleep 60", env!("CARGO_BIN_EXE_pinsetter"), path.display());
    let started = tmux.run(&["new-session", "-d", "-s", "replay", "-x", "160", "-y", "48", &command]);
    assert!(started.status.success(), "tmux failed: {}", String::from_utf8_lossy(&started.stderr));
    let screen = tmux.wait_for("the replay's screen", |s| s.contains("REPLAY") && s.contains("tick"));
    assert!(screen.contains("read only") && screen.contains("frame 1 of 10"), "{screen}");
    tmux.run(&["send-keys", "-t", "replay", "End"]);
    let screen = tmux.wait_for("the end", |s| s.contains("replay ended"));
    assert!(screen.contains("digest matches the recording") && screen.contains("Final score"), "{screen}");
    tmux.run(&["send-keys", "-t", "replay", "Home"]);
    tmux.wait_for("the start again, playing", |s| s.contains("REPLAY  playing"));
    tmux.run(&["send-keys", "-t", "replay", "q"]);
    tmux.wait_for("a clean exit", |s| s.contains("EXITED 0"));
}
