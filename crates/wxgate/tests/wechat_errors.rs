//! Every way WeChat can fail during a login ends on a page that says what happened — never a
//! 500, never a panic, and nobody logged in.

mod common;

use common::*;
use reqwest::StatusCode;
use wxsim::Fault;

fn fault(path: &str, f: impl FnOnce(&mut Fault)) -> Fault {
    let mut fault = Fault::new(path);
    f(&mut fault);
    fault
}

/// Logs in as 张三 with `fault` injected; returns the callback's answer.
async fn login_with(fault: Fault, extra: &[(&str, &str)]) -> (Page, Browser, TestApp, Sim) {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, extra).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    sim.sim.inject(fault);
    let p = b.get(&callback).await;
    (p, b, app, sim)
}

async fn assert_failed(
    case: &str,
    p: &Page,
    b: &Browser,
    app: &TestApp,
    status: StatusCode,
    text: &str,
) {
    assert_eq!(p.status, status, "{case}: {}", p.body);
    assert!(p.body.contains(text), "{case}: {}", p.body);
    assert!(
        p.body.contains("id=\"retry\""),
        "{case}: a way to start again"
    );
    assert_eq!(b.greeting(app).await, "欢迎:游客", "{case}");
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    assert!(
        wxgate::db::users::find_user(&app.state.db, openid)
            .await
            .unwrap()
            .is_none(),
        "{case}: no half-written user"
    );
}

#[tokio::test]
async fn a_failed_code_exchange_maps_each_errcode_to_a_clear_page() {
    let cases = [
        (40029, StatusCode::BAD_REQUEST, "授权码无效"),
        (40163, StatusCode::BAD_REQUEST, "授权码无效"),
        (42003, StatusCode::BAD_REQUEST, "授权码无效"),
        (40125, StatusCode::BAD_GATEWAY, "联系公众号管理员"),
        (40013, StatusCode::BAD_GATEWAY, "联系公众号管理员"),
        (40164, StatusCode::BAD_GATEWAY, "联系公众号管理员"),
        (-1, StatusCode::BAD_GATEWAY, "稍后重试"),
        (45009, StatusCode::BAD_GATEWAY, "稍后重试"),
    ];
    for (code, status, text) in cases {
        let f = fault("/sns/oauth2/access_token", |f| f.errcode = Some(code));
        let (p, b, app, _sim) = login_with(f, &[]).await;
        let case = format!("errcode {code}");
        assert_failed(&case, &p, &b, &app, status, "获取 access_token 失败").await;
        assert!(p.body.contains(text), "{case}: {}", p.body);
        assert!(
            p.body.contains(&format!("errcode {code}")),
            "{case}: the code for support"
        );
    }
}

#[tokio::test]
async fn wechat_down_slow_or_garbled_is_a_502_or_504() {
    let cases = [
        (
            "HTTP 500",
            fault("/sns/oauth2/access_token", |f| f.status = Some(500)),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "garbage",
            fault("/sns/oauth2/access_token", |f| f.garbage = true),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "slow",
            fault("/sns/oauth2/access_token", |f| f.delay_ms = Some(1500)),
            StatusCode::GATEWAY_TIMEOUT,
        ),
    ];
    for (case, f, status) in cases {
        let (p, b, app, _sim) = login_with(f, &[]).await;
        assert_failed(case, &p, &b, &app, status, "获取 access_token 失败").await;
    }
}

#[tokio::test]
async fn a_failed_profile_fetch_is_a_clear_page_too() {
    let cases = [
        (
            "48001",
            fault("/sns/userinfo", |f| f.errcode = Some(48001)),
            StatusCode::BAD_GATEWAY,
        ),
        (
            "slow",
            fault("/sns/userinfo", |f| f.delay_ms = Some(1500)),
            StatusCode::GATEWAY_TIMEOUT,
        ),
        (
            "garbage",
            fault("/sns/userinfo", |f| f.garbage = true),
            StatusCode::BAD_GATEWAY,
        ),
    ];
    for (case, f, status) in cases {
        let (p, b, app, _sim) = login_with(f, &[]).await;
        assert_failed(case, &p, &b, &app, status, "获取用户信息失败").await;
    }
}

#[tokio::test]
async fn a_wrong_secret_is_reported_as_the_accounts_fault() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("secret", "0123456789abcdef0123456789abcdef")]).await;
    let b = Browser::new();
    let p = b.login(&app, ZHANG_SAN).await;
    assert_failed(
        "wrong secret",
        &p,
        &b,
        &app,
        StatusCode::BAD_GATEWAY,
        "联系公众号管理员",
    )
    .await;
    assert!(
        !p.body.contains("0123456789abcdef"),
        "the secret never reaches a page"
    );
}

#[tokio::test]
async fn an_unreachable_wechat_is_a_502() {
    let sim = spawn_sim().await;
    // A port nothing listens on: bind one, then free it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let app = spawn_app(&sim.url, &[("api_base", &closed)]).await;
    let b = Browser::new();
    let p = b.login(&app, ZHANG_SAN).await;
    assert_failed(
        "unreachable",
        &p,
        &b,
        &app,
        StatusCode::BAD_GATEWAY,
        "暂时无法连接微信服务器",
    )
    .await;
}

#[tokio::test]
async fn a_real_replayed_code_from_the_simulator_is_refused_cleanly() {
    // The simulator's own single-use rule (40163), not a fault: a second login attempt in a new
    // state with an already-spent code.
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let authorize = b.start_login(&app, "").await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    assert_eq!(b.get(&callback).await.status, StatusCode::FOUND);
    let code = url::Url::parse(&callback)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let other = Browser::new();
    let authorize = other.start_login(&app, "").await;
    let state = url::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let p = other
        .get(&format!("{}/empower/?code={code}&state={state}", app.url))
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST, "{}", p.body);
    assert!(p.body.contains("获取 access_token 失败"));
    assert_eq!(other.greeting(&app).await, "欢迎:游客");
}
