//! Stateful pins on the game screen (issue 15): a pod held by a local volume is marked on its pin
//! card, describe lists volumes, claims and the volume's pin, and the cluster sheet counts the
//! pods stuck by storage.

mod common;
use common::tui::{app_on, run_for, screen};

use pinsetter::cluster::objects::{Kind, Pod, PodState};
use pinsetter::cluster::store::ObjectKey;
use pinsetter::tui::{App, Overlay, Selection};
use pinsetter::world::{Input, Request};

fn stateful_app() -> App {
    app_on("stateful", 1)
}

fn db0(app: &App) -> Option<&Pod> {
    app.driver.world.cluster().store.get::<Pod>(&ObjectKey::new("default", "db-0"))
}

/// Runs until db-0 runs with its claim bound; returns its pin.
fn db0_running(app: &mut App) -> String {
    for _ in 0..600 {
        run_for(app, 100);
        if let Some(pin) = db0(app).filter(|p| p.state() == PodState::Running).and_then(|p| p.node_name()) {
            return pin.to_string();
        }
    }
    panic!("db-0 never ran");
}

#[test]
fn a_pod_held_by_its_local_volume_is_marked_and_described() {
    let mut app = stateful_app();
    let pin = db0_running(&mut app);
    run_for(&mut app, 500);
    let text = screen(&app, 160, 48);
    assert!(text.contains('▣'), "db-0's cell marks it held by its pin's disk:\n{text}");

    app.selection = Selection::Pod(ObjectKey::new("default", "db-0"));
    app.overlay = Overlay::Describe;
    app.message = None;
    let text = screen(&app, 160, 48);
    let claim = format!("PersistentVolumeClaim data-db-0 (Bound) → PV local-{pin}, only on {pin}");
    assert!(text.contains("Volumes:") && text.contains(&claim), "{text}");

    let index = app.driver.world.pins().iter().position(|p| *p == pin).unwrap();
    app.selection = Selection::Pin(u8::try_from(index + 1).unwrap());
    let text = screen(&app, 160, 48);
    assert!(text.contains("Local volumes:"), "{text}");
    let line = text.lines().find(|l| l.contains(&format!("local-{pin} "))).expect("the pin's disk is listed");
    assert!(line.contains("Bound") && line.contains("claimed by default/data-db-0"), "{line}");
}

#[test]
fn the_cluster_sheet_counts_pods_stuck_by_storage() {
    let mut app = stateful_app();
    let pin = db0_running(&mut app);
    assert!(!screen(&app, 160, 48).contains("stuck by storage"));
    app.driver.world.handle_input(Input::Knock(pin.clone())).unwrap();
    for _ in 0..600 {
        run_for(&mut app, 100);
        if db0(&app).is_some_and(|p| p.metadata.is_terminating()) {
            break;
        }
    }
    // Forced away, as an operator does for a pod on a dead node: the set makes db-0 again, and
    // no standing pin reaches its volume.
    let key = ObjectKey::new("default", "db-0");
    let delete = Request::Delete { kind: Kind::Pod, key, force: true };
    app.driver.world.handle_input(Input::Request { id: 1, request: delete }).unwrap();
    let mut text = String::new();
    for _ in 0..600 {
        run_for(&mut app, 100);
        text = screen(&app, 160, 48);
        if text.contains("stuck by storage 1") {
            break;
        }
    }
    assert!(text.contains("stuck by storage 1"), "{text}");
    assert_eq!(db0(&app).map(Pod::state), Some(PodState::Pending));
}

/// Issue 15's "done when" on the default lane: knock db-0's pin and db-0 waits for it (`▣` among
/// the `×`, "waits for a pin" on the panel, describe saying why) while every other pod of the pin
/// runs elsewhere; stand the pin and db-0 runs on it again, with its data.
#[test]
fn the_default_lane_s_database_waits_for_its_pin_while_the_rest_moves() {
    let mut app = app_on("default", 1);
    let pin = db0_running(&mut app);
    let others: Vec<String> = app
        .driver
        .world
        .cluster()
        .store
        .list::<Pod>()
        .filter(|p| p.node_name() == Some(pin.as_str()) && p.metadata.name != "db-0")
        .map(|p| p.metadata.name.clone())
        .collect();
    assert!(!others.is_empty(), "db-0 shares {pin} with other pods");
    app.driver.world.handle_input(Input::Knock(pin.clone())).unwrap();
    let moved = |app: &App| {
        let store = &app.driver.world.cluster().store;
        let running_elsewhere = store
            .list::<Pod>()
            .filter(|p| p.state() == PodState::Running && p.node_name() != Some(pin.as_str()))
            .count();
        running_elsewhere == 45 && db0(app).is_some_and(|p| p.metadata.is_terminating())
    };
    for _ in 0..300 {
        if moved(&app) {
            break;
        }
        run_for(&mut app, 100);
    }
    assert!(moved(&app), "the 45 other pods run on standing pins and db-0 waits");
    assert_eq!(db0(&app).and_then(Pod::node_name), Some(pin.as_str()), "db-0 never leaves its data");
    assert_eq!(app.driver.world.waiting_for_their_pin(), 1);

    app.overlay = Overlay::None;
    let text = screen(&app, 160, 48);
    assert!(text.contains("1 waits for a pin"), "{text}");
    let card_row = text.lines().find(|l| l.contains('▣') && l.contains('×'));
    assert!(card_row.is_some(), "db-0's cell stays ▣ among the ×:\n{text}");

    app.selection = Selection::Pod(ObjectKey::new("default", "db-0"));
    app.overlay = Overlay::Describe;
    app.message = None;
    let text = screen(&app, 200, 60);
    let why =
        format!("Waiting:   for {pin}: its data (claim data-db-0 → local-{pin}) is only on {pin}, which is not Ready");
    assert!(text.contains(&why), "{text}");
    assert!(text.contains("TaintManagerEviction") && text.contains("Marking for deletion Pod default/db-0"), "{text}");

    app.driver.world.handle_input(Input::Restore(pin.clone())).unwrap();
    app.overlay = Overlay::None;
    let back = db0_running(&mut app);
    assert_eq!(back, pin, "db-0 runs again on the pin holding its data");
    assert_eq!(app.driver.world.waiting_for_their_pin(), 0);
}
