//! Following a session instead of driving it: a replica World rebuilt from a [`LogHeader`] and
//! the session's [`FeedLine`]s, for the spectator (`pinsetter watch`) and the replay viewer
//! (`pinsetter replay`). The World is deterministic, so applying the same inputs at the same
//! ticks rebuilds the same game and the same cluster history, and the same digest.
//!
//! The [`Follower`] keeps every input it was fed, so it can seek backwards (a fresh World from the
//! header, fast-forwarded: there is no undo) as well as forwards. It never steps its World past
//! the tick the source has reached: an input the source applies at tick `t` is only known once
//! the source has stepped past `t`. The World is the caller's (the TUI draws it between steps),
//! built by [`Follower::new`] or [`Follower::fresh_world`].

use crate::clock::TICK_MS;
use crate::cluster::timing::Preset;
use crate::driver::{FeedLine, InputLogError, LogHeader, LogLine, RecordedSession};
use crate::scenario::Scenario;
use crate::world::{Input, World, WorldError};

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Log(#[from] InputLogError),
    #[error(transparent)]
    World(#[from] WorldError),
    /// The source sent an input for a tick the replica has already stepped past: the feed is out
    /// of order (the source reported a tick before it applied all of that tick's inputs).
    #[error("the session's feed is out of order: an input for tick {tick} arrived after tick {reached} was reached")]
    Late { tick: u64, reached: u64 },
    #[error("the session's feed continued after its end")]
    AfterEnd,
}

/// How a followed session's end compares with the replica's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestCheck {
    Matches,
    Differs {
        recorded: String,
        replayed: String,
    },
    /// The source went away without saying how it ended.
    Unknown,
}

/// A replica's progress through a session. See the module docs.
pub struct Follower {
    header: LogHeader,
    scenario: Scenario,
    preset: Preset,
    /// Every input fed so far, in order, with its tick (kept for seeking backwards).
    inputs: Vec<(u64, Input)>,
    /// How many of `inputs` the World has had applied.
    applied: usize,
    /// The tick the source has reached: the World never steps past it.
    reached: u64,
    /// `Some` once the source ended: its digest, when it said.
    end: Option<Option<String>>,
    /// Inputs the World refused, as it refused them live (the count is a replay's report).
    refused: u64,
}

impl Follower {
    /// The follower of the session `header` begins, and its World at tick 0.
    pub fn new(header: LogHeader, source: &str) -> Result<(Follower, World), FollowError> {
        let scenario = header.scenario(source)?;
        let preset = header.preset(source)?;
        let follower =
            Follower { header, scenario, preset, inputs: Vec::new(), applied: 0, reached: 0, end: None, refused: 0 };
        let world = follower.fresh_world()?;
        Ok((follower, world))
    }

    /// A recorded session, fed whole: the replay viewer seeks within it at will.
    pub fn recorded(session: &RecordedSession, source: &str) -> Result<(Follower, World), FollowError> {
        let (mut follower, world) = Follower::new(session.header.clone(), source)?;
        for line in feed_lines(&session.lines) {
            follower.push(line)?;
        }
        Ok((follower, world))
    }

    /// The session's World as it was at tick 0.
    pub fn fresh_world(&self) -> Result<World, WorldError> {
        World::with_epoch(self.header.seed, self.preset, &self.scenario, self.header.epoch())
    }

    pub fn header(&self) -> &LogHeader {
        &self.header
    }

    /// The session's lane, as its header recorded it.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// Takes the next line of the feed. Nothing is applied until [`Follower::advance`].
    pub fn push(&mut self, line: FeedLine) -> Result<(), FollowError> {
        if self.end.is_some() {
            return Err(FollowError::AfterEnd);
        }
        match line {
            FeedLine::Input { tick, input } => {
                let last = self.inputs.last().map_or(0, |(t, _)| *t);
                // An input at the reached tick is in order: the source applies a tick's inputs
                // before it steps past it.
                if tick < self.reached || tick < last {
                    return Err(FollowError::Late { tick, reached: self.reached.max(last) });
                }
                self.inputs.push((tick, input));
            }
            FeedLine::Reached(tick) => self.reached = self.reached.max(tick),
            FeedLine::End { digest } => self.end = Some(digest),
        }
        Ok(())
    }

    /// The tick the source has reached (for a recording, its last).
    pub fn reached(&self) -> u64 {
        self.reached
    }

    pub fn ended(&self) -> bool {
        self.end.is_some()
    }

    /// Inputs the replica refused so far (each was refused live too).
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Whether `world` has caught up with a source that ended: nothing more will happen.
    pub fn finished(&self, world: &World) -> bool {
        self.end.is_some() && self.applied == self.inputs.len() && tick_of(world) >= self.reached
    }

    /// The digest check, once [`Follower::finished`].
    pub fn digest_check(&self, world: &World) -> Option<DigestCheck> {
        if !self.finished(world) {
            return None;
        }
        Some(match self.end.as_ref()? {
            None => DigestCheck::Unknown,
            Some(recorded) => {
                let replayed = world.digest();
                if *recorded == replayed {
                    DigestCheck::Matches
                } else {
                    DigestCheck::Differs { recorded: recorded.clone(), replayed }
                }
            }
        })
    }

    /// Steps `world` towards `target`, never past what the source has reached, applying each
    /// input at its tick. Returns the tick it stopped at.
    pub fn advance(&mut self, world: &mut World, target: u64) -> u64 {
        let target = target.min(self.reached);
        loop {
            let now = tick_of(world);
            self.apply_due(world, now);
            if now >= target {
                return now;
            }
            world.step();
        }
    }

    /// Moves `world` to `target`: forwards by stepping, backwards by rebuilding from the header
    /// and fast-forwarding. Returns the tick it landed on.
    pub fn seek(&mut self, world: &mut World, target: u64) -> Result<u64, FollowError> {
        if target < tick_of(world) {
            *world = self.fresh_world()?;
            self.applied = 0;
            self.refused = 0;
        }
        Ok(self.advance(world, target))
    }

    /// Applies the inputs due at `now`. A refused input was refused live too, and changed
    /// nothing there either; one that panicked was caught live (the driver's `pump`) and is
    /// caught here, so the replica goes on as the session did.
    fn apply_due(&mut self, world: &mut World, now: u64) {
        while let Some((tick, input)) = self.inputs.get(self.applied) {
            if *tick > now {
                break;
            }
            let input = input.clone();
            self.applied += 1;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| world.handle_input(input))) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.refused += 1;
                    tracing::debug!("a followed input was refused, as it was live: {e}");
                }
                Err(_) => {
                    self.refused += 1;
                    tracing::debug!("a followed input panicked, as it did live; the replica kept on");
                }
            }
            // Replies go to handlers in the session followed; nobody waits for them here.
            while world.poll_reply().is_some() {}
        }
    }
}

/// The World's clock in ticks.
pub fn tick_of(world: &World) -> u64 {
    world.now().0 / TICK_MS
}

/// A recorded log's lines as a feed: its inputs, then the tick it stopped at and its digest.
pub fn feed_lines(lines: &[LogLine]) -> Vec<FeedLine> {
    let mut feed = Vec::with_capacity(lines.len() + 2);
    let mut last = 0;
    for line in lines {
        match line {
            LogLine::Input { tick, input } => {
                last = last.max(*tick);
                feed.push(FeedLine::Input { tick: *tick, input: input.clone() });
            }
            LogLine::End { tick, digest, .. } => {
                feed.push(FeedLine::Reached((*tick).max(last)));
                feed.push(FeedLine::End { digest: Some(digest.clone()) });
                return feed;
            }
        }
    }
    // A log cut short (its session died): everything it holds, and no digest to check.
    feed.push(FeedLine::Reached(last));
    feed.push(FeedLine::End { digest: None });
    feed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alley::AlleyInput;
    use crate::clock::Epoch;
    use crate::driver::{Driver, InputLog};

    /// A session played through the driver and recorded: moves, a roll, chaos and a scale, at
    /// several ticks. Returns the log's path (in `dir`) and the live digest.
    fn record(dir: &std::path::Path) -> (std::path::PathBuf, String) {
        let scenario = Scenario::resolve("default").expect("built-in lane");
        let world = World::new(5, Preset::Arcade, &scenario).expect("world");
        let header = LogHeader::new(5, Preset::Arcade, Epoch::default(), &scenario);
        let path = dir.join("session.jsonl");
        let mut driver = Driver::new(world, 1.0);
        driver.log = Some(InputLog::create(&path, &header).expect("log"));
        let steps = |driver: &mut Driver, n: u32| {
            for _ in 0..n {
                driver.world.step();
                while driver.world.poll_output().is_some() {}
            }
        };
        for input in [AlleyInput::Move(2), AlleyInput::Aim(1), AlleyInput::Power] {
            driver.handle_input(Input::Alley(input)).expect("an alley input");
            steps(&mut driver, 30);
        }
        driver.handle_input(Input::Alley(AlleyInput::Power)).expect("release");
        steps(&mut driver, 400);
        driver.handle_input(Input::Knock("pin-3".into())).expect("knock");
        steps(&mut driver, 700);
        // Refused live (no such node): refused the same way in the replica.
        assert!(driver.handle_input(Input::Knock("pin-99".into())).is_err());
        let scale = Input::Scale { deployment: crate::cluster::store::ObjectKey::new("default", "web"), replicas: 6 };
        driver.handle_input(scale).expect("scale");
        steps(&mut driver, 900);
        driver.handle_input(Input::ResetPins).expect("reset");
        steps(&mut driver, 500);
        let digest = driver.finish();
        (path, digest)
    }

    #[test]
    fn a_followed_recording_ends_on_its_recorded_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, live) = record(dir.path());
        let session = crate::driver::read_input_log(&path).expect("the log reads back");
        let (mut follower, mut world) = Follower::recorded(&session, "session.jsonl").expect("follower");
        assert_eq!(follower.digest_check(&world), None, "not at the end yet");
        let end = follower.reached();
        assert_eq!(follower.advance(&mut world, u64::MAX), end, "stops where the session stopped");
        assert_eq!(world.digest(), live);
        assert_eq!(follower.digest_check(&world), Some(DigestCheck::Matches));
        assert_eq!(follower.refused(), 1, "the unknown pin was refused, as it was live");
    }

    #[test]
    fn seeking_back_then_forward_lands_on_the_same_digest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, live) = record(dir.path());
        let session = crate::driver::read_input_log(&path).expect("the log reads back");
        let (mut follower, mut world) = Follower::recorded(&session, "session.jsonl").expect("follower");
        let end = follower.reached();
        follower.seek(&mut world, 1_500).expect("forward");
        let at_1500 = world.digest();
        follower.seek(&mut world, end).expect("to the end");
        follower.seek(&mut world, 1_500).expect("back");
        assert_eq!(world.digest(), at_1500, "back to the same moment, the same history");
        follower.seek(&mut world, 200).expect("further back");
        follower.seek(&mut world, end).expect("forward again");
        assert_eq!(world.digest(), live);
        assert_eq!(follower.digest_check(&world), Some(DigestCheck::Matches));
    }

    #[test]
    fn a_live_replica_never_runs_ahead_of_its_source() {
        let scenario = Scenario::resolve("default").expect("built-in lane");
        let header = LogHeader::new(1, Preset::Arcade, Epoch::at_unix_seconds(0), &scenario);
        let (mut follower, mut world) = Follower::new(header, "live").expect("follower");
        follower.push(FeedLine::Reached(50)).expect("reached");
        assert_eq!(follower.advance(&mut world, 1_000), 50, "only as far as the source got");
        follower.push(FeedLine::Input { tick: 50, input: Input::Knock("pin-1".into()) }).expect("in order");
        follower.push(FeedLine::Reached(60)).expect("reached");
        assert_eq!(follower.advance(&mut world, 1_000), 60);
        assert!(world.cluster().is_knocked("pin-1"), "the input at the reached tick was applied");
        let late = follower.push(FeedLine::Input { tick: 55, input: Input::ResetPins });
        assert!(matches!(late, Err(FollowError::Late { tick: 55, reached: 60 })), "{late:?}");
        follower.push(FeedLine::End { digest: None }).expect("end");
        assert_eq!(follower.digest_check(&world), Some(DigestCheck::Unknown));
        assert!(matches!(follower.push(FeedLine::Reached(70)), Err(FollowError::AfterEnd)));
    }
}
