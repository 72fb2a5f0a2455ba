//! The JS-SDK signature (docs/wechat-protocol.md §E) and the values a page passes to
//! `wx.config`. The URL must be the page's exact URL as the browser sees it, supplied by the
//! caller: guessing it on the server (scheme behind a proxy, SPA routes) is the usual cause of
//! `invalid signature` (field-lessons row 16). Only the `#fragment` is removed here.

use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::types::AppId;

/// `sha1("jsapi_ticket=…&noncestr=…&timestamp=…&url=…")` as lowercase hex: keys sorted by
/// name, values raw (not URL-encoded), `url` without `#` and what follows.
pub fn signature(jsapi_ticket: &str, noncestr: &str, timestamp: i64, url: &str) -> String {
    let url = strip_fragment(url);
    let string1 =
        format!("jsapi_ticket={jsapi_ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}");
    hex::encode(Sha1::digest(string1.as_bytes()))
}

/// The page URL that is signed: everything before the first `#`.
pub fn strip_fragment(url: &str) -> &str {
    url.split_once('#').map_or(url, |(before, _)| before)
}

/// The fields of `wx.config({…})` that depend on the server; serializes as
/// `{"appId":…,"timestamp":…,"nonceStr":…,"signature":…}`. `timestamp` and `nonceStr` must be
/// the values that were signed, which is why they travel together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsSdkConfig {
    pub app_id: AppId,
    pub timestamp: i64,
    pub nonce_str: String,
    pub signature: String,
}

/// Signs `url` for `wx.config` with the account's jsapi_ticket (fetch it with
/// [`crate::Client::get_jsapi_ticket`] and cache it: the ticket API is rate-limited).
pub fn config(appid: &AppId, ticket: &str, url: &str, timestamp: i64, nonce: &str) -> JsSdkConfig {
    JsSdkConfig {
        app_id: appid.clone(),
        timestamp,
        nonce_str: nonce.to_owned(),
        signature: signature(ticket, nonce, timestamp, url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKET: &str =
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg";
    const NONCE: &str = "Wm3WZYTPz0wzccnW";
    const TS: i64 = 1414587457;

    #[test]
    fn official_vectors() {
        assert_eq!(
            signature(TICKET, NONCE, TS, "http://mp.weixin.qq.com?params=value"),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            signature(TICKET, NONCE, TS, "http://mp.weixin.qq.com"),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
    }

    #[test]
    fn the_fragment_is_not_signed() {
        assert_eq!(
            signature(
                TICKET,
                NONCE,
                TS,
                "http://mp.weixin.qq.com?params=value#/spa/route?x=1#y"
            ),
            "0f9de62fce790f9a083d5c99e95740ceb90c27ed"
        );
        assert_eq!(
            signature(TICKET, NONCE, TS, "http://mp.weixin.qq.com#"),
            "f4d90daf4b3bca3078ab155816175ba34c443a7b"
        );
        assert_eq!(strip_fragment("https://a/b?c=d"), "https://a/b?c=d");
    }

    #[test]
    fn config_serializes_as_wx_config_expects() {
        let appid = AppId::parse("wxffde55b11cc79754").unwrap();
        let c = config(
            &appid,
            TICKET,
            "http://mp.weixin.qq.com?params=value#top",
            TS,
            NONCE,
        );
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({
                "appId": "wxffde55b11cc79754",
                "timestamp": 1414587457,
                "nonceStr": "Wm3WZYTPz0wzccnW",
                "signature": "0f9de62fce790f9a083d5c99e95740ceb90c27ed",
            })
        );
    }
}
