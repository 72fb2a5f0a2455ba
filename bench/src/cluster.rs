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

use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::procs::{Proc, free_port, wxgate};
use super::{Args, Pusher, Scenario, Target, login, procs, run};

const INSTANCES: usize = 3;

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
    let mut running = Vec::new();

    // The simulator, consenting by itself, as WeChat for every instance.
    let (sim, sim_url) = procs::start_sim(&bin)?;
    running.push(sim);

    let rules = procs::write_rules(&dir)?;
    let account = |public: &str| procs::account(&sim_url, public, &rules);

    // The embedded deployment.
    let port = free_port();
    let embedded = format!("http://127.0.0.1:{port}");
    let mut env = account(&embedded);
    env.push(("WXGATE_LISTEN".into(), format!("127.0.0.1:{port}")));
    env.push((
        "WXGATE_DATABASE_URL".into(),
        format!("sqlite://{}", dir.join("embedded.db").display()),
    ));
    running.push(Proc(
        wxgate(&bin, &env)
            .arg("serve")
            .spawn()
            .map_err(|e| e.to_string())?,
    ));
    procs::wait_ready(client, &embedded, "/readyz", "the embedded instance").await?;

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
        running.push(Proc(
            wxgate(&bin, &env)
                .arg("serve")
                .spawn()
                .map_err(|e| e.to_string())?,
        ));
        let url = format!("http://127.0.0.1:{port}");
        procs::wait_ready(client, &url, "/readyz", &format!("cluster instance {i}")).await?;
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
    running.push(Proc(nginx));
    procs::wait_ready(client, &cluster, "/readyz", "nginx").await?;
    Ok(Setup {
        embedded,
        cluster,
        _procs: running,
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
            e.p50_ms,
            e.p99_ms,
            c.per_sec(),
            c.p50_ms,
            c.p99_ms,
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
