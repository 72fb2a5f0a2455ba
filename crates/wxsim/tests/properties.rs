//! No request body or query may panic the simulator or earn a 5xx from it (its WeChat endpoints
//! answer WeChat's errors, its control paths a 400): arbitrary bytes and real bodies mangled at
//! random, on every path that reads one, each case on a fresh simulator.
//!
//! `WXGATE_PROPTEST_CASES` sets the number of cases per property (256 by default;
//! scripts/test runs many more).

use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt;
use wxsim::{SimConfig, Simulator};

const APPID: &str = wxsim::demo::APPID;
const SECRET: &str = wxsim::demo::SECRET;

fn cases() -> u32 {
    std::env::var("WXGATE_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Paths that read a body, with a body they accept.
const POSTS: &[(&str, &str)] = &[
    (
        "/cgi-bin/stable_token",
        r#"{"grant_type":"client_credential","appid":"wx5d3ad7e0c0ffee00","secret":"demosecretnotforproduction000000","force_refresh":false}"#,
    ),
    (
        "/cgi-bin/menu/create?access_token=T",
        r#"{"button":[{"type":"click","name":"今日歌曲","key":"V1001"},{"name":"菜单","sub_button":[{"type":"view","name":"搜索","url":"http://www.soso.com/"}]}]}"#,
    ),
    (
        "/cgi-bin/menu/addconditional?access_token=T",
        r#"{"button":[{"type":"click","name":"x","key":"K"}],"matchrule":{"tag_id":"2","client_platform_type":"2"}}"#,
    ),
    (
        "/cgi-bin/menu/delconditional?access_token=T",
        r#"{"menuid":"208379533"}"#,
    ),
    (
        "/cgi-bin/menu/trymatch?access_token=T",
        r#"{"user_id":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}"#,
    ),
    (
        "/cgi-bin/message/custom/send?access_token=T",
        r#"{"touser":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","msgtype":"text","text":{"content":"Hello"}}"#,
    ),
    // Followers, tags and the blacklist.
    (
        "/cgi-bin/user/info/batchget?access_token=T",
        r#"{"user_list":[{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","lang":"zh_CN"}]}"#,
    ),
    (
        "/cgi-bin/user/info/updateremark?access_token=T",
        r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","remark":"老客户"}"#,
    ),
    (
        "/cgi-bin/tags/create?access_token=T",
        r#"{"tag":{"name":"上海"}}"#,
    ),
    (
        "/cgi-bin/tags/update?access_token=T",
        r#"{"tag":{"id":100,"name":"北京"}}"#,
    ),
    (
        "/cgi-bin/tags/delete?access_token=T",
        r#"{"tag":{"id":100}}"#,
    ),
    (
        "/cgi-bin/tags/members/batchtagging?access_token=T",
        r#"{"openid_list":["o6_bmjrPTlm6_2sgVt7hMZOPfL2M"],"tagid":100}"#,
    ),
    (
        "/cgi-bin/user/tag/get?access_token=T",
        r#"{"tagid":100,"next_openid":""}"#,
    ),
    (
        "/cgi-bin/tags/members/batchblacklist?access_token=T",
        r#"{"openid_list":["o6_bmjrPTlm6_2sgVt7hMZOPfL2M"]}"#,
    ),
    ("/_sim/followers", r#"{"generate":3,"page_size":2}"#),
    // QR codes and media.
    (
        "/cgi-bin/qrcode/create?access_token=T",
        r#"{"expire_seconds":60,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"a"}}}"#,
    ),
    (
        "/cgi-bin/material/get_material?access_token=T",
        r#"{"media_id":"M"}"#,
    ),
    (
        "/cgi-bin/material/batchget_material?access_token=T",
        r#"{"type":"image","offset":0,"count":20}"#,
    ),
    (
        "/cgi-bin/media/upload?access_token=T&type=image",
        "--b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\n\r\nx\r\n--b--\r\n",
    ),
    // Notifications (notify.rs).
    (
        "/cgi-bin/message/template/send?access_token=T",
        r#"{"touser":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","template_id":"wxsimTmplOrderShipped0000000000000000000001","data":{"thing1":{"value":"绿茶"}}}"#,
    ),
    (
        "/cgi-bin/message/subscribe/bizsend?access_token=T",
        r#"{"touser":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","template_id":"wxsimSubAppointmentBooked000000000000000003","data":{"phrase3":{"value":"已预约"}}}"#,
    ),
    (
        "/_sim/templates",
        r#"{"kind":"subscribe","title":"t","content":"金额:{{amount1.DATA}}"}"#,
    ),
    (
        "/_sim/subscriptions",
        r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","template_id":"wxsimSubAppointmentBooked000000000000000003"}"#,
    ),
    (
        "/_sim/interactions",
        r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","secs_ago":172801}"#,
    ),
    (
        "/connect/oauth2/authorize",
        "appid=wx5d3ad7e0c0ffee00&redirect_uri=http%3A%2F%2F127.0.0.1%2Fempower%2F&scope=snsapi_userinfo&state=abc&user=0&action=allow",
    ),
    (
        "/_sim/faults",
        r#"{"path":"/sns/userinfo","count":1,"errcode":48001}"#,
    ),
    ("/_sim/clock", r#"{"advance_secs":7300}"#),
    ("/_sim/lifetimes", r#"{"access_token":8,"ticket":8}"#),
    (
        "/_sim/quota",
        r#"{"path":"/cgi-bin/token","daily_limit":3}"#,
    ),
    (
        "/_sim/whitelist",
        r#"{"enforce":true,"allowed":["10.0.0.1"]}"#,
    ),
    (
        "/_sim/chat/user",
        r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M"}"#,
    ),
];

/// Paths that read a query string.
const GETS: &[&str] = &[
    "/connect/oauth2/authorize?appid=wx5d3ad7e0c0ffee00&redirect_uri=http%3A%2F%2F127.0.0.1%2F&response_type=code&scope=snsapi_base&state=s",
    "/sns/oauth2/access_token?appid=wx5d3ad7e0c0ffee00&secret=demosecretnotforproduction000000&code=C&grant_type=authorization_code",
    "/sns/oauth2/refresh_token?appid=wx5d3ad7e0c0ffee00&grant_type=refresh_token&refresh_token=R",
    "/sns/userinfo?access_token=A&openid=O&lang=zh_CN",
    "/sns/auth?access_token=A&openid=O",
    "/cgi-bin/token?grant_type=client_credential&appid=wx5d3ad7e0c0ffee00&secret=demosecretnotforproduction000000",
    "/cgi-bin/ticket/getticket?access_token=T&type=jsapi",
    "/cgi-bin/menu/get?access_token=T",
    "/cgi-bin/user/get?access_token=T&next_openid=o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    "/cgi-bin/user/info?access_token=T&openid=o6_bmjrPTlm6_2sgVt7hMZOPfL2M&lang=zh_CN",
    "/_sim/menu?openid=o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    "/_sim/avatar/1/132",
    "/cgi-bin/showqrcode?ticket=gQF%2B8Dw%3D%3D",
    "/cgi-bin/media/get?access_token=T&media_id=M",
    "/cgi-bin/material/get_materialcount?access_token=T",
    "/_sim/qrcodes?openid=o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    "/_sim/media/wxsimP_x",
];

fn mangle(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, remove, insert) in edits {
        let at = at % (chars.len() + 1);
        let end = (at + remove % 8).min(chars.len());
        chars.splice(at..end, insert.chars());
    }
    chars.into_iter().collect()
}

fn edits() -> impl Strategy<Value = Vec<(usize, usize, String)>> {
    proptest::collection::vec(
        (
            any::<usize>(),
            any::<usize>(),
            "(\\PC|[<>&;/\"'=\\[\\]{},:%0-9-]){0,4}",
        ),
        1..6,
    )
}

/// One request to a fresh simulator; its status.
fn send(method: &str, uri: &str, content_type: &str, body: Vec<u8>) -> Option<u16> {
    send_to(
        &Simulator::new(SimConfig::new(APPID, SECRET)),
        method,
        uri,
        content_type,
        body,
    )
}

fn send_to(
    sim: &Simulator,
    method: &str,
    uri: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Option<u16> {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body))
        .ok()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime.block_on(sim.router().oneshot(request)).ok()?;
    Some(response.status().as_u16())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_body_on_any_path_gets_an_answer_below_500(
        which in 0..POSTS.len(),
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        e in edits(),
    ) {
        let (path, sample) = POSTS[which];
        let content_type = if path.starts_with("/connect/") {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        for body in [bytes, mangle(sample, &e).into_bytes()] {
            if let Some(status) = send("POST", path, content_type, body) {
                prop_assert!(status < 500, "{status} on {path}");
            }
        }
    }

    #[test]
    fn any_query_on_any_path_gets_an_answer_below_500(which in 0..GETS.len(), e in edits()) {
        let uri = mangle(GETS[which], &e);
        if let Some(status) = send("GET", &uri, "text/plain", Vec::new()) {
            prop_assert!(status < 500, "{status} on {uri}");
        }
    }

    #[test]
    fn any_numbers_in_the_control_paths_are_taken_or_refused(
        secs in any::<u64>(),
        limit in any::<u64>(),
        access in any::<u64>(),
        ticket in any::<u64>(),
    ) {
        // One simulator: the numbers must also not break what comes after them.
        let sim = Simulator::new(SimConfig::new(APPID, SECRET));
        for (path, body) in [
            ("/_sim/clock", format!(r#"{{"advance_secs":{secs}}}"#)),
            ("/_sim/quota", format!(r#"{{"path":"/cgi-bin/token","daily_limit":{limit}}}"#)),
            ("/_sim/lifetimes", format!(r#"{{"access_token":{access},"ticket":{ticket}}}"#)),
        ] {
            if let Some(status) = send_to(&sim, "POST", path, "application/json", body.into_bytes()) {
                prop_assert!(status < 500, "{status} on {path}");
            }
        }
        let token = format!("/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}");
        let stable = format!(r#"{{"grant_type":"client_credential","appid":"{APPID}","secret":"{SECRET}"}}"#);
        for (method, path, body) in [
            ("GET", token.as_str(), String::new()),
            ("POST", "/cgi-bin/stable_token", stable.clone()),
            ("POST", "/cgi-bin/stable_token", stable),
            ("GET", "/cgi-bin/ticket/getticket?access_token=T&type=jsapi", String::new()),
            ("GET", "/_sim/quota", String::new()),
        ] {
            if let Some(status) = send_to(&sim, method, path, "application/json", body.into_bytes()) {
                prop_assert!(status < 500, "{status} on {path} after the numbers");
            }
        }
    }
}
