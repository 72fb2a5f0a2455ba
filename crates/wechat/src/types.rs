//! Protocol values as types: a `Code` cannot be passed where a `State` is expected, and secret
//! values print as `[redacted]` in `Debug` output, so they cannot leak into logs by accident.

use std::fmt;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// A public protocol value: `Debug` and `Display` show it.
macro_rules! public_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// A secret protocol value: `Debug` is redacted and there is no `Display`.
macro_rules! secret_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret itself; every call site is a place where it can leak, so keep them few.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}([redacted])", stringify!($name))
            }
        }
    };
}

public_value!(
    /// The user's id within this account (28 characters in practice).
    OpenId
);
public_value!(
    /// The user's id across all apps bound to one Open Platform account.
    UnionId
);
secret_value!(
    /// The account's AppSecret (开发者密码).
    AppSecret
);
secret_value!(
    /// A user-level (sns) or base access_token.
    AccessToken
);
secret_value!(
    /// A user-level refresh_token (valid 30 days).
    RefreshToken
);
secret_value!(
    /// An OAuth authorization code: single use, 5-minute life.
    Code
);

/// The account's AppID: `wx` followed by 16 hexadecimal digits.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        let hex = v.strip_prefix("wx").unwrap_or("");
        if hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(v.to_owned()))
        } else {
            Err(format!(
                "{v:?} is not an AppID (expected \"wx\" followed by 16 hex digits, as shown in 公众平台 → 基本配置)"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<AppId> for String {
    fn from(value: AppId) -> Self {
        value.0
    }
}

impl fmt::Debug for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AppId({:?})", self.0)
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The OAuth `state`: WeChat allows a-zA-Z0-9 and at most 128 bytes (§A.1).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct State(String);

impl State {
    /// 32 alphanumeric characters from the OS-seeded CSPRNG: log2(62^32) ≈ 190 bits.
    pub fn generate() -> Self {
        let s: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        Self(s)
    }

    /// Accepts only what WeChat itself would accept, so a forged value fails early.
    pub fn parse(value: &str) -> Option<Self> {
        (!value.is_empty()
            && value.len() <= 128
            && value.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality: a state is a bearer secret until it is used.
    pub fn ct_eq(&self, other: &State) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State([redacted])")
    }
}

/// The longest lifetime (`expires_in`) believed from WeChat. Its tokens and tickets live 7200 s;
/// a larger or negative figure is nonsense and is clamped, so that adding it to the clock can
/// neither overflow nor make a value look eternal.
pub const MAX_LIFETIME_SECS: i64 = 86_400;

/// Deserializes an `expires_in`, clamped to 0..=[`MAX_LIFETIME_SECS`] whatever number (or
/// numeric string) WeChat sent.
pub(crate) fn lifetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    let seconds = match &value {
        serde_json::Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .or_else(|| {
                n.as_f64()
                    .map(|f| f.clamp(i64::MIN as f64, i64::MAX as f64) as i64)
            }),
        serde_json::Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    seconds
        .map(|s| s.clamp(0, MAX_LIFETIME_SECS))
        .ok_or_else(|| serde::de::Error::custom(format!("expires_in is not a number: {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appid_parses_only_wechat_shaped_values() {
        assert!(AppId::parse("wxffde55b11cc79754").is_ok());
        assert!(AppId::parse("wxFFDE55B11CC79754").is_ok());
        assert!(AppId::parse("wx123").is_err());
        assert!(AppId::parse("abffde55b11cc79754").is_err());
        assert!(AppId::parse("wxffde55b11cc7975g").is_err());
    }

    #[test]
    fn states_are_unique_alphanumeric_and_parse_back() {
        let a = State::generate();
        let b = State::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(State::parse(a.as_str()), Some(a.clone()));
        assert!(a.ct_eq(&a.clone()));
        assert!(!a.ct_eq(&b));
        assert!(State::parse("").is_none());
        assert!(State::parse("abc-def").is_none());
        assert!(State::parse(&"a".repeat(129)).is_none());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let s = AppSecret::new("84e86527f090d6238ea1c0b96f5fc753");
        assert!(!format!("{s:?}").contains("84e8"));
        let t = AccessToken::new("TOKENVALUE");
        assert!(!format!("{t:?}").contains("TOKENVALUE"));
        assert!(
            !format!("{:?}", State::generate())
                .chars()
                .any(|c| c.is_ascii_digit())
        );
    }
}
