//! The follower, tag and blacklist APIs over HTTP (docs/wechat-platform-apis.md §6, §7): the
//! token and body checks every WeChat path makes, the limits with WeChat's errcodes, the
//! `/_sim/followers` control path, and conditional menus following the tags given here.

mod common;

use common::*;
use serde_json::{Value, json};

const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

async fn base_token(s: &Sim) -> String {
    let body = s
        .json(&format!(
            "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
        ))
        .await;
    body["access_token"].as_str().expect("a token").to_string()
}

/// POSTs `body` to `path` with `token`; the answer (errors carry a rid).
async fn post(s: &Sim, path: &str, token: &str, body: impl Into<reqwest::Body>) -> Value {
    let resp = s
        .http
        .post(s.url(&format!("{path}?access_token={token}")))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    if answer.get("errcode").is_some_and(|c| c != 0) {
        assert_rid(&answer);
    }
    answer
}

async fn post_json(s: &Sim, path: &str, token: &str, body: Value) -> Value {
    post(s, path, token, body.to_string()).await
}

fn code(v: &Value) -> i64 {
    v["errcode"].as_i64().unwrap_or(0)
}

async fn control(s: &Sim, body: Value) -> Value {
    let r = s
        .http
        .post(s.url("/_sim/followers"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn every_api_checks_the_token_method_and_body_first() {
    let s = spawn().await;
    let token = base_token(&s).await;
    assert_eq!(s.errcode("/cgi-bin/user/get").await, 41001);
    assert_eq!(
        s.errcode("/cgi-bin/tags/get?access_token=nope").await,
        40001
    );
    assert_eq!(
        s.errcode(&format!("/cgi-bin/tags/create?access_token={token}"))
            .await,
        43002
    );
    for path in [
        "/cgi-bin/user/info/batchget",
        "/cgi-bin/tags/create",
        "/cgi-bin/tags/members/batchtagging",
        "/cgi-bin/tags/members/batchblacklist",
    ] {
        assert_eq!(code(&post(&s, path, &token, "").await), 44002, "{path}");
        assert_eq!(
            code(&post(&s, path, &token, "{not json").await),
            47001,
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_follower_list_pages_and_user_info_answers_in_batches_of_100() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let added = control(&s, json!({"generate": 150, "page_size": 100})).await;
    assert_eq!(added["added"].as_array().unwrap().len(), 150);

    let first = s
        .json(&format!("/cgi-bin/user/get?access_token={token}"))
        .await;
    // The three default users who follow (the snapshot user does not), then the generated.
    assert_eq!(
        (first["total"].as_u64(), first["count"].as_u64()),
        (Some(153), Some(100))
    );
    let next = first["next_openid"].as_str().unwrap();
    let second = s
        .json(&format!(
            "/cgi-bin/user/get?access_token={token}&next_openid={next}"
        ))
        .await;
    assert_eq!(second["count"], 53);
    let last = second["next_openid"].as_str().unwrap();
    let end = s
        .json(&format!(
            "/cgi-bin/user/get?access_token={token}&next_openid={last}"
        ))
        .await;
    assert_eq!(end, json!({"total": 153, "count": 0, "next_openid": ""}));
    assert_eq!(
        s.errcode(&format!(
            "/cgi-bin/user/get?access_token={token}&next_openid=nobody"
        ))
        .await,
        40003
    );

    let ids: Vec<Value> = first["data"]["openid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| json!({"openid": o, "lang": "zh_CN"}))
        .collect();
    let batch = post_json(
        &s,
        "/cgi-bin/user/info/batchget",
        &token,
        json!({"user_list": ids}),
    )
    .await;
    let list = batch["user_info_list"].as_array().unwrap();
    assert_eq!(list.len(), 100);
    assert_eq!(list[0]["openid"], ZHANG);
    assert_eq!(list[0]["subscribe"], 1);
    assert!(
        list[0].get("nickname").is_none(),
        "no profile since 2021: {}",
        list[0]
    );
    let mut too_many = ids.clone();
    too_many.push(json!({"openid": ZHANG}));
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/user/info/batchget",
                &token,
                json!({"user_list": too_many})
            )
            .await
        ),
        40032
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/user/info/batchget",
                &token,
                json!({"user_list": []})
            )
            .await
        ),
        40032
    );
    let info = s
        .json(&format!(
            "/cgi-bin/user/info?access_token={token}&openid=oSnaP8kQz3xV1mW5bJ7tY2uE9rA0"
        ))
        .await;
    assert_eq!(info["subscribe"], 0, "{info}");
    assert_eq!(
        s.errcode(&format!(
            "/cgi-bin/user/info?access_token={token}&openid=nobody"
        ))
        .await,
        40003
    );

    // Remarks: 30 characters.
    let remark = |r: &str| json!({"openid": ZHANG, "remark": r});
    let ok = post_json(
        &s,
        "/cgi-bin/user/info/updateremark",
        &token,
        remark(&"老".repeat(30)),
    )
    .await;
    assert_eq!(code(&ok), 0, "{ok}");
    let long = post_json(
        &s,
        "/cgi-bin/user/info/updateremark",
        &token,
        remark(&"老".repeat(31)),
    )
    .await;
    assert_eq!(code(&long), 40092);
}

#[tokio::test]
async fn tags_refuse_what_wechat_refuses_and_menus_follow_them() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let create = |name: &str| json!({"tag": {"name": name}});
    let made = post_json(&s, "/cgi-bin/tags/create", &token, create("上海")).await;
    let id = made["tag"]["id"].as_i64().unwrap();
    assert!(id >= 100, "{made}");
    assert_eq!(
        code(&post_json(&s, "/cgi-bin/tags/create", &token, create("上海")).await),
        45157
    );
    assert_eq!(
        code(&post_json(&s, "/cgi-bin/tags/create", &token, create("")).await),
        45157
    );
    assert_eq!(
        code(&post_json(&s, "/cgi-bin/tags/create", &token, create(&"a".repeat(31))).await),
        45158
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/update",
                &token,
                json!({"tag": {"id": 2, "name": "x"}})
            )
            .await
        ),
        45058
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/delete",
                &token,
                json!({"tag": {"id": 999}})
            )
            .await
        ),
        45159
    );
    let tag = |list: Vec<&str>, id: i64| json!({"openid_list": list, "tagid": id});
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchtagging",
                &token,
                tag(vec![], id)
            )
            .await
        ),
        40032
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchtagging",
                &token,
                tag(vec![ZHANG, "x"], id)
            )
            .await
        ),
        40003
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchtagging",
                &token,
                tag(vec![ZHANG], 999)
            )
            .await
        ),
        45159
    );

    // A conditional menu for the tag: 张三 sees it once tagged, and not after.
    let token_q = format!("access_token={token}");
    let default = json!({"button": [{"type": "click", "name": "默认", "key": "D"}]});
    assert_eq!(
        code(&post_json(&s, "/cgi-bin/menu/create", &token, default).await),
        0
    );
    let conditional = json!({"button": [{"type": "click", "name": "上海", "key": "SH"}],
                             "matchrule": {"tag_id": id.to_string()}});
    let added = post_json(&s, "/cgi-bin/menu/addconditional", &token, conditional).await;
    assert!(
        added["menuid"].is_number() || added["menuid"].is_string(),
        "{added}"
    );
    let seen = |s: &Sim| {
        let url = s.url(&format!("/cgi-bin/menu/trymatch?{token_q}"));
        let http = s.http.clone();
        async move {
            let v: Value = http
                .post(url)
                .body(json!({"user_id": ZHANG}).to_string())
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["button"][0]["name"].as_str().unwrap().to_owned()
        }
    };
    assert_eq!(seen(&s).await, "默认");
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchtagging",
                &token,
                tag(vec![ZHANG], id)
            )
            .await
        ),
        0
    );
    assert_eq!(seen(&s).await, "上海");
    let ids = post_json(
        &s,
        "/cgi-bin/tags/getidlist",
        &token,
        json!({"openid": ZHANG}),
    )
    .await;
    assert_eq!(ids["tagid_list"], json!([id]));
    let members = post_json(
        &s,
        "/cgi-bin/user/tag/get",
        &token,
        json!({"tagid": id, "next_openid": ""}),
    )
    .await;
    assert_eq!(members["data"]["openid"], json!([ZHANG]), "{members}");
    let listed = s.json(&format!("/cgi-bin/tags/get?{token_q}")).await;
    let found = listed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(found["count"], 1, "{listed}");
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/delete",
                &token,
                json!({"tag": {"id": id}})
            )
            .await
        ),
        0
    );
    assert_eq!(seen(&s).await, "默认");
}

#[tokio::test]
async fn the_blacklist_takes_at_most_20_and_pages_from_begin_openid() {
    let s = spawn().await;
    let token = base_token(&s).await;
    let added = control(&s, json!({"generate": 21})).await;
    let all: Vec<String> = serde_json::from_value(added["added"].clone()).unwrap();
    let list = |l: &[String]| json!({"openid_list": l});
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchblacklist",
                &token,
                list(&all)
            )
            .await
        ),
        40032
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchblacklist",
                &token,
                list(&all[..20])
            )
            .await
        ),
        0
    );
    let page = post_json(
        &s,
        "/cgi-bin/tags/members/getblacklist",
        &token,
        json!({"begin_openid": ""}),
    )
    .await;
    assert_eq!(
        (page["total"].as_u64(), page["count"].as_u64()),
        (Some(20), Some(20))
    );
    assert_eq!(
        code(
            &post_json(
                &s,
                "/cgi-bin/tags/members/batchunblacklist",
                &token,
                list(&all[..5])
            )
            .await
        ),
        0
    );
    let page = post_json(
        &s,
        "/cgi-bin/tags/members/getblacklist",
        &token,
        json!({"begin_openid": ""}),
    )
    .await;
    assert_eq!(page["total"], 15);

    // The control path refuses what it cannot do, in words.
    let r = s
        .http
        .post(s.url("/_sim/followers"))
        .body("{\"generat\": 3}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("generate"));
}

/// With a valid token, no body makes a follower, tag or blacklist API panic or answer anything
/// but WeChat's JSON on HTTP 200.
#[test]
fn any_body_gets_wechat_json_with_a_valid_token() {
    use axum::body::Body;
    use axum::http::Request;
    use proptest::prelude::*;
    use tower::ServiceExt;

    const PATHS: &[&str] = &[
        "/cgi-bin/user/info/batchget",
        "/cgi-bin/user/info/updateremark",
        "/cgi-bin/tags/create",
        "/cgi-bin/tags/update",
        "/cgi-bin/tags/delete",
        "/cgi-bin/tags/members/batchtagging",
        "/cgi-bin/tags/members/batchuntagging",
        "/cgi-bin/user/tag/get",
        "/cgi-bin/tags/getidlist",
        "/cgi-bin/tags/members/getblacklist",
        "/cgi-bin/tags/members/batchblacklist",
        "/cgi-bin/tags/members/batchunblacklist",
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = wxsim::Simulator::new(wxsim::SimConfig::new(APPID, SECRET));
    let call = |method: &str, uri: String, body: Vec<u8>| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body))
            .unwrap();
        runtime.block_on(async {
            let response = sim.router().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, serde_json::from_slice::<Value>(&bytes).ok())
        })
    };
    let (_, token) = call(
        "GET",
        format!("/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"),
        Vec::new(),
    );
    let token = token.unwrap()["access_token"].as_str().unwrap().to_owned();
    let shapes = prop_oneof![
        any::<String>(),
        Just(r#"{"openid_list":["o6_bmjrPTlm6_2sgVt7hMZOPfL2M"],"tagid":100}"#.to_owned()),
        Just(r#"{"tag":{"id":"100","name":"上海"}}"#.to_owned()),
        Just(r#"{"user_list":[{"openid":7}],"openid_list":[null],"tagid":[]}"#.to_owned()),
        Just(r#"{"tag":{"id":-1,"name":""},"remark":123,"begin_openid":"nobody"}"#.to_owned()),
    ];
    proptest!(ProptestConfig::with_cases(64), |(body in shapes, which in 0..PATHS.len())| {
        let (status, answer) = call(
            "POST",
            format!("{}?access_token={token}", PATHS[which]),
            body.into_bytes(),
        );
        prop_assert_eq!(status, 200);
        prop_assert!(answer.is_some_and(|a| a.is_object()));
    });
}
