//! The supported envelope and generated lanes, through the real binary: inputs beyond
//! Kubernetes' published limits are refused with one line naming the input and the limit
//! (issue 9, finding 14), and `--nodes N --pods M` lanes are sized so their pods fit.

mod common;

use common::pinsetter;
use serde_json::Value;

/// Runs `pinsetter sim ARGS`, which must fail, and returns its stderr.
fn sim_fails(args: &[&str]) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    let out = pinsetter(&all);
    assert!(
        !out.status.success(),
        "pinsetter {all:?} should be refused but succeeded:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sim_json(args: &[&str]) -> Value {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = pinsetter(&all);
    assert!(out.status.success(), "pinsetter {all:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("sim --json prints JSON")
}

fn int(report: &Value, field: &str) -> i64 {
    report[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer in {report:#}"))
}

/// The refusal is one line that names the input and the limit.
fn assert_refused(err: &str, input: &str, limit: &str) {
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    assert!(err.contains(input), "the message should name {input:?}: {err}");
    assert!(err.contains(limit), "the message should name the limit {limit:?}: {err}");
}

#[test]
fn a_million_replicas_in_a_scenario_is_refused() {
    let dir = std::env::temp_dir().join(format!("pinsetter-envelope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("huge.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Node\nmetadata: {name: pin-1}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1000000\n  template:\n    spec:\n      containers:\n      - name: web\n",
    )
    .expect("write scenario");
    let path_text = path.to_str().expect("utf-8 temp path");
    let err = sim_fails(&["--scenario", path_text, "--until", "1s"]);
    std::fs::remove_dir_all(&dir).ok();
    assert_refused(&err, path_text, "150000 pods");
    assert!(err.contains("1000000 pods"), "{err}");
}

#[test]
fn until_beyond_a_day_of_game_time_is_refused() {
    let err = sim_fails(&["--until", "100000h"]);
    assert_refused(&err, "--until 100000h", "24h");
}

#[test]
fn scaling_past_the_pod_limit_is_refused_naming_the_action() {
    let err = sim_fails(&["--at", "1s scale web 2000000000", "--until", "2s"]);
    assert_refused(&err, "1s scale web 2000000000", "150000 pods");
}

#[test]
fn a_million_generated_nodes_are_refused() {
    let err = sim_fails(&["--nodes", "1000000", "--pods", "1", "--until", "1s"]);
    assert_refused(&err, "--nodes 1000000", "5000 nodes");
}

#[test]
fn more_pods_than_the_envelope_are_refused() {
    let err = sim_fails(&["--nodes", "5000", "--pods", "150001", "--until", "1s"]);
    assert_refused(&err, "--pods 150001", "150000 pods");
}

#[test]
fn more_than_110_pods_per_generated_node_are_refused() {
    let err = sim_fails(&["--nodes", "10", "--pods", "2000", "--until", "1s"]);
    assert_refused(&err, "--nodes 10 --pods 2000", "110 pods per node");
}

#[test]
fn a_lane_inside_the_envelope_still_runs() {
    // The largest scale the check allows: the default lane's 46 pods less web's 12, plus
    // 149,966 for web = exactly 150,000 desired. Refused only one pod later.
    let err = sim_fails(&["--at", "50s scale web 149967", "--until", "1s"]);
    assert!(err.contains("150001 pods"), "{err}");
    let report = sim_json(&["--at", "500ms scale web 20", "--until", "1s"]);
    assert_eq!(int(&report, "desired"), 54, "{report:#}");
}

#[test]
fn a_generated_lane_is_sized_so_every_pod_runs() {
    // 30 pods a pin of the default lane's shapes ask for ~18 cpu a pin: the old fixed 4-cpu pins
    // left most of them Pending.
    let report = sim_json(&["--nodes", "100", "--pods", "3000", "--until", "30s"]);
    assert_eq!(int(&report, "desired"), 3_000, "{report:#}");
    assert_eq!(int(&report, "running"), 3_000, "{report:#}");
    assert_eq!(int(&report, "pending"), 0, "{report:#}");
}

#[test]
fn node_cpu_and_memory_flags_size_the_pins() {
    // The same lane on the old 4 cpu / 8Gi pins is over capacity: most pods stay Pending.
    let report =
        sim_json(&["--nodes", "100", "--pods", "3000", "--node-cpu", "4", "--node-memory", "8Gi", "--until", "10s"]);
    assert_eq!(int(&report, "desired"), 3_000, "{report:#}");
    assert!(int(&report, "pending") > 2_000, "{report:#}");
    assert!(int(&report, "running") < 1_000, "{report:#}");
}

#[test]
fn sim_help_says_what_is_generated() {
    let out = pinsetter(&["sim", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--node-cpu", "--node-memory", "topology.kubernetes.io/zone", "75 %", "110 pods"] {
        assert!(help.contains(needle), "--help should mention {needle:?}:\n{help}");
    }
}

#[test]
fn sim_json_reports_wall_time_and_peak_rss() {
    let report = sim_json(&["--scenario", "tiny", "--until", "2s"]);
    assert!(report["wall_ms"].is_u64(), "{report:#}");
    if cfg!(target_os = "linux") {
        // A process holding a World and its own binary is at least a megabyte resident.
        let rss = report["peak_rss_bytes"].as_u64().unwrap_or_else(|| panic!("no peak_rss_bytes in {report:#}"));
        assert!(rss > 1 << 20, "{report:#}");
    }
}
