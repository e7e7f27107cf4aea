//! The durable, append-only provenance log of the tool executor, stored in sled.
//!
//! Every attempt (intent, outcome or refusal) is sealed into the hash chain described in
//! [`trust_sdk::provenance`] and flushed to disk before [`ProvenanceLog::append`] returns, so a
//! caller that only runs an operation after its intent was acknowledged can never run something
//! that is not on record. If the write fails the append fails and the caller must refuse the
//! operation (fail closed); the log reports itself unhealthy until a later write succeeds.
//!
//! Storage layout (one sled database per log directory):
//!
//! * tree `provenance_records`: big-endian `u64` sequence → JSON of the [`ProvenanceRecord`];
//! * tree `provenance_checkpoints`: big-endian `u64` covered sequence → JSON of the
//!   [`Checkpoint`] (the newest checkpoint for a sequence replaces an older one);
//! * default tree, key `provenance_executor_key`: the public key the log was created with.
//!
//! Appends use group commit: appenders enqueue their record to a single writer thread, which
//! seals a batch, inserts it (records and due checkpoints atomically), calls `flush()` once and
//! only then acknowledges every appender of the batch.
//!
//! Opening a log checks its tip: the last record's hash, its link to the record before it, and
//! the last checkpoint's signature and match with the record it covers. A full check of the
//! stored chain is [`ProvenanceLog::verify_stored`]; an auditor checks an export offline with
//! [`trust_sdk::provenance::verify_jsonl`].

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use ed25519_dalek::{SigningKey, VerifyingKey};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::oneshot;
use trust_sdk::provenance::{
    record_hash, seal, sign_checkpoint, ChainError, ChainSummary, ChainVerifier, Checkpoint,
    CheckpointFault, ProvenanceEntry, ProvenanceRecord, GENESIS_HASH,
};

/// Tree holding the records.
pub const RECORDS_TREE: &str = "provenance_records";
/// Tree holding the checkpoints.
pub const CHECKPOINTS_TREE: &str = "provenance_checkpoints";
/// Key (in the default tree) of the executor public key the log was created with.
pub const EXECUTOR_KEY_KEY: &[u8] = b"provenance_executor_key";

/// Most records sealed and flushed together.
const MAX_BATCH: usize = 1024;

/// Why the log cannot do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvenanceError {
    /// Reading or writing the store failed.
    #[error("provenance storage error: {0}")]
    Storage(String),
    /// The stored chain is damaged or was tampered with.
    #[error("provenance log is corrupt: {0}")]
    Corrupt(String),
    /// The log cannot take writes (its writer has stopped).
    #[error("provenance log unavailable: {0}")]
    Unavailable(String),
    /// The log was created with another executor key; its checkpoints would not verify.
    #[error("provenance log belongs to another executor key: {0}")]
    KeyMismatch(String),
}

impl From<sled::Error> for ProvenanceError {
    fn from(error: sled::Error) -> Self {
        match error {
            sled::Error::Corruption { .. } => Self::Corrupt(error.to_string()),
            other => Self::Storage(other.to_string()),
        }
    }
}

/// Which records [`ProvenanceLog::query`] returns. Every field that is set must match:
///
/// * `grant_id` matches the record's grant or any grant in its lineage (so a root grant also finds
///   the records of grants attenuated from it);
/// * `resource_prefix` matches if any resource starts with it (plain string prefix);
/// * `since_ms` is inclusive, `until_ms` exclusive;
/// * `limit` caps the number of records returned (the first ones in chain order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceFilter {
    pub grant_id: Option<String>,
    pub task: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub operation: Option<String>,
    pub resource_prefix: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: Option<usize>,
}

impl ProvenanceFilter {
    /// Whether `record` passes the filter (ignores `limit`).
    pub fn matches(&self, record: &ProvenanceRecord) -> bool {
        fn same(wanted: &Option<String>, actual: &Option<String>) -> bool {
            wanted.as_ref().is_none_or(|w| actual.as_ref() == Some(w))
        }
        let grant_ok = self.grant_id.as_ref().is_none_or(|g| {
            record.grant_id.as_ref() == Some(g) || record.lineage.iter().any(|l| l == g)
        });
        grant_ok
            && same(&self.task, &record.task)
            && same(&self.agent, &record.agent)
            && same(&self.user, &record.user)
            && self
                .operation
                .as_ref()
                .is_none_or(|o| *o == record.operation)
            && self
                .resource_prefix
                .as_ref()
                .is_none_or(|p| record.resources.iter().any(|r| r.starts_with(p.as_str())))
            && self.since_ms.is_none_or(|since| record.time_ms >= since)
            && self.until_ms.is_none_or(|until| record.time_ms < until)
    }
}

/// Handle to an open provenance log. Cheap to clone; the log closes when the last handle drops.
#[derive(Clone)]
pub struct ProvenanceLog {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ProvenanceLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvenanceLog")
            .field("executor_key", &hex::encode(self.public_key().as_bytes()))
            .field("last_sequence", &self.last_sequence())
            .field("healthy", &self.is_healthy())
            .finish()
    }
}

struct Inner {
    shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Job>>,
    writer: Option<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue stops the writer once it has committed what it holds; joining it
        // releases its handles on the database, so the directory can be reopened right away.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

struct Shared {
    db: sled::Db,
    records: sled::Tree,
    checkpoints: sled::Tree,
    signing_key: SigningKey,
    verifying_key: VerifyingKey,
    checkpoint_every: u64,
    /// The chain tip; held by the writer for a whole batch and by `checkpoint_now`.
    head: Mutex<Head>,
    /// Copy of the durable tip's sequence, readable without the lock.
    last_sequence: AtomicU64,
    healthy: AtomicBool,
}

#[derive(Debug, Clone)]
struct Head {
    sequence: u64,
    hash: String,
    /// A write failed part-way: reread the tip from the store before the next write.
    stale: bool,
}

struct Job {
    record: ProvenanceRecord,
    reply: oneshot::Sender<Result<u64, ProvenanceError>>,
}

fn key(sequence: u64) -> [u8; 8] {
    sequence.to_be_bytes()
}

fn decode_key(bytes: &[u8]) -> Result<u64, ProvenanceError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| ProvenanceError::Corrupt(format!("key of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

fn decode_record(sequence: u64, bytes: &[u8]) -> Result<ProvenanceRecord, ProvenanceError> {
    let record: ProvenanceRecord = serde_json::from_slice(bytes)
        .map_err(|e| ProvenanceError::Corrupt(format!("record {sequence} does not parse: {e}")))?;
    if record.sequence != sequence {
        return Err(ProvenanceError::Corrupt(format!(
            "record stored under sequence {sequence} says it is {}",
            record.sequence
        )));
    }
    Ok(record)
}

fn decode_checkpoint(sequence: u64, bytes: &[u8]) -> Result<Checkpoint, ProvenanceError> {
    let checkpoint: Checkpoint = serde_json::from_slice(bytes).map_err(|e| {
        ProvenanceError::Corrupt(format!("checkpoint {sequence} does not parse: {e}"))
    })?;
    if checkpoint.sequence != sequence {
        return Err(ProvenanceError::Corrupt(format!(
            "checkpoint stored under sequence {sequence} says it covers {}",
            checkpoint.sequence
        )));
    }
    Ok(checkpoint)
}

impl Shared {
    fn lock_head(&self) -> MutexGuard<'_, Head> {
        // The head is only updated after a successful write, so it is consistent even if a
        // holder panicked.
        self.head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_at(&self, sequence: u64) -> Result<Option<ProvenanceRecord>, ProvenanceError> {
        self.records
            .get(key(sequence))?
            .map(|bytes| decode_record(sequence, &bytes))
            .transpose()
    }

    /// A stored record whose hash must check out.
    fn checked_record_at(&self, sequence: u64) -> Result<ProvenanceRecord, ProvenanceError> {
        let record = self
            .record_at(sequence)?
            .ok_or_else(|| ProvenanceError::Corrupt(format!("record {sequence} is missing")))?;
        if record_hash(&record) != record.hash {
            return Err(ProvenanceError::Corrupt(format!(
                "record {sequence} does not match its hash (edited)"
            )));
        }
        Ok(record)
    }

    /// Reads and checks the chain tip: the last record's hash and link, the first record's
    /// sequence, and the last checkpoint.
    fn read_tip(&self) -> Result<Head, ProvenanceError> {
        let head = match self.records.last()? {
            None => Head {
                sequence: 0,
                hash: GENESIS_HASH.to_owned(),
                stale: false,
            },
            Some((last_key, _)) => {
                if let Some((first_key, _)) = self.records.first()? {
                    let first = decode_key(&first_key)?;
                    if first != 1 {
                        return Err(ProvenanceError::Corrupt(format!(
                            "the chain starts at record {first}, not 1"
                        )));
                    }
                }
                let sequence = decode_key(&last_key)?;
                let record = self.checked_record_at(sequence)?;
                let expected_prev = if sequence == 1 {
                    GENESIS_HASH.to_owned()
                } else {
                    self.checked_record_at(sequence - 1)?.hash
                };
                if record.prev_hash != expected_prev {
                    return Err(ProvenanceError::Corrupt(format!(
                        "record {sequence} does not link to the record before it"
                    )));
                }
                Head {
                    sequence,
                    hash: record.hash,
                    stale: false,
                }
            }
        };
        if let Some((checkpoint_key, bytes)) = self.checkpoints.last()? {
            let covered = decode_key(&checkpoint_key)?;
            let checkpoint = decode_checkpoint(covered, &bytes)?;
            self.check_checkpoint(&checkpoint, &head)?;
        }
        Ok(head)
    }

    fn check_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        head: &Head,
    ) -> Result<(), ProvenanceError> {
        let covered = checkpoint.sequence;
        match checkpoint.verify_signature(&self.verifying_key) {
            Ok(()) => {}
            Err(CheckpointFault::WrongExecutorKey) => {
                return Err(ProvenanceError::KeyMismatch(format!(
                    "checkpoint {covered} is signed by executor key {}",
                    checkpoint.executor_key
                )))
            }
            Err(fault) => {
                return Err(ProvenanceError::Corrupt(format!(
                    "checkpoint {covered} does not verify ({fault:?})"
                )))
            }
        }
        if covered > head.sequence {
            return Err(ProvenanceError::Corrupt(format!(
                "checkpoint covers record {covered} but the log ends at record {} (truncated)",
                head.sequence
            )));
        }
        let expected = if covered == 0 {
            GENESIS_HASH.to_owned()
        } else {
            self.checked_record_at(covered)?.hash
        };
        if checkpoint.hash != expected {
            return Err(ProvenanceError::Corrupt(format!(
                "checkpoint {covered} does not match record {covered}"
            )));
        }
        Ok(())
    }

    /// Rereads the tip if a failed write left it uncertain.
    fn ensure_fresh(&self, head: &mut Head) -> Result<(), ProvenanceError> {
        if head.stale {
            *head = self.read_tip()?;
            self.last_sequence.store(head.sequence, Ordering::SeqCst);
        }
        Ok(())
    }

    fn fail(&self, head: &mut Head) {
        self.healthy.store(false, Ordering::SeqCst);
        head.stale = true;
    }

    /// Inserts both batches atomically and flushes.
    fn write(&self, records: &sled::Batch, checkpoints: &sled::Batch) -> Result<(), String> {
        let applied: Result<(), TransactionError<()>> = (&self.records, &self.checkpoints)
            .transaction(|(r, c)| {
                r.apply_batch(records)?;
                c.apply_batch(checkpoints)?;
                Ok::<(), ConflictableTransactionError<()>>(())
            });
        applied.map_err(|e| match e {
            TransactionError::Abort(()) => "transaction aborted".to_owned(),
            TransactionError::Storage(e) => e.to_string(),
        })?;
        self.db.flush().map(drop).map_err(|e| e.to_string())
    }

    /// Best effort: removes what a failed batch may have inserted.
    fn roll_back(&self, record_keys: &[[u8; 8]], checkpoint_keys: &[[u8; 8]]) {
        let mut records = sled::Batch::default();
        record_keys.iter().for_each(|k| records.remove(k));
        let mut checkpoints = sled::Batch::default();
        checkpoint_keys.iter().for_each(|k| checkpoints.remove(k));
        let _ = self.write(&records, &checkpoints);
    }

    /// Seals, stores and flushes one batch, then acknowledges its appenders.
    fn commit(&self, jobs: Vec<Job>) {
        let mut head = self.lock_head();
        if let Err(error) = self.ensure_fresh(&mut head) {
            self.healthy.store(false, Ordering::SeqCst);
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
            return;
        }
        let mut sequence = head.sequence;
        let mut prev = head.hash.clone();
        let mut records = sled::Batch::default();
        let mut checkpoints = sled::Batch::default();
        let mut record_keys = Vec::with_capacity(jobs.len());
        let mut checkpoint_keys = Vec::new();
        let mut accepted = Vec::with_capacity(jobs.len());
        for Job { mut record, reply } in jobs {
            let next = sequence + 1;
            record.sequence = next;
            seal(&mut record, &prev);
            let bytes = match serde_json::to_vec(&record) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let _ = reply.send(Err(ProvenanceError::Storage(e.to_string())));
                    continue;
                }
            };
            sequence = next;
            prev.clone_from(&record.hash);
            records.insert(&key(sequence), bytes);
            record_keys.push(key(sequence));
            if sequence.checked_rem(self.checkpoint_every) == Some(0) {
                let checkpoint =
                    sign_checkpoint(&self.signing_key, sequence, &prev, record.time_ms);
                // Serialising cannot fail for this struct; were it to, a missing periodic
                // checkpoint only means the next one (or the export's) covers more records.
                if let Ok(bytes) = serde_json::to_vec(&checkpoint) {
                    checkpoints.insert(&key(sequence), bytes);
                    checkpoint_keys.push(key(sequence));
                }
            }
            accepted.push((sequence, reply));
        }
        if accepted.is_empty() {
            return;
        }
        match self.write(&records, &checkpoints) {
            Ok(()) => {
                head.sequence = sequence;
                head.hash = prev;
                self.last_sequence.store(sequence, Ordering::SeqCst);
                self.healthy.store(true, Ordering::SeqCst);
                for (sequence, reply) in accepted {
                    let _ = reply.send(Ok(sequence));
                }
            }
            Err(message) => {
                self.fail(&mut head);
                self.roll_back(&record_keys, &checkpoint_keys);
                let error =
                    ProvenanceError::Storage(format!("writing provenance failed: {message}"));
                for (_, reply) in accepted {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }
}

fn run_writer(shared: Arc<Shared>, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        shared.commit(batch);
    }
}

impl ProvenanceLog {
    /// Opens (or creates) the log in `dir` (a sled database). Refuses a log whose tip does not
    /// check out ([`ProvenanceError::Corrupt`]) or that was created with another key
    /// ([`ProvenanceError::KeyMismatch`]). `signing_key` signs checkpoints; one is written after
    /// every `checkpoint_every`-th record (0: never) and on [`checkpoint_now`](Self::checkpoint_now).
    pub fn open(
        dir: &Path,
        signing_key: SigningKey,
        checkpoint_every: u64,
    ) -> Result<Self, ProvenanceError> {
        let db = sled::Config::new().path(dir).open()?;
        let records = db.open_tree(RECORDS_TREE)?;
        let checkpoints = db.open_tree(CHECKPOINTS_TREE)?;
        let verifying_key = signing_key.verifying_key();
        match db.get(EXECUTOR_KEY_KEY)? {
            Some(stored) if stored.as_ref() != verifying_key.as_bytes() => {
                return Err(ProvenanceError::KeyMismatch(format!(
                    "the log in {} was created by executor key {}, not {}",
                    dir.display(),
                    hex::encode(&stored),
                    hex::encode(verifying_key.as_bytes())
                )));
            }
            Some(_) => {}
            None => {
                db.insert(EXECUTOR_KEY_KEY, verifying_key.as_bytes().as_slice())?;
                db.flush()?;
            }
        }
        let mut shared = Shared {
            db,
            records,
            checkpoints,
            signing_key,
            verifying_key,
            checkpoint_every,
            head: Mutex::new(Head {
                sequence: 0,
                hash: GENESIS_HASH.to_owned(),
                stale: false,
            }),
            last_sequence: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
        };
        let head = shared.read_tip()?;
        shared.last_sequence = AtomicU64::new(head.sequence);
        shared.head = Mutex::new(head);
        let shared = Arc::new(shared);
        let (sender, receiver) = mpsc::channel();
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("provenance-writer".to_owned())
            .spawn(move || run_writer(writer_shared, receiver))
            .map_err(|e| ProvenanceError::Storage(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                jobs: Some(sender),
                writer: Some(writer),
            }),
        })
    }

    /// Assigns the next sequence, seals `record` into the chain (its `sequence`, `prev_hash`
    /// and `hash` are overwritten) and returns once it is durably written (flushed). Concurrent
    /// appends are committed in groups with a single flush. On a storage failure returns `Err`
    /// (the caller must then refuse the operation) and marks the log unhealthy until a later
    /// write succeeds. If the returned future is dropped early the record may still be written.
    pub async fn append(&self, record: ProvenanceRecord) -> Result<u64, ProvenanceError> {
        let (reply, response) = oneshot::channel();
        let shared = &self.inner.shared;
        let sent = match &self.inner.jobs {
            Some(jobs) => jobs.send(Job { record, reply }).is_ok(),
            None => false,
        };
        if !sent {
            shared.healthy.store(false, Ordering::SeqCst);
            return Err(ProvenanceError::Unavailable(
                "the provenance writer has stopped".into(),
            ));
        }
        response.await.map_err(|_| {
            shared.healthy.store(false, Ordering::SeqCst);
            ProvenanceError::Unavailable("the provenance writer stopped before writing".into())
        })?
    }

    /// Signs and durably stores a checkpoint covering the current last record (sequence 0 and
    /// [`GENESIS_HASH`] for an empty log), made at `time_ms`. Blocks for one flush.
    pub fn checkpoint_now(&self, time_ms: i64) -> Result<Checkpoint, ProvenanceError> {
        let shared = &self.inner.shared;
        let mut head = shared.lock_head();
        shared.ensure_fresh(&mut head).inspect_err(|_| {
            shared.healthy.store(false, Ordering::SeqCst);
        })?;
        let checkpoint = sign_checkpoint(&shared.signing_key, head.sequence, &head.hash, time_ms);
        let bytes =
            serde_json::to_vec(&checkpoint).map_err(|e| ProvenanceError::Storage(e.to_string()))?;
        let written = shared
            .checkpoints
            .insert(key(head.sequence), bytes)
            .and_then(|_| shared.db.flush());
        match written {
            Ok(_) => {
                shared.healthy.store(true, Ordering::SeqCst);
                Ok(checkpoint)
            }
            Err(e) => {
                shared.fail(&mut head);
                Err(ProvenanceError::Storage(format!(
                    "writing a checkpoint failed: {e}"
                )))
            }
        }
    }

    /// False after a failed write (until a later write succeeds) or if the writer has stopped.
    pub fn is_healthy(&self) -> bool {
        self.inner.shared.healthy.load(Ordering::SeqCst)
            && self.inner.writer.as_ref().is_some_and(|w| !w.is_finished())
    }

    /// The key checkpoints are signed with.
    pub fn public_key(&self) -> VerifyingKey {
        self.inner.shared.verifying_key
    }

    /// Sequence of the last durably written record (0 for an empty log).
    pub fn last_sequence(&self) -> u64 {
        self.inner.shared.last_sequence.load(Ordering::SeqCst)
    }

    /// Entries after `after_sequence` up to the last record written when this is called, in
    /// chain order, each checkpoint right after the record it covers (a checkpoint covering
    /// `after_sequence` itself comes first). Serialise each entry as one JSON line. To get an
    /// export that [`verify_jsonl`](trust_sdk::provenance::verify_jsonl) accepts without
    /// `allow_unsealed_tail`, use [`export_sealed`](Self::export_sealed).
    pub fn export(&self, after_sequence: u64) -> ExportIter {
        self.export_until(after_sequence, self.last_sequence())
    }

    /// Writes a fresh checkpoint made at `time_ms` and returns it with the entries after
    /// `after_sequence` up to the record it covers; the export therefore ends with that
    /// checkpoint.
    pub fn export_sealed(
        &self,
        after_sequence: u64,
        time_ms: i64,
    ) -> Result<(Checkpoint, ExportIter), ProvenanceError> {
        let checkpoint = self.checkpoint_now(time_ms)?;
        let entries = self.export_until(after_sequence, checkpoint.sequence);
        Ok((checkpoint, entries))
    }

    fn export_until(&self, after_sequence: u64, until_sequence: u64) -> ExportIter {
        let shared = &self.inner.shared;
        let records = shared
            .records
            .range(key(after_sequence.saturating_add(1))..=key(until_sequence))
            .peekable();
        let checkpoints = shared
            .checkpoints
            .range(key(after_sequence)..=key(until_sequence))
            .peekable();
        ExportIter {
            records,
            checkpoints,
            done: after_sequence > until_sequence,
        }
    }

    /// Records matching `filter`, in chain order.
    pub fn query(
        &self,
        filter: &ProvenanceFilter,
    ) -> Result<Vec<ProvenanceRecord>, ProvenanceError> {
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut found = Vec::new();
        if limit == 0 {
            return Ok(found);
        }
        for item in self.inner.shared.records.iter() {
            let (k, v) = item?;
            let record = decode_record(decode_key(&k)?, &v)?;
            if filter.matches(&record) {
                found.push(record);
                if found.len() >= limit {
                    break;
                }
            }
        }
        Ok(found)
    }

    /// Checks the whole stored chain (every hash, link and checkpoint), as an auditor would
    /// check an export; records after the last checkpoint are allowed.
    pub fn verify_stored(&self) -> Result<ChainSummary, ProvenanceError> {
        let mut verifier = ChainVerifier::new(&self.public_key());
        let corrupt = |e: ChainError| ProvenanceError::Corrupt(format!("entry {e}"));
        for entry in self.export(0) {
            verifier.push_entry(&entry?).map_err(corrupt)?;
        }
        verifier.finish(true).map_err(corrupt)
    }
}

/// Iterator over exported entries; see [`ProvenanceLog::export`]. Owns its handles on the store
/// (it keeps the database open while it lives) and is `Send`.
pub struct ExportIter {
    records: std::iter::Peekable<sled::Iter>,
    checkpoints: std::iter::Peekable<sled::Iter>,
    done: bool,
}

impl Iterator for ExportIter {
    type Item = Result<ProvenanceEntry, ProvenanceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let take_checkpoint = match (self.records.peek(), self.checkpoints.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(Err(_)), _) => false,
            (_, Some(Err(_))) => true,
            // Big-endian keys sort numerically; a checkpoint goes right after its record.
            (Some(Ok((record, _))), Some(Ok((checkpoint, _)))) => checkpoint < record,
        };
        let item = if take_checkpoint {
            self.checkpoints.next().map(|item| {
                let (k, v) = item?;
                Ok(ProvenanceEntry::Checkpoint(decode_checkpoint(
                    decode_key(&k)?,
                    &v,
                )?))
            })
        } else {
            self.records.next().map(|item| {
                let (k, v) = item?;
                Ok(ProvenanceEntry::Record(decode_record(decode_key(&k)?, &v)?))
            })
        };
        match item {
            None | Some(Err(_)) => self.done = true,
            Some(Ok(_)) => {}
        }
        item
    }
}

#[cfg(test)]
mod tests;
