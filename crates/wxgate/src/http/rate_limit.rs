//! Rate limits per client address (governor's GCRA, keyed by IP): on `/auth/` and `/empower/`
//! (each junk `/empower/` code costs a call to WeChat signed with our AppSecret), and on failed
//! authentications to the admin API. A refusal is a 429 with `Retry-After`, logged at most once
//! a minute per kind with a count.
//!
//! The client's address is the connection's peer, unless the peer is one of
//! `WXGATE_TRUSTED_PROXIES`: then it is the rightmost `X-Forwarded-For` entry that is not a
//! trusted proxy (the address the first proxy we trust saw). Without trusted proxies the header
//! is ignored, since anyone can send it.
//!
//! Limits are per instance: with several instances behind a load balancer a client gets that
//! many times the limit, which still bounds a flood.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::http::error::Error;
use crate::http::page::Message;
use crate::state::AppState;
use crate::throttled_log::ThrottledLog;

/// Failed admin authentications allowed per address and minute (and in a burst).
const FAILURES_PER_MINUTE: u32 = 10;

/// A network in `WXGATE_TRUSTED_PROXIES`: an address, or `address/prefix`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Network, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP address or network like 10.0.0.0/8"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Network { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The limiters and what they need, built once at start-up.
#[derive(Debug)]
pub struct RateLimits {
    trusted: Vec<Network>,
    /// `/auth/` and `/empower/`; `None` when `WXGATE_LOGIN_RATE_PER_MINUTE` is 0.
    logins: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Failed admin authentications.
    failures: DefaultKeyedRateLimiter<IpAddr>,
    /// Addresses past their failure budget, until when: they get a 429 without their token
    /// being looked at.
    blocked: Mutex<HashMap<IpAddr, Instant>>,
    log: ThrottledLog,
}

impl RateLimits {
    pub fn new(trusted: Vec<Network>, logins_per_minute: u32) -> Self {
        let per_minute = |n: u32| {
            let n = NonZeroU32::new(n.max(1)).expect("at least 1");
            Quota::per_minute(n).allow_burst(n)
        };
        RateLimits {
            trusted,
            logins: (logins_per_minute > 0)
                .then(|| DefaultKeyedRateLimiter::keyed(per_minute(logins_per_minute))),
            failures: DefaultKeyedRateLimiter::keyed(per_minute(FAILURES_PER_MINUTE)),
            blocked: Mutex::new(HashMap::new()),
            log: ThrottledLog::default(),
        }
    }

    /// Forgets addresses whose budget is full again, so the maps do not grow for ever. Run
    /// every minute.
    pub fn forget_idle(&self) {
        if let Some(l) = &self.logins {
            l.retain_recent();
            l.shrink_to_fit();
        }
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        let now = Instant::now();
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, until| *until > now);
    }

    /// The client's address (see the module documentation).
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?.ip();
        if !self.trusted.iter().any(|n| n.contains(peer)) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .into_iter()
                .rev()
                .find(|ip| !self.trusted.iter().any(|n| n.contains(*ip)))
                .unwrap_or(peer),
        )
    }

    fn refused(&self, kind: &'static str, ip: IpAddr, wait: Duration) -> u64 {
        if let Some(unlogged) = self.log.allow(kind) {
            tracing::warn!(
                kind,
                client = %ip,
                unlogged_since_last = unlogged,
                "rate limit: requests refused with 429"
            );
        }
        wait.as_secs() + 1
    }

    /// `Err(seconds to wait)` when this address started too many logins lately.
    pub fn login(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(limiter) = &self.logins else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            self.refused("login", ip, wait)
        })
    }

    /// `Err(seconds to wait)` while this address is blocked for failed authentications.
    pub fn blocked(&self, ip: IpAddr) -> Result<(), u64> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > Instant::now() => {
                Err(until.saturating_duration_since(Instant::now()).as_secs() + 1)
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed authentication; past the budget the address is blocked for a while
    /// and `Err(seconds to wait)` says so.
    pub fn failed(&self, ip: IpAddr) -> Result<(), u64> {
        let Err(not_until) = self.failures.check_key(&ip) else {
            return Ok(());
        };
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        self.blocked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(ip, Instant::now() + wait);
        Err(self.refused("authentication", ip, wait))
    }
}

/// A 429 with `Retry-After`: a page for the login, JSON for programs (`message`, which
/// [`crate::http::error::render`] uses on their paths).
pub fn too_many(retry_after: u64, message: &str) -> Response {
    let error = match message {
        "" => Error::page(
            Message::new(StatusCode::TOO_MANY_REQUESTS, "请求过于频繁")
                .line(format!("请 {retry_after} 秒后再试。")),
        ),
        m => Error::api(StatusCode::TOO_MANY_REQUESTS, m).with("retry_after", retry_after),
    };
    let mut response = error.into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Middleware for `/auth/` and `/empower/`.
pub async fn limit_logins(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if let Some(ip) = app.limits.client(peer, request.headers())
        && let Err(wait) = app.limits.login(ip)
    {
        return too_many(wait, "");
    }
    next.run(request).await
}

/// The client address of a request, for handlers that count failures.
pub fn client_of(app: &AppState, request: &Request) -> Option<IpAddr> {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    app.limits.client(peer, request.headers())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_match_their_addresses() {
        let n = Network::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.1.2.3")) && !n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.9.9.9")), "IPv4-mapped IPv6");
        let one = Network::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = Network::parse("fd00::/8").unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "example.com", "1.2.3.4/x", ""] {
            assert!(Network::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let limits = RateLimits::new(vec![Network::parse("10.0.0.0/8").unwrap()], 60);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.7, 10.0.0.2"),
        );
        let from = |peer: &str| limits.client(Some(SocketAddr::new(ip(peer), 1)), &headers);
        assert_eq!(
            from("10.0.0.1"),
            Some(ip("203.0.113.7")),
            "rightmost untrusted"
        );
        assert_eq!(from("198.51.100.1"), Some(ip("198.51.100.1")), "ignored");
    }
}
