//! Several real `wxgate serve` processes against one PostgreSQL and one Redis, as a load
//! balancer would spread requests over them, plus the parts of a test that stop and restart:
//! a Redis and a PostgreSQL server of the test's own.
//!
//! The shared servers come from `WXGATE_TEST_POSTGRES_URL` and `WXGATE_TEST_REDIS_URL`
//! (default: the machine's, on their standard ports; `.ci/run` starts them). Every cluster gets
//! its own schema and Redis key prefix, removed afterwards.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{self, APPID, SECRET, Sim, TestDb};

pub const PUBLIC_URL: &str = "http://wxgate.test";
pub const TOKEN: &str = "clustertoken";

pub fn postgres_url() -> String {
    std::env::var(common::POSTGRES_ENV)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn redis_url() -> String {
    std::env::var("WXGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A PostgreSQL schema of this test's own (whatever engine the rest of the suite runs on).
pub fn postgres_db() -> TestDb {
    common::temp_postgres_db(&postgres_url())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deletes every key under `prefix` (from a thread of its own: callable from `Drop`).
pub fn delete_redis_keys(url: &str, prefix: &str) {
    let url = url.to_owned();
    let pattern = format!("{prefix}*");
    std::thread::spawn(move || {
        let Ok(client) = redis::Client::open(url.as_str()) else {
            return;
        };
        let Ok(mut c) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(&pattern)
            .query(&mut c)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query(&mut c);
        }
    })
    .join()
    .unwrap();
}

pub fn redis_keys(url: &str, prefix: &str) -> Vec<String> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_connection().unwrap();
    redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut c)
        .unwrap()
}

/// One `wxgate serve` process.
pub struct Instance {
    pub url: String,
    child: Option<tokio::process::Child>,
    pub log: PathBuf,
}

impl Instance {
    /// Starts `wxgate serve` with `env` on a free port and waits until `/healthz` answers.
    pub async fn start(env: &[(String, String)]) -> Instance {
        let port = free_port();
        let log = std::env::temp_dir().join(format!(
            "wxgate-cluster-{}.log",
            wechat::State::generate().as_str()
        ));
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wxgate"));
        for (k, _) in std::env::vars() {
            if k.starts_with("WXGATE_") {
                command.env_remove(k);
            }
        }
        command
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("WXGATE_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{url}/healthz")).send().await
                && r.status().is_success()
            {
                return Instance {
                    url,
                    child: Some(child),
                    log,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "wxgate serve exited ({status}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "wxgate serve did not answer /healthz:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// SIGKILL: no shutdown, no cleanup, as a crashed machine.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl common::HasUrl for Instance {
    fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
    }
}

/// N instances of one account, sharing a PostgreSQL schema and a Redis prefix, with the
/// simulator as WeChat.
pub struct Cluster {
    pub sim: Sim,
    /// Dropped with the cluster: the schema goes too.
    #[allow(dead_code)]
    pub db: TestDb,
    pub redis_url: String,
    pub prefix: String,
    pub env: Vec<(String, String)>,
    pub instances: Vec<Instance>,
}

impl Cluster {
    pub async fn start(n: usize, extra: &[(&str, &str)]) -> Cluster {
        Self::start_on(n, extra, &redis_url()).await
    }

    /// Like [`Cluster::start`], with the Redis at `redis_url` (a test's own).
    pub async fn start_on(n: usize, extra: &[(&str, &str)], redis_url: &str) -> Cluster {
        let sim = common::spawn_sim().await;
        let db = postgres_db();
        let prefix = format!("wxgate-test:{}:", wechat::State::generate().as_str());
        let mut env: Vec<(String, String)> = [
            ("WXGATE_APPID", APPID),
            ("WXGATE_SECRET", SECRET),
            ("WXGATE_API_BASE", sim.url.as_str()),
            ("WXGATE_OAUTH_BASE", sim.url.as_str()),
            ("WXGATE_PUBLIC_URL", PUBLIC_URL),
            ("WXGATE_DATABASE_URL", db.url.as_str()),
            ("WXGATE_REDIS_URL", redis_url),
            ("WXGATE_REDIS_PREFIX", prefix.as_str()),
            ("WXGATE_UPSTREAM_TIMEOUT_MS", "1000"),
            ("WXGATE_TOKEN", TOKEN),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in extra {
            let name = format!("WXGATE_{}", k.to_ascii_uppercase());
            env.retain(|(e, _)| *e != name);
            env.push((name, (*v).to_owned()));
        }
        let mut instances = Vec::new();
        for _ in 0..n {
            instances.push(Instance::start(&env).await);
        }
        Cluster {
            sim,
            db,
            redis_url: redis_url.to_owned(),
            prefix,
            env,
            instances,
        }
    }

    pub fn url(&self, i: usize) -> &str {
        &self.instances[i].url
    }

    /// Stops every instance (SIGKILL) and starts as many new ones.
    pub async fn restart_all(&mut self) {
        let n = self.instances.len();
        for i in &mut self.instances {
            i.kill().await;
        }
        self.instances.clear();
        for _ in 0..n {
            self.instances.push(Instance::start(&self.env).await);
        }
    }

    pub fn logs(&self) -> String {
        self.instances
            .iter()
            .enumerate()
            .map(|(i, inst)| format!("--- instance {i}\n{}", inst.logs()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.instances.clear();
        delete_redis_keys(&self.redis_url, &self.prefix);
    }
}

/// A Redis server of the test's own, to stop and start again.
pub struct OwnRedis {
    pub port: u16,
    pub url: String,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> OwnRedis {
        let port = free_port();
        let mut r = OwnRedis {
            port,
            url: format!("redis://127.0.0.1:{port}"),
            child: None,
        };
        r.up();
        r
    }

    /// Starts it (again) on its port and waits until it answers.
    pub fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package)");
        self.child = Some(child);
        for _ in 0..100 {
            if redis::Client::open(self.url.as_str())
                .unwrap()
                .get_connection()
                .is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on {}", self.port);
    }

    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// A PostgreSQL server of the test's own (initdb into a temporary folder, run as the
/// `postgres` user), to stop and start again.
pub struct OwnPostgres {
    pub port: u16,
    pub url: String,
    dir: PathBuf,
}

fn as_postgres(program: &str, args: &[&str]) -> std::process::Output {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries in /usr/lib/postgresql")
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .max()
        .unwrap();
    let program = bin.join(program);
    let mut command = if nix_is_root() {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        std::process::Command::new(program)
    };
    command.args(args).output().unwrap()
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl OwnPostgres {
    pub fn start() -> OwnPostgres {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("wxgate-pg-{}", wechat::State::generate().as_str()));
        std::fs::create_dir_all(&dir).unwrap();
        if nix_is_root() {
            std::process::Command::new("chown")
                .args(["postgres:postgres", dir.to_str().unwrap()])
                .status()
                .unwrap();
        }
        let data = dir.join("data");
        let out = as_postgres(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb: {out:?}");
        let pg = OwnPostgres {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
        };
        pg.up();
        pg
    }

    pub fn up(&self) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        let out = as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-o",
                &options,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    pub fn down(&self) {
        let data = self.dir.join("data");
        as_postgres(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A webhook receiver counting deliveries; the first `slow` ones wait `delay` before answering.
pub struct Hook {
    pub url: String,
    pub deliveries: Arc<Mutex<Vec<String>>>,
}

impl Hook {
    pub async fn start(reply: &str, slow: usize, delay: Duration) -> Hook {
        use axum::routing::post;
        let deliveries: Arc<Mutex<Vec<String>>> = Default::default();
        let seen = deliveries.clone();
        let reply = reply.to_owned();
        let app = axum::Router::new().route(
            "/hook",
            post(move |headers: axum::http::HeaderMap| {
                let seen = seen.clone();
                let reply = reply.clone();
                async move {
                    let n = {
                        let mut seen = seen.lock().unwrap();
                        let id = headers
                            .get("x-wxgate-delivery")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        seen.push(id);
                        seen.len()
                    };
                    if n <= slow {
                        tokio::time::sleep(delay).await;
                    }
                    axum::Json(serde_json::json!({"reply": {"type": "text", "content": reply}}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hook { url, deliveries }
    }

    pub fn count(&self) -> usize {
        self.deliveries.lock().unwrap().len()
    }
}

/// A signed plaintext push to one instance.
pub async fn push(instance_url: &str, query: &str, body: &str) -> (reqwest::StatusCode, String) {
    let r = reqwest::Client::new()
        .post(format!("{instance_url}/weixin/?{query}"))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.text().await.unwrap())
}

pub fn signed_query(timestamp: i64, nonce: &str) -> String {
    let ts = timestamp.to_string();
    format!(
        "signature={}&timestamp={ts}&nonce={nonce}",
        wechat::signature::sign(&[TOKEN, &ts, nonce])
    )
}

pub fn text_push(openid: &str, msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_cluster]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        wxgate::clock::now()
    )
}

/// Waits for an stderr line of the process to contain `what` (panics after `within`).
#[allow(dead_code)]
pub async fn wait_for_log(instance: &Instance, what: &str, within: Duration) {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if instance.logs().contains(what) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no log line with {what:?}:\n{}", instance.logs());
}
