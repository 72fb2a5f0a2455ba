//! `wxgate sim`: the offline WeChat simulator, and (`push`, `verify`) acting as WeChat towards a
//! server.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Subcommand;

use super::{DEMO_APPID, DEMO_SECRET};

/// `wxgate sim`'s options: the simulator's, or one of its actions.
#[derive(clap::Args, Debug)]
pub(super) struct SimArgs {
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
}

/// Serves the simulator, or runs the action asked for.
pub(super) async fn run(args: SimArgs) -> Result<(), String> {
    let SimArgs {
        action,
        listen,
        appid,
        secret,
        users,
        auto_consent,
        oauth_domain,
        push_url,
        token,
        aes_key,
    } = args;
    if let Some(action) = action {
        return act(action).await;
    }
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

#[derive(Subcommand, Debug)]
pub(super) enum SimAction {
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
pub(super) struct PushTargetArgs {
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
pub(super) fn parse_outgoing(words: &[String]) -> Result<wxsim::push::Outgoing, String> {
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
            ticket: None,
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
            ticket: None,
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

async fn act(action: SimAction) -> Result<(), String> {
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
