//! WeChat's message push against a tiny account server on 127.0.0.1:0 that plays the developer's
//! side: it checks signatures with `wechat::signature`, decrypts with `wechat::crypto`, records
//! what arrived, and answers whatever each test wants (a good reply, garbage, or nothing in time).

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use wechat::crypto::{EncodingAesKey, MessageCrypt};
use wechat::message::{Fields, parse_xml_fields};
use wechat::signature::{sign, verify};
use wxsim::push::{self, Outgoing, PushMode, PushTarget};
use wxsim::{SimConfig, default_users};

const TOKEN: &str = "pamtest";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
const GH: &str = "gh_wxgate_demo";

/// What one delivery looked like on the account's side.
#[derive(Clone, Debug)]
struct Got {
    query: HashMap<String, String>,
    content_type: String,
    body: String,
    /// The body's fields (safe mode: only ToUserName and Encrypt).
    outer: Fields,
    /// The decrypted message in compatible/safe mode, else the body.
    plain: String,
    fields: Fields,
    signature_ok: bool,
    msg_signature_ok: Option<bool>,
}

impl Got {
    fn text(&self, name: &str) -> String {
        self.fields.text(name).unwrap_or_default().to_string()
    }
}

struct Answer {
    delay_ms: u64,
    status: u16,
    body: String,
}

fn answer(body: impl Into<String>) -> Answer {
    Answer {
        delay_ms: 0,
        status: 200,
        body: body.into(),
    }
}

/// The account's secrets, for building replies.
#[derive(Clone)]
struct Ctx {
    token: String,
    crypt: MessageCrypt,
}

impl Ctx {
    /// An encrypted reply envelope for `xml`, signed correctly.
    fn seal(&self, xml: &str) -> String {
        let encrypt = self.crypt.encrypt(xml);
        let ts = now().to_string();
        let sig = sign(&[&self.token, &ts, "98765", &encrypt]);
        seal_with(&encrypt, &sig, &ts, "98765")
    }
}

fn seal_with(encrypt: &str, sig: &str, ts: &str, nonce: &str) -> String {
    format!(
        "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt><MsgSignature><![CDATA[{sig}]]></MsgSignature>\
         <TimeStamp>{ts}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
    )
}

type Behaviour = Arc<dyn Fn(&Got, usize, &Ctx) -> Answer + Send + Sync>;

#[derive(Clone)]
struct Account {
    ctx: Ctx,
    got: Arc<Mutex<Vec<Got>>>,
    behaviour: Behaviour,
}

struct Server {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Server {
    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    fn target(&self, mode: PushMode) -> PushTarget {
        let aes = (mode != PushMode::Plain).then(|| AES_KEY.to_string());
        PushTarget::new(&self.url, TOKEN, APPID).with_mode(mode, aes)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn crypt() -> MessageCrypt {
    MessageCrypt::with_receive_id(EncodingAesKey::parse(AES_KEY).unwrap(), APPID)
}

async fn verify_get(
    State(acc): State<Account>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let p = |k: &str| q.get(k).cloned().unwrap_or_default();
    if verify(
        &p("signature"),
        &[&acc.ctx.token, &p("timestamp"), &p("nonce")],
    ) {
        p("echostr").into_response()
    } else {
        (StatusCode::FORBIDDEN, "bad signature").into_response()
    }
}

async fn receive(
    State(acc): State<Account>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8(body.to_vec()).unwrap();
    let p = |k: &str| query.get(k).cloned().unwrap_or_default();
    let token = &acc.ctx.token;
    let signature_ok = verify(&p("signature"), &[token, &p("timestamp"), &p("nonce")]);
    let outer = parse_xml_fields(&body).expect("the push is XML");
    let (plain, msg_signature_ok) = if p("encrypt_type") == "aes" {
        let encrypt = outer.text("Encrypt").expect("<Encrypt>").to_string();
        let ok = verify(
            &p("msg_signature"),
            &[token, &p("timestamp"), &p("nonce"), &encrypt],
        );
        (acc.ctx.crypt.decrypt(&encrypt).expect("decrypts"), Some(ok))
    } else {
        (body.clone(), None)
    };
    let got = Got {
        query: query.clone(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        fields: parse_xml_fields(&plain).expect("the message is XML"),
        outer,
        body,
        plain,
        signature_ok,
        msg_signature_ok,
    };
    let index = {
        let mut all = acc.got.lock().unwrap();
        all.push(got.clone());
        all.len() - 1
    };
    let a = (acc.behaviour)(&got, index, &acc.ctx);
    if a.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(a.delay_ms)).await;
    }
    (
        StatusCode::from_u16(a.status).unwrap(),
        [("content-type", "text/xml")],
        a.body,
    )
        .into_response()
}

async fn account_with_token(
    token: &str,
    behaviour: impl Fn(&Got, usize, &Ctx) -> Answer + Send + Sync + 'static,
) -> Server {
    let got = Arc::new(Mutex::new(Vec::new()));
    let acc = Account {
        ctx: Ctx {
            token: token.to_string(),
            crypt: crypt(),
        },
        got: got.clone(),
        behaviour: Arc::new(behaviour),
    };
    let app = Router::new()
        .route("/weixin/", get(verify_get).post(receive))
        .with_state(acc);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/weixin/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server { url, got }
}

async fn account(
    behaviour: impl Fn(&Got, usize, &Ctx) -> Answer + Send + Sync + 'static,
) -> Server {
    account_with_token(TOKEN, behaviour).await
}

/// A passive text reply to `got`, swapping To and From as the docs say.
fn text_reply(got: &Got, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content></xml>",
        got.text("FromUserName"),
        got.text("ToUserName"),
        now()
    )
}

/// A reply with the right envelope and `inner` after it.
fn reply_with(got: &Got, msg_type: &str, inner: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[{}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{inner}</xml>",
        got.text("FromUserName"),
        got.text("ToUserName"),
        now()
    )
}

/// Echo server: plain reply in plain mode, encrypted reply when the push was encrypted.
async fn echo_account() -> Server {
    account(|got, _, ctx| {
        let reply = text_reply(got, &format!("你说：{}", got.text("Content")));
        if got.msg_signature_ok.is_some() {
            answer(ctx.seal(&reply))
        } else {
            answer(reply)
        }
    })
    .await
}

fn text(s: &str) -> Outgoing {
    Outgoing::Text {
        content: s.to_string(),
    }
}

fn assert_problem(report: &push::PushReport, needle: &str) {
    assert!(
        report.problems.iter().any(|p| p.contains(needle)),
        "expected a problem containing {needle:?}, got {:#?}\n{report}",
        report.problems
    );
}

fn assert_ok(report: &push::PushReport) {
    assert!(report.problems.is_empty(), "{report}");
}

// ---------------------------------------------------------------------------------------------
// URL verification

#[tokio::test]
async fn verify_url_passes_when_echostr_comes_back() {
    let server = account(|_, _, _| answer("")).await;
    let report = push::verify_url(&server.target(PushMode::Plain)).await;
    assert!(report.ok, "{report}");
    assert_eq!(report.status, Some(200));
    assert_eq!(report.body, report.echostr);
    assert!(report.echostr.bytes().all(|b| b.is_ascii_digit()));
    for k in ["signature=", "timestamp=", "nonce=", "echostr="] {
        assert!(report.url.contains(k), "{}", report.url);
    }
    assert!(report.to_string().contains("OK"), "{report}");
}

#[tokio::test]
async fn verify_url_with_the_wrong_token_is_flagged() {
    let server = account_with_token("anothertoken", |_, _, _| answer("")).await;
    let report = push::verify_url(&server.target(PushMode::Plain)).await;
    assert!(!report.ok);
    assert_eq!(report.status, Some(403));
    assert!(!report.problems.is_empty());
    assert!(report.to_string().contains("FAILED"), "{report}");
}

#[tokio::test]
async fn verify_url_flags_a_quoted_or_padded_echostr_and_no_server() {
    // A server that answers `"echostr"\n` (JSON-encoded).
    let app =
        Router::new().route(
            "/weixin/",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                format!("\"{}\"\n", q["echostr"])
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/weixin/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let report = push::verify_url(&PushTarget::new(&url, TOKEN, APPID)).await;
    assert!(!report.ok);
    assert!(report.problems[0].contains("verbatim"), "{report}");

    let report = push::verify_url(&PushTarget::new(closed_url().await, TOKEN, APPID)).await;
    assert!(!report.ok);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .starts_with("connection failed")
    );
}

// ---------------------------------------------------------------------------------------------
// Pushes in the three modes

#[tokio::test]
async fn text_push_in_plain_mode() {
    let server = echo_account().await;
    let report = push::push(&server.target(PushMode::Plain), OPENID, &text("你好 <b>&")).await;
    assert_ok(&report);
    let got = server.got();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    let mut keys: Vec<&str> = g.query.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["nonce", "openid", "signature", "timestamp"]);
    assert!(g.signature_ok);
    assert_eq!(g.query["openid"], OPENID);
    assert!(g.content_type.starts_with("text/xml"), "{}", g.content_type);
    assert_eq!(g.body, g.plain);
    // WeChat's shapes: strings in CDATA, numbers bare, seconds.
    assert!(
        g.body
            .starts_with("<xml><ToUserName><![CDATA[gh_wxgate_demo]]></ToUserName>")
    );
    assert!(g.body.contains(&format!(
        "<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
    )));
    assert!(g.body.contains("<MsgType><![CDATA[text]]></MsgType>"));
    assert!(g.body.contains("<Content><![CDATA[你好 <b>&]]></Content>"));
    let create: u64 = g.text("CreateTime").parse().unwrap();
    assert!(create.abs_diff(now()) < 5);
    assert_eq!(g.query["timestamp"], create.to_string());
    assert!(
        g.body
            .contains(&format!("<CreateTime>{create}</CreateTime>"))
    );
    let msg_id: u64 = g.text("MsgId").parse().unwrap();
    assert!(msg_id > 0 && msg_id <= i64::MAX as u64);
    assert!(g.body.contains(&format!("<MsgId>{msg_id}</MsgId>")));
    assert_eq!(report.request.msg_id, Some(msg_id));
    assert!(g.query["nonce"].bytes().all(|b| b.is_ascii_digit()));

    let reply = report.reply.as_ref().expect("a reply");
    assert_eq!(reply.msg_type, "text");
    assert!(!reply.encrypted);
    assert_eq!(reply.fields["Content"], "你说：你好 <b>&");
    assert_eq!(report.deliveries.len(), 1);
    assert_eq!(report.deliveries[0].status, Some(200));
    let shown = report.to_string();
    assert!(shown.contains("OK"), "{shown}");
    assert!(shown.contains("你说"), "{shown}");
    // The report is JSON.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["reply"]["fields"]["Content"], "你说：你好 <b>&");
    assert_eq!(json["request"]["mode"], "plain");
}

#[tokio::test]
async fn text_push_in_compatible_mode() {
    let server = echo_account().await;
    let report = push::push(&server.target(PushMode::Compatible), OPENID, &text("hi")).await;
    assert_ok(&report);
    let g = &server.got()[0];
    assert!(g.signature_ok);
    assert_eq!(g.msg_signature_ok, Some(true));
    assert_eq!(g.query["encrypt_type"], "aes");
    assert_eq!(g.query.len(), 6);
    // Plaintext elements and <Encrypt> side by side.
    assert_eq!(g.outer.text("Content"), Some("hi"));
    assert_eq!(g.outer.text("FromUserName"), Some(OPENID));
    assert!(g.outer.text("Encrypt").is_some());
    assert_eq!(g.outer.text("MsgId"), g.fields.text("MsgId"));
    assert_eq!(g.fields.text("Content"), Some("hi"));
    assert!(g.fields.get("Encrypt").is_none());
    let reply = report.reply.as_ref().unwrap();
    assert!(reply.encrypted);
    assert_eq!(reply.fields["Content"], "你说：hi");
    assert!(reply.xml.starts_with("<xml><ToUserName>"));
}

#[tokio::test]
async fn compatible_mode_accepts_a_plaintext_reply() {
    let server = account(|got, _, _| answer(text_reply(got, "plain"))).await;
    let report = push::push(&server.target(PushMode::Compatible), OPENID, &text("hi")).await;
    assert_ok(&report);
    assert!(!report.reply.unwrap().encrypted);
}

#[tokio::test]
async fn text_push_in_safe_mode() {
    let server = echo_account().await;
    let report = push::push(&server.target(PushMode::Safe), OPENID, &text("安全")).await;
    assert_ok(&report);
    let g = &server.got()[0];
    assert!(g.signature_ok);
    assert_eq!(g.msg_signature_ok, Some(true));
    assert_eq!(g.query["encrypt_type"], "aes");
    assert_eq!(g.query["openid"], OPENID);
    // Only ToUserName and Encrypt travel in the clear.
    let names: Vec<&str> = g.outer.iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["ToUserName", "Encrypt"]);
    assert_eq!(g.outer.text("ToUserName"), Some(GH));
    assert_eq!(g.fields.text("Content"), Some("安全"));
    assert_eq!(g.fields.text("FromUserName"), Some(OPENID));
    assert_eq!(report.request.xml, g.plain);
    assert_eq!(report.reply.unwrap().fields["Content"], "你说：安全");
}

#[tokio::test]
async fn safe_mode_without_a_key_is_reported_not_sent() {
    let server = echo_account().await;
    let target = server
        .target(PushMode::Plain)
        .with_mode(PushMode::Safe, None);
    let report = push::push(&target, OPENID, &text("x")).await;
    assert_problem(&report, "EncodingAESKey");
    assert!(report.deliveries.is_empty());
    assert!(server.got().is_empty());
    let mut target = server.target(PushMode::Safe);
    target.appid = String::new();
    let report = push::push(&target, OPENID, &text("x")).await;
    assert_problem(&report, "AppID");
    assert!(server.got().is_empty());
}

#[tokio::test]
async fn events_and_other_messages_have_wechat_shapes() {
    let server = account(|_, _, _| answer("success")).await;
    let target = server.target(PushMode::Plain);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"type": "subscribe"}), "subscribe"),
        (json!({"type": "subscribe", "scene": "123"}), "subscribe"),
        (json!({"type": "scan", "scene": "123"}), "SCAN"),
        (json!({"type": "unsubscribe"}), "unsubscribe"),
        (json!({"type": "click", "key": "V1001_TODAY"}), "CLICK"),
        (
            json!({"type": "view", "url": "http://example.com/"}),
            "VIEW",
        ),
        (
            json!({"type": "location_event", "latitude": 23.137466, "longitude": 113.352425, "precision": 119.385040}),
            "LOCATION",
        ),
        (
            json!({"type": "scancode_push", "key": "6", "result": "1"}),
            "scancode_push",
        ),
        (
            json!({"type": "template_send_job_finish", "msg_id": 200163836, "status": "success"}),
            "TEMPLATESENDJOBFINISH",
        ),
    ];
    for (i, (msg, event)) in cases.iter().enumerate() {
        let msg: Outgoing = serde_json::from_value(msg.clone()).unwrap();
        let report = push::push(&target, OPENID, &msg).await;
        assert_ok(&report);
        assert!(report.reply.is_none());
        let g = &server.got()[i];
        assert!(g.signature_ok);
        assert_eq!(g.text("MsgType"), "event");
        assert_eq!(g.text("Event"), *event);
        assert!(g.fields.get("MsgId").is_none(), "events carry no MsgId");
        assert_eq!(report.request.msg_id, None);
    }
    let got = server.got();
    assert!(got[0].fields.get("EventKey").is_none());
    assert_eq!(got[1].text("EventKey"), "qrscene_123");
    assert!(!got[1].text("Ticket").is_empty());
    assert_eq!(got[2].text("EventKey"), "123");
    assert_eq!(got[4].text("EventKey"), "V1001_TODAY");
    assert!(got[6].body.contains("<Latitude>23.137466</Latitude>"));
    let scan = got[7].fields.nested("ScanCodeInfo").unwrap();
    assert_eq!(scan.text("ScanType"), Some("qrcode"));
    assert_eq!(scan.text("ScanResult"), Some("1"));
    assert!(got[8].body.contains("<MsgID>200163836</MsgID>"));

    // Normal messages other than text.
    let image: Outgoing = serde_json::from_value(
        json!({"type": "image", "pic_url": "http://mmbiz.qpic.cn/x", "media_id": "m1"}),
    )
    .unwrap();
    push::push(&target, OPENID, &image).await;
    let loc: Outgoing = serde_json::from_value(
        json!({"type": "location", "x": 23.134521, "y": 113.358803, "scale": 20, "label": "广州"}),
    )
    .unwrap();
    push::push(&target, OPENID, &loc).await;
    let got = server.got();
    let n = got.len();
    assert_eq!(got[n - 2].text("PicUrl"), "http://mmbiz.qpic.cn/x");
    assert_eq!(got[n - 2].text("MediaId"), "m1");
    assert!(
        got[n - 1]
            .body
            .contains("<Location_X>23.134521</Location_X>")
    );
    assert!(got[n - 1].body.contains("<Scale>20</Scale>"));
    assert!(got[n - 1].fields.get("MsgId").is_some());
}

// ---------------------------------------------------------------------------------------------
// Delivery: timeout, retries, connection failures

#[tokio::test]
async fn slow_server_gets_the_same_message_three_times() {
    let server = account(|got, i, _| {
        let mut a = answer(text_reply(got, "finally"));
        if i < 2 {
            a.delay_ms = 600;
        }
        a
    })
    .await;
    let mut target = server.target(PushMode::Plain);
    target.timeout_ms = 200;
    let report = push::push(&target, OPENID, &text("retry me")).await;
    assert_ok(&report);
    assert_eq!(report.deliveries.len(), 3, "{report}");
    assert_eq!(report.deliveries[0].error.as_deref(), Some("timeout"));
    assert_eq!(report.deliveries[1].error.as_deref(), Some("timeout"));
    assert!(report.deliveries[0].elapsed_ms >= 190);
    assert_eq!(report.deliveries[2].status, Some(200));
    let got = server.got();
    assert_eq!(got.len(), 3);
    let id = got[0].text("MsgId");
    for g in &got {
        assert_eq!(g.text("MsgId"), id);
        assert_eq!(g.body, got[0].body, "the same body each time");
    }
    assert_eq!(report.reply.as_ref().unwrap().fields["Content"], "finally");
    assert!(report.notes.iter().any(|n| n.contains("3 times")));
}

#[tokio::test]
async fn a_server_that_never_answers_in_time_gets_retries_plus_one() {
    let server = account(|_, _, _| Answer {
        delay_ms: 800,
        status: 200,
        body: "success".into(),
    })
    .await;
    let mut target = server.target(PushMode::Plain);
    target.timeout_ms = 150;
    target.retries = 2;
    let report = push::push(&target, OPENID, &text("x")).await;
    assert_eq!(report.deliveries.len(), 3);
    assert!(report.deliveries.iter().all(|d| d.status.is_none()));
    assert_problem(&report, "no answer");
    assert_problem(&report, push::NO_SERVICE);
}

/// A URL on which nothing listens.
async fn closed_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/weixin/")
}

#[tokio::test]
async fn connection_failures_are_retried_and_reported() {
    let target = PushTarget::new(closed_url().await, TOKEN, APPID);
    let report = push::push(&target, OPENID, &text("x")).await;
    assert_eq!(report.deliveries.len(), 4);
    assert!(
        report.deliveries[0]
            .error
            .as_deref()
            .unwrap()
            .starts_with("connection failed")
    );
    assert_problem(&report, "no answer");
}

// ---------------------------------------------------------------------------------------------
// Judging the answer

async fn judged(
    mode: PushMode,
    msg: Outgoing,
    reply: impl Fn(&Got, &Ctx) -> Answer + Send + Sync + 'static,
) -> push::PushReport {
    let server = account(move |got, _, ctx| reply(got, ctx)).await;
    push::push(&server.target(mode), OPENID, &msg).await
}

#[tokio::test]
async fn success_and_empty_bodies_mean_no_reply() {
    for body in ["success", ""] {
        for mode in [PushMode::Plain, PushMode::Safe] {
            let report = judged(mode, text("x"), move |_, _| answer(body)).await;
            assert_ok(&report);
            assert!(report.reply.is_none());
            assert!(report.to_string().contains("reply: none"), "{report}");
        }
    }
}

#[tokio::test]
async fn http_500_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |_, _| Answer {
        delay_ms: 0,
        status: 500,
        body: "Internal Server Error".into(),
    })
    .await;
    assert_problem(&report, "HTTP 500");
    assert_eq!(
        report.deliveries.len(),
        1,
        "an answered delivery is not retried"
    );
}

#[tokio::test]
async fn wrong_to_user_name_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |got, _| {
        answer(text_reply(got, "hi").replace(OPENID, "oSomeoneElse"))
    })
    .await;
    assert_problem(&report, "ToUserName");
    assert!(report.reply.is_some(), "the reply is still decoded");
}

#[tokio::test]
async fn wrong_from_user_name_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |got, _| {
        answer(text_reply(got, "hi").replace(GH, "gh_other"))
    })
    .await;
    assert_problem(&report, "FromUserName");
}

#[tokio::test]
async fn millisecond_create_time_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |got, _| {
        let ms = now() * 1000 + 123;
        let good = text_reply(got, "hi");
        let start = good.find("<CreateTime>").unwrap();
        let end = good.find("</CreateTime>").unwrap();
        answer(format!(
            "{}<CreateTime>{ms}{}",
            &good[..start],
            &good[end..]
        ))
    })
    .await;
    assert_problem(&report, "milliseconds");
}

#[tokio::test]
async fn json_body_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |_, _| {
        answer(r#"{"msgtype":"text","text":{"content":"hi"}}"#)
    })
    .await;
    assert_problem(&report, "JSON");
    assert_problem(&report, "该公众号暂时无法提供服务");
}

#[tokio::test]
async fn garbage_body_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |_, _| answer("hello there")).await;
    assert_problem(&report, "neither");
    let report = judged(PushMode::Plain, text("x"), |_, _| {
        answer("<html><body>oops</body></html>")
    })
    .await;
    assert_problem(&report, "<html>");
}

#[tokio::test]
async fn plaintext_reply_in_safe_mode_is_a_problem() {
    let report = judged(PushMode::Safe, text("x"), |got, _| {
        answer(text_reply(got, "hi"))
    })
    .await;
    assert_problem(&report, "plaintext reply");
}

#[tokio::test]
async fn encrypted_reply_to_a_plain_push_is_a_problem() {
    let report = judged(PushMode::Plain, text("x"), |got, ctx| {
        answer(ctx.seal(&text_reply(got, "hi")))
    })
    .await;
    assert_problem(&report, "encrypted reply to a plaintext push");
}

#[tokio::test]
async fn bad_msg_signature_is_a_problem() {
    let report = judged(PushMode::Safe, text("x"), |got, ctx| {
        let encrypt = ctx.crypt.encrypt(&text_reply(got, "hi"));
        answer(seal_with(
            &encrypt,
            &"0".repeat(40),
            &now().to_string(),
            "1",
        ))
    })
    .await;
    assert_problem(&report, "MsgSignature");
    assert_eq!(report.problems.len(), 1, "{report}");
}

#[tokio::test]
async fn millisecond_timestamp_in_an_encrypted_reply_is_a_problem() {
    let report = judged(PushMode::Safe, text("x"), |got, ctx| {
        let encrypt = ctx.crypt.encrypt(&text_reply(got, "hi"));
        let ts = format!("{}000", now());
        let sig = sign(&[&ctx.token, &ts, "1", &encrypt]);
        answer(seal_with(&encrypt, &sig, &ts, "1"))
    })
    .await;
    assert_problem(&report, "TimeStamp");
}

#[tokio::test]
async fn missing_envelope_fields_are_problems() {
    let report = judged(PushMode::Safe, text("x"), |got, ctx| {
        let encrypt = ctx.crypt.encrypt(&text_reply(got, "hi"));
        answer(format!(
            "<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        ))
    })
    .await;
    assert_problem(&report, "<MsgSignature>");
    assert_problem(&report, "<TimeStamp>");
    assert_problem(&report, "<Nonce>");
}

#[tokio::test]
async fn wrong_appid_trailer_is_a_problem() {
    let report = judged(PushMode::Safe, text("x"), |got, ctx| {
        let other = MessageCrypt::with_receive_id(
            EncodingAesKey::parse(AES_KEY).unwrap(),
            "wx0000000000000000",
        );
        let encrypt = other.encrypt(&text_reply(got, "hi"));
        let ts = now().to_string();
        let sig = sign(&[&ctx.token, &ts, "1", &encrypt]);
        answer(seal_with(&encrypt, &sig, &ts, "1"))
    })
    .await;
    assert_problem(&report, "AppID");
}

#[tokio::test]
async fn wrong_key_is_a_problem() {
    let report = judged(PushMode::Safe, text("x"), |got, ctx| {
        let other = MessageCrypt::with_receive_id(
            EncodingAesKey::parse("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").unwrap(),
            APPID,
        );
        let encrypt = other.encrypt(&text_reply(got, "hi"));
        let ts = now().to_string();
        let sig = sign(&[&ctx.token, &ts, "1", &encrypt]);
        answer(seal_with(&encrypt, &sig, &ts, "1"))
    })
    .await;
    assert_problem(&report, "does not decrypt");
}

#[tokio::test]
async fn news_count_mismatch_is_a_problem() {
    let item = "<item><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description>\
                <PicUrl><![CDATA[http://p/1.jpg]]></PicUrl><Url><![CDATA[http://u/]]></Url></item>";
    let report = judged(PushMode::Plain, text("x"), move |got, _| {
        answer(reply_with(
            got,
            "news",
            &format!("<ArticleCount>2</ArticleCount><Articles>{item}</Articles>"),
        ))
    })
    .await;
    assert_problem(&report, "ArticleCount is 2 but");

    let report = judged(PushMode::Plain, text("x"), move |got, _| {
        answer(reply_with(
            got,
            "news",
            &format!(
                "<ArticleCount>9</ArticleCount><Articles>{}</Articles>",
                item.repeat(9)
            ),
        ))
    })
    .await;
    assert_problem(&report, "1 to 8");

    // A good one-article news reply.
    let report = judged(PushMode::Safe, text("x"), move |got, ctx| {
        answer(ctx.seal(&reply_with(
            got,
            "news",
            &format!("<ArticleCount>1</ArticleCount><Articles>{item}</Articles>"),
        )))
    })
    .await;
    assert_ok(&report);
    let reply = report.reply.unwrap();
    assert_eq!(reply.msg_type, "news");
    assert_eq!(reply.fields["Articles"][0]["Title"], "t");
    assert_eq!(reply.fields["Articles"][0]["Url"], "http://u/");
}

#[tokio::test]
async fn reply_types_need_their_fields() {
    let cases = [
        ("text", "", "<Content>"),
        ("text", "<Content><![CDATA[]]></Content>", "empty"),
        ("image", "<Image></Image>", "<Image><MediaId>"),
        ("voice", "", "<Voice><MediaId>"),
        (
            "video",
            "<Video><Title>t</Title></Video>",
            "<Video><MediaId>",
        ),
        (
            "music",
            "<Music><Title>t</Title></Music>",
            "<Music><ThumbMediaId>",
        ),
        ("news", "", "<Articles>"),
        (
            "markdown",
            "<Content>x</Content>",
            "not a passive reply type",
        ),
    ];
    for (msg_type, inner, needle) in cases {
        let report = judged(PushMode::Plain, text("x"), move |got, _| {
            answer(reply_with(got, msg_type, inner))
        })
        .await;
        assert_problem(&report, needle);
    }
    let good = [
        ("image", "<Image><MediaId><![CDATA[m]]></MediaId></Image>"),
        ("voice", "<Voice><MediaId><![CDATA[m]]></MediaId></Voice>"),
        ("video", "<Video><MediaId><![CDATA[m]]></MediaId></Video>"),
        (
            "music",
            "<Music><Title>t</Title><MusicUrl>http://m</MusicUrl><ThumbMediaId>m</ThumbMediaId></Music>",
        ),
        ("transfer_customer_service", ""),
    ];
    for (msg_type, inner) in good {
        let report = judged(PushMode::Plain, text("x"), move |got, _| {
            answer(reply_with(got, msg_type, inner))
        })
        .await;
        assert_ok(&report);
        assert_eq!(report.reply.unwrap().msg_type, msg_type);
    }
}

#[tokio::test]
async fn a_good_reply_has_no_problems_in_every_mode() {
    for mode in [PushMode::Plain, PushMode::Compatible, PushMode::Safe] {
        let server = echo_account().await;
        let report = push::push(&server.target(mode), OPENID, &text("ok?")).await;
        assert_ok(&report);
        assert!(report.notes.is_empty(), "{report}");
        assert_eq!(report.reply.unwrap().fields["Content"], "你说：ok?");
    }
}

// ---------------------------------------------------------------------------------------------
// The simulator's control paths and chat page

#[tokio::test]
async fn sim_push_without_a_target_is_400() {
    let s = spawn().await;
    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .json(&json!({"message": {"type": "text", "content": "hi"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("no push target"));

    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.text().await.unwrap().contains("expected"));

    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .json(&json!({"message": {"type": "teleport"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = s.http.post(s.url("/_sim/verify")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn sim_push_uses_the_configured_target_and_remembers_exchanges() {
    let server = echo_account().await;
    let mut config = SimConfig::new(APPID, SECRET);
    // No appid in the target: the simulator's own is used.
    let mut target = server.target(PushMode::Safe);
    target.appid = String::new();
    config.push = Some(target);
    let s = spawn_with(config).await;

    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .json(&json!({"message": {"type": "text", "content": "你好"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["problems"], json!([]), "{report:#}");
    assert_eq!(report["reply"]["msg_type"], "text");
    assert_eq!(report["reply"]["fields"]["Content"], "你说：你好");
    assert_eq!(report["request"]["from_openid"], default_users()[0].openid);
    assert_eq!(report["deliveries"][0]["status"], 200);

    // Another user, explicitly.
    let panda = &default_users()[1].openid;
    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .json(&json!({"from": panda, "message": {"type": "subscribe", "scene": "42"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(server.got()[1].text("FromUserName"), *panda);
    assert_eq!(server.got()[1].text("EventKey"), "qrscene_42");

    let exchanges: Value = s
        .http
        .get(s.url("/_sim/exchanges"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = exchanges.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["id"], 1);
    assert_eq!(
        list[0]["message"],
        json!({"type": "text", "content": "你好"})
    );
    assert_eq!(list[1]["from"], *panda);
    assert_eq!(list[1]["report"]["request"]["message"], "event/subscribe");

    let verify: Value = s
        .http
        .post(s.url("/_sim/verify"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], true, "{verify:#}");

    let resp = s
        .http
        .delete(s.url("/_sim/exchanges"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let exchanges: Value = s
        .http
        .get(s.url("/_sim/exchanges"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(exchanges, json!([]));
}

#[tokio::test]
async fn sim_push_with_a_target_in_the_request() {
    let server = echo_account().await;
    let s = spawn().await;
    let resp = s
        .http
        .post(s.url("/_sim/push"))
        .json(&json!({
            "message": {"type": "text", "content": "x"},
            "target": {"url": server.url, "token": TOKEN, "mode": "compatible", "aes_key": AES_KEY},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["problems"], json!([]), "{report:#}");
    assert_eq!(report["request"]["mode"], "compatible");
    assert_eq!(report["reply"]["encrypted"], true);

    let verify: Value = s
        .http
        .post(s.url("/_sim/verify"))
        .json(&json!({"target": {"url": server.url, "token": "wrongtoken"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verify["ok"], false);
}

#[tokio::test]
async fn the_ring_buffer_keeps_the_last_200() {
    let server = account(|_, _, _| answer("")).await;
    let mut config = SimConfig::new(APPID, SECRET);
    config.push = Some(server.target(PushMode::Plain));
    let sim = wxsim::Simulator::new(config);
    for i in 0..205 {
        sim.push(None, text(&i.to_string()), None).await.unwrap();
    }
    let all = sim.exchanges();
    assert_eq!(all.len(), wxsim::MAX_EXCHANGES);
    assert_eq!(all[0].id, 6);
    assert_eq!(all[199].id, 205);
}

#[tokio::test]
async fn chat_page_has_its_controls_and_escapes_users() {
    let s = spawn().await;
    let resp = s.get("/_sim/chat").await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    for id in [
        "id=\"chat-input\"",
        "id=\"chat-send\"",
        "id=\"subscribe\"",
        "id=\"unsubscribe\"",
        "id=\"raw-log\"",
        "id=\"user-select\"",
        "id=\"chat-log\"",
        "id=\"no-target\"",
        "name=\"viewport\"",
        "max-width:390px",
        "#95ec69",
        "bubble account",
        "bubble user",
        "/_sim/push",
    ] {
        assert!(html.contains(id), "missing {id}");
    }
    // The HTML-injection nickname arrives escaped, never as markup.
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&amp;amp;"));
    // Replies are rendered with DOM nodes and textContent, never innerHTML.
    assert!(!html.contains("innerHTML"));
    assert!(!html.contains("outerHTML"));
    assert!(!html.contains("document.write"));
    // No external resources.
    assert!(!html.contains("src=\"http"));
    assert!(!html.contains("href=\"http"));
    for u in default_users() {
        assert!(html.contains(&u.openid));
    }
    // The landing page links the chat page.
    assert!(s.text("/").await.contains("href=\"/_sim/chat\""));
}

#[tokio::test]
async fn chat_page_with_a_target_shows_it_and_escapes_it() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.account_name = "<i>号</i>".to_string();
    config.push = Some(PushTarget::new(
        "http://127.0.0.1:9/weixin/?a=<x>",
        TOKEN,
        APPID,
    ));
    let s = spawn_with(config).await;
    let html = s.text("/_sim/chat").await;
    assert!(!html.contains("id=\"no-target\""));
    assert!(html.contains("data-has-target=\"true\""));
    assert!(html.contains("http://127.0.0.1:9/weixin/?a=&lt;x&gt;"));
    assert!(html.contains("&lt;i&gt;号&lt;/i&gt;"));
    assert!(!html.contains("<i>号"));
    let svg = s.text("/_sim/media/%3Cb%3E").await;
    assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
}

#[test]
fn push_target_debug_hides_secrets_and_json_defaults() {
    let t: PushTarget = serde_json::from_value(
        json!({"url": "http://x/weixin/", "token": "SecretTok", "aes_key": AES_KEY}),
    )
    .unwrap();
    assert_eq!(t.mode, PushMode::Plain);
    assert_eq!(t.account_id, "gh_wxgate_demo");
    assert_eq!(t.timeout_ms, 5000);
    assert_eq!(t.retries, 3);
    let shown = format!("{t:?}");
    assert!(
        !shown.contains("SecretTok") && !shown.contains(AES_KEY),
        "{shown}"
    );
    let m: PushMode = serde_json::from_value(json!("safe")).unwrap();
    assert_eq!(m, PushMode::Safe);
}
