//! Parametric QR codes (带参数二维码, `docs/wechat-platform-apis.md` §1): the `qrcode/create`
//! request for the four kinds, checked locally before any call, its answer, and the address of
//! the code's image (`showqrcode`, §1.2).

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::client::{Client, Download, Error};
use crate::types::AccessToken;

/// Longest lifetime of a temporary code: 30 days (§1.1).
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// Permanent numeric scenes are 1 to this (§1.1).
pub const MAX_PERMANENT_SCENE_ID: u32 = 100_000;
/// `scene_str` is 1 to 64 long (§1.1).
pub const MAX_SCENE_STR: usize = 64;
/// A QR image is a few kilobytes; anything far larger is not one.
const MAX_IMAGE_BYTES: usize = 1 << 20;

/// What a scan reports back: a number (`scene_id`) or a string (`scene_str`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scene {
    Id(u32),
    Str(String),
}

impl Scene {
    /// A scene as a person types it: digits without a leading zero are a `scene_id`
    /// (`QR_SCENE`/`QR_LIMIT_SCENE`), anything else a `scene_str`.
    pub fn parse(text: &str) -> Scene {
        let numeric = !text.is_empty()
            && text.len() <= 10
            && text.bytes().all(|b| b.is_ascii_digit())
            && !text.starts_with('0');
        match text.parse::<u32>() {
            Ok(id) if numeric && id <= i32::MAX as u32 => Scene::Id(id),
            _ => Scene::Str(text.to_string()),
        }
    }

    /// The scene as scan events carry it (decimal text for numbers).
    pub fn as_text(&self) -> String {
        match self {
            Scene::Id(id) => id.to_string(),
            Scene::Str(s) => s.clone(),
        }
    }
}

/// A `qrcode/create` request that passed the checks of §1.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCodeRequest {
    scene: Scene,
    /// `None`: a permanent code.
    expire_seconds: Option<u32>,
}

/// Why a QR code request was refused before any call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrCodeError {
    #[error("the scene is empty")]
    EmptyScene,
    #[error("scene {0:?} is {1} characters long; WeChat allows 1 to 64")]
    SceneTooLong(String, usize),
    #[error(
        "scene {0:?} has characters other than ASCII letters, digits and -_.:@/ (WeChat does not say how it counts others)"
    )]
    SceneNotAscii(String),
    #[error("a numeric scene must not be 0")]
    ZeroScene,
    #[error(
        "a permanent numeric scene is 1 to 100000 (WeChat's limit), not {0}; use a string scene instead"
    )]
    PermanentSceneOutOfRange(u32),
    #[error("expire_seconds is 1 to 2592000 (30 days), not {0}")]
    BadExpiry(u64),
}

impl QrCodeRequest {
    /// A temporary code living `expire_seconds` (1 s to 30 days).
    pub fn temporary(scene: Scene, expire_seconds: u64) -> Result<Self, QrCodeError> {
        check_scene(&scene)?;
        if expire_seconds == 0 || expire_seconds > u64::from(MAX_EXPIRE_SECONDS) {
            return Err(QrCodeError::BadExpiry(expire_seconds));
        }
        Ok(QrCodeRequest {
            scene,
            expire_seconds: Some(expire_seconds as u32),
        })
    }

    /// A permanent code (numeric scenes 1 to 100000).
    pub fn permanent(scene: Scene) -> Result<Self, QrCodeError> {
        check_scene(&scene)?;
        if let Scene::Id(id) = scene
            && id > MAX_PERMANENT_SCENE_ID
        {
            return Err(QrCodeError::PermanentSceneOutOfRange(id));
        }
        Ok(QrCodeRequest {
            scene,
            expire_seconds: None,
        })
    }

    pub fn scene(&self) -> &Scene {
        &self.scene
    }

    pub fn is_permanent(&self) -> bool {
        self.expire_seconds.is_none()
    }

    pub fn expire_seconds(&self) -> Option<u32> {
        self.expire_seconds
    }

    /// `QR_SCENE`, `QR_STR_SCENE`, `QR_LIMIT_SCENE` or `QR_LIMIT_STR_SCENE`.
    pub fn action_name(&self) -> &'static str {
        match (&self.scene, self.expire_seconds) {
            (Scene::Id(_), Some(_)) => "QR_SCENE",
            (Scene::Str(_), Some(_)) => "QR_STR_SCENE",
            (Scene::Id(_), None) => "QR_LIMIT_SCENE",
            (Scene::Str(_), None) => "QR_LIMIT_STR_SCENE",
        }
    }

    /// The JSON body, the scene nested under `action_info.scene` (a scene outside it is lost
    /// silently, §1.1 pitfalls).
    pub fn body(&self) -> Value {
        let scene = match &self.scene {
            Scene::Id(id) => json!({"scene_id": id}),
            Scene::Str(s) => json!({"scene_str": s}),
        };
        let mut body = json!({"action_name": self.action_name(), "action_info": {"scene": scene}});
        if let Some(secs) = self.expire_seconds {
            body["expire_seconds"] = secs.into();
        }
        body
    }
}

fn check_scene(scene: &Scene) -> Result<(), QrCodeError> {
    match scene {
        Scene::Id(0) => Err(QrCodeError::ZeroScene),
        Scene::Id(_) => Ok(()),
        Scene::Str(s) if s.is_empty() => Err(QrCodeError::EmptyScene),
        Scene::Str(s) if s.chars().count() > MAX_SCENE_STR => {
            Err(QrCodeError::SceneTooLong(s.clone(), s.chars().count()))
        }
        // §1.1: bytes or characters is not stated; ASCII keeps both counts equal.
        Scene::Str(s)
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:@/".contains(&b)) =>
        {
            Err(QrCodeError::SceneNotAscii(s.clone()))
        }
        Scene::Str(_) => Ok(()),
    }
}

/// `qrcode/create`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCode {
    pub ticket: String,
    /// Temporary codes only (`0` or absent for permanent ones).
    #[serde(default)]
    pub expire_seconds: Option<u64>,
    /// What the image encodes (`http://weixin.qq.com/q/…`).
    pub url: String,
}

/// The image of `ticket` on `https://mp.weixin.qq.com` (§1.2), the ticket URL-encoded.
pub fn showqrcode_url(ticket: &str) -> String {
    showqrcode_url_on("https://mp.weixin.qq.com", ticket)
}

fn showqrcode_url_on(origin: &str, ticket: &str) -> String {
    format!(
        "{}/cgi-bin/showqrcode?ticket={}",
        origin.trim_end_matches('/'),
        utf8_percent_encode(ticket, NON_ALPHANUMERIC)
    )
}

/// WeChat's API hosts (§0), whose QR images live on `mp.weixin.qq.com`.
fn is_wechat_api_host(api_base: &str) -> bool {
    let host = api_base
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    host == "api.weixin.qq.com"
        || host.ends_with(".api.weixin.qq.com")
        || host == "api2.weixin.qq.com"
}

impl Client {
    /// `cgi-bin/qrcode/create`: a ticket and the URL the code encodes. Never retried.
    pub async fn qrcode_create(
        &self,
        token: &AccessToken,
        request: &QrCodeRequest,
    ) -> Result<QrCode, Error> {
        self.post_json(
            "/cgi-bin/qrcode/create",
            &[("access_token", token.secret())],
            &request.body(),
        )
        .await
    }

    /// Where the image of `ticket` is: `mp.weixin.qq.com` for WeChat's API hosts, the API
    /// origin itself otherwise (the simulator serves `showqrcode` next to its APIs).
    pub fn qrcode_image_url(&self, ticket: &str) -> String {
        if is_wechat_api_host(&self.config.api_base) {
            showqrcode_url(ticket)
        } else {
            showqrcode_url_on(&self.config.api_base, ticket)
        }
    }

    /// The image of `ticket` (`showqrcode`, no access_token). An unknown or expired ticket is
    /// [`Error::BadResponse`] with status 404.
    pub async fn qrcode_image(&self, ticket: &str) -> Result<Vec<u8>, Error> {
        let request = self.http.get(self.qrcode_image_url(ticket));
        match self
            .send_for_file("/cgi-bin/showqrcode", request, MAX_IMAGE_BYTES)
            .await?
        {
            Download::File { bytes, .. } => Ok(bytes),
            Download::Json(_) => Err(Error::BadResponse {
                path: "/cgi-bin/showqrcode",
                status: 200,
                detail: "JSON instead of an image".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_numbers_only_when_they_look_like_one() {
        assert_eq!(Scene::parse("4711"), Scene::Id(4711));
        assert_eq!(Scene::parse("0471"), Scene::Str("0471".into()));
        assert_eq!(
            Scene::parse("metro_poster"),
            Scene::Str("metro_poster".into())
        );
        assert_eq!(
            Scene::parse("99999999999"),
            Scene::Str("99999999999".into())
        );
    }

    #[test]
    fn the_four_kinds_and_their_bodies() {
        let t = QrCodeRequest::temporary(Scene::Id(4711), 86400).unwrap();
        assert_eq!(t.action_name(), "QR_SCENE");
        assert_eq!(
            t.body(),
            json!({"expire_seconds": 86400, "action_name": "QR_SCENE", "action_info": {"scene": {"scene_id": 4711}}})
        );
        let t = QrCodeRequest::temporary(Scene::Str("invite:42".into()), 60).unwrap();
        assert_eq!(t.action_name(), "QR_STR_SCENE");
        assert_eq!(t.body()["action_info"]["scene"]["scene_str"], "invite:42");
        let p = QrCodeRequest::permanent(Scene::Id(7)).unwrap();
        assert_eq!(p.action_name(), "QR_LIMIT_SCENE");
        assert!(p.body().get("expire_seconds").is_none());
        let p = QrCodeRequest::permanent(Scene::Str("shop".into())).unwrap();
        assert_eq!(p.action_name(), "QR_LIMIT_STR_SCENE");
    }

    #[test]
    fn limits_are_checked_locally() {
        let long = "x".repeat(65);
        assert!(matches!(
            QrCodeRequest::permanent(Scene::Str(long)),
            Err(QrCodeError::SceneTooLong(_, 65))
        ));
        assert!(QrCodeRequest::permanent(Scene::Str("x".repeat(64))).is_ok());
        assert_eq!(
            QrCodeRequest::permanent(Scene::Id(100_001)),
            Err(QrCodeError::PermanentSceneOutOfRange(100_001))
        );
        assert_eq!(
            QrCodeRequest::temporary(Scene::Id(1), 2_592_001),
            Err(QrCodeError::BadExpiry(2_592_001))
        );
        assert_eq!(
            QrCodeRequest::temporary(Scene::Id(0), 60),
            Err(QrCodeError::ZeroScene)
        );
        assert_eq!(
            QrCodeRequest::temporary(Scene::Str(String::new()), 60),
            Err(QrCodeError::EmptyScene)
        );
        assert!(matches!(
            QrCodeRequest::temporary(Scene::Str("地铁".into()), 60),
            Err(QrCodeError::SceneNotAscii(_))
        ));
        let e = QrCodeRequest::permanent(Scene::Id(100_001)).unwrap_err();
        assert!(e.to_string().contains("1 to 100000"), "{e}");
    }

    #[test]
    fn the_image_url_encodes_the_ticket() {
        assert_eq!(
            showqrcode_url("gQF+8Dw/AA=="),
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQF%2B8Dw%2FAA%3D%3D"
        );
        assert!(is_wechat_api_host("https://api.weixin.qq.com"));
        assert!(is_wechat_api_host("https://sh.api.weixin.qq.com/"));
        assert!(!is_wechat_api_host("http://127.0.0.1:9000"));
    }
}
