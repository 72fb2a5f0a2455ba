//! The message server (服务器配置 URL, `/weixin/` by default), read top to bottom:
//! verify the signature → (safe/compatible mode) verify msg_signature and decrypt → parse →
//! deduplicate → rules and webhook → reply → encrypt in the mode the push came in.
//!
//! Nothing unverified reaches a handler: a missing or wrong signature or a stale timestamp is a
//! 403, a body over the limit a 413, malformed XML or a ciphertext that does not decrypt a 400.
//!
//! The deadline (`WXGATE_REPLY_DEADLINE_MS`, 4.5 s, inside WeChat's 5 s) runs from the first
//! copy of a push. A reply ready within it is the passive reply, to that copy and to every
//! retry of the push. Past it, WeChat gets `success` (an empty body when encrypted), so the user
//! never sees 该公众号暂时无法提供服务 — and WeChat does not retry after `success`, so the
//! handler goes on and its reply is sent as a customer-service message (客服消息,
//! `message/custom/send`) to the sender, once; every copy of that push, early or late, gets
//! `success`. See [`answer_within`].

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
use wechat::api::CustomMessage;
use wechat::crypto::{KeyUsed, MessageCrypt};
use wechat::message::Incoming;
use wechat::{OpenId, Reply};

use crate::config::{MessageConfig, MessageMode};
use crate::db;
use crate::dedup::{Dedup, MemoryDedup};
use crate::rules::{self, Facts, Vars};
use crate::state::AppState;
use crate::webhook::Webhook;

/// How long a push's key is remembered for deduplication.
const DEDUP_WINDOW: Duration = Duration::from_secs(300);
/// How long the webhook may take. Longer than the reply deadline on purpose: a reply that
/// misses the deadline still reaches the user, as a customer-service message.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// How much longer than the deadline a copy of a push waits for the deduplicated work, which
/// answers by the deadline itself: only a stuck dedup store uses this.
const DEDUP_GRACE: Duration = Duration::from_millis(250);

/// What the message server needs at run time, built once at start-up.
#[derive(Debug)]
pub struct MessageServer {
    pub config: MessageConfig,
    crypt: Option<MessageCrypt>,
    crypt_previous: Option<MessageCrypt>,
    pub dedup: Arc<dyn Dedup>,
    webhook: Option<Webhook>,
    signatures: SeenSignatures,
    refusals: RefusalLog,
}

/// `signature` covers the timestamp and nonce but not the body, so a signed query string seen
/// once (in a proxy log, on plain http) could carry any plaintext body until its timestamp
/// goes stale — in compatible mode even the query string of an encrypted push. Each
/// (timestamp, nonce) is bound to the first body it came with; a retry of the same push, with
/// the same body, still passes. Entries older than the timestamp window are dropped as the map
/// grows.
#[derive(Debug, Default)]
struct SeenSignatures {
    hasher: std::hash::RandomState,
    seen: Mutex<SeenMap>,
}

#[derive(Debug, Default)]
struct SeenMap {
    /// (timestamp, hash of the nonce) → hash of the body. Plain numbers, no allocations: the
    /// map holds every push of the last few minutes, and a map of small heap strings that size
    /// fragments the allocator enough to slow every request down (seen in bench/).
    bodies: HashMap<(i64, u64), u64>,
    prune_at: usize,
}

impl SeenSignatures {
    /// False when this timestamp and nonce already came with a different body.
    fn bind(&self, sent_at: i64, nonce: &str, body: &str, window: Duration) -> bool {
        let key = (sent_at, self.hasher.hash_one(nonce));
        let digest = self.hasher.hash_one(body);
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.bodies.len() >= seen.prune_at {
            let now = db::now();
            seen.bodies
                .retain(|(t, _), _| now.abs_diff(*t) <= window.as_secs());
            seen.prune_at = (seen.bodies.len() * 2).max(4096);
        }
        *seen.bodies.entry(key).or_insert(digest) == digest
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
            refusals: RefusalLog::default(),
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

/// Refusals are logged at most once a minute per reason, with how many went unlogged in
/// between: a flood of forged or broken pushes must not flood the log.
#[derive(Debug, Default)]
struct RefusalLog(Mutex<HashMap<&'static str, (Option<std::time::Instant>, u64)>>);

const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

impl RefusalLog {
    fn note(&self, status: StatusCode, message: &'static str) {
        let now = std::time::Instant::now();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (last, unlogged) = seen.entry(message).or_insert((None, 0));
        if last.is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_EVERY) {
            *unlogged += 1;
            return;
        }
        tracing::warn!(
            status = status.as_u16(),
            message,
            unlogged_since_last = *unlogged,
            "push refused"
        );
        *last = Some(now);
        *unlogged = 0;
    }
}

impl MessageServer {
    fn refuse(&self, status: StatusCode, message: &'static str) -> Response {
        self.refusals.note(status, message);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            message,
        )
            .into_response()
    }
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
        return server.refuse(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let (Some(signature), Some(timestamp), Some(nonce), Some(echostr)) =
        (&q.signature, &q.timestamp, &q.nonce, &q.echostr)
    else {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "missing signature, timestamp, nonce or echostr: this URL is for WeChat's server",
        );
    };
    if !server
        .config
        .token
        .verify_signature(signature, timestamp, nonce)
    {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "invalid signature: check WXGATE_TOKEN",
        );
    }
    // A captured signature must not echo chosen text forever.
    if fresh_timestamp(timestamp, server.config.timestamp_window).is_none() {
        return server.refuse(
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
        return server.refuse(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let token = &server.config.token;

    // 1. The signature, on every push, and a fresh timestamp.
    let (Some(signature), Some(timestamp), Some(nonce)) = (&q.signature, &q.timestamp, &q.nonce)
    else {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "missing signature, timestamp or nonce",
        );
    };
    if !token.verify_signature(signature, timestamp, nonce) {
        return server.refuse(StatusCode::FORBIDDEN, "invalid signature");
    }
    let Some(sent_at) = fresh_timestamp(timestamp, server.config.timestamp_window) else {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "timestamp outside the accepted window (is this server's clock right?)",
        );
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return server.refuse(StatusCode::BAD_REQUEST, "body is not UTF-8");
    };

    // 2. Safe and compatible mode: msg_signature over the ciphertext, then decrypt. In safe
    //    mode a plaintext push is refused: its body is covered by no signature.
    let encrypted = q
        .encrypt_type
        .as_deref()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("aes"));
    if !encrypted && server.config.mode == MessageMode::Safe {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "plaintext push refused: this server is in safe mode (WXGATE_MESSAGE_MODE=safe), WeChat sends encrypt_type=aes",
        );
    }
    let (xml, key_used) = if encrypted {
        let Some(crypt) = &server.crypt else {
            return server.refuse(
                StatusCode::BAD_REQUEST,
                "encrypted push, but WXGATE_AES_KEY is not set",
            );
        };
        let Ok(fields) = wechat::message::parse_xml_fields(body) else {
            return server.refuse(StatusCode::BAD_REQUEST, "malformed XML");
        };
        let Some(ciphertext) = wechat::message::encrypted_payload(&fields) else {
            return server.refuse(
                StatusCode::BAD_REQUEST,
                "encrypt_type=aes but no <Encrypt> element",
            );
        };
        let Some(msg_signature) = &q.msg_signature else {
            return server.refuse(StatusCode::FORBIDDEN, "missing msg_signature");
        };
        if !token.verify_msg_signature(msg_signature, timestamp, nonce, ciphertext) {
            return server.refuse(StatusCode::FORBIDDEN, "invalid msg_signature");
        }
        match wechat::crypto::decrypt_with_rotation(
            crypt,
            server.crypt_previous.as_ref(),
            ciphertext,
        ) {
            Ok((xml, used)) => (xml, Some(used)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot decrypt a signed push: check WXGATE_AES_KEY");
                return server.refuse(StatusCode::BAD_REQUEST, "cannot decrypt the message");
            }
        }
    } else {
        (body.to_owned(), None)
    };
    // Whatever the mode: a query string signed for one push (even an encrypted one, whose
    // msg_signature checked out above) cannot carry another body.
    if !server
        .signatures
        .bind(sent_at, nonce, body, server.config.timestamp_window)
    {
        return server.refuse(
            StatusCode::FORBIDDEN,
            "this signature was already used with a different message",
        );
    }

    // 3. Parse.
    let incoming = match wechat::message::parse(&xml) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "malformed push");
            return server.refuse(StatusCode::BAD_REQUEST, "malformed message XML");
        }
    };

    // 4. Deduplicate and handle, within the deadline (past it, by customer-service message).
    let key = incoming.dedup_key();
    let deadline = server.config.deadline;
    let work = Box::pin(answer_within(app.clone(), incoming, deadline));
    let reply =
        match tokio::time::timeout(deadline + DEDUP_GRACE, server.dedup.once(key, work)).await {
            Ok(reply) => reply,
            Err(_) => {
                tracing::error!(
                    deadline_ms = deadline.as_millis() as u64,
                    "the deduplication store did not answer in time; answered success"
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

/// The deduplicated work for one push: its passive reply XML if [`handle`] has one within
/// `deadline`, else `None` (WeChat gets `success`).
///
/// The rule for a reply later than the deadline: it goes to the sender by customer-service
/// message, exactly once, and never passively. The deadline runs from the first copy (this
/// work runs once per push and its result is what every copy gets): when it passes, the work
/// returns `None` — the answer of that copy, of copies waiting for it and of every later retry —
/// and the handler finishes in its own task, which then calls `message/custom/send` a single
/// time. A retry that arrives while the handler is still running therefore gets `success`
/// rather than the reply, so the user never receives it twice.
async fn answer_within(app: AppState, incoming: Incoming, deadline: Duration) -> Option<String> {
    let started = std::time::Instant::now();
    // Shared with the handler, which may outlive this call (a late reply needs the push too).
    let incoming = Arc::new(incoming);
    let mut work = Box::pin(handle(app.clone(), incoming.clone()));
    match tokio::time::timeout(deadline, &mut work).await {
        Ok(reply) => {
            let env = &incoming.envelope;
            reply.map(|r| r.to_xml(env.from_user_name.as_str(), &env.to_user_name, db::now()))
        }
        Err(_) => {
            tracing::warn!(
                id = %incoming.dedup_key(),
                deadline_ms = deadline.as_millis() as u64,
                "handling a push took longer than the deadline: answered success; a reply will go by customer-service message"
            );
            tokio::spawn(async move {
                let reply = work.await;
                send_late_reply(&app, &incoming, reply, started.elapsed()).await;
            });
            None
        }
    }
}

/// Who may get a late reply as a customer-service message: the user who sent the push, when
/// it is one a user made (a message, or an event such as subscribe, a menu tap, a scan).
/// Unfollowing and the job-finished notices are not a user talking to the account.
fn late_reply_recipient(incoming: &Incoming) -> Option<&OpenId> {
    let env = &incoming.envelope;
    let from = env.from_user_name.as_str().trim();
    if from.is_empty() || from == env.to_user_name.trim() {
        return None;
    }
    let not_from_a_user = ["unsubscribe", "TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH"];
    match incoming.event() {
        Some(e) if not_from_a_user.iter().any(|n| n.eq_ignore_ascii_case(e)) => None,
        _ => Some(&env.from_user_name),
    }
}

/// Sends a reply that missed the deadline as a customer-service message, once. Not retried on
/// any failure: `message/custom/send` is not idempotent (a timed-out call may have delivered),
/// and 45015/45047 will not change. Only a replaced access_token (40001/42001) is retried, by
/// the token manager, because WeChat refused the call.
async fn send_late_reply(
    app: &AppState,
    incoming: &Incoming,
    reply: Option<Reply>,
    after: Duration,
) {
    let id = incoming.dedup_key();
    let after_ms = after.as_millis() as u64;
    let Some(reply) = reply else {
        tracing::info!(%id, after_ms, "the late handler had nothing to say");
        return;
    };
    let Some(openid) = late_reply_recipient(incoming) else {
        tracing::warn!(%id, after_ms, msg_type = reply.msg_type(), "a late reply to a push no user sent has nobody to go to; dropped");
        return;
    };
    let message = match CustomMessage::from_reply(openid, &reply) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(%id, after_ms, msg_type = reply.msg_type(), error = %e, "a late reply has no customer-service form; dropped");
            return;
        }
    };
    let client = &app.platform.client;
    let message = &message;
    let result = app
        .platform
        .call(move |token| async move { client.send_custom_message(&token, message).await })
        .await;
    match result {
        Ok(()) => tracing::info!(
            %id,
            after_ms,
            msgtype = message.msg_type(),
            "late reply sent as a customer-service message"
        ),
        Err(e) => tracing::warn!(
            %id,
            after_ms,
            msgtype = message.msg_type(),
            errcode = e.errcode().map(|c| c.0),
            problem = %explain_custom_send(&e),
            "could not send the late reply as a customer-service message; not retried"
        ),
    }
}

/// [`crate::platform::explain`], with why a transport failure is not retried.
fn explain_custom_send(error: &wechat::Error) -> String {
    let explained = crate::platform::explain(error);
    if error.errcode().is_none() {
        format!("{explained} (the message may or may not have been delivered)")
    } else {
        explained
    }
}

/// The account's answer to one (deduplicated) push: the webhook's reply if it gives one, else
/// the first matching rule's, checked the way WeChat checks a passive reply.
async fn handle(app: AppState, incoming: Arc<Incoming>) -> Option<Reply> {
    let server = app.messages.as_ref()?;
    let env = &incoming.envelope;
    let event = incoming.event();
    let facts = Facts {
        msg_type: &env.msg_type,
        event,
        event_key: incoming.fields.text("EventKey"),
        content: incoming.fields.text("Content"),
    };
    let rule = rules::first_match(&server.config.rules, &facts);
    // The sender is looked up (a database round trip) only when someone will read the name.
    let nickname = if server.webhook.is_some() || rule.is_some_and(|r| r.needs_nickname) {
        match db::find_user(&app.db, env.from_user_name.as_str()).await {
            Ok(user) => user.and_then(|u| u.nickname),
            Err(e) => {
                tracing::warn!(error = %e, "could not look up the sender");
                None
            }
        }
    } else {
        None
    };
    let login_url = format!("{}/auth/", app.public_url);
    let vars = Vars {
        nickname: nickname.as_deref(),
        openid: env.from_user_name.as_str(),
        text: facts.content.unwrap_or_default(),
        login_url: &login_url,
    };
    let rule_reply = rule.map(|rule| {
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
    Some(reply)
}
