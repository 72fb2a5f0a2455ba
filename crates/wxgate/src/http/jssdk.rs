//! `GET /jssdk/config?url=…`: what a page passes to `wx.config` — `{appId, timestamp, nonceStr,
//! signature}` — for a page URL under `WXGATE_PUBLIC_URL` only. The caller sends the exact URL
//! of the page (`location.href.split('#')[0]`): guessing it server-side behind proxies is what
//! breaks JS-SDK signatures (docs/field-lessons.md row 16).

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::get;

use crate::http::error::Error;
use crate::state::AppState;

/// Every path this router serves starts with this.
pub const PREFIX: &str = "/jssdk";

pub fn router() -> Router<AppState> {
    Router::new().route(&format!("{PREFIX}/config"), get(config))
}

/// The page URL from `?url=`, checked: exactly one parameter (an unencoded `&` in the page's
/// own query would silently cut it short and the signature would not match), the fragment
/// dropped, and the URL as a browser reports it (`location.href`) under our public origin.
fn page_url(raw_query: Option<&str>, public_url: &str) -> Result<String, String> {
    const HOW: &str = "send ?url=encodeURIComponent(location.href.split('#')[0])";
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw_query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let url = match pairs.as_slice() {
        [] => return Err(format!("missing ?url= (the page's URL): {HOW}")),
        [(k, v)] if k == "url" && !v.is_empty() => v,
        [(k, v)] if k == "url" && v.is_empty() => return Err(format!("?url= is empty: {HOW}")),
        _ => {
            return Err(format!(
                "expected only ?url=, got {}: the page URL must be percent-encoded ({HOW})",
                pairs
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let page = url.split('#').next().unwrap_or_default();
    if !same_origin(page, public_url) {
        return Err(format!(
            "url must be a page under {public_url} (WXGATE_PUBLIC_URL, the JS接口安全域名)"
        ));
    }
    // Sign only what a browser would report: WeChat signs location.href, not our reading of
    // an unusual spelling of it.
    let parsed = url::Url::parse(page).map_err(|e| format!("url is not a URL: {e}"))?;
    if parsed.as_str() != page {
        return Err(format!(
            "url is not written as a browser reports it; did you mean \"{}\"",
            parsed.as_str()
        ));
    }
    Ok(page.to_owned())
}

async fn config(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Json<wechat::JsSdkConfig>, Error> {
    let page = page_url(query.as_deref(), &app.public_url).map_err(Error::bad_request)?;
    let ticket = app.platform.jsapi_ticket.get().await?;
    let nonce = wechat::signature::nonce();
    let config = wechat::jssdk::config(
        app.platform.client.appid(),
        &ticket,
        &page,
        crate::clock::now(),
        &nonce,
    );
    Ok(Json(config))
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
    use super::{page_url, same_origin};

    #[test]
    fn the_page_url_is_one_encoded_parameter_spelled_as_a_browser_does() {
        let o = "https://wx.example.com";
        assert_eq!(
            page_url(
                Some("url=https%3A%2F%2Fwx.example.com%2Fa%3Fx%3D1%26y%3D2%23top"),
                o
            )
            .unwrap(),
            "https://wx.example.com/a?x=1&y=2"
        );
        for (query, says) in [
            (None, "missing"),
            (Some("url="), "empty"),
            // The page's own & left unencoded: y=2 would be lost from the signature.
            (
                Some("url=https://wx.example.com/a?x=1&y=2"),
                "percent-encoded",
            ),
            (Some("url=a&url=b"), "percent-encoded"),
            (
                Some("url=https%3A%2F%2Fwx.example.com"),
                "did you mean \"https://wx.example.com/\"",
            ),
            (
                Some("url=https://evil.example/"),
                "under https://wx.example.com",
            ),
        ] {
            let e = page_url(query, o).unwrap_err();
            assert!(e.contains(says), "{query:?}: {e}");
        }
    }

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
