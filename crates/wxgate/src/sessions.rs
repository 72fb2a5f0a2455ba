//! Browser sessions (tower-sessions) and where they live (`WXGATE_SESSION_STORE`): the database
//! (`database`, the default without Redis; survives restarts, shared by instances on
//! PostgreSQL), Redis (`redis`, the default with `WXGATE_REDIS_URL`) or this process's memory
//! (`memory`). The cookie is HttpOnly, SameSite=Lax and Secure when the public URL is https; it
//! holds only a random id.
//!
//! A logged-in browser stays logged in for a week after its last visit, but a page view does
//! not write to the store: the expiry is pushed back at most once an hour ([`keep_alive`]).
//! With one instance (no Redis) the database store has an in-process cache in front, written
//! through, so a logged-in view does not read it either; several instances read the shared
//! store, so that a logout anywhere is seen everywhere at once.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer};

use crate::cache::TtlCache;
use crate::clock;
use crate::config::{Config, SessionStoreKind};
use crate::db::{self, Db};
use crate::shared::redis::Redis;

pub const COOKIE_NAME: &str = "wxgate_session";

/// Idle sessions end after a week.
const IDLE_DAYS: i64 = 7;
/// A logged-in page view pushes the expiry back only when the last push is older than this.
const RENEW_EVERY_SECS: i64 = 3600;
const RENEWED_AT: &str = "renewed_at";

/// How often expired sessions are swept from the database, and how many rows one statement
/// deletes (a short write transaction, so logins are not held up behind the sweep).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(600);
const SWEEP_BATCH: i64 = 1000;

/// How long a logged-in browser stays logged in without visiting.
pub fn logged_in_expiry() -> Expiry {
    Expiry::OnInactivity(time::Duration::days(IDLE_DAYS))
}

/// Called on a logged-in page view: marks the session for saving (which pushes its expiry a
/// week ahead) when that last happened over an hour ago; otherwise the view writes nothing.
pub async fn keep_alive(session: &Session) -> Result<(), tower_sessions::session::Error> {
    let now = clock::now();
    let renewed = session.get::<i64>(RENEWED_AT).await?.unwrap_or(0);
    if now - renewed >= RENEW_EVERY_SECS {
        session.insert(RENEWED_AT, now).await?;
    }
    Ok(())
}

/// Marks a session as just renewed (at login, when it is saved anyway).
pub async fn renewed_now(session: &Session) -> Result<(), tower_sessions::session::Error> {
    session.insert(RENEWED_AT, clock::now()).await
}

/// How long a cached session record is trusted, and how many are cached.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);
const CACHE_SIZE: usize = 100_000;

/// The configured store, chosen at start-up.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// In front of the database when this is the only instance (no Redis).
    cache: Option<Arc<TtlCache<Id, Record>>>,
}

#[derive(Clone, Debug)]
enum Backend {
    Database(Db),
    Redis(Redis),
    Memory(MemoryStore),
}

impl Store {
    /// The store `kind` names; for the database, with a task that sweeps expired sessions.
    pub fn new(kind: SessionStoreKind, db: &Db, redis: Option<&Redis>) -> Self {
        let backend = match (kind, redis) {
            (SessionStoreKind::Memory, _) => Backend::Memory(MemoryStore::default()),
            (SessionStoreKind::Redis, Some(redis)) => Backend::Redis(redis.clone()),
            // Configuration refuses `redis` without a URL; the database is the safe answer.
            (SessionStoreKind::Database | SessionStoreKind::Redis, _) => {
                tokio::spawn(sweep_forever(db.clone()));
                Backend::Database(db.clone())
            }
        };
        let one_instance = redis.is_none();
        let cache = (one_instance && matches!(backend, Backend::Database(_)))
            .then(|| Arc::new(TtlCache::new(CACHE_TTL, CACHE_SIZE)));
        Store { backend, cache }
    }

    fn cache(&self, record: &Record) {
        if let Some(cache) = &self.cache {
            cache.insert(record.id, record.clone());
        }
    }

    pub fn layer(self, config: &Config) -> SessionManagerLayer<Store> {
        SessionManagerLayer::new(self)
            .with_name(COOKIE_NAME)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(config.is_https())
            .with_path("/")
            .with_expiry(logged_in_expiry())
    }
}

/// Deletes expired sessions in batches until none is left; returns how many.
pub async fn sweep(db: &Db) -> Result<u64, sqlx::Error> {
    let mut total = 0;
    loop {
        let n = db::sessions::delete_expired(db, clock::now(), SWEEP_BATCH).await?;
        total += n;
        if n < SWEEP_BATCH as u64 {
            return Ok(total);
        }
        // Let logins waiting for the write lock in between.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Sweeps every [`SWEEP_EVERY`]; an error is logged and the next sweep tried as usual.
async fn sweep_forever(db: Db) {
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + SWEEP_EVERY, SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match sweep(&db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(deleted = n, "expired sessions swept"),
            Err(e) => {
                tracing::warn!(error = %e, "sweeping expired sessions failed; trying again later")
            }
        }
    }
}

fn store_error(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn encode(record: &Record) -> session_store::Result<String> {
    serde_json::to_string(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn decode(data: &[u8]) -> session_store::Result<Record> {
    serde_json::from_slice(data).map_err(|e| session_store::Error::Decode(e.to_string()))
}

/// Seconds until the record expires (at least 1: stores need a positive lifetime).
fn ttl(record: &Record) -> std::time::Duration {
    let left = record.expiry_date.unix_timestamp() - clock::now();
    std::time::Duration::from_secs(left.max(1) as u64)
}

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(s) => s.create(record).await,
            // Ids are 128 random bits; a collision is handled anyway, by picking another.
            Backend::Database(db) => loop {
                let data = encode(record)?;
                let expires = record.expiry_date.unix_timestamp();
                let id = record.id.to_string();
                if db::sessions::insert(db, &id, &data, expires)
                    .await
                    .map_err(store_error)?
                {
                    self.cache(record);
                    return Ok(());
                }
                record.id = Id::default();
            },
            Backend::Redis(redis) => loop {
                let data = encode(record)?;
                let key = redis.key("session", &record.id.to_string());
                if redis
                    .set_new(&key, data.as_bytes(), ttl(record))
                    .await
                    .map_err(store_error)?
                {
                    return Ok(());
                }
                record.id = Id::default();
            },
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match &self.backend {
            Backend::Memory(s) => s.save(record).await,
            Backend::Database(db) => {
                let data = encode(record)?;
                db::sessions::upsert(
                    db,
                    &record.id.to_string(),
                    &data,
                    record.expiry_date.unix_timestamp(),
                )
                .await
                .map_err(store_error)?;
                self.cache(record);
                Ok(())
            }
            Backend::Redis(redis) => {
                let data = encode(record)?;
                let key = redis.key("session", &record.id.to_string());
                redis
                    .set(&key, data.as_bytes(), ttl(record))
                    .await
                    .map_err(store_error)
            }
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        if let Some(record) = self.cache.as_ref().and_then(|c| c.get(id)) {
            if record.expiry_date.unix_timestamp() > clock::now() {
                return Ok(Some(record));
            }
            return Ok(None);
        }
        match &self.backend {
            Backend::Memory(s) => s.load(id).await,
            Backend::Database(db) => {
                let data = db::sessions::load(db, &id.to_string(), clock::now())
                    .await
                    .map_err(store_error)?;
                let record = data.map(|d| decode(d.as_bytes())).transpose()?;
                if let Some(r) = &record {
                    self.cache(r);
                }
                Ok(record)
            }
            Backend::Redis(redis) => {
                let data = redis
                    .get(&redis.key("session", &id.to_string()))
                    .await
                    .map_err(store_error)?;
                data.map(|d| decode(&d)).transpose()
            }
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if let Some(cache) = &self.cache {
            cache.remove(id);
        }
        match &self.backend {
            Backend::Memory(s) => s.delete(id).await,
            Backend::Database(db) => db::sessions::delete(db, &id.to_string())
                .await
                .map_err(store_error),
            Backend::Redis(redis) => redis
                .delete(&redis.key("session", &id.to_string()))
                .await
                .map_err(store_error),
        }
    }
}
