//! The account's followers, their tags, the tags themselves and the state of a follower sync
//! (`migrations/*/0007_followers.sql`). Written by [`crate::followers`]: the sync, the tag and
//! remark commands, and the subscribe/unsubscribe pushes.

use serde::Serialize;
use wechat::followers::{FollowerInfo, Tag};

use super::{Db, with_pool};

/// A follower as `wxgate followers list` and `GET /admin/followers` show them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Follower {
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    pub subscribe_time: Option<i64>,
    pub subscribe_scene: Option<String>,
    pub qr_scene: Option<String>,
    pub remark: String,
    pub tag_ids: Vec<i64>,
    pub updated_at: i64,
}

type Row = (
    String,
    Option<String>,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    i64,
);

/// Stores what `user/info/batchget` said of some users, seen by the sync `run`: each row and
/// its tags replaced, in one transaction.
pub async fn store_infos(
    db: &Db,
    infos: &[FollowerInfo],
    now: i64,
    run: i64,
) -> Result<(), sqlx::Error> {
    const UPSERT: &str = "INSERT INTO followers (openid, unionid, subscribed, subscribe_time,
                              subscribe_scene, qr_scene, remark, sync_run, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (openid) DO UPDATE SET
             unionid = COALESCE(excluded.unionid, followers.unionid),
             subscribed = excluded.subscribed,
             subscribe_time = COALESCE(excluded.subscribe_time, followers.subscribe_time),
             subscribe_scene = COALESCE(excluded.subscribe_scene, followers.subscribe_scene),
             qr_scene = CASE WHEN excluded.subscribed = 1 THEN excluded.qr_scene
                             ELSE followers.qr_scene END,
             remark = excluded.remark,
             sync_run = excluded.sync_run,
             updated_at = excluded.updated_at";
    const UNTAG: &str = "DELETE FROM follower_tags WHERE openid = $1";
    const TAG: &str = "INSERT INTO follower_tags (openid, tag_id) VALUES ($1, $2)
                       ON CONFLICT (openid, tag_id) DO NOTHING";
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for info in infos {
            let scene = Some(info.subscribe_scene.clone()).filter(|s| !s.is_empty());
            sqlx::query(UPSERT)
                .bind(&info.openid)
                .bind(&info.unionid)
                .bind(i64::from(info.is_subscribed()))
                .bind(info.subscribe_time)
                .bind(scene)
                .bind(info.qr_scene())
                .bind(&info.remark)
                .bind(run)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if info.is_subscribed() {
                sqlx::query(UNTAG).bind(&info.openid).execute(&mut *tx).await?;
                for tag in &info.tagid_list {
                    sqlx::query(TAG).bind(&info.openid).bind(*tag).execute(&mut *tx).await?;
                }
            }
        }
        tx.commit().await
    })
}

/// A subscribe push: the user follows since `subscribe_time`, through the QR code of `qr_scene`
/// if any (a plain follow clears the scene of an earlier one). A sync in progress counts them
/// as seen, so that it does not mark them gone if its pages went past them already.
pub async fn record_subscribe(
    db: &Db,
    openid: &str,
    subscribe_time: i64,
    qr_scene: Option<&str>,
    now: i64,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO followers (openid, subscribed, subscribe_time, subscribe_scene,
                                              qr_scene, sync_run, updated_at)
         VALUES ($1, 1, $2, $3, $4, (SELECT run FROM follower_sync WHERE id = 1), $5)
         ON CONFLICT (openid) DO UPDATE SET
             subscribed = 1,
             subscribe_time = excluded.subscribe_time,
             subscribe_scene = COALESCE(excluded.subscribe_scene, followers.subscribe_scene),
             qr_scene = excluded.qr_scene,
             sync_run = COALESCE(excluded.sync_run, followers.sync_run),
             updated_at = excluded.updated_at";
    let scene = qr_scene.map(|_| "ADD_SCENE_QR_CODE");
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(openid)
        .bind(subscribe_time)
        .bind(scene)
        .bind(qr_scene)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// An unsubscribe push: the user left (their row stays, with `subscribed` 0).
pub async fn record_unsubscribe(db: &Db, openid: &str, now: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO followers (openid, subscribed, updated_at) VALUES ($1, 0, $2)
         ON CONFLICT (openid) DO UPDATE SET subscribed = 0, updated_at = excluded.updated_at";
    with_pool!(db, pool => sqlx::query(SQL).bind(openid).bind(now).execute(pool).await.map(|_| ()))
}

/// After the complete sync `run`: whoever it did not see (nor a subscribe push during it) no
/// longer follows. How many were marked.
pub async fn mark_unseen_gone(db: &Db, run: i64, now: i64) -> Result<u64, sqlx::Error> {
    const SQL: &str = "UPDATE followers SET subscribed = 0, updated_at = $2
         WHERE subscribed = 1 AND (sync_run IS NULL OR sync_run <> $1)";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(run)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
}

/// The followers, newest follow first: only those who follow unless `everyone`, only those
/// with tag `tag` if given.
pub async fn list(
    db: &Db,
    tag: Option<i64>,
    everyone: bool,
    limit: i64,
    offset: i64,
) -> Result<Vec<Follower>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT f.openid, f.unionid, f.subscribed, f.subscribe_time, f.subscribe_scene,
                f.qr_scene, f.remark, f.updated_at FROM followers f",
    );
    if tag.is_some() {
        sql.push_str(" JOIN follower_tags t ON t.openid = f.openid AND t.tag_id = $3");
    }
    sql.push_str(if everyone {
        " WHERE 1 = 1"
    } else {
        " WHERE f.subscribed = 1"
    });
    sql.push_str(" ORDER BY f.subscribed DESC, f.subscribe_time DESC, f.openid LIMIT $1 OFFSET $2");
    let rows: Vec<Row> = with_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql).bind(limit).bind(offset);
        if let Some(t) = tag {
            q = q.bind(t);
        }
        q.fetch_all(pool).await
    })?;
    let mut followers: Vec<Follower> = rows
        .into_iter()
        .map(
            |(openid, unionid, subscribed, time, scene, qr, remark, updated_at)| Follower {
                openid,
                unionid,
                subscribed: subscribed == 1,
                subscribe_time: time,
                subscribe_scene: scene,
                qr_scene: qr,
                remark,
                tag_ids: Vec::new(),
                updated_at,
            },
        )
        .collect();
    if followers.is_empty() {
        return Ok(followers);
    }
    // Their tags, in one query.
    let marks: Vec<String> = (1..=followers.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT openid, tag_id FROM follower_tags WHERE openid IN ({}) ORDER BY tag_id",
        marks.join(", ")
    );
    let tags: Vec<(String, i64)> = with_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        for f in &followers {
            q = q.bind(f.openid.clone());
        }
        q.fetch_all(pool).await
    })?;
    for f in &mut followers {
        f.tag_ids = tags
            .iter()
            .filter(|(o, _)| *o == f.openid)
            .map(|(_, t)| *t)
            .collect();
    }
    Ok(followers)
}

/// How many followers (as [`list`] selects them) there are.
pub async fn count(db: &Db, tag: Option<i64>, everyone: bool) -> Result<i64, sqlx::Error> {
    let mut sql = String::from("SELECT COUNT(*) FROM followers f");
    if tag.is_some() {
        sql.push_str(" JOIN follower_tags t ON t.openid = f.openid AND t.tag_id = $1");
    }
    if !everyone {
        sql.push_str(" WHERE f.subscribed = 1");
    }
    let (n,): (i64,) = with_pool!(db, pool => {
        let mut q = sqlx::query_as(&sql);
        if let Some(t) = tag {
            q = q.bind(t);
        }
        q.fetch_one(pool).await
    })?;
    Ok(n)
}

/// Replaces the copy of the account's tags with what `tags/get` answered.
pub async fn replace_tags(db: &Db, tags: &[Tag], now: i64) -> Result<(), sqlx::Error> {
    const INSERT: &str = "INSERT INTO tags (id, name, count, updated_at) VALUES ($1, $2, $3, $4)";
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM tags").execute(&mut *tx).await?;
        for t in tags {
            sqlx::query(INSERT)
                .bind(t.id)
                .bind(&t.name)
                .bind(t.count as i64)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}

/// The copy of the account's tags, by id.
pub async fn tags(db: &Db) -> Result<Vec<Tag>, sqlx::Error> {
    const SQL: &str = "SELECT id, name, count FROM tags ORDER BY id";
    let rows: Vec<(i64, String, i64)> =
        with_pool!(db, pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
    Ok(rows
        .into_iter()
        .map(|(id, name, count)| Tag {
            id,
            name,
            count: count.max(0) as u64,
        })
        .collect())
}

/// WeChat tagged (`add`) or untagged these users: the same here, for those known.
pub async fn set_tag(db: &Db, tag: i64, openids: &[String], add: bool) -> Result<(), sqlx::Error> {
    // Only followers already in the table: the foreign key keeps out openids never synced.
    const ADD: &str = "INSERT INTO follower_tags (openid, tag_id)
         SELECT openid, $2 FROM followers WHERE openid = $1
         ON CONFLICT (openid, tag_id) DO NOTHING";
    const REMOVE: &str = "DELETE FROM follower_tags WHERE openid = $1 AND tag_id = $2";
    let sql = if add { ADD } else { REMOVE };
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        for openid in openids {
            sqlx::query(sql).bind(openid).bind(tag).execute(&mut *tx).await?;
        }
        tx.commit().await
    })
}

/// WeChat deleted a tag: nobody carries it any more.
pub async fn delete_tag(db: &Db, tag: i64) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query("DELETE FROM follower_tags WHERE tag_id = $1").bind(tag).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM tags WHERE id = $1").bind(tag).execute(&mut *tx).await?;
        tx.commit().await
    })
}

/// WeChat renamed a tag.
pub async fn rename_tag(db: &Db, tag: i64, name: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE tags SET name = $2 WHERE id = $1";
    with_pool!(db, pool => sqlx::query(SQL).bind(tag).bind(name).execute(pool).await.map(|_| ()))
}

/// WeChat changed a follower's remark.
pub async fn set_remark(db: &Db, openid: &str, remark: &str, now: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE followers SET remark = $2, updated_at = $3 WHERE openid = $1";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(openid)
        .bind(remark)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
}

/// A sync that has not finished: where it goes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncState {
    /// This sync's id: its start in milliseconds.
    pub run: i64,
    /// The `next_openid` of the next `user/get` call (empty: from the start).
    pub next_openid: String,
    pub started_at: i64,
    pub total: i64,
    pub done: i64,
}

pub async fn sync_state(db: &Db) -> Result<Option<SyncState>, sqlx::Error> {
    const SQL: &str =
        "SELECT run, next_openid, started_at, total, done FROM follower_sync WHERE id = 1";
    let row: Option<(i64, String, i64, i64, i64)> =
        with_pool!(db, pool => sqlx::query_as(SQL).fetch_optional(pool).await)?;
    Ok(
        row.map(|(run, next_openid, started_at, total, done)| SyncState {
            run,
            next_openid,
            started_at,
            total,
            done,
        }),
    )
}

pub async fn save_sync_state(db: &Db, state: &SyncState) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO follower_sync (id, run, next_openid, started_at, total, done)
         VALUES (1, $5, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET run = excluded.run, next_openid = excluded.next_openid,
             started_at = excluded.started_at, total = excluded.total, done = excluded.done";
    with_pool!(db, pool => sqlx::query(SQL)
        .bind(&state.next_openid)
        .bind(state.started_at)
        .bind(state.total)
        .bind(state.done)
        .bind(state.run)
        .execute(pool)
        .await
        .map(|_| ()))
}

pub async fn clear_sync_state(db: &Db) -> Result<(), sqlx::Error> {
    with_pool!(db, pool => sqlx::query("DELETE FROM follower_sync").execute(pool).await.map(|_| ()))
}
