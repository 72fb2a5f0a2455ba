//! The API gateway (`/api/…`), the central token (`GET /api/token`) and the quota commands,
//! against the simulator: other programs call WeChat through wxgate and never hold or
//! invalidate the account's token.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const TOKEN: &str = "gateway-default-client-0123456789";
const JOB: &str = "data-job-client-token-0123456789";
const SDK: &str = "sdk-client-token-that-may-reveal-0123";
const ADMIN: &str = "admin-token-for-tests-0123456789";

const CLIENTS: &str = r#"
[[api_clients]]
name = "data-job"
token = "data-job-client-token-0123456789"
allow = ["cgi-bin/menu/get", "cgi-bin/user/"]

[[api_clients]]
name = "sdk"
token = "sdk-client-token-that-may-reveal-0123"
reveal_token = true
"#;

async fn gateway_app(sim: &Sim) -> TestApp {
    let db = temp_db();
    spawn_app_with_rules(
        &sim.url,
        &db,
        &[("api_token", TOKEN), ("admin_token", ADMIN)],
        CLIENTS,
    )
    .await
    .owning(db)
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path_and_query: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let mut r = reqwest::Client::new().request(method, format!("{}{path_and_query}", app.url));
    if let Some(b) = bearer {
        r = r.bearer_auth(b);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        content_type.contains("json") || value.is_null(),
        "{path_and_query}: {content_type}"
    );
    (status, text, value)
}

/// A GET through the gateway as the `default` client.
async fn get(app: &TestApp, path_and_query: &str) -> (StatusCode, String, Value) {
    call(app, reqwest::Method::GET, path_and_query, Some(TOKEN), None).await
}

fn menu() -> Value {
    json!({"button": [{"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"}]})
}

async fn stable_token_fetches(sim: &Sim) -> u64 {
    sim.sim.calls("/cgi-bin/stable_token")
}

/// What another program holding the AppSecret would do: force a new stable_token, which kills
/// the one wxgate holds.
async fn revoke_on_the_platform(sim: &Sim) {
    let r = reqwest::Client::new()
        .post(format!("{}/cgi-bin/stable_token", sim.url))
        .json(&json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

#[tokio::test]
async fn a_proxied_call_works_and_the_answer_is_wechats() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    use reqwest::Method;
    // Before any menu: WeChat's own error, as WeChat sent it (HTTP 200, errcode, rid).
    let (status, _, v) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["errcode"], 46003, "{v}");
    assert!(v["errmsg"].as_str().unwrap().contains("rid: "), "{v}");
    let (status, _, v) = call(
        &app,
        Method::POST,
        "/api/cgi-bin/menu/create",
        Some(TOKEN),
        Some(menu()),
    )
    .await;
    assert_eq!(
        (status, v["errcode"].as_i64()),
        (StatusCode::OK, Some(0)),
        "{v}"
    );
    let (_, _, v) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(v["menu"]["button"][0]["name"], "今日歌曲", "{v}");
    // An API the simulator does not have: WeChat's answer for an API the account may not use.
    let (status, _, v) = call(
        &app,
        Method::POST,
        "/api/cgi-bin/no/such/api?x=1",
        Some(TOKEN),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, v["errcode"].as_i64()),
        (StatusCode::OK, Some(48001)),
        "{v}"
    );
    // The token never shows in an answer.
    let token = app.state.platform.access_token.get().await.unwrap();
    let (_, text, _) = get(&app, "/api/cgi-bin/menu/get").await;
    assert!(!text.contains(&token));
}

#[tokio::test]
async fn a_token_revoked_on_the_platform_costs_one_fetch_and_the_call_succeeds() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let (_, _, v) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(v["errcode"], 46003);
    let before = stable_token_fetches(&sim).await;
    revoke_on_the_platform(&sim).await;
    let (status, _, v) = call(
        &app,
        reqwest::Method::POST,
        "/api/cgi-bin/menu/create",
        Some(TOKEN),
        Some(menu()),
    )
    .await;
    assert_eq!(
        (status, v["errcode"].as_i64()),
        (StatusCode::OK, Some(0)),
        "{v}"
    );
    // The revoking call itself, then exactly one fetch by wxgate.
    assert_eq!(stable_token_fetches(&sim).await, before + 2);
}

#[tokio::test]
async fn a_hundred_concurrent_calls_at_expiry_cost_one_fetch() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let (_, _, v) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(v["errcode"], 46003);
    let before = stable_token_fetches(&sim).await;
    // Two hours later on WeChat's clock: the token wxgate holds has expired (42001).
    sim.sim.advance_clock(7300);
    let calls = (0..100).map(|_| get(&app, "/api/cgi-bin/menu/get"));
    for (status, _, v) in futures::future::join_all(calls).await {
        assert_eq!(
            (status, v["errcode"].as_i64()),
            (StatusCode::OK, Some(46003)),
            "{v}"
        );
    }
    assert_eq!(stable_token_fetches(&sim).await, before + 1);
}

#[tokio::test]
async fn every_refusal_says_why() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    use reqwest::Method;
    let cases: &[(Method, &str, Option<&str>, StatusCode, &str)] = &[
        (
            Method::GET,
            "/api/cgi-bin/menu/get",
            None,
            StatusCode::UNAUTHORIZED,
            "missing Authorization",
        ),
        (
            Method::GET,
            "/api/cgi-bin/menu/get",
            Some("not-a-client-token-at-all-xxxx"),
            StatusCode::UNAUTHORIZED,
            "unknown client token",
        ),
        (
            Method::GET,
            "/api/cgi-bin/menu/get?access_token=mine",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "remove access_token",
        ),
        (
            Method::GET,
            "/api/cgi-bin/token?grant_type=client_credential",
            Some(TOKEN),
            StatusCode::FORBIDDEN,
            "GET /api/token",
        ),
        (
            Method::POST,
            "/api/cgi-bin/stable_token",
            Some(TOKEN),
            StatusCode::FORBIDDEN,
            "not forwarded",
        ),
        (
            Method::GET,
            "/api/sns/userinfo?openid=o",
            Some(TOKEN),
            StatusCode::FORBIDDEN,
            "user's access_token",
        ),
        (
            Method::GET,
            "/api/cgi-bin//menu/get",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "empty",
        ),
        (
            Method::GET,
            "/api/cgi-bin/menu%20get",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "not a WeChat API path",
        ),
        (
            Method::POST,
            "/api/cgi-bin/message/custom/send",
            Some(JOB),
            StatusCode::FORBIDDEN,
            "allow list",
        ),
        (
            Method::PUT,
            "/api/cgi-bin/menu/get",
            Some(TOKEN),
            StatusCode::METHOD_NOT_ALLOWED,
            "GET or POST",
        ),
        (
            Method::GET,
            "/api/token",
            Some(TOKEN),
            StatusCode::FORBIDDEN,
            "reveal_token",
        ),
        (
            Method::GET,
            "/api/",
            Some(TOKEN),
            StatusCode::BAD_REQUEST,
            "no API path",
        ),
    ];
    for (method, path, bearer, expected, words) in cases {
        let (status, text, v) = call(&app, method.clone(), path, *bearer, None).await;
        assert_eq!(status, *expected, "{method} {path}: {text}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains(words), "{method} {path}: {text}");
    }
    // Nothing refused reached WeChat.
    assert_eq!(sim.sim.calls("/cgi-bin/message/custom/send"), 0);
    assert_eq!(sim.sim.calls("/sns/userinfo"), 0);
    // The data job may do what its allow list says.
    let (status, _, v) = call(&app, Method::GET, "/api/cgi-bin/menu/get", Some(JOB), None).await;
    assert_eq!(
        (status, v["errcode"].as_i64()),
        (StatusCode::OK, Some(46003)),
        "{v}"
    );
}

#[tokio::test]
async fn the_gateway_is_off_without_clients() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let (status, text, _) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(text.contains("WXGATE_API_TOKEN"), "{text}");
}

#[tokio::test]
async fn the_central_token_is_revealed_only_to_its_clients_and_never_refreshed_for_asking() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let (status, _, v) = call(&app, reqwest::Method::GET, "/api/token", Some(SDK), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let token = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token, app.state.platform.access_token.get().await.unwrap());
    let left = v["expires_in"].as_i64().unwrap();
    assert!((7000..=7200).contains(&left), "{left}");
    let fetches = stable_token_fetches(&sim).await;
    for _ in 0..5 {
        let (_, _, again) = call(&app, reqwest::Method::GET, "/api/token", Some(SDK), None).await;
        assert_eq!(again["access_token"], token.as_str());
    }
    assert_eq!(
        stable_token_fetches(&sim).await,
        fetches,
        "asking does not fetch"
    );
    // The token works on WeChat directly, as an SDK would use it.
    let direct: Value = reqwest::get(format!("{}/cgi-bin/menu/get?access_token={token}", sim.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(direct["errcode"], 46003, "{direct}");
    let (status, _, _) = call(&app, reqwest::Method::GET, "/api/token", Some(JOB), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_wechat() {
    let sim = spawn_sim().await;
    let app = spawn_app(
        &sim.url,
        &[("api_token", TOKEN), ("api_body_limit", "2048")],
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/cgi-bin/menu/create", app.url))
        .bearer_auth(TOKEN)
        .body(vec![b'x'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(r.text().await.unwrap().contains("2048"));
    assert_eq!(sim.sim.calls("/cgi-bin/menu/create"), 0);
}

#[tokio::test]
async fn a_multipart_upload_is_forwarded_whole_and_replayed_after_a_token_refresh() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let upload = || {
        let part = reqwest::multipart::Part::bytes(b"GIF89a-pretend-image".to_vec())
            .file_name("a.gif")
            .mime_str("image/gif")
            .unwrap();
        reqwest::multipart::Form::new().part("media", part)
    };
    // The simulator records what reached it: the failed answer of an API it lacks carries a
    // rid, and rid/get shows the body as it arrived, multipart boundary and all.
    let _ = app.state.platform.access_token.get().await.unwrap();
    revoke_on_the_platform(&sim).await;
    let r = reqwest::Client::new()
        .post(format!("{}/api/cgi-bin/no/such/upload?type=image", app.url))
        .bearer_auth(TOKEN)
        .multipart(upload())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    // Rejected token → replaced → the same body sent again, which reached the API.
    assert_eq!(v["errcode"], 48001, "{v}");
    let rid = wechat::openapi::rid_in(v["errmsg"].as_str().unwrap())
        .unwrap()
        .to_owned();
    let seen = app.state.platform.rid(&rid).await.unwrap();
    assert!(
        seen.request_body.contains("GIF89a-pretend-image"),
        "{seen:?}"
    );
    assert!(seen.request_body.contains("filename=\"a.gif\""), "{seen:?}");
    assert!(seen.request_url.contains("type=image"), "{seen:?}");
}

#[tokio::test]
async fn quota_and_rid_are_shown_from_the_admin_api() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    // Spend some of menu/get's quota.
    for _ in 0..3 {
        get(&app, "/api/cgi-bin/menu/get").await;
    }
    let r = reqwest::Client::new()
        .get(format!("{}/admin/quota?path=/cgi-bin/menu/get", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["quotas"][0]["path"], "/cgi-bin/menu/get");
    assert_eq!(v["quotas"][0]["used"], 3, "{v}");
    assert_eq!(v["quotas"][0]["daily_limit"], 10_000, "{v}");
    // Every API wxgate calls, by default.
    let all: Value = reqwest::Client::new()
        .get(format!("{}/admin/quota", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["quotas"].as_array().unwrap().len() >= 4, "{all}");
    // A path WeChat does not know, and one that is not a path.
    let r = reqwest::Client::new()
        .get(format!("{}/admin/quota?path=nope/x", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(r.text().await.unwrap().contains("76021"));
    let r = reqwest::Client::new()
        .get(format!("{}/admin/quota?path=a%20b", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_spent_quota_is_counted_and_said_once() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/quota", sim.url))
        .json(&json!({"path": "/cgi-bin/menu/get", "daily_limit": 1}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    get(&app, "/api/cgi-bin/menu/get").await;
    let (_, _, v) = get(&app, "/api/cgi-bin/menu/get").await;
    assert_eq!(v["errcode"], 45009, "{v}");
    let q = app.state.platform.quota("/cgi-bin/menu/get").await.unwrap();
    assert_eq!((q.quota.daily_limit, q.quota.remain), (1, 0));
}

/// `wxgate serve` as a process, with debug logs captured: the token must appear in no log
/// line, no answer and no metric, through a revocation and a retry; `wxgate quota` and
/// `wxgate rid` work against the same account.
#[tokio::test]
async fn no_log_answer_or_metric_ever_contains_the_token() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::{Command, Stdio};

    let sim = spawn_sim().await;
    let test_db = temp_db();
    let db = test_db.url.clone();
    let env = |c: &mut Command| {
        for (k, _) in std::env::vars() {
            if k.starts_with("WXGATE_") {
                c.env_remove(k);
            }
        }
        c.env("WXGATE_APPID", APPID)
            .env("WXGATE_SECRET", SECRET)
            .env("WXGATE_API_BASE", &sim.url)
            .env("WXGATE_OAUTH_BASE", &sim.url)
            .env("WXGATE_DATABASE_URL", &db)
            .env("WXGATE_API_TOKEN", TOKEN)
            .env("RUST_LOG", "debug");
    };
    let mut serve = Command::new(env!("CARGO_BIN_EXE_wxgate"));
    env(&mut serve);
    let mut child = serve
        .arg("serve")
        .env("WXGATE_LISTEN", "127.0.0.1:0")
        .env("WXGATE_METRICS_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = String::new();
    let mut metrics = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(rest) = line.strip_prefix("wxgate: serving ") {
            url = rest.trim_end_matches("/index/").to_owned();
        }
        if let Some(rest) = line.strip_prefix("wxgate: metrics at ") {
            metrics = rest.to_owned();
            break;
        }
    }
    assert!(!url.is_empty() && !metrics.is_empty());
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{url}{path}")).bearer_auth(TOKEN).send();
    let mut answers = String::new();
    answers += &get("/api/cgi-bin/menu/get")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    revoke_on_the_platform(&sim).await;
    answers += &get("/api/cgi-bin/menu/get")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let unknown: Value = get("/api/cgi-bin/no/such/api")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answers += &unknown.to_string();
    let rid = wechat::openapi::rid_in(unknown["errmsg"].as_str().unwrap())
        .unwrap()
        .to_owned();
    let scraped = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert!(scraped.contains("wxgate_gateway_calls_total{client=\"default\",family=\"cgi-bin/menu\",errcode=\"46003\"}"), "{scraped}");
    assert!(
        scraped.contains("wxgate_token_invalidations_total"),
        "{scraped}"
    );

    // The CLI, on the same database: the token wxgate stored is reused.
    // Run off the test's runtime thread: the simulator answering it lives there.
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_wxgate"));
        env(&mut c);
        c.args(args).env("RUST_LOG", "warn");
        async move {
            let out = tokio::task::spawn_blocking(move || c.output().unwrap())
                .await
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned()
                    + &String::from_utf8_lossy(&out.stderr),
            )
        }
    };
    let (ok, quota) = run(&["quota", "cgi-bin/menu/get"]).await;
    assert!(ok, "{quota}");
    assert!(
        quota.contains("/cgi-bin/menu/get") && quota.contains("10000"),
        "{quota}"
    );
    let (ok, shown) = run(&["rid", &rid]).await;
    assert!(ok, "{shown}");
    assert!(
        shown.contains("48001") && shown.contains("access_token=ACCESS_TOKEN"),
        "{shown}"
    );
    let (ok, bad) = run(&["rid", "not-a-rid!"]).await;
    assert!(!ok && bad.contains("is not a request id"), "{bad}");

    let token = sim.sim.issued_base_tokens();
    let _ = child.kill();
    let _ = child.wait();
    let logs = log.join().unwrap();
    assert!(logs.contains("replacing it and retrying once"), "{logs}");
    assert!(!token.is_empty());
    for t in &token {
        for (what, text) in [
            ("log", &logs),
            ("answers", &answers),
            ("metrics", &scraped),
            ("quota", &quota),
            ("rid", &shown),
        ] {
            assert!(
                !text.contains(t.as_str()),
                "the token appears in the {what}"
            );
        }
    }
}

/// Guessing client tokens is rate-limited per address, as on the admin API: past the budget
/// even the right token gets a 429 with `Retry-After` until the address cools down.
#[tokio::test]
async fn guessing_client_tokens_is_rate_limited() {
    let sim = spawn_sim().await;
    let app = gateway_app(&sim).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = client
            .get(format!("{}/api/cgi-bin/menu/get", app.url))
            .bearer_auth(format!("guess-{i:030}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[0], 401);
    assert_eq!(*statuses.last().unwrap(), 429, "{statuses:?}");
    let r = client
        .get(format!("{}/api/token", app.url))
        .bearer_auth(SDK)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("failed authentications"),
        "{v}"
    );
    assert_eq!(sim.sim.calls("/cgi-bin/menu/get"), 0);
}
