//! `wxgate-bench --cluster`: the cluster deployment next to the embedded one, in the same run.
//!
//! One simulator (auto-consent) serves as WeChat for both: an embedded `wxgate serve` (SQLite,
//! in-process state) and three `wxgate serve` instances on PostgreSQL and Redis behind nginx.
//! Every scenario runs against each, and the table shows both figures and their ratio.
//!
//! Needs PostgreSQL (`WXGATE_BENCH_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432;
//! a database is created and dropped), Redis (`WXGATE_BENCH_REDIS_URL`, default
//! redis://127.0.0.1:6379; a key prefix is used and cleared) and nginx: `scripts/services` and
//! `apt-get install nginx` provide them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::{Args, Pusher, Scenario, Target, login, run};

const DEMO_APPID: &str = wxsim::demo::APPID;
const DEMO_SECRET: &str = wxsim::demo::SECRET;
const INSTANCES: usize = 3;

/// A child process, killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the run created outside its folder: removed on drop.
struct Cleanup {
    postgres: String,
    database: String,
    redis: String,
    prefix: String,
    dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", self.postgres))
            .args([
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database),
            ])
            .output();
        let keys = Command::new("redis-cli")
            .args(["-u", &self.redis, "--scan", "--pattern"])
            .arg(format!("{}*", self.prefix))
            .output();
        if let Ok(keys) = keys {
            let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
            for chunk in keys.lines().collect::<Vec<_>>().chunks(500) {
                let _ = Command::new("redis-cli")
                    .args(["-u", &self.redis, "DEL"])
                    .args(chunk)
                    .output();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn wxgate(bin: &std::path::Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(bin);
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

async fn wait_ready(client: &reqwest::Client, url: &str, what: &str) -> Result<(), String> {
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("{what} at {url} did not become ready"))
}

struct Setup {
    embedded: String,
    cluster: String,
    _procs: Vec<Proc>,
    _cleanup: Cleanup,
}

async fn setup(bin: &str, client: &reqwest::Client) -> Result<Setup, String> {
    let bin = std::fs::canonicalize(bin)
        .map_err(|e| format!("{bin}: {e} (build it: cargo build --release -p wxgate)"))?;
    let dir = std::env::temp_dir().join(format!("wxgate-bench-cluster-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let postgres = std::env::var("WXGATE_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let redis =
        std::env::var("WXGATE_BENCH_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let database = format!("wxgate_bench_{}", std::process::id());
    let cleanup = Cleanup {
        postgres: postgres.clone(),
        database: database.clone(),
        redis: redis.clone(),
        prefix: format!("wxgate-bench:{}:", std::process::id()),
        dir: dir.clone(),
    };
    let created = Command::new("psql")
        .arg(format!("{postgres}/postgres"))
        .args(["-qc", &format!("CREATE DATABASE {database}")])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if !created.status.success() {
        return Err(format!(
            "cannot create a database on {postgres}: {} (scripts/services starts PostgreSQL)",
            String::from_utf8_lossy(&created.stderr).trim()
        ));
    }
    let mut procs = Vec::new();

    // The simulator, consenting by itself, as WeChat for every instance.
    let mut sim = wxgate(&bin, &[])
        .args(["sim", "--listen", "127.0.0.1:0", "--auto-consent"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = sim.stdout.take().ok_or("no stdout")?;
    procs.push(Proc(sim));
    let sim_url = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("wxgate sim: WeChat simulator on ")
                .map(|u| u.trim_end_matches('/').to_owned())
        })
        .ok_or("the simulator did not print its URL")?;

    let rules = dir.join("rules.toml");
    std::fs::write(&rules, include_str!("../../crates/wxgate/src/demo.toml"))
        .map_err(|e| e.to_string())?;
    let account = |public: &str| -> Vec<(String, String)> {
        [
            ("WXGATE_APPID", DEMO_APPID),
            ("WXGATE_SECRET", DEMO_SECRET),
            ("WXGATE_API_BASE", sim_url.as_str()),
            ("WXGATE_OAUTH_BASE", sim_url.as_str()),
            ("WXGATE_TOKEN", super::DEMO_TOKEN),
            ("WXGATE_AES_KEY", super::DEMO_AES_KEY),
            ("WXGATE_MESSAGE_MODE", "compatible"),
            ("WXGATE_CONFIG", rules.to_str().unwrap_or_default()),
            ("WXGATE_PUBLIC_URL", public),
            // The login scenario logs in thousands of times a second from one address.
            ("WXGATE_LOGIN_RATE_PER_MINUTE", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    };

    // The embedded deployment.
    let port = free_port();
    let embedded = format!("http://127.0.0.1:{port}");
    let mut env = account(&embedded);
    env.push(("WXGATE_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push((
        "WXGATE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.join("embedded.db").display()),
    ));
    procs.push(Proc(
        wxgate(&bin, &env)
            .arg("serve")
            .spawn()
            .map_err(|e| e.to_string())?,
    ));
    wait_ready(client, &embedded, "the embedded instance").await?;

    // The cluster: instances on PostgreSQL and Redis, nginx in front.
    let lb_port = free_port();
    let cluster = format!("http://127.0.0.1:{lb_port}");
    let mut upstreams = String::new();
    for i in 0..INSTANCES {
        let port = free_port();
        let mut env = account(&cluster);
        env.extend(
            [
                ("WXGATE_LISTEN", format!("127.0.0.1:{port}")),
                ("WXGATE_DATABASE_URL", format!("{postgres}/{database}")),
                ("WXGATE_REDIS_URL", redis.clone()),
                ("WXGATE_REDIS_PREFIX", cleanup.prefix.clone()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        procs.push(Proc(
            wxgate(&bin, &env)
                .arg("serve")
                .spawn()
                .map_err(|e| e.to_string())?,
        ));
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(client, &url, &format!("cluster instance {i}")).await?;
        upstreams.push_str(&format!("        server 127.0.0.1:{port};\n"));
    }
    let d = dir.display();
    let conf = format!(
        "worker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n    access_log off;\n    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    scgi_temp_path {d}/scgi;\n\
         upstream wxgate {{\n{upstreams}        keepalive 128;\n    }}\n\
         server {{\n        listen 127.0.0.1:{lb_port};\n        location / {{\n\
         proxy_pass http://wxgate;\n            proxy_http_version 1.1;\n\
         proxy_set_header Connection \"\";\n            proxy_set_header Host $host:$server_port;\n\
         }}\n    }}\n}}\n"
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
    let nginx = Command::new("nginx")
        .args(["-p", &d.to_string(), "-c"])
        .arg(&conf_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("nginx: {e} (apt-get install nginx)"))?;
    procs.push(Proc(nginx));
    wait_ready(client, &cluster, "nginx").await?;
    Ok(Setup {
        embedded,
        cluster,
        _procs: procs,
        _cleanup: cleanup,
    })
}

pub async fn main(args: &Args) -> ExitCode {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client");
    let setup = match setup(&args.bin, &client).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("wxgate-bench --cluster: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = |base: &str, logged_in: Option<String>| {
        let pusher = Pusher::new(base);
        let retry = pusher.request(7_000_000_000_000_000_001, true);
        Arc::new(Target {
            pusher,
            base: base.to_owned(),
            logged_in,
            client: client.clone(),
            next_id: AtomicU64::new(rand::random::<u32>() as u64 * 1_000_000),
            retry,
        })
    };
    let embedded = target(&setup.embedded, login(&client, &setup.embedded).await.ok());
    let cluster = target(&setup.cluster, login(&client, &setup.cluster).await.ok());
    println!(
        "wxgate-bench --cluster: embedded (SQLite) at {} next to {INSTANCES} instances (PostgreSQL + Redis) behind nginx at {}; {} connections, {} s per scenario, {} cores shared by everything",
        setup.embedded,
        setup.cluster,
        args.concurrency,
        args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!(
        "| {:<34} | {:>9} | {:>15} | {:>9} | {:>15} | {:>9} |",
        "scenario", "embedded", "p50 / p99 ms", "cluster", "p50 / p99 ms", "cluster ÷"
    );
    println!(
        "|{:-<36}|{:->11}|{:->17}|{:->11}|{:->17}|{:->11}|",
        "", "", "", "", "", ""
    );
    let scenarios = [
        Scenario::Baseline,
        Scenario::IndexGuest,
        Scenario::IndexLoggedIn,
        Scenario::PushPlain,
        Scenario::PushSafe,
        Scenario::PushRetry,
        Scenario::LoginBase,
    ];
    let mut failed = false;
    for scenario in scenarios {
        let wanted = args
            .only
            .as_deref()
            .is_none_or(|o| scenario.name().contains(o));
        if !wanted {
            continue;
        }
        let time = Duration::from_secs(args.seconds);
        let e = run(embedded.clone(), scenario, args.concurrency, time).await;
        let c = run(cluster.clone(), scenario, args.concurrency, time).await;
        let ratio = if e.per_sec() > 0.0 {
            format!("{:.2}×", c.per_sec() / e.per_sec())
        } else {
            "-".into()
        };
        println!(
            "| {:<34} | {:>9.0} | {:>6.2} / {:>6.2} | {:>9.0} | {:>6.2} / {:>6.2} | {:>9} |",
            scenario.name(),
            e.per_sec(),
            e.percentile_ms(0.50),
            e.percentile_ms(0.99),
            c.per_sec(),
            c.percentile_ms(0.50),
            c.percentile_ms(0.99),
            ratio
        );
        for (which, o) in [("embedded", &e), ("cluster", &c)] {
            if let Some(err) = &o.first_error {
                eprintln!(
                    "  {} ({which}): {} errors, first: {err}",
                    scenario.name(),
                    o.errors
                );
                failed = true;
            }
        }
    }
    drop(setup);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
