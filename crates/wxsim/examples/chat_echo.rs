//! The chat page against a toy account, for trying the simulator by hand:
//!
//! ```sh
//! cargo run -p wxsim --example chat_echo      # prints the chat page's URL
//! ```
//!
//! The toy account (plaintext mode) answers `news`, `image`, `music`, `bad`, `json`, `slow`,
//! `quiet` and `link` with that kind of reply, a subscribe with a welcome, and echoes anything
//! else. It does not check signatures: it is a stand-in, not an example of a server.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::post;
use wxsim::{PushTarget, SimConfig, Simulator};

fn field(xml: &str, name: &str) -> String {
    let open = format!("<{name}><![CDATA[");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once("]]>"))
        .map(|(v, _)| v.to_string())
        .unwrap_or_default()
}

async fn account(body: String) -> ([(&'static str, &'static str); 1], String) {
    let to = field(&body, "FromUserName");
    let from = field(&body, "ToUserName");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let head = format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{from}]]></FromUserName><CreateTime>{now}</CreateTime>"
    );
    let text = |s: &str| {
        format!("{head}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{s}]]></Content></xml>")
    };
    let reply = match (
        field(&body, "Event").as_str(),
        field(&body, "Content").as_str(),
    ) {
        ("subscribe", _) => {
            text("欢迎关注！\n发送 news / image / music / link / bad / json / slow / quiet 试试。")
        }
        ("unsubscribe", _) => String::new(),
        (_, "news") => format!(
            "{head}<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item>\
             <Title><![CDATA[wxgate 文档]]></Title><Description><![CDATA[一篇图文消息]]></Description>\
             <PicUrl><![CDATA[]]></PicUrl><Url><![CDATA[https://example.com/]]></Url></item></Articles></xml>"
        ),
        (_, "image") => format!(
            "{head}<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[MEDIA_1]]></MediaId></Image></xml>"
        ),
        (_, "music") => format!(
            "{head}<MsgType><![CDATA[music]]></MsgType><Music><Title><![CDATA[一首歌]]></Title>\
             <MusicUrl><![CDATA[https://example.com/a.mp3]]></MusicUrl><ThumbMediaId><![CDATA[T1]]></ThumbMediaId></Music></xml>"
        ),
        (_, "link") => text(
            "点 <a href=\"https://example.com/\">这里</a> 或 https://example.org/x?y=1\n第二行 <b>不是标签</b>",
        ),
        (_, "bad") => format!(
            "{head}<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content></xml>"
        )
        .replace(&to, "oWrongUser"),
        (_, "json") => r#"{"content":"hi"}"#.to_string(),
        (_, "slow") => {
            tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
            text("slow")
        }
        (_, "quiet") => "success".to_string(),
        (_, content) => text(&format!("你说：{content}")),
    };
    ([("content-type", "text/xml")], reply)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let account_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let account_url = format!("http://{}/weixin/", account_listener.local_addr()?);
    tokio::spawn(async move {
        axum::serve(
            account_listener,
            Router::new().route("/weixin/", post(account)),
        )
        .await
    });

    let mut config = SimConfig::new("wx1234567890abcdef", "0123456789abcdef0123456789abcdef");
    let mut target = PushTarget::new(account_url, "token123", "");
    target.timeout_ms = 1000;
    config.push = Some(target);
    let addr = std::env::var("WXSIM_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".to_string());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("chat page: http://{}/_sim/chat", listener.local_addr()?);
    wxsim::serve(listener, Simulator::new(config)).await
}
