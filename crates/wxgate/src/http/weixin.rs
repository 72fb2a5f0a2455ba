//! `/weixin/` (or `WXGATE_WEIXIN_PATH`): WeChat's URL check (GET) and pushes (POST), turned into
//! calls of [`crate::messages::MessageServer`], which reads the whole pipeline top to bottom,
//! and its answers into responses.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::messages::{Answer, PushQuery, Refusal};
use crate::state::AppState;

pub fn router(app: &AppState) -> Router<AppState> {
    let Some(server) = &app.messages else {
        return Router::new();
    };
    let path = server.config.path.clone();
    let limit = server.config.body_limit;
    let mut router = Router::new().route(&path, get(verify_url).post(receive));
    // `/weixin` and `/weixin/` both work: WeChat's console takes the URL as typed.
    if let Some(bare) = path.strip_suffix('/').filter(|p| !p.is_empty()) {
        router = router.route(bare, get(verify_url).post(receive));
    }
    router.layer(DefaultBodyLimit::max(limit))
}

async fn verify_url(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> Response {
    let Some(server) = &app.messages else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match query {
        Ok(Query(q)) => respond(server.verify_url(&q)),
        Err(_) => respond(Err(server.malformed_query())),
    }
}

async fn receive(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let Some(server) = &app.messages else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match query {
        Ok(Query(q)) => respond(server.receive(&q, &body).await),
        Err(_) => respond(Err(server.malformed_query())),
    }
}

fn respond(result: Result<Answer, Refusal>) -> Response {
    const TEXT: &str = "text/plain; charset=utf-8";
    match result {
        Ok(Answer::Text(text)) => ([(header::CONTENT_TYPE, TEXT)], text).into_response(),
        Ok(Answer::Empty) => ([(header::CONTENT_TYPE, TEXT)], "").into_response(),
        Ok(Answer::Xml(xml)) => {
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
        }
        Err(Refusal { status, reason }) => {
            (status, [(header::CONTENT_TYPE, TEXT)], reason).into_response()
        }
    }
}
