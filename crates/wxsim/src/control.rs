//! Control paths for tests and humans. They all live under `/_sim/` (plus the landing page at
//! `/`), which WeChat never uses, so they cannot collide with its paths, and they are neither
//! counted nor subject to faults.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::push::{Outgoing, PushTarget};
use crate::users::{avatar_pixels, avatar_svg};
use crate::{Fault, Simulator, Whitelist, chat, pages};

pub fn router() -> Router<Simulator> {
    Router::new()
        .route("/", get(landing))
        .route("/_sim/calls", get(calls))
        .route(
            "/_sim/faults",
            axum::routing::post(add_fault).delete(clear_faults),
        )
        .route("/_sim/clock", axum::routing::post(clock))
        .route(
            "/_sim/lifetimes",
            axum::routing::get(lifetimes).post(set_lifetimes),
        )
        .route("/_sim/quota", get(quotas).post(set_quota))
        .route("/_sim/whitelist", get(whitelist).post(set_whitelist))
        .route("/_sim/menu", get(menus))
        .route("/_sim/users", get(users))
        .route("/_sim/avatar/{index}/{size}", get(avatar))
        .route("/_sim/push", axum::routing::post(push))
        .route("/_sim/verify", axum::routing::post(verify))
        .route("/_sim/exchanges", get(exchanges).delete(clear_exchanges))
        .route("/_sim/chat", get(chat_page))
        .route("/_sim/chat/user", axum::routing::post(chat_user))
        .route("/_sim/media/{media_id}", get(media))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}

async fn landing(State(sim): State<Simulator>) -> Response {
    pages::landing_page(sim.config())
}

async fn calls(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.all_calls()).into_response()
}

/// `POST /_sim/faults` with a [`Fault`] as JSON → 204.
async fn add_fault(State(sim): State<Simulator>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return bad_request(format!("expected a fault as JSON: {e}")),
    };
    if !fault.path.starts_with('/') {
        return bad_request("fault path must start with '/'".to_string());
    }
    if let Some(status) = fault.status
        && StatusCode::from_u16(status).is_err()
    {
        return bad_request(format!("status {status} is not an HTTP status"));
    }
    sim.inject(fault);
    StatusCode::NO_CONTENT.into_response()
}

async fn clear_faults(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Clock {
    advance_secs: u64,
}

/// `POST /_sim/clock` with `{"advance_secs": N}` → 204.
async fn clock(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Clock>(&body) {
        Ok(c) => {
            sim.advance_clock(c.advance_secs);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(format!("expected {{\"advance_secs\": N}}: {e}")),
    }
}

/// `POST /_sim/lifetimes` with `{"access_token": 8, "ticket": 8}` → 204: base tokens and
/// tickets issued from now on live that many seconds (WeChat's are 7200).
async fn set_lifetimes(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<crate::platform::Lifetimes>(&body) {
        Ok(l) if l.access_token > 0 && l.ticket > 0 => {
            sim.platform().lifetimes = l;
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => bad_request("lifetimes must be at least 1 second".to_string()),
        Err(e) => bad_request(format!(
            "expected {{\"access_token\": SECS, \"ticket\": SECS}}: {e}"
        )),
    }
}

/// `GET /_sim/lifetimes` → `{"access_token": 7200, "ticket": 7200}`.
async fn lifetimes(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.platform().lifetimes).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaBody {
    path: String,
    daily_limit: u64,
}

/// `POST /_sim/quota` with `{"path": "/cgi-bin/token", "daily_limit": 3}` → 204.
async fn set_quota(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<QuotaBody>(&body) {
        Ok(q) if q.path.starts_with('/') => {
            sim.set_quota(&q.path, q.daily_limit);
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => bad_request("quota path must start with '/'".to_string()),
        Err(e) => bad_request(format!(
            "expected {{\"path\": \"/cgi-bin/token\", \"daily_limit\": N}}: {e}"
        )),
    }
}

/// `GET /_sim/quota` → `{"/cgi-bin/token": {"daily_limit": 2000, "used_today": 1}, ...}`.
async fn quotas(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.quotas()).into_response()
}

/// `POST /_sim/whitelist` with `{"enforce": true, "allowed": ["10.0.0.1"]}` → 204.
async fn set_whitelist(State(sim): State<Simulator>, body: Bytes) -> Response {
    match serde_json::from_slice::<Whitelist>(&body) {
        Ok(w) => {
            sim.set_whitelist(w);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad_request(format!(
            "expected {{\"enforce\": true, \"allowed\": [\"127.0.0.1\"]}}: {e}"
        )),
    }
}

async fn whitelist(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.whitelist()).into_response()
}

/// `GET /_sim/menu[?openid=...]` → `{"menu": {...}|null, "conditionalmenu": [...],
/// "effective": {...}|null}` (`effective` only with `openid`).
async fn menus(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let openid = url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "openid")
        .map(|(_, v)| v.into_owned());
    axum::Json(sim.menus_json(openid.as_deref())).into_response()
}

async fn users(State(sim): State<Simulator>) -> Response {
    axum::Json(&sim.config().users).into_response()
}

/// `GET /_sim/avatar/{index}/{size}`: the generated SVG for user `index`.
async fn avatar(
    State(sim): State<Simulator>,
    Path((index, size)): Path<(String, String)>,
) -> Response {
    let user = index
        .parse::<usize>()
        .ok()
        .and_then(|i| sim.config().users.get(i));
    match (user, avatar_pixels(&size)) {
        (Some(user), Some(px)) => (
            [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
            avatar_svg(user, px),
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such avatar").into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    #[serde(default)]
    from: Option<String>,
    message: Outgoing,
    #[serde(default)]
    target: Option<PushTarget>,
}

const PUSH_SHAPE: &str = r#"expected {"from": "<openid, default users[0]>", "message": {"type": "text", "content": "hi"}, "target": {"url": "...", "token": "...", "mode": "plain|compatible|safe", "aes_key": "...", "appid": "...", "account_id": "...", "timeout_ms": 5000, "retries": 3} (optional when configured)}"#;

/// `POST /_sim/push` → 200 with the [`crate::PushReport`]; 400 without a target or on bad JSON.
async fn push(State(sim): State<Simulator>, body: Bytes) -> Response {
    let req: PushBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!("{PUSH_SHAPE}: {e}")),
    };
    match sim.push(req.from.as_deref(), req.message, req.target).await {
        Ok(exchange) => axum::Json(exchange.report).into_response(),
        Err(e) => bad_request(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    target: Option<PushTarget>,
}

/// `POST /_sim/verify` (body optional: `{"target": …}`) → 200 with the [`crate::VerifyReport`].
async fn verify(State(sim): State<Simulator>, body: Bytes) -> Response {
    let req: VerifyBody = if body.iter().all(u8::is_ascii_whitespace) {
        VerifyBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return bad_request(format!(
                    r#"expected no body or {{"target": {{"url": "...", "token": "..."}}}}: {e}"#
                ));
            }
        }
    };
    match sim.verify(req.target).await {
        Ok(report) => axum::Json(report).into_response(),
        Err(e) => bad_request(e),
    }
}

async fn exchanges(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.exchanges()).into_response()
}

async fn clear_exchanges(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_exchanges();
    StatusCode::NO_CONTENT
}

async fn chat_page(State(sim): State<Simulator>, headers: HeaderMap) -> Response {
    chat::chat_page(&sim, &headers)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatUser {
    openid: String,
}

/// `POST /_sim/chat/user` with `{"openid": "..."}` → 204 and the [`chat::USER_COOKIE`] for
/// that user: the chat page acts as them, so this browser's 网页授权 logs them in. 400 (and no
/// cookie) for bad JSON or an openid no simulated user has.
async fn chat_user(State(sim): State<Simulator>, body: Bytes) -> Response {
    let req: ChatUser = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(format!(r#"expected {{"openid": "..."}}: {e}"#)),
    };
    if !sim.config().users.iter().any(|u| u.openid == req.openid) {
        return bad_request(format!("no simulated user has the openid {:?}", req.openid));
    }
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, chat::remember_cookie(&req.openid))],
    )
        .into_response()
}

/// `GET /_sim/media/{media_id}`: the file the account uploaded with that id (media or
/// material, as WeChat would show it in the chat), else a placeholder picture naming it.
async fn media(State(sim): State<Simulator>, Path(media_id): Path<String>) -> Response {
    if let Some((content_type, bytes)) = sim.media_bytes(&media_id) {
        return (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "max-age=3600"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            bytes,
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        chat::media_placeholder(&media_id),
    )
        .into_response()
}
