//! The tip mark: the sequence and hash of the last record known to be durable, checked at open.

use super::*;

/// The tip mark file (see the module docs).
pub(super) struct TipMark {
    pub(super) file: MarkFile,
}

impl TipMark {
    /// Opens (or creates, empty) the mark in `dir` and returns what it records, if anything.
    pub(super) fn open(dir: &Path) -> Result<(Self, Option<(u64, String)>), ProvenanceError> {
        let path = dir.join(TIP_MARK_FILE);
        let (file, text) = MarkFile::open(dir, TIP_MARK_FILE, TIP_MARK_BYTES).map_err(|e| {
            ProvenanceError::Corrupt(format!("tip mark `{}` is unreadable: {e}", path.display()))
        })?;
        let recorded = if text.trim().is_empty() {
            None
        } else {
            let mut fields = text.split_whitespace();
            let parsed = match (fields.next(), fields.next(), fields.next()) {
                (Some(sequence), Some(hash), None) if hash.len() == 64 => {
                    sequence.parse::<u64>().ok().map(|s| (s, hash.to_owned()))
                }
                _ => None,
            };
            Some(parsed.ok_or_else(|| {
                ProvenanceError::Corrupt(format!(
                    "tip mark `{}` is damaged (expected `<sequence> <hash>`)",
                    path.display()
                ))
            })?)
        };
        Ok((Self { file }, recorded))
    }

    /// Records `sequence` and `hash` as durable (one in-place write of a fixed-size block).
    pub(super) fn write(&self, sequence: u64, hash: &str) -> std::io::Result<()> {
        self.file.write(&format!("{sequence} {hash}"))
    }

    /// Refuses a log whose tip is behind the mark or whose record at the mark differs.
    pub(super) fn check(
        &self,
        store: &Store,
        head: &Head,
        recorded: Option<&(u64, String)>,
    ) -> Result<(), ProvenanceError> {
        let Some((sequence, hash)) = recorded else {
            return Ok(());
        };
        let sequence = *sequence;
        if sequence > head.sequence {
            return Err(ProvenanceError::Corrupt(format!(
                "the log ends at record {} but record {sequence} was durably written before \
                 (tip mark `{}`): acknowledged records are missing (truncated or damaged store)",
                head.sequence,
                self.file.path().display()
            )));
        }
        let stored = if sequence == head.sequence {
            head.hash.clone()
        } else if sequence == 0 {
            GENESIS_HASH.to_owned()
        } else {
            store.checked_record_at(sequence)?.hash
        };
        if stored != *hash {
            return Err(ProvenanceError::Corrupt(format!(
                "record {sequence} is not the record that was written (its hash differs from \
                 the tip mark `{}`)",
                self.file.path().display()
            )));
        }
        Ok(())
    }
}
