//! `wxgate serve`: the server against WeChat, or with `--check` the configuration, explained.

use std::path::PathBuf;

use super::load_sources;
use crate::startup::Application;

pub(super) async fn run(config: Option<PathBuf>, check: bool) -> Result<(), String> {
    let sources = load_sources(config.as_deref())?;
    let config = sources.validate().map_err(|e| e.to_string())?;
    if check {
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| crate::startup::derive_public_url(config.listen));
        let host = url::Url::parse(&public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        println!("configuration OK");
        println!("  public URL: {public_url}");
        println!("  WeChat login returns to {public_url}/empower/ (网页授权域名: {host})");
        match &config.message {
            Some(m) => println!(
                "  message server: {public_url}{} ({:?} mode)",
                m.path, m.mode
            ),
            None => println!("  message server: off (set WXGATE_TOKEN)"),
        }
        println!(
            "  admin API: {}",
            if config.admin_token.is_some() {
                "on"
            } else {
                "off (set WXGATE_ADMIN_TOKEN)"
            }
        );
        println!("\nAll settings (secrets redacted):\n{config:#?}");
        return Ok(());
    }
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    println!("wxgate: serving {}/index/", app.public_url());
    if let Some(addr) = app.metrics_addr() {
        println!("wxgate: metrics at http://{addr}/metrics");
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
