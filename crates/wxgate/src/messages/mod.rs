//! The message server (服务器配置 URL, `/weixin/` by default), read top to bottom in
//! [`MessageServer::receive`]: verify the signature → (safe/compatible mode) verify
//! msg_signature and decrypt → bind the signature to the body → parse → deduplicate → rules and
//! webhook → reply → encrypt in the mode the push came in. `crate::http::weixin` only turns
//! HTTP into these calls and their results into responses.
//!
//! Nothing unverified reaches a handler: a missing or wrong signature or a stale timestamp is a
//! 403, malformed XML or a ciphertext that does not decrypt a 400.
//!
//! The deadline (`WXGATE_REPLY_DEADLINE_MS`, 4.5 s, inside WeChat's 5 s) runs from the first
//! copy of a push. A reply ready within it is the passive reply, to that copy and to every
//! retry of the push. Past it, WeChat gets `success` (an empty body when encrypted), so the user
//! never sees 该公众号暂时无法提供服务 — and WeChat does not retry after `success`, so the
//! handler goes on and its reply is sent as a customer-service message (客服消息,
//! `message/custom/send`) to the sender, once ([`late`]).
//!
//! What must hold across instances — a push handled once, a signature bound to one body, a late
//! reply sent once — goes through [`crate::shared`], in memory or in Redis.

pub mod config;
mod late;
pub mod rules;
mod signatures;
pub mod webhook;

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use bytes::Bytes;
use wechat::crypto::{KeyUsed, MessageCrypt};
use wechat::message::Incoming;
use wechat::reply::Reply;

use self::config::{MessageConfig, MessageMode};
use self::rules::{Facts, Vars};
use self::webhook::Webhook;
use crate::clock;
use crate::db::{self, Db};
use crate::platform::Platform;
use crate::shared::{Claims, Flights, Shared};
use crate::throttled_log::ThrottledLog;

/// How long the webhook may take. Longer than the reply deadline on purpose: a reply that
/// misses the deadline still reaches the user, as a customer-service message.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(15);
/// How much longer than the deadline a copy of a push waits for the deduplicated work, which
/// answers by the deadline itself: only a stuck store uses this.
const DEDUP_GRACE: Duration = Duration::from_millis(250);
/// A push is remembered at least this long, whatever its timestamp: WeChat's retries come
/// within about 15 s.
const RETRY_WINDOW: Duration = Duration::from_secs(60);
/// How long a push's reply is kept for its retries (WeChat's come 5, 10 and 15 s after the
/// first copy); after that only the push's key is remembered, and a copy gets `success`.
const REPLY_KEPT: Duration = Duration::from_secs(30);

/// The query string WeChat signs a push or a URL check with.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PushQuery<'a> {
    pub signature: Option<Cow<'a, str>>,
    pub timestamp: Option<Cow<'a, str>>,
    pub nonce: Option<Cow<'a, str>>,
    pub echostr: Option<Cow<'a, str>>,
    pub encrypt_type: Option<Cow<'a, str>>,
    pub msg_signature: Option<Cow<'a, str>>,
}

/// A query string that gives one of [`PushQuery`]'s parameters twice.
#[derive(Debug, PartialEq, Eq)]
pub struct Duplicate;

impl<'a> PushQuery<'a> {
    /// Reads a query string (percent-decoded; other parameters, such as `openid`, ignored).
    /// A parameter given twice is refused: which of the two was signed would be a guess.
    /// Values with nothing to decode are borrowed from `query`.
    pub fn parse(query: &'a str) -> Result<PushQuery<'a>, Duplicate> {
        let mut q = PushQuery::default();
        // WeChat's parameters are digits, hex and letters: a pair is decoded (as
        // application/x-www-form-urlencoded) only when it has something to decode.
        let pairs = query.split('&').filter(|p| !p.is_empty()).map(|pair| {
            if pair.bytes().any(|b| b == b'%' || b == b'+') {
                url::form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .unwrap_or_default()
            } else {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(name), Cow::Borrowed(value))
            }
        });
        for (name, value) in pairs {
            let field = match name.as_ref() {
                "signature" => &mut q.signature,
                "timestamp" => &mut q.timestamp,
                "nonce" => &mut q.nonce,
                "echostr" => &mut q.echostr,
                "encrypt_type" => &mut q.encrypt_type,
                "msg_signature" => &mut q.msg_signature,
                _ => continue,
            };
            if field.replace(value).is_some() {
                return Err(Duplicate);
            }
        }
        Ok(q)
    }
}

/// What to answer WeChat.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Plain text: `echostr` for a URL check, `success` for a plaintext push with no reply.
    Text(String),
    /// An encrypted push with nothing to say: an empty body is what WeChat documents as safe.
    Empty,
    /// A passive reply, encrypted if the push was.
    Xml(String),
}

/// A push or URL check refused, with a reason a person reading the response understands.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
}

impl Refusal {
    /// A short, bounded name for the reason, for metrics.
    pub fn label(&self) -> &'static str {
        let r = self.reason;
        if r.contains("already used") {
            "replayed"
        } else if r.contains("signature") {
            "signature"
        } else if r.contains("timestamp") {
            "timestamp"
        } else if r.contains("safe mode") {
            "plaintext_in_safe_mode"
        } else if r.contains("decrypt") || r.contains("AES") {
            "decrypt"
        } else if r.contains("too large") {
            "too_large"
        } else if r.contains("in time") {
            "body_timeout"
        } else {
            "malformed"
        }
    }
}

/// What the message server needs at run time, built once at start-up.
#[derive(Debug)]
pub struct MessageServer {
    pub config: MessageConfig,
    crypt: Option<MessageCrypt>,
    crypt_previous: Option<MessageCrypt>,
    webhook: Option<Webhook>,
    flights: Arc<dyn Flights>,
    claims: Arc<dyn Claims>,
    refusals: ThrottledLog,
    /// For `{nickname}`: the sender, if they logged in on the web.
    db: Db,
    /// For late replies (customer-service messages).
    platform: Platform,
    /// `{login_url}`.
    login_url: String,
    /// The media_ids of rules' files (`crate::media`).
    media: crate::media::MediaLibrary,
}

/// The push's timestamp, if it is a number within `window` of our clock.
fn fresh_timestamp(timestamp: &str, window: Duration) -> Option<i64> {
    let sent_at = timestamp.trim().parse::<i64>().ok()?;
    (clock::now().abs_diff(sent_at) <= window.as_secs()).then_some(sent_at)
}

/// How long what is needed to recognise a push again must be kept: until its timestamp is no
/// longer accepted — in either direction of clock skew, a push stamped `sent_at` is accepted
/// until `sent_at + window` — so a replay is still recognised whatever the window, and at
/// least through WeChat's retries.
fn remember_for(sent_at: i64, window: Duration, now: i64) -> Duration {
    let acceptable_until = sent_at.saturating_add(window.as_secs() as i64);
    let left = acceptable_until.saturating_sub(now).max(0) as u64 + 1;
    Duration::from_secs(left).max(RETRY_WINDOW)
}

impl MessageServer {
    pub fn new(
        config: MessageConfig,
        appid: &wechat::AppId,
        db: Db,
        platform: Platform,
        public_url: &str,
        shared: &Shared,
    ) -> Result<Arc<Self>, String> {
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
        Ok(Arc::new(MessageServer {
            config,
            crypt,
            crypt_previous,
            webhook,
            flights: shared.flights.clone(),
            claims: shared.claims.clone(),
            refusals: ThrottledLog::default(),
            media: crate::media::MediaLibrary::new(db.clone(), platform.clone()),
            db,
            platform,
            login_url: format!("{public_url}/auth/"),
        }))
    }

    /// Uploads the rules' files that are not uploaded yet (at start-up, in the background), so
    /// that pushes find their media_ids in memory.
    pub async fn prepare_media(&self) {
        let files: Vec<_> = self
            .config
            .rules
            .iter()
            .filter_map(|r| r.media.clone())
            .collect();
        self.media.prepare(&files).await;
    }

    /// Refuses, logging each kind of refusal at most once a minute (a flood of forged or
    /// broken pushes must not flood the log).
    fn refuse(&self, status: StatusCode, reason: &'static str) -> Refusal {
        if let Some(unlogged) = self.refusals.allow(reason) {
            tracing::warn!(
                status = status.as_u16(),
                message = reason,
                unlogged_since_last = unlogged,
                "push refused"
            );
        }
        Refusal { status, reason }
    }

    /// A query string that did not parse (a parameter twice, bad percent-encoding).
    pub fn malformed_query(&self, _: Duplicate) -> Refusal {
        self.refuse(
            StatusCode::BAD_REQUEST,
            "malformed query string: a parameter WeChat signs is given twice",
        )
    }

    fn remember_for(&self, sent_at: i64) -> Duration {
        remember_for(sent_at, self.config.timestamp_window, clock::now())
    }

    /// GET: WeChat checks the URL when the console saves it; `echostr` is echoed verbatim only
    /// when the signature is right and fresh (docs/wechat-protocol.md, "URL verification").
    pub fn verify_url(&self, q: &PushQuery<'_>) -> Result<Answer, Refusal> {
        let (Some(signature), Some(timestamp), Some(nonce), Some(echostr)) =
            (&q.signature, &q.timestamp, &q.nonce, &q.echostr)
        else {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "missing signature, timestamp, nonce or echostr: this URL is for WeChat's server",
            ));
        };
        if !self
            .config
            .token
            .verify_signature(signature, timestamp, nonce)
        {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "invalid signature: check WXGATE_TOKEN",
            ));
        }
        // A captured signature must not echo chosen text forever.
        if fresh_timestamp(timestamp, self.config.timestamp_window).is_none() {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "timestamp outside the accepted window (is this server's clock right?)",
            ));
        }
        Ok(Answer::Text(echostr.to_string()))
    }

    /// POST: a push. Counted in `wxgate_pushes_total` whatever happens.
    pub async fn receive(
        self: &Arc<Self>,
        q: &PushQuery<'_>,
        body: &[u8],
    ) -> Result<Answer, Refusal> {
        let result = self.accept(q, body).await;
        if let Err(refusal) = &result {
            crate::metrics::push_refused(refusal.label());
        }
        result
    }

    /// POST: one push (a message or an event from a user).
    async fn accept(self: &Arc<Self>, q: &PushQuery<'_>, body: &[u8]) -> Result<Answer, Refusal> {
        let token = &self.config.token;

        // 1. The signature, on every push, and a fresh timestamp.
        let (Some(signature), Some(timestamp), Some(nonce)) =
            (&q.signature, &q.timestamp, &q.nonce)
        else {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "missing signature, timestamp or nonce",
            ));
        };
        if !token.verify_signature(signature, timestamp, nonce) {
            return Err(self.refuse(StatusCode::FORBIDDEN, "invalid signature"));
        }
        let Some(sent_at) = fresh_timestamp(timestamp, self.config.timestamp_window) else {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "timestamp outside the accepted window (is this server's clock right?)",
            ));
        };
        let Ok(body) = std::str::from_utf8(body) else {
            return Err(self.refuse(StatusCode::BAD_REQUEST, "body is not UTF-8"));
        };

        // 2. Safe and compatible mode: msg_signature over the ciphertext, then decrypt. In safe
        //    mode a plaintext push is refused: its body is covered by no signature.
        let encrypted = q
            .encrypt_type
            .as_deref()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("aes"));
        if !encrypted && self.config.mode == MessageMode::Safe {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "plaintext push refused: this server is in safe mode (WXGATE_MESSAGE_MODE=safe), WeChat sends encrypt_type=aes",
            ));
        }
        let (xml, key_used) = if encrypted {
            let (xml, used) = self.open(q, timestamp, nonce, body)?;
            (Cow::Owned(xml), Some(used))
        } else {
            (Cow::Borrowed(body), None)
        };

        // 3. Whatever the mode: a query string signed for one push (even an encrypted one,
        //    whose msg_signature checked out above) cannot carry another body.
        let remember = self.remember_for(sent_at);
        if !signatures::bind(self.claims.as_ref(), sent_at, nonce, body, remember).await {
            return Err(self.refuse(
                StatusCode::FORBIDDEN,
                "this signature was already used with a different message",
            ));
        }

        // 4. Parse.
        let incoming = match wechat::message::parse(&xml) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "malformed push");
                return Err(self.refuse(StatusCode::BAD_REQUEST, "malformed message XML"));
            }
        };

        // 5. Deduplicate (across instances) and handle, within the deadline; past it, by
        //    customer-service message.
        let key = incoming.dedup_key_under("push:");
        let deadline = self.config.deadline;
        // Shared with the handler, which may outlive this call (a late reply needs it too).
        let incoming = Arc::new(incoming);
        // Set by the run, if this copy is the one that runs it: how it ended (for metrics) and
        // its reply, which this copy then writes without reading it back from the store.
        let ran: Arc<OnceLock<(bool, Option<Reply>)>> = Arc::new(OnceLock::new());
        let answered = late::answer_within(self.clone(), incoming.clone(), deadline, remember);
        let slot = ran.clone();
        let work = Box::pin(async move {
            let (reply, late) = answered.await;
            // What is remembered for retries is the reply itself, compact; its XML is written
            // per copy (CreateTime is the copy's).
            let stored = reply
                .as_ref()
                .and_then(|r| serde_json::to_vec(r).ok())
                .map(Bytes::from)
                .unwrap_or_default();
            let _ = slot.set((late, reply));
            stored
        });
        let lease = deadline + DEDUP_GRACE + Duration::from_secs(1);
        let stored = clock::within(
            deadline + DEDUP_GRACE,
            self.flights
                .run(&key, lease, remember, REPLY_KEPT.min(remember), work),
        )
        .await;
        // The run is over (or was left to finish on its own): its future no longer holds
        // `ran` unless it is still running, so the reply is usually taken, not copied.
        let ran =
            Arc::try_unwrap(ran).map_or_else(|shared| shared.get().cloned(), OnceLock::into_inner);
        let ended_late = ran.as_ref().map(|(late, _)| *late);
        let reply = match (stored, ran) {
            (Ok(Some(_)), Some((_, own))) => own,
            (Ok(Some(stored)), None) if !stored.is_empty() => {
                serde_json::from_slice::<Reply>(&stored)
                    .map_err(|e| tracing::error!(error = %e, "a stored reply does not read back"))
                    .ok()
            }
            (Ok(Some(_)), None) => None,
            (Ok(None), _) => {
                tracing::error!("message handler panicked; answered success");
                None
            }
            (Err(_), _) => {
                tracing::error!(
                    deadline_ms = deadline.as_millis() as u64,
                    "the deduplication store did not answer in time; answered success"
                );
                None
            }
        };
        // The passive reply goes to the sender, from the account: the two names swapped.
        let env = &incoming.envelope;
        let reply =
            reply.map(|r| r.to_xml(env.from_user_name.as_str(), &env.to_user_name, clock::now()));

        let outcome = match ended_late {
            None => "deduplicated",
            Some(true) => "late",
            Some(false) if reply.is_some() => "replied",
            Some(false) => "empty",
        };
        crate::metrics::push(&env.msg_type, outcome);

        // 6. Answer in the mode the push came in.
        Ok(self.seal(reply, key_used))
    }

    /// Checks msg_signature over the ciphertext and decrypts it (with the previous key during a
    /// rotation).
    fn open(
        &self,
        q: &PushQuery<'_>,
        timestamp: &str,
        nonce: &str,
        body: &str,
    ) -> Result<(String, KeyUsed), Refusal> {
        let Some(crypt) = &self.crypt else {
            return Err(self.refuse(
                StatusCode::BAD_REQUEST,
                "encrypted push, but WXGATE_AES_KEY is not set",
            ));
        };
        // The signature first: the body is not parsed as XML before msg_signature vouches
        // for the ciphertext in it.
        let Some(ciphertext) = wechat::message::encrypt_element(body) else {
            return Err(self.refuse(
                StatusCode::BAD_REQUEST,
                "encrypt_type=aes but no single <Encrypt> element holding base64",
            ));
        };
        let Some(msg_signature) = &q.msg_signature else {
            return Err(self.refuse(StatusCode::FORBIDDEN, "missing msg_signature"));
        };
        if !self
            .config
            .token
            .verify_msg_signature(msg_signature, timestamp, nonce, ciphertext)
        {
            return Err(self.refuse(StatusCode::FORBIDDEN, "invalid msg_signature"));
        }
        wechat::crypto::decrypt_with_rotation(crypt, self.crypt_previous.as_ref(), ciphertext)
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot decrypt a signed push: check WXGATE_AES_KEY");
                self.refuse(StatusCode::BAD_REQUEST, "cannot decrypt the message")
            })
    }

    /// The answer to WeChat, encrypted with the key the push came with.
    fn seal(&self, reply: Option<String>, key_used: Option<KeyUsed>) -> Answer {
        let Some(reply) = reply else {
            return match key_used {
                None => Answer::Text("success".into()),
                Some(_) => Answer::Empty,
            };
        };
        let xml = reply;
        let Some(used) = key_used else {
            return Answer::Xml(xml);
        };
        let crypt = match used {
            KeyUsed::Current => self.crypt.as_ref(),
            KeyUsed::Previous => self.crypt_previous.as_ref(),
        };
        let Some(crypt) = crypt else {
            return Answer::Empty;
        };
        let nonce = wechat::signature::nonce();
        Answer::Xml(wechat::reply::encrypted_reply_xml(
            crypt,
            &self.config.token,
            &xml,
            clock::now(),
            nonce.as_str(),
        ))
    }

    /// The account's answer to one (deduplicated) push: the webhook's reply if it gives one,
    /// else the first matching rule's, checked the way WeChat checks a passive reply.
    async fn handle(&self, incoming: &Incoming) -> Option<Reply> {
        let env = &incoming.envelope;
        let event = incoming.event();
        // The followers table follows (un)subscribe pushes, in a task of its own: the reply
        // never waits for it (`crate::followers::record_push`).
        if let Some(event) = event {
            crate::followers::record_push(
                &self.db,
                env.from_user_name.as_str(),
                event,
                incoming.fields.text("EventKey"),
                env.create_time,
            );
        }
        let facts = Facts {
            msg_type: &env.msg_type,
            event,
            event_key: incoming.fields.text("EventKey"),
            content: incoming.fields.text("Content"),
        };
        let rule = rules::first_match(&self.config.rules, &facts);
        // The sender is looked up (a database round trip) only when someone will read the name.
        let nickname = if self.webhook.is_some() || rule.is_some_and(|r| r.needs_nickname) {
            match db::users::find_user(&self.db, env.from_user_name.as_str()).await {
                Ok(user) => user.and_then(|u| u.nickname),
                Err(e) => {
                    tracing::warn!(error = %e, "could not look up the sender");
                    None
                }
            }
        } else {
            None
        };
        let vars = Vars {
            nickname: nickname.as_deref(),
            openid: env.from_user_name.as_str(),
            text: facts.content.unwrap_or_default(),
            login_url: &self.login_url,
        };
        let mut rule_reply = rule.map(|rule| {
            tracing::info!(rule = %rule.name, msg_type = %env.msg_type, event, "rule matched");
            rules::render(&rule.reply, &vars)
        });
        // A reply from a file: its media_id (in memory once uploaded, see crate::media).
        if let Some(rule) = rule
            && let Some(file) = &rule.media
        {
            rule_reply = match self.media.media_id_for(file).await {
                Ok(id) => rule_reply.map(|r| rules::with_media_id(r, id)),
                Err(e) => {
                    tracing::error!(
                        rule = %rule.name,
                        file = %file.path.display(),
                        error = %e,
                        "the rule's file could not be uploaded; no reply"
                    );
                    None
                }
            };
        }

        let mut reply = rule_reply;
        if let Some(webhook) = &self.webhook {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_read_decoded_and_a_repeated_parameter_refused() {
        let q = PushQuery::parse(
            "signature=ab%2Bc&timestamp=1&nonce=n&openid=o&encrypt_type=aes&msg_signature=m",
        )
        .unwrap();
        assert_eq!(q.signature.as_deref(), Some("ab+c"));
        assert_eq!(q.timestamp.as_deref(), Some("1"));
        assert_eq!(q.encrypt_type.as_deref(), Some("aes"));
        assert_eq!(q.echostr, None);
        assert_eq!(PushQuery::parse(""), Ok(PushQuery::default()));
        assert_eq!(
            PushQuery::parse("nonce=a&signature=x&nonce=b"),
            Err(Duplicate)
        );
        // Parameters WeChat does not sign may repeat.
        assert!(PushQuery::parse("openid=a&openid=b").is_ok());
    }

    proptest::proptest! {
        /// The fast path (pairs with nothing to decode read as they are) reads every query
        /// as the form-urlencoded parser does.
        #[test]
        fn the_query_reads_as_form_urlencoded(
            query in "((signature|timestamp|nonce|echostr|encrypt_type|msg_signature|openid|sig%6Eature|a\\+b)(=([a-z0-9]|%2B|%3d|%|\\+|=){0,6})?&?){0,8}"
        ) {
            let mut expected = PushQuery::default();
            let mut duplicate = false;
            for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
                let field = match name.as_ref() {
                    "signature" => &mut expected.signature,
                    "timestamp" => &mut expected.timestamp,
                    "nonce" => &mut expected.nonce,
                    "echostr" => &mut expected.echostr,
                    "encrypt_type" => &mut expected.encrypt_type,
                    "msg_signature" => &mut expected.msg_signature,
                    _ => continue,
                };
                duplicate |= field.replace(value).is_some();
            }
            match PushQuery::parse(&query) {
                Ok(q) => {
                    proptest::prop_assert!(!duplicate);
                    proptest::prop_assert_eq!(q, expected);
                }
                Err(Duplicate) => proptest::prop_assert!(duplicate),
            }
        }
    }

    #[test]
    fn a_push_is_remembered_as_long_as_its_timestamp_is_accepted() {
        let hour = Duration::from_secs(3600);
        let now = 1_800_000_000;
        // Stamped now, with an hour's window: an hour (a replay 310 s later is still known).
        assert_eq!(remember_for(now, hour, now), Duration::from_secs(3601));
        // Stamped by a clock an hour ahead: accepted for two hours from now.
        assert_eq!(
            remember_for(now + 3600, hour, now),
            Duration::from_secs(7201)
        );
        // Stamped an hour ago: about to go stale, but WeChat's retries are still covered.
        assert_eq!(remember_for(now - 3600, hour, now), RETRY_WINDOW);
        assert_eq!(
            remember_for(i64::MAX, hour, now),
            Duration::from_secs((i64::MAX - now) as u64 + 1)
        );
    }
}
