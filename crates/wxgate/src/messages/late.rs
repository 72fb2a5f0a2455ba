//! The rule for a reply later than the deadline: it goes to the sender by customer-service
//! message (客服消息, `message/custom/send`), exactly once, and never passively.
//!
//! The deadline runs from the first copy of a push ([`answer_within`] is the deduplicated work,
//! run once across instances, and its result is what every copy gets). When it passes, the work
//! returns "nothing to say" — the answer of that copy, of copies waiting for it and of every
//! later retry — and the handler finishes in its own task, which then calls
//! `message/custom/send` a single time. A retry that arrives while the handler is still running
//! therefore gets `success` rather than the reply, so the user never receives it twice. A
//! marker in [`crate::shared::Claims`] makes sure of it even if the push were handled again.

use std::sync::Arc;
use std::time::Duration;

use wechat::OpenId;
use wechat::api::CustomMessage;
use wechat::message::Incoming;
use wechat::reply::Reply;

use super::MessageServer;

/// The passive reply if the handler has one within `deadline`; `None` for "nothing to say"
/// (WeChat gets `success`). `remember`: how long the push is remembered (for the marker).
/// The flag says whether the deadline passed (the reply, if any, goes later).
pub async fn answer_within(
    server: Arc<MessageServer>,
    incoming: Arc<Incoming>,
    deadline: Duration,
    remember: Duration,
) -> (Option<Reply>, bool) {
    let handler = {
        let server = server.clone();
        let incoming = incoming.clone();
        async move { server.handle(&incoming).await }
    };
    let mut work = Box::pin(handler);
    match crate::clock::within(deadline, &mut work).await {
        Ok(reply) => (reply, false),
        Err(_) => {
            // No clock was read for the push that answers in time; this one has taken at least
            // `deadline` by now.
            let late_since = std::time::Instant::now();
            tracing::warn!(
                id = %incoming.dedup_key(),
                deadline_ms = deadline.as_millis() as u64,
                "handling a push took longer than the deadline: answered success; a reply will go by customer-service message"
            );
            tokio::spawn(async move {
                let reply = work.await;
                send_late_reply(
                    &server,
                    &incoming,
                    reply,
                    deadline + late_since.elapsed(),
                    remember,
                )
                .await;
            });
            (None, true)
        }
    }
}

/// Who may get a late reply as a customer-service message: the user who sent the push, when
/// it is one a user made (a message, or an event such as subscribe, a menu tap, a scan).
/// Unfollowing and the job-finished notices are not a user talking to the account.
fn recipient(incoming: &Incoming) -> Option<&OpenId> {
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
    server: &MessageServer,
    incoming: &Incoming,
    reply: Option<Reply>,
    after: Duration,
    remember: Duration,
) {
    let id = incoming.dedup_key();
    let after_ms = after.as_millis() as u64;
    let Some(reply) = reply else {
        tracing::info!(%id, after_ms, "the late handler had nothing to say");
        crate::metrics::late_reply("no_reply");
        return;
    };
    let Some(openid) = recipient(incoming) else {
        tracing::warn!(%id, after_ms, msg_type = reply.msg_type(), "a late reply to a push no user sent has nobody to go to; dropped");
        crate::metrics::late_reply("not_sendable");
        return;
    };
    let message = match CustomMessage::from_reply(openid, &reply) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(%id, after_ms, msg_type = reply.msg_type(), error = %e, "a late reply has no customer-service form; dropped");
            crate::metrics::late_reply("not_sendable");
            return;
        }
    };
    // Exactly once across instances, whichever finishes the push.
    if server
        .claims
        .claim(&format!("late:{id}"), b"1", remember)
        .await
        .is_some()
    {
        tracing::info!(%id, "the late reply to this push was already sent");
        crate::metrics::late_reply("already_sent");
        return;
    }
    let result = server.platform.send_custom_message(&message).await;
    crate::metrics::late_reply(if result.is_ok() { "sent" } else { "failed" });
    match &result {
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
            problem = %explain_custom_send(e),
            "could not send the late reply as a customer-service message; not retried"
        ),
    }
    // In the send log with the other messages to users (`wxgate send log`).
    let _ = crate::sends::record(
        &server.db,
        openid.as_str(),
        "custom",
        Some(message.msg_type()),
        None,
        crate::sends::Caller::LateReply,
        result.map(|()| None),
    )
    .await;
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
