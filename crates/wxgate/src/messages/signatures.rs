//! `signature` covers the timestamp and nonce but not the body, so a signed query string seen
//! once (in a proxy log, on plain http) could carry any plaintext body until its timestamp goes
//! stale — in compatible mode even the query string of an encrypted push. Each (timestamp,
//! nonce) is bound to the first body it came with, in [`crate::shared::Claims`] so that every
//! instance sees the binding; a retry of the same push, with the same body, still passes.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::shared::Claims;

/// False when this timestamp and nonce already came with a different body. The binding is kept
/// for `keep` (as long as the timestamp is accepted).
pub async fn bind(
    claims: &dyn Claims,
    sent_at: i64,
    nonce: &str,
    body: &str,
    keep: Duration,
) -> bool {
    // Fixed-size keys and values: a nonce or a body can be long.
    let nonce = Sha256::digest(nonce.as_bytes());
    let mut nonce_hex = [0u8; 24];
    // 12 bytes always fit 24 hex digits.
    let _ = hex::encode_to_slice(&nonce[..12], &mut nonce_hex);
    let mut key = String::with_capacity(48);
    key.push_str("sig:");
    key.push_str(itoa::Buffer::new().format(sent_at));
    key.push(':');
    key.push_str(std::str::from_utf8(&nonce_hex).unwrap_or_default());
    let body = Sha256::digest(body.as_bytes());
    let digest = &body[..16];
    match claims.claim(&key, digest, keep).await {
        None => true,
        Some(held) => held == digest,
    }
}
