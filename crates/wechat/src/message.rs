//! Pushed XML → typed messages (docs/wechat-protocol.md §C.2–C.4).
//!
//! Two layers: [`parse_xml_fields`] turns any `<xml>` body into a [`Fields`] tree, and [`parse`]
//! reads the envelope and the typed [`Message`] from it. The tree is kept next to the typed
//! message, so an element WeChat adds tomorrow is still forwarded (e.g. to a webhook via
//! [`Fields::to_json`]) and an unknown `MsgType`/`Event` is [`Message::Unknown`], never an error.
//!
//! The parser is deliberately tolerant where SDKs broke and strict where they were attacked
//! (field-lessons rows 9 and 11):
//! - XML-1.0-forbidden control characters typed by users (U+0002 and friends, raw or as `&#x2;`)
//!   are dropped instead of failing the whole message (silenceper#750, easywechat#1419);
//! - any DOCTYPE is refused and only the five predefined entities and character references are
//!   understood, so neither XXE nor entity expansion ("billion laughs") is possible;
//! - depth and element count are bounded, so hostile nesting is an error, not a stack overflow.

use std::borrow::Cow;
use std::str::FromStr;

use crate::types::OpenId;

mod xml;

/// Deeper nesting than any WeChat push uses (the deepest, `SendPicsInfo/PicList/item/PicMd5Sum`
/// under `<xml>`, is 5).
pub const MAX_DEPTH: usize = 8;
/// Far more elements than any WeChat push carries.
pub const MAX_ELEMENTS: usize = 1000;
/// Element names longer than any WeChat uses (the longest is about 30 bytes).
pub const MAX_NAME_LEN: usize = 64;
/// Distinct child names one element may have (a push has a few dozen at most): looking a
/// sibling up is then cheap however the body is built.
pub const MAX_CHILDREN: usize = 100;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("a DOCTYPE/DTD is not allowed in a WeChat push")]
    Doctype,
    #[error(
        "unknown entity &{0}; (only the five XML entities and character references are accepted)"
    )]
    UnknownEntity(String),
    #[error("elements are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("an element name longer than {MAX_NAME_LEN} bytes")]
    NameTooLong,
    #[error("an element with more than {MAX_CHILDREN} differently named children")]
    TooManyChildren,
    #[error("the root element must be <xml>, got <{0}>")]
    WrongRoot(String),
    #[error("no root element")]
    NoRoot,
    #[error("content after the root element")]
    TrailingContent,
    #[error("missing required element <{0}>")]
    MissingField(&'static str),
    #[error("<{field}> is not a number: {value:?}")]
    InvalidNumber { field: String, value: String },
}

/// One element's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A leaf element: its text, CDATA and references concatenated (not trimmed).
    Text(String),
    /// An element with child elements.
    Nested(Fields),
    /// Repeated children: every `<item>`, and any other name that occurs more than once. A
    /// text-only entry is stored as `{"#text": …}`.
    List(Vec<Fields>),
}

impl Field {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Field::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_nested(&self) -> Option<&Fields> {
        match self {
            Field::Nested(f) => Some(f),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Fields]> {
        match self {
            Field::List(l) => Some(l),
            _ => None,
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Field::Text(s) => serde_json::Value::String(s.clone()),
            Field::Nested(f) => f.to_json(),
            Field::List(l) => serde_json::Value::Array(l.iter().map(Fields::to_json).collect()),
        }
    }
}

/// The children of one element, in document order, by element name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fields(Vec<(Name, Field)>);

/// An element's name. The names WeChat uses are not copied out of each push (a text message
/// is six of them, every time), the rest are.
pub(crate) type Name = Cow<'static, str>;

/// `raw` as a [`Name`]: WeChat's known element names borrowed, any other copied.
pub(crate) fn element_name(raw: &str) -> Name {
    // A `match` compiles to a search by length, then by bytes: cheaper than the copy.
    let known = match raw {
        "xml" => "xml",
        "item" => "item",
        "Content" => "Content",
        "Count" => "Count",
        "CreateTime" => "CreateTime",
        "Description" => "Description",
        "Encrypt" => "Encrypt",
        "ErrorCount" => "ErrorCount",
        "Event" => "Event",
        "EventKey" => "EventKey",
        "FilterCount" => "FilterCount",
        "Format" => "Format",
        "FromUserName" => "FromUserName",
        "Idx" => "Idx",
        "Label" => "Label",
        "Latitude" => "Latitude",
        "Location_X" => "Location_X",
        "Location_Y" => "Location_Y",
        "Longitude" => "Longitude",
        "MediaId" => "MediaId",
        "MenuId" => "MenuId",
        "MsgDataId" => "MsgDataId",
        "MsgID" => "MsgID",
        "MsgId" => "MsgId",
        "MsgType" => "MsgType",
        "PicList" => "PicList",
        "PicUrl" => "PicUrl",
        "PicMd5Sum" => "PicMd5Sum",
        "Poiname" => "Poiname",
        "Precision" => "Precision",
        "Recognition" => "Recognition",
        "Scale" => "Scale",
        "ScanCodeInfo" => "ScanCodeInfo",
        "ScanResult" => "ScanResult",
        "ScanType" => "ScanType",
        "SendLocationInfo" => "SendLocationInfo",
        "SendPicsInfo" => "SendPicsInfo",
        "SentCount" => "SentCount",
        "Status" => "Status",
        "ThumbMediaId" => "ThumbMediaId",
        "Ticket" => "Ticket",
        "Title" => "Title",
        "ToUserName" => "ToUserName",
        "TotalCount" => "TotalCount",
        "Url" => "Url",
        _ => return Cow::Owned(raw.to_owned()),
    };
    Cow::Borrowed(known)
}

impl Fields {
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }
    /// The text of a leaf child, if there is one.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Field::as_text)
    }
    pub fn nested(&self, name: &str) -> Option<&Fields> {
        self.get(name).and_then(Field::as_nested)
    }
    pub fn list(&self, name: &str) -> Option<&[Fields]> {
        self.get(name).and_then(Field::as_list)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Field)> {
        self.0.iter().map(|(n, f)| (&**n, f))
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A JSON object for forwarding (webhooks): leaves are strings (numbers stay text, as WeChat
    /// sent them), nested elements objects, lists arrays.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(n, f)| (n.to_string(), f.to_json()))
                .collect(),
        )
    }

    fn insert(&mut self, name: Name, field: Field) {
        let as_entry = |field: Field| match field {
            Field::Nested(f) => f,
            Field::Text(t) if t.trim().is_empty() => Fields::default(),
            Field::Text(t) => Fields(vec![(Cow::Borrowed("#text"), Field::Text(t))]),
            // A list is only ever built here, never parsed directly.
            Field::List(l) => Fields(vec![(Cow::Borrowed("item"), Field::List(l))]),
        };
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, Field::List(list))) => list.push(as_entry(field)),
            Some((_, existing)) => {
                let first = std::mem::replace(existing, Field::List(Vec::new()));
                *existing = Field::List(vec![as_entry(first), as_entry(field)]);
            }
            None if name == "item" => self.0.push((name, Field::List(vec![as_entry(field)]))),
            None => self.0.push((name, field)),
        }
    }
}

/// XML 1.0 `Char`: what may appear in a document at all.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Whether every character of `s` is an XML 1.0 `Char` ([`is_xml_char`]), checked on bytes:
/// in UTF-8 the only characters it excludes are the C0 controls other than tab, LF and CR
/// (single bytes below 0x20) and U+FFFE / U+FFFF (`EF BF BE`, `EF BF BF`); surrogates cannot
/// occur in a `str`. A push is checked in one pass over its bytes, not decoded char by char.
pub(crate) fn all_xml_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    // No early exit, so the compiler checks many bytes per instruction.
    let controls = bytes.iter().fold(false, |found, &b| {
        found | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r'))
    });
    !controls
        && !memchr::memchr_iter(0xEF, bytes).any(|i| {
            bytes.get(i + 1) == Some(&0xBF) && matches!(bytes.get(i + 2), Some(0xBE | 0xBF))
        })
}

/// Drops the characters XML 1.0 forbids (and a leading BOM) before parsing.
fn sanitize(body: &str) -> Cow<'_, str> {
    let body = body.strip_prefix('\u{FEFF}').unwrap_or(body);
    if all_xml_chars(body) {
        Cow::Borrowed(body)
    } else {
        Cow::Owned(body.chars().filter(|&c| is_xml_char(c)).collect())
    }
}

/// Parses a `<xml>` body into its element tree. Safe on any input: see the module doc.
pub fn parse_xml_fields(body: &str) -> Result<Fields, MessageError> {
    xml::read(&sanitize(body))
}

/// The `Encrypt` element of a safe- or compatible-mode body.
pub fn encrypted_payload(fields: &Fields) -> Option<&str> {
    fields.text("Encrypt")
}

/// The ciphertext of an encrypted push, found without parsing the body as XML: the one
/// `<Encrypt>` element, its text or CDATA, which must be base64. The caller checks
/// `msg_signature` over it before anything else reads the body (an unsigned body is not
/// worth a parser's time). `None` when there is not exactly one such element.
pub fn encrypt_element(body: &str) -> Option<&str> {
    const OPEN: &[u8] = b"<Encrypt>";
    const CLOSE: &[u8] = b"</Encrypt>";
    let bytes = body.as_bytes();
    let start = xml::find(bytes, OPEN)? + OPEN.len();
    let len = xml::find(&bytes[start..], CLOSE)?;
    if xml::find(&bytes[start + len + CLOSE.len()..], OPEN).is_some() {
        return None;
    }
    // Both tags are ASCII: these are character boundaries.
    let inner = body[start..start + len].trim();
    let inner = match inner.strip_prefix("<![CDATA[") {
        Some(rest) => rest.strip_suffix("]]>")?,
        None => inner,
    };
    // No early exit, so the compiler checks many bytes per instruction.
    let base64 = inner.bytes().fold(true, |ok, b| {
        ok & (b.is_ascii_alphanumeric() | (b == b'+') | (b == b'/') | (b == b'='))
    });
    (!inner.is_empty() && base64).then_some(inner)
}

/// The common envelope of every push (§C.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The account's original id (`gh_…`): the reply's `FromUserName`.
    pub to_user_name: String,
    /// The sender: the reply's `ToUserName`.
    pub from_user_name: OpenId,
    /// Unix seconds.
    pub create_time: i64,
    pub msg_type: String,
}

/// A push, typed (§C.3 user messages, §C.4 events). Strings the docs list as always present
/// default to `""` when missing; conditional ones and all numbers are `Option`.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Text {
        content: String,
        msg_id: Option<u64>,
        /// Only when the message comes from an article.
        msg_data_id: Option<String>,
        /// Article index (from 1), only with `msg_data_id`.
        idx: Option<u32>,
    },
    Image {
        pic_url: String,
        media_id: String,
        msg_id: Option<u64>,
    },
    Voice {
        media_id: String,
        format: String,
        /// Speech recognition result; being retired and observed empty since 2023.
        recognition: Option<String>,
        msg_id: Option<u64>,
    },
    Video {
        media_id: String,
        thumb_media_id: String,
        msg_id: Option<u64>,
    },
    ShortVideo {
        media_id: String,
        thumb_media_id: String,
        msg_id: Option<u64>,
    },
    Location {
        /// Latitude (`Location_X`).
        x: Option<f64>,
        /// Longitude (`Location_Y`).
        y: Option<f64>,
        scale: Option<f64>,
        label: String,
        msg_id: Option<u64>,
    },
    Link {
        title: String,
        description: String,
        url: String,
        msg_id: Option<u64>,
    },
    /// A new follower. Via a parametric QR code, `EventKey` is `qrscene_<scene>`: `scene` is
    /// the part after the prefix.
    Subscribe {
        event_key: String,
        scene: Option<String>,
        ticket: Option<String>,
    },
    Unsubscribe,
    /// An existing follower scanned a parametric QR code; `event_key` is the scene, unprefixed.
    Scan {
        event_key: String,
        ticket: Option<String>,
    },
    /// The periodic location report (`Event` = `LOCATION`).
    LocationEvent {
        latitude: Option<f64>,
        longitude: Option<f64>,
        precision: Option<f64>,
    },
    Click {
        event_key: String,
    },
    View {
        /// The target URL.
        event_key: String,
        menu_id: Option<String>,
    },
    ScancodePush {
        event_key: String,
        scan_type: String,
        scan_result: String,
    },
    ScancodeWaitmsg {
        event_key: String,
        scan_type: String,
        scan_result: String,
    },
    PicSysphoto {
        event_key: String,
        count: Option<u32>,
        pic_md5s: Vec<String>,
    },
    PicPhotoOrAlbum {
        event_key: String,
        count: Option<u32>,
        pic_md5s: Vec<String>,
    },
    PicWeixin {
        event_key: String,
        count: Option<u32>,
        pic_md5s: Vec<String>,
    },
    LocationSelect {
        event_key: String,
        x: Option<f64>,
        y: Option<f64>,
        scale: Option<f64>,
        label: String,
        poiname: String,
    },
    ViewMiniprogram {
        /// The mini-program page path.
        event_key: String,
        menu_id: Option<String>,
    },
    TemplateSendJobFinish {
        msg_id: Option<u64>,
        /// `success`, `failed:user block`, `failed: system failed`, …
        status: String,
    },
    MassSendJobFinish {
        msg_id: Option<u64>,
        status: String,
        total_count: Option<u64>,
        filter_count: Option<u64>,
        sent_count: Option<u64>,
        error_count: Option<u64>,
    },
    /// Any other `MsgType` or `Event`: not an error, the raw [`Fields`] carry everything.
    Unknown {
        event: Option<String>,
    },
}

/// A parsed push: the envelope, the typed message and every element as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub envelope: Envelope,
    pub message: Message,
    pub fields: Fields,
}

impl Incoming {
    /// The `Event` element (events only), as sent.
    pub fn event(&self) -> Option<&str> {
        self.fields.text("Event").map(str::trim)
    }

    /// Whether a user sent this (any `MsgType` but `event`): news replies to these may carry
    /// only one article (§C.6, see [`crate::Reply::validate_for`]).
    pub fn is_user_message(&self) -> bool {
        !self.envelope.msg_type.trim().eq_ignore_ascii_case("event")
    }

    /// The key under which retried deliveries of the same push collapse (§C.5):
    /// `msg:<FromUserName>:<MsgId>` (or `MsgID`, used by the job-finish events), else
    /// `evt:<FromUserName>:<CreateTime>:<Event>:<EventKey>`. The sender is part of the key
    /// because MsgId alone has been seen to collide between users (docs/field-lessons.md
    /// row 10): two users' messages must never share a reply.
    pub fn dedup_key(&self) -> String {
        self.dedup_key_under("")
    }

    /// [`Self::dedup_key`] after `prefix`, written in one allocation.
    pub fn dedup_key_under(&self, prefix: &str) -> String {
        let msg_id = ["MsgId", "MsgID"]
            .iter()
            .filter_map(|n| self.fields.text(n))
            .map(str::trim)
            .find(|id| !id.is_empty());
        let from = self.envelope.from_user_name.as_str();
        let mut key = String::with_capacity(prefix.len() + from.len() + 48);
        key.push_str(prefix);
        match msg_id {
            Some(id) => {
                for part in ["msg:", from, ":", id] {
                    key.push_str(part);
                }
            }
            None => {
                let mut time = itoa::Buffer::new();
                let time = time.format(self.envelope.create_time);
                let event = self.event().unwrap_or("");
                let event_key = self.fields.text("EventKey").unwrap_or("");
                for part in ["evt:", from, ":", time, ":", event, ":", event_key] {
                    key.push_str(part);
                }
            }
        }
        key
    }
}

/// Parses a plaintext push (for safe mode, decrypt the [`encrypted_payload`] first and parse
/// the result).
pub fn parse(body: &str) -> Result<Incoming, MessageError> {
    let fields = parse_xml_fields(body)?;
    let required = |name: &'static str| {
        fields
            .text(name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or(MessageError::MissingField(name))
    };
    let to_user_name = required("ToUserName")?.to_owned();
    let from_user_name = OpenId::new(required("FromUserName")?);
    let create_time = required("CreateTime")?;
    let envelope = Envelope {
        to_user_name,
        from_user_name,
        create_time: create_time
            .parse()
            .map_err(|_| invalid_number("CreateTime", create_time))?,
        msg_type: required("MsgType")?.to_owned(),
    };
    let message = typed_message(&envelope.msg_type, &fields)?;
    Ok(Incoming {
        envelope,
        message,
        fields,
    })
}

fn invalid_number(field: &str, value: &str) -> MessageError {
    MessageError::InvalidNumber {
        field: field.to_owned(),
        value: value.chars().take(64).collect(),
    }
}

/// Reads the typed fields of one element level; `path` names it in errors.
struct View<'a> {
    fields: Option<&'a Fields>,
    path: &'static str,
}

impl<'a> View<'a> {
    fn of(fields: &'a Fields) -> Self {
        Self {
            fields: Some(fields),
            path: "",
        }
    }
    fn child(&self, name: &'static str) -> View<'a> {
        View {
            fields: self.fields.and_then(|f| f.nested(name)),
            path: name,
        }
    }
    fn opt(&self, name: &str) -> Option<String> {
        self.fields.and_then(|f| f.text(name)).map(str::to_owned)
    }
    fn string(&self, name: &str) -> String {
        self.opt(name).unwrap_or_default()
    }
    fn num<T: FromStr>(&self, name: &str) -> Result<Option<T>, MessageError> {
        let Some(raw) = self.fields.and_then(|f| f.text(name)).map(str::trim) else {
            return Ok(None);
        };
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse().map(Some).map_err(|_| {
            let field = if self.path.is_empty() {
                name.to_owned()
            } else {
                format!("{}.{name}", self.path)
            };
            invalid_number(&field, raw)
        })
    }
}

/// Long enough for every `MsgType` and `Event` WeChat sends.
const LOWERED: usize = 32;

/// `name` in ASCII lower case, in `buf` (no allocation per push); a longer name is none WeChat
/// sends, and reads as empty (unknown).
fn lowered<'b>(name: &str, buf: &'b mut [u8; LOWERED]) -> &'b str {
    let Some(lower) = buf.get_mut(..name.len()) else {
        return "";
    };
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    std::str::from_utf8(lower).unwrap_or_default()
}

fn typed_message(msg_type: &str, fields: &Fields) -> Result<Message, MessageError> {
    let v = View::of(fields);
    let msg_id = || v.num::<u64>("MsgId");
    let mut lower = [0u8; LOWERED];
    Ok(match lowered(msg_type, &mut lower) {
        "text" => Message::Text {
            content: v.string("Content"),
            msg_id: msg_id()?,
            msg_data_id: v.opt("MsgDataId").filter(|s| !s.trim().is_empty()),
            idx: v.num("Idx")?,
        },
        "image" => Message::Image {
            pic_url: v.string("PicUrl"),
            media_id: v.string("MediaId"),
            msg_id: msg_id()?,
        },
        "voice" => Message::Voice {
            media_id: v.string("MediaId"),
            format: v.string("Format"),
            recognition: v.opt("Recognition"),
            msg_id: msg_id()?,
        },
        "video" => Message::Video {
            media_id: v.string("MediaId"),
            thumb_media_id: v.string("ThumbMediaId"),
            msg_id: msg_id()?,
        },
        "shortvideo" => Message::ShortVideo {
            media_id: v.string("MediaId"),
            thumb_media_id: v.string("ThumbMediaId"),
            msg_id: msg_id()?,
        },
        "location" => Message::Location {
            x: v.num("Location_X")?,
            y: v.num("Location_Y")?,
            scale: v.num("Scale")?,
            label: v.string("Label"),
            msg_id: msg_id()?,
        },
        "link" => Message::Link {
            title: v.string("Title"),
            description: v.string("Description"),
            url: v.string("Url"),
            msg_id: msg_id()?,
        },
        "event" => typed_event(&v)?,
        _ => Message::Unknown { event: None },
    })
}

fn typed_event(v: &View<'_>) -> Result<Message, MessageError> {
    let event = v.opt("Event").unwrap_or_default();
    let event_key = v.string("EventKey");
    let scancode = v.child("ScanCodeInfo");
    let pics = v.child("SendPicsInfo");
    let pic_md5s = || -> Vec<String> {
        pics.fields
            .and_then(|f| f.nested("PicList"))
            .and_then(|l| l.list("item"))
            .unwrap_or_default()
            .iter()
            .filter_map(|item| item.text("PicMd5Sum").map(str::to_owned))
            .collect()
    };
    let loc = v.child("SendLocationInfo");
    let mut lower = [0u8; LOWERED];
    Ok(match lowered(event.trim(), &mut lower) {
        "subscribe" => Message::Subscribe {
            scene: event_key
                .strip_prefix("qrscene_")
                .map(str::to_owned)
                .filter(|s| !s.is_empty()),
            event_key,
            ticket: v.opt("Ticket").filter(|s| !s.is_empty()),
        },
        "unsubscribe" => Message::Unsubscribe,
        "scan" => Message::Scan {
            event_key,
            ticket: v.opt("Ticket").filter(|s| !s.is_empty()),
        },
        "location" => Message::LocationEvent {
            latitude: v.num("Latitude")?,
            longitude: v.num("Longitude")?,
            precision: v.num("Precision")?,
        },
        "click" => Message::Click { event_key },
        "view" => Message::View {
            event_key,
            menu_id: v.opt("MenuId").filter(|s| !s.is_empty()),
        },
        "scancode_push" => Message::ScancodePush {
            event_key,
            scan_type: scancode.string("ScanType"),
            scan_result: scancode.string("ScanResult"),
        },
        "scancode_waitmsg" => Message::ScancodeWaitmsg {
            event_key,
            scan_type: scancode.string("ScanType"),
            scan_result: scancode.string("ScanResult"),
        },
        "pic_sysphoto" => Message::PicSysphoto {
            event_key,
            count: pics.num("Count")?,
            pic_md5s: pic_md5s(),
        },
        "pic_photo_or_album" => Message::PicPhotoOrAlbum {
            event_key,
            count: pics.num("Count")?,
            pic_md5s: pic_md5s(),
        },
        "pic_weixin" => Message::PicWeixin {
            event_key,
            count: pics.num("Count")?,
            pic_md5s: pic_md5s(),
        },
        "location_select" => Message::LocationSelect {
            event_key,
            x: loc.num("Location_X")?,
            y: loc.num("Location_Y")?,
            scale: loc.num("Scale")?,
            label: loc.string("Label"),
            poiname: loc.string("Poiname"),
        },
        "view_miniprogram" => Message::ViewMiniprogram {
            event_key,
            menu_id: v.opt("MenuId").filter(|s| !s.is_empty()),
        },
        "templatesendjobfinish" => Message::TemplateSendJobFinish {
            msg_id: v.num("MsgID")?,
            status: v.string("Status"),
        },
        "masssendjobfinish" => Message::MassSendJobFinish {
            msg_id: v.num("MsgID")?,
            status: v.string("Status"),
            total_count: v.num("TotalCount")?,
            filter_count: v.num("FilterCount")?,
            sent_count: v.num("SentCount")?,
            error_count: v.num("ErrorCount")?,
        },
        _ => Message::Unknown {
            event: Some(event).filter(|e| !e.is_empty()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The byte-level check agrees with the character-level definition on any text,
        /// including the non-characters and controls it looks for.
        #[test]
        fn all_xml_chars_is_is_xml_char_on_every_character(
            s in "(\\PC|[\\x00-\\x1f]|\\u{FFFE}|\\u{FFFF}|\\u{FFFD}|\\u{EFBF}|\\u{10FFFF}|\\u{7F}){0,40}"
        ) {
            prop_assert_eq!(all_xml_chars(&s), s.chars().all(is_xml_char));
        }

        #[test]
        fn all_xml_chars_agrees_on_any_string(s in any::<String>()) {
            prop_assert_eq!(all_xml_chars(&s), s.chars().all(is_xml_char));
        }
    }
}
