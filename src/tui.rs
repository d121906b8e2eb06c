//! The terminal shell: crossterm keys in, ratatui frames out. UI-only state (selection,
//! overlays, flashes) lives here; the game and the cluster live in the World, owned by the
//! [`Driver`](crate::driver::Driver).

pub mod theme;
pub mod view;

use crate::alley::{AlleyEvent, AlleyInput, Phase};
use crate::bench::Measurement;
use crate::clock::Millis;
use crate::cluster::objects::{Deployment, Node, Pod, PodState};
use crate::cluster::store::ObjectKey;
use crate::cluster::timing::Preset;
use crate::driver::Driver;
use crate::scenario::Scenario;
use crate::world::{Input, Output, World};
use anyhow::{Context, Result};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    Pin(u8),
    Pod(ObjectKey),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HighScore {
    pub score: u16,
    pub seed: u64,
    pub when: String,
}

pub struct App {
    pub driver: Driver,
    pub theme: Theme,
    pub overlay: Overlay,
    pub selection: Selection,
    /// Pins struck recently (until a game time), for the card flash.
    pub flash_pins: BTreeMap<u8, Millis>,
    /// Pods just bound, for the glyph flash that shows where replacements land.
    pub flash_pods: BTreeMap<ObjectKey, Millis>,
    pub high_scores: Vec<HighScore>,
    pub message: Option<(String, Instant)>,
    deployments: BTreeMap<String, usize>,
    options: PlayOptions,
    high_score_file: Option<PathBuf>,
    pub quit: bool,
    pub api: Option<ApiStatus>,
}

const FLASH: Millis = Millis(1_500);

impl App {
    pub fn new(options: PlayOptions, high_score_file: Option<PathBuf>) -> Result<App> {
        let world = World::new(options.seed, options.timing, &options.scenario)?;
        let high_scores = high_score_file.as_deref().map(load_high_scores).unwrap_or_default();
        let mut app = App {
            driver: Driver::new(world, options.speed),
            theme: Theme::from_env(options.ascii),
            overlay: Overlay::None,
            selection: Selection::Pin(1),
            flash_pins: BTreeMap::new(),
            flash_pods: BTreeMap::new(),
            high_scores,
            message: None,
            deployments: BTreeMap::new(),
            options,
            high_score_file,
            quit: false,
            api: None,
        };
        app.index_deployments();
        app.drain();
        Ok(app)
    }

    fn index_deployments(&mut self) {
        for d in self.driver.world.cluster().store.list::<Deployment>() {
            let next = self.deployments.len();
            self.deployments.entry(d.metadata.name.clone()).or_insert(next);
        }
    }

    /// Colour index of the pod's deployment (by its ReplicaSet's name prefix).
    pub fn deployment_index(&self, pod: &Pod) -> usize {
        let owner = pod.metadata.controller().map(|o| o.name.as_str()).unwrap_or("");
        let deployment = owner.rsplit_once('-').map_or(owner, |(d, _)| d);
        self.deployments.get(deployment).copied().unwrap_or(self.deployments.len())
    }

    fn say(&mut self, text: impl Into<String>) {
        self.message = Some((text.into(), Instant::now() + Duration::from_secs(3)));
    }

    fn input(&mut self, input: Input) {
        if let Err(e) = self.driver.world.handle_input(input) {
            self.say(e.to_string());
        }
    }

    /// Routes the World's outputs to UI effects.
    pub fn drain(&mut self) {
        let now = self.driver.world.now();
        while let Some(output) = self.driver.world.poll_output() {
            match output {
                Output::Alley(AlleyEvent::PinDown(pin)) => {
                    self.flash_pins.insert(pin, now + FLASH);
                }
                Output::Alley(AlleyEvent::GameOver { score }) => self.game_over(score),
                Output::Event(e) if e.reason == "Scheduled" => {
                    if let Some(name) = e.object.strip_prefix("pod/") {
                        self.flash_pods.insert(ObjectKey::new("default", name), e.at + FLASH);
                    }
                }
                _ => {}
            }
        }
        self.flash_pins.retain(|_, until| *until > now);
        self.flash_pods.retain(|_, until| *until > now);
        if self.deployments.len() != self.driver.world.cluster().store.len::<Deployment>() {
            self.index_deployments();
        }
    }

    fn game_over(&mut self, score: u16) {
        self.overlay = Overlay::GameOver;
        let when = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M").to_string();
        self.high_scores.push(HighScore { score, seed: self.options.seed, when });
        self.high_scores.sort_by_key(|s| std::cmp::Reverse(s.score));
        self.high_scores.truncate(10);
        if let Some(path) = &self.high_score_file
            && let Err(e) = save_high_scores(path, &self.high_scores)
        {
            tracing::warn!("cannot save high scores to {}: {e:#}", path.display());
        }
    }

    fn new_game(&mut self) {
        self.options.seed = self.options.seed.wrapping_add(1);
        match World::new(self.options.seed, self.driver.world.cluster().timing.preset, &self.options.scenario) {
            Ok(world) => {
                let speed = self.driver.speed;
                self.driver = Driver::new(world, speed);
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
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl {
            // Only ctrl-c does anything: no destructive surprises on ctrl-d / ctrl-u.
            if key.code == KeyCode::Char('c') {
                self.quit = true;
            }
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
            KeyCode::Char(c @ '0'..='9') => {
                let pin = if c == '0' { 10 } else { c as u8 - b'0' };
                if let Some(node) = self.driver.world.pins().get(usize::from(pin) - 1).cloned() {
                    self.input(Input::Knock(node));
                    self.flash_pins.insert(pin, self.driver.world.now() + FLASH);
                }
            }
            KeyCode::Char('u') => match self.selected_node() {
                Some(node) => self.input(Input::Restore(node)),
                None => self.say("select a pin first (tab)"),
            },
            KeyCode::Char('r') => self.input(Input::ResetPins),
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

fn data_dir() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("pinsetter"))
}

/// A missing or corrupt file is no high scores, not an error.
fn load_high_scores(path: &std::path::Path) -> Vec<HighScore> {
    std::fs::read_to_string(path).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
}

fn save_high_scores(path: &std::path::Path, scores: &[HighScore]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_string_pretty(scores)?).with_context(|| format!("writing {}", path.display()))
}

fn init_logging() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = data_dir().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&dir).ok()?;
    let (writer, guard) = tracing_appender::non_blocking(tracing_appender::rolling::never(&dir, "pinsetter.log"));
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_writer(writer).with_ansi(false).with_env_filter(filter).try_init().ok()?;
    Some(guard)
}

/// Plays until the player quits. The terminal is restored on every exit path, panics included
/// (`ratatui::init` installs the hook).
pub fn run(options: PlayOptions) -> Result<()> {
    let _log = init_logging();
    let high_scores = data_dir().map(|d| d.join("highscores.json"));
    let listen = options.listen.clone();
    let mut app = App::new(options, high_scores)?;
    // The API server starts before the terminal is taken, so a bad address is a plain error.
    let (inbox, server) = match listen {
        Some((addr, security)) => {
            let (handle, inbox) = crate::api::inbox();
            let requests = handle.requests.clone();
            let server = crate::api::Server::start_with(addr, handle, security)?;
            app.api = Some(ApiStatus { addr: server.addr, requests, window: (0, Instant::now()), rate: 0.0 });
            (Some(inbox), Some(server))
        }
        None => (None, None),
    };
    tracing::info!(seed = app.options.seed, "game started");
    let mut terminal = ratatui::init();
    let result = play_loop(&mut terminal, &mut app, inbox.as_ref());
    ratatui::restore();
    drop(server);
    result
}

fn play_loop(terminal: &mut ratatui::DefaultTerminal, app: &mut App, inbox: Option<&crate::api::Inbox>) -> Result<()> {
    const FRAME: Duration = Duration::from_millis(16);
    let mut last = Instant::now();
    // Time spent working in a frame (requests, simulation, drawing), not waiting for keys.
    let mut work = Duration::ZERO;
    while !app.quit {
        let drawing = Instant::now();
        terminal.draw(|frame| view::render(frame, app)).context("drawing the frame")?;
        work += drawing.elapsed();
        tracing::debug!(work_us = work.as_micros() as u64, "frame");
        let deadline = Instant::now() + FRAME;
        while let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            if !event::poll(wait).context("reading the terminal")? {
                break;
            }
            match event::read().context("reading the terminal")? {
                Event::Key(key) => app.handle_key(key),
                Event::Resize(..) => {}
                _ => {}
            }
            if app.quit {
                break;
            }
        }
        let working = Instant::now();
        if let Some(inbox) = inbox {
            inbox.drain(&mut app.driver.world);
        }
        if let Some(api) = &mut app.api {
            api.tick();
        }
        let now = Instant::now();
        app.driver.advance(now - last);
        last = now;
        app.drain();
        work = working.elapsed();
    }
    Ok(())
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
