//! QR codes with scenes end to end: `POST`/`GET /admin/qrcodes` and `wxgate qrcode create|list`
//! against the simulator (the PNG included), the refusals made before any call and WeChat's, and
//! the rule condition `scene = "…"` answering a subscribe through the code and a follower's SCAN.

mod common;

use std::process::Command;

use common::*;
use serde_json::{Value, json};
use wxsim::push::{Outgoing, PushTarget};

const ADMIN: &str = "admin-token-for-tests-0123456789";
const TOKEN: &str = "wxgateqrtoken";
const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
const RULES: &str = r#"
[[rules]]
scene = "metro_poster"
reply = { type = "text", content = "欢迎！你是扫地铁海报来的" }
[[rules]]
event = "subscribe"
reply = { type = "text", content = "welcome" }
"#;

async fn admin(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", app.url))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn wxgate(sim: &Sim, db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            c.env_remove(k);
        }
    }
    c.env("WXGATE_APPID", APPID)
        .env("WXGATE_SECRET", SECRET)
        .env("WXGATE_API_BASE", &sim.url)
        .env("WXGATE_OAUTH_BASE", &sim.url)
        .env("WXGATE_DATABASE_URL", &db.url)
        .env("RUST_LOG", "error");
    c
}

#[tokio::test]
async fn admin_creates_lists_and_refuses_qr_codes() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("admin_token", ADMIN)]).await;
    let post = reqwest::Method::POST;

    let (status, body) = admin(
        &app,
        post.clone(),
        "/admin/qrcodes",
        Some(json!({"scene": "metro_poster", "expire_secs": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let code = &body["qrcode"];
    assert_eq!(code["kind"], "QR_STR_SCENE");
    assert_eq!(code["scene"], "metro_poster");
    let image_url = code["image_url"].as_str().unwrap();
    assert!(image_url.starts_with(&sim.url), "{image_url}");
    let png = reqwest::get(image_url).await.unwrap();
    assert_eq!(png.status(), 200);
    assert!(png.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let expires = code["expires_at"].as_i64().unwrap() - code["created_at"].as_i64().unwrap();
    assert_eq!(expires, 3600);

    let (status, body) = admin(
        &app,
        post.clone(),
        "/admin/qrcodes",
        Some(json!({"scene": 7, "permanent": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["qrcode"]["kind"], "QR_LIMIT_SCENE");
    assert_eq!(body["qrcode"]["expires_at"], Value::Null);

    let (status, body) = admin(&app, reqwest::Method::GET, "/admin/qrcodes", None).await;
    assert_eq!(status, 200);
    let scenes: Vec<&str> = body["qrcodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["scene"].as_str().unwrap())
        .collect();
    assert!(
        scenes.contains(&"metro_poster") && scenes.contains(&"7"),
        "{scenes:?}"
    );

    // Refused before any call, with what is wrong.
    let calls = sim.sim.calls("/cgi-bin/qrcode/create");
    for (body, says) in [
        (json!({"scene": "x".repeat(65)}), "1 to 64"),
        (json!({"scene": 100_001, "permanent": true}), "1 to 100000"),
        (json!({"scene": "a", "expire_secs": 2_592_001}), "2592000"),
        (
            json!({"scene": "a", "permanent": true, "expire_secs": 5}),
            "one or the other",
        ),
        (json!({"scene": "地铁"}), "ASCII"),
        (json!({"scene": ""}), "empty"),
        (json!({"nope": 1}), "expected"),
    ] {
        let (status, answer) =
            admin(&app, post.clone(), "/admin/qrcodes", Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {answer}");
        assert!(answer.to_string().contains(says), "{body} → {answer}");
    }
    assert_eq!(sim.sim.calls("/cgi-bin/qrcode/create"), calls);

    // WeChat's refusal is a 502 that says what it means.
    let mut fault = wxsim::Fault::new("/cgi-bin/qrcode/create");
    fault.errcode = Some(48001);
    sim.sim.inject(fault);
    let (status, answer) = admin(&app, post, "/admin/qrcodes", Some(json!({"scene": "b"}))).await;
    assert_eq!(status, 502, "{answer}");
    assert!(answer.to_string().contains("48001"), "{answer}");
}

// The CLI is a blocking child process: the simulator needs a thread of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_a_code_saves_its_png_and_lists_it() {
    let sim = spawn_sim().await;
    let db = temp_db();
    // The schema exists once wxgate ran against the database.
    let _app = spawn_app_on(&sim.url, &db, &[]).await;
    let png = std::env::temp_dir().join(format!(
        "wxgate-qr-{}.png",
        wechat::State::generate().as_str()
    ));
    let out = wxgate(&sim, &db)
        .args(["qrcode", "create", "metro_poster", "--png"])
        .arg(&png)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("ticket:") && stdout.contains("QR_STR_SCENE"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("image:   {}/cgi-bin/showqrcode?ticket=", sim.url)),
        "{stdout}"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
    std::fs::remove_file(&png).ok();

    let out = wxgate(&sim, &db)
        .args(["qrcode", "create", "42", "--permanent"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("QR_LIMIT_SCENE"));

    let out = wxgate(&sim, &db).args(["qrcode", "list"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("metro_poster") && stdout.contains("42"),
        "{stdout}"
    );

    // Refusals: before any call, one line saying why.
    let calls = sim.sim.calls("/cgi-bin/qrcode/create");
    let out = wxgate(&sim, &db)
        .args(["qrcode", "create", "100001", "--permanent"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 to 100000"));
    let out = wxgate(&sim, &db)
        .args(["qrcode", "create", "a", "--permanent", "--expire-secs", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(sim.sim.calls("/cgi-bin/qrcode/create"), calls);
}

#[tokio::test]
async fn a_scene_rule_answers_a_subscribe_through_the_code_and_a_followers_scan() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let app = spawn_app_with_rules(
        &sim.url,
        &db,
        &[("token", TOKEN), ("admin_token", ADMIN)],
        RULES,
    )
    .await;
    let (_, body) = admin(
        &app,
        reqwest::Method::POST,
        "/admin/qrcodes",
        Some(json!({"scene": "metro_poster"})),
    )
    .await;
    let ticket = body["qrcode"]["ticket"].as_str().unwrap().to_owned();
    let target = PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID);
    let content = |e: &wxsim::Exchange| {
        e.report
            .reply
            .as_ref()
            .map(|r| r.fields["Content"].as_str().unwrap_or_default().to_owned())
    };

    let scan = Outgoing::Subscribe {
        scene: Some("metro_poster".into()),
        ticket: Some(ticket.clone()),
    };
    let got = sim
        .sim
        .push(Some(ZHANG), scan, Some(target.clone()))
        .await
        .unwrap();
    assert_eq!(
        content(&got).as_deref(),
        Some("欢迎！你是扫地铁海报来的"),
        "{:#?}",
        got.report
    );
    assert!(
        got.report.request.xml.contains(&ticket),
        "the code's own ticket is pushed"
    );
    assert!(sim.sim.follows(ZHANG));

    let again = Outgoing::Scan {
        scene: "metro_poster".into(),
        ticket: Some(ticket),
    };
    let got = sim
        .sim
        .push(Some(ZHANG), again, Some(target.clone()))
        .await
        .unwrap();
    assert_eq!(content(&got).as_deref(), Some("欢迎！你是扫地铁海报来的"));

    let other = Outgoing::Subscribe {
        scene: Some("bus".into()),
        ticket: None,
    };
    let got = sim
        .sim
        .push(Some(ZHANG), other, Some(target))
        .await
        .unwrap();
    assert_eq!(content(&got).as_deref(), Some("welcome"));
}
