//! The WeChat Official Account protocol, without a web framework.
//!
//! Read in this order:
//! - [`types`]: one newtype per protocol value (AppId, OpenId, Code, State, tokens…). Secret ones
//!   redact their `Debug` output and need an explicit `.secret()` to read.
//! - [`errcode`]: WeChat's numeric `errcode`, matched by number, never by `errmsg` text
//!   (errmsg carries a changing `rid:` suffix).
//! - [`client`]: the async HTTP client for `api.weixin.qq.com` (or the simulator), with timeouts.
//! - [`oauth`]: 网页授权 — the authorize URL, the `sns/*` calls and their typed responses.
//! - [`api`]: account-level calls on that client — base access_token and stable_token, the
//!   jsapi_ticket, custom menus, customer-service messages — each taking the token explicitly
//!   (no caching, no retries).
//! - [`notify`]: template messages, subscription notices (their data checked against WeChat's
//!   value types) and the customer-service kinds that are not replies (§3–§5 of
//!   docs/wechat-platform-apis.md).
//! - [`openapi`]: quota and request-id (rid) diagnostics (§8 of docs/wechat-platform-apis.md).
//! - [`followers`]: the follower list, user info, remarks, tags and the blacklist (§6, §7).
//! - [`credential`]: the cache around those tokens — lazy, persisted, single-flight,
//!   refreshed ahead of expiry, compare-and-invalidate — that callers should use instead.
//! - [`forward`]: a caller's request passed to any WeChat API as it is, with the token added
//!   (wxgate's API gateway).
//! - [`menu`]: menus as data (JSON or TOML), validated against §D.1 before any call, and diffed.
//! - [`jssdk`]: the JS-SDK `wx.config` signature (§E).
//! - [`qrcode`], [`media`]: parametric QR codes and media/material uploads, checked locally
//!   (§1 and §2 of docs/wechat-platform-apis.md).
//!
//! The message server (消息推送, §C), in the order a push travels:
//! - [`signature`]: the server [`Token`], `signature` and `msg_signature` checks.
//! - [`crypto`]: WXBizMsgCrypt (safe/compatible mode), with key rotation.
//! - [`message`]: XXE-safe, control-character-tolerant parsing into typed [`Message`]s.
//! - [`reply`]: passive replies that always serialize to well-formed XML.
//!
//! Facts come from `docs/wechat-protocol.md` (section letters are cited in doc comments).

pub mod api;
pub mod client;
pub mod credential;
pub mod crypto;
pub mod errcode;
pub mod followers;
pub mod forward;
pub mod jssdk;
pub mod media;
pub mod menu;
pub mod message;
mod metrics;
pub mod notify;
pub mod oauth;
pub mod openapi;
pub mod qrcode;
pub mod reply;
pub mod signature;
pub mod types;

pub use api::{BaseToken, CustomMessage, CustomMessageError, Ticket};
pub use client::{Client, ClientConfig, Download, Error};
pub use crypto::{CryptError, EncodingAesKey, KeyUsed, MessageCrypt, decrypt_with_rotation};
pub use errcode::{ErrCode, whitelist_ip};
pub use jssdk::JsSdkConfig;
pub use menu::{Button, MatchRule, Menu, MenuError, MenuSet, RemoteMenu};
pub use message::{Envelope, Field, Fields, Incoming, Message, MessageError, encrypted_payload};
pub use oauth::{OAuthToken, Scope, UserInfo, authorize_url};
pub use reply::{Article, Reply, encrypted_reply_xml};
pub use signature::Token;
pub use types::{AccessToken, AppId, AppSecret, Code, OpenId, RefreshToken, State};
