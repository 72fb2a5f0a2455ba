//! wxsim: an offline simulator of the WeChat Official Account platform, as a library.
//!
//! It answers on WeChat's own paths (`/connect/oauth2/authorize`, `/sns/*`, `/cgi-bin/token`,
//! `/cgi-bin/stable_token`, `/cgi-bin/menu/*`, `/cgi-bin/get_current_selfmenu_info`,
//! `/cgi-bin/ticket/getticket`, `/cgi-bin/message/custom/send`, the QR code and media APIs of
//! `docs/wechat-platform-apis.md` §1 and §2, the followers and tags of §6 and §7, and the
//! notifications of `notify`: `message/template/send`, `message/subscribe/bizsend` and the
//! template lists) with the parameters, error codes, lifetimes and daily quotas described in
//! `docs/wechat-protocol.md` §A, §B, §C.5, §D, §E and §G, so that code which works
//! against the simulator works against WeChat. Everything lives in memory; time is a simulated
//! clock (the real Unix time plus whatever tests added with [`Simulator::advance_clock`]), and
//! daily quotas roll over at midnight Beijing time (UTC+8) of that clock, as WeChat's do.
//!
//! How to read it:
//! - this file: the public types ([`SimConfig`], [`Fault`], [`Whitelist`], [`Simulator`],
//!   [`serve`]), the router, and the middleware that, on every WeChat path, counts calls,
//!   injects faults, enforces the IP whitelist (token paths) and the daily quotas;
//! - [`users`]: simulated users, the default set, loading them from JSON, generated avatars;
//! - `platform`: the platform's memory (codes, user tokens, base tokens) as plain functions of
//!   "now", with no HTTP in it;
//! - `oauth`: the authorize link and the consent page (browser-facing, HTML);
//! - `api`: the JSON endpoints (`sns/*`, `cgi-bin/token`, `cgi-bin/stable_token`, menus,
//!   `ticket/getticket`);
//! - `menu`: menu validation, default and personalized menus, matching;
//! - `followers`: the follower list, user info, remarks, tags and the blacklist
//!   (`docs/wechat-platform-apis.md` §6, §7), and `/_sim/followers` to add many followers;
//! - [`push`]: WeChat's message push to the account's server URL (URL verification, signed and
//!   encrypted pushes with timeout and retries, the answer judged by WeChat's rules);
//! - `qrcode`, `media`: QR codes with scenes (a scannable PNG at `showqrcode`) and uploaded
//!   media and material, kept in memory;
//! - `control`: the `/_sim/*` paths for tests and humans;
//! - `pages`: the HTML the simulator renders, `chat`: the chat page (a conversation with the
//!   account through [`push`]).

mod api;
mod chat;
mod control;
mod followers;
mod media;
mod menu;
pub mod notify;
mod oauth;
mod openapi;
mod pages;
mod platform;
mod qrcode;
/// The demo account: the AppID, secret and 服务器配置 that `wxgate demo`, `scripts/cluster`, the
/// bench and the tests use between this simulator and wxgate. They are never a real account's.
pub mod demo {
    pub const APPID: &str = "wx5d3ad7e0c0ffee00";
    pub const SECRET: &str = "demosecretnotforproduction000000";
    /// The Token of the demo's 服务器配置.
    pub const TOKEN: &str = "wxgatedemo";
    /// The demo's EncodingAESKey (43 letters and digits).
    pub const AES_KEY: &str = "wxgateDemoEncodingAESKeyNotForProduction000";
}

pub mod push;
pub mod users;
mod xml;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub use push::{Outgoing, PushMode, PushReport, PushTarget, VerifyReport};
pub use users::{SimUser, default_users, load_users};

use platform::Platform;

/// What the simulated platform knows: one Official Account and the users who may log in to it.
#[derive(Clone)]
pub struct SimConfig {
    pub appid: String,
    pub secret: String,
    /// Shown on the consent page.
    pub account_name: String,
    pub users: Vec<SimUser>,
    /// `snsapi_userinfo` redirects at once, without the consent page, as the user this browser
    /// is (the chat page's `wxsim_user` cookie) or else `users[0]`.
    pub auto_consent: bool,
    /// The account's 网页授权域名 (`host` or `host:port`). When set, a `redirect_uri` on
    /// another host gets WeChat's error page 10003.
    pub oauth_domain: Option<String>,
    /// Where `/_sim/push`, `/_sim/verify` and the chat page push by default (the account's
    /// server URL, Token, mode…). `None`: each request must bring its own target.
    pub push: Option<PushTarget>,
}

impl SimConfig {
    /// A config with the [`default_users`], the consent page on and no domain check.
    pub fn new(appid: impl Into<String>, secret: impl Into<String>) -> Self {
        SimConfig {
            appid: appid.into(),
            secret: secret.into(),
            account_name: "wxgate 演示公众号".to_string(),
            users: default_users(),
            auto_consent: false,
            oauth_domain: None,
            push: None,
        }
    }
}

// The secret must never reach logs.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("account_name", &self.account_name)
            .field("users", &self.users.len())
            .field("auto_consent", &self.auto_consent)
            .field("oauth_domain", &self.oauth_domain)
            .field("push", &self.push)
            .finish()
    }
}

/// The API IP whitelist (IP白名单) as `POST /_sim/whitelist` sets it: when `enforce` is on,
/// `cgi-bin/token` and `cgi-bin/stable_token` answer 40164 to callers not in `allowed`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Whitelist {
    #[serde(default)]
    pub enforce: bool,
    #[serde(default)]
    pub allowed: Vec<IpAddr>,
}

/// The paths the IP whitelist guards.
const WHITELISTED_PATHS: [&str; 2] = ["/cgi-bin/token", "/cgi-bin/stable_token"];

/// WeChat's default daily quotas (§B.1, §B.2, §D); `POST /_sim/quota` sets any path's.
pub const DEFAULT_QUOTAS: [(&str, u64); 8] = [
    ("/cgi-bin/token", 2000),
    ("/cgi-bin/stable_token", 500_000),
    ("/cgi-bin/menu/create", 1000),
    ("/cgi-bin/menu/get", 10_000),
    ("/cgi-bin/menu/delete", 1000),
    ("/cgi-bin/menu/addconditional", 2000),
    ("/cgi-bin/menu/delconditional", 2000),
    ("/cgi-bin/menu/trymatch", 20_000),
];

/// Daily limits and today's use, by path.
struct Quotas {
    limits: BTreeMap<String, u64>,
    /// path → (simulated Beijing day, see [`platform::beijing_day`], calls that day).
    used: BTreeMap<String, (u64, u64)>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            limits: DEFAULT_QUOTAS
                .iter()
                .map(|(p, n)| (p.to_string(), *n))
                .collect(),
            used: BTreeMap::new(),
        }
    }
}

/// One path's quota as `GET /_sim/quota` shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuotaState {
    pub daily_limit: u64,
    pub used_today: u64,
}

/// A planned failure: the next `count` calls of `path` misbehave.
///
/// `delay_ms` sleeps before answering and combines with the others. Of the rest, the first set
/// one wins, in this order: `status` (that HTTP status, short text body), `garbage` (HTTP 200
/// with an HTML body that is not JSON, like a proxy error page), `errcode` (WeChat error JSON).
/// A fault with only `delay_ms` answers normally after the delay.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fault {
    pub path: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    #[serde(default)]
    pub garbage: bool,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault on `path` for one call that does nothing yet; set the fields you need.
    pub fn new(path: impl Into<String>) -> Self {
        Fault {
            path: path.into(),
            count: 1,
            errcode: None,
            status: None,
            delay_ms: None,
            garbage: false,
        }
    }

    /// The next `count` calls of `path` answer normally, `delay_ms` late.
    pub fn delay(path: impl Into<String>, count: u32, delay_ms: u64) -> Self {
        Fault {
            count,
            delay_ms: Some(delay_ms),
            ..Fault::new(path)
        }
    }
}

/// The simulator: cheap to clone, all clones share one platform.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

struct Inner {
    config: SimConfig,
    started: Instant,
    /// The real Unix time at `started`: the simulated clock reads Unix seconds.
    started_unix: u64,
    /// Seconds added to the real elapsed time by [`Simulator::advance_clock`].
    offset: Mutex<u64>,
    platform: Mutex<Platform>,
    faults: Mutex<HashMap<String, VecDeque<Fault>>>,
    calls: Mutex<BTreeMap<String, u64>>,
    /// The last [`MAX_EXCHANGES`] pushes, oldest first.
    exchanges: Mutex<VecDeque<Exchange>>,
    next_exchange: Mutex<u64>,
    /// The last [`MAX_EXCHANGES`] customer-service messages, oldest first, and the last id.
    custom: Mutex<(VecDeque<CustomMessage>, u64)>,
    quotas: Mutex<Quotas>,
    whitelist: Mutex<Whitelist>,
    /// Failed calls, for `openapi/rid/get`.
    rids: Mutex<openapi::Rids>,
    /// Followers, tags and the blacklist (`followers`).
    followers: Mutex<followers::Followers>,
    // QR codes and media (issue 9).
    qrcodes: Mutex<qrcode::QrCodes>,
    media: Mutex<media::MediaStore>,
    /// Templates, subscription grants and sent notifications (`notify`).
    notify: Mutex<notify::NotifyState>,
}

/// How many pushes the simulator remembers for `/_sim/exchanges` and the chat page.
pub const MAX_EXCHANGES: usize = 200;

/// One push through the simulator and what came back.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Exchange {
    /// Increasing from 1.
    pub id: u64,
    /// Unix seconds (real time).
    pub at: u64,
    /// The sender's openid.
    pub from: String,
    pub message: Outgoing,
    pub report: PushReport,
}

/// A customer-service message (客服消息) the account sent through `message/custom/send`, as
/// `GET /_sim/custom` and the chat page show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CustomMessage {
    /// Increasing from 1.
    pub id: u64,
    /// Unix seconds (real time, like [`Exchange::at`]).
    pub at: u64,
    /// The recipient's openid.
    pub touser: String,
    pub msgtype: String,
    /// The request body as the account sent it: `body[msgtype]` is the content.
    pub body: serde_json::Value,
}

/// Locks a std mutex, shrugging off poisoning: every critical section here leaves the state
/// consistent, so a panic elsewhere must not take the simulator down with it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        Simulator {
            inner: Arc::new(Inner {
                started: Instant::now(),
                started_unix: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
                offset: Mutex::new(0),
                platform: Mutex::new(Platform::default()),
                faults: Mutex::new(HashMap::new()),
                calls: Mutex::new(BTreeMap::new()),
                exchanges: Mutex::new(VecDeque::new()),
                next_exchange: Mutex::new(0),
                custom: Mutex::new((VecDeque::new(), 0)),
                quotas: Mutex::new(Quotas::default()),
                whitelist: Mutex::new(Whitelist::default()),
                rids: Mutex::new(openapi::Rids::default()),
                followers: Mutex::new(followers::Followers::new(
                    &config.users,
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                )),
                config,
                qrcodes: Mutex::new(qrcode::QrCodes::default()),
                media: Mutex::new(media::MediaStore::default()),
                notify: Mutex::new(notify::NotifyState::default()),
            }),
        }
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// All routes, WeChat's and the `/_sim/*` control paths, for one listener.
    pub fn router(&self) -> Router {
        // Every request on these paths is counted and may be hit by an injected fault.
        let wechat = Router::new()
            .route(
                "/connect/oauth2/authorize",
                get(oauth::authorize).post(oauth::consent),
            )
            .route(
                "/sns/oauth2/access_token",
                get(api::sns_access_token).post(api::sns_access_token),
            )
            .route(
                "/sns/oauth2/refresh_token",
                get(api::sns_refresh_token).post(api::sns_refresh_token),
            )
            .route(
                "/sns/userinfo",
                get(api::sns_userinfo).post(api::sns_userinfo),
            )
            .route("/sns/auth", get(api::sns_auth).post(api::sns_auth))
            .route("/cgi-bin/token", get(api::cgi_token).post(api::cgi_token))
            .route(
                "/cgi-bin/stable_token",
                post(api::stable_token).get(api::require_post),
            )
            .route(
                "/cgi-bin/menu/create",
                post(api::menu_create).get(api::require_post),
            )
            .route("/cgi-bin/menu/get", get(api::menu_get).post(api::menu_get))
            .route(
                "/cgi-bin/menu/delete",
                get(api::menu_delete).post(api::menu_delete),
            )
            .route(
                "/cgi-bin/menu/addconditional",
                post(api::menu_add_conditional).get(api::require_post),
            )
            .route(
                "/cgi-bin/menu/delconditional",
                post(api::menu_del_conditional).get(api::require_post),
            )
            .route(
                "/cgi-bin/menu/trymatch",
                post(api::menu_trymatch).get(api::require_post),
            )
            .route(
                "/cgi-bin/get_current_selfmenu_info",
                get(api::selfmenu_info).post(api::selfmenu_info),
            )
            .route(
                "/cgi-bin/ticket/getticket",
                get(api::getticket).post(api::getticket),
            )
            .route(
                "/cgi-bin/message/custom/send",
                post(api::custom_send).get(api::require_post),
            )
            // Notifications (notify.rs): template messages, subscription notices, their lists.
            .route(
                "/cgi-bin/message/template/send",
                post(notify::template_send).get(api::require_post),
            )
            .route(
                "/cgi-bin/message/subscribe/bizsend",
                post(notify::subscribe_send).get(api::require_post),
            )
            .route(
                "/cgi-bin/template/get_all_private_template",
                get(notify::template_list).post(notify::template_list),
            )
            .route(
                "/wxaapi/newtmpl/gettemplate",
                get(notify::subscribe_template_list).post(notify::subscribe_template_list),
            )
            .route(
                "/cgi-bin/openapi/quota/get",
                post(openapi::quota_get).get(api::require_post),
            )
            .route(
                "/cgi-bin/openapi/rid/get",
                post(openapi::rid_get).get(api::require_post),
            )
            // Followers, tags and the blacklist (docs/wechat-platform-apis.md §6, §7).
            .route(
                "/cgi-bin/user/get",
                get(followers::user_get).post(followers::user_get),
            )
            .route(
                "/cgi-bin/user/info",
                get(followers::user_info).post(followers::user_info),
            )
            .route(
                "/cgi-bin/user/info/batchget",
                post(followers::user_info_batch).get(api::require_post),
            )
            .route(
                "/cgi-bin/user/info/updateremark",
                post(followers::update_remark).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/create",
                post(followers::tags_create).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/get",
                get(followers::tags_get).post(followers::tags_get),
            )
            .route(
                "/cgi-bin/tags/update",
                post(followers::tags_update).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/delete",
                post(followers::tags_delete).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/members/batchtagging",
                post(followers::batch_tagging).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/members/batchuntagging",
                post(followers::batch_untagging).get(api::require_post),
            )
            .route(
                "/cgi-bin/user/tag/get",
                post(followers::tag_users).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/getidlist",
                post(followers::tag_id_list).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/members/getblacklist",
                post(followers::get_blacklist).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/members/batchblacklist",
                post(followers::batch_blacklist).get(api::require_post),
            )
            .route(
                "/cgi-bin/tags/members/batchunblacklist",
                post(followers::batch_unblacklist).get(api::require_post),
            )
            // QR codes with scenes and media (docs/wechat-platform-apis.md §1, §2).
            .route(
                "/cgi-bin/qrcode/create",
                post(qrcode::create).get(api::require_post),
            )
            .route("/cgi-bin/showqrcode", get(qrcode::show))
            .route(
                "/cgi-bin/media/upload",
                post(media::upload)
                    .get(api::require_post)
                    .layer(axum::extract::DefaultBodyLimit::max(media::MAX_UPLOAD)),
            )
            .route("/cgi-bin/media/get", get(media::get_media))
            .route(
                "/cgi-bin/material/add_material",
                post(media::add_material)
                    .get(api::require_post)
                    .layer(axum::extract::DefaultBodyLimit::max(media::MAX_UPLOAD)),
            )
            .route(
                "/cgi-bin/material/get_material",
                post(media::get_material).get(api::require_post),
            )
            .route(
                "/cgi-bin/material/del_material",
                post(media::del_material).get(api::require_post),
            )
            .route(
                "/cgi-bin/material/get_materialcount",
                get(media::material_count),
            )
            .route(
                "/cgi-bin/material/batchget_material",
                post(media::batchget).get(api::require_post),
            )
            .route_layer(middleware::from_fn_with_state(self.clone(), wechat_gate));
        wechat
            .merge(control::router())
            .route(
                "/_sim/custom",
                get(api::custom_log).delete(api::clear_custom_log),
            )
            .route(
                "/_sim/followers",
                get(followers::control_get).post(followers::control_post),
            )
            .route("/_sim/qrcodes", get(qrcode::list))
            // Notifications (notify.rs): templates, grants, what was sent, the 48 h window.
            .route(
                "/_sim/templates",
                get(notify::templates).post(notify::add_template),
            )
            .route(
                "/_sim/subscriptions",
                get(notify::subscriptions).post(notify::accept),
            )
            .route(
                "/_sim/notifications",
                get(notify::notifications).delete(notify::clear_notifications),
            )
            .route("/_sim/interactions", post(notify::interaction))
            // Unknown API paths are counted, faulted and recorded like the others.
            .fallback(axum::handler::Handler::layer(
                openapi::unknown_api,
                middleware::from_fn_with_state(self.clone(), wechat_gate),
            ))
            .with_state(self.clone())
    }

    /// How many requests reached a WeChat path, e.g. `calls("/sns/oauth2/access_token")`.
    pub fn calls(&self, path: &str) -> u64 {
        lock(&self.inner.calls).get(path).copied().unwrap_or(0)
    }

    /// All call counters, by path.
    pub fn all_calls(&self) -> BTreeMap<String, u64> {
        lock(&self.inner.calls).clone()
    }

    /// Plans a failure for the next `fault.count` calls of `fault.path`. Faults on one path are
    /// used in the order they were injected. A zero count injects nothing.
    pub fn inject(&self, fault: Fault) {
        if fault.count == 0 {
            return;
        }
        lock(&self.inner.faults)
            .entry(fault.path.clone())
            .or_default()
            .push_back(fault);
    }

    /// Forgets every planned fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// The push target to use: `target`, else the configured one; an empty AppID becomes the
    /// simulator's.
    pub fn push_target(&self, target: Option<PushTarget>) -> Result<PushTarget, String> {
        let mut target = target.or_else(|| self.config().push.clone()).ok_or_else(|| {
            "no push target: configure SimConfig.push (wxgate demo sets it to its /weixin/ URL) \
             or send {\"target\": {\"url\": \"http://host/weixin/\", \"token\": \"...\"}}"
                .to_string()
        })?;
        if target.appid.is_empty() {
            target.appid = self.config().appid.clone();
        }
        if target.url.is_empty() {
            return Err("the push target has an empty url".to_string());
        }
        Ok(target)
    }

    /// Pushes `message` from `from` (default: the first user's openid) to `target` (default: the
    /// configured one), remembers the exchange and returns it.
    pub async fn push(
        &self,
        from: Option<&str>,
        message: Outgoing,
        target: Option<PushTarget>,
    ) -> Result<Exchange, String> {
        let target = self.push_target(target)?;
        let from = match from {
            Some(f) if !f.is_empty() => f.to_string(),
            _ => self
                .config()
                .users
                .first()
                .map(|u| u.openid.clone())
                .ok_or("no users configured and no \"from\" openid given")?,
        };
        // The user talked to the account, whatever its server answers: customer-service
        // messages may reach them for 48 hours (until they unfollow).
        match message {
            Outgoing::Unsubscribe => self.platform().record_unfollow(&from),
            _ => {
                let now = self.now();
                self.platform().record_interaction(&from, now);
            }
        }
        // The follower list (user/get, user/info) follows the (un)subscribe pushes.
        match &message {
            Outgoing::Subscribe { scene, .. } => self.record_follow(&from, Some(scene.as_deref())),
            Outgoing::Unsubscribe => self.record_follow(&from, None),
            _ => {}
        }
        let report = push::push(&target, &from, &message).await;
        let id = {
            let mut next = lock(&self.inner.next_exchange);
            *next += 1;
            *next
        };
        let exchange = Exchange {
            id,
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            from,
            message,
            report,
        };
        let mut all = lock(&self.inner.exchanges);
        all.push_back(exchange.clone());
        while all.len() > MAX_EXCHANGES {
            all.pop_front();
        }
        Ok(exchange)
    }

    /// The URL verification GET against `target` (default: the configured one).
    pub async fn verify(&self, target: Option<PushTarget>) -> Result<VerifyReport, String> {
        let target = self.push_target(target)?;
        Ok(push::verify_url(&target).await)
    }

    /// The remembered pushes, oldest first (at most [`MAX_EXCHANGES`]).
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.inner.exchanges).iter().cloned().collect()
    }

    /// Forgets the remembered pushes.
    pub fn clear_exchanges(&self) {
        lock(&self.inner.exchanges).clear();
    }

    /// The customer-service messages delivered through `message/custom/send`, oldest first (at
    /// most [`MAX_EXCHANGES`]).
    pub fn custom_messages(&self) -> Vec<CustomMessage> {
        lock(&self.inner.custom).0.iter().cloned().collect()
    }

    /// Forgets the delivered customer-service messages.
    pub fn clear_custom_messages(&self) {
        lock(&self.inner.custom).0.clear();
    }

    /// Remembers a customer-service message `message/custom/send` accepted.
    fn deliver_custom(&self, touser: String, msgtype: String, body: serde_json::Value) {
        let mut custom = lock(&self.inner.custom);
        custom.1 += 1;
        let message = CustomMessage {
            id: custom.1,
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            touser,
            msgtype,
            body,
        };
        custom.0.push_back(message);
        while custom.0.len() > MAX_EXCHANGES {
            custom.0.pop_front();
        }
    }

    /// The user `openid` talked to the account just now (as a push through the simulator
    /// records): customer-service messages reach them for 48 hours.
    pub fn record_interaction(&self, openid: &str) {
        let now = self.now();
        self.platform().record_interaction(openid, now);
    }

    /// The bytes of a media or material the account uploaded, with their Content-Type, unless
    /// unknown, deleted or expired.
    pub fn media_bytes(&self, media_id: &str) -> Option<(&'static str, Vec<u8>)> {
        let now = self.now();
        lock(&self.inner.media)
            .get(media_id, now)
            .map(|i| (i.content_type, i.bytes.to_vec()))
    }

    /// The base access_tokens issued so far (for tests that check none leaks anywhere).
    pub fn issued_base_tokens(&self) -> Vec<String> {
        self.platform().base_token_values()
    }

    /// Base access_tokens and tickets issued from now on live this many seconds (WeChat's
    /// live 7200), so that tests can watch them expire.
    pub fn set_lifetimes(&self, access_token: u64, ticket: u64) {
        self.platform().lifetimes = platform::Lifetimes {
            access_token,
            ticket,
        };
    }

    /// Moves simulated time forward, so codes and tokens expire without waiting.
    pub fn advance_clock(&self, secs: u64) {
        let mut offset = lock(&self.inner.offset);
        *offset = offset.saturating_add(secs);
    }

    /// The simulated clock in Unix seconds: the real time plus every [`Simulator::advance_clock`].
    /// Daily quotas and the stable_token `force_refresh` budget count days of this clock in
    /// Beijing time (UTC+8), so they start again at 16:00 UTC.
    pub fn unix_time(&self) -> u64 {
        self.now()
    }

    /// Sets the daily quota of a WeChat path (e.g. `/cgi-bin/token`): the call after `limit`
    /// calls in one simulated day answers 45009. The day rolls over with the clock, at midnight
    /// Beijing time (UTC+8).
    pub fn set_quota(&self, path: &str, daily_limit: u64) {
        lock(&self.inner.quotas)
            .limits
            .insert(path.to_string(), daily_limit);
    }

    /// Every path with a quota: its limit and today's use.
    pub fn quotas(&self) -> BTreeMap<String, QuotaState> {
        let day = platform::beijing_day(self.now());
        let q = lock(&self.inner.quotas);
        q.limits
            .iter()
            .map(|(path, limit)| {
                let used_today = match q.used.get(path) {
                    Some((d, n)) if *d == day => *n,
                    _ => 0,
                };
                (
                    path.clone(),
                    QuotaState {
                        daily_limit: *limit,
                        used_today,
                    },
                )
            })
            .collect()
    }

    /// Replaces the API IP whitelist.
    pub fn set_whitelist(&self, whitelist: Whitelist) {
        *lock(&self.inner.whitelist) = whitelist;
    }

    pub fn whitelist(&self) -> Whitelist {
        lock(&self.inner.whitelist).clone()
    }

    /// The JS-SDK ticket `ticket/getticket?type=jsapi` would return now, if one was issued and
    /// has not expired.
    pub fn current_jsapi_ticket(&self) -> Option<String> {
        let now = self.now();
        self.platform().current_ticket("jsapi", now)
    }

    /// The menus as `GET /_sim/menu` shows them: `menu` (the default one, or null),
    /// `conditionalmenu` (personalized ones, oldest first) and, with `openid`, `effective`:
    /// the menu that user sees (null without a menu or for an unknown openid).
    pub fn menus_json(&self, openid: Option<&str>) -> serde_json::Value {
        let platform = self.platform();
        let menus = &platform.menus;
        let mut out = serde_json::json!({
            "menu": menus.default.as_ref().map(menu::Menu::to_json),
            "conditionalmenu": menus.conditional.iter().map(menu::Menu::to_json).collect::<Vec<_>>(),
        });
        if let Some(openid) = openid {
            let effective = self
                .config()
                .users
                .iter()
                .find(|u| u.openid == openid)
                .and_then(|u| menus.effective(&self.tagged(u)))
                .map(menu::Menu::to_json);
            out["effective"] = effective.into();
        }
        out
    }

    /// Whether a base access_token (from `cgi-bin/token` or `cgi-bin/stable_token`) is valid now.
    pub fn is_valid_base_token(&self, token: &str) -> bool {
        let now = self.now();
        lock(&self.inner.platform).base_token_valid(token, now)
    }

    /// The simulated clock, in Unix seconds (see [`Simulator::unix_time`]).
    fn now(&self) -> u64 {
        let offset = *lock(&self.inner.offset);
        self.inner
            .started_unix
            .saturating_add(self.inner.started.elapsed().as_secs())
            .saturating_add(offset)
    }

    pub(crate) fn platform(&self) -> MutexGuard<'_, Platform> {
        lock(&self.inner.platform)
    }

    /// The IP whitelist and the daily quota: `Some(error)` when the call may not go on. A call
    /// that passes counts toward the quota.
    fn admit(&self, path: &str, ip: Option<IpAddr>) -> Option<Response> {
        if WHITELISTED_PATHS.contains(&path) {
            let w = lock(&self.inner.whitelist);
            if w.enforce {
                let ip = ip.map_or(IpAddr::from([0, 0, 0, 0]), |ip| ip.to_canonical());
                if !w.allowed.iter().any(|a| a.to_canonical() == ip) {
                    let shown = match ip {
                        IpAddr::V4(v4) => format!("{v4} ipv6 {}", v4.to_ipv6_mapped()),
                        IpAddr::V6(v6) => format!("{v6} ipv6 {v6}"),
                    };
                    return Some(api::wx_error_text(
                        40164,
                        &format!("invalid ip {shown}, not in whitelist"),
                    ));
                }
            }
        }
        let day = platform::beijing_day(self.now());
        let mut q = lock(&self.inner.quotas);
        let limit = q.limits.get(path).copied();
        let used = q.used.entry(path.to_string()).or_insert((day, 0));
        if used.0 != day {
            *used = (day, 0);
        }
        if let Some(limit) = limit
            && used.1 >= limit
        {
            let text = if path == "/cgi-bin/token" {
                "reach max api daily quota limit, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
            } else {
                api::errmsg(45009)
            };
            return Some(api::wx_error_text(45009, text));
        }
        used.1 += 1;
        None
    }

    /// `path`'s daily limit (100,000 when the simulator sets none) and today's use, for
    /// `openapi/quota/get`.
    fn quota_of(&self, path: &str) -> (u64, u64) {
        let day = platform::beijing_day(self.now());
        let q = lock(&self.inner.quotas);
        let limit = q.limits.get(path).copied().unwrap_or(100_000);
        let used = q
            .used
            .get(path)
            .filter(|(d, _)| *d == day)
            .map_or(0, |(_, n)| *n);
        (limit, used)
    }

    /// Takes one use of the first fault planned for `path`, if any.
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut faults = lock(&self.inner.faults);
        let queue = faults.get_mut(path)?;
        let front = queue.front_mut()?;
        let taken = front.clone();
        front.count = front.count.saturating_sub(1);
        if front.count == 0 {
            queue.pop_front();
        }
        if queue.is_empty() {
            faults.remove(path);
        }
        Some(taken)
    }
}

/// Counts the call, then applies a planned fault, if any, before (or instead of) the handler,
/// then the IP whitelist and the daily quota.
async fn wechat_gate(State(sim): State<Simulator>, req: Request, next: Next) -> Response {
    // Buffered, so a failed call can be shown by `openapi/rid/get` with its body.
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BODY).await else {
        return api::wx_error_text(44002, "request body too large or unreadable");
    };
    let mut record = openapi::RidRecord {
        rid: String::new(),
        invoke_time: sim.now(),
        cost_in_ms: 0,
        request_url: openapi::masked_query(parts.uri.query().unwrap_or_default()),
        request_body: if body.len() <= 4096 {
            String::from_utf8_lossy(&body).into_owned()
        } else {
            format!("({} bytes)", body.len())
        },
        response_body: String::new(),
        client_ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(String::new, |c| c.0.ip().to_string()),
    };
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    let response = gate(&sim, req, next).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.contains("json"));
    if !is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(answer) = axum::body::to_bytes(body, MAX_REQUEST_BODY).await else {
        return api::wx_error(-1);
    };
    record.cost_in_ms = started.elapsed().as_millis() as u64;
    openapi::remember(&sim, record, &answer);
    Response::from_parts(parts, axum::body::Body::from(answer))
}

/// The largest request (and JSON answer) the simulator buffers: above WeChat's 10 MB uploads.
const MAX_REQUEST_BODY: usize = 32 << 20;

/// [`wechat_gate`] without the recording.
async fn gate(sim: &Simulator, req: Request, next: Next) -> Response {
    let sim = sim.clone();
    let path = req.uri().path().to_string();
    *lock(&sim.inner.calls).entry(path.clone()).or_insert(0) += 1;
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    // Taken (and the lock dropped) before any await.
    let Some(fault) = sim.take_fault(&path) else {
        if let Some(refused) = sim.admit(&path, ip) {
            return refused;
        }
        return next.run(req).await;
    };
    if let Some(ms) = fault.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(status) = fault.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = format!("wxsim fault: HTTP {}", status.as_u16());
        return (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            body,
        )
            .into_response();
    }
    if fault.garbage {
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html>502 Bad Gateway</html>",
        )
            .into_response();
    }
    if let Some(code) = fault.errcode {
        return api::wx_error(code);
    }
    if let Some(refused) = sim.admit(&path, ip) {
        return refused;
    }
    next.run(req).await
}

/// Serves the simulator on `listener` until the server fails. The callers' addresses are
/// known (for the IP whitelist's 40164); a router mounted elsewhere without
/// `into_make_service_with_connect_info` shows them as `0.0.0.0`.
pub async fn serve(listener: tokio::net::TcpListener, sim: Simulator) -> std::io::Result<()> {
    axum::serve(
        listener,
        sim.router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
