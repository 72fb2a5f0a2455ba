//! `wxgate-bare`: the bare-HTTP ceiling for `wxgate-bench`. axum with default settings, serving
//! the routes the scenarios hit with fixed bytes of about the same size as wxgate's answers, so
//! a scenario's figure can be read next to what the HTTP stack alone allows on the same machine
//! in the same run. Prints `listening on http://ADDR` and serves until killed.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// About the size of wxgate's guest page.
const PAGE: &str = include_str!("bare_page.html");
/// A reply the size of wxgate's; it reads as plaintext and as encrypted to the load generator's
/// checks, which look for `你说的是` and `<Encrypt>`.
const REPLY: &str = "<xml><Encrypt><![CDATA[9Ls6b3aSOlfjg4Nr3v0gJTHHTIxT7+lICvd3vYyDy8eWuGsNh1u5qpmJxw+AHFWBJ8HgZLsCCuUyM0W8eMhv1uaByTjdSjnNpP7jiXfT97G1vC5dnyBmAIeDtW4mnbeoeeQxd6xxyOtt5ik4kEO9eaSUSVpLbS/SQTg6elNQsw3Y91yDHeUL0gnbmNMA1LSLsWI4PQjVcwxAb9/wXN97cW8hb9mMS8CjUQ0bC7LScVWq8X1ZzUiMnjGO9SgW8SpBX5T+94YP/qN7x8K/T5E49Vgy0R0HWBAq6cJMu]]></Encrypt><!-- 你说的是：bench message 1 --></xml>";
const JSSDK: &str = r#"{"appId":"wx5d3ad7e0c0ffee00","timestamp":1700000000,"nonceStr":"Wm3WZYTPz0wzccnW","signature":"0f9de62fce790f9a083d5c99e95740ceb90c27ed"}"#;

fn logged_in() -> &'static str {
    static PAGE_IN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAGE_IN.get_or_init(|| PAGE.replace("游客", "张三"))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/index/",
            // A browser with a cookie gets the page of a logged-in user, as from wxgate.
            get(|headers: axum::http::HeaderMap| async move {
                let page = if headers.contains_key(header::COOKIE) {
                    logged_in()
                } else {
                    PAGE
                };
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
            }),
        )
        .route(
            "/weixin/",
            get(|| async { "echo" }).post(|| async {
                ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], REPLY).into_response()
            }),
        )
        .route(
            "/jssdk/config",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], JSSDK) }),
        );
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("addr")
    );
    axum::serve(listener, app).await.expect("serve");
}
