//! A caller's request passed to a WeChat API as it is, with the account's access_token added:
//! what wxgate's API gateway (`/api/…`) does for the account's other programs.
//!
//! Unlike the typed calls in [`crate::api`], the answer is not interpreted: its status, content
//! type and body go back to the caller as WeChat sent them (JSON, or the bytes of a media
//! download). Only two things are read from it: the `errcode` of a JSON answer, so the caller
//! can replace a rejected token and retry, and the token itself, which is cut out of the body
//! should WeChat ever echo it.

use std::time::Duration;

use bytes::Bytes;

use crate::client::{Client, Error};
use crate::errcode::ErrCode;
use crate::types::AccessToken;

/// What [`Error`]s of a forwarded call name as their path: the real path is the caller's.
const PATH: &str = "(gateway)";

/// Answers larger than this are refused rather than buffered (a media download is at most a
/// few MB; `docs/wechat-platform-apis.md` §2).
pub const MAX_FORWARDED_RESPONSE: usize = 64 << 20;

/// The request to pass on.
#[derive(Clone, Debug)]
pub struct Forward {
    /// `GET` or `POST`.
    pub method: reqwest::Method,
    /// The API's path without the leading slash, e.g. `cgi-bin/user/info`.
    pub path: String,
    /// The caller's query string (already percent-encoded), without `access_token`.
    pub query: String,
    /// The caller's `Content-Type` (a multipart upload's boundary is in it).
    pub content_type: Option<String>,
    pub body: Bytes,
    /// How long to wait for the whole answer.
    pub timeout: Duration,
}

/// WeChat's answer, as it came.
#[derive(Clone, Debug)]
pub struct Forwarded {
    pub status: u16,
    pub content_type: Option<String>,
    /// A media download's file name.
    pub content_disposition: Option<String>,
    pub body: Bytes,
    /// The `errcode` of a JSON answer, when it is not 0.
    pub errcode: Option<ErrCode>,
}

impl Client {
    /// Sends `request` to `<api_base>/<path>?<query>&access_token=<token>`. A transport failure
    /// or a timeout is an error (and must not be retried by the caller: a POST may have been
    /// delivered); any answer WeChat gave, whatever its status, is [`Forwarded`].
    pub async fn forward(
        &self,
        request: &Forward,
        token: &AccessToken,
    ) -> Result<Forwarded, Error> {
        let token = token.secret();
        let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let separator = if request.query.is_empty() { "" } else { "&" };
        let url = format!(
            "{}/{}?{}{separator}access_token={encoded}",
            self.config.api_base.trim_end_matches('/'),
            request.path,
            request.query,
        );
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .timeout(request.timeout);
        if let Some(content_type) = &request.content_type {
            builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if !request.body.is_empty() || request.method == reqwest::Method::POST {
            builder = builder.body(request.body.clone());
        }
        let started = std::time::Instant::now();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    path: PATH,
                    timeout: request.timeout,
                }
            } else {
                Error::Transport {
                    path: PATH,
                    message: e.without_url().to_string(),
                }
            }
        };
        let mut response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let content_disposition = header(reqwest::header::CONTENT_DISPOSITION);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_FORWARDED_RESPONSE {
                return Err(Error::BadResponse {
                    path: PATH,
                    status,
                    detail: format!("body larger than {MAX_FORWARDED_RESPONSE} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let body = scrub(body, token.as_bytes());
        let errcode = json_errcode(&body);
        if errcode == Some(ErrCode(45009)) {
            crate::metrics::quota_exhausted("gateway", &request.path);
        }
        crate::metrics::wechat_call("gateway", errcode.map_or(0, |c| c.0), started.elapsed());
        Ok(Forwarded {
            status,
            content_type,
            content_disposition,
            body: Bytes::from(body),
            errcode,
        })
    }
}

/// The non-zero `errcode` of a JSON body (WeChat's content types vary, so any body that parses
/// as a JSON object counts).
fn json_errcode(body: &[u8]) -> Option<ErrCode> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' || body.len() > 1 << 20 {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Head {
        errcode: Option<i64>,
    }
    let head: Head = serde_json::from_slice(body).ok()?;
    head.errcode.filter(|c| *c != 0).map(ErrCode)
}

/// `body` with every occurrence of `secret` replaced by `***`.
fn scrub(body: Vec<u8>, secret: &[u8]) -> Vec<u8> {
    if secret.is_empty() || !body.windows(secret.len()).any(|w| w == secret) {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = &body[..];
    while let Some(at) = rest.windows(secret.len()).position(|w| w == secret) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"***");
        rest = &rest[at + secret.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errcodes_are_read_from_json_answers_only() {
        assert_eq!(
            json_errcode(br#"{"errcode":40001,"errmsg":"x"}"#),
            Some(ErrCode(40001))
        );
        assert_eq!(json_errcode(br#" {"errcode":0,"errmsg":"ok"}"#), None);
        assert_eq!(json_errcode(br#"{"openid":"o"}"#), None);
        assert_eq!(json_errcode(b"\x89PNG..."), None);
        assert_eq!(json_errcode(b"{not json"), None);
    }

    #[test]
    fn the_token_is_cut_out_of_any_answer() {
        assert_eq!(scrub(b"a TOKEN b TOKEN".to_vec(), b"TOKEN"), b"a *** b ***");
        assert_eq!(scrub(b"nothing".to_vec(), b"TOKEN"), b"nothing");
    }
}
