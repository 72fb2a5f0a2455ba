//! Custom menus (自定义菜单, docs/wechat-protocol.md §D) as plain data: the same types read a
//! menu file (WeChat's JSON, or TOML with the same field names), are checked against every
//! limit of §D.1 *before* any API call ([`validate`]), are sent to `menu/create`, and come back
//! from `menu/get` so that [`diff`] can say what publishing would change.
//!
//! Field names are WeChat's own (`sub_button`, `media_id`, `matchrule`…) so a menu copied from
//! the official docs or from `menu/get` works as is.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

/// A menu: the default one (no `matchrule`) or a personalized one (个性化菜单, §D.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    #[serde(default)]
    pub button: Vec<Button>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matchrule: Option<MatchRule>,
}

/// One button, top level or inside a `sub_button` list (§D.1). A top-level button has either
/// a `type` or a `sub_button` list; which other fields it needs depends on the type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub article_id: Option<String>,
    /// `menu/get` echoes `"sub_button": []` on leaves; empty and absent mean the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_button: Vec<Button>,
}

/// Who sees a personalized menu (§D.5). All fields are strings on the wire; numbers (as some
/// `menu/get` answers carry) are accepted and kept as their decimal text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRule {
    /// A user tag id (用户标签).
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub tag_id: Option<String>,
    /// `1` iOS, `2` Android, `3` others.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_platform_type: Option<String>,
    /// Legacy: now rejected by WeChat with 65320, like every privacy field below.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub sex: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub country: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub province: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Option<String>,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub language: Option<String>,
    /// Legacy user group (replaced by tags); still accepted by the API.
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub group_id: Option<String>,
}

impl MatchRule {
    /// `(field name, value)` for every field, in wire order.
    fn fields(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("tag_id", &self.tag_id),
            ("client_platform_type", &self.client_platform_type),
            ("sex", &self.sex),
            ("country", &self.country),
            ("province", &self.province),
            ("city", &self.city),
            ("language", &self.language),
            ("group_id", &self.group_id),
        ]
    }

    /// The fields that are set, trimmed; empty strings (as `menu/get` echoes for unset
    /// fields) count as unset.
    fn set_fields(&self) -> Vec<(&'static str, &str)> {
        self.fields()
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_deref()?.trim())).filter(|(_, v)| !v.is_empty()))
            .collect()
    }

    /// Whether two rules pick the same users: the same fields set to the same values, however
    /// WeChat spelt them (`2` or `"2"`, unset or `""`). WeChat shows a user the newest
    /// conditional menu whose rule matches, so two menus with the same rule are a duplicate.
    pub fn same_as(&self, other: &MatchRule) -> bool {
        self.set_fields() == other.set_fields()
    }
}

/// `tag_id = "2", client_platform_type = "1"`, or `(empty)`.
impl fmt::Display for MatchRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields = self.set_fields();
        if fields.is_empty() {
            return f.write_str("(empty)");
        }
        let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k} = {v:?}")).collect();
        f.write_str(&parts.join(", "))
    }
}

/// A menu as `menu/get` returns it: the menu plus WeChat's `menuid`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteMenu {
    #[serde(flatten)]
    pub menu: Menu,
    #[serde(
        default,
        deserialize_with = "opt_string_or_number",
        skip_serializing_if = "Option::is_none"
    )]
    pub menuid: Option<String>,
}

/// Everything `menu/get` knows (§D.2): the default menu and the personalized ones. An account
/// without a menu (errcode 46003) is an empty set, not an error.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu: Option<RemoteMenu>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditionalmenu: Vec<RemoteMenu>,
}

impl MenuSet {
    /// The default menu without its menuid, or an empty menu when there is none: what
    /// [`diff`] compares a local file against.
    pub fn default_menu(&self) -> Menu {
        self.menu
            .as_ref()
            .map(|m| m.menu.clone())
            .unwrap_or_default()
    }

    /// No menu at all: `menu/get` answered 46003 or nothing, or a default menu without buttons.
    pub fn is_empty(&self) -> bool {
        self.menu.as_ref().is_none_or(|m| m.menu.button.is_empty())
            && self.conditionalmenu.is_empty()
    }

    /// The conditional menus whose matchrule is the [same](MatchRule::same_as) as `rule`, in
    /// `menu/get` order. Normally one; more when the same rule was added twice.
    pub fn conditional_with(&self, rule: &MatchRule) -> Vec<&RemoteMenu> {
        self.conditionalmenu
            .iter()
            .filter(|m| m.menu.matchrule.as_ref().is_some_and(|r| r.same_as(rule)))
            .collect()
    }
}

/// Accepts `"208379533"`, `208379533` or `null`; WeChat is not consistent about menuid and
/// matchrule value types between endpoints.
pub(crate) fn opt_string_or_number<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        S(String),
        I(i64),
        F(f64),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        None => None,
        Some(Raw::S(s)) => Some(s),
        Some(Raw::I(i)) => Some(i.to_string()),
        Some(Raw::F(f)) => Some(f.to_string()),
    })
}

// ---------------------------------------------------------------------------------------------
// Limits (§D.1)

/// Top-level buttons per menu.
pub const MAX_BUTTONS: usize = 3;
/// Buttons in one `sub_button` list.
pub const MAX_SUB_BUTTONS: usize = 5;
/// `name` of a top-level button, in UTF-8 bytes (about 4 Chinese characters).
pub const MAX_NAME_BYTES: usize = 16;
/// `name` of a sub-button, in UTF-8 bytes (older docs said 40).
pub const MAX_SUB_NAME_BYTES: usize = 60;
/// `key` of click-like buttons, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// `url` of view and miniprogram buttons, in bytes (older docs said 256).
pub const MAX_URL_BYTES: usize = 1024;
/// Distinct hosts the `url`s of one menu (default or conditional) may link to (65316).
pub const MAX_URL_DOMAINS: usize = 3;

/// Types that send the developer an event carrying `key`.
pub const CLICK_LIKE_TYPES: &[&str] = &[
    "click",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
];

/// Every type `menu/create` accepts.
pub const BUTTON_TYPES: &[&str] = &[
    "click",
    "view",
    "scancode_push",
    "scancode_waitmsg",
    "pic_sysphoto",
    "pic_photo_or_album",
    "pic_weixin",
    "location_select",
    "media_id",
    "view_limited",
    "article_id",
    "article_view_limited",
    "miniprogram",
];

/// Match-rule fields WeChat now rejects with 65320 (gender, region, language).
const PRIVACY_FIELDS: &[&str] = &["sex", "country", "province", "city", "language"];

/// One broken rule. `path` points at the offending value the way it is written in WeChat's
/// JSON, with **0-based** indices: `button[2].sub_button[1].name` is the second sub-button of
/// the third top-level button.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MenuError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for MenuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for MenuError {}

/// Checks every limit of §D.1 (and the match-rule rules of §D.5) locally, so a bad menu is
/// reported with a path instead of WeChat's bare `40018 invalid button name size`. Returns
/// every error found, not only the first.
pub fn validate(menu: &Menu) -> Result<(), Vec<MenuError>> {
    let mut errors = Errors(Vec::new());
    let n = menu.button.len();
    if n == 0 {
        errors.push("button", "no buttons; a menu needs 1 to 3");
    } else if n > MAX_BUTTONS {
        errors.push("button", format!("{n} buttons, limit {MAX_BUTTONS}"));
    }
    for (i, button) in menu.button.iter().enumerate() {
        let path = format!("button[{i}]");
        check_name(&mut errors, &path, &button.name, MAX_NAME_BYTES);
        match (button.kind.is_some(), button.sub_button.is_empty()) {
            (true, false) => errors.push(
                &path,
                "has both a type and sub_button; a top-level button has one or the other",
            ),
            (false, true) => errors.push(
                &path,
                "has neither a type nor sub_button; give it a type or 1 to 5 sub-buttons",
            ),
            (true, true) => check_action(&mut errors, &path, button),
            (false, false) => {
                let m = button.sub_button.len();
                if m > MAX_SUB_BUTTONS {
                    errors.push(
                        format!("{path}.sub_button"),
                        format!("{m} buttons, limit {MAX_SUB_BUTTONS}"),
                    );
                }
                for (j, sub) in button.sub_button.iter().enumerate() {
                    let path = format!("{path}.sub_button[{j}]");
                    check_name(&mut errors, &path, &sub.name, MAX_SUB_NAME_BYTES);
                    if !sub.sub_button.is_empty() {
                        errors.push(
                            format!("{path}.sub_button"),
                            "menus nest only two levels; a sub-button cannot have sub_button",
                        );
                    }
                    if sub.kind.is_none() {
                        errors.push(format!("{path}.type"), "required for a sub-button");
                    } else {
                        check_action(&mut errors, &path, sub);
                    }
                }
            }
        }
    }
    check_domains(&mut errors, menu);
    if let Some(rule) = &menu.matchrule {
        check_matchrule(&mut errors, rule);
    }
    if errors.0.is_empty() {
        Ok(())
    } else {
        Err(errors.0)
    }
}

struct Errors(Vec<MenuError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(MenuError {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn check_name(errors: &mut Errors, path: &str, name: &str, limit: usize) {
    let path = format!("{path}.name");
    if name.trim().is_empty() {
        errors.push(path, "required");
    } else if name.len() > limit {
        errors.push(path, format!("{} bytes, limit {limit}", name.len()));
    }
}

/// Checks `type` and the fields that type needs. `path` is the button's path.
fn check_action(errors: &mut Errors, path: &str, button: &Button) {
    let Some(kind) = button.kind.as_deref() else {
        return;
    };
    if !BUTTON_TYPES.contains(&kind) {
        errors.push(
            format!("{path}.type"),
            format!(
                "unknown type {kind:?}; allowed: {}",
                BUTTON_TYPES.join(", ")
            ),
        );
        return;
    }
    let required = |errors: &mut Errors, field: &str, value: &Option<String>| -> bool {
        match value.as_deref() {
            Some(v) if !v.trim().is_empty() => true,
            _ => {
                errors.push(
                    format!("{path}.{field}"),
                    format!("required for type {kind}"),
                );
                false
            }
        }
    };
    if CLICK_LIKE_TYPES.contains(&kind) {
        if required(errors, "key", &button.key) {
            let len = button.key.as_deref().unwrap_or_default().len();
            if len > MAX_KEY_BYTES {
                errors.push(
                    format!("{path}.key"),
                    format!("{len} bytes, limit {MAX_KEY_BYTES}"),
                );
            }
        }
        return;
    }
    match kind {
        "view" | "miniprogram" => {
            if required(errors, "url", &button.url) {
                let url = button.url.as_deref().unwrap_or_default();
                if url.len() > MAX_URL_BYTES {
                    errors.push(
                        format!("{path}.url"),
                        format!("{} bytes, limit {MAX_URL_BYTES}", url.len()),
                    );
                }
                if !has_http_scheme(url) {
                    errors.push(
                        format!("{path}.url"),
                        "must start with http:// or https:// (WeChat answers 40054/40055 otherwise)",
                    );
                } else if let Err(e) = url_host(url) {
                    let problem = match e {
                        url::ParseError::EmptyHost => "has no host".to_owned(),
                        other => format!("is not a valid URL ({other})"),
                    };
                    errors.push(
                        format!("{path}.url"),
                        format!("{url:?} {problem}; write the whole address, e.g. https://example.com/page"),
                    );
                }
            }
            if kind == "miniprogram" {
                required(errors, "appid", &button.appid);
                required(errors, "pagepath", &button.pagepath);
            }
        }
        "media_id" | "view_limited" => {
            required(errors, "media_id", &button.media_id);
        }
        "article_id" | "article_view_limited" => {
            required(errors, "article_id", &button.article_id);
        }
        _ => {}
    }
}

/// The host a button's `url` links to, lower-case and without port: what WeChat counts as one
/// of the menu's 3 domains.
fn url_host(url: &str) -> Result<String, url::ParseError> {
    let parsed = url::Url::parse(url)?;
    match parsed.host_str() {
        Some(host) if !host.is_empty() => Ok(host.to_ascii_lowercase()),
        _ => Err(url::ParseError::EmptyHost),
    }
}

/// At most [`MAX_URL_DOMAINS`] distinct hosts over the menu's view and miniprogram URLs, in
/// WeChat's order (each top-level button, then its sub-buttons). The error names the button
/// that brings the first domain too many. URLs already reported as broken are not counted.
fn check_domains(errors: &mut Errors, menu: &Menu) {
    let mut hosts: Vec<String> = Vec::new();
    for (i, button) in menu.button.iter().enumerate() {
        let top = std::iter::once((format!("button[{i}]"), button));
        let subs = button
            .sub_button
            .iter()
            .enumerate()
            .map(move |(j, sub)| (format!("button[{i}].sub_button[{j}]"), sub));
        for (path, b) in top.chain(subs) {
            if !matches!(b.kind.as_deref(), Some("view" | "miniprogram")) {
                continue;
            }
            let Some(url) = b.url.as_deref().filter(|u| has_http_scheme(u)) else {
                continue;
            };
            let Ok(host) = url_host(url) else { continue };
            if hosts.contains(&host) {
                continue;
            }
            if hosts.len() == MAX_URL_DOMAINS {
                errors.push(
                    format!("{path}.url"),
                    format!(
                        "a {}th domain ({host}); WeChat allows {MAX_URL_DOMAINS} per menu (65316), and this one already links to {}",
                        MAX_URL_DOMAINS + 1,
                        hosts.join(", ")
                    ),
                );
                return;
            }
            hosts.push(host);
        }
    }
}

fn has_http_scheme(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn check_matchrule(errors: &mut Errors, rule: &MatchRule) {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !rule.fields().iter().any(|(_, v)| set(v)) {
        errors.push(
            "matchrule",
            "empty; set tag_id or client_platform_type (WeChat answers 65304 otherwise)",
        );
    }
    for (field, value) in rule.fields() {
        if PRIVACY_FIELDS.contains(&field) && set(value) {
            errors.push(
                format!("matchrule.{field}"),
                "gender, region and language rules are no longer allowed (WeChat answers 65320); use tag_id",
            );
        }
    }
    if let Some(p) = rule.client_platform_type.as_deref()
        && !p.trim().is_empty()
        && !matches!(p.trim(), "1" | "2" | "3")
    {
        errors.push(
            "matchrule.client_platform_type",
            format!("{p:?}; must be 1 (iOS), 2 (Android) or 3 (others)"),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Menu files

/// The syntax of a menu file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MenuFormat {
    /// `[[button]]` tables with `[[button.sub_button]]`, same field names as the JSON.
    Toml,
    /// WeChat's own `{"button":[…]}`.
    Json,
}

impl MenuFormat {
    /// By extension: `.json` (any letter case) is JSON, anything else (`.toml`, no extension)
    /// is read as TOML, whose parse error then says so.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Toml,
        }
    }
}

/// Parses a menu file. Syntax errors carry the parser's line and column; misspelt field names
/// (`subbutton`, `types`…) are errors with their path rather than silently ignored. This does
/// not check WeChat's limits: call [`validate`] next.
pub fn parse_menu_file(text: &str, kind: MenuFormat) -> Result<Menu, String> {
    let value: serde_json::Value = match kind {
        MenuFormat::Toml => toml::from_str(text).map_err(|e| format!("invalid TOML: {e}"))?,
        MenuFormat::Json => serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?,
    };
    check_known_fields(&value)?;
    match kind {
        MenuFormat::Toml => toml::from_str(text).map_err(|e| format!("invalid menu: {e}")),
        MenuFormat::Json => serde_json::from_str(text).map_err(|e| format!("invalid menu: {e}")),
    }
}

const MENU_FIELDS: &[&str] = &["button", "matchrule"];
const BUTTON_FIELDS: &[&str] = &[
    "name",
    "type",
    "key",
    "url",
    "media_id",
    "appid",
    "pagepath",
    "article_id",
    "sub_button",
];
const MATCHRULE_FIELDS: &[&str] = &[
    "tag_id",
    "client_platform_type",
    "sex",
    "country",
    "province",
    "city",
    "language",
    "group_id",
];

fn check_known_fields(value: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    fn unknown(
        object: &serde_json::Map<String, Value>,
        allowed: &[&str],
        path: &str,
        out: &mut Vec<String>,
    ) {
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                let at = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                out.push(format!(
                    "{at}: unknown field (known: {})",
                    allowed.join(", ")
                ));
            }
        }
    }
    fn buttons(value: Option<&Value>, path: &str, out: &mut Vec<String>) {
        let Some(Value::Array(list)) = value else {
            return;
        };
        for (i, b) in list.iter().enumerate() {
            if let Value::Object(o) = b {
                let path = format!("{path}[{i}]");
                unknown(o, BUTTON_FIELDS, &path, out);
                buttons(o.get("sub_button"), &format!("{path}.sub_button"), out);
            }
        }
    }
    let Value::Object(top) = value else {
        return Err("a menu must be an object with a \"button\" list".into());
    };
    let mut out = Vec::new();
    if top.contains_key("menu") && !top.contains_key("button") {
        return Err(
            "this looks like menu/get output: use the object inside \"menu\" (its \"button\" list)"
                .into(),
        );
    }
    unknown(top, MENU_FIELDS, "", &mut out);
    buttons(top.get("button"), "button", &mut out);
    if let Some(Value::Object(rule)) = top.get("matchrule") {
        unknown(rule, MATCHRULE_FIELDS, "matchrule", &mut out);
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(out.join("; "))
    }
}

// ---------------------------------------------------------------------------------------------
// Diff

/// What publishing `local` would change in `remote` (e.g. from `menu/get`), one line per
/// difference, by path with 0-based indices; empty when they are the same menu. Buttons are
/// compared by position, as WeChat shows them. Absent, `null`, empty strings and the
/// `"sub_button": []` that `menu/get` echoes on leaves all count as "not set".
pub fn diff(local: &Menu, remote: &Menu) -> Vec<String> {
    let mut out = Vec::new();
    diff_buttons(&mut out, "button", &local.button, &remote.button);
    let none = MatchRule::default();
    let l = local.matchrule.as_ref().unwrap_or(&none);
    let r = remote.matchrule.as_ref().unwrap_or(&none);
    for ((field, lv), (_, rv)) in l.fields().into_iter().zip(r.fields()) {
        diff_value(&mut out, &format!("matchrule.{field}"), lv, rv);
    }
    out
}

fn diff_buttons(out: &mut Vec<String>, path: &str, local: &[Button], remote: &[Button]) {
    for i in 0..local.len().max(remote.len()) {
        let path = format!("{path}[{i}]");
        match (local.get(i), remote.get(i)) {
            (Some(l), None) => out.push(format!("{path}: added {}", describe(l))),
            (None, Some(r)) => out.push(format!("{path}: removed {}", describe(r))),
            (Some(l), Some(r)) => {
                let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                diff_value(out, &format!("{path}.name"), &text(&l.name), &text(&r.name));
                for ((field, lv), (_, rv)) in button_fields(l).into_iter().zip(button_fields(r)) {
                    diff_value(out, &format!("{path}.{field}"), lv, rv);
                }
                diff_buttons(
                    out,
                    &format!("{path}.sub_button"),
                    &l.sub_button,
                    &r.sub_button,
                );
            }
            (None, None) => {}
        }
    }
}

fn button_fields(b: &Button) -> [(&'static str, &Option<String>); 7] {
    [
        ("type", &b.kind),
        ("key", &b.key),
        ("url", &b.url),
        ("media_id", &b.media_id),
        ("appid", &b.appid),
        ("pagepath", &b.pagepath),
        ("article_id", &b.article_id),
    ]
}

fn diff_value(out: &mut Vec<String>, path: &str, local: &Option<String>, remote: &Option<String>) {
    let norm = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let (l, r) = (norm(local), norm(remote));
    if l == r {
        return;
    }
    let show = |v: &Option<String>| {
        v.as_ref()
            .map_or("(unset)".to_owned(), |s| format!("{s:?}"))
    };
    out.push(format!("{path}: {} → {}", show(&r), show(&l)));
}

fn describe(b: &Button) -> String {
    match (&b.kind, b.sub_button.len()) {
        (Some(kind), _) => format!("{:?} ({kind})", b.name),
        (None, n) => format!("{:?} ({n} sub-buttons)", b.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(name: &str, kind: &str) -> Button {
        let mut b = Button {
            name: name.into(),
            kind: Some(kind.into()),
            ..Button::default()
        };
        match kind {
            "view" => b.url = Some("https://example.com/".into()),
            "miniprogram" => {
                b.url = Some("https://example.com/".into());
                b.appid = Some("wx286b93c14bbf93aa".into());
                b.pagepath = Some("pages/lunar/index".into());
            }
            "media_id" | "view_limited" => b.media_id = Some("MEDIA_ID1".into()),
            "article_id" | "article_view_limited" => b.article_id = Some("ARTICLE_ID1".into()),
            _ => b.key = Some("K".into()),
        }
        b
    }

    fn group(name: &str, subs: Vec<Button>) -> Button {
        Button {
            name: name.into(),
            sub_button: subs,
            ..Button::default()
        }
    }

    fn ok_menu() -> Menu {
        Menu {
            button: vec![
                leaf("a", "click"),
                leaf("b", "view"),
                group("c", vec![leaf("c1", "click"), leaf("c2", "miniprogram")]),
            ],
            matchrule: None,
        }
    }

    /// Views on a., b., c. and d.example, d.example coming from `button[2].sub_button[0]`.
    fn four_domains(m: &mut Menu) {
        let view = |name: &str, url: &str| Button {
            url: Some(url.into()),
            ..leaf(name, "view")
        };
        m.button[0] = group(
            "a",
            vec![
                view("a1", "https://a.example/"),
                view("a2", "https://b.example/"),
            ],
        );
        m.button[1].url = Some("https://c.example/".into());
        m.button[2].sub_button[0] = view("c1", "https://d.example/");
        m.button[2].sub_button[1].url = Some("https://a.example/".into());
    }

    fn paths(menu: &Menu) -> Vec<String> {
        match validate(menu) {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.path).collect(),
        }
    }

    #[test]
    fn every_type_with_its_fields_is_valid() {
        assert_eq!(validate(&ok_menu()), Ok(()));
        for kind in BUTTON_TYPES {
            let menu = Menu {
                button: vec![group("g", vec![leaf("x", kind)]), leaf("y", kind)],
                matchrule: None,
            };
            assert_eq!(validate(&menu), Ok(()), "{kind}");
        }
    }

    /// One row per rule of §D.1/§D.5: a change to a valid menu, and the exact error paths.
    #[test]
    fn every_limit_is_checked_with_its_path() {
        type Edit = fn(&mut Menu);
        let rows: &[(&str, Edit, &[&str])] = &[
            ("no buttons", |m| m.button.clear(), &["button"]),
            (
                "four top-level buttons",
                |m| m.button.push(leaf("d", "click")),
                &["button"],
            ),
            (
                "type and sub_button",
                |m| m.button[2].kind = Some("click".into()),
                &["button[2]"],
            ),
            (
                "neither type nor sub_button",
                |m| m.button[0].kind = None,
                &["button[0]"],
            ),
            (
                "six sub-buttons",
                |m| m.button[2].sub_button = vec![leaf("s", "click"); 6],
                &["button[2].sub_button"],
            ),
            (
                "third level",
                |m| m.button[2].sub_button[1].sub_button = vec![leaf("z", "click")],
                &["button[2].sub_button[1].sub_button"],
            ),
            (
                "sub-button without type",
                |m| m.button[2].sub_button[0].kind = None,
                &["button[2].sub_button[0].type"],
            ),
            (
                "empty name",
                |m| m.button[1].name = " ".into(),
                &["button[1].name"],
            ),
            (
                "top-level name over 16 bytes",
                |m| m.button[0].name = "一二三四五六".into(), // 18 bytes
                &["button[0].name"],
            ),
            (
                "sub name over 60 bytes",
                |m| m.button[2].sub_button[1].name = "字".repeat(21), // 63 bytes
                &["button[2].sub_button[1].name"],
            ),
            (
                "unknown type",
                |m| m.button[0].kind = Some("text".into()),
                &["button[0].type"],
            ),
            (
                "click without key",
                |m| m.button[0].key = None,
                &["button[0].key"],
            ),
            (
                "scancode_push with empty key",
                |m| {
                    m.button[2].sub_button[0] = Button {
                        key: Some(String::new()),
                        ..leaf("c1", "scancode_push")
                    }
                },
                &["button[2].sub_button[0].key"],
            ),
            (
                "key over 128 bytes",
                |m| m.button[0].key = Some("k".repeat(129)),
                &["button[0].key"],
            ),
            (
                "view without url",
                |m| m.button[1].url = None,
                &["button[1].url"],
            ),
            (
                "url over 1024 bytes",
                |m| m.button[1].url = Some(format!("https://e.com/{}", "a".repeat(1020))),
                &["button[1].url"],
            ),
            (
                "url without scheme",
                |m| m.button[1].url = Some("example.com/auth/".into()),
                &["button[1].url"],
            ),
            (
                "url-encoded url",
                |m| m.button[1].url = Some("http%3A%2F%2Fexample.com%2F".into()),
                &["button[1].url"],
            ),
            (
                "url without host",
                |m| m.button[1].url = Some("http://".into()),
                &["button[1].url"],
            ),
            (
                "url with a bad port",
                |m| m.button[1].url = Some("https://example.com:99999/".into()),
                &["button[1].url"],
            ),
            (
                "four url domains: the button bringing the 4th is named",
                |m| four_domains(m),
                &["button[2].sub_button[0].url"],
            ),
            (
                "five url domains: reported once, at the 4th",
                |m| {
                    four_domains(m);
                    m.button[2].sub_button[1].url = Some("https://e.example/".into());
                },
                &["button[2].sub_button[0].url"],
            ),
            (
                "four domains counting a miniprogram's url",
                |m| {
                    four_domains(m);
                    m.button[2].sub_button[0] = leaf("c1", "click");
                    m.button[2].sub_button[1].url = Some("https://d.example/".into());
                },
                &["button[2].sub_button[1].url"],
            ),
            (
                "one host spelt four ways is one domain",
                |m| {
                    four_domains(m);
                    m.button[0].sub_button[1].url = Some("HTTPS://A.Example/other".into());
                    m.button[1].url = Some("http://a.example:8080/x?y#z".into());
                    m.button[2].sub_button[0].url = Some("https://user@a.example/".into());
                },
                &[],
            ),
            (
                "a url already refused is not counted",
                |m| {
                    four_domains(m);
                    m.button[1].url = Some("d.example/no-scheme".into());
                },
                &["button[1].url"],
            ),
            (
                "miniprogram without url",
                |m| m.button[2].sub_button[1].url = None,
                &["button[2].sub_button[1].url"],
            ),
            (
                "miniprogram without appid and pagepath",
                |m| {
                    m.button[2].sub_button[1].appid = None;
                    m.button[2].sub_button[1].pagepath = None;
                },
                &[
                    "button[2].sub_button[1].appid",
                    "button[2].sub_button[1].pagepath",
                ],
            ),
            (
                "media_id without media_id",
                |m| {
                    m.button[0] = Button {
                        media_id: None,
                        ..leaf("a", "media_id")
                    }
                },
                &["button[0].media_id"],
            ),
            (
                "view_limited without media_id",
                |m| {
                    m.button[0] = Button {
                        media_id: None,
                        ..leaf("a", "view_limited")
                    }
                },
                &["button[0].media_id"],
            ),
            (
                "article_id without article_id",
                |m| {
                    m.button[0] = Button {
                        article_id: None,
                        ..leaf("a", "article_id")
                    }
                },
                &["button[0].article_id"],
            ),
            (
                "article_view_limited without article_id",
                |m| {
                    m.button[0] = Button {
                        article_id: None,
                        ..leaf("a", "article_view_limited")
                    }
                },
                &["button[0].article_id"],
            ),
            (
                "empty matchrule",
                |m| {
                    m.matchrule = Some(MatchRule {
                        tag_id: Some(String::new()),
                        ..MatchRule::default()
                    })
                },
                &["matchrule"],
            ),
            (
                "privacy matchrule fields",
                |m| {
                    m.matchrule = Some(MatchRule {
                        tag_id: Some("2".into()),
                        sex: Some("1".into()),
                        country: Some("中国".into()),
                        province: Some("广东".into()),
                        city: Some("广州".into()),
                        language: Some("zh_CN".into()),
                        ..MatchRule::default()
                    })
                },
                &[
                    "matchrule.sex",
                    "matchrule.country",
                    "matchrule.province",
                    "matchrule.city",
                    "matchrule.language",
                ],
            ),
            (
                "bad client_platform_type",
                |m| {
                    m.matchrule = Some(MatchRule {
                        client_platform_type: Some("4".into()),
                        ..MatchRule::default()
                    })
                },
                &["matchrule.client_platform_type"],
            ),
        ];
        for (what, edit, expected) in rows {
            let mut menu = ok_menu();
            edit(&mut menu);
            assert_eq!(paths(&menu), *expected, "{what}");
        }
    }

    #[test]
    fn too_many_domains_and_a_missing_host_say_what_to_do() {
        let mut menu = ok_menu();
        four_domains(&mut menu);
        let text: Vec<String> = validate(&menu)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            text,
            [
                "button[2].sub_button[0].url: a 4th domain (d.example); WeChat allows 3 per menu (65316), and this one already links to a.example, b.example, c.example"
            ]
        );
        // A conditional menu has its own 3 domains, checked the same way.
        menu.matchrule = Some(MatchRule {
            tag_id: Some("2".into()),
            ..MatchRule::default()
        });
        assert_eq!(paths(&menu), ["button[2].sub_button[0].url"]);

        let mut hostless = ok_menu();
        hostless.button[1].url = Some("http://".into());
        assert_eq!(
            validate(&hostless).unwrap_err()[0].to_string(),
            "button[1].url: \"http://\" has no host; write the whole address, e.g. https://example.com/page"
        );
    }

    #[test]
    fn limits_are_inclusive_and_counted_in_utf8_bytes() {
        let mut menu = ok_menu();
        menu.button[0].name = "一二三四五".into(); // 15 bytes
        menu.button[2].name = "abcdefghijklmnop".into(); // 16 bytes
        menu.button[2].sub_button[0].name = "字".repeat(20); // 60 bytes
        menu.button[0].key = Some("k".repeat(128));
        menu.button[1].url = Some(format!("https://e.com/{}", "a".repeat(1024 - 14)));
        menu.button[2].sub_button = vec![leaf("s", "click"); 5];
        menu.matchrule = Some(MatchRule {
            tag_id: Some("2".into()),
            client_platform_type: Some("3".into()),
            ..MatchRule::default()
        });
        assert_eq!(validate(&menu), Ok(()));
    }

    #[test]
    fn errors_are_all_collected_and_display_with_their_path() {
        let menu = Menu {
            button: vec![
                leaf("ok", "click"),
                Button::default(),
                group(
                    "g",
                    vec![leaf("s", "click"), leaf("十九个字节的名字x", "click")],
                ),
                leaf("x", "view"),
            ],
            matchrule: None,
        };
        let mut short = menu.clone();
        short.button[2].name = "超过十六字节名字".into(); // 24 bytes
        let errors = validate(&short).unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "button: 4 buttons, limit 3",
                "button[1].name: required",
                "button[1]: has neither a type nor sub_button; give it a type or 1 to 5 sub-buttons",
                "button[2].name: 24 bytes, limit 16",
            ]
        );
        let mut long_sub = menu;
        long_sub.button.truncate(3);
        long_sub.button[1] = leaf("ok", "click");
        long_sub.button[2].sub_button[1].name = "十九字节".repeat(5); // 60 bytes: fine
        assert_eq!(validate(&long_sub), Ok(()));
        long_sub.button[2].sub_button[1].name.push('x');
        assert_eq!(
            validate(&long_sub).unwrap_err()[0].to_string(),
            "button[2].sub_button[1].name: 61 bytes, limit 60"
        );
    }

    #[test]
    fn json_and_toml_with_the_same_names_give_the_same_menu() {
        let json = r#"{"button":[
            {"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"},
            {"name":"菜单","sub_button":[
                {"type":"view","name":"搜索","url":"http://www.soso.com/"},
                {"type":"miniprogram","name":"wxa","url":"http://mp.weixin.qq.com",
                 "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index"}]}],
            "matchrule":{"tag_id":"2","client_platform_type":2}}"#;
        let toml = r#"
            [[button]]
            type = "click"
            name = "今日歌曲"
            key = "V1001_TODAY_MUSIC"

            [[button]]
            name = "菜单"
            [[button.sub_button]]
            type = "view"
            name = "搜索"
            url = "http://www.soso.com/"
            [[button.sub_button]]
            type = "miniprogram"
            name = "wxa"
            url = "http://mp.weixin.qq.com"
            appid = "wx286b93c14bbf93aa"
            pagepath = "pages/lunar/index"

            [matchrule]
            tag_id = "2"
            client_platform_type = 2
        "#;
        let a = parse_menu_file(json, MenuFormat::Json).unwrap();
        let b = parse_menu_file(toml, MenuFormat::Toml).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.matchrule
                .as_ref()
                .unwrap()
                .client_platform_type
                .as_deref(),
            Some("2")
        );
        assert_eq!(validate(&a), Ok(()));
        // Serializing gives WeChat's shape back: `type`, no empty sub_button, no nulls.
        let out = serde_json::to_value(&a).unwrap();
        assert_eq!(out["button"][0]["type"], "click");
        assert!(out["button"][0].get("sub_button").is_none());
        assert!(out["button"][0].get("url").is_none());
        assert_eq!(
            out["button"][1]["sub_button"][1]["appid"],
            "wx286b93c14bbf93aa"
        );
    }

    #[test]
    fn misspelt_fields_and_syntax_errors_are_reported() {
        let e = parse_menu_file(
            r#"{"button":[{"name":"x","sub_buton":[{"type":"click","name":"a","kee":"k"}]}]}"#,
            MenuFormat::Json,
        )
        .unwrap_err();
        assert!(e.contains("button[0].sub_buton: unknown field"), "{e}");
        let e = parse_menu_file(
            "[[button]]\nname = \"x\"\n[[button.sub_button]]\ntype = \"click\"\nname = \"a\"\nkee = \"k\"\n",
            MenuFormat::Toml,
        )
        .unwrap_err();
        assert!(
            e.contains("button[0].sub_button[0].kee: unknown field"),
            "{e}"
        );
        let e = parse_menu_file("[[button]\n", MenuFormat::Toml).unwrap_err();
        assert!(e.starts_with("invalid TOML"), "{e}");
        let e = parse_menu_file("{\"button\":[}", MenuFormat::Json).unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
        let e = parse_menu_file(r#"{"button":[{"name":5}]}"#, MenuFormat::Json).unwrap_err();
        assert!(e.starts_with("invalid menu"), "{e}");
        let e = parse_menu_file(r#"{"menu":{"button":[]}}"#, MenuFormat::Json).unwrap_err();
        assert!(e.contains("menu/get"), "{e}");
    }

    #[test]
    fn format_comes_from_the_extension() {
        let format = |p: &str| MenuFormat::from_path(Path::new(p));
        assert_eq!(format("menu.toml"), MenuFormat::Toml);
        assert_eq!(format("/etc/wx/Menu.JSON"), MenuFormat::Json);
        assert_eq!(format("menu.json.d/menu.toml"), MenuFormat::Toml);
        assert_eq!(format("menu"), MenuFormat::Toml);
    }

    #[test]
    fn menu_get_answers_parse_and_diff_clean_against_the_local_file() {
        let local = ok_menu();
        // menu/get echoes sub_button: [] on leaves, a numeric menuid, and may echo empty
        // strings for unset matchrule fields.
        let answer = r#"{"menu":{"button":[
              {"type":"click","name":"a","key":"K","sub_button":[]},
              {"type":"view","name":"b","url":"https://example.com/","sub_button":[]},
              {"name":"c","sub_button":[
                 {"type":"click","name":"c1","key":"K","sub_button":[]},
                 {"type":"miniprogram","name":"c2","url":"https://example.com/",
                  "appid":"wx286b93c14bbf93aa","pagepath":"pages/lunar/index","sub_button":[]}]}],
              "menuid":208396938},
            "conditionalmenu":[{"button":[{"type":"click","name":"a","key":"K","sub_button":[]}],
              "matchrule":{"group_id":"","sex":"","country":"","province":"","city":"",
                           "client_platform_type":"2","tag_id":2,"language":""},
              "menuid":208396993}]}"#;
        let set: MenuSet = serde_json::from_str(answer).unwrap();
        let remote = set.menu.as_ref().unwrap();
        assert_eq!(remote.menuid.as_deref(), Some("208396938"));
        assert_eq!(diff(&local, &remote.menu), Vec::<String>::new());
        assert_eq!(remote.menu, local);

        let cond = &set.conditionalmenu[0];
        assert_eq!(cond.menuid.as_deref(), Some("208396993"));
        let wanted = Menu {
            button: vec![leaf("a", "click")],
            matchrule: Some(MatchRule {
                tag_id: Some("2".into()),
                client_platform_type: Some("2".into()),
                ..MatchRule::default()
            }),
        };
        assert_eq!(diff(&wanted, &cond.menu), Vec::<String>::new());
        assert_eq!(set.default_menu(), local);
        // The echoed empty strings and the numeric tag_id do not make it another rule.
        let rule = wanted.matchrule.as_ref().unwrap();
        assert_eq!(set.conditional_with(rule), [cond]);
        assert!(rule.same_as(cond.menu.matchrule.as_ref().unwrap()));
        assert_eq!(
            cond.menu.matchrule.as_ref().unwrap().to_string(),
            "tag_id = \"2\", client_platform_type = \"2\""
        );
        let android_only = MatchRule {
            client_platform_type: Some("2".into()),
            ..MatchRule::default()
        };
        assert!(set.conditional_with(&android_only).is_empty());
        assert!(!set.is_empty());
        let none: MenuSet = serde_json::from_str("{}").unwrap();
        assert!(none.is_empty());
        assert!(
            serde_json::from_str::<MenuSet>(r#"{"menu":{"button":[]}}"#)
                .unwrap()
                .is_empty()
        );
        assert!(none.menu.is_none());
        assert_eq!(
            diff(&local, &none.default_menu())[0],
            "button[0]: added \"a\" (click)"
        );
    }

    #[test]
    fn diff_names_each_change_by_path() {
        let remote = ok_menu();
        let mut local = ok_menu();
        local.button[1].url = Some("https://example.com/auth/".into());
        local.button[2].sub_button.pop();
        local.button[2].sub_button.push(leaf("c3", "click"));
        local.button[2].sub_button.push(leaf("c4", "view"));
        local.button.remove(0);
        assert_eq!(
            diff(&local, &remote),
            [
                "button[0].name: \"a\" → \"b\"",
                "button[0].type: \"click\" → \"view\"",
                "button[0].key: \"K\" → (unset)",
                "button[0].url: (unset) → \"https://example.com/auth/\"",
                "button[1].name: \"b\" → \"c\"",
                "button[1].type: \"view\" → (unset)",
                "button[1].url: \"https://example.com/\" → (unset)",
                "button[1].sub_button[0]: added \"c1\" (click)",
                "button[1].sub_button[1]: added \"c3\" (click)",
                "button[1].sub_button[2]: added \"c4\" (view)",
                "button[2]: removed \"c\" (2 sub-buttons)",
            ]
        );
        let mut retitled = ok_menu();
        retitled.button[2].sub_button[0].name = "新".into();
        retitled.matchrule = Some(MatchRule {
            tag_id: Some("7".into()),
            ..MatchRule::default()
        });
        assert_eq!(
            diff(&retitled, &remote),
            [
                "button[2].sub_button[0].name: \"c1\" → \"新\"",
                "matchrule.tag_id: (unset) → \"7\"",
            ]
        );
    }
}
