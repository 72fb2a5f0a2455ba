//! The database, and every SQL query wxgate runs: users and their OAuth tokens ([`users`]), the
//! platform credentials ([`credentials`]) and browser sessions ([`sessions`]).
//!
//! Two engines, one set of queries: SQLite for the embedded deployment (a file next to the
//! binary) and PostgreSQL for several instances. The queries are written once, in the SQL both
//! understand (`$1` placeholders, `ON CONFLICT … DO UPDATE`, 64-bit integers for times), and
//! [`with_pool!`] runs the same text on whichever pool is configured. The schemas live in
//! `migrations/sqlite` and `migrations/postgres`, plain SQL, applied at start-up.

pub mod credentials;
pub mod sessions;
pub mod users;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use users::{StoredTokens, User};

/// A refresh_token lives 30 days (docs/wechat-protocol.md, "Web login").
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 3600;

/// How long a request waits for a PostgreSQL connection before it answers 503: a database that
/// is down must not hold requests for the default 30 s.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The configured database. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the configured pool, whichever engine it is: the body is
/// compiled once per engine, so one query text serves both.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Which engine a `WXGATE_DATABASE_URL` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

impl Db {
    /// Connects and applies the migrations. SQLite files are created if missing; PostgreSQL's
    /// database must exist (its tables are created). Several instances starting at once are
    /// fine: sqlx serialises migrations with a lock.
    pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
        match Engine::of(url) {
            Some(Engine::Postgres) => {
                let options = PgConnectOptions::from_str(url)?.application_name("wxgate");
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Ok(Db::Postgres(pool))
            }
            _ => {
                let options = SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // In WAL mode NORMAL cannot corrupt the database; a power cut (not a crash
                    // of wxgate) may lose the last commits. FULL would fsync on every login.
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                // An in-memory database exists once per connection: keep exactly one.
                let max = if url.contains(":memory:") { 1 } else { 8 };
                let pool = SqlitePoolOptions::new()
                    .max_connections(max)
                    .connect_with(options)
                    .await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Ok(Db::Sqlite(pool))
            }
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Closes every connection: later queries fail (tests of what a lost database looks like).
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Whether the database answers a query now.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
    }
}
