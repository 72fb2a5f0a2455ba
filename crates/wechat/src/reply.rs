//! Passive replies (docs/wechat-protocol.md §C.6): the XML returned as the HTTP response body.
//!
//! A malformed reply shows the user "该公众号提供的服务出现故障" (field-lessons row 11), so the
//! XML is built by one function that cannot produce a broken document: every string goes into
//! CDATA, a `]]>` inside user text is split across two sections, and characters XML 1.0 forbids
//! are dropped. [`Reply`] deserializes from config (`{"type":"text","content":"hi"}`).

use serde::{Deserialize, Serialize};

use crate::crypto::MessageCrypt;
use crate::signature::Token;

/// One news (图文) entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Cover image URL (first entry shown large, 360×200; others 200×200).
    #[serde(default)]
    pub pic_url: String,
    /// Where tapping the entry leads.
    #[serde(default)]
    pub url: String,
}

/// A passive reply. Media ids must come from uploaded material (temporary or permanent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Text {
        content: String,
    },
    Image {
        media_id: String,
    },
    Voice {
        media_id: String,
    },
    Video {
        media_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    Music {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        music_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hq_music_url: Option<String>,
        thumb_media_id: String,
    },
    News {
        articles: Vec<Article>,
    },
    /// Hands the conversation to customer service (客服), optionally to one agent.
    TransferCustomerService {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kf_account: Option<String>,
    },
}

/// News replies carry at most this many articles (it was 10 before; §C.6).
pub const MAX_ARTICLES: usize = 8;

impl Reply {
    /// The checks that hold in every scenario; see [`Self::validate_for`] for news replies to a
    /// user message.
    pub fn validate(&self) -> Result<(), String> {
        let non_empty = |value: &str, what: &str| {
            if value.trim().is_empty() {
                Err(format!("{what} must not be empty"))
            } else {
                Ok(())
            }
        };
        match self {
            Reply::Text { content } => non_empty(content, "text reply content"),
            Reply::Image { media_id } => non_empty(media_id, "image reply media_id"),
            Reply::Voice { media_id } => non_empty(media_id, "voice reply media_id"),
            Reply::Video { media_id, .. } => non_empty(media_id, "video reply media_id"),
            Reply::Music { thumb_media_id, .. } => {
                non_empty(thumb_media_id, "music reply thumb_media_id")
            }
            Reply::News { articles } => {
                if articles.is_empty() || articles.len() > MAX_ARTICLES {
                    return Err(format!(
                        "a news reply needs 1 to {MAX_ARTICLES} articles, got {}",
                        articles.len()
                    ));
                }
                for (i, a) in articles.iter().enumerate() {
                    non_empty(&a.title, &format!("news reply article {} title", i + 1))?;
                }
                Ok(())
            }
            Reply::TransferCustomerService { kf_account } => match kf_account {
                Some(account) => non_empty(account, "kf_account (omit it for any agent)"),
                None => Ok(()),
            },
        }
    }

    /// Like [`Self::validate`], plus the rule in force since 2018-10-12: a news reply to a
    /// message the user sent (text, image, voice, video, location, link…, i.e. anything but an
    /// event) may carry only **one** article; event replies may carry up to 8.
    pub fn validate_for(&self, incoming_is_user_message: bool) -> Result<(), String> {
        self.validate()?;
        match self {
            Reply::News { articles } if incoming_is_user_message && articles.len() > 1 => {
                Err(format!(
                    "a news reply to a user message may carry only 1 article (WeChat rule since 2018-10-12), got {}",
                    articles.len()
                ))
            }
            _ => Ok(()),
        }
    }

    /// The `MsgType` of this reply.
    /// The same reply with every text in it (content, titles, URLs, ids) passed through `f`:
    /// how templates in configured replies are filled.
    pub fn map_strings(&self, mut f: impl FnMut(&str) -> String) -> Reply {
        let mut opt = |v: &Option<String>| v.as_deref().map(&mut f);
        match self {
            Reply::Text { content } => Reply::Text {
                content: f(content),
            },
            Reply::Image { media_id } => Reply::Image {
                media_id: f(media_id),
            },
            Reply::Voice { media_id } => Reply::Voice {
                media_id: f(media_id),
            },
            Reply::Video {
                media_id,
                title,
                description,
            } => Reply::Video {
                title: opt(title),
                description: opt(description),
                media_id: f(media_id),
            },
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => Reply::Music {
                title: opt(title),
                description: opt(description),
                music_url: opt(music_url),
                hq_music_url: opt(hq_music_url),
                thumb_media_id: f(thumb_media_id),
            },
            Reply::News { articles } => Reply::News {
                articles: articles
                    .iter()
                    .map(|a| Article {
                        title: f(&a.title),
                        description: f(&a.description),
                        pic_url: f(&a.pic_url),
                        url: f(&a.url),
                    })
                    .collect(),
            },
            Reply::TransferCustomerService { kf_account } => Reply::TransferCustomerService {
                kf_account: opt(kf_account),
            },
        }
    }

    pub fn msg_type(&self) -> &'static str {
        match self {
            Reply::Text { .. } => "text",
            Reply::Image { .. } => "image",
            Reply::Voice { .. } => "voice",
            Reply::Video { .. } => "video",
            Reply::Music { .. } => "music",
            Reply::News { .. } => "news",
            Reply::TransferCustomerService { .. } => "transfer_customer_service",
        }
    }

    /// The reply XML. `to_user` is the incoming `FromUserName` (the openid) and `from_user` the
    /// incoming `ToUserName` (the gh_ id): the caller swaps them. `create_time` is in seconds
    /// (node-webot's milliseconds got replies rejected).
    pub fn to_xml(&self, to_user: &str, from_user: &str, create_time: i64) -> String {
        let mut x = String::with_capacity(256);
        x.push_str("<xml>");
        cdata_element(&mut x, "ToUserName", to_user);
        cdata_element(&mut x, "FromUserName", from_user);
        x.push_str("<CreateTime>");
        x.push_str(itoa::Buffer::new().format(create_time));
        x.push_str("</CreateTime>");
        cdata_element(&mut x, "MsgType", self.msg_type());
        match self {
            Reply::Text { content } => cdata_element(&mut x, "Content", content),
            Reply::Image { media_id } => {
                x.push_str("<Image>");
                cdata_element(&mut x, "MediaId", media_id);
                x.push_str("</Image>");
            }
            Reply::Voice { media_id } => {
                x.push_str("<Voice>");
                cdata_element(&mut x, "MediaId", media_id);
                x.push_str("</Voice>");
            }
            Reply::Video {
                media_id,
                title,
                description,
            } => {
                x.push_str("<Video>");
                cdata_element(&mut x, "MediaId", media_id);
                optional_element(&mut x, "Title", title);
                optional_element(&mut x, "Description", description);
                x.push_str("</Video>");
            }
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                x.push_str("<Music>");
                optional_element(&mut x, "Title", title);
                optional_element(&mut x, "Description", description);
                optional_element(&mut x, "MusicUrl", music_url);
                optional_element(&mut x, "HQMusicUrl", hq_music_url);
                cdata_element(&mut x, "ThumbMediaId", thumb_media_id);
                x.push_str("</Music>");
            }
            Reply::News { articles } => {
                x.push_str(&format!(
                    "<ArticleCount>{}</ArticleCount><Articles>",
                    articles.len()
                ));
                for a in articles {
                    x.push_str("<item>");
                    cdata_element(&mut x, "Title", &a.title);
                    cdata_element(&mut x, "Description", &a.description);
                    cdata_element(&mut x, "PicUrl", &a.pic_url);
                    cdata_element(&mut x, "Url", &a.url);
                    x.push_str("</item>");
                }
                x.push_str("</Articles>");
            }
            Reply::TransferCustomerService { kf_account } => {
                if let Some(account) = kf_account {
                    x.push_str("<TransInfo>");
                    cdata_element(&mut x, "KfAccount", account);
                    x.push_str("</TransInfo>");
                }
            }
        }
        x.push_str("</xml>");
        x
    }
}

fn optional_element(out: &mut String, name: &str, value: &Option<String>) {
    if let Some(v) = value {
        cdata_element(out, name, v);
    }
}

/// `<name><![CDATA[value]]></name>`, safe for any `value`.
fn cdata_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Writes `value` as CDATA: forbidden characters dropped, `]]>` split as `]]]]><![CDATA[>`.
fn push_cdata(out: &mut String, value: &str) {
    out.push_str("<![CDATA[");
    if crate::message::all_xml_chars(value) && !value.contains("]]>") {
        // Nearly every value: written as it is.
        out.push_str(value);
    } else {
        let clean: String = value
            .chars()
            .filter(|&c| crate::message::is_xml_char(c))
            .collect();
        out.push_str(&clean.replace("]]>", "]]]]><![CDATA[>"));
    }
    out.push_str("]]>");
}

/// The safe-mode response body: `reply_xml` encrypted with a fresh random prefix and signed
/// with `msg_signature` over (token, timestamp, nonce, Encrypt). Use the same [`MessageCrypt`]
/// that decrypted the request (see [`crate::crypto::KeyUsed`]).
pub fn encrypted_reply_xml(
    crypt: &MessageCrypt,
    token: &Token,
    reply_xml: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    encrypted_envelope(token, &crypt.encrypt(reply_xml), timestamp, nonce)
}

/// Wraps an already encrypted payload in the signed reply envelope (§C.7).
pub fn encrypted_envelope(token: &Token, encrypt: &str, timestamp: i64, nonce: &str) -> String {
    let timestamp = timestamp.to_string();
    let signature = token.msg_signature(&timestamp, nonce, encrypt);
    let mut x = String::with_capacity(encrypt.len() + 200);
    x.push_str("<xml>\n");
    cdata_element(&mut x, "Encrypt", encrypt);
    x.push('\n');
    cdata_element(&mut x, "MsgSignature", &signature);
    x.push_str(&format!("\n<TimeStamp>{timestamp}</TimeStamp>\n"));
    cdata_element(&mut x, "Nonce", nonce);
    x.push_str("\n</xml>");
    x
}
