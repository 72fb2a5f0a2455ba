//! What every response and connection gets, whatever the route: security headers, time limits
//! for slow clients, body limits answered at once, and readable refusals of malformed requests.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn app() -> (TestApp, Sim) {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("token", "hardeningtoken")]).await;
    (app, sim)
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (app, _sim) = app().await;
    let b = Browser::new();
    let guest = b.get(&format!("{}/index/", app.url)).await;
    assert_eq!(guest.status, StatusCode::OK);
    for path in [
        "/index/",
        "/no-such-page",
        "/empower/?code=x&state=forged",
        "/jssdk/config",
        "/weixin/",
    ] {
        let r = reqwest::get(format!("{}{path}", app.url)).await.unwrap();
        let h = r.headers();
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("content-security-policy", "frame-ancestors 'none'"),
            ("referrer-policy", "no-referrer"),
            ("cache-control", "no-store"),
        ] {
            assert_eq!(
                h.get(name).and_then(|v| v.to_str().ok()),
                Some(value),
                "{path}: {name}"
            );
        }
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off() {
    let (app, _sim) = app().await;
    let started = Instant::now();
    // Headers that never end (slowloris) and a body that never comes, at the same time.
    let mut slow_headers = TcpStream::connect(addr(&app)).await.unwrap();
    slow_headers
        .write_all(b"GET /index/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut slow_body = TcpStream::connect(addr(&app)).await.unwrap();
    slow_body
        .write_all(
            b"POST /weixin/?signature=x&timestamp=1&nonce=n HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<xml>",
        )
        .await
        .unwrap();
    // A connection that says nothing at all, and one that speaks cleartext HTTP/2.
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    let mut h2c = TcpStream::connect(addr(&app)).await.unwrap();
    h2c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let limit = Duration::from_secs(25);
    let (headers_answer, body_answer, silent_answer, h2c_answer) = tokio::join!(
        read_until_closed(&mut slow_headers, limit),
        read_until_closed(&mut slow_body, limit),
        read_until_closed(&mut silent, limit),
        read_until_closed(&mut h2c, limit),
    );
    assert!(
        headers_answer.is_some(),
        "a client that never finishes its headers is disconnected"
    );
    assert!(silent_answer.is_some(), "a silent connection is closed");
    assert!(h2c_answer.is_some(), "cleartext HTTP/2 is not served");
    let body_answer = body_answer.expect("a body that never arrives ends the request");
    assert!(
        body_answer.starts_with("HTTP/1.1 4"),
        "a 4xx for the stalled body: {body_answer}"
    );
    assert!(started.elapsed() < limit);
}

#[tokio::test]
async fn an_oversized_body_is_refused_before_it_is_sent() {
    let (app, _sim) = app().await;
    for path in ["/weixin/?signature=x&timestamp=1&nonce=n", "/logout/"] {
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .expect("answered without waiting for 100 MB");
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.contains("request body too large"),
            "{path}: {answer}"
        );
    }
}

#[tokio::test]
async fn malformed_query_strings_get_a_page_not_a_framework_error() {
    let (app, _sim) = app().await;
    let b = Browser::new();
    for path in [
        "/auth/?next=/a&next=/b",
        "/empower/?code=a&code=b&state=s",
        "/auth/?scope=%ZZ",
    ] {
        let p = b.get(&format!("{}{path}", app.url)).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(p.body.contains("登录参数有误"), "{path}: {}", p.body);
        assert!(!p.body.contains("Failed to deserialize"), "{path}");
    }
    let r = reqwest::get(format!("{}/jssdk/config?url=a&url=b", app.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("percent-encoded"));
}

#[tokio::test]
async fn a_next_path_in_chinese_is_percent_encoded_in_the_redirect() {
    let (app, _sim) = app().await;
    let b = Browser::new();
    let authorize = b
        .start_login(&app, "?next=/%E9%A6%96%E9%A1%B5?x=%E4%BD%A0")
        .await;
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    let done = b.get(&callback).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    assert_eq!(done.location(), "/%E9%A6%96%E9%A1%B5?x=%E4%BD%A0");
}

#[tokio::test]
async fn a_login_in_progress_stores_nothing_and_a_flood_of_them_leaves_no_trace() {
    let sim = spawn_sim().await;
    let app = spawn_app(
        &sim.url,
        &[("state_ttl_secs", "60"), ("login_rate_per_minute", "0")],
    )
    .await;
    let rows = || common::sql_i64(&app.state.db, "SELECT COUNT(*) FROM sessions");
    // A flood of anonymous /auth/ hits, each a new "browser".
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let hits: Vec<_> = (0..500)
        .map(|_| {
            let r = http.get(format!("{}/auth/", app.url)).send();
            tokio::spawn(r)
        })
        .collect();
    for hit in hits {
        assert_eq!(hit.await.unwrap().unwrap().status(), StatusCode::FOUND);
    }
    assert_eq!(
        rows().await,
        0,
        "logins in progress live in the browser's cookie"
    );

    // The state's cookie lives as long as the state; the login then creates one session.
    let b = Browser::new();
    let started = b.get(&format!("{}/auth/", app.url)).await;
    let cookie = started
        .set_cookie
        .iter()
        .find(|c| c.starts_with("wxgate_login="))
        .expect("the login cookie");
    assert!(cookie.contains("Max-Age=60"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let authorize = started.location().split('#').next().unwrap().to_owned();
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    let done = b.get(&callback).await;
    assert_eq!(done.status, StatusCode::FOUND);
    assert!(
        done.set_cookie
            .iter()
            .any(|c| c.starts_with("wxgate_login=;") && c.contains("Max-Age=0")),
        "the spent state's cookie is cleared: {:?}",
        done.set_cookie
    );
    assert_eq!(rows().await, 1);
    let expires = common::sql_i64(&app.state.db, "SELECT MAX(expires_at) FROM sessions").await;
    assert!(
        expires - wxgate::clock::now() > 6 * 24 * 3600,
        "a login lasts a week"
    );
}

#[tokio::test]
async fn a_forged_or_altered_login_cookie_is_worth_nothing() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let b = Browser::new();
    let started = b.get(&format!("{}/auth/", app.url)).await;
    let cookie = started
        .set_cookie
        .iter()
        .find_map(|c| c.strip_prefix("wxgate_login="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    let authorize = started.location().split('#').next().unwrap().to_owned();
    let callback = b.consent(&authorize, ZHANG_SAN, "allow").await;
    // Another browser sending an altered copy of the cookie with the callback.
    let (payload, signature) = cookie.split_once('.').unwrap();
    let mut altered = payload.to_owned();
    altered.insert(5, 'A');
    let http = reqwest::Client::new();
    for forged in [
        format!("{altered}.{signature}"),
        format!("{payload}.AAAA"),
        "x".into(),
    ] {
        let r = http
            .get(&callback)
            .header("cookie", format!("wxgate_login={forged}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{forged}");
    }
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 0);
    // The real browser still completes.
    assert_eq!(b.get(&callback).await.status, StatusCode::FOUND);
}

#[tokio::test]
async fn expired_sessions_are_swept_in_batches() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[]).await;
    let db = &app.state.db;
    let now = wxgate::clock::now();
    let old: Vec<String> = (0..2500)
        .map(|i| format!("('old{i}', '{{}}', {})", now - 10))
        .collect();
    common::sql(
        db,
        &format!(
            "INSERT INTO sessions (id, data, expires_at) VALUES {}, ('live', '{{}}', {})",
            old.join(", "),
            now + 3600
        ),
        &[],
    )
    .await;
    assert_eq!(wxgate::sessions::sweep(db).await.unwrap(), 2500);
    assert_eq!(
        common::sql_i64(db, "SELECT COUNT(*) FROM sessions").await,
        1
    );
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_disconnected() {
    let (app, _sim) = app().await;
    let stream = TcpStream::connect(addr(&app)).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // Pipelines thousands of requests, reads nothing.
    const SENT: usize = 10_000;
    let sending = tokio::spawn(async move {
        let request = b"GET /index/ HTTP/1.1\r\nHost: x\r\n\r\n".repeat(SENT);
        let _ = writer.write_all(&request).await;
        writer
    });
    tokio::time::sleep(Duration::from_secs(13)).await;
    // Past the write timeout (10 s) the server has given up on this connection: what the
    // kernel still holds arrives, then the end, long before 10,000 answers.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut answer)).await;
    let answers = String::from_utf8_lossy(&answer)
        .matches("HTTP/1.1 200")
        .count();
    assert!(read.is_ok(), "the connection was closed");
    assert!(answers < SENT, "cut off after {answers} answers");
    sending.abort();
}

#[tokio::test]
async fn past_the_connection_limit_a_new_connection_gets_a_503_and_is_closed() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("max_connections", "16")]).await;
    let mut held = Vec::new();
    for _ in 0..16 {
        let mut s = TcpStream::connect(addr(&app)).await.unwrap();
        s.write_all(b"GET /index/ HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut extra = TcpStream::connect(addr(&app)).await.unwrap();
    let answer = read_until_closed(&mut extra, Duration::from_secs(5))
        .await
        .expect("answered and closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    // Connections that end make room again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::get(format!("{}/index/", app.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("login_rate_per_minute", "5")]).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str, forwarded: Option<&str>| {
        let mut r = http.get(format!("{}{path}", app.url));
        if let Some(f) = forwarded {
            r = r.header("x-forwarded-for", f);
        }
        r.send()
    };
    for _ in 0..4 {
        assert_eq!(
            get("/auth/", None).await.unwrap().status(),
            StatusCode::FOUND
        );
    }
    // Junk callbacks count too: each would cost a call to WeChat.
    assert_eq!(
        get("/empower/?code=junk&state=junk", None)
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let refused = get("/auth/", None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=13).contains(&wait), "{wait}");
    assert!(refused.text().await.unwrap().contains("请求过于频繁"));
    let refused = get("/empower/?code=junk&state=junk", None).await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // Anyone can send X-Forwarded-For: without trusted proxies it changes nothing.
    let spoofed = get("/auth/", Some("198.51.100.9")).await.unwrap();
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    // Other pages are not limited.
    assert_eq!(get("/index/", None).await.unwrap().status(), StatusCode::OK);
    assert_eq!(sim.sim.calls("/sns/oauth2/access_token"), 0);
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget() {
    let sim = spawn_sim().await;
    let app = spawn_app(
        &sim.url,
        &[
            ("login_rate_per_minute", "2"),
            ("trusted_proxies", "127.0.0.0/8, ::1"),
        ],
    )
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let auth = |client: &'static str| {
        http.get(format!("{}/auth/", app.url))
            .header("x-forwarded-for", client)
            .send()
    };
    for client in ["203.0.113.1", "203.0.113.2"] {
        assert_eq!(auth(client).await.unwrap().status(), StatusCode::FOUND);
        assert_eq!(auth(client).await.unwrap().status(), StatusCode::FOUND);
        assert_eq!(
            auth(client).await.unwrap().status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{client}"
        );
    }
}

#[tokio::test]
async fn failed_admin_authentications_are_rate_limited() {
    const ADMIN: &str = "rate-limit-admin-token-0123456789";
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("admin_token", ADMIN)]).await;
    let http = reqwest::Client::new();
    let with = |token: &str| {
        http.get(format!("{}/admin/users", app.url))
            .bearer_auth(token)
            .send()
    };
    // A script may call as often as it likes with the right token.
    for _ in 0..20 {
        assert_eq!(with(ADMIN).await.unwrap().status(), StatusCode::OK);
    }
    for _ in 0..10 {
        assert_eq!(
            with("guess").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = with("guess").await.unwrap();
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // While blocked, the token is not even looked at: a right guess gets the same 429.
    assert_eq!(
        with(ADMIN).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(with(ADMIN).await.unwrap().status(), StatusCode::OK);
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    let db = temp_db();
    let Some(path) = db.url.strip_prefix("sqlite://").map(str::to_owned) else {
        return; // PostgreSQL: its server's business
    };
    let sim = spawn_sim().await;
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    Browser::new().login(&app, ZHANG_SAN).await;
    for file in [path.clone(), format!("{path}-wal"), format!("{path}-shm")] {
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
    drop(app);

    // An existing file others can read is named in a warning.
    let open = std::env::temp_dir().join(format!(
        "wxgate-open-{}.db",
        wechat::State::generate().as_str()
    ));
    std::fs::write(&open, b"").unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_wxgate"))
        .args(["users", "list"])
        .env(
            "WXGATE_DATABASE_URL",
            format!("sqlite://{}", open.display()),
        )
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("readable by other users") && stderr.contains("chmod 600"),
        "{stderr}"
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", open.display()));
    }
}

#[tokio::test]
async fn a_locked_database_makes_readyz_fail_and_pages_say_so() {
    let db = temp_db();
    if db.is_postgres() {
        return; // the lock of a SQLite file by another process
    }
    let sim = spawn_sim().await;
    let app = spawn_app_on(&sim.url, &db, &[]).await;
    let ready = || async {
        let r = reqwest::get(format!("{}/readyz", app.url)).await.unwrap();
        (r.status(), r.text().await.unwrap())
    };
    assert_eq!(ready().await.0, StatusCode::OK);

    // Another process takes the write lock and keeps it.
    use sqlx::Connection;
    let mut other = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let (status, body) = ready().await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("database"), "{body}");
    // A login cannot be stored: a page saying so, with a way to try again; never an empty 500.
    let b = Browser::new();
    let done = b.login(&app, PANDA).await;
    assert_eq!(
        done.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        done.body
    );
    assert!(done.body.contains("服务暂时不可用") && done.body.contains("id=\"retry\""));

    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    assert_eq!(ready().await.0, StatusCode::OK);
    let done = b.login(&app, PANDA).await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);

    // A file whose header was overwritten (after a checkpoint moved everything into it) is not
    // a database any more.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut other)
        .await
        .unwrap();
    drop(other);
    let path = db.url.strip_prefix("sqlite://").unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::io::Write::write_all(&mut file, &[0xAB; 100]).unwrap();
    drop(file);
    let (status, body) = ready().await;
    let login = Browser::new().login(&app, ZHANG_SAN).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        login.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        login.body
    );
    assert!(login.body.contains("服务暂时不可用"));
}
