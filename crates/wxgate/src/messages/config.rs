//! The message server's settings (`WXGATE_TOKEN`, `WXGATE_AES_KEY`, `WXGATE_MESSAGE_MODE`, the
//! webhook, `[[rules]]`…), read from the configuration sources. Present only when a Token is
//! set: without one `/weixin/` is not served.

use std::fmt;
use std::time::Duration;

use crate::config::{ConfigError, Sources, env_name, error};

/// 消息加解密方式, as chosen in 公众平台 → 基本配置 → 服务器配置: which pushes are accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageMode {
    /// 明文模式: plaintext pushes only.
    Plain,
    /// 兼容模式: plaintext and encrypted pushes (also the mode to run while switching).
    Compatible,
    /// 安全模式: encrypted pushes only; a push without `encrypt_type=aes` is refused, since
    /// `signature` alone does not cover the body.
    Safe,
}

/// The message server (`/weixin/`) settings; present only when `WXGATE_TOKEN` is set.
#[derive(Clone, Debug)]
pub struct MessageConfig {
    pub token: wechat::signature::Token,
    pub mode: MessageMode,
    pub aes_key: Option<wechat::crypto::EncodingAesKey>,
    pub aes_key_previous: Option<wechat::crypto::EncodingAesKey>,
    pub path: String,
    pub deadline: Duration,
    pub body_limit: usize,
    pub timestamp_window: Duration,
    pub webhook: Option<WebhookConfig>,
    pub rules: Vec<super::rules::Rule>,
}

#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    pub secret: String,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish()
    }
}

pub fn from_sources(sources: &Sources) -> Result<Option<MessageConfig>, ConfigError> {
    let Some(token) = sources.get("token") else {
        for key in ["aes_key", "aes_key_previous", "message_mode", "webhook_url"] {
            if sources.get(key).is_some() {
                return Err(error(
                    "token",
                    format!(
                        "is not set, but {} is: the message server needs its Token",
                        env_name(key)
                    ),
                ));
            }
        }
        if !sources.rules().is_empty() {
            return Err(error(
                "token",
                "is not set, but the file has [[rules]]: the message server needs its Token",
            ));
        }
        return Ok(None);
    };
    let token = wechat::signature::Token::parse(token).map_err(|m| error("token", m))?;
    let key = |name: &str| {
        sources
            .get(name)
            .map(|k| wechat::crypto::EncodingAesKey::parse(k).map_err(|m| error(name, m)))
            .transpose()
    };
    let aes_key = key("aes_key")?;
    let aes_key_previous = key("aes_key_previous")?;
    if aes_key_previous.is_some() && aes_key.is_none() {
        return Err(error(
            "aes_key",
            "is not set, but WXGATE_AES_KEY_PREVIOUS is: set the current key too",
        ));
    }
    let mode = match (sources.get("message_mode"), &aes_key) {
        (None, Some(_)) | (Some("safe"), Some(_)) => MessageMode::Safe,
        (None, None) | (Some("plain"), None) => MessageMode::Plain,
        (Some("compatible"), Some(_)) => MessageMode::Compatible,
        (Some("plain"), Some(_)) => {
            return Err(error(
                "message_mode",
                "is plain, but WXGATE_AES_KEY is set: remove the key, or use compatible or safe",
            ));
        }
        (Some(m @ ("safe" | "compatible")), None) => {
            return Err(error(
                "aes_key",
                format!("is not set, but WXGATE_MESSAGE_MODE is {m}: set the EncodingAESKey"),
            ));
        }
        (Some(other), _) => {
            return Err(error(
                "message_mode",
                format!("{other:?} is not one of: plain, compatible, safe"),
            ));
        }
    };
    let path = sources.get("weixin_path").unwrap_or("/weixin/").to_owned();
    let plain = path.len() > 1
        && path.starts_with('/')
        && !path.starts_with("/_")
        && !path.contains("//")
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-_.".contains(&b));
    if !plain {
        return Err(error(
            "weixin_path",
            format!("{path:?} must be a path like /weixin/ (letters, digits, - _ . and /)"),
        ));
    }
    // wxgate's own pages: the message server cannot take their place (the routes say which).
    if crate::http::is_own_path(&path) {
        return Err(error(
            "weixin_path",
            format!("{path:?} is one of wxgate's own paths; use e.g. /weixin/"),
        ));
    }
    let webhook = match (sources.get("webhook_url"), sources.get("webhook_secret")) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(error(
                "webhook_secret",
                "is not set: the webhook's receiver needs it to check each delivery's signature",
            ));
        }
        (Some(url), Some(secret)) => {
            let parsed = url::Url::parse(url)
                .map_err(|e| error("webhook_url", format!("{url:?} is not a URL ({e})")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(error(
                    "webhook_url",
                    format!("{url:?} must start with http:// or https://"),
                ));
            }
            if secret.len() < 16 {
                return Err(error("webhook_secret", "must be at least 16 characters"));
            }
            Some(WebhookConfig {
                url: url.to_owned(),
                secret: secret.to_owned(),
            })
        }
    };
    let rules = super::rules::parse_rules(sources.rules(), sources.base_dir())
        .map_err(|(key, m)| ConfigError { key, message: m })?;
    Ok(Some(MessageConfig {
        token,
        mode,
        aes_key,
        aes_key_previous,
        path,
        // WeChat gives up at 5 s and shows the user 该公众号暂时无法提供服务.
        deadline: sources.millis("reply_deadline_ms", 4500, 100..=4800)?,
        body_limit: sources.number("message_body_limit", 65_536, 1024..=16 * 1024 * 1024)? as usize,
        timestamp_window: sources.seconds("timestamp_window_secs", 300, 1..=86_400)?,
        webhook,
        rules,
    }))
}
