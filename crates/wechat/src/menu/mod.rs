//! Custom menus (自定义菜单, docs/wechat-protocol.md §D) as plain data: the types here (read from
//! a menu file by the application, or from `menu/get`) are checked against every limit of §D.1
//! *before* any API call ([`validate`], in `validate.rs`), are sent to `menu/create`, and come
//! back from `menu/get` so that [`diff`] (in `diff.rs`) can say what publishing would change.
//!
//! Field names are WeChat's own (`sub_button`, `media_id`, `matchrule`…) so a menu copied from
//! the official docs or from `menu/get` works as is.

use std::fmt;

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

mod diff;
mod validate;

pub use diff::diff;
pub use validate::*;

#[cfg(test)]
mod tests;
