//! Users who logged in through 网页授权 and their OAuth tokens. One login writes the user and the
//! tokens in one transaction, so a failure never leaves half a record.

use serde::Serialize;
use wechat::{AccessToken, OAuthToken, OpenId, RefreshToken, UserInfo};

use super::{Db, REFRESH_TOKEN_LIFETIME_SECS, with_pool};
use crate::clock::now;

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

const USER_COLUMNS: &str = "openid, unionid, nickname, headimgurl, scope, first_seen, last_login";

pub async fn find_user(db: &Db, openid: &str) -> Result<Option<User>, sqlx::Error> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE openid = $1");
    with_pool!(db, pool => {
        sqlx::query_as::<_, User>(&sql).bind(openid).fetch_optional(pool).await
    })
}

/// Users, most recent login first.
pub async fn list_users(db: &Db, limit: i64, offset: i64) -> Result<Vec<User>, sqlx::Error> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY last_login DESC, openid LIMIT $1 OFFSET $2"
    );
    with_pool!(db, pool => {
        sqlx::query_as::<_, User>(&sql).bind(limit).bind(offset).fetch_all(pool).await
    })
}

const UPSERT_USER: &str =
    "INSERT INTO users (openid, unionid, nickname, headimgurl, scope, first_seen, last_login)
     VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT (openid) DO UPDATE SET
         unionid    = COALESCE(excluded.unionid, users.unionid),
         nickname   = COALESCE(excluded.nickname, users.nickname),
         headimgurl = COALESCE(excluded.headimgurl, users.headimgurl),
         scope      = CASE WHEN excluded.scope = 'snsapi_userinfo'
                           THEN excluded.scope ELSE users.scope END,
         last_login = excluded.last_login";

// A refresh keeps the refresh_token's original 30 days (WeChat does not extend it).
const UPSERT_TOKENS: &str =
    "INSERT INTO user_tokens (openid, access_token, access_expires_at, refresh_token,
                              refresh_expires_at, scope, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (openid) DO UPDATE SET
         access_token = excluded.access_token,
         access_expires_at = excluded.access_expires_at,
         refresh_expires_at = CASE WHEN user_tokens.refresh_token = excluded.refresh_token
                                   THEN user_tokens.refresh_expires_at
                                   ELSE excluded.refresh_expires_at END,
         refresh_token = excluded.refresh_token,
         scope = excluded.scope,
         updated_at = excluded.updated_at";

/// Records a login: the user (a snsapi_base login keeps the profile a userinfo login stored
/// before) and their tokens, in one transaction.
pub async fn record_login(
    db: &Db,
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
    let nickname = profile.map(|p| p.nickname.clone());
    let headimgurl = profile.map(|p| p.headimgurl.clone());
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(UPSERT_USER)
            .bind(token.openid.as_str())
            .bind(&unionid)
            .bind(&nickname)
            .bind(&headimgurl)
            .bind(scope)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tokens_query(token, now).execute(&mut *tx).await?;
        tx.commit().await
    })
}

fn tokens_query<'q, DB: sqlx::Database>(
    token: &'q OAuthToken,
    now: i64,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    sqlx::query(UPSERT_TOKENS)
        .bind(token.openid.as_str())
        .bind(token.access_token.secret())
        .bind(now + token.expires_in)
        .bind(token.refresh_token.secret())
        .bind(now + REFRESH_TOKEN_LIFETIME_SECS)
        .bind(token.scope.clone())
        .bind(now)
}

/// Stores a user's refreshed tokens.
pub async fn save_tokens(db: &Db, token: &OAuthToken) -> Result<(), sqlx::Error> {
    let now = now();
    with_pool!(db, pool => tokens_query(token, now).execute(pool).await.map(|_| ()))
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

pub async fn find_tokens(db: &Db, openid: &str) -> Result<Option<StoredTokens>, sqlx::Error> {
    const SQL: &str = "SELECT access_token, access_expires_at, refresh_token, refresh_expires_at
                       FROM user_tokens WHERE openid = $1";
    let row: Option<(String, i64, String, i64)> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(openid).fetch_optional(pool).await)?;
    Ok(row.map(|(a, ae, r, re)| StoredTokens {
        openid: OpenId::new(openid),
        access_token: AccessToken::new(a),
        access_expires_at: ae,
        refresh_token: RefreshToken::new(r),
        refresh_expires_at: re,
    }))
}

pub async fn delete_tokens(db: &Db, openid: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM user_tokens WHERE openid = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(openid).execute(pool).await.map(|_| ()))?;
    Ok(())
}

/// What the greeting on `/index/` needs in one query: the user and when their refresh_token
/// lapses (`None` without tokens).
pub async fn find_greeting(
    db: &Db,
    openid: &str,
) -> Result<Option<(User, Option<i64>)>, sqlx::Error> {
    const SQL: &str = "SELECT u.openid, u.unionid, u.nickname, u.headimgurl, u.scope, u.first_seen,
                              u.last_login, t.refresh_expires_at
                       FROM users u LEFT JOIN user_tokens t ON t.openid = u.openid
                       WHERE u.openid = $1";
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
        i64,
        i64,
        Option<i64>,
    );
    let row: Option<Row> =
        with_pool!(db, pool => sqlx::query_as(SQL).bind(openid).fetch_optional(pool).await)?;
    Ok(row.map(
        |(openid, unionid, nickname, headimgurl, scope, first_seen, last_login, refresh)| {
            (
                User {
                    openid,
                    unionid,
                    nickname,
                    headimgurl,
                    scope,
                    first_seen,
                    last_login,
                },
                refresh,
            )
        },
    ))
}
