//! `POST /cgi-bin/message/custom/send` (客服消息): WeChat's checks, the 48-hour window, faults
//! and counters like every WeChat path, and the delivered messages in `/_sim/custom`.

mod common;

use common::*;
use serde_json::{Value, json};
use wxsim::{Fault, Outgoing, PushTarget};

const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
const PATH: &str = "/cgi-bin/message/custom/send";

async fn base_token(s: &Sim) -> String {
    let body = s
        .json(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        ))
        .await;
    body["access_token"].as_str().expect("a token").to_string()
}

/// POSTs `body` (raw) to custom/send with `token`; returns the answer, checking the wire format.
async fn send_raw(s: &Sim, token: &str, body: impl Into<reqwest::Body>) -> Value {
    let resp = s
        .http
        .post(s.url(&format!("{PATH}?access_token={token}")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    if answer["errcode"] != 0 {
        assert_rid(&answer);
    }
    answer
}

async fn send(s: &Sim, token: &str, body: Value) -> i64 {
    send_raw(s, token, body.to_string()).await["errcode"]
        .as_i64()
        .unwrap()
}

fn text_to(openid: &str, content: &str) -> Value {
    json!({"touser": openid, "msgtype": "text", "text": {"content": content}})
}

#[tokio::test]
async fn a_text_is_delivered_and_shows_in_the_control_path() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let answer = send_raw(&s, &token, text_to(ZHANG, "稍等，结果来了").to_string()).await;
    assert_eq!(answer, json!({"errcode": 0, "errmsg": "ok"}));

    let delivered = s.sim.custom_messages();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].id, 1);
    assert_eq!(delivered[0].touser, ZHANG);
    assert_eq!(delivered[0].msgtype, "text");
    assert_eq!(delivered[0].body["text"]["content"], "稍等，结果来了");

    let listed: Value = s.get("/_sim/custom").await.json().await.unwrap();
    assert_eq!(listed[0]["touser"], ZHANG);
    assert_eq!(listed[0]["body"]["text"]["content"], "稍等，结果来了");
    assert_eq!(s.sim.calls(PATH), 1);
    assert_eq!(
        s.sim.calls("/_sim/custom"),
        0,
        "control paths are not counted"
    );

    let cleared = s.http.delete(s.url("/_sim/custom")).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    assert!(s.sim.custom_messages().is_empty());
}

#[tokio::test]
async fn every_message_type_with_its_required_fields() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let ok = [
        json!({"msgtype": "image", "image": {"media_id": "MEDIA_ID"}}),
        json!({"msgtype": "voice", "voice": {"media_id": "MEDIA_ID"}}),
        json!({"msgtype": "video", "video": {"media_id": "MEDIA_ID", "thumb_media_id": "T", "title": "t", "description": "d"}}),
        json!({"msgtype": "video", "video": {"media_id": "MEDIA_ID"}}),
        json!({"msgtype": "music", "music": {"title": "歌", "description": "", "musicurl": "http://m/1.mp3", "hqmusicurl": "http://m/1.mp3", "thumb_media_id": "T"}}),
        json!({"msgtype": "news", "news": {"articles": [{"title": "t", "description": "d", "url": "http://u", "picurl": "http://p"}]}}),
        json!({"msgtype": "msgmenu", "msgmenu": {"head_content": "请打分", "list": [{"id": "101", "content": "满意"}], "tail_content": ""}}),
        json!({"msgtype": "miniprogrampage", "miniprogrampage": {"title": "t", "appid": "wx1", "pagepath": "pages/i", "thumb_media_id": "T"}}),
    ];
    for mut body in ok {
        body["touser"] = ZHANG.into();
        assert_eq!(send(&s, &token, body.clone()).await, 0, "{body}");
    }
    assert_eq!(s.sim.custom_messages().len(), 8);

    let refused = [
        (json!({"msgtype": "image", "image": {}}), 40007),
        (
            json!({"msgtype": "voice", "voice": {"media_id": " "}}),
            40007,
        ),
        (json!({"msgtype": "video", "video": {"title": "t"}}), 40007),
        (json!({"msgtype": "music", "music": {"title": "歌"}}), 40007),
        (json!({"msgtype": "text", "text": {"content": ""}}), 44004),
        (json!({"msgtype": "text", "text": {"content": 5}}), 47001),
        (json!({"msgtype": "text"}), 47001),
        (json!({"msgtype": "text", "text": "hi"}), 47001),
        (json!({"text": {"content": "hi"}}), 47001),
        (
            json!({"msgtype": "sticker", "sticker": {"media_id": "M"}}),
            40008,
        ),
        (json!({"msgtype": "news", "news": {"articles": []}}), 44003),
        (
            json!({"msgtype": "news", "news": {"articles": [{"title": "1"}, {"title": "2"}]}}),
            45008,
        ),
        (
            json!({"msgtype": "msgmenu", "msgmenu": {"list": []}}),
            47001,
        ),
        (
            json!({"msgtype": "miniprogrampage", "miniprogrampage": {"appid": "wx1", "pagepath": "p"}}),
            40007,
        ),
    ];
    for (mut body, code) in refused {
        body["touser"] = ZHANG.into();
        assert_eq!(send(&s, &token, body.clone()).await, code, "{body}");
    }
    assert_eq!(
        s.sim.custom_messages().len(),
        8,
        "refused messages are not delivered"
    );
}

#[tokio::test]
async fn wechats_checks_of_method_token_body_and_openid() {
    let s = spawn().await;
    let token = base_token(&s).await;
    // GET: 43002.
    assert_eq!(
        s.errcode(&format!("{PATH}?access_token={token}")).await,
        43002
    );
    // The token: missing 41001, unknown 40001, expired 42001.
    let no_token = s
        .http
        .post(s.url(PATH))
        .body(text_to(ZHANG, "x").to_string())
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(no_token["errcode"], 41001);
    assert_eq!(send(&s, "not-a-token", text_to(ZHANG, "x")).await, 40001);
    // The body: empty 44002, not JSON (or not an object) 47001.
    assert_eq!(send_raw(&s, &token, "  ").await["errcode"], 44002);
    assert_eq!(send_raw(&s, &token, "{\"touser\":").await["errcode"], 47001);
    assert_eq!(send_raw(&s, &token, "[1]").await["errcode"], 47001);
    // The openid: not a user of this account, or missing: 40003.
    assert_eq!(send(&s, &token, text_to("oSomeoneElse", "x")).await, 40003);
    assert_eq!(
        send(
            &s,
            &token,
            json!({"msgtype": "text", "text": {"content": "x"}})
        )
        .await,
        40003
    );
    assert!(s.sim.custom_messages().is_empty());
    assert_eq!(s.sim.calls(PATH), 8);

    s.sim.advance_clock(7300);
    assert_eq!(send(&s, &token, text_to(ZHANG, "x")).await, 42001);
}

#[tokio::test]
async fn faults_hit_custom_send_like_any_wechat_path() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let mut fault = Fault::new(PATH);
    fault.status = Some(502);
    s.sim.inject(fault);
    let resp = s
        .http
        .post(s.url(&format!("{PATH}?access_token={token}")))
        .body(text_to(ZHANG, "x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let mut fault = Fault::new(PATH);
    fault.errcode = Some(45047);
    s.sim.inject(fault);
    assert_eq!(send(&s, &token, text_to(ZHANG, "x")).await, 45047);
    assert!(
        s.sim.custom_messages().is_empty(),
        "a faulted call delivers nothing"
    );
    assert_eq!(send(&s, &token, text_to(ZHANG, "x")).await, 0);
    assert_eq!(s.sim.calls(PATH), 3);
}

/// An account server that answers every push with `success`.
async fn quiet_account() -> String {
    let app = axum::Router::new().route("/weixin/", axum::routing::post(|| async { "success" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/weixin/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn only_within_48_hours_of_the_users_last_push_and_not_after_unfollowing() {
    let s = spawn().await;
    let target = PushTarget::new(quiet_account().await, "token", APPID);
    let text = Outgoing::Text {
        content: "在吗".into(),
    };
    s.sim
        .push(Some(ZHANG), text.clone(), Some(target.clone()))
        .await
        .unwrap();
    let token = base_token(&s).await;
    assert_eq!(send(&s, &token, text_to(ZHANG, "在")).await, 0);

    // 47 hours later: still inside the window (with a fresh token: tokens live 2 hours).
    s.sim.advance_clock(47 * 3600);
    let token = base_token(&s).await;
    assert_eq!(send(&s, &token, text_to(ZHANG, "在")).await, 0);
    // 49 hours after the push: 45015.
    s.sim.advance_clock(2 * 3600);
    let token = base_token(&s).await;
    let answer = send_raw(&s, &token, text_to(ZHANG, "还在").to_string()).await;
    assert_eq!(answer["errcode"], 45015);
    assert!(
        answer["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("response out of time limit"),
        "{answer}"
    );
    // The user writes again: the window reopens. After unfollowing: 45015.
    s.sim
        .push(Some(ZHANG), text, Some(target.clone()))
        .await
        .unwrap();
    assert_eq!(send(&s, &token, text_to(ZHANG, "在")).await, 0);
    s.sim
        .push(Some(ZHANG), Outgoing::Unsubscribe, Some(target))
        .await
        .unwrap();
    assert_eq!(send(&s, &token, text_to(ZHANG, "别走")).await, 45015);
    assert_eq!(s.sim.custom_messages().len(), 3);
}

#[tokio::test]
async fn five_messages_per_interaction_then_45047_and_the_window_can_be_moved_back() {
    let s = spawn().await;
    let token = base_token(&s).await;
    s.sim.record_interaction(ZHANG);
    for i in 0..5 {
        assert_eq!(send(&s, &token, text_to(ZHANG, &format!("{i}"))).await, 0);
    }
    assert_eq!(send(&s, &token, text_to(ZHANG, "6th")).await, 45047);
    // The user writes again: a new allowance.
    let r = s
        .http
        .post(s.url("/_sim/interactions"))
        .body(json!({"openid": ZHANG, "secs_ago": 10}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(send(&s, &token, text_to(ZHANG, "again")).await, 0);
    // Their last message 48 h and a second ago: outside the window.
    let r = s
        .http
        .post(s.url("/_sim/interactions"))
        .body(json!({"openid": ZHANG, "secs_ago": 48 * 3600 + 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(send(&s, &token, text_to(ZHANG, "late")).await, 45015);
    let r = s
        .http
        .post(s.url("/_sim/interactions"))
        .body(json!({"openid": "nobody", "secs_ago": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
