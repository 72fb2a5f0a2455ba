//! The browser side of 网页授权 (§A.1, §A.2): the authorize link and the consent page.
//!
//! `GET /connect/oauth2/authorize` checks the link the way WeChat does (parameter order first,
//! then each parameter; problems give an HTML error page with WeChat's code, never a redirect),
//! then either redirects at once (`snsapi_base`, or auto-consent) or shows the consent page.
//! The consent form posts back to the same path; [`consent`] re-checks everything it carries.
//!
//! Which user: in WeChat the browser is the user it belongs to. Here it is the user the chat
//! page last acted as in this browser (the `wxsim_user` cookie, see [`crate::chat`]): silent
//! redirects log them in, and the consent page preselects them (another may still be chosen).
//! Without that cookie, or when it names no known user, silent redirects log in `users[0]` and
//! the consent page preselects `users[0]`.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use url::Url;

use crate::Simulator;
use crate::chat::remembered_user;
use crate::pages::{self, ConsentRequest};
use crate::platform::Scope;

/// The order WeChat's link pattern expects; `state` may be absent.
const ORDER: [&str; 5] = ["appid", "redirect_uri", "response_type", "scope", "state"];
const STATE_MAX: usize = 128;

/// Key/value pairs in query order, decoded (`+` and any `%XX`; invalid UTF-8 is replaced).
fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The link must start with the known keys that are present, in WeChat's order, each once;
/// other keys (forcePopup, connect_redirect, ...) may only follow them.
fn order_ok(pairs: &[(String, String)]) -> bool {
    let mut next = 0;
    let mut extras_started = false;
    for (key, _) in pairs {
        match ORDER.iter().position(|k| k == key) {
            Some(pos) if !extras_started && pos >= next => next = pos + 1,
            Some(_) => return false,
            None => extras_started = true,
        }
    }
    true
}

/// A failed check: WeChat's code (when it has one) and the page text.
type Refusal = (Option<i64>, &'static str);

/// The checks shared by the link and the consent form. Returns the scope.
fn check(
    sim: &Simulator,
    appid: &str,
    redirect_uri: &str,
    scope: &str,
    state: Option<&str>,
) -> Result<Scope, Refusal> {
    let config = sim.config();
    if appid.is_empty() {
        return Err((Some(10012), "appid 参数错误"));
    }
    if redirect_uri.is_empty() {
        return Err((Some(10011), "redirect_uri 参数错误"));
    }
    if scope.is_empty() {
        return Err((Some(10010), "scope 参数错误"));
    }
    if appid != config.appid {
        return Err((Some(40013), "Oops! Something went wrong:( invalid appid"));
    }
    let scope = Scope::parse(scope).ok_or((Some(10005), "scope 参数错误或没有 scope 权限"))?;
    let url = Url::parse(redirect_uri).map_err(|_| (Some(10003), "redirect_uri 参数错误"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err((Some(10003), "redirect_uri 参数错误"));
    }
    if let Some(domain) = &config.oauth_domain
        && !domain_matches(domain, &url)
    {
        return Err((Some(10003), "redirect_uri 参数错误"));
    }
    if let Some(state) = state
        && (state.len() > STATE_MAX || !state.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err((None, "state 参数错误：只能包含 a-zA-Z0-9，最多 128 字节"));
    }
    Ok(scope)
}

/// `domain` is `host` (any port) or `host:port` (exactly that port); IPv6 as `[::1]:8080`.
fn domain_matches(domain: &str, url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let domain = domain.trim().to_ascii_lowercase();
    let (want_host, want_port) = match domain.strip_prefix('[') {
        Some(rest) => match rest.split_once("]:") {
            Some((h, p)) => (format!("[{h}]"), Some(p)),
            None => (domain.clone(), None),
        },
        None => match domain.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (domain.clone(), None),
        },
    };
    let port = url.port_or_known_default().map(|p| p.to_string());
    want_host == host && want_port.is_none_or(|p| port.as_deref() == Some(p))
}

pub async fn authorize(
    State(sim): State<Simulator>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = pairs(raw.unwrap_or_default().as_bytes());
    if !order_ok(&pairs) {
        return pages::link_unavailable();
    }
    let appid = first(&pairs, "appid").unwrap_or_default();
    let redirect_uri = first(&pairs, "redirect_uri").unwrap_or_default();
    let scope = first(&pairs, "scope").unwrap_or_default();
    let state = first(&pairs, "state");
    let response_type = first(&pairs, "response_type").unwrap_or_default();
    let scope_kind = match check(&sim, appid, redirect_uri, scope, state) {
        Ok(s) => s,
        Err((code, msg)) => return pages::error_page(code, msg),
    };
    if response_type != "code" {
        return pages::error_page(None, "response_type 参数错误：必须是 code");
    }
    let force_popup = first(&pairs, "forcePopup") == Some("true");
    let silent = match scope_kind {
        Scope::Base => true,
        Scope::UserInfo => sim.config().auto_consent && !force_popup,
    };
    // The user this browser is (the chat page's), else the first.
    let user = remembered_user(&sim, &headers).unwrap_or(0);
    if silent {
        if sim.config().users.is_empty() {
            return pages::error_page(None, "模拟器没有用户");
        }
        let code = sim
            .platform()
            .issue_code(appid, user, scope_kind, sim.now());
        return callback(redirect_uri, Some(&code), state);
    }
    pages::consent_page(
        sim.config(),
        &ConsentRequest {
            appid,
            redirect_uri,
            scope,
            state,
        },
        user,
    )
}

/// The consent form: `action=allow` redirects with a code for the chosen user, `deny` without.
pub async fn consent(State(sim): State<Simulator>, body: Bytes) -> Response {
    let pairs = pairs(&body);
    let appid = first(&pairs, "appid").unwrap_or_default();
    let redirect_uri = first(&pairs, "redirect_uri").unwrap_or_default();
    let scope = first(&pairs, "scope").unwrap_or_default();
    let state = first(&pairs, "state");
    let bad = |code, msg| pages::error_page_with(StatusCode::BAD_REQUEST, code, msg);
    let scope_kind = match check(&sim, appid, redirect_uri, scope, state) {
        Ok(s) => s,
        Err((code, msg)) => return bad(code, msg),
    };
    match first(&pairs, "action") {
        Some("deny") => callback(redirect_uri, None, state),
        Some("allow") => {
            let user = first(&pairs, "user")
                .and_then(|u| u.parse::<usize>().ok())
                .filter(|&u| u < sim.config().users.len());
            let Some(user) = user else {
                return bad(None, "请选择一个模拟用户");
            };
            let code = sim
                .platform()
                .issue_code(appid, user, scope_kind, sim.now());
            callback(redirect_uri, Some(&code), state)
        }
        _ => bad(None, "action 必须是 allow 或 deny"),
    }
}

/// Bytes a Location header cannot carry as they are; everything else is kept verbatim.
const HEADER_UNSAFE: &AsciiSet = &CONTROLS.add(b' ');

/// 302 to `redirect_uri` with `code` and `state` appended (`&` if it already has a query),
/// before any fragment.
fn callback(redirect_uri: &str, code: Option<&str>, state: Option<&str>) -> Response {
    let (base, fragment) = match redirect_uri.find('#') {
        Some(i) => redirect_uri.split_at(i),
        None => (redirect_uri, ""),
    };
    let mut params = Vec::new();
    if let Some(code) = code {
        params.push(format!("code={code}"));
    }
    if let Some(state) = state {
        // Already checked to be a-zA-Z0-9.
        params.push(format!("state={state}"));
    }
    let mut location = base.to_string();
    if !params.is_empty() {
        if !base.contains('?') {
            location.push('?');
        } else if !(base.ends_with('?') || base.ends_with('&')) {
            location.push('&');
        }
        location.push_str(&params.join("&"));
    }
    location.push_str(fragment);
    let location = utf8_percent_encode(&location, HEADER_UNSAFE).to_string();
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(header::LOCATION, value)]).into_response(),
        Err(_) => pages::error_page(Some(10003), "redirect_uri 参数错误"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Vec<(String, String)> {
        pairs(q.as_bytes())
    }

    #[test]
    fn order() {
        assert!(order_ok(&p(
            "appid=a&redirect_uri=b&response_type=code&scope=s&state=1&forcePopup=true"
        )));
        assert!(order_ok(&p(
            "appid=a&redirect_uri=b&response_type=code&scope=s"
        )));
        assert!(order_ok(&p("redirect_uri=b&response_type=code&scope=s")));
        assert!(!order_ok(&p(
            "redirect_uri=b&appid=a&response_type=code&scope=s"
        )));
        assert!(!order_ok(&p(
            "x=1&appid=a&redirect_uri=b&response_type=code&scope=s"
        )));
        assert!(!order_ok(&p("appid=a&appid=a&redirect_uri=b")));
    }

    #[test]
    fn domains() {
        let u = Url::parse("http://127.0.0.1:8080/empower/").unwrap();
        assert!(domain_matches("127.0.0.1", &u));
        assert!(domain_matches("127.0.0.1:8080", &u));
        assert!(!domain_matches("127.0.0.1:9090", &u));
        assert!(!domain_matches("example.com", &u));
        let u = Url::parse("https://Example.com/x").unwrap();
        assert!(domain_matches("example.com:443", &u));
        let u = Url::parse("http://[::1]:8080/x").unwrap();
        assert!(domain_matches("[::1]:8080", &u));
        assert!(domain_matches("[::1]", &u));
    }
}
