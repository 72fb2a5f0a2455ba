//! Media and material (`docs/wechat-platform-apis.md` §2): local files uploaded to WeChat once,
//! keyed by their SHA-256 (table `media`), and their media_id reused until the file changes.
//!
//! Rules may reply with a file (`reply = { type = "image", file = "media/welcome.jpg" }`,
//! `messages/rules.rs`). Its media_id is needed inside WeChat's 5 s, so the rules' files are
//! uploaded when the server starts ([`MediaLibrary::prepare`], in the background), and a push
//! finds the id in memory. A file that changed on disk since (its size or modification time
//! differ) is hashed again and, when its bytes are new, uploaded again on first use; a file
//! whose upload failed at start is tried again on first use. Uploads of one file are
//! single-flight: concurrent pushes wait for the one upload and share its outcome (a failure
//! too: the next push after it tries again). Material deleted with `wxgate media delete` is gone
//! from the table, so the next push uploads the file again. A push that would wait past the
//! reply deadline is answered late, as every slow reply is (`messages/late.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wechat::media::{MediaError, MediaKind, Store, VideoDescription, check_file};

use crate::clock::now;
use crate::db::Db;
use crate::db::media::{self, MediaRow};
use crate::platform::Platform;

/// Temporary media live 3 days; an id within an hour of that is not handed out again.
const TEMPORARY_TTL: i64 = 3 * 24 * 3600;
const TEMPORARY_MARGIN: i64 = 3600;

/// A rule's file: what to upload it as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileMedia {
    pub kind: MediaKind,
    /// Resolved against the config file's folder.
    pub path: PathBuf,
    /// A video's title and introduction for `material/add_material`.
    pub video: Option<VideoDescription>,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaFailure {
    #[error("{0}")]
    File(String),
    #[error("{0}")]
    Invalid(#[from] MediaError),
    #[error("{}", crate::platform::explain(.0))]
    Wechat(#[from] wechat::Error),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
    /// The upload this caller waited for failed so (it is not tried again at once).
    #[error("{0}")]
    Shared(String),
}

/// One file's uploads: one at a time; callers that waited for one share its outcome.
#[derive(Debug, Default)]
struct Flight {
    lock: tokio::sync::Mutex<()>,
    /// Attempts finished so far.
    done: std::sync::atomic::AtomicU64,
    /// How the last attempt failed, if it did.
    failure: Mutex<Option<String>>,
}

/// What an upload did.
#[derive(Clone, Debug)]
pub struct Uploaded {
    pub row: MediaRow,
    /// The same bytes were uploaded before: their media_id was reused, nothing was sent.
    pub reused: bool,
}

/// What is known of one file on disk.
#[derive(Clone, Debug)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    media_id: String,
}

/// Uploads, by content, with the media_ids of rule files kept in memory.
#[derive(Debug)]
pub struct MediaLibrary {
    db: Db,
    platform: Platform,
    seen: Mutex<HashMap<PathBuf, Seen>>,
    flights: tokio::sync::Mutex<HashMap<PathBuf, Arc<Flight>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn store_name(store: Store) -> &'static str {
    match store {
        Store::Permanent => "permanent",
        Store::Temporary => "temporary",
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks `path` as a `kind` file for `store` without reading it: it exists, is a file, and its
/// extension and size are WeChat's. What start-up checks for each rule's file.
pub fn check_path(path: &Path, kind: MediaKind, store: Store) -> Result<u64, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", path.display()));
    }
    check_file(kind, store, &file_name(path), meta.len())
        .map_err(|e| format!("{e} ({})", path.display()))?;
    Ok(meta.len())
}

impl MediaLibrary {
    pub fn new(db: Db, platform: Platform) -> Self {
        MediaLibrary {
            db,
            platform,
            seen: Mutex::new(HashMap::new()),
            flights: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Uploads `path` as `kind` to `store`, unless the same bytes were uploaded there before
    /// (and, for temporary media, have more than an hour left): then that media_id is reused.
    /// Checked locally first; never retried after a timeout.
    pub async fn upload(
        &self,
        path: &Path,
        kind: MediaKind,
        store: Store,
        video: Option<&VideoDescription>,
    ) -> Result<Uploaded, MediaFailure> {
        let name = file_name(path);
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| MediaFailure::File(format!("{}: {e}", path.display())))?;
        check_file(kind, store, &name, bytes.len() as u64)?;
        if kind == MediaKind::Video
            && store == Store::Permanent
            && video.is_none_or(|v| v.title.trim().is_empty())
        {
            return Err(MediaError::VideoWithoutTitle.into());
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let at = now();
        let valid_after = match store {
            Store::Permanent => at,
            Store::Temporary => at + TEMPORARY_MARGIN,
        };
        if let Some(row) = media::find_by_content(
            &self.db,
            &sha256,
            kind.as_str(),
            store_name(store),
            valid_after,
        )
        .await?
        {
            return Ok(Uploaded { row, reused: true });
        }
        let c = &self.platform.client;
        let (bytes_ref, name_ref) = (&bytes, &name);
        let (media_id, url) = match store {
            Store::Permanent => {
                let added = self
                    .platform
                    .call(|t| async move {
                        c.material_add(&t, kind, name_ref, bytes_ref.clone(), video)
                            .await
                    })
                    .await?;
                (added.media_id, added.url)
            }
            Store::Temporary => {
                let up =
                    self.platform
                        .call(|t| async move {
                            c.media_upload(&t, kind, name_ref, bytes_ref.clone()).await
                        })
                        .await?;
                (up.media_id, None)
            }
        };
        let row = MediaRow {
            media_id,
            kind: kind.as_str().to_string(),
            store: store_name(store).to_string(),
            sha256,
            file_name: name,
            size: bytes.len() as i64,
            url,
            uploaded_at: at,
            expires_at: (store == Store::Temporary).then_some(at + TEMPORARY_TTL),
        };
        media::insert(&self.db, &row).await?;
        Ok(Uploaded { row, reused: false })
    }

    /// The permanent media_id of a rule's file: from memory when the file has not changed
    /// since, else (single-flight per file) from the table by content, else uploaded now.
    pub async fn media_id_for(&self, file: &FileMedia) -> Result<String, MediaFailure> {
        let meta = tokio::fs::metadata(&file.path)
            .await
            .map_err(|e| MediaFailure::File(format!("{}: {e}", file.path.display())))?;
        let same = |seen: &Seen| seen.len == meta.len() && seen.modified == meta.modified().ok();
        let known = |lib: &Self| {
            lock(&lib.seen)
                .get(&file.path)
                .filter(|s| same(s))
                .map(|s| s.media_id.clone())
        };
        if let Some(id) = known(self) {
            // Still in the table: `wxgate media delete` (in any process) removes it there.
            if media::find(&self.db, &id).await?.is_some() {
                return Ok(id);
            }
            lock(&self.seen).remove(&file.path);
        }
        let flight = {
            let mut flights = self.flights.lock().await;
            flights.entry(file.path.clone()).or_default().clone()
        };
        let finished_before = flight.done.load(std::sync::atomic::Ordering::Acquire);
        let _one_at_a_time = flight.lock.lock().await;
        if let Some(id) = known(self) {
            return Ok(id);
        }
        // An attempt finished while this caller waited, and failed: its outcome is this one's.
        if flight.done.load(std::sync::atomic::Ordering::Acquire) != finished_before
            && let Some(failure) = lock(&flight.failure).clone()
        {
            return Err(MediaFailure::Shared(failure));
        }
        let attempt = self
            .upload(&file.path, file.kind, Store::Permanent, file.video.as_ref())
            .await;
        *lock(&flight.failure) = attempt.as_ref().err().map(ToString::to_string);
        flight
            .done
            .fetch_add(1, std::sync::atomic::Ordering::Release);
        let uploaded = attempt?;
        if !uploaded.reused {
            tracing::info!(
                file = %file.path.display(),
                kind = %file.kind,
                media_id = %uploaded.row.media_id,
                "uploaded a rule's file as permanent material"
            );
        }
        lock(&self.seen).insert(
            file.path.clone(),
            Seen {
                len: meta.len(),
                modified: meta.modified().ok(),
                media_id: uploaded.row.media_id.clone(),
            },
        );
        Ok(uploaded.row.media_id)
    }

    /// Makes sure every file has its media_id (at start-up, in the background); failures are
    /// logged and tried again on first use.
    pub async fn prepare(&self, files: &[FileMedia]) {
        for file in files {
            if let Err(e) = self.media_id_for(file).await {
                tracing::warn!(
                    file = %file.path.display(),
                    error = %e,
                    "could not upload a rule's file; trying again when a push needs it"
                );
            }
        }
    }

    /// Deletes permanent material (`material/del_material`) and forgets it; temporary media
    /// cannot be deleted (WeChat drops it after 3 days), so it is only forgotten. Whether
    /// WeChat was asked.
    pub async fn delete(&self, media_id: &str) -> Result<bool, MediaFailure> {
        let known = media::find(&self.db, media_id).await?;
        let temporary = known.as_ref().is_some_and(|r| r.store == "temporary");
        if !temporary {
            let c = &self.platform.client;
            self.platform
                .call(|t| async move { c.material_delete(&t, media_id).await })
                .await?;
        }
        media::delete(&self.db, media_id).await?;
        lock(&self.seen).retain(|_, s| s.media_id != media_id);
        Ok(!temporary)
    }
}
