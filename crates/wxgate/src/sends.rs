//! Messages to a user on demand: template messages, subscription notices and customer-service
//! messages, for the admin API (`POST /admin/messages/*`) and the CLI (`wxgate send …`) alike.
//!
//! A send is checked locally first ([`wechat::notify::check_data`]): the template must be one
//! of the account's and the data must name its keywords with values of the right type. The
//! template lists are fetched once and kept [`TEMPLATES_FRESH`]; an id not in the cached list
//! fetches it again once, so a template added in the console meanwhile is found. If WeChat will
//! not give the list (an account without the permission), only the value types are checked.
//!
//! Then one call through [`Platform::call`]: retried once when WeChat refused the token
//! (40001/42001, compare-and-invalidate), never after a timeout or a broken connection, which
//! are recorded as outcome `unknown` (the message may have been delivered). Every call is
//! recorded in the `sends` table ([`crate::db::sends`]), whatever its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wechat::notify::{
    self, CustomContent, Data, MiniProgram, NotifyKind, SubscribeMessage, Template, TemplateMessage,
};
use wechat::{ErrCode, OpenId};

use crate::db::Db;
use crate::db::sends::Send;
use crate::platform::Platform;

/// How long a fetched template list is trusted.
pub const TEMPLATES_FRESH: Duration = Duration::from_secs(600);

/// Who asked for a send, as the log shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    Cli,
    Admin,
    /// A reply that missed the push's deadline (`messages/late.rs`).
    LateReply,
}

impl Caller {
    pub fn as_str(self) -> &'static str {
        match self {
            Caller::Cli => "cli",
            Caller::Admin => "admin",
            Caller::LateReply => "late_reply",
        }
    }
}

/// A template message or subscription notice to send.
#[derive(Clone, Debug)]
pub struct Notice {
    pub openid: String,
    pub template_id: String,
    pub data: Data,
    /// Template messages: `url`; subscription notices: `page`.
    pub link: Option<String>,
    pub miniprogram: Option<MiniProgram>,
    /// Template messages only: WeChat's 10-minute idempotency key.
    pub client_msg_id: Option<String>,
}

/// A send that went through.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    /// Its row in the send log.
    pub id: i64,
    pub msgid: Option<String>,
}

/// Why a send did not go through.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Refused before any call: WeChat would refuse it too. Nothing was sent or recorded.
    #[error("{message}")]
    Invalid {
        message: String,
        problems: Vec<String>,
    },
    /// WeChat refused it: a clear reason for the errcode. Recorded as `refused`.
    #[error("{message}")]
    Refused {
        code: ErrCode,
        message: String,
        id: i64,
    },
    /// No usable answer (timeout, broken connection, garbage): the message may have been
    /// delivered and is not sent again. Recorded as `unknown`.
    #[error("{message}")]
    Unknown {
        error: wechat::Error,
        message: String,
        id: i64,
    },
    /// The database could not record it.
    #[error("database: {0}")]
    Store(#[from] sqlx::Error),
}

impl SendError {
    fn invalid(message: impl Into<String>) -> Self {
        SendError::Invalid {
            message: message.into(),
            problems: Vec::new(),
        }
    }
}

/// What a refusal means for the person who asked, for the codes a send meets (§3–§5, §10 of
/// docs/wechat-platform-apis.md); other codes get [`ErrCode::meaning`].
pub fn refusal(code: ErrCode, errmsg: &str) -> String {
    let reason = match code.0 {
        43004 => "the user does not follow the account: template messages reach followers only".to_owned(),
        43101 => "the user has not accepted this notification: they must subscribe to the template first (a one-time subscription is used up by each send)".to_owned(),
        45015 => "outside the 48-hour window: the user has not written to the account in the last 48 hours, or unfollowed".to_owned(),
        45047 => "too many customer-service messages since the user last wrote: wait until they write again".to_owned(),
        47003 => {
            // WeChat names the key: `argument invalid! data.thing1.value invalid rid: …`.
            let detail = errmsg.split(" rid:").next().unwrap_or_default();
            let key = detail.split_whitespace().find(|w| w.starts_with("data."));
            match key {
                Some(k) => format!("a value breaks the template's rules: {k} is invalid"),
                None => "a value breaks the template's rules".to_owned(),
            }
        }
        40037 => "invalid template_id: not a template of this account (template messages and subscription notices have separate ids)".to_owned(),
        40003 => "the openid is not a user of this account".to_owned(),
        _ => code.meaning().to_owned(),
    };
    format!("{reason} (errcode {})", code.0)
}

/// Template lists by kind, with when they were fetched.
type TemplateCache = Arc<Mutex<HashMap<&'static str, (Instant, Option<Arc<Vec<Template>>>)>>>;

/// The send service: the platform to call, the log to write, the cached template lists.
#[derive(Clone, Debug)]
pub struct Sends {
    platform: Platform,
    db: Db,
    templates: TemplateCache,
}

fn now() -> i64 {
    crate::clock::now()
}

fn check_openid(openid: &str) -> Result<OpenId, SendError> {
    let o = openid.trim();
    if o.is_empty()
        || o.len() > 128
        || !o
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SendError::invalid(format!(
            "{openid:?} is not an openid (letters, digits, - and _, like o6_bmjrPTlm6_2sgVt7hMZOPfL2M)"
        )));
    }
    Ok(OpenId::new(o))
}

fn check_link(what: &str, link: &Option<String>) -> Result<(), SendError> {
    match link {
        Some(l) if !(l.starts_with("https://") || l.starts_with("http://")) || l.len() > 1024 => {
            Err(SendError::invalid(format!(
                "{what} must be an http:// or https:// URL of at most 1024 bytes"
            )))
        }
        _ => Ok(()),
    }
}

impl Sends {
    pub fn new(platform: Platform, db: Db) -> Self {
        Sends {
            platform,
            db,
            templates: Arc::default(),
        }
    }

    /// The account's templates of `kind`: cached, or fetched when older than
    /// [`TEMPLATES_FRESH`] or when `refresh`. A failed fetch is remembered as long (so an
    /// account WeChat will not give its list costs one call per 10 minutes, not one per send).
    pub async fn templates(
        &self,
        kind: NotifyKind,
        refresh: bool,
    ) -> Result<Arc<Vec<Template>>, wechat::Error> {
        if !refresh && let Some(Some(list)) = self.cached(kind) {
            return Ok(list);
        }
        let c = &self.platform.client;
        let result = match kind {
            NotifyKind::Template => {
                self.platform
                    .call(|t| async move { c.template_list(&t).await })
                    .await
            }
            NotifyKind::Subscribe => {
                self.platform
                    .call(|t| async move { c.subscribe_template_list(&t).await })
                    .await
            }
        }
        .map(Arc::new);
        self.templates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                kind.as_str(),
                (Instant::now(), result.as_ref().ok().cloned()),
            );
        result
    }

    /// The cached list of `kind` if fresh: `Some(None)` when the last fetch failed.
    fn cached(&self, kind: NotifyKind) -> Option<Option<Arc<Vec<Template>>>> {
        let cache = self.templates.lock().unwrap_or_else(|e| e.into_inner());
        let (at, list) = cache.get(kind.as_str())?;
        (at.elapsed() < TEMPLATES_FRESH).then(|| list.clone())
    }

    /// The template `id` of `kind`, from the cached list (fetched again once if it is not
    /// there and the list was not fetched for this call). `Ok(None)` when WeChat will not give
    /// the list.
    async fn find_template(
        &self,
        kind: NotifyKind,
        id: &str,
    ) -> Result<Option<Template>, SendError> {
        let unavailable = |e: &wechat::Error| {
            tracing::info!(kind = kind.as_str(), problem = %crate::platform::explain(e), "no template list: checking value types only");
        };
        let (mut list, mut fetched) = match self.cached(kind) {
            Some(Some(list)) => (list, false),
            Some(None) => return Ok(None),
            None => match self.templates(kind, true).await {
                Ok(list) => (list, true),
                Err(e) => {
                    unavailable(&e);
                    return Ok(None);
                }
            },
        };
        loop {
            if let Some(t) = list.iter().find(|t| t.template_id == id) {
                return Ok(Some(t.clone()));
            }
            if !fetched {
                // Perhaps added in the console since: one more look.
                list = match self.templates(kind, true).await {
                    Ok(list) => list,
                    Err(e) => {
                        unavailable(&e);
                        return Ok(None);
                    }
                };
                fetched = true;
                continue;
            }
            let names: Vec<String> = list
                .iter()
                .map(|t| format!("{} ({})", t.template_id, t.title))
                .collect();
            let other = match kind {
                NotifyKind::Template => "subscription notices",
                NotifyKind::Subscribe => "template messages",
            };
            return Err(SendError::Invalid {
                message: format!(
                    "{id:?} is not a {} template of this account (WeChat would answer 40037; ids of {other} are not valid here)",
                    kind.as_str()
                ),
                problems: if names.is_empty() {
                    vec![format!("the account has no {} templates", kind.as_str())]
                } else {
                    vec![format!("its templates: {}", names.join(", "))]
                },
            });
        }
    }

    /// Local checks of a notice: openid, link, template and data.
    async fn check_notice(&self, kind: NotifyKind, notice: &Notice) -> Result<OpenId, SendError> {
        let openid = check_openid(&notice.openid)?;
        check_link(
            if kind == NotifyKind::Template {
                "url"
            } else {
                "page"
            },
            &notice.link,
        )?;
        if notice.template_id.trim().is_empty() {
            return Err(SendError::invalid("template_id is missing"));
        }
        let template = self.find_template(kind, notice.template_id.trim()).await?;
        let keywords = template.as_ref().map(Template::keywords);
        if let Err(errors) = notify::check_data(&notice.data, keywords.as_deref(), kind) {
            return Err(SendError::Invalid {
                message: format!(
                    "the data breaks the rules of template {} (WeChat would answer 47003)",
                    notice.template_id.trim()
                ),
                problems: errors.iter().map(ToString::to_string).collect(),
            });
        }
        Ok(openid)
    }

    /// `message/template/send`.
    pub async fn template(&self, notice: Notice, caller: Caller) -> Result<Sent, SendError> {
        let touser = self.check_notice(NotifyKind::Template, &notice).await?;
        let message = TemplateMessage {
            touser,
            template_id: notice.template_id.trim().to_owned(),
            url: notice.link.clone(),
            miniprogram: notice.miniprogram.clone(),
            client_msg_id: notice.client_msg_id.clone(),
            data: notice.data.clone(),
        };
        let c = &self.platform.client;
        let m = &message;
        let result = self
            .platform
            .call(|t| async move { c.send_template(&t, m).await })
            .await;
        record(
            &self.db,
            &notice.openid,
            "template",
            None,
            Some(&message.template_id),
            caller,
            result,
        )
        .await
    }

    /// `message/subscribe/bizsend`.
    pub async fn subscribe(&self, notice: Notice, caller: Caller) -> Result<Sent, SendError> {
        let touser = self.check_notice(NotifyKind::Subscribe, &notice).await?;
        let message = SubscribeMessage {
            touser,
            template_id: notice.template_id.trim().to_owned(),
            page: notice.link.clone(),
            miniprogram: notice.miniprogram.clone(),
            data: notice.data.clone(),
        };
        let c = &self.platform.client;
        let m = &message;
        let result = self
            .platform
            .call(|t| async move { c.send_subscribe(&t, m).await })
            .await;
        record(
            &self.db,
            &notice.openid,
            "subscribe",
            None,
            Some(&message.template_id),
            caller,
            result,
        )
        .await
    }

    /// `message/custom/send`.
    pub async fn custom(
        &self,
        openid: &str,
        content: &CustomContent,
        caller: Caller,
    ) -> Result<Sent, SendError> {
        let touser = check_openid(openid)?;
        let message = content
            .to_message(&touser)
            .map_err(|e| SendError::invalid(format!("the {} message: {e}", content.msg_type())))?;
        let result = self
            .platform
            .send_custom_message(&message)
            .await
            .map(|()| None);
        record(
            &self.db,
            openid,
            "custom",
            Some(message.msg_type()),
            None,
            caller,
            result,
        )
        .await
    }

    /// The send log, most recent first.
    pub async fn log(
        &self,
        openid: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Send>, sqlx::Error> {
        crate::db::sends::list(&self.db, openid, limit, offset).await
    }
}

/// Writes the outcome of a call to the send log and turns it into the answer.
pub async fn record(
    db: &Db,
    openid: &str,
    kind: &str,
    msgtype: Option<&str>,
    template_id: Option<&str>,
    caller: Caller,
    result: Result<Option<String>, wechat::Error>,
) -> Result<Sent, SendError> {
    let mut row = Send {
        id: 0,
        at: now(),
        openid: openid.trim().to_owned(),
        kind: kind.to_owned(),
        msgtype: msgtype.map(str::to_owned),
        template_id: template_id.map(str::to_owned),
        outcome: "sent".into(),
        errcode: None,
        detail: None,
        msgid: None,
        caller: caller.as_str().to_owned(),
    };
    let failure = match result {
        Ok(msgid) => {
            row.msgid = msgid;
            None
        }
        Err(e) => {
            let message = match &e {
                wechat::Error::Api { code, errmsg, .. } => {
                    row.outcome = "refused".into();
                    row.errcode = Some(code.0);
                    refusal(*code, errmsg)
                }
                other => {
                    row.outcome = "unknown".into();
                    format!(
                        "{} — the message may or may not have been delivered; it is not sent again",
                        crate::platform::explain(other)
                    )
                }
            };
            row.detail = Some(message.clone());
            Some((e, message))
        }
    };
    let id = match crate::db::sends::insert(db, &row).await {
        Ok(id) => id,
        // What happened matters more than the log: say it, and the log's failure.
        Err(db) => {
            tracing::error!(error = %db, kind, outcome = row.outcome, "could not record a send");
            if failure.is_none() {
                return Ok(Sent {
                    id: 0,
                    msgid: row.msgid,
                });
            }
            0
        }
    };
    tracing::info!(
        id,
        kind,
        msgtype,
        outcome = row.outcome,
        errcode = row.errcode,
        caller = caller.as_str(),
        "message to a user"
    );
    match failure {
        None => Ok(Sent {
            id,
            msgid: row.msgid,
        }),
        Some((wechat::Error::Api { code, .. }, message)) => {
            Err(SendError::Refused { code, message, id })
        }
        Some((error, message)) => Err(SendError::Unknown { error, message, id }),
    }
}

/// `key=value` pairs (the CLI's data) as [`Data`]; the first `=` splits.
pub fn parse_pairs(pairs: &[String]) -> Result<Data, String> {
    let mut data = Data::new();
    for p in pairs {
        let Some((k, v)) = p.split_once('=') else {
            return Err(format!(
                "{p:?}: data is given as keyword=value, e.g. thing1=绿茶礼盒"
            ));
        };
        if k.trim().is_empty() {
            return Err(format!("{p:?}: the keyword before = is empty"));
        }
        data.insert(
            k.trim().to_owned(),
            notify::DataValue {
                value: v.to_owned(),
            },
        );
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do_and_keep_the_code() {
        assert_eq!(
            refusal(
                ErrCode(47003),
                "argument invalid! data.thing1.value invalid rid: 1-2"
            ),
            "a value breaks the template's rules: data.thing1.value is invalid (errcode 47003)"
        );
        assert!(refusal(ErrCode(43004), "").contains("does not follow"));
        assert!(refusal(ErrCode(45015), "").contains("48-hour window"));
        assert!(refusal(ErrCode(40037), "").contains("separate ids"));
        assert!(refusal(ErrCode(45009), "").ends_with("(errcode 45009)"));
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        let d = parse_pairs(&["thing1=a=b".into(), "time2=".into()]).unwrap();
        assert_eq!(d["thing1"].value, "a=b");
        assert_eq!(d["time2"].value, "");
        assert!(parse_pairs(&["thing1".into()]).is_err());
        assert!(parse_pairs(&["=x".into()]).is_err());
        assert!(check_openid("o6_bmjrPTlm6_2sgVt7hMZOPfL2M").is_ok());
        assert!(check_openid("a b").is_err());
        assert!(check_link("url", &Some("ftp://x".into())).is_err());
    }
}
