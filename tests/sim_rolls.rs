//! `pinsetter sim --rolls FILE` through the real binary: the shipped split Roll is thrown and
//! stood again on its own, and `--json` reports its final status.

mod common;

use common::pinsetter;
use serde_json::Value;

const SPLIT: [&str; 8] = [
    "sim",
    "--scenario",
    "assets/scenarios/default.yaml",
    "--rolls",
    "assets/rolls/split.yaml",
    "--until",
    "60s",
    "--seed",
];

#[test]
fn sim_rolls_throws_the_split_and_reports_the_roll_s_final_status() {
    let mut args = SPLIT.to_vec();
    args.extend(["1", "--json"]);
    let out = pinsetter(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rolls = report["rolls"].as_array().unwrap_or_else(|| panic!("no rolls in {report:#}"));
    assert_eq!(rolls.len(), 1, "{rolls:#?}");
    let status = &rolls[0]["status"];
    assert_eq!(rolls[0]["name"], "split");
    assert_eq!(status["phase"], "Restored", "{status:#}");
    assert_eq!(status["nodes"], serde_json::json!(["pin-7", "pin-10"]));
    assert_eq!(status["knockedAt"], "2026-01-01T00:00:30Z");
    assert_eq!(status["restoredAt"], "2026-01-01T00:00:50Z");
    assert_eq!(status["throws"], 1);
    assert!(report["displaced"].as_u64().unwrap() > 0, "the knock displaced pods: {report:#}");
    assert_eq!(status["displacedPods"], report["displaced"], "{report:#}");

    // Without --rolls nothing is thrown and no Roll is reported.
    let plain = pinsetter(&["sim", "--scenario", "assets/scenarios/default.yaml", "--until", "60s", "--json"]);
    let plain: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(plain.get("rolls").is_none(), "{plain:#}");
    assert_eq!(plain["displaced"], 0);
}

#[test]
fn sim_rolls_timeline_says_the_roll_knocked_and_stood_its_pins() {
    let mut args = SPLIT.to_vec();
    args.push("1");
    let out = pinsetter(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let timeline = String::from_utf8_lossy(&out.stdout);
    for expected in
        ["apply Roll split", "Roll split knocked pin-7", "Roll split knocked pin-10", "Roll split stood pin-7 again"]
    {
        assert!(timeline.contains(expected), "{expected:?} missing from:\n{timeline}");
    }
    let knocked =
        timeline.lines().find(|l| l.contains("Knocked") && l.contains("roll/split")).expect("a Knocked event");
    assert!(knocked.trim_start().starts_with("0:30.0"), "{knocked}");
}

#[test]
fn sim_rolls_with_a_bad_file_says_which() {
    let out = pinsetter(&["sim", "--scenario", "tiny", "--rolls", "no/such/rolls.yaml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot read --rolls no/such/rolls.yaml"), "{stderr}");
}
