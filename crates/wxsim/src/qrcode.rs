//! Parametric QR codes (`docs/wechat-platform-apis.md` §1): `POST /cgi-bin/qrcode/create`
//! hands out a ticket and the `http://weixin.qq.com/q/…` URL for a scene, `GET
//! /cgi-bin/showqrcode?ticket=` serves a real, scannable PNG of that URL (WeChat serves it on
//! mp.weixin.qq.com; the simulator next to its APIs), and the chat page's 扫一扫 lists the
//! account's live codes (`GET /_sim/qrcodes`) and scans one: a `subscribe` push with
//! `qrscene_<scene>` for a user who does not follow, `SCAN` with the bare scene for one who does.
//!
//! Checks, in WeChat's order: the token; a body that is not JSON or an unknown `action_name` is
//! 40052 (as observed, not 47001); a scene missing, of the wrong kind for the action, a
//! `scene_str` empty or over 64, a temporary `scene_id` of 0 or a permanent one outside
//! 1–100000 is 40053. `expire_seconds` defaults to 30 and is capped at 2592000 (30 days).
//! Asking again for a permanent scene gives the same ticket.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::{Params, check_base_token, reply};
use crate::{Simulator, lock};

/// Temporary codes without `expire_seconds` live this long (§1.1).
const DEFAULT_EXPIRE: u64 = 30;
const MAX_EXPIRE: u64 = 2_592_000;
const MAX_PERMANENT: usize = 100_000;
/// Temporary codes remembered at most (the oldest go first): the simulator stays bounded.
const MAX_TEMPORARY: usize = 10_000;

/// One code the account created.
#[derive(Clone, Debug, Serialize)]
pub struct SimQrCode {
    pub ticket: String,
    pub action_name: String,
    /// As scans report it: decimal text for `scene_id`.
    pub scene: String,
    pub url: String,
    /// Simulated Unix seconds; `None` for permanent codes.
    pub expires_at: Option<u64>,
    pub created_at: u64,
}

/// The codes, by ticket, and the order temporary ones were made in.
#[derive(Default)]
pub(crate) struct QrCodes {
    by_ticket: HashMap<String, SimQrCode>,
    temporary: std::collections::VecDeque<String>,
    permanent: usize,
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

/// A ticket shaped like WeChat's: base64 text, `+`, `/` and `=` included, so callers must
/// URL-encode it (§1.1).
fn new_ticket() -> String {
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    format!("gQ{}+/{}==", random_text(B64, 40), random_text(B64, 12))
}

fn new_url() -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    format!("http://weixin.qq.com/q/02{}", random_text(ALNUM, 22))
}

impl QrCodes {
    fn create(&mut self, action: &str, scene: String, expire: Option<u64>, now: u64) -> SimQrCode {
        if expire.is_none()
            && let Some(same) = self
                .by_ticket
                .values()
                .find(|c| c.expires_at.is_none() && c.action_name == action && c.scene == scene)
        {
            return same.clone();
        }
        let code = SimQrCode {
            ticket: new_ticket(),
            action_name: action.to_string(),
            scene,
            url: new_url(),
            expires_at: expire.map(|e| now + e),
            created_at: now,
        };
        if expire.is_some() {
            self.temporary.push_back(code.ticket.clone());
            while self.temporary.len() > MAX_TEMPORARY {
                if let Some(old) = self.temporary.pop_front() {
                    self.by_ticket.remove(&old);
                }
            }
        } else {
            self.permanent += 1;
        }
        self.by_ticket.insert(code.ticket.clone(), code.clone());
        code
    }

    /// The code of `ticket`, unless unknown or expired at `now`.
    fn live(&self, ticket: &str, now: u64) -> Option<&SimQrCode> {
        self.by_ticket
            .get(ticket)
            .filter(|c| c.expires_at.is_none_or(|e| now < e))
    }
}

/// The scene of a `qrcode/create` body for `action` (`QR_SCENE`…), as text.
fn scene_of(action: &str, scene: Option<&Value>) -> Result<String, i64> {
    let scene = scene.and_then(Value::as_object).ok_or(40053)?;
    let permanent = action.starts_with("QR_LIMIT_");
    if action.ends_with("STR_SCENE") {
        let s = scene
            .get("scene_str")
            .and_then(Value::as_str)
            .ok_or(40053)?;
        if s.is_empty() || s.chars().count() > 64 {
            return Err(40053);
        }
        Ok(s.to_string())
    } else {
        let id = scene.get("scene_id").and_then(Value::as_i64).ok_or(40053)?;
        let ok = if permanent {
            (1..=100_000).contains(&id)
        } else {
            id != 0 && i32::try_from(id).is_ok()
        };
        if !ok {
            return Err(40053);
        }
        Ok(id.to_string())
    }
}

/// `POST /cgi-bin/qrcode/create?access_token` → `{"ticket","expire_seconds","url"}`.
pub async fn create(State(sim): State<Simulator>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    reply((|| {
        check_base_token(&sim, &Params::new(q))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(44002);
        }
        let request: Value = serde_json::from_slice(&body).map_err(|_| 40052)?;
        let action = request
            .get("action_name")
            .and_then(Value::as_str)
            .filter(|a| {
                [
                    "QR_SCENE",
                    "QR_STR_SCENE",
                    "QR_LIMIT_SCENE",
                    "QR_LIMIT_STR_SCENE",
                ]
                .contains(a)
            })
            .ok_or(40052)?;
        let scene = scene_of(action, request.pointer("/action_info/scene"))?;
        let permanent = action.starts_with("QR_LIMIT_");
        let expire = (!permanent).then(|| {
            request
                .get("expire_seconds")
                .and_then(Value::as_u64)
                .filter(|e| *e > 0)
                .unwrap_or(DEFAULT_EXPIRE)
                .min(MAX_EXPIRE)
        });
        let now = sim.now();
        let mut codes = lock(&sim.inner.qrcodes);
        if permanent && codes.permanent >= MAX_PERMANENT {
            return Err(45029);
        }
        let code = codes.create(action, scene, expire, now);
        let mut answer = json!({"ticket": code.ticket, "url": code.url});
        if let Some(e) = expire {
            answer["expire_seconds"] = e.into();
        }
        Ok(answer)
    })())
}

/// `GET /cgi-bin/showqrcode?ticket=`: the PNG, or 404 for an unknown or expired ticket.
pub async fn show(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let params = Params::new(q);
    let now = sim.now();
    let url = params
        .get("ticket")
        .and_then(|t| lock(&sim.inner.qrcodes).live(t, now).map(|c| c.url.clone()));
    let Some(url) = url else {
        return (StatusCode::NOT_FOUND, "").into_response();
    };
    match qr_png(&url) {
        Some(png) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "max-age=604800"),
            ],
            png,
        )
            .into_response(),
        None => (StatusCode::INTERNAL_SERVER_ERROR, "").into_response(),
    }
}

/// `text` as a QR code in a PNG: 8 pixels a module, with the 4-module quiet zone scanners need.
pub fn qr_png(text: &str) -> Option<Vec<u8>> {
    const SCALE: usize = 8;
    const QUIET: usize = 4;
    let code = ::qrcode::QrCode::new(text.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == ::qrcode::Color::Dark {
                for dy in 0..SCALE {
                    let row = (y + QUIET) * SCALE + dy;
                    let start = row * side + (x + QUIET) * SCALE;
                    pixels[start..start + SCALE].fill(0);
                }
            }
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().ok()?;
        writer.write_image_data(&pixels).ok()?;
    }
    Some(out)
}

/// `GET /_sim/qrcodes[?openid=]`: the live codes, newest first, each with its `image` path;
/// with `openid`, also whether that user follows (what a scan would push).
pub async fn list(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let params = Params::new(q);
    let now = sim.now();
    let mut codes: Vec<SimQrCode> = lock(&sim.inner.qrcodes)
        .by_ticket
        .values()
        .filter(|c| c.expires_at.is_none_or(|e| now < e))
        .cloned()
        .collect();
    codes.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.scene.cmp(&b.scene)));
    let codes: Vec<Value> = codes
        .into_iter()
        .map(|c| {
            let image = format!(
                "/cgi-bin/showqrcode?ticket={}",
                url::form_urlencoded::byte_serialize(c.ticket.as_bytes()).collect::<String>()
            );
            let mut v = serde_json::to_value(&c).unwrap_or_default();
            v["image"] = image.into();
            v
        })
        .collect();
    let mut answer = json!({"qrcodes": codes});
    if let Some(openid) = params.get("openid") {
        answer["follows"] = sim.follows(openid).into();
    }
    axum::Json(answer).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_scenes_keep_their_ticket_and_temporary_ones_expire() {
        let mut codes = QrCodes::default();
        let a = codes.create("QR_LIMIT_STR_SCENE", "poster".into(), None, 100);
        let b = codes.create("QR_LIMIT_STR_SCENE", "poster".into(), None, 200);
        assert_eq!(a.ticket, b.ticket);
        let t = codes.create("QR_SCENE", "7".into(), Some(30), 100);
        assert!(codes.live(&t.ticket, 129).is_some());
        assert!(codes.live(&t.ticket, 130).is_none());
        assert!(t.ticket.contains('+') && t.ticket.contains('/'));
    }

    #[test]
    fn scenes_are_checked_per_action() {
        let scene = |v: Value| scene_of("QR_LIMIT_SCENE", Some(&v));
        assert_eq!(scene(json!({"scene_id": 7})), Ok("7".into()));
        assert_eq!(scene(json!({"scene_id": 100_001})), Err(40053));
        assert_eq!(scene(json!({"scene_str": "x"})), Err(40053));
        assert_eq!(
            scene_of("QR_SCENE", Some(&json!({"scene_id": 0}))),
            Err(40053)
        );
        let long = "x".repeat(65);
        assert_eq!(
            scene_of("QR_STR_SCENE", Some(&json!({ "scene_str": long }))),
            Err(40053)
        );
        assert_eq!(scene_of("QR_STR_SCENE", None), Err(40053));
    }

    #[test]
    fn the_png_is_a_png() {
        let png = qr_png("http://weixin.qq.com/q/02abc").unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!(info.width, info.height);
        assert!(info.width >= 29 * 8);
    }

    #[test]
    fn a_scanner_reads_the_url_back() {
        let url = "http://weixin.qq.com/q/02d4xg62y2rVHzxBJ2mfSQ2h";
        let png = qr_png(url).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        let (w, h) = (frame.width as usize, frame.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().unwrap();
        assert_eq!(content, url);
    }
}
