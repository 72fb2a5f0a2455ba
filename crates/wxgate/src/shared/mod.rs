//! State that every instance of wxgate must see alike, for the guarantees in README to hold
//! when several instances serve one account: the deduplication of WeChat's pushes with their
//! stored replies, the (timestamp, nonce) bindings, exactly-once markers, the code exchange of
//! a login, and the lock around token fetches.
//!
//! Three small mechanisms cover all of it, each a trait with two implementations chosen at
//! start-up — [`memory`] for the embedded deployment (one process) and [`redis`] when
//! `WXGATE_REDIS_URL` is set. The code that uses them does not know which it has:
//!
//! - [`Flights`]: run a piece of work once per key across instances and remember its result
//!   (push dedup, OAuth callbacks that arrive twice);
//! - [`Claims`]: set a key unless it is set, and say what it held ((timestamp, nonce) → body,
//!   the late-reply marker);
//! - [`Locks`]: a lease that one instance holds while it fetches a token.
//!
//! Every lease and entry expires, so an instance killed mid-way (SIGKILL) leaves nothing held
//! for ever. When Redis is unreachable the Redis implementation falls back to this instance's
//! memory and warns once a minute: a rare duplicate beats a lost message.

pub mod memory;
pub mod redis;
mod table;

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

/// A piece of work for [`Flights::run`]; its result is opaque bytes (a reply's XML, a login's
/// outcome as JSON), so that it can be stored anywhere.
pub type Work = Pin<Box<dyn Future<Output = Bytes> + Send + 'static>>;

#[async_trait]
pub trait Flights: Send + Sync + Debug + 'static {
    /// The result of the work for `key`. The first caller anywhere runs `work` (in its own
    /// task: a caller that stops waiting does not cancel it); a caller arriving while it runs
    /// — on this instance or another — waits for its result, and a later one gets the stored
    /// result for `keep_result` after the run, then an empty result (the key is known, the
    /// work is not run again) until `keep`. If the instance running it disappears, the others
    /// take over once `lease` has passed. `None` when the work panicked.
    async fn run(
        &self,
        key: &str,
        lease: Duration,
        keep: Duration,
        keep_result: Duration,
        work: Work,
    ) -> Option<Bytes>;

    /// The stored result for `key`, if a run finished; never waits or runs anything.
    async fn finished(&self, key: &str) -> Option<Bytes>;
}

#[async_trait]
pub trait Claims: Send + Sync + Debug + 'static {
    /// Stores `value` under `key` for `ttl` unless the key holds a value already; returns the
    /// value it held (`None`: this call claimed it).
    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>>;
}

#[async_trait]
pub trait Locks: Send + Sync + Debug + 'static {
    /// Waits (up to `wait`) until no other holder has `name`, then holds it for at most
    /// `lease`, or until the returned guard is dropped. Past `wait` it goes ahead without the
    /// lock, with a warning: a second fetch beats a stalled caller.
    async fn lock(&self, name: &str, lease: Duration, wait: Duration) -> Held;
}

/// A held lock: released when dropped.
pub struct Held(#[allow(dead_code)] Option<Box<dyn Send + Sync>>);

impl Held {
    pub fn nothing() -> Self {
        Held(None)
    }
}

impl Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// The mechanisms this instance uses, and the Redis connection when there is one (for sessions
/// and readiness).
#[derive(Clone, Debug)]
pub struct Shared {
    pub flights: Arc<dyn Flights>,
    pub claims: Arc<dyn Claims>,
    pub locks: Arc<dyn Locks>,
    pub redis: Option<self::redis::Redis>,
}

impl Shared {
    /// One instance: everything in this process's memory, at most `capacity` pushes remembered
    /// (`WXGATE_PUSH_MEMORY`).
    pub fn memory(capacity: usize) -> Self {
        let memory = memory::Memory::new(capacity);
        Shared {
            flights: Arc::new(memory.clone()),
            claims: Arc::new(memory.clone()),
            locks: Arc::new(memory),
            redis: None,
        }
    }

    /// Several instances: everything in Redis at `url`, under `prefix`, with `capacity` for
    /// this instance's own memory (copies that reach it, and while Redis is unreachable).
    /// Connects lazily, so a Redis that is down at start-up does not stop the server.
    pub fn redis(url: &str, prefix: &str, capacity: usize) -> Result<Self, String> {
        let redis = self::redis::Redis::new(url, prefix, capacity)?;
        Ok(Shared {
            flights: Arc::new(redis.clone()),
            claims: Arc::new(redis.clone()),
            locks: Arc::new(redis.clone()),
            redis: Some(redis),
        })
    }
}
