//! The `pinsetter` command: argument parsing and the shells around the deterministic core.

#![forbid(unsafe_code)]

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pinsetter::clock::{Millis, parse_duration};
use pinsetter::cluster::scheduler::Policy;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::Output;
use pinsetter::{bench, sim};

/// mimalloc, not the system allocator: a cluster of 150,000 pods writes (and frees) a version of
/// a pod per status change, and glibc's malloc and free took a fifth of the CPU of a start-up.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A terminal bowling alley that is also a working miniature Kubernetes.
///
/// The ten pins are worker nodes; the pinsetter is the control plane. Knock pins down and watch
/// the control plane notice, taint, evict and reschedule their pods onto the standing pins.
#[derive(Parser, Debug)]
#[command(name = "pinsetter", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    play: PlayArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Play the game in the terminal (the default).
    Play(PlayArgs),
    /// Play a recorded session back in the game's screen: pause, speed, seek by frame.
    #[command(after_help = "Keys: space/p pause · ←/→ previous/next bowling frame · home/end start/end · +/- speed ·
tab select · d describe · ? help · q quit. At the end: the final score and whether the
replayed digest matches the recording's.
Example:
  pinsetter play --record game.jsonl   # bowl, then q
  pinsetter replay game.jsonl")]
    Replay(ReplayArgs),
    /// Watch someone else's game live, read-only, in the game's screen.
    #[command(
        after_help = "The game must publish itself: `play --listen ADDR` or `serve` (gRPC shares the API's port).
A late joiner catches up from the session's start, then follows live. Keys: tab select · d describe ·
? help · q quit. Example:
  pinsetter play --listen 127.0.0.1:8001     # in one terminal
  pinsetter watch grpc://127.0.0.1:8001      # in another"
    )]
    Watch(WatchArgs),
    /// Run a scenario headless in virtual time and print what the control plane did.
    #[command(
        after_help = "Examples:\n  pinsetter sim --scenario default --seed 1 --at '2s knock pin-3' --until 30s\n  pinsetter sim --at '5s knock pin-3' --at '5s knock pin-4' --at '40s reset' --until 60s --json\n  pinsetter sim --nodes 1000 --pods 20000 --at '10s knock pin-7' --until 30s --json"
    )]
    Sim(SimArgs),
    /// Measure scheduler and simulation throughput.
    #[command(
        after_help = "Entries, in the order they run: greedy_batch, spread_one_by_one, flow_replace, flow_replace_mixed,\nworld_step (the ten-pin lane, then 1,000 and 5,000 pins of 30 pods), frame, startup (empty to all Running\nat 1,000 and 5,000 pins of 30 pods), world_step_knock (1 % of the pins knocked), over_capacity (1,000\npins, 30,000 pods, most unschedulable, 60 s of game time), game_spectators (the ten-pin game's step\nwith 0 and 50 gRPC Game followers, one never reading), pods_view (the game's :pods table at 5,000 pins / 150,000\npods: opening it, then refresh + draw at 200×50 per frame, median and p99), stadium_first_frame (the\nstadium from nothing to its first frame at 200×50), stadium_frame (a tick + a frame at 200×50 on the\nstadium, median and p99: lane view from the first frame, heat map, then lane view once every pod runs, then the heat map through a strike of eight racks: run with `bench stadium`).\nWithout a FILTER, the whole-World entries at scale (startup, world_step at 1,000/5,000 pins,\nworld_step_knock, over_capacity) and game_spectators are skipped: name them to run them; the 5,000-pin ones take minutes\non a 2-core machine. --quick stops at 1,000 nodes and 10 s of game time. Examples:\n  pinsetter bench startup --quick\n  pinsetter bench flow --dump-flow-mixed /tmp/mixed.json && python3 benches/check_flow.py /tmp/mixed.json"
    )]
    Bench(BenchArgs),
    /// Run the control plane headless in real time and serve the Kubernetes API for kubectl.
    #[command(
        after_help = "Then, in another terminal:\n  pinsetter kubeconfig > /tmp/kc && kubectl --kubeconfig /tmp/kc get nodes"
    )]
    Serve(ServeArgs),
    /// Print a kubeconfig that points kubectl at a running `serve` or `play --listen`.
    Kubeconfig(KubeconfigArgs),
    /// Run a pin as its own process, joined to a running `serve` or `play --listen` over WebSocket.
    Pin(pinsetter::agent::PinArgs),
    /// A tiny built-in client for people without kubectl.
    #[command(
        after_help = "Examples:\n  pinsetter ctl get pods -o wide\n  pinsetter ctl scale web 16\n  pinsetter ctl knock pin-3\n  pinsetter ctl watch pods"
    )]
    Ctl(CtlArgs),
    /// Delete everything Pinsetter created in a cluster (all labelled pinsetter.dev/owned).
    Cleanup(ClusterArgs),
    /// Print the minimal ClusterRole `play --kubeconfig` needs in a mode.
    #[command(after_help = "Example:\n  pinsetter rbac --mode fake-pins | kubectl apply -f -")]
    Rbac(RbacArgs),
}

/// Which cluster: the kubeconfig as kubectl resolves it.
#[derive(Args, Debug, Clone, Default)]
struct ClusterArgs {
    /// The kubeconfig file (else KUBECONFIG, else ~/.kube/config, as kubectl).
    #[arg(long, value_name = "PATH", allow_hyphen_values = true)]
    kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (else its current context).
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    context: Option<String>,
}

#[derive(Args, Debug)]
struct RbacArgs {
    #[arg(long, value_enum, default_value = "fake-pins")]
    mode: PinsMode,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum PinsMode {
    /// Ten Nodes Pinsetter registers and is the kubelet of (safe on any cluster).
    #[value(name = "fake-pins", alias = "fake")]
    FakePins,
    /// The cluster's own nodes picked by --selector (cordoned and tainted when knocked).
    Nodes,
}

impl PinsMode {
    fn mode(self) -> pinsetter::remote::Mode {
        match self {
            PinsMode::FakePins => pinsetter::remote::Mode::FakePins,
            PinsMode::Nodes => pinsetter::remote::Mode::Nodes,
        }
    }
}

/// `play` against a real cluster (see README, "Bowling on your own cluster").
#[derive(Args, Debug, Clone, Default)]
struct RemoteArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Which pins: fake-pins (the default: ten Nodes Pinsetter registers and is the kubelet
    /// of) or nodes (real nodes picked by --selector).
    #[arg(long, value_enum)]
    pins: Option<PinsMode>,
    /// With --pins nodes: a label selector picking the nodes (at most ten, by name).
    #[arg(long, value_name = "LABELSELECTOR", allow_hyphen_values = true)]
    selector: Option<String>,
    /// Skip the typed confirmation for --pins nodes; twice (or --all-nodes) also allows a
    /// selector matching every node.
    #[arg(long, action = clap::ArgAction::Count)]
    yes: u8,
    /// Allow a --selector that matches every node of the cluster.
    #[arg(long)]
    all_nodes: bool,
    /// With --pins nodes: a knock evicts the node's pods through the Eviction API (honouring
    /// PodDisruptionBudgets) instead of tainting it NoExecute.
    #[arg(long)]
    drain: bool,
    /// Print what each pin's knock and restore would do, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The fake pins' Lease duration (they renew every quarter of it); default 40, as the
    /// kubelet's, or 1 against Pinsetter's own serve.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(i32).range(1..=3600))]
    node_lease_seconds: Option<i32>,
}

impl RemoteArgs {
    fn wanted(&self) -> bool {
        self.cluster.kubeconfig.is_some() || self.cluster.context.is_some() || self.pins.is_some()
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    #[command(flatten)]
    lane: LaneArgs,
    /// Address to serve on. Binding anything but loopback exposes the cluster: an explicit choice.
    #[arg(long, default_value = "127.0.0.1:8001", value_parser = parse_listen, allow_hyphen_values = true)]
    listen: std::net::SocketAddr,
    /// Game speed multiplier, from 0.25 to 16.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed, allow_hyphen_values = true)]
    speed: f64,
    #[command(flatten)]
    security: SecurityArgs,
    /// Record the session's inputs (API writes, agent messages) to FILE, line-delimited JSON
    /// that `pinsetter sim --replay FILE` replays to the same digest.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    record: Option<std::path::PathBuf>,
}

/// HTTPS and bearer tokens for the API (off by default).
#[derive(Args, Debug, Clone, Default)]
struct SecurityArgs {
    /// Serve HTTPS with a certificate from a local CA (created once in the data directory;
    /// `pinsetter kubeconfig --server https://…` embeds it, so kubectl verifies the server).
    #[arg(long)]
    tls: bool,
    /// Turn on authentication and RBAC: bootstrap users as lines of `token,user,group...`
    /// (`admin` means group system:masters, `viewer` a binding to the view ClusterRole);
    /// ServiceAccount tokens (`kubectl create token`) work too. Without it every request is
    /// allowed. Needs --tls: kubectl never sends tokens over plain http.
    #[arg(long, value_name = "FILE", requires = "tls", allow_hyphen_values = true)]
    token_file: Option<std::path::PathBuf>,
    /// Require this token from `pinsetter pin --join` agents (their `--token`).
    #[arg(long, value_name = "TOKEN", allow_hyphen_values = true)]
    join_token: Option<String>,
    /// How many pin agent nodes one source address may hold (joined and not left or pruned);
    /// a join beyond it is refused. Default 64.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_pins_per_source: Option<u32>,
}

impl SecurityArgs {
    fn load(&self, addr: std::net::SocketAddr) -> Result<pinsetter::api::Security> {
        let tls = if self.tls {
            Some(pinsetter::api::tls::server_config(&pinsetter::api::tls::ca_dir(), addr)?)
        } else {
            None
        };
        let authn = match &self.token_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read token file {}", path.display()))?;
                let tokens = pinsetter::api::Tokens::parse(&text, &path.display().to_string())?;
                let key = pinsetter::api::auth::ServiceAccountKey::load_or_create(&pinsetter::api::auth::key_dir())?;
                Some(std::sync::Arc::new(pinsetter::api::auth::Authenticator { tokens, key }))
            }
            None => None,
        };
        Ok(pinsetter::api::Security {
            tls,
            authn,
            join_token: self.join_token.clone(),
            max_pins_per_source: self.max_pins_per_source.map(|n| n as usize),
        })
    }

    fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }
}

#[derive(Args, Debug)]
struct CtlArgs {
    /// The API server's URL (https is verified against the local CA from `serve --tls`).
    #[arg(long, default_value = "http://127.0.0.1:8001", global = true, allow_hyphen_values = true)]
    server: String,
    /// A bearer token.
    #[arg(long, global = true, allow_hyphen_values = true)]
    token: Option<String>,
    /// Use the gRPC service (on the same port) instead of the HTTP API; for `watch`.
    #[arg(long, global = true)]
    grpc: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Subcommand, Debug)]
enum CtlCommand {
    /// List nodes, pods, deployments, replicasets or events.
    Get {
        kind: String,
        /// `-o wide` for the extra columns.
        #[arg(short = 'o', value_parser = ["wide"], allow_hyphen_values = true)]
        output: Option<String>,
    },
    /// Set a deployment's replicas.
    Scale {
        deployment: String,
        #[arg(allow_negative_numbers = true, value_parser = parse_replicas)]
        replicas: i32,
    },
    /// Mark a node unschedulable.
    Cordon { node: String },
    /// Mark a node schedulable again.
    Uncordon { node: String },
    /// Knock a pin over: its kubelet stops heartbeating.
    Knock { node: String },
    /// Stand a knocked pin up again.
    Restore { node: String },
    /// Stream changes (pods by default) until interrupted.
    Watch {
        #[arg(default_value = "pods")]
        kind: String,
    },
    /// Delete the Nodes (with their pods and Leases) of pin agents disconnected longer than
    /// --older-than. Connected agents and other nodes are never touched.
    #[command(after_help = "Example:\n  pinsetter ctl prune --older-than 30m")]
    Prune {
        /// How long an agent must have been gone (e.g. 30m, 2h, 0s for every disconnected one).
        #[arg(long, default_value = pinsetter::api::pins::DEFAULT_PRUNE_AFTER, value_parser = parse_duration)]
        older_than: Millis,
    },
}

#[derive(Args, Debug)]
struct KubeconfigArgs {
    /// The API server's URL. An https URL gets the local CA embedded.
    #[arg(long, default_value = "http://127.0.0.1:8001", allow_hyphen_values = true)]
    server: String,
    /// A bearer token for the user (for a server started with --token-file).
    #[arg(long, allow_hyphen_values = true)]
    token: Option<String>,
}

#[derive(Args, Debug, Clone)]
struct LaneArgs {
    /// A scenario file (multi-document YAML of Nodes and Deployments), or a built-in lane:
    /// default, tiny, stateful (local volumes and a StatefulSet), ha (default with 3 control-plane replicas), arena (1,000 pins), stadium (Kubernetes' limits: 5,000 nodes of
    /// 32 cpu / 128Gi, 150,000 pods, in ten zones: each pin is a rack of 500 nodes; alias envelope).
    #[arg(long, default_value = "default", allow_hyphen_values = true)]
    scenario: String,
    /// Generate a lane of N pins instead of loading a scenario (use with --pods; at most 5,000).
    /// Pins are named pin-1..pin-N, labelled kubernetes.io/hostname, kubernetes.io/os and
    /// kubernetes.io/arch as kubelets label them, spread round robin over zones alley-1a/b/c
    /// (topology.kubernetes.io/zone) of region alley-1, and hold 110 pods each. Unless
    /// --node-cpu / --node-memory say otherwise, their cpu (whole cores) and memory (whole Gi)
    /// are sized so the pods fill about 75 % of the lane (at least 4 cpu / 8Gi).
    #[arg(long, value_name = "N", requires = "pods", value_parser = parse_count, allow_hyphen_values = true)]
    nodes: Option<usize>,
    /// Pods for a generated lane (use with --nodes; at most 150,000 and 110 per pin), in five
    /// Deployments: web 30 %, api 20 %, cache 10 % (priority 1000), worker 15 %, batch 25 %
    /// (priority -10).
    #[arg(long, value_name = "M", requires = "nodes", value_parser = parse_count, allow_hyphen_values = true)]
    pods: Option<usize>,
    /// Each generated pin's cpu, as a Kubernetes quantity (e.g. 4, 3500m) instead of the 75 % sizing.
    #[arg(long, value_name = "CPU", requires = "nodes", value_parser = parse_quantity, allow_hyphen_values = true)]
    node_cpu: Option<pinsetter::cluster::objects::Quantity>,
    /// Each generated pin's memory, as a Kubernetes quantity (e.g. 8Gi) instead of the 75 % sizing.
    #[arg(long, value_name = "MEMORY", requires = "nodes", value_parser = parse_quantity, allow_hyphen_values = true)]
    node_memory: Option<pinsetter::cluster::objects::Quantity>,
    /// Seed for every random stream: same seed + same inputs = same game.
    #[arg(long, default_value_t = 1, value_parser = parse_seed, allow_hyphen_values = true)]
    seed: u64,
    /// How fast the control plane reacts: arcade (seconds) or kubernetes (upstream defaults).
    #[arg(long, value_enum, default_value = "arcade", allow_hyphen_values = true)]
    timing: Preset,
    /// The scheduling policy to start with (in the game, `s` cycles them).
    #[arg(long, default_value = "greedy", value_parser = policy_parser(), allow_hyphen_values = true)]
    scheduler: Policy,
    /// Replicas of kube-scheduler and of kube-controller-manager (1 to 9), each contending for
    /// its Lease in kube-system; only the leader acts. The `ha` lane runs 3.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=9), allow_hyphen_values = true)]
    control_plane_replicas: Option<u8>,
}

/// `--scheduler` and `--compare` accept the policy registry's names, and `--help` lists each
/// with its summary (the core's `Policy` knows nothing of clap).
fn policy_parser() -> impl clap::builder::TypedValueParser<Value = Policy> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values = pinsetter::cluster::scheduler::POLICIES.iter().map(|e| PossibleValue::new(e.name).help(e.summary));
    PossibleValuesParser::new(values).try_map(|name| name.parse::<Policy>())
}

impl LaneArgs {
    fn scenario(&self) -> Result<Scenario> {
        let mut scenario = match (self.nodes, self.pods) {
            (Some(nodes), Some(pods)) => Scenario::generate(&pinsetter::scenario::LaneSize {
                nodes,
                pods,
                node_cpu_milli: self.node_cpu.as_ref().map(|q| q.milli()),
                node_memory_bytes: self.node_memory.as_ref().map(|q| q.value()),
            })?,
            _ => Scenario::resolve(&self.scenario)?,
        };
        scenario.scheduler = self.scheduler;
        if let Some(replicas) = self.control_plane_replicas {
            scenario.control_plane_replicas = usize::from(replicas);
        }
        Ok(scenario)
    }
}

#[derive(Args, Debug, Clone)]
struct PlayArgs {
    #[command(flatten)]
    lane: LaneArgs,
    /// Game speed multiplier, from 0.25 to 16.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed, allow_hyphen_values = true)]
    speed: f64,
    /// Plain ASCII glyphs, for terminals without Unicode. (Colour follows NO_COLOR.)
    #[arg(long)]
    ascii: bool,
    /// Also serve the Kubernetes API on this address while you play (e.g. 127.0.0.1:8001).
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, allow_hyphen_values = true)]
    listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    security: SecurityArgs,
    /// Record the game's inputs (keys and API writes) to FILE, for `pinsetter sim --replay`.
    /// A new game (`n`) ends the recording: the file holds the first game.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    record: Option<std::path::PathBuf>,
    /// Bowl in someone else's game instead: grpc://HOST:PORT of a `play --listen` (grpcs://
    /// when it serves --tls). You take turns with its player, frame by frame; its lane, seed
    /// and timing are the host's.
    #[arg(long, value_name = "ADDRESS", conflicts_with_all = ["listen", "record"], allow_hyphen_values = true)]
    join: Option<String>,
    /// Your name on the scorecard, with --join (1 to 12 characters; default: $USER).
    #[arg(long, requires = "join", allow_hyphen_values = true)]
    name: Option<String>,
    /// A bearer token, with --join, when the host has --token-file.
    #[arg(long, requires = "join", allow_hyphen_values = true)]
    token: Option<String>,
    #[command(flatten)]
    remote: RemoteArgs,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// An input log written by `play --record` or `serve --record`.
    #[arg(value_name = "FILE")]
    file: std::path::PathBuf,
    /// Plain ASCII glyphs, for terminals without Unicode. (Colour follows NO_COLOR.)
    #[arg(long)]
    ascii: bool,
}

#[derive(Args, Debug)]
struct WatchArgs {
    /// The game's address: grpc://HOST:PORT (grpcs://HOST:PORT when it serves --tls).
    #[arg(value_name = "ADDRESS")]
    address: String,
    /// A bearer token, when the game's server has --token-file.
    #[arg(long, allow_hyphen_values = true)]
    token: Option<String>,
}

#[derive(Args, Debug)]
struct SimArgs {
    #[command(flatten)]
    lane: LaneArgs,
    /// A timed action, repeatable: '<time> knock NODE' (a crash) | 'partition NODE' |
    /// 'pressure NODE' | 'restore NODE' | 'knock-zone ZONE' | 'partition-zone ZONE' |
    /// 'pressure-zone ZONE' | 'restore-zone ZONE' | 'reset' | 'scale DEPLOYMENT N' |
    /// 'cordon NODE' | 'uncordon NODE' | 'delete-pod POD' |
    /// 'knock-leader [kube-scheduler|kube-controller-manager]' | 'restore-leader [COMPONENT]'.
    #[arg(long = "at", value_name = "'TIME ACTION'", value_parser = sim::parse_action, allow_hyphen_values = true)]
    actions: Vec<sim::Action>,
    /// How much game time to simulate.
    #[arg(long, default_value = "60s", value_parser = parse_until, allow_hyphen_values = true)]
    until: Millis,
    /// Print one JSON object (fields in the README) instead of the event timeline.
    #[arg(long)]
    json: bool,
    /// Run the same scenario and script once per policy and print a table side by side
    /// (with --json, {"compare": [one report per policy]}), e.g. --compare greedy,spread,binpack,flow.
    #[arg(long, value_delimiter = ',', value_name = "POLICY,...", value_parser = policy_parser(), allow_hyphen_values = true)]
    compare: Vec<Policy>,
    /// Replay a session recorded with `play --record` or `serve --record` (its own lane, seed
    /// and timing) and report its digest next to the one the live session ended with.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["actions", "compare"], allow_hyphen_values = true)]
    replay: Option<std::path::PathBuf>,
    /// Apply the objects in this multi-document YAML file (Rolls: scripted throws, e.g.
    /// assets/rolls/split.yaml) at time 0; repeatable. `--json` shows each Roll's final status.
    #[arg(long, value_name = "FILE", conflicts_with = "replay", allow_hyphen_values = true)]
    rolls: Vec<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Print JSON: {"results": [{"name", "nodes", "pods", "pods_per_sec", "solve_ms", ...}]}.
    #[arg(long)]
    json: bool,
    /// Lane sizes (nodes) for the batch scheduling benchmark; 30 pods per node.
    #[arg(long, value_delimiter = ',', default_value = "100,1000,5000,15000", value_parser = parse_count, allow_hyphen_values = true)]
    nodes: Vec<usize>,
    /// Nodes for the one-pod-at-a-time (filter and score every node) and flow benchmarks.
    #[arg(long, default_value_t = 5_000, value_parser = parse_count, allow_hyphen_values = true)]
    lane: usize,
    /// Write the flow benchmark's min-cost flow instance and our solution's cost here, as
    /// {"nodes": [{"id", "supply"}], "arcs": [{"from", "to", "capacity", "cost"}], "cost"}.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    dump_flow: Option<std::path::PathBuf>,
    /// The same for the mixed instance (unequal loads: the harder one), e.g. for
    /// `python3 benches/check_flow.py FILE` to check our optimum with networkx.
    #[arg(long, value_name = "FILE", allow_hyphen_values = true)]
    dump_flow_mixed: Option<std::path::PathBuf>,
    /// Run only the entries whose name contains one of these (e.g. `startup`, `flow`).
    #[arg(value_name = "FILTER")]
    filter: Vec<String>,
    /// Smaller sizes so one figure comes quickly: nothing above 1,000 nodes, 10 s of game time.
    #[arg(long)]
    quick: bool,
}

fn parse_quantity(text: &str) -> Result<pinsetter::cluster::objects::Quantity, String> {
    pinsetter::cluster::objects::Quantity::parse(text).map_err(|e| e.to_string())
}

fn parse_speed(text: &str) -> Result<f64, String> {
    let speed: f64 = text.parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.25..=16.0).contains(&speed) {
        Ok(speed)
    } else {
        Err(format!("speed must be between 0.25 and 16, got {speed}"))
    }
}

/// A seed is any u64; said plainly, because clap's default ("invalid digit found in string") isn't.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| format!("expected a whole number from 0 to {}", u64::MAX))
}

/// Node, pod and lane counts: whole numbers, never negative.
fn parse_count(text: &str) -> Result<usize, String> {
    text.parse().map_err(|_| "expected a whole number (0 or more)".to_string())
}

/// Replicas as `kubectl scale` takes them; a negative count is refused here with its reason.
fn parse_replicas(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(n) if n >= 0 => Ok(n),
        Ok(_) => Err("replicas must be 0 or more".into()),
        Err(_) => Err(format!("expected a whole number of replicas from 0 to {}", i32::MAX)),
    }
}

/// Game time to simulate: a duration like `30s` or `1m30s`, which can't be negative.
fn parse_until(text: &str) -> Result<Millis, String> {
    match text.trim_start().strip_prefix('-') {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
            Err("a duration can't be negative; expected e.g. 30s or 1m30s".into())
        }
        Some(_) => Err("expected a duration, e.g. 30s or 1m30s".into()),
        None => parse_duration(text),
    }
}

/// An address to serve on, with an example when it isn't one.
fn parse_listen(text: &str) -> Result<std::net::SocketAddr, String> {
    text.parse().map_err(|_| "expected an IP address and port, e.g. 127.0.0.1:8001".to_string())
}

/// Exit status for an error of ours (clap's usage errors exit 2).
const FAILED: u8 = 1;

fn main() -> std::process::ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => exit_for_clap(error),
    };
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            std::process::ExitCode::from(FAILED)
        }
    }
}

/// A bad value for a flag is one line naming the flag and what it expects; every other usage
/// error (and --help, --version) keeps clap's own format. Exit code 2 either way, as clap's.
fn exit_for_clap(error: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        let rendered = error.render().to_string();
        let line: Vec<&str> = rendered
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
            .collect();
        eprintln!("{}", line.join(" "));
        std::process::exit(2);
    }
    error.exit()
}

/// `message: cause: cause`, leaving out any cause whose text is already said (contexts often
/// repeat their source), so an error is one line however it was wrapped.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        let text = text.trim();
        if text.is_empty() || line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line.replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        None => play(cli.play),
        Some(Command::Play(args)) => play(args),
        Some(Command::Sim(args)) => run_sim(args),
        Some(Command::Replay(args)) => replay(args),
        Some(Command::Watch(args)) => watch(args),
        Some(Command::Bench(args)) => run_bench(args),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Pin(args)) => pinsetter::agent::run(args),
        Some(Command::Ctl(args)) => ctl(args),
        Some(Command::Cleanup(args)) => {
            println!("{}", pinsetter::remote::game::cleanup(args.kubeconfig, args.context)?);
            Ok(())
        }
        Some(Command::Rbac(args)) => {
            print!("{}", pinsetter::remote::cluster_role_yaml(args.mode.mode()));
            Ok(())
        }
        Some(Command::Kubeconfig(args)) => {
            let ca = if args.server.starts_with("https://") {
                Some(pinsetter::api::tls::ca_certificate(&pinsetter::api::tls::ca_dir())?)
            } else {
                if args.token.is_some() {
                    eprintln!("warning: kubectl never sends a token to an http:// server; use https:// (serve --tls)");
                }
                None
            };
            print!("{}", pinsetter::api::kubeconfig(&args.server, ca.as_deref(), args.token.as_deref()));
            Ok(())
        }
    }
}

/// Interactive runs stamp objects with real time: game time zero is now (see `clock::Epoch`).
fn real_time_epoch() -> pinsetter::clock::Epoch {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let base = u64::try_from(now.as_millis()).unwrap_or(u64::MAX / 1000).saturating_mul(1000);
    pinsetter::clock::Epoch::at_unix_seconds(now.as_secs() as i64).with_resource_version_base(base)
}

/// Opens `--record FILE` for a session about to start (the log records the epoch, so a replay
/// stamps the same times).
fn input_log(
    path: Option<&std::path::Path>,
    seed: u64,
    timing: pinsetter::cluster::timing::Preset,
    epoch: pinsetter::clock::Epoch,
    scenario: &pinsetter::scenario::Scenario,
) -> Result<Option<pinsetter::driver::InputLog>> {
    path.map(|path| {
        let header = pinsetter::driver::LogHeader::new(seed, timing, epoch, scenario);
        pinsetter::driver::InputLog::create(path, &header)
    })
    .transpose()
}

fn play(args: PlayArgs) -> Result<()> {
    if let Some(address) = &args.join {
        return join(address, args.name.as_deref(), args.token.as_deref());
    }
    let epoch = real_time_epoch();
    let scenario = args.lane.scenario()?;
    if args.remote.wanted() {
        return play_remote(args, scenario, epoch);
    }
    let log = input_log(args.record.as_deref(), args.lane.seed, args.lane.timing, epoch, &scenario)?;
    let ended = pinsetter::tui::run_recorded(
        pinsetter::tui::PlayOptions {
            scenario,
            seed: args.lane.seed,
            timing: args.lane.timing,
            speed: args.speed,
            ascii: args.ascii,
            listen: match args.listen {
                Some(addr) => Some((addr, args.security.load(addr)?)),
                None => None,
            },
            epoch,
        },
        log,
    )?;
    // Ended by a signal: the terminal is restored and everything dropped; exit as the shell
    // expects of a process that signal ended (128 + its number), so `kill` reports it.
    if let pinsetter::tui::Ended::Signal(number) = ended {
        std::process::exit(128 + number);
    }
    Ok(())
}

/// The control plane in real time with no terminal UI, until SIGINT or SIGTERM.
fn serve(args: ServeArgs) -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let epoch = real_time_epoch();
    let scenario = args.lane.scenario()?;
    let world = pinsetter::world::World::with_epoch(args.lane.seed, args.lane.timing, &scenario, epoch)
        .with_context(|| format!("cannot start scenario {}", scenario.origin))?;
    let log = input_log(args.record.as_deref(), args.lane.seed, args.lane.timing, epoch, &scenario)?;
    let (handle, inbox) = pinsetter::api::inbox();
    // The live game feed, for gRPC `Game` followers: published before the server announces
    // itself, so a follower that connects at once finds it.
    let feed = pinsetter::driver::Feed::new(pinsetter::driver::LogHeader::new(
        args.lane.seed,
        args.lane.timing,
        epoch,
        &scenario,
    ));
    if inbox.publish_feed(feed.clone()).is_err() {
        bail!("the session's game feed was published twice");
    }
    let security = args.security.load(args.listen)?;
    let server = pinsetter::api::Server::start_with(args.listen, handle, security)?;
    let stop = shutdown_signal()?;
    eprintln!(
        "pinsetter: serving the Kubernetes API on {scheme}://{addr} ({}, {} timing). Try:\n  pinsetter kubeconfig --server {scheme}://{addr} > /tmp/kc && kubectl --kubeconfig /tmp/kc get nodes",
        scenario.origin,
        args.lane.timing.to_possible_value().map_or("?".into(), |v| v.get_name().to_string()),
        addr = server.addr,
        scheme = args.security.scheme()
    );
    let mut driver = pinsetter::driver::Driver::new(world, args.speed);
    driver.log = log;
    driver.feed = Some(feed);
    let mut last = std::time::Instant::now();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        driver.pump(&inbox);
        let now = std::time::Instant::now();
        driver.advance(now - last);
        last = now;
        while driver.world.poll_output().is_some() {}
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    eprintln!("pinsetter: shutting down");
    // Finished first, so the game's followers hear its digest before their streams end.
    let digest = driver.finish();
    server.stop();
    eprintln!("pinsetter: session digest {digest} at {}", driver.world.now());
    Ok(())
}

fn ctl(args: CtlArgs) -> Result<()> {
    use pinsetter::ctl;
    if args.grpc {
        return match args.command {
            CtlCommand::Watch { kind } => ctl::watch_grpc(&args.server, args.token.as_deref(), &kind),
            _ => bail!("--grpc: only watch goes over gRPC (the other commands use the HTTP API)"),
        };
    }
    let client = ctl::Client::new(&args.server, args.token)?;
    match args.command {
        CtlCommand::Get { kind, output } => ctl::get(&client, &kind, output.is_some()),
        CtlCommand::Scale { deployment, replicas } => ctl::scale(&client, &deployment, replicas),
        CtlCommand::Cordon { node } => ctl::cordon(&client, &node, true),
        CtlCommand::Uncordon { node } => ctl::cordon(&client, &node, false),
        CtlCommand::Knock { node } => ctl::knock(&client, &node, false),
        CtlCommand::Restore { node } => ctl::knock(&client, &node, true),
        CtlCommand::Watch { kind } => ctl::watch(&client, &kind),
        CtlCommand::Prune { older_than } => ctl::prune(&client, older_than),
    }
}

/// A flag raised by SIGINT or SIGTERM.
fn shutdown_signal() -> Result<std::sync::Arc<std::sync::atomic::AtomicBool>> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let raised = flag.clone();
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the signal watcher")?;
    std::thread::spawn(move || {
        runtime.block_on(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        });
        raised.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    Ok(flag)
}

/// `pinsetter watch ADDRESS`: connects (a refusal is a plain message, before the terminal is
/// taken), then renders a replica World fed by the game's live feed.
fn watch(args: WatchArgs) -> Result<()> {
    let (header, feed) = pinsetter::grpc::client::follow(&args.address, args.token.as_deref())
        .with_context(|| format!("cannot follow the game at {}", args.address))?;
    pinsetter::tui::spectate(header, feed, args.address)
}

/// `pinsetter play --join ADDRESS`: checks for a terminal before taking a seat (a bowler who
/// joins stays on the host's scorecard), follows the game, joins it, then plays it.
fn join(address: &str, name: Option<&str>, token: Option<&str>) -> Result<()> {
    pinsetter::tui::require_terminal()?;
    let user = std::env::var("USER").ok().map(|u| u.chars().take(pinsetter::alley::MAX_NAME_CHARS).collect());
    let name = name.map(str::to_string).or(user).unwrap_or_else(|| "guest".to_string());
    let (header, feed) = pinsetter::grpc::client::follow(address, token)
        .with_context(|| format!("cannot follow the game at {address}"))?;
    let seat = pinsetter::grpc::client::join(address, token, &name)
        .with_context(|| format!("cannot join the game at {address}"))?;
    pinsetter::tui::join(header, feed, address.to_string(), seat)
}

/// `pinsetter replay FILE`: the log is read (and refused if it is not one this build replays)
/// before the terminal is taken, so the refusal is a plain message.
fn replay(args: ReplayArgs) -> Result<()> {
    let session = pinsetter::driver::read_input_log(&args.file)?;
    let source = args.file.display().to_string();
    match pinsetter::tui::replay(&session, source.clone(), args.ascii)? {
        Some(pinsetter::follow::DigestCheck::Matches) => eprintln!("pinsetter: {source}: digest matches the recording"),
        Some(pinsetter::follow::DigestCheck::Differs { recorded, replayed }) => {
            eprintln!("pinsetter: {source}: digest DIFFERS: recorded {recorded}, replayed {replayed}")
        }
        Some(pinsetter::follow::DigestCheck::Unknown) => {
            eprintln!("pinsetter: {source}: the log has no end (its session did not finish): no digest to check")
        }
        None => {}
    }
    Ok(())
}

fn run_sim(mut args: SimArgs) -> Result<()> {
    for path in &args.rolls {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read --rolls {}", path.display()))?;
        args.actions.extend(sim::manifest_actions(&text, &path.display().to_string())?);
    }
    if let Some(path) = &args.replay {
        let session = pinsetter::driver::read_input_log(path)?;
        let replayed = sim::replay(&session, &path.display().to_string())?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&replayed)?);
        } else {
            println!("replayed {} inputs over {} ms of game time", replayed.inputs, replayed.report.until_ms);
            println!("digest   {}", replayed.report.digest);
            match &replayed.recorded_digest {
                Some(recorded) => println!(
                    "recorded {recorded} ({})",
                    if replayed.digest_matches == Some(true) { "the same" } else { "DIFFERENT" }
                ),
                None => println!("recorded (no trailer: the session did not end cleanly)"),
            }
        }
        return Ok(());
    }
    let scenario = args.lane.scenario()?;
    sim::check_envelope(&scenario, &args.actions, args.until)?;
    let json = args.json;
    if !args.compare.is_empty() {
        let rows = sim::compare(&scenario, args.lane.seed, args.lane.timing, &args.actions, args.until, &args.compare)
            .with_context(|| format!("cannot start scenario {}", scenario.origin))?;
        if json {
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "compare": rows }))?);
        } else {
            for line in sim::compare_table(&rows) {
                println!("{line}");
            }
        }
        return Ok(());
    }
    if !json {
        println!("{:>8}  {:<7}  {:<20}  {:<28}  MESSAGE", "TIME", "TYPE", "REASON", "OBJECT");
    }
    let mut pending_actions: Vec<&sim::Action> = args.actions.iter().collect();
    pending_actions.sort_by_key(|a| a.at);
    let mut shown = 0;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) ends the printing, not the program.
    let mut line = |text: String| {
        use std::io::Write;
        let _ = writeln!(stdout, "{text}");
    };
    let report = sim::run(&scenario, args.lane.seed, args.lane.timing, &args.actions, args.until, |output| {
        if json {
            return;
        }
        match output {
            Output::Event(e) => {
                while shown < pending_actions.len() && pending_actions[shown].at <= e.at {
                    line(format!(
                        "{:>8}  {:<7}  {:<20}  {:<28}  {}",
                        pending_actions[shown].at.to_string(),
                        "Action",
                        "--at",
                        "",
                        pending_actions[shown].text
                    ));
                    shown += 1;
                }
                line(sim::format_event(e));
            }
            Output::Note { at, text } => {
                line(format!("{:>8}  {:<7}  {:<20}  {:<28}  {}", at.to_string(), "Note", "Pinsetter", "", text))
            }
            Output::Alley(_) => {}
        }
    })
    .with_context(|| format!("cannot start scenario {}", scenario.origin))?;

    if json {
        line(serde_json::to_string_pretty(&report)?);
    } else {
        line(String::new());
        line(format!(
            "desired {}  running {}  pending {}  lost {}  evicted {}  rescheduled {}  recovery p50 {} ms  p99 {} ms  max {} ms",
            report.desired,
            report.running,
            report.pending,
            report.lost,
            report.evicted,
            report.rescheduled,
            report.recovery_ms.p50,
            report.recovery_ms.p99,
            report.recovery_ms.max
        ));
        line(format!("events {}  digest {}", report.events, report.digest));
    }
    Ok(())
}

fn run_bench(args: BenchArgs) -> Result<()> {
    if args.nodes.contains(&0) {
        bail!("--nodes sizes must be at least 1");
    }
    if args.lane == 0 {
        bail!("--lane must be at least 1");
    }
    if let Some(unknown) = args.filter.iter().find(|f| !bench::GROUPS.iter().any(|g| g.contains(f.as_str()))) {
        bail!("bench: no entry matches {unknown:?}; entries: {}", bench::GROUPS.join(", "));
    }
    let wanted = |name: &str| args.filter.is_empty() || args.filter.iter().any(|f| name.contains(f.as_str()));
    let limit = if args.quick { 1_000 } else { usize::MAX };
    let lane = args.lane.min(limit);
    let mut results: Vec<bench::Entry> = Vec::new();
    if wanted("greedy_batch") {
        let sizes: Vec<usize> = args.nodes.iter().copied().filter(|&n| n <= limit).collect();
        results.extend(bench::greedy_batch(&sizes).into_iter().map(Into::into));
    }
    if wanted("spread_one_by_one") {
        results.push(bench::score_one_at_a_time(lane, 10_000).into());
    }
    if wanted("flow_replace") || args.dump_flow.is_some() {
        let (flow, network, cost) = bench::flow_replace(lane, false);
        results.push(flow);
        if let Some(path) = &args.dump_flow {
            let dump = bench::FlowDump { nodes: &network.nodes, arcs: &network.arcs, cost };
            std::fs::write(path, serde_json::to_string(&dump)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if wanted("flow_replace_mixed") || args.dump_flow_mixed.is_some() {
        let (flow, network, cost) = bench::flow_replace(lane, true);
        results.push(flow);
        if let Some(path) = &args.dump_flow_mixed {
            let dump = bench::FlowDump { nodes: &network.nodes, arcs: &network.arcs, cost };
            std::fs::write(path, serde_json::to_string(&dump)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if wanted("world_step") {
        results.push(bench::world_step().into());
    }
    if wanted("frame") {
        results.push(pinsetter::tui::bench_frame().into());
    }
    let (steady, after_knock, over) = if args.quick {
        (Millis(2_000), Millis(10_000), Millis(10_000))
    } else {
        (Millis(10_000), Millis(60_000), Millis(60_000))
    };
    // The whole-World entries at scale take minutes: only when a FILTER names them.
    let named = |name: &str| !args.filter.is_empty() && wanted(name);
    if named("startup") || named("world_step") || named("world_step_knock") {
        for nodes in [1_000, 5_000].into_iter().filter(|&n| n <= limit) {
            results.extend(bench::world_at_scale(nodes, steady, after_knock, wanted));
        }
    }
    if named("over_capacity") {
        results.push(bench::over_capacity(over));
    }
    // Serves gRPC on loopback: only when named too.
    if named("game_spectators") {
        for followers in [0, 50] {
            results.push(pinsetter::grpc::bench::spectators(followers)?.into());
        }
    }
    // The `:pods` table over 150,000 pods (30,000 with --quick): opening it, then its frames.
    if named("pods_view") {
        let nodes = 5_000.min(limit);
        let (open, frames) = pinsetter::tui::resources::bench_pods_view(nodes, nodes * 30)?;
        results.push(open.into());
        results.push(frames.into());
    }
    // The stadium (5,000 nodes, 150,000 pods): its first frame, then its frames.
    // Only a filter naming the stadium runs these (`bench frame` stays the ten-pin lane's).
    let stadium = |name: &str| args.filter.iter().any(|f| f.contains("stadium") && name.contains(f.as_str()));
    if stadium("stadium_first_frame") || stadium("stadium_frame") {
        let (first, app) = bench::stadium_first_frame()?;
        results.push(first.into());
        if stadium("stadium_frame") {
            let frames = if args.quick { 400 } else { 2_000 };
            results.extend(bench::stadium_frames(app, frames)?);
        } else {
            std::mem::forget(app);
        }
    }
    let results = bench::Results { results };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        bench::print_table(&results);
    }
    Ok(())
}

/// `play --kubeconfig`: the bowling here, the cluster there.
fn play_remote(args: PlayArgs, scenario: Scenario, epoch: pinsetter::clock::Epoch) -> Result<()> {
    if args.listen.is_some() || args.record.is_some() {
        bail!("--listen and --record are for the embedded cluster; they do not go with --kubeconfig");
    }
    let remote = args.remote;
    let options = pinsetter::remote::game::RemoteOptions {
        kubeconfig: remote.cluster.kubeconfig,
        context: remote.cluster.context,
        mode: remote.pins.map(PinsMode::mode),
        selector: remote.selector,
        yes: if remote.all_nodes { remote.yes.max(2) } else { remote.yes },
        drain: remote.drain,
        dry_run: remote.dry_run,
        lease_seconds: remote.node_lease_seconds,
    };
    let play = pinsetter::tui::PlayOptions {
        scenario,
        seed: args.lane.seed,
        timing: args.lane.timing,
        speed: args.speed,
        ascii: args.ascii,
        listen: None,
        epoch,
    };
    if let Some(number) = pinsetter::remote::game::play(options, play)? {
        std::process::exit(128 + number);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::one_line;
    use anyhow::Context;

    #[test]
    fn an_error_chain_is_one_line_without_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = Err::<(), _>(io)
            .context("cannot read lane.yaml: no such file")
            .context("cannot start scenario lane.yaml")
            .expect_err("an error");
        assert_eq!(one_line(&error), "cannot start scenario lane.yaml: cannot read lane.yaml: no such file");
    }
}
