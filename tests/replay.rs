//! A seeded game replays exactly: the same bowling inputs at the same ticks give the same score,
//! the same pins down and the same Kubernetes event digest.

use pinsetter::alley::{AlleyInput, Phase};
use pinsetter::cluster::timing::Preset;
use pinsetter::scenario::Scenario;
use pinsetter::world::{Input, World};

/// Bowls until game over with a fixed script: a pocket line, the power meter released after
/// `hold` ticks. Returns (score, digest, events).
fn play(seed: u64, hold: u32) -> (u16, String, u64) {
    let mut world = World::new(seed, Preset::Arcade, &Scenario::resolve("default").unwrap()).unwrap();
    for input in [[AlleyInput::Move(1); 8].as_slice(), &[AlleyInput::Aim(1); 2], &[AlleyInput::Hook(-1); 5]].concat() {
        world.handle_input(Input::Alley(input)).unwrap();
    }
    for _ in 0..200_000 {
        match world.alley().phase() {
            Phase::GameOver => break,
            Phase::Aiming => {
                world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
                for _ in 0..hold {
                    world.step();
                }
                world.handle_input(Input::Alley(AlleyInput::Power)).unwrap();
            }
            _ => world.step(),
        }
        while world.poll_output().is_some() {}
    }
    assert_eq!(world.alley().phase(), Phase::GameOver, "the script finishes the game");
    (world.alley().scorecard().total(), world.digest(), world.event_count())
}

#[test]
fn same_seed_and_inputs_replay_the_same_game_and_cluster_history() {
    let first = play(3, 56);
    let second = play(3, 56);
    assert_eq!(first, second);
    assert!(first.0 <= 300);
    assert!(first.2 > 100, "pins fell, so the control plane had work: {} events", first.2);
    let other = play(3, 40);
    assert_ne!(first.1, other.1, "different releases should give a different history");
}
