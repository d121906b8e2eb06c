//! The driver: the only owner of the World in an interactive session. It maps wall time to game
//! time with a speed multiplier and advances the World in fixed ticks (pause stops stepping), so
//! the game plays the same at any frame rate; and between ticks [`pump`] applies what API
//! clients and pin agents sent as [`Input`]s, publishes the read view and routes the World's
//! replies to the handlers waiting for them. `play`, `serve` and the tests all go through it.

use crate::api::{Inbox, Work};
use crate::clock::TICK_MS;
use crate::world::{Input, World};
use std::collections::BTreeMap;
use std::time::Duration;

/// Applies every request waiting in `inbox` to the World as an [`Input::Request`] (at this tick
/// boundary), runs the agent-state reads, publishes the read view, then sends each reply to the
/// handler waiting for it: after the publish, so a client reads its own write. Returns how
/// many requests ran.
pub fn pump(world: &mut World, inbox: &Inbox, log: Option<&mut InputLog>) -> usize {
    pump_fed(world, inbox, log, None)
}

/// [`pump`], also publishing each applied input to `feed`.
fn pump_fed(world: &mut World, inbox: &Inbox, mut log: Option<&mut InputLog>, feed: Option<&Feed>) -> usize {
    let mut waiting = BTreeMap::new();
    while let Some(work) = inbox.next_work() {
        match work {
            Work::Request(request, reply) => {
                let id = inbox.next_id();
                waiting.insert(id, reply);
                let input = Input::Request { id, request };
                if let Some(log) = log.as_deref_mut() {
                    log.record(world.now(), &input);
                }
                if let Some(feed) = feed {
                    feed.input(world.now(), &input);
                }
                // A bug reachable from one request must cost that request (its caller sees the
                // oneshot dropped: 503), never the World and every other client with it.
                let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.handle_input(input)));
                match applied {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::error!("a request input was refused outright: {e}"),
                    Err(_) => {
                        waiting.remove(&id);
                        tracing::error!("a request panicked on the World's thread; it was refused and the World kept");
                    }
                }
            }
            Work::Input(input, reply) => {
                if let Some(log) = log.as_deref_mut() {
                    log.record(world.now(), &input);
                }
                if let Some(feed) = feed {
                    feed.input(world.now(), &input);
                }
                let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.handle_input(input)));
                match applied {
                    // The caller may have gone (its client hung up): nobody is left to answer.
                    Ok(result) => {
                        reply.send(result.map(|()| crate::world::Answer::Done)).ok();
                    }
                    Err(_) => {
                        tracing::error!("an input panicked on the World's thread; it was refused and the World kept")
                    }
                }
            }
            Work::Read(read) => {
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read(world))).is_err() {
                    tracing::error!("a read panicked on the World's thread; it was refused and the World kept");
                }
            }
        }
    }
    inbox.publish(world);
    let ran = waiting.len();
    while let Some(reply) = world.poll_reply() {
        match waiting.remove(&reply.id) {
            // The caller may have gone (its client hung up): nobody is left to answer.
            Some(handler) => {
                handler.send(reply.result).ok();
            }
            None => tracing::error!(id = reply.id, "a reply nobody waits for"),
        }
    }
    ran
}

/// Speeds the `+`/`-` keys step through.
pub const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Most ticks run for one frame: after a long stall the game skips ahead rather than freezing
/// the screen to catch up.
const MAX_TICKS_PER_ADVANCE: u32 = 400;
/// Most wall time one advance steps for. A busy cluster (the stadium filling: 2,500 pods a
/// tick) may take longer per tick than a frame lasts; then game time runs slower than the wall
/// clock and the screen keeps answering keys, instead of owing ever more ticks and freezing.
const MAX_WALL_PER_ADVANCE: Duration = Duration::from_millis(20);
/// Control-plane rounds a tick runs between two looks at the clock: one tick of the stadium
/// filling is thousands of rounds (a kubelet sync each, a scheduling cycle of 500 pods now
/// and then), so it is run a round at a time and a frame is drawn between them rather than
/// after the whole tick. A look at the clock costs far less than the cheapest round.
const ROUNDS_PER_SLICE: usize = 1;

pub struct Driver {
    pub world: World,
    /// Where the session's inputs are recorded (`--record`), if anywhere.
    pub log: Option<InputLog>,
    pub speed: f64,
    pub paused: bool,
    /// Game-time milliseconds owed but not yet stepped.
    owed_ms: f64,
    /// Where the session is published to its followers (gRPC `Game`), if anywhere.
    pub feed: Option<Feed>,
    /// Whether the last advance fell behind the wall clock (the cluster's work outran the
    /// frame), so the screen can say game time is running slow.
    pub slowed: bool,
    /// The slowest slice of control-plane work lately (fading by 5 % an advance): a slice is
    /// not started when one that slow would end past the frame's budget. A scheduling cycle
    /// at 5,000 nodes takes 10–25 ms and most rounds microseconds, so a frame of cheap rounds
    /// must still expect the next cycle.
    slowest_slice: Duration,
}

impl Driver {
    pub fn new(world: World, speed: f64) -> Driver {
        Driver {
            world,
            log: None,
            speed,
            paused: false,
            owed_ms: 0.0,
            feed: None,
            slowed: false,
            slowest_slice: Duration::ZERO,
        }
    }

    /// Applies a player's input (recorded first, when recording).
    pub fn handle_input(&mut self, input: Input) -> Result<(), crate::world::WorldError> {
        if let Some(log) = &mut self.log {
            log.record(self.world.now(), &input);
        }
        if let Some(feed) = &self.feed {
            feed.input(self.world.now(), &input);
        }
        let applied = self.world.handle_input(input);
        if let Some(feed) = &self.feed {
            feed.state(&self.world);
        }
        applied
    }

    /// [`pump`] for this driver's World, input log and feed.
    pub fn pump(&mut self, inbox: &Inbox) -> usize {
        let ran = pump_fed(&mut self.world, inbox, self.log.as_mut(), self.feed.as_ref());
        if let Some(feed) = &self.feed {
            feed.state(&self.world);
        }
        ran
    }

    /// Ends the recording, if any, with the session's digest; returns the digest.
    pub fn finish(&mut self) -> String {
        let digest = self.world.digest();
        if let Some(feed) = &self.feed {
            feed.end(&self.world, &digest);
        }
        if let Some(log) = self.log.take()
            && let Err(e) = log.finish(&self.world)
        {
            tracing::error!("the input log is incomplete: {e:#}");
        }
        digest
    }

    /// Advances by `wall` of real time; returns how many ticks ran.
    pub fn advance(&mut self, wall: Duration) -> u32 {
        if self.paused && !self.world.is_mid_tick() {
            return 0;
        }
        if !self.paused {
            self.owed_ms += wall.as_secs_f64() * 1000.0 * self.speed;
        }
        let started = std::time::Instant::now();
        let (mut ticks, mut sliced) = (0, false);
        let mut slowest = Duration::ZERO;
        self.slowed = false;
        // A tick under way is finished even when paused: a pause stops time, not its work.
        while (!self.paused && self.owed_ms >= TICK_MS as f64) || self.world.is_mid_tick() {
            // At least one slice per advance, so the game always moves.
            let over_budget = sliced && started.elapsed() + slowest.max(self.slowest_slice) > MAX_WALL_PER_ADVANCE;
            if ticks == MAX_TICKS_PER_ADVANCE || over_budget {
                // Behind: drop what is owed rather than catch up later in one long stall (a
                // tick under way carries on next frame).
                self.slowed = ticks < MAX_TICKS_PER_ADVANCE;
                self.owed_ms = 0.0;
                break;
            }
            let starting = !self.world.is_mid_tick();
            let slice_started = std::time::Instant::now();
            let finished = self.world.step_within(ROUNDS_PER_SLICE);
            slowest = slowest.max(slice_started.elapsed());
            sliced = true;
            if finished {
                ticks += 1;
            }
            if starting {
                self.owed_ms -= TICK_MS as f64;
            }
        }
        self.slowest_slice = slowest.max(self.slowest_slice.mul_f64(0.95));
        if ticks > 0
            && !self.world.is_mid_tick()
            && let Some(feed) = &self.feed
        {
            feed.reached(&self.world);
        }
        ticks
    }

    pub fn faster(&mut self) {
        self.speed = SPEEDS.iter().copied().find(|s| *s > self.speed).unwrap_or(self.speed);
    }

    pub fn slower(&mut self) {
        self.speed = SPEEDS.iter().rev().copied().find(|s| *s < self.speed).unwrap_or(self.speed);
    }
}

/// What the first line of an input log says it is (so another file is refused for what it is).
pub const INPUT_LOG_FORMAT: &str = "pinsetter-input-log";
/// The input log format this build writes and replays.
pub const INPUT_LOG_VERSION: u32 = 1;

/// The input log's first line: everything needed to build the same World again.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogHeader {
    pub format: String,
    pub version: u32,
    pub seed: u64,
    /// The timing preset (`arcade`, `kubernetes`).
    pub preset: String,
    /// Unix seconds that game time 0 stands for (objects' timestamps are stamped from it).
    pub epoch: i64,
    /// Where the session's resourceVersions start (see `Epoch::with_resource_version_base`;
    /// logs from before it started at 0).
    #[serde(default)]
    pub resource_version_base: u64,
    pub scenario: LoggedScenario,
}

/// The lane itself, so a replay needs no other file; `digest` checks it arrived whole.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedScenario {
    pub origin: String,
    pub digest: String,
    pub scheduler: String,
    /// `--control-plane-replicas` (logs from before it existed ran one).
    #[serde(default = "one_replica")]
    pub control_plane_replicas: usize,
    pub objects: Vec<serde_json::Value>,
}

fn one_replica() -> usize {
    1
}

/// One line after the header: an input and the tick it was applied at, or the trailer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum LogLine {
    Input {
        tick: u64,
        input: Input,
    },
    /// The session's end: the tick it stopped at and the digest it ended with.
    End {
        tick: u64,
        digest: String,
        events: u64,
    },
}

/// A session as it unfolds, for those who follow it rather than drive it: a spectator's replica
/// World (`pinsetter watch`) and the replay viewer (`pinsetter replay`) consume the same lines.
/// Because the World is deterministic, the header plus these lines rebuild the game exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedLine {
    /// An input, applied when the World's clock reads `tick` (before it steps past it), as
    /// [`LogLine::Input`].
    Input { tick: u64, input: Input },
    /// The session's World has reached `tick`: a follower may step its replica up to it.
    Reached(u64),
    /// The session ended: its final digest when known (a recorded trailer), `None` when the
    /// source went away.
    End { digest: Option<String> },
}

#[derive(Debug, thiserror::Error)]
pub enum InputLogError {
    #[error("cannot read the input log {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a pinsetter input log (its first line must be the {INPUT_LOG_FORMAT} header)")]
    NotALog { path: String },
    #[error(
        "{path} is input log format version {found}; this pinsetter replays version {INPUT_LOG_VERSION} only (record the session again with this version)"
    )]
    Version { path: String, found: u32 },
    #[error("{path}:{line}: {message}")]
    Line { path: String, line: usize, message: String },
    #[error("{path}: the recorded lane is damaged (its digest does not match its objects)")]
    ScenarioDigest { path: String },
}

fn scenario_digest(objects: &[serde_json::Value], scheduler: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(scheduler.as_bytes());
    for object in objects {
        hash.update(object.to_string().as_bytes());
        hash.update(b"\n");
    }
    format!("{:x}", hash.finalize())
}

impl LogHeader {
    /// The session's epoch: its World's timestamps and resourceVersions as they were live.
    pub fn epoch(&self) -> crate::clock::Epoch {
        crate::clock::Epoch::at_unix_seconds(self.epoch).with_resource_version_base(self.resource_version_base)
    }

    pub fn new(
        seed: u64,
        preset: crate::cluster::timing::Preset,
        epoch: crate::clock::Epoch,
        scenario: &crate::scenario::Scenario,
    ) -> LogHeader {
        let objects: Vec<serde_json::Value> =
            scenario.objects.iter().map(|(_, o)| serde_json::to_value(o).unwrap_or_default()).collect();
        let scheduler = scenario.scheduler.name().to_string();
        let preset = serde_json::to_value(preset).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
        LogHeader {
            format: INPUT_LOG_FORMAT.into(),
            version: INPUT_LOG_VERSION,
            seed,
            preset,
            epoch: epoch.unix_seconds(),
            resource_version_base: epoch.resource_version_base(),
            scenario: LoggedScenario {
                origin: scenario.origin.clone(),
                digest: scenario_digest(&objects, &scheduler),
                scheduler,
                control_plane_replicas: scenario.control_plane_replicas,
                objects,
            },
        }
    }

    /// The lane as recorded.
    pub fn scenario(&self, path: &str) -> Result<crate::scenario::Scenario, InputLogError> {
        let logged = &self.scenario;
        if scenario_digest(&logged.objects, &logged.scheduler) != logged.digest {
            return Err(InputLogError::ScenarioDigest { path: path.into() });
        }
        let line = |message: String| InputLogError::Line { path: path.into(), line: 1, message };
        let objects = logged
            .objects
            .iter()
            .enumerate()
            .map(|(i, o)| crate::cluster::objects::Object::from_value(o.clone()).map(|o| (i + 1, o)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| line(format!("a recorded object: {e}")))?;
        let scheduler = crate::cluster::scheduler::Policy::ALL
            .into_iter()
            .find(|p| p.name() == logged.scheduler)
            .ok_or_else(|| line(format!("unknown scheduler {:?}", logged.scheduler)))?;
        Ok(crate::scenario::Scenario {
            origin: logged.origin.clone(),
            objects,
            scheduler,
            control_plane_replicas: logged.control_plane_replicas,
        })
    }

    pub fn preset(&self, path: &str) -> Result<crate::cluster::timing::Preset, InputLogError> {
        use clap::ValueEnum;
        crate::cluster::timing::Preset::from_str(&self.preset, true).map_err(|e| InputLogError::Line {
            path: path.into(),
            line: 1,
            message: format!("timing preset: {e}"),
        })
    }
}

/// Writes a session's inputs as versioned line-delimited JSON (`play --record`, `serve --record`):
/// the [`LogHeader`], one [`LogLine::Input`] per input as it is applied, and [`LogLine::End`].
pub struct InputLog {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    /// The first write that failed: later inputs are not written (a log with a hole would
    /// replay to another history), and [`InputLog::finish`] reports it.
    failed: Option<std::io::Error>,
}

impl InputLog {
    pub fn create(path: &std::path::Path, header: &LogHeader) -> anyhow::Result<InputLog> {
        use anyhow::Context;
        let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut log = InputLog { path: path.to_path_buf(), out: std::io::BufWriter::new(file), failed: None };
        log.write(&serde_json::to_string(header).context("encoding the input log header")?);
        if let Some(e) = log.failed.take() {
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        Ok(log)
    }

    fn write(&mut self, line: &str) {
        use std::io::Write;
        if self.failed.is_some() {
            return;
        }
        // Flushed line by line: a session that dies still leaves every input it applied.
        if let Err(e) = writeln!(self.out, "{line}").and_then(|()| self.out.flush()) {
            tracing::error!("cannot write the input log {}: {e}; recording stopped", self.path.display());
            self.failed = Some(e);
        }
    }

    /// Records `input`, applied at game time `at`.
    pub fn record(&mut self, at: crate::clock::Millis, input: &Input) {
        let line = LogLine::Input { tick: at.0 / TICK_MS, input: input.clone() };
        match serde_json::to_string(&line) {
            Ok(text) => self.write(&text),
            Err(e) => {
                tracing::error!("cannot encode an input for the log: {e}; recording stopped");
                self.failed = Some(std::io::Error::other(e));
            }
        }
    }

    /// Writes the trailer: the tick the session stopped at and its digest.
    pub fn finish(mut self, world: &World) -> anyhow::Result<()> {
        let end = LogLine::End { tick: world.now().0 / TICK_MS, digest: world.digest(), events: world.event_count() };
        self.write(&serde_json::to_string(&end)?);
        match self.failed {
            Some(e) => Err(anyhow::Error::from(e).context(format!("writing {}", self.path.display()))),
            None => Ok(()),
        }
    }
}

/// A recorded session, read back: the header and every line after it.
pub struct RecordedSession {
    pub header: LogHeader,
    pub lines: Vec<LogLine>,
}

/// Reads an input log, refusing one of another format version.
pub fn read_input_log(path: &std::path::Path) -> Result<RecordedSession, InputLogError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| InputLogError::Io { path: shown.clone(), source })?;
    let mut lines = text.lines();
    let first: serde_json::Value = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v.get("format").and_then(|f| f.as_str()) == Some(INPUT_LOG_FORMAT))
        .ok_or_else(|| InputLogError::NotALog { path: shown.clone() })?;
    let found = first.get("version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if found != u64::from(INPUT_LOG_VERSION) {
        return Err(InputLogError::Version { path: shown, found: u32::try_from(found).unwrap_or(u32::MAX) });
    }
    let header: LogHeader = serde_json::from_value(first).map_err(|e| InputLogError::Line {
        path: shown.clone(),
        line: 1,
        message: e.to_string(),
    })?;
    let lines = lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| InputLogError::Line {
                path: shown.clone(),
                line: i + 2,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<LogLine>, _>>()?;
    Ok(RecordedSession { header, lines })
}

/// How many feed items a follower may leave unread before it is cut off (it may resume from
/// the header: the feed keeps every input). About twenty seconds of play at 60 frames a second.
pub const FEED_CAPACITY: usize = 1024;

/// The game as the session's World sees it, for followers that do not replicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameState {
    pub tick: u64,
    pub frame: u8,
    pub roll: u8,
    /// Pin 1 first.
    pub standing: [bool; 10],
    /// Pins down per roll, per frame bowled so far.
    pub rolls: Vec<Vec<u8>>,
    /// Running totals through each frame, once scorable.
    pub frame_totals: Vec<Option<u16>>,
    pub total: u16,
    /// Every bowler's card is complete.
    pub complete: bool,
    /// Every bowler's card in turn order (the fields above are the first's).
    pub bowlers: Vec<BowlerCard>,
    /// Index into `bowlers` of the one whose turn it is.
    pub up: u8,
}

/// One bowler's card in a [`GameState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BowlerCard {
    pub name: String,
    pub rolls: Vec<Vec<u8>>,
    pub frame_totals: Vec<Option<u16>>,
    pub total: u16,
    pub complete: bool,
}

/// What changes whenever a [`GameState`] does: pins standing, frame, roll, bowlers, the one up,
/// rolls bowled by all.
type StateKey = ([bool; 10], u8, u8, usize, u8, usize);

impl GameState {
    fn of(world: &World) -> GameState {
        let alley = world.alley();
        let card = alley.scorecard();
        let frames = card.current_frame();
        let bowlers = alley
            .bowlers()
            .iter()
            .map(|b| {
                let card = b.scorecard();
                BowlerCard {
                    name: b.name().to_string(),
                    rolls: (1..=card.current_frame()).map(|f| card.rolls(f).to_vec()).collect(),
                    frame_totals: card.frame_totals().to_vec(),
                    total: card.total(),
                    complete: card.is_complete(),
                }
            })
            .collect::<Vec<_>>();
        GameState {
            complete: bowlers.iter().all(|b| b.complete),
            up: alley.bowler_up(),
            bowlers,
            tick: world.now().0 / TICK_MS,
            frame: alley.frame(),
            roll: alley.roll_in_frame(),
            standing: alley.pins().map(|p| p.standing),
            rolls: (1..=frames).map(|f| card.rolls(f).to_vec()).collect(),
            frame_totals: card.frame_totals().to_vec(),
            total: card.total(),
        }
    }

    /// What changes whenever the state does, cheap to compute every frame (a few cards at most).
    fn key(world: &World) -> StateKey {
        let alley = world.alley();
        let bowled = alley
            .bowlers()
            .iter()
            .map(|b| (1..=b.scorecard().current_frame()).map(|f| b.scorecard().rolls(f).len()).sum::<usize>())
            .sum();
        let standing = alley.pins().map(|p| p.standing);
        (standing, alley.frame(), alley.roll_in_frame(), alley.bowlers().len(), alley.bowler_up(), bowled)
    }
}

/// What the feed sends its followers: the lines that rebuild the game, and its state.
#[derive(Debug, Clone)]
pub enum FeedItem {
    Line(FeedLine),
    State(std::sync::Arc<GameState>),
}

/// What a follower gets when it joins: everything so far, then the live items.
pub struct FeedJoin {
    pub header: std::sync::Arc<LogHeader>,
    /// Every input applied so far, then the tick the World has reached.
    pub catch_up: Vec<FeedLine>,
    pub state: Option<std::sync::Arc<GameState>>,
    pub live: tokio::sync::broadcast::Receiver<FeedItem>,
    /// Whether the session has already ended (`catch_up` then ends with [`FeedLine::End`]).
    pub ended: bool,
}

/// The live game feed (gRPC `Game`): the session's header, every input applied so far (late
/// joiners catch up from these) and a bounded broadcast of what follows, so a slow follower
/// never holds the game: it falls behind and is cut off instead. Cheap to clone.
#[derive(Clone)]
pub struct Feed(std::sync::Arc<std::sync::Mutex<FeedState>>);

struct FeedState {
    header: std::sync::Arc<LogHeader>,
    inputs: Vec<FeedLine>,
    reached: u64,
    state: Option<std::sync::Arc<GameState>>,
    state_key: Option<StateKey>,
    end: Option<FeedLine>,
    live: tokio::sync::broadcast::Sender<FeedItem>,
}

impl Feed {
    pub fn new(header: LogHeader) -> Feed {
        let (live, _) = tokio::sync::broadcast::channel(FEED_CAPACITY);
        Feed(std::sync::Arc::new(std::sync::Mutex::new(FeedState {
            header: std::sync::Arc::new(header),
            inputs: Vec::new(),
            reached: 0,
            state: None,
            state_key: None,
            end: None,
            live,
        })))
    }

    /// The publisher does nothing fallible under the lock, so a poisoned one's data is whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, FeedState> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Joins the feed. The catch-up and the live receiver are taken under one lock, so nothing
    /// is missed or sent twice between them.
    pub fn join(&self) -> FeedJoin {
        let state = self.lock();
        let mut catch_up = state.inputs.clone();
        catch_up.push(FeedLine::Reached(state.reached));
        catch_up.extend(state.end.clone());
        FeedJoin {
            header: state.header.clone(),
            catch_up,
            state: state.state.clone(),
            live: state.live.subscribe(),
            ended: state.end.is_some(),
        }
    }

    /// Whether the session has ended (its digest is published).
    pub fn ended(&self) -> bool {
        self.lock().end.is_some()
    }

    /// How many followers are joined.
    pub fn followers(&self) -> usize {
        self.lock().live.receiver_count()
    }

    fn send(state: &FeedState, item: FeedItem) {
        // No follower joined: there is no one to tell, and joiners catch up from `inputs`.
        if state.live.receiver_count() > 0 && state.live.send(item).is_err() {
            tracing::debug!("the game feed's followers left while it sent");
        }
    }

    fn input(&self, at: crate::clock::Millis, input: &Input) {
        let line = FeedLine::Input { tick: at.0 / TICK_MS, input: input.clone() };
        let mut state = self.lock();
        state.inputs.push(line.clone());
        Feed::send(&state, FeedItem::Line(line));
    }

    fn reached(&self, world: &World) {
        let tick = world.now().0 / TICK_MS;
        let mut state = self.lock();
        if state.end.is_some() {
            return;
        }
        state.reached = tick;
        Feed::send(&state, FeedItem::Line(FeedLine::Reached(tick)));
        drop(state);
        self.state(world);
    }

    /// Publishes the game's state if it changed since last published.
    fn state(&self, world: &World) {
        let key = GameState::key(world);
        let mut state = self.lock();
        if state.state_key == Some(key) {
            return;
        }
        let game = std::sync::Arc::new(GameState::of(world));
        state.state_key = Some(key);
        state.state = Some(game.clone());
        Feed::send(&state, FeedItem::State(game));
    }

    fn end(&self, world: &World, digest: &str) {
        let tick = world.now().0 / TICK_MS;
        let mut state = self.lock();
        if state.end.is_some() {
            return;
        }
        state.reached = tick;
        Feed::send(&state, FeedItem::Line(FeedLine::Reached(tick)));
        let end = FeedLine::End { digest: Some(digest.to_string()) };
        state.end = Some(end.clone());
        Feed::send(&state, FeedItem::Line(end));
    }
}
