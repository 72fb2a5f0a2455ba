//! WeChat's `errcode` (docs/wechat-protocol.md §G). Clients match on the number only.

use std::fmt;

/// A WeChat API error code. `0` is success and never appears inside an [`crate::Error`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ErrCode(pub i64);

impl ErrCode {
    pub const SYSTEM_BUSY: Self = Self(-1);
    pub const INVALID_CREDENTIAL: Self = Self(40001);
    pub const INVALID_GRANT_TYPE: Self = Self(40002);
    pub const INVALID_OPENID: Self = Self(40003);
    pub const INVALID_APPID: Self = Self(40013);
    pub const INVALID_ACCESS_TOKEN: Self = Self(40014);
    pub const INVALID_CODE: Self = Self(40029);
    pub const INVALID_REFRESH_TOKEN: Self = Self(40030);
    pub const INVALID_APPSECRET: Self = Self(40125);
    pub const CODE_BEEN_USED: Self = Self(40163);
    pub const IP_NOT_IN_WHITELIST: Self = Self(40164);
    pub const APPSECRET_FROZEN: Self = Self(40243);
    pub const MISSING_CODE: Self = Self(41008);
    pub const ACCESS_TOKEN_EXPIRED: Self = Self(42001);
    pub const REFRESH_TOKEN_EXPIRED: Self = Self(42002);
    pub const CODE_EXPIRED: Self = Self(42003);
    pub const DAILY_QUOTA: Self = Self(45009);
    pub const MINUTE_QUOTA: Self = Self(45011);
    pub const API_UNAUTHORIZED: Self = Self(48001);
    pub const USER_UNAUTHORIZED: Self = Self(50001);
    pub const IP_NOT_REGISTERED: Self = Self(61004);

    /// The OAuth `code` itself is bad: wrong, expired, already used or missing. The user can
    /// fix this by logging in again; the operator has nothing to do.
    pub fn is_bad_code(self) -> bool {
        matches!(
            self,
            Self::INVALID_CODE | Self::CODE_BEEN_USED | Self::MISSING_CODE | Self::CODE_EXPIRED
        )
    }

    /// The account's credentials or network set-up are wrong: only the operator can fix it.
    pub fn is_operator_error(self) -> bool {
        matches!(
            self,
            Self::INVALID_APPID
                | Self::INVALID_APPSECRET
                | Self::APPSECRET_FROZEN
                | Self::IP_NOT_IN_WHITELIST
                | Self::IP_NOT_REGISTERED
                | Self::INVALID_GRANT_TYPE
        )
    }

    /// A user access_token that is no longer usable (refresh it, or log in again).
    pub fn is_token_invalid(self) -> bool {
        matches!(
            self,
            Self::INVALID_CREDENTIAL | Self::INVALID_ACCESS_TOKEN | Self::ACCESS_TOKEN_EXPIRED
        )
    }

    /// A refresh_token that can no longer be used: the user must authorize again.
    pub fn is_refresh_token_dead(self) -> bool {
        matches!(
            self,
            Self::INVALID_REFRESH_TOKEN | Self::REFRESH_TOKEN_EXPIRED
        )
    }

    /// What the code means, in words an operator understands (not WeChat's errmsg).
    pub fn meaning(self) -> &'static str {
        match self.0 {
            -1 => "WeChat is busy (system error); try again shortly",
            40001 => "invalid credential: the secret or access_token is wrong or stale",
            40002 => "invalid grant_type",
            40003 => "the openid does not belong to this token or account",
            40013 => "invalid AppID: check WXGATE_APPID",
            40014 => "invalid access_token",
            40029 => "invalid or expired OAuth code",
            40030 => "invalid refresh_token",
            40125 => "invalid AppSecret: check WXGATE_SECRET",
            40163 => "the OAuth code has already been used",
            40164 | 61004 => {
                "this server's IP is not in the account's API IP whitelist (公众平台 → 基本配置 → IP白名单)"
            }
            40243 => "the AppSecret is frozen: unfreeze it in the 公众平台 console",
            41001 => "access_token missing",
            41002 => "appid missing",
            41004 => "appsecret missing",
            41008 => "OAuth code missing",
            41009 => "openid missing",
            42001 => "access_token expired",
            42002 => "refresh_token expired: the user must authorize again",
            42003 => "OAuth code expired",
            45009 => "the account's daily API quota is used up",
            45011 => "the per-minute API quota is used up; slow down",
            48001 => {
                "API unauthorized (a snsapi_base token, a snapshot-page user, or an unverified account)"
            }
            50001 => "the user has not authorized this API",
            _ => "unknown WeChat error",
        }
    }
}

impl fmt::Debug for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrCode({})", self.0)
    }
}

impl fmt::Display for ErrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.meaning())
    }
}
