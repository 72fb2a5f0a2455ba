//! Building the application from a [`Config`]: bind the listener first (port 0 works, and the
//! public URL can be derived from the real port), then the database, sessions, the WeChat client
//! and the routes. Tests and `wxgate demo` use exactly this path.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::{Db, Engine};
use crate::http;
use crate::login::Login;
use crate::messages::MessageServer;
use crate::platform::Platform;
use crate::sessions;
use crate::shared::Shared;
use crate::state::{AppState, Inner};
use crate::templates::Templates;

/// Why the application could not start; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration error: WXGATE_LISTEN (listen): cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("configuration error: WXGATE_DATABASE_URL (database_url): {0}")]
    Database(#[from] sqlx::Error),
    #[error("configuration error: WXGATE_REDIS_URL (redis_url): {0}")]
    Redis(String),
    #[error("configuration error: WXGATE_TEMPLATE_DIR (template_dir): {0}")]
    Templates(String),
    #[error("message server: {0}")]
    Messages(String),
    #[error("cannot create the HTTP client: {0}")]
    Client(#[from] wechat::Error),
}

/// The services and stores a configuration asks for, without a listener: what `serve` runs
/// and what one-shot CLI commands (`wxgate token status`, `menu push`…) use.
pub struct Services {
    pub db: Db,
    pub shared: Shared,
    pub platform: Platform,
}

impl Services {
    pub async fn build(config: &Config) -> Result<Self, StartError> {
        let db = Db::connect(config.database_url.as_str()).await?;
        let shared = match &config.redis {
            Some(r) => Shared::redis(&r.url, &r.prefix).map_err(StartError::Redis)?,
            None => Shared::memory(),
        };
        let client = wechat::Client::new(wechat::ClientConfig {
            api_base: config.api_base.clone(),
            appid: config.appid.clone(),
            secret: config.secret.clone(),
            timeout: config.upstream_timeout,
        })?;
        // A fetch is a normal call and perhaps a forced one, each within the upstream timeout.
        let fetch_lease = config.upstream_timeout * 2 + std::time::Duration::from_secs(5);
        let platform = Platform::new(
            client,
            db.clone(),
            config.token_api,
            shared.locks.clone(),
            fetch_lease,
        );
        Ok(Services {
            db,
            shared,
            platform,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    pub state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let local = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| derive_public_url(local));
        let templates =
            Templates::new(config.template_dir.clone()).map_err(StartError::Templates)?;
        let Services {
            db,
            shared,
            platform,
        } = Services::build(&config).await?;
        if db.engine() == Engine::Postgres && shared.redis.is_none() {
            tracing::warn!(
                "PostgreSQL without WXGATE_REDIS_URL: fine for one instance, but several instances need Redis to share push deduplication, logins in progress and the token lock"
            );
        }
        let store = sessions::Store::new(config.session_store, &db, shared.redis.as_ref());
        let messages = config
            .message
            .clone()
            .map(|m| {
                MessageServer::new(
                    m,
                    &config.appid,
                    db.clone(),
                    platform.clone(),
                    &public_url,
                    &shared,
                )
            })
            .transpose()
            .map_err(StartError::Messages)?;
        let login = Login::new(
            db.clone(),
            platform.client.clone(),
            shared.flights.clone(),
            &config,
            &public_url,
        );
        let state = AppState::new(Inner {
            config,
            public_url,
            db,
            shared,
            templates,
            login,
            platform,
            messages,
        });
        let router = http::router(state.clone(), store);
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until Ctrl-C (or SIGTERM), finishing requests in flight (for up to
    /// [`SHUTDOWN_GRACE`]).
    ///
    /// This is `axum::serve` plus what it lacks: a connection that has not sent a complete
    /// request head within [`HEADER_READ_TIMEOUT`] — silent, trickling, or idle between
    /// requests — is closed, so slow clients cannot hold connections open (slowloris). It
    /// speaks HTTP/1.1 only: WeChat, browsers and TLS proxies in front of wxgate use it, and
    /// cleartext HTTP/2 would be one more way to hold a connection open. Body and handler time
    /// limits are layers in [`crate::http::router`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};
        use tower::ServiceExt;

        let Application {
            listener, router, ..
        } = self;
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: pause instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let service =
                hyper_util::service::TowerToHyperService::new(router.clone().map_request(
                    |r: axum::http::Request<hyper::body::Incoming>| r.map(axum::body::Body::new),
                ));
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        tracing::info!("shutting down: finishing requests in flight");
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("requests still running after the grace period were cut off");
        }
        Ok(())
    }
}

/// How long a connection may take to send its request headers.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long shutdown waits for requests in flight.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// `http://<listen>`, with an unspecified address (0.0.0.0, ::) replaced by loopback.
pub fn derive_public_url(addr: SocketAddr) -> String {
    let ip = if addr.ip().is_unspecified() {
        if addr.is_ipv4() {
            "127.0.0.1".to_owned()
        } else {
            "[::1]".to_owned()
        }
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    format!("http://{ip}:{}", addr.port())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
