//! What every handler shares: configuration, the services (login, message server, platform
//! credentials), the database, the shared state and templates. Built by [`crate::startup`].

use std::ops::Deref;
use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::login::Login;
use crate::messages::MessageServer;
use crate::platform::Platform;
use crate::shared::Shared;
use crate::templates::Templates;

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub config: Config,
    /// The origin browsers and WeChat reach us at, without a trailing slash.
    pub public_url: String,
    pub db: Db,
    /// What instances share: in memory, or in Redis for several instances.
    pub shared: Shared,
    pub templates: Templates,
    /// Web login (网页授权).
    pub login: Login,
    /// The base access_token and jsapi_ticket, fetched lazily, and the WeChat API client.
    pub platform: Platform,
    /// The message server, when a Token is configured.
    pub messages: Option<Arc<MessageServer>>,
    /// The API gateway, when clients are configured.
    pub gateway: Option<Arc<crate::gateway::Gateway>>,
    /// Per-address rate limits.
    pub limits: Arc<crate::http::rate_limit::RateLimits>,
    /// Template messages, subscription notices and customer-service messages on demand.
    pub sends: crate::sends::Sends,
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
