//! 网页授权 (web OAuth2), docs/wechat-protocol.md §A: the authorize URL, the calls
//! (`sns/oauth2/access_token`, `sns/oauth2/refresh_token`, `sns/userinfo`, `sns/auth`) and
//! their typed bodies.

use std::fmt;
use std::str::FromStr;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Error};
use crate::types::{AccessToken, AppId, Code, OpenId, RefreshToken, State, UnionId};

/// What the login asks for. `snsapi_base` is silent and yields only the openid;
/// `snsapi_userinfo` shows the consent page and allows `sns/userinfo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "snsapi_base")]
    Base,
    #[serde(rename = "snsapi_userinfo")]
    UserInfo,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Base => "snsapi_base",
            Scope::UserInfo => "snsapi_userinfo",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "snsapi_base" => Ok(Scope::Base),
            "snsapi_userinfo" => Ok(Scope::UserInfo),
            other => Err(format!(
                "unknown scope {other:?}: use snsapi_base or snsapi_userinfo"
            )),
        }
    }
}

/// The authorize URL, with the parameters in the order WeChat insists on (appid, redirect_uri,
/// response_type, scope, state — any other order gives "该链接无法访问") and the mandatory
/// `#wechat_redirect` fragment. `oauth_base` is `https://open.weixin.qq.com` or the simulator.
pub fn authorize_url(
    oauth_base: &str,
    appid: &AppId,
    redirect_uri: &str,
    scope: Scope,
    state: &State,
) -> String {
    format!(
        "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope={}&state={}#wechat_redirect",
        oauth_base.trim_end_matches('/'),
        appid.as_str(),
        utf8_percent_encode(redirect_uri, NON_ALPHANUMERIC),
        scope.as_str(),
        state.as_str(),
    )
}

/// The body of a successful `sns/oauth2/access_token` or `sns/oauth2/refresh_token` (§A.3, §A.4).
#[derive(Clone, Debug, Deserialize)]
pub struct OAuthToken {
    pub access_token: AccessToken,
    #[serde(deserialize_with = "crate::types::lifetime")]
    pub expires_in: i64,
    pub refresh_token: RefreshToken,
    pub openid: OpenId,
    /// Granted scopes, comma separated (e.g. `snsapi_userinfo`).
    #[serde(default)]
    pub scope: String,
    /// Present (as 1) only for a snapshot-page virtual user (§A.5 item 4).
    #[serde(default)]
    pub is_snapshotuser: Option<i64>,
    #[serde(default)]
    pub unionid: Option<UnionId>,
}

impl OAuthToken {
    pub fn is_snapshot_user(&self) -> bool {
        self.is_snapshotuser == Some(1)
    }

    /// Whether the grant includes `snsapi_userinfo` (scopes are comma separated).
    pub fn has_userinfo_scope(&self) -> bool {
        self.scope
            .split(',')
            .any(|s| s.trim() == Scope::UserInfo.as_str())
    }
}

/// The body of a successful `sns/userinfo` (§A.5). Since 2021 `sex` is 0 and the region fields
/// are empty for everyone; the fields are kept because WeChat still sends them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserInfo {
    pub openid: OpenId,
    #[serde(default)]
    pub nickname: String,
    #[serde(default)]
    pub sex: i64,
    #[serde(default)]
    pub province: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub country: String,
    /// Empty when the user has no avatar; the last path segment is the size (0, 46, 64, 96, 132).
    #[serde(default)]
    pub headimgurl: String,
    #[serde(default)]
    pub privilege: Vec<String>,
    #[serde(default)]
    pub unionid: Option<UnionId>,
}

/// The `sns/*` calls, with the types above: everything about web login in one file.
impl Client {
    /// `sns/oauth2/access_token`: exchange a login code for the user's tokens (§A.3).
    pub async fn exchange_code(&self, code: &Code) -> Result<OAuthToken, Error> {
        self.get(
            "/sns/oauth2/access_token",
            &[
                ("appid", self.config.appid.as_str()),
                ("secret", self.config.secret.secret()),
                ("code", code.secret()),
                ("grant_type", "authorization_code"),
            ],
        )
        .await
    }

    /// `sns/oauth2/refresh_token`: a new user access_token from a refresh_token (§A.4).
    pub async fn refresh_user_token(&self, refresh: &RefreshToken) -> Result<OAuthToken, Error> {
        self.get(
            "/sns/oauth2/refresh_token",
            &[
                ("appid", self.config.appid.as_str()),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.secret()),
            ],
        )
        .await
    }

    /// `sns/userinfo`: the profile of a user who granted snsapi_userinfo (§A.5).
    pub async fn userinfo(&self, token: &AccessToken, openid: &OpenId) -> Result<UserInfo, Error> {
        self.get(
            "/sns/userinfo",
            &[
                ("access_token", token.secret()),
                ("openid", openid.as_str()),
                ("lang", "zh_CN"),
            ],
        )
        .await
    }

    /// `sns/auth`: whether a user access_token is still valid for this openid (§A.6).
    pub async fn check_user_token(
        &self,
        token: &AccessToken,
        openid: &OpenId,
    ) -> Result<(), Error> {
        let _: serde_json::Value = self
            .get(
                "/sns/auth",
                &[
                    ("access_token", token.secret()),
                    ("openid", openid.as_str()),
                ],
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_has_wechats_parameter_order_and_fragment() {
        let appid = AppId::parse("wxffde55b11cc79754").unwrap();
        let state = State::parse("abc123").unwrap();
        let url = authorize_url(
            "https://open.weixin.qq.com/",
            &appid,
            "http://39.107.226.105/empower/",
            Scope::UserInfo,
            &state,
        );
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxffde55b11cc79754\
             &redirect_uri=http%3A%2F%2F39%2E107%2E226%2E105%2Fempower%2F&response_type=code\
             &scope=snsapi_userinfo&state=abc123#wechat_redirect"
        );
    }

    #[test]
    fn token_body_parses_snapshot_flag_and_scope() {
        let t: OAuthToken = serde_json::from_str(
            r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"U"}"#,
        )
        .unwrap();
        assert!(t.is_snapshot_user());
        assert!(t.has_userinfo_scope());
        let t: OAuthToken = serde_json::from_str(
            r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_base"}"#,
        )
        .unwrap();
        assert!(!t.is_snapshot_user());
        assert!(!t.has_userinfo_scope());
    }

    #[test]
    fn an_absurd_lifetime_is_clamped_not_wrapped() {
        for (sent, kept) in [
            ("9223372036854775807", crate::types::MAX_LIFETIME_SECS),
            ("99999999999999999999999", crate::types::MAX_LIFETIME_SECS),
            ("-5", 0),
            ("\"7200\"", 7200),
            ("1e300", crate::types::MAX_LIFETIME_SECS),
        ] {
            let body = format!(
                r#"{{"access_token":"A","expires_in":{sent},"refresh_token":"R","openid":"O","scope":"snsapi_base"}}"#
            );
            let t: OAuthToken = serde_json::from_str(&body).unwrap();
            assert_eq!(t.expires_in, kept, "{sent}");
        }
        let bad = r#"{"access_token":"A","expires_in":"soon","refresh_token":"R","openid":"O"}"#;
        assert!(serde_json::from_str::<OAuthToken>(bad).is_err());
    }
}
