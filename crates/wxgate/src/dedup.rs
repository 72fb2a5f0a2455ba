//! Deduplication of WeChat's pushes. WeChat re-sends a push it got no answer to within 5 s,
//! up to three times; each copy must get the same reply and the handler must run once
//! (docs/wechat-protocol.md §C.5). A key is the push's MsgId, or for events
//! FromUserName+CreateTime+Event+EventKey.
//!
//! [`Dedup`] is the interface a shared store (Redis, for several instances) can implement;
//! [`MemoryDedup`] serves one instance.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;

use crate::single_flight::SingleFlight;

/// The reply to one push: the plaintext reply XML, or `None` for "nothing to say".
pub type ReplyXml = Option<String>;

pub type Work = Pin<Box<dyn Future<Output = ReplyXml> + Send + 'static>>;

#[async_trait]
pub trait Dedup: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `work` for the first push with `key` and returns its reply; a copy that arrives
    /// while the work is running waits for it, and one that arrives later gets the stored
    /// reply. The work runs to completion even when every caller has stopped waiting, so a
    /// retry after the deadline still finds the reply.
    async fn once(&self, key: String, work: Work) -> ReplyXml;
}

/// In-process deduplication: remembers each key for `window` (WeChat's retries come within
/// about 15 s; MsgIds are unique far longer).
#[derive(Debug)]
pub struct MemoryDedup {
    flights: SingleFlight<ReplyXml>,
}

impl MemoryDedup {
    pub fn new(window: Duration) -> Self {
        MemoryDedup {
            flights: SingleFlight::new(window),
        }
    }
}

#[async_trait]
impl Dedup for MemoryDedup {
    async fn once(&self, key: String, work: Work) -> ReplyXml {
        self.flights.run(key, work).await.unwrap_or_else(|| {
            tracing::error!("message handler panicked; answering success");
            None
        })
    }
}
