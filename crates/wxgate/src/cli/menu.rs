//! `wxgate menu …`: menus as code — validate, push, get, diff, delete, trymatch.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{AccountArgs, account};
use crate::platform::explain;

#[derive(Subcommand, Debug)]
pub(super) enum MenuAction {
    /// Check a menu file (TOML or WeChat's JSON) against every limit of WeChat; no network.
    Validate { file: PathBuf },
    /// Validate, then publish the menu. A file with a matchrule becomes a conditional menu,
    /// replacing the one WeChat has with the same matchrule (added first, then the old deleted).
    Push {
        #[command(flatten)]
        account: AccountArgs,
        file: PathBuf,
        /// Validate and print the JSON that would be sent, without sending it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the menus WeChat has (default and conditional) as JSON.
    Get {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// Show how a menu file differs from the menu WeChat has: the default menu, or for a file
    /// with a matchrule the conditional menu with that matchrule.
    Diff {
        #[command(flatten)]
        account: AccountArgs,
        file: PathBuf,
    },
    /// Delete the default menu and all conditional menus, or one conditional menu.
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        /// Delete only this conditional menu.
        #[arg(long, value_name = "ID")]
        menuid: Option<String>,
    },
    /// Which menu a user (openid or WeChat ID) would see.
    Trymatch {
        #[command(flatten)]
        account: AccountArgs,
        user: String,
    },
}

pub(super) fn read_menu(file: &std::path::Path) -> Result<wechat::menu::Menu, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let format = crate::menus::file::MenuFormat::from_path(file);
    let menu = crate::menus::file::parse_menu_file(&text, format)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if let Err(errors) = wechat::menu::validate(&menu) {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        return Err(format!(
            "{} breaks WeChat's menu limits:\n{}",
            file.display(),
            lines.join("\n")
        ));
    }
    Ok(menu)
}

pub(super) async fn run(action: MenuAction) -> Result<(), String> {
    match action {
        MenuAction::Validate { file } => validate(&file),
        MenuAction::Push {
            account: args,
            file,
            dry_run,
        } => push(&args, &file, dry_run).await,
        MenuAction::Get { account: args } => get(&args).await,
        MenuAction::Diff {
            account: args,
            file,
        } => diff(&args, &file).await,
        MenuAction::Delete {
            account: args,
            menuid,
        } => delete(&args, menuid.as_deref()).await,
        MenuAction::Trymatch {
            account: args,
            user,
        } => trymatch(&args, &user).await,
    }
}

fn json(value: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}

fn validate(file: &Path) -> Result<(), String> {
    let menu = read_menu(file)?;
    let leaves: usize = menu.button.iter().map(|b| b.sub_button.len().max(1)).sum();
    println!(
        "{}: valid ({} top-level buttons, {leaves} actions)",
        file.display(),
        menu.button.len()
    );
    Ok(())
}

async fn push(args: &AccountArgs, file: &Path, dry_run: bool) -> Result<(), String> {
    let menu = read_menu(file)?;
    if dry_run {
        println!("{}", json(&menu)?);
        println!("(dry run: nothing sent)");
        return Ok(());
    }
    let (_, _, platform) = account(args).await?;
    // Shared with PUT /admin/menu: a conditional menu replaces the one with its matchrule.
    let published = crate::menus::publish_menu(&platform, &menu)
        .await
        .map_err(|e| e.explain())?;
    for line in published.lines() {
        println!("{line}");
    }
    Ok(())
}

async fn get(args: &AccountArgs) -> Result<(), String> {
    let (_, _, platform) = account(args).await?;
    let menus = platform.menu_get().await.map_err(|e| explain(&e))?;
    if menus.is_empty() {
        println!("no menu published yet: push one with wxgate menu push FILE");
    } else {
        println!("{}", json(&menus)?);
    }
    Ok(())
}

/// Compares the file with WeChat's default menu, or — for a file with a matchrule — with
/// WeChat's conditional menu of that rule.
async fn diff(args: &AccountArgs, file: &Path) -> Result<(), String> {
    let local = read_menu(file)?;
    let (_, _, platform) = account(args).await?;
    // A tag named in the matchrule is compared as the id WeChat has.
    let local = crate::menus::resolve_tag_name(&platform, &local)
        .await
        .map_err(|e| e.explain())?;
    let menus = platform.menu_get().await.map_err(|e| explain(&e))?;
    let (remote, which) = match &local.matchrule {
        None => {
            if menus.menu.is_none() {
                println!(
                    "WeChat has no default menu yet: `wxgate menu push {}` would add it",
                    file.display()
                );
                return Ok(());
            }
            (menus.default_menu(), "WeChat's default menu".to_owned())
        }
        Some(rule) => {
            let same = menus.conditional_with(rule);
            // WeChat shows users the newest one; menu/get lists them oldest first.
            let Some(newest) = same.last() else {
                println!(
                    "WeChat has no conditional menu with this matchrule ({rule}): `wxgate menu push {}` would add it",
                    file.display()
                );
                return Ok(());
            };
            if same.len() > 1 {
                println!(
                    "note: WeChat has {} conditional menus with this matchrule; `wxgate menu push` replaces them all",
                    same.len()
                );
            }
            let id = newest.menuid.as_deref().unwrap_or("?");
            (
                newest.menu.clone(),
                format!("WeChat's conditional menu {id} ({rule})"),
            )
        }
    };
    let changes = wechat::menu::diff(&local, &remote);
    if changes.is_empty() {
        println!("no differences: {which} is the menu in {}", file.display());
    } else {
        println!("{} differs from {which}:", file.display());
        for c in changes {
            println!("  {c}");
        }
    }
    Ok(())
}

async fn delete(args: &AccountArgs, menuid: Option<&str>) -> Result<(), String> {
    let (_, _, platform) = account(args).await?;
    match menuid {
        Some(id) => {
            platform
                .menu_delete_conditional(id)
                .await
                .map_err(|e| explain(&e))?;
            println!("conditional menu {id} deleted");
        }
        None => {
            platform.menu_delete().await.map_err(|e| explain(&e))?;
            println!("menu deleted (the default menu and every conditional menu)");
        }
    }
    Ok(())
}

async fn trymatch(args: &AccountArgs, user: &str) -> Result<(), String> {
    let (_, _, platform) = account(args).await?;
    let menu = platform
        .menu_try_match(user)
        .await
        .map_err(|e| explain(&e))?;
    println!("{}", json(&menu)?);
    Ok(())
}
