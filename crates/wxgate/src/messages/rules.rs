//! Reply rules from the config file: the first rule whose conditions all match a push decides
//! the passive reply. A rule with no conditions matches everything (a default reply).
//!
//! ```toml
//! [[rules]]
//! event = "subscribe"                       # MsgType=event with this Event (case-insensitive)
//! reply = { type = "text", content = "欢迎 {nickname}！登录: {login_url}" }
//!
//! [[rules]]
//! key = "V1001_SUNCK"                       # a menu CLICK's EventKey
//! reply = { type = "news", articles = [{ title = "…", description = "…", pic_url = "…", url = "…" }] }
//!
//! [[rules]]
//! msg_type = "text"                         # also: text = "exact", regex = "^天气"
//! reply = { type = "text", content = "你说的是：{text}" }
//! ```
//! Template variables in any string of a reply: `{nickname}` (when the user logged in once),
//! `{openid}`, `{text}` (the text received), `{login_url}`.
//!
//! QR codes and media (`docs/wechat-platform-apis.md` §1, §2):
//! ```toml
//! [[rules]]
//! scene = "metro_poster"                    # a subscribe through that QR code, or a follower's SCAN
//! reply = { type = "text", content = "欢迎！你是扫地铁海报来的" }
//!
//! [[rules]]
//! text = "图片"
//! reply = { type = "image", file = "media/welcome.jpg" }   # next to the config file
//! ```
//! `file` replaces `media_id` in image, voice and video replies, `thumb` replaces a music
//! reply's `thumb_media_id`; the file is checked at start-up and uploaded as permanent
//! material once (`crate::media`).

use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use wechat::media::{MediaKind, Store, VideoDescription};
use wechat::reply::Reply;

use crate::media::FileMedia;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    msg_type: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    regex: Option<String>,
    /// A QR code's scene (`qrscene_<scene>` on subscribe, `<scene>` on SCAN).
    #[serde(default)]
    scene: Option<String>,
    reply: Reply,
}

#[derive(Clone, Debug)]
pub struct Rule {
    pub name: String,
    msg_type: Option<String>,
    event: Option<String>,
    key: Option<String>,
    text: Option<String>,
    regex: Option<Regex>,
    scene: Option<String>,
    pub reply: Reply,
    /// A reply from a local file: its media_id is filled in when the reply is made.
    pub media: Option<FileMedia>,
    /// Whether the reply says `{nickname}`: only then is the sender looked up.
    pub needs_nickname: bool,
}

/// What rules look at in a push.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'a> {
    pub msg_type: &'a str,
    pub event: Option<&'a str>,
    pub event_key: Option<&'a str>,
    pub content: Option<&'a str>,
}

/// The values a reply's template variables take.
#[derive(Clone, Copy, Debug, Default)]
pub struct Vars<'a> {
    pub nickname: Option<&'a str>,
    pub openid: &'a str,
    pub text: &'a str,
    pub login_url: &'a str,
}

/// Stands in for a file's media_id until the reply is made.
const FILE_MEDIA_ID: &str = "(uploaded from the rule's file)";

/// Takes `file` (image, voice, video) or `thumb` (music) out of a rule's reply table and puts a
/// placeholder media_id in its place; the file, resolved against `base_dir`, is checked now
/// (exists, extension, size) so a bad one stops start-up naming the rule.
fn take_file(
    value: &mut toml::Value,
    base_dir: Option<&Path>,
) -> Result<Option<FileMedia>, (String, String)> {
    let Some(reply) = value.get_mut("reply").and_then(toml::Value::as_table_mut) else {
        return Ok(None);
    };
    let kind = reply
        .get("type")
        .and_then(toml::Value::as_str)
        .unwrap_or_default();
    let (field, id_field, media_kind) = match kind {
        "image" => ("file", "media_id", MediaKind::Image),
        "voice" => ("file", "media_id", MediaKind::Voice),
        "video" => ("file", "media_id", MediaKind::Video),
        "music" => ("thumb", "thumb_media_id", MediaKind::Thumb),
        _ => return Ok(None),
    };
    let Some(file) = reply.remove(field) else {
        return Ok(None);
    };
    let at = format!(".reply.{field}");
    let Some(file) = file.as_str().filter(|f| !f.trim().is_empty()) else {
        return Err((at, "must be a file path".into()));
    };
    if reply.contains_key(id_field) {
        return Err((at, format!("give either {field} or {id_field}, not both")));
    }
    let path = match base_dir {
        Some(dir) => dir.join(file),
        None => Path::new(file).to_path_buf(),
    };
    crate::media::check_path(&path, media_kind, Store::Permanent).map_err(|m| (at, m))?;
    let text = |k: &str| {
        reply
            .get(k)
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
    };
    let video = (media_kind == MediaKind::Video).then(|| VideoDescription {
        title: text("title").unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        introduction: text("description").unwrap_or_default(),
    });
    reply.insert(id_field.into(), FILE_MEDIA_ID.into());
    Ok(Some(FileMedia {
        kind: media_kind,
        path,
        video,
    }))
}

/// The reply with the media_id of its file filled in.
pub fn with_media_id(reply: Reply, id: String) -> Reply {
    match reply {
        Reply::Image { .. } => Reply::Image { media_id: id },
        Reply::Voice { .. } => Reply::Voice { media_id: id },
        Reply::Video {
            title, description, ..
        } => Reply::Video {
            media_id: id,
            title,
            description,
        },
        Reply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            ..
        } => Reply::Music {
            title,
            description,
            music_url,
            hq_music_url,
            thumb_media_id: id,
        },
        other => other,
    }
}

/// Parses `[[rules]]`; an error names the rule and field (`rules[2].regex: …`). Files named
/// in replies are relative to `base_dir` (the config file's folder).
pub fn parse_rules(
    values: &[toml::Value],
    base_dir: Option<&Path>,
) -> Result<Vec<Rule>, (String, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let at = |field: &str| format!("rules[{i}]{field}");
            let mut value = value.clone();
            let media = take_file(&mut value, base_dir).map_err(|(f, m)| (at(&f), m))?;
            let spec: RuleSpec = value
                .try_into()
                .map_err(|e: toml::de::Error| (at(""), e.message().to_owned()))?;
            let regex = spec
                .regex
                .as_deref()
                .map(|r| Regex::new(r).map_err(|e| (at(".regex"), e.to_string())))
                .transpose()?;
            spec.reply.validate().map_err(|m| (at(".reply"), m))?;
            let needs_nickname =
                serde_json::to_string(&spec.reply).map_or(true, |json| json.contains("{nickname}"));
            Ok(Rule {
                needs_nickname,
                name: spec.name.unwrap_or_else(|| format!("rules[{i}]")),
                msg_type: spec.msg_type,
                event: spec.event,
                key: spec.key,
                text: spec.text,
                regex,
                scene: spec.scene,
                reply: spec.reply,
                media,
            })
        })
        .collect()
}

impl Rule {
    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        let eq = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        self.msg_type.as_deref().is_none_or(|t| t == facts.msg_type)
            && self
                .event
                .as_deref()
                .is_none_or(|e| facts.event.is_some_and(|got| got.eq_ignore_ascii_case(e)))
            && eq(&self.key, facts.event_key)
            && eq(&self.text, facts.content)
            && self
                .regex
                .as_ref()
                .is_none_or(|r| facts.content.is_some_and(|c| r.is_match(c)))
            && self
                .scene
                .as_deref()
                .is_none_or(|s| scanned(facts) == Some(s))
    }
}

/// The scene of a QR code scan: `subscribe` with `qrscene_<scene>` or `SCAN` with `<scene>`
/// (§1.3).
fn scanned<'a>(facts: &Facts<'a>) -> Option<&'a str> {
    let key = facts.event_key?;
    match facts.event? {
        e if e.eq_ignore_ascii_case("subscribe") => key.strip_prefix("qrscene_"),
        e if e.eq_ignore_ascii_case("SCAN") => Some(key),
        _ => None,
    }
}

pub fn first_match<'r>(rules: &'r [Rule], facts: &Facts<'_>) -> Option<&'r Rule> {
    rules.iter().find(|r| r.matches(facts))
}

/// The reply with `{nickname}`, `{openid}`, `{text}` and `{login_url}` filled in, in every
/// string field of any reply type.
/// Fills the placeholders of one string in a single pass over the rule's own text: what a
/// value brings in (a user's `{text}`, a nickname) comes out literally, even when it looks like
/// a placeholder itself.
fn fill(template: &str, vars: &Vars<'_>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let value = [
            ("{nickname}", vars.nickname.unwrap_or("朋友")),
            ("{openid}", vars.openid),
            ("{text}", vars.text),
            ("{login_url}", vars.login_url),
        ]
        .into_iter()
        .find(|(name, _)| rest.starts_with(name));
        match value {
            Some((name, value)) => {
                out.push_str(value);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `reply` with its placeholders filled ([`fill`]) in every text it holds.
pub fn render(reply: &Reply, vars: &Vars<'_>) -> Reply {
    reply.map_strings(|s| fill(s, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_user_text_comes_out_literally() {
        let vars = Vars {
            nickname: Some("{openid}"),
            openid: "o123",
            text: "{login_url}{openid}{nickname}",
            login_url: "https://wx.example.com/auth/",
        };
        assert_eq!(
            fill("{nickname} said {text} ({openid}) {unknown} {", &vars),
            "{openid} said {login_url}{openid}{nickname} (o123) {unknown} {"
        );
        let anonymous = Vars {
            nickname: None,
            ..vars
        };
        assert_eq!(fill("欢迎 {nickname}", &anonymous), "欢迎 朋友");
    }

    fn rules(text: &str) -> Vec<Rule> {
        let table: toml::Table = text.parse().unwrap();
        let items = table["rules"].as_array().unwrap().clone();
        parse_rules(&items, None).unwrap()
    }

    #[test]
    fn the_first_matching_rule_wins_and_conditions_combine() {
        let rules = rules(
            r#"
            [[rules]]
            event = "subscribe"
            reply = { type = "text", content = "welcome" }
            [[rules]]
            key = "V1001_SUNCK"
            reply = { type = "text", content = "sunck" }
            [[rules]]
            text = "hi"
            reply = { type = "text", content = "exact" }
            [[rules]]
            regex = "^天气"
            reply = { type = "text", content = "weather" }
            [[rules]]
            msg_type = "text"
            reply = { type = "text", content = "echo {text}" }
            "#,
        );
        let name = |f: Facts| first_match(&rules, &f).map(|r| r.name.clone());
        let event = |e, k| Facts {
            msg_type: "event",
            event: Some(e),
            event_key: k,
            content: None,
        };
        let text = |c| Facts {
            msg_type: "text",
            content: Some(c),
            ..Default::default()
        };
        assert_eq!(name(event("subscribe", None)).as_deref(), Some("rules[0]"));
        assert_eq!(
            name(event("CLICK", Some("V1001_SUNCK"))).as_deref(),
            Some("rules[1]")
        );
        assert_eq!(name(event("CLICK", Some("OTHER"))), None);
        assert_eq!(name(text("hi")).as_deref(), Some("rules[2]"));
        assert_eq!(name(text("天气如何")).as_deref(), Some("rules[3]"));
        assert_eq!(name(text("hello")).as_deref(), Some("rules[4]"));
        assert_eq!(
            name(Facts {
                msg_type: "image",
                ..Default::default()
            }),
            None
        );
    }

    #[test]
    fn template_variables_fill_every_string() {
        let reply: Reply = serde_json::from_str(
            r#"{"type":"news","articles":[{"title":"{nickname}","description":"{text}","pic_url":"","url":"{login_url}?o={openid}"}]}"#,
        )
        .unwrap();
        let vars = Vars {
            nickname: Some("张三"),
            openid: "o1",
            text: "hi",
            login_url: "https://x/auth/",
        };
        let json = serde_json::to_string(&render(&reply, &vars)).unwrap();
        assert!(
            json.contains("张三")
                && json.contains("\"hi\"")
                && json.contains("https://x/auth/?o=o1"),
            "{json}"
        );
    }

    #[test]
    fn bad_rules_name_the_rule() {
        let table: toml::Table = "[[rules]]\nregex = \"(\"\nreply = { type = \"text\", content = \"x\" }\n[[rules]]\nfoo = 1\nreply = { type = \"text\", content = \"x\" }".parse().unwrap();
        let items = table["rules"].as_array().unwrap();
        let e = parse_rules(&items[..1], None).unwrap_err();
        assert_eq!(e.0, "rules[0].regex");
        let e = parse_rules(&items[1..], None).unwrap_err();
        assert_eq!(e.0, "rules[0]");
        assert!(e.1.contains("foo"), "{}", e.1);
    }

    #[test]
    fn a_scene_matches_a_subscribe_through_the_code_and_a_followers_scan() {
        let rules = rules(
            r#"
            [[rules]]
            scene = "metro_poster"
            reply = { type = "text", content = "metro" }
            [[rules]]
            event = "subscribe"
            reply = { type = "text", content = "welcome" }
            "#,
        );
        let name = |event, key| {
            first_match(
                &rules,
                &Facts {
                    msg_type: "event",
                    event: Some(event),
                    event_key: key,
                    content: None,
                },
            )
            .map(|r| r.name.clone())
        };
        assert_eq!(
            name("subscribe", Some("qrscene_metro_poster")).as_deref(),
            Some("rules[0]")
        );
        assert_eq!(
            name("SCAN", Some("metro_poster")).as_deref(),
            Some("rules[0]")
        );
        assert_eq!(
            name("subscribe", Some("qrscene_other")).as_deref(),
            Some("rules[1]")
        );
        assert_eq!(name("subscribe", None).as_deref(), Some("rules[1]"));
        assert_eq!(name("SCAN", Some("qrscene_metro_poster")), None);
        assert_eq!(name("CLICK", Some("metro_poster")), None);
    }

    #[test]
    fn file_replies_are_checked_at_start_up_naming_the_rule() {
        let dir = std::env::temp_dir().join(format!("wxgate-rule-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("media")).unwrap();
        std::fs::write(dir.join("media/ok.png"), b"png").unwrap();
        std::fs::write(dir.join("media/big.mp3"), vec![0u8; 2_516_583]).unwrap();
        let parse = |reply: &str| {
            let table: toml::Table = format!("[[rules]]\nreply = {reply}\n").parse().unwrap();
            let items = table["rules"].as_array().unwrap().clone();
            parse_rules(&items, Some(&dir))
        };
        let ok = parse(r#"{ type = "image", file = "media/ok.png" }"#).unwrap();
        let media = ok[0].media.clone().unwrap();
        assert_eq!(media.kind, MediaKind::Image);
        assert_eq!(media.path, dir.join("media/ok.png"));
        let e = parse(r#"{ type = "voice", file = "media/big.mp3" }"#).unwrap_err();
        assert_eq!(e.0, "rules[0].reply.file");
        assert!(
            e.1.starts_with("2.4 MB, WeChat's limit for voice is 2 MB"),
            "{}",
            e.1
        );
        let e = parse(r#"{ type = "image", file = "media/missing.png" }"#).unwrap_err();
        assert_eq!(e.0, "rules[0].reply.file");
        let e = parse(r#"{ type = "music", thumb = "media/ok.png" }"#).unwrap_err();
        assert_eq!(e.0, "rules[0].reply.thumb");
        assert!(e.1.contains(".png is not a format"), "{}", e.1);
        let filled = with_media_id(ok[0].reply.clone(), "M1".into());
        assert_eq!(
            filled,
            Reply::Image {
                media_id: "M1".into()
            }
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
