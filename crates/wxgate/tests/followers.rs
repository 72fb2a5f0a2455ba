//! Followers and tags against the simulator (docs/wechat-platform-apis.md §6, §7): the sync in
//! pages and batches and its resumption, the table kept current by (un)subscribe pushes, tags
//! and their refusals, tagging in batches of 50, remarks, the blacklist, a conditional menu
//! that names its tag — through the service, the command line and the admin API.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use wxsim::push::{Outgoing, PushTarget};

const ADMIN: &str = "admin-token-for-tests-0123456789";
const TOKEN: &str = "wxgatetesttoken";
const ZHANG: &str = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M";

struct Account {
    sim: Sim,
    db: TestDb,
    app: TestApp,
}

/// The simulator and wxgate (admin API on, message server on) sharing a database the tests
/// can also run the binary against.
async fn account() -> Account {
    let sim = spawn_sim().await;
    let db = temp_db();
    let app = spawn_app_on(&sim.url, &db, &[("admin_token", ADMIN), ("token", TOKEN)]).await;
    Account { sim, db, app }
}

/// Runs the binary against the simulator and the test's database: (success, stdout+stderr).
async fn wxgate(a: &Account, args: &[&str]) -> (bool, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wxgate"));
    for (k, _) in std::env::vars() {
        if k.starts_with("WXGATE_") {
            command.env_remove(k);
        }
    }
    command
        .args(args)
        .env("WXGATE_APPID", APPID)
        .env("WXGATE_SECRET", SECRET)
        .env("WXGATE_API_BASE", &a.sim.url)
        .env("WXGATE_DATABASE_URL", &a.db.url);
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

async fn admin(
    a: &Account,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .request(method, format!("{}{path}", a.app.url))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn count(a: &Account, sql: &str) -> i64 {
    sql_i64(&a.app.state.db, sql).await
}

fn openids(from: usize, to: usize) -> Vec<String> {
    (from..=to)
        .map(|i| format!("oSimFollower{i:016}"))
        .collect()
}

async fn sync(a: &Account) -> Result<wxgate::followers::SyncReport, String> {
    wxgate::followers::sync(&a.app.state.platform, &a.app.state.db, false, |_| {})
        .await
        .map_err(|e| e.explain())
}

#[tokio::test]
async fn a_sync_reads_pages_in_batches_of_100_and_goes_on_after_an_interruption() {
    let a = account().await;
    a.sim.sim.generate_followers(250);
    // Pages of 100 instead of 10,000, so that 253 followers take three pages and an end.
    a.sim.sim.set_follower_page_size(100);
    // The second batchget of the day is refused: the sync stops after its first page.
    a.sim.sim.set_quota("/cgi-bin/user/info/batchget", 1);
    let stopped = sync(&a).await.unwrap_err();
    assert!(stopped.contains("45009"), "{stopped}");
    assert_eq!(count(&a, "SELECT COUNT(*) FROM followers").await, 100);
    assert_eq!(count(&a, "SELECT COUNT(*) FROM follower_sync").await, 1);

    // The next run (the command line's) goes on from the second page.
    a.sim.sim.set_quota("/cgi-bin/user/info/batchget", 1000);
    let (ok, out) = wxgate(&a, &["followers", "sync"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("resumed") && out.contains("synced 253 followers"),
        "{out}"
    );
    // 2 batchget calls before the interruption, 2 after: the first page was not read again.
    assert_eq!(a.sim.sim.calls("/cgi-bin/user/info/batchget"), 4);
    // Pages 1 and 2, then 2, 3 and the empty end.
    assert_eq!(a.sim.sim.calls("/cgi-bin/user/get"), 5);
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM followers WHERE subscribed = 1").await,
        253
    );
    assert_eq!(count(&a, "SELECT COUNT(*) FROM follower_sync").await, 0);
    // The panda's tag came with her, and the tags table has its name.
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM follower_tags WHERE tag_id = 100").await,
        1
    );
    assert_eq!(count(&a, "SELECT COUNT(*) FROM tags").await, 2);

    // A follower who left while nobody listened is marked by the next complete sync.
    a.sim
        .sim
        .push(
            Some(&openids(7, 7)[0]),
            Outgoing::Unsubscribe,
            Some(unreachable()),
        )
        .await
        .unwrap();
    let report = sync(&a).await.unwrap();
    assert!(!report.resumed);
    assert_eq!((report.stored, report.gone), (252, 1));
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM followers WHERE subscribed = 0").await,
        1
    );

    // The command line lists them, newest follow first, with a count.
    let (ok, out) = wxgate(&a, &["followers", "list", "--limit", "5"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("(5 of 252 followers)"), "{out}");
}

/// A push target nobody listens on: the simulator records the (un)follow, wxgate hears nothing.
fn unreachable() -> PushTarget {
    PushTarget::new("http://127.0.0.1:9/weixin/", TOKEN, APPID)
}

#[tokio::test]
async fn subscribe_and_unsubscribe_pushes_keep_the_table_current() {
    let a = account().await;
    let target = PushTarget::new(format!("{}/weixin/", a.app.url), TOKEN, APPID);
    let openid = "oNewFollowerFromTheMetro0001";
    let exchange = a
        .sim
        .sim
        .push(
            Some(openid),
            Outgoing::Subscribe {
                scene: Some("metro".into()),
                ticket: None,
            },
            Some(target.clone()),
        )
        .await
        .unwrap();
    assert!(exchange.report.ok(), "{}", exchange.report);
    let row = format!(
        "SELECT COUNT(*) FROM followers WHERE openid = '{openid}' AND subscribed = 1 AND qr_scene = 'metro' AND subscribe_time > 0"
    );
    wait_for(&a, &row, 1).await;

    a.sim
        .sim
        .push(Some(openid), Outgoing::Unsubscribe, Some(target.clone()))
        .await
        .unwrap();
    let gone =
        format!("SELECT COUNT(*) FROM followers WHERE openid = '{openid}' AND subscribed = 0");
    wait_for(&a, &gone, 1).await;

    // A plain follow again: following, and no scene any more.
    a.sim
        .sim
        .push(
            Some(openid),
            Outgoing::Subscribe {
                scene: None,
                ticket: None,
            },
            Some(target),
        )
        .await
        .unwrap();
    let back = format!(
        "SELECT COUNT(*) FROM followers WHERE openid = '{openid}' AND subscribed = 1 AND qr_scene IS NULL"
    );
    wait_for(&a, &back, 1).await;
    // The simulator's follower list agrees.
    let info = a.sim.sim.followers_json();
    let me = info["followers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["openid"] == openid)
        .unwrap()
        .clone();
    assert_eq!(me["subscribed"], true, "{me}");
}

/// Waits (up to 5 s) for the push's task to have written the row.
async fn wait_for(a: &Account, sql: &str, want: i64) {
    for _ in 0..100 {
        if count(a, sql).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql} never gave {want}");
}

#[tokio::test]
async fn tags_are_created_renamed_and_deleted_by_name_with_clear_refusals() {
    let a = account().await;
    let (ok, out) = wxgate(&a, &["tags", "create", "上海"]).await;
    assert!(ok, "{out}");
    // The simulator's panda carries tag 100, so the next one is 101.
    assert!(out.contains("created tag 上海 (101)"), "{out}");
    let (ok, out) = wxgate(&a, &["tags", "create", "上海"]).await;
    assert!(!ok);
    assert!(out.contains("45157") && out.contains("already"), "{out}");

    // Too long: refused before any call.
    let creates = a.sim.sim.calls("/cgi-bin/tags/create");
    let (ok, out) = wxgate(&a, &["tags", "create", "一二三四五六七八九十一"]).await;
    assert!(!ok);
    assert!(
        out.contains("33 bytes") && out.contains("at most 30"),
        "{out}"
    );
    assert_eq!(a.sim.sim.calls("/cgi-bin/tags/create"), creates);

    let (ok, out) = wxgate(&a, &["tags", "rename", "上海", "上海会员"]).await;
    assert!(ok, "{out}");
    let (ok, out) = wxgate(&a, &["tags", "list"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("上海会员") && out.contains("星标组"), "{out}");
    assert!(!out.contains(" 上海\n"), "{out}");

    let (ok, out) = wxgate(&a, &["tags", "rename", "星标组", "x"]).await;
    assert!(!ok);
    assert!(out.contains("system tags"), "{out}");
    let (ok, out) = wxgate(&a, &["tags", "delete", "北京"]).await;
    assert!(!ok);
    assert!(
        out.contains("no tag \"北京\"") && out.contains("上海会员 (101)"),
        "{out}"
    );

    let (ok, out) = wxgate(&a, &["tags", "delete", "101"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("deleted tag 上海会员 (101)"), "{out}");

    // The admin API: list and create, refusals as 400s with WeChat's code.
    let (status, v) = admin(
        &a,
        reqwest::Method::POST,
        "/admin/tags",
        Some(json!({"name": "北京"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["tag"]["name"], "北京");
    let (status, v) = admin(
        &a,
        reqwest::Method::POST,
        "/admin/tags",
        Some(json!({"name": "北京"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["errcode"], 45157, "{v}");
    let (status, v) = admin(
        &a,
        reqwest::Method::POST,
        "/admin/tags",
        Some(json!({"nom": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, v) = admin(&a, reqwest::Method::GET, "/admin/tags", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "北京"),
        "{v}"
    );
}

#[tokio::test]
async fn tags_are_given_in_batches_of_50_and_followers_are_listed_by_tag() {
    let a = account().await;
    a.sim.sim.generate_followers(120);
    sync(&a).await.unwrap();
    let (ok, out) = wxgate(&a, &["tags", "create", "vip"]).await;
    assert!(ok, "{out}");

    let all = openids(1, 120);
    let mut args = vec!["tags", "add", "vip"];
    args.extend(all.iter().map(String::as_str));
    let (ok, out) = wxgate(&a, &args).await;
    assert!(ok, "{out}");
    assert!(out.contains("120 followers tagged vip"), "{out}");
    assert_eq!(a.sim.sim.calls("/cgi-bin/tags/members/batchtagging"), 3);

    let (status, v) = admin(
        &a,
        reqwest::Method::GET,
        "/admin/followers?tag=vip&limit=10",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["total"], 120, "{v}");
    assert_eq!(v["followers"].as_array().unwrap().len(), 10);
    assert_eq!(v["tag"]["name"], "vip");
    let (status, v) = admin(
        &a,
        reqwest::Method::GET,
        "/admin/followers?tag=nosuch",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("no tag"), "{v}");

    let mut args = vec!["tags", "remove", "vip"];
    args.extend(all[..20].iter().map(String::as_str));
    let (ok, out) = wxgate(&a, &args).await;
    assert!(ok, "{out}");
    let (ok, out) = wxgate(&a, &["followers", "list", "--tag", "vip"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("(100 of 100 followers with tag vip"), "{out}");
    // WeChat agrees.
    let sim_count = a.sim.sim.followers_json()["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "vip")
        .unwrap()["count"]
        .clone();
    assert_eq!(sim_count, 100);

    // A user with 20 tags takes no 21st: WeChat's refusal, explained.
    let (platform, db) = (&a.app.state.platform, &a.app.state.db);
    let one = vec![all[0].clone()];
    for i in 0..19 {
        let t = wxgate::followers::create_tag(platform, db, &format!("t{i}"))
            .await
            .unwrap();
        wxgate::followers::tag_users(platform, db, &t.id.to_string(), &one, true)
            .await
            .unwrap();
    }
    wxgate::followers::tag_users(platform, db, "vip", &one, true)
        .await
        .unwrap();
    wxgate::followers::create_tag(platform, db, "21st")
        .await
        .unwrap();
    let refused = wxgate::followers::tag_users(platform, db, "21st", &one, true)
        .await
        .unwrap_err();
    assert!(
        refused.failure.explain().contains("45059"),
        "{:?}",
        refused.failure
    );
    // A bad openid is refused before any call.
    let (ok, out) = wxgate(&a, &["tags", "add", "vip", "not an openid"]).await;
    assert!(!ok);
    assert!(out.contains("not an openid"), "{out}");
}

#[tokio::test]
async fn remarks_and_the_blacklist() {
    let a = account().await;
    a.sim.sim.generate_followers(25);
    sync(&a).await.unwrap();

    let (ok, out) = wxgate(&a, &["followers", "remark", ZHANG, "老客户"]).await;
    assert!(ok, "{out}");
    assert_eq!(
        count(
            &a,
            &format!(
                "SELECT COUNT(*) FROM followers WHERE openid = '{ZHANG}' AND remark = '老客户'"
            )
        )
        .await,
        1
    );
    let calls = a.sim.sim.calls("/cgi-bin/user/info/updateremark");
    let long = "老".repeat(31);
    let (ok, out) = wxgate(&a, &["followers", "remark", ZHANG, &long]).await;
    assert!(!ok);
    assert!(
        out.contains("31 characters") && out.contains("at most 30"),
        "{out}"
    );
    assert_eq!(a.sim.sim.calls("/cgi-bin/user/info/updateremark"), calls);
    let (ok, out) = wxgate(
        &a,
        &["followers", "remark", "oNobodyKnowsThisOpenId000000", "x"],
    )
    .await;
    assert!(!ok);
    assert!(out.contains("40003"), "{out}");

    let all = openids(1, 25);
    let mut args = vec!["followers", "blacklist"];
    args.extend(all.iter().map(String::as_str));
    let (ok, out) = wxgate(&a, &args).await;
    assert!(ok, "{out}");
    assert!(out.contains("25 blacklisted"), "{out}");
    assert_eq!(a.sim.sim.calls("/cgi-bin/tags/members/batchblacklist"), 2);
    let (ok, out) = wxgate(&a, &["followers", "blacklist"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("(25 blacklisted)") && out.contains(&all[24]),
        "{out}"
    );
    let (ok, out) = wxgate(&a, &["followers", "unblacklist", &all[0], &all[1]]).await;
    assert!(ok, "{out}");
    let listed = wxgate::followers::blacklist(&a.app.state.platform)
        .await
        .unwrap();
    assert_eq!(listed.len(), 23);
}

#[tokio::test]
async fn a_conditional_menu_may_name_its_tag() {
    let a = account().await;
    let platform = &a.app.state.platform;
    let tag = wxgate::followers::create_tag(platform, &a.app.state.db, "上海")
        .await
        .unwrap();
    wxgate::followers::tag_users(platform, &a.app.state.db, "上海", &[ZHANG.to_owned()], true)
        .await
        .unwrap();
    let url = format!("{}/admin/menu", a.app.url);
    let put = |toml: String| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .put(url)
                .bearer_auth(ADMIN)
                .header("content-type", "application/toml")
                .body(toml)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let default = "[[button]]\ntype = \"click\"\nname = \"默认\"\nkey = \"D\"\n".to_owned();
    let (status, v) = put(default).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let shanghai = "[matchrule]\ntag_id = \"上海\"\n[[button]]\ntype = \"click\"\nname = \"上海\"\nkey = \"SH\"\n";
    let (status, v) = put(shanghai.to_owned()).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // WeChat got the id, and the tagged user sees the menu.
    let menus = platform.menu_get().await.unwrap();
    let rule = menus.conditionalmenu[0].menu.matchrule.as_ref().unwrap();
    assert_eq!(rule.tag_id.as_deref(), Some(tag.id.to_string().as_str()));
    let seen = platform.menu_try_match(ZHANG).await.unwrap();
    assert_eq!(seen.button[0].name, "上海");

    let (status, v) = put(shanghai.replace("上海\"\n[[", "北京\"\n[[")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("no tag \"北京\"") && error.contains("上海 (101)"),
        "{v}"
    );
}

#[tokio::test]
async fn the_admin_api_tags_remarks_and_blacklists() {
    use reqwest::Method;
    let a = account().await;
    a.sim.sim.generate_followers(60);
    sync(&a).await.unwrap();
    let (status, v) = admin(
        &a,
        Method::POST,
        "/admin/tags",
        Some(json!({"name": "会员"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let all = openids(1, 60);

    // 60 openids: two calls; by name, percent-encoded in the path.
    let path = "/admin/tags/%E4%BC%9A%E5%91%98/followers";
    let (status, v) = admin(&a, Method::POST, path, Some(json!({"openids": all}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["done"], 60, "{v}");
    assert_eq!(a.sim.sim.calls("/cgi-bin/tags/members/batchtagging"), 2);
    let (_, v) = admin(&a, Method::GET, "/admin/followers?tag=会员&limit=1", None).await;
    assert_eq!(v["total"], 60, "{v}");

    // A batch WeChat refuses (an openid it does not know) after one that went through.
    let mut mixed = all[..50].to_vec();
    mixed.push("oSomeoneElsesFollower0000001".into());
    let (status, v) = admin(&a, Method::DELETE, path, Some(json!({"openids": mixed}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        (v["errcode"].as_i64(), v["done"].as_i64()),
        (Some(40003), Some(50)),
        "{v}"
    );
    let (_, v) = admin(&a, Method::GET, "/admin/followers?tag=会员", None).await;
    assert_eq!(v["total"], 10, "{v}");
    let (status, v) = admin(&a, Method::POST, path, Some(json!({"open_ids": []}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("openids"), "{v}");

    let (status, v) = admin(
        &a,
        Method::PUT,
        "/admin/tags/会员",
        Some(json!({"name": "老会员"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["tag"]["name"], "老会员");

    let remark = format!("/admin/followers/{ZHANG}/remark");
    let (status, v) = admin(&a, Method::PUT, &remark, Some(json!({"remark": "老客户"}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = admin(
        &a,
        Method::PUT,
        &remark,
        Some(json!({"remark": "老".repeat(31)})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("at most 30"), "{v}");

    let (status, v) = admin(
        &a,
        Method::POST,
        "/admin/blacklist",
        Some(json!({"openids": all[..3]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (_, v) = admin(&a, Method::GET, "/admin/blacklist", None).await;
    assert_eq!(v["openids"].as_array().unwrap().len(), 3, "{v}");
    let (status, _) = admin(
        &a,
        Method::DELETE,
        "/admin/blacklist",
        Some(json!({"openids": all[..3]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = admin(&a, Method::GET, "/admin/blacklist", None).await;
    assert_eq!(v["openids"], json!([]), "{v}");

    let (status, v) = admin(&a, Method::DELETE, "/admin/tags/老会员", None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = admin(&a, Method::DELETE, "/admin/tags/2", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert!(v["error"].as_str().unwrap().contains("system"), "{v}");
    // Without the token, nothing.
    let r = reqwest::get(format!("{}/admin/followers", a.app.url))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
