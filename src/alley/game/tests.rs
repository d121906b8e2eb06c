use super::super::lane::{HEAD_PIN_Y, PIT_Y};
use super::*;
use crate::alley::FallCause;
use proptest::prelude::*;
use rand::SeedableRng;

/// 10 ms ticks of meter that give 80 % power.
const NOMINAL_TICKS: u32 = 56;

fn alley(seed: u64) -> Alley {
    Alley::new(Xoshiro256PlusPlus::seed_from_u64(seed))
}

fn set_up(a: &mut Alley, boards: i8, aim: i8, hook: i8) {
    a.handle(AlleyInput::Move(boards)).expect("the only bowler is always up");
    a.handle(AlleyInput::Aim(aim)).expect("the only bowler is always up");
    a.handle(AlleyInput::Hook(hook)).expect("the only bowler is always up");
}

fn drain(a: &mut Alley) -> Vec<AlleyEvent> {
    std::iter::from_fn(|| a.poll_event()).collect()
}

/// Bowls one ball, locking the meter after `ticks` 10 ms steps, and runs
/// the clock until the bowler may aim again (or the game is over).
fn bowl(a: &mut Alley, ticks: u32) -> Vec<AlleyEvent> {
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    for _ in 0..ticks {
        a.step(10);
    }
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    let mut events = Vec::new();
    for _ in 0..2_000 {
        a.step(10);
        events.extend(drain(a));
        if matches!(a.phase(), Phase::Aiming | Phase::GameOver) {
            break;
        }
    }
    events
}

/// (pins, strike, spare, gutter) of the single roll in `events`.
fn result(events: &[AlleyEvent]) -> (u8, bool, bool, bool) {
    let finished: Vec<_> = events
        .iter()
        .filter_map(|e| match *e {
            AlleyEvent::RollFinished { pins, strike, spare, gutter, .. } => Some((pins, strike, spare, gutter)),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "one roll in {events:?}");
    finished[0]
}

fn pins_down(events: &[AlleyEvent]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            AlleyEvent::PinDown(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_game_waits_for_the_bowler() {
    let mut a = alley(1);
    assert_eq!(a.phase(), Phase::Aiming);
    assert_eq!((a.frame(), a.roll_in_frame()), (1, 1));
    assert!(a.pins().iter().all(|p| p.standing && !p.moving));
    assert_eq!(a.pins()[9].number, 10);
    assert_eq!((a.ball(), a.power_meter()), (None, None));
    a.step(5_000);
    assert_eq!(a.phase(), Phase::Aiming, "time alone does nothing");
    assert_eq!(a.poll_event(), None);
    let path = a.predicted_path();
    assert_eq!(path.len(), 30);
    assert_eq!(path[0], (0.0, 0.0));
    let end = path[29];
    assert!(end.0.abs() < 1e-9 && (end.1 - HEAD_PIN_Y).abs() < 0.7, "{end:?}");
}

#[test]
fn the_meter_swings_and_locks() {
    let mut a = alley(1);
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    assert_eq!(a.phase(), Phase::Power);
    a.handle(AlleyInput::Move(3)).expect("the only bowler is always up");
    assert_eq!(a.setup().position_m, 0.0, "setup is frozen once the meter runs");
    a.step(700);
    assert_eq!(a.power_meter(), Some(1.0));
    a.step(350);
    assert_eq!(a.power_meter(), Some(0.5));
    a.step(1400 * 1_000_000);
    assert_eq!(a.power_meter(), Some(0.5), "a whole number of periods later");
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    assert_eq!(a.phase(), Phase::Rolling);
    assert_eq!(a.power_meter(), Some(0.5), "the locked power stays on show");
    assert!(a.ball().is_some_and(|b| b.y == 0.0));
    assert!(a.predicted_path().is_empty());
}

#[test]
fn slow_straight_ball_hits_the_head_pin_first() {
    let mut a = alley(3);
    let events = bowl(&mut a, 0);
    let down = pins_down(&events);
    assert_eq!(down.first(), Some(&1), "{events:?}");
    let (pins, _, _, gutter) = result(&events);
    assert_eq!(usize::from(pins), down.len());
    assert!(!gutter);
}

#[test]
fn gutter_ball_knocks_nothing() {
    let mut a = alley(4);
    set_up(&mut a, 0, 16, 0);
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    let mut seen_gutter = false;
    while a.phase() == Phase::Rolling {
        a.step(10);
        seen_gutter |= a.ball().is_some_and(|b| b.in_gutter);
    }
    a.step(5_000);
    let events = drain(&mut a);
    assert!(seen_gutter);
    assert_eq!(result(&events), (0, false, false, true));
    assert!(pins_down(&events).is_empty());
    assert!(events.contains(&AlleyEvent::RackSwept));
    assert_eq!((a.frame(), a.roll_in_frame()), (1, 2));
    assert_eq!(a.scorecard().marks(1), "-");
}

#[test]
fn a_well_set_pocket_shot_carries() {
    // Right-hander: eight boards right of centre, half a degree outwards,
    // full hook back into the 1-3 pocket, locked at 80 % power.
    let mut strikes = 0;
    for seed in 1..=6 {
        let mut a = alley(seed);
        set_up(&mut a, 8, 2, -5);
        let (pins, strike, ..) = result(&bowl(&mut a, NOMINAL_TICKS));
        assert!(pins >= 7, "seed {seed}: only {pins}");
        strikes += u32::from(strike);
    }
    assert!(strikes >= 1, "good shots should strike sometimes");
}

#[test]
fn same_seed_and_inputs_replay_exactly() {
    let script = |seed| {
        let mut a = alley(seed);
        set_up(&mut a, 8, 2, -5);
        let mut events = bowl(&mut a, 60);
        a.handle(AlleyInput::Move(-10)).expect("the only bowler is always up");
        events.extend(bowl(&mut a, 45));
        a.knock_pin(4);
        events.extend(bowl(&mut a, 70));
        (events, a.pins(), a.scorecard().clone())
    };
    let first = script(9);
    assert_eq!(first, script(9));
    assert_ne!(first.1, script(10).1, "the release error depends on the seed");
}

#[test]
fn chaos_pins_never_count() {
    let mut a = alley(5);
    for pin in 1..=10 {
        a.knock_pin(pin);
    }
    a.knock_pin(3);
    a.knock_pin(0);
    a.knock_pin(200);
    let knocked = drain(&mut a);
    assert_eq!(knocked, (1..=10).map(AlleyEvent::PinDown).collect::<Vec<_>>());
    let events = bowl(&mut a, 0);
    assert_eq!(result(&events), (0, false, false, false));
    assert!(pins_down(&events).is_empty(), "dead wood is out of play");
}

#[test]
fn a_pin_knocked_mid_roll_is_not_the_bowlers() {
    let mut a = alley(6);
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    a.step(500);
    a.knock_pin(1);
    a.stand_pin(1);
    a.knock_pin(1);
    let chaos = drain(&mut a);
    let expect = [AlleyEvent::PinDown(1), AlleyEvent::PinUp(1)];
    assert_eq!(chaos, [expect[0], expect[1], expect[0]]);
    a.step(10_000);
    let events = drain(&mut a);
    let (pins, ..) = result(&events);
    let by_ball = pins_down(&events);
    assert!(!by_ball.contains(&1));
    assert_eq!(usize::from(pins), by_ball.len());
}

#[test]
fn restood_pins_cannot_overfill_a_frame() {
    let mut a = alley(7);
    set_up(&mut a, 8, 2, -5);
    let first = result(&bowl(&mut a, NOMINAL_TICKS)).0;
    if first == 10 {
        return; // the frame is over: nothing to overfill
    }
    a.reset_rack();
    let second = result(&bowl(&mut a, NOMINAL_TICKS)).0;
    assert!(first + second <= 10);
    assert_eq!(a.scorecard().rolls(1), &[first, second]);
}

#[test]
fn the_pinsetter_sweeps_then_resets() {
    let mut a = alley(8);
    set_up(&mut a, -8, -2, 0);
    let events = bowl(&mut a, NOMINAL_TICKS);
    let (pins, strike, ..) = result(&events);
    assert!(!strike && pins > 0, "a light hit leaves pins: {pins}");
    assert_eq!(events.last(), Some(&AlleyEvent::RackSwept));
    let views = a.pins();
    assert_eq!(views.iter().filter(|p| p.standing).count(), usize::from(10 - pins));
    assert!(views.iter().all(|p| p.standing || p.y > PIT_Y));
    assert!(views.iter().all(|p| !p.moving));
    let events = bowl(&mut a, NOMINAL_TICKS);
    let tail = &events[events.len() - 2..];
    assert_eq!(tail, [AlleyEvent::RackReset, AlleyEvent::FrameComplete(1)]);
    assert_eq!((a.frame(), a.roll_in_frame()), (2, 1));
    assert!(a.pins().iter().all(|p| p.standing));
}

#[test]
fn a_scripted_game_reaches_game_over() {
    let mut a = alley(11);
    set_up(&mut a, 8, 2, -5);
    let mut events = Vec::new();
    for shot in 0..21 {
        if a.phase() == Phase::GameOver {
            break;
        }
        // Vary the power so the bowler is not a machine.
        events.extend(bowl(&mut a, 48 + (shot * 7) % 22));
    }
    assert_eq!(a.phase(), Phase::GameOver);
    let card = a.scorecard();
    assert!(card.is_complete());
    let score = card.total();
    assert!(score <= 300);
    assert_eq!(events.last(), Some(&AlleyEvent::GameOver { score }));
    let frames: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            AlleyEvent::FrameComplete(f) => Some(*f),
            _ => None,
        })
        .collect();
    assert_eq!(frames, (1..=10).collect::<Vec<_>>());
    assert_eq!(a.frame(), 10);
    // A good bowler with a good line scores well.
    assert!(score >= 120, "{score}");
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    assert_eq!(a.phase(), Phase::GameOver, "no rolls after the game");
    a.handle(AlleyInput::NewGame).expect("the only bowler is always up");
    assert_eq!(a.phase(), Phase::Aiming);
    assert_eq!(a.scorecard().total(), 0);
    assert_eq!(a.setup().hook, -5, "the bowler keeps their line");
    assert_eq!(a.poll_event(), Some(AlleyEvent::RackReset));
}

#[test]
fn a_huge_step_finishes_the_roll_and_stops() {
    let mut a = alley(12);
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    a.step(u64::MAX);
    assert_eq!(a.phase(), Phase::Aiming);
    assert!(drain(&mut a).contains(&AlleyEvent::RackSwept));
}

#[derive(Debug, Clone)]
enum Action {
    Input(AlleyInput),
    Step(u64),
    Knock(u8),
    Stand(u8),
    Reset,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        1 => (-3i8..=3).prop_map(|d| Action::Input(AlleyInput::Move(d))),
        1 => (-3i8..=3).prop_map(|d| Action::Input(AlleyInput::Aim(d))),
        1 => (-3i8..=3).prop_map(|d| Action::Input(AlleyInput::Hook(d))),
        4 => Just(Action::Input(AlleyInput::Power)),
        1 => Just(Action::Input(AlleyInput::NewGame)),
        4 => (0u64..1_500).prop_map(Action::Step),
        1 => (0u8..=11).prop_map(Action::Knock),
        1 => (0u8..=11).prop_map(Action::Stand),
        1 => Just(Action::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the player and chaos do, in any order, nothing panics and
    /// the game stays coherent.
    #[test]
    fn any_inputs_keep_the_alley_coherent(
        seed in any::<u64>(),
        actions in prop::collection::vec(action(), 0..40),
    ) {
        let mut a = alley(seed);
        for act in actions {
            match act {
                Action::Input(i) => a.handle(i).expect("the only bowler is always up"),
                Action::Step(ms) => a.step(ms),
                Action::Knock(p) => a.knock_pin(p),
                Action::Stand(p) => a.stand_pin(p),
                Action::Reset => a.reset_rack(),
            }
            while let Some(e) = a.poll_event() {
                if let AlleyEvent::RollFinished { pins, roll, frame, .. } = e {
                    prop_assert!(pins <= 10 && (1..=3).contains(&roll));
                    prop_assert!((1..=10).contains(&frame));
                }
            }
            prop_assert!((1..=10).contains(&a.frame()));
            prop_assert!((1..=3).contains(&a.roll_in_frame()));
            prop_assert!(a.scorecard().total() <= 300);
            prop_assert!(a.power_meter().is_none_or(|p| (0.0..=1.0).contains(&p)));
            let s = a.setup();
            prop_assert!(s.hook.abs() <= 5 && s.aim_deg.abs() <= 4.0);
        }
    }
}

/// One roll as the lane saw it: who bowled it, and the frame, roll and pins it recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Roll {
    bowler: u8,
    frame: u8,
    roll: u8,
    pins: u8,
}

/// Bowls as whoever is up until every card is complete (each bowler's own line: the host
/// straight, the others a pocket shot), returning every roll and every event.
fn bowl_out(a: &mut Alley) -> (Vec<Roll>, Vec<AlleyEvent>) {
    let (mut rolls, mut events) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        if a.phase() == Phase::GameOver {
            return (rolls, events);
        }
        let bowler = a.bowler_up();
        let ticks = if bowler == 0 { 40 } else { NOMINAL_TICKS };
        a.handle_as(bowler, AlleyInput::Power).expect("the bowler who is up starts the meter");
        for _ in 0..ticks {
            a.step(10);
        }
        a.handle_as(bowler, AlleyInput::Power).expect("and releases");
        for _ in 0..2_000 {
            a.step(10);
            for event in drain(a) {
                if let AlleyEvent::RollFinished { frame, roll, pins, .. } = event {
                    rolls.push(Roll { bowler, frame, roll, pins });
                }
                events.push(event);
            }
            if matches!(a.phase(), Phase::Aiming | Phase::GameOver) {
                break;
            }
        }
    }
    panic!("the game never ended: {rolls:?}");
}

/// Consecutive runs of (bowler, frame) in the order they were bowled.
fn turns(rolls: &[Roll]) -> Vec<(u8, u8)> {
    let mut turns: Vec<(u8, u8)> = rolls.iter().map(|r| (r.bowler, r.frame)).collect();
    turns.dedup();
    turns
}

#[test]
fn two_bowlers_bowl_whole_frames_in_turn() {
    let mut a = alley(21);
    assert_eq!(a.join("bob"), Ok(1));
    assert_eq!(drain(&mut a), [AlleyEvent::BowlerJoined(1)]);
    assert_eq!(a.bowlers().iter().map(Bowler::name).collect::<Vec<_>>(), ["host", "bob"]);
    let (rolls, events) = bowl_out(&mut a);
    let expected: Vec<(u8, u8)> = (1..=10).flat_map(|f| [(0, f), (1, f)]).collect();
    assert_eq!(turns(&rolls), expected, "frame by frame, the host then bob");
    // Every change of bowler comes with a fresh rack, as between frames.
    let mut last_reset = None;
    for (i, event) in events.iter().enumerate() {
        match event {
            AlleyEvent::RackReset => last_reset = Some(i),
            AlleyEvent::BowlerUp(_) => {
                assert!(last_reset.is_some_and(|r| r + 3 > i), "a full rack before the turn passes: {events:?}")
            }
            _ => {}
        }
    }
    let ups = events.iter().filter(|e| matches!(e, AlleyEvent::BowlerUp(_))).count();
    assert_eq!(ups, 19, "the turn passes after each of the 20 frames but the last");
    assert!(a.bowlers().iter().all(|b| b.scorecard().is_complete()));
}

#[test]
fn interleaved_cards_score_each_bowlers_own_rolls() {
    let mut a = alley(22);
    a.join("bob").expect("joins");
    let (rolls, events) = bowl_out(&mut a);
    for (index, bowler) in a.bowlers().iter().enumerate() {
        // The card a lone bowler would have had with the same rolls.
        let mut alone = ScoreCard::new();
        for roll in rolls.iter().filter(|r| usize::from(r.bowler) == index) {
            let recorded = alone.record(roll.pins).expect("a legal roll");
            assert_eq!((recorded.frame, recorded.roll), (roll.frame, roll.roll), "{roll:?}");
        }
        assert_eq!(bowler.scorecard(), &alone, "{}", bowler.name());
        assert_eq!(bowler.scorecard().frame_totals(), alone.frame_totals());
    }
    let (first, second) = (a.bowlers()[0].scorecard().total(), a.bowlers()[1].scorecard().total());
    assert_ne!(first, second, "different lines, different games (else this test proves little)");
    assert_eq!(events.last(), Some(&AlleyEvent::GameOver { score: first }), "the first bowler's score");
}

#[test]
fn a_control_out_of_turn_is_refused_and_changes_nothing() {
    let mut a = alley(23);
    a.join("bob").expect("joins");
    drain(&mut a);
    let before = (a.setup(), a.phase(), a.frame(), a.bowler_up());
    let refused = a.handle_as(1, AlleyInput::Move(3));
    assert_eq!(refused, Err(TurnError::NotYourTurn { bowler: "bob".into(), up: "host".into() }));
    assert_eq!(refused.unwrap_err().to_string(), "it is host's turn, not bob's");
    assert_eq!(
        a.handle_as(1, AlleyInput::Power),
        Err(TurnError::NotYourTurn { bowler: "bob".into(), up: "host".into() })
    );
    assert_eq!(a.handle_as(1, AlleyInput::NewGame), Err(TurnError::NotFirstBowler { first: "host".into() }));
    assert_eq!(a.handle_as(2, AlleyInput::Power), Err(TurnError::UnknownBowler(2)));
    assert_eq!((a.setup(), a.phase(), a.frame(), a.bowler_up()), before);
    assert_eq!(a.poll_event(), None);
    // The host bowls their frame; then it is bob's turn and the host's controls are refused.
    a.handle(AlleyInput::Move(4)).expect("the host is up");
    let setup = a.setup();
    while a.bowler_up() == 0 {
        bowl(&mut a, 40);
    }
    assert_eq!(a.setup(), Setup { position_m: 0.0, ..setup }, "bob's own line, not the host's");
    assert!(matches!(a.handle(AlleyInput::Power), Err(TurnError::NotYourTurn { .. })));
    assert_eq!(a.phase(), Phase::Aiming);
    a.handle_as(1, AlleyInput::Power).expect("bob is up");
    assert_eq!(a.phase(), Phase::Power);
}

#[test]
fn joins_are_checked() {
    let mut a = alley(24);
    assert_eq!(a.join("  "), Err(TurnError::NameRequired));
    assert_eq!(a.join("host"), Err(TurnError::NameTaken("host".into())));
    assert!(matches!(a.join("a name far too long"), Err(TurnError::NameTooLong(_))));
    for n in 2..=MAX_BOWLERS {
        a.join(&format!("p{n}")).expect("room on the lane");
    }
    assert_eq!(a.join("late"), Err(TurnError::LaneFull));
    assert_eq!(a.bowlers().len(), MAX_BOWLERS);
}

#[test]
fn a_late_bowler_starts_at_frame_one_and_bowls_on_alone() {
    let mut a = alley(25);
    while a.frame() < 3 {
        bowl(&mut a, 40);
    }
    a.join("late").expect("joins mid-game");
    assert_eq!(a.bowlers()[1].scorecard().current_frame(), 1, "an empty card of their own");
    let (rolls, _) = bowl_out(&mut a);
    let mut expected: Vec<(u8, u8)> = (3..=10).zip(1..=8).flat_map(|(f, g)| [(0, f), (1, g)]).collect();
    expected.extend([(1, 9), (1, 10)]);
    assert_eq!(turns(&rolls), expected);
}

#[test]
fn a_new_game_keeps_the_bowlers_with_clean_cards() {
    let mut a = alley(26);
    a.join("bob").expect("joins");
    bowl_out(&mut a);
    assert_eq!(a.join("late"), Err(TurnError::GameOver));
    a.handle(AlleyInput::NewGame).expect("the first bowler starts a new game");
    assert_eq!((a.phase(), a.bowler_up(), a.frame()), (Phase::Aiming, 0, 1));
    assert_eq!(a.bowlers().len(), 2);
    assert!(a.bowlers().iter().all(|b| b.scorecard().total() == 0));
}

#[test]
fn two_bowlers_replay_exactly() {
    let script = || {
        let mut a = alley(27);
        a.join("bob").expect("joins");
        let refused = a.handle_as(1, AlleyInput::Move(2)).is_err();
        a.handle(AlleyInput::Hook(-2)).expect("the host is up");
        let (rolls, events) = bowl_out(&mut a);
        (refused, rolls, events, a.bowlers().iter().map(|b| b.scorecard().clone()).collect::<Vec<_>>())
    };
    assert_eq!(script(), script());
}

/// Bowls one ball like [`bowl`] but stops once its result is on show, before the pinsetter
/// stands or sweeps anything.
fn bowl_to_result(a: &mut Alley, ticks: u32) -> Vec<AlleyEvent> {
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    for _ in 0..ticks {
        a.step(10);
    }
    a.handle(AlleyInput::Power).expect("the only bowler is always up");
    let mut events = Vec::new();
    while matches!(a.phase(), Phase::Rolling | Phase::Settling) {
        a.step(10);
        events.extend(drain(a));
    }
    events
}

fn wobbled(events: &[AlleyEvent]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            AlleyEvent::PinWobbled(n) => Some(*n),
            _ => None,
        })
        .collect()
}

#[test]
fn each_fallen_pin_knows_whether_the_ball_or_another_pin_knocked_it() {
    let mut a = alley(3);
    let events = bowl_to_result(&mut a, 0);
    let down = pins_down(&events);
    assert_eq!(down.first(), Some(&1), "{events:?}");
    assert_eq!(a.fall_cause(1), Some(FallCause::Ball), "the ball meets the head pin first");
    let mut by_pin = 0;
    for (at, &pin) in down.iter().enumerate() {
        match a.fall_cause(pin) {
            Some(FallCause::Pin(by)) => {
                by_pin += 1;
                assert!(down[..at].contains(&by), "pin {pin} knocked by pin {by}, which was not yet down: {down:?}");
            }
            Some(FallCause::Ball) => {}
            other => panic!("pin {pin} fell in play but its cause is {other:?}"),
        }
    }
    assert!(by_pin > 0, "a full hit scatters pins into pins: {down:?}");
    let standing = a.pins().iter().filter(|p| p.standing).map(|p| p.number).collect::<Vec<_>>();
    assert!(standing.iter().all(|&pin| a.fall_cause(pin).is_none()), "a standing pin has no fall");
}

#[test]
fn a_chaos_knock_is_no_ones_but_chaos_and_standing_clears_it() {
    let mut a = alley(5);
    a.knock_pin(4);
    assert_eq!(a.fall_cause(4), Some(FallCause::Chaos));
    a.stand_pin(4);
    assert_eq!(a.fall_cause(4), None);
    assert_eq!((a.fall_cause(0), a.fall_cause(11)), (None, None));
}

#[test]
fn a_pin_touched_too_gently_to_fall_wobbles_and_stays_up() {
    let mut a = alley(7);
    let events = bowl_to_result(&mut a, NOMINAL_TICKS);
    assert_eq!(wobbled(&events), [10], "{events:?}");
    assert!(a.pins()[9].standing);
    assert_eq!(a.fall_cause(10), None);
    assert!(!pins_down(&events).contains(&10));
    let wobble_at = events.iter().position(|e| *e == AlleyEvent::PinWobbled(10));
    let finished_at = events.iter().position(|e| matches!(e, AlleyEvent::RollFinished { .. }));
    assert!(wobble_at < finished_at, "the wobble is told before the result: {events:?}");
}

#[test]
fn wobbles_happen_in_some_rolls_not_most() {
    let rolls: Vec<Vec<AlleyEvent>> = (1..=20).map(|seed| bowl_to_result(&mut alley(seed), NOMINAL_TICKS)).collect();
    let wobbling = rolls.iter().filter(|events| !wobbled(events).is_empty()).count();
    assert!((1..=rolls.len() / 4).contains(&wobbling), "{wobbling} of {} rolls wobbled a pin", rolls.len());
}
