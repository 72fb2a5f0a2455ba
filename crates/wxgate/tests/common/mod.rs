//! Test helpers: a real simulator and a real wxgate, each on its own loopback port, and a
//! cookie-keeping "browser" that follows nothing by itself so every hop can be inspected.
#![allow(dead_code)]

use std::path::PathBuf;

use reqwest::StatusCode;
use wxgate::config::Sources;
use wxgate::startup::Application;
use wxgate::state::AppState;
use wxsim::{SimConfig, Simulator};

pub const APPID: &str = wxsim::demo::APPID;
pub const SECRET: &str = wxsim::demo::SECRET;

/// Default users of the simulator, by index.
pub const ZHANG_SAN: usize = 0;
pub const PANDA: usize = 1;
pub const XSS: usize = 2;
pub const SNAPSHOT: usize = 3;

pub struct Sim {
    pub sim: Simulator,
    pub url: String,
}

pub async fn spawn_sim() -> Sim {
    spawn_sim_with(SimConfig::new(APPID, SECRET)).await
}

pub async fn spawn_sim_with(config: SimConfig) -> Sim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sim = Simulator::new(config);
    tokio::spawn(wxsim::serve(listener, sim.clone()));
    Sim { sim, url }
}

pub struct TestApp {
    pub url: String,
    /// `http://…/metrics`, when `metrics_listen` is set.
    pub metrics_url: Option<String>,
    pub state: AppState,
    /// The database's URL (`WXGATE_DATABASE_URL`).
    pub db_url: String,
    server: tokio::task::JoinHandle<()>,
    /// The database, when the app owns it ([`spawn_app`]): removed after the server stops.
    own_db: Option<TestDb>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TestApp {
    /// For an app kept in a `static`, which is never dropped: its database is removed when the
    /// test process exits instead, so that the suite leaves nothing behind.
    pub fn remove_database_at_exit(&mut self) {
        static DATABASES: std::sync::Mutex<Vec<TestDb>> = std::sync::Mutex::new(Vec::new());
        static REGISTER: std::sync::Once = std::sync::Once::new();
        extern "C" fn remove_all() {
            let dbs = std::mem::take(&mut *DATABASES.lock().unwrap_or_else(|e| e.into_inner()));
            // A panic must not cross into C; a database that cannot be removed stays.
            let _ = std::panic::catch_unwind(move || drop(dbs));
        }
        let Some(db) = self.own_db.take() else {
            return;
        };
        DATABASES.lock().unwrap_or_else(|e| e.into_inner()).push(db);
        REGISTER.call_once(|| {
            // SAFETY: registers a function that takes nothing and returns nothing, to run once
            // when the process exits.
            unsafe {
                libc::atexit(remove_all);
            }
        });
    }
}

/// The PostgreSQL server the suite runs on instead of SQLite, when set (scripts/test runs the
/// suite both ways): every test then gets its own schema in that database, dropped afterwards.
pub const POSTGRES_ENV: &str = "WXGATE_TEST_POSTGRES_URL";

/// A database of one test's own: a SQLite file, or a PostgreSQL schema (see [`POSTGRES_ENV`]).
/// Removed when dropped.
pub struct TestDb {
    pub url: String,
    postgres: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl TestDb {
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }
}

/// Runs `sql` on the PostgreSQL server at `base`, from a thread of its own (callable anywhere,
/// also from `Drop`).
fn postgres_admin(base: &str, sql: String) {
    let base = base.to_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&base)
                .await
                .expect("the PostgreSQL server of WXGATE_TEST_POSTGRES_URL");
            sqlx::raw_sql(&sql).execute(&mut c).await.unwrap();
        });
    })
    .join()
    .unwrap();
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, schema)) = &self.postgres {
            postgres_admin(base, format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
        if let Some(file) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
            }
        }
    }
}

/// A fresh database per test, so tests never see each other's users or sessions: a PostgreSQL
/// schema when [`POSTGRES_ENV`] is set, else a SQLite file.
pub fn temp_db() -> TestDb {
    match std::env::var(POSTGRES_ENV) {
        Ok(base) => temp_postgres_db(&base),
        Err(_) => {
            let dir = std::env::temp_dir().join("wxgate-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{}.db", wechat::State::generate().as_str()));
            TestDb {
                url: format!("sqlite://{}", file.display()),
                postgres: None,
                file: Some(file),
            }
        }
    }
}

/// A schema of its own in the PostgreSQL database at `base`.
pub fn temp_postgres_db(base: &str) -> TestDb {
    let name = wechat::State::generate().as_str().to_ascii_lowercase();
    let schema = format!("wxgate_test_{name}");
    postgres_admin(base, format!("CREATE SCHEMA {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    TestDb {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        postgres: Some((base.to_owned(), schema)),
        file: None,
    }
}

/// wxgate against the simulator at `sim_url`, with extra `(key, value)` settings.
impl TestApp {
    /// Makes the app own `db`, so it is removed when the app is dropped.
    pub fn owning(mut self, db: TestDb) -> Self {
        self.own_db = Some(db);
        self
    }
}

/// wxgate with a database of its own, removed with it.
pub async fn spawn_app(sim_url: &str, extra: &[(&str, &str)]) -> TestApp {
    let db = temp_db();
    let mut app = spawn_app_on(sim_url, &db, extra).await;
    app.own_db = Some(db);
    app
}

pub async fn spawn_app_on(sim_url: &str, db: &TestDb, extra: &[(&str, &str)]) -> TestApp {
    spawn_app_with_rules(sim_url, db, extra, "").await
}

/// Like [`spawn_app_on`], with `[[rules]]` given as TOML text.
pub async fn spawn_app_with_rules(
    sim_url: &str,
    db: &TestDb,
    extra: &[(&str, &str)],
    rules_toml: &str,
) -> TestApp {
    let mut sources = Sources::default();
    if !rules_toml.is_empty() {
        let table: toml::Table = rules_toml.parse().expect("rules TOML");
        if let Some(rules) = table.get("rules") {
            sources.set_rules(rules.as_array().expect("[[rules]]").clone());
        }
        if let Some(clients) = table.get("api_clients") {
            sources.set_api_clients(clients.as_array().expect("[[api_clients]]").clone());
        }
    }
    sources.set("listen", "127.0.0.1:0");
    sources.set("appid", APPID);
    sources.set("secret", SECRET);
    sources.set("api_base", sim_url);
    sources.set("oauth_base", sim_url);
    sources.set("upstream_timeout_ms", "1000");
    sources.set("database_url", &db.url);
    for (k, v) in extra {
        sources.set(k, *v);
    }
    let config = sources.validate().expect("valid test config");
    let app = Application::build(config).await.expect("app builds");
    // Where the test reaches the server (the public URL may be a name that does not resolve).
    let url = format!("http://{}", app.local_addr());
    let metrics_url = app.metrics_addr().map(|a| format!("http://{a}/metrics"));
    let state = app.state.clone();
    let server = tokio::spawn(async move {
        app.run_until_stopped().await.unwrap();
    });
    TestApp {
        url,
        metrics_url,
        state,
        db_url: db.url.clone(),
        server,
        own_db: None,
    }
}

/// Something serving wxgate at `url`: an in-process [`TestApp`] or a `wxgate demo` process.
pub trait HasUrl {
    fn url(&self) -> &str;
}

impl HasUrl for TestApp {
    fn url(&self) -> &str {
        &self.url
    }
}

/// A wxgate running as another process.
pub struct TestAppRef {
    pub url: String,
}

impl HasUrl for TestAppRef {
    fn url(&self) -> &str {
        &self.url
    }
}

/// One answer, with what a test looks at.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub set_cookie: Vec<String>,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.location.as_deref().expect("a Location header")
    }
}

/// A browser: keeps cookies, never follows redirects on its own.
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Self {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        page(self.http.get(url).send().await.unwrap()).await
    }

    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        page(self.http.post(url).form(form).send().await.unwrap()).await
    }

    /// `/auth/` → the simulator's authorize URL (as the browser would request it).
    pub async fn start_login(&self, app: &impl HasUrl, query: &str) -> String {
        let p = self.get(&format!("{}/auth/{query}", app.url())).await;
        assert_eq!(p.status, StatusCode::FOUND, "{}", p.body);
        let url = p.location().to_owned();
        url.split('#').next().unwrap().to_owned()
    }

    /// Answers the consent page for the authorize URL: returns the callback URL WeChat sends
    /// the browser to (`/empower/?code=…&state=…`).
    pub async fn consent(&self, authorize_url: &str, user: usize, action: &str) -> String {
        let q: Vec<(String, String)> = url::Url::parse(authorize_url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let consent_page = self.get(authorize_url).await;
        if consent_page.status == StatusCode::FOUND {
            // snsapi_base (or auto-consent): WeChat redirects without a page.
            return consent_page.location().to_owned();
        }
        assert!(consent_page.body.contains("允许"), "{}", consent_page.body);
        let action_url = {
            let u = url::Url::parse(authorize_url).unwrap();
            format!(
                "{}://{}/connect/oauth2/authorize",
                u.scheme(),
                u.host_str().unwrap().to_owned() + ":" + &u.port().unwrap().to_string()
            )
        };
        let user = user.to_string();
        let p = self
            .post_form(
                &action_url,
                &[
                    ("appid", &get("appid")),
                    ("redirect_uri", &get("redirect_uri")),
                    ("scope", &get("scope")),
                    ("state", &get("state")),
                    ("user", &user),
                    ("action", action),
                ],
            )
            .await;
        assert_eq!(p.status, StatusCode::FOUND, "{}", p.body);
        p.location().to_owned()
    }

    /// The whole login as `user`; returns where `/empower/` sent the browser.
    pub async fn login(&self, app: &impl HasUrl, user: usize) -> Page {
        let authorize = self.start_login(app, "").await;
        let callback = self.consent(&authorize, user, "allow").await;
        self.get(&callback).await
    }

    pub async fn greeting(&self, app: &impl HasUrl) -> String {
        let p = self.get(&format!("{}/index/", app.url())).await;
        assert_eq!(p.status, StatusCode::OK);
        let start = p.body.find("id=\"greeting\">").expect("a greeting") + "id=\"greeting\">".len();
        let end = start + p.body[start..].find("</h1>").unwrap();
        p.body[start..end].to_owned()
    }
}

async fn page(r: reqwest::Response) -> Page {
    let status = r.status();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let set_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body = r.text().await.unwrap();
    Page {
        status,
        location,
        set_cookie,
        body,
    }
}

/// Runs `sql` (with `$1`… placeholders) on the test's database, whichever engine it is.
pub async fn sql(db: &wxgate::db::Db, sql: &str, binds: &[&str]) -> u64 {
    use wxgate::db::Db;
    macro_rules! run {
        ($pool:expr) => {{
            let mut q = sqlx::query(sql);
            for b in binds {
                q = q.bind(*b);
            }
            q.execute($pool).await.unwrap().rows_affected()
        }};
    }
    match db {
        Db::Sqlite(p) => run!(p),
        Db::Postgres(p) => run!(p),
    }
}

/// The one integer `sql` selects.
pub async fn sql_i64(db: &wxgate::db::Db, sql: &str) -> i64 {
    use wxgate::db::Db;
    let (n,): (i64,) = match db {
        Db::Sqlite(p) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
        Db::Postgres(p) => sqlx::query_as(sql).fetch_one(p).await.unwrap(),
    };
    n
}
