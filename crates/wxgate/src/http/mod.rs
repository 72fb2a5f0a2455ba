//! HTTP routes, one file per area; [`router`] merges them. To find the code for a URL:
//! `/`, `/index/`, `/auth/`, `/empower/`, `/logout/` → [`login`]; `/weixin/` (WeChat's pushes)
//! → [`weixin`]; `/jssdk/config` → [`jssdk`]; `/admin/…` → [`admin`]; `/healthz`, `/readyz` →
//! [`health`].

pub mod admin;
pub mod connection;
pub mod error;
pub mod health;
pub mod jssdk;
pub mod login;
pub mod page;
pub mod rate_limit;
pub mod weixin;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::sessions;
use crate::state::AppState;

/// Whether `path` (with or without its trailing slash) is served by one of wxgate's own routers:
/// the message server's configurable path must not take a page's place.
pub fn is_own_path(path: &str) -> bool {
    let bare = path.trim_end_matches('/');
    let exact = login::PATHS
        .iter()
        .chain(health::PATHS)
        .any(|p| p.trim_end_matches('/') == bare);
    let under = |prefix: &str| bare == prefix || bare.starts_with(&format!("{prefix}/"));
    exact || bare.is_empty() || under(admin::PREFIX) || under(jssdk::PREFIX)
}

/// Bodies larger than this are refused with 413 before any handler runs (the message server
/// has its own limit, `WXGATE_MESSAGE_BODY_LIMIT`).
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request body must arrive within this.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn router(app: AppState, store: sessions::Store) -> Router {
    let sessions = store.layer(&app.config);
    // A handler may wait for WeChat twice (code exchange, then the profile) and the database.
    let request_timeout =
        (app.config.upstream_timeout * 3 + Duration::from_secs(5)).max(Duration::from_secs(30));
    let routes = Router::new()
        .merge(login::router(&app))
        .merge(health::router())
        .merge(weixin::router(&app))
        .merge(jssdk::router())
        .merge(admin::router(&app))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(sessions)
        .layer(middleware::from_fn_with_state(app.clone(), error::render))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), body_size))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ));
    with_security_headers(routes)
        // The span names the path only: query strings carry OAuth codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(app)
}

/// Headers every response gets unless its handler set them: no MIME sniffing, no framing
/// (clickjacking of the login), no Referer (the callback URL carries an OAuth code), and no
/// caching (pages show a user's nickname; JSON answers are per request).
fn with_security_headers(router: Router<AppState>) -> Router<AppState> {
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            "frame-ancestors 'none'",
        ))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::CACHE_CONTROL, "no-store"))
}

/// Refuses a body whose declared length is over the limit at once (instead of waiting for
/// it), and words every 413 the same way.
async fn body_size(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let limit = match &app.messages {
        Some(m)
            if request
                .uri()
                .path()
                .starts_with(m.config.path.trim_end_matches('/')) =>
        {
            m.config.body_limit
        }
        _ => BODY_LIMIT,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let response = if declared.is_some_and(|n| n > limit as u64) {
        StatusCode::PAYLOAD_TOO_LARGE.into_response()
    } else {
        next.run(request).await
    };
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("request body too large: at most {limit} bytes"),
    )
        .into_response()
}

async fn not_found() -> error::Error {
    page::Message::new(StatusCode::NOT_FOUND, "页面不存在")
        .line("你要找的页面不存在。")
        .into()
}

async fn method_not_allowed() -> error::Error {
    page::Message::new(StatusCode::METHOD_NOT_ALLOWED, "不支持的请求方式")
        .line("这个地址不接受这种请求方式。")
        .into()
}
