//! Building the application from a [`Config`]: bind the listener first (port 0 works, and the
//! public URL can be derived from the real port), then the database, sessions, the WeChat client
//! and the routes. Tests and `wxgate demo` use exactly this path.

use std::net::SocketAddr;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::db::{Db, Engine};
use crate::http;
use crate::http::connection;
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
    #[error("configuration error: WXGATE_METRICS_LISTEN (metrics_listen): {0}")]
    Metrics(String),
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
            Some(r) => {
                Shared::redis(&r.url, &r.prefix, config.push_memory).map_err(StartError::Redis)?
            }
            None => Shared::memory(config.push_memory),
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
    /// The metrics listener, when `WXGATE_METRICS_LISTEN` is set.
    metrics: Option<TcpListener>,
    router: http::Service,
    pub state: AppState,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        raise_open_files_limit(config.max_connections);
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
        let metrics = match config.metrics_listen {
            Some(addr) => {
                crate::metrics::install().map_err(StartError::Metrics)?;
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|e| StartError::Metrics(format!("cannot listen on {addr}: {e}")))?;
                Some(listener)
            }
            None => None,
        };
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
        if let Some(warning) = config
            .message
            .as_ref()
            .and_then(|m| m.webhook.as_ref())
            .and_then(|w| crate::messages::webhook::insecure_url(&w.url))
        {
            tracing::warn!("{warning}");
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
        // Rules' files get their media_ids now, not when the first push needs one.
        if let Some(messages) = &messages {
            let messages = messages.clone();
            tokio::spawn(async move { messages.prepare_media().await });
        }
        let login = Login::new(
            db.clone(),
            platform.client.clone(),
            shared.flights.clone(),
            &config,
            &public_url,
        );
        let limits = std::sync::Arc::new(crate::http::rate_limit::RateLimits::new(
            config.trusted_proxies.clone(),
            config.login_rate_per_minute,
        ));
        let sweeping = std::sync::Arc::downgrade(&limits);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                match sweeping.upgrade() {
                    Some(limits) => limits.forget_idle(),
                    None => return,
                }
            }
        });
        let gateway = (!config.api_clients.is_empty()).then(|| {
            std::sync::Arc::new(crate::gateway::Gateway::new(
                config.api_clients.clone(),
                platform.clone(),
                config.upstream_timeout,
                config.api_body_limit,
            ))
        });
        let sends = crate::sends::Sends::new(platform.clone(), db.clone());
        let state = AppState::new(Inner {
            config,
            public_url,
            db,
            shared,
            templates,
            login,
            platform,
            messages,
            gateway,
            limits,
            sends,
        });
        let router = http::router(state.clone(), store);
        Ok(Self {
            listener,
            metrics,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn public_url(&self) -> &str {
        &self.state.public_url
    }

    /// Serves until Ctrl-C (or SIGTERM), finishing requests in flight (for up to
    /// [`SHUTDOWN_GRACE`]).
    ///
    /// This is `axum::serve` plus what it lacks: a connection that has not sent a complete
    /// request head within [`HEADER_READ_TIMEOUT`] — silent, trickling, or idle between
    /// requests — is closed, so slow clients cannot hold connections open (slowloris); a
    /// response the client does not take within [`connection::WRITE_TIMEOUT`] closes the
    /// connection; and past `WXGATE_MAX_CONNECTIONS` open connections a new one is answered
    /// 503 and closed. It speaks HTTP/1.1 only: WeChat, browsers and TLS proxies in front of
    /// wxgate use it, and cleartext HTTP/2 would be one more way to hold a connection open.
    /// Body and handler time limits are layers in [`crate::http::router`].
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        use hyper_util::rt::{TokioIo, TokioTimer};

        let Application {
            listener,
            metrics,
            router,
            state,
        } = self;
        if let Some(metrics) = metrics {
            crate::metrics::spawn_upkeep();
            let app = axum::Router::new().route(
                "/metrics",
                axum::routing::get(|| async {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8",
                        )],
                        crate::metrics::render(),
                    )
                }),
            );
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let open = std::sync::Arc::new(tokio::sync::Semaphore::new(state.config.max_connections));
        let refusals = crate::throttled_log::ThrottledLog::default();
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
            let Ok(permit) = open.clone().try_acquire_owned() else {
                if let Some(unlogged) = refusals.allow("max_connections") {
                    tracing::warn!(
                        max_connections = state.config.max_connections,
                        unlogged_since_last = unlogged,
                        "too many open connections: new ones get 503 (WXGATE_MAX_CONNECTIONS)"
                    );
                }
                tokio::spawn(connection::refuse_over_capacity(stream));
                continue;
            };
            let _ = stream.set_nodelay(true);
            // The peer's address, for rate limits (http::rate_limit).
            let peer = stream.peer_addr().ok();
            let http = router.clone();
            let service =
                hyper::service::service_fn(move |r: axum::http::Request<hyper::body::Incoming>| {
                    let answer = http.call(r.map(axum::body::Body::new), peer);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
            let io = connection::TimedWrite::new(stream, connection::WRITE_TIMEOUT);
            let connection = builder.serve_connection(TokioIo::new(io), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(permit);
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

/// Lets the process open enough files for `max_connections` connections plus the database and
/// outbound calls: the soft limit is often 1024 while the hard one is far higher. Warns when
/// even the hard limit is too low.
// rlim_t is u64 on Linux but not on every unix.
#[allow(clippy::unnecessary_cast)]
fn raise_open_files_limit(max_connections: usize) {
    #[cfg(unix)]
    {
        let wanted = max_connections as u64 + 256;
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return;
            }
            if (limit.rlim_cur as u64) < wanted {
                let raised = libc::rlimit {
                    rlim_cur: (wanted.min(limit.rlim_max as u64)) as libc::rlim_t,
                    rlim_max: limit.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        if (limit.rlim_cur as u64) < wanted {
            tracing::warn!(
                open_files = limit.rlim_cur as u64,
                max_connections,
                "the open-files limit is lower than WXGATE_MAX_CONNECTIONS needs: raise it (ulimit -n) or lower WXGATE_MAX_CONNECTIONS"
            );
        }
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
