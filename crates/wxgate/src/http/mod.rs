//! HTTP routes, one file per area; [`router`] merges them. To find the code for a URL:
//! `/`, `/index/`, `/auth/`, `/empower/`, `/logout/` → [`login`]; `/weixin/` (WeChat's pushes)
//! → [`weixin`]; `/jssdk/config` → [`jssdk`]; `/admin/…` → [`admin`]; `/healthz`, `/readyz` →
//! [`health`].

pub mod admin;
pub mod health;
pub mod jssdk;
pub mod login;
pub mod page;
pub mod weixin;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::response::Response;
use tower_http::trace::TraceLayer;

use crate::sessions;
use crate::state::AppState;

/// Bodies larger than this are refused with 413 before any handler runs.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(app: AppState, store: sessions::Store) -> Router {
    let sessions = store.layer(&app.config);
    Router::new()
        .merge(login::router())
        .merge(health::router())
        .merge(weixin::router(&app))
        .merge(jssdk::router())
        .merge(admin::router(&app))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(sessions)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // The span names the path only: query strings carry OAuth codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(app)
}

async fn not_found(State(app): State<AppState>) -> Response {
    page::Message::new(StatusCode::NOT_FOUND, "页面不存在")
        .line("你要找的页面不存在。")
        .render(&app.templates)
}

async fn method_not_allowed(State(app): State<AppState>) -> Response {
    page::Message::new(StatusCode::METHOD_NOT_ALLOWED, "不支持的请求方式")
        .line("这个地址不接受这种请求方式。")
        .render(&app.templates)
}
