//! Pages that tell a person what happened ([`Message`]) and redirects. Failures become pages
//! (or JSON) in [`crate::http::error`].

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::templates::Templates;

/// What a `Location` may not carry raw: controls, spaces and (by `utf8_percent_encode`)
/// anything outside ASCII. `%` stays, so an already encoded URL passes unchanged.
const LOCATION_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`');

/// A `302 Found` redirect, the status WeChat's own redirects use (axum's `Redirect::to` is 303).
/// The target is percent-encoded where needed (`/首页` → `/%E9%A6%96%E9%A1%B5`).
pub fn found(location: &str) -> Response {
    let location = percent_encoding::utf8_percent_encode(location, LOCATION_UNSAFE).to_string();
    match axum::http::HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::FOUND, [(axum::http::header::LOCATION, value)]).into_response(),
        Err(_) => (StatusCode::BAD_REQUEST, "invalid redirect target").into_response(),
    }
}

/// A button on a message page.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub id: &'static str,
    pub href: String,
    pub text: &'static str,
}

impl Link {
    /// "Start again": a fresh login.
    pub fn retry() -> Self {
        Link {
            id: "retry",
            href: "/auth/".into(),
            text: "重新登录",
        }
    }
}

/// A message page: a status, a headline, a few lines and maybe a button.
#[derive(Clone, Debug, Serialize)]
pub struct Message {
    #[serde(skip)]
    pub status: StatusCode,
    pub title: &'static str,
    pub lines: Vec<String>,
    pub link: Option<Link>,
    /// A reference for support, such as WeChat's errcode.
    pub code: Option<String>,
}

impl Message {
    pub fn new(status: StatusCode, title: &'static str) -> Self {
        Message {
            status,
            title,
            lines: Vec::new(),
            link: None,
            code: None,
        }
    }
    pub fn line(mut self, line: impl Into<String>) -> Self {
        self.lines.push(line.into());
        self
    }
    pub fn link(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn render(&self, templates: &Templates) -> Response {
        match templates.render("message.html", self) {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "message template failed");
                (self.status, self.title).into_response()
            }
        }
    }
}
