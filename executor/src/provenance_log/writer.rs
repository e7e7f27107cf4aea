//! The one writer thread: group commit of announced and queued records, and recovery after a
//! failed write.

use super::*;

pub(super) fn unavailable() -> ProvenanceError {
    ProvenanceError::Unavailable(
        "a provenance write failed; the store is being reopened (refusing until it is)".into(),
    )
}

impl Shared {
    pub(super) fn lock_head(&self) -> MutexGuard<'_, Head> {
        // The head is only updated after a successful write, so it is consistent even if a
        // holder panicked.
        self.head
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A handle on the open store, or `Unavailable` while it is being reopened.
    pub(super) fn store(&self) -> Result<Store, ProvenanceError> {
        let slot = self
            .store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.clone().ok_or_else(unavailable)
    }

    pub(super) fn set_store(&self, store: Option<Store>) {
        let mut slot = self
            .store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The old handles drop here, after the new value is in place.
        let _old = std::mem::replace(&mut *slot, store);
    }

    pub(super) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::SeqCst)
    }

    /// Moves the tip mark after a flush. A failure only leaves the mark behind the log, which
    /// weakens the check at the next open but never makes it refuse a whole log.
    pub(super) fn write_mark(&self, sequence: u64, hash: &str) {
        if let Err(error) = self.mark.write(sequence, hash) {
            tracing::debug!(error = %error, sequence, "cannot move the provenance tip mark");
        }
    }

    /// Rereads the tip if a failed write left it uncertain.
    pub(super) fn ensure_fresh(
        &self,
        store: &Store,
        head: &mut Head,
    ) -> Result<(), ProvenanceError> {
        if head.stale {
            *head = store.read_tip(&self.verifying_key)?;
            self.last_sequence.store(head.sequence, Ordering::SeqCst);
        }
        Ok(())
    }

    pub(super) fn fail(&self, head: &mut Head) {
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
    pub(super) fn commit(&self, jobs: Vec<Job>) {
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
    pub(super) fn recover(&self, time_ms: i64) -> bool {
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

pub(super) fn run_writer(shared: Arc<Shared>, jobs: mpsc::Receiver<Job>) {
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
