//! Zone-aware node lifecycle through `pinsetter sim` with upstream's timings (issue 12, item 2):
//! a generated lane spreads its pins round robin over three zones (pin-1, pin-4 ... in
//! `alley-1a`), and knocking some of them puts that zone in kube-controller-manager's
//! disruption states. Evictions happen `tolerationSeconds` after a node's NoExecute taint, so
//! the spacing of the evictions is the spacing of the taints: the zone's eviction rate.

mod common;

use common::pinsetter;
use serde_json::Value;

/// Upstream's defaults, as the `kubernetes` preset has them.
const NODE_EVICTION_RATE: f64 = 0.1;
const SECONDARY_NODE_EVICTION_RATE: f64 = 0.01;
const TOLERATION_MS: u64 = 300_000;
const ZONE_A: &str = "alley-1:alley-1a";

fn interval_ms(per_sec: f64) -> u64 {
    (1000.0 / per_sec).round() as u64
}

fn run(args: &[&str], json: bool) -> String {
    let mut all = vec!["sim", "--timing", "kubernetes", "--seed", "1"];
    all.extend_from_slice(args);
    if json {
        all.push("--json");
    }
    let out = pinsetter(&all);
    assert!(out.status.success(), "pinsetter {all:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lane of `nodes` pins (3 pods each), `knocked` knocked at 1 s, plus `extra` arguments:
/// the plain timeline and the `--json` report of the same run.
fn sim(nodes: usize, knocked: &[usize], extra: &[&str]) -> (Vec<Event>, Value) {
    let (nodes_arg, pods_arg) = (nodes.to_string(), (nodes * 3).to_string());
    let knocks: Vec<String> = knocked.iter().map(|pin| format!("1s knock pin-{pin}")).collect();
    let mut args = vec!["--nodes", nodes_arg.as_str(), "--pods", pods_arg.as_str()];
    for knock in &knocks {
        args.extend(["--at", knock.as_str()]);
    }
    args.extend_from_slice(extra);
    let timeline = run(&args, false);
    let report: Value = serde_json::from_str(&run(&args, true)).expect("sim --json prints JSON");
    (events(&timeline), report)
}

/// The pins of zone `alley-1a` among the first `nodes`: 1, 4, 7 ...
fn zone_a_pins(nodes: usize) -> impl Iterator<Item = usize> {
    (1..=nodes).step_by(3)
}

#[derive(Debug)]
struct Event {
    at_ms: u64,
    reason: String,
    message: String,
}

/// Timeline lines `m:ss.t  TYPE  REASON  OBJECT  MESSAGE`.
fn events(timeline: &str) -> Vec<Event> {
    timeline
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            match words.as_slice() {
                [at, "Normal" | "Warning", reason, _object, message @ ..] => {
                    Some(Event { at_ms: clock_ms(at)?, reason: reason.to_string(), message: message.join(" ") })
                }
                _ => None,
            }
        })
        .collect()
}

/// `m:ss.t` in milliseconds.
fn clock_ms(text: &str) -> Option<u64> {
    let (minutes, rest) = text.split_once(':')?;
    let (seconds, tenths) = rest.split_once('.')?;
    Some(
        minutes.parse::<u64>().ok()? * 60_000 + seconds.parse::<u64>().ok()? * 1000 + tenths.parse::<u64>().ok()? * 100,
    )
}

fn with_reason<'a>(events: &'a [Event], reason: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.reason == reason).collect()
}

/// The distinct instants pods were evicted at: one per node tainted NoExecute.
fn eviction_instants(events: &[Event]) -> Vec<u64> {
    let mut at: Vec<u64> = with_reason(events, "TaintManagerEviction").iter().map(|e| e.at_ms).collect();
    at.dedup();
    at
}

fn gaps(instants: &[u64]) -> Vec<u64> {
    instants.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The `--json` report's zone, which must be there.
fn zone<'a>(report: &'a Value, name: &str) -> &'a Value {
    let zones = report["zones"].as_array().unwrap_or_else(|| panic!("no zones in {report:#}"));
    zones.iter().find(|z| z["zone"] == name).unwrap_or_else(|| panic!("no zone {name} in {report:#}"))
}

fn became(events: &[Event], state: &str) -> Vec<u64> {
    let needle = format!("zone {ZONE_A} is now in state {state}.");
    with_reason(events, "ZoneStateChanged").iter().filter(|e| e.message.ends_with(&needle)).map(|e| e.at_ms).collect()
}

#[test]
fn a_zone_knocked_whole_is_evicted_at_the_node_eviction_rate() {
    let pins: Vec<usize> = zone_a_pins(12).collect();
    // Spread, so every knocked pin holds pods and its eviction shows as its own instant.
    let (events, report) = sim(12, &pins, &["--until", "7m", "--scheduler", "spread"]);
    let full = became(&events, "FullDisruption");
    assert_eq!(full.len(), 1, "{events:#?}");
    assert_eq!(with_reason(&events, "ZoneStateChanged").len(), 1, "only alley-1a changes: {events:#?}");
    assert!(with_reason(&events, "EnteringMasterDisruptionMode").is_empty());

    // The bucket is full when the zone goes down: the first node at once, then one per interval.
    let instants = eviction_instants(&events);
    assert_eq!(instants.len(), pins.len(), "one eviction instant per knocked pin: {instants:?}");
    assert_eq!(instants[0], full[0] + TOLERATION_MS);
    assert_eq!(gaps(&instants), vec![interval_ms(NODE_EVICTION_RATE); pins.len() - 1]);

    let a = zone(&report, ZONE_A);
    assert_eq!(
        (a["state"].as_str(), a["nodes"].as_u64(), a["not_ready"].as_u64()),
        (Some("FullDisruption"), Some(4), Some(4))
    );
    assert_eq!(a["eviction_rate_per_sec"].as_f64(), Some(NODE_EVICTION_RATE));
    for other in ["alley-1:alley-1b", "alley-1:alley-1c"] {
        assert_eq!(zone(&report, other)["state"], "Normal", "{report:#}");
    }
    assert_eq!(report["master_disruption"], false);
    assert!(report["evicted"].as_u64().unwrap() > 0, "{report:#}");
}

#[test]
fn sixty_percent_of_a_large_zone_is_evicted_at_the_secondary_rate() {
    // 153 pins: 51 per zone, more than --large-cluster-size-threshold (50); 31 of 51 is 61 %.
    let pins: Vec<usize> = zone_a_pins(153).take(31).collect();
    let until_ms = 600_000;
    let (events, report) = sim(153, &pins, &["--until", "10m"]);
    let partial = became(&events, "PartialDisruption");
    assert_eq!(partial.len(), 1, "{events:#?}");

    let instants = eviction_instants(&events);
    assert_eq!(instants.first(), Some(&(partial[0] + TOLERATION_MS)), "{instants:?}");
    let interval = interval_ms(SECONDARY_NODE_EVICTION_RATE);
    assert_eq!(gaps(&instants), vec![interval; instants.len() - 1]);
    assert_eq!(instants.len() as u64, 1 + (until_ms - instants[0]) / interval, "{instants:?}");

    let a = zone(&report, ZONE_A);
    assert_eq!(
        (a["state"].as_str(), a["nodes"].as_u64(), a["not_ready"].as_u64()),
        (Some("PartialDisruption"), Some(51), Some(31))
    );
    assert_eq!(a["eviction_rate_per_sec"].as_f64(), Some(SECONDARY_NODE_EVICTION_RATE));
}

#[test]
fn sixty_percent_of_a_small_zone_evicts_nothing() {
    // 3 of alley-1a's 4 pins: 75 %, at least 3 NotReady, and no more than 50 nodes.
    let pins: Vec<usize> = zone_a_pins(12).take(3).collect();
    let (events, report) = sim(12, &pins, &["--until", "7m"]);
    assert_eq!(became(&events, "PartialDisruption").len(), 1, "{events:#?}");
    assert_eq!(eviction_instants(&events), Vec::<u64>::new());
    assert_eq!(report["evicted"], 0, "{report:#}");
    let a = zone(&report, ZONE_A);
    assert_eq!((a["state"].as_str(), a["eviction_rate_per_sec"].as_f64()), (Some("PartialDisruption"), Some(0.0)));
}

#[test]
fn every_node_down_stops_all_evictions_until_one_is_back() {
    let (events, report) = sim(12, &(1..=12).collect::<Vec<_>>(), &["--until", "4m"]);
    let entering = with_reason(&events, "EnteringMasterDisruptionMode");
    assert_eq!(entering.len(), 1, "{events:#?}");
    assert_eq!(eviction_instants(&events), Vec::<u64>::new(), "no evictions while every zone is down");
    assert_eq!(report["master_disruption"], true, "{report:#}");
    for z in report["zones"].as_array().unwrap() {
        assert_eq!((z["state"].as_str(), z["eviction_rate_per_sec"].as_f64()), (Some("FullDisruption"), Some(0.0)));
    }

    // pin-1 back at 2 min: alley-1a is 3 of 4 down (partial, small: still none), the other zones
    // are fully down and evict again, from a drained bucket (one interval after leaving).
    let knocked: Vec<usize> = (1..=12).collect();
    let (events, _) = sim(12, &knocked, &["--at", "2m restore pin-1", "--until", "8m"]);
    let exiting = with_reason(&events, "ExitingMasterDisruptionMode");
    assert_eq!(exiting.len(), 1, "{events:#?}");
    let instants = eviction_instants(&events);
    let interval = interval_ms(NODE_EVICTION_RATE);
    assert_eq!(instants.first(), Some(&(exiting[0].at_ms + interval + TOLERATION_MS)), "{instants:?}");
    assert!(gaps(&instants).iter().all(|&g| g == interval), "{instants:?}");
}

#[test]
fn the_ten_pin_lane_has_no_zones_and_keeps_evicting_after_a_strike() {
    // The default lane's pins carry no zone label. Upstream would make them one "" zone, fully
    // disrupted by a strike, and stop evicting; the game keeps its one limiter for them.
    let knocks: Vec<String> = (1..=10).map(|pin| format!("1s knock pin-{pin}")).collect();
    let mut args = vec!["--until", "8m"];
    for knock in &knocks {
        args.extend(["--at", knock.as_str()]);
    }
    let events = events(&run(&args, false));
    let report: Value = serde_json::from_str(&run(&args, true)).expect("sim --json prints JSON");
    for reason in ["ZoneStateChanged", "EnteringMasterDisruptionMode"] {
        assert!(with_reason(&events, reason).is_empty(), "{reason}: {events:#?}");
    }
    assert_eq!(report["zones"], Value::Array(Vec::new()), "{report:#}");
    assert_eq!(report["master_disruption"], false);
    let instants = eviction_instants(&events);
    assert!(instants.len() >= 6, "the knocked pins' pods are evicted: {instants:?}");
    let interval = interval_ms(NODE_EVICTION_RATE);
    assert!(gaps(&instants).iter().all(|g| g % interval == 0), "one node per interval at most: {instants:?}");
    assert!(report["evicted"].as_u64().unwrap() > 0, "{report:#}");
}
