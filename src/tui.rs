//! The terminal shell: crossterm keys in, ratatui frames out. UI-only state (selection,
//! overlays, flashes) lives here; the game and the cluster live in the World, owned by the
//! [`crate::driver::Driver`].

pub mod following;
pub mod heatmap;
pub mod high_scores;
pub mod resources;
pub mod theme;
pub mod view;

pub use following::{Following, join, replay, spectate};
pub use high_scores::HighScore;

use crate::alley::{AlleyEvent, AlleyInput, Phase};
use crate::bench::Measurement;
use crate::clock::Millis;
use crate::cluster::Failure;
use crate::cluster::objects::{Deployment, Node, Object, Pod, PodState, StatefulSet};
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::driver::Driver;
use crate::scenario::Scenario;
use crate::world::{Input, Output, World};
use anyhow::{Context, Result};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use theme::Theme;

/// What the `play` command was asked for.
#[derive(Debug, Clone)]
pub struct PlayOptions {
    pub scenario: Scenario,
    pub seed: u64,
    pub timing: Preset,
    pub speed: f64,
    pub ascii: bool,
    /// Serve the Kubernetes API here (with this TLS and auth) while playing.
    pub listen: Option<(std::net::SocketAddr, crate::api::Security)>,
    /// Where game time zero is in object timestamps (`play` passes its start in real time).
    pub epoch: crate::clock::Epoch,
}

/// The API server running beside the game, and its request rate for the pinsetter panel.
pub struct ApiStatus {
    pub addr: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    window: (u64, Instant),
    pub rate: f64,
}

impl ApiStatus {
    fn tick(&mut self) {
        let elapsed = self.window.1.elapsed();
        if elapsed >= Duration::from_secs(1) {
            let count = self.requests.load(std::sync::atomic::Ordering::Relaxed);
            self.rate = (count - self.window.0) as f64 / elapsed.as_secs_f64();
            self.window = (count, Instant::now());
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    Help,
    Describe,
    GameOver,
    /// A followed session ended (spectating or replaying): how, over its last frame.
    Ended,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Pin(u8),
    Pod(ObjectKey),
}

pub struct App {
    pub driver: Driver,
    pub theme: Theme,
    pub overlay: Overlay,
    pub selection: Selection,
    /// Pins struck recently (until a game time), for the card flash.
    pub flash_pins: BTreeMap<u8, Millis>,
    /// Pods just bound, for the glyph flash that shows where replacements land.
    pub flash_pods: Flashes,
    pub high_scores: Vec<HighScore>,
    pub message: Option<(String, Instant)>,
    deployments: BTreeMap<String, usize>,
    options: PlayOptions,
    high_score_file: Option<PathBuf>,
    pub quit: bool,
    pub api: Option<ApiStatus>,
    /// Set when this screen follows a session (spectating, replaying) rather than plays one.
    pub following: Option<Following>,
    /// The `:` command bar and an open resource table (`resources`).
    pub views: resources::Views,
    /// Set when the cluster is remote (`play --kubeconfig`): the screen renders its mirror and
    /// the local World's knocks go to it.
    pub remote: Option<crate::remote::cluster_view::RemoteView>,
    /// The heat map of every node (racked lanes, `h`).
    pub heat: heatmap::HeatMap,
}

const FLASH: Millis = Millis(1_500);

/// Flashes by key, until a game time: looked up by key as cards draw their pods, and expired
/// in the order they began. A stadium start-up binds 150,000 pods within one flash, and
/// walking every one of them each frame to expire a few took a tenth of the frame.
#[derive(Debug, Default)]
pub struct Flashes {
    until: crate::cluster::LookupMap<ObjectKey, Millis>,
    /// When each flash ends, in the order they began (so, for a fixed length, in the order
    /// they end); a key flashed again is listed again, and only its last entry removes it.
    ends: std::collections::VecDeque<(Millis, ObjectKey)>,
}

impl Flashes {
    pub fn insert(&mut self, key: ObjectKey, until: Millis) {
        self.until.insert(key.clone(), until);
        self.ends.push_back((until, key));
    }

    /// Whether `key` flashes at `now`.
    pub fn lit(&self, key: &ObjectKey, now: Millis) -> bool {
        self.until.get(key).is_some_and(|&until| until > now)
    }

    /// Forgets the flashes over by `now`.
    pub fn expire(&mut self, now: Millis) {
        while let Some((until, _)) = self.ends.front()
            && *until <= now
        {
            let Some((until, key)) = self.ends.pop_front() else { break };
            if self.until.get(&key) == Some(&until) {
                self.until.remove(&key);
            }
        }
    }

    pub fn clear(&mut self) {
        self.until.clear();
        self.ends.clear();
    }

    pub fn len(&self) -> usize {
        self.until.len()
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

/// How long an ordinary message stays on the message line.
const SAID: Duration = Duration::from_secs(3);

/// How long a problem the player must act on (a score not saved, a damaged file) stays on the
/// message line: long enough to read, unlike the 3 s of an ordinary message.
const PROBLEM_SHOWN: Duration = Duration::from_secs(20);

impl App {
    pub fn new(options: PlayOptions, high_score_file: Option<PathBuf>) -> Result<App> {
        let world = World::with_epoch(options.seed, options.timing, &options.scenario, options.epoch)?;
        Ok(App::with_world(world, options, high_score_file))
    }

    /// An app around a World already built (a follower's replica).
    fn with_world(world: World, options: PlayOptions, high_score_file: Option<PathBuf>) -> App {
        let loaded = high_score_file.as_deref().map(high_scores::load);
        let (high_scores, problem, high_score_file) = match loaded {
            Some(loaded) => (loaded.scores, loaded.problem, loaded.path),
            None => (Vec::new(), None, None),
        };
        let mut app = App {
            driver: Driver::new(world, options.speed),
            theme: Theme::from_env(options.ascii),
            overlay: Overlay::None,
            selection: Selection::Pin(1),
            flash_pins: BTreeMap::new(),
            flash_pods: Flashes::default(),
            high_scores,
            message: None,
            deployments: BTreeMap::new(),
            options,
            high_score_file,
            quit: false,
            api: None,
            following: None,
            views: resources::Views::default(),
            remote: None,
            heat: heatmap::HeatMap::default(),
        };
        app.index_deployments();
        app.drain();
        if let Some(problem) = problem {
            app.problem(problem);
        }
        app
    }

    /// Gives each workload (Deployment, then StatefulSet) a colour, in the order first seen.
    fn index_deployments(&mut self) {
        let store = view::cluster_store(self);
        let deployments = store.list::<Deployment>().map(|d| d.metadata.name.clone());
        let names: Vec<String> =
            deployments.chain(store.list::<StatefulSet>().map(|s| s.metadata.name.clone())).collect();
        for name in names {
            let next = self.deployments.len();
            self.deployments.entry(name).or_insert(next);
        }
    }

    fn workload_count(&self) -> usize {
        let store = view::cluster_store(self);
        store.len::<Deployment>() + store.len::<StatefulSet>()
    }

    /// Colour index of the pod's workload: its StatefulSet, or its Deployment (by its
    /// ReplicaSet's name prefix).
    pub fn deployment_index(&self, pod: &Pod) -> usize {
        let owner = pod.metadata.controller();
        let name = owner.map(|o| o.name.as_str()).unwrap_or("");
        let workload = match owner {
            Some(o) if o.kind == "StatefulSet" => name,
            _ => name.rsplit_once('-').map_or(name, |(d, _)| d),
        };
        self.deployments.get(workload).copied().unwrap_or(self.deployments.len())
    }

    /// The workloads still in the store with their colour index, in colour order (the legend's).
    pub fn workloads(&self) -> Vec<(&str, usize)> {
        let store = view::cluster_store(self);
        let deployments = store.list::<Deployment>().map(|d| d.metadata.name.as_str());
        let live: BTreeSet<&str> =
            deployments.chain(store.list::<StatefulSet>().map(|s| s.metadata.name.as_str())).collect();
        let mut all: Vec<(&str, usize)> =
            self.deployments.iter().filter(|(n, _)| live.contains(n.as_str())).map(|(n, i)| (n.as_str(), *i)).collect();
        all.sort_by_key(|(_, i)| *i);
        all
    }

    fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), Instant::now() + SAID));
    }

    /// Something went wrong outside the game (a file, the log): logged, and shown for longer.
    pub fn problem(&mut self, text: impl Into<String>) {
        let text = text.into();
        tracing::warn!("{text}");
        let now = Instant::now();
        // A problem still on the line (it outlasts any ordinary message) is kept, not replaced.
        let text = match self.message.take() {
            Some((earlier, until)) if until > now + SAID => format!("{earlier} · {text}"),
            _ => text,
        };
        self.message = Some((text, now + PROBLEM_SHOWN));
    }

    fn input(&mut self, input: Input) {
        if let Err(e) = self.driver.handle_input(input) {
            self.say(e.to_string());
        }
    }

    /// Routes the World's outputs to UI effects.
    pub fn drain(&mut self) {
        let now = self.driver.world.now();
        while let Some(output) = self.driver.world.poll_output() {
            match output {
                // How it fell (the ball's crash, a pin's partition, a wobble's pressure) is the
                // World's note in the event feed; the lane flashes the pin either way.
                Output::Alley(AlleyEvent::PinDown(pin) | AlleyEvent::PinWobbled(pin)) => {
                    self.flash_pins.insert(pin, now + FLASH);
                }
                // A followed game's score is not the spectator's: no high score, no new-game menu.
                Output::Alley(AlleyEvent::GameOver { score }) if self.following.is_none() => self.game_over(score),
                Output::Alley(AlleyEvent::BowlerJoined(bowler)) => {
                    let name = self.bowler_name(bowler);
                    self.say(format!("{name} joined the game: they start at frame 1 of their own card"));
                }
                Output::Alley(AlleyEvent::BowlerUp(bowler)) => {
                    let name = self.bowler_name(bowler);
                    self.say(format!("{name} is up"));
                }
                Output::Event(e) if e.reason == "Scheduled" => {
                    if let Some(name) = e.object.strip_prefix("pod/") {
                        self.flash_pods.insert(ObjectKey::new("default", name), e.at + FLASH);
                    }
                }
                _ => {}
            }
        }
        self.flash_pins.retain(|_, until| *until > now);
        self.flash_pods.expire(now);
        if self.deployments.len() != self.workload_count() {
            self.index_deployments();
        }
        resources::refresh(self);
        heatmap::refresh(self);
    }

    fn bowler_name(&self, bowler: u8) -> String {
        let bowlers = self.driver.world.alley().bowlers();
        bowlers
            .get(usize::from(bowler))
            .map_or_else(|| format!("bowler {}", u16::from(bowler) + 1), |b| b.name().to_string())
    }

    fn game_over(&mut self, score: u16) {
        self.overlay = Overlay::GameOver;
        let when = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M").to_string();
        self.high_scores.push(HighScore { score, seed: self.options.seed, when });
        high_scores::sort(&mut self.high_scores);
        if let Some(path) = &self.high_score_file
            && let Err(e) = high_scores::save(path, &self.high_scores)
        {
            self.problem(format!("high score not saved: {e}"));
        }
    }

    fn new_game(&mut self) {
        self.options.seed = self.options.seed.wrapping_add(1);
        let preset = self.driver.world.cluster().timing.preset;
        match World::with_epoch(self.options.seed, preset, &self.options.scenario, self.options.epoch) {
            Ok(world) => {
                // A recording holds one game: the next would need its own header.
                self.driver.finish();
                let speed = self.driver.speed;
                self.driver = Driver::new(world, speed);
                // The map's counters follow the old World's change log and failure count: they
                // start again from the new one.
                self.heat.tallies = heatmap::Tallies::default();
                self.overlay = Overlay::None;
                self.flash_pins.clear();
                self.flash_pods.clear();
                self.drain();
                self.say(format!("new game, seed {}", self.options.seed));
            }
            Err(e) => self.say(e.to_string()),
        }
    }

    /// Selection order: pins 1–10, then pending pods.
    fn select(&mut self, forward: bool) {
        let mut items: Vec<Selection> =
            (1..=self.driver.world.pins().len().min(10) as u8).map(Selection::Pin).collect();
        items.extend(
            self.driver
                .world
                .cluster()
                .store
                .list::<Pod>()
                .filter(|p| p.state() == PodState::Pending)
                .map(|p| Selection::Pod(ObjectKey::of(&p.metadata))),
        );
        let at = items.iter().position(|s| *s == self.selection);
        let next = match (at, forward) {
            (Some(i), true) => (i + 1) % items.len(),
            (Some(i), false) => (i + items.len() - 1) % items.len(),
            (None, _) => 0,
        };
        if let Some(s) = items.get(next) {
            self.selection = s.clone();
        }
    }

    fn selected_node(&self) -> Option<String> {
        match &self.selection {
            Selection::Pin(pin) => self.driver.world.pins().get(usize::from(*pin) - 1).cloned(),
            Selection::Pod(_) => None,
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent) {
        if key.kind != KeyEventKind::Press {
            return;
        }
        if self.following.is_some() {
            following::handle_key(self, key);
            return;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl {
            // Only ctrl-c does anything: no destructive surprises on ctrl-d / ctrl-u.
            if key.code == KeyCode::Char('c') {
                self.quit = true;
            }
            return;
        }
        if resources::handle_key(self, key) || (self.overlay == Overlay::None && heatmap::handle_key(self, key)) {
            return;
        }
        if self.overlay != Overlay::None {
            match key.code {
                KeyCode::Esc | KeyCode::Char('?') if self.overlay == Overlay::Help => self.overlay = Overlay::None,
                KeyCode::Esc | KeyCode::Char('d') | KeyCode::Enter if self.overlay == Overlay::Describe => {
                    self.overlay = Overlay::None
                }
                KeyCode::Char('n') if self.overlay == Overlay::GameOver => self.new_game(),
                KeyCode::Esc => self.overlay = Overlay::None,
                KeyCode::Char('q') => self.quit = true,
                _ => {}
            }
            return;
        }
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.overlay = Overlay::Help,
            KeyCode::Left => self.input(Input::Alley(AlleyInput::Move(-1))),
            KeyCode::Right => self.input(Input::Alley(AlleyInput::Move(1))),
            KeyCode::Up => self.input(Input::Alley(AlleyInput::Aim(1))),
            KeyCode::Down => self.input(Input::Alley(AlleyInput::Aim(-1))),
            KeyCode::Char('[') => self.input(Input::Alley(AlleyInput::Hook(-1))),
            KeyCode::Char(']') => self.input(Input::Alley(AlleyInput::Hook(1))),
            KeyCode::Char(' ') => {
                if self.driver.paused {
                    self.say("paused: press p to play");
                } else {
                    self.input(Input::Alley(AlleyInput::Power));
                }
            }
            // The World knows what a pin stands for: one node, or a whole rack.
            KeyCode::Char(_)
                if let Some((pin, failure)) = chaos_key(key)
                    && !self.driver.world.pin_nodes(pin).is_empty() =>
            {
                self.input(match failure {
                    Failure::Crash => Input::KnockPin(pin),
                    failure => Input::FailPin { pin, failure },
                });
                self.flash_pins.insert(pin, self.driver.world.now() + FLASH);
            }
            KeyCode::Char('u') => match self.selection {
                Selection::Pin(pin) => self.input(Input::StandPin(pin)),
                Selection::Pod(_) => self.say("select a pin first (tab)"),
            },
            KeyCode::Char('r') => self.input(Input::ResetPins),
            KeyCode::Char('k') => self.input(Input::KnockLeader(None)),
            KeyCode::Char('K') => self.input(Input::RestoreLeader(None)),
            KeyCode::Char('c') => match self.selected_node() {
                Some(node) => {
                    let cordoned = self
                        .driver
                        .world
                        .cluster()
                        .store
                        .get::<Node>(&ObjectKey::cluster(&node))
                        .is_some_and(|n| n.spec.unschedulable);
                    self.input(Input::Cordon { node, unschedulable: !cordoned });
                }
                None => self.say("select a pin first (tab)"),
            },
            KeyCode::Tab => self.select(true),
            KeyCode::BackTab => self.select(false),
            KeyCode::Char('d') | KeyCode::Enter => self.overlay = Overlay::Describe,
            KeyCode::Char('+') | KeyCode::Char('=') => self.driver.faster(),
            KeyCode::Char('-') | KeyCode::Char('_') => self.driver.slower(),
            KeyCode::Char('p') => self.driver.paused = !self.driver.paused,
            KeyCode::Char('t') => {
                let next = match self.driver.world.cluster().timing.preset {
                    Preset::Arcade => Preset::Kubernetes,
                    Preset::Kubernetes => Preset::Arcade,
                };
                self.input(Input::SetTiming(next));
                self.say(format!("timing preset: {next:?} (new pods get its toleration seconds)").to_lowercase());
            }
            KeyCode::Char('s') => {
                let next = self.driver.world.cluster().scheduler.policy.next();
                self.input(Input::SetPolicy(next));
                self.say(format!("scheduler: {} — {}", next.name(), next.summary()));
            }
            KeyCode::Char('n') => self.new_game(),
            KeyCode::Esc => {}
            _ => {}
        }
        if self.driver.world.alley().phase() == Phase::GameOver && self.overlay == Overlay::None {
            self.overlay = Overlay::GameOver;
        }
    }
}

/// Opens the log in the data directory. When it can't be opened (an unwritable directory, a
/// full disk) the game runs without a log file and says why, rather than refusing to start.
fn init_logging(dir: &std::path::Path) -> (Option<tracing_appender::non_blocking::WorkerGuard>, Option<String>) {
    let path = dir.join("pinsetter.log");
    let file =
        std::fs::create_dir_all(dir).and_then(|()| std::fs::OpenOptions::new().create(true).append(true).open(&path));
    let file = match file {
        Ok(file) => file,
        Err(e) => return (None, Some(format!("no log file: cannot open {}: {e}", path.display()))),
    };
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    match tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_env_filter(filter).try_init() {
        Ok(()) => (Some(guard), None),
        Err(e) => (None, Some(format!("no log file: {e}"))),
    }
}

/// `play` draws on a terminal and reads keys from it; refuse plainly when either end isn't one.
pub fn require_terminal() -> Result<()> {
    require_terminal_for("play")
}

/// [`require_terminal`], naming the command that needs it (`replay`, `watch`).
fn require_terminal_for(command: &str) -> Result<()> {
    use std::io::IsTerminal;
    let missing = match (std::io::stdin().is_terminal(), std::io::stdout().is_terminal()) {
        (true, true) => return Ok(()),
        (false, true) => "stdin is not",
        (true, false) => "stdout is not",
        (false, false) => "stdin and stdout are not",
    };
    anyhow::bail!("{command} needs a terminal, and {missing} one (for a headless run, try `pinsetter sim`)")
}

/// How a game ended: the player quit, or a signal asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Quit,
    /// SIGTERM, SIGINT or SIGHUP, by number. The terminal is already restored.
    Signal(i32),
}

/// Signals that end the game. Their default action would kill the process with the terminal
/// still raw, on the alternate screen, cursor hidden; caught, the loop ends and restores it.
const ENDING_SIGNALS: [i32; 3] =
    [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP];

/// Registers the ending signals to set one flag to the signal's number (0: none yet).
fn catch_ending_signals() -> Result<std::sync::Arc<std::sync::atomic::AtomicUsize>> {
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for signal in ENDING_SIGNALS {
        let number = usize::try_from(signal).context("signal numbers are positive")?;
        signal_hook::flag::register_usize(signal, caught.clone(), number)
            .with_context(|| format!("cannot catch signal {signal}"))?;
    }
    Ok(caught)
}

/// `150000` as `150,000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Lanes with more pods than this take long enough to set up that the player is told.
const LARGE_LANE_PODS: u64 = 5_000;

/// Plays until the player quits. The terminal is restored on every exit path, panics included
/// (`ratatui::init` installs the hook).
pub fn run(options: PlayOptions) -> Result<Ended> {
    run_recorded(options, None)
}

/// [`run`], recording the game's inputs to `log` (`play --record`).
pub fn run_recorded(options: PlayOptions, log: Option<crate::driver::InputLog>) -> Result<Ended> {
    run_with(options, log, None)
}

/// [`run`] against a remote cluster (`play --kubeconfig`): the bowling is local, the rack
/// shows `remote`'s mirror and every knock goes to it; the remote side stops when this returns.
pub fn run_remote(options: PlayOptions, remote: crate::remote::cluster_view::RemoteView) -> Result<Ended> {
    run_with(options, None, Some(remote))
}

fn run_with(
    options: PlayOptions,
    log: Option<crate::driver::InputLog>,
    remote: Option<crate::remote::cluster_view::RemoteView>,
) -> Result<Ended> {
    require_terminal()?;
    let data_dir = crate::storage::data_dir();
    let (_log, log_problem) = init_logging(&data_dir);
    let listen = options.listen.clone();
    // A big lane comes up before the first frame: say so, rather than leave a silent terminal.
    let pods = options.scenario.desired_pods();
    let building = (pods > LARGE_LANE_PODS).then(Instant::now);
    if building.is_some() {
        let nodes = options.scenario.objects.iter().filter(|(_, o)| matches!(o, Object::Node(_))).count();
        eprintln!(
            "Setting up the lane ({} nodes, {} pods): the control plane places all the pods before the first frame…",
            grouped(nodes as u64),
            grouped(pods)
        );
    }
    let mut app = App::new(options, Some(data_dir.join("highscores.json")))?;
    if let Some(started) = building {
        tracing::info!(seconds = started.elapsed().as_secs_f64(), "large lane set up");
    }
    app.remote = remote;
    run_app(&mut app, listen, log, log_problem)
}

fn run_app(
    app: &mut App,
    listen: Option<(std::net::SocketAddr, crate::api::Security)>,
    log: Option<crate::driver::InputLog>,
    log_problem: Option<String>,
) -> Result<Ended> {
    let recording = log.is_some();
    app.driver.log = log;
    if let Some(problem) = log_problem {
        app.problem(problem);
    }
    // The API server starts before the terminal is taken, so a bad address is a plain error.
    let (inbox, server) = match listen {
        Some((addr, security)) => {
            let (handle, inbox) = crate::api::inbox();
            let requests = handle.requests.clone();
            // The live game feed for `pinsetter watch` (gRPC `Game`): this game's header, then every
            // input as the driver applies it. `n` starts a new World: followers see this one end.
            // Published before the server announces itself, so a follower finds it at once.
            let header = crate::driver::LogHeader::new(
                app.options.seed,
                app.options.timing,
                app.options.epoch,
                &app.options.scenario,
            );
            let feed = crate::driver::Feed::new(header);
            if inbox.publish_feed(feed.clone()).is_err() {
                anyhow::bail!("the session's game feed was published twice");
            }
            app.driver.feed = Some(feed);
            let scheme = if security.tls.is_some() { "https" } else { "http" };
            let server = crate::api::Server::start_with(addr, handle, security)?;
            // `serve`'s announcement, in the log: the game's screen would hide it on stderr, and a
            // port-0 address must be findable (tests/clients.rs reads it).
            tracing::info!("serving the Kubernetes API on {scheme}://{}", server.addr);
            app.api = Some(ApiStatus { addr: server.addr, requests, window: (0, Instant::now()), rate: 0.0 });
            (Some(inbox), Some(server))
        }
        None => (None, None),
    };
    tracing::info!(seed = app.options.seed, "game started");
    // Caught before the terminal is taken, so no moment leaves it raw on a signal.
    let signal = catch_ending_signals()?;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = terminal_reader().and_then(|events| play_loop(&mut terminal, app, inbox.as_ref(), &signal, &events));
    ratatui::restore();
    // Finished before the server stops, so the game's followers hear its end and digest.
    let digest = app.driver.finish();
    drop(server);
    tracing::info!(digest, "session digest");
    if recording {
        eprintln!("pinsetter: session digest {digest} at {}", app.driver.world.now());
    }
    let ended = result?;
    if let Ended::Signal(number) = ended {
        tracing::info!(signal = number, "game ended by a signal");
    }
    Ok(ended)
}

/// Terminal events, read on a thread of their own. crossterm's `poll` can spin forever on a
/// terminal that has gone (an ssh drop, a closed pane: crossterm#793), and the game must still
/// notice SIGHUP or SIGTERM and stop; with the reads here, the frame loop never blocks in them.
/// A read error (the terminal closed) is sent once and ends the thread.
fn terminal_reader() -> Result<std::sync::mpsc::Receiver<std::io::Result<Event>>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("terminal-input".into())
        .spawn(move || {
            loop {
                let event = event::read();
                let failed = event.is_err();
                if tx.send(event).is_err() || failed {
                    break;
                }
            }
        })
        .context("cannot start reading the terminal")?;
    Ok(rx)
}

fn play_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    inbox: Option<&crate::api::Inbox>,
    signal: &std::sync::atomic::AtomicUsize,
    events: &std::sync::mpsc::Receiver<std::io::Result<Event>>,
) -> Result<Ended> {
    let caught = || match signal.load(std::sync::atomic::Ordering::Relaxed) {
        0 => None,
        number => Some(Ended::Signal(i32::try_from(number).unwrap_or(i32::MAX))),
    };
    const FRAME: Duration = Duration::from_millis(16);
    const BEHIND_FRAME: Duration = Duration::from_millis(2);
    let mut last = Instant::now();
    // Time spent working in a frame (requests, simulation, drawing), not waiting for keys.
    let mut work = Duration::ZERO;
    while !app.quit {
        if let Some(ended) = caught() {
            return Ok(ended);
        }
        let drawing = Instant::now();
        terminal.draw(|frame| view::render(frame, app)).context("drawing the frame")?;
        work += drawing.elapsed();
        tracing::debug!(work_us = work.as_micros() as u64, "frame");
        // While the World is behind (a busy tick under way, game time slowed), the wait for
        // keys is short: the frame's time goes to the control plane, not to idling.
        let behind = app.driver.slowed || app.driver.world.is_mid_tick();
        let deadline = Instant::now() + if behind { BEHIND_FRAME } else { FRAME };
        while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            let event = match events.recv_timeout(wait) {
                Ok(event) => event.context("reading the terminal")?,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => anyhow::bail!("the terminal's input ended"),
            };
            if let Event::Key(key) = event {
                app.handle_key(key);
            }
            if app.quit || signal.load(std::sync::atomic::Ordering::Relaxed) != 0 {
                break;
            }
        }
        let working = Instant::now();
        if let Some(inbox) = inbox {
            app.driver.pump(inbox);
        }
        if let Some(api) = &mut app.api {
            api.tick();
        }
        let now = Instant::now();
        if app.following.is_some() {
            app.follow(now - last);
        } else {
            app.driver.advance(now - last);
        }
        last = now;
        app.drain();
        if let Some(remote) = &mut app.remote {
            remote.sync(&app.driver.world);
        }
        work = working.elapsed();
    }
    Ok(Ended::Quit)
}

/// Sim step + full frame render at 200×50 on the default lane, mid-game with pins down.
pub fn bench_frame() -> Measurement {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    let options = PlayOptions {
        scenario: Scenario::resolve("default").expect("the default lane ships with the binary"),
        seed: 1,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    let mut app = App::new(options, None).expect("the default lane is valid");
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("a test backend never fails");
    let mut times = Vec::new();
    for i in 0..2_000u32 {
        if i % 400 == 50 {
            app.input(Input::Knock(format!("pin-{}", i / 400 % 10 + 1)));
        }
        if i % 400 == 350 {
            app.input(Input::ResetPins);
        }
        let start = Instant::now();
        app.driver.world.step();
        app.drain();
        terminal.draw(|frame| view::render(frame, &app)).expect("a test backend never fails");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((q * times.len() as f64).ceil() as usize).clamp(1, times.len()) - 1];
    Measurement {
        name: "frame_200x50".into(),
        nodes: 10,
        pods: app.driver.world.pod_counts().running as usize,
        pods_per_sec: None,
        solve_ms: pick(0.5),
        p99_ms: Some(pick(0.99)),
        runs: times.len(),
        unplaced: None,
    }
}

/// The pin and failure a chaos key picks: a digit crashes pin 1..10 (`0` is 10), the same digit
/// with shift partitions it, with alt puts it under memory pressure. Most terminals send a
/// shifted digit as the symbol above it (`!` .. `)`, US layout); those with the kitty keyboard
/// protocol send the digit with SHIFT, so both are read.
fn chaos_key(key: KeyEvent) -> Option<(u8, Failure)> {
    let KeyCode::Char(c) = key.code else { return None };
    let (digit, shifted) = match c {
        '0'..='9' => (c, key.modifiers.contains(KeyModifiers::SHIFT)),
        _ => (")!@#$%^&*(".chars().position(|s| s == c).and_then(|d| char::from_digit(d as u32, 10))?, true),
    };
    let pin = if digit == '0' { 10 } else { digit as u8 - b'0' };
    let failure = if key.modifiers.contains(KeyModifiers::ALT) {
        Failure::Pressure
    } else if shifted {
        Failure::Partition
    } else {
        Failure::Crash
    };
    Some((pin, failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flash lights until its end and is then forgotten; a pod flashed again stays lit
    /// until its later end, though its first flash's end passes.
    #[test]
    fn flashes_last_until_their_end_and_a_repeat_extends_one() {
        let key = |name: &str| ObjectKey::new("default", name);
        let mut flashes = Flashes::default();
        flashes.insert(key("a"), Millis(1_500));
        flashes.insert(key("b"), Millis(2_000));
        flashes.insert(key("a"), Millis(3_000));
        flashes.expire(Millis(1_000));
        assert!(flashes.lit(&key("a"), Millis(1_000)) && flashes.lit(&key("b"), Millis(1_000)));
        flashes.expire(Millis(2_000));
        assert!(flashes.lit(&key("a"), Millis(2_000)), "its second flash still runs");
        assert!(!flashes.lit(&key("b"), Millis(2_000)));
        assert_eq!(flashes.len(), 1);
        flashes.expire(Millis(3_000));
        assert!(flashes.is_empty() && !flashes.lit(&key("a"), Millis(3_000)));
        flashes.insert(key("c"), Millis(4_000));
        flashes.clear();
        assert!(flashes.is_empty());
        flashes.expire(Millis(5_000));
    }

    #[test]
    fn big_counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(5_000), "5,000");
        assert_eq!(grouped(150_000), "150,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn a_high_score_that_cannot_be_saved_is_said_on_screen() {
        let dir = tempfile::tempdir().expect("temp dir");
        // A data directory that can't exist: its parent is a regular file.
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"").expect("file");
        let options = PlayOptions {
            scenario: Scenario::resolve("tiny").expect("built-in lane"),
            seed: 1,
            timing: Preset::Arcade,
            speed: 1.0,
            ascii: true,
            listen: None,
            epoch: Default::default(),
        };
        let mut app = App::new(options, Some(blocker.join("highscores.json"))).expect("app");
        app.game_over(187);
        let (message, _) = app.message.clone().expect("a message is shown");
        assert!(message.contains("high score not saved"), "{message}");
        assert_eq!(app.high_scores.first().map(|s| s.score), Some(187), "the score is still shown");
    }

    /// Issue 12, item 5: a digit crashes its pin, the shifted digit (as the symbol most
    /// terminals send, or the digit with SHIFT) partitions it, alt+digit puts it under memory
    /// pressure; the partitioned pin falls, the pressured one stands.
    #[test]
    fn shifted_and_alt_digits_pick_the_failure_kind() {
        let options = PlayOptions {
            scenario: Scenario::resolve("tiny").expect("built-in lane"),
            seed: 1,
            timing: Preset::Arcade,
            speed: 1.0,
            ascii: true,
            listen: None,
            epoch: Default::default(),
        };
        let mut app = App::new(options, None).expect("app");
        let press = |app: &mut App, c: char, modifiers: KeyModifiers| {
            app.handle_key(KeyEvent::new(KeyCode::Char(c), modifiers))
        };
        press(&mut app, '!', KeyModifiers::SHIFT);
        press(&mut app, '2', KeyModifiers::ALT);
        press(&mut app, '3', KeyModifiers::NONE);
        let world = &app.driver.world;
        let failures: Vec<Option<Failure>> =
            ["pin-1", "pin-2", "pin-3"].iter().map(|n| world.cluster().failure(n)).collect();
        assert_eq!(failures, [Some(Failure::Partition), Some(Failure::Pressure), Some(Failure::Crash)]);
        let standing: Vec<bool> = world.alley().pins()[..3].iter().map(|p| p.standing).collect();
        assert_eq!(standing, [false, true, false], "a pin under pressure wobbles but stands");

        assert_eq!(chaos_key(KeyEvent::new(KeyCode::Char(')'), KeyModifiers::NONE)), Some((10, Failure::Partition)));
        assert_eq!(chaos_key(KeyEvent::new(KeyCode::Char('9'), KeyModifiers::SHIFT)), Some((9, Failure::Partition)));
        assert_eq!(chaos_key(KeyEvent::new(KeyCode::Char('0'), KeyModifiers::ALT)), Some((10, Failure::Pressure)));
        assert_eq!(chaos_key(KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE)), None);
    }
}
