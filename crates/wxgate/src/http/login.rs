//! The login's pages: `/`, `/index/`, `/auth/`, `/empower/`, `/logout/`. The login itself reads
//! top to bottom in [`crate::login`]; this file turns requests into its calls and its results
//! and failures into pages (README lists what each failure shows).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use tower_sessions::Session;
use wechat::Scope;

use crate::http::error::Error;
use crate::http::page::{Link, Message, found};
use crate::login::{Completion, Failure, LOGIN_COOKIE, LoginCookie, LoginError, Step};
use crate::state::AppState;

const ROOT: &str = "/";
const INDEX: &str = "/index/";
const AUTH: &str = "/auth/";
const EMPOWER: &str = "/empower/";
const LOGOUT: &str = "/logout/";
/// Every path this router serves.
pub const PATHS: &[&str] = &[ROOT, INDEX, AUTH, EMPOWER, LOGOUT];

pub fn router(app: &AppState) -> Router<AppState> {
    // Starting and finishing logins is limited per client address (rate_limit.rs).
    let limited = Router::new()
        .route(AUTH, get(auth))
        .route(EMPOWER, get(empower))
        .route_layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::http::rate_limit::limit_logins,
        ));
    Router::new()
        .route(ROOT, get(|| async { found(INDEX) }))
        .route(INDEX, get(index))
        .route(LOGOUT, post(logout))
        .merge(limited)
}

async fn index(State(app): State<AppState>, session: Session) -> Result<Response, Error> {
    let (user, notice) = app.login.greeting(&session).await.map_err(page)?;
    if user.is_none() && notice.is_none() {
        // The guest page is the same for everyone: rendered once.
        let html = app.templates.render_once("index.html")?;
        return Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response());
    }
    let html = app.templates.render_cached(
        "index.html",
        minijinja::context! { user => minijinja::Value::from(minijinja::value::Serde(&user)), notice => notice },
    )?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response())
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
    headers: HeaderMap,
    query: Result<Query<AuthQuery>, QueryRejection>,
) -> Result<Response, Error> {
    {
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
        let cookie = request_cookie(&headers, LOGIN_COOKIE);
        let (url, cookie) = app.login.begin(cookie.as_deref(), scope, next);
        Ok(with_login_cookie(&app, found(&url), cookie))
    }
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
        Err(rejection) => return Error::from(bad_query(rejection)).into_response(),
    };
    let cookie = request_cookie(&headers, LOGIN_COOKIE);
    let (completed, cookie) = app
        .login
        .complete(&session, cookie.as_deref(), q.code, q.state.as_deref())
        .await;
    let response = match completed {
        Ok(Completion::Redirect(to)) => found(&to),
        // Not failures: pages that say what happened.
        Ok(Completion::Denied) => Message::new(StatusCode::OK, "您未授权,无法获取用户信息")
            .line("需要你的授权才能登录。")
            .link(Link {
                id: "retry",
                href: "/auth/".into(),
                text: "重新授权",
            })
            .render(&app.templates),
        Ok(Completion::Snapshot) => snapshot_page().render(&app.templates),
        Err(e) => page(e).into_response(),
    };
    with_login_cookie(&app, response, cookie)
}

/// The value of the cookie `name` this request carried.
fn request_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n == name).then(|| value.to_owned())
        })
}

/// Adds the `wxgate_login` cookie the login asked for: HttpOnly, SameSite=Lax (WeChat's
/// redirect back is a top-level navigation, which carries it), Secure behind https, for as
/// long as a state lives.
fn with_login_cookie(app: &AppState, mut response: Response, cookie: LoginCookie) -> Response {
    let (value, max_age) = match cookie {
        LoginCookie::Unchanged => return response,
        LoginCookie::Set(v) => (v, app.login.state_ttl().as_secs()),
        LoginCookie::Clear => (String::new(), 0),
    };
    let secure = if app.config.is_https() {
        "; Secure"
    } else {
        ""
    };
    let header = format!(
        "{LOGIN_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&header) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn snapshot_page() -> Message {
    Message::new(StatusCode::OK, "请点击「使用完整服务」")
        .line("你正在微信的快照页中浏览，这里无法获取你的昵称和头像。")
        .line("请点击屏幕下方的「使用完整服务」，再完成登录。")
        .link(Link::retry())
}

/// The page for a failed login: the user's fault (a bad code) is a 400 with a way to start
/// again, WeChat being down or slow a 502/504, a misconfigured account a 502 (its cause is in
/// the log for the operator), a store that cannot be reached a 503.
fn page(error: LoginError) -> Error {
    let message = match error {
        LoginError::StaleState => Message::new(StatusCode::BAD_REQUEST, "登录链接已失效")
            .line("这个登录链接已过期、已使用过，或不是在这个浏览器中发起的。")
            .line("请重新登录。"),
        LoginError::MalformedCode => {
            Message::new(StatusCode::BAD_REQUEST, "获取 access_token 失败")
                .line("授权码格式不正确，请重新登录。")
        }
        LoginError::Failed {
            step,
            failure,
            errcode,
        } => {
            let title = match step {
                Step::Token => "获取 access_token 失败",
                Step::Profile => "获取用户信息失败",
            };
            let (status, line) = match failure {
                Failure::BadCode => (
                    StatusCode::BAD_REQUEST,
                    "授权码无效、已过期或已被使用，请重新登录。",
                ),
                Failure::Misconfigured => (
                    StatusCode::BAD_GATEWAY,
                    "公众号的配置有误，暂时无法登录。请联系公众号管理员。",
                ),
                Failure::WechatError => (StatusCode::BAD_GATEWAY, "微信返回了错误，请稍后重试。"),
                Failure::Timeout => (
                    StatusCode::GATEWAY_TIMEOUT,
                    "微信服务器响应超时，请稍后重试。",
                ),
                Failure::Unreachable => (
                    StatusCode::BAD_GATEWAY,
                    "暂时无法连接微信服务器，请稍后重试。",
                ),
                Failure::Storage => {
                    return Message::new(StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用")
                        .line("登录信息暂时无法保存，请稍后重试。")
                        .link(Link::retry())
                        .into();
                }
            };
            let message = Message::new(status, title).line(line);
            match errcode {
                Some(code) => message.code(format!("errcode {code}")),
                None => message,
            }
        }
        LoginError::Session(e) => return e.into(),
        LoginError::Database(e) => return e.into(),
    };
    message.link(Link::retry()).into()
}

async fn logout(State(app): State<AppState>, session: Session) -> Result<Redirect, Error> {
    app.login.logout(&session).await.map_err(page)?;
    Ok(Redirect::to(INDEX))
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
