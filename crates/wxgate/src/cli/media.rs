//! `wxgate media upload FILE [--temporary]`, `media list`, `media delete MEDIA_ID`: media and
//! permanent material (`crate::media`).

use std::path::PathBuf;

use clap::Subcommand;
use wechat::media::{MediaKind, Store, VideoDescription};

use super::{AccountArgs, account, when};
use crate::media::MediaLibrary;

#[derive(Subcommand, Debug)]
pub(super) enum MediaAction {
    /// Upload FILE as permanent material (or temporary media, 3 days) and print its media_id.
    /// The same bytes uploaded before get their media_id back without a new upload.
    Upload {
        #[command(flatten)]
        account: AccountArgs,
        file: PathBuf,
        /// image, voice, video or thumb; default: from the file's extension.
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// Temporary media (media/upload, 3 days) instead of permanent material.
        #[arg(long)]
        temporary: bool,
        /// A video's title (permanent videos need one).
        #[arg(long)]
        title: Option<String>,
        /// A video's introduction.
        #[arg(long)]
        introduction: Option<String>,
    },
    /// What was uploaded through wxgate, newest first.
    List {
        #[command(flatten)]
        account: AccountArgs,
        /// WeChat's material library instead (the console's uploads too): the counts and the
        /// newest 20 images, voices and videos.
        #[arg(long)]
        remote: bool,
    },
    /// Delete permanent material (temporary media is only forgotten: WeChat drops it itself).
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        media_id: String,
    },
}

pub(super) async fn run(action: MediaAction) -> Result<(), String> {
    match action {
        MediaAction::Upload {
            account: args,
            file,
            kind,
            temporary,
            title,
            introduction,
        } => {
            let kind = match kind.as_deref() {
                Some(k) => MediaKind::parse(k).ok_or_else(|| {
                    format!("--type {k:?} is not one of: image, voice, video, thumb")
                })?,
                None => MediaKind::guess(&file.to_string_lossy()).ok_or_else(|| {
                    format!(
                        "cannot tell the type of {} from its extension: give --type image|voice|video|thumb",
                        file.display()
                    )
                })?,
            };
            let store = if temporary {
                Store::Temporary
            } else {
                Store::Permanent
            };
            // Checked before anything is loaded or sent.
            crate::media::check_path(&file, kind, store)?;
            let video = title.map(|title| VideoDescription {
                title,
                introduction: introduction.unwrap_or_default(),
            });
            let (_, db, platform) = account(&args).await?;
            let library = MediaLibrary::new(db, platform);
            let up = library
                .upload(&file, kind, store, video.as_ref())
                .await
                .map_err(|e| e.to_string())?;
            println!("media_id: {}", up.row.media_id);
            println!(
                "{} {} ({}, {} bytes){}",
                up.row.store,
                up.row.kind,
                up.row.file_name,
                up.row.size,
                if up.reused {
                    ", uploaded before: reused"
                } else {
                    ""
                }
            );
            if let Some(url) = &up.row.url {
                println!("url:      {url}");
            }
            if let Some(t) = up.row.expires_at {
                println!("expires:  {}", when(Some(t)));
            }
            Ok(())
        }
        MediaAction::List {
            account: args,
            remote: true,
        } => {
            let (_, _, platform) = account(&args).await?;
            let c = &platform.client;
            let explain = |e: wechat::Error| crate::platform::explain(&e);
            let count = platform
                .call(|t| async move { c.material_count(&t).await })
                .await
                .map_err(explain)?;
            println!(
                "WeChat's library: {} images, {} voices, {} videos, {} articles",
                count.image_count, count.voice_count, count.video_count, count.news_count
            );
            for kind in [MediaKind::Image, MediaKind::Voice, MediaKind::Video] {
                let list = platform
                    .call(|t| async move { c.material_batchget(&t, kind, 0, 20).await })
                    .await
                    .map_err(explain)?;
                for item in list.item {
                    println!(
                        "{}  {:<6} {}  {}",
                        item.media_id,
                        kind,
                        item.name,
                        when(Some(item.update_time))
                    );
                }
            }
            Ok(())
        }
        MediaAction::List {
            account: args,
            remote: false,
        } => {
            let (_, db, _) = account(&args).await?;
            let rows = crate::db::media::list(&db, 1000)
                .await
                .map_err(|e| e.to_string())?;
            if rows.is_empty() {
                println!("nothing uploaded yet: wxgate media upload FILE");
            }
            for r in rows {
                println!(
                    "{}  {:<9} {:<6} {:>9} bytes  {}  {}",
                    r.media_id,
                    r.store,
                    r.kind,
                    r.size,
                    r.file_name,
                    when(Some(r.uploaded_at))
                );
            }
            Ok(())
        }
        MediaAction::Delete {
            account: args,
            media_id,
        } => {
            let (_, db, platform) = account(&args).await?;
            let library = MediaLibrary::new(db, platform);
            let asked = library.delete(&media_id).await.map_err(|e| match &e {
                crate::media::MediaFailure::Wechat(w)
                    if w.errcode() == Some(wechat::ErrCode::INVALID_MEDIA_ID) =>
                {
                    format!("WeChat has no material {media_id} (errcode 40007)")
                }
                _ => e.to_string(),
            })?;
            if asked {
                println!("deleted {media_id}");
            } else {
                println!("forgot {media_id} (temporary media: WeChat drops it after 3 days)");
            }
            Ok(())
        }
    }
}
