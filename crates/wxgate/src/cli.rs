//! The `wxgate` command line: `serve`, `sim` and `demo`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{KEYS, Sources};
use crate::startup::Application;

/// The demo account: used only between `wxgate demo`'s own simulator and server.
pub const DEMO_APPID: &str = "wx5d3ad7e0c0ffee00";
pub const DEMO_SECRET: &str = "demosecretnotforproduction000000";

#[derive(Parser, Debug)]
#[command(
    name = "wxgate",
    version,
    about = "The whole backend of a WeChat Official Account (公众号): web login, and an offline WeChat simulator.",
    after_help = config_help()
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

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
    /// Run the offline WeChat simulator: the OAuth consent page and the sns/* and token APIs.
    Sim {
        #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
        listen: SocketAddr,
        #[arg(long, default_value = DEMO_APPID, value_name = "ID")]
        appid: String,
        #[arg(long, default_value = DEMO_SECRET, value_name = "S")]
        secret: String,
        /// JSON file with the simulated users (default: four built-in users).
        #[arg(long, value_name = "FILE")]
        users: Option<PathBuf>,
        /// snsapi_userinfo logins skip the consent page and log in as the first user.
        #[arg(long)]
        auto_consent: bool,
        /// The 网页授权域名 to enforce on redirect_uri (host[:port]); unchecked when absent.
        #[arg(long, value_name = "HOST")]
        oauth_domain: Option<String>,
    },
    /// Run the simulator and the server together on loopback: try the whole login with no
    /// WeChat account and no internet.
    Demo {
        /// TOML configuration file; WXGATE_* environment variables override it.
        #[arg(long, env = "WXGATE_CONFIG", value_name = "PATH")]
        config: Option<PathBuf>,
        /// Where the simulator listens.
        #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
        sim_listen: SocketAddr,
    },
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
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve { config, check } => {
            let sources =
                Sources::load(config.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
            let config = sources.validate().map_err(|e| e.to_string())?;
            if check {
                println!("configuration OK: {config:#?}");
                return Ok(());
            }
            let app = Application::build(config)
                .await
                .map_err(|e| e.to_string())?;
            println!("wxgate: serving {}/index/", app.public_url());
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Sim {
            listen,
            appid,
            secret,
            users,
            auto_consent,
            oauth_domain,
        } => {
            let mut sim_config = wxsim::SimConfig::new(appid, secret);
            if let Some(path) = users {
                sim_config.users = wxsim::load_users(&path)?;
            }
            sim_config.auto_consent = auto_consent;
            sim_config.oauth_domain = oauth_domain;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| format!("--listen {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            println!("wxgate sim: WeChat simulator on http://{addr}/");
            println!("  point WXGATE_API_BASE and WXGATE_OAUTH_BASE at http://{addr}");
            wxsim::serve(listener, wxsim::Simulator::new(sim_config))
                .await
                .map_err(|e| e.to_string())
        }
        Command::Demo { config, sim_listen } => demo(config, sim_listen).await,
    }
}

async fn demo(config: Option<PathBuf>, sim_listen: SocketAddr) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(sim_listen)
        .await
        .map_err(|e| format!("--sim-listen {sim_listen}: {e}"))?;
    let sim_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let sim_url = format!("http://{sim_addr}");
    let sim = wxsim::Simulator::new(wxsim::SimConfig::new(DEMO_APPID, DEMO_SECRET));
    tokio::spawn(async move {
        if let Err(e) = wxsim::serve(listener, sim).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });

    let mut sources =
        Sources::load(config.as_deref(), std::env::vars()).map_err(|e| e.to_string())?;
    sources.set("appid", DEMO_APPID);
    sources.set("secret", DEMO_SECRET);
    sources.set("api_base", &sim_url);
    sources.set("oauth_base", &sim_url);
    sources.default_value("database_url", "sqlite://wxgate-demo.db");
    let config = sources.validate().map_err(|e| e.to_string())?;
    let app = Application::build(config).await.map_err(|e| {
        format!("{e}\n  (another program may be using the port: try WXGATE_LISTEN=127.0.0.1:0)")
    })?;
    println!("wxgate demo: WeChat simulator on {sim_url}/ (appid {DEMO_APPID})");
    println!("wxgate demo: open {}/index/ in a browser", app.public_url());
    app.run_until_stopped().await.map_err(|e| e.to_string())
}
