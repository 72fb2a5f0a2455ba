//! The database: connection, migrations (in `migrations/`, plain SQL) and the queries on users
//! and their OAuth tokens. One login writes the user and the tokens in one transaction, so a
//! failure never leaves half a record.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use wechat::{AccessToken, OAuthToken, OpenId, RefreshToken, UserInfo};

/// A refresh_token lives 30 days (docs/wechat-protocol.md §A.4).
pub const REFRESH_TOKEN_LIFETIME_SECS: i64 = 30 * 24 * 3600;

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub async fn connect(url: &str) -> Result<SqlitePool, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // In WAL mode NORMAL cannot corrupt the database; a power cut (not a crash of
        // wxgate) may lose the last commits. FULL would fsync on every login.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    // An in-memory database exists once per connection: keep exactly one.
    let max = if url.contains(":memory:") { 1 } else { 8 };
    let pool = SqlitePoolOptions::new()
        .max_connections(max)
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// A user as the pages and the admin surface see it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct User {
    pub openid: String,
    pub unionid: Option<String>,
    pub nickname: Option<String>,
    pub headimgurl: Option<String>,
    pub scope: String,
    pub first_seen: i64,
    pub last_login: i64,
}

pub async fn find_user(pool: &SqlitePool, openid: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>("SELECT * FROM users WHERE openid = ?")
        .bind(openid)
        .fetch_optional(pool)
        .await
}

/// Records a login: the user (a snsapi_base login keeps the profile a userinfo login stored
/// before) and their tokens, in one transaction.
pub async fn record_login(
    pool: &SqlitePool,
    token: &OAuthToken,
    profile: Option<&UserInfo>,
) -> Result<(), sqlx::Error> {
    let now = now();
    let scope = if token.has_userinfo_scope() {
        "snsapi_userinfo"
    } else {
        "snsapi_base"
    };
    let unionid = profile
        .and_then(|p| p.unionid.as_ref())
        .or(token.unionid.as_ref())
        .map(|u| u.as_str().to_owned());
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (openid, unionid, nickname, headimgurl, scope, first_seen, last_login)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT(openid) DO UPDATE SET
             unionid    = COALESCE(excluded.unionid, users.unionid),
             nickname   = COALESCE(excluded.nickname, users.nickname),
             headimgurl = COALESCE(excluded.headimgurl, users.headimgurl),
             scope      = CASE WHEN excluded.scope = 'snsapi_userinfo'
                               THEN excluded.scope ELSE users.scope END,
             last_login = excluded.last_login",
    )
    .bind(token.openid.as_str())
    .bind(unionid)
    .bind(profile.map(|p| p.nickname.clone()))
    .bind(profile.map(|p| p.headimgurl.clone()))
    .bind(scope)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    save_tokens_in(&mut tx, token, now).await?;
    tx.commit().await
}

async fn save_tokens_in(
    conn: &mut sqlx::SqliteConnection,
    token: &OAuthToken,
    now: i64,
) -> Result<(), sqlx::Error> {
    // A refresh keeps the refresh_token's original 30 days (WeChat does not extend it).
    sqlx::query(
        "INSERT INTO user_tokens (openid, access_token, access_expires_at, refresh_token,
                                  refresh_expires_at, scope, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT(openid) DO UPDATE SET
             access_token = excluded.access_token,
             access_expires_at = excluded.access_expires_at,
             refresh_expires_at = CASE WHEN user_tokens.refresh_token = excluded.refresh_token
                                       THEN user_tokens.refresh_expires_at
                                       ELSE excluded.refresh_expires_at END,
             refresh_token = excluded.refresh_token,
             scope = excluded.scope,
             updated_at = excluded.updated_at",
    )
    .bind(token.openid.as_str())
    .bind(token.access_token.secret())
    .bind(now + token.expires_in)
    .bind(token.refresh_token.secret())
    .bind(now + REFRESH_TOKEN_LIFETIME_SECS)
    .bind(&token.scope)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn save_tokens(pool: &SqlitePool, token: &OAuthToken) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    save_tokens_in(&mut conn, token, now()).await
}

/// A user's stored OAuth tokens.
#[derive(Clone, Debug)]
pub struct StoredTokens {
    pub openid: OpenId,
    pub access_token: AccessToken,
    pub access_expires_at: i64,
    pub refresh_token: RefreshToken,
    pub refresh_expires_at: i64,
}

pub async fn find_tokens(
    pool: &SqlitePool,
    openid: &str,
) -> Result<Option<StoredTokens>, sqlx::Error> {
    let row: Option<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT access_token, access_expires_at, refresh_token, refresh_expires_at
         FROM user_tokens WHERE openid = ?",
    )
    .bind(openid)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(a, ae, r, re)| StoredTokens {
        openid: OpenId::new(openid),
        access_token: AccessToken::new(a),
        access_expires_at: ae,
        refresh_token: RefreshToken::new(r),
        refresh_expires_at: re,
    }))
}

pub async fn delete_tokens(pool: &SqlitePool, openid: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM user_tokens WHERE openid = ?")
        .bind(openid)
        .execute(pool)
        .await?;
    Ok(())
}

/// Users, most recent login first.
pub async fn list_users(
    pool: &SqlitePool,
    limit: i64,
    offset: i64,
) -> Result<Vec<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(
        "SELECT * FROM users ORDER BY last_login DESC, openid LIMIT ? OFFSET ?",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await
}
