//! Everything a handler can fail with, and the one place where failures become responses.
//!
//! Handlers return `Result<_, Error>` and use `?`. What a failure looks like depends on who
//! asked, which the URL says: a page for a person (the login, 404s), JSON for programs
//! (`/admin/…`, `/jssdk/…`), and plain text for WeChat's message server (its refusals are
//! [`crate::messages::Refusal`]s). [`Error::into_response`] records the failure on an empty
//! response; [`render`], called by the stack around every route (`crate::http::Stack`), writes its body in the right form (pages
//! need the templates, which only the application state has). The mapping from failure to
//! status is written here once; internal detail goes to the log, never to the client.

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::http::page::{Link, Message};
use crate::messages::Refusal;
use crate::state::AppState;

#[derive(Debug)]
pub enum Error {
    /// A page for a person: status, headline, lines, maybe a button.
    Page(Box<Message>),
    /// A program's request refused: status and what is wrong, in English; `extra` fields join
    /// the JSON body.
    Api {
        status: StatusCode,
        message: String,
        extra: serde_json::Map<String, serde_json::Value>,
    },
    /// A call to WeChat failed: 504 for a timeout, 502 otherwise, with what to do about it.
    Wechat(wechat::Error),
    /// The message server refused a push or a URL check.
    Push(Refusal),
    /// A store (database, Redis, sessions) or a template failed: 503. The detail is logged.
    Unavailable(String),
}

impl Error {
    pub fn page(message: Message) -> Self {
        Error::Page(Box::new(message))
    }

    pub fn api(status: StatusCode, message: impl Into<String>) -> Self {
        Error::Api {
            status,
            message: message.into(),
            extra: serde_json::Map::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::api(StatusCode::BAD_REQUEST, message)
    }

    /// Adds a field to the JSON body of an [`Error::Api`].
    pub fn with(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let Error::Api { extra, .. } = &mut self {
            extra.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Error::Page(m) => m.status,
            Error::Api { status, .. } => *status,
            Error::Wechat(wechat::Error::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            Error::Wechat(_) => StatusCode::BAD_GATEWAY,
            Error::Push(r) => r.status,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The page a person sees for this failure.
    fn as_page(&self) -> Message {
        match self {
            Error::Page(m) => (**m).clone(),
            Error::Unavailable(_) => unavailable_page(),
            Error::Api { status, .. } => Message::new(*status, "请求有误").line("请检查后重试。"),
            Error::Wechat(e) => {
                let m = Message::new(self.status(), "微信暂时无法响应")
                    .line("请稍后重试。")
                    .link(Link::retry());
                match e.errcode() {
                    Some(code) => m.code(format!("errcode {}", code.0)),
                    None => m,
                }
            }
            Error::Push(r) => Message::new(r.status, "请求有误").line(r.reason),
        }
    }

    /// The JSON a program gets for this failure: `{"error": …}` and, for WeChat's errors, the
    /// `errcode`.
    fn as_json(&self) -> serde_json::Value {
        match self {
            Error::Api { message, extra, .. } => {
                let mut body = extra.clone();
                body.insert("error".into(), message.clone().into());
                serde_json::Value::Object(body)
            }
            Error::Wechat(e) => json!({
                "error": crate::platform::explain(e),
                "errcode": e.errcode().map(|c| c.0),
            }),
            Error::Unavailable(_) => json!({ "error": "service unavailable: try again shortly" }),
            Error::Page(m) => json!({ "error": m.title }),
            Error::Push(r) => json!({ "error": r.reason }),
        }
    }
}

fn unavailable_page() -> Message {
    Message::new(StatusCode::SERVICE_UNAVAILABLE, "服务暂时不可用")
        .line("服务器暂时无法处理你的请求，请稍后再试。")
        .link(Link::retry())
}

impl From<Message> for Error {
    fn from(m: Message) -> Self {
        Error::page(m)
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Push(r)
    }
}

impl From<wechat::Error> for Error {
    fn from(e: wechat::Error) -> Self {
        Error::Wechat(e)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Unavailable(format!("database: {e}"))
    }
}

impl From<tower_sessions::session::Error> for Error {
    fn from(e: tower_sessions::session::Error) -> Self {
        Error::Unavailable(format!("session store: {e}"))
    }
}

impl From<minijinja::Error> for Error {
    fn from(e: minijinja::Error) -> Self {
        Error::Unavailable(format!("template: {e:#}"))
    }
}

/// A failure waiting for [`render`] to write it.
#[derive(Clone)]
struct Failure(std::sync::Arc<Error>);

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Error::Unavailable(detail) = &self {
            tracing::error!(detail, "request failed: answered 503");
        }
        if let Error::Push(r) = &self {
            // WeChat reads plain text; no page, no JSON.
            return (
                r.status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                r.reason,
            )
                .into_response();
        }
        let mut response = self.status().into_response();
        response
            .extensions_mut()
            .insert(Failure(std::sync::Arc::new(self)));
        response
    }
}

/// Who reads the answer to a path: programs (JSON) or people (pages).
pub fn wants_json(path: &str) -> bool {
    [
        crate::http::admin::PREFIX,
        crate::http::jssdk::PREFIX,
        crate::http::api::PREFIX,
    ]
    .iter()
    .any(|p| super::is_under(path, p))
}

/// Writes the body of every failure: a page with the templates, or JSON, by the request's
/// path (`json`, [`wants_json`]). The sessions layer (inside the stack) answers a bare 500
/// when it cannot save a session; that becomes the 503 too, so no one ever gets an empty 500.
/// A body over `limit` is a 413 that says the limit (one whose declared length is over it is
/// refused before any handler, by the stack: `crate::http::Stack`).
pub fn render(app: &AppState, json: bool, limit: usize, mut response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return super::too_large(limit);
    }
    let failure = match response.extensions_mut().remove::<Failure>() {
        Some(f) => f.0,
        None if response.status() == StatusCode::INTERNAL_SERVER_ERROR
            && !response.headers().contains_key(header::CONTENT_TYPE) =>
        {
            tracing::error!("a session could not be saved: answered 503");
            std::sync::Arc::new(Error::Unavailable("session store".into()))
        }
        None => return response,
    };
    let status = failure.status();
    let mut written = if json {
        (status, Json(failure.as_json())).into_response()
    } else {
        failure.as_page().render(&app.templates)
    };
    // Headers the handler set (Retry-After, WWW-Authenticate, a cookie) stay.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            written.headers_mut().append(name.clone(), value.clone());
        }
    }
    written
}
