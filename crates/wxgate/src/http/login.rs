//! WeChat web login (网页授权), read top to bottom:
//! `/auth/` → WeChat's authorize page → `/empower/` → exchange the code → fetch the profile →
//! store the user → rotate the session → redirect. `/index/` greets, `/logout/` ends it.
//!
//! The `state` is ≥128 bits of randomness kept in this browser's session: single use, 10-minute
//! life. WeChat sometimes redirects twice and people press refresh: a callback this browser
//! already completed quietly continues, and a code is exchanged only once even when two copies
//! of the callback race (see [`LoginsInFlight`]). Another browser replaying the URL holds no
//! matching state and gets a 400.

use std::time::Duration;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use wechat::{Code, OpenId, Scope};

use crate::http::page::{AppError, Link, Message, found};
use crate::single_flight::SingleFlight;
use crate::state::AppState;
use crate::user_tokens;
use crate::{db, sessions};

/// Logins a browser may have open at once (tabs); older ones are forgotten.
const MAX_PENDING: usize = 5;
/// A code lives 5 minutes at WeChat, so remembering its result longer is pointless.
const CODE_MEMORY: Duration = Duration::from_secs(300);

const SESSION_OPENID: &str = "openid";
const SESSION_PENDING: &str = "pending_logins";
const SESSION_COMPLETED: &str = "completed_states";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { found("/index/") }))
        .route("/index/", get(index))
        .route("/auth/", get(auth))
        .route("/empower/", get(empower))
        .route("/logout/", post(logout))
}

/// A login this browser started and has not finished.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingLogin {
    state: String,
    scope: Scope,
    next: String,
    created_at: i64,
}

#[derive(Serialize)]
struct Greeting {
    name: String,
    avatar: Option<String>,
}

async fn index(State(app): State<AppState>, session: Session) -> Response {
    let result: Result<Response, AppError> = async {
        let mut notice = None;
        let mut user = None;
        if let Some(openid) = session.get::<String>(SESSION_OPENID).await? {
            let stored = db::find_user(&app.db, &openid).await?;
            match stored {
                Some(u) if user_tokens::has_live_tokens(&app.db, &openid).await? => {
                    user = Some(Greeting {
                        name: u.nickname.filter(|n| !n.is_empty()).unwrap_or_else(|| "微信用户".into()),
                        avatar: u.headimgurl.filter(|a| a.starts_with("https://") || a.starts_with("http://")),
                    });
                }
                _ => {
                    // The refresh_token lapsed (or the user was removed): log in again.
                    session.remove::<String>(SESSION_OPENID).await?;
                    notice = Some("登录已过期，请重新登录。");
                }
            }
        }
        let html = app.templates.render(
            "index.html",
            minijinja::context! { user => minijinja::Value::from(minijinja::value::Serde(&user)), notice => notice },
        )?;
        Ok(Html(html).into_response())
    }
    .await;
    result.unwrap_or_else(|e| e.into_response(&app.templates))
}

#[derive(Deserialize)]
struct AuthQuery {
    scope: Option<String>,
    next: Option<String>,
}

/// A query string that does not parse (a parameter twice, bad percent-encoding): a page, not
/// axum's English rejection.
fn bad_query(rejection: QueryRejection) -> Message {
    tracing::info!(error = %rejection.body_text(), "malformed query string");
    Message::new(StatusCode::BAD_REQUEST, "登录参数有误")
        .line("链接中的参数不完整或重复，请重新登录。")
        .link(Link::retry())
}

async fn auth(
    State(app): State<AppState>,
    session: Session,
    query: Result<Query<AuthQuery>, QueryRejection>,
) -> Response {
    let result: Result<Response, AppError> = async {
        let Query(q) = query.map_err(bad_query)?;
        let scope = match q.scope.as_deref() {
            None | Some("") => Scope::UserInfo,
            Some(s) => s.parse::<Scope>().map_err(|_| {
                Message::new(StatusCode::BAD_REQUEST, "登录参数有误")
                    .line("scope 只能是 snsapi_base 或 snsapi_userinfo。")
                    .link(Link::retry())
            })?,
        };
        let next = match q.next.as_deref() {
            None | Some("") => "/index/".to_owned(),
            Some(n) => safe_next(n).ok_or_else(|| {
                Message::new(StatusCode::BAD_REQUEST, "登录参数有误")
                    .line("next 只能是本站的相对路径，例如 /index/。")
                    .link(Link::retry())
            })?,
        };
        let state = wechat::State::generate();
        let mut pending: Vec<PendingLogin> =
            session.get(SESSION_PENDING).await?.unwrap_or_default();
        let now = db::now();
        let ttl = app.config.state_ttl.as_secs() as i64;
        pending.retain(|p| now - p.created_at < ttl);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push(PendingLogin {
            state: state.as_str().to_owned(),
            scope,
            next,
            created_at: now,
        });
        session.insert(SESSION_PENDING, pending).await?;
        if session.get::<String>(SESSION_OPENID).await?.is_none() {
            // A browser that only started a login is forgotten with its state, so anonymous
            // hits on /auth/ cannot pile up week-long sessions.
            session.set_expiry(Some(sessions::pending_login_expiry(app.config.state_ttl)));
        }
        let url = wechat::authorize_url(
            &app.config.oauth_base,
            app.client.appid(),
            &format!("{}/empower/", app.public_url),
            scope,
            &state,
        );
        Ok(found(&url))
    }
    .await;
    result.unwrap_or_else(|e| e.into_response(&app.templates))
}

/// Only same-origin relative paths: `/x` but not `//evil.example` or `/\evil.example`.
fn safe_next(next: &str) -> Option<String> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && !next.chars().any(|c| c == '\\' || c.is_control());
    ok.then(|| next.to_owned())
}

#[derive(Deserialize)]
struct EmpowerQuery {
    code: Option<String>,
    state: Option<String>,
}

async fn empower(
    State(app): State<AppState>,
    session: Session,
    headers: HeaderMap,
    query: Result<Query<EmpowerQuery>, QueryRejection>,
) -> Response {
    let q = match query {
        Ok(Query(q)) => q,
        Err(rejection) => return bad_query(rejection).render(&app.templates),
    };
    let browser = session_cookie(&headers);
    let result = complete(&app, &session, browser, q).await;
    result.unwrap_or_else(|e| e.into_response(&app.templates))
}

fn stale_state() -> Message {
    Message::new(StatusCode::BAD_REQUEST, "登录链接已失效")
        .line("这个登录链接已过期、已使用过，或不是在这个浏览器中发起的。")
        .line("请重新登录。")
        .link(Link::retry())
}

/// The raw session cookie this request carried: it identifies the browser even after the
/// session it named was rotated away by a login that finished meanwhile.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == sessions::COOKIE_NAME).then(|| value.to_owned())
        })
}

async fn complete(
    app: &AppState,
    session: &Session,
    browser: Option<String>,
    q: EmpowerQuery,
) -> Result<Response, AppError> {
    let mut pending: Vec<PendingLogin> = session.get(SESSION_PENDING).await?.unwrap_or_default();
    let presented = q.state.as_deref().and_then(wechat::State::parse);
    let position = presented.as_ref().and_then(|s| {
        pending
            .iter()
            .position(|p| wechat::State::parse(&p.state).is_some_and(|mine| mine.ct_eq(s)))
    });
    // Single use: whatever happens next, this state is spent.
    let login = position.map(|i| pending.remove(i));
    if login.is_some() {
        session.insert(SESSION_PENDING, &pending).await?;
    }

    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        // The user tapped 拒绝: WeChat redirects with the state only.
        return Ok(Message::new(StatusCode::OK, "您未授权,无法获取用户信息")
            .line("需要你的授权才能登录。")
            .link(Link {
                id: "retry",
                href: "/auth/".into(),
                text: "重新授权",
            })
            .render(&app.templates));
    };

    let Some(login) = login else {
        // A callback this browser already completed (refresh, back button, WeChat's double
        // redirect): carry on quietly. Anything else is stale, forged or someone else's.
        let completed: Vec<String> = session.get(SESSION_COMPLETED).await?.unwrap_or_default();
        let already = presented
            .as_ref()
            .is_some_and(|s| completed.iter().any(|c| c == s.as_str()));
        let logged_in = session.get::<String>(SESSION_OPENID).await?.is_some();
        if already && logged_in {
            return Ok(found("/index/"));
        }
        let replayed = presented
            .as_ref()
            .and_then(|s| app.logins.replayed(s.as_str(), &code, browser.as_deref()));
        match replayed {
            Some(Outcome::LoggedIn(_)) => return Ok(found("/index/")),
            Some(Outcome::Snapshot) => return Ok(snapshot_page().render(&app.templates)),
            _ => {}
        }
        return Err(stale_state().into());
    };
    if db::now() - login.created_at >= app.config.state_ttl.as_secs() as i64 {
        return Err(stale_state().into());
    }
    if code.len() > 512 || !code.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            Message::new(StatusCode::BAD_REQUEST, "获取 access_token 失败")
                .line("授权码格式不正确，请重新登录。")
                .link(Link::retry())
                .into(),
        );
    }

    match app.logins.run(app, &login, Code::new(code), browser).await {
        Outcome::LoggedIn(openid) => {
            // A new session id at the moment of login defeats session fixation.
            session.cycle_id().await?;
            session.set_expiry(Some(sessions::logged_in_expiry()));
            session.insert(SESSION_OPENID, openid.as_str()).await?;
            let mut completed: Vec<String> =
                session.get(SESSION_COMPLETED).await?.unwrap_or_default();
            completed.push(login.state.clone());
            if completed.len() > MAX_PENDING {
                completed.remove(0);
            }
            session.insert(SESSION_COMPLETED, completed).await?;
            Ok(found(&login.next))
        }
        Outcome::Snapshot => Ok(snapshot_page().render(&app.templates)),
        Outcome::Failed(message) => Err((*message).into()),
    }
}

fn snapshot_page() -> Message {
    Message::new(StatusCode::OK, "请点击「使用完整服务」")
        .line("你正在微信的快照页中浏览，这里无法获取你的昵称和头像。")
        .line("请点击屏幕下方的「使用完整服务」，再完成登录。")
        .link(Link::retry())
}

/// What exchanging one code came to.
#[derive(Clone, Debug)]
pub enum Outcome {
    LoggedIn(OpenId),
    /// A snapshot-page virtual user (is_snapshotuser=1): not a real user, not stored.
    Snapshot,
    Failed(Box<Message>),
}

/// Codes being (or recently) exchanged, keyed by state and code. When WeChat delivers the same
/// callback twice at once, the second waits for the first's result instead of spending the code
/// again (which WeChat answers with 40163). The exchange runs in its own task, so a browser that
/// disconnects mid-login does not leave it half done.
#[derive(Debug)]
pub struct LoginsInFlight {
    /// The outcome, with the session cookie of the browser that started the exchange.
    flights: SingleFlight<(Option<String>, Outcome)>,
}

impl Default for LoginsInFlight {
    fn default() -> Self {
        LoginsInFlight {
            flights: SingleFlight::new(CODE_MEMORY),
        }
    }
}

impl LoginsInFlight {
    async fn run(
        &self,
        app: &AppState,
        login: &PendingLogin,
        code: Code,
        browser: Option<String>,
    ) -> Outcome {
        let key = format!("{}:{}", login.state, code.secret());
        let app = app.clone();
        let scope = login.scope;
        let work = async move { (browser, exchange(&app, code, scope).await) };
        match self.flights.run(key, work).await {
            Some((_, outcome)) => outcome,
            None => Outcome::Failed(Box::new(Message::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "服务暂时不可用",
            ))),
        }
    }

    /// What this browser (by its pre-login session cookie) already got from this state and
    /// code — for the second of two racing callbacks, arriving after the first rotated the
    /// session, or a reload of the snapshot page. A different browser presenting the same URL
    /// gets `None`.
    fn replayed(&self, state: &str, code: &str, browser: Option<&str>) -> Option<Outcome> {
        use subtle::ConstantTimeEq;
        let browser = browser?;
        let (first, outcome) = self.flights.finished(&format!("{state}:{code}"))?;
        let same_browser = first
            .as_deref()
            .is_some_and(|b| bool::from(b.as_bytes().ct_eq(browser.as_bytes())));
        same_browser.then_some(outcome)
    }
}

/// code → tokens (sns/oauth2/access_token) → profile (sns/userinfo) → database.
async fn exchange(app: &AppState, code: Code, scope: Scope) -> Outcome {
    let token = match app.client.exchange_code(&code).await {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(Box::new(wechat_failure("获取 access_token 失败", &e))),
    };
    if token.is_snapshot_user() {
        tracing::info!("snapshot-page user; asking them to use the full service");
        return Outcome::Snapshot;
    }
    let profile = if scope == Scope::UserInfo && token.has_userinfo_scope() {
        match app
            .client
            .userinfo(&token.access_token, &token.openid)
            .await
        {
            Ok(p) => Some(p),
            Err(e) => return Outcome::Failed(Box::new(wechat_failure("获取用户信息失败", &e))),
        }
    } else {
        None
    };
    if let Err(e) = db::record_login(&app.db, &token, profile.as_ref()).await {
        tracing::error!(error = %e, "could not store the login");
        return Outcome::Failed(Box::new(
            Message::new(StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用")
                .line("登录信息暂时无法保存，请稍后重试。")
                .link(Link::retry()),
        ));
    }
    tracing::info!(openid = %token.openid, scope = %token.scope, "user logged in");
    Outcome::LoggedIn(token.openid)
}

/// Maps a failed WeChat call to a page: the user's fault (a bad code) is a 400 with a way to
/// start again, WeChat being down or slow is a 502/504, and a misconfigured account is a 502
/// whose cause goes to the log for the operator.
fn wechat_failure(title: &'static str, error: &wechat::Error) -> Message {
    use wechat::Error as E;
    let message = match error {
        E::Api { code, .. } if code.is_bad_code() => Message::new(StatusCode::BAD_REQUEST, title)
            .line("授权码无效、已过期或已被使用，请重新登录。"),
        E::Api { code, .. } if code.is_operator_error() => {
            tracing::error!(%error, meaning = code.meaning(), "WeChat rejected the account's credentials");
            Message::new(StatusCode::BAD_GATEWAY, title)
                .line("公众号的配置有误，暂时无法登录。请联系公众号管理员。")
        }
        E::Api { code, .. } => {
            tracing::warn!(%error, meaning = code.meaning(), "WeChat returned an error");
            Message::new(StatusCode::BAD_GATEWAY, title).line("微信返回了错误，请稍后重试。")
        }
        E::Timeout { .. } => {
            tracing::warn!(%error, "WeChat timed out");
            Message::new(StatusCode::GATEWAY_TIMEOUT, title)
                .line("微信服务器响应超时，请稍后重试。")
        }
        E::Transport { .. } | E::BadResponse { .. } => {
            tracing::warn!(%error, "WeChat unreachable or answered nonsense");
            Message::new(StatusCode::BAD_GATEWAY, title)
                .line("暂时无法连接微信服务器，请稍后重试。")
        }
    };
    let message = message.link(Link::retry());
    match error.errcode() {
        Some(code) => message.code(format!("errcode {}", code.0)),
        None => message,
    }
}

async fn logout(State(app): State<AppState>, session: Session) -> Response {
    match session.flush().await {
        Ok(()) => Redirect::to("/index/").into_response(),
        Err(e) => AppError::from(e).into_response(&app.templates),
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_accepts_only_same_origin_paths() {
        assert_eq!(safe_next("/index/?a=1").as_deref(), Some("/index/?a=1"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "index",
            "/a\nb",
        ] {
            assert!(safe_next(bad).is_none(), "{bad}");
        }
    }
}
