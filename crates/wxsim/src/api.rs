//! WeChat's JSON endpoints: `sns/oauth2/*`, `sns/userinfo`, `sns/auth` (§A.3–§A.6),
//! `cgi-bin/token` (§B.1) and `cgi-bin/stable_token` (§B.2).
//!
//! Wire format (§G): always HTTP 200 and `application/json; encoding=utf-8`; errors are
//! `{"errcode":N,"errmsg":"<text> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`; successful data answers
//! have no errcode, and absent fields are left out rather than sent as null. Parameters are read
//! from the raw query string by hand so that no input, however malformed, can make an extractor
//! answer with something WeChat would not.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Simulator;
use crate::platform::{Scope, UserGrant};
use crate::users::headimgurl;

/// errmsg texts as WeChat returns them (§G).
pub fn errmsg(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40030 => "invalid refresh_token",
        40125 => "invalid appsecret",
        40163 => "code been used",
        41001 => "access_token missing",
        41002 => "appid missing",
        41003 => "refresh_token missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        41009 => "missing openid",
        42001 => "access_token expired",
        42002 => "refresh_token expired",
        42003 => "code expired",
        43001 => "require GET method",
        43002 => "require POST method",
        44002 => "empty post data",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit must slower retry next minute",
        47001 => "data format error",
        48001 => "api unauthorized",
        50001 => "user unauthorized",
        _ => "system error",
    }
}

/// A request id like WeChat's: `6513aa28-57d848c6-68a55827`.
fn rid() -> String {
    let [a, b, c]: [u32; 3] = rand::random();
    format!("{a:08x}-{b:08x}-{c:08x}")
}

fn json_reply(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json; encoding=utf-8")],
        value.to_string(),
    )
        .into_response()
}

/// WeChat's error JSON for `code`, with a fresh rid.
pub fn wx_error(code: i64) -> Response {
    json_reply(json!({
        "errcode": code,
        "errmsg": format!("{} rid: {}", errmsg(code), rid()),
    }))
}

/// Query parameters; the first occurrence of a key wins, and an empty value counts as missing.
struct Params(Vec<(String, String)>);

impl Params {
    fn new(raw: Option<String>) -> Self {
        let raw = raw.unwrap_or_default();
        Params(
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The listener's address as the client named it, for generated avatar URLs. Anything that
/// does not look like `host[:port]` is replaced, so a forged Host cannot inject into the URL.
fn host(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost")
        .to_string()
}

/// appid and secret checks shared by every endpoint that takes a secret.
fn check_app(sim: &Simulator, appid: Option<&str>, secret: Option<&str>) -> Result<(), i64> {
    let config = sim.config();
    let appid = appid.ok_or(41002)?;
    if appid != config.appid {
        return Err(40013);
    }
    let secret = secret.ok_or(41004)?;
    if secret != config.secret {
        return Err(40125);
    }
    Ok(())
}

/// For `cgi-bin/*`, a well-formed secret that is not this appid's is 40001 (§B.1); a
/// malformed one (not 32 hex digits, like a real AppSecret) is 40125 `invalid appsecret`.
fn check_app_cgi(sim: &Simulator, appid: Option<&str>, secret: Option<&str>) -> Result<(), i64> {
    match check_app(sim, appid, secret) {
        Err(40125) => {
            let s = secret.unwrap_or_default();
            if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
                Err(40001)
            } else {
                Err(40125)
            }
        }
        other => other,
    }
}

fn reply(result: Result<Value, i64>) -> Response {
    match result {
        Ok(v) => json_reply(v),
        Err(code) => wx_error(code),
    }
}

/// The token answer of §A.3/§A.4.
fn grant_json(grant: &UserGrant) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("access_token".into(), grant.access_token.clone().into());
    m.insert("expires_in".into(), crate::platform::ACCESS_TTL.into());
    m.insert("refresh_token".into(), grant.refresh_token.clone().into());
    m
}

/// `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code`
pub async fn sns_access_token(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(access_token(&sim, &Params::new(q)))
}

fn access_token(sim: &Simulator, p: &Params) -> Result<Value, i64> {
    check_app(sim, p.get("appid"), p.get("secret"))?;
    if p.get("grant_type") != Some("authorization_code") {
        return Err(40002);
    }
    let code = p.get("code").ok_or(41008)?;
    let appid = &sim.config().appid;
    let grant = sim.platform().exchange_code(appid, code, sim.now())?;
    let user = sim.config().users.get(grant.user).ok_or(-1)?;
    let mut m = grant_json(&grant);
    m.insert("openid".into(), user.openid.clone().into());
    m.insert("scope".into(), grant.scope.as_str().into());
    if user.snapshot {
        m.insert("is_snapshotuser".into(), 1.into());
    }
    if grant.scope == Scope::UserInfo
        && let Some(unionid) = &user.unionid
    {
        m.insert("unionid".into(), unionid.clone().into());
    }
    Ok(Value::Object(m))
}

/// `GET /sns/oauth2/refresh_token?appid&grant_type=refresh_token&refresh_token` (no secret).
pub async fn sns_refresh_token(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(refresh_token(&sim, &Params::new(q)))
}

fn refresh_token(sim: &Simulator, p: &Params) -> Result<Value, i64> {
    let appid = p.get("appid").ok_or(41002)?;
    if appid != sim.config().appid {
        return Err(40013);
    }
    if p.get("grant_type") != Some("refresh_token") {
        return Err(40002);
    }
    let refresh_token = p.get("refresh_token").ok_or(41003)?;
    let grant = sim.platform().refresh(appid, refresh_token, sim.now())?;
    let user = sim.config().users.get(grant.user).ok_or(-1)?;
    let mut m = grant_json(&grant);
    m.insert("openid".into(), user.openid.clone().into());
    m.insert("scope".into(), grant.scope.as_str().into());
    Ok(Value::Object(m))
}

/// Checks a user token and that `openid` is its owner; returns the owner's index and scope.
fn check_user_token(sim: &Simulator, p: &Params) -> Result<(usize, Scope), i64> {
    let token = p.get("access_token").ok_or(41001)?;
    let owner = sim
        .platform()
        .check_sns_token(&sim.config().appid, token, sim.now())?;
    let openid = p.get("openid").ok_or(41009)?;
    if sim
        .config()
        .users
        .get(owner.user)
        .map(|u| u.openid.as_str())
        != Some(openid)
    {
        return Err(40003);
    }
    Ok((owner.user, owner.scope))
}

/// `GET /sns/userinfo?access_token&openid&lang=zh_CN`
pub async fn sns_userinfo(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    reply(userinfo(&sim, &Params::new(q), &host(&headers)))
}

fn userinfo(sim: &Simulator, p: &Params, host: &str) -> Result<Value, i64> {
    let (index, scope) = check_user_token(sim, p)?;
    let user = sim.config().users.get(index).ok_or(-1)?;
    // snsapi_base tokens, and snapshot-page virtual users (§A.5 item 4), may not read profiles.
    if scope != Scope::UserInfo || user.snapshot {
        return Err(48001);
    }
    let mut m = Map::new();
    m.insert("openid".into(), user.openid.clone().into());
    m.insert("nickname".into(), user.nickname.clone().into());
    m.insert("sex".into(), user.sex.into());
    m.insert("province".into(), user.province.clone().into());
    m.insert("city".into(), user.city.clone().into());
    m.insert("country".into(), user.country.clone().into());
    m.insert("headimgurl".into(), headimgurl(user, index, host).into());
    m.insert("privilege".into(), user.privilege.clone().into());
    if let Some(unionid) = &user.unionid {
        m.insert("unionid".into(), unionid.clone().into());
    }
    Ok(Value::Object(m))
}

/// `GET /sns/auth?access_token&openid` → `{"errcode":0,"errmsg":"ok"}` when valid.
pub async fn sns_auth(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let p = Params::new(q);
    match check_user_token(&sim, &p) {
        Ok(_) => json_reply(json!({"errcode": 0, "errmsg": "ok"})),
        Err(code) => wx_error(code),
    }
}

/// `GET /cgi-bin/token?grant_type=client_credential&appid&secret`
pub async fn cgi_token(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(base_token(&sim, &Params::new(q)))
}

fn base_token(sim: &Simulator, p: &Params) -> Result<Value, i64> {
    if p.get("grant_type") != Some("client_credential") {
        return Err(40002);
    }
    check_app_cgi(sim, p.get("appid"), p.get("secret"))?;
    let (token, expires_in) = sim.platform().issue_base_token(sim.now());
    Ok(json!({"access_token": token, "expires_in": expires_in}))
}

#[derive(Deserialize)]
struct StableRequest {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
    #[serde(default)]
    force_refresh: Option<bool>,
}

/// `POST /cgi-bin/stable_token` with a JSON body.
pub async fn stable_token(State(sim): State<Simulator>, body: Bytes) -> Response {
    reply(stable(&sim, &body))
}

fn stable(sim: &Simulator, body: &[u8]) -> Result<Value, i64> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(44002);
    }
    let req: StableRequest = serde_json::from_slice(body).map_err(|_| 47001)?;
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if req.grant_type.as_deref() != Some("client_credential") {
        return Err(40002);
    }
    check_app_cgi(
        sim,
        nonempty(&req.appid).as_deref(),
        nonempty(&req.secret).as_deref(),
    )?;
    let force = req.force_refresh.unwrap_or(false);
    let (token, expires_in) = sim.platform().stable_token(force, sim.now());
    Ok(json!({"access_token": token, "expires_in": expires_in}))
}

/// `GET /cgi-bin/stable_token` → 43002.
pub async fn require_post() -> Response {
    wx_error(43002)
}
