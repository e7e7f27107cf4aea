//! The durable, append-only provenance log of the tool executor, stored in sled.
//!
//! Every record (intent, outcome, read-only or refusal) is sealed into the hash chain described in
//! [`trust_sdk::provenance`] and flushed to disk before [`ProvenanceLog::append`] returns, so a
//! caller that only runs an operation after its intent was acknowledged can never run something
//! that is not on record. If the write fails the append fails and the caller must refuse the
//! operation (fail closed); the log reports itself unhealthy until it has recovered.
//!
//! Recovery needs no restart. sled's I/O errors are sticky for the life of an open database, so
//! after a failed write the writer thread drops every handle it holds on the store and, every
//! [`RECOVERY_INTERVAL`], reopens the directory, checks the chain tip as [`ProvenanceLog::open`]
//! does and writes a signed checkpoint covering it. When that checkpoint is durable the log is
//! healthy again. Until then appends (and [`ProvenanceLog::checkpoint_now`]) fail at once with
//! [`ProvenanceError::Unavailable`], so an outage never queues work behind a broken disk.
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
//! only then acknowledges every appender of the batch. A caller that will append shortly (an
//! execution being admitted) can [`announce`](ProvenanceLog::announce) it: while announced
//! records are outstanding the writer waits up to [`MAX_LINGER`] for them before it flushes, so
//! concurrent executions share a flush instead of each paying for one (under load on a small
//! machine the executions finish admission one after another, and without this almost every
//! record got a flush of its own). With nothing announced it flushes at once.
//!
//! Opening a log checks its tip: the last record's hash, its link to the record before it, and
//! the last checkpoint's signature and match with the record it covers. It also checks the tip
//! against the tip mark ([`TIP_MARK_FILE`], next to sled's files): the sequence and hash of the
//! last record sled acknowledged as flushed, rewritten after every flush (never before, so it
//! never runs ahead of the log). sled recovers a damaged or truncated log file by silently
//! dropping everything from the damage on, so a log that ends before its mark, or whose record
//! at the mark has another hash, has lost or changed acknowledged records and is refused
//! ([`ProvenanceError::Corrupt`]) instead of being served as if it were whole. A full check of the
//! stored chain is [`ProvenanceLog::verify_stored`]; an auditor checks an export offline with
//! [`trust_sdk::provenance::verify_jsonl`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use tokio::sync::oneshot;
use trust_sdk::provenance::{
    record_hash, seal, sign_checkpoint, ChainError, ChainSummary, ChainVerifier, Checkpoint,
    CheckpointFault, ProvenanceEntry, ProvenanceRecord, GENESIS_HASH,
};
use trust_sdk::store_files::MarkFile;

mod query;
mod store;
mod tip_mark;
mod writer;

pub use query::{ExportIter, ProvenanceFilter};
use store::{decode_checkpoint, decode_key, decode_record, key, Head, Job, Store};
use tip_mark::TipMark;
use writer::{run_writer, unavailable};

/// Tree holding the records.
pub const RECORDS_TREE: &str = "provenance_records";
/// Tree holding the checkpoints.
pub const CHECKPOINTS_TREE: &str = "provenance_checkpoints";
/// Key (in the default tree) of the executor public key the log was created with.
pub const EXECUTOR_KEY_KEY: &[u8] = b"provenance_executor_key";

/// Most records sealed and flushed together.
const MAX_BATCH: usize = 1024;

/// Longest the writer holds a batch back for records that were announced
/// ([`ProvenanceLog::announce`]) but not appended yet.
pub const MAX_LINGER: Duration = Duration::from_micros(300);

/// How often the writer tries to reopen the store after a failed write (and how long it waits
/// for work before checking whether it has to).
pub const RECOVERY_INTERVAL: Duration = Duration::from_millis(500);

/// File in the log directory holding the tip mark: `<sequence> <hash>` of the last record known
/// to be durable (see the module docs).
pub const TIP_MARK_FILE: &str = "provenance.tip";

/// The tip mark is written in place as one fixed-size block.
const TIP_MARK_BYTES: usize = 128;

/// sled's page cache for the log. The log is append-only and old records are read only by
/// exports and queries, so a small cache keeps the executor's memory flat as the log grows
/// (sled's default is 1 GiB, which a busy executor fills at the rate it appends).
const CACHE_CAPACITY_BYTES: u64 = 32 * 1024 * 1024;

/// How long [`ProvenanceLog::open`] waits for sled's file lock to be released.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(2);

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
    /// The sled directory, reopened by [`Shared::recover`].
    dir: PathBuf,
    /// The open store; `None` while the writer is reopening it after a failure (every handle
    /// on a failed database must be gone before the directory can be opened again).
    store: RwLock<Option<Store>>,
    signing_key: SigningKey,
    verifying_key: VerifyingKey,
    checkpoint_every: u64,
    /// The chain tip; held by the writer for a whole batch, by `checkpoint_now` and by
    /// recovery.
    head: Mutex<Head>,
    /// Copy of the durable tip's sequence, readable without the lock.
    last_sequence: AtomicU64,
    /// Appends announced and not yet enqueued (see [`ProvenanceLog::announce`]).
    announced: Arc<AtomicUsize>,
    /// False from a failed write until recovery has written a checkpoint.
    healthy: AtomicBool,
    mark: TipMark,
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
        let verifying_key = signing_key.verifying_key();
        let store = Store::open(dir, &verifying_key, OPEN_LOCK_WAIT)?;
        let head = store.read_tip(&verifying_key)?;
        let (mark, recorded) = TipMark::open(dir)?;
        mark.check(&store, &head, recorded.as_ref())?;
        store.record_key(&verifying_key)?;
        if recorded.as_ref() != Some(&(head.sequence, head.hash.clone())) {
            mark.write(head.sequence, &head.hash).map_err(|e| {
                ProvenanceError::Storage(format!("tip mark `{}`: {e}", mark.file.path().display()))
            })?;
        }
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            store: RwLock::new(Some(store)),
            signing_key,
            verifying_key,
            checkpoint_every,
            last_sequence: AtomicU64::new(head.sequence),
            announced: Arc::new(AtomicUsize::new(0)),
            head: Mutex::new(head),
            healthy: AtomicBool::new(true),
            mark,
        });
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
    /// (the caller must then refuse the operation) and marks the log unhealthy; until the
    /// writer has reopened the store (see the module docs) appends fail at once with
    /// [`ProvenanceError::Unavailable`]. If the returned future is dropped early the record may
    /// still be written.
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

    /// Announces an append that will follow shortly (call it when an execution starts, before
    /// admission). Until the returned guard is passed to
    /// [`append_announced`](Self::append_announced) or dropped, the writer waits up to
    /// [`MAX_LINGER`] for it before flushing a batch. Do not hold it across anything long (an
    /// operation that runs) or across waiting for another append.
    pub fn announce(&self) -> Announced {
        let counter = Arc::clone(&self.inner.shared.announced);
        counter.fetch_add(1, Ordering::SeqCst);
        Announced { counter }
    }

    /// [`append`](Self::append) of the record that `announced` announced.
    pub async fn append_announced(
        &self,
        record: ProvenanceRecord,
        announced: Announced,
    ) -> Result<u64, ProvenanceError> {
        // Withdrawn before the record is queued: a writer that sees the count drop to zero
        // may flush without this record, but never waits for a record already queued.
        drop(announced);
        self.append(record).await
    }

    /// Signs and durably stores a checkpoint covering the current last record (sequence 0 and
    /// [`GENESIS_HASH`] for an empty log), made at `time_ms`. Blocks for one flush. Fails at
    /// once with [`ProvenanceError::Unavailable`] while the log is unhealthy.
    pub fn checkpoint_now(&self, time_ms: i64) -> Result<Checkpoint, ProvenanceError> {
        let shared = &self.inner.shared;
        let mut head = shared.lock_head();
        if !shared.is_healthy() {
            return Err(unavailable());
        }
        let store = shared.store()?;
        shared
            .ensure_fresh(&store, &mut head)
            .inspect_err(|_| shared.fail(&mut head))?;
        let checkpoint = sign_checkpoint(&shared.signing_key, head.sequence, &head.hash, time_ms);
        let bytes =
            serde_json::to_vec(&checkpoint).map_err(|e| ProvenanceError::Storage(e.to_string()))?;
        let written = store
            .checkpoints
            .insert(key(head.sequence), bytes)
            .and_then(|_| store.db.flush());
        match written {
            Ok(_) => Ok(checkpoint),
            Err(e) => {
                shared.fail(&mut head);
                Err(ProvenanceError::Storage(format!(
                    "writing a checkpoint failed: {e}"
                )))
            }
        }
    }

    /// False after a failed write (until the writer has reopened the store and written to it)
    /// or if the writer has stopped.
    pub fn is_healthy(&self) -> bool {
        self.inner.shared.is_healthy()
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
    /// `allow_unsealed_tail`, use [`export_sealed`](Self::export_sealed). While the store is
    /// being reopened the iterator yields one `Unavailable` error.
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
        let store = match self.inner.shared.store() {
            Ok(store) => store,
            Err(error) => {
                return ExportIter {
                    source: Err(Some(error)),
                    done: false,
                }
            }
        };
        let records = store
            .records
            .range(key(after_sequence.saturating_add(1))..=key(until_sequence))
            .peekable();
        let checkpoints = store
            .checkpoints
            .range(key(after_sequence)..=key(until_sequence))
            .peekable();
        ExportIter {
            source: Ok((records, checkpoints)),
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
        let store = self.inner.shared.store()?;
        for item in store.records.iter() {
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

/// An append announced with [`ProvenanceLog::announce`]; withdrawn when dropped.
#[must_use = "dropping it withdraws the announcement"]
pub struct Announced {
    counter: Arc<AtomicUsize>,
}

impl Drop for Announced {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Announced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Announced")
    }
}

#[cfg(test)]
mod tests;
