//! Racks as pins and the heat map, on a small racked lane (60 nodes in ten zones, round robin,
//! so rack order is not name order): a pin is a whole zone, the map shows every node.

mod common;
use common::tui::{press, run_for, screen};

use crossterm::event::KeyCode;
use pinsetter::cluster::objects::Object;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::{LaneSize, Scenario};
use pinsetter::tui::{App, PlayOptions};
use pinsetter::world::{Input, Output, World};
use std::collections::BTreeSet;

/// 60 nodes, 600 pods; node `pin-i` in `zone-((i-1) % 10 + 1)`.
fn zoned_lane() -> Scenario {
    let mut lane = Scenario::generate(&LaneSize::new(60, 600)).unwrap();
    let mut index = 0;
    for (_, object) in &mut lane.objects {
        if let Object::Node(node) = object {
            std::sync::Arc::make_mut(node)
                .metadata
                .labels
                .insert("topology.kubernetes.io/zone".into(), format!("zone-{}", index % 10 + 1));
            index += 1;
        }
    }
    lane
}

fn zoned_app() -> App {
    let options = PlayOptions {
        scenario: zoned_lane(),
        seed: 7,
        timing: Preset::Arcade,
        speed: 1.0,
        ascii: false,
        listen: None,
        epoch: Default::default(),
    };
    App::new(options, None).unwrap()
}

fn knocked(world: &World) -> BTreeSet<String> {
    world.pins().iter().filter(|n| world.cluster().is_knocked(n)).cloned().collect()
}

/// How often `glyph` shows in the heat map's cells and legend: the panel's speed ("1×") is not
/// a cell, so its line is left out.
fn map_glyphs(text: &str, glyph: char) -> usize {
    text.lines().filter(|l| !l.contains('⏱')).map(|l| l.matches(glyph).count()).sum()
}

fn zone_3() -> BTreeSet<String> {
    ["pin-3", "pin-13", "pin-23", "pin-33", "pin-43", "pin-53"].map(String::from).into()
}

#[test]
fn knocking_pin_3_knocks_exactly_rack_3_and_the_reset_stands_it() {
    let mut app = zoned_app();
    run_for(&mut app, 2_000);
    press(&mut app, KeyCode::Char('3'));
    let world = &app.driver.world;
    assert_eq!(knocked(world), zone_3());
    assert!(!world.alley().pins()[2].standing, "pin 3 is down on the lane");
    assert!(world.alley().pins().iter().filter(|p| !p.standing).count() == 1);
    app.driver.handle_input(Input::ResetPins).unwrap();
    app.drain();
    assert!(knocked(&app.driver.world).is_empty());
    assert!(app.driver.world.alley().pins()[2].standing);
}

#[test]
fn a_node_knocked_alone_fells_its_pin_only_with_the_last_of_its_rack() {
    let mut world = World::new(7, Preset::Arcade, &zoned_lane()).unwrap();
    let zone = zone_3();
    for (i, node) in zone.iter().enumerate() {
        assert!(world.alley().pins()[2].standing, "pin 3 stands while {i} of its 6 nodes are down");
        world.handle_input(Input::Knock(node.clone())).unwrap();
    }
    assert!(!world.alley().pins()[2].standing);
    assert_eq!(knocked(&world), zone);
    world.handle_input(Input::StandPin(3)).unwrap();
    assert!(knocked(&world).is_empty() && world.alley().pins()[2].standing);
    assert!(world.handle_input(Input::KnockPin(11)).is_err(), "there is no pin 11");
}

#[test]
fn an_unzoned_lane_splits_its_nodes_evenly_in_rack_order() {
    // The generated lane's three zones cannot be ten pins: racks of 4 by name order.
    let world = World::new(7, Preset::Arcade, &Scenario::generate(&LaneSize::new(40, 100)).unwrap()).unwrap();
    assert_eq!(world.pin_nodes(2), ["pin-5", "pin-6", "pin-7", "pin-8"]);
    assert_eq!(world.pin_number("pin-40"), Some(10));
}

#[test]
fn every_rack_of_the_arena_holds_pods_under_greedy() {
    // Greedy fills nodes first-fit in rack order; racks split by name order left rack 10 empty.
    let mut world = World::new(7, Preset::Arcade, &Scenario::resolve("arena").unwrap()).unwrap();
    for _ in 0..50 {
        world.step();
    }
    let store = &world.cluster().store;
    for pin in 1..=10u8 {
        let nodes = world.pin_nodes(pin);
        assert_eq!(nodes.len(), 100, "pin {pin} is a zone of 100 nodes");
        let pods: usize = nodes.iter().map(|n| store.pods_on_node(n).count()).sum();
        assert!(pods > 0, "rack {pin} ({}) holds no pods", world.racks().unwrap().name(pin));
    }
}

#[test]
fn rack_cards_show_each_zone_state_bar_resources_and_pods() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('3'));
    run_for(&mut app, 1_000);
    let text = screen(&app, 160, 48);
    assert!(text.contains(" 3 zone-3 ") && text.contains(" 10 zone-10 "), "cards are named by zone:\n{text}");
    assert!(text.contains("××××") && text.contains(" 0/6"), "rack 3 is all down:\n{text}");
    assert!(text.contains(" 6/6"), "other racks are all Ready:\n{text}");
    assert!(!text.contains("side rack"), "no side rack: every node is in a rack");
    insta::assert_snapshot!(text);
}

#[test]
fn the_heat_map_shows_every_node_by_state_and_h_toggles_it() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('3'));
    run_for(&mut app, 500);
    press(&mut app, KeyCode::Char('h'));
    assert!(app.heat.open);
    let text = screen(&app, 200, 50);
    assert!(text.contains("heat map · 60 nodes") && text.contains("pin 3 zone-3 DOWN 6/6 down"), "{text}");
    assert_eq!(map_glyphs(&text, '×'), 6 + 1, "six down cells and the legend's:\n{text}");
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Char('h'));
    assert!(!app.heat.open);
    let lane = screen(&app, 200, 50);
    assert!(
        !lane.contains("heat map ·") && lane.contains(" h heat map "),
        "the lane again, its footer offers the map:\n{lane}"
    );
}

/// A rack partitioned (a pin knocked by a pin, here its chaos key with shift) is not a rack
/// crashed: its cells read `≈` cut off, the crashed rack's `×` down, and both racks count as down.
#[test]
fn the_heat_map_tells_a_partitioned_rack_from_a_crashed_one() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('#'));
    press(&mut app, KeyCode::Char('5'));
    run_for(&mut app, 100);
    press(&mut app, KeyCode::Char('h'));
    let text = screen(&app, 200, 50);
    assert!(text.contains("pin 3 zone-3 DOWN 6/6 down") && text.contains("pin 5 zone-5 DOWN 6/6 down"), "{text}");
    assert_eq!(map_glyphs(&text, '≈'), 6 + 1, "rack 3's six cut-off cells and the legend's:\n{text}");
    assert_eq!(map_glyphs(&text, '×'), 6 + 1, "rack 5's six down cells and the legend's:\n{text}");
    assert!(text.contains("≈ cut off"), "the legend names it:\n{text}");
}

/// The map follows failures while it is shown: a rack cut off shows `≈` at once, and the
/// reset clears it (the map re-reads failures only when one changes).
#[test]
fn the_shown_heat_map_follows_a_partition_and_its_reset() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('h'));
    let cut_off = |app: &App| map_glyphs(&screen(app, 200, 50), '≈');
    assert_eq!(cut_off(&app), 1, "only the legend's before the partition");
    press(&mut app, KeyCode::Char('#'));
    run_for(&mut app, 100);
    assert_eq!(cut_off(&app), 6 + 1, "rack 3's six cut-off cells and the legend's");
    app.driver.handle_input(Input::ResetPins).unwrap();
    app.drain();
    run_for(&mut app, 100);
    assert_eq!(cut_off(&app), 1, "stood again: the legend's alone");
}

/// A new game's map shows the new World's failures, not the old one's, even when both Worlds
/// have counted as many failure changes (six nodes cut off there, six crashed here).
#[test]
fn after_a_new_game_the_map_shows_the_new_worlds_failures() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('h'));
    press(&mut app, KeyCode::Char('#'));
    run_for(&mut app, 100);
    press(&mut app, KeyCode::Char('n'));
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('5'));
    run_for(&mut app, 100);
    let text = screen(&app, 200, 50);
    assert_eq!(map_glyphs(&text, '≈'), 1, "the old World's cut-off rack is gone:\n{text}");
    assert_eq!(map_glyphs(&text, '×'), 6 + 1, "rack 5's six down cells and the legend's:\n{text}");
}

#[test]
fn without_colour_the_glyphs_tell_ready_cordoned_and_down_apart() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    app.theme.color = false;
    app.driver.handle_input(Input::Cordon { node: "pin-1".into(), unschedulable: true }).unwrap();
    press(&mut app, KeyCode::Char('5'));
    run_for(&mut app, 100);
    press(&mut app, KeyCode::Char('h'));
    let text = screen(&app, 200, 50);
    let map: String =
        text.lines().filter(|l| !l.contains("Ready") && !l.contains("pin ") && !l.contains('⏱')).collect();
    assert_eq!(map.matches('×').count(), 6, "rack 5's six nodes:\n{text}");
    assert_eq!(map.matches('▒').count(), 1, "pin-1 cordoned:\n{text}");
    assert_eq!(map.matches('█').count(), 60 - 6 - 1, "the rest Ready:\n{text}");
}

#[test]
fn enter_zooms_into_the_cursor_rack_and_d_describes_its_node() {
    let mut app = zoned_app();
    run_for(&mut app, 3_000);
    press(&mut app, KeyCode::Char('h'));
    // Six cells per rack, one row each: right twice lands on zone-1's third node, pin-21.
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Enter);
    let text = screen(&app, 160, 48);
    assert!(text.contains("pin 1 · zone-1") && text.contains("NAME") && text.contains("CPU%"), "{text}");
    for node in ["pin-1 ", "pin-11 ", "pin-21 ", "pin-51 "] {
        assert!(text.contains(node), "zone-1's {node}missing:\n{text}");
    }
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Char('d'));
    let text = screen(&app, 160, 48);
    assert!(text.contains("describe node pin-21"), "{text}");
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert!(!app.heat.zoomed && app.heat.open);
    press(&mut app, KeyCode::Esc);
    assert!(!app.heat.open);
}

#[test]
fn the_heat_map_redraws_at_any_size() {
    let mut app = zoned_app();
    run_for(&mut app, 2_000);
    press(&mut app, KeyCode::Char('h'));
    for (w, h) in [(200, 50), (160, 48), (100, 30), (120, 40), (200, 50)] {
        let text = screen(&app, w, h);
        assert!(text.contains("pin 1 zone-1"), "{w}×{h}:\n{text}");
        let cells: usize = text.lines().filter(|l| !l.contains("Ready")).map(|l| l.matches('█').count()).sum();
        assert_eq!(cells, 60, "{w}×{h}: every node has its cell:\n{text}");
    }
}

#[test]
fn six_racks_down_are_six_fully_disrupted_zones_and_a_strike_is_master_disruption() {
    let mut app = zoned_app();
    run_for(&mut app, 2_000);
    for key in ['1', '2', '3', '4', '5', '6'] {
        press(&mut app, KeyCode::Char(key));
    }
    // Step until the node lifecycle controller sees the zones down, reading its reports from
    // the world's recent log after every step, before the evictions' thousands of reports push
    // them out of it (and their Events out of the store).
    let regime = "zones: 6 FullDisruption, evicting 20 nodes/s each · 4 Normal";
    let mut changed: Vec<String> = Vec::new();
    let mut seen = |app: &App| {
        for output in app.driver.world.log() {
            if let Output::Event(e) = output
                && e.reason == "ZoneStateChanged"
                && !changed.contains(&e.message)
            {
                changed.push(e.message.clone());
            }
        }
    };
    for _ in 0..100 {
        seen(&app);
        if screen(&app, 200, 50).contains(regime) {
            break;
        }
        run_for(&mut app, 100);
    }
    let text = screen(&app, 200, 50);
    assert!(text.contains(regime), "the panel says which regime evicts:\n{text}");
    // The kubelets' leases run out a tick or so apart (their renewals are phased), so a zone may
    // pass through PartialDisruption on its way down, as upstream's do; only the six knocked
    // zones change at all.
    let knocked = |m: &String| (1..=6).any(|z| m.contains(&format!("zone alley-1:zone-{z} ")));
    assert!(!changed.is_empty() && changed.iter().all(knocked), "{changed:?}");
    assert!(
        changed.contains(&"Controller detected that zone alley-1:zone-3 is now in state FullDisruption.".to_string()),
        "{changed:?}"
    );
    for key in ['7', '8', '9', '0'] {
        press(&mut app, KeyCode::Char(key));
    }
    run_for(&mut app, 3_000);
    let text = screen(&app, 200, 50);
    assert!(text.contains("master disruption: every zone down, evictions stopped"), "{text}");
}
