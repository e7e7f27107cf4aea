//! Offline verification of a provenance export (JSON Lines).

use std::io::BufRead;

use ed25519_dalek::VerifyingKey;

use super::record::{
    record_hash, Checkpoint, CheckpointFault, ProvenanceEntry, ProvenanceRecord, RecordKind,
    READ_ONLY_OPERATIONS,
};
use super::GENESIS_HASH;

/// Why an export does not verify. Line numbers are 1-based lines of the export (blank lines
/// count); the verifier stops at the first problem.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    #[error("line {line}: cannot read the export: {message}")]
    Io { line: usize, message: String },
    #[error("line {line}: malformed entry: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("line {line}: record {sequence} does not match its hash (the record was edited)")]
    HashMismatch { line: usize, sequence: u64 },
    #[error(
        "line {line}: expected record {expected}, found record {found} \
         (a record was deleted, inserted or moved)"
    )]
    OutOfOrder {
        line: usize,
        expected: u64,
        found: u64,
    },
    #[error("line {line}: record {sequence} does not link to the record before it")]
    BrokenLink { line: usize, sequence: u64 },
    #[error(
        "line {line}: record {sequence} is a read_only record for `{operation}`, which is not a \
         read-only operation (an operation with side effects needs an intent record)"
    )]
    NotReadOnly {
        line: usize,
        sequence: u64,
        operation: String,
    },
    #[error("line {line}: checkpoint names a different executor key")]
    WrongExecutorKey { line: usize },
    #[error("line {line}: checkpoint signature does not verify")]
    BadCheckpointSignature { line: usize },
    #[error("line {line}: checkpoint for record {sequence} does not match that record's hash")]
    CheckpointMismatch { line: usize, sequence: u64 },
    #[error(
        "line {line}: checkpoint covers record {sequence} but follows record {expected} \
         (a checkpoint must come right after the record it covers)"
    )]
    CheckpointOutOfPlace {
        line: usize,
        sequence: u64,
        expected: u64,
    },
    #[error(
        "line {line}: {unsealed} record(s) from sequence {sequence} on are not covered by a \
         checkpoint (last checkpoint covers record {last_checkpoint}); the export may be truncated"
    )]
    TruncatedAfterCheckpoint {
        /// Line of the first record after the last checkpoint.
        line: usize,
        /// Sequence of that record.
        sequence: u64,
        /// How many records follow the last checkpoint.
        unsealed: u64,
        /// Sequence covered by the last checkpoint (the anchor's sequence if there was none).
        last_checkpoint: u64,
    },
    #[error("the export contains no checkpoint")]
    NoCheckpoint,
}

/// What a verified export contained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    /// Records in the export.
    pub records: u64,
    /// Checkpoints in the export.
    pub checkpoints: u64,
    /// Sequence of the last record (the anchor's sequence if the export has no record).
    pub last_sequence: u64,
    /// Sequence covered by the last checkpoint (0 if there was none).
    pub last_checkpoint: u64,
    /// Time of the last checkpoint: how fresh the export is known to be.
    pub last_checkpoint_time_ms: Option<i64>,
    /// Records after the last checkpoint (only non-zero with `allow_unsealed_tail`).
    pub unsealed_tail: u64,
    /// Hash of the last record (the anchor's hash if the export has no record).
    pub last_hash: String,
}

/// A point of the chain the verifier already trusts: the export must continue from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainAnchor {
    /// Sequence of the last trusted record (0 for the start of the chain).
    pub sequence: u64,
    /// Its hash ([`GENESIS_HASH`] for the start of the chain).
    pub hash: String,
}

impl ChainAnchor {
    /// The start of the chain: sequence 0, [`GENESIS_HASH`].
    pub fn genesis() -> Self {
        Self {
            sequence: 0,
            hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl From<&Checkpoint> for ChainAnchor {
    fn from(checkpoint: &Checkpoint) -> Self {
        Self {
            sequence: checkpoint.sequence,
            hash: checkpoint.hash.clone(),
        }
    }
}

/// Incremental verifier: feed it lines (or entries) in order, then call [`finish`](Self::finish).
/// After the first error its state is unspecified; stop feeding it.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    key: VerifyingKey,
    line: usize,
    head_sequence: u64,
    head_hash: String,
    records: u64,
    checkpoints: u64,
    last_checkpoint: u64,
    last_checkpoint_time_ms: Option<i64>,
    /// Line and sequence of the first record after the last checkpoint.
    first_unsealed: Option<(usize, u64)>,
    unsealed: u64,
}

impl ChainVerifier {
    /// A verifier for a full export (starting at sequence 1).
    pub fn new(executor_key: &VerifyingKey) -> Self {
        Self::with_anchor(executor_key, ChainAnchor::genesis())
    }

    /// A verifier for an export that continues after `anchor`.
    pub fn with_anchor(executor_key: &VerifyingKey, anchor: ChainAnchor) -> Self {
        Self {
            key: *executor_key,
            line: 0,
            last_checkpoint: 0,
            head_sequence: anchor.sequence,
            head_hash: anchor.hash,
            records: 0,
            checkpoints: 0,
            last_checkpoint_time_ms: None,
            first_unsealed: None,
            unsealed: 0,
        }
    }

    /// Number of lines (or entries) fed so far.
    pub fn lines(&self) -> usize {
        self.line
    }

    /// Feeds one line of the export (without or with its line terminator). Blank lines are
    /// counted but otherwise ignored.
    pub fn push_line(&mut self, line: &[u8]) -> Result<(), ChainError> {
        self.line += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let entry: ProvenanceEntry =
            serde_json::from_slice(line).map_err(|e| ChainError::Malformed {
                line: self.line,
                reason: e.to_string(),
            })?;
        self.check_entry(&entry)
    }

    /// Feeds one already parsed entry (counted as one line).
    pub fn push_entry(&mut self, entry: &ProvenanceEntry) -> Result<(), ChainError> {
        self.line += 1;
        self.check_entry(entry)
    }

    fn check_entry(&mut self, entry: &ProvenanceEntry) -> Result<(), ChainError> {
        match entry {
            ProvenanceEntry::Record(record) => self.check_record(record),
            ProvenanceEntry::Checkpoint(checkpoint) => self.check_checkpoint(checkpoint),
        }
    }

    fn check_record(&mut self, record: &ProvenanceRecord) -> Result<(), ChainError> {
        let line = self.line;
        if record_hash(record) != record.hash {
            return Err(ChainError::HashMismatch {
                line,
                sequence: record.sequence,
            });
        }
        let expected = self.head_sequence.saturating_add(1);
        if record.sequence != expected {
            return Err(ChainError::OutOfOrder {
                line,
                expected,
                found: record.sequence,
            });
        }
        if record.prev_hash != self.head_hash {
            return Err(ChainError::BrokenLink {
                line,
                sequence: record.sequence,
            });
        }
        if record.kind == RecordKind::ReadOnly
            && !READ_ONLY_OPERATIONS.contains(&record.operation.as_str())
        {
            return Err(ChainError::NotReadOnly {
                line,
                sequence: record.sequence,
                operation: record.operation.clone(),
            });
        }
        self.head_sequence = record.sequence;
        self.head_hash.clone_from(&record.hash);
        self.records += 1;
        self.unsealed += 1;
        if self.first_unsealed.is_none() {
            self.first_unsealed = Some((line, record.sequence));
        }
        Ok(())
    }

    fn check_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<(), ChainError> {
        let line = self.line;
        checkpoint
            .verify_signature(&self.key)
            .map_err(|fault| match fault {
                CheckpointFault::WrongExecutorKey => ChainError::WrongExecutorKey { line },
                CheckpointFault::MalformedHash => ChainError::Malformed {
                    line,
                    reason: "checkpoint hash is not 64 hex digits".to_owned(),
                },
                CheckpointFault::BadSignature => ChainError::BadCheckpointSignature { line },
            })?;
        if checkpoint.sequence != self.head_sequence {
            return Err(ChainError::CheckpointOutOfPlace {
                line,
                sequence: checkpoint.sequence,
                expected: self.head_sequence,
            });
        }
        if checkpoint.hash != self.head_hash {
            return Err(ChainError::CheckpointMismatch {
                line,
                sequence: checkpoint.sequence,
            });
        }
        self.checkpoints += 1;
        self.last_checkpoint = checkpoint.sequence;
        self.last_checkpoint_time_ms = Some(checkpoint.time_ms);
        self.unsealed = 0;
        self.first_unsealed = None;
        Ok(())
    }

    /// Ends the export. Fails with [`ChainError::NoCheckpoint`] if it held no checkpoint, or with
    /// [`ChainError::TruncatedAfterCheckpoint`] if records follow the last checkpoint, unless
    /// `allow_unsealed_tail` (then [`ChainSummary::unsealed_tail`] counts them).
    pub fn finish(self, allow_unsealed_tail: bool) -> Result<ChainSummary, ChainError> {
        if !allow_unsealed_tail {
            if self.checkpoints == 0 {
                return Err(ChainError::NoCheckpoint);
            }
            if let Some((line, sequence)) = self.first_unsealed {
                return Err(ChainError::TruncatedAfterCheckpoint {
                    line,
                    sequence,
                    unsealed: self.unsealed,
                    last_checkpoint: self.last_checkpoint,
                });
            }
        }
        Ok(ChainSummary {
            records: self.records,
            checkpoints: self.checkpoints,
            last_sequence: self.head_sequence,
            last_checkpoint: self.last_checkpoint,
            last_checkpoint_time_ms: self.last_checkpoint_time_ms,
            unsealed_tail: self.unsealed,
            last_hash: self.head_hash,
        })
    }
}

/// Verifies a complete JSON Lines export (starting at sequence 1) against the executor's public
/// key. Detects any edit, deletion, insertion, reordering or truncation: every record's hash must
/// match, links must chain, sequences must be contiguous from 1, a `read_only` record must name a
/// read-only operation, every checkpoint must be signed by `executor_key` and match the record
/// right before it, and the export must end with a checkpoint covering its last record unless
/// `allow_unsealed_tail` (see the module documentation for what truncation can and cannot be
/// detected).
pub fn verify_jsonl(
    reader: impl BufRead,
    executor_key: &VerifyingKey,
    allow_unsealed_tail: bool,
) -> Result<ChainSummary, ChainError> {
    verify_jsonl_from(
        reader,
        executor_key,
        ChainAnchor::genesis(),
        allow_unsealed_tail,
    )
}

/// Like [`verify_jsonl`], for an export that continues after a trusted `anchor` (for example
/// the last checkpoint of an earlier, verified export).
pub fn verify_jsonl_from(
    mut reader: impl BufRead,
    executor_key: &VerifyingKey,
    anchor: ChainAnchor,
    allow_unsealed_tail: bool,
) -> Result<ChainSummary, ChainError> {
    let mut verifier = ChainVerifier::with_anchor(executor_key, anchor);
    let mut buffer = Vec::new();
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| ChainError::Io {
                line: verifier.lines() + 1,
                message: e.to_string(),
            })?;
        if read == 0 {
            break;
        }
        verifier.push_line(&buffer)?;
    }
    verifier.finish(allow_unsealed_tail)
}
