//! The message server (服务器配置 URL, `/weixin/` by default), read top to bottom:
//! verify the signature → (safe/compatible mode) verify msg_signature and decrypt → parse →
//! deduplicate → rules and webhook → reply → encrypt in the mode the push came in.
//!
//! Nothing unverified reaches a handler: a missing or wrong signature or a stale timestamp is a
//! 403, a body over the limit a 413, malformed XML or a ciphertext that does not decrypt a 400.
//! When handling takes longer than the deadline, WeChat gets `success` (so the user never sees
//! 该公众号暂时无法提供服务) and the handler finishes anyway: WeChat's retry then gets its reply.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use wechat::crypto::{KeyUsed, MessageCrypt};
use wechat::message::Incoming;

use crate::config::{MessageConfig, MessageMode};
use crate::db;
use crate::dedup::{Dedup, MemoryDedup};
use crate::rules::{self, Facts, Vars};
use crate::state::AppState;
use crate::webhook::Webhook;

/// How long a push's key is remembered for deduplication.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);
/// How long the webhook may take. Longer than the reply deadline on purpose: WeChat re-sends a
/// push for about 15 s, so a reply that misses the first delivery still reaches a retry.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);

/// What the message server needs at run time, built once at start-up.
#[derive(Debug)]
pub struct MessageServer {
    pub config: MessageConfig,
    crypt: Option<MessageCrypt>,
    crypt_previous: Option<MessageCrypt>,
    pub dedup: Arc<dyn Dedup>,
    webhook: Option<Webhook>,
    signatures: SeenSignatures,
}

/// Plaintext pushes: `signature` covers the timestamp and nonce but not the body, so a signed
/// query string seen once (in a proxy log, on plain http) could carry any body until its
/// timestamp goes stale. Each (timestamp, nonce) is bound to the first body it came with; a
/// retry of the same push, with the same body, still passes. Entries older than the timestamp
/// window are dropped as the map grows.
#[derive(Debug, Default)]
struct SeenSignatures {
    hasher: std::hash::RandomState,
    seen: Mutex<SeenMap>,
}

#[derive(Debug, Default)]
struct SeenMap {
    bodies: HashMap<(i64, String), u64>,
    prune_at: usize,
}

impl SeenSignatures {
    /// False when this timestamp and nonce already came with a different body.
    fn bind(&self, sent_at: i64, nonce: &str, body: &str, window: Duration) -> bool {
        let digest = self.hasher.hash_one(body);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.bodies.len() >= seen.prune_at {
            let now = db::now();
            seen.bodies
                .retain(|(t, _), _| now.abs_diff(*t) <= window.as_secs());
            seen.prune_at = (seen.bodies.len() * 2).max(4096);
        }
        *seen
            .bodies
            .entry((sent_at, nonce.to_owned()))
            .or_insert(digest)
            == digest
    }
}

/// The push's timestamp, if it is a number within `window` of our clock.
fn fresh_timestamp(timestamp: &str, window: Duration) -> Option<i64> {
    let sent_at = timestamp.trim().parse::<i64>().ok()?;
    (db::now().abs_diff(sent_at) <= window.as_secs()).then_some(sent_at)
}

impl MessageServer {
    pub fn new(config: MessageConfig, appid: &wechat::AppId) -> Result<Self, String> {
        let crypt = config.aes_key.clone().map(|k| MessageCrypt::new(k, appid));
        let crypt_previous = config
            .aes_key_previous
            .clone()
            .map(|k| MessageCrypt::new(k, appid));
        let webhook = config
            .webhook
            .as_ref()
            .map(|w| Webhook::new(w.url.clone(), w.secret.clone()))
            .transpose()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(MessageServer {
            config,
            crypt,
            crypt_previous,
            dedup: Arc::new(MemoryDedup::new(DEDUP_WINDOW)),
            webhook,
            signatures: SeenSignatures::default(),
        })
    }
}

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

#[derive(Deserialize)]
struct PushQuery {
    signature: Option<String>,
    timestamp: Option<String>,
    nonce: Option<String>,
    echostr: Option<String>,
    encrypt_type: Option<String>,
    msg_signature: Option<String>,
}

fn refuse(status: StatusCode, message: &'static str) -> Response {
    tracing::warn!(status = status.as_u16(), message, "push refused");
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

/// GET: WeChat checks the URL when the console saves it; echo `echostr` verbatim only when the
/// signature is right (§C.1).
async fn verify_url(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
) -> Response {
    let Some(server) = &app.messages else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(Query(q)) = query else {
        return refuse(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let (Some(signature), Some(timestamp), Some(nonce), Some(echostr)) =
        (&q.signature, &q.timestamp, &q.nonce, &q.echostr)
    else {
        return refuse(
            StatusCode::FORBIDDEN,
            "missing signature, timestamp, nonce or echostr: this URL is for WeChat's server",
        );
    };
    if !server
        .config
        .token
        .verify_signature(signature, timestamp, nonce)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "invalid signature: check WXGATE_TOKEN",
        );
    }
    // A captured signature must not echo chosen text forever.
    if fresh_timestamp(timestamp, server.config.timestamp_window).is_none() {
        return refuse(
            StatusCode::FORBIDDEN,
            "timestamp outside the accepted window (is this server's clock right?)",
        );
    }
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        echostr.clone(),
    )
        .into_response()
}

/// POST: one push (a message or an event from a user).
async fn receive(
    State(app): State<AppState>,
    query: Result<Query<PushQuery>, QueryRejection>,
    body: Bytes,
) -> Response {
    let Some(server) = &app.messages else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(Query(q)) = query else {
        return refuse(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let token = &server.config.token;

    // 1. The signature, on every push, and a fresh timestamp.
    let (Some(signature), Some(timestamp), Some(nonce)) = (&q.signature, &q.timestamp, &q.nonce)
    else {
        return refuse(
            StatusCode::FORBIDDEN,
            "missing signature, timestamp or nonce",
        );
    };
    if !token.verify_signature(signature, timestamp, nonce) {
        return refuse(StatusCode::FORBIDDEN, "invalid signature");
    }
    let Some(sent_at) = fresh_timestamp(timestamp, server.config.timestamp_window) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "timestamp outside the accepted window (is this server's clock right?)",
        );
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return refuse(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };

    // 2. Safe and compatible mode: msg_signature over the ciphertext, then decrypt. In safe
    //    mode a plaintext push is refused: its body is covered by no signature.
    let encrypted = q.encrypt_type.as_deref() == Some("aes");
    if !encrypted && server.config.mode == MessageMode::Safe {
        return refuse(
            StatusCode::FORBIDDEN,
            "plaintext push refused: this server is in safe mode (WXGATE_MESSAGE_MODE=safe), WeChat sends encrypt_type=aes",
        );
    }
    if !encrypted
        && !server
            .signatures
            .bind(sent_at, nonce, body, server.config.timestamp_window)
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "this signature was already used with a different message",
        );
    }
    let (xml, key_used) = if encrypted {
        let Some(crypt) = &server.crypt else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "encrypted push, but WXGATE_AES_KEY is not set",
            );
        };
        let Ok(fields) = wechat::message::parse_xml_fields(body) else {
            return refuse(StatusCode::BAD_REQUEST, "malformed XML");
        };
        let Some(ciphertext) = wechat::message::encrypted_payload(&fields) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "encrypt_type=aes but no <Encrypt> element",
            );
        };
        let Some(msg_signature) = &q.msg_signature else {
            return refuse(StatusCode::FORBIDDEN, "missing msg_signature");
        };
        if !token.verify_msg_signature(msg_signature, timestamp, nonce, ciphertext) {
            return refuse(StatusCode::FORBIDDEN, "invalid msg_signature");
        }
        match wechat::crypto::decrypt_with_rotation(
            crypt,
            server.crypt_previous.as_ref(),
            ciphertext,
        ) {
            Ok((xml, used)) => (xml, Some(used)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot decrypt a signed push: check WXGATE_AES_KEY");
                return refuse(StatusCode::BAD_REQUEST, "cannot decrypt the message");
            }
        }
    } else {
        (body.to_owned(), None)
    };

    // 3. Parse.
    let incoming = match wechat::message::parse(&xml) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "malformed push");
            return refuse(StatusCode::BAD_REQUEST, "malformed message XML");
        }
    };

    // 4. Deduplicate and handle, within the deadline.
    let key = incoming.dedup_key();
    let work = Box::pin(handle(app.clone(), incoming));
    let reply =
        match tokio::time::timeout(server.config.deadline, server.dedup.once(key, work)).await {
            Ok(reply) => reply,
            Err(_) => {
                tracing::warn!(
                    deadline_ms = server.config.deadline.as_millis() as u64,
                    "handling a push took too long; answered success"
                );
                None
            }
        };

    // 5. Answer in the mode the push came in.
    respond(server, reply, key_used)
}

fn respond(server: &MessageServer, reply: Option<String>, key_used: Option<KeyUsed>) -> Response {
    let text = |body: String, content_type: &'static str| {
        ([(header::CONTENT_TYPE, content_type)], body).into_response()
    };
    match (reply, key_used) {
        (None, None) => text("success".into(), "text/plain; charset=utf-8"),
        // An encrypted push with nothing to say: an empty body is what WeChat documents as safe.
        (None, Some(_)) => text(String::new(), "text/plain; charset=utf-8"),
        (Some(xml), None) => text(xml, "text/xml; charset=utf-8"),
        (Some(xml), Some(used)) => {
            let crypt = match used {
                KeyUsed::Current => server.crypt.as_ref(),
                KeyUsed::Previous => server.crypt_previous.as_ref(),
            };
            let Some(crypt) = crypt else {
                return text(String::new(), "text/plain; charset=utf-8");
            };
            let nonce = wechat::State::generate();
            let body = wechat::reply::encrypted_reply_xml(
                crypt,
                &server.config.token,
                &xml,
                db::now(),
                nonce.as_str(),
            );
            text(body, "text/xml; charset=utf-8")
        }
    }
}

/// The account's answer to one (deduplicated) push: the webhook's reply if it gives one, else
/// the first matching rule's. Returns the plaintext reply XML.
async fn handle(app: AppState, incoming: Incoming) -> Option<String> {
    let server = app.messages.as_ref()?;
    let env = &incoming.envelope;
    let event = incoming.event();
    let facts = Facts {
        msg_type: &env.msg_type,
        event,
        event_key: incoming.fields.text("EventKey"),
        content: incoming.fields.text("Content"),
    };
    let nickname = match db::find_user(&app.db, env.from_user_name.as_str()).await {
        Ok(user) => user.and_then(|u| u.nickname),
        Err(e) => {
            tracing::warn!(error = %e, "could not look up the sender");
            None
        }
    };
    let login_url = format!("{}/auth/", app.public_url);
    let vars = Vars {
        nickname: nickname.as_deref(),
        openid: env.from_user_name.as_str(),
        text: facts.content.unwrap_or_default(),
        login_url: &login_url,
    };
    let rule_reply = rules::first_match(&server.config.rules, &facts).map(|rule| {
        tracing::info!(rule = %rule.name, msg_type = %env.msg_type, event, "rule matched");
        rules::render(&rule.reply, &vars)
    });

    let mut reply = rule_reply;
    if let Some(webhook) = &server.webhook {
        let payload = serde_json::json!({
            "id": incoming.dedup_key(),
            "account": env.to_user_name,
            "openid": env.from_user_name,
            "create_time": env.create_time,
            "msg_type": env.msg_type,
            "event": event,
            "fields": incoming.fields.to_json(),
            "user": nickname.as_ref().map(|n| serde_json::json!({ "nickname": n })),
            "rule_reply": reply,
        });
        match webhook
            .deliver(&incoming.dedup_key(), &payload, WEBHOOK_TIMEOUT)
            .await
        {
            Ok(Some(r)) => reply = Some(r),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "webhook failed; using the rules' reply"),
        }
    }

    let reply = reply?;
    if let Err(problem) = reply.validate_for(incoming.is_user_message()) {
        tracing::error!(
            problem,
            "reply is not one WeChat accepts; answering success instead"
        );
        return None;
    }
    Some(reply.to_xml(env.from_user_name.as_str(), &env.to_user_name, db::now()))
}
