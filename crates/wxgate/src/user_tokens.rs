//! Each logged-in user's OAuth tokens, kept server-side, for the rest of the code to call
//! `sns/*` APIs on the user's behalf: [`valid_access_token`] checks the stored token with
//! `sns/auth` and refreshes it with `sns/oauth2/refresh_token` when WeChat says it is stale.
//! When the refresh_token itself has lapsed (30 days) the tokens are dropped and the caller gets
//! [`TokenError::NeedsLogin`]: the user is simply asked to log in again.

use wechat::{AccessToken, Client};

use crate::clock;
use crate::db::{self, Db};

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the user must log in again")]
    NeedsLogin,
    #[error(transparent)]
    Wechat(#[from] wechat::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Whether the user still has a refresh_token that has not lapsed (no network call).
pub async fn has_live_tokens(db: &Db, openid: &str) -> Result<bool, sqlx::Error> {
    Ok(db::users::find_tokens(db, openid)
        .await?
        .is_some_and(|t| t.refresh_expires_at > clock::now()))
}

/// A user access_token that WeChat accepts right now, refreshing it if needed.
pub async fn valid_access_token(
    db: &Db,
    client: &Client,
    openid: &str,
) -> Result<AccessToken, TokenError> {
    let stored = db::users::find_tokens(db, openid)
        .await?
        .ok_or(TokenError::NeedsLogin)?;
    if stored.refresh_expires_at <= clock::now() {
        db::users::delete_tokens(db, openid).await?;
        return Err(TokenError::NeedsLogin);
    }
    if stored.access_expires_at > clock::now() {
        match client
            .check_user_token(&stored.access_token, &stored.openid)
            .await
        {
            Ok(()) => return Ok(stored.access_token),
            // `sns/auth` answers a dead token with 40001/42001, or with 40003 "invalid openid"
            // (the example WeChat documents, docs/wechat-protocol.md §A.6): refresh on either.
            Err(e)
                if e.errcode().is_some_and(|c| {
                    c.is_token_invalid() || c == wechat::ErrCode::INVALID_OPENID
                }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    refresh(db, client, openid).await
}

/// Forces a refresh with the stored refresh_token and stores the new access_token.
pub async fn refresh(db: &Db, client: &Client, openid: &str) -> Result<AccessToken, TokenError> {
    let stored = db::users::find_tokens(db, openid)
        .await?
        .ok_or(TokenError::NeedsLogin)?;
    match client.refresh_user_token(&stored.refresh_token).await {
        Ok(token) => {
            db::users::save_tokens(db, &token).await?;
            Ok(token.access_token)
        }
        Err(e) if e.errcode().is_some_and(|c| c.is_refresh_token_dead()) => {
            tracing::info!(openid, errcode = ?e.errcode(), "refresh_token lapsed; user must log in again");
            db::users::delete_tokens(db, openid).await?;
            Err(TokenError::NeedsLogin)
        }
        Err(e) => Err(e.into()),
    }
}
