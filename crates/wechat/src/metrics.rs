//! What the client and the token cache report, through the `metrics` facade: nothing is
//! recorded unless the application installs a recorder (wxgate does when
//! `WXGATE_METRICS_LISTEN` is set; its README lists every metric). Label values are bounded:
//! an endpoint is a path from this crate's code (or `gateway` for forwarded calls), never a
//! caller's; an errcode is a number or the kind of failure.

use std::time::Duration;

use crate::client::Error;

/// A finished call to WeChat: `errcode` 0 for success.
pub(crate) fn wechat_call(endpoint: &'static str, errcode: i64, elapsed: Duration) {
    record(endpoint, errcode.to_string(), elapsed);
}

/// A call that failed before or instead of a WeChat answer.
pub(crate) fn wechat_failure(endpoint: &'static str, error: &Error, elapsed: Duration) {
    let label = match error {
        Error::Api { code, .. } => {
            if code.0 == 45009 {
                quota_exhausted(endpoint, endpoint);
            }
            code.0.to_string()
        }
        Error::Timeout { .. } => "timeout".into(),
        Error::Transport { .. } => "transport".into(),
        Error::BadResponse { .. } => "bad_response".into(),
    };
    record(endpoint, label, elapsed);
}

fn record(endpoint: &'static str, errcode: String, elapsed: Duration) {
    metrics::counter!("wxgate_wechat_calls_total", "endpoint" => endpoint, "errcode" => errcode)
        .increment(1);
    metrics::histogram!("wxgate_wechat_call_duration_seconds", "endpoint" => endpoint)
        .record(elapsed.as_secs_f64());
}

/// The kind of a credential (`access_token`, `jsapi_ticket`) without the AppID its cache key
/// carries.
fn kind_label(kind: &str) -> String {
    kind.split(':').next().unwrap_or(kind).to_owned()
}

/// A fetch of a credential from WeChat: `forced` for a stable_token force_refresh.
pub(crate) fn credential_fetch(kind: &str, forced: bool, ok: bool) {
    metrics::counter!(
        "wxgate_token_fetches_total",
        "kind" => kind_label(kind),
        "forced" => if forced { "true" } else { "false" },
        "outcome" => if ok { "ok" } else { "error" },
    )
    .increment(1);
}

/// WeChat rejected a credential (40001/40014/42001) and it is being replaced.
pub(crate) fn credential_rejected(kind: &str) {
    metrics::counter!("wxgate_token_invalidations_total", "kind" => kind_label(kind)).increment(1);
}

/// WeChat answered 45009: `path`'s daily quota is used up. One warning (per occurrence: the
/// caller stops calling soon enough) that says which quota and when it comes back, and a count.
pub(crate) fn quota_exhausted(endpoint: &'static str, path: &str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Daily counters are understood to reset at midnight Beijing time (UTC+8).
    let resets_in = 86_400 - (now + 8 * 3600) % 86_400;
    tracing::warn!(
        api = path,
        resets_in_secs = resets_in,
        "WeChat's daily quota for {path} is used up (45009): calls fail until it resets at midnight Beijing time, in {}h{:02}m; `wxgate quota {path}` shows the numbers",
        resets_in / 3600,
        resets_in % 3600 / 60,
    );
    metrics::counter!("wxgate_quota_exhausted_total", "endpoint" => endpoint).increment(1);
}
