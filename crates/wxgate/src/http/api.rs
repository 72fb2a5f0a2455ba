//! `/api/…`: the API gateway for the account's other programs ([`crate::gateway`]).
//! `GET /api/token` reveals the access_token to a client allowed to hold it; any other
//! `/api/{path}` is forwarded to WeChat's `{path}` with the token added, and WeChat's answer
//! (status, content type, body) comes back as it was. Off (404) unless `WXGATE_API_TOKEN` or
//! `[[api_clients]]` is configured.

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::json;

use crate::gateway::{ApiClient, Call, Gateway, Refusal};
use crate::http::error::Error;
use crate::http::rate_limit;
use crate::state::AppState;

/// Every path this router serves starts with this.
pub const PREFIX: &str = "/api";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/token", get(token))
        .route("/api/{*path}", any(forward))
        .route("/api", any(no_path))
        .route("/api/", any(no_path))
}

fn refused(refusal: Refusal) -> Error {
    let (status, message) = match refusal {
        Refusal::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m.to_owned()),
        Refusal::Forbidden(m) => (StatusCode::FORBIDDEN, m),
        Refusal::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
        Refusal::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "WeChat's APIs take GET or POST".to_owned(),
        ),
    };
    crate::metrics::gateway_refused(status.as_u16());
    Error::api(status, message)
}

/// The gateway and the client calling it. An address that failed to authenticate too often
/// gets a 429 without its token being looked at, as on the admin API. The refusal is a whole
/// response (a 429 carries `Retry-After`); it is made once per refused request, so its size
/// does not matter.
#[allow(clippy::result_large_err)]
fn client<'a>(
    app: &'a AppState,
    request: &Request,
) -> Result<(&'a Gateway, &'a ApiClient), Response> {
    let Some(gateway) = app.gateway.as_deref() else {
        return Err(Error::api(
            StatusCode::NOT_FOUND,
            "the API gateway is off: set WXGATE_API_TOKEN, or add [[api_clients]] to the config file",
        )
        .into_response());
    };
    const TOO_MANY: &str = "too many failed authentications from this address";
    let address = rate_limit::client_of(app, request);
    if let Some(ip) = address
        && let Err(wait) = app.limits.blocked(ip)
    {
        crate::metrics::gateway_refused(429);
        return Err(rate_limit::too_many(wait, TOO_MANY));
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match gateway.authenticate(authorization) {
        Ok(client) => Ok((gateway, client)),
        Err(refusal) => Err(match address.map(|ip| app.limits.failed(ip)) {
            Some(Err(wait)) => {
                crate::metrics::gateway_refused(429);
                rate_limit::too_many(wait, TOO_MANY)
            }
            _ => refused(refusal).into_response(),
        }),
    }
}

async fn no_path() -> Error {
    Error::bad_request("no API path: call /api/<path>, e.g. /api/cgi-bin/user/info")
}

async fn token(State(app): State<AppState>, request: Request) -> Response {
    let (gateway, client) = match client(&app, &request) {
        Ok(c) => c,
        Err(response) => return response,
    };
    match gateway.reveal(client).await {
        Ok(Ok((token, expires_in))) => Json(json!({
            "access_token": token,
            "expires_in": expires_in,
        }))
        .into_response(),
        Ok(Err(r)) => refused(r).into_response(),
        Err(e) => Error::from(e).into_response(),
    }
}

async fn forward(
    State(app): State<AppState>,
    Path(path): Path<String>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Response {
    match client(&app, &request) {
        Ok((gateway, client)) => forward_for(gateway, client, path, query, request)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        Err(response) => response,
    }
}

async fn forward_for(
    gateway: &Gateway,
    client: &ApiClient,
    path: String,
    query: Option<String>,
    request: Request,
) -> Result<Response, Error> {
    let method = request.method().as_str().to_owned();
    let query = query.unwrap_or_default();
    gateway
        .admit(client, &method, &path, &query)
        .map_err(refused)?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_body(request.into_body(), gateway.body_limit).await?;
    let answer = gateway
        .forward(
            client,
            Call {
                method: &method,
                path: &path,
                query: &query,
                content_type: content_type.as_deref(),
                body,
            },
        )
        .await?;
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, answer.content_type),
        (header::CONTENT_DISPOSITION, answer.content_disposition),
    ] {
        if let Some(v) = value.and_then(|v| v.parse().ok()) {
            headers.insert(name, v);
        }
    }
    Ok(response)
}

/// The whole request body, buffered so that a call can be sent again with a new token.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Error> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let causes = || std::iter::successors(std::error::Error::source(&e), |s| s.source());
        if causes().any(|s| s.is::<http_body_util::LengthLimitError>()) {
            Error::api(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large: the gateway forwards at most {limit} bytes (WXGATE_API_BODY_LIMIT)"),
            )
        } else {
            Error::bad_request("the request body could not be read")
        }
    })
}
