//! What a push or a URL check came to: each delivery, the decoded reply, the problems
//! ([`PushReport`], [`VerifyReport`]), and how they print.

use super::*;

/// One HTTP delivery of a push.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// 1 for the first delivery, 2 for the first retry…
    pub attempt: u32,
    /// The HTTP status when the server answered.
    pub status: Option<u16>,
    /// `timeout`, or `connection failed: …` when it did not.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub content_type: Option<String>,
    /// The response body (at most 4 KiB, lossy UTF-8).
    pub body: String,
    /// The response body's full length in bytes.
    pub body_len: usize,
}

impl Delivery {
    /// What happened, in a word or two: `HTTP 200` or `timeout`.
    pub fn outcome(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        }
    }
}

/// The request WeChat sent (the same one on every delivery).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushRequest {
    /// The full URL, query included.
    pub url: String,
    /// The query parameters WeChat added.
    pub query: BTreeMap<String, String>,
    pub mode: PushMode,
    /// `text`, `event/subscribe`…
    pub message: String,
    pub from_openid: String,
    pub create_time: u64,
    /// The MsgId, for normal messages.
    pub msg_id: Option<u64>,
    /// The plaintext message XML.
    pub xml: String,
    /// The HTTP body as sent (equal to `xml` in plain mode).
    pub body: String,
}

/// A reply, decoded (and decrypted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DecodedReply {
    pub msg_type: String,
    /// Each element's text by name; nested elements are objects, `<item>` lists arrays.
    pub fields: Value,
    /// The plaintext reply XML.
    pub xml: String,
    /// Whether the reply came encrypted.
    pub encrypted: bool,
}

/// Everything about one push: what was sent, each delivery, the reply, and what WeChat would
/// object to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PushReport {
    pub request: PushRequest,
    pub deliveries: Vec<Delivery>,
    /// `None` when there was no answer, an empty body, `success`, or an unreadable reply.
    pub reply: Option<DecodedReply>,
    /// Empty: WeChat would accept the answer.
    pub problems: Vec<String>,
    /// Observations that are not errors (e.g. rules WeChat may apply but that are unconfirmed).
    pub notes: Vec<String>,
}

impl PushReport {
    /// Whether WeChat would accept the answer.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first answered delivery, if any.
    pub fn answered(&self) -> Option<&Delivery> {
        self.deliveries.iter().find(|d| d.status.is_some())
    }
}

impl fmt::Display for PushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.request;
        writeln!(
            f,
            "push {} from {} → {} ({} mode)",
            r.message,
            r.from_openid,
            strip_query(&r.url),
            r.mode.label()
        )?;
        if let Some(id) = r.msg_id {
            writeln!(f, "  MsgId {id}, CreateTime {}", r.create_time)?;
        }
        for d in &self.deliveries {
            write!(
                f,
                "  delivery {}: {} after {} ms",
                d.attempt,
                d.outcome(),
                d.elapsed_ms
            )?;
            if let Some(status) = d.status {
                write!(f, ", {} bytes", d.body_len)?;
                // A refusal usually says why: show it.
                let said = d.body.trim();
                if status >= 400 && !said.is_empty() {
                    let short: String = said.chars().take(200).collect();
                    write!(f, ": {short}")?;
                }
            }
            writeln!(f)?;
        }
        match &self.reply {
            Some(reply) => {
                let enc = if reply.encrypted { " (encrypted)" } else { "" };
                writeln!(f, "  reply{enc}: {}", reply_summary(reply))?;
            }
            None if self.answered().is_some() => writeln!(f, "  reply: none")?,
            None => {}
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "OK: WeChat would accept this answer.")
        } else {
            writeln!(f, "PROBLEMS ({}):", self.problems.len())?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}

pub(super) fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

pub(super) fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn reply_summary(reply: &DecodedReply) -> String {
    let f = &reply.fields;
    let quoted = |s: &str| {
        let short: String = s.chars().take(80).collect();
        let more = if short.len() < s.len() { "…" } else { "" };
        format!("{:?}", format!("{short}{more}"))
    };
    match reply.msg_type.as_str() {
        "text" => format!("text {}", quoted(text_of(f, "Content").unwrap_or(""))),
        "news" => {
            let titles: Vec<String> = f
                .get("Articles")
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .map(|i| quoted(text_of(i, "Title").unwrap_or("")))
                        .collect()
                })
                .unwrap_or_default();
            format!("news [{}]", titles.join(", "))
        }
        other => other.to_string(),
    }
}

/// The result of the URL verification GET.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The body was `echostr` verbatim, with HTTP 200.
    pub ok: bool,
    /// The full URL, query included.
    pub url: String,
    pub echostr: String,
    pub status: Option<u16>,
    /// `timeout` or `connection failed: …`.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    pub body: String,
    pub problems: Vec<String>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match (self.status, &self.error) {
            (Some(s), _) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        };
        writeln!(
            f,
            "verify {} (echostr {}): {outcome} after {} ms",
            strip_query(&self.url),
            self.echostr,
            self.elapsed_ms
        )?;
        if self.ok {
            writeln!(
                f,
                "OK: the server echoed echostr; WeChat would save this URL."
            )
        } else {
            writeln!(f, "FAILED (WeChat: 请求URL超时 / Token验证失败):")?;
            for p in &self.problems {
                writeln!(f, "  - {p}")?;
            }
            Ok(())
        }
    }
}
