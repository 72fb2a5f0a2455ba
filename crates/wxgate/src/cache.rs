//! A small in-process cache with a time to live and a bound on its size: in front of the
//! session store in the embedded deployment, and of the greeting's database query.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// Entries live `ttl`; at most `capacity` are kept (past it, new entries are not cached
    /// until expired ones are dropped: a flood of one-off keys cannot grow it).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        TtlCache {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some((until, value)) if *until > Instant::now() => Some(value.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, key: K, value: V) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (until, _)| *until > now);
            if entries.len() >= self.capacity {
                return;
            }
        }
        entries.insert(key, (now + self.ttl, value));
    }

    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_the_size_is_bounded() {
        // Long-lived entries, so a loaded machine cannot expire them mid-test.
        let c = TtlCache::new(Duration::from_secs(600), 2);
        c.insert(1, "a");
        c.insert(2, "b");
        c.insert(3, "c");
        assert_eq!(
            (c.get(&1), c.get(&2), c.get(&3)),
            (Some("a"), Some("b"), None)
        );
        c.insert(1, "a2");
        assert_eq!(c.get(&1), Some("a2"), "an existing key is replaced");

        // Short-lived ones: only what must hold however slow the machine is.
        let short = TtlCache::new(Duration::from_millis(30), 2);
        short.insert(1, "a");
        short.insert(2, "b");
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(short.get(&1), None);
        short.insert(3, "c");
        let held = |k| short.entries.lock().unwrap().contains_key(&k);
        assert!(held(3), "expired entries make room");
        assert!(!held(1) && !held(2));
        short.remove(&3);
        assert!(!held(3));
    }
}
