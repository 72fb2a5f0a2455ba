//! WXBizMsgCrypt: the AES layer of compatible and safe mode (docs/wechat-protocol.md §C.7).
//!
//! Plaintext = `random(16) || u32_be(len(msg)) || msg || appid`, PKCS#7-padded to a multiple of
//! **32** bytes, AES-256-CBC with IV = key[..16], standard Base64. The block-32 padding is why a
//! generic 16-byte PKCS#7 unpadder rejects real traffic (test-vectors §6e), so padding is done by
//! hand here and the cipher runs without padding.
//!
//! CBC without a MAC is malleable: always check `msg_signature` *before* calling
//! [`MessageCrypt::decrypt`], and don't tell the client which [`CryptError`] happened.

use std::fmt;

use aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::{Block, BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use rand::RngCore;

type Aes256CbcEnc = cbc::Encryptor<Aes256>;
type Aes256CbcDec = cbc::Decryptor<Aes256>;

/// WeChat's PKCS#7 block size (not AES's 16).
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const LEN_PREFIX: usize = 4;

/// Base64 that accepts the non-zero trailing bits some EncodingAESKeys have (§6e).
const LENIENT_KEY_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The 43-character EncodingAESKey (消息加解密密钥), decoded to the 32-byte AES key.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingAesKey {
    key: [u8; 32],
}

impl EncodingAesKey {
    pub fn parse(value: &str) -> Result<Self, String> {
        let len = value.chars().count();
        if len != 43 {
            return Err(format!(
                "EncodingAESKey must be 43 letters and digits, got {len} (copy it from 公众平台 → 基本配置 → 服务器配置)"
            ));
        }
        if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "EncodingAESKey may contain only letters and digits, found {bad:?}"
            ));
        }
        let bytes = LENIENT_KEY_B64
            .decode(format!("{value}="))
            .map_err(|e| format!("EncodingAESKey is not valid Base64: {e}"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "EncodingAESKey does not decode to 32 bytes".to_owned())?;
        Ok(Self { key })
    }

    /// The decoded AES-256 key; every call site is a place where it can leak.
    pub fn secret(&self) -> &[u8; 32] {
        &self.key
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey([redacted])")
    }
}

/// Why a ciphertext was refused. Loosely the official sample's error codes (see [`Self::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptError {
    #[error("Encrypt is not valid Base64")]
    Base64,
    #[error("ciphertext length {0} is not a non-zero multiple of 16")]
    Length(usize),
    #[error("PKCS#7 padding (block 32) is invalid")]
    Padding,
    #[error("decrypted buffer is too short or its length prefix is out of bounds")]
    Buffer,
    #[error("decrypted message is not UTF-8")]
    Utf8,
    #[error("decrypted message belongs to another AppID")]
    AppIdMismatch,
}

impl CryptError {
    /// The WXBizMsgCrypt sample-code error number for this failure (§C.7).
    pub fn code(&self) -> i32 {
        match self {
            Self::Base64 => -40010,
            Self::Length(_) | Self::Padding => -40007,
            Self::Buffer | Self::Utf8 => -40008,
            Self::AppIdMismatch => -40005,
        }
    }
}

/// Encrypts and decrypts message bodies for one account.
#[derive(Clone)]
pub struct MessageCrypt {
    key: EncodingAesKey,
    appid: String,
}

impl fmt::Debug for MessageCrypt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageCrypt")
            .field("key", &self.key)
            .field("appid", &self.appid)
            .finish()
    }
}

impl MessageCrypt {
    pub fn new(key: EncodingAesKey, appid: &crate::AppId) -> Self {
        Self::with_receive_id(key, appid.as_str())
    }

    /// Any trailer id, not only an Official Account AppID (WeCom corpids, SDK test vectors).
    pub fn with_receive_id(key: EncodingAesKey, receive_id: &str) -> Self {
        Self {
            key,
            appid: receive_id.to_owned(),
        }
    }

    /// Encrypts `xml` with a fresh 16-byte random prefix from the OS-seeded CSPRNG: reusing the
    /// request's prefix (silenceper) makes equal replies produce equal ciphertexts.
    pub fn encrypt(&self, xml: &str) -> String {
        let mut random = [0u8; RANDOM_LEN];
        rand::rng().fill_bytes(&mut random);
        self.encrypt_with_random(xml, &random)
    }

    /// Deterministic encryption, for test vectors.
    pub fn encrypt_with_random(&self, xml: &str, random: &[u8; 16]) -> String {
        let msg = xml.as_bytes();
        let msg_len = u32::try_from(msg.len()).unwrap_or(u32::MAX);
        let mut buf =
            Vec::with_capacity(RANDOM_LEN + LEN_PREFIX + msg.len() + self.appid.len() + PAD_BLOCK);
        buf.extend_from_slice(random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.appid.as_bytes());
        let pad = PAD_BLOCK - buf.len() % PAD_BLOCK;
        // pad is 1..=32, so it fits in a byte.
        buf.resize(buf.len() + pad, pad as u8);

        let mut enc = Aes256CbcEnc::new(&self.key.key.into(), &self.key.iv().into());
        let (blocks, rest) = Block::<Aes256CbcEnc>::slice_as_chunks_mut(&mut buf);
        debug_assert!(rest.is_empty());
        enc.encrypt_blocks(blocks);
        STANDARD.encode(&buf)
    }

    /// Decrypts the `Encrypt` element's text. Never panics, whatever the input.
    pub fn decrypt(&self, base64_ciphertext: &str) -> Result<String, CryptError> {
        let mut buf = STANDARD
            .decode(base64_ciphertext.trim())
            .map_err(|_| CryptError::Base64)?;
        if buf.is_empty() || buf.len() % 16 != 0 {
            return Err(CryptError::Length(buf.len()));
        }
        let mut dec = Aes256CbcDec::new(&self.key.key.into(), &self.key.iv().into());
        let (blocks, _) = Block::<Aes256CbcDec>::slice_as_chunks_mut(&mut buf);
        dec.decrypt_blocks(blocks);

        let content = unpad(&buf)?;
        if content.len() < RANDOM_LEN + LEN_PREFIX {
            return Err(CryptError::Buffer);
        }
        let (len_bytes, rest) = content[RANDOM_LEN..].split_at(LEN_PREFIX);
        let msg_len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        let msg_len = usize::try_from(msg_len).map_err(|_| CryptError::Buffer)?;
        if msg_len > rest.len() {
            return Err(CryptError::Buffer);
        }
        let (msg, trailer) = rest.split_at(msg_len);
        if trailer != self.appid.as_bytes() {
            return Err(CryptError::AppIdMismatch);
        }
        String::from_utf8(msg.to_vec()).map_err(|_| CryptError::Utf8)
    }
}

/// Strict PKCS#7 with block 32: the pad value is 1..=32, fits the buffer, and every pad byte
/// equals it.
fn unpad(buf: &[u8]) -> Result<&[u8], CryptError> {
    let Some(&last) = buf.last() else {
        return Err(CryptError::Padding);
    };
    let pad = usize::from(last);
    if pad == 0 || pad > PAD_BLOCK || pad > buf.len() {
        return Err(CryptError::Padding);
    }
    let (content, padding) = buf.split_at(buf.len() - pad);
    if padding.iter().any(|&b| b != last) {
        return Err(CryptError::Padding);
    }
    Ok(content)
}

/// Which key decrypted a message; the reply must be encrypted with the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsed {
    Current,
    Previous,
}

/// Tries the current key, then the previous one (the §C.7 FAQ advice for key rotation). On
/// failure the error is the current key's.
pub fn decrypt_with_rotation(
    current: &MessageCrypt,
    previous: Option<&MessageCrypt>,
    ciphertext: &str,
) -> Result<(String, KeyUsed), CryptError> {
    match current.decrypt(ciphertext) {
        Ok(xml) => Ok((xml, KeyUsed::Current)),
        Err(err) => match previous.map(|p| p.decrypt(ciphertext)) {
            Some(Ok(xml)) => Ok((xml, KeyUsed::Previous)),
            _ => Err(err),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypt(key: &str, id: &str) -> MessageCrypt {
        MessageCrypt::with_receive_id(EncodingAesKey::parse(key).unwrap(), id)
    }

    const OA_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const OA_APPID: &str = "wxb11529c136998cb6";
    const V2_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const V2_ID: &str = "wx49f0ab532d5d035a";

    #[test]
    fn key_decodes_to_the_documented_bytes() {
        let key = EncodingAesKey::parse(OA_KEY).unwrap();
        assert_eq!(
            hex::encode(key.secret()),
            "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
        );
        assert_eq!(hex::encode(key.iv()), "69b71d79f8218a39259a7a29aabb2dba");
        assert!(!format!("{key:?}").contains("69b7"));
    }

    #[test]
    fn key_parse_errors_are_explicit() {
        let e = EncodingAesKey::parse(&OA_KEY[..42]).unwrap_err();
        assert!(e.contains("43 letters and digits, got 42"), "{e}");
        let e = EncodingAesKey::parse(&format!("{}+", &OA_KEY[..42])).unwrap_err();
        assert!(e.contains("'+'"), "{e}");
        assert!(EncodingAesKey::parse("").is_err());
        // 43 chars of non-ASCII must not be sliced mid-character or accepted.
        assert!(EncodingAesKey::parse(&"é".repeat(43)).is_err());
    }

    #[test]
    fn wxjava_official_encrypt_vectors() {
        let c = crypt(OA_KEY, OA_APPID);
        assert_eq!(
            c.encrypt_with_random("我是中文abcd123", b"aaaabbbbccccdddd"),
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        let xml = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
        let expected = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
        assert_eq!(c.encrypt_with_random(xml, b"aaaabbbbccccdddd"), expected);
        assert_eq!(c.decrypt(expected).unwrap(), xml);
    }

    #[test]
    fn official_wecom_sample_decrypts_with_pad_30() {
        let c = crypt(
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
            "wx5823bf96d3bd56c7",
        );
        let enc = "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==";
        assert_eq!(
            c.decrypt(enc).unwrap(),
            "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"
        );
        let sig = crate::signature::sign(&["QDG6eK", "1409659813", "1372623149", enc]);
        assert_eq!(sig, "477715d11cdb4164915debcba66cb864d751f3e6");
        // V12 echostr, pad 7.
        assert_eq!(
            c.decrypt("P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==")
                .unwrap(),
            "1616140317555161061"
        );
    }

    #[test]
    fn wechatpy_vectors() {
        let c = crypt(V2_KEY, V2_ID);
        let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert_eq!(
            crate::signature::sign(&["123456", "1411525903", "461056294", enc]),
            "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
        );
        assert_eq!(
            c.decrypt(enc).unwrap(),
            "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"
        );
        // V4 encrypted echostr.
        assert_eq!(
            c.decrypt("4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==")
                .unwrap(),
            "5927782489442352469"
        );
        // messense prp companion: id "rust".
        let r = crypt(V2_KEY, "rust");
        assert_eq!(
            r.encrypt_with_random("test", b"1234567890123456"),
            "9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY="
        );
        assert_eq!(
            r.decrypt("9s4gMv99m88kKTh/H8IdkNiFGeG9pd7vNWl50fGRWXY=")
                .unwrap(),
            "test"
        );
    }

    #[test]
    fn easywechat_oa_decrypt_and_wrong_appid() {
        let enc = "rTNFcsut4LfGuAFKEUVVpwcaCOTJzOd9twZdIW910jb3k+iicx2uvhttIZ3Qg9Qgty3BEF2xbOrz6boTfb30dMomcgrkTqdFPwnhqbk+kIQ7rZiwny9D7NUrTgA5kpX3KsZvrXzUZyP2x9YOlxbgm572lmxKvM7HAQQhIQ/p6HBmoY30bGXFK0BtIu1pW9TjhOYrLQoU18nWYjWqDA1ynkmOytpv7QRI1P1+0NoxL0q2zO1DgeSvnE8CZGo/o5Ap/WHK5W2RAsinpzN4/LjPnmB6U01I5XCoJoC0GK/yMZycd2Oh8Nq6+wBkC1U85oy0ktOY4nLvsQMLrourmMGdZHuTbqpeJ8Ao/5PRYJ+WBvRUwPfGKBL2+2IKZF49vAJqkcGWSHGE76ZN2erXeuNazf/o9o3lIE3q739o4c8t9QGPe31GT2Go/rOz1BsrASwvauNulCh+++yz+CQzBIuikA==";
        assert_eq!(
            crate::signature::sign(&["pamtest", "1458300676", "260774613", enc]),
            "4f3ad57b6989f09f4eb392acce4f9e93942ed890"
        );
        assert_eq!(
            crypt(OA_KEY, OA_APPID).decrypt(enc).unwrap(),
            "<xml><URL><![CDATA[http://wechat.laravel.so/server]]></URL><ToUserName><![CDATA[asdasdasd]]></ToUserName><FromUserName><![CDATA[asdasdasdsadasd]]></FromUserName><CreateTime>1234567898</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>12345</MsgId></xml>"
        );
        let wrong = crypt(OA_KEY, "invalid appid");
        assert_eq!(wrong.decrypt(enc), Err(CryptError::AppIdMismatch));
        assert_eq!(CryptError::AppIdMismatch.code(), -40005);
    }

    #[test]
    fn malformed_ciphertexts_are_named() {
        let c = crypt(OA_KEY, OA_APPID);
        assert_eq!(c.decrypt("!!!"), Err(CryptError::Base64));
        assert_eq!(c.decrypt(""), Err(CryptError::Length(0)));
        assert_eq!(c.decrypt("AAAA"), Err(CryptError::Length(3)));
        // Wrong key: the padding (or, rarely, the layout) is garbage.
        let other = crypt(V2_KEY, OA_APPID);
        let enc = c.encrypt("<xml/>");
        assert!(other.decrypt(&enc).is_err());
    }

    /// Encrypts raw bytes without adding padding, to test the unpadder.
    fn encrypt_raw(c: &MessageCrypt, plain: &[u8]) -> String {
        let mut buf = plain.to_vec();
        let mut enc = Aes256CbcEnc::new(&c.key.key.into(), &c.key.iv().into());
        let (blocks, _) = Block::<Aes256CbcEnc>::slice_as_chunks_mut(&mut buf);
        enc.encrypt_blocks(blocks);
        STANDARD.encode(&buf)
    }

    #[test]
    fn padding_values_outside_1_to_32_are_rejected() {
        let c = crypt(OA_KEY, OA_APPID);
        let mut plain = vec![b'r'; 16];
        plain.extend_from_slice(&0u32.to_be_bytes());
        plain.extend_from_slice(OA_APPID.as_bytes());
        // 38 bytes of content: pad 26 is valid.
        let mut ok = plain.clone();
        ok.resize(64, 26);
        assert_eq!(c.decrypt(&encrypt_raw(&c, &ok)).unwrap(), "");
        for bad_last in [0u8, 33, 64, 255] {
            let mut bad = ok.clone();
            *bad.last_mut().unwrap() = bad_last;
            assert_eq!(
                c.decrypt(&encrypt_raw(&c, &bad)),
                Err(CryptError::Padding),
                "pad {bad_last}"
            );
        }
        // Buffers made only of an out-of-range pad value: only the 1..=32 bound rejects them.
        for pad in [33u8, 48, 64] {
            let all = vec![pad; 96];
            assert_eq!(
                c.decrypt(&encrypt_raw(&c, &all)),
                Err(CryptError::Padding),
                "pad {pad}"
            );
        }
        // Inconsistent pad bytes.
        let mut bad = ok.clone();
        bad[40] = 25;
        assert_eq!(c.decrypt(&encrypt_raw(&c, &bad)), Err(CryptError::Padding));
        // A length prefix beyond the buffer.
        let mut bad = ok.clone();
        bad[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(c.decrypt(&encrypt_raw(&c, &bad)), Err(CryptError::Buffer));
        // Too short to hold random + length.
        let short = vec![16u8; 32];
        assert_eq!(c.decrypt(&encrypt_raw(&c, &short)), Err(CryptError::Buffer));
        // Not UTF-8.
        let mut bin = vec![b'r'; 16];
        bin.extend_from_slice(&2u32.to_be_bytes());
        bin.extend_from_slice(&[0xff, 0xfe]);
        bin.extend_from_slice(OA_APPID.as_bytes());
        let pad = 32 - bin.len() % 32;
        bin.resize(bin.len() + pad, pad as u8);
        assert_eq!(c.decrypt(&encrypt_raw(&c, &bin)), Err(CryptError::Utf8));
    }

    #[test]
    fn encrypt_uses_a_fresh_random_prefix() {
        let c = crypt(OA_KEY, OA_APPID);
        let a = c.encrypt("<xml>same</xml>");
        let b = c.encrypt("<xml>same</xml>");
        assert_ne!(a, b);
        assert_eq!(c.decrypt(&a).unwrap(), "<xml>same</xml>");
        assert_eq!(c.decrypt(&b).unwrap(), "<xml>same</xml>");
    }

    #[test]
    fn rotation_reports_which_key_worked() {
        let current = crypt(V2_KEY, OA_APPID);
        let previous = crypt(OA_KEY, OA_APPID);
        let by_current = current.encrypt("<xml>new</xml>");
        let by_previous = previous.encrypt("<xml>old</xml>");
        assert_eq!(
            decrypt_with_rotation(&current, Some(&previous), &by_current).unwrap(),
            ("<xml>new</xml>".to_owned(), KeyUsed::Current)
        );
        assert_eq!(
            decrypt_with_rotation(&current, Some(&previous), &by_previous).unwrap(),
            ("<xml>old</xml>".to_owned(), KeyUsed::Previous)
        );
        assert!(decrypt_with_rotation(&current, None, &by_previous).is_err());
        let stranger = crypt("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", OA_APPID);
        assert!(decrypt_with_rotation(&current, Some(&previous), &stranger.encrypt("x")).is_err());
    }
}
