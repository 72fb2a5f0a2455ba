//! `GET /jssdk/config?url=…`: what a page passes to `wx.config` — `{appId, timestamp, nonceStr,
//! signature}` — for a page URL under `WXGATE_PUBLIC_URL` only. The caller sends the exact URL
//! of the page (`location.href.split('#')[0]`): guessing it server-side behind proxies is what
//! breaks JS-SDK signatures (docs/field-lessons.md row 16).

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use crate::platform::explain;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/jssdk/config", get(config))
}

#[derive(Deserialize)]
struct ConfigQuery {
    url: Option<String>,
}

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn config(State(app): State<AppState>, Query(q): Query<ConfigQuery>) -> Response {
    let Some(raw) = q.url.filter(|u| !u.is_empty()) else {
        return bad("missing ?url= (the page's URL, location.href.split('#')[0])".into());
    };
    let page = raw.split('#').next().unwrap_or_default().to_owned();
    if !same_origin(&page, &app.public_url) {
        return bad(format!(
            "url must be a page under {} (WXGATE_PUBLIC_URL, the JS接口安全域名)",
            app.public_url
        ));
    }
    let ticket = match app.platform.jsapi_ticket.get().await {
        Ok(t) => t,
        Err(e) => {
            let status = match e {
                wechat::Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            };
            return (status, Json(json!({ "error": explain(&e) }))).into_response();
        }
    };
    let nonce = wechat::State::generate();
    let config = wechat::jssdk::config(
        app.client.appid(),
        &ticket,
        &page,
        crate::db::now(),
        &nonce.as_str()[..16],
    );
    Json(config).into_response()
}

/// Same scheme, host and port as the public URL.
fn same_origin(page: &str, public_url: &str) -> bool {
    match (url::Url::parse(page), url::Url::parse(public_url)) {
        (Ok(p), Ok(o)) => {
            p.scheme() == o.scheme()
                && p.host_str() == o.host_str()
                && p.port_or_known_default() == o.port_or_known_default()
                && p.username().is_empty()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn only_pages_of_our_origin() {
        let o = "https://wx.example.com";
        assert!(same_origin("https://wx.example.com/index/?a=1", o));
        assert!(same_origin("https://wx.example.com:443/x", o));
        for bad in [
            "http://wx.example.com/",
            "https://wx.example.com.evil.com/",
            "https://evil.com/?https://wx.example.com",
            "https://user@wx.example.com/",
            "https://wx.example.com:8443/",
            "javascript:alert(1)",
            "/index/",
        ] {
            assert!(!same_origin(bad, o), "{bad}");
        }
    }
}
