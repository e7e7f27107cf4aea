//! A bounded cache that keeps what is in use: two generations instead of a full LRU list.
//!
//! New entries go into the current generation; when it holds half the capacity it becomes the
//! previous one (the old previous is dropped) and a fresh one starts. A hit in the previous
//! generation moves the entry back to the current one, so entries in steady use survive every
//! rotation while idle ones age out. Memory never exceeds `capacity` entries, and it does not
//! saw-tooth from full to empty the way a cache cleared when full does.

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub struct BoundedCache<K, V> {
    current: HashMap<K, V>,
    previous: HashMap<K, V>,
    generation: usize,
}

impl<K: Hash + Eq, V: Clone> BoundedCache<K, V> {
    /// A cache of at most `capacity` entries (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            current: HashMap::new(),
            previous: HashMap::new(),
            generation: (capacity / 2).max(1),
        }
    }

    pub fn get(&mut self, key: &K) -> Option<V>
    where
        K: Clone,
    {
        if let Some(value) = self.current.get(key) {
            return Some(value.clone());
        }
        let value = self.previous.remove(key)?;
        self.insert(key.clone(), value.clone());
        Some(value)
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.generation {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Entries held (both generations).
    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_stays_bounded_and_entries_in_use_survive_rotations() {
        let mut cache = BoundedCache::new(100);
        let hot = "hot".to_string();
        cache.insert(hot.clone(), 0);
        for i in 0..10_000 {
            cache.insert(format!("cold-{i}"), i);
            assert!(cache.len() <= 100);
            if i % 10 == 0 {
                assert_eq!(cache.get(&hot), Some(0), "after {i} inserts");
            }
        }
        assert!(cache.len() >= 50, "emptied: {}", cache.len());
        assert_eq!(cache.get(&"cold-0".to_string()), None);
    }
}
