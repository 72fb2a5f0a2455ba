//! `/metrics` after real traffic: every family wxgate exports shows up, with bounded labels, and
//! every metric the Grafana dashboard (`deploy/grafana/wxgate.json`) and README name exists.
//!
//! The recorder is process-wide, so this file holds one app and one test that drives it.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use wxsim::push::{Outgoing, PushMode, PushTarget, push};

const TOKEN: &str = "wxgatetesttoken";
const API: &str = "metrics-test-client-token-0123456789";
const OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

const RULES: &str = r#"
[[rules]]
msg_type = "text"
reply = { type = "text", content = "你说的是：{text}" }
"#;

/// A webhook that answers at once, except for a text saying "slow", which it answers after
/// the app's deadline (so the reply goes late, as a customer-service message).
async fn webhook() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/hook",
        post(|body: axum::body::Bytes| async move {
            if String::from_utf8_lossy(&body).contains("slow") {
                tokio::time::sleep(Duration::from_millis(700)).await;
            }
            axum::Json(json!({"reply": {"type": "text", "content": "好的"}}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// The metric names a PromQL expression uses (histogram series folded into their family).
fn metrics_in(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("wxgate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(family.to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_dashboard_and_readme_name_only_metrics_that_exist() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/grafana/wxgate.json")).unwrap(),
    )
    .expect("the dashboard is JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expr");
            let names = metrics_in(expr);
            assert!(!names.is_empty(), "{expr}");
            queried.extend(names);
        }
    }
    let known: BTreeSet<String> = wxgate::metrics::FAMILIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let unknown: Vec<_> = queried.difference(&known).collect();
    assert!(unknown.is_empty(), "the dashboard queries {unknown:?}");
    let uncharted: Vec<_> = known.difference(&queried).collect();
    assert!(uncharted.is_empty(), "no panel shows {uncharted:?}");

    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    for family in wxgate::metrics::FAMILIES {
        assert!(readme.contains(family), "README does not list {family}");
    }
    // Metric-shaped names only: README also names cookies (`wxgate_login`) and such.
    let listed: BTreeSet<String> = metrics_in(&readme)
        .into_iter()
        .filter(|n| n.ends_with("_total") || n.ends_with("_seconds"))
        .collect();
    let stale: Vec<_> = listed.difference(&known).collect();
    assert!(stale.is_empty(), "README names {stale:?}");
}

#[tokio::test]
async fn every_family_shows_after_traffic_with_bounded_labels() {
    let sim = spawn_sim().await;
    let hook = webhook().await;
    let db = temp_db();
    let app = spawn_app_with_rules(
        &sim.url,
        &db,
        &[
            ("token", TOKEN),
            ("metrics_listen", "127.0.0.1:0"),
            ("api_token", API),
            ("webhook_url", &hook),
            ("webhook_secret", "webhook-secret-for-tests"),
            ("reply_deadline_ms", "300"),
        ],
        RULES,
    )
    .await
    .owning(db);
    let metrics_url = app.metrics_url.clone().expect("a metrics listener");
    let client = reqwest::Client::new();

    // Pushes: answered, late, refused.
    let target = PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID)
        .with_mode(PushMode::Plain, None);
    let text = |s: &str| Outgoing::Text { content: s.into() };
    let report = push(&target, OPENID, &text("你好")).await;
    assert!(report.ok(), "{:#?}", report.problems);
    let report = push(&target, OPENID, &text("slow")).await;
    assert!(report.ok(), "{:#?}", report.problems);
    let forged = client
        .post(format!(
            "{}/weixin/?signature=00&timestamp=1&nonce=1",
            app.url
        ))
        .body("<xml/>")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Logins: one that works, one with a state nobody issued.
    let browser = Browser::new();
    browser.login(&app, 0).await;
    let bad = browser
        .get(&format!("{}/empower/?code=x&state=forged", app.url))
        .await;
    assert!(bad.status.is_client_error(), "{:?}", bad.status);

    // The gateway: a call, a refusal, a spent quota, a revoked token.
    let api = |path: &str| {
        client
            .get(format!("{}/api/{path}", app.url))
            .bearer_auth(API)
            .send()
    };
    assert_eq!(
        api("cgi-bin/menu/get").await.unwrap().status(),
        StatusCode::OK
    );
    let refused = client
        .get(format!("{}/api/cgi-bin/menu/get", app.url))
        .bearer_auth("not-a-client-token-at-all-000000")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    client
        .post(format!("{}/_sim/quota", sim.url))
        .json(&json!({"path": "/cgi-bin/user/get", "daily_limit": 0}))
        .send()
        .await
        .unwrap();
    let spent: serde_json::Value = api("cgi-bin/user/get").await.unwrap().json().await.unwrap();
    assert_eq!(spent["errcode"], 45009, "{spent}");
    client
        .post(format!("{}/cgi-bin/stable_token", sim.url))
        .json(&json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        api("cgi-bin/menu/get").await.unwrap().status(),
        StatusCode::OK
    );

    // The late reply goes out once the slow webhook answers.
    let until = std::time::Instant::now() + Duration::from_secs(5);
    while sim.sim.custom_messages().is_empty() && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.sim.custom_messages().len(), 1);

    let scraped = client
        .get(&metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in wxgate::metrics::FAMILIES {
        assert!(
            scraped.contains(&format!("\n{family}")) || scraped.starts_with(family),
            "{family} is missing from:\n{scraped}"
        );
    }
    for series in [
        r#"wxgate_pushes_total{msg_type="text",outcome="replied",reason=""} 1"#,
        r#"wxgate_pushes_total{msg_type="text",outcome="late",reason=""} 1"#,
        r#"wxgate_pushes_total{msg_type="unknown",outcome="refused",reason="signature"} 1"#,
        r#"wxgate_late_replies_total{outcome="sent"} 1"#,
        r#"wxgate_logins_total{outcome="ok"} 1"#,
        r#"wxgate_logins_total{outcome="bad_state"} 1"#,
        r#"wxgate_gateway_refusals_total{status="401"} 1"#,
        r#"wxgate_gateway_calls_total{client="default",family="cgi-bin/user",errcode="45009"} 1"#,
        r#"wxgate_quota_exhausted_total{endpoint="gateway"} 1"#,
        r#"wxgate_token_invalidations_total{kind="access_token"} 1"#,
        r#"wxgate_http_requests_total{route="weixin",method="POST",status="403"} 1"#,
    ] {
        assert!(
            scraped.contains(series),
            "{series} is missing from:\n{scraped}"
        );
    }
    // Bounded labels: no openid, no raw path, no token.
    assert!(!scraped.contains(OPENID));
    assert!(!scraped.contains("forged"));
    assert!(!scraped.contains(API));
    for token in sim.sim.issued_base_tokens() {
        assert!(!scraped.contains(&token));
    }
}
