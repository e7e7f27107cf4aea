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

/// The tip mark file (see the module docs).
struct TipMark {
    file: std::fs::File,
    path: PathBuf,
}

impl TipMark {
    /// Opens (or creates, empty) the mark in `dir` and returns what it records, if anything.
    fn open(dir: &Path) -> Result<(Self, Option<(u64, String)>), ProvenanceError> {
        use std::io::Read;
        let path = dir.join(TIP_MARK_FILE);
        let storage = |e: std::io::Error| {
            ProvenanceError::Storage(format!("tip mark `{}`: {e}", path.display()))
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(storage)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| {
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
        Ok((Self { file, path }, recorded))
    }

    /// Records `sequence` and `hash` as durable (one in-place write of a fixed-size block).
    fn write(&self, sequence: u64, hash: &str) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut block = format!("{sequence} {hash}");
        let width = TIP_MARK_BYTES.saturating_sub(1).max(block.len());
        block = format!("{block:<width$}\n");
        self.file.write_all_at(block.as_bytes(), 0)
    }

    /// Refuses a log whose tip is behind the mark or whose record at the mark differs.
    fn check(
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
                self.path.display()
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
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// Deletes `snap.*.generating` files: snapshots sled started but never finished (it renames
/// one only after syncing it), left by a crash or a full disk. sled 0.34 would pick such a
/// file as its newest snapshot and refuse to open as corrupt; its log is the source of truth.
fn remove_unfinished_snapshots(dir: &Path) -> Result<(), ProvenanceError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(()); // a new log
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            std::fs::remove_file(entry.path()).map_err(|e| {
                ProvenanceError::Storage(format!(
                    "cannot remove unfinished snapshot `{}`: {e}",
                    entry.path().display()
                ))
            })?;
            tracing::warn!(file = %name, "removed an unfinished sled snapshot");
        }
    }
    Ok(())
}

/// Handles on one open sled database. Cheap to clone; the database closes (and releases its
/// file lock) when the last clone and the last iterator over it are dropped.
#[derive(Clone)]
struct Store {
    db: sled::Db,
    records: sled::Tree,
    checkpoints: sled::Tree,
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

impl Store {
    /// Opens the database in `dir` and checks the executor key it was created with, if any.
    /// sled takes an exclusive file lock, and a database closed a moment ago (by this process,
    /// or by one that just died) may still hold it while sled's background threads finish:
    /// waits up to `lock_wait` for it.
    fn open(
        dir: &Path,
        verifying_key: &VerifyingKey,
        lock_wait: Duration,
    ) -> Result<Self, ProvenanceError> {
        remove_unfinished_snapshots(dir)?;
        let deadline = Instant::now() + lock_wait;
        let db = loop {
            match sled::Config::new()
                .path(dir)
                .cache_capacity(CACHE_CAPACITY_BYTES)
                .open()
            {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if Instant::now() < deadline
                        && e.to_string().contains("could not acquire lock") =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        };
        let records = db.open_tree(RECORDS_TREE)?;
        let checkpoints = db.open_tree(CHECKPOINTS_TREE)?;
        if let Some(stored) = db.get(EXECUTOR_KEY_KEY)? {
            if stored.as_ref() != verifying_key.as_bytes() {
                return Err(ProvenanceError::KeyMismatch(format!(
                    "the log in {} was created by executor key {}, not {}",
                    dir.display(),
                    hex::encode(&stored),
                    hex::encode(verifying_key.as_bytes())
                )));
            }
        }
        Ok(Self {
            db,
            records,
            checkpoints,
        })
    }

    /// Records the executor key in a new log (after its checks passed).
    fn record_key(&self, verifying_key: &VerifyingKey) -> Result<(), ProvenanceError> {
        if self.db.get(EXECUTOR_KEY_KEY)?.is_none() {
            self.db
                .insert(EXECUTOR_KEY_KEY, verifying_key.as_bytes().as_slice())?;
            self.db.flush()?;
        }
        Ok(())
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
    /// sequence, and the last checkpoint (signed by `verifying_key`).
    fn read_tip(&self, verifying_key: &VerifyingKey) -> Result<Head, ProvenanceError> {
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
            self.check_checkpoint(&checkpoint, &head, verifying_key)?;
        }
        Ok(head)
    }

    fn check_checkpoint(
        &self,
        checkpoint: &Checkpoint,
        head: &Head,
        verifying_key: &VerifyingKey,
    ) -> Result<(), ProvenanceError> {
        let covered = checkpoint.sequence;
        match checkpoint.verify_signature(verifying_key) {
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

    /// Inserts `records` and `checkpoints` atomically and flushes. Without checkpoints the
    /// records go into their tree alone (`apply_batch` is atomic within a tree), which saves a
    /// cross-tree transaction on most batches.
    fn write(&self, records: sled::Batch, checkpoints: Option<sled::Batch>) -> Result<(), String> {
        match checkpoints {
            None => self
                .records
                .apply_batch(records)
                .map_err(|e| e.to_string())?,
            Some(checkpoints) => {
                let applied: Result<(), TransactionError<()>> = (&self.records, &self.checkpoints)
                    .transaction(|(r, c)| {
                        r.apply_batch(&records)?;
                        c.apply_batch(&checkpoints)?;
                        Ok::<(), ConflictableTransactionError<()>>(())
                    });
                applied.map_err(|e| match e {
                    TransactionError::Abort(()) => "transaction aborted".to_owned(),
                    TransactionError::Storage(e) => e.to_string(),
                })?;
            }
        }
        self.db.flush().map(drop).map_err(|e| e.to_string())
    }

    /// Best effort: removes what a failed batch may have inserted.
    fn roll_back(&self, record_keys: &[[u8; 8]], checkpoint_keys: &[[u8; 8]]) {
        let mut records = sled::Batch::default();
        record_keys.iter().for_each(|k| records.remove(k));
        let mut checkpoints = sled::Batch::default();
        checkpoint_keys.iter().for_each(|k| checkpoints.remove(k));
        let _ = self.write(records, Some(checkpoints));
    }
}

fn unavailable() -> ProvenanceError {
    ProvenanceError::Unavailable(
        "a provenance write failed; the store is being reopened (refusing until it is)".into(),
    )
}

impl Shared {
    fn lock_head(&self) -> MutexGuard<'_, Head> {
        // The head is only updated after a successful write, so it is consistent even if a
        // holder panicked.
        self.head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A handle on the open store, or `Unavailable` while it is being reopened.
    fn store(&self) -> Result<Store, ProvenanceError> {
        let slot = self
            .store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.clone().ok_or_else(unavailable)
    }

    fn set_store(&self, store: Option<Store>) {
        let mut slot = self
            .store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The old handles drop here, after the new value is in place.
        let _old = std::mem::replace(&mut *slot, store);
    }

    fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Moves the tip mark after a flush. A failure only leaves the mark behind the log, which
    /// weakens the check at the next open but never makes it refuse a whole log.
    fn write_mark(&self, sequence: u64, hash: &str) {
        if let Err(error) = self.mark.write(sequence, hash) {
            tracing::debug!(error = %error, sequence, "cannot move the provenance tip mark");
        }
    }

    /// Rereads the tip if a failed write left it uncertain.
    fn ensure_fresh(&self, store: &Store, head: &mut Head) -> Result<(), ProvenanceError> {
        if head.stale {
            *head = store.read_tip(&self.verifying_key)?;
            self.last_sequence.store(head.sequence, Ordering::SeqCst);
        }
        Ok(())
    }

    fn fail(&self, head: &mut Head) {
        if self.healthy.swap(false, Ordering::SeqCst) {
            tracing::error!(
                dir = %self.dir.display(),
                "provenance write failed: refusing appends; reopening the store every {} ms until a write succeeds",
                RECOVERY_INTERVAL.as_millis()
            );
        }
        head.stale = true;
    }

    /// Seals, stores and flushes one batch, then acknowledges its appenders. While the log
    /// is unhealthy every appender is refused at once.
    fn commit(&self, jobs: Vec<Job>) {
        let mut head = self.lock_head();
        let store = if self.is_healthy() {
            self.store()
                .and_then(|store| self.ensure_fresh(&store, &mut head).map(|()| store))
        } else {
            Err(unavailable())
        };
        let store = match store {
            Ok(store) => store,
            Err(error) => {
                if !matches!(error, ProvenanceError::Unavailable(_)) {
                    self.fail(&mut head);
                }
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        };
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
        let checkpoints = (!checkpoint_keys.is_empty()).then_some(checkpoints);
        match store.write(records, checkpoints) {
            Ok(()) => {
                self.write_mark(sequence, &prev);
                head.sequence = sequence;
                head.hash = prev;
                self.last_sequence.store(sequence, Ordering::SeqCst);
                for (sequence, reply) in accepted {
                    let _ = reply.send(Ok(sequence));
                }
            }
            Err(message) => {
                self.fail(&mut head);
                store.roll_back(&record_keys, &checkpoint_keys);
                let error =
                    ProvenanceError::Storage(format!("writing provenance failed: {message}"));
                for (_, reply) in accepted {
                    let _ = reply.send(Err(error.clone()));
                }
            }
        }
    }

    /// One recovery attempt after a failed write: drops every handle on the store, reopens
    /// it, checks the tip as `open` does and writes a signed checkpoint covering it. Healthy
    /// again (true) only once that checkpoint is durable. `time_ms` dates the checkpoint.
    fn recover(&self, time_ms: i64) -> bool {
        let mut head = self.lock_head();
        if self.is_healthy() {
            return true;
        }
        // sled keeps an I/O error for the life of the open database and allows one open at a
        // time (a file lock), so the failed database must be closed before it is reopened. A
        // reader still holding a handle (an export in progress) keeps it open; the reopen
        // then fails and is retried on the next attempt.
        self.set_store(None);
        let attempt =
            Store::open(&self.dir, &self.verifying_key, Duration::ZERO).and_then(|store| {
                let tip = store.read_tip(&self.verifying_key)?;
                let (_, recorded) = TipMark::open(&self.dir)?;
                self.mark.check(&store, &tip, recorded.as_ref())?;
                Ok((store, tip))
            });
        let (store, tip) = match attempt {
            Ok(opened) => opened,
            Err(error) => {
                tracing::debug!(error = %error, "provenance store did not reopen yet");
                return false;
            }
        };
        // Reads (exports, queries) may use the reopened store even if the write below fails.
        self.set_store(Some(store.clone()));
        self.last_sequence.store(tip.sequence, Ordering::SeqCst);
        let checkpoint = sign_checkpoint(&self.signing_key, tip.sequence, &tip.hash, time_ms);
        let mut checkpoints = sled::Batch::default();
        match serde_json::to_vec(&checkpoint) {
            Ok(bytes) => checkpoints.insert(&key(tip.sequence), bytes),
            Err(error) => {
                tracing::debug!(error = %error, "cannot encode the recovery checkpoint");
                return false;
            }
        }
        match store.write(sled::Batch::default(), Some(checkpoints)) {
            Ok(()) => {
                self.write_mark(tip.sequence, &tip.hash);
                *head = tip;
                self.healthy.store(true, Ordering::SeqCst);
                tracing::info!(
                    dir = %self.dir.display(),
                    sequence = head.sequence,
                    "provenance store reopened and writable again: accepting appends"
                );
                true
            }
            Err(error) => {
                tracing::debug!(error = %error, "provenance store reopened but is not writable yet");
                head.stale = true;
                false
            }
        }
    }
}

fn run_writer(shared: Arc<Shared>, jobs: mpsc::Receiver<Job>) {
    let mut next_recovery: Option<Instant> = None;
    loop {
        if shared.is_healthy() {
            next_recovery = None;
        } else {
            let due = *next_recovery.get_or_insert_with(|| Instant::now() + RECOVERY_INTERVAL);
            if Instant::now() >= due {
                let recovered = shared.recover(trust_sdk::client::now_ms());
                next_recovery = (!recovered).then(|| Instant::now() + RECOVERY_INTERVAL);
                continue;
            }
        }
        // Wake up at least every interval: a failed `checkpoint_now` on another thread also
        // makes the log unhealthy, and no append may come to notice it.
        let wait = next_recovery
            .map(|due| due.saturating_duration_since(Instant::now()))
            .unwrap_or(RECOVERY_INTERVAL);
        let first = match jobs.recv_timeout(wait) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut batch = vec![first];
        let linger_until = Instant::now() + MAX_LINGER;
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {
                    // Records on their way: wait a little for them rather than flush twice.
                    if shared.announced.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    let left = linger_until.saturating_duration_since(Instant::now());
                    match jobs.recv_timeout(left) {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
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
        let verifying_key = signing_key.verifying_key();
        let store = Store::open(dir, &verifying_key, OPEN_LOCK_WAIT)?;
        let head = store.read_tip(&verifying_key)?;
        let (mark, recorded) = TipMark::open(dir)?;
        mark.check(&store, &head, recorded.as_ref())?;
        store.record_key(&verifying_key)?;
        if recorded.as_ref() != Some(&(head.sequence, head.hash.clone())) {
            mark.write(head.sequence, &head.hash).map_err(|e| {
                ProvenanceError::Storage(format!("tip mark `{}`: {e}", mark.path.display()))
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

type EntrySources = (
    std::iter::Peekable<sled::Iter>,
    std::iter::Peekable<sled::Iter>,
);

/// Iterator over exported entries; see [`ProvenanceLog::export`]. Owns its handles on the store
/// (it keeps the database open while it lives) and is `Send`.
pub struct ExportIter {
    /// The record and checkpoint iterators, or the error to report once (store unavailable).
    source: Result<EntrySources, Option<ProvenanceError>>,
    done: bool,
}

impl Iterator for ExportIter {
    type Item = Result<ProvenanceEntry, ProvenanceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (records, checkpoints) = match &mut self.source {
            Ok(sources) => sources,
            Err(error) => {
                self.done = true;
                return error.take().map(Err);
            }
        };
        let take_checkpoint = match (records.peek(), checkpoints.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(Err(_)), _) => false,
            (_, Some(Err(_))) => true,
            // Big-endian keys sort numerically; a checkpoint goes right after its record.
            (Some(Ok((record, _))), Some(Ok((checkpoint, _)))) => checkpoint < record,
        };
        let item = if take_checkpoint {
            checkpoints.next().map(|item| {
                let (k, v) = item?;
                Ok(ProvenanceEntry::Checkpoint(decode_checkpoint(
                    decode_key(&k)?,
                    &v,
                )?))
            })
        } else {
            records.next().map(|item| {
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
