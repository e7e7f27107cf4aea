//! Tamper-evident provenance: the record format of the tool executor's log and its offline verification.
//!
//! The tool executor writes a [`ProvenanceRecord`] for every attempt an agent makes
//! ([`RecordKind`]):
//!
//! * an operation with side effects (`fs.write`, `fs.patch`, `proc.run`) gets an `Intent`, durable
//!   before the operation runs, and an `Outcome` after it ran (pointing back to its intent through
//!   `intent_sequence`), durable before the reply;
//! * a read-only operation ([`READ_ONLY_OPERATIONS`]: `fs.read`, `fs.list`, `fs.search`) gets one
//!   `ReadOnly` record after it ran, holding the decision, its reasons and the outcome, durable
//!   before the reply (it changes nothing, so nothing has to be on record before it runs; if the
//!   record cannot be written the result is not returned). [`verify_jsonl`] refuses a `read_only`
//!   record for any other operation;
//! * an attempt that was refused gets a `Refusal`.
//!
//! The records form a hash chain:
//!
//! * `sequence` is 1-based and contiguous;
//! * `hash` is the hex SHA-256 of the record's [`canonical_bytes`] (computed with `hash` set to
//!   the empty string), so any edit of any field, including the redacted `parameters`, changes it;
//! * `prev_hash` is the previous record's `hash` ([`GENESIS_HASH`], 64 zeros, for the first), so
//!   deleting, inserting or reordering records breaks the links.
//!
//! A hash chain alone does not stop someone who rewrites the whole chain from the point of an edit
//! onwards, nor someone who cuts off its tail. The executor therefore also writes signed
//! [`Checkpoint`]s: an ed25519 signature by the executor's key over the sequence and hash of the
//! record the checkpoint covers and the time it was made. A rewritten chain no longer matches its
//! checkpoints, and a forger does not have the key to sign new ones.
//!
//! The log is exported as JSON Lines, one [`ProvenanceEntry`] per line: `{"record": {...}}` or
//! `{"checkpoint": {...}}`, each checkpoint right after the record it covers.
//! [`verify_jsonl`] checks such an export against the executor's public key and reports the first
//! bad line.
//!
//! # Truncation and freshness
//!
//! Records after the last checkpoint of an export cannot be told apart from records someone
//! appended, and a tail cut off after a checkpoint cannot be told apart from a log that simply had
//! not grown yet. [`verify_jsonl`] therefore requires the export to *end* with a checkpoint that
//! covers its last record (records after the last checkpoint are an unverifiable tail and fail the
//! export with [`ChainError::TruncatedAfterCheckpoint`] unless the caller passes
//! `allow_unsealed_tail = true`).
//!
//! This cannot detect someone who deletes the tail *including* the checkpoints that cover it: what
//! is left still verifies up to an earlier checkpoint. That limit is inherent to any log checked
//! offline. The defence is freshness: the exporter writes a new checkpoint at export time, and
//! every checkpoint carries the time it was made ([`ChainSummary::last_checkpoint_time_ms`]), so a
//! verifier can insist that the last checkpoint is recent, or compare its sequence with one it saw
//! earlier (the sequence of the outcome or read-only record is returned to the caller of every
//! operation).
//!
//! # Partial exports
//!
//! An export may start after a sequence the verifier already trusts (for example the last
//! checkpoint of an earlier export). [`verify_jsonl_from`] takes that point as a [`ChainAnchor`];
//! [`verify_jsonl`] starts from the genesis anchor (sequence 0, [`GENESIS_HASH`]).
//!
//! # Canonical form
//!
//! [`canonical_bytes`] is a domain tag followed by compact JSON of the record with `hash` set to
//! `""` and every object's keys sorted (so the result does not depend on serde_json's
//! `preserve_order` feature). [`seal`] also normalises floating-point numbers in `parameters` so
//! that a JSON round trip reproduces them exactly; values that serde_json cannot round-trip are
//! stored as strings.

mod record;
mod verify;

pub use record::{
    canonical_bytes, canonical_json, checkpoint_message, parameters_digest, record_hash, seal,
    sign_checkpoint, Checkpoint, CheckpointFault, ProvenanceEntry, ProvenanceRecord, RecordKind,
    CHECKPOINT_DOMAIN, GENESIS_HASH, READ_ONLY_OPERATIONS, RECORD_DOMAIN,
};
pub use verify::{
    verify_jsonl, verify_jsonl_from, ChainAnchor, ChainError, ChainSummary, ChainVerifier,
};

#[cfg(test)]
mod tests;
