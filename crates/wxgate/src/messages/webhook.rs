//! The webhook into the user's own code: each deduplicated push is POSTed as JSON to
//! `WXGATE_WEBHOOK_URL`, signed with HMAC-SHA256 over the body in `X-Wxgate-Signature`
//! (`sha256=<hex>`, keyed with `WXGATE_WEBHOOK_SECRET`). The receiver may answer with
//! `{"reply": {...}}` (any passive reply type) or with nothing (`{}`, an empty body or 204).
//! README documents both directions with a working receiver.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use wechat::reply::Reply;

pub const SIGNATURE_HEADER: &str = "x-wxgate-signature";
pub const DELIVERY_HEADER: &str = "x-wxgate-delivery";

/// Webhook answers larger than this are not a reply.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct Webhook {
    http: reqwest::Client,
    url: String,
    secret: String,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook did not answer within {0:?}")]
    Timeout(Duration),
    #[error("webhook unreachable: {0}")]
    Transport(String),
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("webhook answer is not a reply: {0}")]
    BadAnswer(String),
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    reply: Option<Reply>,
}

/// `sha256=` + hex HMAC-SHA256 of `body` keyed with `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub fn new(url: String, secret: String) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Webhook { http, url, secret })
    }

    /// Delivers one push; `Ok(None)` when the receiver has nothing to say.
    pub async fn deliver(
        &self,
        delivery_id: &str,
        payload: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Option<Reply>, WebhookError> {
        let body =
            serde_json::to_vec(payload).map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                WebhookError::Timeout(timeout)
            } else {
                WebhookError::Transport(e.without_url().to_string())
            }
        };
        let mut response = self
            .http
            .post(&self.url)
            .timeout(timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&self.secret, &body))
            .header(DELIVERY_HEADER, delivery_id)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(WebhookError::Status(status.as_u16()));
        }
        let mut answer = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(WebhookError::BadAnswer(format!(
                    "larger than {MAX_ANSWER_BYTES} bytes"
                )));
            }
            answer.extend_from_slice(&chunk);
        }
        if answer.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(None);
        }
        let answer: Answer =
            serde_json::from_slice(&answer).map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
        Ok(answer.reply)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
