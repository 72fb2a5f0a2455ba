//! `wxgate followers …` and `wxgate tags …`: the follower list (synced into the database),
//! remarks, the blacklist and tags, through [`crate::followers`].

use std::io::{IsTerminal, Write};

use clap::Subcommand;

use super::{AccountArgs, account, when};
use crate::followers::{self, BatchFailure, Failure};

#[derive(Subcommand, Debug)]
pub(super) enum FollowersAction {
    /// Read the follower list from WeChat into the database (user/get, then user/info/batchget
    /// in batches of 100). An interrupted sync goes on where it stopped.
    Sync {
        #[command(flatten)]
        account: AccountArgs,
        /// Forget an interrupted sync and start from the beginning.
        #[arg(long)]
        restart: bool,
    },
    /// The followers in the database, newest follow first.
    List {
        #[command(flatten)]
        account: AccountArgs,
        /// Only followers with this tag (a name or an id).
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// Also people who no longer follow.
        #[arg(long)]
        all: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON, one follower per line.
        #[arg(long)]
        json: bool,
    },
    /// Set a follower's remark (备注名; at most 30 characters; "" clears it).
    Remark {
        #[command(flatten)]
        account: AccountArgs,
        openid: String,
        text: String,
    },
    /// Put followers on the blacklist (20 per call); with no OPENID, list the blacklist.
    Blacklist {
        #[command(flatten)]
        account: AccountArgs,
        openids: Vec<String>,
    },
    /// Take followers off the blacklist (20 per call).
    Unblacklist {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(required = true)]
        openids: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub(super) enum TagsAction {
    /// The account's tags, with how many followers carry each.
    List {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// Create a tag (a name of at most 30 bytes: about 10 Chinese characters).
    Create {
        #[command(flatten)]
        account: AccountArgs,
        name: String,
    },
    /// Rename a tag (TAG: its name or id).
    Rename {
        #[command(flatten)]
        account: AccountArgs,
        tag: String,
        new_name: String,
    },
    /// Delete a tag (TAG: its name or id); its followers lose it.
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        tag: String,
    },
    /// Give a tag (its name or id) to followers, 50 per call.
    Add {
        #[command(flatten)]
        account: AccountArgs,
        tag: String,
        #[arg(required = true)]
        openids: Vec<String>,
    },
    /// Take a tag (its name or id) from followers, 50 per call.
    Remove {
        #[command(flatten)]
        account: AccountArgs,
        tag: String,
        #[arg(required = true)]
        openids: Vec<String>,
    },
}

fn failed(e: Failure) -> String {
    e.explain()
}

fn batch_failed(e: BatchFailure, what: &str) -> String {
    if e.done == 0 {
        e.failure.explain()
    } else {
        format!(
            "{} ({} openids were {what} before the failing batch)",
            e.failure.explain(),
            e.done
        )
    }
}

pub(super) async fn run(action: FollowersAction) -> Result<(), String> {
    match action {
        FollowersAction::Sync {
            account: a,
            restart,
        } => sync(&a, restart).await,
        FollowersAction::List {
            account: a,
            tag,
            all,
            limit,
            json,
        } => list(&a, tag.as_deref(), all, limit, json).await,
        FollowersAction::Remark {
            account: a,
            openid,
            text,
        } => {
            let (_, db, platform) = account(&a).await?;
            followers::set_remark(&platform, &db, &openid, &text)
                .await
                .map_err(failed)?;
            println!("remark of {openid} set to {text:?}");
            Ok(())
        }
        FollowersAction::Blacklist {
            account: a,
            openids,
        } => {
            let (_, _, platform) = account(&a).await?;
            if openids.is_empty() {
                let listed = followers::blacklist(&platform).await.map_err(failed)?;
                for o in &listed {
                    println!("{o}");
                }
                println!("({} blacklisted)", listed.len());
                return Ok(());
            }
            let n = followers::set_blacklisted(&platform, &openids, true)
                .await
                .map_err(|e| batch_failed(e, "blacklisted"))?;
            println!("{n} blacklisted");
            Ok(())
        }
        FollowersAction::Unblacklist {
            account: a,
            openids,
        } => {
            let (_, _, platform) = account(&a).await?;
            let n = followers::set_blacklisted(&platform, &openids, false)
                .await
                .map_err(|e| batch_failed(e, "taken off the blacklist"))?;
            println!("{n} taken off the blacklist");
            Ok(())
        }
    }
}

/// The progress of a sync on stderr: a line rewritten in place on a terminal, nothing
/// otherwise (logs and pipes get the summary only).
struct ProgressLine {
    tty: bool,
}

impl ProgressLine {
    fn show(&self, p: followers::Progress) {
        if !self.tty {
            return;
        }
        let mut err = std::io::stderr();
        let _ = write!(err, "\r{}", progress_bar(p));
        let _ = err.flush();
    }

    fn end(&self) {
        if self.tty {
            eprintln!();
        }
    }
}

/// `[##########--------------------] 1000/3000 followers`.
fn progress_bar(p: followers::Progress) -> String {
    const WIDTH: u64 = 30;
    let filled = (p.done * WIDTH)
        .checked_div(p.total)
        .unwrap_or(0)
        .min(WIDTH) as usize;
    format!(
        "[{}{}] {}/{} followers",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        p.done,
        p.total
    )
}

async fn sync(a: &AccountArgs, restart: bool) -> Result<(), String> {
    let (_, db, platform) = account(a).await?;
    let line = ProgressLine {
        tty: std::io::stderr().is_terminal(),
    };
    let result = followers::sync(&platform, &db, restart, |p| line.show(p)).await;
    line.end();
    let report = result.map_err(|e| {
        format!(
            "{} — the sync stopped; run `wxgate followers sync` again to go on where it stopped",
            e.explain()
        )
    })?;
    println!(
        "{}synced {} followers ({} no longer follow), {} tags",
        if report.resumed {
            "resumed an interrupted sync: "
        } else {
            ""
        },
        report.stored,
        report.gone,
        report.tags
    );
    Ok(())
}

async fn list(
    a: &AccountArgs,
    tag: Option<&str>,
    all: bool,
    limit: i64,
    json: bool,
) -> Result<(), String> {
    let (_, db, platform) = account(a).await?;
    let tag = match tag {
        Some(t) => Some(
            followers::resolve_tag(&platform, &db, t)
                .await
                .map_err(failed)?,
        ),
        None => None,
    };
    let id = tag.as_ref().map(|t| t.id);
    let rows = crate::db::followers::list(&db, id, all, limit.clamp(1, 100_000), 0)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let total = crate::db::followers::count(&db, id, all)
        .await
        .map_err(|e| format!("database: {e}"))?;
    if json {
        for f in &rows {
            println!("{}", serde_json::to_string(f).map_err(|e| e.to_string())?);
        }
        return Ok(());
    }
    let names = crate::db::followers::tags(&db).await.unwrap_or_default();
    let name_of = |id: i64| {
        names
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| id.to_string(), |t| t.name.clone())
    };
    println!(
        "{:<30} {:<9} {:<30} {:<16} {:<20} TAGS",
        "OPENID", "FOLLOWS", "SINCE", "QR SCENE", "REMARK"
    );
    for f in &rows {
        let tags: Vec<String> = f.tag_ids.iter().map(|t| name_of(*t)).collect();
        println!(
            "{:<30} {:<9} {:<30} {:<16} {:<20} {}",
            f.openid,
            if f.subscribed { "yes" } else { "no" },
            when(f.subscribe_time),
            f.qr_scene.as_deref().unwrap_or("-"),
            if f.remark.is_empty() { "-" } else { &f.remark },
            tags.join(", ")
        );
    }
    let scope = match &tag {
        Some(t) => format!(" with tag {} ({})", t.name, t.id),
        None => String::new(),
    };
    println!("({} of {total} followers{scope})", rows.len());
    if total == 0 && tag.is_none() {
        println!("(empty? run `wxgate followers sync` first)");
    }
    Ok(())
}

pub(super) async fn run_tags(action: TagsAction) -> Result<(), String> {
    match action {
        TagsAction::List { account: a } => {
            let (_, db, platform) = account(&a).await?;
            let tags = followers::refresh_tags(&platform, &db)
                .await
                .map_err(failed)?;
            println!("{:>6}  {:>9}  NAME", "ID", "FOLLOWERS");
            for t in &tags {
                let system = if t.is_system() { "  (system)" } else { "" };
                println!("{:>6}  {:>9}  {}{system}", t.id, t.count, t.name);
            }
            Ok(())
        }
        TagsAction::Create { account: a, name } => {
            let (_, db, platform) = account(&a).await?;
            let tag = followers::create_tag(&platform, &db, &name)
                .await
                .map_err(failed)?;
            println!("created tag {} ({})", tag.name, tag.id);
            Ok(())
        }
        TagsAction::Rename {
            account: a,
            tag,
            new_name,
        } => {
            let (_, db, platform) = account(&a).await?;
            let t = followers::rename_tag(&platform, &db, &tag, &new_name)
                .await
                .map_err(failed)?;
            println!("renamed tag {} to {}", t.id, t.name);
            Ok(())
        }
        TagsAction::Delete { account: a, tag } => {
            let (_, db, platform) = account(&a).await?;
            let t = followers::delete_tag(&platform, &db, &tag)
                .await
                .map_err(failed)?;
            println!(
                "deleted tag {} ({}), which {} followers had",
                t.name, t.id, t.count
            );
            Ok(())
        }
        TagsAction::Add {
            account: a,
            tag,
            openids,
        } => tagging(&a, &tag, &openids, true).await,
        TagsAction::Remove {
            account: a,
            tag,
            openids,
        } => tagging(&a, &tag, &openids, false).await,
    }
}

async fn tagging(a: &AccountArgs, tag: &str, openids: &[String], add: bool) -> Result<(), String> {
    let (_, db, platform) = account(a).await?;
    let what = if add { "tagged" } else { "untagged" };
    let (t, n) = followers::tag_users(&platform, &db, tag, openids, add)
        .await
        .map_err(|e| batch_failed(e, what))?;
    println!("{n} followers {what} {} ({})", t.name, t.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_fills_with_the_sync() {
        let bar = |done, total| progress_bar(followers::Progress { done, total });
        assert_eq!(bar(0, 0), format!("[{}] 0/0 followers", "-".repeat(30)));
        assert_eq!(
            bar(1000, 3000),
            format!("[{}{}] 1000/3000 followers", "#".repeat(10), "-".repeat(20))
        );
        assert_eq!(bar(5, 3), format!("[{}] 5/3 followers", "#".repeat(30)));
    }
}
