//! The sled store under the log: its trees, record and checkpoint encoding, and the tip check.

use super::*;

/// Deletes sled's unfinished snapshots (`trust_sdk::store_files`) before the log is opened.
pub(super) fn remove_unfinished_snapshots(dir: &Path) -> Result<(), ProvenanceError> {
    let removed =
        trust_sdk::store_files::remove_unfinished_snapshots(dir).map_err(|(path, e)| {
            ProvenanceError::Storage(format!(
                "cannot remove unfinished snapshot `{}`: {e}",
                path.display()
            ))
        })?;
    for file in removed {
        tracing::warn!(%file, "removed an unfinished sled snapshot");
    }
    Ok(())
}

/// Handles on one open sled database. Cheap to clone; the database closes (and releases its
/// file lock) when the last clone and the last iterator over it are dropped.
#[derive(Clone)]
pub(super) struct Store {
    pub(super) db: sled::Db,
    pub(super) records: sled::Tree,
    pub(super) checkpoints: sled::Tree,
}

#[derive(Debug, Clone)]
pub(super) struct Head {
    pub(super) sequence: u64,
    pub(super) hash: String,
    /// A write failed part-way: reread the tip from the store before the next write.
    pub(super) stale: bool,
}

pub(super) struct Job {
    pub(super) record: ProvenanceRecord,
    pub(super) reply: oneshot::Sender<Result<u64, ProvenanceError>>,
}

pub(super) fn key(sequence: u64) -> [u8; 8] {
    sequence.to_be_bytes()
}

pub(super) fn decode_key(bytes: &[u8]) -> Result<u64, ProvenanceError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| ProvenanceError::Corrupt(format!("key of {} bytes", bytes.len())))?;
    Ok(u64::from_be_bytes(array))
}

pub(super) fn decode_record(
    sequence: u64,
    bytes: &[u8],
) -> Result<ProvenanceRecord, ProvenanceError> {
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

pub(super) fn decode_checkpoint(
    sequence: u64,
    bytes: &[u8],
) -> Result<Checkpoint, ProvenanceError> {
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
    pub(super) fn open(
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
    pub(super) fn record_key(&self, verifying_key: &VerifyingKey) -> Result<(), ProvenanceError> {
        if self.db.get(EXECUTOR_KEY_KEY)?.is_none() {
            self.db
                .insert(EXECUTOR_KEY_KEY, verifying_key.as_bytes().as_slice())?;
            self.db.flush()?;
        }
        Ok(())
    }

    pub(super) fn record_at(
        &self,
        sequence: u64,
    ) -> Result<Option<ProvenanceRecord>, ProvenanceError> {
        self.records
            .get(key(sequence))?
            .map(|bytes| decode_record(sequence, &bytes))
            .transpose()
    }

    /// A stored record whose hash must check out.
    pub(super) fn checked_record_at(
        &self,
        sequence: u64,
    ) -> Result<ProvenanceRecord, ProvenanceError> {
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
    pub(super) fn read_tip(&self, verifying_key: &VerifyingKey) -> Result<Head, ProvenanceError> {
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

    pub(super) fn check_checkpoint(
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
    pub(super) fn write(
        &self,
        records: sled::Batch,
        checkpoints: Option<sled::Batch>,
    ) -> Result<(), String> {
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
    pub(super) fn roll_back(&self, record_keys: &[[u8; 8]], checkpoint_keys: &[[u8; 8]]) {
        let mut records = sled::Batch::default();
        record_keys.iter().for_each(|k| records.remove(k));
        let mut checkpoints = sled::Batch::default();
        checkpoint_keys.iter().for_each(|k| checkpoints.remove(k));
        let _ = self.write(records, Some(checkpoints));
    }
}
