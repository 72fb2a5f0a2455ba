//! The API gateway: the account's other programs call any WeChat server API through wxgate,
//! authenticated by their own client token, and wxgate adds the one access_token it manages.
//! No other program fetches a token, so none invalidates another's (field-lessons row 1), and
//! none holds the AppSecret. `ANY /api/{path}` is served by [`crate::http::api`].
//!
//! What a call goes through, in order: the client's bearer token ([`clients`]); the path
//! ([`check_path`], then the token and `sns/` endpoints are refused, then the client's `allow`
//! list); the caller's own `access_token` parameter is refused; the body is buffered (up to
//! `WXGATE_API_BODY_LIMIT`, multipart uploads included) so that it can be sent twice; then
//! [`Gateway::forward`]: the call with the managed token and, when WeChat rejects the token
//! (40001/40014/42001), one replacement with the token manager's compare-and-invalidate and
//! one retry. A timeout or a broken connection is never retried: the call may have been
//! delivered. WeChat's answer goes back as it came; the token is cut out of it should it ever
//! appear.

pub mod clients;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wechat::forward::{Forward, Forwarded};
use wechat::{AccessToken, ErrCode};

use crate::platform::Platform;
pub use clients::{ApiClient, ApiClients};

/// Largest request body the gateway buffers by default: WeChat's largest upload (a video) is
/// 10 MB (`docs/wechat-platform-apis.md` §2).
pub const DEFAULT_BODY_LIMIT: usize = 20 << 20;

/// How many distinct path families are reported as metric labels; the rest are `other`.
const MAX_FAMILIES: usize = 200;

/// Why the gateway refused a call, for the HTTP layer to word as a 4xx.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, or a token no client has.
    Unauthorized(&'static str),
    /// 403: a path the gateway or this client may not call.
    Forbidden(String),
    /// 400: a malformed path or query.
    BadRequest(String),
    /// 405: a method other than GET and POST.
    MethodNotAllowed,
}

/// Checks the shape of an API path (no leading slash): `cgi-bin/user/info` is fine; empty
/// segments, `..`, and characters WeChat's paths never have are not.
pub fn check_path(path: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/');
    if path.is_empty() {
        return Err("no API path: call /api/<path>, e.g. /api/cgi-bin/user/info".into());
    }
    if path.len() > 200 || !path.chars().all(ok_char) {
        return Err(format!(
            "{:?} is not a WeChat API path (letters, digits, _ - . and /)",
            path.chars().take(80).collect::<String>()
        ));
    }
    if path.starts_with('/')
        || path.contains("//")
        || path.split('/').any(|s| s == ".." || s == ".")
    {
        return Err(format!("{path:?} has an empty, . or .. segment"));
    }
    Ok(())
}

/// The path family reported in metrics: the first two segments (`cgi-bin/message`), so a label
/// names an area of the API and not a user's path.
fn family_of(path: &str) -> String {
    path.split('/').take(2).collect::<Vec<_>>().join("/")
}

/// The gateway's state: its clients and the account's platform credentials.
#[derive(Debug)]
pub struct Gateway {
    pub clients: ApiClients,
    platform: Platform,
    timeout: Duration,
    pub body_limit: usize,
    families: Mutex<HashSet<String>>,
}

/// The caller's request, as the HTTP layer received it.
pub struct Call<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub content_type: Option<&'a str>,
    pub body: Bytes,
}

impl Gateway {
    pub fn new(
        clients: ApiClients,
        platform: Platform,
        timeout: Duration,
        body_limit: usize,
    ) -> Self {
        Gateway {
            clients,
            platform,
            timeout,
            body_limit,
            families: Mutex::new(HashSet::new()),
        }
    }

    /// The client presenting `authorization` (the whole header value).
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<&ApiClient, Refusal> {
        let Some(header) = authorization else {
            return Err(Refusal::Unauthorized(
                "missing Authorization: Bearer <client token> (WXGATE_API_TOKEN or an [[api_clients]] token)",
            ));
        };
        let presented = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(Refusal::Unauthorized(
                "the Authorization header must be: Bearer <client token>",
            ))?;
        self.clients
            .authenticate(presented)
            .ok_or(Refusal::Unauthorized("unknown client token"))
    }

    /// Whether `client` may call `path` with `query`: everything but the forwarding itself.
    pub fn admit(
        &self,
        client: &ApiClient,
        method: &str,
        path: &str,
        query: &str,
    ) -> Result<(), Refusal> {
        if method != "GET" && method != "POST" {
            return Err(Refusal::MethodNotAllowed);
        }
        check_path(path).map_err(Refusal::BadRequest)?;
        let bare = path.trim_end_matches('/');
        if bare == "cgi-bin/token" || bare == "cgi-bin/stable_token" {
            return Err(Refusal::Forbidden(format!(
                "{bare} is not forwarded: wxgate keeps the account's one access_token and adds it to every call; a program that must hold the token reads it at GET /api/token (a client with reveal_token = true)"
            )));
        }
        if bare == "sns" || bare.starts_with("sns/") {
            return Err(Refusal::Forbidden(format!(
                "{bare} is not forwarded: sns/ APIs take a user's access_token from the web login, not the account's"
            )));
        }
        if !client.allows(path) {
            let allowed = client.allow.as_deref().unwrap_or_default().join(", ");
            return Err(Refusal::Forbidden(format!(
                "client {:?} may not call {path}: its allow list is {allowed}",
                client.name
            )));
        }
        let has_token = url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, _)| k.eq_ignore_ascii_case("access_token"));
        if has_token {
            return Err(Refusal::BadRequest(
                "remove access_token from the query: the gateway adds the account's token itself"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Forwards an admitted call (see the module comment for the retry rule).
    pub async fn forward(
        &self,
        client: &ApiClient,
        call: Call<'_>,
    ) -> Result<Forwarded, wechat::Error> {
        let started = Instant::now();
        let request = Forward {
            method: if call.method == "POST" {
                reqwest::Method::POST
            } else {
                reqwest::Method::GET
            },
            path: call.path.to_owned(),
            query: call.query.to_owned(),
            content_type: call.content_type.map(str::to_owned),
            // A large upload gets a second more per MB on top of the usual timeout.
            timeout: self.timeout + Duration::from_secs((call.body.len() >> 20) as u64),
            body: call.body,
        };
        let client_api = &self.platform.client;
        let token = self.platform.access_token.get().await?;
        let mut result = client_api
            .forward(&request, &AccessToken::new(token.clone()))
            .await;
        if let Ok(answer) = &result
            && answer.errcode.is_some_and(ErrCode::is_token_invalid)
        {
            tracing::info!(client = %client.name, errcode = ?answer.errcode, "the token was rejected; replacing it and retrying once");
            let fresh = self.platform.access_token.replace(&token).await?;
            result = client_api.forward(&request, &AccessToken::new(fresh)).await;
        }
        let outcome = match &result {
            Ok(answer) => answer
                .errcode
                .map_or_else(|| "0".to_owned(), |c| c.0.to_string()),
            Err(wechat::Error::Timeout { .. }) => "timeout".into(),
            Err(_) => "transport".into(),
        };
        let family = self.family_label(call.path);
        crate::metrics::gateway_call(&client.name, &family, &outcome, started.elapsed());
        match &result {
            Ok(answer) if answer.errcode.is_some() => tracing::info!(
                client = %client.name,
                path = call.path,
                errcode = %outcome,
                "gateway call answered with an error"
            ),
            Ok(_) => tracing::debug!(client = %client.name, path = call.path, "gateway call"),
            Err(e) => {
                tracing::warn!(client = %client.name, path = call.path, error = %e, "gateway call failed")
            }
        }
        result
    }

    /// The access_token and its seconds left, for a client allowed to read it. The cached token
    /// is answered as it is: asking never refreshes it early.
    pub async fn reveal(
        &self,
        client: &ApiClient,
    ) -> Result<Result<(String, i64), Refusal>, wechat::Error> {
        if !client.reveal_token {
            return Ok(Err(Refusal::Forbidden(format!(
                "client {:?} may not read the access_token: set reveal_token = true in its [[api_clients]] entry, or call WeChat through /api/<path> instead",
                client.name
            ))));
        }
        let token = self.platform.access_token.get().await?;
        let status = self.platform.access_token.status().await;
        let left = status
            .expires_at
            .map_or(0, |at| (at - crate::clock::now()).max(0));
        tracing::info!(client = %client.name, "access_token revealed");
        Ok(Ok((token, left)))
    }

    /// `path`'s family, or `other` once [`MAX_FAMILIES`] have been seen.
    fn family_label(&self, path: &str) -> String {
        let family = family_of(path);
        let mut seen = self.families.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains(&family) {
            return family;
        }
        if seen.len() < MAX_FAMILIES {
            seen.insert(family.clone());
            return family;
        }
        "other".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert!(check_path("cgi-bin/user/info").is_ok());
        assert!(check_path("cgi-bin/media/upload").is_ok());
        for bad in [
            "",
            "/cgi-bin/x",
            "cgi-bin//x",
            "cgi-bin/../token",
            "a b",
            "cgi-bin/%2e%2e",
            "a/./b",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            family_of("cgi-bin/message/template/send"),
            "cgi-bin/message"
        );
        assert_eq!(family_of("datacube"), "datacube");
    }
}
