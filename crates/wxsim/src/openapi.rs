//! The account's diagnostics (`docs/wechat-platform-apis.md` §8) and what WeChat answers for a
//! path it does not have: `cgi-bin/openapi/quota/get` reports the simulator's own daily
//! quotas (`/_sim/quota`), `cgi-bin/openapi/rid/get` what it recorded for a failed call (every
//! error answer carries a fresh `rid: …`), and any other API path answers the token errors, then
//! 48001 `api unauthorized`, as WeChat does for an API the account may not call.

use std::collections::VecDeque;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Params, check_base_token, json_body, reply};
use crate::{Simulator, lock};

/// How many failed calls are kept for `rid/get`.
const MAX_RIDS: usize = 1000;

/// One failed call, as `rid/get` reports it.
#[derive(Clone, Debug)]
pub(crate) struct RidRecord {
    pub rid: String,
    pub invoke_time: u64,
    pub cost_in_ms: u64,
    pub request_url: String,
    pub request_body: String,
    pub response_body: String,
    pub client_ip: String,
}

/// The failed calls kept, oldest first.
#[derive(Default)]
pub(crate) struct Rids(VecDeque<RidRecord>);

/// The query string as `rid/get` shows it: the token masked, as WeChat's own examples show.
pub(crate) fn masked_query(query: &str) -> String {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| {
            if k == "access_token" {
                format!("{k}=ACCESS_TOKEN")
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Keeps a call whose answer is an error with a rid.
pub(crate) fn remember(sim: &Simulator, mut record: RidRecord, answer: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return;
    };
    let Some(errmsg) = value.get("errmsg").and_then(Value::as_str) else {
        return;
    };
    let Some((_, rid)) = errmsg.rsplit_once("rid: ") else {
        return;
    };
    record.rid = rid.trim().to_owned();
    record.response_body = String::from_utf8_lossy(answer).into_owned();
    let mut rids = lock(&sim.inner.rids);
    if rids.0.len() >= MAX_RIDS {
        rids.0.pop_front();
    }
    rids.0.push_back(record);
}

#[derive(Deserialize)]
struct QuotaRequest {
    cgi_path: Option<String>,
}

/// `POST cgi-bin/openapi/quota/get` with `{"cgi_path": "/cgi-bin/…"}`.
pub async fn quota_get(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request: QuotaRequest = serde_json::from_value(json_body(&body)?).map_err(|_| 47001)?;
        let path = request.cgi_path.unwrap_or_default();
        if path.starts_with("/sns/") {
            return Err(76022);
        }
        let area = ["/cgi-bin/", "/wxa/", "/datacube/", "/card/", "/merchant/"];
        let shaped = path.len() <= 200
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
            && !path.contains("//");
        if !shaped || !area.iter().any(|a| path.starts_with(a)) {
            return Err(76021);
        }
        let (limit, used) = sim.quota_of(&path);
        Ok(json!({
            "errcode": 0,
            "errmsg": "ok",
            "quota": {"daily_limit": limit, "used": used, "remain": limit.saturating_sub(used)},
        }))
    })())
}

#[derive(Deserialize)]
struct RidRequest {
    rid: Option<String>,
}

/// `POST cgi-bin/openapi/rid/get` with `{"rid": "…"}`.
pub async fn rid_get(State(sim): State<Simulator>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request: RidRequest = serde_json::from_value(json_body(&body)?).map_err(|_| 47001)?;
        let rid = request.rid.unwrap_or_default();
        let shaped = rid.split('-').count() >= 2
            && rid
                .split('-')
                .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_hexdigit()));
        if !shaped {
            return Err(76002);
        }
        let rids = lock(&sim.inner.rids);
        let found = rids.0.iter().rev().find(|r| r.rid == rid).ok_or(76001)?;
        Ok(json!({
            "errcode": 0,
            "errmsg": "ok",
            "request": {
                "invoke_time": found.invoke_time,
                "cost_in_ms": found.cost_in_ms,
                "request_url": found.request_url,
                "request_body": found.request_body,
                "response_body": found.response_body,
                "client_ip": found.client_ip,
            }
        }))
    })())
}

/// Any path the simulator does not serve. Under `/_sim/` a plain 404 (a typo in a control
/// path); elsewhere what WeChat answers for an API this account may not call: the token is
/// checked first (41001, 40001, 42001), then 48001.
pub async fn unknown_api(State(sim): State<Simulator>, uri: Uri) -> Response {
    if uri.path().starts_with("/_sim/") {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no such simulator control path: {}", uri.path()),
        )
            .into_response();
    }
    let params = Params::new(uri.query().map(str::to_owned));
    reply(check_base_token(&sim, &params).and(Err::<Value, i64>(48001)))
}
