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
    let header = LogHeader::new(2, Preset::Arcade, pinsetter::clock::Epoch::default().unix_seconds(), &scenario);
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
