//! WeChat's message push (消息推送), as a library: what WeChat sends to an account's server URL
//! and how it judges the answer (docs/wechat-protocol.md §C.1–§C.7).
//!
//! - [`verify_url`]: the GET with `signature`, `timestamp`, `nonce`, `echostr` that the console
//!   sends when the server URL is saved; it passes when the body is `echostr` verbatim.
//! - [`push`]: one message or event ([`Outgoing`]) from a user, built as WeChat builds it
//!   (CDATA strings, bare numbers, seconds), signed, encrypted in compatible/safe mode, delivered
//!   with WeChat's timeout and retries (same body each time), and the answer judged by WeChat's
//!   rules. The [`PushReport`] lists each delivery, the decoded reply and every problem; an empty
//!   `problems` means WeChat would accept the answer.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wechat::crypto::{CryptError, EncodingAesKey, MessageCrypt};
use wechat::signature::sign;

use crate::xml::{self, Node};

/// What users see when WeChat gives up on the server (§C.5).
pub const NO_SERVICE: &str = "该公众号暂时无法提供服务，请稍后再试";

/// The default original id (原始ID) of the simulated account.
pub const DEFAULT_ACCOUNT_ID: &str = "gh_wxgate_demo";

/// How many bytes of a response body a report keeps.
const BODY_EXCERPT: usize = 4096;

/// A CreateTime above this is milliseconds, not seconds (year 5138 in seconds).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

/// The server configuration's 消息加解密方式.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// 明文模式: plaintext body, plaintext reply.
    #[default]
    Plain,
    /// 兼容模式: plaintext elements plus `<Encrypt>`; the reply may be plain or encrypted.
    Compatible,
    /// 安全模式: only `<Encrypt>`; the reply must be encrypted (or empty / `success`).
    Safe,
}

impl PushMode {
    fn encrypted(self) -> bool {
        !matches!(self, PushMode::Plain)
    }

    fn label(self) -> &'static str {
        match self {
            PushMode::Plain => "plain",
            PushMode::Compatible => "compatible",
            PushMode::Safe => "safe",
        }
    }
}

/// Where and how WeChat pushes: the account's 服务器配置.
#[derive(Clone, Serialize, Deserialize)]
pub struct PushTarget {
    /// The server's URL, e.g. `http://127.0.0.1:8000/weixin/`.
    pub url: String,
    /// 令牌 (Token).
    pub token: String,
    /// 消息加解密密钥 (EncodingAESKey, 43 characters); required in compatible and safe mode.
    #[serde(default)]
    pub aes_key: Option<String>,
    #[serde(default)]
    pub mode: PushMode,
    /// The AppID, the trailer of every encrypted payload. Empty: the simulator's own AppID when
    /// pushed through `/_sim/push`.
    #[serde(default)]
    pub appid: String,
    /// The account's original id (原始ID), the pushes' `ToUserName`.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// How long WeChat waits for an answer (5 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How many times WeChat re-sends after a timeout or connection failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_string()
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retries() -> u32 {
    3
}

impl PushTarget {
    /// A plaintext-mode target with WeChat's timing (5 s, 3 retries) and the default account id.
    pub fn new(url: impl Into<String>, token: impl Into<String>, appid: impl Into<String>) -> Self {
        PushTarget {
            url: url.into(),
            token: token.into(),
            aes_key: None,
            mode: PushMode::Plain,
            appid: appid.into(),
            account_id: default_account_id(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
        }
    }

    /// The same target in `mode` with `aes_key`.
    pub fn with_mode(mut self, mode: PushMode, aes_key: Option<String>) -> Self {
        self.mode = mode;
        self.aes_key = aes_key;
        self
    }

    fn crypt(&self) -> Result<MessageCrypt, String> {
        let key = self.aes_key.as_deref().unwrap_or("");
        if key.is_empty() {
            return Err(format!(
                "{} mode needs the EncodingAESKey (aes_key) of the server configuration",
                self.mode.label()
            ));
        }
        if self.appid.is_empty() {
            return Err(format!(
                "{} mode needs the AppID (appid): it is the trailer of every encrypted payload",
                self.mode.label()
            ));
        }
        let key = EncodingAesKey::parse(key).map_err(|e| format!("aes_key: {e}"))?;
        Ok(MessageCrypt::with_receive_id(key, &self.appid))
    }
}

// Token and key are secrets: never in logs.
impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("aes_key", &self.aes_key.as_ref().map(|_| "<redacted>"))
            .field("mode", &self.mode)
            .field("appid", &self.appid)
            .field("account_id", &self.account_id)
            .field("timeout_ms", &self.timeout_ms)
            .field("retries", &self.retries)
            .finish()
    }
}

/// A message or event a user sends to the account (§C.3, §C.4). As JSON: `{"type": "text",
/// "content": "你好"}`, `{"type": "subscribe"}`, `{"type": "click", "key": "V1001"}`…
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outgoing {
    Text {
        content: String,
    },
    Image {
        #[serde(default)]
        pic_url: String,
        #[serde(default)]
        media_id: String,
    },
    Voice {
        #[serde(default)]
        media_id: String,
        #[serde(default = "amr")]
        format: String,
        /// Speech recognition text; absent unless the (retired) feature is on.
        #[serde(default)]
        recognition: Option<String>,
    },
    Video {
        #[serde(default)]
        media_id: String,
        #[serde(default)]
        thumb_media_id: String,
    },
    ShortVideo {
        #[serde(default)]
        media_id: String,
        #[serde(default)]
        thumb_media_id: String,
    },
    /// `x` is the latitude (Location_X), `y` the longitude.
    Location {
        x: f64,
        y: f64,
        #[serde(default = "default_scale")]
        scale: u32,
        #[serde(default)]
        label: String,
    },
    Link {
        title: String,
        #[serde(default)]
        description: String,
        url: String,
    },
    /// Follow; with a scene, through a parameter QR code (EventKey `qrscene_<scene>`, Ticket).
    Subscribe {
        #[serde(default)]
        scene: Option<String>,
    },
    Unsubscribe,
    /// A follower scanned a parameter QR code (EventKey = scene, no prefix).
    Scan {
        scene: String,
    },
    /// 上报地理位置 (Event `LOCATION`).
    LocationEvent {
        latitude: f64,
        longitude: f64,
        #[serde(default)]
        precision: f64,
    },
    Click {
        key: String,
    },
    View {
        url: String,
        #[serde(default)]
        menu_id: Option<String>,
    },
    ScancodePush {
        key: String,
        result: String,
    },
    ScancodeWaitmsg {
        key: String,
        result: String,
    },
    PicSysphoto {
        key: String,
        #[serde(default)]
        pic_md5: Vec<String>,
    },
    PicPhotoOrAlbum {
        key: String,
        #[serde(default)]
        pic_md5: Vec<String>,
    },
    PicWeixin {
        key: String,
        #[serde(default)]
        pic_md5: Vec<String>,
    },
    LocationSelect {
        key: String,
        x: f64,
        y: f64,
        #[serde(default = "default_scale")]
        scale: u32,
        #[serde(default)]
        label: String,
        #[serde(default)]
        poiname: String,
    },
    /// 模板消息发送结果 (`TEMPLATESENDJOBFINISH`); `status` e.g. `success`.
    TemplateSendJobFinish {
        msg_id: u64,
        status: String,
    },
}

fn amr() -> String {
    "amr".to_string()
}

fn default_scale() -> u32 {
    15
}

impl Outgoing {
    /// The pushed `MsgType`.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Outgoing::Text { .. } => "text",
            Outgoing::Image { .. } => "image",
            Outgoing::Voice { .. } => "voice",
            Outgoing::Video { .. } => "video",
            Outgoing::ShortVideo { .. } => "shortvideo",
            Outgoing::Location { .. } => "location",
            Outgoing::Link { .. } => "link",
            _ => "event",
        }
    }

    /// The pushed `Event`, for events.
    pub fn event(&self) -> Option<&'static str> {
        Some(match self {
            Outgoing::Subscribe { .. } => "subscribe",
            Outgoing::Unsubscribe => "unsubscribe",
            Outgoing::Scan { .. } => "SCAN",
            Outgoing::LocationEvent { .. } => "LOCATION",
            Outgoing::Click { .. } => "CLICK",
            Outgoing::View { .. } => "VIEW",
            Outgoing::ScancodePush { .. } => "scancode_push",
            Outgoing::ScancodeWaitmsg { .. } => "scancode_waitmsg",
            Outgoing::PicSysphoto { .. } => "pic_sysphoto",
            Outgoing::PicPhotoOrAlbum { .. } => "pic_photo_or_album",
            Outgoing::PicWeixin { .. } => "pic_weixin",
            Outgoing::LocationSelect { .. } => "location_select",
            Outgoing::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            _ => return None,
        })
    }

    /// A normal message (with a MsgId), as opposed to an event.
    pub fn is_user_message(&self) -> bool {
        self.event().is_none()
    }

    /// `text`, or `event/CLICK`: for summaries.
    pub fn label(&self) -> String {
        match self.event() {
            Some(e) => format!("event/{e}"),
            None => self.msg_type().to_string(),
        }
    }

    /// The elements after the common envelope, in WeChat's order.
    fn body_nodes(&self, msg_id: u64) -> Vec<Node> {
        let id = || Node::num("MsgId", msg_id);
        let media = |m: &str| {
            if m.is_empty() {
                placeholder_media_id(msg_id)
            } else {
                m.to_string()
            }
        };
        match self {
            Outgoing::Text { content } => vec![Node::str("Content", content), id()],
            Outgoing::Image { pic_url, media_id } => {
                let media_id = media(media_id);
                let pic_url = if pic_url.is_empty() {
                    format!("http://mmbiz.qpic.cn/wxsim/{media_id}/0")
                } else {
                    pic_url.clone()
                };
                vec![
                    Node::str("PicUrl", pic_url),
                    Node::str("MediaId", media_id),
                    id(),
                ]
            }
            Outgoing::Voice {
                media_id,
                format,
                recognition,
            } => {
                let mut v = vec![
                    Node::str("MediaId", media(media_id)),
                    Node::str("Format", format),
                ];
                if let Some(r) = recognition {
                    v.push(Node::str("Recognition", r));
                }
                v.push(id());
                v
            }
            Outgoing::Video {
                media_id,
                thumb_media_id,
            }
            | Outgoing::ShortVideo {
                media_id,
                thumb_media_id,
            } => vec![
                Node::str("MediaId", media(media_id)),
                Node::str("ThumbMediaId", media(thumb_media_id)),
                id(),
            ],
            Outgoing::Location { x, y, scale, label } => vec![
                Node::num("Location_X", x),
                Node::num("Location_Y", y),
                Node::num("Scale", scale),
                Node::str("Label", label),
                id(),
            ],
            Outgoing::Link {
                title,
                description,
                url,
            } => vec![
                Node::str("Title", title),
                Node::str("Description", description),
                Node::str("Url", url),
                id(),
            ],
            Outgoing::Subscribe { scene: Some(scene) } => vec![
                Node::str("EventKey", format!("qrscene_{scene}")),
                Node::str("Ticket", ticket(msg_id)),
            ],
            Outgoing::Subscribe { scene: None } | Outgoing::Unsubscribe => Vec::new(),
            Outgoing::Scan { scene } => vec![
                Node::str("EventKey", scene),
                Node::str("Ticket", ticket(msg_id)),
            ],
            Outgoing::LocationEvent {
                latitude,
                longitude,
                precision,
            } => vec![
                Node::num("Latitude", latitude),
                Node::num("Longitude", longitude),
                Node::num("Precision", precision),
            ],
            Outgoing::Click { key } => vec![Node::str("EventKey", key)],
            Outgoing::View { url, menu_id } => {
                let mut v = vec![Node::str("EventKey", url)];
                if let Some(m) = menu_id {
                    v.push(Node::str("MenuId", m));
                }
                v
            }
            Outgoing::ScancodePush { key, result } | Outgoing::ScancodeWaitmsg { key, result } => {
                vec![
                    Node::str("EventKey", key),
                    Node::Parent(
                        "ScanCodeInfo",
                        vec![
                            Node::str("ScanType", "qrcode"),
                            Node::str("ScanResult", result),
                        ],
                    ),
                ]
            }
            Outgoing::PicSysphoto { key, pic_md5 }
            | Outgoing::PicPhotoOrAlbum { key, pic_md5 }
            | Outgoing::PicWeixin { key, pic_md5 } => vec![
                Node::str("EventKey", key),
                Node::Parent(
                    "SendPicsInfo",
                    vec![
                        Node::num("Count", pic_md5.len()),
                        Node::Parent(
                            "PicList",
                            pic_md5
                                .iter()
                                .map(|m| Node::Parent("item", vec![Node::str("PicMd5Sum", m)]))
                                .collect(),
                        ),
                    ],
                ),
            ],
            Outgoing::LocationSelect {
                key,
                x,
                y,
                scale,
                label,
                poiname,
            } => vec![
                Node::str("EventKey", key),
                Node::Parent(
                    "SendLocationInfo",
                    vec![
                        Node::num("Location_X", x),
                        Node::num("Location_Y", y),
                        Node::num("Scale", scale),
                        Node::str("Label", label),
                        Node::str("Poiname", poiname),
                    ],
                ),
            ],
            Outgoing::TemplateSendJobFinish { msg_id, status } => {
                vec![Node::num("MsgID", msg_id), Node::str("Status", status)]
            }
        }
    }

    /// The complete plaintext message WeChat pushes.
    fn nodes(
        &self,
        account_id: &str,
        from_openid: &str,
        create_time: u64,
        msg_id: u64,
    ) -> Vec<Node> {
        let mut nodes = vec![
            Node::str("ToUserName", account_id),
            Node::str("FromUserName", from_openid),
            Node::num("CreateTime", create_time),
            Node::str("MsgType", self.msg_type()),
        ];
        if let Some(event) = self.event() {
            nodes.push(Node::str("Event", event));
        }
        nodes.extend(self.body_nodes(msg_id));
        nodes
    }
}

fn placeholder_media_id(seed: u64) -> String {
    format!("wxsim_media_{seed:016x}")
}

fn ticket(seed: u64) -> String {
    format!("gQHs8DwAAAAAAAAAAS5odHRwOi8vd2VpeGluLnFxLmNvbS9x{seed:x}")
}

/// One HTTP delivery of a push.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// 1 for the first delivery, 2 for the first retry…
    pub attempt: u32,
    /// The HTTP status when the server answered.
    pub status: Option<u16>,
    /// `timeout`, or `connection failed: …` when it did not.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub content_type: Option<String>,
    /// The response body (at most 4 KiB, lossy UTF-8).
    pub body: String,
    /// The response body's full length in bytes.
    pub body_len: usize,
}

impl Delivery {
    /// What happened, in a word or two: `HTTP 200` or `timeout`.
    pub fn outcome(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        }
    }
}

/// The request WeChat sent (the same one on every delivery).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushRequest {
    /// The full URL, query included.
    pub url: String,
    /// The query parameters WeChat added.
    pub query: BTreeMap<String, String>,
    pub mode: PushMode,
    /// `text`, `event/subscribe`…
    pub message: String,
    pub from_openid: String,
    pub create_time: u64,
    /// The MsgId, for normal messages.
    pub msg_id: Option<u64>,
    /// The plaintext message XML.
    pub xml: String,
    /// The HTTP body as sent (equal to `xml` in plain mode).
    pub body: String,
}

/// A reply, decoded (and decrypted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecodedReply {
    pub msg_type: String,
    /// Each element's text by name; nested elements are objects, `<item>` lists arrays.
    pub fields: Value,
    /// The plaintext reply XML.
    pub xml: String,
    /// Whether the reply came encrypted.
    pub encrypted: bool,
}

/// Everything about one push: what was sent, each delivery, the reply, and what WeChat would
/// object to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushReport {
    pub request: PushRequest,
    pub deliveries: Vec<Delivery>,
    /// `None` when there was no answer, an empty body, `success`, or an unreadable reply.
    pub reply: Option<DecodedReply>,
    /// Empty: WeChat would accept the answer.
    pub problems: Vec<String>,
    /// Observations that are not errors (e.g. rules WeChat may apply but that are unconfirmed).
    pub notes: Vec<String>,
}

impl PushReport {
    /// Whether WeChat would accept the answer.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first answered delivery, if any.
    pub fn answered(&self) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.status.is_some())
    }
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        writeln!(
            f,
            "push {} from {} → {} ({} mode)",
            r.message,
            r.from_openid,
            strip_query(&r.url),
            r.mode.label()
        )?;
        if let Some(id) = r.msg_id {
            writeln!(f, "  MsgId {id}, CreateTime {}", r.create_time)?;
        }
        for d in &self.deliveries {
            write!(
                f,
                "  delivery {}: {} after {} ms",
                d.attempt,
                d.outcome(),
                d.elapsed_ms
            )?;
            if let Some(status) = d.status {
                write!(f, ", {} bytes", d.body_len)?;
                // A refusal usually says why: show it.
                let said = d.body.trim();
                if status >= 400 && !said.is_empty() {
                    let short: String = said.chars().take(200).collect();
                    write!(f, ": {short}")?;
                }
            }
            writeln!(f)?;
        }
        match &self.reply {
            Some(reply) => {
                let enc = if reply.encrypted { " (encrypted)" } else { "" };
                writeln!(f, "  reply{enc}: {}", reply_summary(reply))?;
            }
            None if self.answered().is_some() => writeln!(f, "  reply: none")?,
            None => {}
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "OK: WeChat would accept this answer.")
        } else {
            writeln!(f, "PROBLEMS ({}):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn reply_summary(reply: &DecodedReply) -> String {
    let f = &reply.fields;
    let quoted = |s: &str| {
        let short: String = s.chars().take(80).collect();
        let more = if short.len() < s.len() { "…" } else { "" };
        format!("{:?}", format!("{short}{more}"))
    };
    match reply.msg_type.as_str() {
        "text" => format!("text {}", quoted(text_of(f, "Content").unwrap_or(""))),
        "news" => {
            let titles: Vec<String> = f
                .get("Articles")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|i| quoted(text_of(i, "Title").unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            format!("news [{}]", titles.join(", "))
        }
        other => other.to_string(),
    }
}

/// The result of the URL verification GET.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The body was `echostr` verbatim, with HTTP 200.
    pub ok: bool,
    /// The full URL, query included.
    pub url: String,
    pub echostr: String,
    pub status: Option<u16>,
    /// `timeout` or `connection failed: …`.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub body: String,
    pub problems: Vec<String>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        };
        writeln!(
            f,
            "verify {} (echostr {}): {outcome} after {} ms",
            strip_query(&self.url),
            self.echostr,
            self.elapsed_ms
        )?;
        if self.ok {
            writeln!(
                f,
                "OK: the server echoed echostr; WeChat would save this URL."
            )
        } else {
            writeln!(f, "FAILED (WeChat: 请求URL超时 / Token验证失败):")?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A nonce like WeChat's: a decimal number of 9–10 digits.
fn nonce() -> String {
    rand::random_range(100_000_000u32..=u32::MAX).to_string()
}

/// A random positive 64-bit MsgId of 19 digits, like WeChat's.
fn msg_id() -> u64 {
    rand::random_range(1_000_000_000_000_000_000u64..=i64::MAX as u64)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn with_query(url: &str, query: &[(&str, String)]) -> String {
    let joined: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", joined.join("&"))
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= BODY_EXCERPT {
        return text.into_owned();
    }
    let mut end = BODY_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/4.0")
        .build()
        .unwrap_or_default()
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_string()
    } else {
        // The innermost cause says most ("Connection refused").
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        format!("connection failed: {cause}")
    }
}

/// The GET WeChat sends when the server URL is saved (§C.1). Passes when the server answers
/// HTTP 200 with `echostr` as the whole body; plaintext in every mode.
pub async fn verify_url(target: &PushTarget) -> VerifyReport {
    let timestamp = unix_now().to_string();
    let nonce = nonce();
    let echostr = rand::random_range(1_000_000_000_000_000_000u64..=i64::MAX as u64).to_string();
    let signature = sign(&[&target.token, &timestamp, &nonce]);
    let url = with_query(
        &target.url,
        &[
            ("signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
            ("echostr", echostr.clone()),
        ],
    );
    let started = Instant::now();
    let result = client()
        .get(&url)
        .timeout(Duration::from_millis(target.timeout_ms))
        .send()
        .await;
    let mut report = VerifyReport {
        ok: false,
        url,
        echostr,
        status: None,
        error: None,
        elapsed_ms: 0,
        body: String::new(),
        problems: Vec::new(),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            let error = transport_error(&e);
            report.problems.push(format!("no answer: {error}"));
            report.error = Some(error);
            return report;
        }
    };
    let status = resp.status().as_u16();
    report.status = Some(status);
    let body = resp.bytes().await;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let error = transport_error(&e);
            report.problems.push(format!("body not received: {error}"));
            report.error = Some(error);
            return report;
        }
    };
    report.body = excerpt(&body);
    if status != 200 {
        report.problems.push(format!(
            "HTTP {status}: WeChat needs HTTP 200 with echostr as the body"
        ));
    }
    let text = String::from_utf8_lossy(&body);
    if text != report.echostr {
        if text.trim().trim_matches('"') == report.echostr {
            report.problems.push(format!(
                "the body must be echostr verbatim ({}), without quotes, whitespace or a newline; got {:?}",
                report.echostr, text
            ));
        } else if status == 200 {
            report.problems.push(format!(
                "the body is not echostr ({}): got {:?} — wrong Token, or the server does not check the signature the way WeChat signs",
                report.echostr,
                excerpt(text.as_bytes())
            ));
        }
    }
    report.ok = report.problems.is_empty();
    report
}

/// Pushes `msg` from `from_openid` to the server, as WeChat does, and judges the answer.
pub async fn push(target: &PushTarget, from_openid: &str, msg: &Outgoing) -> PushReport {
    let create_time = unix_now();
    let id = msg_id();
    let plaintext = xml::document(&msg.nodes(&target.account_id, from_openid, create_time, id));
    let timestamp = create_time.to_string();
    let nonce = nonce();
    let mut query: Vec<(&str, String)> = vec![
        ("signature", sign(&[&target.token, &timestamp, &nonce])),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", from_openid.to_string()),
    ];
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let crypt = if target.mode.encrypted() {
        match target.crypt() {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("cannot push in {} mode: {e}", target.mode.label()));
                None
            }
        }
    } else {
        None
    };
    let body = match (&crypt, target.mode) {
        (Some(crypt), mode) => {
            let encrypt = crypt.encrypt(&plaintext);
            query.push(("encrypt_type", "aes".to_string()));
            query.push((
                "msg_signature",
                sign(&[&target.token, &timestamp, &nonce, &encrypt]),
            ));
            if mode == PushMode::Safe {
                xml::document(&[
                    Node::str("ToUserName", &target.account_id),
                    Node::str("Encrypt", encrypt),
                ])
            } else {
                let inner = plaintext.strip_suffix("</xml>").unwrap_or(&plaintext);
                format!("{inner}<Encrypt>{}</Encrypt>\n</xml>", xml::cdata(&encrypt))
            }
        }
        (None, _) => plaintext.clone(),
    };
    let url = with_query(&target.url, &query);
    let request = PushRequest {
        url: url.clone(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        mode: target.mode,
        message: msg.label(),
        from_openid: from_openid.to_string(),
        create_time,
        msg_id: msg.is_user_message().then_some(id),
        xml: plaintext,
        body: body.clone(),
    };
    let mut report = PushReport {
        request,
        deliveries: Vec::new(),
        reply: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    if !problems.is_empty() {
        report.problems = problems;
        return report;
    }

    let http = client();
    let mut answer: Option<(u16, Vec<u8>)> = None;
    for attempt in 1..=target.retries.saturating_add(1) {
        let started = Instant::now();
        let result = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .timeout(Duration::from_millis(target.timeout_ms))
            .body(body.clone())
            .send()
            .await;
        let mut delivery = Delivery {
            attempt,
            status: None,
            error: None,
            elapsed_ms: 0,
            content_type: None,
            body: String::new(),
            body_len: 0,
        };
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                delivery.content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // The timeout covers the body too.
                match resp.bytes().await {
                    Ok(bytes) => {
                        delivery.status = Some(status);
                        delivery.body = excerpt(&bytes);
                        delivery.body_len = bytes.len();
                        answer = Some((status, bytes.to_vec()));
                    }
                    Err(e) => delivery.error = Some(transport_error(&e)),
                }
            }
            Err(e) => delivery.error = Some(transport_error(&e)),
        }
        delivery.elapsed_ms = started.elapsed().as_millis() as u64;
        report.deliveries.push(delivery);
        if answer.is_some() {
            break;
        }
    }

    let Some((status, bytes)) = answer else {
        let n = report.deliveries.len();
        report.problems.push(format!(
            "no answer within {} ms in {n} deliver{} — the user sees \"{NO_SERVICE}\"",
            target.timeout_ms,
            if n == 1 { "y" } else { "ies" }
        ));
        return report;
    };
    if report.deliveries.len() > 1 {
        notes.push(format!(
            "delivered {} times with the same MsgId/CreateTime: the server must deduplicate (MsgId, or FromUserName+CreateTime for events)",
            report.deliveries.len()
        ));
    }
    report.reply = judge(
        target,
        from_openid,
        msg,
        status,
        &bytes,
        &mut report.problems,
        &mut notes,
    );
    report.notes = notes;
    report
}

/// WeChat's rules for the answer (§C.5–§C.7). Returns the decoded reply, if one could be read.
fn judge(
    target: &PushTarget,
    from_openid: &str,
    msg: &Outgoing,
    status: u16,
    bytes: &[u8],
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Option<DecodedReply> {
    if status != 200 {
        problems.push(format!(
            "HTTP {status}: WeChat needs HTTP 200 — the user sees \"{NO_SERVICE}\""
        ));
        return None;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push("the body is not UTF-8".to_string());
        return None;
    };
    let trimmed = text.trim();
    if text.is_empty() || trimmed == "success" {
        if trimmed != text {
            notes.push(
                "`success` with surrounding whitespace: send exactly `success` or an empty body"
                    .to_string(),
            );
        }
        return None;
    }
    if trimmed.is_empty() {
        problems.push(
            "the body is only whitespace: send an empty body (0 bytes) or `success` for no reply"
                .to_string(),
        );
        return None;
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        problems.push(format!(
            "the body is JSON, not XML: passive replies must be XML (§C.6) — the user sees \"{NO_SERVICE}\""
        ));
        return None;
    }
    let (root, outer) = match xml::to_json(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!(
                "the body is neither `success`, empty nor XML ({e}) — the user sees \"{NO_SERVICE}\""
            ));
            return None;
        }
    };
    if root != "xml" {
        problems.push(format!("the reply's root element is <{root}>, not <xml>"));
    }
    let encrypted = outer.get("Encrypt").is_some();
    let (plain_xml, fields) = if encrypted {
        if !target.mode.encrypted() {
            problems.push(
                "an encrypted reply to a plaintext push: reply in the mode of the request (no encrypt_type in the query means plaintext)"
                    .to_string(),
            );
            return None;
        }
        let (xml, fields) = open_encrypted(target, &outer, problems)?;
        (xml, fields)
    } else {
        if target.mode == PushMode::Safe {
            problems.push(
                "a plaintext reply to an encrypted push in safe mode: the reply must be encrypted (<Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>)"
                    .to_string(),
            );
        }
        (text.to_string(), outer)
    };
    let msg_type = text_of(&fields, "MsgType").unwrap_or("").to_string();
    check_reply(target, from_openid, msg, &fields, problems, notes);
    Some(DecodedReply {
        msg_type,
        fields,
        xml: plain_xml,
        encrypted,
    })
}

/// Checks and decrypts an encrypted reply; returns its plaintext XML and fields.
fn open_encrypted(
    target: &PushTarget,
    outer: &Value,
    problems: &mut Vec<String>,
) -> Option<(String, Value)> {
    let mut get = |name: &str| match text_of(outer, name) {
        Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            problems.push(format!("the encrypted reply has no <{name}>"));
            None
        }
    };
    let encrypt = get("Encrypt");
    let signature = get("MsgSignature");
    let timestamp = get("TimeStamp");
    let nonce = get("Nonce");
    let (Some(encrypt), Some(signature), Some(timestamp), Some(nonce)) =
        (encrypt, signature, timestamp, nonce)
    else {
        return None;
    };
    match timestamp.parse::<u64>() {
        Ok(t) if t > MILLIS_THRESHOLD => problems.push(format!(
            "TimeStamp {t} is in milliseconds: WeChat uses seconds (node-webot/wechat#243)"
        )),
        Ok(_) => {}
        Err(_) => problems.push(format!("TimeStamp {timestamp:?} is not a number")),
    }
    let expected = sign(&[&target.token, &timestamp, &nonce, &encrypt]);
    if !signature.eq_ignore_ascii_case(&expected) {
        problems.push(format!(
            "MsgSignature {signature} is wrong: sha1 of the sorted Token, TimeStamp, Nonce and Encrypt is {expected}"
        ));
    }
    let crypt = target.crypt().ok()?;
    let plain = match crypt.decrypt(&encrypt) {
        Ok(p) => p,
        Err(CryptError::AppIdMismatch) => {
            problems.push(format!(
                "the encrypted reply's AppID trailer is not {:?}: encrypt with the account's AppID",
                target.appid
            ));
            return None;
        }
        Err(e) => {
            problems.push(format!(
                "the Encrypt of the reply does not decrypt with the EncodingAESKey: {e} (sample-code error {})",
                e.code()
            ));
            return None;
        }
    };
    match xml::to_json(&plain) {
        // Decoded even when the signature was wrong, so the report can show it.
        Ok((_, fields)) => Some((plain, fields)),
        Err(e) => {
            problems.push(format!("the decrypted reply is not XML: {e}"));
            None
        }
    }
}

/// The passive-reply rules of §C.6.
fn check_reply(
    target: &PushTarget,
    from_openid: &str,
    msg: &Outgoing,
    f: &Value,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    match text_of(f, "ToUserName") {
        Some(v) if v == from_openid => {}
        Some(v) => problems.push(format!(
            "ToUserName is {v:?}: it must be the sender's openid {from_openid:?} (the push's FromUserName)"
        )),
        None => problems.push("the reply has no <ToUserName>".to_string()),
    }
    match text_of(f, "FromUserName") {
        Some(v) if v == target.account_id => {}
        Some(v) => problems.push(format!(
            "FromUserName is {v:?}: it must be the account's original id {:?} (the push's ToUserName)",
            target.account_id
        )),
        None => problems.push("the reply has no <FromUserName>".to_string()),
    }
    match text_of(f, "CreateTime").map(str::trim) {
        None => problems.push("the reply has no <CreateTime>".to_string()),
        Some(v) => match v.parse::<u64>() {
            Ok(t) if t > MILLIS_THRESHOLD => problems.push(format!(
                "CreateTime {t} is in milliseconds: WeChat uses seconds (node-webot's bug)"
            )),
            Ok(_) => {}
            Err(_) => problems.push(format!("CreateTime {v:?} is not a number of seconds")),
        },
    }
    let msg_type = text_of(f, "MsgType").unwrap_or("");
    let need = |path: &[&str], problems: &mut Vec<String>| {
        let mut v = f;
        for p in path {
            match v.get(*p) {
                Some(next) => v = next,
                None => {
                    problems.push(format!("a {msg_type} reply needs <{}>", path.join("><")));
                    return;
                }
            }
        }
        if v.as_str().is_some_and(|s| s.trim().is_empty()) {
            problems.push(format!(
                "<{}> of the {msg_type} reply is empty",
                path.join("><")
            ));
        }
    };
    match msg_type {
        "text" => {
            need(&["Content"], problems);
            if let Some(c) = text_of(f, "Content")
                && c.len() > 2048
            {
                notes.push(format!(
                    "Content is {} bytes; the old documentation limits text replies to 2048 bytes",
                    c.len()
                ));
            }
        }
        "image" => need(&["Image", "MediaId"], problems),
        "voice" => need(&["Voice", "MediaId"], problems),
        "video" => need(&["Video", "MediaId"], problems),
        "music" => need(&["Music", "ThumbMediaId"], problems),
        "news" => check_news(msg, f, problems, notes),
        "transfer_customer_service" => {}
        "" => problems.push("the reply has no <MsgType>".to_string()),
        other => problems.push(format!(
            "MsgType {other:?} is not a passive reply type (text, image, voice, video, music, news, transfer_customer_service)"
        )),
    }
}

fn check_news(msg: &Outgoing, f: &Value, problems: &mut Vec<String>, notes: &mut Vec<String>) {
    let items = match f.get("Articles") {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(_)) => {
            problems.push(
                "<Articles> must hold <item> elements (one per article), nothing else".to_string(),
            );
            0
        }
        _ => {
            problems.push("a news reply needs <Articles> with <item>s".to_string());
            0
        }
    };
    match text_of(f, "ArticleCount").map(|c| c.trim().parse::<usize>()) {
        None => problems.push("a news reply needs <ArticleCount>".to_string()),
        Some(Err(_)) => problems.push("ArticleCount is not a number".to_string()),
        Some(Ok(count)) => {
            if count != items {
                problems.push(format!(
                    "ArticleCount is {count} but <Articles> holds {items} item(s)"
                ));
            }
            if !(1..=8).contains(&count) {
                problems.push(format!(
                    "ArticleCount {count}: a news reply has 1 to 8 articles"
                ));
            }
        }
    }
    if msg.is_user_message() && items > 1 {
        notes.push(format!(
            "{items} articles in reply to a user message: since 2018-10-12 WeChat shows only one article for such replies"
        ));
    }
}
