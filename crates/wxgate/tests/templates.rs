//! WXGATE_TEMPLATE_DIR: a file there overrides the embedded template of the same name.

mod common;

use common::*;

/// A folder of template files, removed when dropped.
struct TemplateDir(std::path::PathBuf);

impl Drop for TemplateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn template_dir(files: &[(&str, &str)]) -> TemplateDir {
    let dir =
        std::env::temp_dir().join(format!("wxgate-tpl-{}", wechat::State::generate().as_str()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    TemplateDir(dir)
}

#[tokio::test]
async fn an_override_replaces_one_template_and_keeps_escaping() {
    let dir = template_dir(&[(
        "index.html",
        r#"{% extends "base.html" %}{% block content %}<p id="custom">我的首页</p><h1 id="greeting">欢迎:{{ user.name if user else "游客" }}</h1>{% endblock %}"#,
    )]);
    let sim = spawn_sim().await;
    let app = spawn_app(&sim.url, &[("template_dir", dir.0.to_str().unwrap())]).await;
    let b = Browser::new();
    let p = b.get(&format!("{}/index/", app.url)).await;
    assert!(p.body.contains("id=\"custom\""), "{}", p.body);
    assert!(
        p.body.contains("name=\"viewport\""),
        "the embedded base.html still applies"
    );
    b.login(&app, XSS).await;
    let p = b.get(&format!("{}/index/", app.url)).await;
    assert!(!p.body.contains("<script>alert"), "{}", p.body);
}

#[tokio::test]
async fn a_broken_override_stops_start_up_naming_the_key() {
    let dir = template_dir(&[("message.html", "{% if %}")]);
    let mut sources = wxgate::config::Sources::default();
    for (k, v) in [
        ("listen", "127.0.0.1:0"),
        ("appid", APPID),
        ("secret", SECRET),
        ("database_url", "sqlite::memory:"),
        ("template_dir", dir.0.to_str().unwrap()),
    ] {
        sources.set(k, v);
    }
    let config = sources.validate().unwrap();
    let e = wxgate::startup::Application::build(config)
        .await
        .err()
        .expect("start-up fails");
    let text = e.to_string();
    assert!(
        text.contains("WXGATE_TEMPLATE_DIR") && text.contains("message.html"),
        "{text}"
    );
}
