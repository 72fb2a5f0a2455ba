//! Followers and tags (`docs/wechat-platform-apis.md` §6, §7), shared by `wxgate followers …`
//! / `wxgate tags …` ([`crate::cli`]) and `/admin/followers`, `/admin/tags`
//! ([`crate::http::admin`]):
//!
//! - [`sync`]: the follower list into the `followers` table — `user/get` pages, then
//!   `user/info/batchget` in batches of 100 — resumable: the cursor of the next page is kept in
//!   the database after each page, so a sync that stopped (a crash, the daily quota) goes on
//!   where it stopped the next time;
//! - tags by name or id ([`resolve_tag`]), created, renamed, deleted, given and taken in
//!   batches of 50; remarks; the blacklist in batches of 20. WeChat is the truth: each change is
//!   made there first and then copied into the tables;
//! - [`record_push`]: a subscribe or unsubscribe push updates the table, off the reply's path.

use wechat::followers::{
    FollowersCallError, MAX_BATCHGET, MAX_BLACKLIST, MAX_TAGGING, OpenIdPage, Tag, find_tag,
};

use crate::clock::now;
use crate::db::{self, Db};
use crate::platform::{Platform, explain};

/// Why a follower or tag operation failed.
#[derive(Debug)]
pub enum Failure {
    /// The input is wrong (checked before any call, or a tag that does not exist): a 400.
    Invalid(String),
    /// WeChat refused because of the input (an unknown openid, a duplicate tag name…): a 4xx,
    /// with WeChat's errcode.
    Refused(wechat::Error),
    /// WeChat could not be reached or failed: a 502/504.
    Wechat(wechat::Error),
    /// The database failed: a 503.
    Db(sqlx::Error),
}

impl Failure {
    /// For the operator: what went wrong and what to do.
    pub fn explain(&self) -> String {
        match self {
            Failure::Invalid(m) => m.clone(),
            Failure::Refused(e) | Failure::Wechat(e) => explain(e),
            Failure::Db(e) => format!("database: {e}"),
        }
    }
}

/// WeChat's errcodes that mean "this input is wrong", not "WeChat or the set-up failed".
fn is_refusal(code: i64) -> bool {
    matches!(
        code,
        40003 | 40032 | 40092 | 45056 | 45057 | 45058 | 45059 | 45157 | 45158 | 45159 | 49003
    )
}

impl From<wechat::Error> for Failure {
    fn from(e: wechat::Error) -> Self {
        match e.errcode() {
            Some(c) if is_refusal(c.0) => Failure::Refused(e),
            _ => Failure::Wechat(e),
        }
    }
}

impl From<FollowersCallError> for Failure {
    fn from(e: FollowersCallError) -> Self {
        match e {
            FollowersCallError::Invalid(e) => Failure::Invalid(e.to_string()),
            FollowersCallError::Wechat(e) => e.into(),
        }
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

/// Runs a followers call with the base access_token. The callers check their input first
/// (`wechat::followers::check_*`), so no token is fetched for input WeChat would refuse; the
/// call's own check is kept as a second line.
async fn call<T, F, Fut>(platform: &Platform, f: F) -> Result<T, Failure>
where
    F: Fn(wechat::AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, FollowersCallError>>,
{
    let result = platform
        .call(|t| {
            let fut = f(t);
            async move {
                match fut.await {
                    Ok(v) => Ok(Ok(v)),
                    Err(FollowersCallError::Invalid(e)) => Ok(Err(e)),
                    Err(FollowersCallError::Wechat(e)) => Err(e),
                }
            }
        })
        .await;
    match result {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::Invalid(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A local check's refusal.
fn invalid(e: wechat::followers::FollowersError) -> Failure {
    Failure::Invalid(e.to_string())
}

/// How far a sync is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Followers stored so far in this sync (across its runs).
    pub done: u64,
    /// All followers, as WeChat counts them.
    pub total: u64,
}

/// What a completed sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Whether it went on with an interrupted sync.
    pub resumed: bool,
    /// Followers stored (across its runs).
    pub stored: u64,
    /// Rows of people who no longer follow (not seen by the sync).
    pub gone: u64,
    /// Tags copied from `tags/get`.
    pub tags: usize,
}

/// Reads the whole follower list into the `followers` table. `restart` forgets an interrupted
/// sync and starts from the beginning; otherwise one goes on from its last complete page.
/// `progress` is told after each batch.
pub async fn sync(
    platform: &Platform,
    db: &Db,
    restart: bool,
    mut progress: impl FnMut(Progress),
) -> Result<SyncReport, Failure> {
    let saved = if restart {
        None
    } else {
        db::followers::sync_state(db).await?
    };
    let resumed = saved.is_some();
    let mut state = saved.unwrap_or_else(|| db::followers::SyncState {
        run: now_millis(),
        next_openid: String::new(),
        started_at: now(),
        total: 0,
        done: 0,
    });
    db::followers::save_sync_state(db, &state).await?;
    let client = &platform.client;
    loop {
        let cursor = state.next_openid.clone();
        let page: OpenIdPage = platform
            .call(|t| {
                let cursor = cursor.clone();
                async move { client.followers_page(&t, &cursor).await }
            })
            .await?;
        state.total = page.total.unwrap_or(0) as i64;
        for batch in page.openids().chunks(MAX_BATCHGET) {
            let infos = call(platform, |t| async move {
                client.user_info_batch(&t, batch).await
            })
            .await?;
            db::followers::store_infos(db, &infos, now(), state.run).await?;
            state.done += batch.len() as i64;
            progress(Progress {
                done: state.done as u64,
                total: state.total.max(state.done) as u64,
            });
        }
        // The end; or a cursor that does not move, which would loop forever.
        if page.is_last() || page.next_openid == cursor {
            break;
        }
        // The page is stored: a sync that stops from here on goes on with the next one.
        state.next_openid = page.next_openid.clone();
        db::followers::save_sync_state(db, &state).await?;
    }
    let gone = db::followers::mark_unseen_gone(db, state.run, now()).await?;
    let tags = refresh_tags(platform, db).await?;
    db::followers::clear_sync_state(db).await?;
    Ok(SyncReport {
        resumed,
        stored: state.done as u64,
        gone,
        tags: tags.len(),
    })
}

/// A sync's id: the time it started, in milliseconds.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The account's tags from `tags/get`, copied into the `tags` table.
pub async fn refresh_tags(platform: &Platform, db: &Db) -> Result<Vec<Tag>, Failure> {
    let client = &platform.client;
    let tags = platform
        .call(|t| async move { client.tags_get(&t).await })
        .await?;
    db::followers::replace_tags(db, &tags, now()).await?;
    Ok(tags)
}

/// The tag `tag` names (an id or a name), as WeChat has it now.
pub async fn resolve_tag(platform: &Platform, db: &Db, tag: &str) -> Result<Tag, Failure> {
    let tags = refresh_tags(platform, db).await?;
    find_tag(&tags, tag).cloned().ok_or_else(|| {
        let known: Vec<String> = tags
            .iter()
            .map(|t| format!("{} ({})", t.name, t.id))
            .collect();
        Failure::Invalid(format!(
            "the account has no tag {tag:?}; its tags: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Creates a tag.
pub async fn create_tag(platform: &Platform, db: &Db, name: &str) -> Result<Tag, Failure> {
    let client = &platform.client;
    let name = name.trim();
    wechat::followers::check_tag_name(name).map_err(invalid)?;
    let tag = call(
        platform,
        |t| async move { client.tag_create(&t, name).await },
    )
    .await?;
    refresh_tags(platform, db).await?;
    Ok(tag)
}

/// Renames the tag `tag` (a name or an id); the tag as it is now.
pub async fn rename_tag(
    platform: &Platform,
    db: &Db,
    tag: &str,
    new_name: &str,
) -> Result<Tag, Failure> {
    wechat::followers::check_tag_name(new_name.trim()).map_err(invalid)?;
    let mut found = resolve_tag(platform, db, tag).await?;
    if found.is_system() {
        return Err(invalid(wechat::followers::FollowersError::SystemTag(
            found.id,
        )));
    }
    let client = &platform.client;
    let (id, name) = (found.id, new_name.trim());
    call(platform, |t| async move {
        client.tag_update(&t, id, name).await
    })
    .await?;
    db::followers::rename_tag(db, id, name).await?;
    found.name = name.to_owned();
    Ok(found)
}

/// Deletes the tag `tag` (a name or an id); the tag that was deleted.
pub async fn delete_tag(platform: &Platform, db: &Db, tag: &str) -> Result<Tag, Failure> {
    let found = resolve_tag(platform, db, tag).await?;
    if found.is_system() {
        return Err(invalid(wechat::followers::FollowersError::SystemTag(
            found.id,
        )));
    }
    let client = &platform.client;
    let id = found.id;
    call(platform, |t| async move { client.tag_delete(&t, id).await }).await?;
    db::followers::delete_tag(db, id).await?;
    Ok(found)
}

/// How a batched change went: how many openids were done before a batch failed.
#[derive(Debug)]
pub struct BatchFailure {
    pub done: usize,
    pub failure: Failure,
}

/// Gives (`add`) or takes the tag `tag` to or from `openids`, 50 per call. The batches before
/// a failing one stay done (WeChat's batches are all or nothing, not the whole list).
pub async fn tag_users(
    platform: &Platform,
    db: &Db,
    tag: &str,
    openids: &[String],
    add: bool,
) -> Result<(Tag, usize), BatchFailure> {
    let failed = |failure| BatchFailure { done: 0, failure };
    if openids.is_empty() {
        return Err(failed(Failure::Invalid("no openids given".into())));
    }
    for o in openids {
        wechat::followers::check_openid(o).map_err(|e| failed(invalid(e)))?;
    }
    let found = resolve_tag(platform, db, tag).await.map_err(failed)?;
    let client = &platform.client;
    let id = found.id;
    let mut done = 0;
    for batch in openids.chunks(MAX_TAGGING) {
        let result = call(platform, |t| async move {
            if add {
                client.tag_users(&t, id, batch).await
            } else {
                client.untag_users(&t, id, batch).await
            }
        })
        .await;
        if let Err(failure) = result {
            return Err(BatchFailure { done, failure });
        }
        db::followers::set_tag(db, id, batch, add)
            .await
            .map_err(|e| BatchFailure {
                done,
                failure: e.into(),
            })?;
        done += batch.len();
    }
    Ok((found, done))
}

/// Sets a follower's remark (empty: none).
pub async fn set_remark(
    platform: &Platform,
    db: &Db,
    openid: &str,
    remark: &str,
) -> Result<(), Failure> {
    wechat::followers::check_openid(openid).map_err(invalid)?;
    wechat::followers::check_remark(remark).map_err(invalid)?;
    let client = &platform.client;
    call(platform, |t| async move {
        client.update_remark(&t, openid, remark).await
    })
    .await?;
    db::followers::set_remark(db, openid, remark, now()).await?;
    Ok(())
}

/// Puts (`on`) or takes `openids` on or off the blacklist, 20 per call.
pub async fn set_blacklisted(
    platform: &Platform,
    openids: &[String],
    on: bool,
) -> Result<usize, BatchFailure> {
    if openids.is_empty() {
        return Err(BatchFailure {
            done: 0,
            failure: Failure::Invalid("no openids given".into()),
        });
    }
    for o in openids {
        wechat::followers::check_openid(o).map_err(|e| BatchFailure {
            done: 0,
            failure: invalid(e),
        })?;
    }
    let client = &platform.client;
    let mut done = 0;
    for batch in openids.chunks(MAX_BLACKLIST) {
        let result = call(platform, |t| async move {
            if on {
                client.blacklist(&t, batch).await
            } else {
                client.unblacklist(&t, batch).await
            }
        })
        .await;
        if let Err(failure) = result {
            return Err(BatchFailure { done, failure });
        }
        done += batch.len();
    }
    Ok(done)
}

/// Every blacklisted openid, page by page.
pub async fn blacklist(platform: &Platform) -> Result<Vec<String>, Failure> {
    let client = &platform.client;
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let from = cursor.clone();
        let page = platform
            .call(|t| {
                let from = from.clone();
                async move { client.blacklist_page(&t, &from).await }
            })
            .await?;
        all.extend(page.openids().iter().cloned());
        if page.is_last() || page.next_openid == cursor {
            return Ok(all);
        }
        cursor = page.next_openid;
    }
}

/// A subscribe or unsubscribe push from `openid` (sent at `create_time`, with the push's
/// `EventKey`): updates the `followers` table in a task of its own, so the reply never waits
/// for the database. The push pipeline calls this once per push (after deduplication).
pub fn record_push(db: &Db, openid: &str, event: &str, event_key: Option<&str>, create_time: i64) {
    let subscribe = if event.eq_ignore_ascii_case("subscribe") {
        true
    } else if event.eq_ignore_ascii_case("unsubscribe") {
        false
    } else {
        return;
    };
    // A follow through a parametric QR code carries `qrscene_<scene>` (§1.3).
    let scene = event_key
        .map(str::trim)
        .and_then(|k| k.strip_prefix("qrscene_"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let (db, openid) = (db.clone(), openid.to_owned());
    tokio::spawn(async move {
        let result = if subscribe {
            db::followers::record_subscribe(&db, &openid, create_time, scene.as_deref(), now())
                .await
        } else {
            db::followers::record_unsubscribe(&db, &openid, now()).await
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not record a (un)subscribe in the followers table");
        }
    });
}
