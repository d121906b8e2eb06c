//! The k9s-style resource views (`:` command bar, tables, `/` filter, sorting, YAML): snapshots
//! of what the player sees, and the keys that get them there.

mod common;
use common::tui::{app, press, run_for, screen};

use crossterm::event::KeyCode;
use pinsetter::cluster::objects::{Kind, Object};
use pinsetter::tui::App;
use pinsetter::tui::resources::{self, Command, Target};
use pinsetter::world::Input;

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn command(app: &mut App, line: &str) {
    press(app, KeyCode::Char(':'));
    type_text(app, line);
    press(app, KeyCode::Enter);
}

fn table(app: &App) -> &resources::TableView {
    app.views.table.as_ref().expect("a table is open")
}

fn apply_yaml(app: &mut App, path: &str) {
    apply_text(app, &std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap());
}

fn apply_text(app: &mut App, text: &str) {
    let value: serde_json::Value = serde_norway::from_str(text).unwrap();
    let object = Object::from_value(value).unwrap();
    app.driver.handle_input(Input::Apply(Box::new(object))).unwrap();
}

#[test]
fn the_command_bar_opens_on_colon_and_completes_with_tab() {
    let mut app = app();
    run_for(&mut app, 2_000);
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "dep");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.views.bar.as_ref().unwrap().text, "deploy", "the shortest name first");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.views.bar.as_ref().unwrap().text, "deployment", "tab again cycles");
    let text = screen(&app, 160, 48);
    assert!(text.contains(" :deployment"), "the bar is on the bottom line");
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Esc);
    assert!(app.views.bar.is_none() && app.views.table.is_none(), "esc cancels");
}

#[test]
fn the_pods_table_prints_kubectl_get_columns_for_every_namespace() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "po");
    let t = table(&app);
    assert_eq!(t.target, Target::Builtin(Kind::Pod));
    assert_eq!(t.headers, ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(t.counts(), (46, 46));
    let text = screen(&app, 160, 48);
    assert!(text.contains("pods(all)[46/46]"), "the title counts the rows");
    insta::assert_snapshot!(text);
}

#[test]
fn pending_filters_the_pods_still_waiting_by_their_status_text() {
    let mut app = app();
    run_for(&mut app, 1_000);
    for pin in ['1', '2', '3', '4', '5', '6'] {
        press(&mut app, KeyCode::Char(pin));
    }
    run_for(&mut app, 2_500);
    command(&mut app, "pods");
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "pending");
    press(&mut app, KeyCode::Enter);
    let t = table(&app);
    let (shown, total) = t.counts();
    assert!(shown > 0 && shown < total, "some pods wait, not all: {shown}/{total}");
    let store = &app.driver.world.cluster().store;
    for key in t.shown_keys() {
        let pod = store.get::<pinsetter::cluster::objects::Pod>(key).expect("a listed pod exists");
        assert_eq!(pod.status.phase, "Pending", "{key} is listed under /pending");
    }
    let text = screen(&app, 160, 48);
    assert!(text.contains(&format!("pods(all)[{shown}/{total}] </pending>")), "the title shows the filter");
    // The selected pod's reason to wait is on the table's bottom border.
    let selected = store.get::<pinsetter::cluster::objects::Pod>(t.selected_key().unwrap()).unwrap();
    let border = text.lines().rev().find(|l| l.contains("sort: shift+")).expect("the table's bottom border");
    let why = border.split(&format!(" {}: ", selected.metadata.name)).nth(1).expect("the selected pod's reason");
    match selected.spec.node_name.as_deref() {
        None => assert!(why.starts_with("0/10: "), "the scheduler's verdict: {border}"),
        Some(node) => assert!(why.contains(&format!(" on {node}")), "its containers' wait on {node}: {border}"),
    }
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Esc);
    assert_eq!(table(&app).filter, None, "esc clears the filter first");
    assert_eq!(table(&app).counts().0, total);
    press(&mut app, KeyCode::Esc);
    assert!(app.views.table.is_none(), "esc again returns to the lane");
}

#[test]
fn a_label_selector_filter_keeps_only_matching_objects() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "pods");
    press(&mut app, KeyCode::Char('/'));
    type_text(&mut app, "-l app=cache");
    press(&mut app, KeyCode::Enter);
    let t = table(&app);
    assert_eq!(t.counts().0, 3, "the default lane runs three cache pods");
    assert!(t.shown_keys().all(|k| k.name.starts_with("cache-")));
}

#[test]
fn y_shows_the_selected_objects_yaml_and_esc_steps_back() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "deploy");
    press(&mut app, KeyCode::Char('j'));
    let selected = table(&app).selected_key().cloned().expect("a row is selected");
    assert_eq!(selected.name, "batch", "j moved to the second deployment");
    press(&mut app, KeyCode::Char('y'));
    let detail = table(&app).detail.as_ref().expect("the YAML view is open");
    let yaml: String = detail.lines.iter().map(|l| format!("{l}\n")).collect();
    let parsed: serde_json::Value = serde_norway::from_str(&yaml).expect("the view is YAML");
    assert_eq!(parsed["kind"], "Deployment");
    assert_eq!(parsed["metadata"]["name"], "batch");
    insta::assert_snapshot!(screen(&app, 160, 48));
    press(&mut app, KeyCode::Char('G'));
    assert!(table(&app).detail.as_ref().unwrap().scroll > 0, "G scrolls the YAML to its end");
    press(&mut app, KeyCode::Esc);
    assert!(table(&app).detail.is_none(), "esc back to the table");
    press(&mut app, KeyCode::Esc);
    assert!(app.views.table.is_none(), "esc again back to the lane");
}

#[test]
fn l_shows_a_pods_log_and_d_its_description() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "pods");
    press(&mut app, KeyCode::Char('l'));
    let lines: Vec<String> =
        table(&app).detail.as_ref().expect("the log view").lines.iter().map(|l| l.to_string()).collect();
    assert!(lines[0].starts_with("pinsetter: container api"), "{lines:?}");
    press(&mut app, KeyCode::Char('d'));
    let lines: Vec<String> = table(&app).detail.as_ref().unwrap().lines.iter().map(|l| l.to_string()).collect();
    assert!(lines.iter().any(|l| l.starts_with("Node:")), "the game's pod describe: {lines:?}");
}

#[test]
fn aliases_resolve_from_the_kinds_table_and_unknown_commands_say_so() {
    let app = app();
    let store = &app.driver.world.cluster().store;
    for (alias, kind) in [
        ("no", Kind::Node),
        ("po", Kind::Pod),
        ("Pods", Kind::Pod),
        ("dp", Kind::Deployment),
        ("deploy", Kind::Deployment),
        ("rs", Kind::ReplicaSet),
        ("svc", Kind::Service),
        ("ev", Kind::Event),
        ("leases", Kind::Lease),
        ("cm", Kind::ConfigMap),
        ("secrets", Kind::Secret),
        ("sa", Kind::ServiceAccount),
        ("roles", Kind::Role),
        ("crd", Kind::CustomResourceDefinition),
        (":pod", Kind::Pod),
    ] {
        assert_eq!(resources::resolve(alias, store), Ok(Command::Open(Target::Builtin(kind))), "{alias}");
    }
    assert_eq!(resources::resolve("q", store), Ok(Command::Quit));
    assert_eq!(resources::resolve("quit", store), Ok(Command::Quit));
    let unknown = resources::resolve("bogus", store).unwrap_err();
    assert!(unknown.contains("unknown command \"bogus\""), "{unknown}");
    assert!(resources::resolve("pods extra", store).is_err());
}

/// Every kind in the kinds table is a command by its plural, singular, kind name and short
/// names: a kind added there needs no edit in the TUI.
#[test]
fn every_kind_in_the_kinds_table_is_a_command() {
    let app = app();
    let store = &app.driver.world.cluster().store;
    let names = resources::commands(store);
    for kind in Kind::ALL.into_iter().filter(|k| !k.plural().is_empty()) {
        for name in [kind.plural(), kind.singular(), kind.name()].into_iter().chain(kind.short_names().iter().copied())
        {
            assert_eq!(names.get(&name.to_lowercase()), Some(&Target::Builtin(kind)), "{name}");
        }
    }
}

#[test]
fn a_crd_in_the_store_becomes_a_command_with_its_printer_columns() {
    let mut app = app();
    // A CRD applied while the game runs becomes a command once established.
    assert!(resources::resolve("gadgets", &app.driver.world.cluster().store).is_err(), "no such CRD yet");
    apply_text(
        &mut app,
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gadgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
    );
    run_for(&mut app, 500);
    for name in ["gadgets", "gadget", "gd", "gadgets.example.com"] {
        let store = &app.driver.world.cluster().store;
        assert!(matches!(resources::resolve(name, store), Ok(Command::Open(Target::Custom(_)))), "{name}");
    }
    // The Roll CRD every lane installs at start, with its printer columns.
    apply_yaml(&mut app, "assets/rolls/split.yaml");
    run_for(&mut app, 100);
    let store = &app.driver.world.cluster().store;
    for name in ["rolls", "roll", "rl", "rolls.pinsetter.dev"] {
        assert!(matches!(resources::resolve(name, store), Ok(Command::Open(Target::Custom(_)))), "{name}");
    }
    command(&mut app, "rl");
    let t = table(&app);
    assert_eq!(t.headers[..4], ["NAMESPACE", "NAME", "FAILURE", "PHASE"]);
    assert_eq!(t.counts(), (1, 1));
    assert_eq!(t.selected_cells().unwrap()[2], "crash");
}

#[test]
fn shift_letters_sort_and_again_reverse() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "deploy");
    let names = |app: &App| -> Vec<String> { table(app).shown_keys().map(|k| k.name.to_string()).collect() };
    assert_eq!(names(&app), ["api", "batch", "cache", "ingress", "web", "worker"], "store order first");
    // READY is `ready/desired`: sorted by the ready count, numerically.
    press(&mut app, KeyCode::Char('R'));
    let ready: Vec<i64> = table(&app)
        .shown_keys()
        .map(|k| {
            let d = app.driver.world.cluster().store.get::<pinsetter::cluster::objects::Deployment>(k).unwrap();
            i64::from(d.status.ready_replicas)
        })
        .collect();
    assert!(ready.windows(2).all(|w| w[0] <= w[1]), "ascending by ready: {ready:?}");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(names(&app), ["api", "batch", "cache", "ingress", "web", "worker"]);
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(names(&app), ["worker", "web", "ingress", "cache", "batch", "api"], "N again: descending");
    assert!(screen(&app, 160, 48).contains("NAME↓"), "the header marks the sort");
}

#[test]
fn scrolling_stays_inside_the_table() {
    let mut app = app();
    run_for(&mut app, 3_000);
    command(&mut app, "pods");
    screen(&app, 160, 48);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(table(&app).selected, 0, "up at the top stays there");
    press(&mut app, KeyCode::PageDown);
    let page = table(&app).page();
    assert_eq!(table(&app).selected, page, "pgdn moves a page");
    press(&mut app, KeyCode::Char('G'));
    assert_eq!(table(&app).selected, 45, "G goes to the last of 46 rows");
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::PageDown);
    assert_eq!(table(&app).selected, 45, "nothing past the end");
    let text = screen(&app, 160, 48);
    let last = table(&app).selected_key().unwrap().name.clone();
    assert!(text.contains(last.as_str()), "the selected last row is drawn");
    press(&mut app, KeyCode::Char('g'));
    assert_eq!(table(&app).selected, 0);
}

#[test]
fn a_table_captures_game_keys_and_the_lane_gets_them_back() {
    let mut app = app();
    run_for(&mut app, 2_000);
    command(&mut app, "nodes");
    press(&mut app, KeyCode::Char('1'));
    run_for(&mut app, 100);
    assert!(!app.driver.world.cluster().is_knocked("pin-1"), "a digit in a table knocks nothing");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('1'));
    assert!(app.driver.world.cluster().is_knocked("pin-1"), "on the lane the digit knocks pin 1");
}

#[test]
fn the_table_follows_the_store_as_pods_come_and_go() {
    let mut app = app();
    run_for(&mut app, 500);
    command(&mut app, "pods");
    let before = table(&app).counts().1;
    app.driver
        .handle_input(Input::Apply(Box::new(
            Object::from_value(serde_json::json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "extra", "namespace": "default"},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}
            }))
            .unwrap(),
        )))
        .unwrap();
    run_for(&mut app, 1_100);
    let t = table(&app);
    assert_eq!(t.counts().1, before + 1, "the new pod is a row");
    assert!(t.shown_keys().any(|k| k.name == "extra"), "and shown after the refresh");
}

#[test]
fn small_terminals_draw_the_table_without_panicking() {
    let mut app = app();
    run_for(&mut app, 2_000);
    command(&mut app, "pods");
    for (w, h) in [(100, 30), (120, 32), (60, 20), (200, 50)] {
        let text = screen(&app, w, h);
        assert!(!text.is_empty());
    }
    press(&mut app, KeyCode::Char('y'));
    screen(&app, 100, 30);
}
