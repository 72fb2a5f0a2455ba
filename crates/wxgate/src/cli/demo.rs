//! `wxgate demo`: the simulator and the server together on loopback, with the demo account.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{DEMO_AES_KEY, DEMO_APPID, DEMO_SECRET, DEMO_TOKEN, load_sources};
use crate::platform::explain;
use crate::startup::Application;

pub(super) async fn run(config: Option<PathBuf>, sim_listen: SocketAddr) -> Result<(), String> {
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
        sources.set_base_dir(demo_media_dir()?);
    }
    // Metrics on a free port, and the API gateway with a token made for this run, so both can
    // be tried at once.
    sources.default_value("metrics_listen", "127.0.0.1:0");
    let api_token = hex::encode(rand::random::<[u8; 16]>());
    sources.default_value("api_token", &api_token);
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
    let menu_text = include_str!("../../../../examples/menu.toml").replace(
        "http://127.0.0.1:8000/auth/",
        &format!("{}/auth/", app.public_url()),
    );
    let menu =
        crate::menus::file::parse_menu_file(&menu_text, crate::menus::file::MenuFormat::Toml)
            .map_err(|e| format!("examples/menu.toml: {e}"))?;
    let platform = &app.state.platform;
    if let Err(e) = platform.menu_create(&menu).await {
        tracing::warn!(error = %explain(&e), "could not publish the demo menu");
    }
    // And a QR code with a scene, for the chat page's 扫一扫 and the metro_poster rule.
    let lifetime = crate::qrcodes::Lifetime::Permanent;
    match crate::qrcodes::create(&app.state.db, platform, DEMO_SCENE, lifetime).await {
        Ok(code) => println!(
            "wxgate demo: QR code for scene {DEMO_SCENE}: {} (扫一扫 in the chat page)",
            code.image_url
        ),
        Err(e) => tracing::warn!(error = %e, "could not create the demo QR code"),
    }

    println!("wxgate demo: WeChat simulator on {sim_url}/ (appid {DEMO_APPID})");
    println!("wxgate demo: chat with the account at {sim_url}/_sim/chat");
    println!("wxgate demo: open {}/index/ in a browser", app.public_url());
    if let Some(addr) = app.metrics_addr() {
        println!("wxgate demo: metrics at http://{addr}/metrics");
    }
    if sources.get("api_token") == Some(api_token.as_str()) {
        println!(
            "wxgate demo: API gateway: curl -H 'Authorization: Bearer {api_token}' {}/api/cgi-bin/menu/get",
            app.public_url()
        );
    }
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// The scene of the QR code the demo creates (a rule in src/demo.toml answers it).
pub const DEMO_SCENE: &str = "metro_poster";

/// The picture of the demo's image reply (made for the demo, no one else's).
const DEMO_PICTURE: &[u8] = include_bytes!("../demo-welcome.png");

/// The folder the demo's rules name files in: `<temp dir>/wxgate-demo-<uid>`, private to the
/// user (0700, checked to be a real directory the user owns, so another local user cannot
/// plant a symlink there), with `media/welcome.png` written (only when missing or different,
/// so its upload is reused), so the demo works from any working directory.
pub fn demo_media_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(private_name("wxgate-demo"));
    let media = dir.join("media");
    let file = media.join("welcome.png");
    let fail =
        |e: std::io::Error| format!("cannot write the demo's picture {}: {e}", file.display());
    private_dir(&dir).map_err(fail)?;
    private_dir(&media).map_err(fail)?;
    if std::fs::read(&file).ok().as_deref() != Some(DEMO_PICTURE) {
        std::fs::write(&file, DEMO_PICTURE).map_err(fail)?;
    }
    Ok(dir)
}

#[cfg(unix)]
fn private_name(base: &str) -> String {
    // SAFETY: getuid cannot fail and touches no memory.
    format!("{base}-{}", unsafe { libc::getuid() })
}

#[cfg(not(unix))]
fn private_name(base: &str) -> String {
    base.to_owned()
}

/// Creates `dir` readable by its owner only, or checks that the one there is a directory (not a
/// symlink) this user owns and nobody else can write to.
fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    match builder.create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let refuse = |why: &str| Err(std::io::Error::other(format!("{} {why}", dir.display())));
    if !meta.file_type().is_dir() {
        return refuse("is not a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: as above.
        if meta.uid() != unsafe { libc::getuid() } || meta.mode() & 0o022 != 0 {
            return refuse("belongs to another user or others may write to it");
        }
    }
    Ok(())
}

/// The reply rules the demo ships (src/demo.toml): a QR scene's welcome, a welcome on subscribe,
/// the seed's menu key V1001_SUNCK, a picture, and an echo. Its file is in [`demo_media_dir`].
pub fn demo_rules() -> Vec<toml::Value> {
    let table: toml::Table = include_str!("../demo.toml")
        .parse()
        .expect("src/demo.toml is valid TOML");
    table["rules"]
        .as_array()
        .expect("src/demo.toml has [[rules]]")
        .clone()
}

#[cfg(all(test, unix))]
mod tests {
    use super::private_dir;

    /// Another local user could plant a symlink at the demo's folder in the shared temp dir;
    /// the demo must not write through it.
    #[test]
    fn a_planted_symlink_or_open_folder_is_refused() {
        let base = std::env::temp_dir().join(format!(
            "wxgate-private-dir-test-{}",
            wechat::State::generate().as_str()
        ));
        std::fs::create_dir(&base).unwrap();
        let target = base.join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let link = base.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(private_dir(&link).is_err(), "a symlink");
        let open = base.join("open");
        std::fs::create_dir(&open).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(private_dir(&open).is_err(), "a folder anyone may write to");
        let fresh = base.join("fresh");
        private_dir(&fresh).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        private_dir(&fresh).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }
}
