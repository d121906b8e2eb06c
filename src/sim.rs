//! `pinsetter sim`: run a scenario headless, as fast as the CPU allows (virtual time, no
//! sleeping), with a script of timed actions, and report what the control plane did.

use crate::clock::{Millis, parse_duration};
use crate::cluster::events::EventRecord;
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::scenario::Scenario;
use crate::world::{Input, Output, PodCounts, World, WorldError};
use serde::Serialize;

/// One `--at` entry: when, and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub at: Millis,
    pub input: Input,
    /// As the user wrote it, for the timeline.
    pub text: String,
}

/// Parses `5s knock pin-3`, `40s reset`, `10s restore pin-3`, `12s scale web 20`,
/// `3s cordon pin-2`, `3s uncordon pin-2`, `4s delete-pod web-abcde`.
pub fn parse_action(text: &str) -> Result<Action, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let usage = "expected '<time> <action>', e.g. '5s knock pin-3'. Actions: knock NODE, restore NODE, reset, scale DEPLOYMENT REPLICAS, cordon NODE, uncordon NODE, delete-pod POD";
    let [time, verb, args @ ..] = words.as_slice() else {
        return Err(format!("bad --at {text:?}: {usage}"));
    };
    let at = parse_duration(time).map_err(|e| format!("bad --at {text:?}: {e}"))?;
    let key = |name: &str| match name.split_once('/') {
        Some((ns, n)) => ObjectKey::new(ns, n),
        None => ObjectKey::new("default", name),
    };
    let input = match (*verb, args) {
        ("knock", [node]) => Input::Knock(node.to_string()),
        ("restore", [node]) => Input::Restore(node.to_string()),
        ("reset", []) => Input::ResetPins,
        ("cordon", [node]) => Input::Cordon { node: node.to_string(), unschedulable: true },
        ("uncordon", [node]) => Input::Cordon { node: node.to_string(), unschedulable: false },
        ("delete-pod", [pod]) => Input::DeletePod(key(pod)),
        ("scale", [deployment, replicas]) => {
            let replicas: i32 =
                replicas.parse().ok().filter(|r| *r >= 0).ok_or_else(|| {
                    format!("bad --at {text:?}: replicas must be a whole number ≥ 0, got {replicas:?}")
                })?;
            Input::Scale { deployment: key(deployment), replicas }
        }
        _ => return Err(format!("bad --at {text:?}: {usage}")),
    };
    Ok(Action { at, input, text: text.to_string() })
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// Nearest-rank percentiles.
    pub fn of(values: &[u64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let rank = |p: f64| sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Percentiles { count: sorted.len(), p50: rank(0.50), p99: rank(0.99), max: sorted[sorted.len() - 1] }
    }
}

/// What `sim --json` prints. Field meanings are documented in the README.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub seed: u64,
    pub timing: Preset,
    pub until_ms: u64,
    pub nodes: usize,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub creating: i64,
    pub terminating: i64,
    pub lost: i64,
    pub displaced: u64,
    pub evicted: u64,
    pub rescheduled: u64,
    pub recovery_ms: Percentiles,
    pub longest_pending_ms: u64,
    pub events: u64,
    pub resource_version: u64,
    pub digest: String,
}

/// Runs the scenario to `until`, applying `actions` at their times; calls `on_event` for every
/// event and note as it happens (the plain timeline).
pub fn run(
    scenario: &Scenario,
    seed: u64,
    timing: Preset,
    actions: &[Action],
    until: Millis,
    mut on_output: impl FnMut(&Output),
) -> Result<Report, WorldError> {
    let mut world = World::new(seed, timing, scenario)?;
    let mut script: Vec<&Action> = actions.iter().collect();
    script.sort_by_key(|a| a.at);
    let mut next = 0;
    loop {
        while next < script.len() && script[next].at <= world.now() {
            world.handle_input(script[next].input.clone())?;
            next += 1;
        }
        while let Some(output) = world.poll_output() {
            on_output(&output);
        }
        if world.now() >= until {
            break;
        }
        world.step();
    }
    let PodCounts { desired, running, pending, creating, terminating, lost } = world.pod_counts();
    let metrics = world.metrics();
    Ok(Report {
        scenario: scenario.origin.clone(),
        seed,
        timing,
        until_ms: until.0,
        nodes: world.pins().len(),
        desired,
        running,
        pending,
        creating,
        terminating,
        lost,
        displaced: metrics.displaced,
        evicted: metrics.evicted,
        rescheduled: metrics.rescheduled,
        recovery_ms: Percentiles::of(&metrics.recovery_ms),
        longest_pending_ms: metrics.longest_pending_ms,
        events: world.event_count(),
        resource_version: world.cluster().store.resource_version(),
        digest: world.digest(),
    })
}

/// A `kubectl get events`-style line.
pub fn format_event(e: &EventRecord) -> String {
    format!("{:>8}  {:<7}  {:<20}  {:<28}  {}", e.at.to_string(), e.type_, e.reason, e.object, e.message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_bad_ones_explain() {
        let a = parse_action("5s knock pin-3").unwrap();
        assert_eq!((a.at, a.input), (Millis(5000), Input::Knock("pin-3".into())));
        assert_eq!(parse_action("40s reset").unwrap().input, Input::ResetPins);
        assert_eq!(
            parse_action("1m scale web 20").unwrap().input,
            Input::Scale { deployment: ObjectKey::new("default", "web"), replicas: 20 }
        );
        for bad in ["", "5s", "knock pin-3", "5x knock pin-3", "5s explode pin-3", "5s scale web -1", "5s knock"] {
            let err = parse_action(bad).unwrap_err();
            assert!(err.starts_with("bad --at"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of(&[5, 1, 4, 2, 3]);
        assert_eq!((p.count, p.p50, p.p99, p.max), (5, 3, 5, 5));
        assert_eq!(Percentiles::of(&[]).count, 0);
    }
}
