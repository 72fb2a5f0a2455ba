//! The in-process memory of recent pushes and claims, sized for "rate × window": a push at
//! thousands a second has to be remembered for as long as its timestamp is accepted (300 s by
//! default), which is millions of entries.
//!
//! So an entry is small and fixed: a 128-bit key (a keyed hash of the string key, never the
//! string), its expiry as a 32-bit second count, and a small value; with no value an entry is
//! 20 bytes in the map (up to twice that with the spare room a hash map keeps) and 20 in the
//! expiry queue. Expired entries leave from the front of a FIFO
//! queue, a few at every insert — never a sweep over the whole map — and the map is split in
//! [`SHARDS`] shards with a lock each, so that when a shard grows, only that shard's callers
//! wait for it, and only for a sixteenth of the entries. The total is bounded by a capacity:
//! past it, the oldest entries are forgotten early (the caller is told, to warn).
//!
//! Values kept for a shorter while than their key (a push's reply: 30 s, against the key's
//! 300 s) go in a [`Log`] instead: a queue in the order they came, found again by the number
//! the append returned, which the key's table entry holds.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many shards a table has.
pub const SHARDS: usize = 16;

/// A key: 128 bits of a keyed SipHash of the caller's string key, as four 32-bit words so
/// that it packs next to a 32-bit expiry with no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key([u32; 4]);

impl std::hash::Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The key is already uniform: its first 64 bits are its hash.
        state.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

impl Key {
    /// Which of [`SHARDS`] shards the key falls in.
    pub fn shard(self) -> usize {
        self.0[3] as usize % SHARDS
    }
}

/// Hashes string keys into [`Key`]s with seeds chosen at start-up: nobody can aim two keys at
/// one slot, and a collision of 128 bits is not a concern.
#[derive(Debug, Default)]
pub struct KeyMaker(RandomState, RandomState);

impl KeyMaker {
    pub fn key(&self, text: &str) -> Key {
        let (a, b) = (self.0.hash_one(text), self.1.hash_one(text));
        Key([a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32])
    }
}

/// The map's hasher: a [`Key`] hashes itself by writing its first 64 bits once.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a Key; kept correct for any other use.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(word);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Slot<V> {
    /// Seconds since the table's epoch.
    expires: u32,
    value: V,
}

struct Shard<V> {
    map: HashMap<Key, Slot<V>, BuildHasherDefault<KeyHasher>>,
    /// Insertion order, with each entry's expiry: the front is the oldest.
    order: VecDeque<(u32, Key)>,
    capacity: usize,
}

/// What an insert did to the table's bound: how many entries it forgot before their time to
/// make room.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    pub count: usize,
}

pub struct Table<V> {
    epoch: Instant,
    shards: Vec<Padded<Mutex<Shard<V>>>>,
}

/// A shard on cache lines of its own: two workers locking neighbouring shards must not pass
/// one line back and forth (the lock's release showed as a quarter of a claim in `perf`).
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Padded<Mutex<T>> {
    /// The shard, locked. What a shard holds is changed one map or queue operation at a
    /// time, so a panic while it was held leaves nothing half-done: a poisoned lock is taken
    /// all the same.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<V> std::fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// The current second since `epoch`, and the second at which something stored now for `ttl`
/// expires, rounded up: an entry may outlive its `ttl` by under a second, never fall short of
/// it. One clock read.
fn now_and_end(epoch: Instant, ttl: Duration) -> (u32, u32) {
    let now = epoch.elapsed();
    let end = now.saturating_add(ttl);
    let end = end.as_secs() + u64::from(end.subsec_nanos() > 0);
    let clamp = |secs: u64| secs.min(u64::from(u32::MAX)) as u32;
    (clamp(now.as_secs()), clamp(end))
}

impl<V: Clone> Table<V> {
    /// A table of at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Table {
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(Shard {
                        map: HashMap::default(),
                        order: VecDeque::new(),
                        capacity: per_shard,
                    }))
                })
                .collect(),
        }
    }

    fn now_and_end(&self, ttl: Duration) -> (u32, u32) {
        now_and_end(self.epoch, ttl)
    }

    fn shard(&self, key: Key) -> std::sync::MutexGuard<'_, Shard<V>> {
        self.shards[key.shard()].lock()
    }

    /// The value under `key`, if it has not expired.
    pub fn get(&self, key: Key) -> Option<V> {
        let (now, _) = self.now_and_end(Duration::ZERO);
        let shard = self.shard(key);
        shard
            .map
            .get(&key)
            .filter(|s| s.expires > now)
            .map(|s| s.value.clone())
    }

    /// Stores `value` under `key` for `ttl` unless the key holds an unexpired value: returns
    /// that value (`None`: this call stored it), and what making room cost.
    pub fn claim(&self, key: Key, value: V, ttl: Duration) -> (Option<V>, Evicted) {
        let (now, expires) = self.now_and_end(ttl);
        let mut shard = self.shard(key);
        let evicted = shard.tidy(now);
        if let Some(held) = shard.map.get(&key).filter(|s| s.expires > now) {
            return (Some(held.value.clone()), evicted);
        }
        shard.put(key, value, expires);
        (None, evicted)
    }

    /// Stores `value` under `key` for `ttl`, replacing what was there.
    pub fn insert(&self, key: Key, value: V, ttl: Duration) -> Evicted {
        let (now, expires) = self.now_and_end(ttl);
        let mut shard = self.shard(key);
        let evicted = shard.tidy(now);
        shard.put(key, value, expires);
        evicted
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }
}

impl<V> Shard<V> {
    fn put(&mut self, key: Key, value: V, expires: u32) {
        self.map.insert(key, Slot { expires, value });
        self.order.push_back((expires, key));
    }

    /// Drops expired entries from the front of the queue, and the oldest ones while the shard
    /// is full. A queue record whose key was stored again since (a later expiry) is skipped.
    fn tidy(&mut self, now: u32) -> Evicted {
        let mut evicted = Evicted::default();
        // A bounded number per call: the cost of a tidy stays small and constant.
        for _ in 0..8 {
            let Some(&(expires, key)) = self.order.front() else {
                break;
            };
            let full = self.map.len() >= self.capacity;
            if expires > now && !full {
                break;
            }
            self.order.pop_front();
            let current = self.map.get(&key).map(|s| s.expires);
            if current == Some(expires) {
                self.map.remove(&key);
                if expires > now {
                    evicted.count += 1;
                }
            }
        }
        evicted
    }
}

/// Values kept for a while in the order they came, each found again by its key and the
/// sequence number its append returned (kept by the caller, in a [`Table`] entry): appending
/// writes the back of a queue, in sequence, instead of a random slot of a map of millions, and
/// values leave from the front when they expire or the bound is reached. For values every one
/// of which is kept about as long (a push's reply, for WeChat's retries).
pub struct Log<V> {
    epoch: Instant,
    shards: Vec<Padded<Mutex<LogShard<V>>>>,
}

struct LogShard<V> {
    /// The sequence number of the front entry (wrapping).
    front: u32,
    entries: VecDeque<Logged<V>>,
    capacity: usize,
}

struct Logged<V> {
    key: Key,
    expires: u32,
    value: V,
}

impl<V> std::fmt::Debug for Log<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl<V: Clone> Log<V> {
    /// A log of at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Log {
            epoch: Instant::now(),
            shards: (0..SHARDS)
                .map(|_| {
                    Padded(Mutex::new(LogShard {
                        front: 0,
                        entries: VecDeque::new(),
                        capacity: per_shard,
                    }))
                })
                .collect(),
        }
    }

    fn shard(&self, key: Key) -> std::sync::MutexGuard<'_, LogShard<V>> {
        self.shards[key.shard()].lock()
    }

    /// Keeps `value` for `key` for `ttl`: returns its sequence number, and what making room
    /// cost.
    pub fn append(&self, key: Key, value: V, ttl: Duration) -> (u32, Evicted) {
        let (now, expires) = now_and_end(self.epoch, ttl);
        let mut shard = self.shard(key);
        let mut evicted = Evicted::default();
        // A bounded number per call, as in `Shard::tidy`.
        for _ in 0..8 {
            let Some(front) = shard.entries.front() else {
                break;
            };
            let full = shard.entries.len() >= shard.capacity;
            if front.expires > now && !full {
                break;
            }
            if front.expires > now {
                evicted.count += 1;
            }
            shard.entries.pop_front();
            shard.front = shard.front.wrapping_add(1);
        }
        let seq = shard.front.wrapping_add(shard.entries.len() as u32);
        shard.entries.push_back(Logged {
            key,
            expires,
            value,
        });
        (seq, evicted)
    }

    /// The value appended for `key` as `seq`, if it is still kept. Any `seq` may be asked
    /// for: one that is not `key`'s (gone, or never appended) finds nothing.
    pub fn get(&self, key: Key, seq: u32) -> Option<V> {
        let (now, _) = now_and_end(self.epoch, Duration::ZERO);
        let shard = self.shard(key);
        let index = seq.wrapping_sub(shard.front) as usize;
        shard
            .entries
            .get(index)
            .filter(|e| e.key == key && e.expires > now)
            .map(|e| e.value.clone())
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().entries.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_claimed_once() {
        let keys = KeyMaker::default();
        let t: Table<u8> = Table::new(100);
        let k = keys.key("a");
        assert_eq!(t.claim(k, 1, Duration::from_secs(60)).0, None);
        assert_eq!(t.claim(k, 2, Duration::from_secs(60)).0, Some(1));
        assert_eq!(t.get(k), Some(1));
        assert_eq!(t.get(keys.key("b")), None);
        // Times are whole seconds, rounded up: a zero lifetime ends at the next second.
        let gone = keys.key("c");
        t.insert(gone, 3, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(t.get(gone), None, "a zero lifetime has expired");
    }

    #[test]
    fn the_total_is_bounded_and_the_oldest_go_first() {
        let keys = KeyMaker::default();
        let t: Table<u32> = Table::new(SHARDS * 10);
        let mut evicted = 0;
        for i in 0..(SHARDS * 50) as u32 {
            evicted += t
                .insert(keys.key(&i.to_string()), i, Duration::from_secs(600))
                .count;
        }
        assert!(t.len() <= SHARDS * 10, "{}", t.len());
        assert!(evicted >= SHARDS * 40 - SHARDS, "{evicted}");
        // The newest are still there.
        let last = (SHARDS * 50 - 1) as u32;
        assert_eq!(t.get(keys.key(&last.to_string())), Some(last));
    }

    #[test]
    fn a_log_finds_a_value_by_its_key_and_number_until_it_leaves() {
        let keys = KeyMaker::default();
        let log: Log<u32> = Log::new(SHARDS * 4);
        let (a, b) = (keys.key("a"), keys.key("b"));
        let (seq_a, _) = log.append(a, 1, Duration::from_secs(60));
        let (seq_b, _) = log.append(b, 2, Duration::from_secs(60));
        assert_eq!(log.get(a, seq_a), Some(1));
        assert_eq!(log.get(b, seq_b), Some(2));
        // Another key's number, or a number never given, finds nothing.
        let c = (0..)
            .map(|i| keys.key(&format!("c{i}")))
            .find(|c| c.shard() == a.shard())
            .unwrap();
        let (seq_c, _) = log.append(c, 3, Duration::from_secs(60));
        assert_eq!(log.get(a, seq_c), None);
        assert_eq!(log.get(c, seq_c), Some(3));
        assert_eq!(log.get(a, u32::MAX), None);
        assert_eq!(log.get(a, seq_a.wrapping_add(1000)), None);
        // Expired: found no more.
        let gone = keys.key("gone");
        let (seq, _) = log.append(gone, 4, Duration::ZERO);
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(log.get(gone, seq), None);
    }

    #[test]
    fn a_log_is_bounded_and_the_oldest_go_first() {
        let keys = KeyMaker::default();
        let log: Log<u32> = Log::new(SHARDS * 10);
        let mut kept = Vec::new();
        let mut evicted = 0;
        for i in 0..(SHARDS * 50) as u32 {
            let key = keys.key(&i.to_string());
            let (seq, e) = log.append(key, i, Duration::from_secs(600));
            evicted += e.count;
            kept.push((key, seq, i));
        }
        assert!(log.len() <= SHARDS * 10, "{}", log.len());
        assert!(evicted >= SHARDS * 40 - SHARDS, "{evicted}");
        let found: Vec<u32> = kept
            .iter()
            .filter_map(|&(key, seq, _)| log.get(key, seq))
            .collect();
        assert_eq!(found.len(), log.len(), "every value still kept is found");
        // The newest are among them, each under its own key and number.
        let &(key, seq, last) = kept.last().unwrap();
        assert_eq!(log.get(key, seq), Some(last));
    }

    #[test]
    fn a_log_finds_values_across_the_wrap_of_its_numbers() {
        let keys = KeyMaker::default();
        let log: Log<u32> = Log::new(SHARDS * 4);
        let key = keys.key("k");
        // As if four billion values had gone through this shard.
        log.shard(key).front = u32::MAX - 1;
        let appended: Vec<_> = (0..4)
            .map(|i| (i, log.append(key, i, Duration::from_secs(60)).0))
            .collect();
        assert_eq!(appended[2].1, 0, "the numbers wrap");
        for (i, seq) in appended {
            assert_eq!(log.get(key, seq), Some(i));
        }
    }

    #[test]
    fn keys_are_distinct_and_entries_small() {
        let keys = KeyMaker::default();
        let a = keys.key("x");
        let b = keys.key("x");
        assert_eq!(a, b);
        assert_ne!(a, keys.key("y"));
        // What the module comment promises.
        assert_eq!(std::mem::size_of::<(Key, Slot<()>)>(), 20);
        assert_eq!(std::mem::size_of::<(Key, Slot<u32>)>(), 24);
        assert_eq!(std::mem::size_of::<Logged<std::sync::Arc<[u8]>>>(), 40);
        assert_eq!(std::mem::size_of::<(u32, Key)>(), 20);
    }
}
