//! The processes a run starts — the simulator, `wxgate serve`, the bare baseline — and what is
//! read off them (the URL they print, their resident memory and CPU time). Each is killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed on drop.
pub struct Proc(pub Child);

impl Proc {
    /// Resident memory in MiB, from /proc (Linux).
    pub fn rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).ok()?;
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib / 1024.0)
    }

    /// CPU time used so far (user + system), from /proc (Linux; 100 ticks a second).
    pub fn cpu_secs(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0.id())).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }
}

impl Proc {
    /// Asks the process to stop (SIGTERM) and waits up to `grace` for it before killing it: a
    /// server finishes its requests, a profiler it runs under writes its output.
    pub fn stop(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A folder removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("wxgate-bench-{what}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// `bin` with no inherited `WXGATE_*` settings, `env` instead, quiet logs.
pub fn wxgate(bin: &Path, env: &[(String, String)]) -> Command {
    wrapped(&[], bin, env)
}

/// [`wxgate`] run under `wrap` (a profiler and its arguments), if not empty.
pub fn wrapped(wrap: &[String], bin: &Path, env: &[(String, String)]) -> Command {
    let mut command = match wrap.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            command.env_remove(k);
        }
    }
    command
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// Spawns `command` and reads its stdout until a line starts with `prefix`: what follows is
/// the URL it serves at.
pub fn spawn_printing_url(mut command: Command, prefix: &str) -> Result<(Proc, String), String> {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc(child);
    let mut lines = BufReader::new(stdout).lines();
    let url = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix(prefix)
                .map(|u| u.trim().trim_end_matches('/').to_owned())
        })
        .ok_or_else(|| format!("no line starting with {prefix:?}"))?;
    // Keep reading: a process that later prints to a closed pipe dies of SIGPIPE.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Ok((proc, url))
}

/// Waits until `url` answers `path` with a success; how long that took.
pub async fn wait_ready(
    client: &reqwest::Client,
    url: &str,
    path: &str,
    what: &str,
) -> Result<Duration, String> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client.get(format!("{url}{path}")).send().await
            && r.status().is_success()
        {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err(format!("{what} at {url} did not answer {path}"))
}

/// The demo account's settings for `wxgate serve` against the simulator at `sim_url`, with
/// its reply rules in `rules` and both kinds of push accepted.
pub fn account(sim_url: &str, public_url: &str, rules: &Path) -> Vec<(String, String)> {
    [
        ("WXGATE_APPID", wxsim::demo::APPID),
        ("WXGATE_SECRET", wxsim::demo::SECRET),
        ("WXGATE_API_BASE", sim_url),
        ("WXGATE_OAUTH_BASE", sim_url),
        ("WXGATE_TOKEN", wxsim::demo::TOKEN),
        ("WXGATE_AES_KEY", wxsim::demo::AES_KEY),
        // Compatible mode takes plaintext and encrypted pushes, so both can be measured.
        ("WXGATE_MESSAGE_MODE", "compatible"),
        ("WXGATE_CONFIG", rules.to_str().unwrap_or_default()),
        ("WXGATE_PUBLIC_URL", public_url),
        // The login scenario logs in thousands of times a second from one address.
        ("WXGATE_LOGIN_RATE_PER_MINUTE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// The demo's reply rules, written where `wxgate serve` can read them.
pub fn write_rules(dir: &Path) -> Result<PathBuf, String> {
    let rules = dir.join("rules.toml");
    std::fs::write(&rules, include_str!("../../crates/wxgate/src/demo.toml"))
        .map_err(|e| e.to_string())?;
    // The demo's image reply names a file next to the rules.
    std::fs::create_dir_all(dir.join("media"))
        .and_then(|()| {
            std::fs::write(
                dir.join("media/welcome.png"),
                include_bytes!("../../crates/wxgate/src/demo-welcome.png"),
            )
        })
        .map_err(|e| e.to_string())?;
    Ok(rules)
}

/// The simulator, consenting by itself (logins in scenarios).
pub fn start_sim(bin: &Path) -> Result<(Proc, String), String> {
    let mut command = wxgate(bin, &[]);
    command.args(["sim", "--listen", "127.0.0.1:0", "--auto-consent"]);
    spawn_printing_url(command, "wxgate sim: WeChat simulator on ")
}

/// The bare baseline server.
pub fn start_bare(bare: &Path) -> Result<(Proc, String), String> {
    let mut command = Command::new(bare);
    command.stderr(Stdio::null());
    spawn_printing_url(command, "listening on ")
}
