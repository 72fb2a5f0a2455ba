//! Diagnostics of the account's API use (`docs/wechat-platform-apis.md` §8): an API's daily
//! quota (`cgi-bin/openapi/quota/get`) and what WeChat recorded for a failed call's request id
//! (`cgi-bin/openapi/rid/get`, the `rid: …` at the end of an `errmsg`).

use serde::{Deserialize, Serialize};

use crate::client::{Client, Error};
use crate::types::AccessToken;

/// One API's use today.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub daily_limit: i64,
    pub used: i64,
    pub remain: i64,
}

/// A frequency limit: `call_count` calls per `refresh_second` seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub call_count: i64,
    pub refresh_second: i64,
}

/// `openapi/quota/get`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaReport {
    #[serde(default)]
    pub quota: Quota,
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// What WeChat recorded for one call (`openapi/rid/get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RidRequest {
    /// Unix seconds.
    #[serde(default)]
    pub invoke_time: i64,
    #[serde(default)]
    pub cost_in_ms: i64,
    #[serde(default)]
    pub request_url: String,
    #[serde(default)]
    pub request_body: String,
    #[serde(default)]
    pub response_body: String,
    #[serde(default)]
    pub client_ip: String,
}

#[derive(Deserialize)]
struct RidAnswer {
    request: RidRequest,
}

/// The request id at the end of an `errmsg` (`… rid: 6650a1b2-1c3d4e5f-2a3b4c5d`), if any.
pub fn rid_in(errmsg: &str) -> Option<&str> {
    let (_, tail) = errmsg.rsplit_once("rid:")?;
    let rid = tail.trim();
    valid_rid(rid).then_some(rid)
}

/// Whether `rid` has the shape WeChat's request ids have: hex groups joined by `-`.
pub fn valid_rid(rid: &str) -> bool {
    !rid.is_empty()
        && rid.len() <= 64
        && rid.split('-').count() >= 2
        && rid
            .split('-')
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Client {
    /// `cgi-bin/openapi/quota/get` for `cgi_path` (with its leading slash, e.g.
    /// `/cgi-bin/message/custom/send`).
    pub async fn quota_get(
        &self,
        token: &AccessToken,
        cgi_path: &str,
    ) -> Result<QuotaReport, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            cgi_path: &'a str,
        }
        self.post_json(
            "/cgi-bin/openapi/quota/get",
            &[("access_token", token.secret())],
            &Body { cgi_path },
        )
        .await
    }

    /// `cgi-bin/openapi/rid/get`: what WeChat recorded for the call with request id `rid`.
    pub async fn rid_get(&self, token: &AccessToken, rid: &str) -> Result<RidRequest, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            rid: &'a str,
        }
        let answer: RidAnswer = self
            .post_json(
                "/cgi-bin/openapi/rid/get",
                &[("access_token", token.secret())],
                &Body { rid },
            )
            .await?;
        Ok(answer.request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_are_found_at_the_end_of_errmsg() {
        assert_eq!(
            rid_in("api unauthorized rid: 6650a1b2-1c3d4e5f-2a3b4c5d"),
            Some("6650a1b2-1c3d4e5f-2a3b4c5d")
        );
        assert_eq!(rid_in("invalid credential hint: [abc]"), None);
        assert!(valid_rid("6650a1b2-1c3d4e5f-2a3b4c5d"));
        assert!(!valid_rid("6650a1b2"));
        assert!(!valid_rid("6650a1b2-xyz"));
        assert!(!valid_rid("../../etc"));
    }
}
