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

use regex::Regex;
use serde::Deserialize;
use wechat::reply::Reply;

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
    pub reply: Reply,
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

/// Parses `[[rules]]`; an error names the rule and field (`rules[2].regex: …`).
pub fn parse_rules(values: &[toml::Value]) -> Result<Vec<Rule>, (String, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let at = |field: &str| format!("rules[{i}]{field}");
            let spec: RuleSpec = value
                .clone()
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
                reply: spec.reply,
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

pub fn render(reply: &Reply, vars: &Vars<'_>) -> Reply {
    fn walk(value: &mut serde_json::Value, vars: &Vars<'_>) {
        match value {
            serde_json::Value::String(s) => *s = fill(s, vars),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, vars)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| walk(v, vars)),
            _ => {}
        }
    }
    let Ok(mut value) = serde_json::to_value(reply) else {
        return reply.clone();
    };
    walk(&mut value, vars);
    serde_json::from_value(value).unwrap_or_else(|_| reply.clone())
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
        parse_rules(&items).unwrap()
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
        let e = parse_rules(&items[..1]).unwrap_err();
        assert_eq!(e.0, "rules[0].regex");
        let e = parse_rules(&items[1..]).unwrap_err();
        assert_eq!(e.0, "rules[0]");
        assert!(e.1.contains("foo"), "{}", e.1);
    }
}
