//! The application's clock: Unix seconds, as WeChat counts them (timestamps of pushes,
//! `CreateTime`, token lifetimes) and as the database stores times.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
