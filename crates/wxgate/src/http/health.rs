//! `GET /healthz` (the process is alive) and `GET /readyz` (it can do its work: the database
//! answers, and Redis when one is configured). A load balancer takes an instance that is not
//! ready out of rotation; the body names what is missing.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::state::AppState;

const HEALTHZ: &str = "/healthz";
const READYZ: &str = "/readyz";
/// Every path this router serves.
pub const PATHS: &[&str] = &[HEALTHZ, READYZ];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(HEALTHZ, get(|| async { "ok" }))
        .route(READYZ, get(readyz))
}

/// How long readiness waits for each store: a locked database or a stuck Redis is not ready.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

async fn readyz(State(app): State<AppState>) -> (StatusCode, String) {
    let mut missing = Vec::new();
    match tokio::time::timeout(CHECK_TIMEOUT, app.db.ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the database cannot read and write");
            missing.push("database unavailable");
        }
        Err(_) => {
            tracing::warn!(
                "readiness: the database did not answer within {CHECK_TIMEOUT:?} (locked by another process?)"
            );
            missing.push("database unavailable (locked)");
        }
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
