//! No input may panic, or earn a 5xx: property tests over everything wxgate reads from the
//! network or from files — the configuration file, reply rules, webhook answers, and over real
//! HTTP the message server, the login callback (query and `wxgate_login` cookie) and the admin
//! API — with arbitrary bytes and with real inputs mangled at random.
//!
//! `WXGATE_PROPTEST_CASES` sets the number of cases per property (256 by default; scripts/test
//! runs many more).

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("WXGATE_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// A few random edits of a text (positions wrap, characters stay whole).
fn mangle(text: &str, edits: &[(usize, usize, String)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for (at, remove, insert) in edits {
        let at = at % (chars.len() + 1);
        let end = (at + remove % 8).min(chars.len());
        chars.splice(at..end, insert.chars());
    }
    chars.into_iter().collect()
}

fn edits() -> impl Strategy<Value = Vec<(usize, usize, String)>> {
    proptest::collection::vec(
        (
            any::<usize>(),
            any::<usize>(),
            "(\\PC|[<>&;/\"'=\\[\\]{},:\\\\]){0,4}",
        ),
        1..6,
    )
}

const CONFIG: &str = r#"
listen = "127.0.0.1:0"
appid = "wxffde55b11cc79754"
secret = "84e86527f090d6238ea1c0b96f5fc753"
token = "pamtest"
aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
message_mode = "compatible"
trusted_proxies = "10.0.0.0/8, ::1"
timestamp_window_secs = 300

[[rules]]
event = "subscribe"
reply = { type = "text", content = "欢迎 {nickname}" }

[[rules]]
regex = "^天气(.*)"
reply = { type = "news", articles = [{ title = "t", description = "d", pic_url = "", url = "{login_url}" }] }
"#;

/// The app and the runtime it runs on, shared by every case.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: common::TestApp,
    _sim: common::Sim,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (app, sim) = runtime.block_on(async {
            let sim = common::spawn_sim().await;
            let mut app = common::spawn_app(
                &sim.url,
                &[
                    ("token", "proptesttoken"),
                    ("aes_key", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
                    ("message_mode", "compatible"),
                    ("admin_token", "proptest-admin-token-0123456789"),
                    ("login_rate_per_minute", "0"),
                ],
            )
            .await;
            // The fixture is a static, never dropped.
            app.remove_database_at_exit();
            (app, sim)
        });
        Fixture {
            runtime,
            app,
            _sim: sim,
        }
    })
}

/// Sends one request to the fixture's app; returns its status.
fn send(method: &str, path_and_query: &str, headers: &[(&str, String)], body: Vec<u8>) -> u16 {
    let f = fixture();
    let url = format!("{}{path_and_query}", f.app.url);
    f.runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let mut r = client.request(method.parse().unwrap(), &url).body(body);
        for (k, v) in headers {
            r = r.header(*k, v.as_str());
        }
        match r.send().await {
            Ok(r) => r.status().as_u16(),
            // A request reqwest itself refuses to build or send (an invalid URL or header).
            Err(_) => 0,
        }
    })
}

/// A query value as a browser would send it: percent-encoded.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

const PUSH: &str = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o6_bmjrPTlm6_2sgVt7hMZOPfL2M]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>1234567890123456</MsgId></xml>";

fn signed_query(nonce: &str) -> String {
    let ts = wxgate::clock::now().to_string();
    format!(
        "signature={}&timestamp={ts}&nonce={}",
        wechat::signature::sign(&["proptesttoken", &ts, nonce]),
        encode(nonce)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_configuration_file_is_refused_or_accepted_never_a_panic(
        text in any::<String>(),
        e in edits(),
    ) {
        let dir = std::env::temp_dir().join("wxgate-proptest-config");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{}.toml", wechat::State::generate().as_str()));
        for content in [text, mangle(CONFIG, &e)] {
            std::fs::write(&file, &content).unwrap();
            if let Ok(sources) = wxgate::config::Sources::load(Some(&file), Vec::new()) {
                let _ = sources.validate();
                let _ = sources.warnings();
            }
        }
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn any_menu_file_is_a_menu_or_an_error(text in any::<String>(), e in edits()) {
        use wxgate::menus::file::{MenuFormat, parse_menu_file};
        let seed = include_str!("../../../examples/menu.toml");
        for (input, format) in [
            (text.clone(), MenuFormat::Toml),
            (text, MenuFormat::Json),
            (mangle(seed, &e), MenuFormat::Toml),
        ] {
            if let Ok(menu) = parse_menu_file(&input, format) {
                let _ = wechat::menu::validate(&menu);
            }
        }
    }

    #[test]
    fn any_environment_value_is_refused_or_accepted(
        key in 0..wxgate::config::KEYS.len(),
        value in any::<String>(),
    ) {
        let name = format!("WXGATE_{}", wxgate::config::KEYS[key].0.to_ascii_uppercase());
        let env = vec![
            ("WXGATE_APPID".to_owned(), "wxffde55b11cc79754".to_owned()),
            ("WXGATE_SECRET".to_owned(), "84e86527f090d6238ea1c0b96f5fc753".to_owned()),
            ("WXGATE_TOKEN".to_owned(), "pamtest".to_owned()),
            (name, value),
        ];
        if let Ok(sources) = wxgate::config::Sources::load(None, env) {
            let _ = sources.validate();
        }
    }

    #[test]
    fn any_webhook_answer_is_a_reply_or_an_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        e in edits(),
    ) {
        let sample = r#"{"reply":{"type":"music","title":"歌","description":"","music_url":"http://m/1.mp3","hq_music_url":"","thumb_media_id":"t"}}"#;
        for body in [bytes, mangle(sample, &e).into_bytes()] {
            if let Ok(Some(reply)) = wxgate::messages::webhook::parse_answer(&body) {
                let _ = reply.validate_for(true);
                let _ = reply.to_xml("o", "gh", 1);
            }
        }
    }

    #[test]
    fn any_push_gets_an_answer_below_500(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        e in edits(),
        nonce in "[A-Za-z0-9]{1,12}",
        mode in 0u8..3,
    ) {
        let query = match mode {
            0 => signed_query(&nonce),
            1 => format!("{}&encrypt_type=aes&msg_signature={}", signed_query(&nonce), encode(&nonce)),
            _ => mangle(&signed_query(&nonce), &e),
        };
        for body in [body, mangle(PUSH, &e).into_bytes()] {
            let status = send("POST", &format!("/weixin/?{query}"), &[], body);
            prop_assert!(status < 500, "{status} for {query}");
        }
    }

    #[test]
    fn any_login_callback_gets_a_page_below_500(
        code in any::<String>(),
        state in any::<String>(),
        cookie in "[A-Za-z0-9_.=-]{0,200}",
    ) {
        let path = format!("/empower/?code={}&state={}", encode(&code), encode(&state));
        let status = send("GET", &path, &[("cookie", format!("wxgate_login={cookie}"))], Vec::new());
        prop_assert!(status < 500, "{status}");
        let status = send("GET", &format!("/auth/?next={}&scope={}", encode(&code), encode(&state)), &[], Vec::new());
        prop_assert!(status < 500, "{status}");
    }

    #[test]
    fn any_admin_request_gets_an_answer_below_500(
        body in any::<String>(),
        e in edits(),
        toml in any::<bool>(),
    ) {
        let menu = r#"{"button":[{"type":"click","name":"今日歌曲","key":"V1001_TODAY_MUSIC"}]}"#;
        let content_type = if toml { "application/toml" } else { "application/json" };
        for body in [body, mangle(menu, &e)] {
            let status = send(
                "PUT",
                "/admin/menu",
                &[
                    ("authorization", "Bearer proptest-admin-token-0123456789".to_owned()),
                    ("content-type", content_type.to_owned()),
                ],
                body.into_bytes(),
            );
                        prop_assert!(status < 500 || status == 502, "{status}");
        }
    }

    /// Messages to a user (`POST /admin/messages/*`): garbage and mangled requests get a 4xx
    /// or WeChat's answer, never a panic or a 500.
    #[test]
    fn any_message_request_gets_an_answer_below_500(
        body in any::<String>(),
        e in edits(),
        which in 0usize..3,
    ) {
        let (path, valid) = [
            ("/admin/messages/template", r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","template_id":"wxsimTmplOrderShipped0000000000000000000001","data":{"thing1":"绿茶","character_string2":"SO-1","time3":"15:01"},"url":"https://e.com/1"}"#),
            ("/admin/messages/subscribe", r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","template_id":"wxsimSubAppointmentBooked000000000000000003","data":{"thing1":"体检","time2":"09:00","phrase3":"已预约"}}"#),
            ("/admin/messages/custom", r#"{"openid":"o6_bmjrPTlm6_2sgVt7hMZOPfL2M","message":{"type":"msgmenu","head_content":"打分","list":[{"id":"1","content":"好"}]}}"#),
        ][which];
        for body in [body, mangle(valid, &e)] {
            let status = send(
                "POST",
                path,
                &[
                    ("authorization", "Bearer proptest-admin-token-0123456789".to_owned()),
                    ("content-type", "application/json".to_owned()),
                ],
                body.into_bytes(),
            );
            prop_assert!(status < 500 || status == 502, "{path}: {status}");
        }
        // QR codes (issue 9): a mangled request is a 4xx, or WeChat's answer (502).
        let qr = r#"{"scene":"metro_poster","expire_secs":60}"#;
        let status = send(
            "POST",
            "/admin/qrcodes",
            &[
                ("authorization", "Bearer proptest-admin-token-0123456789".to_owned()),
                ("content-type", "application/json".to_owned()),
            ],
            mangle(qr, &e).into_bytes(),
        );
        prop_assert!(status < 500 || status == 502 || status == 504, "{status}");
    }
}
