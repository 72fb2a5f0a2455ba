//! Judging the answer by WeChat's rules (docs/wechat-protocol.md §C.5–§C.7): the status, the
//! encryption, the reply's fields and types.

use super::report::text_of;
use super::*;

/// WeChat's rules for the answer (§C.5–§C.7). Returns the decoded reply, if one could be read.
pub(super) fn judge(
    target: &PushTarget,
    from_openid: &str,
    msg: &Outgoing,
    status: u16,
    bytes: &[u8],
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) -> Option<DecodedReply> {
    if status != 200 {
        problems.push(format!(
            "HTTP {status}: WeChat needs HTTP 200 — the user sees \"{NO_SERVICE}\""
        ));
        return None;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        problems.push("the body is not UTF-8".to_string());
        return None;
    };
    let trimmed = text.trim();
    if text.is_empty() || trimmed == "success" {
        if trimmed != text {
            notes.push(
                "`success` with surrounding whitespace: send exactly `success` or an empty body"
                    .to_string(),
            );
        }
        return None;
    }
    if trimmed.is_empty() {
        problems.push(
            "the body is only whitespace: send an empty body (0 bytes) or `success` for no reply"
                .to_string(),
        );
        return None;
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        problems.push(format!(
            "the body is JSON, not XML: passive replies must be XML (§C.6) — the user sees \"{NO_SERVICE}\""
        ));
        return None;
    }
    let (root, outer) = match xml::to_json(text) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!(
                "the body is neither `success`, empty nor XML ({e}) — the user sees \"{NO_SERVICE}\""
            ));
            return None;
        }
    };
    if root != "xml" {
        problems.push(format!("the reply's root element is <{root}>, not <xml>"));
    }
    let encrypted = outer.get("Encrypt").is_some();
    let (plain_xml, fields) = if encrypted {
        if !target.mode.encrypted() {
            problems.push(
                "an encrypted reply to a plaintext push: reply in the mode of the request (no encrypt_type in the query means plaintext)"
                    .to_string(),
            );
            return None;
        }
        let (xml, fields) = open_encrypted(target, &outer, problems)?;
        (xml, fields)
    } else {
        if target.mode == PushMode::Safe {
            problems.push(
                "a plaintext reply to an encrypted push in safe mode: the reply must be encrypted (<Encrypt>, <MsgSignature>, <TimeStamp>, <Nonce>)"
                    .to_string(),
            );
        }
        (text.to_string(), outer)
    };
    let msg_type = text_of(&fields, "MsgType").unwrap_or("").to_string();
    check_reply(target, from_openid, msg, &fields, problems, notes);
    Some(DecodedReply {
        msg_type,
        fields,
        xml: plain_xml,
        encrypted,
    })
}

/// Checks and decrypts an encrypted reply; returns its plaintext XML and fields.
pub(super) fn open_encrypted(
    target: &PushTarget,
    outer: &Value,
    problems: &mut Vec<String>,
) -> Option<(String, Value)> {
    let mut get = |name: &str| match text_of(outer, name) {
        Some(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            problems.push(format!("the encrypted reply has no <{name}>"));
            None
        }
    };
    let encrypt = get("Encrypt");
    let signature = get("MsgSignature");
    let timestamp = get("TimeStamp");
    let nonce = get("Nonce");
    let (Some(encrypt), Some(signature), Some(timestamp), Some(nonce)) =
        (encrypt, signature, timestamp, nonce)
    else {
        return None;
    };
    match timestamp.parse::<u64>() {
        Ok(t) if t > MILLIS_THRESHOLD => problems.push(format!(
            "TimeStamp {t} is in milliseconds: WeChat uses seconds (node-webot/wechat#243)"
        )),
        Ok(_) => {}
        Err(_) => problems.push(format!("TimeStamp {timestamp:?} is not a number")),
    }
    let expected = sign(&[&target.token, &timestamp, &nonce, &encrypt]);
    if !signature.eq_ignore_ascii_case(&expected) {
        problems.push(format!(
            "MsgSignature {signature} is wrong: sha1 of the sorted Token, TimeStamp, Nonce and Encrypt is {expected}"
        ));
    }
    let crypt = target.crypt().ok()?;
    let plain = match crypt.decrypt(&encrypt) {
        Ok(p) => p,
        Err(CryptError::AppIdMismatch) => {
            problems.push(format!(
                "the encrypted reply's AppID trailer is not {:?}: encrypt with the account's AppID",
                target.appid
            ));
            return None;
        }
        Err(e) => {
            problems.push(format!(
                "the Encrypt of the reply does not decrypt with the EncodingAESKey: {e} (sample-code error {})",
                e.code()
            ));
            return None;
        }
    };
    match xml::to_json(&plain) {
        // Decoded even when the signature was wrong, so the report can show it.
        Ok((_, fields)) => Some((plain, fields)),
        Err(e) => {
            problems.push(format!("the decrypted reply is not XML: {e}"));
            None
        }
    }
}

/// The passive-reply rules of §C.6.
pub(super) fn check_reply(
    target: &PushTarget,
    from_openid: &str,
    msg: &Outgoing,
    f: &Value,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    match text_of(f, "ToUserName") {
        Some(v) if v == from_openid => {}
        Some(v) => problems.push(format!(
            "ToUserName is {v:?}: it must be the sender's openid {from_openid:?} (the push's FromUserName)"
        )),
        None => problems.push("the reply has no <ToUserName>".to_string()),
    }
    match text_of(f, "FromUserName") {
        Some(v) if v == target.account_id => {}
        Some(v) => problems.push(format!(
            "FromUserName is {v:?}: it must be the account's original id {:?} (the push's ToUserName)",
            target.account_id
        )),
        None => problems.push("the reply has no <FromUserName>".to_string()),
    }
    match text_of(f, "CreateTime").map(str::trim) {
        None => problems.push("the reply has no <CreateTime>".to_string()),
        Some(v) => match v.parse::<u64>() {
            Ok(t) if t > MILLIS_THRESHOLD => problems.push(format!(
                "CreateTime {t} is in milliseconds: WeChat uses seconds (node-webot's bug)"
            )),
            Ok(_) => {}
            Err(_) => problems.push(format!("CreateTime {v:?} is not a number of seconds")),
        },
    }
    let msg_type = text_of(f, "MsgType").unwrap_or("");
    let need = |path: &[&str], problems: &mut Vec<String>| {
        let mut v = f;
        for p in path {
            match v.get(*p) {
                Some(next) => v = next,
                None => {
                    problems.push(format!("a {msg_type} reply needs <{}>", path.join("><")));
                    return;
                }
            }
        }
        if v.as_str().is_some_and(|s| s.trim().is_empty()) {
            problems.push(format!(
                "<{}> of the {msg_type} reply is empty",
                path.join("><")
            ));
        }
    };
    match msg_type {
        "text" => {
            need(&["Content"], problems);
            if let Some(c) = text_of(f, "Content")
                && c.len() > 2048
            {
                notes.push(format!(
                    "Content is {} bytes; the old documentation limits text replies to 2048 bytes",
                    c.len()
                ));
            }
        }
        "image" => need(&["Image", "MediaId"], problems),
        "voice" => need(&["Voice", "MediaId"], problems),
        "video" => need(&["Video", "MediaId"], problems),
        "music" => need(&["Music", "ThumbMediaId"], problems),
        "news" => check_news(msg, f, problems, notes),
        "transfer_customer_service" => {}
        "" => problems.push("the reply has no <MsgType>".to_string()),
        other => problems.push(format!(
            "MsgType {other:?} is not a passive reply type (text, image, voice, video, music, news, transfer_customer_service)"
        )),
    }
}

pub(super) fn check_news(
    msg: &Outgoing,
    f: &Value,
    problems: &mut Vec<String>,
    notes: &mut Vec<String>,
) {
    let items = match f.get("Articles") {
        Some(Value::Array(items)) => items.len(),
        Some(Value::Object(_)) => {
            problems.push(
                "<Articles> must hold <item> elements (one per article), nothing else".to_string(),
            );
            0
        }
        _ => {
            problems.push("a news reply needs <Articles> with <item>s".to_string());
            0
        }
    };
    match text_of(f, "ArticleCount").map(|c| c.trim().parse::<usize>()) {
        None => problems.push("a news reply needs <ArticleCount>".to_string()),
        Some(Err(_)) => problems.push("ArticleCount is not a number".to_string()),
        Some(Ok(count)) => {
            if count != items {
                problems.push(format!(
                    "ArticleCount is {count} but <Articles> holds {items} item(s)"
                ));
            }
            if !(1..=8).contains(&count) {
                problems.push(format!(
                    "ArticleCount {count}: a news reply has 1 to 8 articles"
                ));
            }
        }
    }
    if msg.is_user_message() && items > 1 {
        notes.push(format!(
            "{items} articles in reply to a user message: since 2018-10-12 WeChat shows only one article for such replies"
        ));
    }
}
