//! How a pin falls picks what its node suffers (issue 12, item 5): the ball's hit crashes it,
//! another pin's knock cuts it off (a network partition, whose pods run on as duplicates until
//! the pinsetter stands the pin again), and a wobble leaves it standing under memory pressure.

use pinsetter::alley::{AlleyEvent, AlleyInput, FallCause, Phase};
use pinsetter::cluster::Failure;
use pinsetter::cluster::objects::Node;
use pinsetter::cluster::store::ObjectKey;
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, Output, World};

/// A ten-pin lane whose pods are all up, the bowler lined up as `set_up` says.
fn lane(seed: u64, set_up: &[AlleyInput]) -> World {
    let mut world = World::new(seed, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    for _ in 0..300 {
        world.step();
    }
    let counts = world.pod_counts();
    assert_eq!((counts.running, counts.lost), (counts.desired, 0), "the lane is up before the roll: {counts:?}");
    for &control in set_up {
        world.handle_input(Input::Alley(control)).unwrap();
    }
    world
}

/// Bowls one ball, locking the meter after `ticks` steps, and runs until its result is on
/// show; returns the lane's events of the roll.
fn roll(world: &mut World, ticks: u32) -> Vec<AlleyEvent> {
    world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
    for _ in 0..ticks {
        world.step();
    }
    world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
    let mut events = Vec::new();
    while matches!(world.alley().phase(), Phase::Power | Phase::Rolling | Phase::Settling) {
        world.step();
        while let Some(output) = world.poll_output() {
            if let Output::Alley(event) = output {
                events.push(event);
            }
        }
    }
    events
}

/// The pins that fell in `events`, each with what knocked it.
fn falls(world: &World, events: &[AlleyEvent]) -> Vec<(u8, FallCause)> {
    events
        .iter()
        .filter_map(|e| match *e {
            AlleyEvent::PinDown(pin) => Some((pin, world.alley().fall_cause(pin).expect("a fallen pin has a cause"))),
            _ => None,
        })
        .collect()
}

fn notes(world: &World) -> Vec<String> {
    world.log().filter_map(|o| if let Output::Note { text, .. } = o { Some(text.clone()) } else { None }).collect()
}

/// A straight ball on seed 1 fells pins both ways: the ball's crash, the flying pins'
/// partitions. The partitioned nodes' pods are replaced elsewhere while they still run (the
/// duplicate window); when the pinsetter resets the rack their kubelets kill them, and every
/// replica is running, none lost.
#[test]
fn a_pin_knocked_by_a_pin_is_partitioned_and_its_duplicates_die_at_the_reset() {
    let mut world = lane(1, &[]);
    let events = roll(&mut world, 0);
    let falls = falls(&world, &events);
    let by_pin: Vec<u8> = falls.iter().filter(|(_, c)| matches!(c, FallCause::Pin(_))).map(|(p, _)| *p).collect();
    let by_ball: Vec<u8> = falls.iter().filter(|(_, c)| *c == FallCause::Ball).map(|(p, _)| *p).collect();
    assert!(!by_pin.is_empty() && by_ball.contains(&1), "{falls:?}");
    assert!(falls.len() < 10, "the frame goes on, so the bowler can wait: {falls:?}");
    for &pin in &by_pin {
        for node in world.pin_nodes(pin) {
            assert_eq!(world.cluster().failure(node), Some(Failure::Partition), "pin {pin} ({node})");
        }
    }
    for &pin in &by_ball {
        for node in world.pin_nodes(pin) {
            assert_eq!(world.cluster().failure(node), Some(Failure::Crash), "pin {pin} ({node})");
        }
    }
    let notes = notes(&world);
    for (pin, cause) in &falls {
        if let FallCause::Pin(by) = cause {
            let said = format!("pin {pin} knocked by pin {by}: network partition");
            assert!(notes.iter().any(|n| n.starts_with(&said)), "{said:?} not in {notes:#?}");
        }
    }
    // The bowler takes their time: the control plane evicts and replaces the cut-off pods.
    let mut duplicates_peak = 0;
    for _ in 0..1_000 {
        world.step();
        duplicates_peak = duplicates_peak.max(world.cluster().duplicates());
    }
    assert!(duplicates_peak > 0, "partitioned pods ran twice for a while");
    // The second ball ends the frame; the pinsetter resets the rack and every node returns.
    roll(&mut world, 0);
    for _ in 0..1_000 {
        world.step();
    }
    assert_eq!(world.alley().frame(), 2);
    assert_eq!(world.cluster().duplicates(), 0, "the duplicate window closed at the reset");
    assert!(world.pins().iter().all(|node| world.cluster().failure(node).is_none()), "every node is back");
    let partition = &world.metrics().by_failure[&Failure::Partition];
    assert!(partition.duplicates_killed > 0, "{partition:?}");
    assert_eq!(partition.duplicates_killed, partition.duplicates_peak, "each duplicate is killed once: {partition:?}");
    assert!(partition.nodes >= by_pin.len() as u64, "{partition:?}");
    let counts = world.pod_counts();
    assert_eq!((counts.running, counts.pending, counts.lost), (counts.desired, 0, 0), "{counts:?}");
}

/// On seed 9 a straight ball leaves pin 4 rocking on its spot: a flap. Its node stays Ready but
/// reports MemoryPressure and is tainted against new pods, and the pressure passes by itself
/// (this lane's pods are all Guaranteed, which the eviction manager spares) before the bowler's
/// next ball, with no reset.
#[test]
fn a_wobbling_pin_puts_its_node_under_memory_pressure_that_passes() {
    let mut world = lane(9, &[]);
    let events = roll(&mut world, 0);
    assert!(events.contains(&AlleyEvent::PinWobbled(4)), "{events:?}");
    let node = world.pin_nodes(4)[0].clone();
    assert_eq!(world.cluster().failure(&node), Some(Failure::Pressure));
    assert!(!world.cluster().is_knocked(&node), "the pin stands");
    let said = "pin 4 wobbled: memory pressure on pin-4";
    assert!(notes(&world).iter().any(|n| n.starts_with(said)), "{said:?} not in {:#?}", notes(&world));
    let key = ObjectKey::cluster(&node);
    let (mut pressure_reported, mut tainted) = (false, false);
    let mut passed = false;
    for _ in 0..1_000 {
        world.step();
        let stored = world.cluster().store.get::<Node>(&key).expect("the node stays");
        pressure_reported |= stored.status.conditions.iter().any(|c| c.type_ == "MemoryPressure" && c.status == "True");
        tainted |= stored.spec.taints.iter().any(|t| t.key == "node.kubernetes.io/memory-pressure");
        if world.cluster().failure(&node).is_none() {
            passed = true;
            break;
        }
        assert_ne!(world.alley().phase(), Phase::Aiming, "the pressure outlasted the result on show");
    }
    assert!(pressure_reported && tainted, "MemoryPressure reported: {pressure_reported}, tainted: {tainted}");
    assert!(passed, "the pressure passed by itself");
    assert_eq!(world.metrics().by_failure[&Failure::Pressure].nodes, 1);
}
