//! Menus as the application handles them: read from files ([`file`]: TOML or JSON) and
//! published on WeChat, shared by `PUT /admin/menu` ([`crate::http::admin`]) and `wxgate menu
//! push` ([`crate::cli`]): the default menu by `menu/create`, a conditional menu by adding the
//! new one and then deleting the old ones with the same matchrule. A conditional menu's
//! `tag_id` may be a tag's name, resolved to its id through `tags/get` ([`resolve_tag_name`]).

pub mod file;

use wechat::menu::Menu;

use crate::platform::{Platform, explain};

/// What [`publish_menu`] did on WeChat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The new conditional menu's menuid; `None` for the default menu.
    pub menuid: Option<String>,
    /// Conditional menus with the same matchrule that the new one replaced (now deleted).
    pub replaced: Vec<String>,
}

impl Published {
    /// One line per thing done: `conditional menu published: menuid 456`, then
    /// `replaced conditional menu 123 with 456` for each menu it replaced.
    pub fn lines(&self) -> Vec<String> {
        let Some(id) = &self.menuid else {
            return vec![
                "menu published (users see it within about 5 minutes, or on re-following)".into(),
            ];
        };
        let mut lines = vec![format!("conditional menu published: menuid {id}")];
        for old in &self.replaced {
            lines.push(format!("replaced conditional menu {old} with {id}"));
        }
        lines
    }
}

/// Why [`publish_menu`] failed.
#[derive(Debug)]
pub enum PublishError {
    /// Nothing changed on WeChat.
    Failed(wechat::Error),
    /// The matchrule's `tag_id` names a tag the account does not have (nothing changed).
    NoSuchTag { tag: String, known: Vec<String> },
    /// The new conditional menu is live, but an older one with the same matchrule could not be
    /// deleted: users of that rule still see the new one (WeChat picks the newest).
    OldNotDeleted {
        published: Published,
        old: String,
        error: wechat::Error,
    },
}

impl PublishError {
    /// For the operator: what happened and what to do.
    pub fn explain(&self) -> String {
        match self {
            Self::Failed(e) => explain(e),
            Self::NoSuchTag { tag, known } => format!(
                "matchrule.tag_id: the account has no tag {tag:?} (its tags: {}); create it with `wxgate tags create {tag}` or use an existing tag's name or id",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ),
            Self::OldNotDeleted {
                published,
                old,
                error,
            } => format!(
                "conditional menu {} is published, but the old conditional menu {old} with the same matchrule could not be deleted: {}; delete it with `wxgate menu delete --menuid {old}`",
                published.menuid.as_deref().unwrap_or("?"),
                explain(error)
            ),
        }
    }
}

/// Publishes a validated menu. Without a matchrule it replaces the default menu
/// (`menu/create`). With one it is a conditional menu: WeChat has no edit API and would keep
/// both, so the new menu is added first and only then are the conditional menus with the same
/// matchrule deleted — users of that rule never go without a menu.
pub async fn publish_menu(platform: &Platform, menu: &Menu) -> Result<Published, PublishError> {
    let resolved = resolve_tag_name(platform, menu).await?;
    let menu = &resolved;
    let Some(rule) = &menu.matchrule else {
        platform
            .menu_create(menu)
            .await
            .map_err(PublishError::Failed)?;
        return Ok(Published {
            menuid: None,
            replaced: Vec::new(),
        });
    };
    let existing = platform.menu_get().await.map_err(PublishError::Failed)?;
    let olds: Vec<String> = existing
        .conditional_with(rule)
        .into_iter()
        .filter_map(|m| m.menuid.clone())
        .collect();
    let menuid = platform
        .menu_add_conditional(menu)
        .await
        .map_err(PublishError::Failed)?;
    let mut published = Published {
        menuid: Some(menuid),
        replaced: Vec::new(),
    };
    for old in olds {
        let id = old.as_str();
        match platform.menu_delete_conditional(id).await {
            Ok(()) => published.replaced.push(old),
            // Already gone (deleted meanwhile): nothing left to replace.
            Err(e) if e.errcode() == Some(wechat::ErrCode::NO_SUCH_MENUID) => {}
            Err(error) => {
                return Err(PublishError::OldNotDeleted {
                    published,
                    old,
                    error,
                });
            }
        }
    }
    Ok(published)
}

/// The menu with its matchrule's `tag_id` as WeChat wants it: a tag id. A menu file may name
/// the tag instead (`tag_id = "上海"`); anything but digits is looked up by name in `tags/get`
/// (docs/wechat-platform-apis.md §7.1), at publish time, since tags change. A menu without a
/// named tag is returned as it is, without a call.
pub async fn resolve_tag_name(platform: &Platform, menu: &Menu) -> Result<Menu, PublishError> {
    let mut menu = menu.clone();
    let Some(rule) = menu.matchrule.as_mut() else {
        return Ok(menu);
    };
    let Some(tag) = rule
        .tag_id
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Ok(menu);
    };
    if tag.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(menu);
    }
    let tag = tag.to_owned();
    let client = &platform.client;
    let tags = platform
        .call(|t| async move { client.tags_get(&t).await })
        .await
        .map_err(PublishError::Failed)?;
    match tags.iter().find(|t| t.name == tag) {
        Some(found) => {
            rule.tag_id = Some(found.id.to_string());
            Ok(menu)
        }
        None => Err(PublishError::NoSuchTag {
            tag,
            known: tags
                .iter()
                .map(|t| format!("{} ({})", t.name, t.id))
                .collect(),
        }),
    }
}
