//! Messages to a user against the simulator: template messages, subscription notices and
//! customer-service messages through `POST /admin/messages/*` and `wxgate send`, their local
//! checks, WeChat's refusals as clear reasons, and the send log (`GET /admin/messages`,
//! `wxgate send log`).

mod common;

use common::{APPID, SECRET, Sim, TestDb, spawn_app_on, spawn_sim, temp_db};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxsim::notify::{APPOINTMENT, ORDER_SHIPPED};

const ADMIN: &str = "admin-token-for-tests-0123456789";
const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

struct Admin {
    url: String,
    http: reqwest::Client,
}

impl Admin {
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap())
    }
}

async fn setup() -> (Sim, TestDb, common::TestApp, Admin) {
    let sim = spawn_sim().await;
    let db = temp_db();
    let app = spawn_app_on(&sim.url, &db, &[("admin_token", ADMIN)]).await;
    let admin = Admin {
        url: app.url.clone(),
        http: reqwest::Client::new(),
    };
    (sim, db, app, admin)
}

fn shipped(thing: &str) -> Value {
    json!({"openid": ZHANG, "template_id": ORDER_SHIPPED, "url": "https://shop.example.com/o/1001",
           "data": {"thing1": thing, "character_string2": "SO-1001", "time3": "2024-05-01 14:30"}})
}

#[tokio::test]
async fn a_template_message_is_sent_and_logged() {
    let (sim, _db, _app, admin) = setup().await;
    let (status, body) = admin
        .post("/admin/messages/template", shipped("绿茶礼盒"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ok"], true);
    let delivered = sim.sim.notifications();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].title, "订单发货通知");
    assert_eq!(delivered[0].touser, ZHANG);
    assert_eq!(body["msgid"], delivered[0].msgid.to_string());

    // WeChat's own shape of data works as well.
    let mut wrapped = shipped("x");
    wrapped["data"] = json!({"thing1": {"value": "红茶"}, "character_string2": {"value": "SO-1002"}, "time3": {"value": "15:01"}});
    let (status, _) = admin.post("/admin/messages/template", wrapped).await;
    assert_eq!(status, StatusCode::OK);

    let (status, log) = admin.get("/admin/messages").await;
    assert_eq!(status, StatusCode::OK);
    let messages = log["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["id"], body["id"], "most recent first");
    assert_eq!(messages[1]["kind"], "template");
    assert_eq!(messages[1]["template_id"], ORDER_SHIPPED);
    assert_eq!(messages[1]["outcome"], "sent");
    assert_eq!(messages[1]["caller"], "admin");
    assert_eq!(messages[1]["msgid"], body["msgid"]);
    let (status, templates) = admin.get("/admin/messages/templates").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(templates["template"][0]["template_id"], ORDER_SHIPPED);
    assert_eq!(
        templates["template"][0]["keywords"],
        json!(["thing1", "character_string2", "time3"])
    );
    assert_eq!(templates["subscribe"][0]["template_id"], APPOINTMENT);
    let (_, one) = admin.get("/admin/messages?limit=1").await;
    assert_eq!(one["messages"].as_array().unwrap().len(), 1);
    let (_, none) = admin.get("/admin/messages?openid=oSomeoneElse").await;
    assert!(none["messages"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn template_data_and_ids_are_checked_before_any_call() {
    let (sim, _db, _app, admin) = setup().await;
    // 21 characters for a thing, Chinese in a character_string, a missing keyword.
    let mut bad = shipped(&"茶".repeat(21));
    bad["data"]["character_string2"] = "单号1001".into();
    bad["data"].as_object_mut().unwrap().remove("time3");
    let (status, body) = admin.post("/admin/messages/template", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("47003"), "{body}");
    let problems: Vec<&str> = body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"data.thing1.value: 21 characters, the limit for thing is 20"),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("data.character_string2.value: Chinese"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("data.time3.value: missing"))
    );

    // A subscription template's id, or none of the account's: 40037, named locally.
    let mut wrong = shipped("绿茶");
    wrong["template_id"] = APPOINTMENT.into();
    let (status, body) = admin.post("/admin/messages/template", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("40037"), "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .contains(ORDER_SHIPPED)
    );

    assert_eq!(
        sim.sim.calls("/cgi-bin/message/template/send"),
        0,
        "nothing was sent"
    );
    // The list was fetched once, and once more for the unknown id.
    assert_eq!(
        sim.sim.calls("/cgi-bin/template/get_all_private_template"),
        2
    );
    let (_, log) = admin.get("/admin/messages").await;
    assert!(log["messages"].as_array().unwrap().is_empty(), "{log}");

    // A template added in the console meanwhile is found (the list is fetched again).
    let added: Value = reqwest::Client::new()
        .post(format!("{}/_sim/templates", sim.url))
        .body(json!({"kind": "template", "title": "退款通知", "content": "退款金额:{{amount1.DATA}}"}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body) = admin
        .post(
            "/admin/messages/template",
            json!({"openid": ZHANG, "template_id": added["template_id"], "data": {"amount1": "¥128.00"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bad requests: no openid, a URL that is not one, an unknown field.
    let (status, _) = admin
        .post(
            "/admin/messages/template",
            json!({"template_id": ORDER_SHIPPED, "data": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let mut bad_url = shipped("绿茶");
    bad_url["url"] = "javascript:alert(1)".into();
    let (status, body) = admin.post("/admin/messages/template", bad_url).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn wechats_refusals_are_explained_and_logged() {
    let (sim, _db, _app, admin) = setup().await;
    // The user unfollowed: 43004.
    reqwest::Client::new()
        .post(format!("{}/_sim/interactions", sim.url))
        .body(json!({"openid": ZHANG, "unfollowed": true}).to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = admin
        .post("/admin/messages/template", shipped("绿茶"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errcode"], 43004);
    assert!(
        body["error"].as_str().unwrap().contains("does not follow"),
        "{body}"
    );
    let (_, log) = admin.get("/admin/messages").await;
    assert_eq!(log["messages"][0]["outcome"], "refused");
    assert_eq!(log["messages"][0]["errcode"], 43004);
    assert_eq!(log["messages"][0]["id"], body["id"]);

    // A value the simulator refuses though it passes the local checks: 47003 names the key.
    sim.sim.inject({
        let mut f = wxsim::Fault::new("/cgi-bin/message/template/send");
        f.errcode = Some(47003);
        f
    });
    let (status, body) = admin
        .post("/admin/messages/template", shipped("绿茶"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errcode"], 47003);
    assert!(
        body["error"].as_str().unwrap().contains("template's rules"),
        "{body}"
    );
}

#[tokio::test]
async fn a_subscription_notice_needs_the_users_acceptance() {
    let (sim, _db, _app, admin) = setup().await;
    let notice = json!({"openid": ZHANG, "template_id": APPOINTMENT, "page": "https://clinic.example.com/a/1",
        "data": {"thing1": "体检", "time2": "2024-05-02 09:00", "phrase3": "已预约"}});
    let (status, body) = admin
        .post("/admin/messages/subscribe", notice.clone())
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errcode"], 43101);
    assert!(
        body["error"].as_str().unwrap().contains("has not accepted"),
        "{body}"
    );

    sim.sim.accept_subscription(ZHANG, APPOINTMENT).unwrap();
    let (status, body) = admin
        .post("/admin/messages/subscribe", notice.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let delivered = sim.sim.notifications();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].kind, "subscribe");
    assert_eq!(
        delivered[0].link.as_deref(),
        Some("https://clinic.example.com/a/1")
    );

    // phrase is Chinese only: refused locally, the grant is not used.
    let mut bad = notice.clone();
    bad["data"]["phrase3"] = "booked".into();
    let (status, body) = admin.post("/admin/messages/subscribe", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("data.phrase3.value")
    );
    // A template-message id is not a subscription template.
    let mut wrong = notice;
    wrong["template_id"] = ORDER_SHIPPED.into();
    let (status, _) = admin.post("/admin/messages/subscribe", wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn custom_messages_of_every_kind_and_the_48_hour_window() {
    let (sim, _db, _app, admin) = setup().await;
    sim.sim.record_interaction(ZHANG);
    for message in [
        json!({"type": "text", "content": "结果来了 <a href=\"https://example.com\">看看</a>"}),
        json!({"type": "image", "media_id": "MEDIA_1"}),
        json!({"type": "news", "articles": [{"title": "周报", "url": "https://example.com/w", "description": "d", "pic_url": ""}]}),
        json!({"type": "msgmenu", "head_content": "请为本次服务打分", "list": [{"id": "101", "content": "满意"}, {"id": "102", "content": "不满意"}]}),
        json!({"type": "miniprogrampage", "title": "小程序", "appid": "wx0123456789abcdef", "pagepath": "pages/index", "thumb_media_id": "T1"}),
    ] {
        let (status, body) = admin
            .post(
                "/admin/messages/custom",
                json!({"openid": ZHANG, "message": message}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{message}: {body}");
    }
    let kinds: Vec<String> = sim
        .sim
        .custom_messages()
        .iter()
        .map(|m| m.msgtype.clone())
        .collect();
    assert_eq!(
        kinds,
        ["text", "image", "news", "msgmenu", "miniprogrampage"]
    );

    // The sixth since the user last wrote: 45047.
    let text = json!({"openid": ZHANG, "message": {"type": "text", "content": "再来一条"}});
    let (status, body) = admin.post("/admin/messages/custom", text.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errcode"], 45047);
    assert!(
        body["error"].as_str().unwrap().contains("too many"),
        "{body}"
    );

    // Their last message two days ago: 45015.
    reqwest::Client::new()
        .post(format!("{}/_sim/interactions", sim.url))
        .body(json!({"openid": ZHANG, "secs_ago": 48 * 3600 + 60}).to_string())
        .send()
        .await
        .unwrap();
    let (status, body) = admin.post("/admin/messages/custom", text).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errcode"], 45015);
    assert!(
        body["error"].as_str().unwrap().contains("48-hour window"),
        "{body}"
    );

    // Not a message: 400 before any call.
    let calls = sim.sim.calls("/cgi-bin/message/custom/send");
    for bad in [
        json!({"openid": ZHANG, "message": {"type": "transfer_customer_service"}}),
        json!({"openid": ZHANG, "message": {"type": "text", "content": " "}}),
        json!({"openid": ZHANG, "message": {"type": "sticker"}}),
        json!({"openid": "not an openid!", "message": {"type": "text", "content": "x"}}),
    ] {
        let (status, body) = admin.post("/admin/messages/custom", bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    assert_eq!(sim.sim.calls("/cgi-bin/message/custom/send"), calls);
}

#[tokio::test]
async fn a_send_without_an_answer_is_unknown_and_never_repeated() {
    let (sim, _db, _app, admin) = setup().await;
    // The test app's upstream timeout is 1 s.
    sim.sim
        .inject(wxsim::Fault::delay("/cgi-bin/message/custom/send", 1, 1500));
    let (status, body) = admin
        .post(
            "/admin/messages/custom",
            json!({"openid": ZHANG, "message": {"type": "text", "content": "慢"}}),
        )
        .await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["outcome"], "unknown");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may or may not have been delivered")
    );
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(
        sim.sim.calls("/cgi-bin/message/custom/send"),
        1,
        "not retried"
    );
    let (_, log) = admin.get("/admin/messages").await;
    assert_eq!(log["messages"][0]["outcome"], "unknown");

    // A replaced token (40001) is retried once, and the message goes out once.
    sim.sim.inject({
        let mut f = wxsim::Fault::new("/cgi-bin/message/custom/send");
        f.errcode = Some(40001);
        f
    });
    let (status, body) = admin
        .post(
            "/admin/messages/custom",
            json!({"openid": ZHANG, "message": {"type": "text", "content": "重试"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(sim.sim.calls("/cgi-bin/message/custom/send"), 3);
    let (_, log) = admin.get("/admin/messages").await;
    assert_eq!(
        log["messages"].as_array().unwrap().len(),
        2,
        "one send, one row"
    );
}

/// Runs the binary against the simulator; returns (success, stdout, stderr).
async fn wxgate(sim: &Sim, db: &TestDb, args: &[&str]) -> (bool, String, String) {
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
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_send_commands() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let (ok, out, err) = wxgate(
        &sim,
        &db,
        &[
            "send",
            "template",
            ZHANG,
            ORDER_SHIPPED,
            "thing1=绿茶礼盒",
            "character_string2=SO-1001",
            "time3=2024-05-01 14:30",
            "--url",
            "https://shop.example.com/o/1001",
        ],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("sent (msgid "), "{out}");
    assert_eq!(sim.sim.notifications().len(), 1);

    let (ok, _, err) = wxgate(
        &sim,
        &db,
        &[
            "send",
            "template",
            ZHANG,
            ORDER_SHIPPED,
            "thing1=绿茶",
            "character_string2=单号",
            "time3=15:01",
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("data.character_string2.value: Chinese"),
        "{err}"
    );

    let (ok, _, err) = wxgate(
        &sim,
        &db,
        &[
            "send",
            "subscribe",
            ZHANG,
            APPOINTMENT,
            "thing1=体检",
            "time2=09:00",
            "phrase3=已预约",
        ],
    )
    .await;
    assert!(!ok);
    assert!(
        err.contains("has not accepted this notification") && err.contains("(errcode 43101)"),
        "{err}"
    );

    let (ok, out, err) = wxgate(
        &sim,
        &db,
        &["send", "custom", ZHANG, "text", "你好，", "结果来了"],
    )
    .await;
    assert!(ok, "{out}{err}");
    assert_eq!(
        sim.sim.custom_messages()[0].body["text"]["content"],
        "你好， 结果来了"
    );
    let (ok, _, _) = wxgate(
        &sim,
        &db,
        &[
            "send",
            "custom",
            ZHANG,
            "news",
            "周报",
            "https://example.com/w",
        ],
    )
    .await;
    assert!(ok);

    let (ok, out, err) = wxgate(&sim, &db, &["send", "templates"]).await;
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "{ORDER_SHIPPED}  订单发货通知  thing1 character_string2 time3"
        )),
        "{out}"
    );
    assert!(out.contains("subscribe templates (2):"), "{out}");

    let (ok, out, err) = wxgate(&sim, &db, &["send", "log"]).await;
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].contains("custom news") && lines[0].contains("sent"),
        "{out}"
    );
    assert!(
        lines[2].contains(&format!("subscribe {APPOINTMENT}"))
            && lines[2].contains("refused 43101"),
        "{out}"
    );
    assert!(
        lines[3].contains(&format!("template {ORDER_SHIPPED}")) && lines[3].contains("via cli"),
        "{out}"
    );
}

/// README's pattern: the webhook receiver answers `{}` at once and sends its slow answer later
/// through `POST /admin/messages/custom` (examples/webhook_receiver.py does it for "slow…").
#[tokio::test]
async fn the_example_receiver_answers_slow_work_later_through_the_admin_api() {
    use std::io::{BufRead, BufReader};
    const HOOK_SECRET: &str = "webhook-secret-for-tests";
    const TOKEN: &str = "wxgatetesttoken";
    let sim = spawn_sim().await;
    // The receiver needs wxgate's address before wxgate starts: a free port, taken at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/webhook_receiver.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg("127.0.0.1:0")
        .env("WXGATE_WEBHOOK_SECRET", HOOK_SECRET)
        .env("WXGATE_ADMIN_TOKEN", ADMIN)
        .env("ADMIN_URL", format!("http://127.0.0.1:{port}"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the example receiver");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let hook = line
        .trim()
        .strip_prefix("listening on ")
        .expect(&line)
        .to_owned();
    let db = temp_db();
    let listen = format!("127.0.0.1:{port}");
    let app = spawn_app_on(
        &sim.url,
        &db,
        &[
            ("listen", &listen),
            ("admin_token", ADMIN),
            ("token", TOKEN),
            ("webhook_url", &hook),
            ("webhook_secret", HOOK_SECRET),
        ],
    )
    .await;
    let target = wxsim::PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID);
    let report = sim
        .sim
        .push(
            Some(ZHANG),
            wxsim::Outgoing::Text {
                content: "slow report".into(),
            },
            Some(target),
        )
        .await
        .unwrap()
        .report;
    assert!(report.problems.is_empty(), "{report:#?}");
    // Read off the runtime: the server answering the receiver runs on this test's runtime.
    let said = tokio::task::spawn_blocking(move || {
        let mut said = String::new();
        out.read_line(&mut said).ok();
        said
    });
    let said = tokio::time::timeout(std::time::Duration::from_secs(15), said).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let said = said
        .expect("the receiver says what it sent within 15 s")
        .unwrap();
    let sent = sim.sim.custom_messages();
    assert_eq!(sent.len(), 1, "{said}");
    assert_eq!(
        sent[0].body["text"]["content"],
        "slow answer to slow report"
    );
    assert!(said.starts_with("sent later:"), "{said}");
    let admin = Admin {
        url: app.url.clone(),
        http: reqwest::Client::new(),
    };
    let (_, log) = admin.get("/admin/messages").await;
    assert_eq!(log["messages"][0]["kind"], "custom");
    assert_eq!(log["messages"][0]["caller"], "admin");
}

/// An account WeChat will not give its template list: the value types are still checked, and
/// the list is asked for once per 10 minutes, not once per send.
#[tokio::test]
async fn without_the_template_list_only_value_types_are_checked() {
    let (sim, _db, _app, admin) = setup().await;
    const LIST: &str = "/cgi-bin/template/get_all_private_template";
    sim.sim.inject({
        let mut f = wxsim::Fault::new(LIST);
        f.errcode = Some(48001);
        f
    });
    let (status, body) = admin
        .post("/admin/messages/template", shipped("绿茶礼盒"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut bad = shipped(&"茶".repeat(21));
    bad["data"]["thing9"] = "extra".into();
    let (status, body) = admin.post("/admin/messages/template", bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["problems"].as_array().unwrap().len(),
        1,
        "only the type is checked without the keywords: {body}"
    );
    assert_eq!(sim.sim.calls(LIST), 1);
}
