//! The base access_token, menus, JS-SDK and the admin surface, against the simulator: the
//! failures of docs/field-lessons.md rows 1–7 and 12 must not happen.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxsim::Fault;

const ADMIN: &str = "admin-token-for-tests-0123456789";

async fn admin_app(sim: &Sim, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("admin_token", ADMIN)];
    settings.extend_from_slice(extra);
    spawn_app(&sim.url, &settings).await
}

fn seed_menu() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/menu.toml"
    ))
    .unwrap()
}

async fn menu_get(app: &TestApp) -> Result<wechat::menu::MenuSet, wechat::Error> {
    let client = &app.state.platform.client;
    app.state
        .platform
        .call(|t| async move { client.menu_get(&t).await })
        .await
}

async fn sim_control(sim: &Sim, path: &str, body: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", sim.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

#[tokio::test]
async fn nothing_is_fetched_at_start_up_so_a_wrong_whitelist_cannot_stop_the_server() {
    let sim = spawn_sim().await;
    sim_control(
        &sim,
        "/_sim/whitelist",
        json!({"enforce": true, "allowed": []}),
    )
    .await;
    let app = spawn_app(&sim.url, &[]).await;
    let p = Browser::new().get(&format!("{}/healthz", app.url)).await;
    assert_eq!(p.status, StatusCode::OK);
    assert_eq!(
        sim.sim.calls("/cgi-bin/stable_token") + sim.sim.calls("/cgi-bin/token"),
        0
    );
    // The first call fails with what to do, naming the IP.
    let e = menu_get(&app).await.unwrap_err();
    let text = wxgate::platform::explain(&e);
    assert!(
        text.contains("127.0.0.1") && text.contains("IP白名单"),
        "{text}"
    );
}

#[tokio::test]
async fn hundreds_of_concurrent_calls_at_expiry_cause_exactly_one_fetch() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let mut calls = Vec::new();
    for _ in 0..300 {
        let state = app.state.clone();
        calls.push(tokio::spawn(async move {
            let client = &state.platform.client;
            state
                .platform
                .call(|t| async move { client.menu_get(&t).await })
                .await
        }));
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 1);
    assert_eq!(sim.sim.calls("/cgi-bin/menu/get"), 300);

    // Two hours later every cached token has expired: again exactly one fetch.
    sim.sim.advance_clock(7300);
    let mut calls = Vec::new();
    for _ in 0..200 {
        let state = app.state.clone();
        calls.push(tokio::spawn(async move {
            let client = &state.platform.client;
            state
                .platform
                .call(|t| async move { client.menu_get(&t).await })
                .await
        }));
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(
        sim.sim.calls("/cgi-bin/stable_token"),
        2,
        "one refetch after 42001, shared by all"
    );
}

#[tokio::test]
async fn an_invalid_token_is_replaced_once_compare_and_invalidate() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    menu_get(&app).await.unwrap();
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 1);
    // 50 concurrent calls all see 40001 for the same token: one replacement, all succeed.
    let mut f = Fault::new("/cgi-bin/menu/get");
    f.errcode = Some(40001);
    f.count = 50;
    sim.sim.inject(f);
    let mut calls = Vec::new();
    for _ in 0..50 {
        let state = app.state.clone();
        calls.push(tokio::spawn(async move {
            let client = &state.platform.client;
            state
                .platform
                .call(|t| async move { client.menu_get(&t).await })
                .await
        }));
    }
    for call in calls {
        call.await.unwrap().unwrap();
    }
    // stable_token first hands back the rejected token (it is still valid for WeChat's token
    // service), so exactly one forced refresh follows: 1 + 1 normal + 1 forced.
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 3);
    assert_eq!(
        app.state.platform.access_token.status().await.forced_today,
        1
    );
}

#[tokio::test]
async fn an_expired_token_is_replaced_without_forcing() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    menu_get(&app).await.unwrap();
    // WeChat's clock says the token expired (42001); a normal stable_token call brings a new
    // one, so nobody else's token is invalidated by a force.
    sim.sim.advance_clock(7300);
    menu_get(&app).await.unwrap();
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 2);
    assert_eq!(
        app.state.platform.access_token.status().await.forced_today,
        0
    );
}

#[tokio::test]
async fn a_wrong_secret_under_load_costs_one_token_call_not_one_per_request() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("secret", "0123456789abcdef0123456789abcdef")]).await;
    let page = format!("{}/index/", app.url);
    let mut calls = Vec::new();
    for _ in 0..50 {
        let url = format!("{}/jssdk/config", app.url);
        let page = page.clone();
        calls.push(tokio::spawn(async move {
            reqwest::Client::new()
                .get(url)
                .query(&[("url", page)])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), StatusCode::BAD_GATEWAY);
    }
    assert_eq!(
        sim.sim.calls("/cgi-bin/stable_token"),
        1,
        "the failure is shared and remembered, not retried per request"
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_once_per_call_with_no_retry_loop() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("secret", "0123456789abcdef0123456789abcdef")]).await;
    let e = menu_get(&app).await.unwrap_err();
    assert!(
        wxgate::platform::explain(&e).contains("WXGATE_SECRET"),
        "{}",
        wxgate::platform::explain(&e)
    );
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 1);
    assert_eq!(sim.sim.calls("/cgi-bin/menu/get"), 0);
}

#[tokio::test]
async fn a_restart_reuses_the_stored_token() {
    let sim = spawn_sim().await;
    let db = temp_db();
    {
        let app = spawn_app_on(&sim.url, &db, &[]).await;
        menu_get(&app).await.unwrap();
    }
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    menu_get(&app).await.unwrap();
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 1);
    assert_eq!(
        app.state.platform.access_token.status().await.fetch_count,
        1
    );
}

#[tokio::test]
async fn the_classic_api_and_the_daily_quota() {
    let sim = spawn_sim().await;
    sim_control(
        &sim,
        "/_sim/quota",
        json!({"path": "/cgi-bin/token", "daily_limit": 0}),
    )
    .await;
    let app = spawn_app(&sim.url, &[("token_api", "classic")]).await;
    let e = menu_get(&app).await.unwrap_err();
    assert_eq!(e.errcode(), Some(wechat::ErrCode::DAILY_QUOTA));
    assert!(wxgate::platform::explain(&e).contains("45009"));
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 0);
    assert_eq!(sim.sim.calls("/cgi-bin/token"), 1);
}

// ---------------------------------------------------------------------------------------------
// The admin surface.

async fn admin(
    method: reqwest::Method,
    url: &str,
    auth: Option<&str>,
    body: Option<(&str, String)>,
) -> (StatusCode, String) {
    let mut r = reqwest::Client::new().request(method, url);
    if let Some(token) = auth {
        r = r.bearer_auth(token);
    }
    if let Some((content_type, body)) = body {
        r = r.header("content-type", content_type).body(body);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

#[tokio::test]
async fn the_admin_api_needs_the_bearer_token_and_is_off_without_one() {
    let sim = spawn_sim().await;
    let app = admin_app(&sim, &[]).await;
    for path in ["/admin/token", "/admin/menu", "/admin/users"] {
        let url = format!("{}{path}", app.url);
        assert_eq!(
            admin(reqwest::Method::GET, &url, None, None).await.0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
        assert_eq!(
            admin(reqwest::Method::GET, &url, Some("wrong"), None)
                .await
                .0,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    let (status, _) = admin(
        reqwest::Method::DELETE,
        &format!("{}/admin/menu", app.url),
        Some("x"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(sim.sim.calls("/cgi-bin/menu/delete"), 0);
    // The scheme is case-insensitive; the token is not.
    let lower = reqwest::Client::new()
        .get(format!("{}/admin/token", app.url))
        .header("authorization", format!("bearer {ADMIN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK);
    let shouted = reqwest::Client::new()
        .get(format!("{}/admin/token", app.url))
        .header("authorization", format!("Bearer {}", ADMIN.to_uppercase()))
        .send()
        .await
        .unwrap();
    assert_eq!(shouted.status(), StatusCode::UNAUTHORIZED);
    // The seed's open endpoints are gone.
    for seed in ["/access/", "/menu/", "/dlmenu/"] {
        let r = reqwest::get(format!("{}{seed}", app.url)).await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{seed}");
    }

    let off = spawn_app(&sim.url, &[]).await;
    let (status, body) = admin(
        reqwest::Method::GET,
        &format!("{}/admin/token", off.url),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("WXGATE_ADMIN_TOKEN"));
}

#[tokio::test]
async fn admin_answers_404_then_401_then_405_whatever_the_path_and_method() {
    use reqwest::Method;
    let sim = spawn_sim().await;
    let on = admin_app(&sim, &[]).await;
    let off = spawn_app(&sim.url, &[]).await;
    let cases = [
        (Method::POST, "/admin/token"),
        (Method::PATCH, "/admin/menu"),
        (Method::GET, "/admin/nothing-here"),
        (Method::DELETE, "/admin/"),
    ];
    for (method, path) in cases {
        // Off: nothing to see, whatever the method or token.
        let (status, body) = admin(
            method.clone(),
            &format!("{}{path}", off.url),
            Some(ADMIN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "off {method} {path}");
        assert!(body.contains("WXGATE_ADMIN_TOKEN"), "{body}");
        // On, without the token: nothing is revealed about paths or methods.
        let (status, _) = admin(method.clone(), &format!("{}{path}", on.url), None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let url = |path: &str| format!("{}{path}", on.url);
    let (status, body) = admin(Method::POST, &url("/admin/token"), Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(
        body.contains("\"error\""),
        "JSON like the rest of the API: {body}"
    );
    let (status, _) = admin(Method::GET, &url("/admin/nothing-here"), Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn menus_round_trip_through_the_admin_api_and_no_token_leaks() {
    let sim = spawn_sim().await;
    let app = admin_app(&sim, &[]).await;
    let url = format!("{}/admin/menu", app.url);
    let mut seen = Vec::new();

    let (status, body) = admin(
        reqwest::Method::PUT,
        &url,
        Some(ADMIN),
        Some(("application/toml", seed_menu())),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    seen.push(body);
    let (status, body) = admin(reqwest::Method::GET, &url, Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("V1001_SUNCK") && body.contains("佳丽"),
        "{body}"
    );
    seen.push(body);
    let (status, body) = admin(
        reqwest::Method::GET,
        &format!("{}/admin/token", app.url),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["api"], "stable");
    assert_eq!(json["access_token"]["fetch_count"], 1);
    seen.push(body);
    let (status, body) = admin(reqwest::Method::DELETE, &url, Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = admin(reqwest::Method::GET, &url, Some(ADMIN), None).await;
    assert!(!body.contains("V1001_SUNCK"), "{body}");
    seen.push(body);

    let token = app.state.platform.access_token.get().await.unwrap();
    for body in &seen {
        assert!(
            !body.contains(&token),
            "an admin response carried the access_token: {body}"
        );
    }
}

#[tokio::test]
async fn an_invalid_menu_is_refused_locally_with_the_buttons_path() {
    let sim = spawn_sim().await;
    let app = admin_app(&sim, &[]).await;
    let menu = json!({"button": [{"type": "click", "name": "这个名字实在是太长了吧", "key": "K"}]});
    let (status, body) = admin(
        reqwest::Method::PUT,
        &format!("{}/admin/menu", app.url),
        Some(ADMIN),
        Some(("application/json", menu.to_string())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("button[0].name"), "{body}");
    assert_eq!(
        sim.sim.calls("/cgi-bin/menu/create"),
        0,
        "validated before any call"
    );
    let (status, _) = admin(
        reqwest::Method::PUT,
        &format!("{}/admin/menu", app.url),
        Some(ADMIN),
        Some(("application/json", "{nope".into())),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn admin_users_lists_who_logged_in() {
    let sim = spawn_sim().await;
    let app = admin_app(&sim, &[]).await;
    Browser::new().login(&app, PANDA).await;
    let (status, body) = admin(
        reqwest::Method::GET,
        &format!("{}/admin/users", app.url),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["users"][0]["nickname"], "🐼熊猫🎋");
    assert!(!body.contains("access_token"), "{body}");
    // A bad query string is a JSON error too.
    let (status, body) = admin(
        reqwest::Method::GET,
        &format!("{}/admin/users?limit=lots", app.url),
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_str(&body).expect("JSON");
    assert!(json["error"].as_str().unwrap().contains("limit"), "{body}");
}

// ---------------------------------------------------------------------------------------------
// JS-SDK.

#[tokio::test]
async fn jssdk_config_signs_our_pages_only_and_caches_the_ticket() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let page = format!("{}/index/?from=menu", app.url);
    let get = |url: String| async move {
        let r = reqwest::Client::new().get(url).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    let q = |u: &str| url::form_urlencoded::byte_serialize(u.as_bytes()).collect::<String>();
    let (status, body) = get(format!(
        "{}/jssdk/config?url={}",
        app.url,
        q(&format!("{page}#section"))
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(c["appId"], APPID);
    let ticket = sim.sim.current_jsapi_ticket().expect("a ticket was issued");
    let expected = wechat::jssdk::signature(
        &ticket,
        c["nonceStr"].as_str().unwrap(),
        c["timestamp"].as_i64().unwrap(),
        &page,
    );
    assert_eq!(c["signature"], expected);
    assert!(
        !body.contains(&ticket),
        "the ticket itself stays on the server"
    );

    let (status, _) = get(format!("{}/jssdk/config?url={}", app.url, q(&page))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        sim.sim.calls("/cgi-bin/ticket/getticket"),
        1,
        "the ticket is cached"
    );

    for bad in [
        "https://evil.example/index/",
        "",
        "/index/",
        "javascript:alert(1)",
    ] {
        let (status, body) = get(format!("{}/jssdk/config?url={}", app.url, q(bad))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// The command line.

/// Runs the binary against the simulator with a database file; returns (success, stdout+stderr).
async fn wxgate(sim: &Sim, db: &TestDb, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            command.env_remove(k);
        }
    }
    command
        .args(args)
        .env("WXGATE_APPID", APPID)
        .env("WXGATE_SECRET", SECRET)
        .env("WXGATE_API_BASE", &sim.url)
        .env("WXGATE_DATABASE_URL", &db.url);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn menu_commands_validate_push_diff_and_delete() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");

    let (ok, out) = wxgate(&sim, &db, &["menu", "validate", seed]).await;
    assert!(ok && out.contains("valid"), "{out}");
    let bad = std::env::temp_dir().join(format!("bad-menu-{}.toml", std::process::id()));
    std::fs::write(
        &bad,
        "[[button]]\ntype = \"click\"\nname = \"一个非常非常长的名字\"\nkey = \"K\"\n",
    )
    .unwrap();
    let (ok, out) = wxgate(&sim, &db, &["menu", "validate", bad.to_str().unwrap()]).await;
    assert!(
        !ok && out.contains("button[0].name") && out.contains("limit 16"),
        "{out}"
    );

    let (ok, out) = wxgate(&sim, &db, &["menu", "push", "--dry-run", seed]).await;
    assert!(
        ok && out.contains("V1001_SUNCK") && out.contains("dry run"),
        "{out}"
    );
    assert_eq!(sim.sim.calls("/cgi-bin/menu/create"), 0);

    let (ok, out) = wxgate(&sim, &db, &["menu", "push", seed]).await;
    assert!(ok, "{out}");
    let (ok, out) = wxgate(&sim, &db, &["menu", "diff", seed]).await;
    assert!(ok && out.contains("no differences"), "{out}");
    let changed = std::env::temp_dir().join(format!("changed-menu-{}.toml", std::process::id()));
    std::fs::write(
        &changed,
        std::fs::read_to_string(seed)
            .unwrap()
            .replace("范冰冰", "张曼玉"),
    )
    .unwrap();
    let (ok, out) = wxgate(&sim, &db, &["menu", "diff", changed.to_str().unwrap()]).await;
    assert!(ok && out.contains("张曼玉"), "{out}");
    let (ok, out) = wxgate(&sim, &db, &["menu", "get"]).await;
    assert!(ok && out.contains("佳丽"), "{out}");
    let (ok, out) = wxgate(
        &sim,
        &db,
        &["menu", "trymatch", &wxsim::default_users()[0].openid],
    )
    .await;
    assert!(ok && out.contains("sunck"), "{out}");
    let (ok, out) = wxgate(&sim, &db, &["menu", "delete"]).await;
    assert!(ok, "{out}");
    let (ok, out) = wxgate(&sim, &db, &["menu", "get"]).await;
    assert!(ok && !out.contains("佳丽"), "{out}");
    assert!(out.contains("no menu published yet"), "{out}");
    // Every command reused the one stored token.
    assert_eq!(sim.sim.calls("/cgi-bin/stable_token"), 1);
    let _ = std::fs::remove_file(&bad);
    let _ = std::fs::remove_file(&changed);
}

#[tokio::test]
async fn conditional_menus_push_trymatch_and_delete_by_menuid() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");
    assert!(wxgate(&sim, &db, &["menu", "push", seed]).await.0);
    // 🐼 is an Android user (client_platform_type 2) in the simulator.
    let android = std::env::temp_dir().join(format!("android-menu-{}.toml", std::process::id()));
    std::fs::write(
        &android,
        "[[button]]\ntype = \"click\"\nname = \"安卓专享\"\nkey = \"ANDROID\"\n[matchrule]\nclient_platform_type = \"2\"\n",
    )
    .unwrap();
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", android.to_str().unwrap()]).await;
    assert!(ok, "{out}");
    let menuid = out.split("menuid ").nth(1).expect(&out).trim().to_owned();
    let panda = &wxsim::default_users()[PANDA].openid;
    let (_, out) = wxgate(&sim, &db, &["menu", "trymatch", panda]).await;
    assert!(out.contains("安卓专享"), "{out}");
    let (ok, out) = wxgate(&sim, &db, &["menu", "delete", "--menuid", &menuid]).await;
    assert!(ok, "{out}");
    let (_, out) = wxgate(&sim, &db, &["menu", "trymatch", panda]).await;
    assert!(out.contains("sunck") && !out.contains("安卓专享"), "{out}");
    // A privacy condition is refused before any call.
    std::fs::write(
        &android,
        "[[button]]\ntype = \"click\"\nname = \"x\"\nkey = \"X\"\n[matchrule]\nsex = \"1\"\n",
    )
    .unwrap();
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", android.to_str().unwrap()]).await;
    assert!(!ok && out.contains("matchrule"), "{out}");
    let _ = std::fs::remove_file(&android);
}

#[tokio::test]
async fn menu_get_without_a_menu_says_how_to_push_one() {
    let sim = spawn_sim().await;
    let db = temp_db();
    // The simulator answers 46003 (menu no exist), as WeChat does.
    let (ok, out) = wxgate(&sim, &db, &["menu", "get"]).await;
    assert!(ok, "exits 0: {out}");
    assert_eq!(
        out.lines().next(),
        Some("no menu published yet: push one with wxgate menu push FILE"),
        "{out}"
    );
    assert!(!out.contains("{}"), "{out}");
    assert_eq!(sim.sim.calls("/cgi-bin/menu/get"), 1);
}

/// Writes a one-button conditional menu file and returns its path.
fn conditional_file(tag: &str, name: &str, matchrule: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "cond-{tag}-{}-{}.toml",
        std::process::id(),
        wechat::State::generate().as_str()
    ));
    std::fs::write(
        &path,
        format!("[[button]]\ntype = \"click\"\nname = \"{name}\"\nkey = \"K\"\n[matchrule]\n{matchrule}\n"),
    )
    .unwrap();
    path
}

/// The menuids of the simulator's conditional menus, oldest first.
fn conditional_ids(sim: &Sim) -> Vec<String> {
    sim.sim.menus_json(None)["conditionalmenu"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["menuid"].to_string())
        .collect()
}

#[tokio::test]
async fn menu_diff_of_a_conditional_file_compares_with_the_menu_of_its_matchrule() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");
    assert!(wxgate(&sim, &db, &["menu", "push", seed]).await.0);
    let android = conditional_file("diff", "安卓专享", "client_platform_type = \"2\"");
    let file = android.to_str().unwrap();

    let (ok, out) = wxgate(&sim, &db, &["menu", "diff", file]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("no conditional menu with this matchrule")
            && out.contains("client_platform_type = \"2\""),
        "{out}"
    );
    assert!(
        !out.contains("button[0]"),
        "not diffed against the default menu: {out}"
    );

    let (ok, out) = wxgate(&sim, &db, &["menu", "push", file]).await;
    assert!(ok, "{out}");
    // Another rule's menu is not the one compared.
    let tagged = conditional_file("diff-tag", "标签菜单", "tag_id = \"100\"");
    assert!(
        wxgate(&sim, &db, &["menu", "push", tagged.to_str().unwrap()])
            .await
            .0
    );
    let android_id = conditional_ids(&sim)[0].clone();

    let (ok, out) = wxgate(&sim, &db, &["menu", "diff", file]).await;
    assert!(ok && out.contains("no differences"), "{out}");
    assert!(
        out.contains(&format!("conditional menu {android_id}")),
        "{out}"
    );

    std::fs::write(
        &android,
        std::fs::read_to_string(&android)
            .unwrap()
            .replace("安卓专享", "安卓新版"),
    )
    .unwrap();
    let (ok, out) = wxgate(&sim, &db, &["menu", "diff", file]).await;
    assert!(ok, "{out}");
    let changes: Vec<&str> = out.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(
        changes,
        ["  button[0].name: \"安卓专享\" → \"安卓新版\""],
        "{out}"
    );
    assert!(
        out.contains(&format!("conditional menu {android_id}")),
        "{out}"
    );
    let _ = std::fs::remove_file(&android);
    let _ = std::fs::remove_file(&tagged);
}

#[tokio::test]
async fn pushing_a_conditional_menu_again_replaces_the_one_with_the_same_matchrule() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");
    assert!(wxgate(&sim, &db, &["menu", "push", seed]).await.0);
    let menuid_in = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("conditional menu published: menuid "))
            .expect(out)
            .trim()
            .to_owned()
    };
    let v1 = conditional_file("push", "安卓一版", "client_platform_type = \"2\"");
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", v1.to_str().unwrap()]).await;
    assert!(ok && !out.contains("replaced"), "{out}");
    let first = menuid_in(&out);
    let tagged = conditional_file("push-tag", "标签菜单", "tag_id = \"100\"");
    assert!(
        wxgate(&sim, &db, &["menu", "push", tagged.to_str().unwrap()])
            .await
            .0
    );

    // The same rule spelt as a number is the same rule.
    let v2 = conditional_file("push", "安卓二版", "client_platform_type = 2");
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", v2.to_str().unwrap()]).await;
    assert!(ok, "{out}");
    let second = menuid_in(&out);
    assert!(
        out.contains(&format!("replaced conditional menu {first} with {second}")),
        "{out}"
    );
    let ids = conditional_ids(&sim);
    assert_eq!(
        ids.len(),
        2,
        "the tag menu and the new Android one: {ids:?}"
    );
    assert!(ids.contains(&second) && !ids.contains(&first), "{ids:?}");
    let panda = &wxsim::default_users()[PANDA].openid;
    let (_, out) = wxgate(&sim, &db, &["menu", "trymatch", panda]).await;
    assert!(out.contains("安卓二版"), "{out}");

    // Added first, deleted after: when the add fails, the old menu is still there.
    let mut f = Fault::new("/cgi-bin/menu/addconditional");
    f.errcode = Some(65305);
    sim.sim.inject(f);
    let v3 = conditional_file("push", "安卓三版", "client_platform_type = \"2\"");
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", v3.to_str().unwrap()]).await;
    assert!(!ok && out.contains("65305"), "{out}");
    assert_eq!(conditional_ids(&sim), ids, "nothing was deleted");
    assert_eq!(sim.sim.calls("/cgi-bin/menu/delconditional"), 1);

    // When deleting the old one fails, the new one is live and the operator is told what is left.
    let mut f = Fault::new("/cgi-bin/menu/delconditional");
    f.errcode = Some(-1);
    sim.sim.inject(f);
    let (ok, out) = wxgate(&sim, &db, &["menu", "push", v3.to_str().unwrap()]).await;
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("old conditional menu {second}"))
            && out.contains(&format!("wxgate menu delete --menuid {second}")),
        "{out}"
    );
    let (_, out) = wxgate(&sim, &db, &["menu", "trymatch", panda]).await;
    assert!(out.contains("安卓三版"), "{out}");
}

#[tokio::test]
async fn admin_put_of_a_conditional_menu_replaces_the_one_with_the_same_matchrule() {
    let sim = spawn_sim().await;
    let app = admin_app(&sim, &[]).await;
    let url = format!("{}/admin/menu", app.url);
    let put = |body: String, content_type: &'static str| {
        let url = url.clone();
        async move {
            let (status, body) = admin(
                reqwest::Method::PUT,
                &url,
                Some(ADMIN),
                Some((content_type, body)),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()
        }
    };
    put(seed_menu(), "application/toml").await;
    let menu = |name: &str| {
        json!({"button": [{"type": "click", "name": name, "key": "K"}],
               "matchrule": {"tag_id": "100"}})
        .to_string()
    };
    let first = put(menu("一版"), "application/json").await;
    assert_eq!(first["replaced"], json!([]), "{first}");
    let first_id = first["menuid"].as_str().unwrap().to_owned();
    let second = put(menu("二版"), "application/json").await;
    let second_id = second["menuid"].as_str().unwrap().to_owned();
    assert_eq!(second["replaced"], json!([first_id]), "{second}");
    assert!(
        second["message"].as_str().unwrap().contains(&format!(
            "replaced conditional menu {first_id} with {second_id}"
        )),
        "{second}"
    );
    assert_eq!(conditional_ids(&sim), std::slice::from_ref(&second_id));
    let (status, body) = admin(reqwest::Method::GET, &url, Some(ADMIN), None).await;
    assert_eq!(status, StatusCode::OK);
    let got: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(got["conditionalmenu"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["conditionalmenu"][0]["button"][0]["name"], "二版");
    // `wxgate menu push` goes through the same code: it replaces the admin API's menu too.
    let file = conditional_file("admin", "三版", "tag_id = \"100\"");
    let (ok, out) = wxgate(&sim, &temp_db(), &["menu", "push", file.to_str().unwrap()]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("replaced conditional menu {second_id} with")),
        "{out}"
    );
    assert_eq!(conditional_ids(&sim).len(), 1);
}

#[tokio::test]
async fn token_status_never_shows_the_token_unless_asked() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let (ok, out) = wxgate(&sim, &db, &["token", "status"]).await;
    assert!(ok && out.contains("not fetched yet"), "{out}");
    assert_eq!(
        sim.sim.calls("/cgi-bin/stable_token"),
        0,
        "status does not fetch"
    );
    let (ok, out) = wxgate(&sim, &db, &["token", "status", "--reveal"]).await;
    assert!(ok, "{out}");
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("access_token: "))
        .expect(&out)
        .to_owned();
    let (ok, out) = wxgate(&sim, &db, &["token", "status"]).await;
    assert!(ok && out.contains("fetches from WeChat: 1"), "{out}");
    assert!(!out.contains(&token), "{out}");
    let (ok, out) = wxgate(&sim, &db, &["users", "list"]).await;
    assert!(ok && out.contains("no users yet"), "{out}");
}

#[tokio::test]
async fn a_whitelist_error_tells_the_operator_what_to_do() {
    let sim = spawn_sim().await;
    sim_control(
        &sim,
        "/_sim/whitelist",
        json!({"enforce": true, "allowed": []}),
    )
    .await;
    let (ok, out) = wxgate(&sim, &temp_db(), &["menu", "get"]).await;
    assert!(!ok);
    assert!(
        out.contains("127.0.0.1") && out.contains("IP白名单") && out.lines().count() <= 2,
        "{out}"
    );
}
