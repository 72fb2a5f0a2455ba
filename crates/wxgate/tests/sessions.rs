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
async fn the_cookies_are_httponly_lax_and_secure_only_behind_https() {
    let sim = spawn_sim().await;
    for (public, secure) in [(None, false), (Some("https://wx.example.com"), true)] {
        let extra: Vec<(&str, &str)> = public.map(|p| ("public_url", p)).into_iter().collect();
        let app = spawn_app(&sim.url, &extra).await;
        let b = Browser::new();
        let started = b.get(&format!("{}/auth/", app.url)).await;
        let login = started
            .set_cookie
            .iter()
            .find(|c| c.starts_with("wxgate_login="))
            .expect("the login cookie")
            .clone();
        let authorize = started.location().split('#').next().unwrap().to_owned();
        let callback = b.consent(&authorize, PANDA, "allow").await;
        // Behind https the callback goes to the public URL: send it to the test server.
        let callback = match public {
            Some(p) => callback.replacen(p, &app.url, 1),
            None => callback,
        };
        let done = b.get(&callback).await;
        assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
        let session = session_cookie(&done);
        for c in [&login, &session] {
            assert!(c.contains("HttpOnly"), "{c}");
            assert!(c.contains("SameSite=Lax"), "{c}");
            assert_eq!(c.contains("Secure"), secure, "{c}");
        }
        if secure {
            assert!(
                started
                    .location()
                    .contains("redirect_uri=https%3A%2F%2Fwx%2Eexample%2Ecom%2Fempower%2F")
            );
        }
    }
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

/// What the sessions table holds now: (id, data, expires_at) of every row.
async fn session_rows(app: &TestApp) -> Vec<(String, String, i64)> {
    use wxgate::db::Db;
    const SQL: &str = "SELECT id, data, expires_at FROM sessions ORDER BY id";
    match &app.state.db {
        Db::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
        Db::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.unwrap(),
    }
}

#[tokio::test]
async fn a_logged_in_page_view_writes_nothing_and_the_week_runs_from_the_last_renewal() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    let b = Browser::new();
    b.login(&app, ZHANG_SAN).await;
    let after_login = session_rows(&app).await;
    assert_eq!(
        after_login.len(),
        1,
        "one session: the pre-login one was rotated away"
    );
    let week = 7 * 24 * 3600;
    assert!(after_login[0].2 - wxgate::clock::now() > week - 60);
    for _ in 0..5 {
        let p = b.get(&format!("{}/index/", app.url)).await;
        assert_eq!(p.status, StatusCode::OK);
        assert!(
            p.set_cookie.is_empty(),
            "nothing to save, no cookie: {:?}",
            p.set_cookie
        );
    }
    assert_eq!(session_rows(&app).await, after_login, "views wrote nothing");

    // Over an hour after the last renewal, a view pushes the expiry a week ahead again. (The
    // server is restarted to see the aged row: it caches sessions it wrote itself.)
    drop(app);
    let id = &after_login[0].0;
    let aged = after_login[0].1.replace(
        &format!("\"renewed_at\":{}", renewed_at(&after_login[0].1)),
        &format!("\"renewed_at\":{}", wxgate::clock::now() - 3700),
    );
    assert_ne!(aged, after_login[0].1);
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    sql(
        &app.state.db,
        "UPDATE sessions SET data = $1, expires_at = expires_at - 3700 WHERE id = $2",
        &[&aged, id],
    )
    .await;
    let p = b.get(&format!("{}/index/", app.url)).await;
    assert!(
        !p.set_cookie.is_empty(),
        "renewed: the cookie's max-age too"
    );
    let renewed = session_rows(&app).await;
    assert!(
        renewed[0].2 - wxgate::clock::now() > week - 60,
        "{renewed:?}"
    );
    assert_eq!(b.greeting(&app).await, "欢迎:张三");
}

/// The `renewed_at` in a session record's JSON.
fn renewed_at(data: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    v["data"]["renewed_at"].as_i64().expect(data)
}
