//! The cluster deployment: several real `wxgate serve` processes on one PostgreSQL and one
//! Redis, with requests sent to different instances as a load balancer would. Every guarantee
//! README makes must hold across them, and survive Redis or PostgreSQL going away and coming
//! back, and an instance killed mid-way.

#[path = "../common/mod.rs"]
mod common;
mod harness;

use std::time::Duration;

use common::{APPID, Browser, PANDA, SECRET, ZHANG_SAN};
use harness::*;
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN: &str = "cluster-admin-token-0123456789";

/// A configuration file the instances read, removed when the test is done with it.
struct RulesFile(String);

impl std::ops::Deref for RulesFile {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for RulesFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn rules_file(rules: &str) -> RulesFile {
    let path = std::env::temp_dir().join(format!(
        "wxgate-cluster-rules-{}.toml",
        wechat::State::generate().as_str()
    ));
    std::fs::write(&path, rules).unwrap();
    RulesFile(path.display().to_string())
}

const ECHO_RULE: &str = r#"
[[rules]]
msg_type = "text"
reply = { type = "text", content = "rule: {text}" }
"#;

/// The callback WeChat sent the browser to, aimed at instance `to` instead of the public URL.
fn via(callback: &str, to: &str) -> String {
    callback.replacen(PUBLIC_URL, to, 1)
}

async fn login_via(b: &Browser, start: &Instance, finish: &Instance, user: usize) -> common::Page {
    let authorize = b.start_login(start, "").await;
    let callback = b.consent(&authorize, user, "allow").await;
    b.get(&via(&callback, &finish.url)).await
}

#[tokio::test]
async fn a_login_started_on_one_instance_completes_on_another_and_holds_everywhere() {
    for store in ["redis", "database"] {
        let mut c = Cluster::start(3, &[("session_store", store)]).await;
        let b = Browser::new();
        let done = login_via(&b, &c.instances[0], &c.instances[1], PANDA).await;
        assert_eq!(done.status, StatusCode::FOUND, "{store}: {}", done.body);
        assert_eq!(done.location(), "/index/");
        for i in &c.instances {
            assert_eq!(b.greeting(i).await, "欢迎:🐼熊猫🎋", "{store}");
        }
        c.restart_all().await;
        for i in &c.instances {
            assert_eq!(
                b.greeting(i).await,
                "欢迎:🐼熊猫🎋",
                "{store}: after a restart"
            );
        }
        // Logging out on one instance logs out everywhere.
        let out = b.post_form(&format!("{}/logout/", c.url(2)), &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        for i in &c.instances {
            assert_eq!(b.greeting(i).await, "欢迎:游客", "{store}");
        }
    }
}

#[tokio::test]
async fn a_callback_delivered_twice_to_two_instances_exchanges_the_code_once() {
    let c = Cluster::start(2, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&c.instances[0], "").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    // WeChat's double redirect, racing on two instances.
    c.sim
        .sim
        .inject(wxsim::Fault::delay("/sns/oauth2/access_token", 1, 400));
    let (to_first, to_second) = (via(&callback, c.url(0)), via(&callback, c.url(1)));
    let (first, second) = tokio::join!(b.get(&to_first), b.get(&to_second));
    assert_eq!(first.status, StatusCode::FOUND, "{}", first.body);
    assert_eq!(second.status, StatusCode::FOUND, "{}", second.body);
    assert_eq!(c.sim.sim.calls("/sns/oauth2/access_token"), 1);
    assert_eq!(b.greeting(&c.instances[1]).await, "欢迎:张三");
}

/// A reply's XML without its `<CreateTime>` element.
fn without_create_time(xml: &str) -> String {
    match (xml.find("<CreateTime>"), xml.find("</CreateTime>")) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}", &xml[..a], &xml[b + "</CreateTime>".len()..])
        }
        _ => xml.to_owned(),
    }
}

#[tokio::test]
async fn a_push_and_its_retries_run_once_whichever_instances_they_reach() {
    let hook = Hook::start("hook says hi", 1, Duration::from_millis(800)).await;
    let c = Cluster::start(
        3,
        &[
            ("webhook_url", &hook.url),
            ("webhook_secret", "cluster-webhook-secret"),
        ],
    )
    .await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let body = text_push(openid, 7001, "你好");
    let query = signed_query(wxgate::clock::now(), "n7001");
    // The first copy on instance 0; a retry on instance 1 while 0 still waits for the webhook;
    // another on instance 2 after it finished.
    let first = push(c.url(0), &query, &body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        push(c.url(1), &query, &body).await
    };
    let (first, second) = tokio::join!(first, second);
    let third = push(c.url(2), &query, &body).await;
    for (status, reply) in [&first, &second, &third] {
        assert_eq!(*status, StatusCode::OK);
        assert!(reply.contains("hook says hi"), "{reply}\n{}", c.logs());
    }
    // The same reply; its XML is written per copy, so CreateTime is when that copy was answered.
    assert_eq!(
        without_create_time(&first.1),
        without_create_time(&second.1),
        "every copy gets the same reply"
    );
    assert_eq!(without_create_time(&first.1), without_create_time(&third.1));
    assert_eq!(hook.count(), 1, "the webhook ran once");
    // Everything kept in Redis expires.
    for key in redis_keys(&c.redis_url, &c.prefix) {
        let client = redis::Client::open(c.redis_url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
        assert!(ttl > 0, "{key} has no expiry");
    }
}

#[tokio::test]
async fn a_late_reply_goes_out_once_whichever_instance_finishes_it() {
    let hook = Hook::start("late but here", 1, Duration::from_millis(1800)).await;
    let c = Cluster::start(
        3,
        &[
            ("webhook_url", &hook.url),
            ("webhook_secret", "cluster-webhook-secret"),
            ("reply_deadline_ms", "600"),
        ],
    )
    .await;
    let openid = &wxsim::default_users()[PANDA].openid;
    // The user wrote recently (the 48-hour window of customer-service messages).
    c.sim.sim.record_interaction(openid);
    let body = text_push(openid, 7002, "慢一点");
    let query = signed_query(wxgate::clock::now(), "n7002");
    let copies = [(0, 0), (1, 300), (2, 900), (0, 2500)];
    let mut answers = Vec::new();
    for (instance, at) in copies {
        let url = c.url(instance).to_owned();
        let (query, body) = (query.clone(), body.clone());
        answers.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(at)).await;
            push(&url, &query, &body).await
        }));
    }
    for a in answers {
        let (status, reply) = a.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            reply, "success",
            "past the deadline every copy gets success"
        );
    }
    let sent = c.sim.sim.custom_messages();
    assert_eq!(sent.len(), 1, "one customer-service message: {sent:?}");
    assert_eq!(hook.count(), 1);
}

#[tokio::test]
async fn a_signature_bound_on_one_instance_is_refused_with_another_body_on_another() {
    let rules = rules_file(ECHO_RULE);
    let c = Cluster::start(2, &[("config", &rules)]).await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let query = signed_query(wxgate::clock::now(), "n7003");
    let (status, reply) = push(c.url(0), &query, &text_push(openid, 7003, "原文")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply.contains("rule: 原文"), "{reply}");
    let (status, reply) = push(c.url(1), &query, &text_push(openid, 7004, "伪造")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
}

/// `n` instances × `m` concurrent JS-SDK configs (each needs the access_token and the
/// jsapi_ticket).
async fn jssdk_wave(c: &Cluster, m: usize) {
    let http = reqwest::Client::new();
    let mut calls = Vec::new();
    for i in &c.instances {
        for _ in 0..m {
            let url = format!("{}/jssdk/config?url={PUBLIC_URL}/index/", i.url);
            let http = http.clone();
            calls.push(tokio::spawn(async move {
                let r = http.get(url).send().await.unwrap();
                (r.status(), r.text().await.unwrap())
            }));
        }
    }
    for call in calls {
        let (status, body) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn instances_fetch_the_token_once_however_many_ask_at_expiry() {
    for (api, path) in [
        ("stable", "/cgi-bin/stable_token"),
        ("classic", "/cgi-bin/token"),
    ] {
        let mut c = Cluster::start(3, &[("token_api", api)]).await;
        // Tokens and tickets of 8 s: due for a refresh after 4 s (half their life).
        c.sim.sim.set_lifetimes(8, 8);
        jssdk_wave(&c, 20).await;
        assert_eq!(c.sim.sim.calls(path), 1, "{api}: 3 × 20 callers, one fetch");
        assert_eq!(c.sim.sim.calls("/cgi-bin/ticket/getticket"), 1, "{api}");
        // At expiry: every instance's background refresh and 3 × 20 callers at once.
        tokio::time::sleep(Duration::from_millis(4300)).await;
        jssdk_wave(&c, 20).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            c.sim.sim.calls(path),
            2,
            "{api}: one refetch for all\n{}",
            c.logs()
        );
        assert_eq!(c.sim.sim.calls("/cgi-bin/ticket/getticket"), 2, "{api}");
        // A restart, or a new instance, reads the shared store: no fetch.
        c.sim.sim.set_lifetimes(7200, 7200);
        tokio::time::sleep(Duration::from_millis(4500)).await;
        jssdk_wave(&c, 1).await;
        let fetched = c.sim.sim.calls(path);
        c.restart_all().await;
        jssdk_wave(&c, 5).await;
        assert_eq!(
            c.sim.sim.calls(path),
            fetched,
            "{api}: a restart spends no fetch"
        );
    }
}

#[tokio::test]
async fn a_token_revoked_on_the_platform_is_replaced_once_for_every_instance() {
    let c = Cluster::start(3, &[("admin_token", ADMIN)]).await;
    let http = reqwest::Client::new();
    let menu_get_everywhere = || async {
        let mut calls = Vec::new();
        for i in &c.instances {
            for _ in 0..10 {
                let call = http
                    .get(format!("{}/admin/menu", i.url))
                    .bearer_auth(ADMIN)
                    .send();
                calls.push(tokio::spawn(call));
            }
        }
        for call in calls {
            let r = call.await.unwrap().unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        }
    };
    menu_get_everywhere().await;
    assert_eq!(c.sim.sim.calls("/cgi-bin/stable_token"), 1);
    // Another program forces a refresh: the token every instance holds stops working.
    let forced: Value = http
        .post(format!("{}/cgi-bin/stable_token", c.sim.url))
        .json(&serde_json::json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(forced["access_token"].is_string(), "{forced}");
    menu_get_everywhere().await;
    assert_eq!(
        c.sim.sim.calls("/cgi-bin/stable_token"),
        3,
        "the forced call, then one replacement for 3 instances × 10 callers\n{}",
        c.logs()
    );
}

/// The gateway on several instances: other programs calling through any instance share the
/// one token, a revocation costs one fetch for all of them, and the central token is the same
/// everywhere.
#[tokio::test]
async fn the_gateway_shares_one_token_across_instances() {
    const CLIENT: &str = "cluster-gateway-client-0123456789";
    let clients = rules_file(
        "[[api_clients]]\nname = \"sdk\"\ntoken = \"cluster-gateway-client-0123456789\"\nreveal_token = true\n",
    );
    let c = Cluster::start(3, &[("config", &clients)]).await;
    let http = reqwest::Client::new();
    let everywhere = || async {
        let mut calls = Vec::new();
        for i in &c.instances {
            for _ in 0..10 {
                let call = http
                    .get(format!("{}/api/cgi-bin/menu/get", i.url))
                    .bearer_auth(CLIENT)
                    .send();
                calls.push(tokio::spawn(call));
            }
        }
        for call in calls {
            let v: Value = call.await.unwrap().unwrap().json().await.unwrap();
            assert_eq!(v["errcode"], 46003, "no menu yet, said by WeChat: {v}");
        }
    };
    everywhere().await;
    assert_eq!(c.sim.sim.calls("/cgi-bin/stable_token"), 1, "{}", c.logs());
    let mut tokens = Vec::new();
    for i in &c.instances {
        let v: Value = http
            .get(format!("{}/api/token", i.url))
            .bearer_auth(CLIENT)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(v["access_token"].as_str().unwrap().to_owned());
    }
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token: {tokens:?}"
    );
    http.post(format!("{}/cgi-bin/stable_token", c.sim.url))
        .json(&serde_json::json!({"grant_type": "client_credential", "appid": APPID, "secret": SECRET, "force_refresh": true}))
        .send()
        .await
        .unwrap();
    everywhere().await;
    assert_eq!(
        c.sim.sim.calls("/cgi-bin/stable_token"),
        3,
        "the forced call, then one replacement for 3 instances × 10 callers\n{}",
        c.logs()
    );
}

#[tokio::test]
async fn the_admin_api_and_the_cli_see_the_shared_state() {
    let c = Cluster::start(2, &[("admin_token", ADMIN)]).await;
    let b = Browser::new();
    login_via(&b, &c.instances[0], &c.instances[0], PANDA).await;
    let http = reqwest::Client::new();
    let users: Value = http
        .get(format!("{}/admin/users", c.url(1)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"][0]["nickname"], "🐼熊猫🎋", "{users}");
    // A token fetched by one instance is the CLI's too.
    jssdk_wave(&c, 1).await;
    let cli = |args: &'static [&'static str]| {
        let env = c.env.clone();
        async move {
            let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wxgate"));
            for (k, _) in std::env::vars() {
                if k.starts_with("WXGATE_") {
                    command.env_remove(k);
                }
            }
            let out = command.args(args).envs(env).output().await.unwrap();
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let status = cli(&["token", "status"]).await;
    assert!(status.contains("fetches from WeChat: 1"), "{status}");
    let listed = cli(&["users", "list"]).await;
    assert!(listed.contains("🐼熊猫🎋"), "{listed}");
    const MENU: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/menu.toml");
    let pushed = cli(&["menu", "push", MENU]).await;
    assert!(pushed.contains("menu published"), "{pushed}");
    let got: Value = http
        .get(format!("{}/admin/menu", c.url(1)))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["menu"]["button"][0]["name"], "sunck", "{got}");
    assert_eq!(
        c.sim.sim.calls("/cgi-bin/stable_token"),
        1,
        "the CLI reused the instances' token"
    );
}

#[tokio::test]
async fn with_redis_down_pushes_are_answered_logins_get_a_page_and_it_recovers_alone() {
    let mut redis = OwnRedis::start();
    let rules = rules_file(ECHO_RULE);
    let c = Cluster::start_on(2, &[("config", &rules)], &redis.url).await;
    let b = Browser::new();
    login_via(&b, &c.instances[0], &c.instances[1], ZHANG_SAN).await;
    assert_eq!(b.greeting(&c.instances[0]).await, "欢迎:张三");

    redis.down();
    let ready = reqwest::get(format!("{}/readyz", c.url(0))).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("Redis"));
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let (status, reply) = push(
        c.url(1),
        &signed_query(wxgate::clock::now(), "down1"),
        &text_push(openid, 8001, "还在吗"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply.contains("rule: 还在吗"), "{reply}");
    // A logged-in page needs its session: a 503 page with a way to try again.
    let p = b.get(&format!("{}/index/", c.url(0))).await;
    assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(p.body.contains("服务暂时不可用"), "{}", p.body);
    // Starting a login needs no store; finishing one cannot save the session: a page again.
    let other = Browser::new();
    let done = login_via(&other, &c.instances[1], &c.instances[0], PANDA).await;
    assert_eq!(
        done.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        done.body
    );
    assert!(done.body.contains("服务暂时不可用"), "{}", done.body);
    let logs = c.instances[1].logs();
    assert!(logs.contains("Redis is unreachable"), "one warning: {logs}");

    redis.up();
    // The session lived in the Redis that was restarted empty: the browser is a guest again,
    // and logging in works without restarting wxgate.
    let mut again = None;
    for _ in 0..50 {
        let p = b.get(&format!("{}/index/", c.url(0))).await;
        if p.status == StatusCode::OK {
            again = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "back without a restart");
    let ready = reqwest::get(format!("{}/readyz", c.url(0))).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let done = login_via(&b, &c.instances[1], &c.instances[0], PANDA).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_eq!(b.greeting(&c.instances[1]).await, "欢迎:🐼熊猫🎋");
}

#[tokio::test]
async fn with_postgres_down_pages_say_so_pushes_are_answered_and_it_recovers_alone() {
    let pg = OwnPostgres::start();
    let rules = rules_file(ECHO_RULE);
    let c = Cluster::start(2, &[("config", &rules), ("database_url", &pg.url)]).await;
    let b = Browser::new();
    login_via(&b, &c.instances[0], &c.instances[1], ZHANG_SAN).await;

    pg.down();
    let ready = reqwest::get(format!("{}/readyz", c.url(0))).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.text().await.unwrap().contains("database"));
    let p = b.get(&format!("{}/index/", c.url(1))).await;
    assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(p.body.contains("服务暂时不可用"), "{}", p.body);
    let other = Browser::new();
    let done = login_via(&other, &c.instances[0], &c.instances[1], PANDA).await;
    assert_eq!(
        done.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        done.body
    );
    assert!(done.body.contains("服务暂时不可用"));
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let (status, reply) = push(
        c.url(0),
        &signed_query(wxgate::clock::now(), "pgdown"),
        &text_push(openid, 8101, "数据库呢"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(reply.contains("rule: 数据库呢"), "{reply}");

    pg.up();
    let mut back = false;
    for _ in 0..50 {
        let p = b.get(&format!("{}/index/", c.url(1))).await;
        if p.status == StatusCode::OK {
            assert!(p.body.contains("张三"), "{}", p.body);
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "back without a restart\n{}", c.logs());
    let done = login_via(&other, &c.instances[0], &c.instances[1], PANDA).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
}

#[tokio::test]
async fn an_instance_killed_mid_push_holds_nothing_for_ever() {
    // The webhook holds the first delivery 5 s: the instance handling it is killed meanwhile.
    let hook = Hook::start("answered by the survivor", 1, Duration::from_secs(5)).await;
    let mut c = Cluster::start(
        2,
        &[
            ("webhook_url", &hook.url),
            ("webhook_secret", "cluster-webhook-secret"),
            ("reply_deadline_ms", "1000"),
        ],
    )
    .await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let body = text_push(openid, 7101, "在吗");
    let query = signed_query(wxgate::clock::now(), "n7101");
    let doomed = reqwest::Client::new()
        .post(format!("{}/weixin/?{query}", c.url(0)))
        .body(body.clone())
        .send();
    let doomed = tokio::spawn(doomed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.instances[0].kill().await;
    assert!(doomed.await.unwrap().is_err(), "the instance died mid-push");
    // WeChat retries; once the dead instance's lease (deadline + 1.25 s) has run out, the
    // survivor handles the push.
    let started = std::time::Instant::now();
    let mut replied = None;
    while started.elapsed() < Duration::from_secs(10) {
        let (status, reply) = push(c.url(1), &query, &body).await;
        assert_eq!(status, StatusCode::OK);
        if reply.contains("answered by the survivor") {
            replied = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        replied.is_some(),
        "the push was left in progress\n{}",
        c.logs()
    );
    assert_eq!(hook.count(), 2);
}

#[tokio::test]
async fn an_instance_killed_mid_login_holds_nothing_for_ever() {
    let mut c = Cluster::start(2, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&c.instances[0], "").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    c.sim
        .sim
        .inject(wxsim::Fault::delay("/sns/oauth2/access_token", 1, 800));
    let doomed = {
        let (b, url) = (b.clone(), via(&callback, c.url(0)));
        tokio::spawn(async move { b.get(&url).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.instances[0].kill().await;
    let _ = doomed.await;
    // The browser tries again on the other instance: it waits out the dead one's lease at most
    // (3 × the upstream timeout + 5 s), then completes.
    let started = std::time::Instant::now();
    let done = b.get(&via(&callback, c.url(1))).await;
    assert!(started.elapsed() < Duration::from_secs(12));
    assert_eq!(
        done.status,
        StatusCode::FOUND,
        "{}\n{}",
        done.body,
        c.logs()
    );
    assert_eq!(b.greeting(&c.instances[1]).await, "欢迎:张三");
}

#[tokio::test]
async fn postgres_without_redis_serves_one_instance_and_says_several_need_redis() {
    let sim = common::spawn_sim().await;
    let db = postgres_db();
    let env: Vec<(String, String)> = [
        ("WXGATE_APPID", APPID),
        ("WXGATE_SECRET", SECRET),
        ("WXGATE_API_BASE", sim.url.as_str()),
        ("WXGATE_OAUTH_BASE", sim.url.as_str()),
        ("WXGATE_DATABASE_URL", db.url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let instance = Instance::start(&env).await;
    let b = Browser::new();
    let done = login_via(&b, &instance, &instance, PANDA).await;
    assert_eq!(done.status, StatusCode::FOUND);
    let logs = instance.logs();
    assert_eq!(
        logs.matches("several instances need Redis").count(),
        1,
        "one clear warning:\n{logs}"
    );
}

#[tokio::test]
async fn a_push_is_remembered_as_long_as_its_timestamp_is_accepted() {
    // With an hour's window, a push replayed 310 s later must still be recognised: what
    // recognises it (the dedup entry and the signature binding) lives an hour.
    let rules = rules_file(ECHO_RULE);
    let c = Cluster::start(1, &[("config", &rules), ("timestamp_window_secs", "3600")]).await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let (status, _) = push(
        c.url(0),
        &signed_query(wxgate::clock::now(), "n7201"),
        &text_push(openid, 7201, "记住我"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let client = redis::Client::open(c.redis_url.as_str()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys = redis_keys(&c.redis_url, &c.prefix);
    for kind in ["flight:push:", "claim:sig:"] {
        let key = keys
            .iter()
            .find(|k| k.contains(kind))
            .unwrap_or_else(|| panic!("no {kind} key in {keys:?}"));
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).unwrap();
        assert!(ttl > 3_500_000, "{key} lives {ttl} ms");
    }
}
