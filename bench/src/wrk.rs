//! `--client wrk`: the scenarios driven by wrk (Debian's `wrk` package) with 2 threads, the way
//! issue 11's first figures were measured, instead of the built-in generator ([`crate::load`]).
//!
//! wrk is a heavier client than the built-in one (its Lua builds and signs every push), so it
//! takes more of the two shared cores: the bare server's figure drops and every ratio rises.
//! The CPU µs per operation of each server does not depend on the client; compare those across
//! clients. Pushes are signed and encrypted in the script (`wrk.lua`) through OpenSSL, which
//! is as light as a wrk script can be.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::load::Outcome;

/// What wrk sends in one scenario.
pub enum Request {
    /// One fixed GET, with a Cookie header if given.
    Get {
        path: String,
        cookie: Option<String>,
    },
    /// One fixed POST (WeChat's retry: the same push over and over).
    Post { path: String, body: String },
    /// A fresh push per request to the message path, encrypted or not.
    Push { path: String, safe: bool },
}

/// The script, written where wrk can read it.
pub struct Script(PathBuf);

impl Script {
    pub fn write(dir: &Path) -> Result<Script, String> {
        let path = dir.join("wrk.lua");
        std::fs::write(&path, include_str!("wrk.lua"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Script(path))
    }
}

/// Whether wrk can be run; the message says how to get it.
pub fn available() -> Result<(), String> {
    match std::process::Command::new("wrk").arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "--client wrk: cannot run wrk ({e}); install it with `apt-get install wrk`"
        )),
    }
}

/// Runs wrk against `base` (`http://IP:PORT`) for `duration` with `connections` connections.
/// `first_id` is the first MsgId of the pushes, unique to the run.
pub async fn drive(
    script: &Script,
    base: &str,
    connections: usize,
    duration: Duration,
    request: &Request,
    first_id: u64,
) -> Outcome {
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg(format!("-t{}", connections.min(2)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .args(["--timeout", "10s", "-s"])
        .arg(&script.0)
        .arg(base)
        .env("WXB_FIRST_ID", first_id.to_string())
        .env("WXB_TOKEN", crate::DEMO_TOKEN)
        .env("WXB_AES_KEY", crate::DEMO_AES_KEY)
        .env("WXB_APPID", crate::DEMO_APPID)
        .env("WXB_OPENID", crate::OPENID)
        .kill_on_drop(true);
    match request {
        Request::Get { path, cookie } => {
            command.env("WXB_MODE", "get").env("WXB_PATH", path);
            if let Some(cookie) = cookie {
                command.env("WXB_COOKIE", cookie);
            }
        }
        Request::Post { path, body } => {
            command
                .env("WXB_MODE", "post")
                .env("WXB_PATH", path)
                .env("WXB_BODY", body);
        }
        Request::Push { path, safe } => {
            command
                .env("WXB_MODE", if *safe { "safe" } else { "plain" })
                .env("WXB_PATH", path);
        }
    }
    let failed = |why: String| Outcome {
        errors: 1,
        first_error: Some(why),
        elapsed: duration,
        ops: 0,
        p50_ms: 0.0,
        p99_ms: 0.0,
    };
    let output = match command.output().await {
        Ok(o) => o,
        Err(e) => return failed(format!("cannot run wrk: {e}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout
        .lines()
        .find_map(|l| l.strip_prefix("wxgate-bench-wrk "))
        .and_then(parse)
    {
        Some(outcome) => outcome,
        None => failed(format!(
            "wrk gave no figures: {} {}",
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Reads the `done` line of `wrk.lua`: `requests=N duration_us=N p50_us=X p99_us=X
/// status_errors=N socket_errors=N`.
fn parse(line: &str) -> Option<Outcome> {
    let field = |name: &str| -> Option<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    let requests = field("requests")? as u64;
    let status = field("status_errors")? as u64;
    let socket = field("socket_errors")? as u64;
    let errors = status + socket;
    Some(Outcome {
        errors,
        first_error: (errors > 0).then(|| {
            format!("{status} answers not 2xx/3xx, {socket} connect/read/write errors or timeouts")
        }),
        elapsed: Duration::from_micros(field("duration_us")? as u64),
        ops: requests.saturating_sub(errors),
        p50_ms: field("p50_us")? / 1000.0,
        p99_ms: field("p99_us")? / 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_done_line_is_read() {
        let o = parse(
            "requests=1000 duration_us=2000000 p50_us=850.5 p99_us=3100.0 status_errors=0 socket_errors=0",
        )
        .unwrap();
        assert_eq!((o.ops, o.errors), (1000, 0));
        assert_eq!(o.per_sec(), 500.0);
        assert_eq!((o.p50_ms, o.p99_ms), (0.8505, 3.1));
        assert!(parse("requests=1").is_none());
    }
}
