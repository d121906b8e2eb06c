//! The game shows PodDisruptionBudgets: `d` on a pod names the budget covering it and what it
//! allows, and a refused eviction appears in the events log.

mod common;
use common::tui::{app, run_for, screen};

use pinsetter::cluster::objects::{Object, Pod};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::tui::{Overlay, Selection};
use pinsetter::world::{Input, Request, WorldError};

#[test]
fn describe_names_the_budget_and_the_log_shows_a_refused_eviction() {
    let mut app = app();
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
    let text = screen(&app, 200, 48);
    assert!(text.contains("PDB:       web (allowed disruptions 0: needs "), "{text}");

    app.driver.world.handle_input(Input::Request { id: 1, request: Request::Evict(key.clone()) }).unwrap();
    let reply = app.driver.world.poll_reply().expect("the eviction is answered");
    assert!(matches!(reply.result, Err(WorldError::Eviction(_))), "{:?}", reply.result);
    app.drain();
    app.overlay = Overlay::None;
    let text = screen(&app, 200, 48);
    assert!(text.contains(&format!("eviction of pod {key} refus")), "{text}");
    assert!(text.contains("(429): The disruption budget web needs"), "{text}");
    let pod = app.driver.world.cluster().store.get::<Pod>(&key).unwrap();
    assert!(!pod.metadata.is_terminating(), "the refused pod stays");
}
