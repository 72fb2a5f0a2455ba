//! The admin surface, for the operator's scripts: `GET /admin/token` (status, never the token),
//! `GET /admin/quota` (WeChat's daily quota use),
//! `GET`/`PUT`/`DELETE /admin/menu`, `GET /admin/users`, and messages to a user
//! (`POST /admin/messages/{template,subscribe,custom}`, `GET /admin/messages`, in
//! `admin/messages.rs`). Every request needs
//! `Authorization: Bearer $WXGATE_ADMIN_TOKEN` (compared in constant time); without that
//! setting the whole surface is off. This replaces the seed's open `/access/`, `/menu/` and
//! `/dlmenu/`, which let anyone read the access_token or rewrite the menu.
//!
//! Publishing goes through [`crate::menus::publish_menu`], as `wxgate menu push` does.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
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
        "no such admin endpoint: see README (/admin/token, /admin/quota, /admin/menu, /admin/users, /admin/messages)",
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
