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
    /// `message/custom/send`: the user has not interacted with the account for 48 hours.
    pub const CUSTOM_OUT_OF_TIME_LIMIT: Self = Self(45015);
    /// `message/custom/send`: too many messages since the user's last interaction.
    pub const CUSTOM_OUT_OF_COUNT_LIMIT: Self = Self(45047);
    pub const API_UNAUTHORIZED: Self = Self(48001);
    // Notifications and messages to a user (docs/wechat-platform-apis.md §3–§5).
    /// `template/send`, `bizsend`: unknown, deleted, foreign or wrong-kind template.
    pub const INVALID_TEMPLATE_ID: Self = Self(40037);
    /// `template/send`: the user does not follow the account.
    pub const REQUIRE_SUBSCRIBE: Self = Self(43004);
    /// The user blacklisted by the account.
    pub const REQUIRE_REMOVE_BLACKLIST: Self = Self(43019);
    /// `bizsend`: the user holds no unused grant for this template.
    pub const USER_REFUSED_NOTICE: Self = Self(43101);
    /// `template/send`, `bizsend`: a keyword value breaks its type's rule, or is missing.
    pub const ARGUMENT_INVALID: Self = Self(47003);
    pub const USER_UNAUTHORIZED: Self = Self(50001);
    pub const IP_NOT_REGISTERED: Self = Self(61004);

    // Custom menus (§D.1): WeChat's names for a menu that breaks a limit. `menu::validate`
    // catches all of these locally, with a path.
    pub const INVALID_MEDIA_ID: Self = Self(40007);
    pub const INVALID_BUTTON_SIZE: Self = Self(40016);
    pub const INVALID_BUTTON_TYPE: Self = Self(40017);
    pub const INVALID_BUTTON_NAME_SIZE: Self = Self(40018);
    pub const INVALID_BUTTON_KEY_SIZE: Self = Self(40019);
    pub const INVALID_BUTTON_URL_SIZE: Self = Self(40020);
    /// From the old 返回码说明 table (不合法的菜单版本号); not seen in recent docs.
    pub const INVALID_MENU_VERSION: Self = Self(40021);
    /// From the old 返回码说明 table (不合法的子菜单级数): nesting below sub_button.
    pub const INVALID_SUB_MENU_LEVEL: Self = Self(40022);
    pub const INVALID_SUB_BUTTON_SIZE: Self = Self(40023);
    pub const INVALID_SUB_BUTTON_TYPE: Self = Self(40024);
    pub const INVALID_SUB_BUTTON_NAME_SIZE: Self = Self(40025);
    pub const INVALID_SUB_BUTTON_KEY_SIZE: Self = Self(40026);
    pub const INVALID_SUB_BUTTON_URL_SIZE: Self = Self(40027);
    /// `\uXXXX` escapes in a POST body: WeChat wants raw UTF-8.
    pub const INVALID_CHARSET: Self = Self(40033);
    pub const INVALID_SUB_BUTTON_URL_DOMAIN: Self = Self(40054);
    pub const INVALID_BUTTON_URL_DOMAIN: Self = Self(40055);
    pub const SUB_MENU_DATA_MISSING: Self = Self(41007);
    /// `menu/get` on an account without a menu; `Client::menu_get` returns an empty set.
    pub const MENU_NOT_EXIST: Self = Self(46003);
    pub const NO_SUCH_MENUID: Self = Self(65301);
    pub const NO_SUCH_USER: Self = Self(65302);
    pub const NO_DEFAULT_MENU: Self = Self(65303);
    pub const EMPTY_MATCHRULE: Self = Self(65304);
    pub const TOO_MANY_CONDITIONAL_MENUS: Self = Self(65305);
    /// A menu links to more than 3 distinct domains (`menu::MAX_URL_DOMAINS`).
    pub const TOO_MANY_MENU_DOMAINS: Self = Self(65316);
    pub const INVALID_MENU_URL: Self = Self(65317);
    pub const NOT_UTF8: Self = Self(65318);
    pub const MATCHRULE_PRIVACY: Self = Self(65320);

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

    /// The menu itself breaks one of WeChat's rules: fix the menu file, not the set-up.
    pub fn is_menu_invalid(self) -> bool {
        matches!(
            self.0,
            40007 | 40016
                ..=40027
                    | 40033
                    | 40054
                    | 40055
                    | 40165
                    | 40166
                    | 41007
                    | 65304
                    | 65307
                    | 65308
                    | 65316
                    | 65317
                    | 65318
                    | 65320
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
                "this server's IP is not in the API IP whitelist: add the IP shown in errmsg to 公众平台 → 基本配置 → IP白名单"
            }
            40243 => "the AppSecret is frozen: unfreeze it in the 公众平台 console",
            40097 => "invalid arguments (参数错误)",
            40165 => "a miniprogram button's pagepath is invalid (invalid weapp pagepath)",
            40166 => "a miniprogram button's appid is invalid (invalid weapp appid)",
            41001 => "access_token missing",
            41002 => "appid missing",
            41003 => "refresh_token missing",
            41004 => "appsecret missing",
            41008 => "OAuth code missing",
            41009 => "openid missing",
            42001 => "access_token expired",
            42002 => "refresh_token expired: the user must authorize again",
            42003 => "OAuth code expired",
            42007 => {
                "the user changed their password: their tokens are void, they must log in again"
            }
            43001 => "this API must be called with GET",
            43002 => "this API must be called with POST",
            43003 => "this API must be called over https",
            44002 => "the POST body is empty",
            47001 => "WeChat could not parse the request body (data format error: bad JSON or XML)",
            45009 => {
                "daily quota used up: wait until midnight (Beijing time) or clear it in the console (10 times a month); wxgate caches tokens to avoid this, so look for other programs using this AppID"
            }
            45011 => "the per-minute API quota is used up; slow down",
            45015 => {
                "the user has not interacted with the account in the last 48 hours: WeChat accepts customer-service messages only within 48 h of the user's last message or event"
            }
            45047 => {
                "too many customer-service messages since the user's last interaction (out of response count limit)"
            }
            40037 => {
                "invalid template_id: not a template of this account (deleted, another account's, a library short id, or a template of the other kind: template messages and subscription notices have separate ids)"
            }
            43004 => "the user does not follow the account (require subscribe)",
            43101 => {
                "the user has not accepted this notification (no unused subscription for this template: never accepted, already used, or turned off)"
            }
            47003 => "a data value breaks the template's rules (argument invalid)",
            44003 => "a news message needs exactly one article (empty news data)",
            44004 => "the text message is empty",
            45008 => "a customer-service news message carries exactly 1 article",
            40008 => "invalid message type (msgtype)",
            48001 => {
                "API unauthorized (a snsapi_base token, a snapshot-page user, or an unverified account)"
            }
            48004 => "the API is forbidden for this account because of irregularities",
            50001 => "the user has not authorized this API",
            50002 => "the user is limited",
            40007 => {
                "invalid media_id: use the id of a permanent material (永久素材) of this account"
            }
            40016 => "the menu needs 1 to 3 top-level buttons (also sent for malformed menu JSON)",
            40017 => "a top-level button has an unknown type",
            40018 => "a top-level button name is empty or over 16 bytes",
            40019 => "a top-level button key is missing or over 128 bytes",
            40020 => "a top-level button url is missing or over 1024 bytes",
            40021 => "invalid menu version",
            40022 => "menus nest only two levels: a sub-button cannot have sub_button",
            40023 => "a sub_button list needs 1 to 5 buttons",
            40024 => "a sub-button has an unknown type",
            40025 => "a sub-button name is empty or over 60 bytes",
            40026 => "a sub-button key is missing or over 128 bytes",
            40027 => "a sub-button url is missing or over 1024 bytes",
            40033 => "the request body has \\uXXXX escapes: send raw UTF-8 JSON",
            40054 => "a sub-button url is not an http:// or https:// URL (or is URL-encoded)",
            40055 => "a top-level button url is not an http:// or https:// URL (or is URL-encoded)",
            41007 => "sub_button data missing",
            46003 => "the account has no menu yet",
            65301 => "no personalized menu with this menuid",
            65302 => "no such user (trymatch takes a follower's openid or WeChat ID)",
            65303 => "create the default menu first: personalized menus need one",
            65304 => "the matchrule is empty: set tag_id or client_platform_type",
            65305 => "too many personalized menus: delete some first",
            65306 => "this account does not support personalized menus",
            65307 => "the personalized menu has no buttons",
            65308 => "a button has no action: give it a type or sub_button",
            65309 => "personalized menus are switched off for this account",
            65316 => {
                "the menu links to more than 3 domains: WeChat allows 3 distinct URL domains per menu"
            }
            65317 => "a menu url is not a valid URL",
            65318 => "the request body is not UTF-8",
            65320 => "gender, region and language match rules are no longer allowed: use tag_id",
            // Followers, tags and the blacklist (docs/wechat-platform-apis.md §6, §7).
            40032 => {
                "too many or no openids in one call (user/info/batchget takes 100, tagging 50, the blacklist 20)"
            }
            40092 => "the remark is too long (at most 30 characters)",
            43019 => "the user is on the account's blacklist: remove them from it first",
            45056 => "the account already has 100 tags: delete one first",
            45057 => {
                "the tag has more than 100,000 users: untag them in batches before deleting it"
            }
            45058 => "tags 0, 1 and 2 are WeChat's system tags: they cannot be changed or deleted",
            45059 => "a user would carry more than 20 tags",
            45157 => "the tag name is empty or another tag already has it",
            45158 => "the tag name is over 30 bytes (about 10 Chinese characters)",
            45159 => "no tag with this id",
            49003 => "the openid belongs to another account",
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

/// The caller's IP in a 40164/61004 errmsg, so an operator can be told exactly what to add to
/// the IP whitelist: `invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: …`
/// gives `47.94.148.108`. Only a value that parses as an IP address is returned.
pub fn whitelist_ip(errmsg: &str) -> Option<&str> {
    const MARKERS: &[&str] = &["invalid ip ", "requestIP: ", "requestIP:", "clientip: "];
    MARKERS.iter().find_map(|marker| {
        let start = errmsg.find(marker)? + marker.len();
        let rest = &errmsg[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
            .unwrap_or(rest.len());
        let ip = rest[..end].trim_end_matches('.');
        ip.parse::<std::net::IpAddr>().is_ok().then_some(ip)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_ip_comes_from_the_errmsg() {
        assert_eq!(
            whitelist_ip(
                "invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: 6513aa28-57d848c6-68a55827"
            ),
            Some("47.94.148.108")
        );
        assert_eq!(
            whitelist_ip("invalid ip 2001:db8::1, not in whitelist"),
            Some("2001:db8::1")
        );
        assert_eq!(
            whitelist_ip("access clientip is not registered requestIP: 1.2.3.4 rid: x"),
            Some("1.2.3.4")
        );
        assert_eq!(
            whitelist_ip("access clientip is not registered, not in ip-white-list"),
            None
        );
        assert_eq!(whitelist_ip("invalid ip abc, not in whitelist"), None);
        assert_eq!(whitelist_ip(""), None);
    }

    #[test]
    fn menu_codes_are_menu_errors_with_advice() {
        for code in [
            ErrCode::INVALID_BUTTON_SIZE,
            ErrCode::INVALID_SUB_BUTTON_URL_SIZE,
            ErrCode::INVALID_BUTTON_URL_DOMAIN,
            ErrCode::INVALID_CHARSET,
            ErrCode::MATCHRULE_PRIVACY,
        ] {
            assert!(code.is_menu_invalid(), "{code:?}");
            assert_ne!(code.meaning(), "unknown WeChat error", "{code:?}");
        }
        assert!(!ErrCode::MENU_NOT_EXIST.is_menu_invalid());
        assert!(!ErrCode::INVALID_CREDENTIAL.is_menu_invalid());
        assert!(ErrCode::IP_NOT_REGISTERED.meaning().contains("IP白名单"));
        assert!(ErrCode::DAILY_QUOTA.meaning().contains("midnight"));
        for code in 65301..=65305 {
            assert_ne!(ErrCode(code).meaning(), "unknown WeChat error");
        }
    }

    /// Codes wxgate can meet on menus and platform calls (§D, §G) all have a meaning.
    #[test]
    fn codes_wxgate_can_meet_have_a_meaning() {
        for code in [
            40097, 40165, 40166, 41003, 42007, 43001, 43002, 43003, 44002, 47001, 48004, 50002,
            65305, 65306, 65307, 65308, 65309, 65316, 65317,
            // Notifications and messages to a user.
            40008, 40037, 43004, 43019, 43101, 44003, 44004, 45008, 45015, 45047, 47003,
        ] {
            assert_ne!(
                ErrCode(code).meaning(),
                "unknown WeChat error",
                "{code} has no meaning"
            );
        }
        assert!(ErrCode::TOO_MANY_MENU_DOMAINS.meaning().contains('3'));
        assert!(ErrCode(43002).meaning().contains("POST"));
        for code in [
            ErrCode::TOO_MANY_MENU_DOMAINS,
            ErrCode::INVALID_MENU_URL,
            ErrCode(40165),
            ErrCode(40166),
        ] {
            assert!(code.is_menu_invalid(), "{code:?}");
        }
        assert_eq!(
            ErrCode::TOO_MANY_MENU_DOMAINS.to_string(),
            "65316 (the menu links to more than 3 domains: WeChat allows 3 distinct URL domains per menu)"
        );
    }
}
