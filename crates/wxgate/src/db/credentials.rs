//! The `credentials` table: the base access_token and jsapi_ticket with their bookkeeping, as
//! [`wechat::credential::Credential`] persists them ([`crate::platform`] is the store).

use wechat::credential::Stored;

use super::{Db, with_pool};

pub async fn load(db: &Db, kind: &str) -> Result<Option<Stored>, sqlx::Error> {
    const SQL: &str = "SELECT value, expires_at, fetched_at, fetch_count, forced_today, forced_day,
                              last_forced_at
                       FROM credentials WHERE kind = $1";
    type Row = (String, i64, i64, i64, i64, i64, i64);
    let row: Option<Row> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(kind).fetch_optional(pool).await)?;
    Ok(row.map(
        |(value, expires_at, fetched_at, fetch_count, forced_today, forced_day, last_forced_at)| {
            Stored {
                value,
                expires_at,
                fetched_at,
                fetch_count,
                forced_today,
                forced_day,
                last_forced_at,
            }
        },
    ))
}

pub async fn save(db: &Db, kind: &str, s: &Stored) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO credentials (kind, value, expires_at, fetched_at, fetch_count,
                                                forced_today, forced_day, last_forced_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (kind) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at,
             fetched_at = excluded.fetched_at, fetch_count = excluded.fetch_count,
             forced_today = excluded.forced_today, forced_day = excluded.forced_day,
             last_forced_at = excluded.last_forced_at";
    with_pool!(db, pool => {
        sqlx::query(SQL)
            .bind(kind)
            .bind(&s.value)
            .bind(s.expires_at)
            .bind(s.fetched_at)
            .bind(s.fetch_count)
            .bind(s.forced_today)
            .bind(s.forced_day)
            .bind(s.last_forced_at)
            .execute(pool)
            .await
            .map(|_| ())
    })?;
    Ok(())
}
