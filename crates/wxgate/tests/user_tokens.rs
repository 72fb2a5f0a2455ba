//! Each user's OAuth tokens, server-side: validity checks (sns/auth), refresh
//! (sns/oauth2/refresh_token), and what happens when the refresh_token lapses.

mod common;

use common::*;
use wxgate::user_tokens::{self, TokenError};

#[tokio::test]
async fn a_valid_token_is_checked_and_a_stale_one_refreshed() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, PANDA).await;
    let openid = &wxsim::default_users()[PANDA].openid;
    let (db, client) = (&app.state.db, &app.state.platform.client);

    let first = user_tokens::valid_access_token(db, client, openid)
        .await
        .unwrap();
    assert_eq!(sim.sim.calls("/sns/auth"), 1);
    assert_eq!(sim.sim.calls("/sns/oauth2/refresh_token"), 0);

    // Two hours later WeChat says the access_token expired: refresh once, store the new one.
    sim.sim.advance_clock(7300);
    let second = user_tokens::valid_access_token(db, client, openid)
        .await
        .unwrap();
    assert_ne!(first.secret(), second.secret());
    assert_eq!(sim.sim.calls("/sns/oauth2/refresh_token"), 1);
    let stored = wxgate::db::users::find_tokens(db, openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token.secret(), second.secret());
    // The new token works for the profile.
    let profile = client
        .userinfo(&second, &wechat::OpenId::new(openid.clone()))
        .await
        .unwrap();
    assert_eq!(profile.nickname, "🐼熊猫🎋");
}

#[tokio::test]
async fn a_lapsed_refresh_token_means_logging_in_again() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, PANDA).await;
    let openid = &wxsim::default_users()[PANDA].openid;
    let (db, client) = (&app.state.db, &app.state.platform.client);

    sim.sim.advance_clock(31 * 24 * 3600);
    let e = user_tokens::valid_access_token(db, client, openid)
        .await
        .unwrap_err();
    assert!(matches!(e, TokenError::NeedsLogin), "{e:?}");
    assert!(
        wxgate::db::users::find_tokens(db, openid)
            .await
            .unwrap()
            .is_none()
    );

    // The page asks the user to log in again instead of greeting a ghost.
    let index = b.get(&format!("{}/index/", app.url)).await;
    assert!(index.body.contains("欢迎:游客"));
    assert!(index.body.contains("登录已过期"));
    // And logging in again works.
    b.login(&app, PANDA).await;
    assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
}

#[tokio::test]
async fn a_locally_lapsed_refresh_token_needs_no_network_to_notice() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, ZHANG_SAN).await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    common::sql(
        &app.state.db,
        "UPDATE user_tokens SET refresh_expires_at = 0 WHERE openid = $1",
        &[openid],
    )
    .await;
    let calls = sim.sim.calls("/sns/auth") + sim.sim.calls("/sns/oauth2/refresh_token");
    let e = user_tokens::valid_access_token(&app.state.db, &app.state.platform.client, openid)
        .await
        .unwrap_err();
    assert!(matches!(e, TokenError::NeedsLogin));
    assert_eq!(
        sim.sim.calls("/sns/auth") + sim.sim.calls("/sns/oauth2/refresh_token"),
        calls
    );
}

#[tokio::test]
async fn wechat_trouble_during_a_check_is_an_error_not_a_logout() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.login(&app, ZHANG_SAN).await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let mut f = wxsim::Fault::new("/sns/auth");
    f.errcode = Some(-1);
    sim.sim.inject(f);
    let e = user_tokens::valid_access_token(&app.state.db, &app.state.platform.client, openid)
        .await
        .unwrap_err();
    assert!(matches!(e, TokenError::Wechat(_)), "{e:?}");
    assert!(
        wxgate::db::users::find_tokens(&app.state.db, openid)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn sns_auth_saying_invalid_openid_also_means_refresh() {
    // WeChat's documented answer of sns/auth for a dead token is 40003 "invalid openid".
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    Browser::new().login(&app, ZHANG_SAN).await;
    let openid = &wxsim::default_users()[ZHANG_SAN].openid;
    let (db, client) = (&app.state.db, &app.state.platform.client);
    let mut dead = wxsim::Fault::new("/sns/auth");
    dead.errcode = Some(40003);
    sim.sim.inject(dead);
    let token = user_tokens::valid_access_token(db, client, openid)
        .await
        .unwrap();
    assert_eq!(sim.sim.calls("/sns/oauth2/refresh_token"), 1);
    let stored = wxgate::db::users::find_tokens(db, openid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.access_token.secret(), token.secret());
}
