//! The admin surface, for the operator's scripts: `GET /admin/token` (status, never the token),
//! `GET /admin/quota` (WeChat's daily quota use),
//! `GET`/`PUT`/`DELETE /admin/menu`, `GET /admin/users`, followers and tags (`GET
//! /admin/followers`, `PUT /admin/followers/{openid}/remark`, `/admin/tags[/{tag}[/followers]]`,
//! `/admin/blacklist`), `GET`/`POST /admin/qrcodes` (QR codes with scenes), `GET /admin/media`
//! and `DELETE /admin/media/{media_id}`, and messages to a user (`POST
//! /admin/messages/{template,subscribe,custom}`, `GET /admin/messages`, in `admin/messages.rs`).
//! Every request needs
//! `Authorization: Bearer $WXGATE_ADMIN_TOKEN` (compared in constant time); without that
//! setting the whole surface is off. This replaces the seed's open `/access/`, `/menu/` and
//! `/dlmenu/`, which let anyone read the access_token or rewrite the menu.
//!
//! Publishing goes through [`crate::menus::publish_menu`], as `wxgate menu push` does.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use wechat::menu::Menu;

use crate::http::error::Error;
use crate::http::rate_limit;
use crate::menus::file::{MenuFormat, parse_menu_file};
use crate::menus::{PublishError, Published, publish_menu};
use crate::state::AppState;

mod messages;

/// Every path this router serves starts with this.
pub const PREFIX: &str = "/admin";

/// Every `/admin/` request is authenticated first, whatever its path and method: with the API
/// off it is a 404, without the right token a 401, and only then an unknown path a 404 or a
/// method an endpoint does not take a 405.
pub fn router(app: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/token", get(token_status).fallback(wrong_method))
        .route("/admin/quota", get(quota).fallback(wrong_method))
        .route(
            "/admin/menu",
            get(menu_get)
                .put(menu_put)
                .delete(menu_delete)
                .fallback(wrong_method),
        )
        .route("/admin/users", get(users).fallback(wrong_method))
        // Followers and tags (crate::followers).
        .route("/admin/followers", get(followers).fallback(wrong_method))
        .route(
            "/admin/followers/{openid}/remark",
            axum::routing::put(remark_put).fallback(wrong_method),
        )
        .route(
            "/admin/tags",
            get(tags_get).post(tags_create).fallback(wrong_method),
        )
        .route(
            "/admin/tags/{tag}",
            axum::routing::put(tag_rename)
                .delete(tag_delete)
                .fallback(wrong_method),
        )
        .route(
            "/admin/tags/{tag}/followers",
            axum::routing::post(tag_add)
                .delete(tag_remove)
                .fallback(wrong_method),
        )
        .route(
            "/admin/blacklist",
            get(blacklist_get)
                .post(blacklist_add)
                .delete(blacklist_remove)
                .fallback(wrong_method),
        )
        // QR codes with scenes and media (issue 9).
        .route(
            "/admin/qrcodes",
            get(qrcodes_list)
                .post(qrcodes_create)
                .fallback(wrong_method),
        )
        .route("/admin/media", get(media_list).fallback(wrong_method))
        .route(
            "/admin/media/{media_id}",
            axum::routing::delete(media_delete).fallback(wrong_method),
        )
        // Messages to a user (admin/messages.rs).
        .route("/admin/messages", get(messages::log).fallback(wrong_method))
        .route(
            "/admin/messages/template",
            post(messages::template).fallback(wrong_method),
        )
        .route(
            "/admin/messages/subscribe",
            post(messages::subscribe).fallback(wrong_method),
        )
        .route(
            "/admin/messages/custom",
            post(messages::custom).fallback(wrong_method),
        )
        .route(
            "/admin/messages/templates",
            get(messages::templates).fallback(wrong_method),
        )
        .route("/admin", axum::routing::any(no_such_endpoint))
        .route("/admin/", axum::routing::any(no_such_endpoint))
        .route("/admin/{*rest}", axum::routing::any(no_such_endpoint))
        .route_layer(middleware::from_fn_with_state(app.clone(), require_admin))
}

async fn wrong_method() -> Error {
    Error::api(
        StatusCode::METHOD_NOT_ALLOWED,
        "this admin endpoint does not take that method",
    )
}

async fn no_such_endpoint() -> Error {
    Error::api(
        StatusCode::NOT_FOUND,
        "no such admin endpoint: see README (/admin/token, /admin/quota, /admin/menu, /admin/users, /admin/followers, /admin/tags, /admin/blacklist, /admin/qrcodes, /admin/media, /admin/messages)",
    )
}

/// Compares digests, so the comparison takes the same time whatever the lengths.
fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes())
        .ct_eq(&Sha256::digest(b.as_bytes()))
        .into()
}

async fn require_admin(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let Some(expected) = app.config.admin_token.as_ref().map(|t| t.as_str()) else {
        return Error::api(
            StatusCode::NOT_FOUND,
            "the admin API is off: set WXGATE_ADMIN_TOKEN to turn it on",
        )
        .into_response();
    };
    // An address that failed too often gets a 429 without its token being looked at.
    let client = rate_limit::client_of(&app, &request);
    if let Some(ip) = client
        && let Err(wait) = app.limits.blocked(ip)
    {
        return rate_limit::too_many(wait, "too many failed authentications from this address");
    }
    let failed = |response: Response| match client.map(|ip| app.limits.failed(ip)) {
        Some(Err(wait)) => {
            rate_limit::too_many(wait, "too many failed authentications from this address")
        }
        _ => response,
    };
    // The scheme is case-insensitive (RFC 9110 §11.1): `bearer x` is a bearer token too.
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token);
    match presented {
        Some(token) if same_secret(token.trim(), expected) => next.run(request).await,
        Some(_) => {
            failed(Error::api(StatusCode::UNAUTHORIZED, "wrong admin token").into_response())
        }
        None => failed(
            (
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Error::api(
                    StatusCode::UNAUTHORIZED,
                    "missing Authorization: Bearer <WXGATE_ADMIN_TOKEN>",
                ),
            )
                .into_response(),
        ),
    }
}

type Answer = Result<Json<serde_json::Value>, Error>;

async fn token_status(State(app): State<AppState>) -> Answer {
    Ok(Json(json!({
        "api": app.platform.api.as_str(),
        "access_token": app.platform.access_token.status().await,
        "jsapi_ticket": app.platform.jsapi_ticket.status().await,
    })))
}

#[derive(Deserialize)]
struct QuotaQuery {
    path: Option<String>,
}

/// `GET /admin/quota[?path=cgi-bin/user/info]`: today's quota use of the APIs wxgate calls,
/// or of one API. An API WeChat will not report on is listed with its error.
async fn quota(
    State(app): State<AppState>,
    query: Result<Query<QuotaQuery>, QueryRejection>,
) -> Answer {
    let Query(q) = query.map_err(|e| Error::bad_request(e.body_text()))?;
    let paths = match q.path.as_deref() {
        Some(p) => vec![crate::platform::cgi_path(p).map_err(Error::bad_request)?],
        None => app
            .platform
            .apis_called()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let mut quotas = Vec::new();
    for path in paths {
        match app.platform.quota(&path).await {
            Ok(r) => quotas.push(json!({
                "path": path,
                "daily_limit": r.quota.daily_limit,
                "used": r.quota.used,
                "remain": r.quota.remain,
            })),
            // One path asked for: its failure is the answer.
            Err(e) if q.path.is_some() => return Err(e.into()),
            Err(e) => quotas.push(json!({
                "path": path,
                "error": crate::platform::explain(&e),
                "errcode": e.errcode().map(|c| c.0),
            })),
        }
    }
    Ok(Json(json!({ "quotas": quotas })))
}

async fn menu_get(State(app): State<AppState>) -> Result<Json<wechat::MenuSet>, Error> {
    Ok(Json(app.platform.menu_get().await?))
}

/// PUT a menu as WeChat's JSON (or TOML with `Content-Type: application/toml`). A menu with a
/// `matchrule` is a conditional menu and replaces the one with the same matchrule, if any
/// ([`crate::menus::publish_menu`]).
async fn menu_put(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Answer {
    let text =
        std::str::from_utf8(&body).map_err(|_| Error::bad_request("the menu must be UTF-8"))?;
    let format = match headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        Some(t) if t.contains("toml") => MenuFormat::Toml,
        _ => MenuFormat::Json,
    };
    let menu: Menu = parse_menu_file(text, format).map_err(Error::bad_request)?;
    if let Err(errors) = wechat::menu::validate(&menu) {
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(Error::bad_request("the menu breaks WeChat's limits").with("errors", errors));
    }
    match publish_menu(&app.platform, &menu).await {
        Ok(published) => Ok(Json(published_json(&published))),
        Err(e) => Err(publish_failure(&e)),
    }
}

/// A failed publication: WeChat's error, or — when the new conditional menu is live but an old
/// one could not be deleted — a 502 that says so and names the menu left behind.
fn publish_failure(e: &PublishError) -> Error {
    match e {
        PublishError::Failed(error) => Error::Wechat(error.clone()),
        PublishError::NoSuchTag { .. } => Error::bad_request(e.explain()),
        PublishError::OldNotDeleted {
            published,
            old,
            error,
        } => {
            let mut failure = Error::api(StatusCode::BAD_GATEWAY, e.explain())
                .with("ok", false)
                .with("errcode", json!(error.errcode().map(|c| c.0)))
                .with("not_deleted", json!([old]));
            if let serde_json::Value::Object(fields) = published_json(published) {
                for (k, v) in fields.into_iter().filter(|(k, _)| k != "ok") {
                    failure = failure.with(&k, v);
                }
            }
            failure
        }
    }
}

/// `{"ok": true}`, plus for a conditional menu `"menuid"`, `"replaced"` (menuids) and
/// `"message"` (`replaced conditional menu 123 with 456`).
fn published_json(p: &Published) -> serde_json::Value {
    match &p.menuid {
        None => json!({ "ok": true }),
        Some(id) => json!({
            "ok": true,
            "menuid": id,
            "replaced": p.replaced,
            "message": p.lines().join("; "),
        }),
    }
}

#[derive(Deserialize)]
struct DeleteQuery {
    menuid: Option<String>,
}

/// A query string that does not parse, as a JSON error like every other answer here.
fn bad_query(rejection: QueryRejection) -> Error {
    Error::bad_request(format!("bad query string: {}", rejection.body_text()))
}

/// DELETE removes the default menu and every conditional one (WeChat's menu/delete), or only
/// the conditional menu `?menuid=`.
async fn menu_delete(
    State(app): State<AppState>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> Answer {
    let Query(q) = query.map_err(bad_query)?;
    match q.menuid.as_deref() {
        Some(id) => app.platform.menu_delete_conditional(id).await?,
        None => app.platform.menu_delete().await?,
    }
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct UsersQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn users(
    State(app): State<AppState>,
    query: Result<Query<UsersQuery>, QueryRejection>,
) -> Answer {
    let Query(q) = query.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0).max(0);
    let users = crate::db::users::list_users(&app.db, limit, offset).await?;
    Ok(Json(
        json!({ "users": users, "limit": limit, "offset": offset }),
    ))
}

/// A failed follower or tag operation: 400 for input WeChat refused or would refuse (with
/// WeChat's errcode when it answered), 502/504 for WeChat, 503 for the database.
fn followers_failure(e: crate::followers::Failure) -> Error {
    use crate::followers::Failure;
    match e {
        Failure::Invalid(m) => Error::bad_request(m),
        Failure::Refused(w) => Error::bad_request(crate::platform::explain(&w))
            .with("errcode", json!(w.errcode().map(|c| c.0))),
        Failure::Wechat(w) => Error::Wechat(w),
        Failure::Db(d) => d.into(),
    }
}

#[derive(Deserialize)]
struct FollowersQuery {
    /// A tag's name or id.
    tag: Option<String>,
    /// Also people who no longer follow.
    #[serde(default)]
    all: bool,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// `GET /admin/followers[?tag=上海][&all=true][&limit=&offset=]`: the followers in the database
/// (`wxgate followers sync` fills it; pushes keep it current), newest follow first.
async fn followers(
    State(app): State<AppState>,
    query: Result<Query<FollowersQuery>, QueryRejection>,
) -> Answer {
    let Query(q) = query.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0).max(0);
    let tag = match q.tag.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(
            crate::followers::resolve_tag(&app.platform, &app.db, t)
                .await
                .map_err(followers_failure)?,
        ),
        None => None,
    };
    let id = tag.as_ref().map(|t| t.id);
    let rows = crate::db::followers::list(&app.db, id, q.all, limit, offset).await?;
    let total = crate::db::followers::count(&app.db, id, q.all).await?;
    Ok(Json(json!({
        "followers": rows,
        "total": total,
        "tag": tag,
        "limit": limit,
        "offset": offset,
    })))
}

/// `GET /admin/tags`: the account's tags from WeChat (`tags/get`), with their follower counts.
async fn tags_get(State(app): State<AppState>) -> Answer {
    let tags = crate::followers::refresh_tags(&app.platform, &app.db)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "tags": tags })))
}

/// `POST /admin/tags` with `{"name": "上海"}`: creates a tag; its id.
async fn tags_create(State(app): State<AppState>, body: Bytes) -> Answer {
    let new: NewName = body_of(&body, r#"{"name": "…"}"#)?;
    let tag = crate::followers::create_tag(&app.platform, &app.db, &new.name)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "ok": true, "tag": tag })))
}

/// A JSON body of type `T`, or a 400 that says what was expected.
fn body_of<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::bad_request(format!("expected {expected}: {e}")))
}

#[derive(Deserialize)]
struct NewName {
    name: String,
}

/// `PUT /admin/tags/{tag}` with `{"name": "…"}`: renames the tag (a name or an id).
async fn tag_rename(State(app): State<AppState>, Path(tag): Path<String>, body: Bytes) -> Answer {
    let new: NewName = body_of(&body, r#"{"name": "…"}"#)?;
    let tag = crate::followers::rename_tag(&app.platform, &app.db, &tag, &new.name)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "ok": true, "tag": tag })))
}

/// `DELETE /admin/tags/{tag}`: deletes the tag (a name or an id); its followers lose it.
async fn tag_delete(State(app): State<AppState>, Path(tag): Path<String>) -> Answer {
    let tag = crate::followers::delete_tag(&app.platform, &app.db, &tag)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "ok": true, "deleted": tag })))
}

#[derive(Deserialize)]
struct OpenIds {
    openids: Vec<String>,
}

/// A batched change that failed: the failure, and how many openids were done before it.
fn batch_failure(e: crate::followers::BatchFailure) -> Error {
    let done = e.done;
    match followers_failure(e.failure) {
        failure @ Error::Api { .. } => failure.with("done", done),
        Error::Wechat(w) => Error::api(
            if matches!(w, wechat::Error::Timeout { .. }) {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            },
            crate::platform::explain(&w),
        )
        .with("errcode", json!(w.errcode().map(|c| c.0)))
        .with("done", done),
        other => other,
    }
}

async fn tagging(app: &AppState, tag: &str, body: &[u8], add: bool) -> Answer {
    let ids: OpenIds = body_of(body, r#"{"openids": ["…"]}"#)?;
    let (tag, done) = crate::followers::tag_users(&app.platform, &app.db, tag, &ids.openids, add)
        .await
        .map_err(batch_failure)?;
    Ok(Json(json!({ "ok": true, "tag": tag, "done": done })))
}

/// `POST /admin/tags/{tag}/followers` with `{"openids": [...]}`: gives the tag, 50 per call.
async fn tag_add(State(app): State<AppState>, Path(tag): Path<String>, body: Bytes) -> Answer {
    tagging(&app, &tag, &body, true).await
}

/// `DELETE /admin/tags/{tag}/followers` with `{"openids": [...]}`: takes the tag away.
async fn tag_remove(State(app): State<AppState>, Path(tag): Path<String>, body: Bytes) -> Answer {
    tagging(&app, &tag, &body, false).await
}

#[derive(Deserialize)]
struct Remark {
    remark: String,
}

/// `PUT /admin/followers/{openid}/remark` with `{"remark": "…"}` (at most 30 characters).
async fn remark_put(
    State(app): State<AppState>,
    Path(openid): Path<String>,
    body: Bytes,
) -> Answer {
    let r: Remark = body_of(&body, r#"{"remark": "…"}"#)?;
    crate::followers::set_remark(&app.platform, &app.db, &openid, &r.remark)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "ok": true })))
}

/// `GET /admin/blacklist`: every blacklisted openid, from WeChat.
async fn blacklist_get(State(app): State<AppState>) -> Answer {
    let openids = crate::followers::blacklist(&app.platform)
        .await
        .map_err(followers_failure)?;
    Ok(Json(json!({ "openids": openids })))
}

async fn blacklisting(app: &AppState, body: &[u8], on: bool) -> Answer {
    let ids: OpenIds = body_of(body, r#"{"openids": ["…"]}"#)?;
    let done = crate::followers::set_blacklisted(&app.platform, &ids.openids, on)
        .await
        .map_err(batch_failure)?;
    Ok(Json(json!({ "ok": true, "done": done })))
}

/// `POST /admin/blacklist` with `{"openids": [...]}`: 20 per call.
async fn blacklist_add(State(app): State<AppState>, body: Bytes) -> Answer {
    blacklisting(&app, &body, true).await
}

/// `DELETE /admin/blacklist` with `{"openids": [...]}`.
async fn blacklist_remove(State(app): State<AppState>, body: Bytes) -> Answer {
    blacklisting(&app, &body, false).await
}
// QR codes with scenes and media (issue 9): adapters onto crate::qrcodes and crate::media.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QrCodeBody {
    /// A string, or a number for a numeric scene.
    scene: serde_json::Value,
    #[serde(default)]
    expire_secs: Option<u64>,
    #[serde(default)]
    permanent: bool,
}

fn qr_failure(e: crate::qrcodes::QrError) -> Error {
    match e {
        crate::qrcodes::QrError::Invalid(m) => Error::bad_request(m.to_string()),
        crate::qrcodes::QrError::Wechat(w) => Error::Wechat(w),
        crate::qrcodes::QrError::Store(s) => s.into(),
    }
}

/// `POST /admin/qrcodes` with `{"scene": "metro_poster", "expire_secs": 86400}` or
/// `{"scene": 7, "permanent": true}` → the stored code.
async fn qrcodes_create(State(app): State<AppState>, body: Bytes) -> Answer {
    let body: QrCodeBody = serde_json::from_slice(&body).map_err(|e| {
        Error::bad_request(format!(
            r#"expected {{"scene": "…", "expire_secs": N}} or {{"scene": "…", "permanent": true}}: {e}"#
        ))
    })?;
    let scene = match &body.scene {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return Err(Error::bad_request("scene must be a string or a number")),
    };
    let lifetime = match (body.permanent, body.expire_secs) {
        (true, Some(_)) => {
            return Err(Error::bad_request(
                "a permanent code has no expire_secs: give one or the other",
            ));
        }
        (true, None) => crate::qrcodes::Lifetime::Permanent,
        (false, secs) => {
            crate::qrcodes::Lifetime::Temporary(secs.unwrap_or(crate::qrcodes::DEFAULT_EXPIRE_SECS))
        }
    };
    let code = crate::qrcodes::create(&app.db, &app.platform, &scene, lifetime)
        .await
        .map_err(qr_failure)?;
    Ok(Json(json!({ "ok": true, "qrcode": code })))
}

#[derive(Deserialize)]
struct QrListQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /admin/qrcodes[?all=true]`: newest first; expired temporary codes only with `all`.
async fn qrcodes_list(
    State(app): State<AppState>,
    query: Result<Query<QrListQuery>, QueryRejection>,
) -> Answer {
    let Query(q) = query.map_err(bad_query)?;
    let codes = crate::qrcodes::list(&app.db, q.all).await?;
    Ok(Json(json!({ "qrcodes": codes })))
}

/// `GET /admin/media`: what was uploaded through wxgate, newest first.
async fn media_list(State(app): State<AppState>) -> Answer {
    let media = crate::db::media::list(&app.db, 1000).await?;
    Ok(Json(json!({ "media": media })))
}

/// `DELETE /admin/media/{media_id}`: deletes permanent material (temporary media is forgotten).
async fn media_delete(
    State(app): State<AppState>,
    axum::extract::Path(media_id): axum::extract::Path<String>,
) -> Answer {
    let library = crate::media::MediaLibrary::new(app.db.clone(), app.platform.clone());
    match library.delete(&media_id).await {
        Ok(deleted) => Ok(Json(json!({ "ok": true, "deleted_at_wechat": deleted }))),
        Err(crate::media::MediaFailure::Wechat(w))
            if w.errcode() == Some(wechat::ErrCode::INVALID_MEDIA_ID) =>
        {
            Err(Error::api(
                StatusCode::NOT_FOUND,
                format!("WeChat has no material {media_id} (errcode 40007)"),
            ))
        }
        Err(crate::media::MediaFailure::Wechat(w)) => Err(Error::Wechat(w)),
        Err(crate::media::MediaFailure::Store(s)) => Err(s.into()),
        Err(e) => Err(Error::bad_request(e.to_string())),
    }
}
