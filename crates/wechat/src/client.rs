//! The async client for WeChat's JSON APIs (`api.weixin.qq.com`, or the simulator in tests and
//! demos). Every call has a timeout; errors are typed so callers can map them to pages without
//! reading message text; secrets never appear in an error (reqwest's URL is stripped).
//!
//! The calls themselves live with their feature: the `sns/*` ones in [`crate::oauth`], the
//! account-level ones (tokens, tickets, menus, customer-service messages) in [`crate::api`], QR
//! codes in [`crate::qrcode`], media and material in [`crate::media`].

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::errcode::ErrCode;
use crate::types::{AppId, AppSecret};

/// Responses larger than this are not WeChat's: refuse them rather than buffer them.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat {path} returned errcode {code}: {errmsg}")]
    Api {
        path: &'static str,
        code: ErrCode,
        errmsg: String,
    },
    /// No answer within the client's timeout.
    #[error("WeChat {path} did not answer within {timeout:?}")]
    Timeout {
        path: &'static str,
        timeout: Duration,
    },
    /// Could not connect or the connection broke.
    #[error("could not reach WeChat {path}: {message}")]
    Transport { path: &'static str, message: String },
    /// An answer that is not a WeChat JSON body (HTML error page, wrong status, garbage).
    #[error("WeChat {path} sent an unusable answer (HTTP {status}): {detail}")]
    BadResponse {
        path: &'static str,
        status: u16,
        detail: String,
    },
}

impl Error {
    pub fn errcode(&self) -> Option<ErrCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where the client sends requests and how long it waits.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://api.weixin.qq.com`, or the simulator's origin.
    pub api_base: String,
    pub appid: AppId,
    pub secret: AppSecret,
    /// Whole-request timeout; WeChat normally answers in well under a second.
    pub timeout: Duration,
}

/// A pooled, cloneable client for one account.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(3)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Transport {
                path: "",
                message: e.without_url().to_string(),
            })?;
        Ok(Self { http, config })
    }

    pub fn appid(&self) -> &AppId {
        &self.config.appid
    }

    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
    ) -> Result<T, Error> {
        let url = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let request = self.http.get(url).query(query);
        self.send(path, request).await
    }

    /// POSTs `body` as raw UTF-8 JSON (see [`json_body`]). Never retried: a POST that timed out
    /// may still have taken effect, so the caller gets [`Error::Timeout`] and decides.
    pub(crate) async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<T, Error> {
        let body = json_body(body).map_err(|e| Error::Transport {
            path,
            message: format!("could not encode the request body: {e}"),
        })?;
        let url = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let request = self
            .http
            .post(url)
            .query(query)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        self.send(path, request).await
    }

    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        path: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Error> {
        let started = std::time::Instant::now();
        let result = async {
            let (status, _, body) = self.receive(path, request, MAX_RESPONSE_BYTES).await?;
            parse_body(path, status, &body)
        }
        .await;
        self.record(path, &result, started);
        result
    }

    /// Like [`Client::send`], for answers that are a file on success and JSON on failure (media
    /// downloads, the QR image): bodies up to `max_bytes`; a JSON answer is an error when it
    /// carries a non-zero errcode and is returned as [`Download::Json`] otherwise.
    pub(crate) async fn send_for_file(
        &self,
        path: &'static str,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<Download, Error> {
        let started = std::time::Instant::now();
        let result = async {
            let (status, content_type, body) = self.receive(path, request, max_bytes).await?;
            let looks_json = content_type.contains("json")
                || content_type.starts_with("text/plain")
                || body.first() == Some(&b'{');
            if looks_json && let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) {
                drop(value);
                return parse_body(path, status, &body).map(Download::Json);
            }
            if !(200..300).contains(&status) {
                return Err(Error::BadResponse {
                    path,
                    status,
                    detail: format!("HTTP {status} instead of a file"),
                });
            }
            Ok(Download::File {
                content_type,
                bytes: body,
            })
        }
        .await;
        self.record(path, &result, started);
        result
    }

    /// Sends `request` and reads the whole answer: (HTTP status, Content-Type, body).
    async fn receive(
        &self,
        path: &'static str,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<(u16, String, Vec<u8>), Error> {
        let started = std::time::Instant::now();
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout {
                    path,
                    timeout: self.config.timeout,
                }
            } else {
                Error::Transport {
                    path,
                    message: e.without_url().to_string(),
                }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max_bytes {
                return Err(Error::BadResponse {
                    path,
                    status,
                    detail: format!("body larger than {max_bytes} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            path,
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wechat call"
        );
        Ok((status, content_type, body))
    }

    fn record<T>(
        &self,
        path: &'static str,
        result: &Result<T, Error>,
        started: std::time::Instant,
    ) {
        match result {
            Ok(_) => crate::metrics::wechat_call(path, 0, started.elapsed()),
            Err(e) => crate::metrics::wechat_failure(path, e, started.elapsed()),
        }
    }

    /// The URL of `path` on the API origin.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.api_base.trim_end_matches('/'), path)
    }
}

/// A file download's answer (see [`Client::send_for_file`]).
#[derive(Clone, Debug)]
pub enum Download {
    /// The file, with the Content-Type WeChat gave it.
    File {
        content_type: String,
        bytes: Vec<u8>,
    },
    /// A JSON answer without an error (a video's `down_url`, a news item…).
    Json(serde_json::Value),
}

/// A request body as WeChat wants it: JSON in raw UTF-8. WeChat rejects `\uXXXX` escapes with
/// 40033 (§D.1), which some encoders (Python's default `ensure_ascii`) produce; serde_json
/// never escapes non-ASCII, so `"主页"` goes out as its UTF-8 bytes.
pub(crate) fn json_body<B: Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(body)
}

/// WeChat signals errors with HTTP 200 and `{"errcode":N,"errmsg":"…"}`; success bodies of the
/// sns endpoints carry no errcode, while `sns/auth` says `errcode: 0`. Content-Type varies, so
/// the body is parsed as JSON whatever it claims to be (§G).
fn parse_body<T: DeserializeOwned>(
    path: &'static str,
    status: u16,
    body: &[u8],
) -> Result<T, Error> {
    let snippet = || {
        let text = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
        text.replace(['\n', '\r'], " ")
    };
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return Err(Error::BadResponse {
                path,
                status,
                detail: format!("not JSON: {:?}", snippet()),
            });
        }
    };
    if let Some(code) = value.get("errcode").and_then(|c| c.as_i64())
        && code != 0
    {
        let errmsg = value
            .get("errmsg")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        return Err(Error::Api {
            path,
            code: ErrCode(code),
            errmsg,
        });
    }
    if !(200..300).contains(&status) {
        return Err(Error::BadResponse {
            path,
            status,
            detail: format!("unexpected HTTP status: {:?}", snippet()),
        });
    }
    serde_json::from_value(value).map_err(|e| Error::BadResponse {
        path,
        status,
        detail: format!("missing or wrong fields: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::OAuthToken;

    #[test]
    fn errcode_bodies_become_typed_errors() {
        let r: Result<OAuthToken, _> = parse_body(
            "/sns/oauth2/access_token",
            200,
            br#"{"errcode":40163,"errmsg":"code been used, rid: 6513aa28-57d848c6-68a55827"}"#,
        );
        assert_eq!(r.unwrap_err().errcode(), Some(ErrCode::CODE_BEEN_USED));
    }

    #[test]
    fn garbage_and_wrong_status_are_bad_responses() {
        let r: Result<OAuthToken, _> = parse_body("/x", 200, b"<html>502 Bad Gateway</html>");
        assert!(matches!(r, Err(Error::BadResponse { .. })));
        let r: Result<serde_json::Value, _> = parse_body("/x", 503, b"{}");
        assert!(matches!(r, Err(Error::BadResponse { status: 503, .. })));
        let r: Result<OAuthToken, _> = parse_body("/x", 200, b"{\"openid\":1}");
        assert!(matches!(r, Err(Error::BadResponse { .. })));
    }

    #[test]
    fn errcode_zero_is_success() {
        let r: Result<serde_json::Value, _> =
            parse_body("/sns/auth", 200, br#"{"errcode":0,"errmsg":"ok"}"#);
        assert!(r.is_ok());
    }
}
