//! Who the browser is: the chat page remembers the user it acts as (the `wxsim_user` cookie),
//! and `/connect/oauth2/authorize` logs that user in, as WeChat's in-chat browser does.

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;
use wxsim::{SimConfig, default_users};

/// A browser: keeps cookies, does not follow redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn openid(i: usize) -> String {
    default_users()[i].openid.clone()
}

/// `POST /_sim/chat/user` as the chat page does; returns the status and the Set-Cookie.
async fn act_as(s: &Sim, browser: &reqwest::Client, openid: &str) -> (StatusCode, Option<String>) {
    let resp = browser
        .post(s.url("/_sim/chat/user"))
        .json(&json!({ "openid": openid }))
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get(SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    (resp.status(), cookie)
}

/// The authorize link with `scope`, from `browser`: the response.
async fn authorize(s: &Sim, browser: &reqwest::Client, scope: &str) -> reqwest::Response {
    browser
        .get(s.url(&authorize_query(CALLBACK, scope, Some("s1"))))
        .send()
        .await
        .unwrap()
}

/// snsapi_base from `browser`: the openid its silent code exchanges to.
async fn base_login(s: &Sim, browser: &reqwest::Client) -> String {
    let resp = authorize(s, browser, "snsapi_base").await;
    assert_eq!(resp.status(), 302);
    let location = location(&resp);
    assert_eq!(param(&location, "state").as_deref(), Some("s1"));
    let code = param(&location, "code").expect("a code");
    let token = s.exchange(&code).await;
    assert_eq!(token["scope"], "snsapi_base", "{token}");
    token["openid"].as_str().unwrap().to_string()
}

/// The values of the checked radio inputs on a consent page.
fn checked_user(page: &str) -> Vec<String> {
    page.match_indices("<input type=\"radio\" name=\"user\" value=\"")
        .filter_map(|(i, m)| {
            let rest = &page[i + m.len()..];
            let (value, after) = rest.split_once('"')?;
            after.starts_with(" checked>").then(|| value.to_string())
        })
        .collect()
}

#[tokio::test]
async fn the_chat_user_cookie_makes_snsapi_base_log_in_that_user() {
    let s = spawn().await;
    let phone = browser();
    // No cookie yet: users[0], as before.
    assert_eq!(base_login(&s, &phone).await, openid(0));

    let (status, cookie) = act_as(&s, &phone, &openid(1)).await;
    assert_eq!(status, 204);
    let cookie = cookie.expect("a Set-Cookie");
    assert_eq!(
        cookie,
        format!("wxsim_user={}; Path=/; SameSite=Lax", openid(1))
    );
    assert_eq!(base_login(&s, &phone).await, openid(1), "🐼 tapped it");

    // Picking another user in the chat switches who this browser is.
    assert_eq!(act_as(&s, &phone, &openid(2)).await.0, 204);
    assert_eq!(base_login(&s, &phone).await, openid(2));

    // Another browser is not affected.
    assert_eq!(base_login(&s, &browser()).await, openid(0));
}

#[tokio::test]
async fn the_chat_page_sets_and_restores_the_user_cookie() {
    let s = spawn().await;
    let phone = browser();
    let resp = phone.get(s.url("/_sim/chat")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()[SET_COOKIE],
        format!("wxsim_user={}; Path=/; SameSite=Lax", openid(0)).as_str(),
        "the page acts as users[0] at first"
    );
    let page = resp.text().await.unwrap();
    assert!(page.contains(&format!(r#"<option value="{}" data-avatar="#, openid(0))));
    assert_eq!(page.matches(" selected>").count(), 1);
    // The script tells the simulator whenever the person picks, sends or taps.
    assert!(page.contains("'/_sim/chat/user'"));
    assert!(page.contains("remembered.then(function () { window.open(href, '_blank'"));

    // The page opens as the remembered user, with that user's menu data.
    assert_eq!(act_as(&s, &phone, &openid(1)).await.0, 204);
    let resp = phone.get(s.url("/_sim/chat")).send().await.unwrap();
    assert_eq!(
        resp.headers()[SET_COOKIE],
        format!("wxsim_user={}; Path=/; SameSite=Lax", openid(1)).as_str()
    );
    let page = resp.text().await.unwrap();
    let panda = format!(r#"<option value="{}" data-avatar=""#, openid(1));
    let at = page.find(&panda).expect("the panda option");
    let option = &page[at..at + page[at..].find("</option>").unwrap()];
    assert!(option.contains(" selected>🐼熊猫🎋"), "{option}");
    assert_eq!(page.matches(" selected>").count(), 1);
    assert!(page.contains(&format!(r#""openid":"{}""#, openid(1))));
}

#[tokio::test]
async fn snsapi_userinfo_preselects_the_chat_user_and_still_lets_you_choose() {
    let s = spawn().await;
    let phone = browser();
    // No cookie: the picker with users[0] preselected, as before.
    let page = authorize(&s, &phone, "snsapi_userinfo")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(checked_user(&page), ["0"]);

    assert_eq!(act_as(&s, &phone, &openid(1)).await.0, 204);
    let resp = authorize(&s, &phone, "snsapi_userinfo").await;
    assert_eq!(resp.status(), 200, "the consent page, not a redirect");
    let page = resp.text().await.unwrap();
    assert_eq!(checked_user(&page), ["1"], "🐼 preselected");
    assert_eq!(
        page.matches("name=\"user\"").count(),
        4,
        "all users offered"
    );
    assert!(page.contains(r#"<button id="allow" name="action" value="allow">允许</button>"#));
    assert!(page.contains(r#"<button id="deny" name="action" value="deny">拒绝</button>"#));

    // Allowing as 🐼 logs 🐼 in; choosing someone else is still possible.
    for user in [1, 0] {
        let u = user.to_string();
        let resp = s
            .post_form(&[
                ("appid", APPID),
                ("redirect_uri", CALLBACK),
                ("scope", "snsapi_userinfo"),
                ("state", "s1"),
                ("user", &u),
                ("action", "allow"),
            ])
            .await;
        assert_eq!(resp.status(), 302);
        let code = param(&location(&resp), "code").unwrap();
        assert_eq!(s.exchange(&code).await["openid"], openid(user).as_str());
    }
}

#[tokio::test]
async fn an_unknown_or_malformed_chat_user_cookie_is_ignored() {
    let s = spawn().await;
    let with_cookie = |cookie: &'static str, scope: &str| {
        s.http
            .get(s.url(&authorize_query(CALLBACK, scope, Some("s1"))))
            .header(COOKIE, cookie)
    };
    for cookie in [
        "wxsim_user=oNobodyHasThisOpenid",
        "wxsim_user=",
        "wxsim_user=%FF",
        "other_wxsim_user=oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
    ] {
        let resp = with_cookie(cookie, "snsapi_base").send().await.unwrap();
        assert_eq!(resp.status(), 302, "{cookie}");
        let code = param(&location(&resp), "code").unwrap();
        assert_eq!(
            s.exchange(&code).await["openid"],
            openid(0).as_str(),
            "{cookie}"
        );
        let page = with_cookie(cookie, "snsapi_userinfo")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(checked_user(&page), ["0"], "{cookie}");
    }
    // Among other cookies, and after an unknown one, the known user is found.
    let resp = with_cookie(
        "session=x; wxsim_user=nobody; wxsim_user=oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
        "snsapi_base",
    )
    .send()
    .await
    .unwrap();
    let code = param(&location(&resp), "code").unwrap();
    assert_eq!(s.exchange(&code).await["openid"], openid(1).as_str());

    // The control path refuses an unknown openid and sets no cookie.
    let phone = browser();
    let (status, cookie) = act_as(&s, &phone, "oNobodyHasThisOpenid").await;
    assert_eq!((status, cookie), (StatusCode::BAD_REQUEST, None));
    let resp = phone
        .post(s.url("/_sim/chat/user"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get(SET_COOKIE).is_none());
    assert_eq!(base_login(&s, &phone).await, openid(0));
}

#[tokio::test]
async fn auto_consent_and_odd_openids_follow_the_chat_user() {
    let mut config = SimConfig::new(APPID, SECRET);
    config.auto_consent = true;
    let mut odd = default_users()[1].clone();
    odd.openid = "o; odd,\"openid\"%=熊".to_string();
    config.users.push(odd);
    let s = spawn_with(config).await;
    let phone = browser();
    let (status, cookie) = act_as(&s, &phone, "o; odd,\"openid\"%=熊").await;
    assert_eq!(status, 204);
    let cookie = cookie.unwrap();
    assert!(
        cookie.starts_with("wxsim_user=o%3B%20odd%2C%22openid%22%25=%E7%86%8A; "),
        "{cookie}"
    );
    assert_eq!(base_login(&s, &phone).await, "o; odd,\"openid\"%=熊");
    // Auto consent logs the chat user in too; without the cookie it stays users[0].
    for (client, want) in [
        (&phone, "o; odd,\"openid\"%=熊".to_string()),
        (&browser(), openid(0)),
    ] {
        let resp = authorize(&s, client, "snsapi_userinfo").await;
        assert_eq!(resp.status(), 302);
        let code = param(&location(&resp), "code").unwrap();
        let token = s.exchange(&code).await;
        assert_eq!(token["openid"], want.as_str());
        assert_eq!(token["scope"], "snsapi_userinfo");
    }
}
