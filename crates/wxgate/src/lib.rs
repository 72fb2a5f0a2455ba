//! wxgate: the whole backend of a WeChat Official Account (公众号) in one binary.
//!
//! Read in this order: [`cli`] (the commands) → [`config`] → [`startup`] (how the app is put
//! together) → the services: [`login`] (web login) and [`messages`] (the message server),
//! [`platform`] (the base access_token), [`sends`] (messages to a user), [`gateway`] (the account's other programs calling
//! WeChat through wxgate), [`metrics`] → [`http`] (one module per area of URLs, each a thin
//! adapter onto a service) → what they stand on: [`db`] (every SQL query, SQLite or
//! PostgreSQL), [`shared`] (state instances share: memory or Redis), [`sessions`].
//! The WeChat protocol itself lives in the `wechat` crate; the offline simulator in `wxsim`.
//! Operators' daily features: [`followers`] (the follower list, tags, remarks, the blacklist).

pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod followers;
pub mod gateway;
pub mod http;
pub mod login;
pub mod media;
pub mod menus;
pub mod messages;
pub mod metrics;
pub mod platform;
pub mod qrcodes;
pub mod sends;
pub mod sessions;
pub mod shared;
pub mod startup;
pub mod state;
pub mod templates;
pub mod throttled_log;
pub mod user_tokens;
