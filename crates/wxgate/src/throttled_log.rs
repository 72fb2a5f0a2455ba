//! Warnings that could come by the thousand (refused pushes, a Redis outage, rate-limited
//! clients) are logged at most once a minute per kind, with how many went unlogged in between:
//! a flood must not flood the log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct ThrottledLog(Mutex<HashMap<&'static str, (Option<Instant>, u64)>>);

impl ThrottledLog {
    /// `Some(n)` when a warning of this kind should be logged now, `n` being how many were
    /// suppressed since the last one; `None` to stay quiet (the event is counted).
    pub fn allow(&self, kind: &'static str) -> Option<u64> {
        let now = Instant::now();
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (last, unlogged) = seen.entry(kind).or_insert((None, 0));
        if last.is_some_and(|t| now.duration_since(t) < EVERY) {
            *unlogged += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(unlogged))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn once_a_minute_per_kind_with_a_count() {
        let log = super::ThrottledLog::default();
        assert_eq!(log.allow("a"), Some(0));
        assert_eq!(log.allow("a"), None);
        assert_eq!(log.allow("a"), None);
        assert_eq!(log.allow("b"), Some(0), "kinds are counted apart");
    }
}
