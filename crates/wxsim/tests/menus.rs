//! Custom menus (§D): create/get/delete, WeChat's validation codes, personalized menus and
//! trymatch, get_current_selfmenu_info, `/_sim/menu`, and the menu on the chat page.

mod common;

use common::*;
use serde_json::{Value, json};
use wxsim::{SimConfig, SimUser, default_users};

struct Api {
    s: Sim,
    token: String,
}

impl Api {
    async fn new() -> Api {
        Api::with(SimConfig::new(APPID, SECRET)).await
    }

    async fn with(config: SimConfig) -> Api {
        let s = spawn_with(config).await;
        let body = s
            .json(&format!(
                "/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret={SECRET}"
            ))
            .await;
        let token = body["access_token"].as_str().unwrap().to_string();
        Api { s, token }
    }

    async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Value {
        let resp = self
            .s
            .http
            .post(self.s.url(&format!("{path}?access_token={}", self.token)))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_TYPE],
            "application/json; encoding=utf-8"
        );
        let body: Value = resp.json().await.unwrap();
        if body["errcode"].as_i64().is_some_and(|c| c != 0) {
            assert_rid(&body);
        }
        body
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        // Like serde_json: raw UTF-8, no \u escapes for non-ASCII.
        self.post_raw(path, body.to_string()).await
    }

    async fn create(&self, menu: &Value) -> i64 {
        code(&self.post("/cgi-bin/menu/create", menu).await)
    }

    async fn get(&self, path: &str) -> Value {
        self.s
            .json(&format!("{path}?access_token={}", self.token))
            .await
    }
}

fn code(body: &Value) -> i64 {
    body["errcode"].as_i64().unwrap_or(0)
}

/// The official example menu.
fn example() -> Value {
    json!({"button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"},
        {"name": "菜单", "sub_button": [
            {"type": "view", "name": "搜索", "url": "http://www.soso.com/"},
            {"type": "miniprogram", "name": "wxa", "url": "http://mp.weixin.qq.com",
             "appid": "wx286b93c14bbf93aa", "pagepath": "pages/lunar/index"},
            {"type": "click", "name": "赞一下我们", "key": "V1001_GOOD"}
        ]}
    ]})
}

#[tokio::test]
async fn create_get_delete_round_trip() {
    let api = Api::new().await;
    assert_eq!(code(&api.get("/cgi-bin/menu/get").await), 46003);
    let body = api.post("/cgi-bin/menu/create", &example()).await;
    assert_eq!(body, json!({"errcode": 0, "errmsg": "ok"}));
    let got = api.get("/cgi-bin/menu/get").await;
    assert!(got.get("conditionalmenu").is_none(), "{got}");
    assert!(got["menu"]["menuid"].is_u64(), "{got}");
    let buttons = &got["menu"]["button"];
    assert_eq!(
        buttons[0],
        json!({"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC", "sub_button": []})
    );
    assert_eq!(buttons[1]["name"], "菜单");
    assert!(buttons[1].get("type").is_none());
    assert_eq!(
        buttons[1]["sub_button"][0],
        json!({"type": "view", "name": "搜索", "url": "http://www.soso.com/", "sub_button": []})
    );
    assert_eq!(buttons[1]["sub_button"][1]["appid"], "wx286b93c14bbf93aa");
    assert_eq!(buttons[1]["sub_button"][1]["pagepath"], "pages/lunar/index");
    assert_eq!(buttons[1]["sub_button"][2]["sub_button"], json!([]));
    // What menu/get returned can be created again as is (sub_button: [] on leaves).
    assert_eq!(
        api.create(&json!({"button": buttons})).await,
        0,
        "round trip"
    );
    let again = api.get("/cgi-bin/menu/get").await;
    assert_eq!(&again["menu"]["button"], buttons);
    assert_ne!(again["menu"]["menuid"], got["menu"]["menuid"]);

    let info = api.get("/cgi-bin/get_current_selfmenu_info").await;
    assert_eq!(info["is_menu_open"], 1);
    let b = &info["selfmenu_info"]["button"];
    assert_eq!(
        b[0],
        json!({"type": "click", "name": "今日歌曲", "key": "V1001_TODAY_MUSIC"})
    );
    assert_eq!(b[1]["sub_button"]["list"][0]["url"], "http://www.soso.com/");
    assert!(b[1]["sub_button"]["list"][0].get("sub_button").is_none());

    let del = api.get("/cgi-bin/menu/delete").await;
    assert_eq!(del, json!({"errcode": 0, "errmsg": "ok"}));
    let gone = api.get("/cgi-bin/menu/get").await;
    assert_eq!(code(&gone), 46003);
    assert!(
        gone["errmsg"]
            .as_str()
            .unwrap()
            .starts_with("menu no exist")
    );
    let info = api.get("/cgi-bin/get_current_selfmenu_info").await;
    assert_eq!(info["is_menu_open"], 0);
    // The other menu paths need a valid token too.
    assert_eq!(
        s_code(&api, "/cgi-bin/menu/delete?access_token=x").await,
        40001
    );
    assert_eq!(
        s_code(&api, "/cgi-bin/get_current_selfmenu_info").await,
        41001
    );
}

async fn s_code(api: &Api, path: &str) -> i64 {
    api.s.errcode(path).await
}

fn leaf(kind: &str, name: &str) -> Value {
    json!({"type": kind, "name": name, "key": "k"})
}

#[tokio::test]
async fn menu_validation_error_codes() {
    let api = Api::new().await;
    let long = |n: usize| "a".repeat(n);
    let click = leaf("click", "ok");
    let parent = |subs: Vec<Value>| json!({"name": "父", "sub_button": subs});
    let view = |name: &str, url: &str| json!({"type": "view", "name": name, "url": url});
    let cases: Vec<(&str, Value, i64)> = vec![
        ("no buttons", json!({"button": []}), 40016),
        ("no button field", json!({"menu": []}), 40016),
        (
            "four top-level",
            json!({"button": [click, click, click, click]}),
            40016,
        ),
        ("unknown type", json!({"button": [leaf("tap", "a")]}), 40017),
        (
            "name 17 bytes",
            json!({"button": [leaf("click", &long(17))]}),
            40018,
        ),
        (
            "name 6 Chinese chars = 18 bytes",
            json!({"button": [leaf("click", "一二三四五六")]}),
            40018,
        ),
        ("empty name", json!({"button": [leaf("click", "")]}), 40018),
        (
            "key 129 bytes",
            json!({"button": [{"type": "click", "name": "a", "key": long(129)}]}),
            40019,
        ),
        (
            "missing key",
            json!({"button": [{"type": "scancode_push", "name": "a"}]}),
            40019,
        ),
        (
            "view without url",
            json!({"button": [{"type": "view", "name": "a"}]}),
            40020,
        ),
        (
            "url 1025 bytes",
            json!({"button": [view("a", &format!("http://a.com/{}", long(1012)))]}),
            40020,
        ),
        (
            "url without scheme",
            json!({"button": [view("a", "www.qq.com")]}),
            40055,
        ),
        (
            "url-encoded url",
            json!({"button": [view("a", "http%3A%2F%2Fwww.qq.com")]}),
            40055,
        ),
        (
            "url without host",
            json!({"button": [view("a", "http://")]}),
            40055,
        ),
        (
            "sub url without host",
            json!({"button": [parent(vec![view("a", "https://")])]}),
            40054,
        ),
        (
            "six sub-buttons",
            json!({"button": [parent(vec![click.clone(); 6])]}),
            40023,
        ),
        (
            "empty sub_button and no type",
            json!({"button": [parent(vec![])]}),
            40023,
        ),
        (
            "neither type nor sub_button",
            json!({"button": [{"name": "a"}]}),
            41007,
        ),
        (
            "sub unknown type",
            json!({"button": [parent(vec![leaf("tap", "a")])]}),
            40024,
        ),
        (
            "sub name 61 bytes",
            json!({"button": [parent(vec![leaf("click", &long(61))])]}),
            40025,
        ),
        (
            "sub key 129 bytes",
            json!({"button": [parent(vec![json!({"type": "click", "name": "a", "key": long(129)})])]}),
            40026,
        ),
        (
            "sub view without url",
            json!({"button": [parent(vec![json!({"type": "view", "name": "a"})])]}),
            40027,
        ),
        (
            "sub url without scheme",
            json!({"button": [parent(vec![view("a", "ftp://x.com/")])]}),
            40054,
        ),
        (
            "media_id without media_id",
            json!({"button": [{"type": "media_id", "name": "a"}]}),
            40007,
        ),
        (
            "four url domains",
            json!({"button": [view("a", "http://a.com"), view("b", "http://b.com"),
                parent(vec![view("c", "http://c.com"), view("d", "https://d.com/x")])]}),
            65316,
        ),
        (
            "a miniprogram's url counts as a domain",
            json!({"button": [view("a", "http://a.com"), view("b", "http://b.com"),
                parent(vec![view("c", "http://c.com"),
                    json!({"type": "miniprogram", "name": "d", "url": "http://d.com",
                           "appid": "wx286b93c14bbf93aa", "pagepath": "pages/index"})])]}),
            65316,
        ),
    ];
    for (what, menu, expected) in &cases {
        assert_eq!(api.create(menu).await, *expected, "{what}: {menu}");
    }
    assert_eq!(
        code(&api.get("/cgi-bin/menu/get").await),
        46003,
        "no failed create left a menu"
    );
    // The limits themselves are fine: 16-byte name, 60-byte sub name, 128-byte key, 5 subs.
    let ok = json!({"button": [
        {"type": "click", "name": "一二三四五", "key": long(128)},
        parent(vec![leaf("click", &long(60)), click.clone(), click.clone(), click.clone(), click.clone()]),
        {"type": "view", "name": long(16), "url": "HTTPS://a.com/"}
    ]});
    assert_eq!(api.create(&ok).await, 0);
    // One host however it is spelt (case, port, path) is one domain: 3 domains are fine.
    let three = json!({"button": [view("a", "http://a.com"), view("b", "https://B.com:8443/x"),
        parent(vec![view("c", "http://c.com"), view("a2", "HTTPS://A.COM/y?z"),
            view("b2", "http://b.com/")])]});
    assert_eq!(api.create(&three).await, 0);
}

/// A conditional menu has its own limit of 3 URL domains (65316), as the default menu has.
#[tokio::test]
async fn a_conditional_menu_with_four_domains_is_refused() {
    let api = Api::new().await;
    assert_eq!(api.create(&example()).await, 0);
    let view = |name: &str, url: &str| json!({"type": "view", "name": name, "url": url});
    let four = json!({"button": [view("a", "http://a.com"), view("b", "http://b.com"),
        {"name": "父", "sub_button": [view("c", "http://c.com"), view("d", "http://d.com")]}],
        "matchrule": {"tag_id": "100"}});
    let body = api.post("/cgi-bin/menu/addconditional", &four).await;
    assert_eq!(code(&body), 65316, "{body}");
    let three = json!({"button": [view("a", "http://a.com"), view("b", "http://b.com"),
        {"name": "父", "sub_button": [view("c", "http://c.com"), view("d", "http://a.com/d")]}],
        "matchrule": {"tag_id": "100"}});
    let body = api.post("/cgi-bin/menu/addconditional", &three).await;
    assert!(body["menuid"].is_string(), "{body}");
}

#[tokio::test]
async fn raw_body_checks() {
    let api = Api::new().await;
    let escaped = r#"{"button":[{"type":"click","name":"\u83dc\u5355","key":"k"}]}"#;
    let body = api.post_raw("/cgi-bin/menu/create", escaped).await;
    assert_eq!(code(&body), 40033, "{body}");
    let raw = r#"{"button":[{"type":"click","name":"菜单","key":"k"}]}"#;
    assert_eq!(code(&api.post_raw("/cgi-bin/menu/create", raw).await), 0);
    // GBK bytes for 菜单.
    let mut gbk = br#"{"button":[{"type":"click","name":""#.to_vec();
    gbk.extend_from_slice(&[0xb2, 0xcb, 0xb5, 0xa5]);
    gbk.extend_from_slice(br#"","key":"k"}]}"#);
    assert_eq!(
        code(&api.post_raw("/cgi-bin/menu/create", gbk).await),
        65318
    );
    assert_eq!(
        code(&api.post_raw("/cgi-bin/menu/create", "{not json").await),
        40016
    );
    assert_eq!(code(&api.post_raw("/cgi-bin/menu/create", "").await), 44002);
    let get = api.get("/cgi-bin/menu/create").await;
    assert_eq!(code(&get), 43002);
    // No token: 41001 before anything else.
    let resp: Value = api
        .s
        .http
        .post(api.s.url("/cgi-bin/menu/create"))
        .body(raw)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&resp), 41001);
}

fn users() -> Vec<SimUser> {
    let mut users = default_users();
    users[0].tags = vec![];
    users[0].client_platform_type = Some(1);
    users[1].tags = vec!["100".into(), "101".into()];
    users[1].client_platform_type = Some(2);
    users[2].tags = vec!["100".into()];
    users[2].client_platform_type = Some(1);
    users
}

#[tokio::test]
async fn conditional_menus_and_trymatch() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.users = users();
    let (zhang, panda, third) = (
        config.users[0].openid.clone(),
        config.users[1].openid.clone(),
        config.users[2].openid.clone(),
    );
    let api = Api::with(config).await;
    let tagged = json!({"button": [leaf("click", "标签菜单")], "matchrule": {"tag_id": "100"}});
    let android =
        json!({"button": [leaf("click", "安卓菜单")], "matchrule": {"client_platform_type": "2"}});
    let add = |m: &Value| {
        let m = m.clone();
        let api = &api;
        async move { api.post("/cgi-bin/menu/addconditional", &m).await }
    };
    assert_eq!(code(&add(&tagged).await), 65303, "needs a default menu");
    assert_eq!(api.create(&example()).await, 0);
    let rule = |r: Value| json!({"button": [leaf("click", "x")], "matchrule": r});
    assert_eq!(code(&add(&rule(json!({}))).await), 65304);
    assert_eq!(
        code(&add(&json!({"button": [leaf("click", "x")]})).await),
        65304
    );
    assert_eq!(
        code(&add(&rule(json!({"tag_id": "", "client_platform_type": ""}))).await),
        65304
    );
    for privacy in ["sex", "country", "province", "city", "language"] {
        assert_eq!(
            code(&add(&rule(json!({privacy: "1", "tag_id": "100"}))).await),
            65320,
            "{privacy}"
        );
    }
    assert_eq!(
        code(&add(&json!({"button": [leaf("tap", "x")], "matchrule": {"tag_id": "100"}})).await),
        40017
    );
    let first = add(&tagged).await;
    let first_id = first["menuid"].as_str().expect("menuid is a string");
    assert!(first_id.parse::<u64>().is_ok(), "{first}");
    let second = add(&android).await;
    let second_id = second["menuid"].as_str().unwrap().to_string();

    let got = api.get("/cgi-bin/menu/get").await;
    let cond = got["conditionalmenu"].as_array().expect("conditionalmenu");
    assert_eq!(cond.len(), 2);
    assert_eq!(cond[0]["matchrule"], json!({"tag_id": "100"}));
    assert_eq!(cond[0]["menuid"].to_string(), first_id);
    assert_eq!(cond[1]["button"][0]["sub_button"], json!([]));

    let trymatch = |who: &str| {
        let body = json!({"user_id": who});
        let api = &api;
        async move { api.post("/cgi-bin/menu/trymatch", &body).await }
    };
    let name = |v: &Value| v["button"][0]["name"].as_str().unwrap_or("?").to_string();
    // Newest matching wins: panda has tag 100 and Android.
    assert_eq!(name(&trymatch(&panda).await), "安卓菜单");
    assert_eq!(name(&trymatch(&third).await), "标签菜单");
    let zhang_menu = trymatch(&zhang).await;
    assert_eq!(name(&zhang_menu), "今日歌曲", "falls back to the default");
    assert_eq!(zhang_menu["button"][0]["sub_button"], json!([]));
    assert_eq!(code(&trymatch("oUnknownUser").await), 65302);
    assert_eq!(code(&trymatch("").await), 65302);

    let sim_menu: Value = api
        .s
        .get(&format!("/_sim/menu?openid={panda}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sim_menu["effective"]["menuid"].to_string(), second_id);
    assert_eq!(sim_menu["conditionalmenu"].as_array().unwrap().len(), 2);
    assert_eq!(sim_menu["menu"]["button"][0]["name"], "今日歌曲");

    let del = |id: Value| {
        let body = json!({ "menuid": id });
        let api = &api;
        async move { api.post("/cgi-bin/menu/delconditional", &body).await }
    };
    assert_eq!(code(&del(json!(second_id)).await), 0);
    assert_eq!(code(&del(json!(second_id)).await), 65301);
    assert_eq!(code(&del(json!("123")).await), 65301);
    assert_eq!(name(&trymatch(&panda).await), "标签菜单");
    // A numeric menuid works as well.
    assert_eq!(code(&del(json!(first_id.parse::<u64>().unwrap())).await), 0);
    assert_eq!(name(&trymatch(&panda).await), "今日歌曲");
    // menu/delete removes personalized menus too.
    add(&tagged).await;
    api.get("/cgi-bin/menu/delete").await;
    let empty: Value = api.s.get("/_sim/menu").await.json().await.unwrap();
    assert_eq!(
        empty,
        json!({"menu": null, "conditionalmenu": []}),
        "{empty}"
    );
    assert_eq!(code(&trymatch(&third).await), 46003);
}

#[tokio::test]
async fn chat_page_shows_the_menu() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.users = users();
    let api = Api::with(config).await;
    let page = api.s.text("/_sim/chat").await;
    assert!(
        page.contains(r#"<div id="menu-bar" data-testid="menu-bar" data-menuid="" hidden>"#),
        "no menu: the bar is hidden"
    );
    assert!(!page.contains(r#"data-testid="menu-button">"#));

    let menu = json!({"button": [
        {"type": "click", "name": "今日歌曲", "key": "V1001"},
        {"name": "<b>更多</b>", "sub_button": [
            {"type": "view", "name": "登录", "url": "http://127.0.0.1:8000/auth/"},
            {"type": "scancode_push", "name": "扫一扫", "key": "scan"}
        ]}
    ]});
    assert_eq!(api.create(&menu).await, 0);
    let page = api.s.text("/_sim/chat").await;
    assert!(page.contains(r#"<div id="menu-bar" data-testid="menu-bar" data-menuid=""#));
    assert!(!page.contains(r#"data-menuid="" hidden>"#));
    assert!(page.contains(r#"data-testid="menu-button">今日歌曲</button>"#));
    assert!(page.contains(r#"data-testid="menu-button">&lt;b&gt;更多&lt;/b&gt;</button>"#));
    assert!(page.contains(r#"data-testid="sub-button">登录</button>"#));
    assert!(page.contains(r#"data-testid="sub-button">扫一扫</button>"#));
    assert!(!page.contains("<b>更多"), "names are escaped");
    // The embedded menu data cannot close its script element.
    let data_start = page.find(r#"id="menu-data">"#).unwrap();
    let data_end = data_start + page[data_start..].find("</script>").unwrap();
    let data = &page[data_start + r#"id="menu-data">"#.len()..data_end];
    assert!(!data.contains('<'), "{data}");
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["menu"]["button"][0]["key"], "V1001");
    // The script renders with textContent and wires the buttons to pushes.
    assert!(page.contains("'menu-button'") && page.contains("'sub-button'"));
    assert!(page.contains("type: 'click', key: key"));
    assert!(page.contains("window.open(href, '_blank'"));

    // The first user (iOS) sees a personalized menu for iOS.
    let ios =
        json!({"button": [leaf("click", "苹果专属")], "matchrule": {"client_platform_type": "1"}});
    let added = api.post("/cgi-bin/menu/addconditional", &ios).await;
    let page = api.s.text("/_sim/chat").await;
    assert!(page.contains(r#"data-testid="menu-button">苹果专属</button>"#));
    assert!(page.contains(&format!(
        r#"data-menuid="{}""#,
        added["menuid"].as_str().unwrap()
    )));
    assert!(!page.contains(r#"data-testid="menu-button">今日歌曲</button>"#));
}
