//! The database, and every SQL query wxgate runs: users and their OAuth tokens ([`users`]), the
//! platform credentials ([`credentials`]), browser sessions ([`sessions`]), the account's
//! followers and tags ([`followers`]), its QR codes and media, and the messages sent to users
//! ([`sends`]).
//!
//! Two engines, one set of queries: SQLite for the embedded deployment (a file next to the
//! binary) and PostgreSQL for several instances. The queries are written once, in the SQL both
//! understand (`$1` placeholders, `ON CONFLICT … DO UPDATE`, 64-bit integers for times), and
//! [`with_pool!`] runs the same text on whichever pool is configured. The schemas live in
//! `migrations/sqlite` and `migrations/postgres`, plain SQL, applied at start-up.

pub mod credentials;
pub mod followers;
pub mod sends;
pub mod sessions;
pub mod users;
// QR codes and media (issue 9).
pub mod media;
pub mod qrcodes;

use std::str::FromStr;
use std::time::Duration;

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
                let options = SqliteConnectOptions::from_str(url)?;
                if !url.contains(":memory:") {
                    private_file(options.get_filename());
                }
                let options = options
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

    /// Whether the database can do its work now: it answers a query on a real table, and it
    /// takes a write (SQLite: the write lock, which another process may hold; PostgreSQL: not
    /// a read-only server, as a replica after a failover would be). Never writes anything.
    pub async fn ready(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(pool) => {
                use sqlx::{ConnectOptions, Connection};
                if pool.is_closed() {
                    return Err(sqlx::Error::PoolClosed);
                }
                // A connection of its own, which reads the file afresh (pooled ones trust the
                // pages they hold), and a transaction object, rolled back even when the caller
                // gives up waiting.
                let mut conn = pool.connect_options().connect().await?;
                let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
                sqlx::query("SELECT COUNT(*) FROM credentials")
                    .execute(&mut *tx)
                    .await?;
                tx.rollback().await?;
                conn.close().await
            }
            Db::Postgres(pool) => {
                let (read_only,): (String,) = sqlx::query_as("SHOW transaction_read_only")
                    .fetch_one(pool)
                    .await?;
                sqlx::query("SELECT COUNT(*) FROM credentials")
                    .execute(pool)
                    .await?;
                if read_only == "on" {
                    return Err(sqlx::Error::Protocol(
                        "the server is read-only (a replica?)".into(),
                    ));
                }
                Ok(())
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

/// The database file holds the base access_token, the jsapi_ticket and every user's OAuth
/// tokens: a new one is created readable by its owner only (SQLite gives its -wal and -shm
/// files the same permissions), and an existing one readable by others is warned about.
fn private_file(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        file = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the database file is readable by other users and holds tokens: chmod 600 it (and its -wal and -shm files)"
                    );
                }
            }
            Err(_) => {
                // Created here with 0600, before SQLite opens (and would create) it.
                let _ = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path);
            }
        }
    }
}
