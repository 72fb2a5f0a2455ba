//! Media end to end: a rule replying with a local file (checked at start-up naming the rule,
//! uploaded once at start as permanent material, reused, uploaded again when the file changes),
//! `wxgate media upload|list|delete` and `/admin/media` against the simulator, and the
//! refusals made before any upload.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;
use wxgate::config::Sources;
use wxsim::push::{Outgoing, PushTarget};

const ADMIN: &str = "admin-token-for-tests-0123456789";
const TOKEN: &str = "wxgatemediatoken";
const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";
const PICTURE: &[u8] = include_bytes!("../src/demo-welcome.png");
const ADD: &str = "/cgi-bin/material/add_material";

/// A folder of this test's own, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "wxgate-media-{}",
            wechat::State::generate().as_str()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn wxgate(sim: &Sim, db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            c.env_remove(k);
        }
    }
    c.env("WXGATE_APPID", APPID)
        .env("WXGATE_SECRET", SECRET)
        .env("WXGATE_API_BASE", &sim.url)
        .env("WXGATE_OAUTH_BASE", &sim.url)
        .env("WXGATE_DATABASE_URL", &db.url)
        .env("RUST_LOG", "error");
    c
}

fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn rules_for(picture: &Path) -> String {
    format!(
        "[[rules]]\ntext = \"图片\"\nreply = {{ type = \"image\", file = {:?} }}\n",
        picture.display().to_string()
    )
}

async fn media_id_of_reply(sim: &Sim, app: &TestApp) -> String {
    let target = PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID);
    let text = Outgoing::Text {
        content: "图片".into(),
    };
    let got = sim.sim.push(Some(ZHANG), text, Some(target)).await.unwrap();
    let reply = got.report.reply.expect("an image reply");
    assert_eq!(reply.msg_type, "image", "{}", reply.xml);
    assert!(got.report.problems.is_empty(), "{:?}", got.report.problems);
    reply.fields["Image"]["MediaId"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_rule_replies_with_a_file_uploaded_once_at_start_and_again_when_it_changes() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let dir = Dir::new();
    let picture = dir.file("welcome.png", PICTURE);
    let settings = [("token", TOKEN), ("admin_token", ADMIN)];
    let app = spawn_app_with_rules(&sim.url, &db, &settings, &rules_for(&picture)).await;
    // Uploaded at start-up, before any push asks for it.
    for _ in 0..100 {
        if sim.sim.calls(ADD) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.sim.calls(ADD), 1);

    let first = media_id_of_reply(&sim, &app).await;
    // The simulator shows the real picture for it (the chat page's <img>).
    let (content_type, bytes) = sim.sim.media_bytes(&first).expect("the uploaded bytes");
    assert_eq!((content_type, bytes.as_slice()), ("image/png", PICTURE));
    let second = media_id_of_reply(&sim, &app).await;
    assert_eq!(first, second);
    assert_eq!(sim.sim.calls(ADD), 1, "reused, not uploaded again");

    // A changed file is uploaded again on first use.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut changed = PICTURE.to_vec();
    changed.extend_from_slice(b"changed");
    std::fs::write(&picture, &changed).unwrap();
    let third = media_id_of_reply(&sim, &app).await;
    assert_ne!(third, first);
    assert_eq!(sim.sim.calls(ADD), 2);
    assert_eq!(sim.sim.media_bytes(&third).unwrap().1, changed);

    // Deleted (through the admin API here; `wxgate media delete` alike): the next push uploads
    // the file again rather than answer with a media_id WeChat no longer has.
    let deleted = reqwest::Client::new()
        .delete(format!("{}/admin/media/{third}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let fourth = media_id_of_reply(&sim, &app).await;
    assert_ne!(fourth, third);
    assert_eq!(sim.sim.calls(ADD), 3);
    let third = fourth;

    // And a restart (same database) reuses what was uploaded, by content.
    drop(app);
    let app = spawn_app_with_rules(&sim.url, &db, &[("token", TOKEN)], &rules_for(&picture)).await;
    assert_eq!(media_id_of_reply(&sim, &app).await, third);
    assert_eq!(sim.sim.calls(ADD), 3);
}

#[test]
fn bad_files_stop_start_up_naming_the_rule() {
    let dir = Dir::new();
    let big = dir.file("big.png", &vec![0u8; 11 * 1024 * 1024]);
    let bmp_thumb = dir.file("cover.bmp", b"bm");
    let check = |reply: String| {
        let table: toml::Table = format!(
            "[[rules]]\ntext = \"x\"\nreply = {{ type = \"text\", content = \"ok\" }}\n[[rules]]\nreply = {reply}\n"
        )
            .parse()
            .unwrap();
        let mut s = Sources::default();
        s.set_rules(table["rules"].as_array().unwrap().clone());
        s.set("appid", APPID);
        s.set("secret", SECRET);
        s.set("token", TOKEN);
        s.validate().unwrap_err()
    };
    let path = |p: &Path| format!("{:?}", p.display().to_string());
    let e = check(format!("{{ type = \"image\", file = {} }}", path(&big)));
    assert_eq!(e.key, "rules[1].reply.file");
    assert!(
        e.message
            .starts_with("11 MB, WeChat's limit for image is 10 MB"),
        "{e}"
    );
    let e = check(format!(
        "{{ type = \"music\", thumb = {} }}",
        path(&bmp_thumb)
    ));
    assert_eq!(e.key, "rules[1].reply.thumb");
    assert!(
        e.message
            .contains(".bmp is not a format WeChat takes for thumb"),
        "{e}"
    );
    let e = check(format!(
        "{{ type = \"image\", file = {} }}",
        path(&dir.0.join("missing.png"))
    ));
    assert_eq!(e.key, "rules[1].reply.file");
}

// The CLI is a blocking child process: the simulator needs a thread of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_and_admin_upload_list_and_delete_media() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let app = spawn_app_on(&sim.url, &db, &[("admin_token", ADMIN)]).await;
    let dir = Dir::new();
    let picture = dir.file("logo.png", PICTURE);

    let (ok, out, err) = run(wxgate(&sim, &db).args(["media", "upload"]).arg(&picture));
    assert!(ok, "{out}\n{err}");
    let media_id = out
        .lines()
        .find_map(|l| l.strip_prefix("media_id: "))
        .expect("the media_id")
        .trim()
        .to_owned();
    assert!(out.contains("permanent image"), "{out}");
    assert_eq!(sim.sim.media_bytes(&media_id).unwrap().1, PICTURE);
    // The same bytes again: reused, nothing sent.
    let (ok, out, _) = run(wxgate(&sim, &db).args(["media", "upload"]).arg(&picture));
    assert!(
        ok && out.contains(&media_id) && out.contains("reused"),
        "{out}"
    );
    assert_eq!(sim.sim.calls(ADD), 1);
    // Temporary media.
    let (ok, out, err) = run(wxgate(&sim, &db)
        .args(["media", "upload", "--temporary"])
        .arg(&picture));
    assert!(
        ok && out.contains("temporary image") && out.contains("expires"),
        "{out}\n{err}"
    );
    assert_eq!(sim.sim.calls("/cgi-bin/media/upload"), 1);

    let (ok, out, _) = run(wxgate(&sim, &db).args(["media", "list"]));
    assert!(
        ok && out.contains(&media_id) && out.contains("logo.png"),
        "{out}"
    );
    let (ok, out, err) = run(wxgate(&sim, &db).args(["media", "list", "--remote"]));
    assert!(ok, "{err}");
    assert!(out.contains("1 images") && out.contains(&media_id), "{out}");
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/admin/media", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["media"].as_array().unwrap().len(), 2, "{listed}");

    // Refused before any upload.
    let big = dir.file("big.png", &vec![0u8; 11 * 1024 * 1024]);
    let (ok, _, err) = run(wxgate(&sim, &db).args(["media", "upload"]).arg(&big));
    assert!(!ok);
    assert!(
        err.contains("11 MB, WeChat's limit for image is 10 MB"),
        "{err}"
    );
    let bmp = dir.file("a.bmp", b"bm");
    let (ok, _, err) = run(wxgate(&sim, &db)
        .args(["media", "upload", "--temporary"])
        .arg(&bmp));
    assert!(
        !ok && err.contains(".bmp is not a format WeChat takes for image"),
        "{err}"
    );
    let video = dir.file("a.mp4", b"mp4");
    let (ok, _, err) = run(wxgate(&sim, &db).args(["media", "upload"]).arg(&video));
    assert!(!ok && err.contains("title"), "{err}");
    assert_eq!(sim.sim.calls(ADD), 1);
    let (ok, out, err) = run(wxgate(&sim, &db)
        .args(["media", "upload", "--title", "介绍"])
        .arg(&video));
    assert!(ok && out.contains("permanent video"), "{out}\n{err}");

    // Delete through the CLI, then again through the admin API: WeChat's 40007 is a 404.
    let (ok, out, err) = run(wxgate(&sim, &db).args(["media", "delete", &media_id]));
    assert!(ok && out.contains("deleted"), "{out}\n{err}");
    assert!(sim.sim.media_bytes(&media_id).is_none());
    let (ok, _, err) = run(wxgate(&sim, &db).args(["media", "delete", &media_id]));
    assert!(!ok && err.contains("40007"), "{err}");
    let status = reqwest::Client::new()
        .delete(format!("{}/admin/media/{media_id}", app.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 404);
}

#[tokio::test]
async fn concurrent_pushes_share_one_upload_and_a_failed_one_is_tried_again_on_first_use() {
    let sim = spawn_sim().await;
    let dir = Dir::new();
    let picture = dir.file("welcome.png", PICTURE);

    // The start-up upload is slow: pushes meanwhile wait for it, and none uploads again.
    sim.sim.inject(wxsim::Fault::delay(ADD, 1, 700));
    let db = temp_db();
    let app = spawn_app_with_rules(&sim.url, &db, &[("token", TOKEN)], &rules_for(&picture)).await;
    let ids = futures::future::join_all((0..5).map(|_| media_id_of_reply(&sim, &app))).await;
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(sim.sim.calls(ADD), 1);
    drop(app);

    // The start-up upload fails: the first push uploads.
    let mut fault = wxsim::Fault::new(ADD);
    fault.errcode = Some(-1);
    sim.sim.inject(fault);
    let db = temp_db();
    let app = spawn_app_with_rules(&sim.url, &db, &[("token", TOKEN)], &rules_for(&picture)).await;
    for _ in 0..100 {
        if sim.sim.calls(ADD) == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sim.sim.calls(ADD), 2, "the start-up attempt");
    let id = media_id_of_reply(&sim, &app).await;
    assert_eq!(sim.sim.calls(ADD), 3);
    assert_eq!(sim.sim.media_bytes(&id).unwrap().1, PICTURE);
}

#[tokio::test]
async fn a_video_reply_from_a_file_carries_its_title() {
    let sim = spawn_sim().await;
    let db = temp_db();
    let dir = Dir::new();
    let video = dir.file("intro.mp4", b"not really an mp4");
    let rules = format!(
        "[[rules]]\ntext = \"视频\"\nreply = {{ type = \"video\", file = {:?}, title = \"介绍\", description = \"一分钟\" }}\n",
        video.display().to_string()
    );
    let app = spawn_app_with_rules(&sim.url, &db, &[("token", TOKEN)], &rules).await;
    let target = PushTarget::new(format!("{}/weixin/", app.url), TOKEN, APPID);
    let text = Outgoing::Text {
        content: "视频".into(),
    };
    let got = sim.sim.push(Some(ZHANG), text, Some(target)).await.unwrap();
    let reply = got.report.reply.expect("a video reply");
    assert_eq!(reply.msg_type, "video", "{}", reply.xml);
    assert_eq!(reply.fields["Video"]["Title"], "介绍");
    let media_id = reply.fields["Video"]["MediaId"].as_str().unwrap();
    assert_eq!(
        sim.sim.media_bytes(media_id).unwrap().1,
        b"not really an mp4"
    );
}
