//! The webhook into the user's own code: each deduplicated push is POSTed as JSON to
//! `WXGATE_WEBHOOK_URL` with `X-Wxgate-Timestamp` (Unix seconds), `X-Wxgate-Delivery` (the
//! push's id) and `X-Wxgate-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, keyed
//! with `WXGATE_WEBHOOK_SECRET`. The time is signed so that a receiver can refuse a captured
//! delivery replayed later; with the delivery id it can refuse one replayed at once. The
//! receiver may answer with `{"reply": {...}}` (any passive reply type) or with nothing (`{}`,
//! an empty body or 204). README documents both directions with a working receiver.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use wechat::reply::Reply;

pub const SIGNATURE_HEADER: &str = "x-wxgate-signature";
pub const DELIVERY_HEADER: &str = "x-wxgate-delivery";
pub const TIMESTAMP_HEADER: &str = "x-wxgate-timestamp";

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

/// `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>` keyed with `secret`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a webhook URL deserves a warning: plain http to another machine carries pushes (user
/// messages) and their signatures in the clear.
pub fn insecure_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let loopback = match parsed.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    (!loopback).then(|| {
        format!(
            "WXGATE_WEBHOOK_URL is plain http to {}: users' messages cross the network unencrypted; use https",
            parsed.host_str().unwrap_or_default()
        )
    })
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
        let started = std::time::Instant::now();
        let result = self.post(delivery_id, payload, timeout).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(WebhookError::Timeout(_)) => "timeout",
            Err(WebhookError::Transport(_)) => "unreachable",
            Err(_) => "error",
        };
        crate::metrics::webhook_call(outcome, started.elapsed());
        result
    }

    async fn post(
        &self,
        delivery_id: &str,
        payload: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Option<Reply>, WebhookError> {
        let body =
            serde_json::to_vec(payload).map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
        let timestamp = crate::clock::now();
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
            .header(SIGNATURE_HEADER, sign(&self.secret, timestamp, &body))
            .header(TIMESTAMP_HEADER, timestamp)
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
        parse_answer(&answer)
    }
}

/// A receiver's answer: `{"reply": {...}}`, or nothing (`{}`, an empty body).
pub fn parse_answer(answer: &[u8]) -> Result<Option<Reply>, WebhookError> {
    if answer.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let answer: Answer =
        serde_json::from_slice(answer).map_err(|e| WebhookError::BadAnswer(e.to_string()))?;
    Ok(answer.reply)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_hex_of_the_timestamp_and_the_body() {
        // RFC 4231 test case 2, with the message split as "<timestamp>.<body>".
        assert_eq!(
            super::sign("Jefe", 1, b"what do ya want for nothing?"),
            super::sign("Jefe", 1, b"what do ya want for nothing?")
        );
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(b"Jefe").unwrap();
        hmac::Mac::update(&mut mac, b"1700000000.what do ya want for nothing?");
        let expected = format!(
            "sha256={}",
            hex::encode(hmac::Mac::finalize(mac).into_bytes())
        );
        assert_eq!(
            super::sign("Jefe", 1_700_000_000, b"what do ya want for nothing?"),
            expected
        );
        assert_ne!(
            super::sign("Jefe", 1_700_000_001, b"what do ya want for nothing?"),
            expected,
            "the time is signed"
        );
    }

    #[test]
    fn plain_http_is_flagged_unless_it_stays_on_this_machine() {
        assert!(super::insecure_url("http://hooks.example.com/wx").is_some());
        assert!(super::insecure_url("http://10.0.0.5:9000/").is_some());
        for fine in [
            "https://hooks.example.com/wx",
            "http://127.0.0.1:9100/",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(super::insecure_url(fine).is_none(), "{fine}");
        }
    }
}
