//! Shared test harness: a real simulator on 127.0.0.1:0 and a reqwest client that does not
//! follow redirects, so each test sees exactly what a browser or a server would.
#![allow(dead_code)] // each test binary uses a different part of the harness

use reqwest::redirect::Policy;
use serde_json::Value;
use wxsim::{SimConfig, Simulator, serve};

pub const APPID: &str = "wx1234567890abcdef";
/// 32 hex digits, like a real AppSecret.
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const CALLBACK: &str = "http://127.0.0.1:8000/empower/";

pub struct Sim {
    pub base: String,
    pub sim: Simulator,
    pub http: reqwest::Client,
}

pub async fn spawn_with(config: SimConfig) -> Sim {
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, sim.clone()));
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Sim { base, sim, http }
}

pub async fn spawn() -> Sim {
    spawn_with(SimConfig::new(APPID, SECRET)).await
}

/// Moves the simulated clock forward to the next `hh:mm:00` Beijing time (UTC+8), where daily
/// quotas roll over at 00:00; returns the simulated Unix time then. Tests that spend a daily
/// budget start with it, so that the real time of day cannot split them across two days.
pub fn advance_to_beijing(sim: &Simulator, hh: u64, mm: u64) -> u64 {
    const DAY: u64 = 86_400;
    // Seconds into the UTC day at which Beijing shows hh:mm.
    let target = (hh * 3600 + mm * 60 + DAY - 8 * 3600) % DAY;
    let now = sim.unix_time();
    let wait = (target + DAY - now % DAY) % DAY;
    sim.advance_clock(wait);
    now + wait
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The authorize link in WeChat's parameter order.
pub fn authorize_query(redirect_uri: &str, scope: &str, state: Option<&str>) -> String {
    let mut q = format!(
        "/connect/oauth2/authorize?appid={APPID}&redirect_uri={}&response_type=code&scope={scope}",
        enc(redirect_uri)
    );
    if let Some(s) = state {
        q.push_str(&format!("&state={s}"));
    }
    q
}

pub fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::LOCATION)
        .expect("a Location header")
        .to_str()
        .unwrap()
        .to_string()
}

pub fn param(url: &str, key: &str) -> Option<String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// errmsg must carry WeChat's ` rid: xxxxxxxx-xxxxxxxx-xxxxxxxx` suffix.
pub fn assert_rid(body: &Value) {
    let msg = body["errmsg"].as_str().expect("errmsg");
    let (_, rid) = msg.rsplit_once(" rid: ").expect("rid suffix");
    let parts: Vec<&str> = rid.split('-').collect();
    assert_eq!(parts.len(), 3, "{msg}");
    assert!(
        parts
            .iter()
            .all(|p| p.len() == 8 && p.bytes().all(|b| b.is_ascii_hexdigit())),
        "{msg}"
    );
}

impl Sim {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// GETs a JSON endpoint, checking WeChat's wire format (HTTP 200, its content type).
    pub async fn json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(
            resp.headers()[reqwest::header::CONTENT_TYPE],
            "application/json; encoding=utf-8"
        );
        resp.json().await.unwrap()
    }

    /// The errcode of a JSON answer, checking the rid suffix when it is an error.
    pub async fn errcode(&self, path: &str) -> i64 {
        let body = self.json(path).await;
        let code = body["errcode"].as_i64().unwrap_or(0);
        if code != 0 {
            assert_rid(&body);
        }
        code
    }

    pub async fn post_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/connect/oauth2/authorize"))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A code for users[`user`] with `scope`, through the consent page (or silently for base).
    pub async fn code(&self, scope: &str, user: usize) -> String {
        let resp = if scope == "snsapi_base" {
            self.get(&authorize_query(CALLBACK, scope, Some("s1")))
                .await
        } else {
            let u = user.to_string();
            self.post_form(&[
                ("appid", APPID),
                ("redirect_uri", CALLBACK),
                ("scope", scope),
                ("state", "s1"),
                ("user", &u),
                ("action", "allow"),
            ])
            .await
        };
        assert_eq!(resp.status(), 302);
        param(&location(&resp), "code").expect("code in the callback")
    }

    pub async fn exchange(&self, code: &str) -> Value {
        self.json(&format!(
            "/sns/oauth2/access_token?appid={APPID}&secret={SECRET}&code={code}&grant_type=authorization_code"
        ))
        .await
    }

    /// Logs users[`user`] in with `scope`; returns the token answer.
    pub async fn login(&self, scope: &str, user: usize) -> Value {
        let code = self.code(scope, user).await;
        let body = self.exchange(&code).await;
        assert!(body.get("errcode").is_none(), "{body}");
        body
    }
}
