//! The game screen for a session followed rather than played: `pinsetter watch` (spectating a
//! live game through a feed) and `pinsetter replay FILE` (a recording, with pause, speed and
//! seek). The World on screen is a [`Follower`]'s replica; the screen is `play`'s, read-only:
//! the keys that would change the game only say so. `pinsetter play --join` is the spectator
//! with a seat ([`Seat`]): its bowling keys are sent to the host as that bowler's `Bowl`
//! actions, and the replica shows their throws when the feed brings them back, as it shows the
//! host's. The chaos and cluster keys stay the host's.

use super::{App, Overlay, PlayOptions, Result};
use crate::alley::AlleyInput;
use crate::alley::Phase;
use crate::clock::TICK_MS;
use crate::driver::{FeedLine, LogHeader, RecordedSession};
use crate::follow::{DigestCheck, Follower, tick_of};
use crate::grpc::client::Seat;
use anyhow::Context;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

/// Most ticks a followed World steps in one screen frame: a late joiner or a fast replay
/// catches up over several frames instead of freezing the screen.
const MAX_TICKS_PER_FRAME: u64 = 2_000;

/// Pressing `←` this soon after a frame began goes to the frame before (as a media player's
/// "previous"), so repeated presses walk back while the replay plays.
const PREVIOUS_FRAME_GRACE_TICKS: u64 = 100;

/// What a screen that follows a session holds besides the replica World (which is the app's).
pub struct Following {
    pub follower: Follower,
    /// Where the session comes from, as the user named it (an address, a file).
    pub source: String,
    pub kind: FollowKind,
    /// The end overlay has been shown (it shows once per arrival at the end).
    end_shown: bool,
    /// Set when this screen bowls in the followed game (`play --join`).
    pub seat: Option<Seat>,
}

pub enum FollowKind {
    /// A live session: lines arrive on the feed; the replica follows as fast as they come.
    Spectate { feed: Receiver<FeedLine> },
    /// A recording, whole: played at the driver's speed, paused and sought at will.
    Replay {
        /// The tick each bowling frame began at (frame 1 at 0), for seeking by frame.
        frame_starts: Vec<u64>,
        /// Game-time milliseconds owed but not yet stepped (as the driver's).
        owed_ms: f64,
    },
}

impl Following {
    pub fn is_replay(&self) -> bool {
        matches!(self.kind, FollowKind::Replay { .. })
    }

    /// The screen's marker: SPECTATING, BOWLING or REPLAY.
    pub fn label(&self) -> &'static str {
        match (&self.kind, &self.seat) {
            (FollowKind::Replay { .. }, _) => "REPLAY",
            (FollowKind::Spectate { .. }, Some(_)) => "BOWLING",
            (FollowKind::Spectate { .. }, None) => "SPECTATING",
        }
    }
}

/// What `play` would have been started with for the followed session (the app keeps them).
fn options_for(follower: &Follower, ascii: bool) -> PlayOptions {
    let header = follower.header();
    PlayOptions {
        scenario: follower.scenario().clone(),
        seed: header.seed,
        timing: follower.preset(),
        speed: 1.0,
        ascii,
        listen: None,
        epoch: header.epoch(),
    }
}

impl App {
    /// A read-only screen on the live session `header` describes, fed by `feed`; `source` names
    /// it on screen (e.g. `grpc://127.0.0.1:8001`).
    pub fn spectating(header: LogHeader, feed: Receiver<FeedLine>, source: String) -> Result<App> {
        let (follower, world) = Follower::new(header, &source)?;
        let options = options_for(&follower, false);
        let mut app = App::with_world(world, options, None);
        app.following =
            Some(Following { follower, source, kind: FollowKind::Spectate { feed }, end_shown: false, seat: None });
        Ok(app)
    }

    /// The live session `header` describes, with a seat in it: `play --join`.
    pub fn joining(header: LogHeader, feed: Receiver<FeedLine>, source: String, seat: Seat) -> Result<App> {
        let mut app = App::spectating(header, feed, source)?;
        let name = seat.name.clone();
        if let Some(following) = &mut app.following {
            following.seat = Some(seat);
        }
        app.say(format!("joined as {name}: you bowl when the scorecard marks you"));
        Ok(app)
    }

    /// A replay of a recorded session, at its start; `source` names the file on screen.
    pub fn replaying(session: &RecordedSession, source: String, ascii: bool) -> Result<App> {
        let frame_starts = frame_starts(session, &source)?;
        let (follower, world) = Follower::recorded(session, &source)?;
        let options = options_for(&follower, ascii);
        let mut app = App::with_world(world, options, None);
        app.following = Some(Following {
            follower,
            source,
            kind: FollowKind::Replay { frame_starts, owed_ms: 0.0 },
            end_shown: false,
            seat: None,
        });
        Ok(app)
    }

    /// One screen frame of following, `wall` after the last: takes what the feed sent and steps
    /// the replica towards it (spectating), or plays the recording on at the chosen speed.
    pub fn follow(&mut self, wall: Duration) {
        let Some(following) = &mut self.following else { return };
        let world = &mut self.driver.world;
        let now = tick_of(world);
        let mut refused = None;
        let target = match &mut following.kind {
            FollowKind::Spectate { feed } => {
                loop {
                    let line = match feed.try_recv() {
                        Ok(line) => line,
                        Err(TryRecvError::Empty) => break,
                        // The source went away without an end: what arrived is all there is.
                        Err(TryRecvError::Disconnected) if following.follower.ended() => break,
                        Err(TryRecvError::Disconnected) => FeedLine::End { digest: None },
                    };
                    if let Err(e) = following.follower.push(line) {
                        refused = Some(e.to_string());
                    }
                }
                now + MAX_TICKS_PER_FRAME
            }
            FollowKind::Replay { owed_ms, .. } => {
                if self.driver.paused {
                    now
                } else {
                    *owed_ms += wall.as_secs_f64() * 1000.0 * self.driver.speed;
                    let ticks = (*owed_ms / TICK_MS as f64).floor();
                    *owed_ms -= ticks * TICK_MS as f64;
                    now + (ticks as u64).min(MAX_TICKS_PER_FRAME)
                }
            }
        };
        following.follower.advance(world, target);
        // The host's answers to this bowler's keys: only refusals are worth a line.
        let refusals: Vec<String> = following
            .seat
            .as_ref()
            .map(|seat| seat.answers.try_iter().filter_map(Result::err).collect())
            .unwrap_or_default();
        if let Some(problem) = refused {
            self.problem(format!("a line from {} was ignored: {problem}", self.source()));
        }
        if let Some(refusal) = refusals.into_iter().last() {
            self.say(format!("refused: {refusal}"));
        }
        self.drain();
        self.show_end_once();
    }

    fn source(&self) -> &str {
        self.following.as_ref().map_or("", |f| f.source.as_str())
    }

    /// At the end of the session, the end overlay, once: closed, the last frame stays.
    fn show_end_once(&mut self) {
        let Some(following) = &mut self.following else { return };
        if !following.end_shown && following.follower.finished(&self.driver.world) {
            following.end_shown = true;
            if let FollowKind::Replay { owed_ms, .. } = &mut following.kind {
                *owed_ms = 0.0;
            }
            self.overlay = Overlay::Ended;
        }
    }

    /// Moves a replay to `target` (a tick), forwards or back.
    fn seek(&mut self, target: u64) {
        let Some(following) = &mut self.following else { return };
        let world = &mut self.driver.world;
        let back = target < tick_of(world);
        match following.follower.seek(world, target) {
            Ok(_) => {
                if let FollowKind::Replay { owed_ms, .. } = &mut following.kind {
                    *owed_ms = 0.0;
                }
                if back {
                    // The flashes belong to a later moment; the end is ahead again.
                    self.flash_pins.clear();
                    self.flash_pods.clear();
                    following.end_shown = false;
                    if self.overlay == Overlay::Ended {
                        self.overlay = Overlay::None;
                    }
                }
            }
            Err(e) => self.problem(format!("cannot seek: {e}")),
        }
        self.drain();
        self.show_end_once();
    }

    /// The tick the next (`forward`) or previous bowling frame begins at.
    fn frame_boundary(&self, forward: bool) -> Option<u64> {
        let following = self.following.as_ref()?;
        let FollowKind::Replay { frame_starts, .. } = &following.kind else { return None };
        let now = tick_of(&self.driver.world);
        if forward {
            Some(frame_starts.iter().copied().find(|t| *t > now).unwrap_or(following.follower.reached()))
        } else {
            Some(frame_starts.iter().rev().copied().find(|t| t + PREVIOUS_FRAME_GRACE_TICKS <= now).unwrap_or(0))
        }
    }

    /// The end of the session, if the replica has reached it: how its digest compares.
    pub fn digest_check(&self) -> Option<DigestCheck> {
        self.following.as_ref()?.follower.digest_check(&self.driver.world)
    }
}

/// The ticks at which each bowling frame of a recorded game began (frame 1 at tick 0): one
/// headless pass over the recording, so `←`/`→` are plain seeks.
fn frame_starts(session: &RecordedSession, source: &str) -> Result<Vec<u64>> {
    let (mut follower, mut world) = Follower::recorded(session, source)?;
    let mut starts = vec![0];
    let mut frame = world.alley().frame();
    let end = follower.reached();
    while tick_of(&world) < end {
        let now = tick_of(&world);
        follower.advance(&mut world, now + 1);
        while world.poll_output().is_some() {}
        let current = world.alley().frame();
        if current != frame && world.alley().phase() != Phase::GameOver {
            starts.push(tick_of(&world));
        }
        frame = current;
    }
    Ok(starts)
}

/// The bowling keys of local play (the README's key table), as controls.
fn bowling_control(code: KeyCode) -> Option<AlleyInput> {
    Some(match code {
        KeyCode::Left => AlleyInput::Move(-1),
        KeyCode::Right => AlleyInput::Move(1),
        KeyCode::Up => AlleyInput::Aim(1),
        KeyCode::Down => AlleyInput::Aim(-1),
        KeyCode::Char('[') => AlleyInput::Hook(-1),
        KeyCode::Char(']') => AlleyInput::Hook(1),
        KeyCode::Char(' ') => AlleyInput::Power,
        _ => return None,
    })
}

/// Keys on a followed screen: looking (select, describe, help), for a replay the playback, and
/// with a seat the bowling keys; whatever else would change the game says so.
pub(super) fn handle_key(app: &mut App, key: KeyEvent) {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        if key.code == KeyCode::Char('c') {
            app.quit = true;
        }
        return;
    }
    let replay = app.following.as_ref().is_some_and(Following::is_replay);
    let seated = app.following.as_ref().and_then(|f| f.seat.as_ref()).map(|seat| seat.name.clone());
    match (&app.overlay, key.code) {
        (Overlay::None, _) => {}
        (_, KeyCode::Char('q')) => {
            app.quit = true;
            return;
        }
        (Overlay::Help, KeyCode::Esc | KeyCode::Char('?'))
        | (Overlay::Describe, KeyCode::Esc | KeyCode::Char('d') | KeyCode::Enter)
        | (Overlay::Ended, KeyCode::Esc) => {
            app.overlay = Overlay::None;
            return;
        }
        // Over the end, the playback keys still work (home: watch again).
        (Overlay::Ended, _) => app.overlay = Overlay::None,
        _ => return,
    }
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => app.quit = true,
        KeyCode::Char('?') => app.overlay = Overlay::Help,
        KeyCode::Char('d') | KeyCode::Enter => app.overlay = Overlay::Describe,
        KeyCode::Tab => app.select(true),
        KeyCode::BackTab => app.select(false),
        KeyCode::Char('p' | ' ') if replay => app.driver.paused = !app.driver.paused,
        KeyCode::Char('+' | '=') if replay => app.driver.faster(),
        KeyCode::Char('-' | '_') if replay => app.driver.slower(),
        KeyCode::Left | KeyCode::Right if replay => {
            if let Some(target) = app.frame_boundary(key.code == KeyCode::Right) {
                app.seek(target);
            }
        }
        KeyCode::Home if replay => app.seek(0),
        KeyCode::End if replay => app.seek(u64::MAX),
        code if seated.is_some() && bowling_control(code).is_some() => {
            let sent = app.following.as_ref().and_then(|f| f.seat.as_ref()).zip(bowling_control(code));
            if let Some(Err(problem)) = sent.map(|(seat, control)| seat.send(control)) {
                app.say(problem);
            }
        }
        _ if seated.is_some() => app.say(format!(
            "bowling as {} — the chaos and cluster keys are the host's (tab selects, d describes, q quits)",
            seated.unwrap_or_default()
        )),
        _ if replay => app.say("replay — read only (space pauses, ←→ seek by frame, q quits)"),
        _ => app.say("spectating — read only (tab selects, d describes, q quits)"),
    }
}

/// Shows the live session `header` describes, fed by `feed`, until the viewer quits; `title`
/// names the source. The terminal is restored on every exit path.
pub fn spectate(header: LogHeader, feed: Receiver<FeedLine>, title: String) -> Result<()> {
    super::require_terminal_for("watch")?;
    let app = App::spectating(header, feed, title)?;
    run(app).map(|_| ())
}

/// Bowls in the live session `header` describes (`pinsetter play --join`), from `seat`, until
/// the player quits; `title` names the source. The terminal is restored on every exit path.
pub fn join(header: LogHeader, feed: Receiver<FeedLine>, title: String, seat: Seat) -> Result<()> {
    super::require_terminal_for("play --join")?;
    let app = App::joining(header, feed, title, seat)?;
    run(app).map(|_| ())
}

/// Plays a recorded session back (`pinsetter replay FILE`); the log was read, and refused if it
/// was not one, before the terminal is taken. Returns the digest check at quit, if the replay
/// got to the end.
pub fn replay(session: &RecordedSession, source: String, ascii: bool) -> Result<Option<DigestCheck>> {
    super::require_terminal_for("replay")?;
    let app = App::replaying(session, source, ascii)?;
    run(app)
}

fn run(mut app: App) -> Result<Option<DigestCheck>> {
    let data_dir = crate::storage::data_dir();
    let (_log, log_problem) = super::init_logging(&data_dir);
    if let Some(problem) = log_problem {
        app.problem(problem);
    }
    let signal = super::catch_ending_signals()?;
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result =
        super::terminal_reader().and_then(|events| super::play_loop(&mut terminal, &mut app, None, &signal, &events));
    ratatui::restore();
    result?;
    Ok(app.digest_check())
}
