//! The `wxgate` command line: this file parses it and sets up what every command shares; each
//! command group has its file: [`serve`], [`sim`], [`demo`], [`token`], [`menu`], [`users`],
//! [`quota`], [`followers`] (also `wxgate tags`), [`qrcode`], [`media`], [`send`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{KEYS, Sources};
use crate::platform::Platform;

/// The demo account (`wxsim::demo`): used only between `wxgate demo`'s own simulator and server.
pub use wxsim::demo::{
    AES_KEY as DEMO_AES_KEY, APPID as DEMO_APPID, SECRET as DEMO_SECRET, TOKEN as DEMO_TOKEN,
};

mod demo;
mod followers;
mod media;
mod menu;
mod qrcode;
mod quota;
mod send;
mod serve;
mod sim;
mod token;
mod users;

pub use demo::{demo_media_dir, demo_rules};
use followers::{FollowersAction, TagsAction};
use media::MediaAction;
use menu::MenuAction;
use qrcode::QrCodeAction;
use send::SendAction;
use token::TokenAction;
use users::UsersAction;

#[derive(Parser, Debug)]
#[command(
    name = "wxgate",
    version,
    about = "The whole backend of a WeChat Official Account (公众号): web login, the message server, menus, JS-SDK, QR codes, media, notifications, followers, an API gateway, and an offline WeChat simulator.",
    long_about = "The whole backend of a WeChat Official Account (公众号): web login (网页授权), the message server (/weixin/), the base access_token, custom menus, JS-SDK signatures, QR codes with scenes, media, notifications and customer-service messages, followers and tags, an API gateway for the account's other programs with Prometheus metrics, and an offline WeChat simulator.\n\nNew here? `wxgate demo` runs everything on loopback with no WeChat account.",
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
    Sim(sim::SimArgs),
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
    /// WeChat's daily quota use of the APIs wxgate calls, or of PATH (e.g. cgi-bin/user/info).
    Quota {
        #[command(flatten)]
        account: AccountArgs,
        /// One API's path; default: the APIs wxgate itself calls.
        path: Option<String>,
    },
    /// What WeChat recorded for a failed call: RID is the end of its errmsg ("… rid: RID").
    Rid {
        #[command(flatten)]
        account: AccountArgs,
        rid: String,
    },
    /// QR codes with scenes (带参数二维码): create, list.
    Qrcode {
        #[command(subcommand)]
        action: QrCodeAction,
    },
    /// Media and permanent material (素材): upload, list, delete.
    Media {
        #[command(subcommand)]
        action: MediaAction,
    },
    /// The people who logged in through the web login.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
    /// The account's followers (关注者): sync them into the database, list them (by tag),
    /// remarks and the blacklist.
    Followers {
        #[command(subcommand)]
        action: FollowersAction,
    },
    /// The account's tags (用户标签): list, create, rename, delete, give and take them.
    Tags {
        #[command(subcommand)]
        action: TagsAction,
    },
    /// Messages to a user: template messages, subscription notices, customer-service messages,
    /// and the log of what was sent.
    Send {
        #[command(subcommand)]
        action: SendAction,
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
pub(super) struct AccountArgs {
    /// TOML configuration file; WXGATE_* environment variables override it.
    #[arg(long, env = "WXGATE_CONFIG", value_name = "PATH")]
    pub(super) config: Option<PathBuf>,
}

/// The configuration sources, with a warning on stderr for each `WXGATE_*` typo.
pub(super) fn load_sources(file: Option<&std::path::Path>) -> Result<Sources, String> {
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
        Command::Serve { config, check } => serve::run(config, check).await,
        Command::Sim(args) => sim::run(args).await,
        Command::Demo { config, sim_listen } => demo::run(config, sim_listen).await,
        Command::Token { action } => token::run(action).await,
        Command::Menu { action } => menu::run(action).await,
        Command::Users { action } => users::run(action).await,
        Command::Send { action } => send::run(action).await,
        Command::Quota { account, path } => quota::quota(account, path).await,
        Command::Rid { account, rid } => quota::rid(account, rid).await,
        Command::Followers { action } => followers::run(action).await,
        Command::Tags { action } => followers::run_tags(action).await,
        Command::Qrcode { action } => qrcode::run(action).await,
        Command::Media { action } => media::run(action).await,
    }
}

/// The account's configuration, database and platform credentials, for one-shot commands:
/// the same stores as `serve` (a token another instance fetched is reused, and a fetch here
/// takes the shared lock).
pub(super) async fn account(
    args: &AccountArgs,
) -> Result<(crate::config::Config, crate::db::Db, Platform), String> {
    let sources = load_sources(args.config.as_deref())?;
    let config = sources.validate().map_err(|e| e.to_string())?;
    let services = crate::startup::Services::build(&config)
        .await
        .map_err(|e| e.to_string())?;
    Ok((config, services.db, services.platform))
}

pub(super) fn when(unix: Option<i64>) -> String {
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
