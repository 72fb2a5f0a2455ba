//! The shared-state mechanisms in this process's memory: the embedded deployment (one
//! instance), and what the Redis ones use for copies that reach the same instance and while
//! Redis is unreachable.
//!
//! What is remembered is bounded by `WXGATE_PUSH_MEMORY` entries per structure: a push is a
//! finished-run entry and a (timestamp, nonce) claim, two [`Table`] entries, for as long as its
//! timestamp is accepted, plus its reply in a [`Log`] while WeChat may still retry; the
//! finished-run entry holds the reply's number in the log, so that storing a reply writes the
//! log's back in sequence rather than a third random place in memory. What that costs in bytes
//! is measured by the ignored test `what_a_push_costs` below. Work in flight (a push being
//! handled, a code being exchanged) is in a small map of its own, with a channel its copies
//! wait on.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::FutureExt;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::table::{Evicted, Key, KeyHasher, KeyMaker, Log, Padded, SHARDS, Table};

/// A [`Key`] is already a keyed hash: the map uses it as it is.
type KeyHashing = std::hash::BuildHasherDefault<KeyHasher>;
use super::{Claims, Flights, Held, Locks, Work};
use crate::throttled_log::ThrottledLog;

/// The result number of a finished run whose result is not kept. Any number would do: a
/// number is only ever looked up with its run's key, and another run's result does not match.
const NO_RESULT: u32 = u32::MAX;

/// A finished run as copies get it: `None` when the work panicked.
type Finished = Option<Bytes>;

/// One shard of the runs in progress.
type Running = HashMap<Key, Option<watch::Sender<Option<Finished>>>, KeyHashing>;

#[derive(Clone, Debug)]
pub struct Memory(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    keys: KeyMaker,
    /// Finished runs, for `keep`, each with the number of its result in `results` (or
    /// [`NO_RESULT`]).
    done: Table<u32>,
    /// Their results, for `keep_result`: a reply in one allocation of its exact length, in the
    /// order the runs finished.
    results: Log<Arc<[u8]>>,
    /// Runs in progress, with the channel their copies wait on once a copy waits (most runs
    /// have no copy, and no channel); in shards, as the tables are, so that two pushes lock
    /// the same map only when they share a shard.
    running: Vec<Padded<Mutex<Running>>>,
    claims: Table<Claimed>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    capacity: usize,
    full: ThrottledLog,
}

/// A claimed value, inline: values longer than 16 bytes are kept as their SHA-256's first 16.
#[derive(Clone, Copy, Debug)]
struct Claimed {
    len: u8,
    bytes: [u8; 16],
}

impl Claimed {
    fn new(value: &[u8]) -> Self {
        let mut bytes = [0u8; 16];
        if value.len() <= 16 {
            bytes[..value.len()].copy_from_slice(value);
            Claimed {
                len: value.len() as u8,
                bytes,
            }
        } else {
            bytes.copy_from_slice(&Sha256::digest(value)[..16]);
            Claimed { len: 16, bytes }
        }
    }

    fn to_vec(self) -> Vec<u8> {
        self.bytes[..usize::from(self.len)].to_vec()
    }
}

impl Default for Memory {
    fn default() -> Self {
        Memory::new(crate::config::DEFAULT_PUSH_MEMORY)
    }
}

impl Memory {
    /// Remembers at most `capacity` finished runs and as many claims.
    pub fn new(capacity: usize) -> Self {
        Memory(Arc::new(Inner {
            keys: KeyMaker::default(),
            done: Table::new(capacity),
            results: Log::new(capacity),
            running: (0..SHARDS).map(|_| Padded(Mutex::default())).collect(),
            claims: Table::new(capacity),
            locks: Mutex::new(HashMap::new()),
            capacity,
            full: ThrottledLog::default(),
        }))
    }

    /// The shard of the runs in progress that `k` is in.
    fn running(&self, k: Key) -> std::sync::MutexGuard<'_, Running> {
        self.0.running[k.shard()].lock()
    }

    /// Warns (once a minute) when the bound made a table forget entries early.
    fn note(&self, evicted: Evicted) {
        if evicted.count == 0 {
            return;
        }
        if let Some(unlogged) = self.0.full.allow("push memory full") {
            tracing::warn!(
                capacity = self.0.capacity,
                unlogged_since_last = unlogged,
                "WXGATE_PUSH_MEMORY is full: the oldest pushes are forgotten before their timestamps expire (a replay of one would be handled again); raise it if this lasts"
            );
        }
    }

    /// Runs `work` once for `key` in this process (see [`Flights::run`]).
    pub async fn run_local(
        &self,
        key: &str,
        keep: Duration,
        keep_result: Duration,
        work: Work,
    ) -> Option<Bytes> {
        let k = self.0.keys.key(key);
        // A copy of a finished run (WeChat's retry) takes no lock of the runs in progress.
        if let Some(done) = self.finished_key(k) {
            return Some(done);
        }
        let waiting = {
            let mut running = self.running(k);
            // Again under the lock: a run that finishes stores its result before it leaves
            // `running`, so it is in one or the other.
            if let Some(done) = self.finished_key(k) {
                return Some(done);
            }
            match running.entry(k) {
                // A copy: it waits on the run's channel, made by the first copy that waits.
                Entry::Occupied(mut run) => Some(
                    run.get_mut()
                        .get_or_insert_with(|| watch::channel(None).0)
                        .subscribe(),
                ),
                Entry::Vacant(slot) => {
                    slot.insert(None);
                    None
                }
            }
        };
        if let Some(mut rx) = waiting {
            // An error means the run ended without sending: it was cancelled at shutdown.
            let finished = rx.wait_for(Option::is_some).await.ok()?;
            return finished.clone().flatten();
        }
        // The first caller runs the work itself (no task to spawn and wake for the common case
        // of one copy); if it goes away first, the rest is handed to a task ([`Run`]'s drop),
        // so the work is never cut short.
        let mut run = Run {
            memory: self.clone(),
            key: k,
            keep,
            keep_result,
            work: Some(work),
            finished: false,
        };
        let result = match run.work.as_mut() {
            Some(work) => AssertUnwindSafe(work).catch_unwind().await.ok(),
            None => None,
        };
        run.work = None;
        run.finish(Some(result.clone()));
        result
    }

    /// Stores a finished run's result (none: it was cancelled), takes it out of `running` and
    /// tells the copies waiting for it.
    fn finish(&self, k: Key, keep: Duration, keep_result: Duration, result: Option<Finished>) {
        if let Some(Some(r)) = &result {
            let number = if !keep_result.is_zero() && !r.is_empty() {
                let (number, evicted) = self.0.results.append(k, Arc::from(&r[..]), keep_result);
                self.note(evicted);
                number
            } else {
                NO_RESULT
            };
            self.note(self.0.done.insert(k, number, keep));
        }
        let waiting = self.running(k).remove(&k).flatten();
        // Dropped unsent when cancelled: the copies' wait ends with an error.
        if let (Some(tx), Some(result)) = (waiting, result) {
            let _ = tx.send(Some(result));
        }
    }

    /// A finished run's result for `key` (empty once it is no longer kept).
    pub fn finished_local(&self, key: &str) -> Option<Bytes> {
        self.finished_key(self.0.keys.key(key))
    }

    fn finished_key(&self, k: Key) -> Option<Bytes> {
        let number = self.0.done.get(k)?;
        Some(
            self.0
                .results
                .get(k, number)
                .map(Bytes::from_owner)
                .unwrap_or_default(),
        )
    }
}

/// A run in progress, driven by its first caller. Dropped before the work is done (the caller
/// gave up: its connection closed, its timeout passed), it spawns a task that finishes it.
struct Run {
    memory: Memory,
    key: Key,
    keep: Duration,
    keep_result: Duration,
    /// `None` once finished (or handed to the task).
    work: Option<Work>,
    /// Whether it has left `running`. A run dropped unfinished with no work left (its task
    /// was cancelled at shutdown) leaves it then, so that copies waiting for it stop waiting.
    finished: bool,
}

impl Run {
    fn finish(&mut self, result: Option<Finished>) {
        self.finished = true;
        self.memory
            .finish(self.key, self.keep, self.keep_result, result);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let Some(work) = self.work.take() else {
            if !self.finished {
                self.finish(None);
            }
            return;
        };
        // The rest of the run goes to a task; this one no longer answers for it.
        self.finished = true;
        let mut rest = Run {
            memory: self.memory.clone(),
            key: self.key,
            keep: self.keep,
            keep_result: self.keep_result,
            work: None,
            finished: false,
        };
        // Outside a runtime (the process is exiting) there is nothing left to finish it with.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let result = AssertUnwindSafe(work).catch_unwind().await.ok();
                rest.finish(Some(result));
            });
        }
        // Without a runtime, `rest` is dropped here, unfinished: it leaves `running`.
    }
}

#[async_trait]
impl Flights for Memory {
    async fn run(
        &self,
        key: &str,
        _lease: Duration,
        keep: Duration,
        keep_result: Duration,
        work: Work,
    ) -> Option<Bytes> {
        self.run_local(key, keep, keep_result, work).await
    }

    async fn finished(&self, key: &str) -> Option<Bytes> {
        self.finished_local(key)
    }
}

#[async_trait]
impl Claims for Memory {
    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>> {
        let (held, evicted) = self
            .0
            .claims
            .claim(self.0.keys.key(key), Claimed::new(value), ttl);
        self.note(evicted);
        held.map(Claimed::to_vec)
    }
}

#[async_trait]
impl Locks for Memory {
    async fn lock(&self, name: &str, _lease: Duration, wait: Duration) -> Held {
        let mutex = self
            .0
            .locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_owned())
            .or_default()
            .clone();
        match tokio::time::timeout(wait, mutex.lock_owned()).await {
            Ok(guard) => Held(Some(Box::new(guard))),
            Err(_) => {
                tracing::warn!(lock = name, "lock still held after {wait:?}; going ahead");
                Held::nothing()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn counting(runs: &Arc<AtomicUsize>, value: &'static str, delay_ms: u64) -> Work {
        let runs = runs.clone();
        Box::pin(async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Bytes::from_static(value.as_bytes())
        })
    }

    #[tokio::test]
    async fn concurrent_and_later_callers_share_one_run() {
        let m = Memory::new(1000);
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            m.run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "first", 50)),
            m.run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "second", 0)),
        );
        let c = m
            .run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "third", 0))
            .await;
        assert_eq!(
            (a.as_deref(), b.as_deref(), c.as_deref()),
            (
                Some(&b"first"[..]),
                Some(&b"first"[..]),
                Some(&b"first"[..])
            )
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_work() {
        let m = Memory::new(1000);
        let runs = Arc::new(AtomicUsize::new(0));
        let first = tokio::time::timeout(
            Duration::from_millis(20),
            m.run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "late", 100)),
        )
        .await;
        assert!(first.is_err());
        assert_eq!(m.finished("k").await, None, "still running");
        let again = m
            .run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "again", 0))
            .await;
        assert_eq!(again.as_deref(), Some(&b"late"[..]));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn copies_waiting_for_a_run_cancelled_at_shutdown_stop_waiting() {
        let m = Memory::new(1000);
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // The first caller gives up; its work goes on in a task of `first`.
        first.block_on(async {
            let slow: Work = Box::pin(async {
                tokio::time::sleep(Duration::from_secs(600)).await;
                Bytes::new()
            });
            let gave_up = tokio::time::timeout(
                Duration::from_millis(10),
                m.run("k", MINUTE, MINUTE, MINUTE, slow),
            )
            .await;
            assert!(gave_up.is_err());
        });
        let other = tokio::runtime::Runtime::new().unwrap();
        let copy = {
            let m = m.clone();
            other.spawn(async move {
                m.run(
                    "k",
                    MINUTE,
                    MINUTE,
                    MINUTE,
                    Box::pin(async { Bytes::new() }),
                )
                .await
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        // Shutting `first` down cancels the task that was finishing the run.
        drop(first);
        let got = other
            .block_on(async { tokio::time::timeout(Duration::from_secs(5), copy).await })
            .expect("the copy stops waiting")
            .unwrap();
        assert_eq!(got, None, "the run was cancelled: no result");
        // The key is free again: the next copy runs the work.
        let again = other.block_on(m.run(
            "k",
            MINUTE,
            MINUTE,
            MINUTE,
            Box::pin(async { Bytes::from_static(b"again") }),
        ));
        assert_eq!(again.as_deref(), Some(&b"again"[..]));
    }

    #[tokio::test]
    async fn the_result_is_dropped_before_the_key() {
        // keep_result 0: the key is known (a later copy is not run again) but its result gone.
        let m = Memory::new(1000);
        let runs = Arc::new(AtomicUsize::new(0));
        m.run(
            "k",
            MINUTE,
            MINUTE,
            Duration::ZERO,
            counting(&runs, "reply", 0),
        )
        .await;
        let later = m
            .run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "again", 0))
            .await;
        assert_eq!(later.as_deref(), Some(&b""[..]), "known, nothing kept");
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_panicking_run_yields_none_and_is_not_remembered() {
        let m = Memory::new(1000);
        let result = m
            .run(
                "k",
                MINUTE,
                MINUTE,
                MINUTE,
                Box::pin(async { panic!("boom") }),
            )
            .await;
        assert_eq!(result, None);
        let runs = Arc::new(AtomicUsize::new(0));
        let again = m
            .run("k", MINUTE, MINUTE, MINUTE, counting(&runs, "ok", 0))
            .await;
        assert_eq!(again.as_deref(), Some(&b"ok"[..]));
    }

    #[tokio::test]
    async fn a_claim_holds_until_it_expires() {
        let m = Memory::new(1000);
        let ttl = Duration::from_secs(1);
        assert_eq!(m.claim("k", b"a", ttl).await, None);
        assert_eq!(m.claim("k", b"b", ttl).await.as_deref(), Some(&b"a"[..]));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(m.claim("k", b"b", ttl).await, None);
    }

    #[tokio::test]
    async fn a_lock_has_one_holder_at_a_time() {
        let m = Memory::default();
        let held = m
            .lock("x", Duration::from_secs(5), Duration::from_secs(5))
            .await;
        let waiting = {
            let m = m.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let _second = m
                    .lock("x", Duration::from_secs(5), Duration::from_secs(5))
                    .await;
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(held);
        assert!(waiting.await.unwrap() >= Duration::from_millis(90));
    }

    /// What a remembered push costs: run with
    /// `cargo test --release -p wxgate --lib what_a_push_costs -- --ignored --nocapture`.
    #[tokio::test]
    #[ignore = "a measurement, not a check: prints bytes per push"]
    async fn what_a_push_costs() {
        fn rss() -> usize {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
            let pages: usize = statm
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            pages * 4096
        }
        const N: usize = 1_000_000;
        let window = Duration::from_secs(300);
        let m = Memory::new(N);
        let before = rss();
        for i in 0..N {
            let key = format!(
                "push:o6_bmjrPTlm6_2sgVt7hMZOPfL2M:{}",
                7_000_000_000u64 + i as u64
            );
            m.run(
                &key,
                MINUTE,
                window,
                Duration::ZERO,
                Box::pin(async { Bytes::new() }),
            )
            .await;
            m.claim(
                &format!("sig:{i}:nonce{i}"),
                b"0123456789abcdef0123",
                window,
            )
            .await;
        }
        let keys_only = rss();
        eprintln!(
            "{N} pushes remembered: {} bytes each (a key and a signature binding)",
            (keys_only - before) / N
        );
        let reply = Bytes::from(vec![b'r'; 100]);
        for i in 0..N {
            let reply = reply.clone();
            m.run(
                &format!("with-reply:{i}"),
                MINUTE,
                window,
                MINUTE,
                Box::pin(async move { reply }),
            )
            .await;
        }
        eprintln!(
            "{N} more with a 100-byte reply kept: {} bytes each",
            (rss() - keys_only) / N
        );
    }
}
