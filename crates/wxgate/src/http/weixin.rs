//! `/weixin/` (or `WXGATE_WEIXIN_PATH`): WeChat's URL check (GET) and pushes (POST), turned into
//! calls of [`crate::messages::MessageServer`], which reads the whole pipeline top to bottom,
//! and its answers into responses.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::http::error::Error;
use crate::http::page::Message;
use crate::messages::{Answer, MessageServer, PushQuery, Refusal};
use crate::state::AppState;

/// GET (the URL check) and POST (a push) on the message path. [`crate::http::Service`] sends
/// a POST there to [`receive_push`] itself, without the router: the POST route here is what
/// the router would do with it, and what its `Allow` header lists.
pub fn router(app: &AppState) -> Router<AppState> {
    let Some(server) = &app.messages else {
        return Router::new();
    };
    let paths = Paths::new(&server.config.path);
    let mut router = Router::new();
    for path in [Some(paths.path.as_str()), paths.bare()]
        .into_iter()
        .flatten()
    {
        router = router.route(path, get(verify_url).post(receive));
    }
    router
}

/// The message path, as configured (`WXGATE_WEIXIN_PATH`), and without its trailing slash:
/// `/weixin` and `/weixin/` both work, since WeChat's console takes the URL as typed.
#[derive(Debug, Clone)]
pub struct Paths {
    path: String,
}

impl Paths {
    pub fn new(path: &str) -> Self {
        Paths {
            path: path.to_owned(),
        }
    }

    /// The path without its trailing slash, when it has one.
    fn bare(&self) -> Option<&str> {
        self.path.strip_suffix('/').filter(|p| !p.is_empty())
    }

    /// Whether a request to `path` is for the message server.
    pub fn matches(&self, path: &str) -> bool {
        path == self.path || self.bare() == Some(path)
    }
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

async fn receive(State(app): State<AppState>, request: Request) -> Response {
    receive_push(app, request).await
}

/// POST: a push, answered as [`MessageServer::receive`] decides.
pub async fn receive_push(app: AppState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let answer = async {
        let server = server(&app)?;
        let q = PushQuery::parse(parts.uri.query().unwrap_or_default())
            .map_err(|d| server.malformed_query(d))?;
        let body = read_body(body, server.config.body_limit).await?;
        Ok::<_, Error>(respond(server.receive(&q, &body).await?))
    };
    answer.await.unwrap_or_else(IntoResponse::into_response)
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
