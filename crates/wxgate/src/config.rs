//! Configuration: an optional TOML file, environment variables (`WXGATE_<KEY>`) over it, and
//! defaults that run on loopback. Every key is listed in [`KEYS`]; an unknown key in the file, a
//! missing or invalid value stops start-up with one line that names the key and what is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wechat::{AppId, AppSecret};

pub use crate::messages::config::{MessageConfig, MessageMode, WebhookConfig};

/// How many pushes (and as many signature bindings) one process remembers by default.
pub const DEFAULT_PUSH_MEMORY: usize = 1_000_000;

/// Every configuration key: (file key, what it is). The environment variable is `WXGATE_` + the
/// key in upper case. README's table is written from this list.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "address to listen on (default 127.0.0.1:8000)"),
    (
        "trusted_proxies",
        "proxies whose X-Forwarded-For is believed: addresses or networks, comma-separated (default none)",
    ),
    (
        "login_rate_per_minute",
        "/auth/ and /empower/ requests allowed per client address and minute (default 120; 0: no limit)",
    ),
    (
        "push_memory",
        "pushes remembered at most (for retries and replays), about 180 bytes each (default 1000000)",
    ),
    (
        "max_connections",
        "connections open at once; past it a new one gets 503 and is closed (default 4096)",
    ),
    (
        "public_url",
        "origin WeChat redirects back to (default http://<listen>)",
    ),
    ("appid", "the account's AppID (required for serve)"),
    (
        "secret",
        "the account's AppSecret (required for serve; never logged)",
    ),
    (
        "api_base",
        "WeChat API origin (default https://api.weixin.qq.com)",
    ),
    (
        "oauth_base",
        "WeChat OAuth page origin (default https://open.weixin.qq.com)",
    ),
    (
        "database_url",
        "sqlite://FILE (default sqlite://wxgate.db) or postgres://… for several instances",
    ),
    (
        "redis_url",
        "redis://… for state shared by several instances (dedup, sessions, token lock)",
    ),
    (
        "redis_prefix",
        "prefix of every Redis key (default wxgate:<appid>:)",
    ),
    (
        "session_store",
        "where sessions live: database, redis or memory (default redis with a redis_url, else database)",
    ),
    (
        "template_dir",
        "folder whose templates override the embedded ones",
    ),
    (
        "upstream_timeout_ms",
        "timeout for each call to WeChat in ms (default 5000)",
    ),
    (
        "state_ttl_secs",
        "how long a started login may take, in seconds (default 600)",
    ),
    (
        "token",
        "the Token of 服务器配置; enables the message server",
    ),
    (
        "aes_key",
        "the 43-character EncodingAESKey; enables compatible and safe mode",
    ),
    (
        "message_mode",
        "消息加解密方式: plain, compatible or safe (default safe with an aes_key, else plain)",
    ),
    (
        "aes_key_previous",
        "the EncodingAESKey before the last rotation (tried second)",
    ),
    (
        "weixin_path",
        "path of the message server (default /weixin/)",
    ),
    (
        "reply_deadline_ms",
        "answer `success` when handling a push takes longer (default 4500)",
    ),
    (
        "message_body_limit",
        "largest push body accepted, in bytes (default 65536)",
    ),
    (
        "timestamp_window_secs",
        "pushes whose timestamp is further off are refused (default 300)",
    ),
    (
        "webhook_url",
        "POST each deduplicated message as JSON to this URL",
    ),
    (
        "webhook_secret",
        "HMAC-SHA256 key for the webhook's X-Wxgate-Signature (required with webhook_url)",
    ),
    (
        "token_api",
        "where the base access_token comes from: stable (cgi-bin/stable_token, default) or classic (cgi-bin/token)",
    ),
    (
        "admin_token",
        "bearer token for /admin/* (at least 24 characters; the admin API is off without it)",
    ),
    (
        "api_token",
        "bearer token of the API gateway's `default` client, which may call every WeChat API through /api/ (at least 24 characters; more clients: [[api_clients]] in the file)",
    ),
    (
        "api_body_limit",
        "largest request body the API gateway forwards, in bytes (default 20971520: WeChat's uploads are at most 10 MB)",
    ),
    (
        "metrics_listen",
        "address of a separate listener serving Prometheus metrics at /metrics (default off)",
    ),
];

/// One line naming the key, for the operator.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

pub(crate) fn error(key: &str, message: impl Into<String>) -> ConfigError {
    let env = env_name(key);
    ConfigError {
        key: if key.is_empty() {
            "config".into()
        } else {
            format!("{env} ({key})")
        },
        message: message.into(),
    }
}

pub(crate) fn env_name(key: &str) -> String {
    format!("WXGATE_{}", key.to_ascii_uppercase())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStoreKind {
    Database,
    Redis,
    Memory,
}

/// Validated configuration. `Debug` is safe to log: the secret redacts itself.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub max_connections: usize,
    /// Pushes (and signature bindings) remembered in this process at most.
    pub push_memory: usize,
    /// Proxies whose `X-Forwarded-For` is believed (rate limits).
    pub trusted_proxies: Vec<crate::http::rate_limit::Network>,
    /// `/auth/` and `/empower/` per client address and minute; 0: no limit.
    pub login_rate_per_minute: u32,
    /// `None` means "derive from the address actually bound" (so port 0 works in tests).
    pub public_url: Option<String>,
    pub appid: AppId,
    pub secret: AppSecret,
    pub api_base: String,
    pub oauth_base: String,
    pub database_url: DatabaseUrl,
    /// Shared state for several instances; `None`: this process's memory (one instance).
    pub redis: Option<RedisConfig>,
    pub session_store: SessionStoreKind,
    pub template_dir: Option<PathBuf>,
    pub upstream_timeout: Duration,
    /// The life of an OAuth `state`: from `/auth/` to `/empower/`.
    pub state_ttl: Duration,
    /// `None` when no Token is configured: `/weixin/` is then not served.
    pub message: Option<MessageConfig>,
    pub token_api: crate::platform::TokenApi,
    /// `None`: the admin API is off.
    pub admin_token: Option<AdminToken>,
    /// Who may use the API gateway; empty: `/api/` is off.
    pub api_clients: crate::gateway::ApiClients,
    pub api_body_limit: usize,
    /// Where `/metrics` is served; `None`: no metrics.
    pub metrics_listen: Option<SocketAddr>,
}

/// `WXGATE_DATABASE_URL`; `Debug` hides a password in it.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match url::Url::parse(&self.0) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("[redacted]"));
                write!(f, "{:?}", u.as_str())
            }
            _ => write!(f, "{:?}", self.0),
        }
    }
}

/// Where the state shared by instances lives. `Debug` hides the URL, which may hold a password.
#[derive(Clone)]
pub struct RedisConfig {
    pub url: String,
    pub prefix: String,
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &"[redacted]")
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// The admin API's bearer token; `Debug` is redacted.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

/// Raw values by key, before validation: what the file says, with the environment over it.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    values: BTreeMap<String, String>,
    /// `[[rules]]` from the file (rules live only in the file: they are structured).
    rules: Vec<toml::Value>,
    /// `[[api_clients]]` from the file.
    api_clients: Vec<toml::Value>,
    /// `WXGATE_*` variables that are no configuration key (typos, most likely).
    unknown_env: Vec<String>,
    /// The config file's folder: files named in `[[rules]]` are relative to it.
    base_dir: Option<PathBuf>,
}

/// `WXGATE_*` variables that are not configuration keys but are still wxgate's.
const OTHER_ENV: &[&str] = &["WXGATE_CONFIG"];

/// Edit distance, for "did you mean" (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            previous = here;
        }
    }
    row[b.len()]
}

impl Sources {
    /// Reads the TOML file (if any) and then `WXGATE_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut values = BTreeMap::new();
        let mut rules = Vec::new();
        let mut api_clients = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| error("", format!("cannot read {}: {e}", path.display())))?;
            let table: toml::Table = text
                .parse()
                .map_err(|e| error("", format!("{} is not valid TOML: {e}", path.display())))?;
            for (key, value) in table {
                if key == "rules" {
                    match value {
                        toml::Value::Array(items) => rules = items,
                        _ => return Err(error("", "rules must be an array of tables: [[rules]]")),
                    }
                    continue;
                }
                if key == "api_clients" {
                    match value {
                        toml::Value::Array(items) => api_clients = items,
                        _ => {
                            return Err(error(
                                "",
                                "api_clients must be an array of tables: [[api_clients]]",
                            ));
                        }
                    }
                    continue;
                }
                if !KEYS.iter().any(|(k, _)| *k == key) {
                    return Err(error(
                        "",
                        format!("unknown key {key:?} in {}", path.display()),
                    ));
                }
                let text = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(error(&key, format!("expected a string, found {other}")));
                    }
                };
                values.insert(key, text);
            }
        }
        let env: BTreeMap<String, String> = env.into_iter().collect();
        for (key, _) in KEYS {
            if let Some(v) = env.get(&env_name(key)) {
                values.insert((*key).to_owned(), v.clone());
            }
        }
        let unknown_env = env
            .keys()
            .filter(|k| k.starts_with("WXGATE_") && !OTHER_ENV.contains(&k.as_str()))
            .filter(|k| !KEYS.iter().any(|(key, _)| env_name(key) == **k))
            .cloned()
            .collect();
        Ok(Self {
            values,
            rules,
            api_clients,
            unknown_env,
            base_dir: file.map(|f| {
                f.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
                    .to_path_buf()
            }),
        })
    }

    /// One line per `WXGATE_*` variable that is no configuration key, with the key it was
    /// probably meant to be. Ignored variables are a classic silent misconfiguration.
    pub fn warnings(&self) -> Vec<String> {
        self.unknown_env
            .iter()
            .map(|name| {
                let closest = KEYS
                    .iter()
                    .map(|(key, _)| env_name(key))
                    .min_by_key(|known| distance(name, known))
                    .filter(|known| distance(name, known) <= 3);
                match closest {
                    Some(known) => format!(
                        "{name} is not a configuration key and is ignored; did you mean {known}?"
                    ),
                    None => format!(
                        "{name} is not a configuration key and is ignored (see wxgate --help)"
                    ),
                }
            })
            .collect()
    }

    /// Replaces the reply rules (used by `wxgate demo` to ship its own).
    pub fn set_rules(&mut self, rules: Vec<toml::Value>) {
        self.rules = rules;
    }

    /// Replaces the `[[api_clients]]` (as a file would give them).
    pub fn set_api_clients(&mut self, clients: Vec<toml::Value>) {
        self.api_clients = clients;
    }

    /// Where files named in `[[rules]]` are (the config file's folder; `wxgate demo` writes its
    /// own).
    pub fn set_base_dir(&mut self, dir: PathBuf) {
        self.base_dir = Some(dir);
    }

    pub(crate) fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    pub fn has_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// `[[rules]]` as the file gave them.
    pub(crate) fn rules(&self) -> &[toml::Value] {
        &self.rules
    }

    /// Sets a value unless the file or environment already did (used by `wxgate demo`).
    pub fn default_value(&mut self, key: &str, value: impl Into<String>) {
        self.values
            .entry(key.to_owned())
            .or_insert_with(|| value.into());
    }

    /// Sets a value whatever the file or environment said.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.values.insert(key.to_owned(), value.into());
    }

    /// The value set for `key`, if any (trimmed, empty counts as unset).
    pub fn get(&self, key: &str) -> Option<&str> {
        // A key read here but missing from KEYS could be set in tests but never by a user.
        debug_assert!(
            KEYS.iter().any(|(k, _)| *k == key),
            "config key {key:?} is read but not listed in KEYS"
        );
        self.values
            .get(key)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn number(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        text.parse::<u64>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| {
                error(
                    key,
                    format!(
                        "{text:?} is not a number between {} and {}",
                        range.start(),
                        range.end()
                    ),
                )
            })
    }

    pub(crate) fn millis(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(key, default, range).map(Duration::from_millis)
    }

    pub(crate) fn seconds(
        &self,
        key: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(key, default, range).map(Duration::from_secs)
    }

    fn require(&self, key: &str, what: &str) -> Result<&str, ConfigError> {
        self.get(key)
            .ok_or_else(|| error(key, format!("is not set: {what}")))
    }

    pub fn validate(&self) -> Result<Config, ConfigError> {
        let listen_text = self.get("listen").unwrap_or("127.0.0.1:8000");
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            error(
                "listen",
                format!("{listen_text:?} is not an address like 127.0.0.1:8000"),
            )
        })?;
        let max_connections = self.number("max_connections", 4096, 16..=1_000_000)? as usize;
        let push_memory = self.number(
            "push_memory",
            DEFAULT_PUSH_MEMORY as u64,
            1000..=100_000_000,
        )? as usize;
        let trusted_proxies = self
            .get("trusted_proxies")
            .unwrap_or("")
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(crate::http::rate_limit::Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| error("trusted_proxies", m))?;
        let login_rate_per_minute =
            self.number("login_rate_per_minute", 120, 0..=1_000_000)? as u32;
        let public_url = self
            .get("public_url")
            .map(|u| origin("public_url", u))
            .transpose()?;
        let appid = AppId::parse(self.require(
            "appid",
            "the AppID from 公众平台 → 设置与开发 → 基本配置 (or run `wxgate demo`)",
        )?)
        .map_err(|m| error("appid", m))?;
        let secret = self.require("secret", "the AppSecret from 公众平台 → 基本配置")?;
        if secret.len() < 16 || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(error(
                "secret",
                "does not look like an AppSecret (32 letters and digits expected)",
            ));
        }
        let api_base = origin(
            "api_base",
            self.get("api_base").unwrap_or("https://api.weixin.qq.com"),
        )?;
        let oauth_base = origin(
            "oauth_base",
            self.get("oauth_base")
                .unwrap_or("https://open.weixin.qq.com"),
        )?;
        let database_url = self
            .get("database_url")
            .unwrap_or("sqlite://wxgate.db")
            .to_owned();
        let engine = crate::db::Engine::of(&database_url).ok_or_else(|| {
            error(
                "database_url",
                "must be sqlite://FILE (one instance) or postgres://user@host/database (several)",
            )
        })?;
        let redis = self.redis(&appid, engine)?;
        let default_store = if redis.is_some() { "redis" } else { "database" };
        let session_store = match self.get("session_store").unwrap_or(default_store) {
            "database" => SessionStoreKind::Database,
            "redis" if redis.is_some() => SessionStoreKind::Redis,
            "redis" => {
                return Err(error(
                    "session_store",
                    "is redis, but WXGATE_REDIS_URL is not set",
                ));
            }
            "memory" if redis.is_some() => {
                return Err(error(
                    "session_store",
                    "is memory, which other instances cannot see: with WXGATE_REDIS_URL use redis or database",
                ));
            }
            "memory" => SessionStoreKind::Memory,
            other => {
                return Err(error(
                    "session_store",
                    format!("{other:?} is not one of: database, redis, memory"),
                ));
            }
        };
        let template_dir = self.get("template_dir").map(PathBuf::from);
        if let Some(dir) = &template_dir
            && !dir.is_dir()
        {
            return Err(error(
                "template_dir",
                format!("{} is not a folder", dir.display()),
            ));
        }
        let upstream_timeout = self.millis("upstream_timeout_ms", 5000, 1..=120_000)?;
        let state_ttl = self.seconds("state_ttl_secs", 600, 1..=86_400)?;
        let message = crate::messages::config::from_sources(self)?;
        let token_api = match self.get("token_api").unwrap_or("stable") {
            "stable" => crate::platform::TokenApi::Stable,
            "classic" => crate::platform::TokenApi::Classic,
            other => {
                return Err(error(
                    "token_api",
                    format!("{other:?} is not one of: stable, classic"),
                ));
            }
        };
        let admin_token = match self.get("admin_token") {
            None => None,
            Some(t) if t.len() < 24 => {
                return Err(error(
                    "admin_token",
                    "must be at least 24 characters (try: openssl rand -hex 24)",
                ));
            }
            Some(t) => Some(AdminToken(t.to_owned())),
        };
        let api_clients =
            crate::gateway::ApiClients::from_config(self.get("api_token"), &self.api_clients)?;
        let api_body_limit = self.number(
            "api_body_limit",
            crate::gateway::DEFAULT_BODY_LIMIT as u64,
            1024..=(256 << 20),
        )? as usize;
        let metrics_listen = self
            .get("metrics_listen")
            .map(|text| {
                text.parse::<SocketAddr>().map_err(|_| {
                    error(
                        "metrics_listen",
                        format!("{text:?} is not an address like 127.0.0.1:9100"),
                    )
                })
            })
            .transpose()?;
        if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
            return Err(error(
                "metrics_listen",
                "must differ from WXGATE_LISTEN: metrics are served on their own listener",
            ));
        }
        Ok(Config {
            listen,
            max_connections,
            push_memory,
            trusted_proxies,
            login_rate_per_minute,
            public_url,
            appid,
            secret: AppSecret::new(secret),
            api_base,
            oauth_base,
            database_url: DatabaseUrl(database_url),
            redis,
            session_store,
            template_dir,
            upstream_timeout,
            state_ttl,
            message,
            token_api,
            admin_token,
            api_clients,
            api_body_limit,
            metrics_listen,
        })
    }

    /// `WXGATE_REDIS_URL` and its prefix. Redis is what lets several instances share state, so
    /// it goes with PostgreSQL: a SQLite file cannot be shared by instances anyway.
    fn redis(
        &self,
        appid: &AppId,
        engine: crate::db::Engine,
    ) -> Result<Option<RedisConfig>, ConfigError> {
        let Some(url) = self.get("redis_url") else {
            if self.get("redis_prefix").is_some() {
                return Err(error(
                    "redis_url",
                    "is not set, but WXGATE_REDIS_PREFIX is: set the Redis URL too",
                ));
            }
            return Ok(None);
        };
        if engine == crate::db::Engine::Sqlite {
            return Err(ConfigError {
                key: "WXGATE_REDIS_URL (redis_url) with WXGATE_DATABASE_URL (database_url)".into(),
                message: "Redis is for several instances, which cannot share a SQLite file: use a postgres:// database_url, or no redis_url for one instance".into(),
            });
        }
        if !url.starts_with("redis://") {
            return Err(error(
                "redis_url",
                "must be redis://[user:password@]host[:port][/db]",
            ));
        }
        redis::Client::open(url).map_err(|e| error("redis_url", format!("{e}")))?;
        let prefix = match self.get("redis_prefix") {
            Some(p) => p.to_owned(),
            None => format!("wxgate:{}:", appid.as_str()),
        };
        if prefix.len() > 100 || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(error(
                "redis_prefix",
                "must be at most 100 characters without spaces",
            ));
        }
        Ok(Some(RedisConfig {
            url: url.to_owned(),
            prefix,
        }))
    }
}

/// Checks that `value` is an http(s) origin (no path, query or fragment) and normalises it
/// without a trailing slash.
fn origin(key: &str, value: &str) -> Result<String, ConfigError> {
    let url =
        url::Url::parse(value).map_err(|e| error(key, format!("{value:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(error(
            key,
            format!("{value:?} must start with http:// or https://"),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(error(
            key,
            format!("{value:?} must be an origin only, like https://example.com (no path)"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(error(
            key,
            format!("{value:?} must not carry a user name or password"),
        ));
    }
    // The form WeChat and browsers compare: lower case, punycode, no default port.
    Ok(url.origin().ascii_serialization())
}

impl Config {
    /// Whether cookies must be `Secure`: the browser reaches us over https.
    pub fn is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

impl fmt::Display for SessionStoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionStoreKind::Database => "database",
            SessionStoreKind::Redis => "redis",
            SessionStoreKind::Memory => "memory",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const OK: &[(&str, &str)] = &[
        ("WXGATE_APPID", "wxffde55b11cc79754"),
        ("WXGATE_SECRET", "84e86527f090d6238ea1c0b96f5fc753"),
    ];

    #[test]
    fn the_token_api_and_the_admin_token_come_from_the_environment_and_the_file() {
        let mut vars = env(OK);
        vars.push(("WXGATE_TOKEN_API".into(), "classic".into()));
        vars.push(("WXGATE_ADMIN_TOKEN".into(), "a".repeat(24)));
        let c = Sources::load(None, vars).unwrap().validate().unwrap();
        assert_eq!(c.token_api, crate::platform::TokenApi::Classic);
        assert_eq!(c.admin_token.unwrap().as_str(), "a".repeat(24));

        let file = std::env::temp_dir().join(format!("wxgate-keys-{}.toml", std::process::id()));
        std::fs::write(
            &file,
            "token_api = \"stable\"\nadmin_token = \"bbbbbbbbbbbbbbbbbbbbbbbb\"\n",
        )
        .unwrap();
        let c = Sources::load(Some(&file), env(OK))
            .unwrap()
            .validate()
            .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(c.token_api, crate::platform::TokenApi::Stable);
        assert!(c.admin_token.is_some());
        assert!(
            !format!("{c:?}").contains("bbbbbbbb"),
            "the admin token is redacted"
        );
    }

    /// README's configuration table is what users read: every key must be in it.
    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../../../README.md");
        for (key, _) in KEYS {
            let row = format!("| `{}` | `{key}` |", env_name(key));
            assert!(
                readme.contains(&row),
                "README's configuration table lacks {row}"
            );
        }
    }

    #[test]
    fn defaults_run_on_loopback_against_real_wechat() {
        let c = Sources::load(None, env(OK)).unwrap().validate().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.api_base, "https://api.weixin.qq.com");
        assert_eq!(c.oauth_base, "https://open.weixin.qq.com");
        assert_eq!(c.session_store, SessionStoreKind::Database);
        assert_eq!(c.upstream_timeout, Duration::from_secs(5));
        assert!(!format!("{c:?}").contains("84e86527"));
    }

    #[test]
    fn missing_and_invalid_values_name_the_key() {
        let e = Sources::load(None, env(&[]))
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "WXGATE_APPID (appid)");
        let mut bad = env(OK);
        bad.push(("WXGATE_LISTEN".into(), "localhost".into()));
        let e = Sources::load(None, bad).unwrap().validate().unwrap_err();
        assert!(e.to_string().contains("WXGATE_LISTEN"), "{e}");
        let mut bad = env(OK);
        bad.push(("WXGATE_PUBLIC_URL".into(), "https://a.example/app".into()));
        let e = Sources::load(None, bad).unwrap().validate().unwrap_err();
        assert!(e.to_string().contains("WXGATE_PUBLIC_URL"), "{e}");
        let mut bad = env(OK);
        bad.push(("WXGATE_SESSION_STORE".into(), "redis".into()));
        assert!(Sources::load(None, bad).unwrap().validate().is_err());
    }

    #[test]
    fn the_cluster_deployment_is_postgres_with_redis() {
        let with = |pairs: &[(&str, &str)]| {
            let mut e = env(OK);
            e.extend(env(pairs));
            Sources::load(None, e).unwrap().validate()
        };
        let pg = (
            "WXGATE_DATABASE_URL",
            "postgres://wx:pgpassword@db.internal/wxgate",
        );
        let redis = (
            "WXGATE_REDIS_URL",
            "redis://:redispassword@cache.internal:6379/0",
        );
        let c = with(&[pg, redis]).unwrap();
        assert_eq!(
            c.session_store,
            SessionStoreKind::Redis,
            "Redis is the default with Redis"
        );
        assert_eq!(
            c.redis.as_ref().unwrap().prefix,
            "wxgate:wxffde55b11cc79754:"
        );
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pgpassword") && !shown.contains("redispassword"),
            "{shown}"
        );
        assert_eq!(
            with(&[pg]).unwrap().session_store,
            SessionStoreKind::Database
        );

        // SQLite cannot be shared: with Redis it is refused, naming both keys.
        let e = with(&[redis]).unwrap_err();
        assert!(
            e.key.contains("WXGATE_REDIS_URL") && e.key.contains("WXGATE_DATABASE_URL"),
            "{e}"
        );
        let e = with(&[pg, redis, ("WXGATE_SESSION_STORE", "memory")]).unwrap_err();
        assert!(e.key.contains("WXGATE_SESSION_STORE"), "{e}");
        let e = with(&[pg, ("WXGATE_SESSION_STORE", "redis")]).unwrap_err();
        assert!(e.key.contains("WXGATE_SESSION_STORE"), "{e}");
        let e = with(&[pg, ("WXGATE_REDIS_URL", "http://cache")]).unwrap_err();
        assert!(e.key.contains("WXGATE_REDIS_URL"), "{e}");
        let e = with(&[("WXGATE_DATABASE_URL", "mysql://x/y")]).unwrap_err();
        assert!(e.key.contains("WXGATE_DATABASE_URL"), "{e}");
        let e = with(&[pg, ("WXGATE_REDIS_PREFIX", "p:")]).unwrap_err();
        assert!(e.key.contains("WXGATE_REDIS_URL"), "{e}");
    }

    #[test]
    fn unknown_wxgate_variables_are_named_with_a_suggestion() {
        let mut e = env(OK);
        e.push(("WXGATE_LISTN".into(), "127.0.0.1:9".into()));
        e.push(("WXGATE_SOMETHING_ELSE_ENTIRELY".into(), "x".into()));
        e.push(("WXGATE_CONFIG".into(), "wxgate.toml".into()));
        e.push(("PATH".into(), "/bin".into()));
        let warnings = Sources::load(None, e).unwrap().warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].contains("WXGATE_LISTN")
                && warnings[0].contains("did you mean WXGATE_LISTEN?")
        );
        assert!(warnings[1].contains("see wxgate --help"), "{warnings:?}");
    }

    #[test]
    fn the_public_url_is_stored_as_browsers_and_wechat_compare_it() {
        let public = |value: &str| {
            let mut e = env(OK);
            e.push(("WXGATE_PUBLIC_URL".into(), value.into()));
            Sources::load(None, e)
                .unwrap()
                .validate()
                .map(|c| c.public_url)
        };
        for (given, stored) in [
            ("https://wx.example.com:443", "https://wx.example.com"),
            ("HTTPS://WX.Example.com/", "https://wx.example.com"),
            ("https://例え.jp", "https://xn--r8jz45g.jp"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ] {
            assert_eq!(public(given).unwrap().as_deref(), Some(stored), "{given}");
        }
        let e = public("https://user:pw@wx.example.com").unwrap_err();
        assert!(e.to_string().contains("user name"), "{e}");
    }

    #[test]
    fn the_message_path_cannot_take_the_place_of_a_page() {
        let path = |value: &str| {
            let mut e = env(OK);
            e.push(("WXGATE_TOKEN".into(), "pamtest".into()));
            e.push(("WXGATE_WEIXIN_PATH".into(), value.into()));
            Sources::load(None, e).unwrap().validate()
        };
        for ok in ["/weixin/", "/wx", "/hooks/wechat-push/"] {
            assert!(path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/",
            "/index/",
            "/auth",
            "/empower/",
            "/healthz",
            "/jssdk/config",
            "/admin/token",
            "/api/wechat-push/",
            "/weixin/*x",
            "/{id}",
            "/a//b",
            "weixin",
        ] {
            let e = path(bad).unwrap_err();
            assert_eq!(e.key, "WXGATE_WEIXIN_PATH (weixin_path)", "{bad}");
        }
    }

    #[test]
    fn message_server_settings_are_checked_at_start_up() {
        let with = |pairs: &[(&str, &str)]| {
            let mut e = env(OK);
            e.extend(env(pairs));
            Sources::load(None, e).unwrap().validate()
        };
        assert!(
            with(&[]).unwrap().message.is_none(),
            "no Token, no /weixin/"
        );
        let m = with(&[("WXGATE_TOKEN", "pamtest")])
            .unwrap()
            .message
            .unwrap();
        assert_eq!(m.path, "/weixin/");
        assert_eq!(m.deadline, Duration::from_millis(4500));
        assert_eq!(m.body_limit, 65536);
        assert!(m.aes_key.is_none());
        assert_eq!(m.mode, MessageMode::Plain);
        const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
        let mode = |pairs: &[(&str, &str)]| {
            let mut all = vec![("WXGATE_TOKEN", "pamtest")];
            all.extend_from_slice(pairs);
            with(&all).unwrap().message.unwrap().mode
        };
        assert_eq!(mode(&[("WXGATE_AES_KEY", KEY)]), MessageMode::Safe);
        assert_eq!(
            mode(&[
                ("WXGATE_AES_KEY", KEY),
                ("WXGATE_MESSAGE_MODE", "compatible")
            ]),
            MessageMode::Compatible
        );
        let cases = [
            (
                vec![("WXGATE_TOKEN", "pamtest"), ("WXGATE_MESSAGE_MODE", "safe")],
                "WXGATE_AES_KEY",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_AES_KEY", KEY),
                    ("WXGATE_MESSAGE_MODE", "plain"),
                ],
                "WXGATE_MESSAGE_MODE",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_AES_KEY", KEY),
                    ("WXGATE_MESSAGE_MODE", "secure"),
                ],
                "WXGATE_MESSAGE_MODE",
            ),
            (
                vec![("WXGATE_TOKEN", "pamtest"), ("WXGATE_AES_KEY", "tooshort")],
                "WXGATE_AES_KEY",
            ),
            (
                vec![(
                    "WXGATE_AES_KEY",
                    "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                )],
                "WXGATE_TOKEN",
            ),
            (vec![("WXGATE_TOKEN", "a b")], "WXGATE_TOKEN"),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    (
                        "WXGATE_AES_KEY_PREVIOUS",
                        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                    ),
                ],
                "WXGATE_AES_KEY",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_WEBHOOK_URL", "http://127.0.0.1:9/"),
                ],
                "WXGATE_WEBHOOK_SECRET",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_WEBHOOK_URL", "ftp://x/"),
                    ("WXGATE_WEBHOOK_SECRET", "0123456789abcdefg"),
                ],
                "WXGATE_WEBHOOK_URL",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_WEIXIN_PATH", "weixin"),
                ],
                "WXGATE_WEIXIN_PATH",
            ),
            (
                vec![
                    ("WXGATE_TOKEN", "pamtest"),
                    ("WXGATE_REPLY_DEADLINE_MS", "soon"),
                ],
                "WXGATE_REPLY_DEADLINE_MS",
            ),
        ];
        for (pairs, key) in cases {
            let e = with(&pairs).unwrap_err();
            assert!(e.key.starts_with(key), "{pairs:?}: {e}");
        }
        let m = with(&[
            ("WXGATE_TOKEN", "pamtest"),
            (
                "WXGATE_AES_KEY",
                "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
            ),
        ])
        .unwrap();
        assert!(
            !format!("{m:?}").contains("abcdefghijklmnop"),
            "keys are redacted"
        );
        assert!(
            !format!("{m:?}").contains("pamtest"),
            "the Token is redacted"
        );
    }

    #[test]
    fn rules_come_from_the_file_and_bad_ones_name_the_rule() {
        let dir = std::env::temp_dir().join(format!("wxgate-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wxgate.toml");
        std::fs::write(
            &file,
            "token = \"pamtest\"\n[[rules]]\nevent = \"subscribe\"\nreply = { type = \"text\", content = \"hi\" }\n[[rules]]\nkey = \"K\"\nreply = { type = \"image\", media_id = \"\" }\n",
        )
        .unwrap();
        let e = Sources::load(Some(&file), env(OK))
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.key, "rules[1].reply", "{e}");
        std::fs::write(&file, "token = \"pamtest\"\n[[rules]]\nevent = \"subscribe\"\nreply = { type = \"text\", content = \"hi\" }\n").unwrap();
        let c = Sources::load(Some(&file), env(OK))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(c.message.unwrap().rules.len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_demo_rules_are_valid() {
        let mut s = Sources::load(None, env(OK)).unwrap();
        s.set("token", wxsim::demo::TOKEN);
        s.set_rules(crate::cli::demo_rules());
        s.set_base_dir(crate::cli::demo_media_dir().unwrap());
        assert_eq!(s.validate().unwrap().message.unwrap().rules.len(), 6);
    }

    #[test]
    fn environment_overrides_the_file_and_unknown_file_keys_fail() {
        let dir = std::env::temp_dir().join(format!("wxgate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("wxgate.toml");
        std::fs::write(
            &file,
            "appid = \"wxffde55b11cc79754\"\nsecret = \"84e86527f090d6238ea1c0b96f5fc753\"\nlisten = \"127.0.0.1:9999\"\nupstream_timeout_ms = 800\n",
        )
        .unwrap();
        let c = Sources::load(Some(&file), env(&[("WXGATE_LISTEN", "127.0.0.1:7000")]))
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.upstream_timeout, Duration::from_millis(800));
        std::fs::write(&file, "apid = \"x\"\n").unwrap();
        let e = Sources::load(Some(&file), env(&[])).unwrap_err();
        assert!(e.message.contains("unknown key \"apid\""), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
