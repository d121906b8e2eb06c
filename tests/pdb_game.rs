//! The game shows PodDisruptionBudgets: `d` on a pod names the budget covering it and what it
//! allows, and a refused eviction appears in the events log.

use pinsetter::cluster::objects::{Object, Pod};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::tui::{App, Overlay, PlayOptions, Selection, view};
use pinsetter::world::{Input, Request, WorldError};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn run_for(app: &mut App, ms: u64) {
    for _ in 0..ms / 10 {
        app.driver.world.step();
        app.drain();
    }
}

fn screen(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(200, 48)).unwrap();
    terminal.draw(|frame| view::render(frame, app)).unwrap();
    terminal.backend().to_string()
}

#[test]
fn describe_names_the_budget_and_the_log_shows_a_refused_eviction() {
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
    let budget = serde_json::json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}}});
    app.driver.world.handle_input(Input::Apply(Box::new(Object::from_value(budget).unwrap()))).unwrap();
    run_for(&mut app, 500);

    let web = app
        .driver
        .world
        .cluster()
        .store
        .list::<Pod>()
        .find(|p| p.metadata.labels.get("app").is_some_and(|a| a == "web"));
    let key = ObjectKey::of(&web.expect("the default lane runs web").metadata);
    app.selection = Selection::Pod(key.clone());
    app.overlay = Overlay::Describe;
    app.message = None;
    let text = screen(&app);
    assert!(text.contains("PDB:       web (allowed disruptions 0: needs "), "{text}");

    app.driver.world.handle_input(Input::Request { id: 1, request: Request::Evict(key.clone()) }).unwrap();
    let reply = app.driver.world.poll_reply().expect("the eviction is answered");
    assert!(matches!(reply.result, Err(WorldError::Eviction(_))), "{:?}", reply.result);
    app.drain();
    app.overlay = Overlay::None;
    let text = screen(&app);
    assert!(text.contains(&format!("eviction of pod {key} refus")), "{text}");
    assert!(text.contains("(429): The disruption budget web needs"), "{text}");
    let pod = app.driver.world.cluster().store.get::<Pod>(&key).unwrap();
    assert!(!pod.metadata.is_terminating(), "the refused pod stays");
}
