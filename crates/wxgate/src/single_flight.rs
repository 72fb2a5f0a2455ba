//! Run a piece of work once per key, however many callers ask, and remember its result for a
//! while, in this process. The in-memory [`crate::shared::Flights`] (WeChat's retried pushes,
//! OAuth callbacks that arrive twice), and the first stage of the Redis one: copies that reach
//! the same instance wait here without asking Redis.
//!
//! The work runs in its own task: a caller that gives up (a deadline, a client that hangs up)
//! does not cancel it, and a later caller with the same key gets its result.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::watch;

#[derive(Debug)]
pub struct SingleFlight<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    /// key → (forget at, the run's result when there is one).
    entries: HashMap<String, (Instant, watch::Receiver<Option<T>>)>,
    last_sweep: Instant,
}

impl<T: Clone + Send + Sync + 'static> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            state: Mutex::new(State {
                entries: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// The result of the work for `key`: `work` is started only when no run for `key` is in
    /// flight or remembered; otherwise it is dropped unrun and the earlier run's result is
    /// awaited. A run is remembered for `keep` after it started. `None` when the work panicked.
    pub async fn run<F>(&self, key: &str, keep: Duration, work: F) -> Option<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut rx = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            // Sweep at most once a second, so a busy server does not pay O(n) per call.
            if now.duration_since(state.last_sweep) >= Duration::from_secs(1) {
                state.entries.retain(|_, (until, _)| *until > now);
                state.last_sweep = now;
            }
            match state.entries.get(key) {
                Some((until, rx)) if *until > now => rx.clone(),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    tokio::spawn(async move {
                        let result = work.await;
                        let _ = tx.send(Some(result));
                    });
                    state
                        .entries
                        .insert(key.to_owned(), (now + keep, rx.clone()));
                    rx
                }
            }
        };
        // An error means the task ended without a result: it panicked.
        let finished = rx.wait_for(Option::is_some).await.ok()?;
        finished.clone()
    }

    /// The finished result for `key`, without waiting or starting anything.
    pub fn finished(&self, key: &str) -> Option<T> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (until, rx) = state.entries.get(key)?;
        if *until <= Instant::now() {
            return None;
        }
        rx.borrow().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn counting(
        runs: &Arc<AtomicUsize>,
        value: &str,
        delay_ms: u64,
    ) -> impl Future<Output = String> + Send + 'static {
        let runs = runs.clone();
        let value = value.to_owned();
        async move {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            value
        }
    }

    #[tokio::test]
    async fn concurrent_and_later_callers_share_one_run() {
        let flights = SingleFlight::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let (a, b) = tokio::join!(
            flights.run("k", MINUTE, counting(&runs, "first", 50)),
            flights.run("k", MINUTE, counting(&runs, "second", 0)),
        );
        let c = flights.run("k", MINUTE, counting(&runs, "third", 0)).await;
        assert_eq!(
            (a.as_deref(), b.as_deref(), c.as_deref()),
            (Some("first"), Some("first"), Some("first"))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(
            flights
                .run("other", MINUTE, counting(&runs, "x", 0))
                .await
                .as_deref(),
            Some("x")
        );
    }

    #[tokio::test]
    async fn a_caller_that_gives_up_does_not_cancel_the_work() {
        let flights = SingleFlight::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let first = tokio::time::timeout(
            Duration::from_millis(20),
            flights.run("k", MINUTE, counting(&runs, "late", 100)),
        )
        .await;
        assert!(first.is_err());
        assert_eq!(flights.finished("k"), None, "still running");
        let again = flights.run("k", MINUTE, counting(&runs, "again", 0)).await;
        assert_eq!(again.as_deref(), Some("late"));
        assert_eq!(flights.finished("k").as_deref(), Some("late"));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn keys_are_forgotten_after_the_window() {
        let flights = SingleFlight::default();
        let runs = Arc::new(AtomicUsize::new(0));
        let brief = Duration::from_millis(30);
        flights.run("k", brief, counting(&runs, "a", 0)).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(flights.finished("k"), None);
        assert_eq!(
            flights
                .run("k", brief, counting(&runs, "b", 0))
                .await
                .as_deref(),
            Some("b")
        );
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_panicking_run_yields_none() {
        let flights: SingleFlight<String> = SingleFlight::default();
        let result = flights.run("k", MINUTE, async { panic!("boom") }).await;
        assert_eq!(result, None);
    }
}
