//! Base tokens (cgi-bin/token, stable_token), call counters, faults, the clock, users and
//! avatars.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use wxsim::{Fault, default_users, load_users};

fn token_path(appid: &str, secret: &str) -> String {
    format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}")
}

async fn stable(s: &Sim, body: Value) -> Value {
    let resp = s
        .http
        .post(s.url("/cgi-bin/stable_token"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn stable_req(force: bool) -> Value {
    json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": force})
}

#[tokio::test]
async fn cgi_token_issues_and_overlaps() {
    let s = spawn().await;
    let a = s.json(&token_path(APPID, SECRET)).await;
    assert_eq!(a.as_object().unwrap().len(), 2, "{a}");
    assert_eq!(a["expires_in"], 7200);
    let a = a["access_token"].as_str().unwrap().to_string();
    let b = s.json(&token_path(APPID, SECRET)).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(a, b);
    assert!(s.sim.is_valid_base_token(&a));
    s.sim.advance_clock(299);
    assert!(s.sim.is_valid_base_token(&a), "old token keeps 5 minutes");
    s.sim.advance_clock(1);
    assert!(!s.sim.is_valid_base_token(&a));
    assert!(s.sim.is_valid_base_token(&b));
}

#[tokio::test]
async fn cgi_token_errors() {
    let s = spawn().await;
    let wrong32 = "ffffffffffffffffffffffffffffffff";
    assert_eq!(
        s.errcode(&format!(
            "/cgi-bin/token?grant_type=authorization_code&appid={APPID}&secret={SECRET}"
        ))
        .await,
        40002
    );
    assert_eq!(
        s.errcode(&format!("/cgi-bin/token?appid={APPID}&secret={SECRET}"))
            .await,
        40002
    );
    assert_eq!(
        s.errcode(&format!(
            "/cgi-bin/token?grant_type=client_credential&secret={SECRET}"
        ))
        .await,
        41002
    );
    assert_eq!(
        s.errcode(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}"
        ))
        .await,
        41004
    );
    assert_eq!(
        s.errcode(&token_path("wx0000000000000000", SECRET)).await,
        40013
    );
    assert_eq!(s.errcode(&token_path(APPID, wrong32)).await, 40001);
    assert_eq!(s.errcode(&token_path(APPID, "short")).await, 40125);
}

#[tokio::test]
async fn stable_token_is_stable_and_rotates_near_expiry() {
    let s = spawn().await;
    let first = stable(&s, stable_req(false)).await;
    assert_eq!(first["expires_in"], 7200);
    let token = first["access_token"].clone();
    s.sim.advance_clock(6000);
    let again = stable(&s, stable_req(false)).await;
    assert_eq!(again["access_token"], token);
    assert_eq!(again["expires_in"], 1200);
    // Isolated from cgi-bin/token.
    s.json(&token_path(APPID, SECRET)).await;
    assert_eq!(stable(&s, stable_req(false)).await["access_token"], token);
    // In the last 5 minutes: a new token; the old one still works until its own expiry.
    s.sim.advance_clock(900);
    let rotated = stable(&s, stable_req(false)).await;
    assert_ne!(rotated["access_token"], token);
    assert!(rotated["expires_in"].as_u64().unwrap() >= 300);
    assert!(s.sim.is_valid_base_token(token.as_str().unwrap()));
    s.sim.advance_clock(300);
    assert!(!s.sim.is_valid_base_token(token.as_str().unwrap()));
    assert!(
        s.sim
            .is_valid_base_token(rotated["access_token"].as_str().unwrap())
    );
    // force_refresh omitted means false.
    let body = stable(
        &s,
        json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET}),
    )
    .await;
    assert_eq!(body["access_token"], rotated["access_token"]);
}

#[tokio::test]
async fn stable_token_force_refresh_limits() {
    let s = spawn().await;
    advance_to_beijing(&s.sim, 0, 1);
    let t0 = stable(&s, stable_req(false)).await["access_token"].clone();
    let t1 = stable(&s, stable_req(true)).await["access_token"].clone();
    assert_ne!(t0, t1);
    assert!(
        !s.sim.is_valid_base_token(t0.as_str().unwrap()),
        "forced refresh voids the old one"
    );
    // Less than 30 s later: no refresh, the current token comes back.
    s.sim.advance_clock(29);
    assert_eq!(stable(&s, stable_req(true)).await["access_token"], t1);
    s.sim.advance_clock(1);
    let mut last = stable(&s, stable_req(true)).await["access_token"].clone();
    assert_ne!(last, t1);
    // 2 forced so far; 18 more are allowed today, then no more.
    for i in 0..18 {
        s.sim.advance_clock(30);
        let t = stable(&s, stable_req(true)).await["access_token"].clone();
        assert_ne!(t, last, "forced refresh {}", i + 3);
        last = t;
    }
    s.sim.advance_clock(30);
    assert_eq!(
        stable(&s, stable_req(true)).await["access_token"],
        last,
        "21st of the day"
    );
    s.sim.advance_clock(86_400);
    assert_ne!(
        stable(&s, stable_req(true)).await["access_token"],
        last,
        "a new day"
    );
}

/// The 20 forced refreshes a day are counted in Beijing days, as WeChat's daily quotas are: the
/// budget comes back at 00:00 UTC+8 (16:00 UTC), not at 00:00 UTC.
#[tokio::test]
async fn stable_token_force_refresh_budget_resets_at_midnight_beijing_time() {
    let s = spawn().await;
    let start = advance_to_beijing(&s.sim, 23, 40);
    assert_eq!(
        start % 86_400,
        15 * 3600 + 40 * 60,
        "23:40 in Beijing is 15:40 UTC"
    );
    let mut last = stable(&s, stable_req(false)).await["access_token"].clone();
    for i in 0..20 {
        s.sim.advance_clock(30);
        let t = stable(&s, stable_req(true)).await["access_token"].clone();
        assert_ne!(t, last, "forced refresh {}", i + 1);
        last = t;
    }
    s.sim.advance_clock(30);
    assert_eq!(
        stable(&s, stable_req(true)).await["access_token"],
        last,
        "the 21st before 16:00 UTC"
    );
    // Through the control path, to 16:00:30 UTC = 00:00:30 in Beijing, the same UTC day.
    let to_midnight = 20 * 60 + 30 - (s.sim.unix_time() - start);
    let resp = s
        .http
        .post(s.url("/_sim/clock"))
        .json(&json!({ "advance_secs": to_midnight }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let now = s.sim.unix_time();
    assert!(now % 86_400 >= 16 * 3600, "{now}");
    assert_eq!(now / 86_400, start / 86_400, "the same UTC day");
    let t = stable(&s, stable_req(true)).await["access_token"].clone();
    assert_ne!(t, last, "a new day in Beijing: forced again");
    last = t;
    for i in 0..19 {
        s.sim.advance_clock(30);
        let t = stable(&s, stable_req(true)).await["access_token"].clone();
        assert_ne!(t, last, "forced refresh {} of the new day", i + 2);
        last = t;
    }
    // 00:00 UTC (08:00 in Beijing) starts no new day. The token has expired by then, so take
    // the current one first: a refused force gives it back.
    advance_to_beijing(&s.sim, 8, 0);
    s.sim.advance_clock(30);
    assert_eq!(s.sim.unix_time() % 86_400, 30, "just after 00:00 UTC");
    let current = stable(&s, stable_req(false)).await["access_token"].clone();
    assert_ne!(current, last, "expired and replaced");
    assert_eq!(
        stable(&s, stable_req(true)).await["access_token"],
        current,
        "the 21st of the Beijing day, after 00:00 UTC"
    );
}

#[tokio::test]
async fn stable_token_errors() {
    let s = spawn().await;
    let get = s.json("/cgi-bin/stable_token").await;
    assert_eq!(get["errcode"], 43002);
    assert_rid(&get);
    let raw = |body: &'static str| {
        let s = &s;
        async move {
            let resp = s
                .http
                .post(s.url("/cgi-bin/stable_token"))
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.headers()["content-type"],
                "application/json; encoding=utf-8"
            );
            resp.json::<Value>().await.unwrap()["errcode"].clone()
        }
    };
    assert_eq!(raw("grant_type=client_credential").await, 47001);
    assert_eq!(raw("{\"appid\": 5}").await, 47001);
    assert_eq!(raw("[1,2]").await, 47001);
    assert_eq!(raw("").await, 44002);
    let with = |k: &str, v: Value| {
        let mut b = stable_req(false);
        b[k] = v;
        b
    };
    assert_eq!(
        stable(&s, with("grant_type", json!("x"))).await["errcode"],
        40002
    );
    assert_eq!(stable(&s, with("appid", json!(""))).await["errcode"], 41002);
    assert_eq!(
        stable(&s, with("secret", json!(null))).await["errcode"],
        41004
    );
    assert_eq!(
        stable(&s, with("appid", json!("wx0000000000000000"))).await["errcode"],
        40013
    );
    assert_eq!(
        stable(
            &s,
            with("secret", json!("ffffffffffffffffffffffffffffffff"))
        )
        .await["errcode"],
        40001
    );
    assert_eq!(
        stable(&s, with("secret", json!("nope"))).await["errcode"],
        40125
    );
}

#[tokio::test]
async fn calls_are_counted_per_wechat_path() {
    let s = spawn().await;
    assert_eq!(s.sim.calls("/sns/oauth2/access_token"), 0);
    s.login("snsapi_base", 0).await;
    s.get("/sns/oauth2/access_token?appid=x").await;
    s.json(&token_path(APPID, SECRET)).await;
    s.get("/_sim/users").await;
    s.get("/").await;
    assert_eq!(s.sim.calls("/sns/oauth2/access_token"), 2);
    assert_eq!(s.sim.calls("/connect/oauth2/authorize"), 1);
    assert_eq!(s.sim.calls("/cgi-bin/token"), 1);
    assert_eq!(s.sim.calls("/_sim/users"), 0);
    let all: Value = s.get("/_sim/calls").await.json().await.unwrap();
    assert_eq!(
        all,
        json!({"/connect/oauth2/authorize": 1, "/sns/oauth2/access_token": 2, "/cgi-bin/token": 1})
    );
}

async fn post_fault(s: &Sim, fault: Value) -> u16 {
    s.http
        .post(s.url("/_sim/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn errcode_fault_hits_the_next_count_calls() {
    let s = spawn().await;
    assert_eq!(
        post_fault(
            &s,
            json!({"path": "/cgi-bin/token", "count": 2, "errcode": -1})
        )
        .await,
        204
    );
    for _ in 0..2 {
        let body = s.json(&token_path(APPID, SECRET)).await;
        assert_eq!(body["errcode"], -1);
        assert!(
            body["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("system error rid: ")
        );
    }
    assert!(
        s.json(&token_path(APPID, SECRET))
            .await
            .get("access_token")
            .is_some()
    );
    assert_eq!(s.sim.calls("/cgi-bin/token"), 3, "faulted calls count too");
}

#[tokio::test]
async fn status_and_garbage_faults() {
    let s = spawn().await;
    let mut f = Fault::new("/sns/oauth2/access_token");
    f.status = Some(503);
    s.sim.inject(f);
    let code = s.code("snsapi_base", 0).await;
    let path = format!(
        "/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code"
    );
    assert_eq!(s.get(&path).await.status(), 503);

    assert_eq!(
        post_fault(
            &s,
            json!({"path": "/sns/oauth2/access_token", "garbage": true})
        )
        .await,
        204
    );
    let resp = s.get(&path).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(text, "<html>502 Bad Gateway</html>");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    // The code was never consumed by the faulted calls.
    assert!(s.json(&path).await.get("access_token").is_some());
}

#[tokio::test]
async fn delay_fault_then_normal_answer() {
    let s = spawn().await;
    assert_eq!(
        post_fault(&s, json!({"path": "/cgi-bin/token", "delay_ms": 300})).await,
        204
    );
    let start = Instant::now();
    let body = s.json(&token_path(APPID, SECRET)).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(body.get("access_token").is_some());
    // Combined with an errcode: slow, then the error.
    assert_eq!(
        post_fault(
            &s,
            json!({"path": "/cgi-bin/token", "delay_ms": 200, "errcode": 45009})
        )
        .await,
        204
    );
    let start = Instant::now();
    assert_eq!(s.errcode(&token_path(APPID, SECRET)).await, 45009);
    assert!(start.elapsed() >= Duration::from_millis(200));
    let start = Instant::now();
    s.json(&token_path(APPID, SECRET)).await;
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn faults_can_be_cleared_and_are_validated() {
    let s = spawn().await;
    assert_eq!(
        post_fault(
            &s,
            json!({"path": "/cgi-bin/token", "count": 5, "errcode": -1})
        )
        .await,
        204
    );
    let resp = s.http.delete(s.url("/_sim/faults")).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert!(
        s.json(&token_path(APPID, SECRET))
            .await
            .get("access_token")
            .is_some()
    );
    assert_eq!(post_fault(&s, json!({"count": 1})).await, 400);
    assert_eq!(post_fault(&s, json!({"path": "cgi-bin/token"})).await, 400);
    assert_eq!(
        post_fault(&s, json!({"path": "/cgi-bin/token", "status": 42})).await,
        400
    );
    let resp = s
        .http
        .post(s.url("/_sim/faults"))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn clock_control_expires_codes() {
    let s = spawn().await;
    let code = s.code("snsapi_base", 0).await;
    let resp = s
        .http
        .post(s.url("/_sim/clock"))
        .json(&json!({"advance_secs": 301}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(s.exchange(&code).await["errcode"], 40029);
    let resp = s
        .http
        .post(s.url("/_sim/clock"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn avatar_svg_is_escaped() {
    let s = spawn().await;
    let resp = s.get("/_sim/avatar/2/132").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = resp.text().await.unwrap();
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains(">&lt;</text>"), "{svg}");
    assert!(!svg.contains("<script"), "{svg}");
    let panda = s.text("/_sim/avatar/1/0").await;
    assert!(
        panda.contains(">🐼</text>") && panda.contains(r#"width="640""#),
        "{panda}"
    );
    assert_eq!(s.get("/_sim/avatar/9/132").await.status(), 404);
    assert_eq!(s.get("/_sim/avatar/0/50").await.status(), 404);
    assert_eq!(s.get("/_sim/avatar/x/132").await.status(), 404);
}

#[tokio::test]
async fn users_and_landing_page() {
    let s = spawn().await;
    let users: Value = s.get("/_sim/users").await.json().await.unwrap();
    assert_eq!(users.as_array().unwrap().len(), 4);
    assert_eq!(users[3]["snapshot"], true);
    let landing = s.text("/").await;
    assert!(landing.contains(APPID));
    assert!(landing.contains("/_sim/faults"));
    assert!(landing.contains("&lt;script&gt;"));
    assert!(!landing.contains("<script>"));
    assert!(!landing.contains(SECRET), "the secret is never shown");
    assert!(!format!("{:?}", s.sim.config()).contains(SECRET));
}

#[test]
fn default_users_are_faithful() {
    let users = default_users();
    assert_eq!(users.len(), 4);
    for u in &users {
        assert_eq!(u.openid.len(), 28, "{}", u.openid);
        assert_eq!(u.sex, 0);
        assert!(u.province.is_empty() && u.city.is_empty() && u.country.is_empty());
    }
    let mut ids: Vec<_> = users.iter().map(|u| &u.openid).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    assert_eq!(users.iter().filter(|u| u.unionid.is_some()).count(), 2);
    assert_eq!(users[2].nickname, r#"<script>alert("xss")</script>&amp;"'"#);
    assert!(users[3].snapshot && users[3].nickname == "微信用户");
    assert_eq!(users.iter().filter(|u| u.snapshot).count(), 1);
}

#[test]
fn load_users_reports_problems() {
    let dir = std::env::temp_dir().join(format!("wxsim-users-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let ok = write(
        "ok.json",
        r#"[{"openid":"oABC","nickname":"李四","unionid":"u1"}]"#,
    );
    let users = load_users(&ok).unwrap();
    assert_eq!(users[0].nickname, "李四");
    assert_eq!(users[0].sex, 0);
    assert!(!users[0].snapshot);

    let empty = write("empty.json", "[]");
    let err = load_users(&empty).unwrap_err();
    assert!(err.contains("empty.json") && err.contains("empty"), "{err}");
    let bad = write("bad.json", r#"[{"nickname":"no openid"}]"#);
    let err = load_users(&bad).unwrap_err();
    assert!(err.contains("bad.json") && err.contains("openid"), "{err}");
    let dup = write(
        "dup.json",
        r#"[{"openid":"o1","nickname":"a"},{"openid":"o1","nickname":"b"}]"#,
    );
    assert!(load_users(&dup).unwrap_err().contains("repeats"));
    let err = load_users(&dir.join("missing.json")).unwrap_err();
    assert!(err.contains("missing.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
