//! Notifications to a user: template messages (模板消息, `message/template/send`,
//! `docs/wechat-platform-apis.md` §3), subscription notices (订阅通知,
//! `message/subscribe/bizsend`, §4), the two template lists that name each template's keywords
//! (`template/get_all_private_template`, `wxaapi/newtmpl/gettemplate`), and the two
//! customer-service kinds that are not passive replies (`msgmenu`, `miniprogrampage`, §5.1).
//!
//! Every value of `data` is checked locally before any call ([`check_data`]): against the
//! template's keywords when the caller has the template list, and against WeChat's value types
//! (§4.3: the type is the key without its trailing digits, `thing1` → `thing`), so a value
//! WeChat would refuse with 47003 is refused here with the key and the rule it breaks.
//!
//! Like [`crate::api`], these are raw calls taking the token; none is retried here, and a
//! timed-out send is [`Error::Timeout`] because it may have been delivered.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{CustomMessage, CustomMessageError};
use crate::client::{Client, Error};
use crate::reply::Reply;
use crate::types::{AccessToken, OpenId};

/// Which API a `data` map goes to: their value rules differ a little (§3.1, §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyKind {
    /// `message/template/send`: `amount` up to 12 digits, and the `const` type.
    Template,
    /// `message/subscribe/bizsend`: `amount` up to 10 digits.
    Subscribe,
}

impl NotifyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyKind::Template => "template",
            NotifyKind::Subscribe => "subscribe",
        }
    }
}

/// A mini program a notification opens (`{"appid","pagepath"}`); it wins over `url`/`page`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgram {
    pub appid: String,
    #[serde(default)]
    pub pagepath: String,
}

/// One keyword value as WeChat wants it: `{"value": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataValue {
    pub value: String,
}

/// `data`: keyword name → value, in key order.
pub type Data = BTreeMap<String, DataValue>;

/// Builds [`Data`] from `(key, value)` pairs.
pub fn data<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Data {
    pairs
        .into_iter()
        .map(|(k, v)| (k.into(), DataValue { value: v.into() }))
        .collect()
}

/// The body of `message/template/send` (§3.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateMessage {
    pub touser: OpenId,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    /// WeChat sends a message with the same id to the same user only once in 10 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub data: Data,
}

/// The body of `message/subscribe/bizsend` (§4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscribeMessage {
    pub touser: OpenId,
    pub template_id: String,
    /// A web URL opened on tap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    pub data: Data,
}

/// A template of the account, from either list: its id, title and keywords.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Template {
    pub template_id: String,
    pub title: String,
    /// The template text with `{{name.DATA}}` placeholders.
    pub content: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub example: String,
    /// For subscription templates: 2 one-time, 3 long-term.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<i64>,
}

impl Template {
    /// The keyword names of [`Template::content`], in order.
    pub fn keywords(&self) -> Vec<String> {
        keywords(&self.content)
    }
}

/// The placeholder names of a template's content: `商品:{{thing1.DATA}}\n时间:{{time3.DATA}}`
/// gives `thing1`, `time3` (§3.2, §4.2).
pub fn keywords(content: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("}}") else { break };
        let inner = rest[..end].trim();
        let name = inner.strip_suffix(".DATA").unwrap_or(inner).trim();
        if !name.is_empty() && !out.iter().any(|k| k == name) {
            out.push(name.to_owned());
        }
        rest = &rest[end + 2..];
    }
    out
}

/// One value (or key) WeChat would refuse, naming it: `data.thing1.value: 23 characters, the
/// limit for thing is 20`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    pub key: String,
    pub problem: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data.{}.value: {}", self.key, self.problem)
    }
}

/// A keyword's type: its name without the trailing digits (`thing1` → `thing`,
/// `character_string12` → `character_string`).
pub fn key_type(key: &str) -> &str {
    key.trim_end_matches(|c: char| c.is_ascii_digit())
}

/// The value types of §4.3 (plus `const` for template messages), and their limits.
pub const VALUE_TYPES: &[(&str, &str)] = &[
    ("thing", "≤ 20 characters"),
    (
        "number",
        "digits with an optional decimal point, ≤ 32 characters",
    ),
    ("letter", "letters only, ≤ 32 characters"),
    ("symbol", "symbols only, ≤ 5 characters"),
    (
        "character_string",
        "letters, digits and symbols, no Chinese, ≤ 32 characters",
    ),
    (
        "time",
        "a 24-hour time, optionally with a date (15:01, 2019-10-01 15:01)",
    ),
    (
        "date",
        "a date, optionally with a time (2019年10月1日, 2019-10-01 15:01)",
    ),
    (
        "amount",
        "a currency symbol, digits and decimals, or 元 at the end (¥100.00, 100元)",
    ),
    ("phone_number", "digits and + - ( ), ≤ 17 characters"),
    ("car_number", "a licence plate, ≤ 8 characters"),
    ("name", "≤ 10 Chinese characters or ≤ 20 letters"),
    ("phrase", "Chinese characters only, ≤ 5 characters"),
    (
        "const",
        "an audited value, ≤ 20 characters (template messages)",
    ),
];

fn is_chinese(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

fn is_symbol(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control() && !is_chinese(c)
}

/// Digits `d` with optional `.digits`: the integer digits' count, or `None` when not a number.
fn decimal(s: &str) -> Option<usize> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    (digits(int) && frac.is_none_or(digits)).then_some(int.len())
}

/// `HH:MM` or `HH:MM:SS`, 24-hour.
fn is_clock(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    if !(2..=3).contains(&parts.len()) {
        return false;
    }
    let num = |p: &str, max: u32| {
        (1..=2).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= max)
    };
    num(parts[0], 23) && parts[1..].iter().all(|p| p.len() == 2 && num(p, 59))
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD` or `YYYY年M月D日` (also without the year, or the
/// day: `10月1日`, `2019年10月`).
fn is_calendar_date(s: &str) -> bool {
    let num =
        |p: &str, len: std::ops::RangeInclusive<usize>, range: std::ops::RangeInclusive<u32>| {
            len.contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| range.contains(&n))
        };
    for sep in ['-', '/', '.'] {
        let parts: Vec<&str> = s.split(sep).collect();
        if parts.len() == 3 {
            return num(parts[0], 4..=4, 1..=9999)
                && num(parts[1], 1..=2, 1..=12)
                && num(parts[2], 1..=2, 1..=31);
        }
    }
    if !(s.contains('年') || s.contains('月')) {
        return false;
    }
    let mut rest = s;
    let mut any = false;
    for (mark, len, range) in [
        ('年', 4..=4, 1..=9999),
        ('月', 1..=2, 1..=12),
        ('日', 1..=2, 1..=31),
    ] {
        if let Some((p, r)) = rest.split_once(mark) {
            if !num(p, len, range) {
                return false;
            }
            rest = r;
            any = true;
        }
    }
    any && rest.is_empty()
}

/// A date, a time or both (`date time`), one side of a `~` range.
fn is_moment(s: &str, need_time: bool) -> bool {
    let s = s.trim();
    let (date, clock) = match s.rsplit_once(' ') {
        Some((d, t)) => (Some(d.trim()), Some(t.trim())),
        None if is_clock(s) => (None, Some(s)),
        None => (Some(s), None),
    };
    let date_ok = date.is_none_or(is_calendar_date);
    let clock_ok = clock.is_none_or(is_clock);
    date_ok && clock_ok && (!need_time || clock.is_some()) && (need_time || date.is_some())
}

fn is_range_of(s: &str, need_time: bool) -> bool {
    match s.split_once('~') {
        Some((a, b)) => {
            // `2019-10-01 15:01~16:01`: the end may leave out what the start said.
            is_moment(a, need_time) && (is_moment(b, need_time) || is_clock(b.trim()))
        }
        None => is_moment(s, need_time),
    }
}

/// Checks one value against its key's type; `Ok` for a type WeChat does not define (old
/// templates' `first`, `keyword1`, `remark` are free text).
pub fn check_value(key: &str, value: &str, kind: NotifyKind) -> Result<(), String> {
    let ty = key_type(key);
    let chars = value.chars().count();
    let known = VALUE_TYPES.iter().any(|(t, _)| *t == ty)
        && !(ty == "const" && kind == NotifyKind::Subscribe);
    if !known {
        return Ok(());
    }
    if value.trim().is_empty() {
        return Err(format!("empty; a {ty} keyword needs a value"));
    }
    if value.trim() != value {
        return Err("starts or ends with whitespace".to_owned());
    }
    let too_long = |limit: usize| {
        (chars > limit).then(|| format!("{chars} characters, the limit for {ty} is {limit}"))
    };
    let problem = match ty {
        "thing" | "const" => too_long(20),
        "number" => too_long(32).or_else(|| {
            decimal(value)
                .is_none()
                .then(|| "only digits and a decimal point are allowed in number".to_owned())
        }),
        "letter" => too_long(32).or_else(|| {
            (!value.chars().all(|c| c.is_ascii_alphabetic()))
                .then(|| "only letters (A-Z, a-z) are allowed in letter".to_owned())
        }),
        "symbol" => too_long(5).or_else(|| {
            (!value.chars().all(is_symbol))
                .then(|| "only symbols (no letters, digits or Chinese) are allowed in symbol".to_owned())
        }),
        "character_string" => too_long(32).or_else(|| {
            if value.chars().any(is_chinese) {
                Some("Chinese is not allowed in character_string".to_owned())
            } else if !value.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                Some("only letters, digits and ASCII symbols are allowed in character_string".to_owned())
            } else {
                None
            }
        }),
        "time" => (!is_range_of(value, true))
            .then(|| "not a time: use a 24-hour time, optionally after a date (15:01, 2019-10-01 15:01, 2019年10月1日 15:01)".to_owned()),
        "date" => (!is_range_of(value, false))
            .then(|| "not a date: use 2019-10-01 or 2019年10月1日, optionally with a time".to_owned()),
        "amount" => {
            let max = if kind == NotifyKind::Template { 12 } else { 10 };
            let body = value.strip_suffix('元').unwrap_or(value);
            let body = match body.chars().next() {
                Some(c) if !c.is_ascii_digit() && value.ends_with('元') => {
                    // A symbol and 元 together is one unit too many.
                    return Err("use either a currency symbol or 元, not both".to_owned());
                }
                Some(c) if !c.is_ascii_digit() && is_symbol(c) => &body[c.len_utf8()..],
                _ => body,
            };
            match decimal(body) {
                None => Some("not an amount: one currency symbol or 元, digits and decimals (¥100.00, 100元)".to_owned()),
                Some(n) if n > max => Some(format!("{n} integer digits, the limit for amount is {max}")),
                Some(_) => None,
            }
        }
        "phone_number" => too_long(17).or_else(|| {
            (!value.chars().all(|c| c.is_ascii_digit() || "+-() ".contains(c)) || !value.chars().any(|c| c.is_ascii_digit()))
                .then(|| "only digits and + - ( ) are allowed in phone_number".to_owned())
        }),
        "car_number" => too_long(8).or_else(|| {
            let v: Vec<char> = value.chars().collect();
            let inner_ok = v.len() < 3 || v[1..v.len() - 1].iter().all(|c| c.is_ascii_alphanumeric());
            let ends_ok = [v[0], v[v.len() - 1]].iter().all(|c| c.is_ascii_alphanumeric() || is_chinese(*c));
            (!(inner_ok && ends_ok) || v.len() < 2)
                .then(|| "not a licence plate: letters and digits, Chinese only first and last (粤B12345)".to_owned())
        }),
        "name" => {
            if value.chars().any(is_chinese) {
                too_long(10)
            } else if value.chars().all(|c| c.is_alphabetic() || " .·-".contains(c)) {
                too_long(20)
            } else {
                Some("not a name: Chinese characters or letters".to_owned())
            }
        }
        "phrase" => too_long(5).or_else(|| {
            (!value.chars().all(is_chinese))
                .then(|| "only Chinese characters are allowed in phrase".to_owned())
        }),
        _ => None,
    };
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// Checks `data` before a send: every value against its type ([`check_value`]) and, when the
/// template's `keywords` are known, that each keyword has a value and no key is foreign. Every
/// problem is reported, each naming its key.
pub fn check_data(
    data: &Data,
    keywords: Option<&[String]>,
    kind: NotifyKind,
) -> Result<(), Vec<DataError>> {
    let mut errors = Vec::new();
    if data.is_empty() && keywords.is_none_or(|k| !k.is_empty()) {
        errors.push(DataError {
            key: "*".into(),
            problem: "no data: give a value for each of the template's keywords".into(),
        });
    }
    if let Some(keywords) = keywords {
        for k in keywords {
            if !data.contains_key(k) {
                errors.push(DataError {
                    key: k.clone(),
                    problem: "missing: the template has this keyword".into(),
                });
            }
        }
        for k in data.keys() {
            if !keywords.contains(k) {
                errors.push(DataError {
                    key: k.clone(),
                    problem: format!(
                        "not a keyword of this template (its keywords: {})",
                        keywords.join(", ")
                    ),
                });
            }
        }
    }
    for (k, v) in data {
        if let Err(problem) = check_value(k, &v.value, kind) {
            errors.push(DataError {
                key: k.clone(),
                problem,
            });
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// What a customer-service message says: any passive [`Reply`] but the transfer, or one of the
/// two kinds only customer-service messages have. Deserializes from `{"type": …, …}` like a
/// reply rule: `{"type":"msgmenu","head_content":"…","list":[{"id":"101","content":"满意"}]}`,
/// `{"type":"miniprogrampage","title":"…","appid":"…","pagepath":"…","thumb_media_id":"…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomContent {
    Extra(ExtraCustom),
    Reply(Reply),
}

/// The customer-service kinds that are not passive replies (§5.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ExtraCustom {
    /// A choice menu; tapping an option sends its text back with its id.
    Msgmenu {
        #[serde(default)]
        head_content: String,
        list: Vec<MenuChoice>,
        #[serde(default)]
        tail_content: String,
    },
    /// A mini-program card.
    Miniprogrampage {
        title: String,
        appid: String,
        pagepath: String,
        thumb_media_id: String,
    },
}

/// One option of a `msgmenu`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuChoice {
    pub id: String,
    pub content: String,
}

impl CustomContent {
    /// The `msgtype` it is sent as.
    pub fn msg_type(&self) -> &'static str {
        match self {
            CustomContent::Reply(r) => r.msg_type(),
            CustomContent::Extra(ExtraCustom::Msgmenu { .. }) => "msgmenu",
            CustomContent::Extra(ExtraCustom::Miniprogrampage { .. }) => "miniprogrampage",
        }
    }

    /// The message for `touser`, checked: what [`CustomMessage::from_reply`] checks, and for
    /// the extra kinds their required fields.
    pub fn to_message(&self, touser: &OpenId) -> Result<CustomMessage, CustomMessageError> {
        let invalid = |m: &str| Err(CustomMessageError::Invalid(m.to_owned()));
        match self {
            CustomContent::Reply(r) => CustomMessage::from_reply(touser, r),
            CustomContent::Extra(ExtraCustom::Msgmenu {
                head_content,
                list,
                tail_content,
            }) => {
                if list.is_empty() {
                    return invalid("a msgmenu needs at least one option in list");
                }
                if let Some(i) = list
                    .iter()
                    .position(|c| c.id.trim().is_empty() || c.content.trim().is_empty())
                {
                    return Err(CustomMessageError::Invalid(format!(
                        "msgmenu list[{i}]: id and content must not be empty"
                    )));
                }
                Ok(CustomMessage::raw(
                    touser,
                    "msgmenu",
                    json!({"head_content": head_content, "list": list, "tail_content": tail_content}),
                ))
            }
            CustomContent::Extra(ExtraCustom::Miniprogrampage {
                title,
                appid,
                pagepath,
                thumb_media_id,
            }) => {
                for (name, v) in [
                    ("appid", appid),
                    ("pagepath", pagepath),
                    ("thumb_media_id", thumb_media_id),
                ] {
                    if v.trim().is_empty() {
                        return Err(CustomMessageError::Invalid(format!(
                            "miniprogrampage {name} must not be empty"
                        )));
                    }
                }
                Ok(CustomMessage::raw(
                    touser,
                    "miniprogrampage",
                    json!({"title": title, "appid": appid, "pagepath": pagepath, "thumb_media_id": thumb_media_id}),
                ))
            }
        }
    }
}

#[derive(Deserialize)]
struct MsgIdAnswer {
    #[serde(default)]
    msgid: Option<Value>,
}

/// A msgid as a string: it may exceed 2^53 (§4.4), so it is never a float.
fn msgid_text(v: Option<Value>) -> Option<String> {
    match v? {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s),
        _ => None,
    }
}

#[derive(Deserialize)]
struct PrivateTemplate {
    template_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    example: String,
}

#[derive(Deserialize)]
struct PrivateTemplates {
    #[serde(default)]
    template_list: Vec<PrivateTemplate>,
}

#[derive(Deserialize)]
struct SubscribeTemplate {
    #[serde(rename = "priTmplId")]
    pri_tmpl_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
    #[serde(default)]
    example: String,
    #[serde(default, rename = "type")]
    kind: Option<i64>,
}

#[derive(Deserialize)]
struct SubscribeTemplates {
    #[serde(default)]
    data: Vec<SubscribeTemplate>,
}

impl Client {
    /// `message/template/send` (§3.1): the msgid WeChat answers with. Check `data` with
    /// [`check_data`] first. **Not idempotent** unless `client_msg_id` is set; never retried
    /// here.
    pub async fn send_template(
        &self,
        token: &AccessToken,
        message: &TemplateMessage,
    ) -> Result<Option<String>, Error> {
        let answer: MsgIdAnswer = self
            .post_json(
                "/cgi-bin/message/template/send",
                &[("access_token", token.secret())],
                message,
            )
            .await?;
        Ok(msgid_text(answer.msgid))
    }

    /// `message/subscribe/bizsend` (§4.1): uses up a one-time grant. Whether WeChat answers
    /// with a msgid is not documented; it is returned when present.
    pub async fn send_subscribe(
        &self,
        token: &AccessToken,
        message: &SubscribeMessage,
    ) -> Result<Option<String>, Error> {
        let answer: MsgIdAnswer = self
            .post_json(
                "/cgi-bin/message/subscribe/bizsend",
                &[("access_token", token.secret())],
                message,
            )
            .await?;
        Ok(msgid_text(answer.msgid))
    }

    /// `template/get_all_private_template` (§3.2): the account's template-message templates.
    pub async fn template_list(&self, token: &AccessToken) -> Result<Vec<Template>, Error> {
        let answer: PrivateTemplates = self
            .get(
                "/cgi-bin/template/get_all_private_template",
                &[("access_token", token.secret())],
            )
            .await?;
        Ok(answer
            .template_list
            .into_iter()
            .map(|t| Template {
                template_id: t.template_id,
                title: t.title,
                content: t.content,
                example: t.example,
                kind: None,
            })
            .collect())
    }

    /// `wxaapi/newtmpl/gettemplate` (§4.2): the account's subscription-notice templates.
    pub async fn subscribe_template_list(
        &self,
        token: &AccessToken,
    ) -> Result<Vec<Template>, Error> {
        let answer: SubscribeTemplates = self
            .get(
                "/wxaapi/newtmpl/gettemplate",
                &[("access_token", token.secret())],
            )
            .await?;
        Ok(answer
            .data
            .into_iter()
            .map(|t| Template {
                template_id: t.pri_tmpl_id,
                title: t.title,
                content: t.content,
                example: t.example,
                kind: t.kind,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(key: &str, value: &str) {
        assert_eq!(
            check_value(key, value, NotifyKind::Subscribe),
            Ok(()),
            "{key}={value}"
        );
    }
    fn bad(key: &str, value: &str) -> String {
        check_value(key, value, NotifyKind::Subscribe)
            .expect_err(&format!("{key}={value} should be refused"))
    }

    #[test]
    fn key_types_drop_trailing_digits() {
        assert_eq!(key_type("thing1"), "thing");
        assert_eq!(key_type("character_string12"), "character_string");
        assert_eq!(key_type("first"), "first");
    }

    #[test]
    fn keywords_come_from_the_content() {
        assert_eq!(
            keywords(
                "商品:{{thing1.DATA}}\n单号:{{character_string2.DATA}}\n时间:{{ time3.DATA }}{{thing1.DATA}}"
            ),
            ["thing1", "character_string2", "time3"]
        );
        assert!(keywords("no placeholders").is_empty());
    }

    #[test]
    fn value_types_follow_the_table() {
        ok("thing1", "绿茶礼盒");
        ok("thing1", &"好".repeat(20));
        assert!(
            bad("thing1", &"好".repeat(21)).contains("21 characters, the limit for thing is 20")
        );
        assert!(bad("thing1", "").contains("empty"));
        ok("number2", "12.5");
        bad("number2", "12a");
        ok("letter3", "ABC");
        bad("letter3", "AB1");
        ok("symbol4", "%");
        bad("symbol4", "%%%%%%");
        bad("symbol4", "a");
        ok("character_string5", "SO-20240501-1001");
        assert!(bad("character_string5", "单号1001").contains("Chinese"));
        bad("character_string5", &"x".repeat(33));
        ok("time6", "15:01");
        ok("time6", "2019年10月1日 15:01");
        ok("time6", "2024-05-01 14:30");
        ok("time6", "2024-05-01 14:30~15:30");
        bad("time6", "明天");
        bad("time6", "25:00");
        ok("date7", "2019年10月1日");
        ok("date7", "2019-10-01 15:01");
        bad("date7", "15:01");
        ok("amount8", "¥100.00");
        ok("amount8", "100元");
        bad("amount8", "¥100元");
        bad("amount8", "¥12345678901");
        assert_eq!(
            check_value("amount8", "¥123456789012", NotifyKind::Template),
            Ok(())
        );
        ok("phone_number9", "+86-10-12345678");
        bad("phone_number9", "电话");
        ok("car_number10", "粤B12345");
        bad("car_number10", "粤B1234567");
        bad("car_number10", "粤B12中45");
        ok("name11", "张三");
        ok("name11", "Zhang San");
        bad("name11", &"张".repeat(11));
        ok("phrase12", "配送中");
        bad("phrase12", "已经配送中了");
        bad("phrase12", "ok");
        // Old industry templates: free text.
        ok("first", "您好，您的订单已发货\n请注意查收");
        ok("keyword1", &"x".repeat(200));
        // `const` is a template-message type only.
        assert!(check_value("const1", &"x".repeat(21), NotifyKind::Template).is_err());
    }

    #[test]
    fn data_is_checked_against_the_keywords() {
        let kw: Vec<String> = ["thing1", "time3"].map(String::from).to_vec();
        let d = data([("thing1", "绿茶"), ("time3", "2024-05-01 14:30")]);
        assert_eq!(check_data(&d, Some(&kw), NotifyKind::Template), Ok(()));
        let d = data([("thing1", "绿茶"), ("thing9", "x")]);
        let errors = check_data(&d, Some(&kw), NotifyKind::Template).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|e| e.starts_with("data.time3.value: missing")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("data.thing9.value: not a keyword")),
            "{text:?}"
        );
        assert!(check_data(&Data::new(), None, NotifyKind::Template).is_err());
    }

    #[test]
    fn bodies_are_wechats_shapes() {
        let m = TemplateMessage {
            touser: OpenId::new("o1"),
            template_id: "T1".into(),
            url: Some("https://shop.example.com/1".into()),
            miniprogram: None,
            client_msg_id: None,
            data: data([("thing1", "绿茶")]),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"touser":"o1","template_id":"T1","url":"https://shop.example.com/1","data":{"thing1":{"value":"绿茶"}}})
        );
        let c: CustomContent = serde_json::from_value(
            json!({"type":"msgmenu","head_content":"打分","list":[{"id":"101","content":"满意"}]}),
        )
        .unwrap();
        let msg = c.to_message(&OpenId::new("o1")).unwrap();
        assert_eq!(msg.msg_type(), "msgmenu");
        assert_eq!(msg.body()["msgmenu"]["list"][0]["id"], "101");
        let c: CustomContent =
            serde_json::from_value(json!({"type":"text","content":"hi"})).unwrap();
        assert_eq!(
            c.to_message(&OpenId::new("o1")).unwrap().body()["text"]["content"],
            "hi"
        );
        let c: CustomContent = serde_json::from_value(json!({"type":"miniprogrampage","title":"t","appid":"wx1","pagepath":"","thumb_media_id":"M"})).unwrap();
        assert!(c.to_message(&OpenId::new("o1")).is_err());
        assert!(serde_json::from_value::<CustomContent>(json!({"type":"nope"})).is_err());
    }

    /// Answers one request with `answer`; yields the request line and body it got.
    async fn serve_once(
        answer: &'static str,
    ) -> (String, tokio::task::JoinHandle<(String, String)>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head, body) = loop {
                let n = socket.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if body.len() >= length || n == 0 {
                        break (head.to_owned(), body.to_owned());
                    }
                }
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
            (head.lines().next().unwrap_or_default().to_owned(), body)
        });
        (base, handle)
    }

    fn client(base: &str) -> Client {
        Client::new(crate::client::ClientConfig {
            api_base: base.to_owned(),
            appid: crate::types::AppId::parse("wxffde55b11cc79754").unwrap(),
            secret: crate::types::AppSecret::new("84e86527f090d6238ea1c0b96f5fc753"),
            timeout: std::time::Duration::from_secs(2),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn sends_post_wechats_bodies_and_return_the_msgid() {
        let (base, seen) = serve_once(r#"{"errcode":0,"errmsg":"ok","msgid":200228332}"#).await;
        let m = TemplateMessage {
            touser: OpenId::new("o1"),
            template_id: "T1".into(),
            url: None,
            miniprogram: None,
            client_msg_id: Some("order-1".into()),
            data: data([("thing1", "绿茶")]),
        };
        let msgid = client(&base)
            .send_template(&AccessToken::new("TOKEN"), &m)
            .await
            .unwrap();
        assert_eq!(msgid.as_deref(), Some("200228332"));
        let (line, body) = seen.await.unwrap();
        assert_eq!(
            line,
            "POST /cgi-bin/message/template/send?access_token=TOKEN HTTP/1.1"
        );
        assert!(body.contains("\"thing1\":{\"value\":\"绿茶\"}"), "{body}");
        assert!(body.contains("\"client_msg_id\":\"order-1\""), "{body}");

        let (base, _) =
            serve_once(r#"{"errcode":43101,"errmsg":"user refuse to accept the msg rid: 1-2"}"#)
                .await;
        let s = SubscribeMessage {
            touser: OpenId::new("o1"),
            template_id: "S1".into(),
            page: None,
            miniprogram: None,
            data: data([("phrase1", "已发货")]),
        };
        let e = client(&base)
            .send_subscribe(&AccessToken::new("TOKEN"), &s)
            .await
            .unwrap_err();
        assert_eq!(e.errcode(), Some(crate::ErrCode::USER_REFUSED_NOTICE));

        let (base, seen) = serve_once(
            r#"{"errcode":0,"errmsg":"ok","data":[{"priTmplId":"P1","title":"预约","content":"项目:{{thing1.DATA}}\n时间:{{time2.DATA}}","example":"","type":2}]}"#,
        )
        .await;
        let list = client(&base)
            .subscribe_template_list(&AccessToken::new("TOKEN"))
            .await
            .unwrap();
        assert_eq!(list[0].template_id, "P1");
        assert_eq!(list[0].keywords(), ["thing1", "time2"]);
        assert_eq!(list[0].kind, Some(2));
        assert!(
            seen.await
                .unwrap()
                .0
                .starts_with("GET /wxaapi/newtmpl/gettemplate?access_token=TOKEN")
        );
    }

    #[test]
    fn msgids_stay_exact() {
        assert_eq!(
            msgid_text(Some(json!(1800123456789012345u64))).as_deref(),
            Some("1800123456789012345")
        );
        assert_eq!(msgid_text(None), None);
    }
}
