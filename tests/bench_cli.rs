//! `pinsetter bench` through the real binary: filters pick entries, unknown ones are refused.

mod common;

use common::pinsetter;

#[test]
fn a_filter_runs_only_the_matching_entries() {
    let out = pinsetter(&["bench", "frame", "--quick", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let names: Vec<&str> =
        results["results"].as_array().expect("results").iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names, ["frame_200x50"]);
}

#[test]
fn an_unknown_filter_names_the_entries() {
    let out = pinsetter(&["bench", "nosuch"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nosuch") && err.contains("startup") && err.contains("over_capacity"), "{err}");
}

#[test]
fn the_mixed_flow_instance_is_written() {
    let path = std::env::temp_dir().join(format!("pinsetter-mixed-{}.json", std::process::id()));
    let path_text = path.to_str().expect("utf-8 temp path");
    let out = pinsetter(&["bench", "flow_replace_mixed", "--lane", "100", "--dump-flow-mixed", path_text, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dump: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("dump written")).expect("JSON");
    std::fs::remove_file(&path).ok();
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entry = &results["results"][0];
    assert_eq!(entry["name"], "flow_replace_mixed");
    // The dump is the instance the entry solved: its cost is the entry's objective.
    assert_eq!(dump["cost"], entry["objective"], "{entry:#}");
    assert!(dump["arcs"].as_array().is_some_and(|a| !a.is_empty()));
}
