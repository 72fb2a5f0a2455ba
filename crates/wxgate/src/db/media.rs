//! Media and material uploaded through wxgate (table `media`), found again by content hash.

use serde::Serialize;

use super::{Db, with_pool};

/// One upload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MediaRow {
    pub media_id: String,
    /// image, voice, video or thumb.
    pub kind: String,
    /// `permanent` or `temporary`.
    pub store: String,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    pub file_name: String,
    pub size: i64,
    pub url: Option<String>,
    pub uploaded_at: i64,
    /// Temporary media only.
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "media_id, kind, store, sha256, file_name, size, url, uploaded_at, expires_at";

pub async fn insert(db: &Db, row: &MediaRow) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (media_id) DO NOTHING"
    );
    with_pool!(db, pool => {
        sqlx::query(&sql)
            .bind(&row.media_id)
            .bind(&row.kind)
            .bind(&row.store)
            .bind(&row.sha256)
            .bind(&row.file_name)
            .bind(row.size)
            .bind(&row.url)
            .bind(row.uploaded_at)
            .bind(row.expires_at)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// The newest upload of these bytes as `kind` to `store` that is still valid at `now`.
pub async fn find_by_content(
    db: &Db,
    sha256: &str,
    kind: &str,
    store: &str,
    now: i64,
) -> Result<Option<MediaRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM media
         WHERE sha256 = $1 AND kind = $2 AND store = $3
           AND (expires_at IS NULL OR expires_at > $4)
         ORDER BY uploaded_at DESC LIMIT 1"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, MediaRow>(&sql)
            .bind(sha256)
            .bind(kind)
            .bind(store)
            .bind(now)
            .fetch_optional(pool)
            .await
    })
}

pub async fn find(db: &Db, media_id: &str) -> Result<Option<MediaRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM media WHERE media_id = $1");
    with_pool!(db, pool => {
        sqlx::query_as::<_, MediaRow>(&sql).bind(media_id).fetch_optional(pool).await
    })
}

/// Everything uploaded, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<MediaRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM media ORDER BY uploaded_at DESC, media_id LIMIT $1");
    with_pool!(db, pool => {
        sqlx::query_as::<_, MediaRow>(&sql).bind(limit).fetch_all(pool).await
    })
}

/// Forgets one upload; whether there was one.
pub async fn delete(db: &Db, media_id: &str) -> Result<bool, sqlx::Error> {
    with_pool!(db, pool => {
        sqlx::query("DELETE FROM media WHERE media_id = $1")
            .bind(media_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() > 0)
    })
}
