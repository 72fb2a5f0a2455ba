//! Prometheus metrics, served on their own listener (`WXGATE_METRICS_LISTEN`, off unless set:
//! they are for the operator, not the public) at `GET /metrics` in the text format.
//!
//! The application records through the `metrics` facade, here and in the `wechat` crate (calls
//! to WeChat, token fetches); with no listener configured no recorder is installed and every
//! record is a no-op. Label values are bounded: a route is one of wxgate's own, a message type
//! one of WeChat's, a client one of the configured names; never an openid or a raw path.
//! README's "Metrics" section lists every family; `deploy/grafana/wxgate.json` charts them.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Histogram buckets, in seconds: from a fast page (1 ms) to a slow WeChat call (10 s).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Every metric family wxgate exports (here and in the `wechat` crate), as `/metrics` names
/// them (a histogram also shows as `…_bucket`, `…_sum`, `…_count`). README's "Metrics" section
/// and `deploy/grafana/wxgate.json` are checked against this list by tests/metrics.rs.
pub const FAMILIES: &[&str] = &[
    "wxgate_http_requests_total",
    "wxgate_http_request_duration_seconds",
    "wxgate_pushes_total",
    "wxgate_webhook_calls_total",
    "wxgate_webhook_call_duration_seconds",
    "wxgate_logins_total",
    "wxgate_late_replies_total",
    "wxgate_gateway_calls_total",
    "wxgate_gateway_call_duration_seconds",
    "wxgate_gateway_refusals_total",
    "wxgate_wechat_calls_total",
    "wxgate_wechat_call_duration_seconds",
    "wxgate_token_fetches_total",
    "wxgate_token_invalidations_total",
    "wxgate_quota_exhausted_total",
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls get the same handle).
pub fn install() -> Result<&'static PrometheusHandle, String> {
    if let Some(h) = HANDLE.get() {
        return Ok(h);
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    // Another thread may have won the race: its handle is the one in use.
    Ok(HANDLE.get_or_init(|| handle))
}

/// The text `/metrics` answers.
pub fn render() -> String {
    HANDLE
        .get()
        .map(PrometheusHandle::render)
        .unwrap_or_default()
}

/// Drains histogram samples now and then, so memory stays flat between scrapes.
pub fn spawn_upkeep() {
    if let Some(handle) = HANDLE.get() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
}

/// A finished HTTP request on the public listener.
pub fn http_request(route: &'static str, method: &str, status: u16, elapsed: Duration) {
    let method = match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        _ => "other",
    };
    metrics::counter!(
        "wxgate_http_requests_total",
        "route" => route,
        "method" => method,
        "status" => status.to_string(),
    )
    .increment(1);
    metrics::histogram!("wxgate_http_request_duration_seconds", "route" => route)
        .record(elapsed.as_secs_f64());
}

/// WeChat's message types, for a bounded label; anything else is `other`.
fn msg_type_label(msg_type: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "text",
        "image",
        "voice",
        "video",
        "shortvideo",
        "location",
        "link",
        "file",
        "event",
        "miniprogrampage",
    ];
    let t = msg_type.trim();
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(t))
        .copied()
        .unwrap_or("other")
}

/// How a push ended: `replied`, `empty` (nothing to say), `deduplicated` (a copy answered from
/// another's run), `late` (the deadline passed: `success`, the reply goes later).
pub fn push(msg_type: &str, outcome: &'static str) {
    // Off (no listener): not even the labels are built, on the hottest path there is.
    if HANDLE.get().is_none() {
        return;
    }
    metrics::counter!(
        "wxgate_pushes_total",
        "msg_type" => msg_type_label(msg_type),
        "outcome" => outcome,
        "reason" => "",
    )
    .increment(1);
}

/// A push refused before it was handled, by `reason` (`signature`, `timestamp`, `replayed`,
/// `malformed`, `too_large`, …).
pub fn push_refused(reason: &'static str) {
    if HANDLE.get().is_none() {
        return;
    }
    metrics::counter!(
        "wxgate_pushes_total",
        "msg_type" => "unknown",
        "outcome" => "refused",
        "reason" => reason,
    )
    .increment(1);
}

/// A call of the webhook: `ok`, `error` (non-2xx or unusable answer), `timeout`, `unreachable`.
pub fn webhook_call(outcome: &'static str, elapsed: Duration) {
    metrics::counter!("wxgate_webhook_calls_total", "outcome" => outcome).increment(1);
    metrics::histogram!("wxgate_webhook_call_duration_seconds").record(elapsed.as_secs_f64());
}

/// A finished web login: `ok`, `denied`, `bad_state`, `bad_code`, `upstream_error`.
pub fn login(outcome: &'static str) {
    metrics::counter!("wxgate_logins_total", "outcome" => outcome).increment(1);
}

/// A reply that missed the deadline: `sent`, `failed`, `not_sendable`, `no_reply`.
pub fn late_reply(outcome: &'static str) {
    metrics::counter!("wxgate_late_replies_total", "outcome" => outcome).increment(1);
}

/// A call through the API gateway.
pub fn gateway_call(client: &str, family: &str, errcode: &str, elapsed: Duration) {
    metrics::counter!(
        "wxgate_gateway_calls_total",
        "client" => client.to_owned(),
        "family" => family.to_owned(),
        "errcode" => errcode.to_owned(),
    )
    .increment(1);
    metrics::histogram!(
        "wxgate_gateway_call_duration_seconds",
        "client" => client.to_owned(),
    )
    .record(elapsed.as_secs_f64());
}

/// A gateway call refused before reaching WeChat, by HTTP status.
pub fn gateway_refused(status: u16) {
    metrics::counter!("wxgate_gateway_refusals_total", "status" => status.to_string()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_types_are_a_bounded_set() {
        assert_eq!(msg_type_label("text"), "text");
        assert_eq!(msg_type_label(" EVENT "), "event");
        assert_eq!(msg_type_label("o6_bmjrPTlm6_2sgVt7hMZOPfL2M"), "other");
    }
}
