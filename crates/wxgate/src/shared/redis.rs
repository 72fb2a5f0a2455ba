//! The shared-state mechanisms in Redis (`WXGATE_REDIS_URL`), for several instances.
//!
//! Every key starts with `WXGATE_REDIS_PREFIX` (default `wxgate:<appid>:`), so several
//! accounts, or test runs, can share one Redis. Every key has an expiry. Each command gets
//! [`OP_TIMEOUT`]; a failure falls back to this instance's [`Memory`] with one warning a minute,
//! and the connection is re-established by itself when Redis is back.
//!
//! Keys: `flight:<key>` holds `P` while an instance runs the work (with the lease as expiry)
//! and `D` after, and `result:<key>` the result while it is kept; `claim:<key>` a claimed
//! value; `lock:<name>` the holder's random token; `session:<id>` a browser session
//! ([`crate::sessions`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::memory::Memory;
use super::{Claims, Flights, Held, Locks, Work};
use crate::throttled_log::ThrottledLog;

/// How long one Redis command may take before the caller falls back: Redis answers in well
/// under a millisecond, so a second means it is gone or stuck.
const OP_TIMEOUT: Duration = Duration::from_millis(1000);
/// How often a copy polls while another instance runs the work (doubling up to the maximum).
const POLL_FIRST: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(50);

/// Sets KEYS[1] to ARGV[1] for ARGV[2] ms unless it is set; returns what it held. (One script
/// rather than `SET … NX GET`, which needs Redis 7.)
const CLAIM: &str = r"
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
";
/// Deletes KEYS[1] only if it still holds ARGV[1]: a lock whose lease ran out and was taken by
/// another instance is not released by its former holder.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

#[derive(Clone)]
pub struct Redis(Arc<Inner>);

struct Inner {
    connection: ConnectionManager,
    prefix: String,
    /// Copies of a push that reach this instance wait here, not in Redis; also what is used
    /// while Redis is unreachable.
    local: Memory,
    warnings: ThrottledLog,
    claim: redis::Script,
    release: redis::Script,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may carry a password.
        f.debug_struct("Redis")
            .field("prefix", &self.0.prefix)
            .finish()
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().clamp(1, u64::MAX as u128) as u64
}

impl Redis {
    /// A client for `url` (redis://[user:password@]host[:port][/db]); nothing is connected
    /// until first use.
    pub fn new(url: &str, prefix: &str, capacity: usize) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(OP_TIMEOUT))
            .set_response_timeout(Some(OP_TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(|e| e.to_string())?;
        Ok(Redis(Arc::new(Inner {
            connection,
            prefix: prefix.to_owned(),
            local: Memory::new(capacity),
            warnings: ThrottledLog::default(),
            claim: redis::Script::new(CLAIM),
            release: redis::Script::new(RELEASE),
        })))
    }

    pub fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The full key for `name` in `space`.
    pub fn key(&self, space: &str, name: &str) -> String {
        format!("{}{space}:{name}", self.0.prefix)
    }

    /// Runs one command with [`OP_TIMEOUT`]. A command that meets a connection Redis dropped
    /// (it restarted) is tried once more on the new connection the manager makes: the first
    /// request after Redis comes back then works too.
    async fn attempt<T, F, Fut>(&self, call: F) -> Result<T, String>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        for retry in [false, true] {
            match tokio::time::timeout(OP_TIMEOUT, call(self.0.connection.clone())).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if !retry && e.is_connection_dropped() => continue,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err(format!("no answer within {OP_TIMEOUT:?}")),
            }
        }
        unreachable!("the loop returns on its second turn")
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, String> {
        self.attempt(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// Whether Redis answers now.
    pub async fn ping(&self) -> Result<(), String> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        (pong == "PONG")
            .then_some(())
            .ok_or_else(|| format!("PING answered {pong:?}"))
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), String> {
        self.query::<()>(redis::cmd("SET").arg(key).arg(value).arg("PX").arg(ms(ttl)))
            .await
    }

    /// SET NX: `true` when this call set the key.
    pub async fn set_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, String> {
        let done: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("NX")
                    .arg("PX")
                    .arg(ms(ttl)),
            )
            .await?;
        Ok(done.is_some())
    }

    pub async fn delete(&self, key: &str) -> Result<(), String> {
        self.query::<()>(redis::cmd("DEL").arg(key)).await
    }

    async fn script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        key: &str,
        args: &[&[u8]],
    ) -> Result<T, String> {
        let mut invocation = script.key(key);
        for a in args {
            invocation.arg(*a);
        }
        let invocation = &invocation;
        self.attempt(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await
    }

    /// One warning a minute while Redis fails, saying what this instance does instead.
    fn degraded(&self, doing: &'static str, error: &str) {
        if let Some(unlogged) = self.0.warnings.allow("redis") {
            tracing::warn!(
                error,
                fallback = doing,
                unlogged_since_last = unlogged,
                "Redis is unreachable: this instance uses its own memory until it is back"
            );
        }
    }

    /// The work for `key`, run once across instances (see [`Flights::run`]).
    async fn run_shared(
        &self,
        key: &str,
        lease: Duration,
        keep: Duration,
        keep_result: Duration,
        work: Work,
    ) -> Bytes {
        let flight = self.key("flight", key);
        let result_key = self.key("result", key);
        let mut poll = POLL_FIRST;
        loop {
            match self.set_new(&flight, b"P", lease).await {
                Ok(true) => {
                    let result = work.await;
                    let mut done = redis::pipe();
                    done.cmd("SET")
                        .arg(&flight)
                        .arg("D")
                        .arg("PX")
                        .arg(ms(keep))
                        .ignore();
                    if !keep_result.is_zero() {
                        done.cmd("SET")
                            .arg(&result_key)
                            .arg(result.as_ref())
                            .arg("PX")
                            .arg(ms(keep_result))
                            .ignore();
                    }
                    let mut connection = self.0.connection.clone();
                    let stored =
                        tokio::time::timeout(OP_TIMEOUT, done.query_async::<()>(&mut connection))
                            .await;
                    if !matches!(stored, Ok(Ok(()))) {
                        self.degraded(
                            "a finished result is not stored for other instances",
                            "storing the result failed",
                        );
                    }
                    return result;
                }
                Ok(false) => {}
                Err(e) => {
                    self.degraded("deduplicating within this instance only", &e);
                    return work.await;
                }
            }
            // Another instance has it: wait for its result, or for its lease to run out.
            match self.get(&flight).await {
                Ok(Some(held)) if held.first() == Some(&b'D') => {
                    // Done: its result, if still kept (else nothing: the work is not run again).
                    return match self.get(&result_key).await {
                        Ok(Some(result)) => Bytes::from(result),
                        _ => Bytes::new(),
                    };
                }
                Ok(Some(_)) => {
                    tokio::time::sleep(poll).await;
                    poll = (poll * 2).min(POLL_MAX);
                }
                Ok(None) => {} // its lease just ran out: take over
                Err(e) => {
                    self.degraded("deduplicating within this instance only", &e);
                    return work.await;
                }
            }
        }
    }
}

#[async_trait]
impl Flights for Redis {
    async fn run(
        &self,
        key: &str,
        lease: Duration,
        keep: Duration,
        keep_result: Duration,
        work: Work,
    ) -> Option<Bytes> {
        let this = self.clone();
        let owned = key.to_owned();
        let shared = Box::pin(async move {
            this.run_shared(&owned, lease, keep, keep_result, work)
                .await
        });
        self.0.local.run_local(key, keep, keep_result, shared).await
    }

    async fn finished(&self, key: &str) -> Option<Bytes> {
        if let Some(done) = self.0.local.finished_local(key) {
            return Some(done);
        }
        match self.get(&self.key("flight", key)).await {
            Ok(Some(held)) if held.first() == Some(&b'D') => {
                match self.get(&self.key("result", key)).await {
                    Ok(Some(result)) => Some(Bytes::from(result)),
                    _ => Some(Bytes::new()),
                }
            }
            Ok(_) => None,
            Err(e) => {
                self.degraded("looking in this instance only", &e);
                None
            }
        }
    }
}

#[async_trait]
impl Claims for Redis {
    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>> {
        let ttl_ms = ms(ttl).to_string();
        match self
            .script::<Option<Vec<u8>>>(
                &self.0.claim,
                &self.key("claim", key),
                &[value, ttl_ms.as_bytes()],
            )
            .await
        {
            Ok(held) => held,
            Err(e) => {
                self.degraded("claims are checked within this instance only", &e);
                self.0.local.claim(key, value, ttl).await
            }
        }
    }
}

/// A Redis lock: released (if still ours) when dropped.
struct RedisHeld {
    redis: Redis,
    key: String,
    token: String,
}

impl Drop for RedisHeld {
    fn drop(&mut self) {
        let redis = self.redis.clone();
        let key = std::mem::take(&mut self.key);
        let token = std::mem::take(&mut self.token);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released: Result<i64, String> = redis
                    .script(&redis.0.release, &key, &[token.as_bytes()])
                    .await;
                if let Err(e) = released {
                    // The lease expires by itself.
                    tracing::debug!(error = %e, "could not release a lock");
                }
            });
        }
    }
}

#[async_trait]
impl Locks for Redis {
    async fn lock(&self, name: &str, lease: Duration, wait: Duration) -> Held {
        let key = self.key("lock", name);
        let token = wechat::signature::nonce();
        let started = std::time::Instant::now();
        let mut poll = POLL_FIRST;
        loop {
            match self.set_new(&key, token.as_bytes(), lease).await {
                Ok(true) => {
                    return Held(Some(Box::new(RedisHeld {
                        redis: self.clone(),
                        key,
                        token,
                    })));
                }
                Ok(false) if started.elapsed() < wait => {
                    tokio::time::sleep(poll).await;
                    poll = (poll * 2).min(POLL_MAX);
                }
                Ok(false) => {
                    tracing::warn!(lock = name, "lock still held after {wait:?}; going ahead");
                    return Held::nothing();
                }
                Err(e) => {
                    self.degraded("locking within this instance only", &e);
                    return self.0.local.lock(name, lease, wait).await;
                }
            }
        }
    }
}
