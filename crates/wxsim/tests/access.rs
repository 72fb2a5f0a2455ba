//! Base tokens as every `cgi-bin` API sees them (rotation overlap, expiry, stable_token,
//! isolation), daily quotas (45009), the IP whitelist (40164), the JS-SDK ticket, and faults
//! and counters on the new paths.

mod common;

use common::*;
use serde_json::{Value, json};
use wxsim::Fault;

fn token_path() -> String {
    format!("/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}")
}

async fn cgi_token(s: &Sim) -> String {
    let body = s.json(&token_path()).await;
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

async fn stable(s: &Sim, force: bool) -> Value {
    s.http
        .post(s.url("/cgi-bin/stable_token"))
        .json(&json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": force}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn stable_token(s: &Sim, force: bool) -> String {
    let body = stable(s, force).await;
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

/// What `menu/get` says about `token`: 46003 (no menu yet) means the token was accepted.
async fn token_code(s: &Sim, token: &str) -> i64 {
    s.errcode(&format!("/cgi-bin/menu/get?access_token={token}"))
        .await
}

const ACCEPTED: i64 = 46003;

async fn post_control(s: &Sim, path: &str, body: Value) -> u16 {
    s.http
        .post(s.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn old_token_works_five_minutes_after_a_new_fetch_then_40001() {
    let s = spawn().await;
    let a = cgi_token(&s).await;
    assert_eq!(token_code(&s, &a).await, ACCEPTED);
    let b = cgi_token(&s).await;
    assert_ne!(a, b);
    s.sim.advance_clock(299);
    assert_eq!(
        token_code(&s, &a).await,
        ACCEPTED,
        "the overlap is 5 minutes"
    );
    s.sim.advance_clock(1);
    let body = s.json(&format!("/cgi-bin/menu/get?access_token={a}")).await;
    assert_eq!(body["errcode"], 40001, "{body}");
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("invalid credential, access_token is invalid or not latest rid: "),
        "{body}"
    );
    assert_rid(&body);
    assert_eq!(token_code(&s, &b).await, ACCEPTED);
    // A third fetch does not give the first token new life.
    cgi_token(&s).await;
    assert_eq!(token_code(&s, &a).await, 40001);
}

#[tokio::test]
async fn expired_unknown_and_missing_tokens() {
    let s = spawn().await;
    let a = cgi_token(&s).await;
    let st = stable_token(&s, false).await;
    s.sim.advance_clock(7199);
    assert_eq!(token_code(&s, &a).await, ACCEPTED);
    assert_eq!(token_code(&s, &st).await, ACCEPTED);
    s.sim.advance_clock(1);
    assert_eq!(token_code(&s, &a).await, 42001, "expired, not replaced");
    assert_eq!(token_code(&s, &st).await, 42001);
    assert_eq!(token_code(&s, "not-a-token").await, 40001);
    assert_eq!(s.errcode("/cgi-bin/menu/get").await, 41001);
    assert_eq!(s.errcode("/cgi-bin/menu/get?access_token=").await, 41001);
    // An sns (user) token is not a base token.
    let user = s.login("snsapi_base", 0).await;
    let sns = user["access_token"].as_str().unwrap();
    assert_eq!(token_code(&s, sns).await, 40001);
}

#[tokio::test]
async fn stable_token_semantics_and_isolation() {
    let s = spawn().await;
    let s1 = stable_token(&s, false).await;
    let c1 = cgi_token(&s).await;
    assert_ne!(s1, c1);
    // Normal mode: the same token; cgi-bin/token fetches do not touch it.
    let c2 = cgi_token(&s).await;
    assert_eq!(stable_token(&s, false).await, s1);
    assert_eq!(token_code(&s, &s1).await, ACCEPTED);
    // ... and stable_token calls do not touch cgi-bin/token's tokens.
    let s2 = stable_token(&s, true).await;
    assert_ne!(s2, s1);
    assert_eq!(
        token_code(&s, &s1).await,
        40001,
        "a forced refresh voids the old one at once"
    );
    assert_eq!(token_code(&s, &c1).await, ACCEPTED, "c1 keeps its overlap");
    assert_eq!(token_code(&s, &c2).await, ACCEPTED);
    assert_eq!(token_code(&s, &s2).await, ACCEPTED);
    // A second force within 30 s: no refresh, the current token unchanged.
    s.sim.advance_clock(10);
    let again = stable(&s, true).await;
    assert_eq!(again["access_token"], s2.as_str());
    assert_eq!(again["expires_in"], 7190);
    assert_eq!(token_code(&s, &s2).await, ACCEPTED);
    // Normal mode in the last 5 minutes rotates; every answer has expires_in >= 300.
    s.sim.advance_clock(6900);
    let near = stable(&s, false).await;
    assert_ne!(near["access_token"], s2.as_str());
    assert!(near["expires_in"].as_u64().unwrap() >= 300, "{near}");
    assert_eq!(
        token_code(&s, &s2).await,
        ACCEPTED,
        "old keeps its own life"
    );
}

#[tokio::test]
async fn stable_force_refresh_is_limited_to_twenty_a_day() {
    let s = spawn().await;
    advance_to_beijing(&s.sim, 0, 1);
    let mut last = stable_token(&s, false).await;
    for i in 0..20 {
        s.sim.advance_clock(30);
        let t = stable_token(&s, true).await;
        assert_ne!(t, last, "forced refresh {}", i + 1);
        assert_eq!(token_code(&s, &last).await, 40001);
        last = t;
    }
    s.sim.advance_clock(30);
    assert_eq!(stable_token(&s, true).await, last, "the 21st of the day");
    assert_eq!(token_code(&s, &last).await, ACCEPTED);
}

#[tokio::test]
async fn quota_answers_45009_after_the_limit_until_the_next_day() {
    let s = spawn().await;
    advance_to_beijing(&s.sim, 0, 1);
    assert_eq!(
        post_control(
            &s,
            "/_sim/quota",
            json!({"path": "/cgi-bin/token", "daily_limit": 3})
        )
        .await,
        204
    );
    for _ in 0..3 {
        cgi_token(&s).await;
    }
    let body = s.json(&token_path()).await;
    assert_eq!(body["errcode"], 45009, "{body}");
    assert!(
        body["errmsg"].as_str().unwrap().starts_with(
            "reach max api daily quota limit, could get access_token by getStableAccessToken, \
             more details at https://mmbizurl.cn/s/JtxxFh33r rid: "
        ),
        "{body}"
    );
    assert_rid(&body);
    assert_eq!(s.errcode(&token_path()).await, 45009, "still refused");
    // Other paths have their own quota.
    let st = stable_token(&s, false).await;
    let quotas: Value = s.get("/_sim/quota").await.json().await.unwrap();
    assert_eq!(
        quotas["/cgi-bin/token"],
        json!({"daily_limit": 3, "used_today": 3})
    );
    assert_eq!(quotas["/cgi-bin/menu/create"]["daily_limit"], 1000);
    assert_eq!(quotas["/cgi-bin/menu/get"]["daily_limit"], 10000);
    assert_eq!(quotas["/cgi-bin/menu/delete"]["daily_limit"], 1000);
    // The next simulated day, the counter starts again.
    assert_eq!(
        post_control(&s, "/_sim/clock", json!({"advance_secs": 86_400})).await,
        204
    );
    cgi_token(&s).await;
    // A quota on an API path; its 45009 has no token hint.
    let token = cgi_token(&s).await;
    s.sim.set_quota("/cgi-bin/menu/get", 1);
    assert_eq!(token_code(&s, &token).await, ACCEPTED);
    let body = s
        .json(&format!("/cgi-bin/menu/get?access_token={token}"))
        .await;
    assert_eq!(body["errcode"], 45009);
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("reach max api daily quota limit rid: "),
        "{body}"
    );
    drop(st);
    // Bad control requests.
    assert_eq!(
        post_control(&s, "/_sim/quota", json!({"path": "/x"})).await,
        400
    );
    assert_eq!(
        post_control(
            &s,
            "/_sim/quota",
            json!({"path": "cgi-bin/token", "daily_limit": 1})
        )
        .await,
        400
    );
}

/// WeChat's daily quotas count Beijing days: the day starts at 00:00 UTC+8 (16:00 UTC), not
/// at 00:00 UTC (08:00 in Beijing).
#[tokio::test]
async fn quota_day_starts_at_midnight_beijing_time() {
    let s = spawn().await;
    s.sim.set_quota("/cgi-bin/token", 1);
    let at = advance_to_beijing(&s.sim, 23, 58);
    assert_eq!(
        at % 86_400,
        15 * 3600 + 58 * 60,
        "23:58 in Beijing is 15:58 UTC"
    );
    cgi_token(&s).await;
    assert_eq!(s.errcode(&token_path()).await, 45009);
    // 16:00:30 UTC: the same UTC day, but a new day in Beijing.
    s.sim.advance_clock(150);
    assert_eq!(s.sim.unix_time() / 86_400, at / 86_400, "the same UTC day");
    let quotas: Value = s.get("/_sim/quota").await.json().await.unwrap();
    assert_eq!(quotas["/cgi-bin/token"]["used_today"], 0, "{quotas}");
    cgi_token(&s).await;
    assert_eq!(s.errcode(&token_path()).await, 45009);
    // 00:00:30 UTC the next day is 08:00:30 in Beijing: still that day, still refused.
    let utc_midnight = advance_to_beijing(&s.sim, 8, 0) + 30;
    s.sim.advance_clock(30);
    assert_eq!(utc_midnight % 86_400, 30);
    assert_eq!(
        s.errcode(&token_path()).await,
        45009,
        "00:00 UTC is no new day"
    );
    let quotas: Value = s.get("/_sim/quota").await.json().await.unwrap();
    assert_eq!(quotas["/cgi-bin/token"]["used_today"], 1, "{quotas}");
}

#[tokio::test]
async fn whitelist_answers_40164_with_the_callers_ip() {
    let s = spawn().await;
    let before = cgi_token(&s).await;
    assert_eq!(
        post_control(
            &s,
            "/_sim/whitelist",
            json!({"enforce": true, "allowed": []})
        )
        .await,
        204
    );
    let body = s.json(&token_path()).await;
    assert_eq!(body["errcode"], 40164, "{body}");
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: "),
        "{body}"
    );
    assert_rid(&body);
    assert_eq!(stable(&s, false).await["errcode"], 40164);
    // Only fetching tokens is guarded; a token fetched before still works.
    assert_eq!(token_code(&s, &before).await, ACCEPTED);
    // Another IP allowed: still refused; ours allowed: served.
    post_control(
        &s,
        "/_sim/whitelist",
        json!({"enforce": true, "allowed": ["10.1.2.3"]}),
    )
    .await;
    assert_eq!(s.errcode(&token_path()).await, 40164);
    post_control(
        &s,
        "/_sim/whitelist",
        json!({"enforce": true, "allowed": ["10.1.2.3", "::ffff:127.0.0.1"]}),
    )
    .await;
    cgi_token(&s).await;
    stable_token(&s, false).await;
    let shown: Value = s.get("/_sim/whitelist").await.json().await.unwrap();
    assert_eq!(shown["enforce"], true);
    post_control(&s, "/_sim/whitelist", json!({"enforce": false})).await;
    cgi_token(&s).await;
    assert_eq!(
        post_control(
            &s,
            "/_sim/whitelist",
            json!({"enforce": true, "allowed": ["not-an-ip"]})
        )
        .await,
        400
    );
}

#[tokio::test]
async fn jsapi_ticket_is_reused_until_it_expires() {
    let s = spawn().await;
    assert_eq!(s.sim.current_jsapi_ticket(), None);
    let token = cgi_token(&s).await;
    let path = |token: &str, kind: &str| {
        format!("/cgi-bin/ticket/getticket?access_token={token}&type={kind}")
    };
    let first = s.json(&path(&token, "jsapi")).await;
    assert_eq!(first["errcode"], 0, "{first}");
    assert_eq!(first["errmsg"], "ok");
    assert_eq!(first["expires_in"], 7200);
    let ticket = first["ticket"].as_str().unwrap().to_string();
    assert!(ticket.len() >= 80, "{ticket}");
    assert_eq!(
        s.sim.current_jsapi_ticket().as_deref(),
        Some(ticket.as_str())
    );
    // Another call, even with another token, gives the same ticket.
    s.sim.advance_clock(100);
    let other = stable_token(&s, false).await;
    let again = s.json(&path(&other, "jsapi")).await;
    assert_eq!(again["ticket"], ticket.as_str());
    assert_eq!(again["expires_in"], 7100);
    let card = s.json(&path(&token, "wx_card")).await;
    assert_eq!(card["errcode"], 0);
    assert_ne!(card["ticket"], ticket.as_str());
    // Bad tokens and types.
    assert_eq!(s.errcode(&path("nope", "jsapi")).await, 40001);
    assert_eq!(
        s.errcode("/cgi-bin/ticket/getticket?type=jsapi").await,
        41001
    );
    assert_eq!(s.errcode(&path(&token, "card")).await, 40097);
    // After 7200 s: the token has expired (42001) and a new ticket is issued.
    s.sim.advance_clock(7100);
    assert_eq!(s.sim.current_jsapi_ticket(), None);
    assert_eq!(s.errcode(&path(&token, "jsapi")).await, 42001);
    let fresh = cgi_token(&s).await;
    let renewed = s.json(&path(&fresh, "jsapi")).await;
    assert_ne!(renewed["ticket"], ticket.as_str());
    assert_eq!(renewed["expires_in"], 7200);
    assert_eq!(s.sim.calls("/cgi-bin/ticket/getticket"), 8);
}

#[tokio::test]
async fn new_paths_are_counted_and_take_faults() {
    let s = spawn().await;
    let token = cgi_token(&s).await;
    let mut fault = Fault::new("/cgi-bin/menu/create");
    fault.errcode = Some(-1);
    s.sim.inject(fault);
    let create = |s: &Sim| {
        s.http
            .post(s.url(&format!("/cgi-bin/menu/create?access_token={token}")))
            .body(r#"{"button":[{"type":"click","name":"a","key":"k"}]}"#)
            .send()
    };
    let body: Value = create(&s).await.unwrap().json().await.unwrap();
    assert_eq!(body["errcode"], -1);
    let body: Value = create(&s).await.unwrap().json().await.unwrap();
    assert_eq!(body["errcode"], 0, "{body}");
    let mut fault = Fault::new("/cgi-bin/ticket/getticket");
    fault.garbage = true;
    s.sim.inject(fault);
    let resp = s
        .get(&format!(
            "/cgi-bin/ticket/getticket?access_token={token}&type=jsapi"
        ))
        .await;
    assert!(resp.text().await.unwrap().contains("502"));
    let mut fault = Fault::new("/cgi-bin/menu/trymatch");
    fault.status = Some(503);
    s.sim.inject(fault);
    let resp = s
        .http
        .post(s.url(&format!("/cgi-bin/menu/trymatch?access_token={token}")))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    for path in [
        "/cgi-bin/menu/get",
        "/cgi-bin/menu/delete",
        "/cgi-bin/get_current_selfmenu_info",
    ] {
        s.get(&format!("{path}?access_token={token}")).await;
        assert_eq!(s.sim.calls(path), 1, "{path}");
    }
    assert_eq!(s.sim.calls("/cgi-bin/menu/create"), 2);
    assert_eq!(s.sim.calls("/cgi-bin/ticket/getticket"), 1);
    assert_eq!(s.sim.calls("/cgi-bin/menu/trymatch"), 1);
    let calls: Value = s.get("/_sim/calls").await.json().await.unwrap();
    assert_eq!(calls["/cgi-bin/menu/create"], 2);
    // Control paths are neither counted nor quota'd.
    s.get("/_sim/menu").await;
    assert_eq!(s.sim.calls("/_sim/menu"), 0);
}
