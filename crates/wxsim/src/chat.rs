//! The chat page (`GET /_sim/chat`): a phone-sized WeChat conversation with the account. The
//! person picks a simulated user, types or taps 关注/取消关注; plain JS posts to `/_sim/push` and
//! renders the reply. Server-side values go through [`escape`]; everything from the server's
//! reply is put in the page with `textContent` and DOM nodes, never `innerHTML`.
//!
//! The account's custom menu (§D: the one `menu/trymatch` gives the selected user) sits at the
//! bottom like WeChat's: up to 3 buttons; tapping a parent opens its sub-menu; tapping a leaf
//! pushes its event (CLICK with the key, VIEW with the URL and MenuId and then opens the URL in a
//! new tab, scancode/pic/location events with made-up results) or shows a note for types that
//! push nothing to the server.
//!
//! Who the browser is: in WeChat, the browser inside a chat *is* the user of that chat, so a
//! VIEW button to the account's 网页授权 logs in the user who tapped it. The chat page
//! remembers the user it acts as in a cookie on the simulator's origin, [`USER_COOKIE`]
//! (`wxsim_user=<openid>; Path=/; SameSite=Lax`): `GET /_sim/chat` sets it for the user it
//! selects (the remembered one if the cookie names a known user, else `users[0]`), and the
//! script posts `{"openid"}` to `POST /_sim/chat/user` when the person picks another user, before
//! each push and before a VIEW tap opens its URL. `/connect/oauth2/authorize` then uses that
//! user (see [`remembered_user`]): `snsapi_base` (and auto-consent) log in as them, the consent
//! page preselects them. Without the cookie, or with an openid no user has, nothing changes.
//!
//! Ids for browser tests: `#user-select`, `#chat-log`, `#chat-input`, `#chat-send`, `#subscribe`,
//! `#unsubscribe`, `#raw-log`, `#target-settings`, `#no-target`, `#menu-bar` (hidden without a
//! menu; `data-menuid`). Bubbles: `.bubble.user`, `.bubble.account` (`data-testid="bubble-user"`
//! / `"bubble-account"`); notes: `[data-testid=no-reply]`, `[data-testid=problems]`,
//! `[data-testid=custom-message]` (before a customer-service message, polled from `/_sim/custom`),
//! `[data-testid=event-note]`, `[data-testid=menu-note]`. 扫一扫: `#scan-qrcode` opens
//! `#qrcode-panel`, listing the account's live QR codes (`[data-testid=qrcode-item]`,
//! `data-scene`); tapping one pushes `subscribe` with its scene and ticket for a user who does not
//! follow, `SCAN` for one who does (see `crate::qrcode`). Notifications (polled from
//! `/_sim/notifications`): `[data-testid=service-notice]` (a 服务通知 card, `data-kind`
//! `template` or `subscribe`) with `[data-testid=notice-row]` and `[data-testid=notice-more]`
//! (详情); `#accept-subscriptions` (订阅通知) lists the subscription templates to accept
//! (`[data-testid=accept-subscription]`); a msgmenu's options are `[data-testid=msgmenu-choice]`. Menu: `[data-testid=menu-button]`
//! (top-level, the name as text), `[data-testid=sub-menu]` (a parent's pop-up),
//! `[data-testid=sub-button]` (its items).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use serde_json::{Value, json};

use crate::Simulator;
use crate::pages::escape;
use crate::users::page_avatar;

/// The cookie that says which simulated user this browser is (an openid, percent-encoded).
pub const USER_COOKIE: &str = "wxsim_user";

/// Bytes a cookie value cannot carry (RFC 6265 cookie-octet), plus `%` itself.
const COOKIE_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// `Set-Cookie` remembering `openid` as this browser's user: a session cookie on the whole
/// simulator origin, sent on the top-level navigation from the account's `/auth/` redirect.
pub fn remember_cookie(openid: &str) -> HeaderValue {
    let value = utf8_percent_encode(openid, COOKIE_UNSAFE);
    HeaderValue::from_str(&format!("{USER_COOKIE}={value}; Path=/; SameSite=Lax"))
        .expect("a percent-encoded cookie is a valid header value")
}

/// The index of the user the [`USER_COOKIE`] in `headers` names, if it names a known one.
pub fn remembered_user(sim: &Simulator, headers: &HeaderMap) -> Option<usize> {
    let users = &sim.config().users;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == USER_COOKIE)
        .filter_map(|(_, value)| percent_decode_str(value.trim()).decode_utf8().ok())
        .find_map(|openid| users.iter().position(|u| u.openid == openid))
}

/// The chat page's style and script live in `assets/` as files of their own, where editors and
/// linters see them for what they are.
const STYLE: &str = include_str!("../assets/chat.css");
const SCRIPT: &str = include_str!("../assets/chat.js");

/// JSON inside `<script type="application/json">`: no `<`, `>` or `&` that could end it.
fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The menu bar as the script builds it, for the first render (and pages without script).
fn menu_bar(menu: Option<&Value>) -> String {
    let buttons: &[Value] = menu
        .and_then(|m| m["button"].as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut html = String::new();
    for b in buttons.iter().take(3) {
        let name = escape(b["name"].as_str().unwrap_or_default());
        let subs: &[Value] = b["sub_button"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        html.push_str("<div class=\"menu-item\">");
        if subs.is_empty() {
            html.push_str(&format!(
                "<button class=\"menu-btn\" type=\"button\" data-testid=\"menu-button\">{name}</button>"
            ));
        } else {
            html.push_str(&format!(
                "<button class=\"menu-btn parent\" type=\"button\" data-testid=\"menu-button\">{name}</button>\
                 <div class=\"sub-menu\" data-testid=\"sub-menu\" hidden>"
            ));
            for sb in subs.iter().take(5) {
                html.push_str(&format!(
                    "<button class=\"sub-btn\" type=\"button\" data-testid=\"sub-button\">{}</button>",
                    escape(sb["name"].as_str().unwrap_or_default())
                ));
            }
            html.push_str("</div>");
        }
        html.push_str("</div>");
    }
    let menuid = menu
        .map(|m| m["menuid"].to_string())
        .filter(|id| id != "null")
        .unwrap_or_default();
    format!(
        "<div id=\"menu-bar\" data-testid=\"menu-bar\" data-menuid=\"{}\"{}>{html}</div>",
        escape(&menuid),
        if buttons.is_empty() { " hidden" } else { "" },
    )
}

/// The chat page, acting as the user the [`USER_COOKIE`] remembers (else `users[0]`); the
/// response (re)sets the cookie for that user.
pub fn chat_page(sim: &Simulator, headers: &HeaderMap) -> Response {
    let config = sim.config();
    // That user is selected at first; the script fetches the menu of any other.
    let selected = remembered_user(sim, headers).unwrap_or(0);
    let openid = config.users.get(selected).map(|u| u.openid.clone());
    let effective = openid
        .as_deref()
        .map(|openid| sim.menus_json(Some(openid))["effective"].clone())
        .filter(|m| !m.is_null());
    let menu_data = json!({"openid": openid, "menu": effective});
    let initial = config
        .account_name
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default();
    let mut options = String::new();
    for (i, u) in config.users.iter().enumerate() {
        let snapshot = if u.snapshot { " (快照页用户)" } else { "" };
        options.push_str(&format!(
            "<option value=\"{openid}\" data-avatar=\"{avatar}\"{selected}>{nick}{snapshot} · {openid}</option>",
            selected = if i == selected { " selected" } else { "" },
            openid = escape(&u.openid),
            avatar = escape(&page_avatar(u, i)),
            nick = escape(&u.nickname),
        ));
    }
    let (has_target, target_line) = match &config.push {
        Some(t) => (
            true,
            format!(
                "推送到 <code id=\"target-url\">{}</code> · {} 模式",
                escape(&t.url),
                match t.mode {
                    crate::PushMode::Plain => "明文",
                    crate::PushMode::Compatible => "兼容",
                    crate::PushMode::Safe => "安全",
                }
            ),
        ),
        None => (false, "未配置推送目标".to_string()),
    };
    let no_target = if has_target {
        String::new()
    } else {
        concat!(
            "<div id=\"no-target\" data-testid=\"no-target\"><b>没有配置推送目标 (no push target).</b> ",
            "Run <code>wxgate demo</code> (it points the simulator at the demo server's <code>/weixin/</code>), ",
            "start the simulator with <code>SimConfig.push</code> set, or fill in the account's ",
            "服务器配置 under “推送目标” below (kept in this browser). ",
            "Scripts can also send <code>{\"target\": {\"url\": …, \"token\": …}}</code> to <code>POST /_sim/push</code>.</div>"
        )
        .to_string()
    };
    let page = format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">",
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1,maximum-scale=1\">",
            "<title>{account} · wxsim 聊天</title><style>{style}</style></head>",
            "<body data-has-target=\"{has_target}\" data-account-initial=\"{initial}\">",
            "<div class=\"phone\">",
            "<header><a href=\"/\" title=\"wxsim\">‹</a><h1 id=\"account-name\" data-testid=\"account-name\">{account}</h1></header>",
            "<div class=\"who\"><label for=\"user-select\">我是</label>",
            "<select id=\"user-select\" data-testid=\"user-select\" autocomplete=\"off\">{options}</select></div>",
            "{no_target}",
            "<div id=\"chat-log\" data-testid=\"chat-log\" aria-live=\"polite\"></div>",
            "<footer>",
            "<div class=\"bar\"><input id=\"chat-input\" data-testid=\"chat-input\" type=\"text\" autocomplete=\"off\" placeholder=\"发消息\">",
            "<button id=\"chat-send\" data-testid=\"chat-send\" type=\"button\">发送</button></div>",
            "{menu_bar}<script type=\"application/json\" id=\"menu-data\">{menu_data}</script>",
            "<div class=\"events\"><button id=\"subscribe\" data-testid=\"subscribe\" type=\"button\">关注</button>",
            "<button id=\"unsubscribe\" data-testid=\"unsubscribe\" type=\"button\">取消关注</button>",
            "<button id=\"scan-qrcode\" data-testid=\"scan-qrcode\" type=\"button\">扫一扫</button>",
            "<button id=\"accept-subscriptions\" data-testid=\"accept-subscriptions\" type=\"button\">订阅通知</button></div>",
            "<div id=\"qrcode-panel\" data-testid=\"qrcode-panel\" hidden></div>",
            "<details id=\"target-settings\"{open}><summary>推送目标 · {target_line}</summary>",
            "<label><span>URL</span><input id=\"t-url\" placeholder=\"http://127.0.0.1:8000/weixin/\"></label>",
            "<label><span>Token</span><input id=\"t-token\"></label>",
            "<label><span>模式</span><select id=\"t-mode\"><option value=\"plain\">明文 plain</option>",
            "<option value=\"compatible\">兼容 compatible</option><option value=\"safe\">安全 safe</option></select></label>",
            "<label><span>EncodingAESKey</span><input id=\"t-aes\"></label>",
            "<label><span>AppID</span><input id=\"t-appid\" placeholder=\"{appid}\"></label>",
            "<label><span>原始ID</span><input id=\"t-account\" placeholder=\"gh_wxgate_demo\"></label>",
            "<button id=\"t-save\" type=\"button\">保存 (empty URL = use the simulator's)</button></details>",
            "<details id=\"raw-log\" data-testid=\"raw-log\"><summary>原始报文 (raw exchanges)</summary>",
            "<div id=\"raw-entries\" class=\"entries\"></div></details>",
            "</footer></div><script>{script}</script></body></html>\n"
        ),
        account = escape(&config.account_name),
        style = STYLE,
        has_target = has_target,
        initial = escape(&initial),
        options = options,
        no_target = no_target,
        open = if has_target { "" } else { " open" },
        target_line = target_line,
        appid = escape(&config.appid),
        script = SCRIPT,
        menu_bar = menu_bar(effective.as_ref()),
        menu_data = script_json(&menu_data),
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response();
    if let Some(openid) = &openid {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, remember_cookie(openid));
    }
    response
}

/// A grey picture with the MediaId written on it.
pub fn media_placeholder(media_id: &str) -> String {
    let shown: String = media_id.chars().take(24).collect();
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" viewBox="0 0 240 160">"#,
            r##"<rect width="240" height="160" fill="#e5e5e5"/>"##,
            r##"<text x="120" y="72" text-anchor="middle" font-size="28" fill="#b2b2b2">🖼</text>"##,
            r##"<text x="120" y="110" text-anchor="middle" font-size="11" font-family="monospace" fill="#808080">{}</text></svg>"##
        ),
        escape(&shown)
    )
}
