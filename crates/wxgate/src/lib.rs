//! wxgate: the whole backend of a WeChat Official Account (公众号) in one binary.
//!
//! Read in this order: [`cli`] (the commands) → [`config`] → [`startup`] (how the app is put
//! together) → [`http`] (one module per area of URLs) → [`db`], [`sessions`], [`user_tokens`].
//! The WeChat protocol itself lives in the `wechat` crate; the offline simulator in `wxsim`.

pub mod cli;
pub mod config;
pub mod db;
pub mod dedup;
pub mod http;
pub mod menus;
pub mod platform;
pub mod rules;
pub mod sessions;
pub mod single_flight;
pub mod startup;
pub mod state;
pub mod templates;
pub mod user_tokens;
pub mod webhook;
