//! Sessions: cookie flags, persistence across a restart, and the in-memory alternative.

mod common;

use common::*;
use reqwest::StatusCode;

fn session_cookie(p: &Page) -> String {
    p.set_cookie
        .iter()
        .find(|c| c.starts_with("wxgate_session="))
        .cloned()
        .expect("a session cookie")
}

#[tokio::test]
async fn the_cookie_is_httponly_lax_and_secure_only_behind_https() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let c = session_cookie(&Browser::new().get(&format!("{}/auth/", app.url)).await);
    assert!(c.contains("HttpOnly"), "{c}");
    assert!(c.contains("SameSite=Lax"), "{c}");
    assert!(!c.contains("Secure"), "{c}");

    let app = spawn_app(&sim.url, &[("public_url", "https://wx.example.com")]).await;
    let p = Browser::new().get(&format!("{}/auth/", app.url)).await;
    let c = session_cookie(&p);
    assert!(c.contains("Secure"), "{c}");
    assert!(
        p.location()
            .contains("redirect_uri=https%3A%2F%2Fwx%2Eexample%2Ecom%2Fempower%2F")
    );
}

#[tokio::test]
async fn a_logged_in_browser_stays_logged_in_across_a_restart() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let b = Browser::new();
    {
        let app = spawn_app_on(&sim.url, &db, &[]).await;
        b.login(&app, PANDA).await;
        assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
    }
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
}

#[tokio::test]
async fn memory_sessions_end_with_the_process() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let b = Browser::new();
    {
        let app = spawn_app_on(&sim.url, &db, &[("session_store", "memory")]).await;
        b.login(&app, PANDA).await;
        assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
    }
    let app = spawn_app_on(&sim.url, &db, &[("session_store", "memory")]).await;
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
}

#[tokio::test]
async fn health_and_readiness() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let p = b.get(&format!("{}/healthz", app.url)).await;
    assert_eq!((p.status, p.body.as_str()), (StatusCode::OK, "ok"));
    let p = b.get(&format!("{}/readyz", app.url)).await;
    assert_eq!((p.status, p.body.as_str()), (StatusCode::OK, "ready"));
    app.state.db.close().await;
    let p = b.get(&format!("{}/readyz", app.url)).await;
    assert_eq!(p.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn nasty_queries_get_a_4xx_never_a_5xx() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    b.get(&format!("{}/auth/", app.url)).await; // a session with a pending login
    let long = "A".repeat(10_000);
    for query in [
        "/empower/?code=%FF%FE&state=abc".to_owned(),
        "/empower/?code=abc&state=%ZZ".to_owned(),
        "/empower/?code=abc&state=a&state=b".to_owned(),
        format!("/empower/?code={long}&state={long}"),
        "/empower/?code=%00&state=%00".to_owned(),
        "/auth/?next=%FF".to_owned(),
        "/auth/?scope=%00".to_owned(),
        format!("/auth/?next=/{long}"),
    ] {
        let p = b.get(&format!("{}{query}", app.url)).await;
        assert!(p.status.is_client_error(), "{query}: {}", p.status);
    }
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 0);
    assert_eq!(b.greeting(&app).await, "欢迎:游客");
}
