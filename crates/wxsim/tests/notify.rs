//! Template messages (`message/template/send`), subscription notices
//! (`message/subscribe/bizsend`) and the template lists: WeChat's checks in WeChat's order, the
//! grants a user gives, and what `/_sim/notifications` shows.

mod common;

use common::*;
use serde_json::{Value, json};
use wxsim::notify::{APPOINTMENT, DELIVERY, ORDER_SHIPPED};

const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

async fn base_token(s: &Sim) -> String {
    let body = s
        .json(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        ))
        .await;
    body["access_token"].as_str().expect("a token").to_string()
}

async fn post(s: &Sim, path: &str, token: &str, body: Value) -> Value {
    let resp = s
        .http
        .post(s.url(&format!("{path}?access_token={token}")))
        .body(body.to_string())
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

fn shipped(touser: &str, thing: &str) -> Value {
    json!({"touser": touser, "template_id": ORDER_SHIPPED, "url": "https://shop.example.com/o/1",
           "data": {"thing1": {"value": thing}, "character_string2": {"value": "SO-1001"},
                    "time3": {"value": "2024-05-01 14:30"}}})
}

#[tokio::test]
async fn a_template_message_is_checked_and_delivered() {
    let s = spawn().await;
    let token = base_token(&s).await;
    const SEND: &str = "/cgi-bin/message/template/send";
    let ok = post(&s, SEND, &token, shipped(ZHANG, "绿茶礼盒")).await;
    assert_eq!(ok["errcode"], 0);
    assert!(ok["msgid"].as_u64().is_some(), "{ok}");
    let sent = s.sim.notifications();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].title, "订单发货通知");
    assert_eq!(
        sent[0].rows[0],
        ("商品名称".to_string(), "绿茶礼盒".to_string())
    );
    assert_eq!(
        sent[0].link.as_deref(),
        Some("https://shop.example.com/o/1")
    );
    assert_eq!(sent[0].msgid, ok["msgid"].as_u64().unwrap());

    // A value too long for thing: 47003 naming the key.
    let e = post(&s, SEND, &token, shipped(ZHANG, &"茶".repeat(21))).await;
    assert_eq!(e["errcode"], 47003);
    assert!(
        e["errmsg"]
            .as_str()
            .unwrap()
            .contains("data.thing1.value invalid")
    );
    // A missing keyword: 47003 too.
    let mut missing = shipped(ZHANG, "茶");
    missing["data"].as_object_mut().unwrap().remove("time3");
    assert_eq!(post(&s, SEND, &token, missing).await["errcode"], 47003);
    // Unknown template, or a subscription template's id: 40037.
    let mut wrong = shipped(ZHANG, "茶");
    wrong["template_id"] = APPOINTMENT.into();
    assert_eq!(post(&s, SEND, &token, wrong).await["errcode"], 40037);
    // Not a user of the account: 40003; a user who unfollowed: 43004.
    assert_eq!(
        post(&s, SEND, &token, shipped("oNobody", "茶")).await["errcode"],
        40003
    );
    let unfollowed = s
        .http
        .post(s.url("/_sim/interactions"))
        .body(json!({"openid": ZHANG, "unfollowed": true}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unfollowed.status(), 204);
    assert!(
        !s.sim.follows(ZHANG),
        "the follower list agrees (user/get, 扫一扫)"
    );
    assert_eq!(
        post(&s, SEND, &token, shipped(ZHANG, "茶")).await["errcode"],
        43004
    );
    assert_eq!(s.sim.notifications().len(), 1, "refusals deliver nothing");
}

#[tokio::test]
async fn a_subscription_notice_needs_an_accepted_grant() {
    let s = spawn().await;
    let token = base_token(&s).await;
    const SEND: &str = "/cgi-bin/message/subscribe/bizsend";
    let body = json!({"touser": ZHANG, "template_id": APPOINTMENT, "page": "https://clinic.example.com/a/1",
        "data": {"thing1": {"value": "体检"}, "time2": {"value": "2024-05-02 09:00"}, "phrase3": {"value": "已预约"}}});
    assert_eq!(post(&s, SEND, &token, body.clone()).await["errcode"], 43101);
    let accepted = s
        .http
        .post(s.url("/_sim/subscriptions"))
        .body(json!({"openid": ZHANG, "template_id": APPOINTMENT}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 204);
    // A bad value does not use the grant up.
    let mut bad = body.clone();
    bad["data"]["phrase3"]["value"] = "booked".into();
    assert_eq!(post(&s, SEND, &token, bad).await["errcode"], 47003);
    assert_eq!(post(&s, SEND, &token, body.clone()).await["errcode"], 0);
    // One-time: used up.
    assert_eq!(post(&s, SEND, &token, body.clone()).await["errcode"], 43101);
    // A long-term grant stays.
    s.sim.accept_subscription(ZHANG, DELIVERY).unwrap();
    let long = json!({"touser": ZHANG, "template_id": DELIVERY,
        "data": {"thing1": {"value": "绿茶"}, "amount2": {"value": "¥128.00"}, "phrase3": {"value": "配送中"}}});
    for _ in 0..3 {
        assert_eq!(post(&s, SEND, &token, long.clone()).await["errcode"], 0);
    }
    // A template-message id: 40037.
    let mut wrong = body;
    wrong["template_id"] = ORDER_SHIPPED.into();
    assert_eq!(post(&s, SEND, &token, wrong).await["errcode"], 40037);
    let sent = s.sim.notifications();
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].kind, "subscribe");
    assert_eq!(
        sent[0].link.as_deref(),
        Some("https://clinic.example.com/a/1")
    );
    let listed: Value = s.get("/_sim/notifications").await.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn the_template_lists_name_the_keywords_and_tests_can_add_templates() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let list = s
        .json(&format!(
            "/cgi-bin/template/get_all_private_template?access_token={token}"
        ))
        .await;
    let list = list["template_list"].as_array().unwrap();
    assert!(list.iter().any(|t| t["template_id"] == ORDER_SHIPPED
        && t["content"].as_str().unwrap().contains("{{thing1.DATA}}")));
    let added = s
        .http
        .post(s.url("/_sim/templates"))
        .body(json!({"kind": "subscribe", "title": "退款通知", "content": "金额:{{amount1.DATA}}", "type": 2}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let added: Value = added.json().await.unwrap();
    let subs = s
        .json(&format!("/wxaapi/newtmpl/gettemplate?access_token={token}"))
        .await;
    assert_eq!(subs["errcode"], 0);
    assert!(
        subs["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["priTmplId"] == added["template_id"] && t["type"] == 2)
    );
    let bad = s
        .http
        .post(s.url("/_sim/templates"))
        .body(json!({"kind": "subscribe", "title": "x", "content": "no keywords"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        s.json("/cgi-bin/template/get_all_private_template?access_token=nope")
            .await["errcode"],
        40001
    );
}
