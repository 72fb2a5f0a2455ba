//! README's commands, run as a reader would type them. Every `wxgate …` and `cargo run
//! --release -- …` line in README's shell blocks is read from README itself (so the two cannot
//! drift), its placeholders (`TOKEN`, `KEY`, `URL`, …) filled in, and run against a real server
//! and simulator on loopback. A command this test does not know how to run offline fails it:
//! add it here when README gains one. (README's first command, `demo`, is run by
//! scripts/check-first-command in CI exactly as written.)

mod common;

use std::path::Path;
use std::time::Duration;

use common::{APPID, SECRET, spawn_sim};

const TOKEN: &str = "readmetoken";
/// 张三, the simulator's first user.
const ZHANG_SAN: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
        .expect("README.md at the repository root")
}

/// The commands in README's ```sh blocks: continuation lines joined, comments dropped.
fn shell_commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let line = match line.find("  #") {
            Some(i) => &line[..i],
            None => line,
        };
        let line = line.trim();
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let command = std::mem::take(&mut pending).trim().to_owned();
        if !command.is_empty() {
            commands.push(command);
        }
    }
    commands
}

/// Shell words, with '…' and "…" quoting (enough for README).
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut any = false;
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                any = false;
            }
            (None, c) => word.push(c),
        }
    }
    if any || !word.is_empty() {
        out.push(word);
    }
    out
}

type Env = Vec<(String, String)>;

/// A README command as the binary's arguments, and the `VAR=value` settings before it; `None`
/// for commands that are not wxgate's (scripts, curl).
fn wxgate_args(command: &str) -> Option<(Env, Vec<String>)> {
    let mut env = Vec::new();
    let mut rest = words(command);
    while let Some((k, v)) = rest.first().and_then(|w| w.split_once('='))
        && k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    {
        env.push((k.to_owned(), v.to_owned()));
        rest.remove(0);
    }
    let args = match rest.first().map(String::as_str) {
        Some("wxgate") => rest[1..].to_vec(),
        Some("cargo") if rest[..4] == ["cargo", "run", "--release", "--"] => rest[4..].to_vec(),
        _ => return None,
    };
    // `[--flag value]` is optional: a reader may leave it out, and so does this test.
    let mut kept = Vec::new();
    let mut optional = false;
    for a in args {
        if a.starts_with('[') {
            optional = true;
        }
        if !optional {
            kept.push(a.clone());
        }
        if a.ends_with(']') {
            optional = false;
        }
    }
    Some((env, kept))
}

fn wxgate(args: &[String], env: &[(String, String)]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            c.env_remove(k);
        }
    }
    c.args(args).envs(env.iter().map(|(k, v)| (k, v)));
    c.kill_on_drop(true);
    c
}

async fn run_ok(args: &[String], env: &[(String, String)]) -> String {
    let out = tokio::time::timeout(Duration::from_secs(60), wxgate(args, env).output())
        .await
        .expect("finishes within a minute")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wxgate {}\nstdout:\n{stdout}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Fills README's placeholders with values that work against `server`.
fn fill(args: &[String], server: &str) -> Vec<String> {
    args.iter()
        .map(|a| match a.as_str() {
            "TOKEN" => TOKEN.to_owned(),
            "KEY" => KEY.to_owned(),
            "APPID" => APPID.to_owned(),
            "URL" => "https://example.com/pic.jpg".to_owned(),
            "SCENE" => "poster".to_owned(),
            "OPENID" => "o6_bmjrPTlm6_2sgVt7hMZOPfL2M".to_owned(), // 张三 in the simulator
            other => other.replace("http://127.0.0.1:8000", server),
        })
        .collect()
}

#[tokio::test]
async fn every_wxgate_command_in_readme_runs_as_shown() {
    let readme = readme();
    let commands = shell_commands(&readme);
    assert!(
        commands
            .iter()
            .any(|c| c.starts_with("cargo run --release -- demo")),
        "README's first command is `cargo run --release -- demo`: {commands:?}"
    );

    let sim = spawn_sim().await;
    let db = common::temp_db();
    let app = common::spawn_app_on(
        &sim.url,
        &db,
        &[
            ("token", TOKEN),
            ("aes_key", KEY),
            ("message_mode", "compatible"),
        ],
    )
    .await;
    // CLI commands that read the account's configuration use this one.
    let account_env: Vec<(String, String)> = [
        ("WXGATE_APPID", APPID.to_owned()),
        ("WXGATE_SECRET", SECRET.to_owned()),
        ("WXGATE_API_BASE", sim.url.clone()),
        ("WXGATE_OAUTH_BASE", sim.url.clone()),
        ("WXGATE_DATABASE_URL", db.url.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();

    let mut ran = 0;
    let mut last_push: Option<Vec<String>> = None;
    // QR codes and media: README's FILE is a picture, --png writes to a temporary folder.
    let files = std::env::temp_dir().join(format!(
        "wxgate-readme-{}",
        wechat::State::generate().as_str()
    ));
    std::fs::create_dir_all(&files).unwrap();
    let picture = files.join("welcome.png");
    std::fs::write(&picture, include_bytes!("../src/demo-welcome.png")).unwrap();
    let mut last_media_id: Option<String> = None;
    for command in &commands {
        let Some((env, args)) = wxgate_args(command) else {
            continue;
        };
        let head: Vec<&str> = args.iter().take(2).map(String::as_str).collect();
        match head.as_slice() {
            ["demo", ..] => {} // scripts/check-first-command runs it exactly as written
            ["serve", ..] => {
                // Placeholders (`wx...`) become a real-looking account; --check never listens.
                let mut env: Vec<(String, String)> = env
                    .into_iter()
                    .map(|(k, v)| match k.as_str() {
                        "WXGATE_APPID" => (k, "wxffde55b11cc79754".to_owned()),
                        "WXGATE_SECRET" => (k, "84e86527f090d6238ea1c0b96f5fc753".to_owned()),
                        _ => (k, v),
                    })
                    .collect();
                env.push(("WXGATE_DATABASE_URL".into(), account_env[4].1.clone()));
                let mut args = args.clone();
                args.push("--check".into());
                let out = run_ok(&args, &env).await;
                assert!(out.contains("网页授权域名: wx.example.com"), "{out}");
                ran += 1;
            }
            ["sim", "verify"] => {
                let out = run_ok(&fill(&args, &app.url), &[]).await;
                assert!(out.to_lowercase().contains("ok"), "{out}");
                ran += 1;
            }
            ["sim", "push"] if args.get(2).map(String::as_str) == Some("...") => {
                // `wxgate sim push ... a | b | c`: each alternative, with the flags of the full
                // `sim push` line above it.
                let base = last_push
                    .as_ref()
                    .expect("a full `wxgate sim push` line comes before the `...` ones");
                let alternatives = command.split_once(" ... ").unwrap().1;
                for alternative in alternatives.split(" | ") {
                    let mut full = base.clone();
                    full.extend(words(alternative));
                    run_ok(&fill(&full, &app.url), &[]).await;
                    ran += 1;
                }
            }
            ["sim", "push"] => {
                let at = args
                    .iter()
                    .position(|a| !a.starts_with("--") && a != "sim" && a != "push")
                    .and_then(|i| {
                        // Skip flag values: the message starts after the last `--flag value`.
                        let last_flag = args.iter().rposition(|a| a.starts_with("--"))?;
                        Some(i.max(last_flag + 2))
                    })
                    .unwrap();
                last_push = Some(args[..at].to_vec());
                run_ok(&fill(&args, &app.url), &[]).await;
                ran += 1;
            }
            ["followers", ..] | ["tags", ..] => {
                run_ok(&fill(&args, &app.url), &account_env).await;
            }
            // Messages to a user: the demo account's templates, 张三, who accepted the
            // subscription template first.
            ["send", kind] => {
                let template = match *kind {
                    "subscribe" => wxsim::notify::APPOINTMENT,
                    _ => wxsim::notify::ORDER_SHIPPED,
                };
                if *kind == "subscribe" {
                    sim.sim.accept_subscription(ZHANG_SAN, template).unwrap();
                }
                let args: Vec<String> = args
                    .iter()
                    .map(|a| match a.as_str() {
                        "OPENID" => ZHANG_SAN.to_owned(),
                        "TEMPLATE_ID" => template.to_owned(),
                        other => other.to_owned(),
                    })
                    .collect();
                let out = run_ok(&args, &account_env).await;
                if *kind == "log" {
                    assert!(out.contains("via cli"), "{out}");
                } else if *kind == "templates" {
                    assert!(out.contains("订单发货通知"), "{out}");
                } else {
                    assert!(out.starts_with("sent"), "{out}");
                }
                ran += 1;
            }
            ["token", "status"] => {
                let out = run_ok(&args, &account_env).await;
                if args.iter().any(|a| a == "--reveal") {
                    assert!(out.contains("access_token: "), "{out}");
                }
                ran += 1;
            }
            ["sim", ..] => {
                // The simulator itself: on a free port instead of the one README shows, and
                // asked what it is.
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let args: Vec<String> = args
                    .iter()
                    .map(|a| a.replace("127.0.0.1:9000", &format!("127.0.0.1:{port}")))
                    .collect();
                let mut child = wxgate(&args, &env)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .unwrap();
                let url = format!("http://127.0.0.1:{port}/");
                let mut answered = None;
                for _ in 0..100 {
                    if let Ok(r) = reqwest::get(&url).await {
                        answered = Some(r.text().await.unwrap());
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                child.kill().await.unwrap();
                let page = answered.unwrap_or_else(|| panic!("`{command}` serves {url}"));
                assert!(page.contains(APPID), "{page}");
                ran += 1;
            }
            ["qrcode", ..] | ["media", ..] => {
                let args: Vec<String> = fill(&args, &app.url)
                    .into_iter()
                    .map(|a| match a.as_str() {
                        "FILE" => picture.display().to_string(),
                        "poster.png" => files.join("poster.png").display().to_string(),
                        "MEDIA_ID" => last_media_id
                            .clone()
                            .expect("a `wxgate media upload` line comes before `media delete`"),
                        _ => a,
                    })
                    .collect();
                let out = run_ok(&args, &account_env).await;
                if let Some(id) = out.lines().find_map(|l| l.strip_prefix("media_id: ")) {
                    last_media_id = Some(id.trim().to_owned());
                }
                ran += 1;
            }
            _ => panic!(
                "README shows `{command}`, which this test does not know how to run: teach it"
            ),
        }
    }
    assert!(ran >= 10, "only {ran} README commands ran: {commands:?}");
    assert!(
        files.join("poster.png").exists(),
        "`wxgate qrcode create … --png poster.png` saved the image"
    );
    std::fs::remove_dir_all(&files).ok();
}

/// README's menu example shows what `wxgate menu validate` prints for a file with four
/// mistakes; this builds such a file and compares, line for line.
#[tokio::test]
async fn readme_menu_validate_example_is_what_the_binary_prints() {
    let readme = readme();
    let start = readme
        .find("$ wxgate menu validate menu.toml\n")
        .expect("README shows `$ wxgate menu validate menu.toml`");
    let shown: Vec<&str> = readme[start..]
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();

    let dir = std::env::temp_dir().join(format!(
        "wxgate-readme-{}",
        wechat::State::generate().as_str()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("menu.toml"),
        r#"
[[button]]
type = "view"
name = "一二三四五六"
url = "https://a.example/"

[[button]]
name = "菜单"
[[button.sub_button]]
type = "view"
name = "网站"
url = "www.example.com"
[[button.sub_button]]
type = "click"
name = "赞"
[[button.sub_button]]
type = "view"
name = "b"
url = "https://b.example/"
[[button.sub_button]]
type = "view"
name = "c"
url = "https://c.example/"

[[button]]
name = "链接"
[[button.sub_button]]
type = "view"
name = "d"
url = "https://d.example/"
"#,
    )
    .unwrap();
    let out = wxgate(&["menu".into(), "validate".into(), "menu.toml".into()], &[])
        .current_dir(&dir)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let printed = String::from_utf8_lossy(&out.stderr).into_owned();
    let printed: Vec<&str> = printed.lines().collect();
    assert_eq!(printed, shown);

    // And the seed's menu in examples/ is valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/menu.toml");
    run_ok(
        &[
            "menu".into(),
            "validate".into(),
            example.display().to_string(),
        ],
        &[],
    )
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_command_reader_understands_readme_syntax() {
    let (env, args) = wxgate_args(
        "WXGATE_APPID=wx... X_Y=1 cargo run --release -- sim --listen a [--users u.json] [--auto-consent]",
    )
    .unwrap();
    assert_eq!(env.len(), 2);
    assert_eq!(args, ["sim", "--listen", "a"]);
    assert_eq!(
        words(r#"wxgate sim push ... '{"type":"link"}' "a b""#),
        ["wxgate", "sim", "push", "...", r#"{"type":"link"}"#, "a b"]
    );
    assert!(wxgate_args("scripts/test").is_none());
}

/// Every configuration key is in README's table, with its environment variable.
#[test]
fn readme_lists_every_configuration_key() {
    let readme = readme();
    for (key, _) in wxgate::config::KEYS {
        let row = format!("| `WXGATE_{}` | `{key}` |", key.to_ascii_uppercase());
        assert!(
            readme.contains(&row),
            "README's configuration table lacks {row}"
        );
    }
}
