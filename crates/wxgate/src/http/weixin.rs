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

use crate::http::error::Error;
use crate::http::page::Message;
use crate::messages::{Answer, MessageServer, PushQuery};
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

/// The message server, or the 404 page when it is off (no Token).
fn server(app: &AppState) -> Result<&std::sync::Arc<MessageServer>, Error> {
    app.messages
        .as_ref()
        .ok_or_else(|| Error::page(Message::new(StatusCode::NOT_FOUND, "页面不存在")))
}

async fn verify_url(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> Result<Response, Error> {
    let server = server(&app)?;
    let Query(q) = query.map_err(|_| server.malformed_query())?;
    Ok(respond(server.verify_url(&q)?))
}

async fn receive(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Bytes,
) -> Result<Response, Error> {
    let server = server(&app)?;
    let Query(q) = query.map_err(|_| server.malformed_query())?;
    Ok(respond(server.receive(&q, &body).await?))
}

fn respond(answer: Answer) -> Response {
    const TEXT: &str = "text/plain; charset=utf-8";
    match answer {
        Answer::Text(text) => ([(header::CONTENT_TYPE, TEXT)], text).into_response(),
        Answer::Empty => ([(header::CONTENT_TYPE, TEXT)], "").into_response(),
        Answer::Xml(xml) => {
            ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
        }
    }
}
