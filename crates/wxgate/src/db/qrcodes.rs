//! Parametric QR codes created through wxgate (table `qrcodes`).

use serde::Serialize;

use super::{Db, with_pool};

/// One code as `wxgate qrcode list` and `GET /admin/qrcodes` show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct QrCodeRow {
    pub ticket: String,
    pub scene: String,
    pub kind: String,
    pub url: String,
    pub image_url: String,
    /// Unix seconds; `None` for permanent codes.
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

const COLUMNS: &str = "ticket, scene, kind, url, image_url, expires_at, created_at";

/// Stores a code; a permanent one WeChat handed out again (same ticket) keeps its first row.
pub async fn insert(db: &Db, row: &QrCodeRow) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO qrcodes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (ticket) DO NOTHING"
    );
    with_pool!(db, pool => {
        sqlx::query(&sql)
            .bind(&row.ticket)
            .bind(&row.scene)
            .bind(&row.kind)
            .bind(&row.url)
            .bind(&row.image_url)
            .bind(row.expires_at)
            .bind(row.created_at)
            .execute(pool)
            .await
            .map(|_| ())
    })
}

/// The codes, newest first, leaving out temporary codes expired by `live_at` (pass `i64::MIN`
/// for all).
pub async fn list(db: &Db, live_at: i64, limit: i64) -> Result<Vec<QrCodeRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM qrcodes
         WHERE expires_at IS NULL OR expires_at > $1
         ORDER BY created_at DESC, ticket LIMIT $2"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, QrCodeRow>(&sql).bind(live_at).bind(limit).fetch_all(pool).await
    })
}
