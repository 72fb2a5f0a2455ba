//! Where a push goes: the server's URL, Token, mode and key ([`PushTarget`]).

use super::*;

/// The server configuration's 消息加解密方式.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushMode {
    /// 明文模式: plaintext body, plaintext reply.
    #[default]
    Plain,
    /// 兼容模式: plaintext elements plus `<Encrypt>`; the reply may be plain or encrypted.
    Compatible,
    /// 安全模式: only `<Encrypt>`; the reply must be encrypted (or empty / `success`).
    Safe,
}

impl PushMode {
    pub(super) fn encrypted(self) -> bool {
        !matches!(self, PushMode::Plain)
    }

    pub(super) fn label(self) -> &'static str {
        match self {
            PushMode::Plain => "plain",
            PushMode::Compatible => "compatible",
            PushMode::Safe => "safe",
        }
    }
}

/// Where and how WeChat pushes: the account's 服务器配置.
#[derive(Clone, Serialize, Deserialize)]
pub struct PushTarget {
    /// The server's URL, e.g. `http://127.0.0.1:8000/weixin/`.
    pub url: String,
    /// 令牌 (Token).
    pub token: String,
    /// 消息加解密密钥 (EncodingAESKey, 43 characters); required in compatible and safe mode.
    #[serde(default)]
    pub aes_key: Option<String>,
    #[serde(default)]
    pub mode: PushMode,
    /// The AppID, the trailer of every encrypted payload. Empty: the simulator's own AppID when
    /// pushed through `/_sim/push`.
    #[serde(default)]
    pub appid: String,
    /// The account's original id (原始ID), the pushes' `ToUserName`.
    #[serde(default = "default_account_id")]
    pub account_id: String,
    /// How long WeChat waits for an answer (5 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// How many times WeChat re-sends after a timeout or connection failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

pub(super) fn default_account_id() -> String {
    DEFAULT_ACCOUNT_ID.to_string()
}

pub(super) fn default_timeout_ms() -> u64 {
    5000
}

pub(super) fn default_retries() -> u32 {
    3
}

impl PushTarget {
    /// A plaintext-mode target with WeChat's timing (5 s, 3 retries) and the default account id.
    pub fn new(url: impl Into<String>, token: impl Into<String>, appid: impl Into<String>) -> Self {
        PushTarget {
            url: url.into(),
            token: token.into(),
            aes_key: None,
            mode: PushMode::Plain,
            appid: appid.into(),
            account_id: default_account_id(),
            timeout_ms: default_timeout_ms(),
            retries: default_retries(),
        }
    }

    /// The same target in `mode` with `aes_key`.
    pub fn with_mode(mut self, mode: PushMode, aes_key: Option<String>) -> Self {
        self.mode = mode;
        self.aes_key = aes_key;
        self
    }

    pub(super) fn crypt(&self) -> Result<MessageCrypt, String> {
        let key = self.aes_key.as_deref().unwrap_or("");
        if key.is_empty() {
            return Err(format!(
                "{} mode needs the EncodingAESKey (aes_key) of the server configuration",
                self.mode.label()
            ));
        }
        if self.appid.is_empty() {
            return Err(format!(
                "{} mode needs the AppID (appid): it is the trailer of every encrypted payload",
                self.mode.label()
            ));
        }
        let key = EncodingAesKey::parse(key).map_err(|e| format!("aes_key: {e}"))?;
        Ok(MessageCrypt::with_receive_id(key, &self.appid))
    }
}

// Token and key are secrets: never in logs.
impl fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushTarget")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("aes_key", &self.aes_key.as_ref().map(|_| "<redacted>"))
            .field("mode", &self.mode)
            .field("appid", &self.appid)
            .field("account_id", &self.account_id)
            .field("timeout_ms", &self.timeout_ms)
            .field("retries", &self.retries)
            .finish()
    }
}
