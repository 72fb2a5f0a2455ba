//! The web login, as a browser lives it: /auth/ → the simulator's consent page → /empower/ →
//! /index/, over real HTTP on loopback.

mod common;

use common::*;
use reqwest::StatusCode;

fn query_keys(url: &str) -> Vec<String> {
    let query = url.split_once('?').unwrap().1.split('#').next().unwrap();
    query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap().to_owned())
        .collect()
}

fn query_value(url: &str, key: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn root_redirects_to_index_and_a_guest_is_greeted_as_youke() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let p = b.get(&format!("{}/", app.url)).await;
    assert_eq!(p.status, StatusCode::FOUND);
    assert_eq!(p.location(), "/index/");
    let p = b.get(&format!("{}/index/", app.url)).await;
    assert!(p.body.contains("name=\"viewport\""));
    assert!(p.body.contains("id=\"login\""));
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
}

#[tokio::test]
async fn auth_sends_the_browser_to_wechat_with_parameters_in_wechats_order() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let p = b.get(&format!("{}/auth/", app.url)).await;
    assert_eq!(p.status, StatusCode::FOUND);
    let url = p.location();
    assert!(
        url.starts_with(&format!(
            "{}/connect/oauth2/authorize?appid={APPID}&",
            sim.url
        )),
        "{url}"
    );
    assert!(url.ends_with("#wechat_redirect"), "{url}");
    assert_eq!(
        query_keys(url),
        ["appid", "redirect_uri", "response_type", "scope", "state"]
    );
    assert_eq!(
        query_value(url, "redirect_uri"),
        format!("{}/empower/", app.url)
    );
    assert_eq!(query_value(url, "response_type"), "code");
    assert_eq!(query_value(url, "scope"), "snsapi_userinfo");
    let state = query_value(url, "state");
    assert!(state.len() >= 22 && state.len() <= 128, "{state}");
    assert!(state.bytes().all(|b| b.is_ascii_alphanumeric()));

    // Every login gets a fresh state.
    let again = b.get(&format!("{}/auth/?scope=snsapi_base", app.url)).await;
    assert_eq!(query_value(again.location(), "scope"), "snsapi_base");
    assert_ne!(query_value(again.location(), "state"), state);

    let bad = b
        .get(&format!("{}/auth/?scope=snsapi_login", app.url))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("snsapi_base"));
}

#[tokio::test]
async fn a_userinfo_login_greets_by_nickname_with_avatar_and_stores_the_user() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let before = b.get(&format!("{}/auth/", app.url)).await;
    let pre_login_cookie = before.set_cookie.join(";");
    let authorize = before.location().split('#').next().unwrap().to_owned();
    let callback = b.consent(&authorize, PANDA, "allow").await;
    assert!(
        callback.starts_with(&format!("{}/empower/?code=", app.url)),
        "{callback}"
    );
    let done = b.get(&callback).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_eq!(done.location(), "/index/");
    // The session id changes at login (no session fixation).
    let new_cookie = done
        .set_cookie
        .iter()
        .find(|c| c.starts_with("wxgate_session="))
        .unwrap();
    assert!(!pre_login_cookie.contains(new_cookie.split(';').next().unwrap()));

    assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
    let index = b.get(&format!("{}/index/", app.url)).await;
    assert!(index.body.contains("id=\"avatar\""));
    assert!(index.body.contains("id=\"logout\""));

    let users = wxsim::default_users();
    let stored = wxgate::db::users::find_user(&app.state.db, &users[PANDA].openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.nickname.as_deref(), Some("🐼熊猫🎋"));
    assert_eq!(stored.scope, "snsapi_userinfo");
    assert!(stored.headimgurl.unwrap().starts_with("http"));
    assert!(stored.first_seen > 0 && stored.last_login >= stored.first_seen);
    let tokens = wxgate::db::users::find_tokens(&app.state.db, &users[PANDA].openid)
        .await
        .unwrap()
        .unwrap();
    // The token stays on the server: not in the cookie, not in the page.
    for text in done.set_cookie.iter().chain([&index.body]) {
        assert!(!text.contains(tokens.access_token.secret()));
        assert!(!text.contains(tokens.refresh_token.secret()));
    }
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 1);
    assert_eq!(sim.sim.calls("/sns/userinfo"), 1);
}

#[tokio::test]
async fn nicknames_are_html_escaped() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, XSS).await;
    let index = b.get(&format!("{}/index/", app.url)).await;
    assert!(!index.body.contains("<script>alert"), "{}", index.body);
    assert!(index.body.contains("&lt;script&gt;alert("));
    assert!(index.body.contains("&amp;amp;"));
}

#[tokio::test]
async fn a_base_login_is_silent_and_asks_for_no_profile() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "?scope=snsapi_base").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    let done = b.get(&callback).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_eq!(sim.sim.calls("/sns/userinfo"), 0);
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let stored = wxgate::db::users::find_user(&app.state.db, openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.scope, "snsapi_base");
    assert_eq!(stored.nickname, None);
    assert!(
        b.get(&format!("{}/index/", app.url))
            .await
            .body
            .contains("id=\"logout\"")
    );
}

#[tokio::test]
async fn refusing_shows_the_seeds_page_and_logs_nobody_in() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, PANDA, "deny").await;
    assert!(!callback.contains("code="));
    let p = b.get(&callback).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("您未授权,无法获取用户信息"));
    assert!(p.body.contains("id=\"retry\""));
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
    // The refused state is spent.
    let again = b
        .get(&callback.replace("?state=", "?code=whatever&state="))
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn missing_forged_and_foreign_states_are_refused_and_log_nobody_in() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let victim = Browser::new();
    let attacker = Browser::new();
    let authorize = victim.start_login(&app, "").await;
    let callback = victim.consent(&authorize, PANDA, "allow").await;
    let code = query_value(&callback, "code");

    for url in [
        format!("{}/empower/?code={code}", app.url),
        format!(
            "{}/empower/?code={code}&state=forged0state0value0000000000000",
            app.url
        ),
        format!("{}/empower/?code={code}&state=%3Cscript%3E", app.url),
        callback.clone(), // the victim's own state, but in another browser
    ] {
        let p = attacker.get(&url).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{url}: {}", p.body);
        assert!(p.body.contains("登录链接已失效"));
        assert!(p.body.contains("id=\"retry\""), "a way to start again");
        assert_eq!(attacker.greeting(&app).await, "欢迎:游客");
    }
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 0);
    // The victim's login still works: nothing the attacker did spent it.
    let p = victim.get(&callback).await;
    assert_eq!(p.status, StatusCode::FOUND, "{}", p.body);
    assert_eq!(victim.greeting(&app).await, "欢迎:🐼熊猫🎋");
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("state_ttl_secs", "1")]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, PANDA, "allow").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let p = b.get(&callback).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.body);
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 0);
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
}

#[tokio::test]
async fn a_replayed_callback_is_quiet_for_the_same_browser_and_refused_for_another() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, PANDA, "allow").await;
    assert_eq!(b.get(&callback).await.status, StatusCode::FOUND);
    // Refresh / back button: no error, still logged in, code not spent again.
    let again = b.get(&callback).await;
    assert_eq!(again.status, StatusCode::FOUND, "{}", again.body);
    assert_eq!(again.location(), "/index/");
    assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 1);
    // Someone else opening the same URL gets nothing.
    let other = Browser::new();
    let p = other.get(&callback).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(other.greeting(&app).await, "欢迎:游客");
}

#[tokio::test]
async fn two_racing_copies_of_the_callback_spend_the_code_once() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    // Slow WeChat down so the two requests overlap.
    let mut slow = wxsim::Fault::new("/sns/oauth2/access_token");
    slow.delay_ms = Some(300);
    sim.sim.inject(slow);
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    let (one, two) = tokio::join!(b.get(&callback), b.get(&callback));
    assert_eq!(one.status, StatusCode::FOUND, "{}", one.body);
    assert_eq!(two.status, StatusCode::FOUND, "{}", two.body);
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 1);
    assert_eq!(b.greeting(&app).await, "欢迎:张三");
}

#[tokio::test]
async fn next_is_honoured_for_local_paths_only() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "?next=%2Findex%2F%3Ffrom%3Dmenu").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    let p = b.get(&callback).await;
    assert_eq!(p.location(), "/index/?from=menu");
    for evil in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example",
        "%2F%5Cevil.example",
    ] {
        let p = b.get(&format!("{}/auth/?next={evil}", app.url)).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{evil}");
    }
}

#[tokio::test]
async fn a_snapshot_page_user_is_asked_to_use_the_full_service_and_not_stored() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let p = b.login(&app, SNAPSHOT).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("使用完整服务"));
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
    let openid = &wxsim::default_users()[SNAPSHOT].openid;
    assert!(
        wxgate::db::users::find_user(&app.state.db, openid)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(sim.sim.calls("/sns/userinfo"), 0);
}

#[tokio::test]
async fn reloading_the_snapshot_page_shows_it_again() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, SNAPSHOT, "allow").await;
    assert!(b.get(&callback).await.body.contains("使用完整服务"));
    let again = b.get(&callback).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    assert!(again.body.contains("使用完整服务"));
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 1);
    // Not for another browser.
    assert_eq!(
        Browser::new().get(&callback).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn unknown_pages_get_a_readable_404() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let p = Browser::new().get(&format!("{}/nope", app.url)).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.body.contains("页面不存在"));
}

#[tokio::test]
async fn logout_ends_the_session() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, ZHANG_SAN).await;
    assert_eq!(b.greeting(&app).await, "欢迎:张三");
    let p = b.post_form(&format!("{}/logout/", app.url), &[]).await;
    assert!(p.status.is_redirection());
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
    // GET does not log out (a link or image elsewhere cannot end the session).
    b.login(&app, ZHANG_SAN).await;
    let p = b.get(&format!("{}/logout/", app.url)).await;
    assert_eq!(p.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(p.body.contains("不支持的请求方式"));
    assert_eq!(b.greeting(&app).await, "欢迎:张三");
}
