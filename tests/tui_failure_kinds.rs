//! The failure-kind chaos keys on the lane (issue 12, item 5): a digit crashes its pin, the
//! shifted digit partitions it, alt+digit puts it under memory pressure, and the cluster sheet
//! says what each kind did.

mod common;
use common::tui::{app, run_for, screen};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use pinsetter::cluster::Failure;
use pinsetter::tui::App;

fn press_with(app: &mut App, c: char, modifiers: KeyModifiers) {
    app.handle_key(KeyEvent::new(KeyCode::Char(c), modifiers));
    app.drain();
}

/// The cluster sheet's rows of per-kind effects, as `(kind, effects)` in screen order.
fn effect_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.contains("slowest recovery"))
        .filter_map(|l| {
            let row = l.rsplit('│').nth(1)?.trim();
            let (kind, effects) = row.split_once(' ')?;
            Some((kind.to_string(), effects.trim().to_string()))
        })
        .collect()
}

#[test]
fn each_failure_key_shows_its_kind_on_the_cluster_sheet() {
    let mut app = app();
    run_for(&mut app, 1_000);
    assert_eq!(effect_rows(&screen(&app, 160, 48)), [], "no failure yet, no effect rows");

    press_with(&mut app, '3', KeyModifiers::NONE);
    press_with(&mut app, '@', KeyModifiers::SHIFT);
    press_with(&mut app, '1', KeyModifiers::ALT);
    let cluster = app.driver.world.cluster();
    let kinds: Vec<Option<Failure>> = ["pin-3", "pin-2", "pin-1"].iter().map(|n| cluster.failure(n)).collect();
    assert_eq!(kinds, [Some(Failure::Crash), Some(Failure::Partition), Some(Failure::Pressure)]);
    run_for(&mut app, 300);
    let text = screen(&app, 160, 48);
    assert!(text.contains("Ready · mem pressure"), "pin-1's card says it wobbles:\n{text}");
    run_for(&mut app, 5_700);
    let text = screen(&app, 160, 48);
    assert!(text.contains("CUT · NotReady"), "pin-2's card says it is cut off, not down:\n{text}");
    assert!(text.contains("DOWN · NotReady"), "pin-3's card says it crashed:\n{text}");

    let rows = effect_rows(&text);
    let labels: Vec<&str> = rows.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(labels, ["crash", "partition", "pressure"], "{rows:#?}");
    let effects = app.driver.world.metrics().by_failure.clone();
    let crash = &effects[&Failure::Crash];
    assert!(rows[0].1.starts_with(&format!("{} displaced", crash.displaced)), "{rows:#?}");
    let partition = &effects[&Failure::Partition];
    assert!(partition.duplicates_peak > 0, "pin-2's pods ran twice: {partition:?}");
    let duplicates = format!("{} duplicates, 0 killed on return", partition.duplicates_peak);
    assert!(rows[1].1.contains(&duplicates), "{rows:#?}");
    let pressure = &effects[&Failure::Pressure];
    // Every pod of the default lane is Guaranteed: memory pressure evicts none of them.
    assert_eq!(pressure.displaced, 0, "{pressure:?}");
    assert!(rows[2].1.starts_with(&format!("{} evicted by the kubelet", pressure.displaced)), "{rows:#?}");

    // The rack reset stands pin-2 again: its kubelet kills the duplicates.
    app.handle_key(KeyEvent::new(KeyCode::Char('r'), KeyModifiers::NONE));
    app.drain();
    run_for(&mut app, 2_000);
    let rows = effect_rows(&screen(&app, 160, 48));
    let killed = format!("{0} duplicates, {0} killed on return", partition.duplicates_peak);
    assert!(rows[1].1.contains(&killed), "{rows:#?}");
}
