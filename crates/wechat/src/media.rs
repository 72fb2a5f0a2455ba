//! Media (素材管理, `docs/wechat-platform-apis.md` §2): temporary media (`media/upload`,
//! `media/get`, 3 days) and permanent material (`material/add_material`, `get_material`,
//! `del_material`, `get_materialcount`, `batchget_material`). Each type's formats and size limit
//! are checked locally ([`check_file`]) before a byte is sent.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Download, Error};
use crate::types::AccessToken;

const MB: u64 = 1024 * 1024;
/// A file answer larger than every type's limit is not WeChat's.
const MAX_DOWNLOAD_BYTES: usize = 11 << 20;

/// A media type (`type=` of the upload calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Voice,
    Video,
    Thumb,
}

/// Which store a file goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// 临时素材: lives 3 days (§2.1).
    Temporary,
    /// 永久素材: until deleted (§2.4).
    Permanent,
}

impl MediaKind {
    pub const ALL: [MediaKind; 4] = [Self::Image, Self::Voice, Self::Video, Self::Thumb];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Voice => "voice",
            Self::Video => "video",
            Self::Thumb => "thumb",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The largest file of this type (§2.1, §2.4: the same for both stores).
    pub fn max_bytes(self) -> u64 {
        match self {
            Self::Image | Self::Video => 10 * MB,
            Self::Voice => 2 * MB,
            Self::Thumb => 64 * 1024,
        }
    }

    /// The file extensions WeChat accepts for this type in `store`, lower case.
    pub fn extensions(self, store: Store) -> &'static [&'static str] {
        match (self, store) {
            (Self::Image, Store::Temporary) => &["png", "jpeg", "jpg", "gif"],
            (Self::Image, Store::Permanent) => &["bmp", "png", "jpeg", "jpg", "gif"],
            (Self::Voice, Store::Temporary) => &["amr", "mp3"],
            (Self::Voice, Store::Permanent) => &["mp3", "wma", "wav", "amr"],
            (Self::Video, _) => &["mp4"],
            (Self::Thumb, _) => &["jpg", "jpeg"],
        }
    }

    /// The type a file name suggests (`.mp4` → video, `.amr` → voice, images → image).
    pub fn guess(file_name: &str) -> Option<Self> {
        let ext = extension(file_name)?;
        [Self::Image, Self::Voice, Self::Video]
            .into_iter()
            .find(|k| k.extensions(Store::Permanent).contains(&ext.as_str()))
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn extension(file_name: &str) -> Option<String> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let (stem, ext) = base.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

/// A size as people read it: `2.4 MB`, `70 KB`, `512 bytes`.
pub fn human_size(bytes: u64) -> String {
    if bytes >= MB {
        let tenths = (bytes * 10 + MB / 2) / MB;
        if tenths.is_multiple_of(10) {
            format!("{} MB", tenths / 10)
        } else {
            format!("{}.{} MB", tenths / 10, tenths % 10)
        }
    } else if bytes >= 1024 {
        format!("{} KB", (bytes + 512) / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// Why a file cannot be uploaded as `kind`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("{size}, WeChat's limit for {kind} is {limit}")]
    TooLarge {
        kind: MediaKind,
        size: String,
        limit: String,
    },
    #[error("the file is empty")]
    Empty,
    #[error("{name:?} has no extension; WeChat decides the format by it ({kind}: {allowed})")]
    NoExtension {
        name: String,
        kind: MediaKind,
        allowed: String,
    },
    #[error(".{ext} is not a format WeChat takes for {kind} ({allowed})")]
    BadExtension {
        ext: String,
        kind: MediaKind,
        allowed: String,
    },
    #[error("a video needs a title (WeChat's material/add_material description)")]
    VideoWithoutTitle,
}

/// Checks a file of `size` bytes named `file_name` against `kind`'s formats and size limit in
/// `store` (§2.1, §2.4).
pub fn check_file(
    kind: MediaKind,
    store: Store,
    file_name: &str,
    size: u64,
) -> Result<(), MediaError> {
    let allowed = || kind.extensions(store).join(", ");
    let Some(ext) = extension(file_name) else {
        return Err(MediaError::NoExtension {
            name: file_name.to_string(),
            kind,
            allowed: allowed(),
        });
    };
    if !kind.extensions(store).contains(&ext.as_str()) {
        return Err(MediaError::BadExtension {
            ext,
            kind,
            allowed: allowed(),
        });
    }
    if size == 0 {
        return Err(MediaError::Empty);
    }
    if size > kind.max_bytes() {
        let mut shown = human_size(size);
        if shown == human_size(kind.max_bytes()) {
            shown = format!("{size} bytes");
        }
        return Err(MediaError::TooLarge {
            kind,
            size: shown,
            limit: human_size(kind.max_bytes()),
        });
    }
    Ok(())
}

/// The `Content-Type` of an upload's part, from the file's extension.
fn content_type(file_name: &str) -> &'static str {
    match extension(file_name).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("bmp") => "image/bmp",
        Some("mp3") => "audio/mpeg",
        Some("amr") => "audio/amr",
        Some("wav") => "audio/wav",
        Some("wma") => "audio/x-ms-wma",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// The file name an upload carries: the name itself when it is plain ASCII, else `media.<ext>`
/// (WeChat reads the format from the extension, and a non-ASCII name was reported to get 41005,
/// §2.9).
pub fn upload_name(file_name: &str) -> String {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let plain = base
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    match extension(base) {
        Some(ext) if !plain => format!("media.{ext}"),
        _ => base.to_string(),
    }
}

/// A video's `description` for `material/add_material` (§2.4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoDescription {
    pub title: String,
    pub introduction: String,
}

/// `media/upload`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemporaryMedia {
    #[serde(rename = "type", default)]
    pub kind: Option<MediaKind>,
    /// `thumb_media_id` in older answers for thumbs (§2.1).
    #[serde(alias = "thumb_media_id")]
    pub media_id: String,
    #[serde(default)]
    pub created_at: i64,
}

/// `material/add_material`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermanentMaterial {
    pub media_id: String,
    /// Images only.
    #[serde(default)]
    pub url: Option<String>,
}

/// `material/get_material`'s answer (§2.5).
#[derive(Clone, Debug, PartialEq)]
pub enum Material {
    /// An image, voice or thumb: its bytes.
    File {
        content_type: String,
        bytes: Vec<u8>,
    },
    Video {
        title: String,
        description: String,
        down_url: String,
    },
    /// Articles, as WeChat sent them.
    News(serde_json::Value),
}

/// `material/get_materialcount`'s answer (§2.7).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialCount {
    #[serde(default)]
    pub voice_count: u64,
    #[serde(default)]
    pub video_count: u64,
    #[serde(default)]
    pub image_count: u64,
    #[serde(default)]
    pub news_count: u64,
}

/// One entry of `material/batchget_material` (§2.8).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialItem {
    pub media_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub update_time: i64,
    #[serde(default)]
    pub url: String,
}

/// `material/batchget_material`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialList {
    #[serde(default)]
    pub total_count: u64,
    #[serde(default)]
    pub item_count: u64,
    #[serde(default)]
    pub item: Vec<MaterialItem>,
}

/// At most this many per `batchget_material` page (§2.8).
pub const MAX_BATCH: u32 = 20;

impl Client {
    fn media_form(file_name: &str, bytes: Vec<u8>) -> Result<reqwest::multipart::Form, Error> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(upload_name(file_name))
            .mime_str(content_type(file_name))
            .map_err(|e| Error::Transport {
                path: "",
                message: e.to_string(),
            })?;
        Ok(reqwest::multipart::Form::new().part("media", part))
    }

    /// `cgi-bin/media/upload`: a temporary media (3 days). The caller checks the file with
    /// [`check_file`] first; `file_name`'s extension tells WeChat the format. Never retried.
    pub async fn media_upload(
        &self,
        token: &AccessToken,
        kind: MediaKind,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<TemporaryMedia, Error> {
        let form = Self::media_form(file_name, bytes)?;
        let request = self
            .http
            .post(self.url("/cgi-bin/media/upload"))
            .query(&[("access_token", token.secret()), ("type", kind.as_str())])
            .multipart(form);
        self.send("/cgi-bin/media/upload", request).await
    }

    /// `cgi-bin/material/add_material`: permanent material; a video needs `video`'s title.
    /// Never retried.
    pub async fn material_add(
        &self,
        token: &AccessToken,
        kind: MediaKind,
        file_name: &str,
        bytes: Vec<u8>,
        video: Option<&VideoDescription>,
    ) -> Result<PermanentMaterial, Error> {
        let mut form = Self::media_form(file_name, bytes)?;
        if kind == MediaKind::Video {
            let description = video.cloned().unwrap_or_default();
            form = form.text("description", json!(description).to_string());
        }
        let request = self
            .http
            .post(self.url("/cgi-bin/material/add_material"))
            .query(&[("access_token", token.secret()), ("type", kind.as_str())])
            .multipart(form);
        self.send("/cgi-bin/material/add_material", request).await
    }

    /// `cgi-bin/media/get`: a temporary media's bytes (a video's answer is its `video_url`,
    /// returned as [`Download::Json`]).
    pub async fn media_get(&self, token: &AccessToken, media_id: &str) -> Result<Download, Error> {
        let request = self
            .http
            .get(self.url("/cgi-bin/media/get"))
            .query(&[("access_token", token.secret()), ("media_id", media_id)]);
        self.send_for_file("/cgi-bin/media/get", request, MAX_DOWNLOAD_BYTES)
            .await
    }

    /// `cgi-bin/material/get_material`.
    pub async fn material_get(
        &self,
        token: &AccessToken,
        media_id: &str,
    ) -> Result<Material, Error> {
        let path = "/cgi-bin/material/get_material";
        let body = crate::client::json_body(&json!({"media_id": media_id})).map_err(|e| {
            Error::Transport {
                path,
                message: e.to_string(),
            }
        })?;
        let request = self
            .http
            .post(self.url(path))
            .query(&[("access_token", token.secret())])
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        Ok(
            match self
                .send_for_file(path, request, MAX_DOWNLOAD_BYTES)
                .await?
            {
                Download::File {
                    content_type,
                    bytes,
                } => Material::File {
                    content_type,
                    bytes,
                },
                Download::Json(v) if v.get("news_item").is_some() => Material::News(v),
                Download::Json(v) => {
                    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
                    Material::Video {
                        title: s("title").to_string(),
                        description: s("description").to_string(),
                        down_url: s("down_url").to_string(),
                    }
                }
            },
        )
    }

    /// `cgi-bin/material/del_material`.
    pub async fn material_delete(&self, token: &AccessToken, media_id: &str) -> Result<(), Error> {
        let _: serde_json::Value = self
            .post_json(
                "/cgi-bin/material/del_material",
                &[("access_token", token.secret())],
                &json!({"media_id": media_id}),
            )
            .await?;
        Ok(())
    }

    /// `cgi-bin/material/get_materialcount`.
    pub async fn material_count(&self, token: &AccessToken) -> Result<MaterialCount, Error> {
        self.get(
            "/cgi-bin/material/get_materialcount",
            &[("access_token", token.secret())],
        )
        .await
    }

    /// `cgi-bin/material/batchget_material`: `count` (1 to 20) items of `kind` from `offset`.
    pub async fn material_batchget(
        &self,
        token: &AccessToken,
        kind: MediaKind,
        offset: u32,
        count: u32,
    ) -> Result<MaterialList, Error> {
        self.post_json(
            "/cgi-bin/material/batchget_material",
            &[("access_token", token.secret())],
            &json!({"type": kind.as_str(), "offset": offset, "count": count.clamp(1, MAX_BATCH)}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(2_516_583), "2.4 MB");
        assert_eq!(human_size(10 * MB), "10 MB");
        assert_eq!(human_size(65_536), "64 KB");
        assert_eq!(human_size(12), "12 bytes");
    }

    #[test]
    fn files_are_checked_against_the_type() {
        assert!(check_file(MediaKind::Image, Store::Permanent, "media/a.PNG", 1000).is_ok());
        let e = check_file(MediaKind::Voice, Store::Permanent, "a.mp3", 2_516_583).unwrap_err();
        assert_eq!(e.to_string(), "2.4 MB, WeChat's limit for voice is 2 MB");
        let e = check_file(MediaKind::Thumb, Store::Permanent, "t.png", 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            ".png is not a format WeChat takes for thumb (jpg, jpeg)"
        );
        assert!(matches!(
            check_file(MediaKind::Image, Store::Temporary, "welcome", 10),
            Err(MediaError::NoExtension { .. })
        ));
        assert!(check_file(MediaKind::Image, Store::Temporary, "a.bmp", 10).is_err());
        assert!(check_file(MediaKind::Image, Store::Permanent, "a.bmp", 10).is_ok());
        assert_eq!(
            check_file(MediaKind::Image, Store::Permanent, "a.jpg", 0),
            Err(MediaError::Empty)
        );
        let e = check_file(MediaKind::Image, Store::Permanent, "a.jpg", 11 * MB).unwrap_err();
        assert_eq!(e.to_string(), "11 MB, WeChat's limit for image is 10 MB");
        let e = check_file(MediaKind::Thumb, Store::Permanent, "a.jpg", 65_537).unwrap_err();
        assert_eq!(
            e.to_string(),
            "65537 bytes, WeChat's limit for thumb is 64 KB"
        );
    }

    #[test]
    fn upload_names_are_plain_ascii() {
        assert_eq!(upload_name("media/welcome.png"), "welcome.png");
        assert_eq!(upload_name("欢迎.PNG"), "media.png");
        assert_eq!(upload_name("my photo.jpg"), "media.jpg");
    }

    #[test]
    fn types_are_guessed_from_extensions() {
        assert_eq!(MediaKind::guess("x/welcome.jpg"), Some(MediaKind::Image));
        assert_eq!(MediaKind::guess("a.mp4"), Some(MediaKind::Video));
        assert_eq!(MediaKind::guess("a.amr"), Some(MediaKind::Voice));
        assert_eq!(MediaKind::guess("a.txt"), None);
        assert_eq!(MediaKind::guess(".jpg"), None);
    }

    #[test]
    fn upload_answers_in_every_shape() {
        let a: TemporaryMedia = serde_json::from_str(
            r#"{"type":"thumb","thumb_media_id":"T1","created_at":1,"errcode":0,"errmsg":"ok","item":[]}"#,
        )
        .unwrap();
        assert_eq!(a.media_id, "T1");
        assert_eq!(a.kind, Some(MediaKind::Thumb));
    }
}
