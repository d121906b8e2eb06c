//! The game's answer to "why is this pod here?": switch the scheduler with `s`, knock two pins,
//! and `d` on a replacement pod shows every pin's filter verdict and score-plugin scores.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pinsetter::cluster::objects::Pod;
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, Overlay, PlayOptions, Selection, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    app.drain();
}

fn run_for(app: &mut App, ms: u64) {
    for _ in 0..ms / 10 {
        app.driver.world.step();
        app.drain();
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).unwrap();
    terminal.draw(|frame| view::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

#[test]
fn describe_pod_shows_why_spread_put_it_there() {
    let options = PlayOptions {
        scenario: Scenario::resolve("default").unwrap(),
        seed: 7,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    let mut app = App::new(options, None).unwrap();
    run_for(&mut app, 1_000);
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.driver.world.cluster().scheduler.policy.name(), "spread");
    assert!(screen(&app).contains("scheduler spread"), "the pinsetter panel names the policy");
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('4'));
    run_for(&mut app, 4_000);
    let cluster = app.driver.world.cluster();
    let mut placed: Vec<&Pod> = cluster
        .store
        .list::<Pod>()
        .filter(|p| cluster.scheduler.decision(&ObjectKey::of(&p.metadata)).is_some_and(|d| d.policy == "spread"))
        .collect();
    placed.sort_by_key(|p| p.metadata.name.clone());
    let key = ObjectKey::of(&placed.first().expect("spread placed the replacements").metadata);
    app.selection = Selection::Pod(key);
    app.overlay = Overlay::Describe;
    // The hint bar's flash message times out in wall time: keep the snapshot independent of it.
    app.message = None;
    let text = screen(&app);
    assert!(text.contains("Scheduler (spread policy"), "{text}");
    assert!(text.contains("LeastAllocated") && text.contains("BalancedAllocation"), "{text}");
    assert!(text.contains("fits: chosen"), "{text}");
    assert!(text.contains("TaintToleration"), "the knocked pins' verdicts: {text}");
    insta::assert_snapshot!(text);
}
