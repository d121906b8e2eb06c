//! Whole-screen snapshots of the game (ratatui TestBackend + insta): what a player sees at the
//! moments that matter. The World is deterministic, so these are stable.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, Overlay, PlayOptions, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn app() -> App {
    let options = PlayOptions {
        scenario: Scenario::resolve("default").unwrap(),
        seed: 7,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    App::new(options, None).unwrap()
}

fn run_for(app: &mut App, ms: u64) {
    for _ in 0..ms / 10 {
        app.driver.world.step();
        app.drain();
    }
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    app.drain();
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

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
