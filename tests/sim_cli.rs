//! `pinsetter sim` through the real binary: the issue's "done when" scenario, the plain
//! timeline, determinism of the digest, upstream timing, and the error messages a user sees.

mod common;

use common::pinsetter;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `pinsetter sim ARGS --json`, which must succeed, and parses the report.
fn sim_json(args: &[&str]) -> Value {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = pinsetter(&all);
    assert!(out.status.success(), "pinsetter {all:?} failed ({}):\n{}", out.status, stderr(&out));
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("pinsetter {all:?} printed invalid JSON ({e}):\n{}", stdout(&out)))
}

/// Runs `pinsetter sim ARGS`, which must fail, and returns its stderr.
fn sim_fails(args: &[&str]) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    let out = pinsetter(&all);
    assert!(!out.status.success(), "pinsetter {all:?} should fail but succeeded:\n{}", stdout(&out));
    stderr(&out)
}

fn int(report: &Value, field: &str) -> i64 {
    report[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer in {report:#}"))
}

fn recovery(report: &Value, stat: &str) -> i64 {
    report["recovery_ms"][stat].as_i64().unwrap_or_else(|| panic!("recovery_ms.{stat} missing in {report:#}"))
}

fn digest(report: &Value) -> String {
    report["digest"].as_str().unwrap_or_else(|| panic!("no digest in {report:#}")).to_string()
}

const DONE_WHEN: [&str; 8] =
    ["--scenario", "assets/scenarios/default.yaml", "--seed", "1", "--at", "2s knock pin-3", "--until", "30s"];

/// A timeline line: `TIME  TYPE  REASON  OBJECT  MESSAGE` (Action and Note lines have no object).
struct Line<'a> {
    type_: &'a str,
    reason: &'a str,
    object: &'a str,
    message: String,
}

fn events(timeline: &str) -> Vec<Line<'_>> {
    timeline
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [_, type_ @ ("Normal" | "Warning"), reason, object, message @ ..] => {
                    Some(Line { type_, reason, object, message: message.join(" ") })
                }
                _ => None,
            }
        })
        .collect()
}

#[test]
fn done_when_knocking_pin_3_recovers_within_the_arcade_budget() {
    let report = sim_json(&DONE_WHEN);
    assert_eq!(report["timing"], "arcade", "{report:#}");
    assert_eq!(int(&report, "nodes"), 10, "{report:#}");
    assert_eq!(int(&report, "lost"), 0, "{report:#}");
    let evicted = int(&report, "evicted");
    assert!(evicted > 0, "nothing was evicted from pin-3: {report:#}");
    // db-0 keeps its data on pin-3's local disk: it waits for the pin, everything else moves.
    assert_eq!(int(&report, "waiting_for_their_pin"), 1, "db-0 waits for pin-3: {report:#}");
    let moved = evicted - 1;
    assert_eq!(int(&report, "rescheduled"), moved, "{report:#}");
    assert_eq!(int(&report, "displaced"), evicted, "every displaced pod is evicted: {report:#}");
    assert_eq!(recovery(&report, "count"), moved, "{report:#}");
    assert!(recovery(&report, "max") <= 2_500, "arcade recovery over 2.5 s: {report:#}");
    assert!(recovery(&report, "max") > 0, "{report:#}");
    assert_eq!(int(&report, "running") + 1, int(&report, "desired"), "{report:#}");
    assert_eq!(int(&report, "pending"), 0, "{report:#}");
    assert_eq!(int(&report, "until_ms"), 30_000, "{report:#}");
    assert_eq!(digest(&report).len(), 64, "{report:#}");
}

#[test]
fn plain_timeline_shows_not_ready_eviction_and_rescheduling_elsewhere() {
    let out = pinsetter(&[&["sim"][..], &DONE_WHEN[..]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines = events(&text);

    let knock = text.lines().position(|l| l.contains("Action") && l.contains("2s knock pin-3"));
    let knock = knock.unwrap_or_else(|| panic!("the --at action is not on the timeline:\n{text}"));
    let not_ready = text.lines().position(|l| l.contains("NodeNotReady") && l.contains("node/pin-3"));
    let not_ready = not_ready.unwrap_or_else(|| panic!("no NodeNotReady for node/pin-3:\n{text}"));
    assert!(knock < not_ready, "NodeNotReady before the knock:\n{text}");
    assert!(!lines.iter().any(|l| l.reason == "NodeNotReady" && l.object != "node/pin-3"), "{text}");

    let first_eviction = lines
        .iter()
        .position(|l| l.reason == "TaintManagerEviction")
        .unwrap_or_else(|| panic!("no TaintManagerEviction:\n{text}"));
    let evicted: Vec<&str> = lines
        .iter()
        .filter(|l| l.reason == "TaintManagerEviction")
        .map(|l| l.object.trim_start_matches("pod/"))
        .collect();
    // Every evicted pod had been scheduled to pin-3.
    for pod in &evicted {
        let to_pin_3 = lines[..first_eviction]
            .iter()
            .any(|l| l.reason == "Scheduled" && l.object == format!("pod/{pod}") && l.message.ends_with(" to pin-3"));
        assert!(to_pin_3, "evicted pod {pod} was never scheduled to pin-3:\n{text}");
    }
    // Their replacements go to the pins still standing.
    let rescheduled: Vec<&Line> = lines[first_eviction..].iter().filter(|l| l.reason == "Scheduled").collect();
    // Every evicted pod but db-0 (held on pin-3 by its local volume) is placed again.
    assert!(evicted.contains(&"db-0"), "{text}");
    assert!(!rescheduled.iter().any(|l| l.object == "pod/db-0"), "db-0 left its data behind:\n{text}");
    assert!(
        rescheduled.len() + 1 >= evicted.len(),
        "{} evictions but only {} Scheduled lines after them:\n{text}",
        evicted.len(),
        rescheduled.len()
    );
    for l in &rescheduled {
        assert_eq!(l.type_, "Normal");
        let node = l.message.rsplit(' ').next().unwrap_or_default();
        assert!(node.starts_with("pin-") && node != "pin-3", "rescheduled onto {node:?}: {}", l.message);
    }

    let summary = text.lines().rev().find(|l| l.starts_with("desired ")).unwrap_or_default();
    assert!(summary.contains("lost 0"), "summary: {summary:?}");
    assert!(summary.contains(&format!("evicted {}", evicted.len())), "summary: {summary:?}");
    // The plain run and the JSON run describe the same history.
    let plain_digest = text.lines().rev().find_map(|l| l.split("digest ").nth(1)).unwrap_or_default().trim();
    assert_eq!(plain_digest, digest(&sim_json(&DONE_WHEN)));
}

#[test]
fn same_command_twice_gives_the_same_digest() {
    let mut a = sim_json(&DONE_WHEN);
    let mut b = sim_json(&DONE_WHEN);
    assert_eq!(digest(&a), digest(&b));
    // Wall time and peak RSS are measurements of this process, not of the simulation.
    for report in [&mut a, &mut b] {
        let fields = report.as_object_mut().expect("the report is an object");
        assert!(fields.remove("wall_ms").is_some() && fields.remove("peak_rss_bytes").is_some());
    }
    assert_eq!(a, b, "two runs of the same command differ");
}

#[test]
fn a_different_seed_or_script_changes_the_digest() {
    let base = digest(&sim_json(&DONE_WHEN));
    let mut other_seed = DONE_WHEN;
    other_seed[3] = "2";
    assert_ne!(base, digest(&sim_json(&other_seed)), "seed 2 gave seed 1's history");
    let mut other_pin = DONE_WHEN;
    other_pin[5] = "2s knock pin-4";
    assert_ne!(base, digest(&sim_json(&other_pin)), "knocking pin-4 gave pin-3's history");
    let mut later = DONE_WHEN;
    later[5] = "3s knock pin-3";
    assert_ne!(base, digest(&sim_json(&later)), "knocking a second later gave the same history");
    let quiet = ["--scenario", "assets/scenarios/default.yaml", "--seed", "1", "--until", "30s"];
    assert_ne!(base, digest(&sim_json(&quiet)), "no knock at all gave the same history");
}

#[test]
fn kubernetes_timing_recovers_in_about_six_minutes() {
    let report = sim_json(&[
        "--scenario",
        "assets/scenarios/default.yaml",
        "--seed",
        "1",
        "--timing",
        "kubernetes",
        "--at",
        "10s knock pin-3",
        "--until",
        "7m",
    ]);
    assert_eq!(report["timing"], "kubernetes", "{report:#}");
    assert_eq!(int(&report, "lost"), 0, "{report:#}");
    let evicted = int(&report, "evicted");
    assert!(evicted > 0, "{report:#}");
    assert_eq!(int(&report, "rescheduled"), evicted - 1, "all but db-0 moved: {report:#}");
    // 50 s grace + 300 s tolerationSeconds + monitor period and start-up: about six minutes.
    for stat in ["p50", "max"] {
        let ms = recovery(&report, stat);
        assert!((300_000..=400_000).contains(&ms), "recovery_ms.{stat} = {ms}: {report:#}");
    }
    assert_eq!(int(&report, "waiting_for_their_pin"), 1, "db-0 waits for pin-3: {report:#}");
    assert_eq!(int(&report, "running") + 1, int(&report, "desired"), "{report:#}");
}

#[test]
fn a_bad_at_is_refused_with_a_message_about_at() {
    for bad in ["5x knock pin-3", "5s explode pin-3"] {
        let err = sim_fails(&["--at", bad, "--until", "10s"]);
        assert!(err.contains("--at"), "{bad:?}: {err}");
        assert!(err.contains(bad), "the message should quote {bad:?}: {err}");
    }
}

/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pinsetter-sim-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_malformed_scenario_names_the_file_document_and_field() {
    let scratch = Scratch::new("malformed");
    let path = scratch.0.join("bad-lane.yaml");
    std::fs::write(
        &path,
        r#"# A lane with one bad quantity in its second document.
---
apiVersion: v1
kind: Node
metadata: {name: pin-1}
status:
  capacity: {cpu: "4", memory: 8Gi, pods: "110"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        resources:
          requests: {cpu: 12x, memory: 1Gi}
"#,
    )
    .expect("write scenario");
    let path_text = path.to_str().expect("utf-8 temp path");
    let err = sim_fails(&["--scenario", path_text, "--until", "1s"]);
    assert!(err.contains(path_text), "the message should name {path_text}: {err}");
    assert!(err.contains("document 2"), "{err}");
    assert!(err.contains("spec.template.spec.containers[0].resources.requests.cpu"), "{err}");
    assert!(err.contains("12x"), "{err}");
}

#[test]
fn an_unknown_scenario_names_the_builtin_lanes() {
    let err = sim_fails(&["--scenario", "nope", "--until", "1s"]);
    assert!(err.contains("nope"), "{err}");
    for lane in ["default", "tiny", "arena", "stadium"] {
        assert!(err.contains(lane), "the message should offer {lane}: {err}");
    }
}

#[test]
fn a_generated_lane_of_200_pins_loses_nothing() {
    let report = sim_json(&["--nodes", "200", "--pods", "3000", "--at", "5s knock pin-7", "--until", "20s"]);
    assert_eq!(int(&report, "nodes"), 200, "{report:#}");
    assert_eq!(int(&report, "desired"), 3_000, "{report:#}");
    assert_eq!(int(&report, "lost"), 0, "{report:#}");
    assert!(int(&report, "evicted") > 0, "pin-7 had nothing to evict: {report:#}");
    assert!(report["scenario"].as_str().is_some_and(|s| s.starts_with("generated:200x3000")), "{report:#}");
}

#[test]
fn sim_help_mentions_at() {
    let out = pinsetter(&["sim", "--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = stdout(&out);
    assert!(help.contains("--at"), "{help}");
    assert!(help.contains("knock"), "{help}");
}

/// Runs the binary (with extra environment), which must fail with status `code` and exactly one
/// line on stderr; returns that line.
fn one_line_failure(args: &[&str], env: &[(&str, &std::path::Path)], code: i32) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pinsetter"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("the pinsetter binary runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "pinsetter {args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "pinsetter {args:?} should say one line, said:\n{err}");
    lines[0].to_string()
}

#[test]
fn a_flag_given_a_leading_dash_value_is_refused_naming_the_flag() {
    let cases: [(&[&str], &str, &str); 8] = [
        (&["sim", "--until", "-5s"], "--until", "can't be negative"),
        (&["sim", "--seed", "-1"], "--seed", "whole number"),
        (&["sim", "--nodes", "-3", "--pods", "1"], "--nodes", "whole number"),
        (&["sim", "--until", "--json"], "--until", "expected a duration"),
        (&["play", "--speed", "-2"], "--speed", "between 0.25 and 16"),
        (&["bench", "--lane", "-1"], "--lane", "whole number"),
        (&["serve", "--listen", "-1"], "--listen", "e.g. 127.0.0.1:8001"),
        (&["ctl", "scale", "web", "-3"], "REPLICAS", "0 or more"),
    ];
    for (args, flag, expects) in cases {
        let line = one_line_failure(args, &[], 2);
        assert!(line.starts_with("error: "), "{args:?}: {line}");
        assert!(line.contains(flag), "{args:?} should name {flag}: {line}");
        assert!(line.contains(expects), "{args:?} should say what it expects ({expects}): {line}");
    }
}

#[test]
fn an_error_and_its_cause_are_one_line() {
    let scratch = Scratch::new("no-ca");
    let line = one_line_failure(
        &["kubeconfig", "--server", "https://127.0.0.1:8001"],
        &[("PINSETTER_DATA_DIR", &scratch.0)],
        1,
    );
    assert!(line.starts_with("error: no CA at "), "{line}");
    assert!(line.ends_with(": No such file or directory (os error 2)"), "the cause follows on the same line: {line}");
    let line = one_line_failure(&["sim", "--scenario", "nope"], &[], 1);
    assert!(line.starts_with("error: unknown scenario \"nope\""), "{line}");
}
