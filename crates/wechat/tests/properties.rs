//! Property tests: the crypto round-trips for any message and key, and nothing that reads
//! attacker-controlled input panics.

use proptest::prelude::*;
use wechat::crypto::{CryptError, EncodingAesKey, MessageCrypt};
use wechat::message::{parse, parse_xml_fields};
use wechat::reply::Reply;

const APPID: &str = "wxb11529c136998cb6";

fn key_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{43}"
}

fn crypt(key: &str) -> MessageCrypt {
    MessageCrypt::with_receive_id(EncodingAesKey::parse(key).unwrap(), APPID)
}

proptest! {
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
}
