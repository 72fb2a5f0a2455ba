//! Property tests: the crypto round-trips for any message and key, and nothing that reads
//! attacker-controlled input panics — arbitrary bytes, and real inputs (pushes, encrypted
//! envelopes, menu files, API answers, replies) mangled at random.
//!
//! `WXGATE_PROPTEST_CASES` sets the number of cases per property (256 by default;
//! scripts/test runs many more).

use proptest::prelude::*;
use wechat::crypto::{CryptError, EncodingAesKey, MessageCrypt};
use wechat::message::{parse, parse_xml_fields};
use wechat::reply::Reply;

const APPID: &str = "wxb11529c136998cb6";

fn cases() -> u32 {
    std::env::var("WXGATE_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// One random edit of a text: insert, delete, duplicate or replace a stretch.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, String),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Replace(usize, char),
}

fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (
            any::<usize>(),
            "(<|>|&|;|/|\\]\\]>|<!\\[CDATA\\[|\"|'|\\{|\\}|\\[|\\]|=|,|:|\\PC){1,4}"
        )
            .prop_map(|(at, s)| Edit::Insert(at, s)),
        (any::<usize>(), 1usize..40).prop_map(|(at, n)| Edit::Delete(at, n)),
        (any::<usize>(), 1usize..60).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        (any::<usize>(), any::<char>()).prop_map(|(at, c)| Edit::Replace(at, c)),
    ];
    proptest::collection::vec(edit, 1..8)
}

/// `text` with `edits` applied (positions wrap around, and land on character boundaries).
fn mangle(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let len = chars.len().max(1);
        match e {
            Edit::Insert(at, s) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, s.chars());
            }
            Edit::Delete(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                if at < end {
                    chars.drain(at..end);
                }
            }
            Edit::Duplicate(at, n) => {
                let at = at % len;
                let end = (at + n).min(chars.len());
                if at < end {
                    let copy: Vec<char> = chars[at..end].to_vec();
                    chars.splice(end..end, copy);
                }
            }
            Edit::Replace(at, c) => {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = *c;
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// Real pushes, as WeChat sends them: every kind of message and event.
const PUSHES: &[&str] = &[
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o6_bmjrPTlm6_2sgVt7hMZOPfL2M]]></FromUserName><CreateTime>1348831860</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[this is a test]]></Content><MsgId>1234567890123456</MsgId></xml>",
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>123456789</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket></xml>",
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1408090816</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[pic_weixin]]></Event><EventKey><![CDATA[6]]></EventKey><SendPicsInfo><Count>1</Count><PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum></item></PicList></SendPicsInfo></xml>",
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1351776360</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId></xml>",
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[bXNnX2VuY3J5cHQ=]]></Encrypt></xml>",
];

const API_ANSWERS: &[&str] = &[
    r#"{"access_token":"A","expires_in":7200,"refresh_token":"R","openid":"O","scope":"snsapi_userinfo","is_snapshotuser":1,"unionid":"U"}"#,
    r#"{"openid":"O","nickname":"张三","sex":1,"province":"","city":"","country":"","headimgurl":"http://x/0","privilege":["a"],"unionid":"U"}"#,
    r#"{"access_token":"T","expires_in":7200}"#,
    r#"{"errcode":0,"errmsg":"ok","ticket":"T","expires_in":7200}"#,
    r#"{"errcode":40001,"errmsg":"invalid credential rid: 1-2-3"}"#,
];

fn key_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{43}"
}

fn crypt(key: &str) -> MessageCrypt {
    MessageCrypt::with_receive_id(EncodingAesKey::parse(key).unwrap(), APPID)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn encrypt_decrypt_round_trip(key in key_strategy(), msg in any::<String>(), random in any::<[u8; 16]>()) {
        let c = crypt(&key);
        prop_assert_eq!(c.decrypt(&c.encrypt_with_random(&msg, &random)).unwrap(), msg.clone());
        prop_assert_eq!(c.decrypt(&c.encrypt(&msg)).unwrap(), msg);
    }

    #[test]
    fn any_43_alphanumerics_is_a_key(key in key_strategy()) {
        prop_assert!(EncodingAesKey::parse(&key).is_ok());
    }

    #[test]
    fn decrypt_never_panics_on_arbitrary_base64(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        use base64::Engine;
        let c = crypt("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
        let _ = c.decrypt(&base64::engine::general_purpose::STANDARD.encode(&bytes));
    }

    #[test]
    fn decrypt_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let c = crypt("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
        let _ = c.decrypt(&s);
    }

    #[test]
    fn padding_check_rejects_zero_and_above_32(pad in prop_oneof![Just(0u8), 33u8..=255], blocks in 1usize..4) {
        // A plaintext whose last byte is an impossible pad value, encrypted by hand.
        use aes::cipher::{Block, BlockModeEncrypt, KeyIvInit};
        let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
        let mut buf = vec![pad; blocks * 32];
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&key.secret()[..16]);
        let mut enc = cbc::Encryptor::<aes::Aes256>::new(&(*key.secret()).into(), &iv.into());
        let (chunks, _) = Block::<cbc::Encryptor<aes::Aes256>>::slice_as_chunks_mut(&mut buf);
        enc.encrypt_blocks(chunks);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&buf);
        prop_assert_eq!(MessageCrypt::with_receive_id(key, APPID).decrypt(&b64), Err(CryptError::Padding));
    }

    #[test]
    fn parse_never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = parse_xml_fields(&s);
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_xml_like_soup(s in "(<xml>|</xml>|<[A-Za-z]{1,3}>|</[A-Za-z]{1,3}>|<!\\[CDATA\\[|\\]\\]>|&#x?[0-9A-Fa-f]{0,8};|&[a-z]{0,4};|<!DOCTYPE|<\\?xml|[\\x00-\\x1f]|[a-z0-9 ]{0,5}){0,40}") {
        let _ = parse_xml_fields(&s);
        let _ = parse(&s);
    }

    #[test]
    fn any_text_reply_round_trips(content in "(\\PC|\\]\\]>){1,100}", to in "[A-Za-z0-9_-]{1,28}") {
        let reply = Reply::Text { content: content.clone() };
        let xml = reply.to_xml(&to, "gh_1", 1);
        let f = parse_xml_fields(&xml).unwrap();
        prop_assert_eq!(f.text("Content").unwrap(), content.as_str());
        prop_assert_eq!(f.text("ToUserName").unwrap(), to.as_str());
    }

    #[test]
    fn mangled_pushes_never_panic(which in 0..PUSHES.len(), e in edits()) {
        let body = mangle(PUSHES[which], &e);
        let _ = parse_xml_fields(&body);
        let _ = parse(&body);
        let _ = wechat::message::encrypt_element(&body);
    }

    #[test]
    fn the_ciphertext_scan_never_panics(s in any::<String>()) {
        let _ = wechat::message::encrypt_element(&s);
    }

    #[test]
    fn mangled_encrypted_envelopes_never_panic(msg in "\\PC{0,80}", e in edits()) {
        let c = crypt("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
        let sealed = c.encrypt(&msg);
        let _ = c.decrypt(&mangle(&sealed, &e));
        let _ = wechat::crypto::decrypt_with_rotation(&c, None, &mangle(&sealed, &e));
    }

    #[test]
    fn menus_from_any_json_never_panic(text in any::<String>(), e in edits()) {
        use wechat::menu::{Menu, validate};
        let seed = r#"{"button":[{"type":"click","name":"sunck","key":"V1001_SUNCK"},{"name":"佳丽","sub_button":[{"type":"view","name":"更多","url":"http://www.baidu.com/"}]}],"matchrule":{"tag_id":"2"}}"#;
        for input in [text, mangle(seed, &e)] {
            if let Ok(menu) = serde_json::from_str::<Menu>(&input) {
                let _ = validate(&menu);
                let _ = wechat::menu::diff(&menu, &Menu::default());
                let _ = serde_json::to_string(&menu);
            }
        }
    }

    #[test]
    fn mangled_api_answers_never_panic(which in 0..API_ANSWERS.len(), e in edits()) {
        let body = mangle(API_ANSWERS[which], &e);
        let _ = serde_json::from_str::<wechat::OAuthToken>(&body);
        let _ = serde_json::from_str::<wechat::UserInfo>(&body);
        let _ = serde_json::from_str::<wechat::api::BaseToken>(&body);
        let _ = serde_json::from_str::<wechat::api::Ticket>(&body);
        let _ = serde_json::from_str::<wechat::menu::MenuSet>(&body);
    }

    #[test]
    fn replies_from_any_json_never_panic(s in any::<String>(), e in edits()) {
        let sample = r#"{"type":"news","articles":[{"title":"t","description":"d","pic_url":"http://p","url":"http://u"}]}"#;
        for body in [s, mangle(sample, &e)] {
            if let Ok(reply) = serde_json::from_str::<Reply>(&body) {
                let _ = reply.validate_for(true);
                let _ = reply.to_xml("o1", "gh_1", 1);
            }
        }
    }

    #[test]
    fn protocol_values_parse_any_string(s in any::<String>()) {
        let _ = EncodingAesKey::parse(&s);
        let _ = wechat::signature::Token::parse(&s);
        let _ = wechat::AppId::parse(&s);
        let _ = wechat::State::parse(&s);
    }
}
