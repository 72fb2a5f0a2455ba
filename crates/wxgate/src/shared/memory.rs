//! The shared-state mechanisms in this process's memory: the embedded deployment (one
//! instance), and the fallback of the Redis ones while Redis is unreachable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Claims, Flights, Held, Locks, Work};
use crate::single_flight::SingleFlight;

#[derive(Clone, Debug, Default)]
pub struct Memory {
    flights: Arc<SingleFlight<Bytes>>,
    claims: Arc<Mutex<ClaimMap>>,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

#[derive(Debug, Default)]
struct ClaimMap {
    /// key → (forget at, value).
    entries: HashMap<String, (Instant, Vec<u8>)>,
    /// Expired entries are dropped when the map reaches this size, which then doubles what is
    /// left: the cost of a sweep is spread over the inserts that made it necessary.
    prune_at: usize,
}

#[async_trait]
impl Flights for Memory {
    async fn run(&self, key: &str, _lease: Duration, keep: Duration, work: Work) -> Option<Bytes> {
        self.flights.run(key, keep, work).await
    }

    async fn finished(&self, key: &str) -> Option<Bytes> {
        self.flights.finished(key)
    }
}

#[async_trait]
impl Claims for Memory {
    async fn claim(&self, key: &str, value: &[u8], ttl: Duration) -> Option<Vec<u8>> {
        let now = Instant::now();
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.entries.len() >= claims.prune_at {
            claims.entries.retain(|_, (until, _)| *until > now);
            claims.prune_at = (claims.entries.len() * 2).max(4096);
        }
        match claims.entries.get(key) {
            Some((until, held)) if *until > now => Some(held.clone()),
            _ => {
                claims
                    .entries
                    .insert(key.to_owned(), (now + ttl, value.to_vec()));
                None
            }
        }
    }
}

#[async_trait]
impl Locks for Memory {
    async fn lock(&self, name: &str, _lease: Duration, wait: Duration) -> Held {
        let mutex = self
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
    use super::*;

    #[tokio::test]
    async fn a_claim_holds_until_it_expires() {
        let m = Memory::default();
        let ttl = Duration::from_millis(50);
        assert_eq!(m.claim("k", b"a", ttl).await, None);
        assert_eq!(m.claim("k", b"b", ttl).await.as_deref(), Some(&b"a"[..]));
        tokio::time::sleep(Duration::from_millis(60)).await;
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
}
