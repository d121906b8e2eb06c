use super::*;
use proptest::prelude::*;

fn card(rolls: &[u8]) -> ScoreCard {
    let mut card = ScoreCard::new();
    for (n, &pins) in rolls.iter().enumerate() {
        if let Err(e) = card.record(pins) {
            panic!("roll {n} ({pins}) rejected: {e}");
        }
    }
    card
}

#[test]
fn gutter_game_scores_zero() {
    let mut c = card(&[0; 20]);
    assert!(c.is_complete());
    assert_eq!(c.total(), 0);
    assert_eq!(c.frame_totals()[9], Some(0));
    assert_eq!(c.marks(1), "--");
    assert_eq!(c.record(0), Err(ScoreError::GameComplete));
}

#[test]
fn nine_nothing_every_frame_scores_ninety() {
    let c = card(&[9, 0].repeat(10));
    assert_eq!(c.total(), 90);
    assert_eq!(c.frame_totals()[4], Some(45));
    assert_eq!(c.marks(3), "9-");
}

#[test]
fn all_fives_scores_one_fifty() {
    let c = card(&[5; 21]);
    assert!(c.is_complete());
    assert_eq!(c.total(), 150);
    assert_eq!(c.marks(1), "5/");
    assert_eq!(c.marks(10), "5/5");
}

#[test]
fn perfect_game_scores_three_hundred() {
    let mut c = card(&[10; 11]);
    assert!(!c.is_complete());
    assert_eq!(c.frame_totals()[8], Some(270));
    assert_eq!(c.frame_totals()[9], None, "the tenth waits for its last ball");
    let last = c.record(10);
    assert!(matches!(last, Ok(r) if r.game_complete && r.strike && r.roll == 3));
    assert_eq!(c.total(), 300);
    assert_eq!(c.frame_totals()[9], Some(300));
    assert_eq!(c.marks(1), "X");
    assert_eq!(c.marks(10), "XXX");
}

#[test]
fn published_mixed_game_scores_167() {
    // X, 7/, 9-, X, -8, 8/, -6, X, X, X81
    let rolls = [10, 7, 3, 9, 0, 10, 0, 8, 8, 2, 0, 6, 10, 10, 10, 8, 1];
    let c = card(&rolls);
    assert!(c.is_complete());
    let expected = [20, 39, 48, 66, 74, 84, 90, 120, 148, 167];
    assert_eq!(c.frame_totals(), expected.map(Some));
    assert_eq!(c.total(), 167);
    let marks: Vec<String> = (1..=10).map(|f| c.marks(f)).collect();
    let want = ["X", "7/", "9-", "X", "-8", "8/", "-6", "X", "X", "X81"];
    assert_eq!(marks, want);
}

#[test]
fn impossible_frame_is_an_error() {
    let mut c = ScoreCard::new();
    assert!(c.record(7).is_ok());
    assert_eq!(c.record(7), Err(ScoreError::TooManyPins { pins: 7, standing: 3 }));
    assert_eq!(c.rolls(1), &[7], "a rejected roll leaves no trace");
    assert!(c.record(11).is_err());
}

#[test]
fn totals_wait_for_bonus_rolls() {
    let mut c = card(&[10, 3]);
    assert_eq!(c.frame_totals()[0], None);
    assert_eq!(c.total(), 16, "running total counts the bonus so far");
    c.record(4).ok();
    assert_eq!(c.frame_totals()[0], Some(17));
    assert_eq!(c.frame_totals()[1], Some(24));
    assert_eq!(c.marks(2), "34");
}

#[test]
fn tenth_frame_racks_and_spares() {
    let mut c = card(&[0; 18]);
    assert_eq!((c.current_frame(), c.current_roll()), (10, 1));
    let r = c.record(10).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.strike && !r.frame_complete && r.fresh_rack_next);
    let r = c.record(5).unwrap_or_else(|e| panic!("{e}"));
    assert!(!r.fresh_rack_next && c.max_next_roll() == 5);
    assert!(c.record(6).is_err());
    let r = c.record(5).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.spare && r.game_complete && !r.fresh_rack_next);
    assert_eq!(c.marks(10), "X5/");
    assert_eq!(c.total(), 20);
    assert_eq!(c.current_roll(), 3);
}

#[test]
fn zero_then_ten_is_a_spare_not_a_strike() {
    let mut c = card(&[0]);
    let r = c.record(10).unwrap_or_else(|e| panic!("{e}"));
    assert!(r.spare && !r.strike && r.frame_complete && r.fresh_rack_next);
    assert_eq!(c.marks(1), "-/");
}

#[test]
fn out_of_range_frames_are_empty() {
    let c = card(&[3]);
    assert_eq!(c.rolls(0), &[] as &[u8]);
    assert_eq!(c.marks(11), "");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of inputs is either accepted or rejected, never panics,
    /// and the card stays a legal one.
    #[test]
    fn arbitrary_rolls_keep_the_card_sane(rolls in prop::collection::vec(0u8..=12, 0..30)) {
        let mut c = ScoreCard::new();
        for pins in rolls {
            let legal = !c.is_complete() && pins <= c.max_next_roll();
            prop_assert_eq!(c.record(pins).is_ok(), legal);
        }
        prop_assert!(c.total() <= 300);
        let totals = c.frame_totals();
        let known: Vec<u16> = totals.iter().map_while(|t| *t).collect();
        prop_assert!(known.windows(2).all(|w| w[0] <= w[1]));
        if c.is_complete() {
            prop_assert_eq!(totals[9], Some(c.total()));
        }
        prop_assert!((1..=10).contains(&c.current_frame()));
    }

    /// Always knocking down every legal pin completes a game in 12 rolls.
    #[test]
    fn greedy_games_finish(first in 0u8..=10) {
        let mut c = ScoreCard::new();
        prop_assert!(c.record(first).is_ok());
        let mut rolls = 1;
        while !c.is_complete() && rolls < 30 {
            let max = c.max_next_roll();
            prop_assert!(c.record(max).is_ok());
            rolls += 1;
        }
        prop_assert!(c.is_complete());
    }
}
