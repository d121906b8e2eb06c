//! The scheduling policies through the real binary: `sim --scheduler`, `sim --compare` (table
//! and JSON), and `bench --dump-flow` writing a checkable min-cost flow instance.

mod common;

use common::pinsetter;
use serde_json::Value;

fn ok(args: &[&str]) -> String {
    let out = pinsetter(args);
    assert!(out.status.success(), "pinsetter {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const KNOCK_TWO: [&str; 6] = ["--at", "5s knock pin-3", "--at", "5s knock pin-4", "--until", "12s"];

#[test]
fn compare_runs_the_same_script_under_each_policy() {
    let mut args = vec!["sim", "--compare", "greedy,spread,binpack,flow", "--json"];
    args.extend(KNOCK_TWO);
    let report: Value = serde_json::from_str(&ok(&args)).unwrap();
    let rows = report["compare"].as_array().unwrap();
    let policies: Vec<&str> = rows.iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(policies, ["greedy", "spread", "binpack", "flow"]);
    for row in rows {
        for field in ["pending_max", "nodes_in_use", "stranded_cpu_milli", "stranded_memory_mib", "sched_cycles"] {
            assert!(row[field].is_u64() || row[field].is_i64(), "{field} missing: {row:#}");
        }
        assert!(row["sched_ms"].is_f64(), "{row:#}");
        assert!(row["recovery_ms"]["p99"].is_u64(), "{row:#}");
        assert_eq!(row["report"]["policy"], row["policy"]);
        assert_eq!(row["report"]["lost"], 0, "{row:#}");
    }
    // Binpack leaves whole pins empty; spread uses every standing pin.
    let used = |i: usize| rows[i]["nodes_in_use"].as_u64().unwrap();
    assert!(used(2) < used(1), "binpack {} vs spread {} pins in use", used(2), used(1));

    let mut args = vec!["sim", "--compare", "greedy,round-robin"];
    args.extend(KNOCK_TWO);
    let table = ok(&args);
    assert!(table.starts_with("POLICY"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("round-robin ")), "{table}");
    assert!(table.contains("stranded: free capacity"), "the table says what it measures: {table}");
}

#[test]
fn scheduler_flag_picks_the_policy_and_rejects_unknown_ones() {
    let mut args = vec!["sim", "--scheduler", "binpack", "--json"];
    args.extend(KNOCK_TWO);
    let report: Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(report["policy"], "binpack");
    let out = pinsetter(&["sim", "--scheduler", "best-fit"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("round-robin") && err.contains("flow"), "{err}");
}

#[test]
fn bench_dumps_a_balanced_integer_flow_instance_with_our_cost() {
    let dump = std::env::temp_dir().join(format!("pinsetter-flow-{}.json", std::process::id()));
    let path = dump.to_str().unwrap();
    let results: Value =
        serde_json::from_str(&ok(&["bench", "--json", "--nodes", "100", "--lane", "200", "--dump-flow", path]))
            .unwrap();
    let entries = results["results"].as_array().unwrap();
    let flow = entries.iter().find(|e| e["name"] == "flow_replace").expect("a flow entry");
    assert_eq!(flow["nodes"], 200);
    assert!(flow["solve_ms"].is_f64() && flow["pods"].as_u64() > Some(0), "{flow:#}");
    assert!(entries.iter().any(|e| e["name"] == "spread_one_by_one" && e["pods_per_sec"].is_f64()));
    let instance: Value = serde_json::from_str(&std::fs::read_to_string(&dump).unwrap()).unwrap();
    let _ = std::fs::remove_file(&dump);
    assert_eq!(instance["cost"], flow["objective"]);
    let nodes = instance["nodes"].as_array().unwrap();
    let supply: i64 = nodes.iter().map(|n| n["supply"].as_i64().unwrap()).sum();
    assert_eq!(supply, 0, "supplies sum to zero");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["id"].as_u64(), Some(i as u64));
    }
    for arc in instance["arcs"].as_array().unwrap() {
        for field in ["from", "to", "capacity", "cost"] {
            assert!(arc[field].is_u64(), "{field} is a non-negative integer: {arc}");
        }
        assert!(arc["from"].as_u64().unwrap() < nodes.len() as u64);
    }
}
