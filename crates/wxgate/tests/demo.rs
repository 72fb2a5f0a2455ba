//! `wxgate demo` as a user runs it: the binary prints the home URL, the whole login works
//! through its own simulator, and even at debug level nothing secret reaches the logs.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Browser, PANDA};
use reqwest::StatusCode;

/// Removes the test's folder however the test ends.
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn the_demo_logs_in_end_to_end_and_never_logs_a_secret() {
    let dir = std::env::temp_dir().join(format!(
        "wxgate-demo-{}",
        wechat::State::generate().as_str()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = RemoveOnDrop(dir.clone());
    let db = dir.join("demo.db");
    let log = dir.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_wxgate"))
        .arg("demo")
        .env("WXGATE_LISTEN", "127.0.0.1:0")
        .env("WXGATE_DATABASE_URL", format!("sqlite://{}", db.display()))
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut printed = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(i) = line.find("http://127.0.0.1:")
                && line.contains("/index/")
            {
                let url = line[i..].split_whitespace().next().unwrap().to_owned();
                let _ = tx.send((url, printed.clone()));
            }
        }
    });
    let (home, printed) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the demo prints its home URL");
    let base = home.trim_end_matches("/index/").to_owned();
    let app = common_app(&base);

    let b = Browser::new();
    let p = b.login(&app, PANDA).await;
    assert_eq!(p.status, StatusCode::FOUND, "{}", p.body);
    assert_eq!(b.greeting(&app).await, "欢迎:🐼熊猫🎋");
    let index = b.get(&home).await;
    assert!(index.body.contains("id=\"avatar\""));
    // A JS-SDK config (the jsapi_ticket) and a push through the message server, in safe mode.
    let jssdk = reqwest::Client::new()
        .get(format!("{base}/jssdk/config"))
        .query(&[("url", home.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(jssdk.status(), StatusCode::OK);
    let target = wxsim::push::PushTarget::new(
        format!("{base}/weixin/"),
        wxgate::cli::DEMO_TOKEN,
        wxgate::cli::DEMO_APPID,
    )
    .with_mode(
        wxsim::push::PushMode::Safe,
        Some(wxgate::cli::DEMO_AES_KEY.to_owned()),
    );
    let report = wxsim::push::push(
        &target,
        &wxsim::default_users()[PANDA].openid,
        &wxsim::push::Outgoing::Text {
            content: "你好".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    // Issue 9: the demo's image reply (its picture uploaded as permanent material) and its
    // QR code with a scene.
    let report = wxsim::push::push(
        &target,
        &wxsim::default_users()[PANDA].openid,
        &wxsim::push::Outgoing::Text {
            content: "图片".into(),
        },
    )
    .await;
    assert!(report.ok(), "{:#?}", report.problems);
    assert_eq!(
        report.reply.as_ref().map(|r| r.msg_type.as_str()),
        Some("image")
    );
    assert!(
        printed.contains("QR code for scene metro_poster"),
        "the demo creates its QR code:\n{printed}"
    );

    child.kill().unwrap();
    child.wait().unwrap();

    let pool = wxgate::db::Db::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let openid = &wxsim::default_users()[PANDA].openid;
    let tokens = wxgate::db::users::find_tokens(&pool, openid)
        .await
        .unwrap()
        .unwrap();
    // The demo publishes its menu, so it holds a base access_token too.
    let appid = wxgate::cli::DEMO_APPID;
    let base_token = wxgate::db::credentials::load(&pool, &format!("access_token:stable:{appid}"))
        .await
        .unwrap()
        .expect("the demo fetched a base access_token for its menu")
        .value;
    let ticket = wxgate::db::credentials::load(&pool, &format!("jsapi_ticket:{appid}"))
        .await
        .unwrap()
        .expect("the demo fetched a jsapi_ticket for /jssdk/config")
        .value;
    let codes = wxgate::qrcodes::list(&pool, false).await.unwrap();
    assert!(
        codes
            .iter()
            .any(|c| c.scene == "metro_poster" && c.expires_at.is_none())
    );
    let media = wxgate::db::media::list(&pool, 10).await.unwrap();
    assert!(
        media
            .iter()
            .any(|m| m.file_name == "welcome.png" && m.store == "permanent")
    );
    let logs = std::fs::read_to_string(&log).unwrap() + &printed;
    assert!(
        logs.contains("user logged in"),
        "the login is logged:\n{logs}"
    );
    for secret in [
        tokens.access_token.secret(),
        tokens.refresh_token.secret(),
        base_token.as_str(),
        ticket.as_str(),
        wxgate::cli::DEMO_SECRET,
        wxgate::cli::DEMO_AES_KEY,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs:\n{logs}");
    }
    assert!(
        !logs.contains("code="),
        "an OAuth code reached the logs:\n{logs}"
    );
}

/// A handle that lets the shared Browser helpers talk to the demo process.
fn common_app(base: &str) -> common::TestAppRef {
    common::TestAppRef {
        url: base.to_owned(),
    }
}
