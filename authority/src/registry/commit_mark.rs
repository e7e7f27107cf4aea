//! The registry's commit mark: proof at start-up that no acknowledged write was lost.
//!
//! Every group flush first stamps the next commit number into the registry itself (tree
//! `meta`, key `commit`), then flushes sled, then writes that number to [`COMMIT_MARK_FILE`]
//! beside sled's files. sled recovers a prefix of its log, so a registry that lost any
//! acknowledged write (a truncated or partly overwritten file) also lost the stamp that
//! covered it: its stored commit number is below the mark, and the authority refuses to
//! start instead of serving without grants, decisions or revocations it acknowledged.
//!
//! The mark only ever trails the store (it is written after the flush), so a crash between
//! the two makes the check weaker for one commit, never wrong.

use std::path::Path;

use trust_sdk::store_files::MarkFile;

use crate::error::AuthorityError;

/// File in the registry directory holding the last commit number known to be durable.
pub const COMMIT_MARK_FILE: &str = "registry.commit";

/// Key of the stored commit number in the `meta` tree.
pub const COMMIT_KEY: &[u8] = b"commit";

/// The mark is written in place as one fixed-size block.
const MARK_BYTES: usize = 32;

/// The open mark file.
#[derive(Debug)]
pub struct CommitMark {
    file: MarkFile,
}

impl CommitMark {
    /// Opens (or creates, empty) the mark in `dir` and returns the commit it records, if any.
    pub fn open(dir: &Path) -> Result<(Self, Option<u64>), AuthorityError> {
        let path = dir.join(COMMIT_MARK_FILE);
        let (file, text) = MarkFile::open(dir, COMMIT_MARK_FILE, MARK_BYTES).map_err(|e| {
            AuthorityError::Config(format!(
                "registry commit mark `{}` is unreadable: {e}",
                path.display()
            ))
        })?;
        let recorded = match text.trim() {
            "" => None,
            number => Some(number.parse::<u64>().map_err(|_| {
                AuthorityError::Config(format!(
                    "registry commit mark `{}` is damaged (expected one commit number)",
                    path.display()
                ))
            })?),
        };
        Ok((Self { file }, recorded))
    }

    /// Refuses a store whose commit number is behind the mark.
    pub fn check(&self, stored: u64, recorded: Option<u64>) -> Result<(), AuthorityError> {
        match recorded {
            Some(marked) if marked > stored => Err(AuthorityError::Config(format!(
                "the registry ends at commit {stored} but commit {marked} was durably \
                 acknowledged (commit mark `{}`): acknowledged grants, decisions or revocations \
                 are missing (truncated or damaged store). Restore the registry from a backup; \
                 to serve from this registry anyway, delete the mark file",
                self.file.path().display()
            ))),
            _ => Ok(()),
        }
    }

    /// Records `commit` as durable (one in-place write of a fixed-size block).
    pub fn write(&self, commit: u64) -> std::io::Result<()> {
        self.file.write(&commit.to_string())
    }
}

/// Decodes a stored commit number (absent in a registry created before marks existed).
pub fn decode_commit(value: Option<&[u8]>) -> Result<u64, AuthorityError> {
    match value {
        None => Ok(0),
        Some(bytes) => bytes
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| AuthorityError::Config("registry commit number is damaged".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_ahead_of_the_store_is_refused_and_behind_or_equal_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let (mark, recorded) = CommitMark::open(dir.path()).unwrap();
        assert_eq!(recorded, None);
        mark.check(0, recorded).unwrap();
        mark.write(41).unwrap();
        mark.write(7).unwrap(); // in place: a shorter number leaves no trailing digits
        let (mark, recorded) = CommitMark::open(dir.path()).unwrap();
        assert_eq!(recorded, Some(7));
        mark.check(7, recorded).unwrap();
        mark.check(9, recorded).unwrap();
        let err = mark.check(6, recorded).unwrap_err().to_string();
        assert!(err.contains("ends at commit 6 but commit 7"), "{err}");
    }

    #[test]
    fn a_damaged_mark_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(COMMIT_MARK_FILE), "12x\n").unwrap();
        let err = CommitMark::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        assert!(decode_commit(Some(b"abc")).is_err());
        assert_eq!(decode_commit(Some(&5u64.to_be_bytes())).unwrap(), 5);
    }
}
