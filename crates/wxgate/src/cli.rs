//! The `wxgate` command line: `serve`, `sim` and `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{KEYS, Sources};
use crate::platform::{Platform, TokenApi, explain};
use crate::startup::Application;

/// The demo account (`wxsim::demo`): used only between `wxgate demo`'s own simulator and server.
pub use wxsim::demo::{
    AES_KEY as DEMO_AES_KEY, APPID as DEMO_APPID, SECRET as DEMO_SECRET, TOKEN as DEMO_TOKEN,
};

#[derive(Parser, Debug)]
#[command(
    name = "wxgate",
    version,
    about = "The whole backend of a WeChat Official Account (公众号): web login, the message server, menus, JS-SDK, and an offline WeChat simulator.",
    long_about = "The whole backend of a WeChat Official Account (公众号): web login (网页授权), the message server (/weixin/), the base access_token, custom menus, JS-SDK signatures, and an offline WeChat simulator.\n\nNew here? `wxgate demo` runs everything on loopback with no WeChat account.",
    after_help = config_help()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server against WeChat (needs WXGATE_APPID and WXGATE_SECRET).
    Serve {
        /// TOML configuration file; WXGATE_* environment variables override it.
        #[arg(long, env = "WXGATE_CONFIG", value_name = "PATH")]
        config: Option<PathBuf>,
        /// Validate the configuration, print it (without secrets) and exit.
        #[arg(long)]
        check: bool,
    },
    /// Run the offline WeChat simulator: the OAuth consent page, the sns/* and token APIs, and
    /// WeChat's message pushes (`wxgate sim push`, `wxgate sim verify`).
    #[command(args_conflicts_with_subcommands = true)]
    Sim {
        #[command(subcommand)]
        action: Option<SimAction>,
        #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
        listen: SocketAddr,
        #[arg(long, default_value = DEMO_APPID, value_name = "ID")]
        appid: String,
        #[arg(long, default_value = DEMO_SECRET, value_name = "S")]
        secret: String,
        /// JSON file with the simulated users (default: four built-in users).
        #[arg(long, value_name = "FILE")]
        users: Option<PathBuf>,
        /// snsapi_userinfo logins skip the consent page: they log in the chat page's user of
        /// that browser, else the first user.
        #[arg(long)]
        auto_consent: bool,
        /// The 网页授权域名 to enforce on redirect_uri (host[:port]); unchecked when absent.
        #[arg(long, value_name = "HOST")]
        oauth_domain: Option<String>,
        /// Where the chat page (/_sim/chat) pushes: your server's /weixin/ URL. Needs --token.
        #[arg(long, value_name = "URL", requires = "token")]
        push_url: Option<String>,
        /// The Token of your server (for --push-url).
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// The EncodingAESKey of your server: the chat page then pushes in safe mode.
        #[arg(long, value_name = "KEY")]
        aes_key: Option<String>,
    },
    /// The base access_token and jsapi_ticket wxgate caches.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Custom menus as code: validate, push, get, diff and delete (公众号自定义菜单).
    Menu {
        #[command(subcommand)]
        action: MenuAction,
    },
    /// The people who logged in through the web login.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Run the simulator and the server together on loopback: try the login, the chat with
    /// the account and its menu with no WeChat account and no internet.
    Demo {
        /// TOML configuration file; WXGATE_* environment variables override it.
        #[arg(long, env = "WXGATE_CONFIG", value_name = "PATH")]
        config: Option<PathBuf>,
        /// Where the simulator listens.
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        sim_listen: SocketAddr,
    },
}

/// Options every account command takes.
#[derive(clap::Args, Debug)]
struct AccountArgs {
    /// TOML configuration file; WXGATE_* environment variables override it.
    #[arg(long, env = "WXGATE_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum TokenAction {
    /// Expiry, source and fetch counts of the cached credentials (never the token itself).
    Status {
        #[command(flatten)]
        account: AccountArgs,
        /// Also print the access_token (fetching one if none is cached). Keep it secret.
        #[arg(long)]
        reveal: bool,
    },
}

#[derive(Subcommand, Debug)]
enum MenuAction {
    /// Check a menu file (TOML or WeChat's JSON) against every limit of WeChat; no network.
    Validate { file: PathBuf },
    /// Validate, then publish the menu. A file with a matchrule becomes a conditional menu,
    /// replacing the one WeChat has with the same matchrule (added first, then the old deleted).
    Push {
        #[command(flatten)]
        account: AccountArgs,
        file: PathBuf,
        /// Validate and print the JSON that would be sent, without sending it.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the menus WeChat has (default and conditional) as JSON.
    Get {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// Show how a menu file differs from the menu WeChat has: the default menu, or for a file
    /// with a matchrule the conditional menu with that matchrule.
    Diff {
        #[command(flatten)]
        account: AccountArgs,
        file: PathBuf,
    },
    /// Delete the default menu and all conditional menus, or one conditional menu.
    Delete {
        #[command(flatten)]
        account: AccountArgs,
        /// Delete only this conditional menu.
        #[arg(long, value_name = "ID")]
        menuid: Option<String>,
    },
    /// Which menu a user (openid or WeChat ID) would see.
    Trymatch {
        #[command(flatten)]
        account: AccountArgs,
        user: String,
    },
}

#[derive(Subcommand, Debug)]
enum UsersAction {
    /// Users, most recent login first.
    List {
        #[command(flatten)]
        account: AccountArgs,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
enum SimAction {
    /// Act as WeChat pushing one message or event to a server, and judge its reply as WeChat
    /// would. Exits 1 when WeChat would reject the answer.
    ///
    /// MESSAGE is `text 你好`, `subscribe [SCENE]`, `unsubscribe`, `click KEY`, `view URL`,
    /// `scan SCENE`, `image PIC_URL`, `location LAT LON`, or any message as JSON:
    /// '{"type":"link","title":"t","url":"https://example.com"}'.
    Push {
        #[command(flatten)]
        target: PushTargetArgs,
        /// The sender's openid (default: the simulator's first user).
        #[arg(long, value_name = "OPENID")]
        from: Option<String>,
        #[arg(required = true, num_args = 1.., value_name = "MESSAGE")]
        message: Vec<String>,
    },
    /// Act as WeChat checking a server URL (the GET with signature and echostr).
    Verify {
        #[command(flatten)]
        target: PushTargetArgs,
    },
}

#[derive(clap::Args, Debug)]
struct PushTargetArgs {
    /// The server's message URL, e.g. http://127.0.0.1:8000/weixin/
    #[arg(long, value_name = "URL")]
    url: String,
    /// The Token configured on the server (WXGATE_TOKEN).
    #[arg(long, env = "WXGATE_TOKEN", value_name = "TOKEN")]
    token: String,
    /// The EncodingAESKey (WXGATE_AES_KEY); needed for compatible and safe mode.
    #[arg(long, env = "WXGATE_AES_KEY", value_name = "KEY")]
    aes_key: Option<String>,
    /// plain, compatible or safe (default: safe when an AES key is given, else plain).
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// The AppID in the encrypted payload's trailer.
    #[arg(long, env = "WXGATE_APPID", default_value = DEMO_APPID, value_name = "ID")]
    appid: String,
    /// How long to wait for each delivery before WeChat's retry, in ms.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout_ms: u64,
}

impl PushTargetArgs {
    fn target(&self) -> Result<wxsim::push::PushTarget, String> {
        use wxsim::push::PushMode;
        let mode = match (self.mode.as_deref(), &self.aes_key) {
            (None, Some(_)) | (Some("safe"), _) => PushMode::Safe,
            (None, None) | (Some("plain"), _) => PushMode::Plain,
            (Some("compatible"), _) => PushMode::Compatible,
            (Some(other), _) => {
                return Err(format!("--mode {other}: use plain, compatible or safe"));
            }
        };
        if mode != PushMode::Plain && self.aes_key.is_none() {
            return Err("compatible and safe mode need --aes-key (or WXGATE_AES_KEY)".into());
        }
        let mut target = wxsim::push::PushTarget::new(&self.url, &self.token, &self.appid)
            .with_mode(mode, self.aes_key.clone());
        target.timeout_ms = self.timeout_ms;
        Ok(target)
    }
}

/// `text 你好` → a text message; `{"type": …}` → any message.
fn parse_outgoing(words: &[String]) -> Result<wxsim::push::Outgoing, String> {
    use wxsim::push::Outgoing;
    let rest = || words[1..].join(" ");
    let need = |what: &str| -> Result<String, String> {
        let r = rest();
        if r.is_empty() {
            Err(format!("`{}` needs {what}", words[0]))
        } else {
            Ok(r)
        }
    };
    let first = words[0].as_str();
    if first.trim_start().starts_with('{') {
        return serde_json::from_str(&words.join(" ")).map_err(|e| format!("message JSON: {e}"));
    }
    Ok(match first {
        "text" => Outgoing::Text {
            content: need("the text")?,
        },
        "subscribe" => Outgoing::Subscribe {
            scene: Some(rest()).filter(|s| !s.is_empty()),
        },
        "unsubscribe" => Outgoing::Unsubscribe,
        "click" => Outgoing::Click {
            key: need("the menu key")?,
        },
        "view" => Outgoing::View {
            url: need("the URL")?,
            menu_id: None,
        },
        "scan" => Outgoing::Scan {
            scene: need("the scene")?,
        },
        "image" => Outgoing::Image {
            pic_url: need("the picture URL")?,
            media_id: "sim-media".into(),
        },
        "location" => {
            let (Some(x), Some(y)) = (words.get(1), words.get(2)) else {
                return Err("`location` needs LAT and LON".into());
            };
            let num = |v: &String| {
                v.parse::<f64>()
                    .map_err(|_| format!("{v:?} is not a number"))
            };
            Outgoing::Location {
                x: num(x)?,
                y: num(y)?,
                scale: 15,
                label: String::new(),
            }
        }
        other => {
            return Err(format!(
                "unknown message {other:?}: use text, subscribe, unsubscribe, click, view, scan, image, location or JSON"
            ));
        }
    })
}

/// The configuration sources, with a warning on stderr for each `WXGATE_*` typo.
fn load_sources(file: Option<&std::path::Path>) -> Result<Sources, String> {
    let sources = Sources::load(file, std::env::vars()).map_err(|e| e.to_string())?;
    for warning in sources.warnings() {
        eprintln!("wxgate: warning: {warning}");
    }
    Ok(sources)
}

fn config_help() -> String {
    let mut s = String::from("Configuration (TOML file keys; environment variables override):\n");
    for (key, what) in KEYS {
        s.push_str(&format!(
            "  WXGATE_{:<22} {what}\n",
            key.to_ascii_uppercase()
        ));
    }
    s
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wxgate: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wxgate: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // PostgreSQL notices ("relation … already exists, skipping" at every start) are noise.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx::postgres::notice=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { config, check } => {
            let sources = load_sources(config.as_deref())?;
            let config = sources.validate().map_err(|e| e.to_string())?;
            if check {
                let public_url = config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| crate::startup::derive_public_url(config.listen));
                let host = url::Url::parse(&public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                println!("configuration OK");
                println!("  public URL: {public_url}");
                println!("  WeChat login returns to {public_url}/empower/ (网页授权域名: {host})");
                match &config.message {
                    Some(m) => println!(
                        "  message server: {public_url}{} ({:?} mode)",
                        m.path, m.mode
                    ),
                    None => println!("  message server: off (set WXGATE_TOKEN)"),
                }
                println!(
                    "  admin API: {}",
                    if config.admin_token.is_some() {
                        "on"
                    } else {
                        "off (set WXGATE_ADMIN_TOKEN)"
                    }
                );
                println!("\nAll settings (secrets redacted):\n{config:#?}");
                return Ok(());
            }
            let app = Application::build(config)
                .await
                .map_err(|e| e.to_string())?;
            println!("wxgate: serving {}/index/", app.public_url());
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Sim {
            action: Some(action),
            ..
        } => sim_action(action).await,
        Command::Sim {
            action: None,
            listen,
            appid,
            secret,
            users,
            auto_consent,
            oauth_domain,
            push_url,
            token,
            aes_key,
        } => {
            let mut sim_config = wxsim::SimConfig::new(&appid, secret);
            if let Some(path) = users {
                sim_config.users = wxsim::load_users(&path)?;
            }
            sim_config.auto_consent = auto_consent;
            sim_config.oauth_domain = oauth_domain;
            if let (Some(url), Some(token)) = (push_url, token) {
                let mode = if aes_key.is_some() {
                    wxsim::push::PushMode::Safe
                } else {
                    wxsim::push::PushMode::Plain
                };
                sim_config.push =
                    Some(wxsim::push::PushTarget::new(url, token, &appid).with_mode(mode, aes_key));
            }
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("--listen {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            println!("wxgate sim: WeChat simulator on http://{addr}/");
            println!("  point WXGATE_API_BASE and WXGATE_OAUTH_BASE at http://{addr}");
            println!("  chat with your account at http://{addr}/_sim/chat");
            wxsim::serve(listener, wxsim::Simulator::new(sim_config))
                .await
                .map_err(|e| e.to_string())
        }
        Command::Demo { config, sim_listen } => demo(config, sim_listen).await,
        Command::Token { action } => token_command(action).await,
        Command::Menu { action } => menu_command(action).await,
        Command::Users { action } => users_command(action).await,
    }
}

/// The account's configuration, database and platform credentials, for one-shot commands:
/// the same stores as `serve` (a token another instance fetched is reused, and a fetch here
/// takes the shared lock).
async fn account(
    args: &AccountArgs,
) -> Result<(crate::config::Config, crate::db::Db, Platform), String> {
    let sources = load_sources(args.config.as_deref())?;
    let config = sources.validate().map_err(|e| e.to_string())?;
    let services = crate::startup::Services::build(&config)
        .await
        .map_err(|e| e.to_string())?;
    Ok((config, services.db, services.platform))
}

fn read_menu(file: &std::path::Path) -> Result<wechat::menu::Menu, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let format = wechat::menu::MenuFormat::from_path(file);
    let menu = wechat::menu::parse_menu_file(&text, format)
        .map_err(|e| format!("{}: {e}", file.display()))?;
    if let Err(errors) = wechat::menu::validate(&menu) {
        let lines: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
        return Err(format!(
            "{} breaks WeChat's menu limits:\n{}",
            file.display(),
            lines.join("\n")
        ));
    }
    Ok(menu)
}

fn when(unix: Option<i64>) -> String {
    match unix {
        None => "never".into(),
        Some(t) => {
            let dt = time::OffsetDateTime::from_unix_timestamp(t).map(|d| {
                d.to_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap_or(time::UtcOffset::UTC))
            });
            match dt {
                Ok(d) => format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} (Beijing)",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                ),
                Err(_) => t.to_string(),
            }
        }
    }
}

async fn token_command(action: TokenAction) -> Result<(), String> {
    let TokenAction::Status {
        account: args,
        reveal,
    } = action;
    let (_, _, platform) = account(&args).await?;
    println!(
        "token API: {} ({})",
        platform.api.as_str(),
        match platform.api {
            TokenApi::Stable => "cgi-bin/stable_token",
            TokenApi::Classic => "cgi-bin/token",
        }
    );
    for credential in [&platform.access_token, &platform.jsapi_ticket] {
        let s = credential.status().await;
        println!("{}:", s.kind);
        match s.expires_in {
            Some(left) if left > 0 => {
                println!("  cached, expires in {left} s at {}", when(s.expires_at))
            }
            Some(_) => println!("  expired at {}", when(s.expires_at)),
            None => println!("  not fetched yet (fetched on first use)"),
        }
        println!("  last fetched: {}", when(s.fetched_at));
        println!(
            "  fetches from WeChat: {} (forced refreshes today: {})",
            s.fetch_count, s.forced_today
        );
    }
    if reveal {
        let token = platform.access_token.get().await.map_err(|e| explain(&e))?;
        println!("access_token: {token}");
    }
    Ok(())
}

async fn menu_command(action: MenuAction) -> Result<(), String> {
    match action {
        MenuAction::Validate { file } => {
            let menu = read_menu(&file)?;
            let leaves: usize = menu.button.iter().map(|b| b.sub_button.len().max(1)).sum();
            println!(
                "{}: valid ({} top-level buttons, {leaves} actions)",
                file.display(),
                menu.button.len()
            );
            Ok(())
        }
        MenuAction::Push {
            account: args,
            file,
            dry_run,
        } => {
            let menu = read_menu(&file)?;
            if dry_run {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&menu).map_err(|e| e.to_string())?
                );
                println!("(dry run: nothing sent)");
                return Ok(());
            }
            let (_, _, platform) = account(&args).await?;
            // Shared with PUT /admin/menu: a conditional menu replaces the one with its matchrule.
            let published = crate::menus::publish_menu(&platform, &menu)
                .await
                .map_err(|e| e.explain())?;
            for line in published.lines() {
                println!("{line}");
            }
            Ok(())
        }
        MenuAction::Get { account: args } => {
            let (_, _, platform) = account(&args).await?;
            let menus = platform.menu_get().await.map_err(|e| explain(&e))?;
            if menus.is_empty() {
                println!("no menu published yet: push one with wxgate menu push FILE");
                return Ok(());
            }
            println!(
                "{}",
                serde_json::to_string_pretty(&menus).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        MenuAction::Diff {
            account: args,
            file,
        } => {
            let local = read_menu(&file)?;
            let (_, _, platform) = account(&args).await?;
            let menus = platform.menu_get().await.map_err(|e| explain(&e))?;
            // A file with a matchrule is compared with WeChat's conditional menu of that rule.
            let (remote, which) = match &local.matchrule {
                None => {
                    if menus.menu.is_none() {
                        println!(
                            "WeChat has no default menu yet: `wxgate menu push {}` would add it",
                            file.display()
                        );
                        return Ok(());
                    }
                    (menus.default_menu(), "WeChat's default menu".to_owned())
                }
                Some(rule) => {
                    let same = menus.conditional_with(rule);
                    // WeChat shows users the newest one; menu/get lists them oldest first.
                    let Some(newest) = same.last() else {
                        println!(
                            "WeChat has no conditional menu with this matchrule ({rule}): `wxgate menu push {}` would add it",
                            file.display()
                        );
                        return Ok(());
                    };
                    if same.len() > 1 {
                        println!(
                            "note: WeChat has {} conditional menus with this matchrule; `wxgate menu push` replaces them all",
                            same.len()
                        );
                    }
                    let id = newest.menuid.as_deref().unwrap_or("?");
                    (
                        newest.menu.clone(),
                        format!("WeChat's conditional menu {id} ({rule})"),
                    )
                }
            };
            let changes = wechat::menu::diff(&local, &remote);
            if changes.is_empty() {
                println!("no differences: {which} is the menu in {}", file.display());
            } else {
                println!("{} differs from {which}:", file.display());
                for c in changes {
                    println!("  {c}");
                }
            }
            Ok(())
        }
        MenuAction::Delete {
            account: args,
            menuid,
        } => {
            let (_, _, platform) = account(&args).await?;
            match menuid.as_deref() {
                Some(id) => {
                    platform
                        .menu_delete_conditional(id)
                        .await
                        .map_err(|e| explain(&e))?;
                    println!("conditional menu {id} deleted");
                }
                None => {
                    platform.menu_delete().await.map_err(|e| explain(&e))?;
                    println!("menu deleted (the default menu and every conditional menu)");
                }
            }
            Ok(())
        }
        MenuAction::Trymatch {
            account: args,
            user,
        } => {
            let (_, _, platform) = account(&args).await?;
            let menu = platform
                .menu_try_match(&user)
                .await
                .map_err(|e| explain(&e))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&menu).map_err(|e| e.to_string())?
            );
            Ok(())
        }
    }
}

async fn users_command(action: UsersAction) -> Result<(), String> {
    let UsersAction::List {
        account: args,
        limit,
    } = action;
    // Only the database is needed: no AppID or secret to read who logged in.
    let sources = load_sources(args.config.as_deref())?;
    let url = sources.get("database_url").unwrap_or("sqlite://wxgate.db");
    let db = crate::db::Db::connect(url)
        .await
        .map_err(|e| format!("configuration error: WXGATE_DATABASE_URL (database_url): {e}"))?;
    let users = crate::db::users::list_users(&db, limit.clamp(1, 10_000), 0)
        .await
        .map_err(|e| e.to_string())?;
    if users.is_empty() {
        println!("no users yet: nobody has logged in through /auth/");
    }
    for u in users {
        println!(
            "{}  {:<16}  {:<15}  last login {}",
            u.openid,
            u.nickname.as_deref().unwrap_or("-"),
            u.scope,
            when(Some(u.last_login))
        );
    }
    Ok(())
}

async fn sim_action(action: SimAction) -> Result<(), String> {
    match action {
        SimAction::Push {
            target,
            from,
            message,
        } => {
            let target = target.target()?;
            let message = parse_outgoing(&message)?;
            let from = from.unwrap_or_else(|| wxsim::default_users()[0].openid.clone());
            let report = wxsim::push::push(&target, &from, &message).await;
            println!("{report}");
            if report.ok() {
                Ok(())
            } else {
                Err(format!(
                    "WeChat would reject this answer ({} problems)",
                    report.problems.len()
                ))
            }
        }
        SimAction::Verify { target } => {
            let report = wxsim::push::verify_url(&target.target()?).await;
            println!("{report}");
            if report.ok {
                Ok(())
            } else {
                Err("URL verification failed".into())
            }
        }
    }
}

async fn demo(config: Option<PathBuf>, sim_listen: SocketAddr) -> Result<(), String> {
    // The simulator's port first: the server's configuration points at it.
    let listener = tokio::net::TcpListener::bind(sim_listen)
        .await
        .map_err(|e| format!("--sim-listen {sim_listen}: {e}"))?;
    let sim_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let sim_url = format!("http://{sim_addr}");

    let mut sources = load_sources(config.as_deref())?;
    sources.set("appid", DEMO_APPID);
    sources.set("secret", DEMO_SECRET);
    sources.set("api_base", &sim_url);
    sources.set("oauth_base", &sim_url);
    sources.default_value("database_url", "sqlite://wxgate-demo.db");
    sources.default_value("token", DEMO_TOKEN);
    sources.default_value("aes_key", DEMO_AES_KEY);
    if !sources.has_rules() {
        sources.set_rules(demo_rules());
    }
    let config = sources.validate().map_err(|e| e.to_string())?;
    let app = Application::build(config).await.map_err(|e| {
        format!("{e}\n  (another program may be using the port: try WXGATE_LISTEN=127.0.0.1:0)")
    })?;

    // The simulator pushes to the server in safe mode, as a careful account is configured.
    let mut sim_config = wxsim::SimConfig::new(DEMO_APPID, DEMO_SECRET);
    if let Some(messages) = &app.state.config.message {
        let mode = if messages.aes_key.is_some() {
            wxsim::push::PushMode::Safe
        } else {
            wxsim::push::PushMode::Plain
        };
        let aes_key = sources.get("aes_key").map(str::to_owned);
        sim_config.push = Some(
            wxsim::push::PushTarget::new(
                format!("{}{}", app.public_url(), messages.path),
                messages.token.secret(),
                DEMO_APPID,
            )
            .with_mode(mode, aes_key),
        );
    }
    let sim = wxsim::Simulator::new(sim_config);
    tokio::spawn(async move {
        if let Err(e) = wxsim::serve(listener, sim).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });

    // A live demo account has a menu: the seed's, with 主页 pointing at this server.
    let menu_text = include_str!("../../../examples/menu.toml").replace(
        "http://127.0.0.1:8000/auth/",
        &format!("{}/auth/", app.public_url()),
    );
    let menu = wechat::menu::parse_menu_file(&menu_text, wechat::menu::MenuFormat::Toml)
        .map_err(|e| format!("examples/menu.toml: {e}"))?;
    let platform = &app.state.platform;
    if let Err(e) = platform.menu_create(&menu).await {
        tracing::warn!(error = %explain(&e), "could not publish the demo menu");
    }

    println!("wxgate demo: WeChat simulator on {sim_url}/ (appid {DEMO_APPID})");
    println!("wxgate demo: chat with the account at {sim_url}/_sim/chat");
    println!("wxgate demo: open {}/index/ in a browser", app.public_url());
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// The reply rules the demo ships (src/demo.toml): a welcome on subscribe, the seed's menu key
/// V1001_SUNCK, and an echo.
pub fn demo_rules() -> Vec<toml::Value> {
    let table: toml::Table = include_str!("demo.toml")
        .parse()
        .expect("src/demo.toml is valid TOML");
    table["rules"]
        .as_array()
        .expect("src/demo.toml has [[rules]]")
        .clone()
}
