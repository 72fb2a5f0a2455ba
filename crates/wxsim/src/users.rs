//! Simulated WeChat users: the default set, loading a set from JSON, and generated avatars.
//!
//! The defaults follow what WeChat returns since the 2021-09-26 change (§A.5): `sex` 0 and empty
//! region fields. They are chosen to break careless pages: a Chinese nickname, an emoji one, an
//! HTML-injection one and a snapshot-page (快照页) virtual user.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimUser {
    pub openid: String,
    pub nickname: String,
    #[serde(default)]
    pub sex: u8,
    #[serde(default)]
    pub province: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
    /// `None`: the simulator serves a generated avatar at `/_sim/avatar/<index>/132`.
    #[serde(default)]
    pub headimgurl: Option<String>,
    #[serde(default)]
    pub unionid: Option<String>,
    #[serde(default)]
    pub privilege: Vec<String>,
    /// A snapshot-page virtual account: token exchange says `is_snapshotuser: 1` and
    /// `sns/userinfo` answers 48001.
    #[serde(default)]
    pub snapshot: bool,
    /// The user's tag ids (用户标签), matched by a personalized menu's `tag_id`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// 1 iOS, 2 Android, 3 others: matched by a personalized menu's `client_platform_type`.
    /// `None`: matches no platform rule.
    #[serde(default)]
    pub client_platform_type: Option<u8>,
}

impl SimUser {
    fn new(openid: &str, nickname: &str, unionid: Option<&str>) -> Self {
        SimUser {
            openid: openid.to_string(),
            nickname: nickname.to_string(),
            sex: 0,
            province: String::new(),
            city: String::new(),
            country: String::new(),
            headimgurl: None,
            unionid: unionid.map(str::to_string),
            privilege: Vec::new(),
            snapshot: false,
            tags: Vec::new(),
            client_platform_type: None,
        }
    }
}

/// The HTML-injection nickname of the third default user.
pub const XSS_NICKNAME: &str = r#"<script>alert("xss")</script>&amp;"'"#;

/// Four users: 张三 (iOS), 🐼熊猫🎋 (Android, tag `100`), an HTML-injection nickname (other
/// platform) and a snapshot user (微信用户, no platform).
pub fn default_users() -> Vec<SimUser> {
    let mut snapshot = SimUser::new("oSnaP8kQz3xV1mW5bJ7tY2uE9rA0", "微信用户", None);
    snapshot.snapshot = true;
    let mut zhang = SimUser::new(
        "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
        "张三",
        Some("o6_bmasdasdsad6_2sgVt7hMZOPf"),
    );
    zhang.client_platform_type = Some(1);
    let mut panda = SimUser::new(
        "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
        "🐼熊猫🎋",
        Some("oTGvq0xpGj3Gk5AC2bfAc3LRmT6w"),
    );
    panda.client_platform_type = Some(2);
    panda.tags = vec!["100".to_string()];
    let mut xss = SimUser::new("oMk2Q5pQ3rUAgGtQx8yF0hLn9Kc1", XSS_NICKNAME, None);
    xss.client_platform_type = Some(3);
    vec![zhang, panda, xss, snapshot]
}

/// Reads a JSON array of users. The error names the file and what is wrong with it.
pub fn load_users(path: &Path) -> Result<Vec<SimUser>, String> {
    let shown = path.display();
    let text = std::fs::read(path).map_err(|e| format!("cannot read users file {shown}: {e}"))?;
    let users: Vec<SimUser> = serde_json::from_slice(&text).map_err(|e| {
        format!("users file {shown} is not a JSON array of users (openid, nickname, ...): {e}")
    })?;
    if users.is_empty() {
        return Err(format!(
            "users file {shown} has an empty list; give at least one user"
        ));
    }
    for (i, user) in users.iter().enumerate() {
        if user.openid.trim().is_empty() {
            return Err(format!("users file {shown}: user {i} has an empty openid"));
        }
        if users[..i].iter().any(|u| u.openid == user.openid) {
            return Err(format!(
                "users file {shown}: user {i} repeats openid {:?}",
                user.openid
            ));
        }
    }
    Ok(users)
}

/// The square sizes WeChat serves (§A.5); 0 means 640.
pub(crate) fn avatar_pixels(size: &str) -> Option<u32> {
    match size {
        "0" => Some(640),
        "46" => Some(46),
        "64" => Some(64),
        "96" => Some(96),
        "132" => Some(132),
        _ => None,
    }
}

/// The generated avatar: a coloured square with the nickname's first character.
pub(crate) fn avatar_svg(user: &SimUser, pixels: u32) -> String {
    // A stable colour per openid, so a user keeps their face between runs.
    const PALETTE: [&str; 8] = [
        "#07c160", "#1485ee", "#fa5151", "#ff8f1f", "#6467f0", "#10aeff", "#b37feb", "#576b95",
    ];
    let hash = user
        .openid
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let colour = PALETTE[(hash as usize) % PALETTE.len()];
    let initial: String = user
        .nickname
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default();
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{px}" height="{px}" viewBox="0 0 100 100">"#,
            r#"<rect width="100" height="100" fill="{colour}"/>"#,
            r#"<text x="50" y="50" dy=".35em" text-anchor="middle" font-size="52" "#,
            r##"font-family="sans-serif" fill="#ffffff">{initial}</text></svg>"##
        ),
        px = pixels,
        colour = colour,
        initial = crate::pages::escape(&initial),
    )
}

/// The `headimgurl` the APIs return: the user's own, or the generated one on this listener.
pub(crate) fn headimgurl(user: &SimUser, index: usize, host: &str) -> String {
    match &user.headimgurl {
        Some(url) => url.clone(),
        None => format!("http://{host}/_sim/avatar/{index}/132"),
    }
}

/// The avatar as a page on this listener shows it (relative, so it works behind any host).
pub(crate) fn page_avatar(user: &SimUser, index: usize) -> String {
    match &user.headimgurl {
        Some(url) if !url.is_empty() => url.clone(),
        _ => format!("/_sim/avatar/{index}/132"),
    }
}
