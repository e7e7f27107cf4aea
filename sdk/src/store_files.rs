//! Files both services keep beside their embedded store: the private data directory itself, the
//! durability mark and sled's unfinished snapshots.
//!
//! The authority's registry (`registry.commit`) and the executor's provenance log
//! (`provenance.tip`) each write a mark after every flush saying how far the store is known to
//! be durable, and refuse to start from a store that ends before its mark. [`MarkFile`] is the
//! file; what a mark records and how it is checked stays with each store.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Creates a service's data directory (and missing parents) and makes it 0700, whatever the
/// umask, and also when it already existed with wider permissions: it holds signing keys and the
/// stores, and no other local user has any business listing it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

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
    #[test]
    fn private_dir_is_0700_when_created_and_when_it_was_wider() {
        use std::os::unix::fs::PermissionsExt;
        let base = tempfile::tempdir().unwrap();
        let fresh = base.path().join("a/b/data");
        super::create_private_dir(&fresh).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o700);
        let wide = base.path().join("wide");
        std::fs::create_dir(&wide).unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::create_private_dir(&wide).unwrap();
        assert_eq!(mode(&wide), 0o700);
    }

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
