//! The account's platform credentials — the base access_token (stable_token by default) and
//! the JS-SDK jsapi_ticket — cached, persisted in the database and shared by every caller
//! through [`wechat::credential::Credential`], plus operator-facing explanations of WeChat's
//! errors. Nothing here runs at start-up: the first API call fetches.
//!
//! Several instances share the database's `credentials` table, and fetch under a shared lock
//! ([`crate::shared::Locks`], in Redis for a cluster): however many instances and callers ask
//! when the token is due, one fetches and the others read what it stored.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wechat::credential::{Credential, CredentialStore, Fetched, Fetcher, ForcePolicy, Stored};
use wechat::{AccessToken, ErrCode};

use crate::db::Db;
use crate::shared::Locks;

/// Which WeChat API issues the base access_token (`WXGATE_TOKEN_API`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenApi {
    /// `cgi-bin/stable_token`: the same token for every caller until it expires; other
    /// processes fetching it do not invalidate ours.
    Stable,
    /// `cgi-bin/token`: each fetch invalidates the previous token after 5 minutes.
    Classic,
}

impl TokenApi {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenApi::Stable => "stable",
            TokenApi::Classic => "classic",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Platform {
    pub client: wechat::Client,
    pub api: TokenApi,
    pub access_token: Credential,
    pub jsapi_ticket: Credential,
}

impl Platform {
    /// `locks` serialise fetches across instances; a fetch holds its lock for at most
    /// `fetch_lease` (a normal fetch and a forced one, each within the upstream timeout).
    pub fn new(
        client: wechat::Client,
        db: Db,
        api: TokenApi,
        locks: Arc<dyn Locks>,
        fetch_lease: Duration,
    ) -> Self {
        let store: Arc<dyn CredentialStore> = Arc::new(DbCredentials {
            db,
            locks,
            lease: fetch_lease,
        });
        let appid = client.appid().as_str().to_owned();
        let token_client = client.clone();
        let fetch_token: Fetcher = Arc::new(move |force| {
            let client = token_client.clone();
            Box::pin(async move {
                let token = match api {
                    TokenApi::Stable => client.fetch_stable_token(force).await?,
                    TokenApi::Classic => client.fetch_token().await?,
                };
                Ok(Fetched {
                    value: token.access_token.secret().to_owned(),
                    expires_in: token.expires_in,
                })
            })
        });
        let force = (api == TokenApi::Stable).then_some(ForcePolicy::STABLE_TOKEN);
        let access_token = Credential::new(
            format!("access_token:{}:{appid}", api.as_str()),
            fetch_token,
            store.clone(),
            force,
        );
        let ticket_client = client.clone();
        let tokens = access_token.clone();
        let fetch_ticket: Fetcher = Arc::new(move |_force| {
            let client = ticket_client.clone();
            let tokens = tokens.clone();
            Box::pin(async move {
                let ticket = tokens
                    .call(|t| {
                        let client = client.clone();
                        async move { client.get_jsapi_ticket(&AccessToken::new(t)).await }
                    })
                    .await?;
                Ok(Fetched {
                    value: ticket.ticket.clone(),
                    expires_in: ticket.expires_in,
                })
            })
        });
        let jsapi_ticket =
            Credential::new(format!("jsapi_ticket:{appid}"), fetch_ticket, store, None);
        Platform {
            client,
            api,
            access_token,
            jsapi_ticket,
        }
    }

    /// Runs an API call with the base access_token (one retry with a replaced token on
    /// 40001/40014/42001, never a loop).
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, wechat::Error>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, wechat::Error>>,
    {
        self.access_token.call(|t| call(AccessToken::new(t))).await
    }
}

/// The account-level calls, each with the base access_token through [`Platform::call`]: what
/// the admin API, the CLI and the message server use.
impl Platform {
    pub async fn menu_get(&self) -> Result<wechat::MenuSet, wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_get(&t).await }).await
    }

    pub async fn menu_create(&self, menu: &wechat::Menu) -> Result<(), wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_create(&t, menu).await })
            .await
    }

    /// Deletes the default menu and every conditional one.
    pub async fn menu_delete(&self) -> Result<(), wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_delete(&t).await }).await
    }

    /// Adds a conditional menu; its menuid.
    pub async fn menu_add_conditional(&self, menu: &wechat::Menu) -> Result<String, wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_add_conditional(&t, menu).await })
            .await
    }

    pub async fn menu_delete_conditional(&self, menuid: &str) -> Result<(), wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_delete_conditional(&t, menuid).await })
            .await
    }

    /// The menu a follower (`user_id`: openid or WeChat ID) would see.
    pub async fn menu_try_match(&self, user_id: &str) -> Result<wechat::Menu, wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.menu_try_match(&t, user_id).await })
            .await
    }

    /// A customer-service message. Not idempotent: retried only when WeChat refused the token.
    pub async fn send_custom_message(
        &self,
        message: &wechat::CustomMessage,
    ) -> Result<(), wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.send_custom_message(&t, message).await })
            .await
    }

    /// Today's quota of one API (`cgi_path` with its leading slash).
    pub async fn quota(
        &self,
        cgi_path: &str,
    ) -> Result<wechat::openapi::QuotaReport, wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.quota_get(&t, cgi_path).await })
            .await
    }

    /// What WeChat recorded for the failed call with request id `rid`.
    pub async fn rid(&self, rid: &str) -> Result<wechat::openapi::RidRequest, wechat::Error> {
        let c = &self.client;
        self.call(|t| async move { c.rid_get(&t, rid).await }).await
    }

    /// The APIs wxgate itself calls, whose quotas `wxgate quota` shows by default.
    pub fn apis_called(&self) -> Vec<&'static str> {
        let token = match self.api {
            TokenApi::Stable => "/cgi-bin/stable_token",
            TokenApi::Classic => "/cgi-bin/token",
        };
        vec![
            token,
            "/cgi-bin/ticket/getticket",
            "/cgi-bin/menu/create",
            "/cgi-bin/menu/get",
            "/cgi-bin/message/custom/send",
        ]
    }
}

/// An API path as `openapi/quota/get` wants it: with its leading slash, without host or query
/// (`cgi-bin/user/info`, `https://api.weixin.qq.com/cgi-bin/user/info?x=1` and
/// `/cgi-bin/user/info` all become `/cgi-bin/user/info`).
pub fn cgi_path(input: &str) -> Result<String, String> {
    let mut path = input.trim();
    if let Some(rest) = path.split_once("://").map(|(_, r)| r) {
        path = rest.find('/').map_or("", |i| &rest[i..]);
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_start_matches('/');
    crate::gateway::check_path(path)?;
    Ok(format!("/{path}"))
}

/// What an operator should do about a failed platform call, in one or two sentences.
pub fn explain(error: &wechat::Error) -> String {
    let Some(code) = error.errcode() else {
        return format!(
            "{error} — check that this server can reach WeChat's API ({})",
            "WXGATE_API_BASE"
        );
    };
    let errmsg = match error {
        wechat::Error::Api { errmsg, .. } => errmsg.as_str(),
        _ => "",
    };
    match code {
        ErrCode::IP_NOT_IN_WHITELIST | ErrCode::IP_NOT_REGISTERED => {
            let ip = wechat::errcode::whitelist_ip(errmsg).unwrap_or("this server's IP");
            format!(
                "WeChat refused the call from {ip} (errcode {}): add {ip} to 公众平台 → 设置与开发 → 基本配置 → IP白名单, then try again",
                code.0
            )
        }
        ErrCode::DAILY_QUOTA => "the account's daily quota for this API is used up (errcode 45009): it resets at midnight Beijing time, or clear it in 公众平台 → 基本配置 (10 times a month). wxgate caches tokens; check for other programs fetching with the same AppID".to_owned(),
        ErrCode::INVALID_APPSECRET | ErrCode::INVALID_CREDENTIAL if matches!(error, wechat::Error::Api { path, .. } if path.contains("token")) => {
            format!(
                "WeChat rejected the AppSecret (errcode {}): check WXGATE_SECRET against 公众平台 → 基本配置 → 开发者密码(AppSecret)",
                code.0
            )
        }
        ErrCode::INVALID_APPID => {
            "WeChat does not know this AppID (errcode 40013): check WXGATE_APPID".into()
        }
        other => format!(
            "WeChat answered errcode {}: {} ({errmsg})",
            other.0,
            other.meaning()
        ),
    }
}

/// Credentials in the database's `credentials` table, fetched under a shared lock.
struct DbCredentials {
    db: Db,
    locks: Arc<dyn Locks>,
    lease: Duration,
}

#[async_trait]
impl CredentialStore for DbCredentials {
    async fn load(&self, kind: &str) -> Result<Option<Stored>, String> {
        crate::db::credentials::load(&self.db, kind)
            .await
            .map_err(|e| e.to_string())
    }

    async fn save(&self, kind: &str, stored: &Stored) -> Result<(), String> {
        crate::db::credentials::save(&self.db, kind, stored)
            .await
            .map_err(|e| e.to_string())
    }

    async fn lock_fetch(&self, kind: &str) -> Box<dyn Send + Sync> {
        Box::new(self.locks.lock(kind, self.lease, self.lease).await)
    }
}
