//! Notifications to a user (`docs/wechat-platform-apis.md` §3, §4): template messages
//! (`cgi-bin/message/template/send`), subscription notices (`cgi-bin/message/subscribe/bizsend`),
//! the account's template lists (`cgi-bin/template/get_all_private_template`,
//! `wxaapi/newtmpl/gettemplate`), and the count limit of customer-service messages (45047).
//!
//! The account starts with [`default_templates`]; tests and people add more with
//! `POST /_sim/templates`. A user accepts a subscription template (订阅) with
//! `POST /_sim/subscriptions` or the chat page's 订阅 button: one accepted popup is one send of a
//! one-time template (type 2), a long-term one (type 3) stays. Delivered notifications are
//! listed at `GET /_sim/notifications` and shown in the chat page as a 服务通知 card.
//!
//! Checked in this order, as WeChat answers: the token, the body (44002, 47001), `touser`
//! (40003 unless a simulated user), `template_id` (40037 unless a template of *that* API: the
//! two kinds have separate ids), then for template messages that the user follows (43004), for
//! subscription notices an unused grant (43101), then the data (47003
//! `argument invalid! data.<key>.value invalid`): every keyword of the template needs a value
//! that fits its type (the key without its digits, §4.3). Keys the template does not have are
//! ignored (what WeChat does is not documented, §11). The value rules are this simulator's own
//! reading of §4.3, written independently of the `wechat` crate's, so that a mistake in either
//! shows.

use std::collections::{HashMap, VecDeque};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{Params, check_base_token, json_body, reply, wx_error, wx_error_text};
use crate::{MAX_EXCHANGES, Simulator, lock};

/// Customer-service messages a user's message allows before they write again (§5.1: 5 in the
/// current documentation; the older said 20).
pub const CUSTOM_PER_INTERACTION: u32 = 5;

/// The demo account's template-message template 订单发货通知.
pub const ORDER_SHIPPED: &str = "wxsimTmplOrderShipped0000000000000000000001";
/// The demo account's template-message template 支付成功通知.
pub const PAYMENT_OK: &str = "wxsimTmplPaymentSucceeded00000000000000002";
/// The demo account's one-time subscription template 预约成功通知.
pub const APPOINTMENT: &str = "wxsimSubAppointmentBooked000000000000000003";
/// The demo account's long-term subscription template 配送状态提醒.
pub const DELIVERY: &str = "wxsimSubDeliveryStatus000000000000000000004";

/// A template of the account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SimTemplate {
    pub template_id: String,
    /// `template` (模板消息) or `subscribe` (订阅通知).
    pub kind: String,
    pub title: String,
    /// With `{{name.DATA}}` placeholders, one keyword a line: `商品名称:{{thing1.DATA}}`.
    pub content: String,
    #[serde(default)]
    pub example: String,
    /// Subscription templates: 2 one-time, 3 long-term.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<i64>,
}

impl SimTemplate {
    /// (label, keyword) for each placeholder: `商品名称:{{thing1.DATA}}` → (`商品名称`, `thing1`).
    pub fn rows(&self) -> Vec<(String, String)> {
        let mut rows = Vec::new();
        for line in self.content.lines() {
            let mut rest = line;
            while let Some(start) = rest.find("{{") {
                let label = rest[..start].trim().trim_end_matches([':', '：']).trim();
                let Some(end) = rest[start..].find("}}") else {
                    break;
                };
                let inner = rest[start + 2..start + end].trim();
                let key = inner.strip_suffix(".DATA").unwrap_or(inner).trim();
                rows.push((label.to_string(), key.to_string()));
                rest = &rest[start + end + 2..];
            }
        }
        rows
    }
}

fn template(
    id: &str,
    kind: &str,
    title: &str,
    content: &str,
    example: &str,
    sub_type: Option<i64>,
) -> SimTemplate {
    SimTemplate {
        template_id: id.into(),
        kind: kind.into(),
        title: title.into(),
        content: content.into(),
        example: example.into(),
        sub_type,
    }
}

/// The templates every simulated account starts with.
pub fn default_templates() -> Vec<SimTemplate> {
    vec![
        template(
            ORDER_SHIPPED,
            "template",
            "订单发货通知",
            "商品名称:{{thing1.DATA}}\n订单编号:{{character_string2.DATA}}\n发货时间:{{time3.DATA}}",
            "商品名称:绿茶礼盒\n订单编号:SO-20240501-1001\n发货时间:2024-05-01 14:30",
            None,
        ),
        template(
            PAYMENT_OK,
            "template",
            "支付成功通知",
            "支付金额:{{amount1.DATA}}\n商品:{{thing2.DATA}}\n支付时间:{{time3.DATA}}",
            "支付金额:¥128.00\n商品:绿茶礼盒\n支付时间:2024-05-01 14:30",
            None,
        ),
        template(
            APPOINTMENT,
            "subscribe",
            "预约成功通知",
            "预约项目:{{thing1.DATA}}\n预约时间:{{time2.DATA}}\n状态:{{phrase3.DATA}}",
            "预约项目:体检\n预约时间:2024-05-02 09:00\n状态:已预约",
            Some(2),
        ),
        template(
            DELIVERY,
            "subscribe",
            "配送状态提醒",
            "商品:{{thing1.DATA}}\n金额:{{amount2.DATA}}\n状态:{{phrase3.DATA}}",
            "商品:绿茶礼盒\n金额:¥128.00\n状态:配送中",
            Some(3),
        ),
    ]
}

/// A notification the account sent, as `GET /_sim/notifications` and the chat page show it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Notification {
    /// Increasing from 1.
    pub id: u64,
    /// Unix seconds (real time, like [`crate::Exchange::at`]).
    pub at: u64,
    /// `template` or `subscribe`.
    pub kind: String,
    pub touser: String,
    pub template_id: String,
    pub title: String,
    /// (label, value) per keyword, in the template's order.
    pub rows: Vec<(String, String)>,
    /// Where 详情 leads: `url` (template) or `page` (subscribe); a mini program wins in WeChat.
    pub link: Option<String>,
    pub msgid: u64,
    /// The request body as the account sent it.
    pub body: Value,
}

/// The simulated account's templates, grants and sent notifications.
pub(crate) struct NotifyState {
    templates: Vec<SimTemplate>,
    /// (openid, template_id) → unused one-time grants, or `None` for a long-term grant.
    grants: HashMap<(String, String), Option<u32>>,
    sent: VecDeque<Notification>,
    next_id: u64,
    next_msgid: u64,
    /// openid → (the interaction the count is for, customer-service messages since).
    custom_counts: HashMap<String, (u64, u32)>,
}

impl Default for NotifyState {
    fn default() -> Self {
        NotifyState {
            templates: default_templates(),
            grants: HashMap::new(),
            sent: VecDeque::new(),
            next_id: 0,
            next_msgid: 2_000_000_000,
            custom_counts: HashMap::new(),
        }
    }
}

fn is_chinese(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c)
}

/// Whether `value` fits the type of `key` (§4.3), in this simulator's reading.
fn value_fits(key: &str, value: &str, template_message: bool) -> bool {
    let ty = key.trim_end_matches(|c: char| c.is_ascii_digit());
    let n = value.chars().count();
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let decimal = |s: &str| match s.split_once('.') {
        Some((i, f)) => digits(i) && digits(f),
        None => digits(s),
    };
    let typed = [
        "thing",
        "number",
        "letter",
        "symbol",
        "character_string",
        "time",
        "date",
        "amount",
        "phone_number",
        "car_number",
        "name",
        "phrase",
        "const",
    ];
    if !typed.contains(&ty) {
        return true; // first, keywordN, remark: free text
    }
    if value.trim().is_empty() {
        return false;
    }
    match ty {
        "thing" => n <= 20,
        "const" => template_message && n <= 20,
        "number" => n <= 32 && decimal(value),
        "letter" => n <= 32 && value.chars().all(|c| c.is_ascii_alphabetic()),
        "symbol" => {
            n <= 5
                && value.chars().all(|c| {
                    c.is_ascii_punctuation()
                        || (!c.is_alphanumeric() && !c.is_whitespace() && !is_chinese(c))
                })
        }
        "character_string" => {
            n <= 32 && value.chars().all(|c| c.is_ascii() && !c.is_ascii_control())
        }
        "time" | "date" => {
            let allowed = value
                .chars()
                .all(|c| c.is_ascii_digit() || " :-/.~年月日".contains(c));
            let has_time = value.contains(':');
            let has_date = value.contains(['-', '/', '年', '月', '.']);
            allowed
                && value.chars().any(|c| c.is_ascii_digit())
                && if ty == "time" { has_time } else { has_date }
        }
        "amount" => {
            let max = if template_message { 12 } else { 10 };
            let mut body = value;
            if let Some(b) = body.strip_suffix('元') {
                body = b;
            } else if let Some(c) = body.chars().next().filter(|c| !c.is_ascii_digit()) {
                body = &body[c.len_utf8()..];
            }
            decimal(body) && body.split('.').next().is_some_and(|i| i.len() <= max)
        }
        "phone_number" => {
            n <= 17
                && value
                    .chars()
                    .all(|c| c.is_ascii_digit() || "+-() ".contains(c))
        }
        "car_number" => {
            (2..=8).contains(&n) && {
                let v: Vec<char> = value.chars().collect();
                v[1..n - 1].iter().all(|c| c.is_ascii_alphanumeric())
                    && [v[0], v[n - 1]]
                        .iter()
                        .all(|c| c.is_ascii_alphanumeric() || is_chinese(*c))
            }
        }
        "name" => {
            if value.chars().any(is_chinese) {
                n <= 10
            } else {
                n <= 20
            }
        }
        "phrase" => n <= 5 && value.chars().all(is_chinese),
        _ => true,
    }
}

/// A refusal: an errcode, and the errmsg when it is not the usual one.
type Refused = (i64, Option<String>);

fn refuse(code: i64) -> Refused {
    (code, None)
}

fn answer(result: Result<Value, Refused>) -> Response {
    match result {
        Ok(v) => reply(Ok(v)),
        Err((code, None)) => wx_error(code),
        Err((code, Some(text))) => wx_error_text(code, &text),
    }
}

/// The request's object, its `touser` (a simulated user) and its template of `kind`.
fn parse_send(
    sim: &Simulator,
    q: Option<String>,
    body: &[u8],
    kind: &str,
) -> Result<(Value, String, SimTemplate), Refused> {
    check_base_token(sim, &Params::new(q)).map_err(refuse)?;
    let request = json_body(body).map_err(refuse)?;
    if !request.is_object() {
        return Err(refuse(47001));
    }
    let touser = request["touser"].as_str().unwrap_or_default().to_string();
    if !sim.config().users.iter().any(|u| u.openid == touser) {
        return Err(refuse(40003));
    }
    let template_id = request["template_id"].as_str().unwrap_or_default();
    let template = lock(&sim.inner.notify)
        .templates
        .iter()
        .find(|t| t.template_id == template_id && t.kind == kind)
        .cloned()
        .ok_or(refuse(40037))?;
    Ok((request, touser, template))
}

/// (label, value) rows, or 47003 naming the first keyword whose value is missing or wrong.
fn check_data(request: &Value, template: &SimTemplate) -> Result<Vec<(String, String)>, Refused> {
    let data = request
        .get("data")
        .and_then(Value::as_object)
        .ok_or((47003, Some("argument invalid! data is empty".into())))?;
    let template_message = template.kind == "template";
    let mut rows = Vec::new();
    for (label, key) in template.rows() {
        let value = data
            .get(&key)
            .and_then(|v| v.get("value"))
            .and_then(Value::as_str);
        match value {
            Some(v) if value_fits(&key, v, template_message) => rows.push((label, v.to_string())),
            _ => {
                return Err((
                    47003,
                    Some(format!("argument invalid! data.{key}.value invalid")),
                ));
            }
        }
    }
    Ok(rows)
}

impl Simulator {
    /// Records a delivered notification; its msgid.
    fn deliver_notification(
        &self,
        kind: &str,
        touser: String,
        template: &SimTemplate,
        rows: Vec<(String, String)>,
        link: Option<String>,
        body: Value,
    ) -> u64 {
        let mut n = lock(&self.inner.notify);
        n.next_id += 1;
        n.next_msgid += 1;
        let notification = Notification {
            id: n.next_id,
            at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            kind: kind.into(),
            touser,
            template_id: template.template_id.clone(),
            title: template.title.clone(),
            rows,
            link,
            msgid: n.next_msgid,
            body,
        };
        let msgid = notification.msgid;
        n.sent.push_back(notification);
        while n.sent.len() > MAX_EXCHANGES {
            n.sent.pop_front();
        }
        msgid
    }

    /// The notifications delivered so far, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        lock(&self.inner.notify).sent.iter().cloned().collect()
    }

    /// The account's templates (both kinds).
    pub fn templates(&self) -> Vec<SimTemplate> {
        lock(&self.inner.notify).templates.clone()
    }

    /// Adds (or replaces, by id) a template of the account.
    pub fn add_template(&self, template: SimTemplate) {
        let mut n = lock(&self.inner.notify);
        n.templates
            .retain(|t| t.template_id != template.template_id);
        n.templates.push(template);
    }

    /// The user `openid` accepted the subscription template `template_id` (one more send of a
    /// one-time template; a long-term one stays). Err with why not.
    pub fn accept_subscription(&self, openid: &str, template_id: &str) -> Result<(), String> {
        if !self.config().users.iter().any(|u| u.openid == openid) {
            return Err(format!("no simulated user has the openid {openid:?}"));
        }
        let mut n = lock(&self.inner.notify);
        let template = n
            .templates
            .iter()
            .find(|t| t.template_id == template_id && t.kind == "subscribe")
            .ok_or_else(|| format!("{template_id:?} is not a subscription template of the account (GET /_sim/templates)"))?;
        let long_term = template.sub_type == Some(3);
        let grant = n
            .grants
            .entry((openid.to_string(), template_id.to_string()))
            .or_insert(Some(0));
        *grant = match (long_term, *grant) {
            (true, _) | (_, None) => None,
            (false, Some(k)) => Some(k + 1),
        };
        Ok(())
    }

    /// The user's grants: template_id → unused one-time sends (`None`: long-term).
    pub fn subscriptions(&self, openid: &str) -> HashMap<String, Option<u32>> {
        lock(&self.inner.notify)
            .grants
            .iter()
            .filter(|((o, _), _)| o == openid)
            .map(|((_, t), g)| (t.clone(), *g))
            .collect()
    }

    /// Counts one customer-service message to `openid` against what their last interaction
    /// allows: 45047 once [`CUSTOM_PER_INTERACTION`] went since. Users whose interactions the
    /// simulator did not see are not counted (their pushes came from outside it).
    pub(crate) fn count_custom(&self, openid: &str) -> Result<(), i64> {
        let Some(Some(at)) = self.platform().last_interaction(openid) else {
            return Ok(());
        };
        let mut n = lock(&self.inner.notify);
        let count = n.custom_counts.entry(openid.to_string()).or_insert((at, 0));
        if count.0 != at {
            *count = (at, 0);
        }
        if count.1 >= CUSTOM_PER_INTERACTION {
            return Err(45047);
        }
        count.1 += 1;
        Ok(())
    }
}

/// `POST /cgi-bin/message/template/send` → `{"errcode":0,"errmsg":"ok","msgid":N}`.
pub async fn template_send(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    answer((|| {
        let (request, touser, template) = parse_send(&sim, q, &body, "template")?;
        if sim.platform().unfollowed(&touser) {
            return Err(refuse(43004));
        }
        let rows = check_data(&request, &template)?;
        let link = request["miniprogram"]["pagepath"]
            .as_str()
            .or(request["url"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        let msgid =
            sim.deliver_notification("template", touser, &template, rows, link, request.clone());
        Ok(json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}))
    })())
}

/// `POST /cgi-bin/message/subscribe/bizsend` → `{"errcode":0,"errmsg":"ok"}`; uses up a
/// one-time grant. Following is not required (§4).
pub async fn subscribe_send(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    answer((|| {
        let (request, touser, template) = parse_send(&sim, q, &body, "subscribe")?;
        let key = (touser.clone(), template.template_id.clone());
        match lock(&sim.inner.notify).grants.get(&key) {
            Some(None) => {}
            Some(Some(k)) if *k > 0 => {}
            _ => return Err(refuse(43101)),
        }
        let rows = check_data(&request, &template)?;
        if let Some(Some(k)) = lock(&sim.inner.notify).grants.get_mut(&key) {
            *k -= 1;
        }
        let link = request["miniprogram"]["pagepath"]
            .as_str()
            .or(request["page"].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        sim.deliver_notification("subscribe", touser, &template, rows, link, request.clone());
        Ok(json!({"errcode": 0, "errmsg": "ok"}))
    })())
}

/// `GET /cgi-bin/template/get_all_private_template` → `{"template_list": [...]}`.
pub async fn template_list(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    reply(check_base_token(&sim, &Params::new(q)).map(|()| {
        let list: Vec<Value> = sim
            .templates()
            .into_iter()
            .filter(|t| t.kind == "template")
            .map(|t| {
                json!({"template_id": t.template_id, "title": t.title, "primary_industry": "IT科技",
                       "deputy_industry": "互联网|电子商务", "content": t.content, "example": t.example})
            })
            .collect();
        json!({"template_list": list})
    }))
}

/// `GET /wxaapi/newtmpl/gettemplate` → `{"errcode":0,"errmsg":"ok","data":[...]}`.
pub async fn subscribe_template_list(
    State(sim): State<Simulator>,
    RawQuery(q): RawQuery,
) -> Response {
    reply(check_base_token(&sim, &Params::new(q)).map(|()| {
        let list: Vec<Value> = sim
            .templates()
            .into_iter()
            .filter(|t| t.kind == "subscribe")
            .map(|t| {
                json!({"priTmplId": t.template_id, "title": t.title, "content": t.content,
                       "example": t.example, "type": t.sub_type.unwrap_or(2)})
            })
            .collect();
        json!({"errcode": 0, "errmsg": "ok", "data": list})
    }))
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        message,
    )
        .into_response()
}

/// `GET /_sim/templates`: the account's templates, both kinds.
pub async fn templates(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.templates()).into_response()
}

/// `POST /_sim/templates` with a [`SimTemplate`] (`template_id` optional) → 201 and the template.
pub async fn add_template(State(sim): State<Simulator>, body: Bytes) -> Response {
    let mut value: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad_request(r#"expected {"kind": "template"|"subscribe", "title": "…", "content": "名称:{{thing1.DATA}}", "template_id"?: "…", "type"?: 2|3}"#.into()),
    };
    if value.get("template_id").is_none() {
        value["template_id"] = format!("wxsimTmpl{:034}", rand::random::<u64>()).into();
    }
    let template: SimTemplate = match serde_json::from_value(value) {
        Ok(t) => t,
        Err(e) => return bad_request(format!("not a template: {e}")),
    };
    if !["template", "subscribe"].contains(&template.kind.as_str()) {
        return bad_request("kind must be \"template\" or \"subscribe\"".into());
    }
    if template.rows().is_empty() {
        return bad_request("content has no {{keyword.DATA}} placeholder".into());
    }
    sim.add_template(template.clone());
    (StatusCode::CREATED, axum::Json(template)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    openid: String,
    template_id: String,
}

/// `POST /_sim/subscriptions` with `{"openid", "template_id"}` → 204: the user accepted that
/// subscription template (as in WeChat's popup).
pub async fn accept(State(sim): State<Simulator>, body: Bytes) -> Response {
    let a: Accept = match serde_json::from_slice(&body) {
        Ok(a) => a,
        Err(e) => {
            return bad_request(format!(
                r#"expected {{"openid": "…", "template_id": "…"}}: {e}"#
            ));
        }
    };
    match sim.accept_subscription(&a.openid, &a.template_id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => bad_request(e),
    }
}

/// `GET /_sim/subscriptions?openid=…` → `{"TEMPLATE_ID": 1, "LONG_TERM_ID": null}`.
pub async fn subscriptions(State(sim): State<Simulator>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let openid = url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "openid")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    axum::Json(sim.subscriptions(&openid)).into_response()
}

/// `GET /_sim/notifications`: template messages and subscription notices delivered.
pub async fn notifications(State(sim): State<Simulator>) -> Response {
    axum::Json(sim.notifications()).into_response()
}

/// `DELETE /_sim/notifications`: forgets them.
pub async fn clear_notifications(State(sim): State<Simulator>) -> StatusCode {
    lock(&sim.inner.notify).sent.clear();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Interaction {
    openid: String,
    #[serde(default)]
    secs_ago: Option<u64>,
    #[serde(default)]
    unfollowed: bool,
}

/// `POST /_sim/interactions` with `{"openid", "secs_ago": N}` (the user last wrote N seconds
/// ago: 172801 puts them outside the 48-hour window) or `{"openid", "unfollowed": true}` → 204.
pub async fn interaction(State(sim): State<Simulator>, body: Bytes) -> Response {
    let i: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return bad_request(format!(
                r#"expected {{"openid": "…", "secs_ago": N}} or {{"openid": "…", "unfollowed": true}}: {e}"#
            ));
        }
    };
    if !sim.config().users.iter().any(|u| u.openid == i.openid) {
        return bad_request(format!("no simulated user has the openid {:?}", i.openid));
    }
    if i.unfollowed {
        // As an unsubscribe push would: the 48 h window closes and the follower list agrees.
        sim.platform().record_unfollow(&i.openid);
        sim.record_follow(&i.openid, None);
    } else {
        let at = sim.unix_time().saturating_sub(i.secs_ago.unwrap_or(0));
        sim.platform().record_interaction(&i.openid, at);
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_pair_labels_with_keywords() {
        let t = &default_templates()[0];
        assert_eq!(
            t.rows(),
            [
                ("商品名称".to_string(), "thing1".to_string()),
                ("订单编号".to_string(), "character_string2".to_string()),
                ("发货时间".to_string(), "time3".to_string()),
            ]
        );
    }

    #[test]
    fn values_fit_their_types() {
        assert!(value_fits("thing1", "绿茶礼盒", true));
        assert!(!value_fits("thing1", &"茶".repeat(21), true));
        assert!(!value_fits("character_string2", "单号1", true));
        assert!(value_fits("character_string2", "SO-1001", true));
        assert!(value_fits("time3", "2024-05-01 14:30", true));
        assert!(!value_fits("time3", "明天", true));
        assert!(value_fits("amount1", "¥128.00", false));
        assert!(!value_fits("amount1", "¥12345678901", false));
        assert!(value_fits("amount1", "¥12345678901", true));
        assert!(value_fits("phrase3", "已发货", false));
        assert!(!value_fits("phrase3", "shipped", false));
        assert!(value_fits("keyword1", "anything at all", true));
        assert!(!value_fits("thing1", "", true));
    }
}
