//! The game's screen without a terminal: an `App` on the default lane (seed 7, arcade), stepped
//! and keyed as the play loop does, drawn to a ratatui `TestBackend`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, PlayOptions, view};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

/// The default lane, seed 7, arcade timing, no API server.
pub fn app() -> App {
    app_on("default", 7)
}

/// A built-in lane by name with the given seed, arcade timing, no API server.
pub fn app_on(scenario: &str, seed: u64) -> App {
    let options = PlayOptions {
        scenario: Scenario::resolve(scenario).unwrap(),
        seed,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    App::new(options, None).unwrap()
}

/// `ms` of game time, a tick at a time, draining the World's outputs into the App.
pub fn run_for(app: &mut App, ms: u64) {
    for _ in 0..ms / 10 {
        app.driver.world.step();
        app.drain();
    }
}

/// One key, as the terminal would deliver it.
pub fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
    app.drain();
}

/// The whole screen at `width`×`height`, as text.
pub fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| view::render(frame, app)).unwrap();
    terminal.backend().to_string()
}
