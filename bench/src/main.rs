//! `wxgate-bench`: load scenarios against a release `wxgate serve` on loopback (the simulator,
//! `wxgate sim`, runs as its own process as WeChat), each reported next to the bare-HTTP
//! ceiling measured in the same run: `wxgate-bare` (src/bare.rs), axum with default settings
//! answering the same routes with fixed bytes. It also reports the server's resident memory
//! (idle, and after each scenario) and how long `serve` takes, on an existing database, to
//! answer its first `/healthz`. The machine is shared and noisy, so the numbers are for
//! comparing within one run, not for asserting in tests.
//!
//! Run it with `bench/run` (builds in release first). Options: `--seconds N` per scenario
//! (default 5), `--concurrency N` connections (default 16), `--only NAME` (a substring of a
//! scenario name), `--bin PATH` (the wxgate binary, default target/release/wxgate; the bare
//! server is `wxgate-bare` next to it), `--cluster`
//! (the cluster deployment next to the embedded one: [`cluster`]), `--client wrk` (wrk drives
//! the load instead of the built-in generator: [`wrk`]), `--wrap 'COMMAND ARGS'`
//! (the measured `wxgate serve` runs under that command: a profiler such as
//! `valgrind --tool=callgrind` or `perf record -g`).

mod cluster;
mod load;
mod procs;
mod wrk;

use load::Outcome;

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

const USAGE: &str = "usage: wxgate-bench [--seconds N] [--concurrency N] [--only NAME] [--bin PATH] [--cluster] [--client wrk] [--wrap 'PROFILER ARGS']

  --seconds N       how long each scenario runs (default 5)
  --concurrency N   open connections (default 16)
  --only NAME       only the scenarios whose name contains NAME (e.g. push, plaintext, index)
  --bin PATH        the wxgate binary (default target/release/wxgate; wxgate-bare next to it)
  --cluster         the cluster deployment (nginx, three instances, PostgreSQL, Redis) too
  --client wrk      drive the scenarios with wrk (2 threads, a Lua script signing each push)
                    instead of the built-in generator: the way issue 11's first figures were
                    taken (apt-get install wrk)
  --wrap 'CMD ARGS' run the measured wxgate serve under a profiler, e.g.
                    --wrap 'valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out'

bench/run builds everything in release first; bench/README.md explains the figures.";

struct Args {
    seconds: u64,
    concurrency: usize,
    only: Option<String>,
    bin: String,
    cluster: bool,
    /// Drive the scenarios with wrk instead of [`load`].
    wrk: bool,
    /// A command the measured `wxgate serve` runs under (`perf record -g`, `valgrind
    /// --tool=callgrind`…), split on spaces.
    wrap: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 5,
        concurrency: 16,
        only: None,
        bin: "target/release/wxgate".into(),
        cluster: false,
        wrk: false,
        wrap: Vec::new(),
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
            "--client" => match value()?.as_str() {
                "wrk" => args.wrk = true,
                "builtin" => args.wrk = false,
                other => return Err(format!("--client: wrk or builtin, not {other}")),
            },
            "--wrap" => args.wrap = value()?.split_whitespace().map(str::to_owned).collect(),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other} (try --help)")),
        }
    }
    if args.cluster && !args.wrap.is_empty() {
        return Err(
            "--wrap profiles the embedded `wxgate serve`; it does not go with --cluster".into(),
        );
    }
    if args.cluster && args.wrk {
        return Err("--client wrk drives the standalone run; it does not go with --cluster".into());
    }
    if args.seconds == 0 || args.concurrency == 0 {
        return Err("--seconds and --concurrency must be at least 1".into());
    }
    Ok(args)
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

/// Every cookie a response sets, as a Cookie header would send them back.
fn cookies(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The session cookie a response sets.
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
    // The login in progress: a wxgate_login cookie (a session cookie in older builds).
    let session = cookies(&r);
    if session.is_empty() {
        return Err("/auth/ set no cookie".into());
    }
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

/// Runs `scenario` against `t` with `concurrency` connections for `time`, after a short
/// warm-up (connections, the cached jsapi_ticket, the retried push's stored reply).
async fn run(t: Arc<Target>, scenario: Scenario, concurrency: usize, time: Duration) -> Outcome {
    drive(t, scenario, concurrency, time, None).await
}

/// [`run`], with wrk measuring instead of the built-in generator when `wrk` is given (the
/// warm-up, which checks every answer, is the built-in generator's either way).
async fn drive(
    t: Arc<Target>,
    scenario: Scenario,
    concurrency: usize,
    time: Duration,
    wrk: Option<&wrk::Script>,
) -> Outcome {
    if scenario == Scenario::LoginBase {
        return run_logins(t, concurrency, time).await;
    }
    let addr: std::net::SocketAddr = t
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("an http://IP:PORT base");
    let make: load::Make = {
        let t = t.clone();
        Arc::new(move || request(&t, scenario))
    };
    let check: load::Check = Arc::new(move |status, body| check(scenario, status, body));
    load::drive(
        addr,
        concurrency,
        Duration::from_millis(500),
        make.clone(),
        check.clone(),
    )
    .await;
    let Some(script) = wrk else {
        return load::drive(addr, concurrency, time, make, check).await;
    };
    let get = |path: &str, cookie: Option<&str>| wrk::Request::Get {
        path: path.to_owned(),
        cookie: cookie.map(str::to_owned),
    };
    let request = match scenario {
        Scenario::Baseline => get("/healthz", None),
        Scenario::IndexGuest => get("/index/", None),
        Scenario::IndexLoggedIn => get("/index/", t.logged_in.as_deref()),
        Scenario::JsSdk => get(&jssdk_path(&t), None),
        Scenario::PushPlain | Scenario::PushSafe => wrk::Request::Push {
            path: path_of(&t.pusher.url).to_owned(),
            safe: scenario == Scenario::PushSafe,
        },
        Scenario::PushRetry => wrk::Request::Post {
            path: path_of(&t.retry.0).to_owned(),
            body: t.retry.1.clone(),
        },
        Scenario::LoginBase => unreachable!("logins are driven above"),
    };
    // A range of MsgIds of its own (the script numbers each thread's pushes from here).
    let first_id = t.next_id.fetch_add(10_000_000_000_000, Ordering::Relaxed);
    wrk::drive(script, &t.base, concurrency, time, &request, first_id).await
}

/// The JS-SDK scenario's path: a signature for the guest page's URL.
fn jssdk_path(t: &Target) -> String {
    let page = format!("{}/index/?from=bench", t.base);
    format!("/jssdk/config?url={}", url_encode(&page))
}

/// The bytes of one request of `scenario`: a fresh signature and MsgId for every push.
fn request(t: &Target, scenario: Scenario) -> Vec<u8> {
    let host = t.base.trim_start_matches("http://");
    match scenario {
        Scenario::Baseline => load::get(host, "/healthz", ""),
        Scenario::IndexGuest => load::get(host, "/index/", ""),
        Scenario::IndexLoggedIn => {
            let cookie = t.logged_in.as_deref().unwrap_or("");
            load::get(host, "/index/", &format!("cookie: {cookie}\r\n"))
        }
        Scenario::PushPlain | Scenario::PushSafe => {
            let (url, body) = t.pusher.request(
                t.next_id.fetch_add(1, Ordering::Relaxed),
                scenario == Scenario::PushSafe,
            );
            load::post(host, path_of(&url), "text/xml", &body)
        }
        Scenario::PushRetry => load::post(host, path_of(&t.retry.0), "text/xml", &t.retry.1),
        Scenario::JsSdk => load::get(host, &jssdk_path(t), ""),
        Scenario::LoginBase => Vec::new(),
    }
}

fn path_of(url: &str) -> &str {
    let rest = url.trim_start_matches("http://");
    &rest[rest.find('/').unwrap_or(rest.len())..]
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether an answer is what `scenario` expects.
fn check(scenario: Scenario, status: u16, body: &[u8]) -> Result<(), String> {
    if status != 200 {
        return Err(format!(
            "HTTP {status}: {:.120}",
            String::from_utf8_lossy(body)
        ));
    }
    let text = String::from_utf8_lossy(body);
    let ok = match scenario {
        Scenario::Baseline => text == "ok",
        Scenario::IndexGuest => text.contains("游客"),
        Scenario::IndexLoggedIn => text.contains("欢迎:") && !text.contains("游客"),
        Scenario::PushPlain => text.contains("你说的是"),
        Scenario::PushSafe | Scenario::PushRetry => text.contains("<Encrypt>"),
        Scenario::JsSdk => text.contains("\"signature\""),
        Scenario::LoginBase => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected answer: {text:.120}"))
    }
}

/// Logins take three hops and cookies: through the HTTP client, `concurrency` at a time.
async fn run_logins(t: Arc<Target>, concurrency: usize, time: Duration) -> Outcome {
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
                    match login(&t.client, &t.base).await {
                        Ok(_) => latencies.push(began.elapsed().as_micros() as u64),
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
    let mut all = Vec::new();
    let (mut errors, mut first) = (0, None);
    for w in workers {
        if let Ok((latencies, e, first_error)) = w.await {
            all.extend(latencies);
            errors += e;
            first = first.or(first_error);
        }
    }
    Outcome::from_latencies(all, start.elapsed(), errors, first)
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
    match standalone(&args).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("wxgate-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What one scenario measured on wxgate, and on the bare server when it has the route.
/// CPU microseconds a server spent per operation during a run.
fn cpu_per_op(before: Option<f64>, after: Option<f64>, outcome: &Outcome) -> String {
    match (before, after) {
        (Some(b), Some(a)) if outcome.ops > 0 => {
            format!("{:.1}", (a - b) * 1e6 / outcome.ops as f64)
        }
        _ => "-".into(),
    }
}

fn row(label: &str, w: &Outcome, bare: Option<&Outcome>, cpu: (String, String), rss: Option<f64>) {
    let (b_ops, b_lat, ratio, tail) = match bare {
        Some(b) if b.per_sec() > 0.0 => (
            format!("{:.0}", b.per_sec()),
            format!("{:.2} / {:.2}", b.p50_ms, b.p99_ms),
            format!("{:.2}×", w.per_sec() / b.per_sec()),
            format!("{:.1}×", w.p99_ms / b.p99_ms.max(0.001)),
        ),
        _ => ("-".into(), "-".into(), "-".into(), "-".into()),
    };
    println!(
        "| {:<34} | {:>8.0} | {:>15} | {:>8} | {:>15} | {:>6} | {:>6} | {:>13} | {:>7} |",
        label,
        w.per_sec(),
        format!("{:.2} / {:.2}", w.p50_ms, w.p99_ms),
        b_ops,
        b_lat,
        ratio,
        tail,
        format!("{} / {}", cpu.0, cpu.1),
        rss.map_or("-".into(), |r| format!("{r:.0}")),
    );
}

/// The standalone run: `wxgate serve` (SQLite) next to `wxgate-bare`.
async fn standalone(args: &Args) -> Result<bool, String> {
    let bin = std::fs::canonicalize(&args.bin)
        .map_err(|e| format!("{}: {e} (build it: bench/run)", args.bin))?;
    let bare_bin = bin.with_file_name("wxgate-bare");
    let dir = procs::TempDir::new("serve")?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");

    let script = match args.wrk {
        true => {
            wrk::available()?;
            Some(wrk::Script::write(&dir.0)?)
        }
        false => None,
    };
    let (_sim, sim_url) = procs::start_sim(&bin)?;
    let rules = procs::write_rules(&dir.0)?;
    let port = procs::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut env = procs::account(&sim_url, &base, &rules);
    env.push(("WXGATE_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push((
        "WXGATE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.0.join("bench.db").display()),
    ));
    // Once to create the database, then the start-up that is measured: an existing database.
    {
        let _first = procs::Proc(
            procs::wxgate(&bin, &env)
                .arg("serve")
                .spawn()
                .map_err(|e| e.to_string())?,
        );
        procs::wait_ready(&client, &base, "/healthz", "wxgate serve").await?;
    }
    let started = std::time::Instant::now();
    let server = procs::Proc(
        procs::wrapped(&args.wrap, &bin, &env)
            .arg("serve")
            .spawn()
            .map_err(|e| match args.wrap.first() {
                Some(profiler) => format!("--wrap: cannot start {profiler}: {e}"),
                None => format!("{}: {e}", bin.display()),
            })?,
    );
    procs::wait_ready(&client, &base, "/healthz", "wxgate serve").await?;
    let startup = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = server.rss_mib();
    let (bare_proc, bare_url) = procs::start_bare(&bare_bin)
        .map_err(|e| format!("{}: {e} (build it: bench/run)", bare_bin.display()))?;

    let target = |base: &str, logged_in: Option<String>| {
        let pusher = Pusher::new(base);
        let retry = pusher.request(7_000_000_000_000_000_000, true);
        Arc::new(Target {
            pusher,
            base: base.to_owned(),
            logged_in,
            client: client.clone(),
            next_id: AtomicU64::new(rand::random::<u32>() as u64 * 1_000_000),
            retry,
        })
    };
    let logged_in = login(&client, &base).await.ok();
    let wx = target(&base, logged_in);
    // The bare server ignores the cookie; a cookie is sent all the same.
    let bare = target(&bare_url, Some("wxgate_session=bench".into()));

    println!(
        "wxgate-bench: `{} serve` at {base} (simulator: {sim_url}) next to wxgate-bare at {bare_url}; {} connections ({}), {} s per scenario, {} cores shared by the servers and the load",
        args.bin,
        args.concurrency,
        if args.wrk {
            "wrk, 2 threads"
        } else {
            "built-in generator"
        },
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "start-up on an existing database: {:.0} ms to the first /healthz; idle RSS {}",
        startup.as_secs_f64() * 1000.0,
        idle.map_or("-".into(), |r| format!("{r:.1} MiB"))
    );
    println!();
    println!(
        "| {:<34} | {:>8} | {:>15} | {:>8} | {:>15} | {:>6} | {:>6} | {:>13} | {:>7} |",
        "scenario",
        "ops/s",
        "p50 / p99 ms",
        "bare",
        "p50 / p99 ms",
        "÷ bare",
        "p99 ×",
        "CPU µs/op w/b",
        "RSS MiB"
    );
    println!(
        "|{:-<36}|{:->10}|{:->17}|{:->10}|{:->17}|{:->8}|{:->8}|{:->15}|{:->9}|",
        "", "", "", "", "", "", "", "", ""
    );
    let mut failed = false;
    for scenario in Scenario::ALL {
        let wanted = args
            .only
            .as_deref()
            .is_none_or(|o| scenario.name().contains(o));
        if !wanted {
            continue;
        }
        let time = Duration::from_secs(args.seconds);
        let cpu = server.cpu_secs();
        let w = drive(
            wx.clone(),
            scenario,
            args.concurrency,
            time,
            script.as_ref(),
        )
        .await;
        let w_cpu = cpu_per_op(cpu, server.cpu_secs(), &w);
        let rss = server.rss_mib();
        let (b, b_cpu) = match scenario {
            Scenario::LoginBase => (None, "-".into()),
            _ => {
                let cpu = bare_proc.cpu_secs();
                let b = drive(
                    bare.clone(),
                    scenario,
                    args.concurrency,
                    time,
                    script.as_ref(),
                )
                .await;
                let b_cpu = cpu_per_op(cpu, bare_proc.cpu_secs(), &b);
                (Some(b), b_cpu)
            }
        };
        row(scenario.name(), &w, b.as_ref(), (w_cpu, b_cpu), rss);
        if let Some(e) = &w.first_error {
            eprintln!("  {}: {} errors, first: {e}", scenario.name(), w.errors);
            failed = true;
        }
    }
    // A profiler writes its output when the program it runs exits.
    server.stop(Duration::from_secs(if args.wrap.is_empty() {
        5
    } else {
        120
    }));
    Ok(!failed)
}
