//! The game's answer to "why is this pod here?": switch the scheduler with `s`, knock two pins,
//! and `d` on a replacement pod shows every pin's filter verdict and score-plugin scores.

mod common;
use common::tui::{app, press, run_for, screen};

use crossterm::event::KeyCode;
use pinsetter::cluster::objects::Pod;
use pinsetter::cluster::store::ObjectKey;
use pinsetter::tui::{Overlay, Selection};

#[test]
fn describe_pod_shows_why_spread_put_it_there() {
    let mut app = app();
    run_for(&mut app, 1_000);
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    assert_eq!(app.driver.world.cluster().scheduler.policy.name(), "spread");
    assert!(screen(&app, 160, 48).contains("scheduler spread"), "the pinsetter panel names the policy");
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Char('4'));
    run_for(&mut app, 4_000);
    let cluster = app.driver.world.cluster();
    let mut placed: Vec<&Pod> = cluster
        .store
        .list::<Pod>()
        .filter(|p| cluster.scheduler.decision(p).is_some_and(|d| d.policy == "spread"))
        .collect();
    placed.sort_by_key(|p| p.metadata.name.clone());
    let key = ObjectKey::of(&placed.first().expect("spread placed the replacements").metadata);
    app.selection = Selection::Pod(key);
    app.overlay = Overlay::Describe;
    // The hint bar's flash message times out in wall time: keep the snapshot independent of it.
    app.message = None;
    let text = screen(&app, 160, 48);
    assert!(text.contains("Scheduler (spread policy"), "{text}");
    assert!(text.contains("LeastAllocated") && text.contains("BalancedAllocation"), "{text}");
    assert!(text.contains("fits: chosen"), "{text}");
    assert!(text.contains("TaintToleration"), "the knocked pins' verdicts: {text}");
    insta::assert_snapshot!(text);
}
