//! Custom menus (§D): validation with WeChat's error codes, the default and personalized
//! (conditional) menus, and which menu a user sees. Plain functions and data, no HTTP.
//!
//! Buttons are stored normalized, as `menu/get` echoes them: only the fields of their type, and
//! `sub_button: []` on every leaf.
//!
//! This validation is written again, on purpose, rather than calling `wechat::menu::validate`:
//! the simulator is an independent oracle. Written from docs/wechat-protocol.md §D on its own,
//! and answering with WeChat's error codes (40016…40027, 65303, 65316, 65320) rather than
//! wxgate's messages, it catches a mistake in wxgate's local checks instead of sharing it.

use serde_json::{Map, Value, json};

use crate::users::SimUser;

/// Top-level name limit in bytes (UTF-8), and the sub-button one.
pub const NAME_MAX: usize = 16;
pub const SUB_NAME_MAX: usize = 60;
pub const KEY_MAX: usize = 128;
pub const URL_MAX: usize = 1024;
/// At most this many distinct URL hosts in one menu (65316).
pub const DOMAINS_MAX: usize = 3;

/// Types that need a `key` and push an event with it.
const KEY_TYPES: [&str; 7] = [
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

/// Fields of a matchrule that WeChat rejects since the privacy change (65320).
const PRIVACY_FIELDS: [&str; 5] = ["sex", "country", "province", "city", "language"];

/// One menu: the default one (no matchrule) or a personalized one.
#[derive(Clone, Debug)]
pub struct Menu {
    pub menuid: u64,
    pub buttons: Vec<Value>,
    pub matchrule: Option<Value>,
}

impl Menu {
    /// As `menu/get` shows it.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("button".into(), Value::Array(self.buttons.clone()));
        if let Some(rule) = &self.matchrule {
            m.insert("matchrule".into(), rule.clone());
        }
        m.insert("menuid".into(), self.menuid.into());
        Value::Object(m)
    }

    fn matches(&self, user: &SimUser) -> bool {
        let Some(Value::Object(rule)) = &self.matchrule else {
            return false;
        };
        rule.iter().all(|(k, v)| {
            let v = v.as_str().unwrap_or_default();
            match k.as_str() {
                "tag_id" | "group_id" => user.tags.iter().any(|t| t == v),
                "client_platform_type" => user
                    .client_platform_type
                    .is_some_and(|p| p.to_string() == v),
                _ => false,
            }
        })
    }
}

#[derive(Default)]
pub struct Menus {
    pub default: Option<Menu>,
    /// Oldest first.
    pub conditional: Vec<Menu>,
    next_id: u64,
}

impl Menus {
    fn new_id(&mut self) -> u64 {
        if self.next_id == 0 {
            // Nine digits, like WeChat's (e.g. 208379533).
            self.next_id = 200_000_000 + u64::from(rand::random::<u32>() % 100_000_000);
        }
        self.next_id += 1;
        self.next_id
    }

    /// `menu/create`: replaces the default menu (personalized ones stay).
    pub fn create(&mut self, buttons: Vec<Value>) -> u64 {
        let menuid = self.new_id();
        self.default = Some(Menu {
            menuid,
            buttons,
            matchrule: None,
        });
        menuid
    }

    /// `menu/delete`: the default menu and every personalized one.
    pub fn delete_all(&mut self) {
        self.default = None;
        self.conditional.clear();
    }

    /// `menu/addconditional`: 65303 without a default menu.
    pub fn add_conditional(&mut self, buttons: Vec<Value>, matchrule: Value) -> Result<u64, i64> {
        if self.default.is_none() {
            return Err(65303);
        }
        let menuid = self.new_id();
        self.conditional.push(Menu {
            menuid,
            buttons,
            matchrule: Some(matchrule),
        });
        Ok(menuid)
    }

    /// `menu/delconditional`: 65301 for an unknown menuid.
    pub fn del_conditional(&mut self, menuid: u64) -> Result<(), i64> {
        let before = self.conditional.len();
        self.conditional.retain(|m| m.menuid != menuid);
        if self.conditional.len() == before {
            return Err(65301);
        }
        Ok(())
    }

    /// The menu `user` sees: the newest matching personalized menu, else the default one.
    pub fn effective(&self, user: &SimUser) -> Option<&Menu> {
        self.default.as_ref()?;
        self.conditional
            .iter()
            .rev()
            .find(|m| m.matches(user))
            .or(self.default.as_ref())
    }

    /// `menu/get`: 46003 without a menu.
    pub fn get_json(&self) -> Result<Value, i64> {
        let default = self.default.as_ref().ok_or(46003)?;
        let mut m = Map::new();
        m.insert("menu".into(), default.to_json());
        if !self.conditional.is_empty() {
            m.insert(
                "conditionalmenu".into(),
                self.conditional.iter().map(Menu::to_json).collect(),
            );
        }
        Ok(Value::Object(m))
    }

    /// `get_current_selfmenu_info`: sub-menus as `{"list": [...]}`, leaves without
    /// `sub_button`.
    pub fn selfmenu_json(&self) -> Value {
        let buttons: Vec<Value> = self
            .default
            .iter()
            .flat_map(|m| m.buttons.iter())
            .map(|b| {
                let mut b = b.as_object().cloned().unwrap_or_default();
                match b.remove("sub_button") {
                    Some(Value::Array(subs)) if !subs.is_empty() => {
                        let list: Vec<Value> = subs
                            .into_iter()
                            .map(|s| {
                                let mut s = s.as_object().cloned().unwrap_or_default();
                                s.remove("sub_button");
                                Value::Object(s)
                            })
                            .collect();
                        b.insert("sub_button".into(), json!({ "list": list }));
                    }
                    _ => {}
                }
                Value::Object(b)
            })
            .collect();
        json!({
            "is_menu_open": u8::from(self.default.is_some()),
            "selfmenu_info": {"button": buttons},
        })
    }
}

/// Reads a menu request body: 44002 empty, 65318 not UTF-8, 40033 `\uXXXX` escapes, 40016
/// not JSON (WeChat's answer to a malformed menu).
pub fn parse_body(body: &[u8]) -> Result<Value, i64> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(44002);
    }
    let text = std::str::from_utf8(body).map_err(|_| 65318)?;
    if has_unicode_escape(text) {
        return Err(40033);
    }
    serde_json::from_str(text).map_err(|_| 40016)
}

/// Whether the JSON text has a `\u` escape (an odd run of backslashes before `u`).
fn has_unicode_escape(text: &str) -> bool {
    let mut backslashes = 0usize;
    for c in text.chars() {
        if c == 'u' && backslashes % 2 == 1 {
            return true;
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    false
}

/// Validates `{"button": [...]}` and returns the normalized buttons.
pub fn check_menu(body: &Value) -> Result<Vec<Value>, i64> {
    let buttons = match body.get("button") {
        Some(Value::Array(b)) if (1..=3).contains(&b.len()) => b,
        _ => return Err(40016),
    };
    let out = buttons
        .iter()
        .map(|b| check_button(b, false))
        .collect::<Result<Vec<_>, _>>()?;
    let mut hosts: Vec<String> = Vec::new();
    for b in &out {
        let subs = b["sub_button"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for leaf in std::iter::once(b).chain(subs) {
            if let Some(host) = leaf["url"].as_str().and_then(url_host)
                && !hosts.contains(&host)
            {
                hosts.push(host);
            }
        }
    }
    if hosts.len() > DOMAINS_MAX {
        return Err(65316);
    }
    Ok(out)
}

/// The host a URL links to (lower-case, no port): one of the menu's [`DOMAINS_MAX`] domains.
fn url_host(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
}

fn check_button(b: &Value, sub: bool) -> Result<Value, i64> {
    // (top-level code, sub-button code)
    let code = |top: i64, s: i64| if sub { s } else { top };
    let obj = b.as_object().ok_or(code(40017, 40024))?;
    let name = obj.get("name").and_then(Value::as_str).unwrap_or_default();
    let name_max = if sub { SUB_NAME_MAX } else { NAME_MAX };
    if name.is_empty() || name.len() > name_max {
        return Err(code(40018, 40025));
    }
    let subs = obj.get("sub_button");
    match subs {
        Some(Value::Array(list)) if !list.is_empty() => {
            if sub {
                // No third level.
                return Err(40024);
            }
            if list.len() > 5 {
                return Err(40023);
            }
            let list = list
                .iter()
                .map(|s| check_button(s, true))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(json!({"name": name, "sub_button": list}));
        }
        Some(Value::Array(_)) | None => {}
        Some(_) => return Err(code(40023, 40024)),
    }
    let Some(kind) = obj.get("type") else {
        // Neither an action nor a sub-menu.
        return Err(match (sub, subs) {
            (true, _) => 40024,
            (false, None) => 41007,
            (false, Some(_)) => 40023,
        });
    };
    let kind = kind.as_str().unwrap_or_default();
    let text = |field: &str| obj.get(field).and_then(Value::as_str).unwrap_or_default();
    let mut out = Map::new();
    out.insert("type".into(), kind.into());
    out.insert("name".into(), name.into());
    let check_url = |out: &mut Map<String, Value>| -> Result<(), i64> {
        let url = text("url");
        if url.is_empty() || url.len() > URL_MAX {
            return Err(code(40020, 40027));
        }
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(code(40055, 40054));
        }
        // `http://` alone: no domain to link to.
        if url_host(url).is_none() {
            return Err(code(40055, 40054));
        }
        out.insert("url".into(), url.into());
        Ok(())
    };
    match kind {
        k if KEY_TYPES.contains(&k) => {
            let key = text("key");
            if key.is_empty() || key.len() > KEY_MAX {
                return Err(code(40019, 40026));
            }
            out.insert("key".into(), key.into());
        }
        "view" => check_url(&mut out)?,
        "miniprogram" => {
            check_url(&mut out)?;
            let appid = text("appid");
            if appid.is_empty() {
                return Err(40166);
            }
            let pagepath = text("pagepath");
            if pagepath.is_empty() {
                return Err(40165);
            }
            out.insert("appid".into(), appid.into());
            out.insert("pagepath".into(), pagepath.into());
        }
        "media_id" | "view_limited" => {
            let media_id = text("media_id");
            if media_id.is_empty() {
                return Err(40007);
            }
            out.insert("media_id".into(), media_id.into());
        }
        "article_id" | "article_view_limited" => {
            let article_id = text("article_id");
            if article_id.is_empty() {
                return Err(40007);
            }
            out.insert("article_id".into(), article_id.into());
        }
        _ => return Err(code(40017, 40024)),
    }
    out.insert("sub_button".into(), json!([]));
    Ok(Value::Object(out))
}

/// Validates a personalized menu's matchrule: 65320 for a privacy field (sex, region,
/// language), 65304 when nothing is left to match on. Returns the rule with its values as
/// strings (how `menu/get` echoes them).
pub fn check_matchrule(rule: Option<&Value>) -> Result<Value, i64> {
    let Some(Value::Object(rule)) = rule else {
        return Err(65304);
    };
    let present = |v: &Value| match v {
        Value::String(s) => (!s.is_empty()).then(|| s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    for field in PRIVACY_FIELDS {
        if rule.get(field).and_then(present).is_some() {
            return Err(65320);
        }
    }
    let mut out = Map::new();
    for field in ["tag_id", "group_id", "client_platform_type"] {
        if let Some(v) = rule.get(field).and_then(present) {
            out.insert(field.into(), v.into());
        }
    }
    if out.is_empty() {
        return Err(65304);
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_escapes_are_found_only_when_real() {
        assert!(has_unicode_escape(r#"{"name":"\u83dc"}"#));
        assert!(!has_unicode_escape(r#"{"name":"\\u83dc"}"#));
        assert!(has_unicode_escape(r#"{"name":"\\\u83dc"}"#));
        assert!(!has_unicode_escape(r#"{"name":"菜单"}"#));
    }

    #[test]
    fn leaves_echo_an_empty_sub_button() {
        let menu =
            json!({"button": [{"type": "click", "name": "今日歌曲", "key": "K", "url": "x"}]});
        let b = check_menu(&menu).unwrap();
        assert_eq!(
            b[0],
            json!({"type": "click", "name": "今日歌曲", "key": "K", "sub_button": []})
        );
        // What menu/get returned can be posted back.
        assert_eq!(check_menu(&json!({"button": b})).unwrap(), b);
    }
}
