//! Push signatures (docs/wechat-protocol.md §C.1, §C.7): WeChat proves a request came from it by
//! SHA-1 over the lexicographically sorted, concatenated strings. The same function signs the
//! URL `signature` (token, timestamp, nonce) and the `msg_signature` (token, timestamp, nonce,
//! Encrypt). Comparison is constant-time, and every POST must be checked, not only the GET
//! (field-lessons row 15: SDKs that skip it accept anyone's pushes).

use std::fmt;

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// A fresh random nonce for a signature (the `nonceStr` of JS-SDK, the `Nonce` of an encrypted
/// reply): 16 letters and digits, like WeChat's own.
pub fn nonce() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(&rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect()
}

/// SHA-1 of the parts sorted by bytes and joined without separator, as lowercase hex.
pub fn sign(parts: &[&str]) -> String {
    let hex = sign_hex(parts);
    // Hex digits are ASCII.
    String::from_utf8_lossy(&hex).into_owned()
}

/// [`sign`] into a buffer on the stack: checking a push allocates nothing.
fn sign_hex(parts: &[&str]) -> [u8; 40] {
    // A push signs 3 or 4 parts; more are sorted in a vector.
    let mut few = [""; 4];
    let mut many = Vec::new();
    let sorted: &mut [&str] = if parts.len() <= few.len() {
        few[..parts.len()].copy_from_slice(parts);
        &mut few[..parts.len()]
    } else {
        many.extend_from_slice(parts);
        &mut many
    };
    sorted.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let mut hasher = Sha1::new();
    for part in sorted.iter() {
        hasher.update(part.as_bytes());
    }
    let mut hex = [0u8; 40];
    // 20 bytes always fit 40 hex digits.
    let _ = hex::encode_to_slice(hasher.finalize(), &mut hex);
    hex
}

/// Whether `expected_hex` (from the query string, any letter case) is the signature of `parts`.
/// Constant-time in the signature bytes; never panics, whatever the input.
pub fn verify(expected_hex: &str, parts: &[&str]) -> bool {
    let computed = sign_hex(parts);
    let expected = expected_hex.trim().as_bytes();
    let mut lower = [0u8; 40];
    if expected.len() != lower.len() {
        return false;
    }
    for (l, e) in lower.iter_mut().zip(expected) {
        *l = e.to_ascii_lowercase();
    }
    lower.ct_eq(&computed).into()
}

/// The server Token (服务器配置 → 令牌): the shared secret behind both signatures.
/// The console accepts 3–32 letters and digits, so anything else is a configuration mistake.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn parse(value: &str) -> Result<Self, String> {
        let len = value.chars().count();
        if !(3..=32).contains(&len) {
            return Err(format!(
                "the server Token must be 3 to 32 letters and digits (公众平台 → 基本配置 → 服务器配置), got {len} characters"
            ));
        }
        if let Some(bad) = value.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "the server Token may contain only letters A-Z, a-z and digits 0-9, found {bad:?}"
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The secret itself; every call site is a place where it can leak, so keep them few.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// The URL `signature` for this token (§C.1).
    pub fn signature(&self, timestamp: &str, nonce: &str) -> String {
        sign(&[&self.0, timestamp, nonce])
    }

    /// Checks the URL `signature` sent with the GET verification and with every POST.
    pub fn verify_signature(&self, signature: &str, timestamp: &str, nonce: &str) -> bool {
        verify(signature, &[&self.0, timestamp, nonce])
    }

    /// The `msg_signature` over the `Encrypt` payload (§C.7).
    pub fn msg_signature(&self, timestamp: &str, nonce: &str, encrypt: &str) -> String {
        sign(&[&self.0, timestamp, nonce, encrypt])
    }

    /// Checks `msg_signature` (not `signature`: wechatpy#739) before decrypting.
    pub fn verify_msg_signature(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> bool {
        verify(msg_signature, &[&self.0, timestamp, nonce, encrypt])
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_url_verification_example() {
        // §C.1: Token AAAAA, timestamp 1714036504, nonce 1514711492.
        let sig = sign(&["AAAAA", "1714036504", "1514711492"]);
        assert_eq!(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696");
        let token = Token::parse("AAAAA").unwrap();
        assert!(token.verify_signature(&sig, "1714036504", "1514711492"));
        // Plaintext POST example.
        assert_eq!(
            token.signature("1714037059", "486452656"),
            "899cf89e464efb63f54ddac96b0a0a235f53aa78"
        );
    }

    #[test]
    fn order_of_parts_does_not_matter() {
        assert_eq!(
            sign(&["pamtest", "1409304348", "xxxxxx"]),
            "76480565cbe296026c53aaacd1ad523a1ddba24f"
        );
        assert_eq!(
            sign(&["xxxxxx", "pamtest", "1409304348"]),
            "76480565cbe296026c53aaacd1ad523a1ddba24f"
        );
    }

    #[test]
    fn sdk_signature_vectors() {
        // wechatpy test_utils.py
        assert_eq!(
            sign(&["test", "1410685589", "test"]),
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"
        );
        assert!(!verify(
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe",
            &["test", "1410685589", "test"]
        ));
        // node-webot/wechat-crypto getSignature('timestamp','nonce','encrypt')
        assert_eq!(
            sign(&["RMNlACHlV5ThzfRlVS4D4", "timestamp", "nonce", "encrypt"]),
            "8edac0945683c119ee71c9f6256d76c48aa08a96"
        );
        // messense/wechat-rs test_get_signature
        assert_eq!(
            sign(&["test", "123456", "test", "rust"]),
            "d6056f2bb3ad3e30f4afa5ef90cc9ddcdc7b7b27"
        );
        // WxJava SHA1.gen("123","345")
        assert_eq!(
            sign(&["123", "345"]),
            "9f537aeb751ec72605f57f94a2f6dc3e3958e1dd"
        );
        // silenceper Signature("a","b","c") = sha1("abc")
        assert_eq!(
            sign(&["c", "a", "b"]),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn msg_signature_vectors() {
        let t = |s: &str| Token::parse(s).unwrap();
        // H.1: WxJava afterAesEncrypt2 signed with pamtest/1409304348/xxxxxx.
        let encrypt2 = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
        assert_eq!(
            t("pamtest").msg_signature("1409304348", "xxxxxx", encrypt2),
            "ea88b765074e41eb8c7a75b449db34fa2fd560d5"
        );
        // V4 echostr check (WeCom style, shared 4-field code path).
        let echo = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert!(t("123456").verify_msg_signature(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            "1411443780",
            "437374425",
            echo
        ));
        assert!(!t("123456").verify_msg_signature(
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
            "1411443780",
            "437374424",
            echo
        ));
        // V12 EasyWeChat WeCom URL verification.
        assert!(t("QDG6eK").verify_msg_signature(
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
            "1409659589",
            "263014780",
            "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
        ));
    }

    #[test]
    fn verify_accepts_uppercase_and_rejects_garbage_without_panicking() {
        let parts = ["test", "1410685589", "test"];
        assert!(verify("F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF", &parts));
        for bad in ["", "f2", "zz", "é", &"f".repeat(1000)] {
            assert!(!verify(bad, &parts));
        }
    }

    #[test]
    fn token_is_validated_and_redacted() {
        assert!(Token::parse("abc").is_ok());
        assert!(Token::parse(&"a".repeat(32)).is_ok());
        let short = Token::parse("ab").unwrap_err();
        assert!(short.contains("got 2"), "{short}");
        assert!(Token::parse(&"a".repeat(33)).is_err());
        assert!(Token::parse("abc-def").unwrap_err().contains("'-'"));
        assert!(Token::parse("令牌令牌").is_err());
        let t = Token::parse("SuperSecret1").unwrap();
        assert!(!format!("{t:?}").contains("SuperSecret1"));
    }
}
