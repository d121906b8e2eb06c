//! Where Pinsetter keeps its files, and how it writes them so a crash or a full disk never
//! leaves a half-written file where a good one was.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The one data directory (high scores, the log, the TLS CA): `$PINSETTER_DATA_DIR` when set,
/// else the platform's data dir (`~/.local/share/pinsetter` on Linux), else the temp dir.
pub fn data_dir() -> PathBuf {
    match std::env::var_os("PINSETTER_DATA_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("pinsetter"),
    }
}

/// Why a file could not be written or moved; the original file is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot create {}: {source}", dir.display())]
    CreateDir { dir: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot move {} aside: {source}", path.display())]
    MoveAside { path: PathBuf, source: std::io::Error },
}

/// Replaces `path` with `contents` all at once: a temp file in the same directory, fsynced,
/// then renamed over it (and the directory fsynced), so readers see the old file or the new
/// one, never a mix, and a failed write leaves the old file as it was.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), StorageError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir { dir: dir.to_path_buf(), source })?;
    let write = |source| StorageError::Write { path: path.to_path_buf(), source };
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(write)?;
    temp.write_all(contents).map_err(write)?;
    temp.as_file().sync_all().map_err(write)?;
    temp.persist(path).map_err(|e| write(e.error))?;
    // The rename is durable only once the directory entry is; not every filesystem can fsync a
    // directory, and the new file is already in place, so a refusal here is not a failed save.
    if let Ok(handle) = std::fs::File::open(dir) {
        handle.sync_all().ok();
    }
    Ok(())
}

/// Moves an unreadable file out of the way to `<file>.corrupt-<n>` (the first free n), so it
/// is kept for the player and never written over. Returns where it went.
pub fn move_aside(path: &Path) -> Result<PathBuf, StorageError> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let failed = |source| StorageError::MoveAside { path: path.to_path_buf(), source };
    let free = (1u32..=u32::MAX)
        .map(|n| path.with_file_name(format!("{name}.corrupt-{n}")))
        .find(|candidate| !candidate.exists())
        .ok_or_else(|| failed(std::io::Error::other("every .corrupt-<n> name is taken")))?;
    std::fs::rename(path, &free).map_err(failed)?;
    Ok(free)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_of_the_old_file_keeps_it_whole_while_it_is_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("scores.json");
        std::fs::write(&path, b"old contents").expect("seed file");
        let mut before = std::fs::File::open(&path).expect("open old");
        write_atomic(&path, b"new").expect("save");
        // Written in place, the open handle would see "new" (or a truncated mix).
        let mut old = String::new();
        std::io::Read::read_to_string(&mut before, &mut old).expect("read old");
        assert_eq!(old, "old contents");
        assert_eq!(std::fs::read_to_string(&path).expect("read new"), "new");
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("list").collect();
        assert_eq!(left.len(), 1, "no temp file is left behind: {left:?}");
    }

    #[test]
    fn moving_aside_picks_the_next_free_number() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("scores.json");
        std::fs::write(dir.path().join("scores.json.corrupt-1"), b"first").expect("seed");
        std::fs::write(&path, b"second").expect("seed");
        let moved = move_aside(&path).expect("move");
        assert_eq!(moved, dir.path().join("scores.json.corrupt-2"));
        assert_eq!(std::fs::read_to_string(&moved).expect("read"), "second");
        assert_eq!(std::fs::read_to_string(dir.path().join("scores.json.corrupt-1")).expect("read"), "first");
        assert!(!path.exists());
    }
}
