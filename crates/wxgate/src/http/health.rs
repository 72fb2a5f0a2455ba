//! `GET /healthz` (the process is alive) and `GET /readyz` (it can do its work: the database
//! answers, and Redis when one is configured). A load balancer takes an instance that is not
//! ready out of rotation; the body names what is missing.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
}

async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    let mut missing = Vec::new();
    if let Err(e) = app.db.ping().await {
        tracing::warn!(error = %e, "readiness: the database does not answer");
        missing.push("database unavailable");
    }
    if let Some(redis) = &app.shared.redis
        && let Err(e) = redis.ping().await
    {
        tracing::warn!(error = %e, "readiness: Redis does not answer");
        missing.push("Redis unavailable");
    }
    if missing.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, missing.join("; "))
    }
}
