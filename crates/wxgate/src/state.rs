//! What every handler shares: configuration, the WeChat client, the database and templates.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::SqlitePool;

use crate::config::Config;
use crate::http::login::LoginsInFlight;
use crate::http::weixin::MessageServer;
use crate::templates::Templates;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    /// The origin browsers and WeChat reach us at, without a trailing slash.
    pub public_url: String,
    pub client: wechat::Client,
    pub db: SqlitePool,
    pub templates: Templates,
    pub logins: LoginsInFlight,
    /// The base access_token and jsapi_ticket, fetched lazily.
    pub platform: crate::platform::Platform,
    /// The message server, when a Token is configured.
    pub messages: Option<MessageServer>,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
