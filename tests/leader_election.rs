//! Leader election of the control plane: the no-split-brain invariant and liveness over random
//! knocks, restores and partitions, and the lesson through the real binary (`sim --json`): a
//! deployment scaled while kube-scheduler has no leader stays Pending until a standby leads.

mod common;

use pinsetter::clock::{Millis, TICK_MS};
use pinsetter::cluster::events::EventRecorder;
use pinsetter::cluster::leader_election::{Component, LeaderElection};
use pinsetter::cluster::store::Store;
use pinsetter::cluster::timing::{Preset, Timing};
use proptest::prelude::*;
use serde_json::Value;

/// Something done to the control plane's replicas.
#[derive(Debug, Clone)]
enum Chaos {
    KnockLeader(Component),
    Restore(Component),
    /// Cut a replica off from the API server (or reconnect it): it keeps running but cannot
    /// renew, the case where a leader could go on acting after a standby took over.
    Isolate(Component, usize, bool),
}

fn chaos(replicas: usize) -> impl Strategy<Value = Chaos> {
    let component = prop_oneof![Just(Component::KubeScheduler), Just(Component::KubeControllerManager)];
    prop_oneof![
        component.clone().prop_map(Chaos::KnockLeader),
        component.clone().prop_map(Chaos::Restore),
        (component, 0..replicas, any::<bool>()).prop_map(|(c, i, on)| Chaos::Isolate(c, i, on)),
    ]
}

fn scripts() -> impl Strategy<Value = (usize, Preset, Vec<(u64, Chaos)>)> {
    (1usize..=4, prop_oneof![Just(Preset::Arcade), Just(Preset::Kubernetes)]).prop_flat_map(|(replicas, preset)| {
        // Gaps in ticks: from the same tick up to a few lease durations (kubernetes' 15 s is
        // 1,500 ticks).
        let gap = if preset == Preset::Arcade { 0u64..200 } else { 0u64..4_000 };
        (Just(replicas), Just(preset), prop::collection::vec((gap, chaos(replicas)), 0..12))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// At most one replica of a component leads (acts) in any tick, and while some replica is
    /// up and connected a leader exists within leaseDuration + 2 × retryPeriod of the last
    /// renewal it could have seen (a standby notices a renewal at its next retry, and takes the
    /// lease at the first retry once leaseDuration has passed).
    #[test]
    fn two_replicas_never_lead_at_once_and_a_live_replica_soon_leads((replicas, preset, script) in scripts()) {
        let timing = Timing::preset(preset);
        let mut election = LeaderElection::new(5, replicas).unwrap();
        let mut store = Store::new(5);
        let mut recorder = EventRecorder::new(&timing);
        let bound = timing.lease_duration.0 + 2 * timing.retry_period.0;
        // Per component: since when it has had no leader while some replica was live.
        let mut waiting_since: [Option<u64>; 2] = [None, None];
        // The script at absolute times (each gap counted in ticks from the previous action).
        let mut at = 0u64;
        let timed: Vec<(u64, Chaos)> = script.into_iter().map(|(gap, what)| { at += gap * TICK_MS; (at, what) }).collect();
        let end = at + bound + timing.renew_deadline.0 + timing.retry_period.0;
        let mut actions = timed.into_iter().peekable();
        let mut last_chaos = 0u64;
        let mut now = 0u64;
        while now <= end {
            while let Some((_, what)) = actions.next_if(|(at, _)| *at == now) {
                match what {
                    Chaos::KnockLeader(c) => {
                        election.knock_leader(c, Millis(now));
                    }
                    Chaos::Restore(c) => {
                        election.restore(c, Millis(now));
                    }
                    Chaos::Isolate(c, i, on) => election.isolate(c, i, on),
                }
                last_chaos = now;
            }
            election.step(&mut store, &mut recorder, Millis(now), &timing);
            for (slot, elected) in election.components().iter().enumerate() {
                let leading = elected.replicas.iter().filter(|r| r.is_leading()).count();
                prop_assert!(leading <= 1, "{} replicas of {} lead at {now} ms", leading, elected.component.name());
                let live = elected.replicas.iter().any(|r| r.alive && !r.isolated);
                if leading == 1 || !live {
                    waiting_since[slot] = None;
                } else {
                    let since = *waiting_since[slot].get_or_insert(now);
                    // A replica reconnected or restored meanwhile restarts its observation: the
                    // wait counts from the last chaos at the latest.
                    let from = since.max(last_chaos);
                    prop_assert!(
                        now - from <= bound,
                        "{} leaderless for {} ms with a live replica (bound {bound} ms)", elected.component.name(), now - from
                    );
                }
            }
            now += TICK_MS;
        }
        // With a live replica at the end, someone leads.
        for elected in election.components() {
            if elected.replicas.iter().any(|r| r.alive && !r.isolated) {
                prop_assert!(elected.leader().is_some(), "{} has no leader at the end", elected.component.name());
            }
        }
    }
}

fn sim_json(args: &[&str]) -> Value {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = common::pinsetter(&all);
    assert!(out.status.success(), "pinsetter {all:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("sim --json prints JSON")
}

fn component<'a>(report: &'a Value, name: &str) -> &'a Value {
    let all = report["leader_election"].as_array().unwrap_or_else(|| panic!("no leader_election in {report:#}"));
    all.iter().find(|c| c["component"] == name).unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[test]
fn pods_scaled_while_the_scheduler_has_no_leader_stay_pending_until_a_standby_leads() {
    // web runs 12 replicas on the ha lane; at 5 s the scheduler's leader is knocked and web is
    // scaled to 16. The standbys saw the lease renewed at 5 s: they may take it at 5.75 s.
    let script = ["--scenario", "ha", "--at", "5s knock-leader kube-scheduler", "--at", "5s scale web 16"];
    let during = sim_json(&[&script[..], &["--until", "5.7s"]].concat());
    assert_eq!(during["pending"], 4, "the new pods wait for a scheduler: {during:#}");
    let scheduler = component(&during, "kube-scheduler");
    assert_eq!(scheduler["replicas"], 3);
    assert!(scheduler["leader"].is_null(), "{scheduler:#}");
    assert_eq!(scheduler["longest_leaderless_ms"], 700);
    // The controller manager was not knocked: it made the pods.
    assert!(component(&during, "kube-controller-manager")["leader"].as_str().unwrap().starts_with("pinsetter-cp-1_"));

    let after = sim_json(&[&script[..], &["--until", "8s"]].concat());
    assert_eq!(after["pending"], 0, "{after:#}");
    assert_eq!(after["running"], int(&during, "desired"), "{after:#}");
    let scheduler = component(&after, "kube-scheduler");
    assert!(scheduler["leader"].as_str().unwrap().starts_with("pinsetter-cp-2_"), "{scheduler:#}");
    assert_eq!(scheduler["leader_changes"], 2);
    assert_eq!(scheduler["longest_leaderless_ms"], 800);
    assert_eq!(component(&after, "kube-controller-manager")["leader_changes"], 1);
}

#[test]
fn one_replica_by_default_and_a_bad_count_is_refused() {
    let report = sim_json(&["--until", "1s"]);
    for name in ["kube-scheduler", "kube-controller-manager"] {
        let c = component(&report, name);
        assert_eq!((c["replicas"].as_i64(), c["leader_changes"].as_i64()), (Some(1), Some(1)), "{c:#}");
    }
    let out = common::pinsetter(&["sim", "--control-plane-replicas", "0"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--control-plane-replicas"));
}

fn int(report: &Value, field: &str) -> i64 {
    report[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer in {report:#}"))
}
