//! The binary as a newcomer meets it: --help, --version, and configuration errors that name
//! the key in one line.

use std::process::Command;

fn wxgate() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn help_lists_the_commands_and_every_config_key() {
    let out = wxgate().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "serve",
        "sim",
        "demo",
        "WXGATE_APPID",
        "WXGATE_DATABASE_URL",
        "WXGATE_TEMPLATE_DIR",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    let out = wxgate().arg("--version").output().unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("wxgate ")
    );
    let out = wxgate().args(["sim", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--appid",
        "--secret",
        "--users",
        "--auto-consent",
    ] {
        assert!(text.contains(flag), "{flag}");
    }
}

#[test]
fn serve_without_an_appid_stops_with_one_line_naming_the_key() {
    let out = wxgate().arg("serve").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("WXGATE_APPID"), "{err}");
}

#[test]
fn serve_check_validates_and_never_prints_the_secret() {
    let out = wxgate()
        .args(["serve", "--check"])
        .env("WXGATE_APPID", "wxffde55b11cc79754")
        .env("WXGATE_SECRET", "84e86527f090d6238ea1c0b96f5fc753")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("configuration OK"));
    assert!(all.contains("wxffde55b11cc79754"));
    assert!(!all.contains("84e86527f090d6238ea1c0b96f5fc753"), "{all}");

    let out = wxgate()
        .args(["serve", "--check"])
        .env("WXGATE_APPID", "wxffde55b11cc79754")
        .env("WXGATE_SECRET", "84e86527f090d6238ea1c0b96f5fc753")
        .env("WXGATE_OAUTH_BASE", "open.weixin.qq.com")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("WXGATE_OAUTH_BASE"));
}

#[test]
fn a_missing_config_file_is_named() {
    let out = wxgate()
        .args(["serve", "--config", "/nonexistent/wxgate.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/wxgate.toml"));
}
