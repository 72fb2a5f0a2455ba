//! Every limit of a menu that WeChat checks (docs/wechat-protocol.md §D.1, §D.5), checked
//! locally so that each problem names its button.

use std::fmt;

use serde::Serialize;

use super::{Button, MatchRule, Menu};

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
