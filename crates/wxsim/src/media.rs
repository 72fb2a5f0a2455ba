//! Media and material (`docs/wechat-platform-apis.md` §2): `media/upload` and `media/get`
//! (temporary, 3 days), `material/add_material`, `get_material`, `del_material`,
//! `get_materialcount` and `batchget_material` (permanent). The bytes are kept in memory, at
//! most [`MAX_BYTES`] in all (the oldest go first), so the chat page can show an image reply
//! (`GET /_sim/media/{media_id}` serves them).
//!
//! Upload checks, in this order: the token; `type` (40004); a multipart part named `media`
//! with a file name (41005); the file name's extension for the type (40005, no extension
//! included); an empty file (44001); the size (40006). A video's `description` must be JSON with
//! a `title` (47001 otherwise: WeChat does not document this one). An unknown, deleted or (for
//! temporary media) 3-day-old `media_id` is 40007. These limits are written here independently
//! of `wechat::media`, so the two check each other.

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::{Params, check_base_token, json_body, reply};
use crate::{Simulator, lock};

/// The largest upload read (a little over WeChat's 10 MB, so that 40006 can be answered):
/// axum's multipart reader stops at 2 MB unless told otherwise.
pub const MAX_UPLOAD: usize = 12 << 20;

/// All media bytes the simulator keeps.
pub const MAX_BYTES: usize = 64 << 20;
/// Temporary media live 3 days (§2.1).
const TEMPORARY_TTL: u64 = 3 * 24 * 3600;
const KB: usize = 1024;
const MB: usize = 1024 * 1024;

/// One stored file.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub kind: &'static str,
    pub permanent: bool,
    pub name: String,
    pub content_type: &'static str,
    pub bytes: Bytes,
    pub created_at: u64,
    /// Videos in the library: (title, introduction).
    pub video: Option<(String, String)>,
}

#[derive(Default)]
pub(crate) struct MediaStore {
    items: HashMap<String, Item>,
    order: VecDeque<String>,
    bytes: usize,
}

impl MediaStore {
    fn add(&mut self, item: Item) -> String {
        let id = new_media_id(item.permanent);
        self.bytes += item.bytes.len();
        self.items.insert(id.clone(), item);
        self.order.push_back(id.clone());
        while self.bytes > MAX_BYTES {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.items.remove(&old) {
                self.bytes -= gone.bytes.len();
            }
        }
        id
    }

    /// The item, unless unknown or (temporary) older than 3 days at `now`.
    pub(crate) fn get(&self, id: &str, now: u64) -> Option<&Item> {
        self.items
            .get(id)
            .filter(|i| i.permanent || now < i.created_at + TEMPORARY_TTL)
    }

    fn remove(&mut self, id: &str) -> Option<Item> {
        let item = self.items.remove(id)?;
        self.bytes -= item.bytes.len();
        self.order.retain(|o| o != id);
        Some(item)
    }
}

fn new_media_id(permanent: bool) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let body: String = (0..40)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}{body}", if permanent { "wxsimP_" } else { "wxsimT_" })
}

/// (size limit, extensions) of `kind` in the temporary or permanent store (§2.1, §2.4).
fn limits(kind: &str, permanent: bool) -> Option<(usize, &'static [&'static str])> {
    Some(match (kind, permanent) {
        ("image", false) => (10 * MB, &["png", "jpeg", "jpg", "gif"]),
        ("image", true) => (10 * MB, &["bmp", "png", "jpeg", "jpg", "gif"]),
        ("voice", false) => (2 * MB, &["amr", "mp3"]),
        ("voice", true) => (2 * MB, &["mp3", "wma", "wav", "amr"]),
        ("video", _) => (10 * MB, &["mp4"]),
        ("thumb", _) => (64 * KB, &["jpg", "jpeg"]),
        _ => return None,
    })
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "mp3" => "audio/mpeg",
        "amr" => "audio/amr",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Reads an upload: `type`, the `media` part and (videos) `description`, checked as WeChat does.
async fn read_upload(
    sim: &Simulator,
    q: Option<String>,
    req: Request,
    permanent: bool,
) -> Result<Item, i64> {
    let params = Params::new(q);
    check_base_token(sim, &params)?;
    let kind: &'static str = match params.get("type") {
        Some("image") => "image",
        Some("voice") => "voice",
        Some("video") => "video",
        Some("thumb") => "thumb",
        _ => return Err(40004),
    };
    let (max, extensions) = limits(kind, permanent).ok_or(40004)?;
    let mut multipart = Multipart::from_request(req, &()).await.map_err(|_| 41005)?;
    let mut file: Option<(String, Bytes)> = None;
    let mut description: Option<String> = None;
    while let Ok(Some(field)) = multipart.next_field().await {
        match field.name() {
            Some("media") if file.is_none() => {
                let name = field.file_name().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(|_| 41005)?;
                file = Some((name, bytes));
            }
            Some("description") => description = field.text().await.ok(),
            _ => {}
        }
    }
    let (name, bytes) = file.ok_or(41005)?;
    let ext = name
        .rsplit_once('.')
        .filter(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .ok_or(40005)?;
    if !extensions.contains(&ext.as_str()) {
        return Err(40005);
    }
    if bytes.is_empty() {
        return Err(44001);
    }
    if bytes.len() > max {
        return Err(40006);
    }
    let video = if kind == "video" && permanent {
        let d: Value =
            serde_json::from_str(description.as_deref().unwrap_or_default()).map_err(|_| 47001)?;
        let title = d
            .get("title")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or(47001)?;
        let intro = d
            .get("introduction")
            .and_then(Value::as_str)
            .unwrap_or_default();
        Some((title.to_string(), intro.to_string()))
    } else {
        None
    };
    Ok(Item {
        kind,
        permanent,
        name,
        content_type: content_type(&ext),
        bytes,
        created_at: sim.now(),
        video,
    })
}

/// `POST /cgi-bin/media/upload?access_token&type` → `{"type","media_id","created_at"}`.
pub async fn upload(State(sim): State<Simulator>, RawQuery(q): RawQuery, req: Request) -> Response {
    reply(
        async {
            let item = read_upload(&sim, q, req, false).await?;
            let (kind, created_at) = (item.kind, item.created_at);
            let id = lock(&sim.inner.media).add(item);
            let key = if kind == "thumb" {
                "thumb_media_id"
            } else {
                "media_id"
            };
            let mut answer = json!({"type": kind, "created_at": created_at});
            answer[key] = id.into();
            Ok(answer)
        }
        .await,
    )
}

/// `POST /cgi-bin/material/add_material?access_token&type` → `{"media_id","url"?}`.
pub async fn add_material(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    req: Request,
) -> Response {
    reply(
        async {
            let item = read_upload(&sim, q, req, true).await?;
            let image = item.kind == "image";
            let id = lock(&sim.inner.media).add(item);
            let mut answer = json!({"media_id": id});
            if image {
                answer["url"] = format!("http://mmbiz.qpic.cn/wxsim/{id}/0").into();
            }
            Ok(answer)
        }
        .await,
    )
}

/// The bytes of an item as a file answer.
fn file_answer(id: &str, item: &Item) -> Response {
    let ext = item.name.rsplit_once('.').map(|(_, e)| e).unwrap_or("bin");
    (
        [
            (header::CONTENT_TYPE, item.content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.{}\"", ext.to_ascii_lowercase()),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        item.bytes.clone(),
    )
        .into_response()
}

/// `GET /cgi-bin/media/get?access_token&media_id`: a temporary media's bytes; a video's is
/// `{"video_url"}`.
pub async fn get_media(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let params = Params::new(q);
    if let Err(code) = check_base_token(&sim, &params) {
        return reply(Err(code));
    }
    let Some(id) = params.get("media_id") else {
        return reply(Err(41006));
    };
    let media = lock(&sim.inner.media);
    match media.get(id, sim.now()).filter(|i| !i.permanent) {
        Some(item) if item.kind == "video" => reply(Ok(
            json!({"video_url": format!("http://wxsim.invalid/video/{id}")}),
        )),
        Some(item) => file_answer(id, item),
        None => reply(Err(40007)),
    }
}

fn media_id_of(body: &[u8]) -> Result<String, i64> {
    let request = json_body(body)?;
    request
        .get("media_id")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .ok_or(40007)
}

/// `POST /cgi-bin/material/get_material?access_token` with `{"media_id"}`.
pub async fn get_material(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let id = match check_base_token(&sim, &Params::new(q)).and_then(|()| media_id_of(&body)) {
        Ok(id) => id,
        Err(code) => return reply(Err(code)),
    };
    let media = lock(&sim.inner.media);
    match media.get(&id, sim.now()).filter(|i| i.permanent) {
        Some(Item {
            video: Some((title, intro)),
            ..
        }) => reply(Ok(json!({
            "title": title, "description": intro,
            "down_url": format!("http://wxsim.invalid/video/{id}"),
        }))),
        Some(item) => file_answer(&id, item),
        None => reply(Err(40007)),
    }
}

/// `POST /cgi-bin/material/del_material?access_token` with `{"media_id"}`.
pub async fn del_material(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let id = media_id_of(&body)?;
        let mut media = lock(&sim.inner.media);
        if !media.items.get(&id).is_some_and(|i| i.permanent) {
            return Err(40007);
        }
        media.remove(&id);
        Ok(json!({"errcode": 0, "errmsg": "ok"}))
    })())
}

/// `GET /cgi-bin/material/get_materialcount?access_token`.
pub async fn material_count(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(check_base_token(&sim, &Params::new(q)).map(|()| {
        let media = lock(&sim.inner.media);
        let count = |kind: &str| {
            media
                .items
                .values()
                .filter(|i| i.permanent && i.kind == kind)
                .count()
        };
        json!({
            "voice_count": count("voice"),
            "video_count": count("video"),
            "image_count": count("image"),
            "news_count": 0,
        })
    }))
}

/// `POST /cgi-bin/material/batchget_material?access_token` with `{"type","offset","count"}`:
/// newest first; `count` 1 to 20 (40097 otherwise), `type` image, video, voice or news (40004).
pub async fn batchget(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        let request = json_body(&body)?;
        let kind = match request.get("type").and_then(Value::as_str) {
            Some(k @ ("image" | "video" | "voice" | "news")) => k.to_string(),
            _ => return Err(40004),
        };
        let offset = request.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
        let count = request.get("count").and_then(Value::as_u64).ok_or(40097)?;
        if !(1..=20).contains(&count) {
            return Err(40097);
        }
        let media = lock(&sim.inner.media);
        let all: Vec<(&String, &Item)> = media
            .order
            .iter()
            .rev()
            .filter_map(|id| media.items.get_key_value(id))
            .filter(|(_, i)| i.permanent && i.kind == kind)
            .collect();
        let items: Vec<Value> = all
            .iter()
            .skip(offset)
            .take(count as usize)
            .map(|(id, i)| {
                let url = if i.kind == "image" {
                    format!("http://mmbiz.qpic.cn/wxsim/{id}/0")
                } else {
                    String::new()
                };
                json!({"media_id": id, "name": i.name, "update_time": i.created_at, "url": url})
            })
            .collect();
        Ok(json!({"total_count": all.len(), "item_count": items.len(), "item": items}))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(len: usize, permanent: bool) -> Item {
        Item {
            kind: "image",
            permanent,
            name: "a.png".into(),
            content_type: "image/png",
            bytes: Bytes::from(vec![0u8; len]),
            created_at: 1000,
            video: None,
        }
    }

    #[test]
    fn temporary_media_live_three_days_and_the_store_is_bounded() {
        let mut store = MediaStore::default();
        let t = store.add(item(10, false));
        let p = store.add(item(10, true));
        assert!(store.get(&t, 1000 + TEMPORARY_TTL - 1).is_some());
        assert!(store.get(&t, 1000 + TEMPORARY_TTL).is_none());
        assert!(store.get(&p, u64::MAX / 2).is_some());
        for _ in 0..5 {
            store.add(item(MAX_BYTES / 4, true));
        }
        assert!(store.bytes <= MAX_BYTES);
        assert!(store.get(&p, 1000).is_none(), "the oldest went first");
    }

    #[test]
    fn limits_per_type_and_store() {
        assert_eq!(limits("thumb", true).unwrap().0, 64 * KB);
        assert!(limits("image", true).unwrap().1.contains(&"bmp"));
        assert!(!limits("image", false).unwrap().1.contains(&"bmp"));
        assert!(limits("news", true).is_none());
    }
}
