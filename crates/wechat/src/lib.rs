//! The WeChat Official Account protocol, without a web framework.
//!
//! Read in this order:
//! - [`types`]: one newtype per protocol value (AppId, OpenId, Code, State, tokens…). Secret ones
//!   redact their `Debug` output and need an explicit `.secret()` to read.
//! - [`errcode`]: WeChat's numeric `errcode`, matched by number, never by `errmsg` text
//!   (errmsg carries a changing `rid:` suffix).
//! - [`oauth`]: 网页授权 — the authorize URL and the typed responses of the `sns/*` endpoints.
//! - [`client`]: the async HTTP client for `api.weixin.qq.com` (or the simulator), with timeouts.
//!
//! Facts come from `docs/wechat-protocol.md` (section letters are cited in doc comments).

pub mod client;
pub mod errcode;
pub mod oauth;
pub mod types;

pub use client::{Client, ClientConfig, Error};
pub use errcode::ErrCode;
pub use oauth::{OAuthToken, Scope, UserInfo, authorize_url};
pub use types::{AccessToken, AppId, AppSecret, Code, OpenId, RefreshToken, State};
