//! The failure kinds through `pinsetter sim` (issue 12, item 5): a crash, a network partition,
//! memory pressure, and a whole zone knocked at once. Each run is read twice: the `--json`
//! report (its `failures` figures per kind) and the plain timeline (the events a user sees).

mod common;

use common::pinsetter;
use serde_json::Value;

const DEFAULT_LANE: &str = "assets/scenarios/default.yaml";
/// One pin running BestEffort, Burstable and Guaranteed pods of several priorities.
const PRESSURE_LANE: &str = "tests/failure_kinds_pressure.yaml";

fn run(args: &[&str], json: bool) -> String {
    let mut all = vec!["sim", "--seed", "1"];
    all.extend_from_slice(args);
    if json {
        all.push("--json");
    }
    let out = pinsetter(&all);
    assert!(out.status.success(), "pinsetter {all:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `--json` report and the plain timeline of the same run.
fn sim(args: &[&str]) -> (Value, Vec<Line>) {
    let report = serde_json::from_str(&run(args, true)).expect("sim --json prints JSON");
    (report, lines(&run(args, false)))
}

fn int(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer in {value:#}"))
}

/// A timeline line: `m:ss.t  TYPE  REASON  [OBJECT]  MESSAGE`.
#[derive(Debug)]
struct Line {
    at: String,
    type_: String,
    reason: String,
    object: String,
    message: String,
}

fn lines(timeline: &str) -> Vec<Line> {
    timeline
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [at, type_ @ ("Normal" | "Warning"), reason, object, message @ ..] => Some(Line {
                    at: at.to_string(),
                    type_: type_.to_string(),
                    reason: reason.to_string(),
                    object: object.to_string(),
                    message: message.join(" "),
                }),
                [at, "Note", reason, message @ ..] => Some(Line {
                    at: at.to_string(),
                    type_: "Note".into(),
                    reason: reason.to_string(),
                    object: String::new(),
                    message: message.join(" "),
                }),
                _ => None,
            }
        })
        .collect()
}

fn nothing_lost(report: &Value) {
    assert_eq!(int(report, "lost"), 0, "{report:#}");
    assert_eq!(int(report, "pending"), 0, "{report:#}");
    assert_eq!(int(report, "terminating"), 0, "{report:#}");
    assert_eq!(int(report, "running"), int(report, "desired"), "{report:#}");
}

/// A crash: the node's pods are displaced and replaced; nothing of them runs meanwhile, so
/// there are no duplicates, and only the crash is reported.
#[test]
fn a_crash_displaces_pods_without_duplicates() {
    let (report, _) = sim(&["--scenario", DEFAULT_LANE, "--at", "2s knock pin-3", "--at", "20s restore pin-3"]);
    let failures = report["failures"].as_object().unwrap_or_else(|| panic!("no failures in {report:#}"));
    assert_eq!(failures.keys().collect::<Vec<_>>(), ["crash"], "{report:#}");
    let crash = &report["failures"]["crash"];
    assert_eq!(int(crash, "nodes"), 1);
    assert!(int(crash, "displaced") > 0, "{crash:#}");
    assert_eq!(int(crash, "displaced"), int(&report, "displaced"), "{report:#}");
    assert_eq!(int(crash, "recovered"), int(crash, "displaced"), "every displaced pod runs again: {crash:#}");
    assert_eq!((int(crash, "duplicates_peak"), int(crash, "duplicates_killed")), (0, 0), "{crash:#}");
    nothing_lost(&report);
}

/// A partition: pin-3's kubelet keeps its pods running while the control plane evicts and
/// replaces them, so the Deployments' pods run twice (db-0 does not: a StatefulSet waits for
/// the old pod to be gone); when pin-3 reconnects its kubelet kills the originals.
#[test]
fn a_partition_runs_duplicates_until_its_kubelet_kills_them_on_return() {
    // The window, seen before the partition heals.
    let (during, _) = sim(&["--scenario", DEFAULT_LANE, "--at", "2s partition pin-3", "--until", "15s"]);
    let partition = &during["failures"]["partition"];
    let duplicates = int(partition, "duplicates_peak");
    let displaced = int(partition, "displaced");
    assert!(duplicates > 0, "replacements run beside their originals: {during:#}");
    assert_eq!(duplicates, displaced - 1, "every displaced pod but db-0 runs twice: {during:#}");
    assert_eq!(int(&during, "terminating"), displaced, "the originals are terminating, not gone: {during:#}");
    assert_eq!(int(partition, "duplicates_killed"), 0, "{during:#}");

    let (after, timeline) =
        sim(&["--scenario", DEFAULT_LANE, "--at", "2s partition pin-3", "--at", "20s restore pin-3"]);
    let partition = &after["failures"]["partition"];
    assert_eq!(int(partition, "duplicates_peak"), duplicates, "{after:#}");
    assert_eq!(int(partition, "duplicates_killed"), duplicates, "{after:#}");
    assert!(after["failures"].get("crash").is_none(), "a partition is not a crash: {after:#}");
    nothing_lost(&after);

    // The pods the taint manager marked for deletion are the ones killed on reconnect.
    let mut marked: Vec<&str> =
        timeline.iter().filter(|l| l.reason == "TaintManagerEviction").map(|l| l.object.as_str()).collect();
    let mut killed: Vec<&str> =
        timeline.iter().filter(|l| l.reason == "Killing" && l.at == "0:20.0").map(|l| l.object.as_str()).collect();
    marked.sort();
    killed.sort();
    assert_eq!(marked.len() as i64, displaced, "{timeline:#?}");
    assert_eq!(killed, marked, "{timeline:#?}");
    let note = format!("pinsetter: pin-3 reconnects: its kubelet kills {duplicates} pods");
    assert!(timeline.iter().any(|l| l.type_ == "Note" && l.message.starts_with(&note)), "{timeline:#?}");
}

/// Memory pressure: pin-1 stays Ready but posts MemoryPressure and is tainted against new
/// pods; its kubelet evicts BestEffort pods, then Burstable ones, lowest priority first, and
/// never a Guaranteed one, even though evicting them all leaves the modelled shortfall unmet.
#[test]
fn memory_pressure_evicts_best_effort_then_burstable_by_priority_never_guaranteed() {
    let (report, timeline) = sim(&["--scenario", PRESSURE_LANE, "--at", "2s pressure pin-1", "--until", "30s"]);
    let evicted: Vec<&Line> = timeline.iter().filter(|l| l.reason == "Evicted").collect();
    for line in &evicted {
        assert_eq!(line.type_, "Warning");
        assert!(
            line.message.starts_with("The node was low on resource: memory. Threshold quantity: 100Mi"),
            "{line:?}"
        );
    }
    let owners: Vec<&str> =
        evicted.iter().map(|l| l.object.trim_start_matches("pod/").rsplitn(3, '-').last().unwrap()).collect();
    assert_eq!(owners, ["besteffort-low", "besteffort-high", "burstable-low", "burstable-high"], "{evicted:#?}");

    let node_events: Vec<&str> =
        timeline.iter().filter(|l| l.object == "node/pin-1").map(|l| l.reason.as_str()).collect();
    assert_eq!(node_events, ["NodeReady", "NodeHasInsufficientMemory", "NodeHasSufficientMemory"]);
    assert!(!timeline.iter().any(|l| l.reason == "NodeNotReady"), "pressure keeps the node Ready");
    // The replacements wait for the taint upstream's node lifecycle controller puts on by condition.
    assert!(
        timeline.iter().any(|l| l.reason == "FailedScheduling"
            && l.message.contains("untolerated taint {node.kubernetes.io/memory-pressure: }")),
        "{timeline:#?}"
    );

    let pressure = &report["failures"]["pressure"];
    assert_eq!(int(pressure, "nodes"), 1);
    assert_eq!(int(pressure, "displaced"), 4, "{pressure:#}");
    assert_eq!(int(pressure, "recovered"), 4, "the replacements run once the pressure is relieved: {pressure:#}");
    assert_eq!(int(&report, "lost"), 0, "{report:#}");
    assert_eq!(int(&report, "running"), int(&report, "desired"), "{report:#}");
}

/// `knock-zone` crashes every node labelled with the zone (a generated lane puts pin-1, pin-4
/// and pin-7 in `alley-1a`), and names a zone no node is in.
#[test]
fn knock_zone_crashes_every_node_of_the_zone() {
    let args = ["--nodes", "9", "--pods", "27", "--at", "2s knock-zone alley-1a", "--until", "30s"];
    let (report, timeline) = sim(&args);
    let mut not_ready: Vec<&str> =
        timeline.iter().filter(|l| l.reason == "NodeNotReady").map(|l| l.object.as_str()).collect();
    not_ready.sort();
    assert_eq!(not_ready, ["node/pin-1", "node/pin-4", "node/pin-7"]);
    let crash = &report["failures"]["crash"];
    assert_eq!(int(crash, "nodes"), 3, "{report:#}");
    assert_eq!(int(crash, "displaced"), int(&report, "displaced"), "{report:#}");
    assert_eq!(int(&report, "lost"), 0, "{report:#}");
    assert_eq!(int(&report, "running"), int(&report, "desired"), "{report:#}");

    let out = pinsetter(&["sim", "--nodes", "9", "--pods", "27", "--at", "2s knock-zone nowhere"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no node is labelled topology.kubernetes.io/zone=nowhere"), "{stderr}");
}
