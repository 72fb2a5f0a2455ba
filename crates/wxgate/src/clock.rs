//! The application's clock: Unix seconds, as WeChat counts them (timestamps of pushes,
//! `CreateTime`, token lifetimes) and as the database stores times.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `future`, cut short after `limit` like [`tokio::time::timeout`], but with no timer at all
/// when the future is ready at its first poll — the common case on the hot paths (a push whose
/// rules answer from memory, a page from the cache). A timer costs a clock read, a handle to
/// the runtime's timer and a wheel entry; three of them per push showed in the profile
/// (docs/design-notes.md, "Performance"). The limit counts from the first poll that finds the
/// future not ready, which follows the first poll at once.
pub async fn within<F: std::future::Future>(
    limit: std::time::Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut future = std::pin::pin!(future);
    if let std::task::Poll::Ready(output) = futures::poll!(future.as_mut()) {
        return Ok(output);
    }
    tokio::time::timeout(limit, future).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[tokio::test]
    async fn within_answers_at_once_or_times_out() {
        assert_eq!(super::within(Duration::ZERO, async { 7 }).await, Ok(7));
        let slow = super::within(
            Duration::from_millis(20),
            tokio::time::sleep(Duration::from_secs(5)),
        );
        assert!(
            slow.await.is_err(),
            "a future that is not ready is cut short"
        );
        let late_but_in_time = super::within(Duration::from_secs(5), async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            "done"
        });
        assert_eq!(late_but_in_time.await, Ok("done"));
    }
}
