//! WeChat's JSON endpoints: `sns/oauth2/*`, `sns/userinfo`, `sns/auth` (§A.3–§A.6),
//! `cgi-bin/token` (§B.1), `cgi-bin/stable_token` (§B.2), the menu APIs (§D),
//! `cgi-bin/ticket/getticket` (§E) and `cgi-bin/message/custom/send` (客服消息, §C.5). The IP
//! whitelist and the daily quotas are enforced before these handlers, in `wechat_gate`.
//!
//! Wire format (§G): always HTTP 200 and `application/json; encoding=utf-8`; errors are
//! `{"errcode":N,"errmsg":"<text> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`; successful data answers
//! have no errcode, and absent fields are left out rather than sent as null. Parameters are read
//! from the raw query string by hand so that no input, however malformed, can make an extractor
//! answer with something WeChat would not.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Simulator;
use crate::menu;
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
        40007 => "invalid media_id",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40016 => "invalid button size",
        40017 => "invalid button type",
        40018 => "invalid button name size",
        40019 => "invalid button key size",
        40020 => "invalid button url size",
        40023 => "invalid sub button size",
        40024 => "invalid sub button type",
        40025 => "invalid sub button name size",
        40026 => "invalid sub button key size",
        40027 => "invalid sub button url size",
        40029 => "invalid code",
        40030 => "invalid refresh_token",
        40033 => "invalid charset. please check your request, if include \\uxxxx will create fail!",
        40054 => "invalid sub button url domain",
        40055 => "invalid button url domain",
        40097 => "invalid args",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40165 => "invalid weapp pagepath",
        40166 => "invalid weapp appid",
        41001 => "access_token missing",
        41002 => "appid missing",
        41003 => "refresh_token missing",
        41004 => "appsecret missing",
        41007 => "sub_menu data missing",
        41008 => "missing code",
        41009 => "missing openid",
        42001 => "access_token expired",
        42002 => "refresh_token expired",
        42003 => "code expired",
        43001 => "require GET method",
        43002 => "require POST method",
        44002 => "empty post data",
        45009 => "reach max api daily quota limit",
        45015 => "response out of time limit or subscription is canceled",
        // Notifications and customer-service messages (notify.rs, custom_send).
        40008 => "invalid message type",
        40037 => "invalid template_id",
        43004 => "require subscribe",
        43019 => "require remove blacklist",
        43101 => "user refuse to accept the msg",
        44003 => "empty news data",
        44004 => "empty content",
        45008 => "article size out of limit",
        45047 => "out of response count limit",
        47003 => "argument invalid!",
        45011 => "api minute-quota reach limit must slower retry next minute",
        46003 => "menu no exist",
        47001 => "data format error",
        48001 => "api unauthorized",
        // QR codes and media (docs/wechat-platform-apis.md §1, §2).
        40004 => "invalid media type",
        40005 => "invalid file type",
        40006 => "invalid meida size",
        40052 => "invalid action name",
        40053 => "invalid action info, please check document",
        41005 => "media data missing",
        41006 => "media_id missing",
        44001 => "empty media data",
        45001 => "media size out of limit",
        45029 => "qrcode count out of limit",
        76001 => "rid not found",
        76002 => "rid is error",
        76021 => "cgi_path not found, please check",
        76022 => "could not use this cgi_path,no permission",
        50001 => "user unauthorized",
        65301 => "no such menuid",
        65302 => "no such user",
        65303 => "there is no selfmenu, please create selfmenu first",
        65304 => "match rule empty",
        65316 => "too many domains in menu url",
        65318 => "must use utf-8 charset",
        65320 => "privacy fields are not supported in matchrule",
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
    wx_error_text(code, errmsg(code))
}

/// WeChat's error JSON for `code` with its own text (before the rid).
pub fn wx_error_text(code: i64, text: &str) -> Response {
    json_reply(json!({
        "errcode": code,
        "errmsg": format!("{text} rid: {}", rid()),
    }))
}

fn ok_reply() -> Response {
    json_reply(json!({"errcode": 0, "errmsg": "ok"}))
}

/// Query parameters; the first occurrence of a key wins, and an empty value counts as missing.
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    pub(crate) fn new(raw: Option<String>) -> Self {
        let raw = raw.unwrap_or_default();
        Params(
            url::form_urlencoded::parse(raw.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
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

pub(crate) fn reply(result: Result<Value, i64>) -> Response {
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

/// The `access_token` query parameter of a `cgi-bin/*` call: a base token from either API.
/// 41001 missing, 40001 unknown or replaced, 42001 expired.
pub(crate) fn check_base_token(sim: &Simulator, p: &Params) -> Result<(), i64> {
    let token = p.get("access_token").ok_or(41001)?;
    sim.platform().check_base_token(token, sim.now())
}

fn ok_or_error(result: Result<(), i64>) -> Response {
    match result {
        Ok(()) => ok_reply(),
        Err(code) => wx_error(code),
    }
}

/// A JSON body of a non-menu POST: 44002 empty, 47001 not JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, i64> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(44002);
    }
    serde_json::from_slice(body).map_err(|_| 47001)
}

/// `POST /cgi-bin/menu/create?access_token` with `{"button": [...]}`.
pub async fn menu_create(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    ok_or_error((|| {
        check_base_token(&sim, &Params::new(q))?;
        let buttons = menu::check_menu(&menu::parse_body(&body)?)?;
        sim.platform().menus.create(buttons);
        Ok(())
    })())
}

/// `GET /cgi-bin/menu/get?access_token`: 46003 without a menu.
pub async fn menu_get(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(check_base_token(&sim, &Params::new(q)).and_then(|()| sim.platform().menus.get_json()))
}

/// `GET /cgi-bin/menu/delete?access_token`: the default and every personalized menu.
pub async fn menu_delete(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    ok_or_error(check_base_token(&sim, &Params::new(q)).map(|()| sim.platform().menus.delete_all()))
}

/// `POST /cgi-bin/menu/addconditional?access_token` with `{"button": [...], "matchrule": {...}}`
/// → `{"menuid": "208379533"}` (a string).
pub async fn menu_add_conditional(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request = menu::parse_body(&body)?;
        if sim.platform().menus.default.is_none() {
            return Err(65303);
        }
        let rule = menu::check_matchrule(request.get("matchrule"))?;
        let buttons = menu::check_menu(&request)?;
        let menuid = sim.platform().menus.add_conditional(buttons, rule)?;
        Ok(json!({"menuid": menuid.to_string()}))
    })())
}

/// A menuid given as a string (as addconditional returns it) or a number.
fn menuid_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// `POST /cgi-bin/menu/delconditional?access_token` with `{"menuid": "..."}`.
pub async fn menu_del_conditional(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    ok_or_error((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request = json_body(&body)?;
        let menuid = menuid_of(request.get("menuid")).ok_or(65301)?;
        sim.platform().menus.del_conditional(menuid)
    })())
}

/// `POST /cgi-bin/menu/trymatch?access_token` with `{"user_id": "openid"}` → `{"button": [...]}`
/// of the menu that user sees.
pub async fn menu_trymatch(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request = json_body(&body)?;
        let user_id = request
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let user = sim
            .config()
            .users
            .iter()
            .find(|u| !user_id.is_empty() && u.openid == user_id)
            .ok_or(65302)?;
        // The tags the tag APIs gave the user (`followers`).
        let user = sim.tagged(user);
        let platform = sim.platform();
        let menu = platform.menus.effective(&user).ok_or(46003)?;
        Ok(json!({"button": menu.buttons}))
    })())
}

/// `GET /cgi-bin/get_current_selfmenu_info?access_token`.
pub async fn selfmenu_info(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(check_base_token(&sim, &Params::new(q)).map(|()| sim.platform().menus.selfmenu_json()))
}

/// `GET /cgi-bin/ticket/getticket?access_token&type=jsapi|wx_card`: the same ticket until it
/// expires (callers must cache it).
pub async fn getticket(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let p = Params::new(q);
    reply((|| {
        check_base_token(&sim, &p)?;
        let kind = match p.get("type") {
            Some(k @ ("jsapi" | "wx_card")) => k,
            _ => return Err(40097),
        };
        let (ticket, expires_in) = sim.platform().ticket(kind, sim.now());
        Ok(json!({"errcode": 0, "errmsg": "ok", "ticket": ticket, "expires_in": expires_in}))
    })())
}

/// `POST /cgi-bin/message/custom/send?access_token` with `{"touser", "msgtype", <msgtype>: {…}}`
/// → `{"errcode":0,"errmsg":"ok"}`, and the message is delivered (see
/// [`Simulator::custom_messages`]). Checked in WeChat's order: the token (41001/40001/42001),
/// the body (44002 empty, 47001 not a JSON object), `touser` (40003 unless a simulated user),
/// the message ([`check_custom_message`]), then the 48-hour window (45015), then the count
/// since the user's last interaction (45047 after `notify::CUSTOM_PER_INTERACTION`).
pub async fn custom_send(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    ok_or_error((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request = json_body(&body)?;
        if !request.is_object() {
            return Err(47001);
        }
        let touser = request
            .get("touser")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !sim.config().users.iter().any(|u| u.openid == touser) {
            return Err(40003);
        }
        let msgtype = check_custom_message(&request)?.to_string();
        sim.platform().check_custom_window(touser, sim.now())?;
        sim.count_custom(touser)?;
        sim.deliver_custom(touser.to_string(), msgtype, request.clone());
        Ok(())
    })())
}

/// The `msgtype` of a customer-service message whose content has its required fields: text
/// `content`; image and voice `media_id`; video `media_id` (`thumb_media_id`, `title`,
/// `description` optional); music `thumb_media_id` (`title`, `description`, `musicurl`,
/// `hqmusicurl` optional); news exactly one article (none 44003, more 45008); msgmenu a
/// non-empty `list` of `{id, content}`; miniprogrampage `appid`, `pagepath`, `thumb_media_id`.
/// A missing media id is 40007, empty text 44004, an unknown msgtype 40008; any other
/// malformed message (missing msgtype or content, a field that is not a string) is 47001.
/// mpnews, mpnewsarticle and wxcard are not simulated (40008).
fn check_custom_message(request: &Value) -> Result<&str, i64> {
    let msgtype = request
        .get("msgtype")
        .and_then(Value::as_str)
        .ok_or(47001)?;
    let content = request
        .get(msgtype)
        .and_then(Value::as_object)
        .ok_or(47001)?;
    // Present fields must be strings; `required` ones non-empty, else `missing`.
    let strings = |required: &[(&str, i64)], optional: &[&str]| -> Result<(), i64> {
        for (name, missing) in required {
            match content.get(*name) {
                Some(Value::String(v)) if !v.trim().is_empty() => {}
                None | Some(Value::String(_)) => return Err(*missing),
                Some(_) => return Err(47001),
            }
        }
        for name in optional {
            if content.get(*name).is_some_and(|v| !v.is_string()) {
                return Err(47001);
            }
        }
        Ok(())
    };
    match msgtype {
        "text" => strings(&[("content", 44004)], &[])?,
        "image" | "voice" => strings(&[("media_id", 40007)], &[])?,
        "video" => strings(
            &[("media_id", 40007)],
            &["thumb_media_id", "title", "description"],
        )?,
        "music" => strings(
            &[("thumb_media_id", 40007)],
            &["title", "description", "musicurl", "hqmusicurl"],
        )?,
        "news" => {
            let articles = content
                .get("articles")
                .and_then(Value::as_array)
                .ok_or(47001)?;
            let article = match articles.as_slice() {
                [] => return Err(44003),
                [Value::Object(article)] => article,
                [_] => return Err(47001),
                _ => return Err(45008),
            };
            for name in ["title", "description", "url", "picurl"] {
                if article.get(name).is_some_and(|v| !v.is_string()) {
                    return Err(47001);
                }
            }
        }
        "msgmenu" => {
            strings(&[], &["head_content", "tail_content"])?;
            let list = content
                .get("list")
                .and_then(Value::as_array)
                .filter(|l| !l.is_empty())
                .ok_or(47001)?;
            for choice in list {
                for name in ["id", "content"] {
                    match choice.get(name) {
                        Some(Value::String(v)) if !v.trim().is_empty() => {}
                        _ => return Err(47001),
                    }
                }
            }
        }
        "miniprogrampage" => strings(
            &[
                ("appid", 47001),
                ("pagepath", 47001),
                ("thumb_media_id", 40007),
            ],
            &["title"],
        )?,
        _ => return Err(40008),
    }
    Ok(msgtype)
}

/// `GET /_sim/custom`: the customer-service messages delivered so far, oldest first (a control
/// path: not counted, no faults).
pub async fn custom_log(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.custom_messages()).into_response()
}

/// `DELETE /_sim/custom`: forgets them.
pub async fn clear_custom_log(State(sim): State<Simulator>) -> StatusCode {
    sim.clear_custom_messages();
    StatusCode::NO_CONTENT
}
