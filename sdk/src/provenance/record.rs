//! The provenance record format, its canonical bytes, sealing and checkpoint signatures.

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain tag that starts a record's [`canonical_bytes`].
pub const RECORD_DOMAIN: &[u8] = b"trust.provenance.v1/record\n";

/// Domain tag that starts the message a [`Checkpoint`] signs.
pub const CHECKPOINT_DOMAIN: &[u8] = b"trust.provenance.v1/checkpoint\n";

/// What a record stands for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// An allowed operation is about to run.
    #[default]
    Intent,
    /// An allowed operation finished (successfully or not); `intent_sequence` points to its intent.
    Outcome,
    /// An attempt was refused.
    Refusal,
    /// A read-only operation ([`READ_ONLY_OPERATIONS`]) was allowed and ran: one record carries
    /// the decision, its reasons and the outcome (`status`, `outcome_digest`, `outcome_size`,
    /// `duration_us`). It has no intent record, because such an operation changes nothing that
    /// would have to be on record before it runs; the executor still acknowledges nothing before
    /// this record is durable. Operations with side effects always get an `Intent` and an
    /// `Outcome`.
    ReadOnly,
    // Authorize-only checks (the `Check` RPC, used by the Claude Code hook).
    /// An operation was checked, not run: `decision` is `allow` or `refuse`, `status` says
    /// `checked`, the refusal's code, or `shadow: would ...` under a shadow-mode grant.
    Check,
    /// An operation the agent ran itself after a check (a Claude Code tool), reported
    /// afterwards: the admission's decision now, and the outcome digest and size the agent
    /// reported. The executor ran nothing.
    Reported,
}

impl RecordKind {
    /// The record carries an operation's outcome (an `Outcome`, or the single `ReadOnly` record).
    pub fn has_outcome(self) -> bool {
        matches!(self, Self::Outcome | Self::ReadOnly)
    }

    /// The name used in the record's JSON (`"intent"`, `"outcome"`, `"refusal"`, `"read_only"`,
    /// `"check"`, `"reported"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Intent => "intent",
            Self::Outcome => "outcome",
            Self::Refusal => "refusal",
            Self::ReadOnly => "read_only",
            Self::Check => "check",
            Self::Reported => "reported",
        }
    }
}

/// Operations without side effects ([`Operation::is_read_only`](crate::operation::Operation)):
/// the executor records each of their executions as one [`RecordKind::ReadOnly`] record. A
/// `read_only` record naming any other operation does not verify
/// ([`ChainError::NotReadOnly`](super::ChainError::NotReadOnly)).
pub use crate::operation::READ_ONLY_OPERATIONS;

/// One entry of the provenance chain. See the [module documentation](super) for the chain rules.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceRecord {
    /// 1-based, contiguous.
    pub sequence: u64,
    /// Hex SHA-256 of the previous record's canonical bytes; [`GENESIS_HASH`] for the first.
    pub prev_hash: String,
    /// Hex SHA-256 of this record's canonical bytes (computed with `hash` = "").
    pub hash: String,
    /// When the attempt was made, milliseconds since the Unix epoch (supplied by the caller).
    pub time_ms: i64,
    pub kind: RecordKind,
    pub request_id: String,
    pub grant_id: Option<String>,
    /// Grant ids / block ids from the root grant down.
    pub lineage: Vec<String>,
    pub correlation_id: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub task: Option<String>,
    /// Hex public key of the grant holder.
    pub holder_key: Option<String>,
    pub operation: String,
    pub resources: Vec<String>,
    /// The operation's parameters, already redacted by the caller.
    pub parameters: Value,
    /// Digest of the parameters (see [`parameters_digest`]); may cover the unredacted parameters.
    pub parameters_digest: String,
    /// `"allow"` or `"refuse"`.
    pub decision: String,
    /// Checks / rule ids behind the decision, or the failed check.
    pub reasons: Vec<String>,
    /// gRPC status name for refusals, `"ok"` or error text for outcomes.
    pub status: Option<String>,
    pub outcome_digest: Option<String>,
    pub outcome_size: Option<u64>,
    pub duration_us: Option<u64>,
    /// An `Outcome` points to its `Intent`.
    pub intent_sequence: Option<u64>,
    // Process instances (issue 16): copied from the grant's authority-block
    // `process_instance(INSTANCE_ID, STEP)`; absent (and not hashed) for other grants, so
    // records written before these fields existed keep their hashes.
    /// The process instance the grant was minted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_instance: Option<String>,
    /// The step of that instance the grant was minted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_step: Option<String>,
}

/// A signed statement by the executor that the record at `sequence` has hash `hash`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Sequence of the last record covered (0 for an empty log).
    pub sequence: u64,
    /// That record's hash ([`GENESIS_HASH`] for an empty log).
    pub hash: String,
    /// When the checkpoint was made, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Hex ed25519 public key of the executor.
    pub executor_key: String,
    /// Hex ed25519 signature over [`checkpoint_message`].
    pub signature: String,
}

/// Why a checkpoint's signature does not check out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFault {
    /// `executor_key` is not the expected key.
    WrongExecutorKey,
    /// `hash` is not 64 hex digits.
    MalformedHash,
    /// The signature is missing, malformed or does not verify.
    BadSignature,
}

impl Checkpoint {
    /// Checks that the checkpoint names `key` and carries a valid signature by it.
    /// (Whether it matches the chain is the caller's business.)
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<(), CheckpointFault> {
        let named =
            hex::decode(&self.executor_key).map_err(|_| CheckpointFault::WrongExecutorKey)?;
        if named.as_slice() != key.as_bytes() {
            return Err(CheckpointFault::WrongExecutorKey);
        }
        let message = checkpoint_message(self.sequence, &self.hash, self.time_ms)
            .ok_or(CheckpointFault::MalformedHash)?;
        let raw = hex::decode(&self.signature).map_err(|_| CheckpointFault::BadSignature)?;
        let signature = ed25519_dalek::Signature::from_slice(&raw)
            .map_err(|_| CheckpointFault::BadSignature)?;
        key.verify_strict(&message, &signature)
            .map_err(|_| CheckpointFault::BadSignature)
    }
}

/// One JSON Lines entry of an export: `{"record": {...}}` or `{"checkpoint": {...}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "snake_case")]
// Entries are short-lived (one per exported line); keeping the record unboxed keeps matching and
// construction plain.
#[allow(clippy::large_enum_variant)]
pub enum ProvenanceEntry {
    Record(ProvenanceRecord),
    Checkpoint(Checkpoint),
}

/// Compact JSON of `value` with every object's keys sorted (byte order).
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(item, out);
            }
            out.push(b'}');
        }
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail; the fallback keeps this total without a panic
    // path.
    let start = out.len();
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.truncate(start);
        out.extend_from_slice(s.as_bytes());
    }
}

/// The bytes a record's `hash` is computed over: [`RECORD_DOMAIN`] followed by the
/// [`canonical_json`] of the record with `hash` set to `""`.
///
/// Written field by field in sorted key order, without building a `serde_json::Value` of the
/// record or cloning it (the writer thread hashes every record); a test checks that the bytes
/// are those of the `Value` route for every field and kind.
pub fn canonical_bytes(record: &ProvenanceRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_DOMAIN.len() + 1024);
    out.extend_from_slice(RECORD_DOMAIN);
    write_record(record, &mut out);
    out
}

/// One `"key":value` member of the record's canonical object; keys must come in byte order.
struct Members<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Members<'_> {
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_string(key, self.out);
        self.out.push(b':');
        self.out
    }

    fn str(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        write_string(value, out);
    }

    fn opt_str(&mut self, key: &str, value: Option<&str>) {
        let out = self.key(key);
        match value {
            Some(v) => write_string(v, out),
            None => out.extend_from_slice(b"null"),
        }
    }

    fn int(&mut self, key: &str, value: impl std::fmt::Display) {
        use std::io::Write;
        let out = self.key(key);
        // Same decimal text as `serde_json::Number` for integers; writing to a Vec cannot fail.
        let _ = write!(out, "{value}");
    }

    fn opt_u64(&mut self, key: &str, value: Option<u64>) {
        match value {
            Some(v) => self.int(key, v),
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    fn strings(&mut self, key: &str, values: &[String]) {
        let out = self.key(key);
        out.push(b'[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(v, out);
        }
        out.push(b']');
    }
}

/// The canonical JSON of `record` with `hash` = "": every field of [`ProvenanceRecord`] in byte
/// order of its name (destructured, so a new field does not compile until it is placed here).
fn write_record(record: &ProvenanceRecord, out: &mut Vec<u8>) {
    let ProvenanceRecord {
        sequence,
        prev_hash,
        hash: _,
        time_ms,
        kind,
        request_id,
        grant_id,
        lineage,
        correlation_id,
        agent,
        user,
        task,
        holder_key,
        operation,
        resources,
        parameters,
        parameters_digest,
        decision,
        reasons,
        status,
        outcome_digest,
        outcome_size,
        duration_us,
        intent_sequence,
        process_instance,
        process_step,
    } = record;
    out.push(b'{');
    let mut m = Members { out, first: true };
    m.opt_str("agent", agent.as_deref());
    m.opt_str("correlation_id", correlation_id.as_deref());
    m.str("decision", decision);
    m.opt_u64("duration_us", *duration_us);
    m.opt_str("grant_id", grant_id.as_deref());
    m.str("hash", "");
    m.opt_str("holder_key", holder_key.as_deref());
    m.opt_u64("intent_sequence", *intent_sequence);
    m.str("kind", kind.as_str());
    m.strings("lineage", lineage);
    m.str("operation", operation);
    m.opt_str("outcome_digest", outcome_digest.as_deref());
    m.opt_u64("outcome_size", *outcome_size);
    write_canonical(parameters, m.key("parameters"));
    m.str("parameters_digest", parameters_digest);
    m.str("prev_hash", prev_hash);
    // Present only when set (as serde skips them), between `prev_hash` and `reasons`.
    if let Some(instance) = process_instance {
        m.str("process_instance", instance);
    }
    if let Some(step) = process_step {
        m.str("process_step", step);
    }
    m.strings("reasons", reasons);
    m.str("request_id", request_id);
    m.strings("resources", resources);
    m.int("sequence", sequence);
    m.opt_str("status", status.as_deref());
    m.opt_str("task", task.as_deref());
    m.int("time_ms", time_ms);
    m.opt_str("user", user.as_deref());
    m.out.push(b'}');
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Hex SHA-256 of the record's [`canonical_bytes`]: what its `hash` must be.
pub fn record_hash(record: &ProvenanceRecord) -> String {
    sha256_hex(&canonical_bytes(record))
}

/// Links `record` to `prev_hash` and sets its `hash`. Normalises floating-point numbers in
/// `parameters` first so that the record survives a JSON round trip unchanged.
pub fn seal(record: &mut ProvenanceRecord, prev_hash: &str) {
    normalize_numbers(&mut record.parameters);
    record.prev_hash = prev_hash.to_owned();
    record.hash = record_hash(record);
}

/// Hex SHA-256 of the [`canonical_json`] of `params` (sorted keys, compact).
pub fn parameters_digest(params: &Value) -> String {
    sha256_hex(&canonical_json(params))
}

/// The message a checkpoint signs: [`CHECKPOINT_DOMAIN`] || `sequence` (u64 big-endian) ||
/// the 32 hash bytes || `time_ms` (i64 big-endian). `None` if `hash` is not 64 hex digits.
pub fn checkpoint_message(sequence: u64, hash: &str, time_ms: i64) -> Option<Vec<u8>> {
    if hash.len() != 64 {
        return None;
    }
    let hash_bytes = hex::decode(hash).ok()?;
    let mut message = CHECKPOINT_DOMAIN.to_vec();
    message.extend_from_slice(&sequence.to_be_bytes());
    message.extend_from_slice(&hash_bytes);
    message.extend_from_slice(&time_ms.to_be_bytes());
    Some(message)
}

/// Signs a checkpoint covering the record at `sequence` whose hash is `hash` (64 hex digits; a
/// malformed hash yields a checkpoint with an empty signature, which never verifies).
pub fn sign_checkpoint(key: &SigningKey, sequence: u64, hash: &str, time_ms: i64) -> Checkpoint {
    let signature = checkpoint_message(sequence, hash, time_ms)
        .map(|message| hex::encode(key.sign(&message).to_bytes()))
        .unwrap_or_default();
    Checkpoint {
        sequence,
        hash: hash.to_owned(),
        time_ms,
        executor_key: hex::encode(key.verifying_key().as_bytes()),
        signature,
    }
}

/// Replaces every float in `value` that serde_json would not parse back to the same value by one
/// that round-trips (or, failing that, by its decimal text as a string).
fn normalize_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let original = Value::Number(n.clone());
            if let Some(replacement) = stable_float(&original) {
                *value = replacement;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_numbers),
        Value::Object(map) => map.values_mut().for_each(normalize_numbers),
        _ => {}
    }
}

/// `None` if `number` already round-trips; otherwise its replacement: the value a few parse/print
/// rounds settle on (serde_json's default float parser is not always exact), or its text.
fn stable_float(number: &Value) -> Option<Value> {
    let text = serde_json::to_string(number).ok()?;
    let mut current = number.clone();
    for _ in 0..4 {
        let printed = serde_json::to_string(&current).ok()?;
        let parsed: Value = match serde_json::from_str(&printed) {
            Ok(v) => v,
            Err(_) => break,
        };
        if parsed == current {
            return (&current != number).then_some(current);
        }
        current = parsed;
    }
    Some(Value::String(text))
}
