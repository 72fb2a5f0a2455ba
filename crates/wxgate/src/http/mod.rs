//! HTTP routes, one file per area; [`router`] merges them. To find the code for a URL:
//! `/`, `/index/`, `/auth/`, `/empower/`, `/logout/` → [`login`]; `/weixin/` (WeChat's pushes)
//! → [`weixin`]; `/jssdk/config` → [`jssdk`]; `/admin/…` → [`admin`]; `/healthz`, `/readyz` →
//! [`health`].

pub mod admin;
pub mod api;
pub mod connection;
pub mod error;
pub mod health;
pub mod jssdk;
pub mod login;
pub mod page;
pub mod rate_limit;
pub mod weixin;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::Layer;

use crate::sessions;
use crate::state::AppState;

/// Whether `path` (with or without its trailing slash) is served by one of wxgate's own routers:
/// the message server's configurable path must not take a page's place.
pub fn is_own_path(path: &str) -> bool {
    let bare = path.trim_end_matches('/');
    let exact = login::PATHS
        .iter()
        .chain(health::PATHS)
        .any(|p| p.trim_end_matches('/') == bare);
    let under = |prefix: &str| is_under(bare, prefix);
    exact || bare.is_empty() || under(admin::PREFIX) || under(jssdk::PREFIX) || under(api::PREFIX)
}

/// Whether `path` is `prefix` itself or below it (`/admin`, `/admin/x`; not `/administer`).
pub fn is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Bodies larger than this are refused with 413 before any handler runs (the message server
/// has its own limit, `WXGATE_MESSAGE_BODY_LIMIT`).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole HTTP service: every request goes through it ([`Service::call`]). Cloning it is
/// one reference count; hyper calls it by reference, so a request costs no clone of it.
#[derive(Clone)]
pub struct Service(std::sync::Arc<Stack>);

/// The routes, with what every request goes through around them ([`Stack`]); sessions wrap
/// only the pages that use them.
pub fn router(app: AppState, store: sessions::Store) -> Service {
    let sessions = store.layer(&app.config);
    // A handler may wait for WeChat twice (code exchange, then the profile) and the database.
    let request_timeout =
        (app.config.upstream_timeout * 3 + Duration::from_secs(5)).max(Duration::from_secs(30));
    let routes = Router::new()
        .merge(login::router(&app).layer(sessions))
        .merge(health::router())
        .merge(weixin::router(&app))
        .merge(jssdk::router())
        .merge(admin::router(&app))
        .merge(api::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app.clone());
    // Around the merged router once, not per route (`Router::layer` wraps every route, and a
    // route's layers are cloned per request).
    let routes = DefaultBodyLimit::max(BODY_LIMIT).layer(routes);
    let routes: Routes = Box::new(move |request| {
        let routes = routes.clone();
        Box::pin(async move {
            match tower::ServiceExt::oneshot(routes, request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    });
    let weixin_path = app.messages.as_ref().map(|m| m.config.path.clone());
    Service(std::sync::Arc::new(Stack {
        app: app.clone(),
        routes,
        request_timeout,
        pushes: weixin_path.as_deref().map(weixin::Paths::new),
        // Counted and timed only when metrics are served (WXGATE_METRICS_LISTEN).
        measured: app.config.metrics_listen.is_some().then(|| Measured {
            weixin_path: weixin_path.map(std::sync::Arc::from),
        }),
    }))
}

/// What every request goes through, in one service and one future rather than a tower layer
/// each (every layer costs a future, often a box and a clone per request; /healthz spent more
/// in them than in hyper): a body declared over the path's limit is refused at once; the body
/// must keep arriving ([`connection::SlowBodyLimit`]); the whole request has `request_timeout`
/// (then a bare 503); failures are written as pages or JSON ([`error::render`]); every answer
/// gets the [`security_headers`], and is counted and timed when metrics are on ([`Measured`]).
///
/// WeChat's pushes (POST to the message path), the hottest route by far, go straight to
/// [`weixin::receive_push`], the handler [`weixin::router`] registers for them, without the
/// router's lookup, boxed futures and extractors: with hyper calling [`Service`] by reference,
/// a tenth less CPU a push (docs/design-notes.md, "Third round").
struct Stack {
    app: AppState,
    /// The routes, with axum's extractors held to [`BODY_LIMIT`].
    routes: Routes,
    request_timeout: Duration,
    /// The message server's path, when it is on.
    pushes: Option<weixin::Paths>,
    measured: Option<Measured>,
}

/// Counts and times every request (`wxgate_http_requests_total`,
/// `wxgate_http_request_duration_seconds`) by [`route_label`].
#[derive(Clone)]
struct Measured {
    weixin_path: Option<std::sync::Arc<str>>,
}

/// A response to come; the request's own future, boxed once.
pub type Answer = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// The router, called with a request.
type Routes = Box<dyn Fn(Request) -> Answer + Send + Sync>;

impl Service {
    /// The response to `request` from `peer` (its address, for the rate limits of the routes
    /// that have them). Never fails: every failure is a response.
    pub fn call(&self, request: Request, peer: Option<std::net::SocketAddr>) -> Answer {
        let stack = &*self.0;
        let path = request.uri().path();
        let measuring = stack.measured.as_ref().map(|m| {
            let route = route_label(path, m.weixin_path.as_deref());
            (route, request.method().clone(), std::time::Instant::now())
        });
        // A line per request only when someone reads it (RUST_LOG=wxgate::http=debug). The
        // path only: query strings carry OAuth codes and states.
        let traced = tracing::enabled!(tracing::Level::DEBUG).then(|| {
            (
                request.method().clone(),
                path.to_owned(),
                std::time::Instant::now(),
            )
        });
        let json = error::wants_json(path);
        let limit = body_limit(&stack.app, path);
        let push = request.method() == axum::http::Method::POST
            && stack.pushes.as_ref().is_some_and(|p| p.matches(path));
        let answer: Option<Answer> = if declares_too_much(&request, limit) {
            None
        } else {
            let mut request = request.map(|body| {
                Body::new(connection::SlowBodyLimit::new(
                    body,
                    connection::BODY_TIMEOUT,
                ))
            });
            Some(if push {
                Box::pin(weixin::receive_push(stack.app.clone(), request))
            } else {
                if let Some(peer) = peer {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                }
                (stack.routes)(request)
            })
        };
        let app = stack.app.clone();
        let request_timeout = stack.request_timeout;
        Box::pin(async move {
            let response = match answer {
                None => too_large(limit),
                Some(answer) => match crate::clock::within(request_timeout, answer).await {
                    Ok(response) => error::render(&app, json, limit, response),
                    Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
                },
            };
            let response = security_headers(response);
            if let Some((route, method, started)) = measuring {
                crate::metrics::http_request(
                    route,
                    method.as_str(),
                    response.status().as_u16(),
                    started.elapsed(),
                );
            }
            if let Some((method, path, started)) = traced {
                tracing::debug!(
                    %method,
                    path,
                    status = response.status().as_u16(),
                    micros = started.elapsed().as_micros() as u64,
                    "answered"
                );
            }
            response
        })
    }
}

/// The route a request is counted under in metrics: one of wxgate's own areas, never the raw
/// path (which would make a label per URL anyone cares to type).
pub fn route_label(path: &str, weixin_path: Option<&str>) -> &'static str {
    let bare = path.trim_end_matches('/');
    let under = |prefix: &str| is_under(bare, prefix);
    if weixin_path.is_some_and(|w| bare == w.trim_end_matches('/')) {
        return "weixin";
    }
    match bare {
        "" | "/index" => "index",
        "/auth" => "auth",
        "/empower" => "empower",
        "/logout" => "logout",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/api/token" => "api_token",
        _ if under(api::PREFIX) => "api",
        _ if under(admin::PREFIX) => "admin",
        _ if under(jssdk::PREFIX) => "jssdk",
        _ => "other",
    }
}

/// Headers every response gets unless its handler set them: no MIME sniffing, no framing
/// (clickjacking of the login), no Referer (the callback URL carries an OAuth code), and no
/// caching (pages show a user's nickname; JSON answers are per request).
fn security_headers(mut response: Response) -> Response {
    const DEFAULTS: [(HeaderName, &str); 5] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let headers = response.headers_mut();
    headers.reserve(DEFAULTS.len());
    for (name, value) in DEFAULTS {
        // One lookup per header: set unless the handler did.
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// The body limit for a request to `path`: the message server's own
/// (`WXGATE_MESSAGE_BODY_LIMIT`) under its path, [`BODY_LIMIT`] elsewhere.
pub fn body_limit(app: &AppState, path: &str) -> usize {
    match &app.messages {
        Some(m) if path.starts_with(m.config.path.trim_end_matches('/')) => m.config.body_limit,
        _ if path.starts_with("/api/") => app.config.api_body_limit,
        _ => BODY_LIMIT,
    }
}

/// Whether a request declares a body longer than `limit` (it is refused at once, instead of
/// waiting for the body).
pub fn declares_too_much(request: &Request, limit: usize) -> bool {
    request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > limit as u64)
}

/// Every 413, worded the same way.
pub fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("request body too large: at most {limit} bytes"),
    )
        .into_response()
}

async fn not_found() -> error::Error {
    page::Message::new(StatusCode::NOT_FOUND, "页面不存在")
        .line("你要找的页面不存在。")
        .into()
}

async fn method_not_allowed() -> error::Error {
    page::Message::new(StatusCode::METHOD_NOT_ALLOWED, "不支持的请求方式")
        .line("这个地址不接受这种请求方式。")
        .into()
}
