//! The message server `/weixin/` over real HTTP, driven by the simulator's WeChat push (which
//! signs, encrypts, times out and retries as WeChat does) and by hand-made hostile requests.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use wechat::signature::sign;
use wxsim::push::{Outgoing, PushMode, PushTarget, push, verify_url};

const TOKEN: &str = "wxgatetesttoken";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const OLD_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
const OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"; // 张三 in the simulator

const RULES: &str = r#"
[[rules]]
event = "subscribe"
reply = { type = "text", content = "欢迎！登录：{login_url}" }
[[rules]]
key = "V1001_SUNCK"
reply = { type = "news", articles = [{ title = "sunck", description = "d", pic_url = "", url = "{login_url}" }] }
[[rules]]
text = "who"
reply = { type = "text", content = "你是 {nickname}（{openid}）" }
[[rules]]
msg_type = "text"
reply = { type = "text", content = "你说的是：{text}" }
"#;

struct Account {
    app: TestApp,
    /// The app's WeChat API (tokens, customer-service messages).
    sim: Sim,
}

async fn account(extra: &[(&str, &str)]) -> Account {
    let sim = spawn_sim().await;
    // Compatible mode accepts all three kinds of push; tests of safe mode set it.
    let mut settings = vec![
        ("token", TOKEN),
        ("aes_key", KEY),
        ("message_mode", "compatible"),
    ];
    settings.extend_from_slice(extra);
    let db = temp_db();
    let app = spawn_app_with_rules(&sim.url, &db, &settings, RULES)
        .await
        .owning(db);
    Account { app, sim }
}

fn target(app: &TestApp, mode: PushMode, key: Option<&str>) -> PushTarget {
    PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID)
        .with_mode(mode, key.map(str::to_owned))
}

fn content(report: &wxsim::push::PushReport) -> String {
    let reply = report
        .reply
        .as_ref()
        .unwrap_or_else(|| panic!("a reply: {report:#?}"));
    reply.fields["Content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn url_verification_echoes_only_for_a_valid_signature() {
    let a = account(&[]).await;
    let report = verify_url(&target(&a.app, PushMode::Plain, None)).await;
    assert!(report.ok, "{report:#?}");
    let mut wrong = target(&a.app, PushMode::Plain, None);
    wrong.token = "someoneelsestoken".into();
    assert!(!verify_url(&wrong).await.ok);

    let b = Browser::new();
    let ts = wxgate::clock::now().to_string();
    let sig = sign(&[TOKEN, &ts, "n0nce"]);
    for path in ["/weixin/", "/weixin"] {
        let ok = b
            .get(&format!(
                "{}{path}?signature={sig}&timestamp={ts}&nonce=n0nce&echostr=4375120948345356249",
                a.app.url,
            ))
            .await;
        assert_eq!(
            (ok.status, ok.body.as_str()),
            (StatusCode::OK, "4375120948345356249"),
            "{path}"
        );
    }
    let forged = b
        .get(&format!(
            "{}/weixin/?signature={}&timestamp=1&nonce=n&echostr=x",
            a.app.url,
            "0".repeat(40)
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(!forged.body.contains('x') || forged.body.contains("signature"));
    let bare = b.get(&format!("{}/weixin/", a.app.url)).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    // A captured signature cannot be used to echo text forever.
    let stale = sign(&[TOKEN, "1", "n0nce"]);
    let old = b
        .get(&format!(
            "{}/weixin/?signature={stale}&timestamp=1&nonce=n0nce&echostr=chosen",
            a.app.url
        ))
        .await;
    assert_eq!(old.status, StatusCode::FORBIDDEN);
    assert!(!old.body.contains("chosen"));
}

#[tokio::test]
async fn a_flood_of_forged_pushes_does_not_flood_the_log() {
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    let (logs, _guard) = Logs::capture();
    let now = wxgate::clock::now();
    for i in 0..50 {
        let forged = format!("signature={}&timestamp={now}&nonce=n{i}", "0".repeat(40));
        let (status, _) = raw.post(&forged, text_xml(i, "x")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let text = logs.text();
    assert_eq!(
        text.matches("push refused").count(),
        1,
        "one line a minute per reason: {text}"
    );
}

#[tokio::test]
async fn safe_mode_refuses_plaintext_pushes() {
    let a = account(&[("message_mode", "safe")]).await;
    let plain = push(
        &target(&a.app, PushMode::Plain, None),
        OPENID,
        &Outgoing::Text {
            content: "forged?".into(),
        },
    )
    .await;
    assert!(!plain.ok());
    assert_eq!(plain.deliveries[0].status, Some(403), "{plain:#?}");
    assert!(
        plain.to_string().contains("plaintext push refused"),
        "the report shows why: {plain}"
    );
    let safe = push(
        &target(&a.app, PushMode::Safe, Some(KEY)),
        OPENID,
        &Outgoing::Text {
            content: "hi".into(),
        },
    )
    .await;
    assert!(safe.ok(), "{:#?}", safe.problems);
}

/// An encrypted push made by hand: (query, body) for `xml`, with `ts` and `nonce`.
fn encrypted_push(xml: &str, ts: &str, nonce: &str, encrypt_type: &str) -> (String, String) {
    let crypt = wechat::crypto::MessageCrypt::new(
        wechat::crypto::EncodingAesKey::parse(KEY).unwrap(),
        &wechat::AppId::parse(APPID).unwrap(),
    );
    let encrypt = crypt.encrypt(xml);
    let msg_sig = sign(&[TOKEN, ts, nonce, &encrypt]);
    let query = format!(
        "{}&encrypt_type={encrypt_type}&msg_signature={msg_sig}",
        Raw::signed_with(ts, nonce)
    );
    let body = format!(
        "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    (query, body)
}

#[tokio::test]
async fn the_query_of_an_encrypted_push_cannot_carry_a_plaintext_forgery() {
    // Compatible mode accepts plaintext pushes too: the signature of an encrypted one must
    // not be reusable for a plaintext body.
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    let now = wxgate::clock::now().to_string();
    let (query, body) = encrypted_push(&text_xml(31, "real"), &now, "n31", "aes");
    let (status, _) = raw.post(&query, body).await;
    assert_eq!(status, StatusCode::OK);
    let plain_query = Raw::signed_with(&now, "n31");
    let (status, text) = raw.post(&plain_query, text_xml(32, "FORGED")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
}

#[tokio::test]
async fn encrypt_type_is_matched_case_insensitively() {
    let a = account(&[("message_mode", "safe")]).await;
    let raw = Raw::new(&a.app);
    let now = wxgate::clock::now().to_string();
    let (query, body) = encrypted_push(&text_xml(33, "hi"), &now, "n33", "AES");
    let (status, text) = raw.post(&query, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.contains("<Encrypt>"), "answered encrypted: {text}");
}

#[tokio::test]
async fn the_same_msgid_from_two_users_gets_two_replies() {
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    let now = wxgate::clock::now();
    let from = |openid: &str, content: &str| {
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
             <CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
             <MsgId>777</MsgId></xml>"
        )
    };
    let (_, first) = raw.post(&Raw::signed(now), from(OPENID, "我是张三")).await;
    let (_, second) = raw
        .post(&Raw::signed(now), from("oOtherUser", "我是别人"))
        .await;
    assert!(
        first.contains("我是张三") && first.contains(OPENID),
        "{first}"
    );
    assert!(
        second.contains("我是别人") && second.contains("oOtherUser"),
        "another user's message is handled, not answered with the first reply: {second}"
    );
}

#[tokio::test]
async fn a_text_gets_its_reply_in_every_mode() {
    let a = account(&[]).await;
    for mode in [PushMode::Plain, PushMode::Compatible, PushMode::Safe] {
        let key = (mode != PushMode::Plain).then_some(KEY);
        let report = push(
            &target(&a.app, mode, key),
            OPENID,
            &Outgoing::Text {
                content: "你好 <b>&]]>".into(),
            },
        )
        .await;
        assert!(report.ok(), "{mode:?}: {:#?}", report.problems);
        assert_eq!(content(&report), "你说的是：你好 <b>&]]>", "{mode:?}");
        let reply = report.reply.as_ref().unwrap();
        assert_eq!(
            reply.encrypted,
            mode != PushMode::Plain,
            "{mode:?}: reply in the push's mode"
        );
        assert_eq!(reply.fields["ToUserName"], OPENID);
        assert_eq!(reply.fields["FromUserName"], "gh_wxgate_demo");
        assert_eq!(report.deliveries.len(), 1);
    }
}

#[tokio::test]
async fn nothing_to_say_is_success_in_plain_mode_and_empty_when_encrypted() {
    let a = account(&[]).await;
    let image = Outgoing::Image {
        pic_url: "http://x/p.jpg".into(),
        media_id: "m".into(),
    };
    let report = push(&target(&a.app, PushMode::Plain, None), OPENID, &image).await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.answered().unwrap().body, "success");
    let report = push(&target(&a.app, PushMode::Safe, Some(KEY)), OPENID, &image).await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.answered().unwrap().body, "");
}

#[tokio::test]
async fn rules_answer_subscribe_menu_clicks_and_know_the_users_nickname() {
    let a = account(&[]).await;
    let t = target(&a.app, PushMode::Safe, Some(KEY));
    let report = push(
        &t,
        OPENID,
        &Outgoing::Subscribe {
            scene: None,
            ticket: None,
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(content(&report), format!("欢迎！登录：{}/auth/", a.app.url));

    let report = push(
        &t,
        OPENID,
        &Outgoing::Click {
            key: "V1001_SUNCK".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    let reply = report.reply.unwrap();
    assert_eq!(reply.msg_type, "news");
    assert!(
        reply.xml.contains("<ArticleCount>1</ArticleCount>"),
        "{}",
        reply.xml
    );

    // Unknown to wxgate: a friendly default; after a web login: the nickname.
    let report = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "who".into(),
        },
    )
    .await;
    assert_eq!(content(&report), format!("你是 朋友（{OPENID}）"));
    Browser::new().login(&a.app, ZHANG_SAN).await;
    let report = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "who".into(),
        },
    )
    .await;
    assert_eq!(content(&report), format!("你是 张三（{OPENID}）"));
}

#[tokio::test]
async fn key_rotation_accepts_the_previous_key_and_answers_with_it() {
    let a = account(&[("aes_key_previous", OLD_KEY)]).await;
    for key in [KEY, OLD_KEY] {
        let report = push(
            &target(&a.app, PushMode::Safe, Some(key)),
            OPENID,
            &Outgoing::Text {
                content: "hi".into(),
            },
        )
        .await;
        // The simulator decrypts the reply with the key it pushed with.
        assert!(report.ok(), "{key}: {:#?}", report.problems);
        assert_eq!(content(&report), "你说的是：hi");
    }
}

/// A push signed by hand, for the hostile cases.
struct Raw {
    url: String,
    http: reqwest::Client,
}

impl Raw {
    fn new(app: &TestApp) -> Self {
        Raw {
            url: format!("{}/weixin/", app.url),
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, query: &str, body: impl Into<reqwest::Body>) -> (StatusCode, String) {
        let r = self
            .http
            .post(format!("{}?{query}", self.url))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.text().await.unwrap())
    }

    /// A signed query with a fresh nonce.
    fn signed(timestamp: i64) -> String {
        let nonce = &wechat::State::generate().as_str()[..10].to_owned();
        Self::signed_with(&timestamp.to_string(), nonce)
    }

    fn signed_with(ts: &str, nonce: &str) -> String {
        format!(
            "signature={}&timestamp={ts}&nonce={nonce}&openid={OPENID}",
            sign(&[TOKEN, ts, nonce])
        )
    }
}

fn text_xml(msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        wxgate::clock::now()
    )
}

#[tokio::test]
async fn hostile_pushes_get_a_4xx_and_never_reach_the_handler() {
    let hook = Receiver::start(Answer::Nothing, Duration::ZERO).await;
    let a = account(&[
        ("webhook_url", &hook.url),
        ("webhook_secret", "0123456789abcdef0123"),
    ])
    .await;
    let raw = Raw::new(&a.app);
    let now = wxgate::clock::now();
    let good = Raw::signed(now);
    let bomb = (
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\
         <xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>&lol2;</Content></xml>"
    ).to_owned();
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><Content>&e;</Content></xml>";
    let cases: Vec<(&str, String, String, StatusCode)> = vec![
        (
            "no signature",
            format!("timestamp={now}&nonce=abc"),
            text_xml(1, "x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "forged signature",
            format!("signature={}&timestamp={now}&nonce=abc", "a".repeat(40)),
            text_xml(2, "x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "stale timestamp",
            Raw::signed(now - 3600),
            text_xml(3, "x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "timestamp at i64::MIN",
            Raw::signed_with("-9223372036854775808", "n"),
            text_xml(6, "x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "future timestamp",
            Raw::signed(now + 3600),
            text_xml(4, "x"),
            StatusCode::FORBIDDEN,
        ),
        (
            "broken XML",
            Raw::signed(now),
            "<xml><ToUserName>".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "not XML",
            Raw::signed(now),
            "{\"json\":true}".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "entity bomb",
            Raw::signed(now),
            bomb,
            StatusCode::BAD_REQUEST,
        ),
        (
            "external entity",
            Raw::signed(now),
            xxe.into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing envelope",
            Raw::signed(now),
            "<xml><Content>hi</Content></xml>".into(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "aes without Encrypt",
            format!("{}&encrypt_type=aes&msg_signature=x", Raw::signed(now)),
            text_xml(5, "x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "aes with forged msg_signature",
            format!(
                "{}&encrypt_type=aes&msg_signature={}",
                Raw::signed(now),
                "0".repeat(40)
            ),
            "<xml><ToUserName>gh</ToUserName><Encrypt>AAAA</Encrypt></xml>".into(),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (case, query, body, status) in cases {
        let (got, text) = raw.post(&query, body).await;
        assert_eq!(got, status, "{case}: {text}");
        assert!(!text.is_empty(), "{case}: a message a person understands");
    }
    // A signed query string seen once cannot carry another body; WeChat's retry (same body)
    // still passes.
    let q = Raw::signed(now);
    let (got, _) = raw.post(&q, text_xml(20, "first")).await;
    assert_eq!(got, StatusCode::OK);
    let (got, text) = raw.post(&q, text_xml(21, "forged")).await;
    assert_eq!(got, StatusCode::FORBIDDEN, "{text}");
    let (got, _) = raw.post(&q, text_xml(20, "first")).await;
    assert_eq!(got, StatusCode::OK);
    let seen = hook.count();
    assert_eq!(
        seen, 1,
        "the retry was deduplicated, the forgery never handled"
    );
    // Over the size limit: 413.
    let (got, _) = raw.post(&good, vec![b'x'; 70 * 1024]).await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(hook.count(), seen, "nothing unverified reached the handler");
}

#[tokio::test]
async fn a_ciphertext_for_another_key_or_appid_is_refused() {
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    let now = wxgate::clock::now().to_string();
    for (key, appid, nonce) in [(OLD_KEY, APPID, "abc"), (KEY, "wx0000000000000000", "abd")] {
        let crypt = wechat::crypto::MessageCrypt::new(
            wechat::crypto::EncodingAesKey::parse(key).unwrap(),
            &wechat::AppId::parse(appid).unwrap(),
        );
        let encrypt = crypt.encrypt(&text_xml(9, "secret"));
        let msg_sig = sign(&[TOKEN, &now, nonce, &encrypt]);
        let query = format!(
            "{}&encrypt_type=aes&msg_signature={msg_sig}",
            Raw::signed_with(&now, nonce)
        );
        let body = format!(
            "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        let (status, text) = raw.post(&query, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key}/{appid}: {text}");
    }
}

#[tokio::test]
async fn control_characters_in_user_text_do_not_break_the_server() {
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    // Raw control characters inside CDATA, and a character reference XML 1.0 forbids outside it.
    let xml = text_xml(77, "a\u{2}b").replace("]]></Content>", "]]>c&#x10;d</Content>");
    let (status, body) = raw.post(&Raw::signed(wxgate::clock::now()), xml).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("你说的是：abcd"), "{body}");
    assert!(!body.contains('\u{2}'));
}

// ---------------------------------------------------------------------------------------------
// The webhook, with a real HTTP receiver.

#[derive(Clone)]
enum Answer {
    Nothing,
    Reply(serde_json::Value),
    Garbage,
    Status(u16),
}

/// Each delivery: (signature header, delivery header, body, timestamp header).
type Seen = Arc<Mutex<Vec<(String, String, Vec<u8>, String)>>>;

struct Receiver {
    url: String,
    seen: Seen,
}

impl Receiver {
    async fn start(answer: Answer, delay: Duration) -> Self {
        use axum::routing::post;
        let seen: Seen = Default::default();
        let log = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let log = log.clone();
                    let answer = answer.clone();
                    async move {
                        let header = |n: &str| {
                            headers
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_owned()
                        };
                        log.lock().unwrap().push((
                            header("x-wxgate-signature"),
                            header("x-wxgate-delivery"),
                            body.to_vec(),
                            header("x-wxgate-timestamp"),
                        ));
                        tokio::time::sleep(delay).await;
                        use axum::response::IntoResponse;
                        match answer {
                            Answer::Nothing => axum::http::StatusCode::NO_CONTENT.into_response(),
                            Answer::Reply(r) => {
                                axum::Json(serde_json::json!({ "reply": r })).into_response()
                            }
                            Answer::Garbage => "<html>oops</html>".into_response(),
                            Answer::Status(s) => {
                                axum::http::StatusCode::from_u16(s).unwrap().into_response()
                            }
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, seen }
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

const HOOK_SECRET: &str = "webhook-secret-for-tests";

async fn account_with_hook(hook: &Receiver, extra: &[(&str, &str)]) -> Account {
    let mut settings = vec![
        ("webhook_url", hook.url.as_str()),
        ("webhook_secret", HOOK_SECRET),
    ];
    settings.extend_from_slice(extra);
    account(&settings).await
}

#[tokio::test]
async fn the_webhook_gets_signed_json_and_its_reply_wins() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "music", "title": "歌", "description": "", "music_url": "http://m/1.mp3", "hq_music_url": "", "thumb_media_id": "thumb1"})),
        Duration::ZERO,
    )
    .await;
    let a = account_with_hook(&hook, &[]).await;
    let report = push(
        &target(&a.app, PushMode::Safe, Some(KEY)),
        OPENID,
        &Outgoing::Text {
            content: "点歌".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(report.reply.unwrap().msg_type, "music");

    let seen = hook.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let (signature, delivery, body, timestamp) = &seen[0];
    let timestamp: i64 = timestamp.parse().expect("X-Wxgate-Timestamp");
    assert!((wxgate::clock::now() - timestamp).abs() < 60);
    assert_eq!(
        signature,
        &wxgate::messages::webhook::sign(HOOK_SECRET, timestamp, body),
        "HMAC over the time and the exact body"
    );
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    assert_eq!(json["openid"], OPENID);
    assert_eq!(json["msg_type"], "text");
    assert_eq!(json["fields"]["Content"], "点歌");
    assert_eq!(json["rule_reply"]["content"], "你说的是：点歌");
    assert_eq!(&json["id"], delivery.as_str());
}

#[tokio::test]
async fn a_failing_webhook_falls_back_to_the_rules() {
    for answer in [Answer::Garbage, Answer::Status(500), Answer::Nothing] {
        let hook = Receiver::start(answer, Duration::ZERO).await;
        let a = account_with_hook(&hook, &[]).await;
        let report = push(
            &target(&a.app, PushMode::Plain, None),
            OPENID,
            &Outgoing::Text {
                content: "x".into(),
            },
        )
        .await;
        assert!(report.ok(), "{:#?}", report.problems);
        assert_eq!(content(&report), "你说的是：x");
        assert_eq!(hook.count(), 1);
    }
}

const CUSTOM_SEND: &str = "/cgi-bin/message/custom/send";

/// The customer-service messages the simulator received, once `n` have arrived (or `within`
/// passed), after `settle` more so that a late extra one would show.
async fn custom_messages(
    sim: &wxsim::Simulator,
    n: usize,
    within: Duration,
    settle: Duration,
) -> Vec<wxsim::CustomMessage> {
    let until = std::time::Instant::now() + within;
    while sim.custom_messages().len() < n && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(settle).await;
    sim.custom_messages()
}

/// Waits until the simulator has seen `n` calls of `path` (or `within` passed), then `settle`.
async fn calls_of(
    sim: &wxsim::Simulator,
    path: &str,
    n: u64,
    within: Duration,
    settle: Duration,
) -> u64 {
    let until = std::time::Instant::now() + within;
    while sim.calls(path) < n && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(settle).await;
    sim.calls(path)
}

/// What the app logs while the guard lives (tests run on one thread: the app's tasks too).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn two_copies_within_the_deadline_get_the_same_reply_from_one_run() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "text", "content": "slow answer"})),
        Duration::from_millis(700),
    )
    .await;
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "1000")]).await;
    let raw = Raw::new(&a.app);
    let xml = text_xml(424242, "hello");
    let query = Raw::signed(wxgate::clock::now());
    // Two copies at once (WeChat's retry racing the first delivery): one handler run, same reply.
    let (one, two) = tokio::join!(raw.post(&query, xml.clone()), raw.post(&query, xml.clone()));
    assert_eq!(one, two);
    assert!(one.1.contains("slow answer"), "{one:?}");
    assert_eq!(hook.count(), 1);
    assert!(
        custom_messages(&a.sim.sim, 1, Duration::ZERO, Duration::from_millis(300))
            .await
            .is_empty(),
        "a reply within the deadline is passive only"
    );
}

#[tokio::test]
async fn a_reply_within_the_deadline_reaches_a_retry_when_wechat_gave_up_earlier() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "text", "content": "late but here"})),
        Duration::from_millis(600),
    )
    .await;
    // WeChat's copy waits only 300 ms; the webhook needs 600, within the 1000 ms deadline.
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "1000")]).await;
    let mut t = target(&a.app, PushMode::Safe, Some(KEY));
    t.timeout_ms = 300;
    let report = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "x".into(),
        },
    )
    .await;
    // WeChat timed out at least once, re-sent the same MsgId, and a later copy got the reply.
    assert!(report.deliveries.len() >= 2, "{:#?}", report.deliveries);
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(content(&report), "late but here");
    assert_eq!(hook.count(), 1, "the handler ran once");
    assert_eq!(a.sim.sim.calls(CUSTOM_SEND), 0);
}

/// The rule past the deadline: WeChat gets `success` (an empty body when encrypted), the reply
/// goes by customer-service message exactly once, and every copy of the push gets `success`.
#[tokio::test]
async fn past_the_deadline_wechat_gets_success_and_the_reply_goes_by_one_customer_service_message()
{
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "text", "content": "查好了：明天晴"})),
        Duration::from_millis(2000),
    )
    .await;
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "300")]).await;
    let started = std::time::Instant::now();
    let report = push(
        &target(&a.app, PushMode::Safe, Some(KEY)),
        OPENID,
        &Outgoing::Text {
            content: "明天天气".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert!(report.reply.is_none(), "{report:#?}");
    assert_eq!(
        report.deliveries.len(),
        1,
        "answered in time: WeChat does not retry"
    );
    let first = &report.deliveries[0];
    assert_eq!((first.status, first.body.as_str()), (Some(200), ""));
    assert!(
        first.elapsed_ms < 1200,
        "answered at the deadline: {first:?}"
    );

    // A copy of that push while the handler still runs, and one after: `success`, at once.
    let msg_id = report.request.msg_id.expect("a MsgId");
    let raw = Raw::new(&a.app);
    let copy = || async {
        let query = Raw::signed(wxgate::clock::now());
        raw.post(&query, text_xml(msg_id, "明天天气")).await
    };
    let at = std::time::Instant::now();
    assert_eq!(copy().await, (StatusCode::OK, "success".to_owned()));
    assert!(
        at.elapsed() < Duration::from_millis(800),
        "{:?}",
        at.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "still running"
    );
    assert!(a.sim.sim.custom_messages().is_empty(), "not sent yet");

    let sent = custom_messages(
        &a.sim.sim,
        1,
        Duration::from_secs(5),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].touser, OPENID);
    assert_eq!(sent[0].msgtype, "text");
    assert_eq!(sent[0].body["text"]["content"], "查好了：明天晴");
    assert_eq!(copy().await, (StatusCode::OK, "success".to_owned()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(a.sim.sim.custom_messages().len(), 1, "exactly one");
    assert_eq!(a.sim.sim.calls(CUSTOM_SEND), 1);
    assert_eq!(hook.count(), 1, "the handler ran once");
    // In the send log, with the messages sent on demand.
    assert_eq!(
        common::sql_i64(
            &a.app.state.db,
            "SELECT COUNT(*) FROM sends WHERE caller = 'late_reply' AND outcome = 'sent'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_late_reply_to_an_unfollow_or_without_a_custom_form_is_not_sent() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "transfer_customer_service"})),
        Duration::from_millis(600),
    )
    .await;
    let (logs, _guard) = Logs::capture();
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "300")]).await;
    let raw = Raw::new(&a.app);
    let (_, body) = raw
        .post(&Raw::signed(wxgate::clock::now()), text_xml(9191, "人工"))
        .await;
    assert_eq!(body, "success");
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(a.sim.sim.calls(CUSTOM_SEND), 0);
    assert!(
        logs.text().contains("no customer-service form"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_custom_send_that_fails_in_transport_is_not_retried() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "text", "content": "late"})),
        Duration::from_millis(600),
    )
    .await;
    let (logs, _guard) = Logs::capture();
    // The app's API client gives up after 1 s (upstream_timeout_ms in the test config).
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "300")]).await;
    let sim = &a.sim.sim;
    let raw = Raw::new(&a.app);

    // A 502 from WeChat's side: nothing delivered, one call.
    let mut bad_gateway = wxsim::Fault::new(CUSTOM_SEND);
    bad_gateway.status = Some(502);
    sim.inject(bad_gateway);
    let (_, body) = raw
        .post(&Raw::signed(wxgate::clock::now()), text_xml(7001, "a"))
        .await;
    assert_eq!(body, "success");
    let calls = calls_of(
        sim,
        CUSTOM_SEND,
        1,
        Duration::from_secs(5),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!(calls, 1, "not retried after a 502");
    assert!(sim.custom_messages().is_empty());

    // An answer slower than the client's timeout: the call may have been delivered on
    // WeChat's side, so it is not sent again.
    let mut slow = wxsim::Fault::new(CUSTOM_SEND);
    slow.delay_ms = Some(1600);
    sim.inject(slow);
    let (_, body) = raw
        .post(&Raw::signed(wxgate::clock::now()), text_xml(7002, "b"))
        .await;
    assert_eq!(body, "success");
    let calls = calls_of(
        sim,
        CUSTOM_SEND,
        2,
        Duration::from_secs(5),
        Duration::from_millis(2500),
    )
    .await;
    assert_eq!(calls, 2, "not retried after a timeout");
    let text = logs.text();
    assert!(text.contains("not retried"), "{text}");
    assert!(text.contains("did not answer within"), "{text}");
    assert!(!text.contains("access_token="), "{text}");
}

#[tokio::test]
async fn a_custom_send_refused_with_45015_is_logged_and_not_retried() {
    let hook = Receiver::start(
        Answer::Reply(serde_json::json!({"type": "text", "content": "late"})),
        Duration::from_millis(600),
    )
    .await;
    let (logs, _guard) = Logs::capture();
    let a = account_with_hook(&hook, &[("reply_deadline_ms", "300")]).await;
    let sim = &a.sim.sim;
    let mut fault = wxsim::Fault::new(CUSTOM_SEND);
    fault.errcode = Some(45015);
    sim.inject(fault);
    let (_, body) = Raw::new(&a.app)
        .post(&Raw::signed(wxgate::clock::now()), text_xml(4501, "x"))
        .await;
    assert_eq!(body, "success");
    let calls = calls_of(
        sim,
        CUSTOM_SEND,
        1,
        Duration::from_secs(5),
        Duration::from_millis(800),
    )
    .await;
    assert_eq!(calls, 1, "45015 is not retried");
    assert!(sim.custom_messages().is_empty());
    let text = logs.text();
    let line = text
        .lines()
        .find(|l| l.contains("errcode=45015"))
        .unwrap_or_else(|| panic!("a log line with the errcode: {text}"));
    assert!(
        line.contains("48 hours") && line.contains("not retried"),
        "{line}"
    );
    let token = a.app.state.platform.access_token.get().await.unwrap();
    assert!(!text.contains(&token), "the token is never logged");
}

#[tokio::test]
async fn a_custom_path_serves_pushes_and_the_default_is_gone() {
    let a = account(&[("weixin_path", "/wx/callback")]).await;
    let mut t = target(&a.app, PushMode::Plain, None);
    t.url = format!("{}/wx/callback", a.app.url);
    let report = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "hi".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    let p = Browser::new().get(&format!("{}/weixin/", a.app.url)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_a_token_there_is_no_message_server() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let p = Browser::new().get(&format!("{}/weixin/", app.url)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let _ = sim;
}

#[tokio::test]
async fn the_python_example_receiver_in_the_readme_works() {
    use std::io::{BufRead, BufReader};
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/webhook_receiver.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .arg("127.0.0.1:0")
        .env("WXGATE_WEBHOOK_SECRET", HOOK_SECRET)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs the example receiver");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect(&line)
        .to_owned();
    let a = account(&[("webhook_url", &url), ("webhook_secret", HOOK_SECRET)]).await;
    let t = target(&a.app, PushMode::Safe, Some(KEY));
    let report = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "time".into(),
        },
    )
    .await;
    let answered = content(&report);
    let report2 = push(
        &t,
        OPENID,
        &Outgoing::Text {
            content: "hello".into(),
        },
    )
    .await;
    // A captured delivery cannot be replayed, nor an old one passed off as new.
    let http = reqwest::Client::new();
    let body = br#"{"msg_type":"text","openid":"o","fields":{"Content":"time"}}"#;
    let send = |timestamp: i64, delivery: &str| {
        http.post(&url)
            .header("x-wxgate-timestamp", timestamp.to_string())
            .header("x-wxgate-delivery", delivery)
            .header(
                "x-wxgate-signature",
                wxgate::messages::webhook::sign(HOOK_SECRET, timestamp, body),
            )
            .body(body.to_vec())
            .send()
    };
    let now = wxgate::clock::now();
    let fresh = send(now, "replay-test").await.unwrap().status();
    let replayed = send(now, "replay-test").await.unwrap().status();
    let stale = send(now - 600, "stale-test").await.unwrap().status();
    let forged = http
        .post(&url)
        .header("x-wxgate-timestamp", now.to_string())
        .header("x-wxgate-delivery", "forged")
        .header("x-wxgate-signature", "sha256=00")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        (fresh, replayed, stale, forged),
        (
            StatusCode::OK,
            StatusCode::CONFLICT,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED
        )
    );
    assert_eq!(answered, format!("webhook says hi to {OPENID}"));
    assert_eq!(
        content(&report2),
        "你说的是：hello",
        "{{}} from the receiver: the rules answer"
    );
}

#[tokio::test]
async fn wxgate_sim_push_and_verify_from_the_command_line() {
    let a = account(&[]).await;
    let url = format!("{}/weixin/", a.app.url);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wxgate"))
            .args(["sim"])
            .args(args)
            .env_remove("WXGATE_TOKEN")
            .env_remove("WXGATE_AES_KEY")
            .env_remove("WXGATE_APPID")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let url2 = url.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(&[
            "push",
            "--url",
            &url2,
            "--token",
            TOKEN,
            "--aes-key",
            KEY,
            "--appid",
            APPID,
            "text",
            "你好",
            "世界",
        ])
    })
    .await
    .unwrap();
    assert!(ok, "{out}");
    assert!(
        out.contains("你说的是：你好 世界") && out.contains("safe mode"),
        "{out}"
    );
    let url2 = url.clone();
    let (ok, out) = tokio::task::spawn_blocking(move || {
        run(&["push", "--url", &url2, "--token", "wrongtoken", "subscribe"])
    })
    .await
    .unwrap();
    assert!(!ok, "a rejected answer exits non-zero: {out}");
    assert!(out.contains("403"), "{out}");
    let (ok, out) =
        tokio::task::spawn_blocking(move || run(&["verify", "--url", &url, "--token", TOKEN]))
            .await
            .unwrap();
    assert!(ok, "{out}");
}

#[tokio::test]
async fn an_encrypted_push_is_not_parsed_before_its_msg_signature_checks_out() {
    let a = account(&[]).await;
    let raw = Raw::new(&a.app);
    let query = format!(
        "{}&encrypt_type=aes&msg_signature=0000000000000000000000000000000000000000",
        Raw::signed(wxgate::clock::now())
    );
    // Broken XML around a well-formed <Encrypt>: the forged msg_signature is what is refused,
    // before any parser sees the rest.
    let body = "<xml><Junk><<<<</Junk><Encrypt><![CDATA[QUJDREVG]]></Encrypt><!DOCTYPE x>";
    let (status, text) = raw.post(&query, body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(text.contains("msg_signature"), "{text}");
    let (status, text) = raw
        .post(&query, "<xml><ToUserName>x</ToUserName></xml>")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("<Encrypt>"), "{text}");
}

/// Pushes skip the router (`http::Service::call` sends them to `weixin::receive_push`): they
/// must still be answered on both spellings of the path, refused as pages with the security
/// headers every response gets, and nothing next to the path may be taken for it.
#[tokio::test]
async fn pushes_that_skip_the_router_are_answered_like_any_request() {
    let a = account(&[]).await;
    let http = reqwest::Client::new();
    let post = |path: &str, query: String, body: String| {
        http.post(format!("{}{path}?{query}", a.app.url))
            .body(body)
            .send()
    };
    for (i, path) in ["/weixin/", "/weixin"].into_iter().enumerate() {
        let r = post(
            path,
            Raw::signed(wxgate::clock::now()),
            text_xml(9_100 + i as u64, "hi"),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(r.text().await.unwrap().contains("<xml>"), "{path}");
    }
    let forged = post(
        "/weixin",
        format!("signature={}&timestamp=1&nonce=n", "0".repeat(40)),
        text_xml(9_200, "hi"),
    )
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(forged.headers()["x-frame-options"], "DENY");
    assert!(forged.text().await.unwrap().contains("signature"));
    for near in ["/weixin//", "/weixin/x", "/weixinx", "/WEIXIN/"] {
        let r = post(
            near,
            Raw::signed(wxgate::clock::now()),
            text_xml(9_300, "hi"),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{near}");
    }
    // The router still answers other methods on the path as it did.
    let put = http
        .put(format!("{}/weixin/", a.app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::METHOD_NOT_ALLOWED);
}
