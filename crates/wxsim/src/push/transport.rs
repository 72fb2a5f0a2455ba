//! Sending: the URL check ([`verify_url`]) and a push with WeChat's timeout and retries, the
//! same signed body each time ([`push`]).

use super::judge::judge;
use super::*;

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A nonce like WeChat's: a decimal number of 9–10 digits.
pub(super) fn nonce() -> String {
    rand::random_range(100_000_000u32..=u32::MAX).to_string()
}

/// A random positive 64-bit MsgId of 19 digits, like WeChat's.
pub(super) fn msg_id() -> u64 {
    rand::random_range(1_000_000_000_000_000_000u64..=i64::MAX as u64)
}

pub(super) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(super) fn with_query(url: &str, query: &[(&str, String)]) -> String {
    let joined: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", joined.join("&"))
}

pub(super) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= BODY_EXCERPT {
        return text.into_owned();
    }
    let mut end = BODY_EXCERPT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Mozilla/4.0")
        .build()
        .unwrap_or_default()
}

pub(super) fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".to_string()
    } else {
        // The innermost cause says most ("Connection refused").
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        format!("connection failed: {cause}")
    }
}

/// The GET WeChat sends when the server URL is saved (§C.1). Passes when the server answers
/// HTTP 200 with `echostr` as the whole body; plaintext in every mode.
pub async fn verify_url(target: &PushTarget) -> VerifyReport {
    let timestamp = unix_now().to_string();
    let nonce = nonce();
    let echostr = rand::random_range(1_000_000_000_000_000_000u64..=i64::MAX as u64).to_string();
    let signature = sign(&[&target.token, &timestamp, &nonce]);
    let url = with_query(
        &target.url,
        &[
            ("signature", signature),
            ("timestamp", timestamp),
            ("nonce", nonce),
            ("echostr", echostr.clone()),
        ],
    );
    let started = Instant::now();
    let result = client()
        .get(&url)
        .timeout(Duration::from_millis(target.timeout_ms))
        .send()
        .await;
    let mut report = VerifyReport {
        ok: false,
        url,
        echostr,
        status: None,
        error: None,
        elapsed_ms: 0,
        body: String::new(),
        problems: Vec::new(),
    };
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            let error = transport_error(&e);
            report.problems.push(format!("no answer: {error}"));
            report.error = Some(error);
            return report;
        }
    };
    let status = resp.status().as_u16();
    report.status = Some(status);
    let body = resp.bytes().await;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let error = transport_error(&e);
            report.problems.push(format!("body not received: {error}"));
            report.error = Some(error);
            return report;
        }
    };
    report.body = excerpt(&body);
    if status != 200 {
        report.problems.push(format!(
            "HTTP {status}: WeChat needs HTTP 200 with echostr as the body"
        ));
    }
    let text = String::from_utf8_lossy(&body);
    if text != report.echostr {
        if text.trim().trim_matches('"') == report.echostr {
            report.problems.push(format!(
                "the body must be echostr verbatim ({}), without quotes, whitespace or a newline; got {:?}",
                report.echostr, text
            ));
        } else if status == 200 {
            report.problems.push(format!(
                "the body is not echostr ({}): got {:?} — wrong Token, or the server does not check the signature the way WeChat signs",
                report.echostr,
                excerpt(text.as_bytes())
            ));
        }
    }
    report.ok = report.problems.is_empty();
    report
}

/// Pushes `msg` from `from_openid` to the server, as WeChat does, and judges the answer.
pub async fn push(target: &PushTarget, from_openid: &str, msg: &Outgoing) -> PushReport {
    let create_time = unix_now();
    let id = msg_id();
    let plaintext = xml::document(&msg.nodes(&target.account_id, from_openid, create_time, id));
    let timestamp = create_time.to_string();
    let nonce = nonce();
    let mut query: Vec<(&str, String)> = vec![
        ("signature", sign(&[&target.token, &timestamp, &nonce])),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", from_openid.to_string()),
    ];
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let crypt = if target.mode.encrypted() {
        match target.crypt() {
            Ok(c) => Some(c),
            Err(e) => {
                problems.push(format!("cannot push in {} mode: {e}", target.mode.label()));
                None
            }
        }
    } else {
        None
    };
    let body = match (&crypt, target.mode) {
        (Some(crypt), mode) => {
            let encrypt = crypt.encrypt(&plaintext);
            query.push(("encrypt_type", "aes".to_string()));
            query.push((
                "msg_signature",
                sign(&[&target.token, &timestamp, &nonce, &encrypt]),
            ));
            if mode == PushMode::Safe {
                xml::document(&[
                    Node::str("ToUserName", &target.account_id),
                    Node::str("Encrypt", encrypt),
                ])
            } else {
                let inner = plaintext.strip_suffix("</xml>").unwrap_or(&plaintext);
                format!("{inner}<Encrypt>{}</Encrypt>\n</xml>", xml::cdata(&encrypt))
            }
        }
        (None, _) => plaintext.clone(),
    };
    let url = with_query(&target.url, &query);
    let request = PushRequest {
        url: url.clone(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        mode: target.mode,
        message: msg.label(),
        from_openid: from_openid.to_string(),
        create_time,
        msg_id: msg.is_user_message().then_some(id),
        xml: plaintext,
        body: body.clone(),
    };
    let mut report = PushReport {
        request,
        deliveries: Vec::new(),
        reply: None,
        problems: Vec::new(),
        notes: Vec::new(),
    };
    if !problems.is_empty() {
        report.problems = problems;
        return report;
    }

    let http = client();
    let mut answer: Option<(u16, Vec<u8>)> = None;
    for attempt in 1..=target.retries.saturating_add(1) {
        let started = Instant::now();
        let result = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .timeout(Duration::from_millis(target.timeout_ms))
            .body(body.clone())
            .send()
            .await;
        let mut delivery = Delivery {
            attempt,
            status: None,
            error: None,
            elapsed_ms: 0,
            content_type: None,
            body: String::new(),
            body_len: 0,
        };
        match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                delivery.content_type = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                // The timeout covers the body too.
                match resp.bytes().await {
                    Ok(bytes) => {
                        delivery.status = Some(status);
                        delivery.body = excerpt(&bytes);
                        delivery.body_len = bytes.len();
                        answer = Some((status, bytes.to_vec()));
                    }
                    Err(e) => delivery.error = Some(transport_error(&e)),
                }
            }
            Err(e) => delivery.error = Some(transport_error(&e)),
        }
        delivery.elapsed_ms = started.elapsed().as_millis() as u64;
        report.deliveries.push(delivery);
        if answer.is_some() {
            break;
        }
    }

    let Some((status, bytes)) = answer else {
        let n = report.deliveries.len();
        report.problems.push(format!(
            "no answer within {} ms in {n} deliver{} — the user sees \"{NO_SERVICE}\"",
            target.timeout_ms,
            if n == 1 { "y" } else { "ies" }
        ));
        return report;
    };
    if report.deliveries.len() > 1 {
        notes.push(format!(
            "delivered {} times with the same MsgId/CreateTime: the server must deduplicate (MsgId, or FromUserName+CreateTime for events)",
            report.deliveries.len()
        ));
    }
    report.reply = judge(
        target,
        from_openid,
        msg,
        status,
        &bytes,
        &mut report.problems,
        &mut notes,
    );
    report.notes = notes;
    report
}
