//! `wxgate-bench`: load scenarios against the real `wxgate demo` (server and simulator in one
//! release process on loopback), each reported next to a baseline measured in the same run.
//!
//! The baseline is `GET /healthz`: the cost of the HTTP stack and middleware alone, so each
//! scenario's figure reads as "what this path adds". The machine is shared and noisy, so the
//! numbers are for comparing scenarios within one run, not for asserting in tests.
//!
//! Run it with `bench/run` (builds in release first). Options: `--seconds N` per scenario
//! (default 5), `--concurrency N` connections (default 16), `--only NAME` (a substring of a
//! scenario name), `--bin PATH` (the wxgate binary, default target/release/wxgate), `--cluster`
//! (the cluster deployment next to the embedded one: [`cluster`]).

mod cluster;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use wechat::crypto::{EncodingAesKey, MessageCrypt};
use wechat::signature::Token;

// The demo account's 服务器配置 (wxsim::demo).
pub(crate) use wxsim::demo::{AES_KEY as DEMO_AES_KEY, APPID as DEMO_APPID, TOKEN as DEMO_TOKEN};
const OPENID: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Baseline,
    IndexGuest,
    IndexLoggedIn,
    PushPlain,
    PushSafe,
    PushRetry,
    JsSdk,
    LoginBase,
}

impl Scenario {
    const ALL: [Scenario; 8] = [
        Scenario::Baseline,
        Scenario::IndexGuest,
        Scenario::IndexLoggedIn,
        Scenario::PushPlain,
        Scenario::PushSafe,
        Scenario::PushRetry,
        Scenario::JsSdk,
        Scenario::LoginBase,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Baseline => "baseline: GET /healthz",
            Scenario::IndexGuest => "GET /index/ (guest page)",
            Scenario::IndexLoggedIn => "GET /index/ (logged in)",
            Scenario::PushPlain => "push: text, plaintext mode",
            Scenario::PushSafe => "push: text, safe mode (AES)",
            Scenario::PushRetry => "push: WeChat's retry (dedup hit)",
            Scenario::JsSdk => "GET /jssdk/config (cached ticket)",
            Scenario::LoginBase => "login: snsapi_base, 3 hops",
        }
    }
}

struct Args {
    seconds: u64,
    concurrency: usize,
    only: Option<String>,
    bin: String,
    cluster: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 5,
        concurrency: 16,
        only: None,
        bin: "target/release/wxgate".into(),
        cluster: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => {
                args.seconds = value()?.parse().map_err(|_| "--seconds: a whole number")?
            }
            "--concurrency" => {
                args.concurrency = value()?
                    .parse()
                    .map_err(|_| "--concurrency: a whole number")?
            }
            "--only" => args.only = Some(value()?),
            "--bin" => args.bin = value()?,
            "--cluster" => args.cluster = true,
            "-h" | "--help" => {
                return Err(
                    "usage: wxgate-bench [--seconds N] [--concurrency N] [--only NAME] [--bin PATH] [--cluster]"
                        .into(),
                );
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    if args.seconds == 0 || args.concurrency == 0 {
        return Err("--seconds and --concurrency must be at least 1".into());
    }
    Ok(args)
}

/// The demo process; killed on drop.
struct Demo {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_demo(bin: &str) -> Result<Demo, String> {
    let bin = std::fs::canonicalize(bin)
        .map_err(|e| format!("{bin}: {e} (build it: cargo build --release -p wxgate)"))?;
    let dir = std::env::temp_dir().join(format!("wxgate-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut command = Command::new(&bin);
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            command.env_remove(k);
        }
    }
    let mut child = command
        .arg("demo")
        .current_dir(&dir)
        .env("WXGATE_LISTEN", "127.0.0.1:0")
        // Compatible mode takes plaintext and encrypted pushes, so both can be measured.
        .env("WXGATE_MESSAGE_MODE", "compatible")
        // The login scenario logs in thousands of times a second from one address.
        .env("WXGATE_LOGIN_RATE_PER_MINUTE", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        // "wxgate demo: open http://127.0.0.1:PORT/index/ in a browser"
        if let Some(rest) = line.strip_prefix("wxgate demo: open ") {
            url = rest
                .split_whitespace()
                .next()
                .and_then(|u| u.strip_suffix("/index/"))
                .map(str::to_owned);
            break;
        }
    }
    let url = url.ok_or("wxgate demo exited before printing its URL")?;
    Ok(Demo {
        child,
        url,
        _dir: TempDir(dir),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Builds pushes the way WeChat signs and encrypts them.
struct Pusher {
    token: Token,
    crypt: MessageCrypt,
    url: String,
}

impl Pusher {
    fn new(base: &str) -> Self {
        let appid = wechat::AppId::parse(DEMO_APPID).expect("demo AppID");
        let key = EncodingAesKey::parse(DEMO_AES_KEY).expect("demo EncodingAESKey");
        Pusher {
            token: Token::parse(DEMO_TOKEN).expect("demo Token"),
            crypt: MessageCrypt::new(key, &appid),
            url: format!("{base}/weixin/"),
        }
    }

    fn text(msg_id: u64) -> String {
        format!(
            "<xml><ToUserName><![CDATA[gh_wxgatedemo]]></ToUserName>\
             <FromUserName><![CDATA[{OPENID}]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
             <Content><![CDATA[bench message {msg_id}]]></Content><MsgId>{msg_id}</MsgId></xml>",
            now()
        )
    }

    /// (url with query, body) for a push of message `msg_id`.
    fn request(&self, msg_id: u64, safe: bool) -> (String, String) {
        let timestamp = now().to_string();
        let nonce = format!("{:09}", msg_id % 1_000_000_000);
        let signature = self.token.signature(&timestamp, &nonce);
        let xml = Self::text(msg_id);
        if !safe {
            let url = format!(
                "{}?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={OPENID}",
                self.url
            );
            return (url, xml);
        }
        let encrypt = self.crypt.encrypt(&xml);
        let msg_signature = self.token.msg_signature(&timestamp, &nonce, &encrypt);
        let url = format!(
            "{}?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid={OPENID}\
             &encrypt_type=aes&msg_signature={msg_signature}",
            self.url
        );
        let body = format!(
            "<xml><ToUserName><![CDATA[gh_wxgatedemo]]></ToUserName>\
             <Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        );
        (url, body)
    }
}

struct Target {
    base: String,
    /// The session cookie of a browser that logged in, for [`Scenario::IndexLoggedIn`].
    logged_in: Option<String>,
    client: reqwest::Client,
    pusher: Pusher,
    /// Unique MsgIds across all workers and scenarios.
    next_id: AtomicU64,
    /// The one request [`Scenario::PushRetry`] sends again and again, as WeChat re-sends a
    /// push it got no answer to: same query, same body.
    retry: (String, String),
}

fn expect(status: StatusCode, want: StatusCode, what: &str) -> Result<(), String> {
    if status == want {
        Ok(())
    } else {
        Err(format!("{what}: HTTP {status}, expected {want}"))
    }
}

fn cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wxgate_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(|l| l.split('#').next().unwrap_or(l).to_owned())
        .ok_or_else(|| format!("no Location on HTTP {}", response.status()))
}

/// One operation of `scenario`; `Err` describes what was wrong with the answer.
async fn once(t: &Target, scenario: Scenario) -> Result<(), String> {
    let err = |e: reqwest::Error| e.to_string();
    match scenario {
        Scenario::Baseline => {
            let r = t
                .client
                .get(format!("{}/healthz", t.base))
                .send()
                .await
                .map_err(err)?;
            expect(r.status(), StatusCode::OK, "/healthz")?;
            r.bytes().await.map_err(err)?;
        }
        Scenario::IndexGuest => {
            let r = t
                .client
                .get(format!("{}/index/", t.base))
                .send()
                .await
                .map_err(err)?;
            expect(r.status(), StatusCode::OK, "/index/")?;
            let page = r.text().await.map_err(err)?;
            if !page.contains("游客") {
                return Err("/index/ without 游客".into());
            }
        }
        Scenario::IndexLoggedIn => {
            let cookie = t.logged_in.as_deref().ok_or("no logged-in browser")?;
            let r = t
                .client
                .get(format!("{}/index/", t.base))
                .header(COOKIE, cookie)
                .send()
                .await
                .map_err(err)?;
            expect(r.status(), StatusCode::OK, "/index/")?;
            let page = r.text().await.map_err(err)?;
            if page.contains("游客") || !page.contains("欢迎:") {
                return Err("/index/ does not greet the logged-in user".into());
            }
        }
        Scenario::PushPlain | Scenario::PushSafe | Scenario::PushRetry => {
            let safe = scenario != Scenario::PushPlain;
            let (url, body) = match scenario {
                Scenario::PushRetry => t.retry.clone(),
                _ => t
                    .pusher
                    .request(t.next_id.fetch_add(1, Ordering::Relaxed), safe),
            };
            let r = t.client.post(url).body(body).send().await.map_err(err)?;
            expect(r.status(), StatusCode::OK, "/weixin/")?;
            let reply = r.text().await.map_err(err)?;
            let ok = if safe {
                reply.contains("<Encrypt>")
            } else {
                reply.contains("你说的是")
            };
            if !ok {
                return Err(format!("unexpected reply: {reply:.120}"));
            }
        }
        Scenario::JsSdk => {
            let r = t
                .client
                .get(format!("{}/jssdk/config", t.base))
                .query(&[("url", format!("{}/index/?from=bench", t.base))])
                .send()
                .await
                .map_err(err)?;
            expect(r.status(), StatusCode::OK, "/jssdk/config")?;
            let body = r.text().await.map_err(err)?;
            if !body.contains("\"signature\"") {
                return Err(format!("no signature: {body:.120}"));
            }
        }
        Scenario::LoginBase => {
            login(&t.client, &t.base).await?;
        }
    }
    Ok(())
}

/// A fresh browser logs in: /auth/ → WeChat (the simulator, silent for snsapi_base) →
/// /empower/ (code exchange with the simulator, user saved, session rotated). Returns the
/// logged-in session cookie.
async fn login(client: &reqwest::Client, base: &str) -> Result<String, String> {
    let err = |e: reqwest::Error| e.to_string();
    let r = client
        .get(format!("{base}/auth/?scope=snsapi_base"))
        .send()
        .await
        .map_err(err)?;
    expect(r.status(), StatusCode::FOUND, "/auth/")?;
    let session = cookie(&r).ok_or("/auth/ set no session cookie")?;
    let authorize = location(&r)?;
    let r = client.get(authorize).send().await.map_err(err)?;
    expect(r.status(), StatusCode::FOUND, "authorize")?;
    let callback = location(&r)?;
    let r = client
        .get(callback)
        .header(COOKIE, session)
        .send()
        .await
        .map_err(err)?;
    expect(r.status(), StatusCode::SEE_OTHER, "/empower/")
        .or_else(|_| expect(r.status(), StatusCode::FOUND, "/empower/"))?;
    cookie(&r).ok_or_else(|| "/empower/ did not rotate the session".into())
}

struct Outcome {
    ops: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Sorted latencies in microseconds.
    latencies: Vec<u64>,
}

impl Outcome {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i] as f64 / 1000.0
    }
}

async fn run(t: Arc<Target>, scenario: Scenario, concurrency: usize, time: Duration) -> Outcome {
    // A short warm-up: connections, caches (the jsapi_ticket), the retried MsgId's reply.
    let warm_until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < warm_until {
        let _ = once(&t, scenario).await;
    }
    let start = Instant::now();
    let until = start + time;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let t = t.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut first_error = None;
                while Instant::now() < until {
                    let began = Instant::now();
                    match once(&t, scenario).await {
                        Ok(()) => latencies.push(began.elapsed().as_micros() as u64),
                        Err(e) => {
                            errors += 1;
                            first_error.get_or_insert(e);
                        }
                    }
                }
                (latencies, errors, first_error)
            })
        })
        .collect();
    let mut outcome = Outcome {
        ops: 0,
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for w in workers {
        if let Ok((latencies, errors, first_error)) = w.await {
            outcome.latencies.extend(latencies);
            outcome.errors += errors;
            if outcome.first_error.is_none() {
                outcome.first_error = first_error;
            }
        }
    }
    outcome.elapsed = start.elapsed();
    outcome.ops = outcome.latencies.len() as u64;
    outcome.latencies.sort_unstable();
    outcome
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("wxgate-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if args.cluster {
        return cluster::main(&args).await;
    }
    let demo = match start_demo(&args.bin) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("wxgate-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let pusher = Pusher::new(&demo.url);
    let retry = pusher.request(7_000_000_000_000_000_000, true);
    let logged_in = match login(&client, &demo.url).await {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("wxgate-bench: could not log in for the logged-in scenario: {e}");
            None
        }
    };
    let target = Arc::new(Target {
        pusher,
        base: demo.url.clone(),
        logged_in,
        client,
        next_id: AtomicU64::new(rand::random::<u32>() as u64 * 1_000_000),
        retry,
    });
    println!(
        "wxgate-bench: `{} demo` at {}, {} connections, {} s per scenario, {} cores shared by server, simulator and load",
        args.bin,
        demo.url,
        args.concurrency,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| {:<34} | {:>8} | {:>9} | {:>7} | {:>7} | {:>6} | {:>11} |",
        "scenario", "ops", "ops/s", "p50 ms", "p99 ms", "errors", "vs baseline"
    );
    println!(
        "|{:-<36}|{:->10}|{:->11}|{:->9}|{:->9}|{:->8}|{:->13}|",
        "", "", "", "", "", "", ""
    );
    let mut baseline = None;
    let mut failed = false;
    // The baseline runs first and again last: the two figures show how much the machine
    // drifted during the run.
    let order = Scenario::ALL.into_iter().chain([Scenario::Baseline]);
    for scenario in order {
        let wanted = args
            .only
            .as_deref()
            .is_none_or(|o| scenario.name().contains(o));
        if !wanted && scenario != Scenario::Baseline {
            continue;
        }
        let o = run(
            target.clone(),
            scenario,
            args.concurrency,
            Duration::from_secs(args.seconds),
        )
        .await;
        let label = if baseline.is_some() && scenario == Scenario::Baseline {
            "baseline again, at the end"
        } else {
            scenario.name()
        };
        let ratio = match baseline {
            None => {
                baseline = Some(o.per_sec());
                "1.00×".to_owned()
            }
            Some(b) if b > 0.0 => format!("{:.2}×", o.per_sec() / b),
            Some(_) => "-".to_owned(),
        };
        println!(
            "| {:<34} | {:>8} | {:>9.0} | {:>7.2} | {:>7.2} | {:>6} | {:>11} |",
            label,
            o.ops,
            o.per_sec(),
            o.percentile_ms(0.50),
            o.percentile_ms(0.99),
            o.errors,
            ratio
        );
        if let Some(e) = o.first_error {
            eprintln!("  {}: first error: {e}", scenario.name());
            failed = true;
        }
    }
    drop(demo);
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
