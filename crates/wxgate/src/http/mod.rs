//! HTTP routes, one file per area; [`router`] merges them. To find the code for a URL:
//! `/`, `/index/`, `/auth/`, `/empower/`, `/logout/` → [`login`]; `/healthz`, `/readyz` → [`health`].

pub mod health;
pub mod login;
pub mod page;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
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
        .layer(sessions)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // The span names the path only: query strings carry OAuth codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
        }))
        .with_state(app)
}
