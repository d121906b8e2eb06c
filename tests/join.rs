//! Two bowlers over gRPC (issue 16, `pinsetter play --join`): a game served in process, its
//! first bowler on an Act stream that did not join (as the host's keys are), a second bowler
//! through `grpc::client::join` (the joiner's own client), and a replica World fed by
//! `grpc::client::follow` (the joiner's screen). Turns alternate frame by frame, a throw out of
//! turn is refused either way round, both cards add up the same on the host, in the replica and
//! in the `Game` stream's state, and the recorded session replays to the session's digest.

mod common;

use pinsetter::alley::{AlleyInput, Phase, ScoreCard};
use pinsetter::cluster::timing::Preset;
use pinsetter::driver::{Driver, Feed, FeedLine, InputLog, LogHeader};
use pinsetter::follow::{DigestCheck, Follower};
use pinsetter::grpc::{client, proto};
use pinsetter::scenario::Scenario;
use pinsetter::world::World;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

const SEED: u64 = 11;
/// Game speed of the host: rolls take a fraction of a second of real time.
const SPEED: f64 = 8.0;

/// The session, served on port 0, its driver on a thread of its own until stopped.
struct Host {
    server: pinsetter::api::Server,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(Driver, String)>,
}

impl Host {
    fn start(record: &std::path::Path) -> Host {
        let scenario = Scenario::resolve("default").expect("built-in lane");
        let world = World::new(SEED, Preset::Arcade, &scenario).expect("world");
        let epoch = pinsetter::clock::Epoch::default();
        let header = LogHeader::new(SEED, Preset::Arcade, epoch, &scenario);
        let (handle, inbox) = pinsetter::api::inbox();
        let feed = Feed::new(header.clone());
        assert!(inbox.publish_feed(feed.clone()).is_ok());
        let mut driver = Driver::new(world, SPEED);
        driver.feed = Some(feed);
        driver.log = Some(InputLog::create(record, &header).expect("the input log"));
        driver.pump(&inbox);
        let server = pinsetter::api::Server::start("127.0.0.1:0".parse().unwrap(), handle).expect("serves");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut last = Instant::now();
            while !stopping.load(Ordering::Relaxed) {
                driver.advance(last.elapsed());
                last = Instant::now();
                driver.pump(&inbox);
                std::thread::sleep(Duration::from_millis(2));
            }
            let digest = driver.finish();
            (driver, digest)
        });
        Host { server, stop, thread }
    }

    fn address(&self) -> String {
        format!("grpc://{}", self.server.addr)
    }

    /// Stops the driver (its followers hear the end) and returns it with the session's digest.
    fn stop(self) -> (Driver, String, pinsetter::api::Server) {
        self.stop.store(true, Ordering::Relaxed);
        let (driver, digest) = self.thread.join().expect("the driver thread");
        (driver, digest, self.server)
    }
}

/// The lane's first bowler, as an Act stream that never joined: its bowls are the first
/// bowler's, as the host's keys are.
struct FirstBowler {
    runtime: tokio::runtime::Runtime,
    actions: tokio::sync::mpsc::Sender<proto::Action>,
    results: tonic::Streaming<proto::ActionResult>,
}

impl FirstBowler {
    fn open(address: &str) -> FirstBowler {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (actions, queue) = tokio::sync::mpsc::channel(4);
        let results = runtime.block_on(async {
            let mut client = client::connect(address, None).await.expect("connects");
            let stream = tokio_stream::wrappers::ReceiverStream::new(queue);
            client.act(stream).await.expect("Act").into_inner()
        });
        FirstBowler { runtime, actions, results }
    }

    /// Sends the control; its result's code and message.
    fn send(&mut self, power: bool) -> (tonic::Code, String) {
        use proto::bowl::Control;
        let control = if power { Control::Power(true) } else { Control::Move(1) };
        let action =
            proto::Action { action: Some(proto::action::Action::Bowl(proto::Bowl { control: Some(control) })) };
        self.runtime.block_on(async {
            self.actions.send(action).await.expect("queued");
            let result = self.results.message().await.expect("answered").expect("the stream goes on");
            (tonic::Code::from_i32(result.code), result.message)
        })
    }
}

/// The joiner's view: a replica World following the feed, as `tui::following` steps it.
struct Replica {
    follower: Follower,
    world: World,
    lines: Receiver<FeedLine>,
}

impl Replica {
    fn follow(address: &str) -> Replica {
        let (header, lines) = client::follow(address, None).expect("following the game");
        let (follower, world) = Follower::new(header, address).expect("the replica starts");
        Replica { follower, world, lines }
    }

    fn catch_up(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.follower.push(line).expect("the feed is in order");
        }
        self.follower.advance(&mut self.world, u64::MAX);
        while self.world.poll_output().is_some() {}
    }

    /// Catches up until `done` holds of the replica's World.
    fn wait_for(&mut self, what: &str, done: impl Fn(&World) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            self.catch_up();
            if done(&self.world) {
                return;
            }
            assert!(Instant::now() < deadline, "the replica never saw {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Rolls bowled by everyone on the lane.
fn rolls(world: &World) -> usize {
    world.alley().bowlers().iter().map(|b| (1..=10).map(|f| b.scorecard().rolls(f).len()).sum::<usize>()).sum()
}

fn cards(world: &World) -> Vec<(String, ScoreCard)> {
    world.alley().bowlers().iter().map(|b| (b.name().to_string(), b.scorecard().clone())).collect()
}

#[test]
fn a_joined_bowler_takes_turns_with_the_first_and_the_session_replays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let record = dir.path().join("two.jsonl");
    let host = Host::start(&record);
    let address = host.address();
    let mut replica = Replica::follow(&address);

    let bob = client::join(&address, None, "bob").expect("bob joins");
    assert_eq!(bob.bowler, 1);
    let taken = client::join(&address, None, "bob").err().expect("a second bob is refused");
    assert!(format!("{taken:#}").contains("a bowler named \"bob\" is already on this lane"), "{taken:#}");
    // The host is up: bob's throw is refused and changes nothing.
    bob.send(AlleyInput::Power).expect("queued");
    let refused = bob.answers.recv_timeout(Duration::from_secs(30)).expect("answered");
    assert_eq!(refused, Err("it is host's turn, not bob's".to_string()));

    let mut first = FirstBowler::open(&address);
    let mut turns: Vec<(u8, u8)> = Vec::new();
    let mut first_refused = None;
    loop {
        replica.wait_for("the next bowler lining up", |w| w.alley().phase() == Phase::Aiming);
        let alley = replica.world.alley();
        let (up, frame) = (alley.bowler_up(), alley.frame());
        if up == 0 && frame == 3 {
            break;
        }
        if turns.last() != Some(&(up, frame)) {
            turns.push((up, frame));
        }
        let before = rolls(&replica.world);
        if up == 0 {
            assert_eq!(first.send(true), (tonic::Code::Ok, String::new()), "the meter starts");
            std::thread::sleep(Duration::from_millis(40));
            assert_eq!(first.send(true).0, tonic::Code::Ok, "the ball is released");
        } else {
            if first_refused.is_none() {
                first_refused = Some(first.send(false));
            }
            for _ in 0..2 {
                bob.send(AlleyInput::Power).expect("queued");
                assert_eq!(bob.answers.recv_timeout(Duration::from_secs(30)).expect("answered"), Ok(()));
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        replica.wait_for("the roll finish", |w| {
            rolls(w) > before && matches!(w.alley().phase(), Phase::Aiming | Phase::GameOver)
        });
    }
    assert_eq!(turns, [(0, 1), (1, 1), (0, 2), (1, 2)], "whole frames, turn about");
    assert_eq!(
        first_refused,
        Some((tonic::Code::FailedPrecondition, "it is bob's turn, not host's".to_string())),
        "the first bowler's control on bob's turn"
    );

    // The Game stream's state has both cards and whose turn it is.
    let state = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
        let mut client = client::connect(&address, None).await.expect("connects");
        let mut updates = client.game(proto::GameRequest {}).await.expect("Game").into_inner();
        loop {
            let update = updates.message().await.expect("the stream goes on").expect("a state arrives");
            if let Some(proto::game_update::Update::State(state)) = update.update {
                break state;
            }
        }
    });

    let (host_driver, session, server) = host.stop();
    server.stop();
    while !replica.follower.finished(&replica.world) {
        replica.catch_up();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(replica.follower.digest_check(&replica.world), Some(DigestCheck::Matches));
    let host_cards = cards(&host_driver.world);
    assert_eq!(cards(&replica.world), host_cards, "the joiner's screen has the host's cards");
    assert_eq!(host_cards.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["host", "bob"]);
    for (name, card) in &host_cards {
        assert_eq!(card.current_frame(), 3, "{name} bowled frames 1 and 2");
        // The card adds up: the same rolls recorded afresh score the same.
        let mut again = ScoreCard::new();
        for pins in (1..=2).flat_map(|f| card.rolls(f).to_vec()) {
            again.record(pins).expect("a legal roll");
        }
        assert_eq!(again.total(), card.total(), "{name}");
        assert_eq!(again.frame_totals(), card.frame_totals(), "{name}");
    }
    let names: Vec<&str> = state.bowlers.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["host", "bob"]);
    assert_eq!(state.up, 0, "the host is up for frame 3");
    for (sent, (name, card)) in state.bowlers.iter().zip(&host_cards) {
        assert_eq!(sent.total, u32::from(card.total()), "{name}");
        let sent_rolls: Vec<Vec<u32>> = sent.frames.iter().map(|f| f.rolls.clone()).collect();
        let host_rolls: Vec<Vec<u32>> =
            (1..=card.current_frame()).map(|f| card.rolls(f).iter().map(|&p| u32::from(p)).collect()).collect();
        assert_eq!(sent_rolls, host_rolls, "{name}");
    }

    let replayed = common::pinsetter(&["sim", "--replay", record.to_str().unwrap(), "--json"]);
    assert!(replayed.status.success(), "{}", String::from_utf8_lossy(&replayed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&replayed.stdout).unwrap();
    assert_eq!(report["digest"], session.as_str(), "the replay ends where the session did");
    assert_eq!(report["digest_matches"], true);
}

/// Renders the app as a terminal of `width`×`height` would show it.
fn screen(app: &pinsetter::tui::App, width: u16, height: u16) -> String {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| pinsetter::tui::view::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

/// Screen frames of the app until `done` holds of it.
fn frames_until(app: &mut pinsetter::tui::App, what: &str, done: impl Fn(&pinsetter::tui::App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(app) {
        assert!(Instant::now() < deadline, "the joiner's screen never showed {what}");
        std::thread::sleep(Duration::from_millis(10));
        app.follow(Duration::from_millis(10));
    }
}

/// `play --join`'s screen without a terminal: the local bowling keys go to the host as the
/// joined bowler's, a key out of turn says why it was refused, the throws come back through
/// the feed, and the scorecard shows both bowlers with the one who is up marked.
#[test]
fn the_joiners_screen_bowls_with_the_local_keys_and_shows_both_cards() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let dir = tempfile::tempdir().expect("temp dir");
    let host = Host::start(&dir.path().join("screen.jsonl"));
    let address = host.address();
    let (header, lines) = client::follow(&address, None).expect("following the game");
    let seat = client::join(&address, None, "eve").expect("eve joins");
    let mut app = pinsetter::tui::App::joining(header, lines, address.clone(), seat).expect("the screen");
    let press = |app: &mut pinsetter::tui::App, code| app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    frames_until(&mut app, "eve on the lane", |app| app.driver.world.alley().bowlers().len() == 2);

    press(&mut app, KeyCode::Char(' '));
    frames_until(&mut app, "the refusal", |app| app.message.as_ref().is_some_and(|(m, _)| m.starts_with("refused")));
    let said = app.message.as_ref().map(|(m, _)| m.clone()).unwrap_or_default();
    assert_eq!(said, "refused: it is host's turn, not eve's");
    let text = screen(&app, 160, 48);
    assert!(text.contains("BOWLING") && text.contains("bowling as eve"), "{text}");
    assert!(text.contains(">host") && text.contains(" eve "), "both rows, the host marked: {text}");
    assert!(text.contains("refused: it is host's turn, not eve's"), "on the message line: {text}");
    // A chaos key is the host's.
    press(&mut app, KeyCode::Char('3'));
    assert!(app.message.as_ref().is_some_and(|(m, _)| m.contains("the host's")), "{:?}", app.message);

    // The host bowls their frame over their own stream; then the keys bowl for eve.
    let mut first = FirstBowler::open(&address);
    while app.driver.world.alley().bowler_up() == 0 {
        frames_until(&mut app, "the host lining up", |app| {
            app.driver.world.alley().phase() == Phase::Aiming || app.driver.world.alley().bowler_up() != 0
        });
        if app.driver.world.alley().bowler_up() != 0 {
            break;
        }
        let before = rolls(&app.driver.world);
        assert_eq!(first.send(true).0, tonic::Code::Ok);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(first.send(true).0, tonic::Code::Ok);
        frames_until(&mut app, "the host's roll", |app| {
            rolls(&app.driver.world) > before && app.driver.world.alley().phase() == Phase::Aiming
        });
    }
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Char(' '));
    std::thread::sleep(Duration::from_millis(40));
    app.follow(Duration::from_millis(10));
    press(&mut app, KeyCode::Char(' '));
    frames_until(&mut app, "eve's first roll", |app| {
        !app.driver.world.alley().bowlers()[1].scorecard().rolls(1).is_empty()
    });
    let text = screen(&app, 160, 48);
    let eve_done = app.driver.world.alley().bowlers()[1].scorecard().current_frame() > 1;
    let marked = if eve_done { ">host" } else { ">eve" };
    assert!(text.contains(marked), "eve marked while her frame goes on, the host once it is over: {text}");
    let (host_driver, _, server) = host.stop();
    server.stop();
    let host_eve = host_driver.world.alley().bowlers()[1].scorecard().rolls(1).to_vec();
    assert_eq!(host_eve.first(), app.driver.world.alley().bowlers()[1].scorecard().rolls(1).first());
}
