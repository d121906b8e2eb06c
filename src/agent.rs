//! `pinsetter pin --join URL --name NAME`: a pin running as its own process.
//!
//! A shell, like the terminal UI: it connects to a running `pinsetter serve` (or
//! `pinsetter play --listen`) over a WebSocket at `/pins/join`, registers its Node, heartbeats,
//! and runs the pods bound to it as simulated containers (created, then running after the
//! control plane's start-up delay, with a few lines of synthetic log each), reporting their state
//! in the pin protocol ([`protocol`]). The control plane sees the same writes as from a simulated
//! pin; only the node label `pinsetter.dev/agent=external` tells them apart.
//!
//! Lifecycle: a lost connection is retried with exponential backoff and jitter (the pods keep
//! running meanwhile, and the rejoin tells the server what runs, so it can drop what was deleted
//! while the pin was away). SIGINT or SIGTERM is a graceful leave: `drain` (cordon, evict), wait
//! for the pods to stop, `leave`. A knocked pin is told `stopHeartbeats`: the process stays up,
//! silent, until `resume`.
//!
//! Identity: the first join returns a node secret; the agent presents it on every rejoin (the
//! server refuses its name to anyone without it). It is kept in memory and in
//! `<data dir>/pins/<server>/<name>.secret` (mode 0600), so a restarted process can rejoin as
//! the same node; a graceful leave removes the file.

pub mod protocol;

use self::protocol::{AgentMessage, Capacity, ContainerSpec, PodPhase, PodRef, ServerMessage};
use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Run a pin as its own process, joined to a running control plane over WebSocket.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_help = "Example:\n  pinsetter serve --listen 127.0.0.1:8001 &\n  pinsetter pin --join http://127.0.0.1:8001 --name lane-a --cpu 4 --memory 8Gi --labels zone=a\n\nThe pin appears in `kubectl get nodes` with the label pinsetter.dev/agent=external and in GET /nodes.\nctrl-c (or SIGTERM) leaves gracefully: the node is cordoned, its pods evicted, then it leaves."
)]
pub struct PinArgs {
    /// The control plane to join: the http:// (or ws://) address of `pinsetter serve` or
    /// `pinsetter play --listen`. The pin socket is its `/pins/join`.
    #[arg(long, value_name = "URL")]
    pub join: String,
    /// The node's name (a DNS subdomain, unique in the cluster).
    #[arg(long)]
    pub name: String,
    /// CPU the pin offers, as a Kubernetes quantity (4, 2500m).
    #[arg(long, default_value = "4")]
    pub cpu: String,
    /// Memory the pin offers, as a Kubernetes quantity (8Gi, 512Mi).
    #[arg(long, default_value = "8Gi")]
    pub memory: String,
    /// How many pods the pin accepts.
    #[arg(long, default_value_t = 110)]
    pub pods: u32,
    /// Extra node labels, k=v,k=v.
    #[arg(long, value_delimiter = ',', value_parser = parse_label, value_name = "K=V,...")]
    pub labels: Vec<(String, String)>,
    /// The join token, when the server requires one (it is also sent as a bearer token).
    #[arg(long)]
    pub token: Option<String>,
    /// Heartbeat period (e.g. 2s, 500ms). By default the server's lease period (0.5 s with the
    /// arcade timing, 10 s with kubernetes): slower than the server's grace period means NotReady.
    #[arg(long, value_parser = parse_period)]
    pub heartbeat: Option<Duration>,
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not a label: expected key=value")),
    }
}

fn parse_period(text: &str) -> Result<Duration, String> {
    let millis = crate::clock::parse_duration(text)?;
    if millis.0 == 0 {
        return Err("the heartbeat period must be more than 0".into());
    }
    Ok(Duration::from_millis(millis.0))
}

/// Runs the pin until it leaves (signal) or the server refuses it for good.
pub fn run(args: PinArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init()
        .ok();
    let url = socket_url(&args.join)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move { Agent::new(args, url).run().await })
}

/// `http://host:port` → `ws://host:port/pins/join` (a ws:// URL with a path is used as given).
fn socket_url(join: &str) -> Result<String> {
    let (scheme, rest) = join.split_once("://").unwrap_or(("http", join));
    let scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => bail!("--join {join:?}: unsupported scheme {other:?} (use http:// or ws://)"),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        bail!("--join {join:?}: no host");
    }
    Ok(if rest.contains('/') { format!("{scheme}://{rest}") } else { format!("{scheme}://{rest}/pins/join") })
}

/// Where a pin's node secret is kept: per server and name, under the data directory
/// (`$PINSETTER_DATA_DIR`, else the platform's). None when there is no data directory.
fn secret_path(url: &str, name: &str) -> Option<std::path::PathBuf> {
    let base = match std::env::var_os("PINSETTER_DATA_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => dirs::data_dir()?.join("pinsetter"),
    };
    let safe = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '_' }).collect()
    };
    let server = url.split_once("://").map_or(url, |(_, rest)| rest);
    Some(base.join("pins").join(safe(server)).join(format!("{}.secret", safe(name))))
}

/// Writes the secret readable by its owner only, atomically (temp file, then rename).
fn write_secret(path: &std::path::Path, secret: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().context("the secret file has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let temp = path.with_extension("secret.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(secret.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming {} to {}", temp.display(), path.display()))
}

/// One simulated container group (a pod) on this pin.
#[derive(Debug, Clone)]
struct RunningPod {
    pod: PodRef,
    containers: Vec<ContainerSpec>,
    state: PodState,
}

#[derive(Debug, Clone, PartialEq)]
enum PodState {
    Creating { up_at: Instant },
    Running { ip: String },
    Stopping { gone_at: Instant },
}

/// How a connection ended.
enum Ended {
    /// Lost (or never made): retry.
    Lost { registered: bool, why: String },
    /// The server refused us for good.
    Refused(String),
    /// We left gracefully.
    Left,
}

struct Agent {
    args: PinArgs,
    url: String,
    /// The node secret from the first `registered` (or a previous process, via `secret_file`).
    node_secret: Option<String>,
    secret_file: Option<std::path::PathBuf>,
    pods: BTreeMap<(String, String), RunningPod>,
    next_ip: u32,
    shutdown: tokio::sync::watch::Receiver<bool>,
}

/// Delays the server asked for.
#[derive(Debug, Clone, Copy)]
struct Delays {
    startup: Duration,
    termination: Duration,
}

impl Agent {
    fn new(args: PinArgs, url: String) -> Agent {
        let (tx, shutdown) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            let _ = tx.send(true);
        });
        let secret_file = secret_path(&url, &args.name);
        let node_secret = secret_file
            .as_deref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        Agent { args, url, node_secret, secret_file, pods: BTreeMap::new(), next_ip: 2, shutdown }
    }

    /// Keeps the secret for a restarted process. Failing to is not fatal: this process still
    /// holds it in memory, only a restart would lose the name.
    fn store_secret(&mut self, secret: String) {
        if let Some(path) = &self.secret_file
            && let Err(e) = write_secret(path, &secret)
        {
            tracing::warn!(
                "cannot keep the node secret in {}: {e:#} (a restarted pin could not rejoin as {})",
                path.display(),
                self.args.name
            );
        }
        self.node_secret = Some(secret);
    }

    /// After a graceful leave the server has forgotten the node: the secret is of no more use.
    fn forget_secret(&mut self) {
        self.node_secret = None;
        if let Some(path) = &self.secret_file
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }

    async fn run(mut self) -> Result<()> {
        const FIRST: Duration = Duration::from_millis(200);
        const MAX: Duration = Duration::from_secs(10);
        let mut backoff = FIRST;
        loop {
            match self.connect_once().await {
                Ended::Left => {
                    self.forget_secret();
                    eprintln!("pinsetter pin: {} left the cluster", self.args.name);
                    return Ok(());
                }
                Ended::Refused(why) => {
                    let kept = match (&self.secret_file, why.contains("node secret")) {
                        (Some(path), true) => format!(" (this pin's secret is kept in {})", path.display()),
                        _ => String::new(),
                    };
                    bail!("the control plane refused pin {}: {why}{kept}", self.args.name)
                }
                Ended::Lost { registered, why } => {
                    if registered {
                        backoff = FIRST;
                    }
                    let wait = jitter(backoff);
                    tracing::warn!(
                        pin = self.args.name,
                        "connection lost ({why}); retrying in {} ms",
                        wait.as_millis()
                    );
                    backoff = (backoff * 2).min(MAX);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.shutdown.wait_for(|stop| *stop) => {
                            eprintln!("pinsetter pin: {} stopped while disconnected", self.args.name);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// One connection, from connect to its end.
    async fn connect_once(&mut self) -> Ended {
        let lost = |why: String| Ended::Lost { registered: false, why };
        let mut request = match self.url.as_str().into_client_request() {
            Ok(r) => r,
            Err(e) => return Ended::Refused(format!("bad URL {}: {e}", self.url)),
        };
        if let Some(token) = &self.args.token
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.headers_mut().insert("authorization", value);
        }
        let socket =
            match tokio::time::timeout(Duration::from_secs(10), tokio_tungstenite::connect_async(request)).await {
                Ok(Ok((socket, _))) => socket,
                Ok(Err(e)) => return lost(format!("cannot connect to {}: {e}", self.url)),
                Err(_) => return lost(format!("connecting to {} timed out", self.url)),
            };
        let address = match socket.get_ref() {
            tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.local_addr().ok().map(|a| a.to_string()),
            _ => None,
        };
        let (mut tx, mut rx) = socket.split();
        let register = AgentMessage::Register {
            node: self.args.name.clone(),
            capacity: Capacity { cpu: self.args.cpu.clone(), memory: self.args.memory.clone(), pods: self.args.pods },
            labels: self.args.labels.iter().cloned().collect(),
            token: self.args.token.clone(),
            pods: self.pods.values().map(|p| p.pod.clone()).collect(),
            address,
            node_secret: self.node_secret.clone(),
        };
        if let Err(e) = tx.send(text(&register)).await {
            return lost(format!("sending register: {e}"));
        }
        let mut delays: Option<Delays> = None;
        let mut silent = false;
        let mut seq = 0u64;
        let mut sent_at: BTreeMap<u64, Instant> = BTreeMap::new();
        let mut draining: Option<Instant> = None;
        let mut heartbeat = tokio::time::interval(Duration::from_secs(3600));
        let mut containers = tokio::time::interval(Duration::from_millis(50));
        containers.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shutdown = self.shutdown.clone();
        loop {
            let mut out: Vec<AgentMessage> = Vec::new();
            tokio::select! {
                frame = rx.next() => {
                    let text_frame = match frame {
                        Some(Ok(Message::Text(t))) => t.to_string(),
                        Some(Ok(Message::Close(_))) | None => {
                            return Ended::Lost { registered: delays.is_some(), why: "the server closed the connection".into() }
                        }
                        Some(Err(e)) => return Ended::Lost { registered: delays.is_some(), why: e.to_string() },
                        Some(Ok(_)) => continue,
                    };
                    let message = match protocol::decode::<ServerMessage>(&text_frame) {
                        Ok(m) => m,
                        Err(e) => {
                            tracing::warn!("ignoring a frame from the server: {e}");
                            continue;
                        }
                    };
                    match message {
                        ServerMessage::Registered { node, session, heartbeat_ms, startup_ms, termination_ms, node_secret } => {
                            if let Some(secret) = node_secret {
                                self.store_secret(secret);
                            }
                            let server_period = Duration::from_millis(heartbeat_ms.max(1));
                            let period = self.args.heartbeat.unwrap_or(server_period);
                            if period > server_period {
                                tracing::warn!("--heartbeat {period:?} is slower than the server's lease period {server_period:?}: the node may go NotReady");
                            }
                            delays = Some(Delays {
                                startup: Duration::from_millis(startup_ms),
                                termination: Duration::from_millis(termination_ms),
                            });
                            heartbeat = tokio::time::interval(period);
                            heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                            eprintln!("pinsetter pin: joined {} as {node} (session {session}, heartbeat every {} ms)", self.url, period.as_millis());
                            // Re-report what runs, so a rejoin after a cut shows it Running again.
                            out.extend(self.running_reports());
                        }
                        ServerMessage::HeartbeatAck { seq } => {
                            if let Some(at) = sent_at.remove(&seq) {
                                tracing::debug!(seq, rtt_us = at.elapsed().as_micros() as u64, "heartbeat acknowledged");
                            }
                        }
                        ServerMessage::BindPod { pod, containers } => {
                            let startup = delays.map_or(Duration::ZERO, |d| d.startup);
                            out.extend(self.bind(pod, containers, startup));
                        }
                        ServerMessage::DeletePod { pod } => {
                            let termination = delays.map_or(Duration::ZERO, |d| d.termination);
                            out.extend(self.delete(pod, termination));
                        }
                        ServerMessage::StopHeartbeats { reason } => {
                            tracing::warn!(pin = self.args.name, "stopping heartbeats: {reason}");
                            silent = true;
                        }
                        ServerMessage::Resume {} => {
                            tracing::info!(pin = self.args.name, "resuming heartbeats");
                            silent = false;
                            heartbeat.reset_immediately();
                            out.extend(self.running_reports());
                        }
                        ServerMessage::Error { message, fatal } => {
                            if fatal {
                                return Ended::Refused(message);
                            }
                            tracing::warn!("the server says: {message}");
                        }
                    }
                }
                _ = heartbeat.tick(), if delays.is_some() && !silent => {
                    seq += 1;
                    sent_at.insert(seq, Instant::now());
                    while sent_at.len() > 64 {
                        sent_at.pop_first();
                    }
                    out.push(AgentMessage::Heartbeat { seq });
                }
                _ = containers.tick(), if !silent => {
                    out.extend(self.advance());
                    if let Some(deadline) = draining
                        && (self.pods.is_empty() || Instant::now() >= deadline)
                    {
                        let _ = tx.send(text(&AgentMessage::Leave {})).await;
                        // Wait briefly for the server to close (it has processed leave by then).
                        let _ = tokio::time::timeout(Duration::from_secs(2), async { while rx.next().await.is_some() {} }).await;
                        return Ended::Left;
                    }
                }
                _ = shutdown.wait_for(|stop| *stop), if draining.is_none() => {
                    if delays.is_none() {
                        return Ended::Left;
                    }
                    eprintln!("pinsetter pin: {} leaving: cordon, evict its pods, then leave", self.args.name);
                    draining = Some(Instant::now() + Duration::from_secs(10));
                    out.push(AgentMessage::Drain {});
                }
            }
            for message in out {
                if let Err(e) = tx.send(text(&message)).await {
                    return Ended::Lost { registered: delays.is_some(), why: e.to_string() };
                }
            }
        }
    }

    fn bind(&mut self, pod: PodRef, containers: Vec<ContainerSpec>, startup: Duration) -> Vec<AgentMessage> {
        let key = (pod.namespace.clone(), pod.name.clone());
        if self.pods.get(&key).is_some_and(|p| p.pod.uid == pod.uid) {
            return Vec::new();
        }
        for c in &containers {
            tracing::info!("{}/{}: pulling {} ... creating container {}", pod.namespace, pod.name, c.image, c.name);
        }
        let report = AgentMessage::PodStatus { pod: pod.clone(), phase: PodPhase::Pending, pod_ip: None };
        self.pods
            .insert(key, RunningPod { pod, containers, state: PodState::Creating { up_at: Instant::now() + startup } });
        vec![report]
    }

    fn delete(&mut self, pod: PodRef, termination: Duration) -> Vec<AgentMessage> {
        let key = (pod.namespace.clone(), pod.name.clone());
        match self.pods.get_mut(&key) {
            Some(p) if p.pod.uid == pod.uid || pod.uid.is_empty() => {
                if !matches!(p.state, PodState::Stopping { .. }) {
                    for c in &p.containers {
                        tracing::info!("{}/{}: stopping container {} (SIGTERM)", pod.namespace, pod.name, c.name);
                    }
                    p.state = PodState::Stopping { gone_at: Instant::now() + termination };
                }
                Vec::new()
            }
            // Not ours (any more): nothing to stop, say so at once.
            _ => vec![AgentMessage::PodDeleted { pod }],
        }
    }

    /// Moves containers along: created ones come up, stopping ones go.
    fn advance(&mut self) -> Vec<AgentMessage> {
        let now = Instant::now();
        let mut out = Vec::new();
        let mut gone = Vec::new();
        for (key, p) in &mut self.pods {
            match p.state {
                PodState::Creating { up_at } if now >= up_at => {
                    let ip = format!("10.245.{}.{}", self.next_ip / 250 % 250, self.next_ip % 250 + 2);
                    self.next_ip += 1;
                    for c in &p.containers {
                        tracing::info!("{}/{} [{}]: {} started on {}", key.0, key.1, c.name, c.image, self.args.name);
                        tracing::info!("{}/{} [{}]: ready to serve on {ip}:80", key.0, key.1, c.name);
                    }
                    p.state = PodState::Running { ip: ip.clone() };
                    out.push(AgentMessage::PodStatus {
                        pod: p.pod.clone(),
                        phase: PodPhase::Running,
                        pod_ip: Some(ip),
                    });
                }
                PodState::Stopping { gone_at } if now >= gone_at => {
                    for c in &p.containers {
                        tracing::info!("{}/{} [{}]: exited 0", key.0, key.1, c.name);
                    }
                    gone.push(key.clone());
                    out.push(AgentMessage::PodDeleted { pod: p.pod.clone() });
                }
                _ => {}
            }
        }
        for key in gone {
            self.pods.remove(&key);
        }
        out
    }

    /// Running reports for every running pod (after a rejoin or a resume).
    fn running_reports(&self) -> Vec<AgentMessage> {
        self.pods
            .values()
            .filter_map(|p| match &p.state {
                PodState::Running { ip } => Some(AgentMessage::PodStatus {
                    pod: p.pod.clone(),
                    phase: PodPhase::Running,
                    pod_ip: Some(ip.clone()),
                }),
                _ => None,
            })
            .collect()
    }
}

fn text(message: &AgentMessage) -> Message {
    Message::Text(protocol::encode(message).into())
}

/// `base` ± 50 %, so a lane of pins that lost the server do not all knock at once.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mixed = (u64::from(nanos) ^ u64::from(std::process::id()).wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 1000;
    base.mul_f64(0.5 + mixed as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_urls_point_at_the_pin_socket() {
        assert_eq!(socket_url("http://127.0.0.1:8001").unwrap(), "ws://127.0.0.1:8001/pins/join");
        assert_eq!(socket_url("127.0.0.1:8001/").unwrap(), "ws://127.0.0.1:8001/pins/join");
        assert_eq!(socket_url("ws://h:1/custom").unwrap(), "ws://h:1/custom");
        assert!(socket_url("ftp://h").is_err());
    }

    #[test]
    fn jitter_stays_within_half_either_side() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j <= Duration::from_millis(1500));
        }
    }
}
