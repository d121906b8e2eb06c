//! Whole-screen snapshots of the game (ratatui TestBackend + insta): what a player sees at the
//! moments that matter. The World is deterministic, so these are stable.

mod common;
use common::tui::{app, press, run_for, screen};

use crossterm::event::KeyCode;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, Overlay, PlayOptions};

#[test]
fn opening_screen_shows_ten_pins_and_the_scorecard() {
    let mut app = app();
    run_for(&mut app, 2_000);
    let text = screen(&app, 160, 48);
    for pin in 1..=10 {
        assert!(text.contains(&format!("pin-{pin} ")), "pin-{pin} card missing");
    }
    assert!(text.contains("frame") && text.contains("cluster sheet"));
    insta::assert_snapshot!(text);
}

#[test]
fn ball_mid_roll() {
    let mut app = app();
    run_for(&mut app, 1_000);
    press(&mut app, KeyCode::Char(' '));
    run_for(&mut app, 560);
    press(&mut app, KeyCode::Char(' '));
    run_for(&mut app, 900);
    assert!(app.driver.world.alley().ball().is_some(), "the ball should be on the lane");
    insta::assert_snapshot!(screen(&app, 160, 48));
}

#[test]
fn knocked_pins_show_down_evicted_and_pending_pods() {
    let mut app = app();
    run_for(&mut app, 1_000);
    for pin in ['1', '2', '3', '4', '5', '6'] {
        press(&mut app, KeyCode::Char(pin));
    }
    run_for(&mut app, 2_500);
    let text = screen(&app, 160, 48);
    assert!(text.contains("DOWN · NotReady"), "knocked cards read DOWN · NotReady");
    assert!(text.contains('×'), "evicted pods show as terminating on the dead pins");
    assert!(!text.contains("unscheduled (0)"), "six pins down leave pods pending");
    insta::assert_snapshot!(text);
}

#[test]
fn describe_view_explains_a_pin() {
    let mut app = app();
    run_for(&mut app, 2_000);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.overlay, Overlay::Describe);
    let text = screen(&app, 160, 48);
    assert!(text.contains("describe node pin-2") && text.contains("Allocated:") && text.contains("first fit"));
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn help_overlay_lists_every_key() {
    let mut app = app();
    press(&mut app, KeyCode::Char('?'));
    let text = screen(&app, 160, 48);
    for key in ["space", "1 … 9, 0", "tab", "esc", "q  ctrl-c", "+  -"] {
        assert!(text.contains(key), "help lacks {key}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn game_over_screen_after_ten_frames() {
    let mut app = app();
    run_for(&mut app, 500);
    // A plain bowler: release at whatever the meter says after 0.5 s, every ball.
    for _ in 0..21 {
        if app.overlay == Overlay::GameOver {
            break;
        }
        press(&mut app, KeyCode::Char(' '));
        run_for(&mut app, 500);
        press(&mut app, KeyCode::Char(' '));
        run_for(&mut app, 9_000);
    }
    assert_eq!(app.overlay, Overlay::GameOver, "ten frames end the game");
    let text = screen(&app, 160, 48);
    assert!(text.contains("Final score") && text.contains("availability"));
    insta::assert_snapshot!(text);
}

#[test]
fn too_small_terminal_gets_a_message_not_a_panic() {
    let app = app();
    let text = screen(&app, 80, 24);
    assert!(text.contains("terminal too small: need 100×30, have 80×24"));
    for (w, h) in [(1, 1), (99, 30), (100, 29), (100, 30), (250, 80)] {
        screen(&app, w, h);
    }
}

#[test]
fn ascii_mode_draws_no_unicode_glyphs_on_cards() {
    let options = PlayOptions {
        scenario: Scenario::resolve("tiny").unwrap(),
        seed: 1,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: true,
        listen: None,
        epoch: Default::default(),
    };
    let mut app = App::new(options, None).unwrap();
    run_for(&mut app, 2_000);
    let text = screen(&app, 120, 36);
    assert!(text.is_ascii(), "ascii mode leaks non-ASCII characters:\n{text}");
    assert!(text.contains('#'), "running pods draw as #");
}

#[test]
fn pins_beyond_ten_stand_in_a_side_rack_marked_external() {
    let mut app = app();
    run_for(&mut app, 1_000);
    let capacity = pinsetter::agent::protocol::Capacity { cpu: "4".into(), memory: "8Gi".into(), pods: 110 };
    let labels = std::collections::BTreeMap::new();
    let registration = pinsetter::cluster::agents::Registration::new("agent-a", &capacity, &labels, "127.0.0.1:1");
    app.driver.world.join_agent(&registration).unwrap();
    run_for(&mut app, 200);
    let text = screen(&app, 160, 48);
    assert!(text.contains("side rack"), "an eleventh pin needs a place on screen");
    let line = text.lines().find(|l| l.contains("agent-a")).expect("the agent's pin is listed");
    assert!(line.contains("ext"), "agent-run pins are marked external: {line}");
}

#[test]
fn pinsetter_panel_shows_three_replicas_and_the_leaderless_gap_after_k() {
    let options = PlayOptions {
        scenario: Scenario::resolve("ha").unwrap(),
        seed: 7,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    let mut app = App::new(options, None).unwrap();
    run_for(&mut app, 1_000);
    let before = screen(&app, 160, 48);
    assert!(before.contains("kube-scheduler ●○○ pinsetter-cp-1_"), "{before}");
    press(&mut app, KeyCode::Char('k'));
    // 0.4 s into the gap: the standbys wait out the 0.75 s lease duration.
    run_for(&mut app, 400);
    let text = screen(&app, 160, 48);
    assert!(text.contains("kube-scheduler ✖○○ no leader for 0.4 s"), "{text}");
    assert!(text.contains("kube-controller-manager ✖○○ no leader for 0.4 s"), "{text}");
    insta::assert_snapshot!(text);
    run_for(&mut app, 500);
    let after = screen(&app, 160, 48);
    assert!(after.contains("kube-scheduler ✖●○ pinsetter-cp-2_"), "{after}");
}

// Issue 16: the spectator's and the replay viewer's screen, driven through a channel and a
// recorded log as `pinsetter watch` and `pinsetter replay` drive them.

use pinsetter::alley::{AlleyInput, Phase};
use pinsetter::driver::{Driver, FeedLine, InputLog, LogHeader};
use pinsetter::world::{Input, World};
use std::time::Duration;

const SCREEN_FRAME: Duration = Duration::from_millis(16);

/// A session's source: its World, and the header a follower builds its replica from.
fn source(seed: u64) -> (World, LogHeader) {
    let scenario = Scenario::resolve("default").unwrap();
    let epoch = pinsetter::clock::Epoch::default();
    let header = LogHeader::new(seed, Preset::Arcade, epoch, &scenario);
    (World::with_epoch(seed, Preset::Arcade, &scenario, epoch).unwrap(), header)
}

/// Steps the source `ticks` and tells the feed how far it got.
fn source_steps(world: &mut World, feed: &std::sync::mpsc::Sender<FeedLine>, ticks: u64) {
    for _ in 0..ticks {
        world.step();
        while world.poll_output().is_some() {}
    }
    feed.send(FeedLine::Reached(world.now().0 / 10)).unwrap();
}

fn source_input(world: &mut World, feed: &std::sync::mpsc::Sender<FeedLine>, input: Input) {
    feed.send(FeedLine::Input { tick: world.now().0 / 10, input: input.clone() }).unwrap();
    world.handle_input(input).unwrap();
}

fn tick(app: &App) -> u64 {
    app.driver.world.now().0 / 10
}

#[test]
fn a_spectator_follows_the_feed_read_only_and_keeps_the_last_frame() {
    let (mut game, header) = source(7);
    let (feed, lines) = std::sync::mpsc::channel();
    let mut app = App::spectating(header, lines, "grpc://127.0.0.1:8001".into()).unwrap();
    source_steps(&mut game, &feed, 100);
    app.follow(SCREEN_FRAME);
    assert_eq!(tick(&app), 100, "the replica follows as far as the source reached, and no further");
    app.follow(SCREEN_FRAME);
    assert_eq!(tick(&app), 100, "no further without the source");

    for pin in ["pin-3", "pin-5"] {
        source_input(&mut game, &feed, Input::Knock(pin.into()));
    }
    source_steps(&mut game, &feed, 250);
    app.follow(SCREEN_FRAME);
    assert!(app.driver.world.cluster().is_knocked("pin-3") && app.driver.world.cluster().is_knocked("pin-5"));

    // The game's keys change nothing here, and say why.
    let before = app.driver.world.digest();
    for key in [KeyCode::Char('1'), KeyCode::Char(' '), KeyCode::Char('r'), KeyCode::Left, KeyCode::Char('n')] {
        press(&mut app, key);
    }
    assert_eq!(app.driver.world.digest(), before, "a spectator's keys never reach the game");
    assert!(!app.driver.world.cluster().is_knocked("pin-1"));
    let said = app.message.clone().map(|(m, _)| m).unwrap_or_default();
    assert!(said.contains("spectating — read only"), "{said}");
    app.message = None;

    // Looking still works: selection and describe.
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('d'));
    assert_eq!(app.overlay, Overlay::Describe);
    assert!(screen(&app, 160, 48).contains("describe node pin-3"));
    press(&mut app, KeyCode::Esc);
    let text = screen(&app, 160, 48);
    assert!(text.contains("SPECTATING grpc://127.0.0.1:8001") && text.contains("DOWN · NotReady"), "{text}");
    insta::assert_snapshot!(text);

    source_steps(&mut game, &feed, 150);
    feed.send(FeedLine::End { digest: Some(game.digest()) }).unwrap();
    drop(feed);
    app.follow(SCREEN_FRAME);
    assert_eq!(app.driver.world.digest(), game.digest(), "the replica's history is the game's");
    assert_eq!(app.overlay, Overlay::Ended);
    let text = screen(&app, 160, 48);
    assert!(text.contains("digest matches the game followed") && text.contains("SPECTATING ENDED"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None, "esc leaves the last frame on screen");
    assert!(!app.quit);
    app.follow(SCREEN_FRAME);
    assert_eq!(app.overlay, Overlay::None, "the end is said once");
    assert!(screen(&app, 160, 48).contains(" ended "));
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn a_spectator_whose_source_goes_away_says_so() {
    let (mut game, header) = source(7);
    let (feed, lines) = std::sync::mpsc::channel();
    let mut app = App::spectating(header, lines, "grpc://127.0.0.1:8001".into()).unwrap();
    source_steps(&mut game, &feed, 120);
    drop(feed);
    app.follow(SCREEN_FRAME);
    assert_eq!(tick(&app), 120);
    assert_eq!(app.overlay, Overlay::Ended);
    assert!(screen(&app, 160, 48).contains("the source went away before its end"));
}

#[test]
fn an_out_of_order_feed_line_is_refused_and_said() {
    let (mut game, header) = source(7);
    let (feed, lines) = std::sync::mpsc::channel();
    let mut app = App::spectating(header, lines, "grpc://127.0.0.1:8001".into()).unwrap();
    source_steps(&mut game, &feed, 120);
    feed.send(FeedLine::Input { tick: 10, input: Input::Knock("pin-1".into()) }).unwrap();
    app.follow(SCREEN_FRAME);
    assert!(!app.driver.world.cluster().is_knocked("pin-1"), "a late input changes nothing");
    let said = app.message.clone().map(|(m, _)| m).unwrap_or_default();
    assert!(said.contains("out of order"), "{said}");
}

/// Bowls `frames` frames through the driver with the inputs the game's keys send (a pocket
/// line, the meter held 0.56 s), recording them; returns the log's path and the live digest.
fn recorded_game(dir: &std::path::Path, frames: u8) -> (std::path::PathBuf, String) {
    let (world, header) = source(3);
    let path = dir.join("game.jsonl");
    let mut driver = Driver::new(world, 1.0);
    driver.log = Some(InputLog::create(&path, &header).unwrap());
    let step = |driver: &mut Driver, ticks: u32| {
        for _ in 0..ticks {
            driver.world.step();
            while driver.world.poll_output().is_some() {}
        }
    };
    for input in [[AlleyInput::Move(1); 4].as_slice(), &[AlleyInput::Aim(1); 2], &[AlleyInput::Hook(-1); 3]].concat() {
        driver.handle_input(Input::Alley(input)).unwrap();
    }
    while driver.world.alley().frame() <= frames && driver.world.alley().phase() != Phase::GameOver {
        if driver.world.alley().phase() == Phase::Aiming {
            driver.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
            step(&mut driver, 56);
            driver.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
        }
        step(&mut driver, 1);
    }
    step(&mut driver, 50);
    let digest = driver.finish();
    (path, digest)
}

#[test]
fn a_replay_pauses_changes_speed_and_seeks_by_frame() {
    let dir = tempfile::tempdir().unwrap();
    let (path, live) = recorded_game(dir.path(), 3);
    let session = pinsetter::driver::read_input_log(&path).unwrap();
    let mut app = App::replaying(&session, "game.jsonl".into(), false).unwrap();
    assert_eq!(tick(&app), 0);

    app.follow(Duration::from_millis(500));
    assert_eq!(tick(&app), 50, "plays at 1× game time");
    press(&mut app, KeyCode::Char('+'));
    app.follow(Duration::from_millis(500));
    assert_eq!(tick(&app), 150, "then at 2×");
    press(&mut app, KeyCode::Char(' '));
    app.follow(Duration::from_millis(500));
    assert_eq!(tick(&app), 150, "paused");
    assert!(screen(&app, 160, 48).contains("paused 2×  tick 150 / "));
    press(&mut app, KeyCode::Char('p'));
    press(&mut app, KeyCode::Char('-'));
    app.follow(Duration::from_millis(100));
    assert_eq!(tick(&app), 160, "playing again, at 1×");

    // → to each frame's start, ← back.
    press(&mut app, KeyCode::Right);
    assert_eq!(app.driver.world.alley().frame(), 2, "→ goes to the next frame's start");
    let frame_2 = tick(&app);
    press(&mut app, KeyCode::Right);
    assert_eq!(app.driver.world.alley().frame(), 3);
    let text = screen(&app, 160, 48);
    assert!(text.contains("REPLAY") && text.contains("frame 3 of 10") && text.contains("REPLAY game.jsonl"), "{text}");
    press(&mut app, KeyCode::Left);
    assert_eq!((tick(&app), app.driver.world.alley().frame()), (frame_2, 2), "← back to frame 2's start");
    let game_keys_before = app.driver.world.digest();
    press(&mut app, KeyCode::Char('3'));
    assert_eq!(app.driver.world.digest(), game_keys_before, "a replay is read only");
    assert!(app.message.clone().is_some_and(|(m, _)| m.contains("replay — read only")));

    press(&mut app, KeyCode::End);
    assert_eq!(app.driver.world.digest(), live, "the end of the replay is the end of the game recorded");
    assert_eq!(app.overlay, Overlay::Ended);
    let text = screen(&app, 160, 48);
    assert!(text.contains("digest matches the recording") && text.contains("Final score"), "{text}");
    press(&mut app, KeyCode::Home);
    assert_eq!((tick(&app), app.overlay.clone()), (0, Overlay::None), "home: watch again from the start");
    press(&mut app, KeyCode::End);
    assert_eq!(app.overlay, Overlay::Ended, "the end is said again after seeking back");
}

// Issue 14: a Roll's throw is a knock the player sees, with the log naming the Roll.

#[test]
fn a_roll_fells_its_pins_on_the_lane_and_the_log_names_it() {
    let mut app = app();
    run_for(&mut app, 500);
    let split = pinsetter::cluster::objects::Object::from_value(serde_json::json!({
        "apiVersion": "pinsetter.dev/v1alpha1", "kind": "Roll", "metadata": {"name": "split"},
        "spec": {"at": "1s", "pins": [7, 10], "failure": "crash", "restoreAfter": "30s"}
    }))
    .unwrap();
    app.driver.world.handle_input(Input::Apply(Box::new(split))).unwrap();
    app.drain();
    run_for(&mut app, 3_000);
    let text = screen(&app, 160, 48);
    assert!(text.contains("Roll split knocked pin-7"), "{text}");
    assert!(text.contains("Roll split knocked pin-10"), "{text}");
    assert_eq!(text.matches("DOWN · NotReady").count(), 2, "pins 7 and 10 are down:\n{text}");
    insta::assert_snapshot!(text);
}
