//! Files both services keep beside their embedded store: the durability mark and sled's
//! unfinished snapshots.
//!
//! The authority's registry (`registry.commit`) and the executor's provenance log
//! (`provenance.tip`) each write a mark after every flush saying how far the store is known to
//! be durable, and refuse to start from a store that ends before its mark. [`MarkFile`] is the
//! file; what a mark records and how it is checked stays with each store.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A small mark file rewritten in place as one fixed-size block (no truncation, no rename, so a
/// crash leaves the old or the new block, never a missing file).
#[derive(Debug)]
pub struct MarkFile {
    file: std::fs::File,
    path: PathBuf,
    width: usize,
}

impl MarkFile {
    /// Opens (or creates, empty) `dir/name` and returns it with its current text.
    pub fn open(dir: &Path, name: &str, width: usize) -> std::io::Result<(MarkFile, String)> {
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        Ok((MarkFile { file, path, width }, text))
    }

    /// Where the mark lives (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` padded to the block width (a shorter text leaves no trailing characters).
    pub fn write(&self, text: &str) -> std::io::Result<()> {
        let width = self.width.saturating_sub(1).max(text.len());
        let block = format!("{text:<width$}\n");
        self.file.write_all_at(block.as_bytes(), 0)
    }
}

/// Deletes `snap.*.generating` files in `dir`: snapshots sled started but never finished (it
/// renames one only after syncing it), left by a crash or a full disk. sled 0.34 would pick
/// such a file as its newest snapshot and refuse to open as corrupt; its log is the source of
/// truth. Returns the names removed; a missing `dir` (a new store) removes nothing.
pub fn remove_unfinished_snapshots(dir: &Path) -> Result<Vec<String>, (PathBuf, std::io::Error)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(|e| (entry.path(), e))?;
            removed.push(name);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_rewrite_in_place_and_unfinished_snapshots_go() {
        let dir = tempfile::tempdir().unwrap();
        let (mark, text) = MarkFile::open(dir.path(), "m", 32).unwrap();
        assert_eq!(text, "");
        mark.write("41").unwrap();
        mark.write("7").unwrap();
        let (_, text) = MarkFile::open(dir.path(), "m", 32).unwrap();
        assert_eq!(text.trim(), "7");
        assert_eq!(text.len(), 32);
        std::fs::write(dir.path().join("snap.0001.generating"), b"").unwrap();
        std::fs::write(dir.path().join("snap.0002"), b"").unwrap();
        let removed = remove_unfinished_snapshots(dir.path()).unwrap();
        assert_eq!(removed, ["snap.0001.generating"]);
        assert!(dir.path().join("snap.0002").exists());
        assert!(remove_unfinished_snapshots(&dir.path().join("absent"))
            .unwrap()
            .is_empty());
    }
}
