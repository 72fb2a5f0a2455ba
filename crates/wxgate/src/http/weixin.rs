//! `/weixin/` (or `WXGATE_WEIXIN_PATH`): WeChat's URL check (GET) and pushes (POST), turned into
//! calls of [`crate::messages::MessageServer`], which reads the whole pipeline top to bottom,
//! and its answers into responses.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::Error;
use crate::http::page::Message;
use crate::messages::{Answer, MessageServer, PushQuery, Refusal};
use crate::state::AppState;

pub fn router(app: &AppState) -> Router<AppState> {
    let Some(server) = &app.messages else {
        return Router::new();
    };
    let path = server.config.path.clone();
    let mut router = Router::new().route(&path, get(verify_url).post(receive));
    // `/weixin` and `/weixin/` both work: WeChat's console takes the URL as typed.
    if let Some(bare) = path.strip_suffix('/').filter(|p| !p.is_empty()) {
        router = router.route(bare, get(verify_url).post(receive));
    }
    router
}

/// The message server, or the 404 page when it is off (no Token).
fn server(app: &AppState) -> Result<&std::sync::Arc<MessageServer>, Error> {
    app.messages
        .as_ref()
        .ok_or_else(|| Error::page(Message::new(StatusCode::NOT_FOUND, "页面不存在")))
}

async fn verify_url(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, Error> {
    let server = server(&app)?;
    let q = PushQuery::parse(query.as_deref().unwrap_or_default())
        .map_err(|d| server.malformed_query(d))?;
    Ok(respond(server.verify_url(&q)?))
}

async fn receive(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, Error> {
    let server = server(&app)?;
    let q = PushQuery::parse(query.as_deref().unwrap_or_default())
        .map_err(|d| server.malformed_query(d))?;
    let body = read_body(body, server.config.body_limit).await?;
    Ok(respond(server.receive(&q, &body).await?))
}

/// The whole body, at most `limit` bytes (`WXGATE_MESSAGE_BODY_LIMIT`): past it a 413, and a
/// body that stops arriving (http::connection::SlowBodyLimit) a 408.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Refusal> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The cause is a few wrappers down (axum's error, the length limit's box).
        let causes = || std::iter::successors(std::error::Error::source(&e), |s| s.source());
        let too_long = causes().any(|s| s.is::<http_body_util::LengthLimitError>());
        let timed_out = causes().any(|s| {
            s.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        });
        // The 413's wording (with the limit) is http::error::render's.
        let (status, reason) = if too_long {
            (StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
        } else if timed_out {
            (
                StatusCode::REQUEST_TIMEOUT,
                "the request body did not arrive in time",
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        };
        let refusal = Refusal { status, reason };
        crate::metrics::push_refused(refusal.label());
        refusal
    })
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
