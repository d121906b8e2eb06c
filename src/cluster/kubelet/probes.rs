//! Readiness and liveness probes in the simulated kubelet, their outcomes scripted by a pod
//! annotation so a lane can show what a failing probe does.
//!
//! `pinsetter.dev/probe-script` holds clauses separated by `;`:
//!
//! ```text
//! <readiness|liveness> fail from <time> [for <duration>] [in <container>]
//! ```
//!
//! Times count from when the pod's containers first ran (game time, not scaled by the preset),
//! so `liveness fail from 40s for 10s` fails the probe from 40 s to 50 s after start, and
//! `readiness fail from 20s` keeps it failing from 20 s on. A clause without `in` applies to
//! every container with that probe. A probe no clause fails always succeeds. The probes' own
//! timings (`initialDelaySeconds`, `periodSeconds`, thresholds) are the container's, on the
//! preset's scale (Arcade runs them 20 times faster, as it does the kubelet's heartbeats).
//!
//! Each probe runs on its period as a timed task of the pod's sync (never a scan of every pod),
//! and only while a script could change its outcome.

use super::{COMPONENT, Context};
use crate::clock::{Millis, parse_duration};
use crate::cluster::objects::meta::Annotations;
use crate::cluster::objects::pod::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, PodCondition,
    Probe,
};
use crate::cluster::objects::{FieldError, Kind, Pod};
use crate::cluster::store::{ObjectKey, StoreError};
use std::collections::BTreeMap;

pub const PROBE_SCRIPT_ANNOTATION: &str = "pinsetter.dev/probe-script";

/// Upstream's container restart back-off: 10 s, doubled per restart, at most 5 minutes.
const BACKOFF_INITIAL_SECS: u64 = 10;
const BACKOFF_MAX_SECS: u64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProbeKind {
    Readiness,
    Liveness,
}

impl ProbeKind {
    fn title(self) -> &'static str {
        match self {
            ProbeKind::Readiness => "Readiness",
            ProbeKind::Liveness => "Liveness",
        }
    }

    fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
        }
    }
}

/// One clause: the probe fails in `[from, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub probe: ProbeKind,
    pub from: Millis,
    pub until: Option<Millis>,
    pub container: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeScript {
    pub clauses: Vec<Clause>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("clause {0:?}: expected `<readiness|liveness> fail from <time> [for <duration>] [in <container>]`")]
    Shape(String),
    #[error("clause {clause:?}: {why}")]
    Duration { clause: String, why: String },
    #[error("clause {clause:?}: no container {container:?} in the pod")]
    NoContainer { clause: String, container: String },
    #[error("clause {clause:?}: no container has a {probe}Probe")]
    NoProbe { clause: String, probe: &'static str },
}

impl ProbeScript {
    pub fn parse(text: &str) -> Result<ProbeScript, ScriptError> {
        let mut clauses = Vec::new();
        for raw in text.split(';').map(str::trim).filter(|c| !c.is_empty()) {
            let words: Vec<&str> = raw.split_whitespace().collect();
            let shape = || ScriptError::Shape(raw.to_string());
            let probe = match words.first() {
                Some(&"readiness") => ProbeKind::Readiness,
                Some(&"liveness") => ProbeKind::Liveness,
                _ => return Err(shape()),
            };
            if words.get(1..3) != Some(&["fail", "from"][..]) {
                return Err(shape());
            }
            let duration = |word: Option<&&str>| {
                let word = word.ok_or_else(shape)?;
                parse_duration(word).map_err(|why| ScriptError::Duration { clause: raw.to_string(), why })
            };
            let from = duration(words.get(3))?;
            let mut rest = &words[4..];
            let mut until = None;
            if rest.first() == Some(&"for") {
                until = Some(from + duration(rest.get(1))?);
                rest = rest.get(2..).ok_or_else(shape)?;
            }
            let container = match rest {
                [] => None,
                ["in", name] => Some((*name).to_string()),
                _ => return Err(shape()),
            };
            clauses.push(Clause { probe, from, until, container });
        }
        Ok(ProbeScript { clauses })
    }

    /// Whether `probe` of `container` fails `since_start` after the pod's containers first ran.
    pub fn fails(&self, probe: ProbeKind, container: &str, since_start: Millis) -> bool {
        self.clauses.iter().any(|c| {
            c.probe == probe
                && c.container.as_deref().is_none_or(|n| n == container)
                && c.from <= since_start
                && c.until.is_none_or(|u| since_start < u)
        })
    }

    /// The pod's script, if it has one that parses (admission refused any other).
    pub fn of(pod: &Pod) -> Option<ProbeScript> {
        let text = pod.metadata.annotations.get(PROBE_SCRIPT_ANNOTATION)?;
        ProbeScript::parse(text).ok().filter(|s| !s.clauses.is_empty())
    }

    /// The script checked against the pod's containers: each clause names a container that
    /// exists and a probe some container it applies to defines.
    fn check(&self, containers: &[Container]) -> Result<(), ScriptError> {
        for (clause, raw) in self.clauses.iter().zip(0..) {
            let text = format!("clause {}", raw + 1);
            let applies: Vec<&Container> =
                containers.iter().filter(|c| clause.container.as_deref().is_none_or(|n| n == c.name)).collect();
            if let Some(name) = &clause.container
                && applies.is_empty()
            {
                return Err(ScriptError::NoContainer { clause: text, container: name.clone() });
            }
            if !applies.iter().any(|c| clause.probe.of(c).is_some()) {
                let probe = match clause.probe {
                    ProbeKind::Readiness => "readiness",
                    ProbeKind::Liveness => "liveness",
                };
                return Err(ScriptError::NoProbe { clause: text, probe });
            }
        }
        Ok(())
    }
}

/// Admission: a probe script must parse and fit the pod's containers (`annotations_field` is
/// where the pod's annotations are, for the error's field path).
pub fn validate(
    annotations_field: &str,
    annotations: &Annotations,
    containers: &[Container],
    errors: &mut Vec<FieldError>,
) {
    let Some(text) = annotations.get(PROBE_SCRIPT_ANNOTATION) else { return };
    if let Err(why) = ProbeScript::parse(text).and_then(|s| s.check(containers)) {
        errors.push(FieldError::new(
            format!("{annotations_field}[{PROBE_SCRIPT_ANNOTATION}]"),
            format!("Invalid value: {text:?}: {why}"),
        ));
    }
}

/// A probe's seconds on the preset's scale (Arcade: 1/20, as its heartbeat is to upstream's 10 s).
fn scaled(seconds: u64, ctx: &Context) -> Millis {
    Millis(seconds * ctx.timing.heartbeat.0 / 10)
}

/// One probe of one container as the kubelet's prober worker keeps it.
#[derive(Debug, Clone)]
struct Worker {
    kind: ProbeKind,
    period: Millis,
    success_threshold: u32,
    failure_threshold: u32,
    next_at: Millis,
    successes: u32,
    failures: u32,
}

impl Worker {
    fn new(kind: ProbeKind, probe: &Probe, run_started: Millis, ctx: &Context) -> Worker {
        let secs = |s: i32| u64::try_from(s).unwrap_or(0);
        Worker {
            kind,
            period: scaled(secs(probe.period_seconds()), ctx).max(Millis(1)),
            success_threshold: u32::try_from(probe.success_threshold()).unwrap_or(1),
            failure_threshold: u32::try_from(probe.failure_threshold()).unwrap_or(3),
            next_at: run_started + scaled(secs(probe.initial_delay_seconds()), ctx),
            successes: 0,
            failures: 0,
        }
    }
}

#[derive(Debug, Clone)]
struct ContainerProbes {
    workers: Vec<Worker>,
    ready: bool,
    /// Killed by its liveness probe: when it starts again.
    restart_at: Option<Millis>,
    /// Liveness kills so far, for the back-off.
    kills: u32,
}

/// The probes of one running pod.
#[derive(Debug, Clone)]
pub struct PodProbes {
    script: ProbeScript,
    /// When the containers first ran: the script's clock.
    first_started: Millis,
    containers: BTreeMap<String, ContainerProbes>,
}

/// What a probe round asks the kubelet to write.
#[derive(Default)]
struct Writes {
    readiness: BTreeMap<String, bool>,
    killed: Vec<(String, Millis)>,
    restarted: Vec<String>,
}

impl PodProbes {
    /// The probes of a pod whose containers just ran, or `None` when there is nothing to run:
    /// no script (every probe would pass at once and forever; the containers start ready).
    pub fn start(pod: &Pod, ctx: &Context) -> Option<PodProbes> {
        let script = ProbeScript::of(pod)?;
        let containers = pod
            .spec
            .containers
            .iter()
            .map(|c| {
                let workers = [ProbeKind::Readiness, ProbeKind::Liveness]
                    .into_iter()
                    .filter_map(|k| k.of(c).map(|p| Worker::new(k, p, ctx.now, ctx)))
                    .collect::<Vec<_>>();
                let ready = c.readiness_probe.is_none();
                (c.name.clone(), ContainerProbes { workers, ready, restart_at: None, kills: 0 })
            })
            .collect();
        Some(PodProbes { script, first_started: ctx.now, containers })
    }

    /// Containers that start unready: those with a readiness probe, until it first passes.
    pub fn unready_at_start(pod: &Pod) -> Vec<String> {
        if ProbeScript::of(pod).is_none() {
            return Vec::new();
        }
        pod.spec.containers.iter().filter(|c| c.readiness_probe.is_some()).map(|c| c.name.clone()).collect()
    }

    /// When a probe (or a restart) is next due.
    pub fn next_at(&self) -> Option<Millis> {
        self.containers
            .values()
            .flat_map(|c| {
                c.restart_at.into_iter().chain(c.workers.iter().filter(|_| c.restart_at.is_none()).map(|w| w.next_at))
            })
            .min()
    }

    /// Runs every probe that is due, writes what changed, and returns when to come back.
    pub fn run(&mut self, key: &ObjectKey, ctx: &mut Context) -> Result<Option<Millis>, StoreError> {
        let Some(pod) = ctx.store.get::<Pod>(key) else { return Ok(None) };
        let since_start = ctx.now.saturating_sub(self.first_started);
        let mut writes = Writes::default();
        let mut unhealthy: Vec<String> = Vec::new();
        let mut killing: Vec<String> = Vec::new();
        let pod_ip = pod.status.pod_ip.clone().unwrap_or_default();
        for (name, state) in &mut self.containers {
            if let Some(at) = state.restart_at {
                if ctx.now < at {
                    continue;
                }
                writes.restarted.push(name.clone());
                restart(name, state, pod, ctx);
                continue;
            }
            let mut killed = false;
            for w in &mut state.workers {
                if ctx.now < w.next_at || killed {
                    continue;
                }
                w.next_at = ctx.now + w.period;
                let failed = self.script.fails(w.kind, name, since_start);
                if failed {
                    w.failures += 1;
                    w.successes = 0;
                    let handler = pod.spec.containers.iter().find(|c| c.name == *name).and_then(|c| w.kind.of(c));
                    unhealthy.push(format!("{} probe failed: {}", w.kind.title(), failure_output(handler, &pod_ip)));
                } else {
                    w.successes += 1;
                    w.failures = 0;
                }
                match w.kind {
                    ProbeKind::Readiness if !failed && !state.ready && w.successes >= w.success_threshold => {
                        state.ready = true;
                        writes.readiness.insert(name.clone(), true);
                    }
                    ProbeKind::Readiness if failed && state.ready && w.failures >= w.failure_threshold => {
                        state.ready = false;
                        writes.readiness.insert(name.clone(), false);
                    }
                    ProbeKind::Liveness if failed && w.failures >= w.failure_threshold => {
                        killed = true;
                        state.kills += 1;
                        // Upstream restarts at once the first time, then backs off 10 s, 20 s, ...
                        let backoff = match state.kills {
                            1 => Millis(0),
                            n => scaled((BACKOFF_INITIAL_SECS << (n - 2).min(5)).min(BACKOFF_MAX_SECS), ctx),
                        };
                        state.restart_at = (backoff.0 > 0).then_some(ctx.now + backoff);
                        state.ready = false;
                        writes.killed.push((name.clone(), backoff));
                        killing.push(format!("Container {name} failed liveness probe, will be restarted"));
                    }
                    _ => {}
                }
            }
            if killed && state.restart_at.is_none() {
                // Restarted at once: its probes start over, as for a new container.
                restart(name, state, pod, ctx);
            }
        }
        let meta = pod.metadata.clone();
        for message in unhealthy {
            ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Warning", "Unhealthy", message, COMPONENT);
        }
        for message in killing {
            ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Normal", "Killing", message, COMPONENT);
        }
        if !writes.readiness.is_empty() || !writes.killed.is_empty() || !writes.restarted.is_empty() {
            self.write(key, &writes, ctx)?;
        }
        Ok(self.next_at())
    }

    fn write(&self, key: &ObjectKey, writes: &Writes, ctx: &mut Context) -> Result<(), StoreError> {
        let stamp = ctx.store.epoch().stamp_compact(ctx.now);
        let heartbeat = ctx.timing.heartbeat;
        let ready: BTreeMap<&str, bool> = self.containers.iter().map(|(n, c)| (n.as_str(), c.ready)).collect();
        let pod = ctx.store.modify::<Pod>(key, |p| {
            let pod_name = format!("{}_{}({})", p.metadata.name, p.metadata.namespace(), p.metadata.uid);
            for cs in &mut p.status.container_statuses {
                if let Some(&r) = ready.get(cs.name.as_str()) {
                    cs.ready = r;
                }
                if let Some((_, backoff)) = writes.killed.iter().find(|(n, _)| *n == cs.name) {
                    cs.last_state = ContainerState {
                        terminated: Some(ContainerStateTerminated {
                            exit_code: 137,
                            reason: "Error".into(),
                            started_at: cs.state.running.as_ref().and_then(|r| r.started_at.clone()),
                            finished_at: Some(stamp.clone()),
                        }),
                        ..Default::default()
                    };
                    cs.started = Some(false);
                    if backoff.0 > 0 {
                        cs.state = ContainerState {
                            waiting: Some(ContainerStateWaiting {
                                reason: "CrashLoopBackOff".into(),
                                message: compact_str::format_compact!(
                                    "back-off {} restarting failed container={} pod={pod_name}",
                                    go_duration(*backoff, heartbeat),
                                    cs.name
                                ),
                            }),
                            ..Default::default()
                        };
                    }
                }
                if writes.restarted.iter().any(|r| *r == cs.name)
                    || writes.killed.iter().any(|(n, b)| *n == cs.name && b.0 == 0)
                {
                    cs.restart_count += 1;
                    cs.started = Some(true);
                    cs.state = ContainerState {
                        running: Some(ContainerStateRunning { started_at: Some(stamp.clone()) }),
                        ..Default::default()
                    };
                }
            }
            set_ready_conditions(p, &stamp);
        })?;
        let meta = pod.metadata.clone();
        for (name, backoff) in &writes.killed {
            if backoff.0 > 0 {
                let message = format!("Back-off restarting failed container {name} in pod {}", pod_ref(&pod));
                ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Warning", "BackOff", message, COMPONENT);
            } else {
                let message = format!("Started container {name}");
                ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Normal", "Started", message, COMPONENT);
            }
        }
        for name in &writes.restarted {
            let message = format!("Started container {name}");
            ctx.recorder.record(ctx.now, Kind::Pod, &meta, "Normal", "Started", message, COMPONENT);
        }
        Ok(())
    }
}

/// A container starts again: not yet ready if it has a readiness probe, its probes timed anew.
fn restart(name: &str, state: &mut ContainerProbes, pod: &Pod, ctx: &Context) {
    state.restart_at = None;
    let Some(container) = pod.spec.containers.iter().find(|c| c.name == name) else { return };
    state.ready = container.readiness_probe.is_none();
    for w in &mut state.workers {
        if let Some(probe) = w.kind.of(container) {
            *w = Worker::new(w.kind, probe, ctx.now, ctx);
        }
    }
}

/// `name_namespace(uid)`, as the kubelet names a pod in its messages.
fn pod_ref(pod: &Pod) -> String {
    format!("{}_{}({})", pod.metadata.name, pod.metadata.namespace(), pod.metadata.uid)
}

/// A back-off as Go prints a duration (`10s`, `1m20s`, `5m0s`), in upstream's seconds.
fn go_duration(backoff: Millis, heartbeat: Millis) -> String {
    let secs = backoff.0 * 10 / heartbeat.0.max(1);
    if secs < 60 { format!("{secs}s") } else { format!("{}m{}s", secs / 60, secs % 60) }
}

/// What a failed probe's handler reports, as the kubelet's prober words it.
fn failure_output(probe: Option<&Probe>, pod_ip: &str) -> String {
    let Some(probe) = probe else { return String::new() };
    if probe.extra.contains_key("httpGet") {
        return "HTTP probe failed with statuscode: 503".into();
    }
    if let Some(port) = probe.extra.get("tcpSocket").and_then(|t| t.get("port")) {
        let port = port.as_str().map_or_else(|| port.to_string(), str::to_string);
        return format!("dial tcp {pod_ip}:{port}: connect: connection refused");
    }
    if let Some(exec) = &probe.exec {
        return format!("command {:?} exited with 1", exec.command.join(" "));
    }
    String::new()
}

/// `Ready` and `ContainersReady` from the containers' `ready`, as the kubelet's status manager
/// sets them (`ContainersNotReady` naming the unready ones).
pub fn set_ready_conditions(pod: &mut Pod, stamp: &str) {
    let unready: Vec<&str> =
        pod.status.container_statuses.iter().filter(|c| !c.ready).map(|c| c.name.as_str()).collect();
    let (status, reason, message) = if unready.is_empty() {
        ("True", String::new(), String::new())
    } else {
        ("False", "ContainersNotReady".to_string(), format!("containers with unready status: [{}]", unready.join(" ")))
    };
    for type_ in ["Ready", "ContainersReady"] {
        let condition = PodCondition {
            type_: type_.into(),
            status: status.into(),
            last_transition_time: Some(stamp.into()),
            reason: reason.as_str().into(),
            message: message.as_str().into(),
        };
        match pod.status.conditions.iter_mut().find(|c| c.type_ == type_) {
            Some(c) if c.status == status => {
                c.reason = reason.as_str().into();
                c.message = message.as_str().into();
            }
            Some(c) => *c = condition,
            None => pod.status.conditions.push(condition),
        }
    }
}

/// How long a pod's `preStop` hooks run, in game seconds: `pinsetter.dev/prestop-seconds` when
/// set; otherwise the hook's own sleep (a `sleep` action, or `exec: [sleep, N]`), else 0 (it
/// returns at once). `None` when no container has a preStop hook.
pub const PRESTOP_SECONDS_ANNOTATION: &str = "pinsetter.dev/prestop-seconds";

/// The pod's preStop hook time, and the grace period it must fit in (both in game seconds).
pub struct PreStop {
    pub hook: u64,
    pub grace: u64,
}

impl PreStop {
    pub fn of(pod: &Pod) -> Option<PreStop> {
        let hooks: Vec<&crate::cluster::objects::pod::LifecycleHandler> =
            pod.spec.containers.iter().filter_map(|c| c.lifecycle.as_ref()?.pre_stop.as_ref()).collect();
        if hooks.is_empty() {
            return None;
        }
        let scripted = pod.metadata.annotations.get(PRESTOP_SECONDS_ANNOTATION).and_then(|s| s.trim().parse().ok());
        let own_sleep = |h: &crate::cluster::objects::pod::LifecycleHandler| {
            let action = h.extra.get("sleep").and_then(|s| s.get("seconds")).and_then(serde_json::Value::as_u64);
            let exec = h.exec.as_ref().and_then(|e| match e.command.as_slice() {
                [sleep, n] if sleep == "sleep" || sleep.ends_with("/sleep") => n.parse().ok(),
                _ => None,
            });
            action.or(exec).unwrap_or(0)
        };
        let hook = scripted.unwrap_or_else(|| hooks.iter().map(|h| own_sleep(h)).max().unwrap_or(0));
        let grace =
            pod.metadata.deletion_grace_period_seconds.or(pod.spec.termination_grace_period_seconds).unwrap_or(30);
        Some(PreStop { hook, grace: u64::try_from(grace).unwrap_or(0) })
    }

    /// How long the pod stays Terminating for its hooks: the hook, cut off at the grace period.
    pub fn delay(&self) -> Millis {
        Millis(self.hook.min(self.grace) * 1000)
    }

    /// The hook was still running when the grace period ran out (and the container was killed).
    pub fn outlived_grace(&self) -> bool {
        self.hook > self.grace && self.grace > 0
    }
}

/// Admission: `pinsetter.dev/prestop-seconds` is a whole number of seconds.
pub fn validate_pre_stop(annotations_field: &str, annotations: &Annotations, errors: &mut Vec<FieldError>) {
    let Some(text) = annotations.get(PRESTOP_SECONDS_ANNOTATION) else { return };
    if text.trim().parse::<u64>().is_err() {
        errors.push(FieldError::new(
            format!("{annotations_field}[{PRESTOP_SECONDS_ANNOTATION}]"),
            format!("Invalid value: {text:?}: must be a whole number of seconds, e.g. \"5\""),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_grammar_reads_windows_and_containers() {
        let s = ProbeScript::parse("readiness fail from 20s; liveness fail from 40s for 10s in web").unwrap();
        assert!(!s.fails(ProbeKind::Readiness, "web", Millis(19_999)));
        assert!(s.fails(ProbeKind::Readiness, "sidecar", Millis(20_000)));
        assert!(s.fails(ProbeKind::Readiness, "web", Millis(999_000)), "no `for`: fails from then on");
        assert!(s.fails(ProbeKind::Liveness, "web", Millis(45_000)));
        assert!(!s.fails(ProbeKind::Liveness, "web", Millis(50_000)), "the window ends");
        assert!(!s.fails(ProbeKind::Liveness, "sidecar", Millis(45_000)), "only the named container");
    }

    #[test]
    fn bad_scripts_say_what_is_wrong() {
        for bad in
            ["readiness flaky from 2s", "startup fail from 1s", "liveness fail from soon", "liveness fail from 2s for"]
        {
            assert!(ProbeScript::parse(bad).is_err(), "{bad}");
        }
        let web = Container { name: "web".into(), readiness_probe: Some(Probe::default()), ..Default::default() };
        let script = ProbeScript::parse("liveness fail from 2s").unwrap();
        assert_eq!(
            script.check(std::slice::from_ref(&web)),
            Err(ScriptError::NoProbe { clause: "clause 1".into(), probe: "liveness" })
        );
        let script = ProbeScript::parse("readiness fail from 2s in db").unwrap();
        assert!(matches!(script.check(&[web]), Err(ScriptError::NoContainer { .. })));
    }

    #[test]
    fn pre_stop_seconds_must_be_whole_seconds() {
        let mut errors = Vec::new();
        let annotations = Annotations::from_iter([(PRESTOP_SECONDS_ANNOTATION.to_string(), "soon".to_string())]);
        validate_pre_stop("metadata.annotations", &annotations, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "metadata.annotations[pinsetter.dev/prestop-seconds]");
        errors.clear();
        let annotations = Annotations::from_iter([(PRESTOP_SECONDS_ANNOTATION.to_string(), "5".to_string())]);
        validate_pre_stop("metadata.annotations", &annotations, &mut errors);
        assert!(errors.is_empty());
    }
}
