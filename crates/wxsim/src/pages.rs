//! The HTML the simulator renders: WeChat-like phone-sized pages (consent, errors) and the
//! landing page. Every value from config, users or the request goes through [`escape`].

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::SimConfig;
use crate::users::page_avatar;

/// Escapes text for HTML and XML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#ededed;font-family:-apple-system,BlinkMacSystemFont,"PingFang SC","Helvetica Neue","Microsoft YaHei",sans-serif;color:#191919}
.wide{max-width:760px!important}
.card{max-width:375px;margin:0 auto;min-height:100vh;background:#fff;padding:32px 24px}
.account{display:flex;align-items:center;gap:12px;font-size:17px;font-weight:600;margin-bottom:28px}
.logo{width:40px;height:40px;border-radius:8px;background:#07c160;color:#fff;display:flex;align-items:center;justify-content:center;font-size:20px}
h1{font-size:17px;font-weight:500;margin:0 0 8px}
.scope{color:#808080;font-size:14px;margin:0 0 20px;padding-bottom:16px;border-bottom:1px solid #eee}
.users{list-style:none;padding:0;margin:0 0 28px}
.users li{border-bottom:1px solid #f2f2f2}
.users label{display:flex;align-items:center;gap:12px;padding:10px 0;cursor:pointer}
.users img{width:40px;height:40px;border-radius:4px}
.users .tag{color:#fa9d3b;font-size:12px}
.users input{accent-color:#07c160}
.buttons{display:flex;flex-direction:column;gap:12px;align-items:center}
button{width:184px;height:40px;border:0;border-radius:4px;font-size:17px;font-weight:600;cursor:pointer}
#allow{background:#07c160;color:#fff}
#deny{background:#f2f2f2;color:#07c160}
.err{text-align:center;padding-top:72px}
.err .icon{width:64px;height:64px;border-radius:50%;background:#fa5151;color:#fff;font-size:40px;line-height:64px;margin:0 auto 24px}
.err .code{color:#808080;font-size:14px}
.note{color:#b2b2b2;font-size:12px;text-align:center;margin-top:32px}
table{border-collapse:collapse;font-size:14px}td,th{padding:4px 8px;border-bottom:1px solid #eee;text-align:left}
code{background:#f5f5f5;padding:1px 4px;border-radius:3px}
"#;

fn layout(title: &str, body: &str) -> String {
    layout_with("card", title, body)
}

fn layout_with(class: &str, title: &str, body: &str) -> String {
    format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
            "<meta name=viewport content=\"width=device-width,initial-scale=1\">",
            "<title>{title}</title><style>{style}</style></head>",
            "<body><div class=\"{class}\">{body}</div></body></html>\n"
        ),
        class = class,
        title = escape(title),
        style = STYLE,
        body = body,
    )
}

fn html(status: StatusCode, page: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// WeChat's authorization error page: HTTP 200, a message and, when known, the code.
pub fn error_page(code: Option<i64>, message: &str) -> Response {
    error_page_with(StatusCode::OK, code, message)
}

pub fn error_page_with(status: StatusCode, code: Option<i64>, message: &str) -> Response {
    let code_line = match code {
        Some(c) => format!("<p class=\"code\">错误码：<span id=\"errcode\">{c}</span></p>"),
        None => String::new(),
    };
    let body = format!(
        "<div class=\"err\"><div class=\"icon\">!</div><h1 id=\"message\">{}</h1>{code_line}</div>\
         <p class=\"note\">wxsim · 微信网页授权模拟</p>",
        escape(message)
    );
    html(status, layout("微信网页授权", &body))
}

/// What WeChat shows when the authorize link does not match its pattern (parameter order).
pub fn link_unavailable() -> Response {
    let body = "<div class=\"err\"><div class=\"icon\">!</div><h1 id=\"message\">该链接无法访问</h1>\
                <p class=\"code\">请检查链接参数顺序：appid, redirect_uri, response_type, scope, state</p></div>";
    html(StatusCode::OK, layout("该链接无法访问", body))
}

/// What the consent form must carry back.
pub struct ConsentRequest<'a> {
    pub appid: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: Option<&'a str>,
}

/// The consent page, with users[`selected`] chosen at first (the user this browser is, see
/// [`crate::oauth`]); any other may be picked before 允许 or 拒绝.
pub fn consent_page(config: &SimConfig, req: &ConsentRequest<'_>, selected: usize) -> Response {
    let initial = config
        .account_name
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default();
    let mut users = String::new();
    for (i, u) in config.users.iter().enumerate() {
        let checked = if i == selected { " checked" } else { "" };
        let tag = if u.snapshot {
            " <span class=\"tag\">快照页用户</span>"
        } else {
            ""
        };
        users.push_str(&format!(
            "<li><label><input type=\"radio\" name=\"user\" value=\"{i}\"{checked}>\
             <img src=\"{src}\" alt=\"\"><span class=\"nickname\">{nick}</span>{tag}</label></li>",
            src = escape(&page_avatar(u, i)),
            nick = escape(&u.nickname),
        ));
    }
    let state = match req.state {
        Some(s) => format!(
            "<input type=\"hidden\" name=\"state\" value=\"{}\">",
            escape(s)
        ),
        None => String::new(),
    };
    let body = format!(
        concat!(
            "<div class=\"account\"><div class=\"logo\">{initial}</div><span id=\"account\">{account}</span></div>",
            "<h1>申请获得以下权限:</h1><p class=\"scope\">获得你的公开信息（昵称、头像等）</p>",
            "<form method=\"post\" action=\"/connect/oauth2/authorize\">",
            "<input type=\"hidden\" name=\"appid\" value=\"{appid}\">",
            "<input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect_uri}\">",
            "<input type=\"hidden\" name=\"scope\" value=\"{scope}\">{state}",
            "<ul class=\"users\">{users}</ul>",
            "<div class=\"buttons\">",
            "<button id=\"allow\" name=\"action\" value=\"allow\">允许</button>",
            "<button id=\"deny\" name=\"action\" value=\"deny\">拒绝</button>",
            "</div></form><p class=\"note\">wxsim 模拟授权页 · 选择一个模拟用户</p>"
        ),
        initial = escape(&initial),
        account = escape(&config.account_name),
        appid = escape(req.appid),
        redirect_uri = escape(req.redirect_uri),
        scope = escape(req.scope),
        state = state,
        users = users,
    );
    html(StatusCode::OK, layout("微信授权", &body))
}

pub fn landing_page(config: &SimConfig) -> Response {
    let mut users = String::new();
    for (i, u) in config.users.iter().enumerate() {
        users.push_str(&format!(
            "<tr><td>{i}</td><td><img src=\"{src}\" alt=\"\" width=\"24\" height=\"24\"></td>\
             <td>{nick}</td><td><code>{openid}</code></td><td>{unionid}</td><td>{snap}</td></tr>",
            src = escape(&page_avatar(u, i)),
            nick = escape(&u.nickname),
            openid = escape(&u.openid),
            unionid = escape(u.unionid.as_deref().unwrap_or("")),
            snap = if u.snapshot { "快照页" } else { "" },
        ));
    }
    let body = format!(
        concat!(
            "<h1>wxsim — 微信公众平台离线模拟器</h1>",
            "<p>An offline simulator of WeChat's web login (网页授权) and token APIs, on WeChat's own paths. ",
            "Point your app's OAuth and API base URLs here.</p>",
            "<p>AppID: <code id=\"appid\">{appid}</code> · 账号: {account} · ",
            "auto consent: {auto} · 网页授权域名: {domain}</p>",
            "<p><a id=\"chat-link\" href=\"/_sim/chat\">💬 Chat with the account (message push)</a> · push target: {push}</p>",
            "<h1>Users</h1><table><tr><th>#</th><th></th><th>nickname</th><th>openid</th><th>unionid</th><th></th></tr>{users}</table>",
            "<h1>WeChat paths</h1><ul>",
            "<li><code>GET /connect/oauth2/authorize?appid&amp;redirect_uri&amp;response_type=code&amp;scope&amp;state</code></li>",
            "<li><code>GET /sns/oauth2/access_token</code>, <code>/sns/oauth2/refresh_token</code>, <code>/sns/userinfo</code>, <code>/sns/auth</code></li>",
            "<li><code>GET /cgi-bin/token</code>, <code>POST /cgi-bin/stable_token</code></li>",
            "<li><code>POST /cgi-bin/menu/create</code>, <code>GET /cgi-bin/menu/get</code>, <code>GET /cgi-bin/menu/delete</code>, ",
            "<code>POST /cgi-bin/menu/addconditional</code>, <code>/cgi-bin/menu/delconditional</code>, <code>/cgi-bin/menu/trymatch</code>, ",
            "<code>GET /cgi-bin/get_current_selfmenu_info</code></li>",
            "<li><code>GET /cgi-bin/ticket/getticket?type=jsapi|wx_card</code></li></ul>",
            "<h1>Control paths</h1><ul>",
            "<li><code>GET /_sim/calls</code> call counters</li>",
            "<li><code>POST /_sim/faults</code> <code>{{\"path\",\"count\",\"errcode\",\"status\",\"delay_ms\",\"garbage\"}}</code>; <code>DELETE /_sim/faults</code></li>",
            "<li><code>POST /_sim/clock</code> <code>{{\"advance_secs\":N}}</code></li>",
            "<li><code>POST /_sim/quota</code> <code>{{\"path\",\"daily_limit\"}}</code>, <code>GET /_sim/quota</code> daily quotas (45009)</li>",
            "<li><code>POST /_sim/whitelist</code> <code>{{\"enforce\",\"allowed\":[ip]}}</code>, <code>GET /_sim/whitelist</code> (40164 on token paths)</li>",
            "<li><code>GET /_sim/menu?openid=</code> default, personalized and effective menus</li>",
            "<li><code>GET|POST /_sim/templates</code> template-message and subscription templates; <code>POST /_sim/subscriptions</code> <code>{{\"openid\",\"template_id\"}}</code> a user accepts one (else 43101); <code>GET|DELETE /_sim/notifications</code>; <code>POST /_sim/interactions</code> <code>{{\"openid\",\"secs_ago\"}}</code> or <code>{{\"openid\",\"unfollowed\":true}}</code></li>",
            "<li><code>GET /_sim/users</code>, <code>GET /_sim/avatar/{{index}}/{{size}}</code></li>",
            "<li><code>POST /_sim/push</code> <code>{{\"from\",\"message\":{{\"type\":\"text\",\"content\"}},\"target\"}}</code> → push report; ",
            "<code>POST /_sim/verify</code> <code>{{\"target\"}}</code>; <code>GET|DELETE /_sim/exchanges</code>; <code>GET /_sim/chat</code></li>",
            "<li><code>POST /_sim/chat/user</code> <code>{{\"openid\"}}</code>: this browser is that user (the chat page posts it when you pick, send or tap)</li></ul>",
            "<h1>Who logs in</h1><p id=\"who-logs-in\">As in WeChat, the browser is the user of the chat: the chat page remembers the user it acts as ",
            "in the <code>wxsim_user</code> cookie (this origin), so a menu VIEW button to your <code>/auth/</code> logs in the user who tapped it. ",
            "With that cookie, <code>snsapi_base</code> (and auto consent) log in that user and the consent page preselects them. ",
            "Without it (or for an unknown openid), <code>snsapi_base</code> and auto consent log in user 0 and the consent page preselects user 0.</p>"
        ),
        appid = escape(&config.appid),
        account = escape(&config.account_name),
        auto = config.auto_consent,
        domain = escape(config.oauth_domain.as_deref().unwrap_or("(any)")),
        push = match &config.push {
            Some(t) => format!("<code>{}</code>", escape(&t.url)),
            None => "(none configured)".to_string(),
        },
        users = users,
    );
    html(StatusCode::OK, layout_with("card wide", "wxsim", &body))
}
