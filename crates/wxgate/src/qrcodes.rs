//! QR codes with scenes (带参数二维码, `docs/wechat-platform-apis.md` §1): create one through
//! WeChat, store it (table `qrcodes`) and list them. `wxgate qrcode …` and `/admin/qrcodes` are
//! thin adapters onto this. Scans come back as pushes; the rule condition `scene = "…"`
//! (`messages/rules.rs`) matches them.

use wechat::qrcode::{QrCodeRequest, Scene};

use crate::clock::now;
use crate::db::Db;
use crate::db::qrcodes::{self, QrCodeRow};
use crate::platform::Platform;

/// Temporary codes live this long unless told otherwise: WeChat's maximum, 30 days (its own
/// default, 30 s, is too short to print anything).
pub const DEFAULT_EXPIRE_SECS: u64 = wechat::qrcode::MAX_EXPIRE_SECONDS as u64;

/// How long a code lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Seconds, 1 to 2592000.
    Temporary(u64),
    Permanent,
}

#[derive(Debug, thiserror::Error)]
pub enum QrError {
    /// The request breaks WeChat's rules: nothing was sent.
    #[error("{0}")]
    Invalid(#[from] wechat::qrcode::QrCodeError),
    #[error("{}", crate::platform::explain(.0))]
    Wechat(#[from] wechat::Error),
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

/// The checked request for `scene` (digits are a numeric scene, anything else a string one).
pub fn request(scene: &str, lifetime: Lifetime) -> Result<QrCodeRequest, QrError> {
    let scene = Scene::parse(scene.trim());
    Ok(match lifetime {
        Lifetime::Temporary(secs) => QrCodeRequest::temporary(scene, secs)?,
        Lifetime::Permanent => QrCodeRequest::permanent(scene)?,
    })
}

/// Creates a code for `scene` and stores it. Not retried after a timeout (a second call
/// would make a second temporary code).
pub async fn create(
    db: &Db,
    platform: &Platform,
    scene: &str,
    lifetime: Lifetime,
) -> Result<QrCodeRow, QrError> {
    let request = request(scene, lifetime)?;
    let c = &platform.client;
    let request_ref = &request;
    let code = platform
        .call(|t| async move { c.qrcode_create(&t, request_ref).await })
        .await?;
    let created_at = now();
    let row = QrCodeRow {
        image_url: c.qrcode_image_url(&code.ticket),
        ticket: code.ticket,
        scene: request.scene().as_text(),
        kind: request.action_name().to_string(),
        url: code.url,
        expires_at: match lifetime {
            Lifetime::Permanent => None,
            Lifetime::Temporary(asked) => {
                Some(created_at + code.expire_seconds.filter(|s| *s > 0).unwrap_or(asked) as i64)
            }
        },
        created_at,
    };
    qrcodes::insert(db, &row).await?;
    Ok(row)
}

/// The stored codes, newest first; expired temporary ones only with `all`.
pub async fn list(db: &Db, all: bool) -> Result<Vec<QrCodeRow>, sqlx::Error> {
    let live_at = if all { i64::MIN } else { now() };
    qrcodes::list(db, live_at, 1000).await
}
