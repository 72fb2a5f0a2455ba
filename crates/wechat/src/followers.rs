//! Followers, tags and the blacklist (`docs/wechat-platform-apis.md` §6, §7): the follower list
//! (`user/get`, paged by `next_openid`), user info one by one or in batches of 100, remarks,
//! tags (create, list, rename, delete, tag and untag users in batches of 50, a tag's users, a
//! user's tags) and the blacklist (in batches of 20).
//!
//! Every call checks its input first ([`FollowersError`]): a batch too big or empty, a tag name
//! too long, a system tag — so the caller hears what is wrong without a round trip, and WeChat's
//! own refusals (§10) stay for what only WeChat knows (an unknown openid, 100 tags already…).

use serde::{Deserialize, Serialize};

use crate::client::{Client, Error};
use crate::types::AccessToken;

/// `user/get`, `user/tag/get` and `getblacklist` return at most this many openids per page.
pub const PAGE_SIZE: usize = 10_000;
/// `user/info/batchget` takes 1 to 100 users (40032 otherwise).
pub const MAX_BATCHGET: usize = 100;
/// `batchtagging` / `batchuntagging` take 1 to 50 openids (40032 otherwise).
pub const MAX_TAGGING: usize = 50;
/// `batchblacklist` / `batchunblacklist` take 1 to 20 openids (40032 otherwise).
pub const MAX_BLACKLIST: usize = 20;
/// A remark is at most 30 characters (40092 otherwise; §6.4).
pub const MAX_REMARK_CHARS: usize = 30;
/// A tag name is 1 to 30 bytes of UTF-8 (45158 when longer, 45157 when empty; §7.1).
pub const MAX_TAG_NAME_BYTES: usize = 30;
/// An account has at most 100 tags of its own (45056 for the 101st).
pub const MAX_TAGS: usize = 100;
/// A user carries at most 20 tags (45059).
pub const MAX_TAGS_PER_USER: usize = 20;
/// Tag ids 0, 1 and 2 are WeChat's own (未分组, 黑名单, 星标组): never created, renamed or
/// deleted (45058).
pub const SYSTEM_TAGS: [i64; 3] = [0, 1, 2];

/// Input WeChat would refuse, caught before the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FollowersError {
    #[error("no openids given")]
    NoOpenIds,
    #[error("{given} openids in one {api} call; WeChat takes at most {max} (40032)")]
    TooManyOpenIds {
        api: &'static str,
        given: usize,
        max: usize,
    },
    #[error("{0:?} is not an openid (they are letters, digits, '-' and '_')")]
    BadOpenId(String),
    #[error("the remark has {0} characters; WeChat allows at most {MAX_REMARK_CHARS} (40092)")]
    RemarkTooLong(usize),
    #[error("a tag name cannot be empty (45157)")]
    EmptyTagName,
    #[error(
        "the tag name {name:?} is {bytes} bytes of UTF-8; WeChat allows at most {MAX_TAG_NAME_BYTES} bytes, about 10 Chinese characters (45158)"
    )]
    TagNameTooLong { name: String, bytes: usize },
    #[error(
        "tag {0} is one of WeChat's system tags (0, 1, 2): it cannot be changed or deleted (45058)"
    )]
    SystemTag(i64),
    #[error("{0} is not a tag id")]
    BadTagId(i64),
}

/// The openids of a page, as WeChat nests them: `"data": {"openid": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdList {
    #[serde(default)]
    pub openid: Vec<String>,
}

/// One page of `user/get`, `user/tag/get` or `getblacklist`. The last page is followed by one
/// with `count: 0`, no `data` and an empty `next_openid` (§6.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdPage {
    /// All followers (`user/get`) or all blacklisted users; absent for `user/tag/get`.
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub data: Option<OpenIdList>,
    /// The last openid of this page: where the next page starts.
    #[serde(default)]
    pub next_openid: String,
}

impl OpenIdPage {
    pub fn openids(&self) -> &[String] {
        self.data.as_ref().map_or(&[], |d| d.openid.as_slice())
    }

    /// Whether this is the end of the list: no openids or no cursor to go on with.
    pub fn is_last(&self) -> bool {
        self.openids().is_empty() || self.next_openid.is_empty()
    }
}

/// `user/info` (and each entry of `user/info/batchget`) for one user (§6.2). With
/// `subscribe: 0` WeChat sends little more than the openid: every other field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerInfo {
    #[serde(default)]
    pub subscribe: u8,
    pub openid: String,
    /// Unix seconds of the latest follow.
    #[serde(default)]
    pub subscribe_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    #[serde(default)]
    pub remark: String,
    #[serde(default)]
    pub tagid_list: Vec<i64>,
    /// `ADD_SCENE_QR_CODE`, `ADD_SCENE_SEARCH`…
    #[serde(default)]
    pub subscribe_scene: String,
    /// The integer scene of the QR code followed through (0 without one).
    #[serde(default)]
    pub qr_scene: i64,
    /// The string scene of the QR code followed through.
    #[serde(default)]
    pub qr_scene_str: String,
}

impl FollowerInfo {
    pub fn is_subscribed(&self) -> bool {
        self.subscribe == 1
    }

    /// The QR scene the user followed through, as the push's `qrscene_…` carries it: the string
    /// scene, else the integer one (when not 0), else none.
    pub fn qr_scene(&self) -> Option<String> {
        if !self.qr_scene_str.is_empty() {
            Some(self.qr_scene_str.clone())
        } else if self.qr_scene != 0 {
            Some(self.qr_scene.to_string())
        } else {
            None
        }
    }
}

/// A tag as `tags/get` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    /// How many users carry it.
    #[serde(default)]
    pub count: u64,
}

impl Tag {
    pub fn is_system(&self) -> bool {
        SYSTEM_TAGS.contains(&self.id)
    }
}

/// The tag `TAG` names among `tags`: an id (`101`) or a name (`上海`), the id winning when a
/// name is made of digits too.
pub fn find_tag<'a>(tags: &'a [Tag], tag: &str) -> Option<&'a Tag> {
    let tag = tag.trim();
    if let Ok(id) = tag.parse::<i64>()
        && let Some(t) = tags.iter().find(|t| t.id == id)
    {
        return Some(t);
    }
    tags.iter().find(|t| t.name == tag)
}

/// Checks a tag name: 1 to 30 bytes.
pub fn check_tag_name(name: &str) -> Result<(), FollowersError> {
    if name.trim().is_empty() {
        return Err(FollowersError::EmptyTagName);
    }
    if name.len() > MAX_TAG_NAME_BYTES {
        return Err(FollowersError::TagNameTooLong {
            name: name.to_owned(),
            bytes: name.len(),
        });
    }
    Ok(())
}

/// Checks a remark: at most 30 characters (an empty one clears it).
pub fn check_remark(remark: &str) -> Result<(), FollowersError> {
    let chars = remark.chars().count();
    if chars > MAX_REMARK_CHARS {
        return Err(FollowersError::RemarkTooLong(chars));
    }
    Ok(())
}

/// Checks an openid's shape: non-empty, at most 64 characters of `[A-Za-z0-9_-]`. Openids are
/// opaque (§0), so this refuses only what cannot be one (spaces, commas, quotes…).
pub fn check_openid(openid: &str) -> Result<(), FollowersError> {
    let ok = !openid.is_empty()
        && openid.len() <= 64
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FollowersError::BadOpenId(openid.to_owned()))
    }
}

/// Checks a batch of openids for `api`: 1 to `max`, each shaped like an openid.
pub fn check_batch(
    api: &'static str,
    openids: &[String],
    max: usize,
) -> Result<(), FollowersError> {
    if openids.is_empty() {
        return Err(FollowersError::NoOpenIds);
    }
    if openids.len() > max {
        return Err(FollowersError::TooManyOpenIds {
            api,
            given: openids.len(),
            max,
        });
    }
    openids.iter().try_for_each(|o| check_openid(o))
}

fn check_changeable(tag_id: i64) -> Result<(), FollowersError> {
    if SYSTEM_TAGS.contains(&tag_id) {
        return Err(FollowersError::SystemTag(tag_id));
    }
    if tag_id < 0 {
        return Err(FollowersError::BadTagId(tag_id));
    }
    Ok(())
}

/// A failed call: refused locally, or by WeChat.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FollowersCallError {
    #[error("{0}")]
    Invalid(#[from] FollowersError),
    #[error(transparent)]
    Wechat(#[from] Error),
}

type CallResult<T> = Result<T, FollowersCallError>;

#[derive(Deserialize)]
struct Ok0 {}

#[derive(Deserialize)]
struct BatchAnswer {
    #[serde(default)]
    user_info_list: Vec<FollowerInfo>,
}

#[derive(Deserialize)]
struct TagAnswer {
    tag: Tag,
}

#[derive(Deserialize)]
struct TagsAnswer {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct TagIdsAnswer {
    #[serde(default)]
    tagid_list: Vec<i64>,
}

#[derive(Serialize)]
struct OpenIdsBody<'a> {
    openid_list: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    tagid: Option<i64>,
}

impl Client {
    /// `GET cgi-bin/user/get`: one page of the follower list, from the start (`next_openid`
    /// empty) or after `next_openid`.
    pub async fn followers_page(
        &self,
        token: &AccessToken,
        next_openid: &str,
    ) -> Result<OpenIdPage, Error> {
        let mut query = vec![("access_token", token.secret())];
        if !next_openid.is_empty() {
            query.push(("next_openid", next_openid));
        }
        self.get("/cgi-bin/user/get", &query).await
    }

    /// `GET cgi-bin/user/info`: one user.
    pub async fn user_info(&self, token: &AccessToken, openid: &str) -> CallResult<FollowerInfo> {
        check_openid(openid)?;
        Ok(self
            .get(
                "/cgi-bin/user/info",
                &[
                    ("access_token", token.secret()),
                    ("openid", openid),
                    ("lang", "zh_CN"),
                ],
            )
            .await?)
    }

    /// `POST cgi-bin/user/info/batchget`: 1 to 100 users, in the order asked.
    pub async fn user_info_batch(
        &self,
        token: &AccessToken,
        openids: &[String],
    ) -> CallResult<Vec<FollowerInfo>> {
        check_batch("user/info/batchget", openids, MAX_BATCHGET)?;
        #[derive(Serialize)]
        struct One<'a> {
            openid: &'a str,
            lang: &'static str,
        }
        #[derive(Serialize)]
        struct Body<'a> {
            user_list: Vec<One<'a>>,
        }
        let body = Body {
            user_list: openids
                .iter()
                .map(|o| One {
                    openid: o,
                    lang: "zh_CN",
                })
                .collect(),
        };
        let answer: BatchAnswer = self
            .post_json(
                "/cgi-bin/user/info/batchget",
                &[("access_token", token.secret())],
                &body,
            )
            .await?;
        Ok(answer.user_info_list)
    }

    /// `POST cgi-bin/user/info/updateremark` (an empty remark clears it).
    pub async fn update_remark(
        &self,
        token: &AccessToken,
        openid: &str,
        remark: &str,
    ) -> CallResult<()> {
        check_openid(openid)?;
        check_remark(remark)?;
        #[derive(Serialize)]
        struct Body<'a> {
            openid: &'a str,
            remark: &'a str,
        }
        let _: Ok0 = self
            .post_json(
                "/cgi-bin/user/info/updateremark",
                &[("access_token", token.secret())],
                &Body { openid, remark },
            )
            .await?;
        Ok(())
    }

    /// `POST cgi-bin/tags/create`: the new tag (its count is 0).
    pub async fn tag_create(&self, token: &AccessToken, name: &str) -> CallResult<Tag> {
        check_tag_name(name)?;
        let body = serde_json::json!({ "tag": { "name": name } });
        let answer: TagAnswer = self
            .post_json(
                "/cgi-bin/tags/create",
                &[("access_token", token.secret())],
                &body,
            )
            .await?;
        Ok(answer.tag)
    }

    /// `GET cgi-bin/tags/get`: every tag of the account, with its user count.
    pub async fn tags_get(&self, token: &AccessToken) -> Result<Vec<Tag>, Error> {
        let answer: TagsAnswer = self
            .get("/cgi-bin/tags/get", &[("access_token", token.secret())])
            .await?;
        Ok(answer.tags)
    }

    /// `POST cgi-bin/tags/update`: renames a tag.
    pub async fn tag_update(&self, token: &AccessToken, id: i64, name: &str) -> CallResult<()> {
        check_changeable(id)?;
        check_tag_name(name)?;
        let body = serde_json::json!({ "tag": { "id": id, "name": name } });
        let _: Ok0 = self
            .post_json(
                "/cgi-bin/tags/update",
                &[("access_token", token.secret())],
                &body,
            )
            .await?;
        Ok(())
    }

    /// `POST cgi-bin/tags/delete`: the tag goes, and with it every user's membership.
    pub async fn tag_delete(&self, token: &AccessToken, id: i64) -> CallResult<()> {
        check_changeable(id)?;
        let body = serde_json::json!({ "tag": { "id": id } });
        let _: Ok0 = self
            .post_json(
                "/cgi-bin/tags/delete",
                &[("access_token", token.secret())],
                &body,
            )
            .await?;
        Ok(())
    }

    /// `POST cgi-bin/tags/members/batchtagging`: 1 to 50 users get tag `id`.
    pub async fn tag_users(
        &self,
        token: &AccessToken,
        id: i64,
        openids: &[String],
    ) -> CallResult<()> {
        self.tag_members("/cgi-bin/tags/members/batchtagging", token, id, openids)
            .await
    }

    /// `POST cgi-bin/tags/members/batchuntagging`: 1 to 50 users lose tag `id`.
    pub async fn untag_users(
        &self,
        token: &AccessToken,
        id: i64,
        openids: &[String],
    ) -> CallResult<()> {
        self.tag_members("/cgi-bin/tags/members/batchuntagging", token, id, openids)
            .await
    }

    async fn tag_members(
        &self,
        path: &'static str,
        token: &AccessToken,
        id: i64,
        openids: &[String],
    ) -> CallResult<()> {
        if id < 0 {
            return Err(FollowersError::BadTagId(id).into());
        }
        check_batch(path.trim_start_matches("/cgi-bin/"), openids, MAX_TAGGING)?;
        let body = OpenIdsBody {
            openid_list: openids,
            tagid: Some(id),
        };
        let _: Ok0 = self
            .post_json(path, &[("access_token", token.secret())], &body)
            .await?;
        Ok(())
    }

    /// `POST cgi-bin/user/tag/get`: one page of a tag's users.
    pub async fn tag_users_page(
        &self,
        token: &AccessToken,
        id: i64,
        next_openid: &str,
    ) -> Result<OpenIdPage, Error> {
        let body = serde_json::json!({ "tagid": id, "next_openid": next_openid });
        self.post_json(
            "/cgi-bin/user/tag/get",
            &[("access_token", token.secret())],
            &body,
        )
        .await
    }

    /// `POST cgi-bin/tags/getidlist`: a user's tag ids.
    pub async fn user_tags(&self, token: &AccessToken, openid: &str) -> CallResult<Vec<i64>> {
        check_openid(openid)?;
        let body = serde_json::json!({ "openid": openid });
        let answer: TagIdsAnswer = self
            .post_json(
                "/cgi-bin/tags/getidlist",
                &[("access_token", token.secret())],
                &body,
            )
            .await?;
        Ok(answer.tagid_list)
    }

    /// `POST cgi-bin/tags/members/getblacklist`: one page of the blacklist.
    pub async fn blacklist_page(
        &self,
        token: &AccessToken,
        begin_openid: &str,
    ) -> Result<OpenIdPage, Error> {
        let body = serde_json::json!({ "begin_openid": begin_openid });
        self.post_json(
            "/cgi-bin/tags/members/getblacklist",
            &[("access_token", token.secret())],
            &body,
        )
        .await
    }

    /// `POST cgi-bin/tags/members/batchblacklist`: 1 to 20 users.
    pub async fn blacklist(&self, token: &AccessToken, openids: &[String]) -> CallResult<()> {
        self.blacklist_members("/cgi-bin/tags/members/batchblacklist", token, openids)
            .await
    }

    /// `POST cgi-bin/tags/members/batchunblacklist`: 1 to 20 users.
    pub async fn unblacklist(&self, token: &AccessToken, openids: &[String]) -> CallResult<()> {
        self.blacklist_members("/cgi-bin/tags/members/batchunblacklist", token, openids)
            .await
    }

    async fn blacklist_members(
        &self,
        path: &'static str,
        token: &AccessToken,
        openids: &[String],
    ) -> CallResult<()> {
        check_batch(path.trim_start_matches("/cgi-bin/"), openids, MAX_BLACKLIST)?;
        let body = OpenIdsBody {
            openid_list: openids,
            tagid: None,
        };
        let _: Ok0 = self
            .post_json(path, &[("access_token", token.secret())], &body)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_on_no_data_or_no_cursor() {
        let last: OpenIdPage =
            serde_json::from_str(r#"{"total":2,"count":0,"next_openid":""}"#).unwrap();
        assert!(last.is_last());
        assert!(last.openids().is_empty());
        let page: OpenIdPage = serde_json::from_str(
            r#"{"total":3,"count":2,"data":{"openid":["o1","o2"]},"next_openid":"o2"}"#,
        )
        .unwrap();
        assert!(!page.is_last());
        assert_eq!(page.openids(), ["o1", "o2"]);
        assert_eq!(page.total, Some(3));
    }

    #[test]
    fn user_info_reads_followers_and_non_followers() {
        let info: FollowerInfo = serde_json::from_str(
            r#"{"subscribe":1,"openid":"oR5G","subscribe_time":1714550400,"unionid":"oU2b",
                "remark":"","groupid":0,"tagid_list":[101,2],"subscribe_scene":"ADD_SCENE_QR_CODE",
                "qr_scene":4711,"qr_scene_str":"","language":"zh_CN"}"#,
        )
        .unwrap();
        assert!(info.is_subscribed());
        assert_eq!(info.tagid_list, [101, 2]);
        assert_eq!(info.qr_scene().as_deref(), Some("4711"));
        let gone: FollowerInfo =
            serde_json::from_str(r#"{"subscribe":0,"openid":"oR5G"}"#).unwrap();
        assert!(!gone.is_subscribed());
        assert_eq!(gone.qr_scene(), None);
    }

    #[test]
    fn names_remarks_and_batches_are_checked_locally() {
        assert_eq!(check_tag_name(" "), Err(FollowersError::EmptyTagName));
        assert!(check_tag_name("上海会员").is_ok());
        // 11 Chinese characters are 33 bytes.
        assert!(matches!(
            check_tag_name("一二三四五六七八九十一"),
            Err(FollowersError::TagNameTooLong { bytes: 33, .. })
        ));
        assert!(check_tag_name(&"a".repeat(30)).is_ok());
        assert!(check_remark(&"老".repeat(30)).is_ok());
        assert_eq!(
            check_remark(&"老".repeat(31)),
            Err(FollowersError::RemarkTooLong(31))
        );
        let many: Vec<String> = (0..51).map(|i| format!("o{i}")).collect();
        assert_eq!(
            check_batch("tags/members/batchtagging", &many, MAX_TAGGING),
            Err(FollowersError::TooManyOpenIds {
                api: "tags/members/batchtagging",
                given: 51,
                max: 50
            })
        );
        assert!(check_batch("x", &many[..50], MAX_TAGGING).is_ok());
        assert_eq!(check_batch("x", &[], 20), Err(FollowersError::NoOpenIds));
        assert!(matches!(
            check_batch("x", &["o 1".to_owned()], 20),
            Err(FollowersError::BadOpenId(_))
        ));
        assert_eq!(check_changeable(2), Err(FollowersError::SystemTag(2)));
        assert!(check_changeable(100).is_ok());
        let e = FollowersError::TooManyOpenIds {
            api: "a",
            given: 21,
            max: 20,
        };
        assert!(e.to_string().contains("at most 20"));
    }

    #[test]
    fn tags_are_found_by_id_or_name() {
        let tags = vec![
            Tag {
                id: 2,
                name: "星标组".into(),
                count: 0,
            },
            Tag {
                id: 101,
                name: "上海".into(),
                count: 5,
            },
            Tag {
                id: 102,
                name: "2".into(),
                count: 0,
            },
        ];
        assert_eq!(find_tag(&tags, "101").map(|t| t.id), Some(101));
        assert_eq!(find_tag(&tags, " 上海 ").map(|t| t.id), Some(101));
        // An id wins over a name spelt the same.
        assert_eq!(find_tag(&tags, "2").map(|t| t.id), Some(2));
        assert!(find_tag(&tags, "北京").is_none());
        assert!(tags[0].is_system());
    }
}
