//! A bounded "seen once" set for replay protection whose memory stays flat under steady load.
//!
//! Each key carries the time after which a replay of it would be refused anyway (its
//! freshness window has passed), so it can be forgotten then. Expired keys are swept every
//! `sweep_every` milliseconds, not only when the set is full: the set holds about
//! `rate × (window + sweep interval)` keys, whatever the uptime.

use std::collections::HashMap;
use std::hash::Hash;

/// Why a key was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnceError {
    /// The key was seen before and has not expired: a replay.
    Replayed,
    /// Every slot holds a key that has not expired yet.
    Full,
}

/// Keys seen at most once until they expire.
#[derive(Debug)]
pub struct OnceCache<K> {
    seen: HashMap<K, i64>,
    capacity: usize,
    sweep_every_ms: i64,
    next_sweep_ms: i64,
}

impl<K: Hash + Eq> OnceCache<K> {
    /// A cache of at most `capacity` live keys, swept every `sweep_every_ms`.
    pub fn new(capacity: usize, sweep_every_ms: i64) -> Self {
        Self {
            seen: HashMap::new(),
            capacity,
            sweep_every_ms: sweep_every_ms.max(1),
            next_sweep_ms: i64::MIN,
        }
    }

    /// Accepts `key` (forgettable after `expires_ms`) at `now_ms` if it was not seen before.
    pub fn insert_once(&mut self, key: K, expires_ms: i64, now_ms: i64) -> Result<(), OnceError> {
        if now_ms >= self.next_sweep_ms || self.seen.len() >= self.capacity {
            self.seen.retain(|_, expires| *expires >= now_ms);
            self.next_sweep_ms = now_ms.saturating_add(self.sweep_every_ms);
        }
        if self
            .seen
            .get(&key)
            .is_some_and(|expires| *expires >= now_ms)
        {
            return Err(OnceError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(OnceError::Full);
        }
        self.seen.insert(key, expires_ms);
        Ok(())
    }

    /// Forgets every key whose expiry has passed at `now_ms`.
    pub fn sweep(&mut self, now_ms: i64) {
        self.seen.retain(|_, expires| *expires >= now_ms);
        self.next_sweep_ms = now_ms.saturating_add(self.sweep_every_ms);
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_accepted_once_until_it_expires() {
        let mut cache = OnceCache::new(10, 1_000);
        cache.insert_once("a", 5_000, 0).unwrap();
        assert_eq!(cache.insert_once("a", 5_000, 10), Err(OnceError::Replayed));
        assert_eq!(
            cache.insert_once("a", 5_000, 5_000),
            Err(OnceError::Replayed)
        );
        // Forgotten after its expiry (a replay is refused by the freshness check by then).
        cache.insert_once("a", 9_000, 5_001).unwrap();
    }

    #[test]
    fn steady_load_keeps_the_size_flat() {
        let mut cache = OnceCache::new(1_000_000, 1_000);
        let window = 30_000;
        let mut sizes = Vec::new();
        // 200 keys a second for 10 minutes, each live for the 30 s window.
        for ms in (0..600_000i64).step_by(5) {
            cache.insert_once(ms, ms + window, ms).unwrap();
            if ms % 60_000 == 59_995 {
                sizes.push(cache.len());
            }
        }
        // window × rate = 6,000 live keys, plus at most one sweep interval's worth (200).
        for size in sizes {
            assert!((6_000..=6_201).contains(&size), "size {size}");
        }
    }

    #[test]
    fn a_full_cache_refuses_until_keys_expire() {
        let mut cache = OnceCache::new(2, 1_000_000);
        cache.insert_once(1, 100, 0).unwrap();
        cache.insert_once(2, 100, 0).unwrap();
        assert_eq!(cache.insert_once(3, 100, 1), Err(OnceError::Full));
        cache.insert_once(3, 300, 101).unwrap();
        assert_eq!(cache.len(), 1);
    }
}
