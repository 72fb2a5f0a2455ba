//! Passive replies: every type round-trips through the parser with the users swapped, and the
//! safe-mode envelope matches the wechatpy vector byte for byte.

use wechat::crypto::{EncodingAesKey, MessageCrypt};
use wechat::message::{Fields, encrypted_payload, parse, parse_xml_fields};
use wechat::reply::{Article, Reply, encrypted_envelope, encrypted_reply_xml};
use wechat::signature::Token;

const OPENID: &str = "oMgHVjngRipVsoxg6TuX3vz6glDg";
const GH: &str = "gh_e136c6e50636";

fn round_trip(reply: &Reply) -> Fields {
    reply.validate().unwrap();
    let xml = reply.to_xml(OPENID, GH, 1_700_000_000);
    let f = parse_xml_fields(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(f.text("ToUserName"), Some(OPENID));
    assert_eq!(f.text("FromUserName"), Some(GH));
    assert_eq!(f.text("CreateTime"), Some("1700000000"));
    assert_eq!(f.text("MsgType"), Some(reply.msg_type()));
    f
}

fn article(n: u32) -> Article {
    Article {
        title: format!("title {n}"),
        description: format!("desc {n}"),
        pic_url: format!("https://p/{n}.jpg"),
        url: format!("https://u/{n}"),
    }
}

#[test]
fn text_reply_round_trips_and_parses_as_a_message() {
    let reply = Reply::Text {
        content: "你好\nline 2 <b>&amp;</b>".into(),
    };
    let f = round_trip(&reply);
    assert_eq!(f.text("Content"), Some("你好\nline 2 <b>&amp;</b>"));
    // It is also a valid push envelope as far as our own parser is concerned.
    let as_push = parse(&reply.to_xml(OPENID, GH, 1)).unwrap();
    assert_eq!(as_push.envelope.from_user_name.as_str(), GH);
}

#[test]
fn cdata_terminator_in_content_survives_exactly() {
    for content in ["a]]>b", "]]>", "]]]]>>", "x]]>]]>y]]", "<![CDATA[nested]]>"] {
        let f = round_trip(&Reply::Text {
            content: content.into(),
        });
        assert_eq!(f.text("Content"), Some(content));
    }
}

#[test]
fn forbidden_characters_are_removed_from_replies() {
    let f = round_trip(&Reply::Text {
        content: "a\u{0}b\u{2}c\u{1b}d\te".into(),
    });
    assert_eq!(f.text("Content"), Some("abcd\te"));
    let xml = Reply::Text {
        content: "\u{2}x".into(),
    }
    .to_xml("o\u{1}", "g", 1);
    assert!(!xml.contains('\u{1}') && !xml.contains('\u{2}'));
}

#[test]
fn media_replies_round_trip() {
    let f = round_trip(&Reply::Image {
        media_id: "IMG".into(),
    });
    assert_eq!(f.nested("Image").unwrap().text("MediaId"), Some("IMG"));
    let f = round_trip(&Reply::Voice {
        media_id: "VOI".into(),
    });
    assert_eq!(f.nested("Voice").unwrap().text("MediaId"), Some("VOI"));
    let f = round_trip(&Reply::Video {
        media_id: "VID".into(),
        title: Some("t".into()),
        description: None,
    });
    let v = f.nested("Video").unwrap();
    assert_eq!(v.text("MediaId"), Some("VID"));
    assert_eq!(v.text("Title"), Some("t"));
    assert_eq!(v.text("Description"), None);
    let f = round_trip(&Reply::Music {
        title: Some("song".into()),
        description: Some("d".into()),
        music_url: Some("http://m".into()),
        hq_music_url: Some("http://hq".into()),
        thumb_media_id: "THUMB".into(),
    });
    let m = f.nested("Music").unwrap();
    assert_eq!(m.text("HQMusicUrl"), Some("http://hq"));
    assert_eq!(m.text("ThumbMediaId"), Some("THUMB"));
}

#[test]
fn news_reply_round_trips_with_items() {
    let f = round_trip(&Reply::News {
        articles: vec![article(1), article(2)],
    });
    assert_eq!(f.text("ArticleCount"), Some("2"));
    let items = f.nested("Articles").unwrap().list("item").unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].text("Title"), Some("title 2"));
    assert_eq!(items[0].text("PicUrl"), Some("https://p/1.jpg"));
    assert_eq!(items[0].text("Url"), Some("https://u/1"));
}

#[test]
fn transfer_customer_service_round_trips() {
    let f = round_trip(&Reply::TransferCustomerService { kf_account: None });
    assert!(f.get("TransInfo").is_none());
    let f = round_trip(&Reply::TransferCustomerService {
        kf_account: Some("test1@test".into()),
    });
    assert_eq!(
        f.nested("TransInfo").unwrap().text("KfAccount"),
        Some("test1@test")
    );
}

#[test]
fn validation_rules() {
    assert!(
        Reply::Text {
            content: " ".into()
        }
        .validate()
        .is_err()
    );
    assert!(
        Reply::Image {
            media_id: String::new()
        }
        .validate()
        .is_err()
    );
    assert!(
        Reply::Voice {
            media_id: String::new()
        }
        .validate()
        .is_err()
    );
    assert!(
        Reply::Video {
            media_id: String::new(),
            title: None,
            description: None
        }
        .validate()
        .is_err()
    );
    let music = |thumb: &str| Reply::Music {
        title: None,
        description: None,
        music_url: None,
        hq_music_url: None,
        thumb_media_id: thumb.into(),
    };
    assert!(music("").validate().is_err());
    assert!(music("T").validate().is_ok());
    let news = |n: u32| Reply::News {
        articles: (1..=n).map(article).collect(),
    };
    assert!(news(0).validate().is_err());
    assert!(news(8).validate().is_ok());
    assert!(news(9).validate().is_err());
    // Since 2018-10-12 a reply to a user message carries one article; events may carry 8.
    assert!(news(1).validate_for(true).is_ok());
    let err = news(2).validate_for(true).unwrap_err();
    assert!(err.contains("only 1 article"), "{err}");
    assert!(news(8).validate_for(false).is_ok());
    assert!(news(9).validate_for(false).is_err());
    assert!(
        Reply::Text {
            content: "x".into()
        }
        .validate_for(true)
        .is_ok()
    );
}

#[test]
fn replies_come_from_json_config() {
    let text: Reply = serde_json::from_str(r#"{"type":"text","content":"hi"}"#).unwrap();
    assert_eq!(
        text,
        Reply::Text {
            content: "hi".into()
        }
    );
    let news: Reply =
        serde_json::from_str(r#"{"type":"news","articles":[{"title":"t","url":"https://u"}]}"#)
            .unwrap();
    assert_eq!(
        news,
        Reply::News {
            articles: vec![Article {
                title: "t".into(),
                description: String::new(),
                pic_url: String::new(),
                url: "https://u".into()
            }]
        }
    );
    let kf: Reply = serde_json::from_str(r#"{"type":"transfer_customer_service"}"#).unwrap();
    assert_eq!(kf, Reply::TransferCustomerService { kf_account: None });
    let video: Reply = serde_json::from_str(r#"{"type":"video","media_id":"m"}"#).unwrap();
    assert_eq!(
        video,
        Reply::Video {
            media_id: "m".into(),
            title: None,
            description: None
        }
    );
    assert!(serde_json::from_str::<Reply>(r#"{"type":"gif","media_id":"m"}"#).is_err());
    // And back.
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        serde_json::json!({"type": "text", "content": "hi"})
    );
}

#[test]
fn wechatpy_encrypted_reply_vector() {
    // test-vectors V3: same token/key/id as V2, random "1234567890123456".
    let key = EncodingAesKey::parse("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").unwrap();
    let crypt = MessageCrypt::with_receive_id(key, "wx49f0ab532d5d035a");
    let token = Token::parse("123456").unwrap();
    let reply = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    let encrypt = crypt.encrypt_with_random(reply, b"1234567890123456");
    let out = encrypted_envelope(&token, &encrypt, 1411525903, "461056294");
    assert_eq!(
        out,
        "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>\n<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>"
    );
}

#[test]
fn encrypted_reply_decrypts_and_verifies() {
    let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let appid = wechat::AppId::parse("wxb11529c136998cb6").unwrap();
    let crypt = MessageCrypt::new(key, &appid);
    let token = Token::parse("pamtest").unwrap();
    let reply_xml = Reply::Text {
        content: "a]]>b".into(),
    }
    .to_xml(OPENID, GH, 1407743423);
    let out = encrypted_reply_xml(&crypt, &token, &reply_xml, 1407743423, "xxxxxx");
    let f = parse_xml_fields(&out).unwrap();
    let encrypt = encrypted_payload(&f).unwrap();
    assert_eq!(f.text("TimeStamp"), Some("1407743423"));
    assert_eq!(f.text("Nonce"), Some("xxxxxx"));
    assert!(token.verify_msg_signature(
        f.text("MsgSignature").unwrap(),
        "1407743423",
        "xxxxxx",
        encrypt
    ));
    let inner = crypt.decrypt(encrypt).unwrap();
    assert_eq!(inner, reply_xml);
    assert_eq!(
        parse_xml_fields(&inner).unwrap().text("Content"),
        Some("a]]>b")
    );
    // Fresh random prefix per reply.
    assert_ne!(
        out,
        encrypted_reply_xml(&crypt, &token, &reply_xml, 1407743423, "xxxxxx")
    );
}

#[test]
fn map_strings_reaches_every_text_of_every_type() {
    let s = || "{x}".to_owned();
    let replies = [
        Reply::Text { content: s() },
        Reply::Image { media_id: s() },
        Reply::Voice { media_id: s() },
        Reply::Video {
            media_id: s(),
            title: Some(s()),
            description: Some(s()),
        },
        Reply::Music {
            title: Some(s()),
            description: Some(s()),
            music_url: Some(s()),
            hq_music_url: Some(s()),
            thumb_media_id: s(),
        },
        Reply::News {
            articles: vec![
                Article {
                    title: s(),
                    description: s(),
                    pic_url: s(),
                    url: s(),
                };
                2
            ],
        },
        Reply::TransferCustomerService {
            kf_account: Some(s()),
        },
    ];
    fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(k, _)| *k != "type")
                .for_each(|(_, v)| strings(v, out)),
            _ => {}
        }
    }
    for reply in replies {
        let mapped = reply.map_strings(|t| t.replace("{x}", "filled"));
        let mut texts = Vec::new();
        strings(&serde_json::to_value(&mapped).unwrap(), &mut texts);
        assert!(!texts.is_empty());
        assert!(texts.iter().all(|t| t == "filled"), "{mapped:?}");
        assert_eq!(mapped.msg_type(), reply.msg_type());
    }
}
