//! WeChat's message push (消息推送), as a library: what WeChat sends to an account's server URL
//! and how it judges the answer (docs/wechat-protocol.md §C.1–§C.7).
//!
//! - [`verify_url`]: the GET with `signature`, `timestamp`, `nonce`, `echostr` that the console
//!   sends when the server URL is saved; it passes when the body is `echostr` verbatim.
//! - [`push`]: one message or event ([`Outgoing`]) from a user, built as WeChat builds it
//!   (CDATA strings, bare numbers, seconds), signed, encrypted in compatible/safe mode, delivered
//!   with WeChat's timeout and retries (same body each time), and the answer judged by WeChat's
//!   rules. The [`PushReport`] lists each delivery, the decoded reply and every problem; an empty
//!   `problems` means WeChat would accept the answer.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use wechat::crypto::{CryptError, EncodingAesKey, MessageCrypt};
use wechat::signature::sign;

use crate::xml::{self, Node};

/// What users see when WeChat gives up on the server (§C.5).
pub const NO_SERVICE: &str = "该公众号暂时无法提供服务，请稍后再试";

/// The default original id (原始ID) of the simulated account.
pub const DEFAULT_ACCOUNT_ID: &str = "gh_wxgate_demo";

/// How many bytes of a response body a report keeps.
const BODY_EXCERPT: usize = 4096;

/// A CreateTime above this is milliseconds, not seconds (year 5138 in seconds).
const MILLIS_THRESHOLD: u64 = 100_000_000_000;

mod judge;
mod outgoing;
mod report;
mod target;
mod transport;

pub use outgoing::Outgoing;
pub use report::{DecodedReply, Delivery, PushReport, PushRequest, VerifyReport};
pub use target::{PushMode, PushTarget};
pub use transport::{push, verify_url};
