//! The user-token APIs: code exchange, refresh, userinfo and sns/auth (§A.3–§A.6).

mod common;

use common::*;
use serde_json::Value;

const DAY: u64 = 86_400;

fn users(s: &Sim) -> Vec<String> {
    s.sim
        .config()
        .users
        .iter()
        .map(|u| u.openid.clone())
        .collect()
}

async fn userinfo(s: &Sim, token: &Value, openid: &str) -> Value {
    s.json(&format!(
        "/sns/userinfo?access_token={}&openid={openid}&lang=zh_CN",
        token.as_str().unwrap()
    ))
    .await
}

async fn auth(s: &Sim, token: &Value, openid: &str) -> i64 {
    s.errcode(&format!(
        "/sns/auth?access_token={}&openid={openid}",
        token.as_str().unwrap()
    ))
    .await
}

async fn refresh(s: &Sim, refresh_token: &Value) -> Value {
    s.json(&format!(
        "/sns/oauth2/refresh_token?appid={APPID}&grant_type=refresh_token&refresh_token={}",
        refresh_token.as_str().unwrap()
    ))
    .await
}

#[tokio::test]
async fn code_exchange_answers_with_the_documented_fields() {
    let s = spawn().await;
    let body = s.login("snsapi_userinfo", 0).await;
    let obj = body.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "openid",
            "refresh_token",
            "scope",
            "unionid"
        ]
    );
    assert_eq!(body["expires_in"], 7200);
    assert_eq!(body["openid"], "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    assert_eq!(body["scope"], "snsapi_userinfo");
    assert_ne!(body["access_token"], body["refresh_token"]);

    // snsapi_base: no unionid even though the user has one; no is_snapshotuser for real users.
    let body = s.login("snsapi_base", 0).await;
    assert_eq!(body["scope"], "snsapi_base");
    assert!(body.get("unionid").is_none(), "{body}");
    assert!(body.get("is_snapshotuser").is_none(), "{body}");
    // A userinfo user without a unionid: the field is absent, not null.
    let body = s.login("snsapi_userinfo", 2).await;
    assert!(body.get("unionid").is_none(), "{body}");
}

#[tokio::test]
async fn access_token_parameter_errors() {
    let s = spawn().await;
    let code = s.code("snsapi_base", 0).await;
    let q = |appid: &str, secret: &str, code: &str, grant: &str| {
        let mut parts = vec![];
        for (k, v) in [
            ("appid", appid),
            ("secret", secret),
            ("code", code),
            ("grant_type", grant),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={v}"));
            }
        }
        format!("/sns/oauth2/access_token?{}", parts.join("&"))
    };
    let ac = "authorization_code";
    assert_eq!(s.errcode(&q("", SECRET, &code, ac)).await, 41002);
    assert_eq!(
        s.errcode(&q("wx0000000000000000", SECRET, &code, ac)).await,
        40013
    );
    assert_eq!(s.errcode(&q(APPID, "", &code, ac)).await, 41004);
    assert_eq!(
        s.errcode(&q(APPID, "ffffffffffffffffffffffffffffffff", &code, ac))
            .await,
        40125
    );
    assert_eq!(
        s.errcode(&q(APPID, SECRET, &code, "client_credential"))
            .await,
        40002
    );
    assert_eq!(s.errcode(&q(APPID, SECRET, &code, "")).await, 40002);
    assert_eq!(s.errcode(&q(APPID, SECRET, "", ac)).await, 41008);
    assert_eq!(
        s.errcode(&q(APPID, SECRET, "0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P", ac))
            .await,
        40029
    );
    let body = s.json(&q(APPID, SECRET, "nope", ac)).await;
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("invalid code rid: "),
        "{body}"
    );
    // None of the failures used up the code.
    assert!(s.exchange(&code).await.get("access_token").is_some());
}

#[tokio::test]
async fn code_is_single_use() {
    let s = spawn().await;
    let code = s.code("snsapi_userinfo", 1).await;
    assert!(s.exchange(&code).await.get("access_token").is_some());
    let again = s.exchange(&code).await;
    assert_eq!(again["errcode"], 40163, "{again}");
    assert_rid(&again);
}

#[tokio::test]
async fn code_expires_after_five_minutes() {
    let s = spawn().await;
    let early = s.code("snsapi_base", 0).await;
    let late = s.code("snsapi_base", 0).await;
    s.sim.advance_clock(290);
    assert!(s.exchange(&early).await.get("access_token").is_some());
    s.sim.advance_clock(11);
    assert_eq!(s.exchange(&late).await["errcode"], 40029);
}

#[tokio::test]
async fn snapshot_user_is_flagged_and_cannot_read_profile() {
    let s = spawn().await;
    let body = s.login("snsapi_userinfo", 3).await;
    assert_eq!(body["is_snapshotuser"], 1);
    assert!(body["is_snapshotuser"].is_u64());
    let openid = users(&s)[3].clone();
    let info = userinfo(&s, &body["access_token"], &openid).await;
    assert_eq!(info["errcode"], 48001, "{info}");
    assert_rid(&info);
    // The token itself is valid.
    assert_eq!(auth(&s, &body["access_token"], &openid).await, 0);
}

#[tokio::test]
async fn base_token_cannot_read_profile() {
    let s = spawn().await;
    let body = s.login("snsapi_base", 0).await;
    let info = userinfo(&s, &body["access_token"], &users(&s)[0]).await;
    assert_eq!(info["errcode"], 48001, "{info}");
}

#[tokio::test]
async fn userinfo_returns_the_profile() {
    let s = spawn().await;
    let body = s.login("snsapi_userinfo", 0).await;
    let info = userinfo(&s, &body["access_token"], &users(&s)[0]).await;
    assert!(info.get("errcode").is_none(), "{info}");
    assert_eq!(info["openid"], "o6_bmjrPTlm6_2sgVt7hMZOPfL2M");
    assert_eq!(info["nickname"], "张三");
    assert_eq!(info["sex"], 0);
    assert_eq!(info["province"], "");
    assert_eq!(info["city"], "");
    assert_eq!(info["country"], "");
    assert_eq!(info["privilege"], Value::Array(vec![]));
    assert!(info["unionid"].is_string());
    let host = s.base.trim_start_matches("http://");
    assert_eq!(
        info["headimgurl"],
        format!("http://{host}/_sim/avatar/0/132")
    );
    // The avatar URL it gives really serves an avatar.
    let avatar = info["headimgurl"].as_str().unwrap();
    let svg = s.get(avatar.trim_start_matches(&s.base)).await;
    assert_eq!(svg.status(), 200);

    // JSON carries the nickname raw (escaping is the page's job); no unionid key when none.
    let body = s.login("snsapi_userinfo", 2).await;
    let info = userinfo(&s, &body["access_token"], &users(&s)[2]).await;
    assert_eq!(info["nickname"], wxsim::users::XSS_NICKNAME);
    assert!(info.get("unionid").is_none(), "{info}");
}

#[tokio::test]
async fn token_checks_on_userinfo_and_auth() {
    let s = spawn().await;
    let body = s.login("snsapi_userinfo", 0).await;
    let token = &body["access_token"];
    let ids = users(&s);
    assert_eq!(userinfo(&s, token, &ids[1]).await["errcode"], 40003);
    assert_eq!(auth(&s, token, &ids[1]).await, 40003);
    assert_eq!(auth(&s, token, &ids[0]).await, 0);
    let ok = s
        .json(&format!(
            "/sns/auth?access_token={}&openid={}",
            token.as_str().unwrap(),
            ids[0]
        ))
        .await;
    assert_eq!(ok, serde_json::json!({"errcode": 0, "errmsg": "ok"}));
    assert_eq!(
        s.errcode(&format!("/sns/userinfo?openid={}", ids[0])).await,
        41001
    );
    assert_eq!(
        s.errcode(&format!("/sns/auth?openid={}", ids[0])).await,
        41001
    );
    let bogus = Value::from("not-a-token");
    assert_eq!(userinfo(&s, &bogus, &ids[0]).await["errcode"], 40001);
    assert_eq!(auth(&s, &bogus, &ids[0]).await, 40001);

    s.sim.advance_clock(7200);
    assert_eq!(userinfo(&s, token, &ids[0]).await["errcode"], 42001);
    assert_eq!(auth(&s, token, &ids[0]).await, 42001);
}

#[tokio::test]
async fn refresh_issues_a_new_token_and_keeps_the_refresh_token() {
    let s = spawn().await;
    let first = s.login("snsapi_userinfo", 1).await;
    let openid = users(&s)[1].clone();
    let second = refresh(&s, &first["refresh_token"]).await;
    let mut keys: Vec<&str> = second
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "openid",
            "refresh_token",
            "scope"
        ]
    );
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["openid"], openid.as_str());
    assert_eq!(second["scope"], "snsapi_userinfo");
    assert_eq!(second["expires_in"], 7200);
    // The old token stops working; the new one works.
    assert_eq!(auth(&s, &first["access_token"], &openid).await, 40001);
    assert_eq!(
        userinfo(&s, &second["access_token"], &openid).await["nickname"],
        "🐼熊猫🎋"
    );

    // An expired access token can be refreshed; the expired one then is 42001 until replaced.
    s.sim.advance_clock(7200);
    assert_eq!(auth(&s, &second["access_token"], &openid).await, 42001);
    let third = refresh(&s, &first["refresh_token"]).await;
    assert_eq!(auth(&s, &third["access_token"], &openid).await, 0);
    assert_eq!(auth(&s, &second["access_token"], &openid).await, 40001);
}

#[tokio::test]
async fn refresh_token_lives_thirty_days_from_login() {
    let s = spawn().await;
    let first = s.login("snsapi_base", 0).await;
    s.sim.advance_clock(29 * DAY);
    assert!(
        refresh(&s, &first["refresh_token"])
            .await
            .get("access_token")
            .is_some()
    );
    // Refreshing did not restart the 30 days.
    s.sim.advance_clock(DAY);
    let body = refresh(&s, &first["refresh_token"]).await;
    assert_eq!(body["errcode"], 42002, "{body}");
    assert_rid(&body);
}

#[tokio::test]
async fn refresh_parameter_errors() {
    let s = spawn().await;
    let first = s.login("snsapi_base", 0).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let base = "/sns/oauth2/refresh_token";
    assert_eq!(
        s.errcode(&format!(
            "{base}?appid={APPID}&grant_type=refresh_token&refresh_token=bogus"
        ))
        .await,
        40030
    );
    assert_eq!(
        s.errcode(&format!(
            "{base}?appid=wx0000000000000000&grant_type=refresh_token&refresh_token={rt}"
        ))
        .await,
        40013
    );
    assert_eq!(
        s.errcode(&format!(
            "{base}?grant_type=refresh_token&refresh_token={rt}"
        ))
        .await,
        41002
    );
    assert_eq!(
        s.errcode(&format!(
            "{base}?appid={APPID}&grant_type=authorization_code&refresh_token={rt}"
        ))
        .await,
        40002
    );
    assert_eq!(
        s.errcode(&format!("{base}?appid={APPID}&grant_type=refresh_token"))
            .await,
        41003
    );
}

#[tokio::test]
async fn malformed_queries_get_wechat_errors() {
    let s = spawn().await;
    for path in [
        "/sns/oauth2/access_token?%ff%fe=%zz&appid=%&&&==",
        "/sns/userinfo?access_token=%FF%FF&openid=%00",
        "/sns/auth?access_token",
        "/sns/oauth2/refresh_token?appid=%E4%B8",
        "/cgi-bin/token?grant_type=client_credential&appid=%ff&secret=%",
    ] {
        let body = s.json(path).await;
        assert!(body["errcode"].as_i64().unwrap() > 0, "{path}: {body}");
    }
    let huge = format!("/sns/userinfo?access_token={}&openid=x", "A".repeat(60_000));
    assert_eq!(s.errcode(&huge).await, 40001);
    let resp = s.get("/connect/oauth2/authorize?appid=%ff&redirect_uri=%ff%fe&response_type=code&scope=snsapi_base").await;
    assert_eq!(resp.status(), 200);
}
