//! The `sessions` table (`WXGATE_SESSION_STORE=database`): one row per browser session, its
//! record as JSON. [`crate::sessions`] is the store built on it.

use super::{Db, with_pool};

/// Inserts a new session; `false` when the id is taken (the caller picks another).
pub async fn insert(db: &Db, id: &str, data: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
                       ON CONFLICT (id) DO NOTHING";
    let done = with_pool!(db, pool => {
        sqlx::query(SQL).bind(id).bind(data).bind(expires_at).execute(pool).await?.rows_affected()
    });
    Ok(done == 1)
}

pub async fn upsert(db: &Db, id: &str, data: &str, expires_at: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO sessions (id, data, expires_at) VALUES ($1, $2, $3)
                       ON CONFLICT (id) DO UPDATE SET data = excluded.data,
                                                      expires_at = excluded.expires_at";
    with_pool!(db, pool => sqlx::query(SQL).bind(id).bind(data).bind(expires_at).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// The record of a session that has not expired at `now`.
pub async fn load(db: &Db, id: &str, now: i64) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT data FROM sessions WHERE id = $1 AND expires_at > $2";
    let row: Option<(String,)> = with_pool!(db, pool => {
        sqlx::query_as(SQL).bind(id).bind(now).fetch_optional(pool).await
    })?;
    Ok(row.map(|(data,)| data))
}

pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM sessions WHERE id = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// Deletes up to `batch` sessions that expired before `now`, on the expires_at index; returns
/// how many. Small batches keep each write transaction (and SQLite's write lock) short.
pub async fn delete_expired(db: &Db, now: i64, batch: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "DELETE FROM sessions WHERE id IN
                           (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)";
    let n = with_pool!(db, pool => {
        sqlx::query(SQL).bind(now).bind(batch).execute(pool).await?.rows_affected()
    });
    Ok(n)
}

/// How many rows the table holds (tests and the admin surface).
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM sessions";
    let (n,): (i64,) = with_pool!(db, pool => sqlx::query_as(SQL).fetch_one(pool).await)?;
    Ok(n)
}
