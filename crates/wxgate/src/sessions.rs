//! Browser sessions (tower-sessions): in the database by default, so a logged-in browser stays
//! logged in across a restart, or in memory (`WXGATE_SESSION_STORE=memory`). The cookie is
//! HttpOnly, SameSite=Lax and Secure when the public URL is https; it holds only a random id.

use async_trait::async_trait;
use sqlx::SqlitePool;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions::{Expiry, MemoryStore, SessionManagerLayer};
use tower_sessions_sqlx_store::SqliteStore;

use crate::config::{Config, SessionStoreKind};

pub const COOKIE_NAME: &str = "wxgate_session";

/// Idle sessions end after a week.
const IDLE_DAYS: i64 = 7;

/// How long a logged-in browser stays logged in without visiting.
pub fn logged_in_expiry() -> Expiry {
    Expiry::OnInactivity(time::Duration::days(IDLE_DAYS))
}

/// A browser that only started a login: as long as its `state` is good.
pub fn pending_login_expiry(state_ttl: std::time::Duration) -> Expiry {
    Expiry::OnInactivity(time::Duration::seconds(state_ttl.as_secs() as i64))
}

/// The configured store, chosen at start-up.
#[derive(Clone, Debug)]
pub enum Store {
    Database(SqliteStore),
    Memory(MemoryStore),
}

impl Store {
    pub async fn new(kind: SessionStoreKind, pool: &SqlitePool) -> Result<Self, sqlx::Error> {
        Ok(match kind {
            SessionStoreKind::Memory => Store::Memory(MemoryStore::default()),
            SessionStoreKind::Database => {
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                // Sweep expired sessions (abandoned logins expire after the state TTL) every
                // ten minutes so the table does not grow without bound.
                tokio::spawn(
                    store
                        .clone()
                        .continuously_delete_expired(tokio::time::Duration::from_secs(600)),
                );
                Store::Database(store)
            }
        })
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

#[async_trait]
impl SessionStore for Store {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Store::Database(s) => s.create(record).await,
            Store::Memory(s) => s.create(record).await,
        }
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Store::Database(s) => s.save(record).await,
            Store::Memory(s) => s.save(record).await,
        }
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Store::Database(s) => s.load(id).await,
            Store::Memory(s) => s.load(id).await,
        }
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Store::Database(s) => s.delete(id).await,
            Store::Memory(s) => s.delete(id).await,
        }
    }
}
