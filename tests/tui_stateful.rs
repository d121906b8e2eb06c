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
