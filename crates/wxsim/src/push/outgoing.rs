//! What a user sends ([`Outgoing`]): every message and event type, built as WeChat builds
//! the XML (CDATA strings, bare numbers, CreateTime in seconds).

use super::*;

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
        /// The scanned code's ticket (`qrcode/create`); a made-up one when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
    },
    Unsubscribe,
    /// A follower scanned a parameter QR code (EventKey = scene, no prefix).
    Scan {
        scene: String,
        /// As for [`Outgoing::Subscribe`].
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
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

pub(super) fn amr() -> String {
    "amr".to_string()
}

pub(super) fn default_scale() -> u32 {
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
    pub(super) fn body_nodes(&self, msg_id: u64) -> Vec<Node> {
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
            Outgoing::Subscribe {
                scene: Some(scene),
                ticket: t,
            } => vec![
                Node::str("EventKey", format!("qrscene_{scene}")),
                Node::str("Ticket", t.clone().unwrap_or_else(|| ticket(msg_id))),
            ],
            Outgoing::Subscribe { scene: None, .. } | Outgoing::Unsubscribe => Vec::new(),
            Outgoing::Scan { scene, ticket: t } => vec![
                Node::str("EventKey", scene),
                Node::str("Ticket", t.clone().unwrap_or_else(|| ticket(msg_id))),
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
    pub(super) fn nodes(
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

pub(super) fn placeholder_media_id(seed: u64) -> String {
    format!("wxsim_media_{seed:016x}")
}

pub(super) fn ticket(seed: u64) -> String {
    format!("gQHs8DwAAAAAAAAAAS5odHRwOi8vd2VpeGluLnFxLmNvbS9x{seed:x}")
}
