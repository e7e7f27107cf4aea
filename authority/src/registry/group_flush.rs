//! Group commit for sled: concurrent writers share one flush instead of queueing their own.
//!
//! A writer inserts, then calls [`GroupFlush::flush`]. It returns once a flush that *started
//! after* the writer's call began has completed, so the writer's data is durable; many writers
//! arriving while a flush runs are all covered by the next one. The flush itself is the
//! caller's closure (the registry stamps its commit counter, flushes sled and moves its mark).

use std::sync::{Condvar, Mutex};

#[derive(Debug, Default)]
struct State {
    /// Tickets handed out (one per flush request).
    requested: u64,
    /// Every ticket up to this one is durable.
    completed: u64,
    in_progress: bool,
}

/// Coordinates flushes of one sled database.
#[derive(Debug, Default)]
pub struct GroupFlush {
    state: Mutex<State>,
    done: Condvar,
}

impl GroupFlush {
    /// Makes everything written before this call durable: runs `flush` (or waits for a run of
    /// it by another writer that started after this call) and returns its outcome.
    pub fn flush(&self, flush: impl Fn() -> Result<(), String>) -> Result<(), String> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| "flush lock poisoned".to_string())?;
        state.requested += 1;
        let ticket = state.requested;
        loop {
            if state.completed >= ticket {
                return Ok(());
            }
            if !state.in_progress {
                state.in_progress = true;
                let covers = state.requested;
                drop(state);
                let result = flush();
                state = self
                    .state
                    .lock()
                    .map_err(|_| "flush lock poisoned".to_string())?;
                state.in_progress = false;
                if result.is_ok() {
                    state.completed = state.completed.max(covers);
                }
                self.done.notify_all();
                result?;
                continue;
            }
            state = self
                .done
                .wait(state)
                .map_err(|_| "flush lock poisoned".to_string())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_writers_are_all_durable_and_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let group = Arc::new(GroupFlush::default());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (db, group) = (db.clone(), Arc::clone(&group));
                std::thread::spawn(move || {
                    for i in 0..50u32 {
                        db.insert(format!("{t}-{i}"), &i.to_be_bytes()).unwrap();
                        group
                            .flush(|| db.flush().map(drop).map_err(|e| e.to_string()))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(db.len(), 400);
        let state = group.state.lock().unwrap();
        assert_eq!(state.completed, state.requested);
        assert!(!state.in_progress);
    }
}
