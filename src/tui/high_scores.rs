//! The high-score table on disk. A damaged file never costs the player a score: what can be
//! read is kept, the original is moved aside rather than written over, and every save is atomic.

use crate::storage::{StorageError, move_aside, write_atomic};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The best a ten-pin game can score; anything above it was not written by a game.
pub const PERFECT_GAME: u16 = 300;

/// Entries kept on disk and shown at game over.
pub const KEPT: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HighScore {
    pub score: u16,
    pub seed: u64,
    pub when: String,
}

/// What loading found. `problem` is for the player's screen; `path` is `None` when saving
/// would destroy data that couldn't be read or moved aside.
#[derive(Debug)]
pub struct Loaded {
    pub scores: Vec<HighScore>,
    pub problem: Option<String>,
    pub path: Option<PathBuf>,
}

/// Reads the table at `path`. A missing file is an empty table. A file that is not all good
/// entries keeps the good ones, and the file itself is moved to `<file>.corrupt-<n>`.
pub fn load(path: &Path) -> Loaded {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        // No file (or no directory for it) is no scores yet, and nothing to protect.
        Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            return Loaded { scores: Vec::new(), problem: None, path: Some(path.to_path_buf()) };
        }
        Err(e) => {
            return Loaded {
                scores: Vec::new(),
                problem: Some(format!(
                    "cannot read high scores {}: {e}; this session's scores won't be saved",
                    path.display()
                )),
                path: None,
            };
        }
    };
    let (scores, unreadable) = parse(&bytes);
    if unreadable == 0 {
        return Loaded { scores, problem: None, path: Some(path.to_path_buf()) };
    }
    let kept = scores.len();
    match move_aside(path) {
        Ok(aside) => Loaded {
            scores,
            problem: Some(format!(
                "high scores: {unreadable} unreadable {}, kept {kept}; the original file is saved as {}",
                if unreadable == 1 { "entry" } else { "entries" },
                aside.display()
            )),
            path: Some(path.to_path_buf()),
        },
        Err(e) => Loaded {
            scores,
            problem: Some(format!("high scores are damaged and {e}; this session's scores won't be saved")),
            path: None,
        },
    }
}

/// The good entries, best first, and how many could not be read (a file that is not a JSON
/// list counts as one).
fn parse(bytes: &[u8]) -> (Vec<HighScore>, usize) {
    let Ok(entries) = serde_json::from_slice::<Vec<serde_json::Value>>(bytes) else {
        return (Vec::new(), 1);
    };
    let total = entries.len();
    let mut scores: Vec<HighScore> = entries
        .into_iter()
        .filter_map(|entry| serde_json::from_value::<HighScore>(entry).ok())
        .filter(|s| s.score <= PERFECT_GAME)
        .collect();
    let unreadable = total - scores.len();
    sort(&mut scores);
    (scores, unreadable)
}

/// Best first, at most [`KEPT`].
pub fn sort(scores: &mut Vec<HighScore>) {
    scores.sort_by_key(|s| std::cmp::Reverse(s.score));
    scores.truncate(KEPT);
}

/// Writes the table atomically: the old file stays whole if this fails.
pub fn save(path: &Path, scores: &[HighScore]) -> Result<(), StorageError> {
    let json = serde_json::to_vec_pretty(scores)
        .map_err(|e| StorageError::Write { path: path.to_path_buf(), source: std::io::Error::other(e) })?;
    write_atomic(path, &json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(score: u16, seed: u64) -> HighScore {
        HighScore { score, seed, when: "2026-11-30 04:00".into() }
    }

    #[test]
    fn one_out_of_range_entry_keeps_the_good_ones_and_the_original() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("highscores.json");
        let original = r#"[
  {"score": 187, "seed": 1, "when": "2026-11-29 20:00"},
  {"score": 70000, "seed": 2, "when": "2026-11-29 20:10"},
  {"score": 142, "seed": 3, "when": "2026-11-29 20:20"},
  {"score": 201, "seed": 4, "when": "2026-11-29 20:30"},
  {"score": 99, "seed": 5, "when": "2026-11-29 20:40"}
]"#;
        std::fs::write(&path, original).expect("seed file");
        let loaded = load(&path);
        let scores: Vec<u16> = loaded.scores.iter().map(|s| s.score).collect();
        assert_eq!(scores, [201, 187, 142, 99]);
        let problem = loaded.problem.expect("the player is told");
        assert!(problem.contains("1 unreadable entry") && problem.contains("corrupt-1"), "{problem}");
        let aside = dir.path().join("highscores.json.corrupt-1");
        assert_eq!(std::fs::read_to_string(aside).expect("moved aside"), original);
        assert_eq!(loaded.path.as_deref(), Some(path.as_path()), "saving is safe: the original is kept");
    }

    #[test]
    fn a_score_above_a_perfect_game_is_unreadable() {
        let (scores, unreadable) =
            parse(br#"[{"score": 301, "seed": 1, "when": "x"}, {"score": 300, "seed": 2, "when": "y"}]"#);
        assert_eq!(scores, [HighScore { score: 300, seed: 2, when: "y".into() }]);
        assert_eq!(unreadable, 1);
    }

    #[test]
    fn an_unreadable_file_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("highscores.json");
        std::fs::write(&path, b"{ not json").expect("seed file");
        let loaded = load(&path);
        assert!(loaded.scores.is_empty());
        assert!(loaded.problem.is_some_and(|p| p.contains("corrupt-1")));
        let save_to = loaded.path.expect("saving is safe once the file is aside");
        save(&save_to, &[entry(120, 9)]).expect("save");
        assert_eq!(std::fs::read(dir.path().join("highscores.json.corrupt-1")).expect("kept"), b"{ not json");
        assert_eq!(load(&path).scores, [entry(120, 9)]);
    }

    #[test]
    fn a_good_file_loads_without_a_problem_and_stays_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("highscores.json");
        save(&path, &[entry(150, 1), entry(250, 2)]).expect("save");
        let loaded = load(&path);
        assert_eq!(loaded.scores, [entry(250, 2), entry(150, 1)]);
        assert!(loaded.problem.is_none());
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    }
}
