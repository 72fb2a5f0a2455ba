//! The account-level APIs on [`Client`]: the base access_token (§B.1, §B.2), the JS-SDK
//! jsapi_ticket (§E), custom menus (§D) and customer-service messages (客服消息,
//! `message/custom/send`, the way to answer a push after its 5 s, §C.5).
//!
//! These are raw calls. Each one that needs the base access_token takes it as an argument:
//! which token to use, caching, and the single retry on 40001/40014/42001 belong to the
//! caller's token manager. Nothing here retries, and a POST that timed out is reported as
//! [`Error::Timeout`] because it may have taken effect. The token travels in the query string
//! only; transport errors are stripped of the URL and logs carry only the path.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::client::{Client, Error};
use crate::errcode::ErrCode;
use crate::menu::{Button, Menu, MenuSet, opt_string_or_number};
use crate::reply::Reply;
use crate::types::{AccessToken, OpenId};

/// A base access_token from `cgi-bin/token` or `cgi-bin/stable_token`.
#[derive(Clone, Debug, Deserialize)]
pub struct BaseToken {
    pub access_token: AccessToken,
    /// Seconds, at most 7200; from stable_token at least 300 (§B.2).
    #[serde(deserialize_with = "crate::types::lifetime")]
    pub expires_in: i64,
}

/// A JS-SDK jsapi_ticket (§E): 7200 s, rate-limited, so cache it for every page.
#[derive(Clone, Deserialize)]
pub struct Ticket {
    pub ticket: String,
    #[serde(deserialize_with = "crate::types::lifetime")]
    pub expires_in: i64,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("ticket", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A customer-service message (客服消息) for `message/custom/send`: a passive [`Reply`] sent
/// later, outside any push's 5 s, to a user who interacted with the account in the last 48
/// hours. It is the request body, built once from the reply; the reply type stays the one
/// description of what the account can say.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMessage {
    msg_type: &'static str,
    body: serde_json::Value,
}

/// Why a passive [`Reply`] has no customer-service form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CustomMessageError {
    /// `transfer_customer_service` hands a push to the 客服 system: it only exists as a
    /// passive reply.
    #[error("transfer_customer_service only exists as a passive reply")]
    TransferOnly,
    #[error("a customer-service news message carries exactly 1 article, the reply has {0}")]
    TooManyArticles(usize),
    #[error("{0}")]
    Invalid(String),
}

impl CustomMessage {
    /// `{"touser": OPENID, "msgtype": T, T: {…}}` for `reply`, optional fields left out when
    /// unset. Fails for `transfer_customer_service`, for news with more than one article and
    /// for replies [`Reply::validate`] refuses.
    pub fn from_reply(touser: &OpenId, reply: &Reply) -> Result<Self, CustomMessageError> {
        use serde_json::{Map, Value, json};
        reply.validate().map_err(CustomMessageError::Invalid)?;
        let mut fields = Map::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(v) = value {
                fields.insert(key.to_owned(), v.clone().into());
            }
        };
        let content = match reply {
            Reply::Text { content } => json!({ "content": content }),
            Reply::Image { media_id } | Reply::Voice { media_id } => {
                json!({ "media_id": media_id })
            }
            Reply::Video {
                media_id,
                title,
                description,
            } => {
                put("media_id", &Some(media_id.clone()));
                put("title", title);
                put("description", description);
                Value::Object(fields)
            }
            Reply::Music {
                title,
                description,
                music_url,
                hq_music_url,
                thumb_media_id,
            } => {
                put("title", title);
                put("description", description);
                put("musicurl", music_url);
                put("hqmusicurl", hq_music_url);
                put("thumb_media_id", &Some(thumb_media_id.clone()));
                Value::Object(fields)
            }
            Reply::News { articles } => match articles.as_slice() {
                [a] => json!({ "articles": [{
                    "title": a.title,
                    "description": a.description,
                    "url": a.url,
                    "picurl": a.pic_url,
                }] }),
                _ => return Err(CustomMessageError::TooManyArticles(articles.len())),
            },
            Reply::TransferCustomerService { .. } => return Err(CustomMessageError::TransferOnly),
        };
        let msg_type = reply.msg_type();
        let body = json!({ "touser": touser.as_str(), "msgtype": msg_type, msg_type: content });
        Ok(CustomMessage { msg_type, body })
    }

    /// A message of a kind that is not a passive reply (`msgmenu`, `miniprogrampage`), built
    /// and checked by [`crate::notify::CustomContent::to_message`].
    pub(crate) fn raw(touser: &OpenId, msg_type: &'static str, content: serde_json::Value) -> Self {
        let body = serde_json::json!({ "touser": touser.as_str(), "msgtype": msg_type, msg_type: content });
        CustomMessage { msg_type, body }
    }

    /// The `msgtype` of this message.
    pub fn msg_type(&self) -> &'static str {
        self.msg_type
    }

    /// The request body.
    pub fn body(&self) -> &serde_json::Value {
        &self.body
    }
}

#[derive(Deserialize)]
struct MenuIdAnswer {
    #[serde(default, deserialize_with = "opt_string_or_number")]
    menuid: Option<String>,
}

/// The body of `menu/create`: only the buttons (a matchrule belongs to `addconditional`).
#[derive(Serialize)]
struct Buttons<'a> {
    button: &'a [Button],
}

impl Client {
    /// `cgi-bin/token` (§B.1). Each call invalidates the previous token after 5 minutes and
    /// spends the 2000-a-day quota: call it from one place only.
    pub async fn fetch_token(&self) -> Result<BaseToken, Error> {
        self.get(
            "/cgi-bin/token",
            &[
                ("grant_type", "client_credential"),
                ("appid", self.config.appid.as_str()),
                ("secret", self.config.secret.secret()),
            ],
        )
        .await
    }

    /// `cgi-bin/stable_token` (§B.2): the same token for every caller until it is rotated.
    /// `force_refresh` invalidates it; WeChat allows 20 a day, 30 s apart.
    pub async fn fetch_stable_token(&self, force_refresh: bool) -> Result<BaseToken, Error> {
        #[derive(Serialize)]
        struct Body<'a> {
            grant_type: &'a str,
            appid: &'a str,
            secret: &'a str,
            force_refresh: bool,
        }
        let body = Body {
            grant_type: "client_credential",
            appid: self.config.appid.as_str(),
            secret: self.config.secret.secret(),
            force_refresh,
        };
        self.post_json("/cgi-bin/stable_token", &[], &body).await
    }

    /// `cgi-bin/ticket/getticket?type=jsapi` (§E).
    pub async fn get_jsapi_ticket(&self, token: &AccessToken) -> Result<Ticket, Error> {
        self.get(
            "/cgi-bin/ticket/getticket",
            &[("access_token", token.secret()), ("type", "jsapi")],
        )
        .await
    }

    /// `menu/create` (§D.1): replaces the default menu. Check it with [`crate::menu::validate`]
    /// first; any `matchrule` is not sent (use [`Client::menu_add_conditional`]).
    pub async fn menu_create(&self, token: &AccessToken, menu: &Menu) -> Result<(), Error> {
        let _: serde_json::Value = self
            .post_json(
                "/cgi-bin/menu/create",
                &[("access_token", token.secret())],
                &Buttons {
                    button: &menu.button,
                },
            )
            .await?;
        Ok(())
    }

    /// `menu/get` (§D.2): the default and personalized menus set through the API. An account
    /// without a menu (46003) gives an empty [`MenuSet`].
    pub async fn menu_get(&self, token: &AccessToken) -> Result<MenuSet, Error> {
        match self
            .get("/cgi-bin/menu/get", &[("access_token", token.secret())])
            .await
        {
            Err(e) if e.errcode() == Some(ErrCode::MENU_NOT_EXIST) => Ok(MenuSet::default()),
            other => other,
        }
    }

    /// `menu/delete` (§D.4): removes the default menu **and every personalized menu**.
    pub async fn menu_delete(&self, token: &AccessToken) -> Result<(), Error> {
        let _: serde_json::Value = self
            .get("/cgi-bin/menu/delete", &[("access_token", token.secret())])
            .await?;
        Ok(())
    }

    /// `menu/addconditional` (§D.5): adds a personalized menu (needs a `matchrule` and an
    /// existing default menu) and returns its menuid.
    pub async fn menu_add_conditional(
        &self,
        token: &AccessToken,
        menu: &Menu,
    ) -> Result<String, Error> {
        const PATH: &str = "/cgi-bin/menu/addconditional";
        let answer: MenuIdAnswer = self
            .post_json(PATH, &[("access_token", token.secret())], menu)
            .await?;
        answer.menuid.ok_or(Error::BadResponse {
            path: PATH,
            status: 200,
            detail: "no menuid in the answer".into(),
        })
    }

    /// `menu/delconditional` (§D.5): removes one personalized menu.
    pub async fn menu_delete_conditional(
        &self,
        token: &AccessToken,
        menuid: &str,
    ) -> Result<(), Error> {
        let _: serde_json::Value = self
            .post_json(
                "/cgi-bin/menu/delconditional",
                &[("access_token", token.secret())],
                &serde_json::json!({ "menuid": menuid }),
            )
            .await?;
        Ok(())
    }

    /// `menu/trymatch` (§D.5): the menu a follower would see. `user_id` is an openid or a
    /// WeChat ID.
    pub async fn menu_try_match(&self, token: &AccessToken, user_id: &str) -> Result<Menu, Error> {
        const PATH: &str = "/cgi-bin/menu/trymatch";
        let mut answer: serde_json::Value = self
            .post_json(
                PATH,
                &[("access_token", token.secret())],
                &serde_json::json!({ "user_id": user_id }),
            )
            .await?;
        // Documented as `{"button":[…]}`; accept a `{"menu":{…}}` wrapper as menu/get has.
        if answer.get("button").is_none()
            && let Some(inner) = answer.get_mut("menu")
        {
            answer = inner.take();
        }
        serde_json::from_value(answer).map_err(|e| Error::BadResponse {
            path: PATH,
            status: 200,
            detail: format!("missing or wrong fields: {e}"),
        })
    }

    /// `message/custom/send` (客服消息): sends `message` to its `touser`, who must have
    /// interacted with the account in the last 48 hours (else
    /// [`ErrCode::CUSTOM_OUT_OF_TIME_LIMIT`]). **Not idempotent**: nothing here retries, and a
    /// timeout is [`Error::Timeout`] because the message may have been delivered; a caller must
    /// not send it again on a transport error.
    pub async fn send_custom_message(
        &self,
        token: &AccessToken,
        message: &CustomMessage,
    ) -> Result<(), Error> {
        let _: serde_json::Value = self
            .post_json(
                "/cgi-bin/message/custom/send",
                &[("access_token", token.secret())],
                message.body(),
            )
            .await?;
        Ok(())
    }

    /// `get_current_selfmenu_info` (§D.3): the menu users see now, including one made in the
    /// console. Its shape differs from menu/get (`sub_button.list`, console-only types), so it
    /// is returned as JSON.
    pub async fn get_current_selfmenu_info(
        &self,
        token: &AccessToken,
    ) -> Result<serde_json::Value, Error> {
        self.get(
            "/cgi-bin/get_current_selfmenu_info",
            &[("access_token", token.secret())],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::client::{ClientConfig, json_body};
    use crate::reply::Article;
    use crate::types::{AppId, AppSecret};

    const TOKEN: &str = "ACCESS_TOKEN_SECRET_VALUE";
    const SECRET: &str = "84e86527f090d6238ea1c0b96f5fc753";

    fn client(base: &str, timeout_ms: u64) -> Client {
        Client::new(ClientConfig {
            api_base: base.to_owned(),
            appid: AppId::parse("wxffde55b11cc79754").unwrap(),
            secret: AppSecret::new(SECRET),
            timeout: Duration::from_millis(timeout_ms),
        })
        .unwrap()
    }

    fn token() -> AccessToken {
        AccessToken::new(TOKEN)
    }

    /// A request as the canned server saw it.
    struct Seen {
        head: String,
        body: Vec<u8>,
    }

    impl Seen {
        fn request_line(&self) -> &str {
            self.head.lines().next().unwrap_or_default()
        }
        fn json(&self) -> serde_json::Value {
            serde_json::from_slice(&self.body).unwrap()
        }
    }

    async fn read_request(socket: &mut tokio::net::TcpStream) -> Seen {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = socket.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    return Seen {
                        head,
                        body: buf[end + 4..end + 4 + length].to_vec(),
                    };
                }
            }
        }
        Seen {
            head: String::from_utf8_lossy(&buf).into_owned(),
            body: Vec::new(),
        }
    }

    /// Answers one request with `answer` (a JSON body), or never answers when it is `None`.
    /// Returns the base URL and a handle yielding what was requested.
    async fn serve_once(answer: Option<&'static str>) -> (String, tokio::task::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let seen = read_request(&mut socket).await;
            match answer {
                Some(body) => {
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(response.as_bytes()).await.unwrap();
                    socket.shutdown().await.ok();
                }
                None => {
                    // Hold the connection open past the client's timeout, then check that
                    // the client did not try again.
                    tokio::time::sleep(Duration::from_millis(600)).await;
                    let again =
                        tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
                    assert!(again.is_err(), "the client retried a timed-out POST");
                }
            }
            seen
        });
        (base, handle)
    }

    fn seed_menu() -> Menu {
        serde_json::from_str(
            r#"{"button":[{"type":"click","name":"sunck","key":"V1001_SUNCK"},
                {"type":"view","name":"主页","url":"http://127.0.0.1:8000/auth/"}],
                "matchrule":{"tag_id":"2"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn post_bodies_are_raw_utf8_without_escapes() {
        let bytes = json_body(&seed_menu()).unwrap();
        let needle = "主页".as_bytes();
        assert!(bytes.windows(needle.len()).any(|w| w == needle));
        assert!(!bytes.windows(2).any(|w| w == b"\\u"));
    }

    #[tokio::test]
    async fn menu_create_posts_only_the_buttons_with_the_token_in_the_query() {
        let (base, seen) = serve_once(Some(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
        client(&base, 2000)
            .menu_create(&token(), &seed_menu())
            .await
            .unwrap();
        let seen = seen.await.unwrap();
        assert_eq!(
            seen.request_line(),
            format!("POST /cgi-bin/menu/create?access_token={TOKEN} HTTP/1.1")
        );
        assert!(
            seen.head
                .to_ascii_lowercase()
                .contains("content-type: application/json")
        );
        let needle = "主页".as_bytes();
        assert!(seen.body.windows(needle.len()).any(|w| w == needle));
        let body = seen.json();
        assert_eq!(body["button"][0]["key"], "V1001_SUNCK");
        assert!(body.get("matchrule").is_none());
    }

    #[tokio::test]
    async fn menu_get_without_a_menu_is_an_empty_set() {
        let (base, seen) = serve_once(Some(
            r#"{"errcode":46003,"errmsg":"menu no exist rid: 6513aa28-57d848c6-68a55827"}"#,
        ))
        .await;
        let set = client(&base, 2000).menu_get(&token()).await.unwrap();
        assert_eq!(set, MenuSet::default());
        assert!(
            seen.await
                .unwrap()
                .request_line()
                .starts_with("GET /cgi-bin/menu/get?access_token=")
        );
    }

    #[tokio::test]
    async fn menu_get_parses_menus_and_other_errors_stay_errors() {
        let (base, _) = serve_once(Some(
            r#"{"menu":{"button":[{"type":"click","name":"sunck","key":"V1001_SUNCK","sub_button":[]}],"menuid":208396938}}"#,
        ))
        .await;
        let set = client(&base, 2000).menu_get(&token()).await.unwrap();
        let menu = set.menu.unwrap();
        assert_eq!(menu.menuid.as_deref(), Some("208396938"));
        assert_eq!(menu.menu.button[0].key.as_deref(), Some("V1001_SUNCK"));
        assert!(set.conditionalmenu.is_empty());

        let (base, _) = serve_once(Some(
            r#"{"errcode":42001,"errmsg":"access_token expired rid: x"}"#,
        ))
        .await;
        let e = client(&base, 2000).menu_get(&token()).await.unwrap_err();
        assert!(e.errcode().unwrap().is_token_invalid());
    }

    #[tokio::test]
    async fn conditional_menus_send_the_matchrule_and_return_the_menuid() {
        let (base, seen) = serve_once(Some(r#"{"menuid":"208379533"}"#)).await;
        let id = client(&base, 2000)
            .menu_add_conditional(&token(), &seed_menu())
            .await
            .unwrap();
        assert_eq!(id, "208379533");
        let seen = seen.await.unwrap();
        assert!(
            seen.request_line()
                .starts_with("POST /cgi-bin/menu/addconditional?access_token=")
        );
        assert_eq!(seen.json()["matchrule"]["tag_id"], "2");

        let (base, _) = serve_once(Some(r#"{"menuid":208379534}"#)).await;
        let id = client(&base, 2000)
            .menu_add_conditional(&token(), &seed_menu())
            .await
            .unwrap();
        assert_eq!(id, "208379534");

        let (base, seen) = serve_once(Some(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
        client(&base, 2000)
            .menu_delete_conditional(&token(), "208379533")
            .await
            .unwrap();
        let seen = seen.await.unwrap();
        assert!(
            seen.request_line()
                .starts_with("POST /cgi-bin/menu/delconditional?access_token=")
        );
        assert_eq!(seen.json(), serde_json::json!({"menuid": "208379533"}));
    }

    #[tokio::test]
    async fn try_match_and_delete() {
        let (base, seen) = serve_once(Some(
            r#"{"button":[{"type":"click","name":"sunck","key":"V1001_SUNCK","sub_button":[]}]}"#,
        ))
        .await;
        let menu = client(&base, 2000)
            .menu_try_match(&token(), "oMgHVjngRipVsoxg6TuX3vz6glDg")
            .await
            .unwrap();
        assert_eq!(menu.button[0].name, "sunck");
        assert_eq!(
            seen.await.unwrap().json(),
            serde_json::json!({"user_id": "oMgHVjngRipVsoxg6TuX3vz6glDg"})
        );

        let (base, seen) = serve_once(Some(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
        client(&base, 2000).menu_delete(&token()).await.unwrap();
        assert!(
            seen.await
                .unwrap()
                .request_line()
                .starts_with("GET /cgi-bin/menu/delete?access_token=")
        );
    }

    #[tokio::test]
    async fn stable_token_is_a_json_post_without_the_secret_in_the_url() {
        let (base, seen) = serve_once(Some(
            r#"{"access_token":"NEW_TOKEN_VALUE","expires_in":7200}"#,
        ))
        .await;
        let t = client(&base, 2000).fetch_stable_token(true).await.unwrap();
        assert_eq!(t.access_token.secret(), "NEW_TOKEN_VALUE");
        assert_eq!(t.expires_in, 7200);
        assert!(!format!("{t:?}").contains("NEW_TOKEN_VALUE"));
        let seen = seen.await.unwrap();
        assert_eq!(seen.request_line(), "POST /cgi-bin/stable_token HTTP/1.1");
        assert_eq!(
            seen.json(),
            serde_json::json!({
                "grant_type": "client_credential",
                "appid": "wxffde55b11cc79754",
                "secret": SECRET,
                "force_refresh": true,
            })
        );
    }

    #[tokio::test]
    async fn classic_token_and_ticket() {
        let (base, seen) =
            serve_once(Some(r#"{"access_token":"TOKEN_VALUE","expires_in":7200}"#)).await;
        let t = client(&base, 2000).fetch_token().await.unwrap();
        assert_eq!(t.access_token.secret(), "TOKEN_VALUE");
        let line = seen.await.unwrap().request_line().to_owned();
        assert!(line.starts_with("GET /cgi-bin/token?"), "{line}");
        assert!(line.contains("grant_type=client_credential"));
        assert!(line.contains("appid=wxffde55b11cc79754"));

        let (base, seen) = serve_once(Some(
            r#"{"errcode":0,"errmsg":"ok","ticket":"TICKET_VALUE","expires_in":7200}"#,
        ))
        .await;
        let ticket = client(&base, 2000)
            .get_jsapi_ticket(&token())
            .await
            .unwrap();
        assert_eq!(ticket.ticket, "TICKET_VALUE");
        assert_eq!(ticket.expires_in, 7200);
        assert!(!format!("{ticket:?}").contains("TICKET_VALUE"));
        let line = seen.await.unwrap().request_line().to_owned();
        assert!(line.starts_with("GET /cgi-bin/ticket/getticket?"), "{line}");
        assert!(line.contains("type=jsapi"));
    }

    #[tokio::test]
    async fn whitelist_errors_keep_the_errmsg() {
        let (base, _) = serve_once(Some(
            r#"{"errcode":40164,"errmsg":"invalid ip 47.94.148.108 ipv6 ::ffff:47.94.148.108, not in whitelist rid: 6513aa28"}"#,
        ))
        .await;
        let e = client(&base, 2000).fetch_token().await.unwrap_err();
        let Error::Api { code, errmsg, .. } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(*code, ErrCode::IP_NOT_IN_WHITELIST);
        assert_eq!(crate::errcode::whitelist_ip(errmsg), Some("47.94.148.108"));
        assert!(!e.to_string().contains(SECRET));
    }

    #[tokio::test]
    async fn a_timed_out_post_is_a_timeout_and_is_not_retried() {
        let (base, seen) = serve_once(None).await;
        let e = client(&base, 300)
            .menu_create(&token(), &seed_menu())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Timeout {
                    path: "/cgi-bin/menu/create",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.to_string().contains(TOKEN));
        assert!(!format!("{e:?}").contains(TOKEN));
        // The server task asserts that no second request arrived.
        seen.await.unwrap();
    }

    #[tokio::test]
    async fn transport_errors_do_not_carry_the_token() {
        // Bind then drop: nothing listens on this port any more.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let e = client(&base, 2000)
            .get_jsapi_ticket(&token())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Transport { .. }), "{e:?}");
        assert!(!e.to_string().contains(TOKEN));
        assert!(!format!("{e:?}").contains(TOKEN));
    }

    fn openid() -> OpenId {
        OpenId::new("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
    }

    #[tokio::test]
    async fn custom_send_posts_the_message_with_the_token_in_the_query() {
        let (base, seen) = serve_once(Some(r#"{"errcode":0,"errmsg":"ok"}"#)).await;
        let reply = Reply::Text {
            content: "稍等，结果来了 <a href=\"https://example.com\">看看</a>".into(),
        };
        let message = CustomMessage::from_reply(&openid(), &reply).unwrap();
        client(&base, 2000)
            .send_custom_message(&token(), &message)
            .await
            .unwrap();
        let seen = seen.await.unwrap();
        assert_eq!(
            seen.request_line(),
            format!("POST /cgi-bin/message/custom/send?access_token={TOKEN} HTTP/1.1")
        );
        assert_eq!(
            seen.json(),
            serde_json::json!({
                "touser": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
                "msgtype": "text",
                "text": {"content": "稍等，结果来了 <a href=\"https://example.com\">看看</a>"},
            })
        );
        let needle = "稍等".as_bytes();
        assert!(
            seen.body.windows(needle.len()).any(|w| w == needle),
            "raw UTF-8"
        );
    }

    #[tokio::test]
    async fn custom_send_errors_are_typed_and_a_timeout_is_not_retried() {
        let (base, _) = serve_once(Some(
            r#"{"errcode":45015,"errmsg":"response out of time limit or subscription is canceled rid: 6513aa28"}"#,
        ))
        .await;
        let message = CustomMessage::from_reply(
            &openid(),
            &Reply::Text {
                content: "x".into(),
            },
        )
        .unwrap();
        let e = client(&base, 2000)
            .send_custom_message(&token(), &message)
            .await
            .unwrap_err();
        assert_eq!(e.errcode(), Some(ErrCode::CUSTOM_OUT_OF_TIME_LIMIT));
        assert!(
            ErrCode::CUSTOM_OUT_OF_TIME_LIMIT
                .meaning()
                .contains("48 hours")
        );

        let (base, seen) = serve_once(None).await;
        let e = client(&base, 300)
            .send_custom_message(&token(), &message)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::Timeout {
                    path: "/cgi-bin/message/custom/send",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!format!("{e} {e:?}").contains(TOKEN));
        // The server task asserts that no second request arrived.
        seen.await.unwrap();
    }

    #[test]
    fn every_passive_reply_but_transfer_has_a_custom_form() {
        let to = openid();
        let body = |reply: Reply| CustomMessage::from_reply(&to, &reply).map(|m| m.body().clone());
        assert_eq!(
            body(Reply::Image {
                media_id: "M1".into()
            })
            .unwrap(),
            serde_json::json!({"touser": to.as_str(), "msgtype": "image", "image": {"media_id": "M1"}})
        );
        assert_eq!(
            body(Reply::Voice {
                media_id: "V1".into()
            })
            .unwrap()["voice"],
            serde_json::json!({"media_id": "V1"})
        );
        assert_eq!(
            body(Reply::Video {
                media_id: "MV".into(),
                title: Some("片".into()),
                description: None,
            })
            .unwrap()["video"],
            serde_json::json!({"media_id": "MV", "title": "片"})
        );
        assert_eq!(
            body(Reply::Music {
                title: Some("歌".into()),
                description: Some("d".into()),
                music_url: Some("http://m/1.mp3".into()),
                hq_music_url: Some("http://m/1hq.mp3".into()),
                thumb_media_id: "T1".into(),
            })
            .unwrap()["music"],
            serde_json::json!({"title": "歌", "description": "d", "musicurl": "http://m/1.mp3",
                "hqmusicurl": "http://m/1hq.mp3", "thumb_media_id": "T1"})
        );
        let article = |n: &str| Article {
            title: n.into(),
            description: "desc".into(),
            pic_url: "http://p/1.jpg".into(),
            url: "http://u/1".into(),
        };
        assert_eq!(
            body(Reply::News {
                articles: vec![article("一")]
            })
            .unwrap(),
            serde_json::json!({"touser": to.as_str(), "msgtype": "news", "news": {"articles": [
                {"title": "一", "description": "desc", "url": "http://u/1", "picurl": "http://p/1.jpg"}]}})
        );
        assert_eq!(
            body(Reply::News {
                articles: vec![article("一"), article("二")]
            }),
            Err(CustomMessageError::TooManyArticles(2))
        );
        assert_eq!(
            body(Reply::TransferCustomerService { kf_account: None }),
            Err(CustomMessageError::TransferOnly)
        );
        assert!(matches!(
            body(Reply::Text {
                content: " ".into()
            }),
            Err(CustomMessageError::Invalid(_))
        ));
    }
}
