//! Cached platform credentials — the base access_token and the JS-SDK jsapi_ticket — done so
//! that none of the failures in docs/field-lessons.md rows 1–7 can happen:
//!
//! - **lazy**: nothing is fetched until first needed, so a wrong IP whitelist cannot stop a
//!   server from starting;
//! - **persisted** through a [`CredentialStore`], so a restart (or a CLI command in another
//!   process) reuses the stored value instead of spending the 2000-a-day quota;
//! - **single-flight**: any number of concurrent callers at expiry cause exactly one fetch;
//! - **refreshed ahead of expiry** in the background, `margin` before it lapses;
//! - **compare-and-invalidate**: when an API says the value is invalid (40001/40014/42001), it
//!   is refetched only if the cached value is still the one that failed — another caller may
//!   have replaced it already — and the call is retried once, never in a loop;
//! - **forced refreshes are rationed** (stable_token allows 20 a day, 30 s apart).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::client::Error;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Beijing-time day number: WeChat's daily quotas reset at midnight in China.
fn beijing_day(unix: i64) -> i64 {
    (unix + 8 * 3600).div_euclid(86_400)
}

/// A fetched value with its bookkeeping, as stored.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stored {
    pub value: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub fetched_at: i64,
    /// How many times this credential was fetched from WeChat, ever.
    pub fetch_count: i64,
    /// Forced refreshes on `forced_day` (Beijing day number), and when the last one was.
    pub forced_today: i64,
    pub forced_day: i64,
    pub last_forced_at: i64,
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .field("fetch_count", &self.fetch_count)
            .finish()
    }
}

/// Where credentials persist (the server's database). `kind` names the credential
/// (`access_token`, `jsapi_ticket`) and includes the AppID when several accounts share a store.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    async fn load(&self, kind: &str) -> Result<Option<Stored>, String>;
    async fn save(&self, kind: &str, stored: &Stored) -> Result<(), String>;
}

/// What a fetch returns: the value and its lifetime in seconds.
pub struct Fetched {
    pub value: String,
    pub expires_in: i64,
}

type FetchFuture = Pin<Box<dyn Future<Output = Result<Fetched, Error>> + Send>>;
/// Fetches a fresh value; `force` asks WeChat to replace a value it still considers valid
/// (stable_token's `force_refresh`).
pub type Fetcher = Arc<dyn Fn(bool) -> FetchFuture + Send + Sync>;

/// How forced refreshes are rationed (stable_token: 20 a day, at least 30 s apart).
#[derive(Clone, Copy, Debug)]
pub struct ForcePolicy {
    pub per_day: i64,
    pub min_interval: Duration,
}

impl ForcePolicy {
    pub const STABLE_TOKEN: ForcePolicy = ForcePolicy {
        per_day: 20,
        min_interval: Duration::from_secs(30),
    };
}

/// What `status` reports: never the value itself.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub kind: String,
    pub cached: bool,
    pub expires_at: Option<i64>,
    pub expires_in: Option<i64>,
    pub fetched_at: Option<i64>,
    pub fetch_count: i64,
    pub forced_today: i64,
    pub last_error: Option<String>,
}

struct Inner {
    kind: String,
    fetch: Fetcher,
    store: Arc<dyn CredentialStore>,
    force: Option<ForcePolicy>,
    /// Refresh this long before expiry.
    margin: Duration,
    cached: Mutex<Option<Stored>>,
    last_error: Mutex<Option<String>>,
    /// Held while fetching: the single flight.
    flight: tokio::sync::Mutex<()>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// One cached credential. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Credential(Arc<Inner>);

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("kind", &self.0.kind)
            .finish()
    }
}

impl Credential {
    pub fn new(
        kind: impl Into<String>,
        fetch: Fetcher,
        store: Arc<dyn CredentialStore>,
        force: Option<ForcePolicy>,
    ) -> Self {
        Credential(Arc::new(Inner {
            kind: kind.into(),
            fetch,
            store,
            force,
            margin: Duration::from_secs(300),
            cached: Mutex::new(None),
            last_error: Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
            background: Mutex::new(None),
        }))
    }

    fn margin_for(&self, stored: &Stored) -> i64 {
        // Never more than half the lifetime, so short-lived values are still used.
        let life = (stored.expires_at - stored.fetched_at).max(0);
        (self.0.margin.as_secs() as i64).min(life / 2)
    }

    fn is_fresh(&self, stored: &Stored) -> bool {
        now() < stored.expires_at - self.margin_for(stored)
    }

    fn cached(&self) -> Option<Stored> {
        self.0
            .cached
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A value WeChat accepts now: the cache, else the store, else one fetch shared by every
    /// concurrent caller.
    pub async fn get(&self) -> Result<String, Error> {
        if let Some(s) = self.cached().filter(|s| self.is_fresh(s)) {
            return Ok(s.value);
        }
        let _flight = self.0.flight.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(s) = self.cached().filter(|s| self.is_fresh(s)) {
            return Ok(s.value);
        }
        if let Ok(Some(s)) = self.0.store.load(&self.0.kind).await
            && self.is_fresh(&s)
        {
            self.remember(s.clone());
            return Ok(s.value);
        }
        self.fetch_locked(false).await
    }

    /// Called when WeChat rejected `failed` as invalid or expired: replaces it unless someone
    /// already did, and returns the value to retry with.
    pub async fn replace(&self, failed: &str) -> Result<String, Error> {
        let _flight = self.0.flight.lock().await;
        if let Some(s) = self.cached()
            && s.value != failed
            && self.is_fresh(&s)
        {
            return Ok(s.value);
        }
        // Another process may have replaced it in the store.
        if let Ok(Some(s)) = self.0.store.load(&self.0.kind).await
            && s.value != failed
            && self.is_fresh(&s)
        {
            self.remember(s.clone());
            return Ok(s.value);
        }
        self.fetch_locked(true).await
    }

    /// Fetches with the flight lock held. `want_force`: the current value was rejected.
    async fn fetch_locked(&self, want_force: bool) -> Result<String, Error> {
        let previous = match self.cached() {
            Some(s) => Some(s),
            None => self.0.store.load(&self.0.kind).await.ok().flatten(),
        };
        let t = now();
        let today = beijing_day(t);
        let mut forced_today = previous
            .as_ref()
            .filter(|p| p.forced_day == today)
            .map_or(0, |p| p.forced_today);
        let last_forced_at = previous.as_ref().map_or(0, |p| p.last_forced_at);
        let force = want_force
            && self.0.force.is_some_and(|policy| {
                forced_today < policy.per_day
                    && t - last_forced_at >= policy.min_interval.as_secs() as i64
            });
        if want_force && self.0.force.is_some() && !force {
            tracing::warn!(
                kind = %self.0.kind,
                forced_today,
                "forced refresh withheld (20 a day, 30 s apart); fetching normally"
            );
        }
        let fetched = match (self.0.fetch)(force).await {
            Ok(f) => f,
            Err(e) => {
                *self.0.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                return Err(e);
            }
        };
        if force {
            forced_today += 1;
        }
        let stored = Stored {
            value: fetched.value,
            expires_at: t + fetched.expires_in,
            fetched_at: t,
            fetch_count: previous.as_ref().map_or(0, |p| p.fetch_count) + 1,
            forced_today,
            forced_day: today,
            last_forced_at: if force { t } else { last_forced_at },
        };
        if let Err(e) = self.0.store.save(&self.0.kind, &stored).await {
            // The value still works; only a restart would fetch again.
            tracing::warn!(kind = %self.0.kind, error = %e, "could not persist the credential");
        }
        *self.0.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!(
            kind = %self.0.kind,
            expires_in = fetched.expires_in,
            fetch_count = stored.fetch_count,
            forced = force,
            "fetched from WeChat"
        );
        let value = stored.value.clone();
        self.remember(stored);
        Ok(value)
    }

    /// Caches `stored` and schedules the background refresh `margin` before it expires.
    fn remember(&self, stored: Stored) {
        let refresh_in = (stored.expires_at - self.margin_for(&stored) - now()).max(1) as u64;
        *self.0.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some(stored);
        // Without a runtime (a plain unit test) there is simply no background refresh.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak = Arc::downgrade(&self.0);
        let task = runtime.spawn(async move {
            tokio::time::sleep(Duration::from_secs(refresh_in)).await;
            if let Some(inner) = weak.upgrade() {
                let credential = Credential(inner);
                if let Err(e) = credential.get().await {
                    tracing::warn!(kind = %credential.0.kind, error = %e, "background refresh failed; will retry on next use");
                }
            }
        });
        if let Some(old) = self
            .0
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    /// Runs an API call with the credential; on 40001/40014/42001 replaces it (compare-and-
    /// invalidate) and retries exactly once. Transport errors are never retried here, so a
    /// non-idempotent call that timed out is not repeated.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let value = self.get().await?;
        match call(value.clone()).await {
            Err(e) if e.errcode().is_some_and(|c| c.is_token_invalid()) => {
                tracing::info!(kind = %self.0.kind, errcode = ?e.errcode(), "rejected by WeChat; replacing and retrying once");
                let fresh = self.replace(&value).await?;
                call(fresh).await
            }
            other => other,
        }
    }

    /// Expiry, counts and the last error, from the cache or the store. Never the value.
    pub async fn status(&self) -> Status {
        let stored = match self.cached() {
            Some(s) => Some(s),
            None => self.0.store.load(&self.0.kind).await.ok().flatten(),
        };
        let t = now();
        Status {
            kind: self.0.kind.clone(),
            cached: stored.as_ref().is_some_and(|s| s.expires_at > t),
            expires_at: stored.as_ref().map(|s| s.expires_at),
            expires_in: stored.as_ref().map(|s| s.expires_at - t),
            fetched_at: stored.as_ref().map(|s| s.fetched_at),
            fetch_count: stored.as_ref().map_or(0, |s| s.fetch_count),
            forced_today: stored
                .as_ref()
                .filter(|s| s.forced_day == beijing_day(t))
                .map_or(0, |s| s.forced_today),
            last_error: self
                .0
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self
            .background
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

/// A store that keeps nothing beyond the process (tests, one-shot tools).
#[derive(Debug, Default)]
pub struct MemoryStore(Mutex<std::collections::HashMap<String, Stored>>);

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn load(&self, kind: &str) -> Result<Option<Stored>, String> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .cloned())
    }
    async fn save(&self, kind: &str, stored: &Stored) -> Result<(), String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.to_owned(), stored.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

    use super::*;
    use crate::errcode::ErrCode;

    /// A fetcher that counts calls, hands out `t1`, `t2`, … and records forced calls.
    fn counting(fetches: Arc<AtomicUsize>, forced: Arc<AtomicUsize>, expires_in: i64) -> Fetcher {
        Arc::new(move |force| {
            let n = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            if force {
                forced.fetch_add(1, Ordering::SeqCst);
            }
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Fetched {
                    value: format!("t{n}"),
                    expires_in,
                })
            })
        })
    }

    fn credential(
        expires_in: i64,
        store: Arc<MemoryStore>,
    ) -> (Credential, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let forced = Arc::new(AtomicUsize::new(0));
        let c = Credential::new(
            "access_token",
            counting(fetches.clone(), forced.clone(), expires_in),
            store,
            Some(ForcePolicy::STABLE_TOKEN),
        );
        (c, fetches, forced)
    }

    #[tokio::test]
    async fn hundreds_of_concurrent_callers_cause_one_fetch() {
        let (c, fetches, _) = credential(7200, Arc::default());
        let calls: Vec<_> = (0..300)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.get().await.unwrap() })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), "t1");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_stored_value_survives_a_restart() {
        let store: Arc<MemoryStore> = Arc::default();
        let (first, fetches, _) = credential(7200, store.clone());
        assert_eq!(first.get().await.unwrap(), "t1");
        let (second, fetches2, _) = credential(7200, store);
        assert_eq!(second.get().await.unwrap(), "t1");
        assert_eq!(
            fetches.load(Ordering::SeqCst) + fetches2.load(Ordering::SeqCst),
            1
        );
        assert_eq!(second.status().await.fetch_count, 1);
    }

    #[tokio::test]
    async fn replace_is_compare_and_invalidate() {
        let (c, fetches, forced) = credential(7200, Arc::default());
        assert_eq!(c.get().await.unwrap(), "t1");
        // Two callers saw t1 fail at once: one fetch, both get t2.
        let (a, b) = tokio::join!(c.replace("t1"), c.replace("t1"));
        assert_eq!((a.unwrap(), b.unwrap()), ("t2".to_owned(), "t2".to_owned()));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert_eq!(
            forced.load(Ordering::SeqCst),
            1,
            "stable_token needs force_refresh"
        );
        // A stale report about t1 does not throw away t2.
        assert_eq!(c.replace("t1").await.unwrap(), "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // A second rejection within 30 s refetches without forcing.
        assert_eq!(c.replace("t2").await.unwrap(), "t3");
        assert_eq!(forced.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn call_retries_once_on_an_invalid_token_and_never_loops() {
        let (c, fetches, _) = credential(7200, Arc::default());
        let attempts = Arc::new(AtomicUsize::new(0));
        let result: Result<(), Error> = c
            .call(|_token| {
                let attempts = attempts.clone();
                async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err(Error::Api {
                        path: "/x",
                        code: ErrCode::INVALID_CREDENTIAL,
                        errmsg: "invalid credential".into(),
                    })
                }
            })
            .await;
        assert_eq!(
            result.unwrap_err().errcode(),
            Some(ErrCode::INVALID_CREDENTIAL)
        );
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "one retry, no loop");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);

        // Other errors and transport failures are not retried.
        let attempts = Arc::new(AtomicUsize::new(0));
        let result: Result<(), Error> = c
            .call(|_| {
                let attempts = attempts.clone();
                async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err(Error::Timeout {
                        path: "/cgi-bin/message/custom/send",
                        timeout: Duration::from_secs(5),
                    })
                }
            })
            .await;
        assert!(matches!(result, Err(Error::Timeout { .. })));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failing_fetch_is_reported_and_not_retried_in_a_loop() {
        let calls = Arc::new(AtomicI64::new(0));
        let counter = calls.clone();
        let fetch: Fetcher = Arc::new(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                Err(Error::Api {
                    path: "/cgi-bin/stable_token",
                    code: ErrCode::INVALID_APPSECRET,
                    errmsg: "invalid appsecret".into(),
                })
            })
        });
        let c = Credential::new(
            "access_token",
            fetch,
            Arc::new(MemoryStore::default()),
            None,
        );
        assert!(c.get().await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let status = c.status().await;
        assert!(status.last_error.unwrap().contains("40125"));
        assert!(!status.cached);
    }

    #[tokio::test]
    async fn values_are_refreshed_in_the_background_before_expiry() {
        // Lifetime 8 s, margin 4 s (half the life): a new value after about 4 s, with no caller.
        // (Times are whole seconds, as WeChat's are; the margins absorb the rounding.)
        let (c, fetches, _) = credential(8, Arc::default());
        assert_eq!(c.get().await.unwrap(), "t1");
        tokio::time::sleep(Duration::from_millis(5500)).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "refreshed without a caller"
        );
        assert_eq!(c.get().await.unwrap(), "t2");
    }

    #[test]
    fn status_never_shows_the_value() {
        let s = Stored {
            value: "SECRET".into(),
            expires_at: 1,
            fetched_at: 0,
            fetch_count: 1,
            forced_today: 0,
            forced_day: 0,
            last_forced_at: 0,
        };
        assert!(!format!("{s:?}").contains("SECRET"));
    }
}
