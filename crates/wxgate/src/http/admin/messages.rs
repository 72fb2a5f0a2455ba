//! `POST /admin/messages/template`, `POST /admin/messages/subscribe`,
//! `POST /admin/messages/custom`, `GET /admin/messages` and `GET /admin/messages/templates`:
//! messages to a user through
//! [`crate::sends`], the service `wxgate send` uses too.
//!
//! Answers: 200 `{"ok":true,"id":…,"msgid":…}`; 400 for what was refused before any call
//! (`problems` lists each, naming its key); 422 for WeChat's refusals (`errcode`, and `id` in
//! the send log); 504/502 when WeChat gave no usable answer (`outcome: "unknown"`: the message
//! may have been delivered, and is not sent again).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use wechat::notify::{CustomContent, Data, DataValue, MiniProgram, NotifyKind};

use crate::http::error::Error;
use crate::sends::{Caller, Notice, SendError, Sent};
use crate::state::AppState;

type Answer = Result<Json<Value>, Error>;

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid { message, problems } => {
                let mut err = Error::bad_request(message);
                if !problems.is_empty() {
                    err = err.with("problems", problems);
                }
                err
            }
            SendError::Refused { code, message, id } => {
                Error::api(StatusCode::UNPROCESSABLE_ENTITY, message)
                    .with("errcode", code.0)
                    .with("outcome", "refused")
                    .with("id", id)
            }
            SendError::Unknown { error, message, id } => {
                let status = match error {
                    wechat::Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::BAD_GATEWAY,
                };
                Error::api(status, message)
                    .with("outcome", "unknown")
                    .with("id", id)
            }
            SendError::Store(e) => e.into(),
        }
    }
}

fn sent(s: Sent) -> Answer {
    Ok(Json(json!({ "ok": true, "id": s.id, "msgid": s.msgid })))
}

/// A JSON body of type `T`, or a 400 that says what was expected.
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8], shape: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::bad_request(format!("expected {shape}: {e}")))
}

/// `data` as `{"thing1": "绿茶"}` or WeChat's `{"thing1": {"value": "绿茶"}}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Value1 {
    Plain(String),
    Wrapped(DataValue),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoticeBody {
    #[serde(alias = "touser")]
    openid: String,
    template_id: String,
    data: std::collections::BTreeMap<String, Value1>,
    #[serde(default, alias = "page")]
    url: Option<String>,
    #[serde(default)]
    miniprogram: Option<MiniProgram>,
    #[serde(default)]
    client_msg_id: Option<String>,
}

const NOTICE_SHAPE: &str = r#"{"openid": "…", "template_id": "…", "data": {"thing1": "绿茶礼盒", …}, "url": "https://…" (or "page"), "miniprogram": {"appid", "pagepath"}, "client_msg_id": "…"}"#;

impl NoticeBody {
    fn notice(self) -> Notice {
        let data: Data = self
            .data
            .into_iter()
            .map(|(k, v)| {
                let value = match v {
                    Value1::Plain(s) => s,
                    Value1::Wrapped(w) => w.value,
                };
                (k, DataValue { value })
            })
            .collect();
        Notice {
            openid: self.openid,
            template_id: self.template_id,
            data,
            link: self.url,
            miniprogram: self.miniprogram,
            client_msg_id: self.client_msg_id,
        }
    }
}

/// `POST /admin/messages/template`.
pub(super) async fn template(State(app): State<AppState>, bytes: Bytes) -> Answer {
    let b: NoticeBody = body(&bytes, NOTICE_SHAPE)?;
    sent(app.sends.template(b.notice(), Caller::Admin).await?)
}

/// `POST /admin/messages/subscribe` (`url` or `page` is where the notice leads).
pub(super) async fn subscribe(State(app): State<AppState>, bytes: Bytes) -> Answer {
    let b: NoticeBody = body(&bytes, NOTICE_SHAPE)?;
    if b.client_msg_id.is_some() {
        return Err(Error::bad_request(
            "client_msg_id belongs to template messages; subscription notices have none",
        ));
    }
    sent(app.sends.subscribe(b.notice(), Caller::Admin).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomBody {
    #[serde(alias = "touser")]
    openid: String,
    message: CustomContent,
}

/// `POST /admin/messages/custom` with `{"openid", "message": {"type": "text", "content": "…"}}`
/// (any reply type of the rules, `msgmenu` or `miniprogrampage`).
pub(super) async fn custom(State(app): State<AppState>, bytes: Bytes) -> Answer {
    let b: CustomBody = body(
        &bytes,
        r#"{"openid": "…", "message": {"type": "text", "content": "…"}} (type: text, image, voice, video, music, news, msgmenu, miniprogrampage)"#,
    )?;
    sent(
        app.sends
            .custom(&b.openid, &b.message, Caller::Admin)
            .await?,
    )
}

/// `GET /admin/messages/templates`: the account's templates of both kinds, with the keywords
/// their `data` needs (fetched afresh).
pub(super) async fn templates(State(app): State<AppState>) -> Answer {
    let mut out = serde_json::Map::new();
    for kind in [NotifyKind::Template, NotifyKind::Subscribe] {
        let list = app.sends.templates(kind, true).await?;
        let list: Vec<Value> = list
            .iter()
            .map(|t| json!({"template_id": t.template_id, "title": t.title, "keywords": t.keywords(), "content": t.content}))
            .collect();
        out.insert(kind.as_str().to_owned(), list.into());
    }
    Ok(Json(Value::Object(out)))
}

#[derive(Deserialize)]
pub(super) struct LogQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    openid: Option<String>,
}

/// `GET /admin/messages[?limit=&offset=&openid=]`: the send log, most recent first.
pub(super) async fn log(
    State(app): State<AppState>,
    query: Result<Query<LogQuery>, QueryRejection>,
) -> Answer {
    let Query(q) =
        query.map_err(|e| Error::bad_request(format!("bad query string: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0).max(0);
    let sends = app.sends.log(q.openid.as_deref(), limit, offset).await?;
    Ok(Json(
        json!({ "messages": sends, "limit": limit, "offset": offset }),
    ))
}
