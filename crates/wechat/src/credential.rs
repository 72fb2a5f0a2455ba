//! Cached platform credentials — the base access_token and the JS-SDK jsapi_ticket — done so
//! that none of the failures in docs/field-lessons.md rows 1–7 can happen:
//!
//! - **lazy**: nothing is fetched until first needed, so a wrong IP whitelist cannot stop a
//!   server from starting;
//! - **persisted** through a [`CredentialStore`], so a restart (or a CLI command in another
//!   process) reuses the stored value instead of spending the 2000-a-day quota;
//! - **single-flight**: any number of concurrent callers at expiry cause exactly one fetch (and
//!   across processes sharing a store, one fetch in all: [`CredentialStore::lock_fetch`]), and
//!   a failed fetch is shared too: every caller that waited for it gets its error, and for
//!   [`Credential::with_retry_after`] (10 s by default) callers get the same error without a
//!   call, so a wrong secret or whitelist cannot turn traffic into a flood of token fetches;
//! - **refreshed ahead of expiry** in the background, `margin` before it lapses; when that
//!   refresh fails the cached value is still used until it really expires, and the refresh is
//!   tried again;
//! - **compare-and-invalidate**: when an API says the value is invalid (40001/40014/42001), it
//!   is refetched only if the cached value is still the one that failed — another caller may
//!   have replaced it already — and the call is retried once, never in a loop;
//! - **forced refreshes only when needed, and rationed**: the refetch asks normally first;
//!   only if WeChat hands back the very value it just rejected is `force_refresh` used
//!   (stable_token allows 20 a day, 30 s apart). A forced refresh invalidates the token for
//!   every other holder of the AppID, so it is the last resort.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Held while a value is fetched from WeChat, so that of several processes sharing the
    /// store (instances of a server behind a load balancer) only one fetches at a time; the
    /// others find its value in the store when they get the lock. Dropping the returned value
    /// releases it. The default holds nothing: one process needs no more than the
    /// [`Credential`]'s own single flight.
    async fn lock_fetch(&self, _kind: &str) -> Box<dyn Send + Sync> {
        Box::new(())
    }
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
    /// The last failed fetch, shared with callers for `retry_after`.
    failure: Mutex<Option<(Instant, Error)>>,
    retry_after: Duration,
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
            failure: Mutex::new(None),
            retry_after: Duration::from_secs(10),
            flight: tokio::sync::Mutex::new(()),
            background: Mutex::new(None),
        }))
    }

    /// How long a failed fetch is answered from memory before WeChat is asked again
    /// (default 10 s). Call before the credential is shared.
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.0) {
            inner.retry_after = retry_after;
        }
        self
    }

    /// The error of a fetch that failed less than `retry_after` ago.
    fn recent_failure(&self) -> Option<Error> {
        let failure = self.0.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.0.retry_after)
            .map(|(_, e)| e.clone())
    }

    /// A cached value that WeChat still accepts, even if it is due for a refresh.
    fn still_valid(&self) -> Option<Stored> {
        self.cached().filter(|s| now() < s.expires_at)
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
    /// concurrent caller. When the refresh fails but the cached value has not expired yet, the
    /// cached value is returned.
    pub async fn get(&self) -> Result<String, Error> {
        if let Some(s) = self.cached().filter(|s| self.is_fresh(s)) {
            return Ok(s.value);
        }
        let _flight = self.0.flight.lock().await;
        // Someone else may have fetched while we waited.
        if let Some(s) = self.cached().filter(|s| self.is_fresh(s)) {
            return Ok(s.value);
        }
        if let Some(s) = self.fresh_in_store(None).await {
            return Ok(s);
        }
        let result = match self.recent_failure() {
            Some(e) => Err(e),
            None => {
                // Another process may be fetching: wait for it, then look again.
                let _held = self.0.store.lock_fetch(&self.0.kind).await;
                match self.fresh_in_store(None).await {
                    Some(s) => Ok(s),
                    None => self.fetch_locked(None).await,
                }
            }
        };
        match result {
            Err(e) => match self.still_valid() {
                Some(s) => {
                    tracing::warn!(
                        kind = %self.0.kind,
                        error = %e,
                        expires_in = s.expires_at - now(),
                        "refresh failed; the cached value still works until it expires"
                    );
                    Ok(s.value)
                }
                None => Err(e),
            },
            ok => ok,
        }
    }

    /// Called when WeChat rejected `failed` as invalid or expired: replaces it unless someone
    /// already did, and returns the value to retry with.
    pub async fn replace(&self, failed: &str) -> Result<String, Error> {
        crate::metrics::credential_rejected(&self.0.kind);
        let _flight = self.0.flight.lock().await;
        if let Some(s) = self.cached()
            && s.value != failed
            && self.is_fresh(&s)
        {
            return Ok(s.value);
        }
        // Another process may have replaced it in the store.
        if let Some(s) = self.fresh_in_store(Some(failed)).await {
            return Ok(s);
        }
        if let Some(e) = self.recent_failure() {
            return Err(e);
        }
        // Compare-and-invalidate across processes: under the fetch lock, a value another
        // process stored meanwhile is used rather than replaced.
        let _held = self.0.store.lock_fetch(&self.0.kind).await;
        if let Some(s) = self.fresh_in_store(Some(failed)).await {
            return Ok(s);
        }
        self.fetch_locked(Some(failed)).await
    }

    /// A fresh value in the store (other than `not`, a value WeChat just rejected), now cached.
    async fn fresh_in_store(&self, not: Option<&str>) -> Option<String> {
        let s = self.0.store.load(&self.0.kind).await.ok().flatten()?;
        if !self.is_fresh(&s) || not.is_some_and(|n| n == s.value) {
            return None;
        }
        let value = s.value.clone();
        self.remember(s);
        Some(value)
    }

    /// Fetches with the flight lock held. `rejected`: the value WeChat just refused; the
    /// fetch asks normally first and forces a refresh only if WeChat hands that value back.
    async fn fetch_locked(&self, rejected: Option<&str>) -> Result<String, Error> {
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
        let mut forced = false;
        let mut fetched = (self.0.fetch)(false).await;
        crate::metrics::credential_fetch(&self.0.kind, false, fetched.is_ok());
        if let (Ok(f), Some(rejected), Some(policy)) = (&fetched, rejected, self.0.force)
            && f.value == rejected
        {
            let allowed = forced_today < policy.per_day
                && t - last_forced_at >= policy.min_interval.as_secs() as i64;
            if allowed {
                tracing::info!(kind = %self.0.kind, "WeChat handed back the rejected value; forcing a refresh");
                forced = true;
                fetched = (self.0.fetch)(true).await;
                crate::metrics::credential_fetch(&self.0.kind, true, fetched.is_ok());
            } else {
                tracing::warn!(
                    kind = %self.0.kind,
                    forced_today,
                    "WeChat handed back the rejected value, and a forced refresh is not allowed now (20 a day, 30 s apart)"
                );
            }
        }
        let fetched = match fetched {
            Ok(f) => f,
            Err(e) => {
                *self.0.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                *self.0.failure.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((Instant::now(), e.clone()));
                return Err(e);
            }
        };
        if forced {
            forced_today += 1;
        }
        let stored = Stored {
            value: fetched.value,
            expires_at: t
                .saturating_add(fetched.expires_in.clamp(0, crate::types::MAX_LIFETIME_SECS)),
            fetched_at: t,
            fetch_count: previous.as_ref().map_or(0, |p| p.fetch_count) + 1 + i64::from(forced),
            forced_today,
            forced_day: today,
            last_forced_at: if forced { t } else { last_forced_at },
        };
        if let Err(e) = self.0.store.save(&self.0.kind, &stored).await {
            // The value still works; only a restart would fetch again.
            tracing::warn!(kind = %self.0.kind, error = %e, "could not persist the credential");
        }
        *self.0.last_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
        *self.0.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        tracing::info!(
            kind = %self.0.kind,
            expires_in = fetched.expires_in,
            fetch_count = stored.fetch_count,
            forced,
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
            // Until a refresh succeeds (which schedules the next one and ends this task) or
            // the value expires (the next caller then fetches).
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let credential = Credential(inner);
                let retry_after = credential.0.retry_after;
                let ok = credential.get().await.is_ok();
                let fresh = credential.cached().is_some_and(|s| credential.is_fresh(&s));
                if !ok || fresh || credential.still_valid().is_none() {
                    return;
                }
                drop(credential);
                tokio::time::sleep(retry_after + Duration::from_millis(100)).await;
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
    async fn hundreds_of_callers_when_the_value_is_due_cause_one_refetch() {
        // Lifetime 4 s, due for a refresh after 2 s (half the life). Times are whole seconds,
        // so t1 is surely due at 2.5 s and a t2 fetched after 2 s surely fresh then.
        let (c, fetches, _) = credential(4, Arc::default());
        assert_eq!(c.get().await.unwrap(), "t1");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let calls: Vec<_> = (0..300)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.get().await.unwrap() })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), "t2");
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "one refetch, by a caller or the background refresh"
        );
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
            0,
            "a normal fetch brought a new value: no force needed"
        );
        // A stale report about t1 does not throw away t2.
        assert_eq!(c.replace("t1").await.unwrap(), "t2");
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    /// Like stable_token: the same value on every normal call, a new one only when forced.
    fn stable_like(fetches: Arc<AtomicUsize>, forced: Arc<AtomicUsize>) -> Fetcher {
        Arc::new(move |force| {
            fetches.fetch_add(1, Ordering::SeqCst);
            let generation = if force {
                forced.fetch_add(1, Ordering::SeqCst) + 2
            } else {
                forced.load(Ordering::SeqCst) + 1
            };
            Box::pin(async move {
                Ok(Fetched {
                    value: format!("s{generation}"),
                    expires_in: 7200,
                })
            })
        })
    }

    #[tokio::test]
    async fn a_refresh_is_forced_only_when_wechat_hands_back_the_rejected_value() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let forced = Arc::new(AtomicUsize::new(0));
        let store: Arc<MemoryStore> = Arc::default();
        let c = Credential::new(
            "access_token",
            stable_like(fetches.clone(), forced.clone()),
            store.clone(),
            Some(ForcePolicy::STABLE_TOKEN),
        );
        assert_eq!(c.get().await.unwrap(), "s1");
        // WeChat rejects s1 but stable_token still hands it out: only then is it forced.
        assert_eq!(c.replace("s1").await.unwrap(), "s2");
        assert_eq!(
            (
                fetches.load(Ordering::SeqCst),
                forced.load(Ordering::SeqCst)
            ),
            (3, 1)
        );
        assert_eq!(c.status().await.forced_today, 1);
        // Rejected again within 30 s: no second force, the value WeChat gives is returned.
        assert_eq!(c.replace("s2").await.unwrap(), "s2");
        assert_eq!(forced.load(Ordering::SeqCst), 1);

        // The daily ration: 20 forced refreshes today already (Beijing day), none more.
        let mut spent = store.load("access_token").await.unwrap().unwrap();
        spent.forced_today = 20;
        spent.last_forced_at = now() - 3600;
        store.save("access_token", &spent).await.unwrap();
        let fresh_process = Credential::new(
            "access_token",
            stable_like(fetches.clone(), forced.clone()),
            store.clone(),
            Some(ForcePolicy::STABLE_TOKEN),
        );
        assert_eq!(fresh_process.replace("s2").await.unwrap(), "s2");
        assert_eq!(forced.load(Ordering::SeqCst), 1, "20 a day");
        // Yesterday's 20 do not count today.
        spent.forced_day -= 1;
        store.save("access_token", &spent).await.unwrap();
        let next_day = Credential::new(
            "access_token",
            stable_like(fetches.clone(), forced.clone()),
            store,
            Some(ForcePolicy::STABLE_TOKEN),
        );
        assert_eq!(next_day.replace("s2").await.unwrap(), "s3");
        assert_eq!(forced.load(Ordering::SeqCst), 2);
    }

    fn failing(calls: Arc<AtomicUsize>) -> Fetcher {
        Arc::new(move |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(Error::Api {
                    path: "/cgi-bin/stable_token",
                    code: ErrCode::IP_NOT_IN_WHITELIST,
                    errmsg: "invalid ip 1.2.3.4, not in whitelist".into(),
                })
            })
        })
    }

    #[tokio::test]
    async fn a_failed_fetch_is_shared_by_every_waiting_caller_and_remembered() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Credential::new(
            "access_token",
            failing(calls.clone()),
            Arc::new(MemoryStore::default()),
            None,
        )
        .with_retry_after(Duration::from_millis(300));
        let waiting: Vec<_> = (0..50)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.get().await })
            })
            .collect();
        for w in waiting {
            let e = w.await.unwrap().unwrap_err();
            assert_eq!(e.errcode(), Some(ErrCode::IP_NOT_IN_WHITELIST));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one fetch for 50 callers");
        // Callers right after get the same answer without a call; later ones ask again.
        assert!(c.get().await.is_err());
        assert!(c.replace("whatever").await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert!(c.get().await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_serving_the_value_until_it_expires() {
        // Works once (lifetime 4 s, refreshed after 2 s), then WeChat is unreachable.
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let fetch: Fetcher = Arc::new(move |_| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n == 0 {
                    Ok(Fetched {
                        value: "t1".into(),
                        expires_in: 4,
                    })
                } else {
                    Err(Error::Timeout {
                        path: "/cgi-bin/stable_token",
                        timeout: Duration::from_secs(5),
                    })
                }
            })
        });
        let c = Credential::new(
            "access_token",
            fetch,
            Arc::new(MemoryStore::default()),
            None,
        )
        .with_retry_after(Duration::from_millis(200));
        assert_eq!(c.get().await.unwrap(), "t1");
        tokio::time::sleep(Duration::from_millis(2600)).await;
        assert_eq!(
            c.get().await.unwrap(),
            "t1",
            "due for refresh, but still valid"
        );
        assert!(calls.load(Ordering::SeqCst) >= 2, "the refresh was tried");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(c.get().await.is_err(), "expired: the error surfaces");
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
