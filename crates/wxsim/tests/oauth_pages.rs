//! The browser side of 网页授权: the authorize link's checks, silent redirects, the consent
//! page and its form.

mod common;

use common::*;
use wxsim::SimConfig;

fn assert_error_page(body: &str, code: Option<i64>) {
    assert!(
        body.contains(r#"<meta name=viewport content="width=device-width,initial-scale=1">"#),
        "phone-sized page"
    );
    if let Some(code) = code {
        assert!(
            body.contains(&format!(r#"<span id="errcode">{code}</span>"#)),
            "code {code} shown in: {body}"
        );
    }
}

#[tokio::test]
async fn wrong_parameter_order_shows_link_unavailable() {
    let s = spawn().await;
    let cb = enc(CALLBACK);
    for q in [
        format!("appid={APPID}&redirect_uri={cb}&scope=snsapi_base&response_type=code&state=a"),
        format!("redirect_uri={cb}&appid={APPID}&response_type=code&scope=snsapi_base"),
        format!("x=1&appid={APPID}&redirect_uri={cb}&response_type=code&scope=snsapi_base"),
        format!("appid={APPID}&redirect_uri={cb}&response_type=code&state=a&scope=snsapi_base"),
    ] {
        let resp = s.get(&format!("/connect/oauth2/authorize?{q}")).await;
        assert_eq!(resp.status(), 200, "{q}");
        assert!(resp.headers().get("location").is_none());
        assert!(resp.text().await.unwrap().contains("该链接无法访问"), "{q}");
    }
    // Extra keys after state are fine.
    let ok = format!(
        "{}&forcePopup=false&connect_redirect=1",
        authorize_query(CALLBACK, "snsapi_base", Some("a"))
    );
    assert_eq!(s.get(&ok).await.status(), 302);
}

#[tokio::test]
async fn each_authorize_error_shows_its_page() {
    let s = spawn().await;
    let cb = enc(CALLBACK);
    let cases: Vec<(String, Option<i64>, &str)> = vec![
        (
            format!("redirect_uri={cb}&response_type=code&scope=snsapi_base"),
            Some(10012),
            "",
        ),
        (
            format!("appid=&redirect_uri={cb}&response_type=code&scope=snsapi_base"),
            Some(10012),
            "",
        ),
        (
            format!("appid={APPID}&response_type=code&scope=snsapi_base"),
            Some(10011),
            "",
        ),
        (
            format!("appid={APPID}&redirect_uri={cb}&response_type=code&scope="),
            Some(10010),
            "",
        ),
        (
            format!(
                "appid=wx0000000000000000&redirect_uri={cb}&response_type=code&scope=snsapi_base"
            ),
            Some(40013),
            "Oops! Something went wrong:(",
        ),
        (
            format!("appid={APPID}&redirect_uri={cb}&response_type=code&scope=snsapi_login"),
            Some(10005),
            "",
        ),
        (
            format!("appid={APPID}&redirect_uri={cb}&response_type=token&scope=snsapi_base"),
            None,
            "response_type",
        ),
        (
            format!(
                "appid={APPID}&redirect_uri={cb}&response_type=code&scope=snsapi_base&state={}",
                "a".repeat(129)
            ),
            None,
            "state",
        ),
        (
            format!(
                "appid={APPID}&redirect_uri={cb}&response_type=code&scope=snsapi_base&state=a-b"
            ),
            None,
            "state",
        ),
        (
            format!(
                "appid={APPID}&redirect_uri=javascript%3Aalert(1)&response_type=code&scope=snsapi_base"
            ),
            Some(10003),
            "redirect_uri 参数错误",
        ),
    ];
    for (q, code, text) in cases {
        let resp = s.get(&format!("/connect/oauth2/authorize?{q}")).await;
        assert_eq!(resp.status(), 200, "{q}");
        assert!(
            resp.headers().get("location").is_none(),
            "no redirect for {q}"
        );
        let body = resp.text().await.unwrap();
        assert_error_page(&body, code);
        assert!(body.contains(text), "{q}: {body}");
    }
    // 128 bytes of state is still fine.
    let q = authorize_query(CALLBACK, "snsapi_base", Some(&"a".repeat(128)));
    assert_eq!(s.get(&q).await.status(), 302);
}

#[tokio::test]
async fn oauth_domain_mismatch_is_10003() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.oauth_domain = Some("app.example.com".into());
    let s = spawn_with(config).await;
    let resp = s
        .get(&authorize_query(
            "https://evil.example.com/cb",
            "snsapi_base",
            Some("x"),
        ))
        .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    assert_error_page(&body, Some(10003));
    assert!(body.contains("redirect_uri 参数错误"));
    let resp = s
        .get(&authorize_query(
            "https://app.example.com/cb",
            "snsapi_base",
            Some("x"),
        ))
        .await;
    assert_eq!(resp.status(), 302);
}

#[tokio::test]
async fn base_scope_redirects_silently() {
    let s = spawn().await;
    let resp = s
        .get(&authorize_query(CALLBACK, "snsapi_base", Some("xyz123")))
        .await;
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert!(
        loc.starts_with("http://127.0.0.1:8000/empower/?code="),
        "{loc}"
    );
    assert!(loc.ends_with("&state=xyz123"), "{loc}");
    assert_eq!(param(&loc, "code").unwrap().len(), 32);

    // redirect_uri with a query: `&`; no state given: no state=.
    let resp = s
        .get(&authorize_query(
            "http://127.0.0.1:8000/cb?next=%2Fhome",
            "snsapi_base",
            None,
        ))
        .await;
    let loc = location(&resp);
    assert!(
        loc.starts_with("http://127.0.0.1:8000/cb?next=%2Fhome&code="),
        "{loc}"
    );
    assert!(!loc.contains("state="), "{loc}");

    // Any correct percent-encoding: wechatpy encodes everything, others leave `:` and `/`.
    for encoded in [
        "http%3A%2F%2F127.0.0.1%3A8000%2Fempower%2F",
        "http://127.0.0.1:8000/empower/",
        "http%3a%2f%2f127.0.0.1%3a8000%2fempower%2f",
    ] {
        let q = format!(
            "/connect/oauth2/authorize?appid={APPID}&redirect_uri={encoded}&response_type=code&scope=snsapi_base&state=s"
        );
        let resp = s.get(&q).await;
        assert_eq!(resp.status(), 302, "{encoded}");
        assert!(location(&resp).starts_with("http://127.0.0.1:8000/empower/?code="));
    }
}

#[tokio::test]
async fn consent_page_lists_users_with_escaped_nicknames() {
    let s = spawn().await;
    let resp = s
        .get(&authorize_query(CALLBACK, "snsapi_userinfo", Some("st8")))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("location").is_none());
    let body = resp.text().await.unwrap();
    for needle in [
        r#"<meta name=viewport content="width=device-width,initial-scale=1">"#,
        "wxgate 演示公众号",
        "申请获得以下权限",
        "获得你的公开信息（昵称、头像等）",
        r#"<form method="post" action="/connect/oauth2/authorize">"#,
        r#"<input type="radio" name="user" value="0" checked>"#,
        r#"<input type="radio" name="user" value="1">"#,
        r#"<input type="radio" name="user" value="3">"#,
        r#"<button id="allow" name="action" value="allow">允许</button>"#,
        r#"<button id="deny" name="action" value="deny">拒绝</button>"#,
        r#"<input type="hidden" name="appid" value="wx1234567890abcdef">"#,
        r#"<input type="hidden" name="redirect_uri" value="http://127.0.0.1:8000/empower/">"#,
        r#"<input type="hidden" name="scope" value="snsapi_userinfo">"#,
        r#"<input type="hidden" name="state" value="st8">"#,
        "张三",
        "🐼熊猫🎋",
        "微信用户",
        "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;&amp;amp;&quot;&#39;",
        r#"src="/_sim/avatar/0/132""#,
        "#07c160",
    ] {
        assert!(body.contains(needle), "missing {needle}");
    }
    assert!(!body.contains("<script>"), "nickname must be escaped");
    assert_eq!(body.matches(r#"type="radio""#).count(), 4);
    assert!(!body.contains(SECRET));
}

#[tokio::test]
async fn auto_consent_and_force_popup() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.auto_consent = true;
    let s = spawn_with(config).await;
    let resp = s
        .get(&authorize_query(CALLBACK, "snsapi_userinfo", Some("a")))
        .await;
    assert_eq!(resp.status(), 302);
    let code = param(&location(&resp), "code").unwrap();
    let body = s.exchange(&code).await;
    assert_eq!(body["openid"], s.sim.config().users[0].openid.as_str());
    assert_eq!(body["scope"], "snsapi_userinfo");

    let q = format!(
        "{}&forcePopup=true",
        authorize_query(CALLBACK, "snsapi_userinfo", Some("a"))
    );
    let resp = s.get(&q).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains(r#"id="allow""#));
}

#[tokio::test]
async fn consent_allow_and_deny_redirect_with_state() {
    let s = spawn().await;
    let cb = "http://127.0.0.1:8000/empower/?from=menu";
    let form = |action: &'static str, user: &'static str| {
        vec![
            ("appid", APPID),
            ("redirect_uri", cb),
            ("scope", "snsapi_userinfo"),
            ("state", "abc42"),
            ("user", user),
            ("action", action),
        ]
    };
    let resp = s.post_form(&form("allow", "1")).await;
    assert_eq!(resp.status(), 302);
    let loc = location(&resp);
    assert!(
        loc.starts_with("http://127.0.0.1:8000/empower/?from=menu&code="),
        "{loc}"
    );
    assert!(loc.ends_with("&state=abc42"), "{loc}");
    let body = s.exchange(&param(&loc, "code").unwrap()).await;
    assert_eq!(body["openid"], s.sim.config().users[1].openid.as_str());

    let resp = s.post_form(&form("deny", "1")).await;
    assert_eq!(resp.status(), 302);
    assert_eq!(
        location(&resp),
        "http://127.0.0.1:8000/empower/?from=menu&state=abc42"
    );

    // Deny without a state: back to the bare redirect_uri.
    let resp = s
        .post_form(&[
            ("appid", APPID),
            ("redirect_uri", CALLBACK),
            ("scope", "snsapi_userinfo"),
            ("action", "deny"),
        ])
        .await;
    assert_eq!(location(&resp), CALLBACK);
}

#[tokio::test]
async fn consent_form_is_revalidated() {
    let s = spawn().await;
    let good = [
        ("appid", APPID),
        ("redirect_uri", CALLBACK),
        ("scope", "snsapi_userinfo"),
        ("state", "a"),
        ("user", "0"),
        ("action", "allow"),
    ];
    assert_eq!(s.post_form(&good).await.status(), 302);
    for (key, value) in [
        ("appid", "wx0000000000000000"),
        ("scope", "snsapi_admin"),
        ("redirect_uri", ""),
        ("user", "4"),
        ("user", "-1"),
        ("user", "99999999999999999999999"),
        ("action", "maybe"),
        ("state", "no spaces"),
    ] {
        let form: Vec<(&str, &str)> = good
            .iter()
            .map(|&(k, v)| if k == key { (k, value) } else { (k, v) })
            .collect();
        let resp = s.post_form(&form).await;
        assert_eq!(resp.status(), 400, "{key}={value}");
        assert!(resp.headers().get("location").is_none());
    }
    // Not even a form.
    let resp = s
        .http
        .post(s.url("/connect/oauth2/authorize"))
        .body(vec![0xff, 0xfe, 0x00, b'&', b'='])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
