//! The `sends` table: every template message, subscription notice and customer-service
//! message wxgate sent to a user, with WeChat's answer ([`crate::sends`] writes it).

use serde::Serialize;

use super::{Db, with_pool};

/// One send, as `wxgate send log` and `GET /admin/messages` show it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Send {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    pub openid: String,
    /// `template`, `subscribe` or `custom`.
    pub kind: String,
    /// For custom messages: `text`, `image`, `news`, `msgmenu`…
    pub msgtype: Option<String>,
    pub template_id: Option<String>,
    /// `sent`, `refused` (WeChat answered `errcode`) or `unknown` (no usable answer: the
    /// message may have been delivered, and is not sent again).
    pub outcome: String,
    pub errcode: Option<i64>,
    pub detail: Option<String>,
    pub msgid: Option<String>,
    /// `cli`, `admin` or `late_reply` (`messages/late.rs`).
    pub caller: String,
}

const COLUMNS: &str =
    "id, at, openid, kind, msgtype, template_id, outcome, errcode, detail, msgid, caller";

/// Records a send; its id. `id` of the argument is ignored.
pub async fn insert(db: &Db, s: &Send) -> Result<i64, sqlx::Error> {
    const SQL: &str = "INSERT INTO sends (at, openid, kind, msgtype, template_id, outcome, errcode,
                                          detail, msgid, caller)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
    let (id,): (i64,) = with_pool!(db, pool => {
        sqlx::query_as(SQL)
            .bind(s.at)
            .bind(&s.openid)
            .bind(&s.kind)
            .bind(&s.msgtype)
            .bind(&s.template_id)
            .bind(&s.outcome)
            .bind(s.errcode)
            .bind(&s.detail)
            .bind(&s.msgid)
            .bind(&s.caller)
            .fetch_one(pool)
            .await
    })?;
    Ok(id)
}

/// Sends, most recent first; only `openid`'s when given.
pub async fn list(
    db: &Db,
    openid: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Send>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sends WHERE ($1 = '' OR openid = $1)
         ORDER BY id DESC LIMIT $2 OFFSET $3"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, Send>(&sql)
            .bind(openid.unwrap_or_default())
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await
    })
}
