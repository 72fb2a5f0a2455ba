//! The chat page (`GET /_sim/chat`): a phone-sized WeChat conversation with the account. The
//! person picks a simulated user, types or taps 关注/取消关注; plain JS posts to `/_sim/push` and
//! renders the reply. Server-side values go through [`escape`]; everything from the server's
//! reply is put in the page with `textContent` and DOM nodes, never `innerHTML`.
//!
//! The account's custom menu (§D: the one `menu/trymatch` gives the selected user) sits at the
//! bottom like WeChat's: up to 3 buttons; tapping a parent opens its sub-menu; tapping a leaf
//! pushes its event (CLICK with the key, VIEW with the URL and MenuId and then opens the URL in a
//! new tab, scancode/pic/location events with made-up results) or shows a note for types that
//! push nothing to the server.
//!
//! Who the browser is: in WeChat, the browser inside a chat *is* the user of that chat, so a
//! VIEW button to the account's 网页授权 logs in the user who tapped it. The chat page
//! remembers the user it acts as in a cookie on the simulator's origin, [`USER_COOKIE`]
//! (`wxsim_user=<openid>; Path=/; SameSite=Lax`): `GET /_sim/chat` sets it for the user it
//! selects (the remembered one if the cookie names a known user, else `users[0]`), and the
//! script posts `{"openid"}` to `POST /_sim/chat/user` when the person picks another user, before
//! each push and before a VIEW tap opens its URL. `/connect/oauth2/authorize` then uses that
//! user (see [`remembered_user`]): `snsapi_base` (and auto-consent) log in as them, the consent
//! page preselects them. Without the cookie, or with an openid no user has, nothing changes.
//!
//! Ids for browser tests: `#user-select`, `#chat-log`, `#chat-input`, `#chat-send`, `#subscribe`,
//! `#unsubscribe`, `#raw-log`, `#target-settings`, `#no-target`, `#menu-bar` (hidden without a
//! menu; `data-menuid`). Bubbles: `.bubble.user`, `.bubble.account` (`data-testid="bubble-user"`
//! / `"bubble-account"`); notes: `[data-testid=no-reply]`, `[data-testid=problems]`,
//! `[data-testid=custom-message]` (before a customer-service message, polled from `/_sim/custom`),
//! `[data-testid=event-note]`, `[data-testid=menu-note]`. Menu: `[data-testid=menu-button]`
//! (top-level, the name as text), `[data-testid=sub-menu]` (a parent's pop-up),
//! `[data-testid=sub-button]` (its items).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use serde_json::{Value, json};

use crate::Simulator;
use crate::pages::escape;
use crate::users::page_avatar;

/// The cookie that says which simulated user this browser is (an openid, percent-encoded).
pub const USER_COOKIE: &str = "wxsim_user";

/// Bytes a cookie value cannot carry (RFC 6265 cookie-octet), plus `%` itself.
const COOKIE_UNSAFE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// `Set-Cookie` remembering `openid` as this browser's user: a session cookie on the whole
/// simulator origin, sent on the top-level navigation from the account's `/auth/` redirect.
pub fn remember_cookie(openid: &str) -> HeaderValue {
    let value = utf8_percent_encode(openid, COOKIE_UNSAFE);
    HeaderValue::from_str(&format!("{USER_COOKIE}={value}; Path=/; SameSite=Lax"))
        .expect("a percent-encoded cookie is a valid header value")
}

/// The index of the user the [`USER_COOKIE`] in `headers` names, if it names a known one.
pub fn remembered_user(sim: &Simulator, headers: &HeaderMap) -> Option<usize> {
    let users = &sim.config().users;
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(name, _)| *name == USER_COOKIE)
        .filter_map(|(_, value)| percent_decode_str(value.trim()).decode_utf8().ok())
        .find_map(|openid| users.iter().position(|u| u.openid == openid))
}

const STYLE: &str = r#"
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{background:#d9d9d9;font-family:-apple-system,BlinkMacSystemFont,"PingFang SC","Helvetica Neue","Microsoft YaHei",sans-serif;color:#191919}
.phone{width:100%;max-width:390px;height:100vh;margin:0 auto;display:flex;flex-direction:column;background:#ededed;position:relative}
header{flex:none;height:48px;display:flex;align-items:center;justify-content:center;border-bottom:1px solid #d5d5d5;background:#ededed;position:relative}
header h1{margin:0;font-size:17px;font-weight:500;max-width:70%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
header a{position:absolute;left:12px;color:#191919;text-decoration:none;font-size:22px}
.who{flex:none;display:flex;align-items:center;gap:6px;padding:6px 12px;font-size:12px;color:#808080}
.who label{white-space:nowrap}
.who select{flex:1;min-width:0;width:100%;font-size:13px;padding:2px;border:1px solid #d5d5d5;border-radius:4px;background:#fff}
#no-target{margin:8px 12px;padding:10px;background:#fff7e6;border:1px solid #ffd591;border-radius:6px;font-size:13px;line-height:1.5}
#no-target code{background:#f5f5f5;padding:0 3px;border-radius:3px;word-break:break-all}
#chat-log{flex:1;overflow-y:auto;padding:12px 12px 20px}
.row{display:flex;align-items:flex-start;gap:10px;margin:14px 0}
.row.user{flex-direction:row-reverse}
.avatar{flex:none;width:40px;height:40px;border-radius:4px;background:#07c160;color:#fff;display:flex;align-items:center;justify-content:center;font-size:18px;overflow:hidden}
.avatar img{width:40px;height:40px}
.bubble{position:relative;max-width:72%;padding:9px 12px;border-radius:4px;font-size:16px;line-height:1.45;white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere}
.bubble.user{background:#95ec69}
.bubble.account{background:#fff}
.bubble.user::after,.bubble.account::before{content:"";position:absolute;top:13px;border:6px solid transparent}
.bubble.user::after{right:-11px;border-left-color:#95ec69}
.bubble.account::before{left:-11px;border-right-color:#fff}
.bubble a{color:#576b95;text-decoration:none}
.bubble.media{padding:4px;background:#fff}
.bubble.media img{display:block;max-width:180px;border-radius:3px}
.bubble.card{padding:0;width:260px;white-space:normal;overflow:hidden}
.card .pic{display:block;width:100%;height:130px;object-fit:cover;background:#f2f2f2}
.card .title{padding:10px 12px 4px;font-size:16px;font-weight:500}
.card .desc{padding:0 12px 10px;font-size:13px;color:#808080;white-space:pre-wrap}
.card .small{display:flex;gap:8px;align-items:center;padding:8px 12px;border-top:1px solid #f0f0f0;font-size:14px}
.card .small img{width:44px;height:44px;object-fit:cover;flex:none;background:#f2f2f2}
.card .meta{padding:0 12px 8px;font-size:11px;color:#b2b2b2;word-break:break-all}
.card a{color:inherit;display:block}
.note{text-align:center;margin:10px auto;font-size:12px;color:#a0a0a0;max-width:85%}
.note span{background:#dadada;color:#fff;padding:2px 6px;border-radius:3px;display:inline-block}
.problems{margin:6px 0 10px 50px;max-width:78%;padding:8px 10px;border-radius:4px;background:#fff1f0;border:1px solid #ffa39e;color:#cf1322;font-size:12px;line-height:1.5}
.problems b{display:block;margin-bottom:2px}
.problems li{margin-left:14px}
.problems ul{margin:0;padding:0}
footer{flex:none;background:#f7f7f7;border-top:1px solid #d5d5d5;padding:8px 10px calc(8px + env(safe-area-inset-bottom))}
.bar{display:flex;gap:8px;align-items:center}
#chat-input{flex:1;min-width:0;height:38px;border:0;border-radius:4px;padding:0 10px;font-size:16px;background:#fff}
#chat-send{height:34px;padding:0 14px;border:0;border-radius:4px;background:#07c160;color:#fff;font-size:15px;cursor:pointer}
#chat-send:disabled{background:#b2e5c9}
.events{display:flex;gap:8px;margin-top:8px}
.events button{flex:1;height:30px;border:1px solid #d5d5d5;border-radius:4px;background:#fff;font-size:13px;cursor:pointer}
details{font-size:12px;color:#576b95;margin-top:8px}
details summary{cursor:pointer}
#target-settings label{display:flex;gap:6px;align-items:center;margin:4px 0;color:#191919}
#target-settings label span{width:88px;flex:none}
#target-settings input,#target-settings select{flex:1;min-width:0;font-size:12px;padding:3px}
#raw-log .entries{max-height:40vh;overflow:auto}
#menu-bar{display:flex;margin:8px -10px 0;border-top:1px solid #d5d5d5;border-bottom:1px solid #d5d5d5;background:#fbfbfb}
#menu-bar[hidden]{display:none}
.menu-item{flex:1;min-width:0;position:relative;border-left:1px solid #e5e5e5}
.menu-item:first-child{border-left:0}
.menu-btn{width:100%;height:44px;border:0;background:transparent;font-size:15px;color:#191919;cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;padding:0 4px}
.menu-btn.parent::before{content:"\2261  ";color:#9a9a9a}
.sub-menu{position:absolute;bottom:52px;left:50%;transform:translateX(-50%);min-width:100%;display:flex;flex-direction:column;background:#fff;border:1px solid #d5d5d5;border-radius:6px;box-shadow:0 2px 10px rgba(0,0,0,.12);z-index:10}
.sub-menu[hidden]{display:none}
.sub-btn{height:42px;border:0;border-top:1px solid #f0f0f0;background:transparent;font-size:14px;color:#191919;cursor:pointer;padding:0 14px;white-space:nowrap}
.sub-btn:first-child{border-top:0}
#raw-log pre{background:#fff;color:#191919;border:1px solid #e5e5e5;padding:6px;white-space:pre-wrap;word-break:break-all;font-size:11px;margin:6px 0}
"#;

const SCRIPT: &str = r#"
(function () {
  'use strict';
  var log = document.getElementById('chat-log');
  var input = document.getElementById('chat-input');
  var send = document.getElementById('chat-send');
  var userSel = document.getElementById('user-select');
  var rawEntries = document.getElementById('raw-entries');
  var settings = document.getElementById('target-settings');
  var noTarget = document.getElementById('no-target');
  var accountInitial = document.body.getAttribute('data-account-initial') || '公';
  var hasTarget = document.body.getAttribute('data-has-target') === 'true';
  var exchanges = [];
  var KEY = 'wxsim.chat.target';

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function safeUrl(u) {
    u = (u || '').trim();
    return /^https?:\/\//i.test(u) ? u : null;
  }
  function str(v) { return typeof v === 'string' ? v : (v === undefined || v === null ? '' : JSON.stringify(v)); }
  function scroll() { log.scrollTop = log.scrollHeight; }

  // Text with bare URLs made clickable.
  function appendLinkified(parent, text) {
    var re = /https?:\/\/[^\s<>"'\u3000-\u303f\uff00-\uffef]+/g, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = el('a', null, m[0]);
      a.href = m[0]; a.target = '_blank'; a.rel = 'noopener noreferrer';
      parent.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  // WeChat renders <a href="...">label</a> inside text replies as a link; nothing else is markup.
  function appendRichText(parent, text) {
    var re = /<a\s+href\s*=\s*(["'])([\s\S]*?)\1[^>]*>([\s\S]*?)<\/a>/gi, last = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) appendLinkified(parent, text.slice(last, m.index));
      var href = safeUrl(m[2]);
      if (href) {
        var a = el('a', null, m[3]);
        a.href = href; a.target = '_blank'; a.rel = 'noopener noreferrer';
        parent.appendChild(a);
      } else {
        parent.appendChild(document.createTextNode(m[0]));
      }
      last = m.index + m[0].length;
    }
    if (last < text.length) appendLinkified(parent, text.slice(last));
  }

  function currentOption() { return userSel.options[userSel.selectedIndex]; }
  function userAvatar(openid) {
    var box = el('div', 'avatar');
    for (var i = 0; i < userSel.options.length; i++) {
      var o = userSel.options[i];
      if (o.value === openid && o.getAttribute('data-avatar')) {
        var img = el('img');
        img.alt = '';
        img.src = o.getAttribute('data-avatar');
        box.appendChild(img);
        return box;
      }
    }
    box.textContent = '我';
    return box;
  }
  function row(side, bubble, openid) {
    var r = el('div', 'row ' + side);
    r.appendChild(side === 'user' ? userAvatar(openid) : el('div', 'avatar', accountInitial));
    r.appendChild(bubble);
    log.appendChild(r);
    return r;
  }
  function note(text, testid) {
    var n = el('div', 'note');
    var s = el('span', null, text);
    n.appendChild(s);
    if (testid) n.setAttribute('data-testid', testid);
    log.appendChild(n);
    return n;
  }
  function accountBubble(extraClass) {
    var b = el('div', 'bubble account' + (extraClass ? ' ' + extraClass : ''));
    b.setAttribute('data-testid', 'bubble-account');
    return b;
  }

  var EVENT_LABELS = {
    subscribe: '你关注了公众号', unsubscribe: '你取消关注了公众号', scan: '扫描了带参数二维码',
    location_event: '上报了地理位置', click: '点击了菜单', view: '点击了菜单链接',
    scancode_push: '扫码 (scancode_push)', scancode_waitmsg: '扫码 (scancode_waitmsg)',
    pic_sysphoto: '拍照 (pic_sysphoto)', pic_photo_or_album: '拍照或相册 (pic_photo_or_album)',
    pic_weixin: '微信相册 (pic_weixin)', location_select: '发送位置 (location_select)'
  };
  function renderOutgoing(message, openid) {
    if (message.type === 'text') {
      var b = el('div', 'bubble user');
      b.setAttribute('data-testid', 'bubble-user');
      appendLinkified(b, message.content || '');
      row('user', b, openid);
    } else if (message.type === 'image') {
      var bi = el('div', 'bubble user media');
      bi.setAttribute('data-testid', 'bubble-user');
      var img = el('img'); img.alt = '图片'; img.src = '/_sim/media/' + encodeURIComponent(message.media_id || 'image');
      bi.appendChild(img);
      row('user', bi, openid);
    } else {
      var label = EVENT_LABELS[message.type] || ('事件 ' + message.type);
      var extra = message.scene || message.key || message.url || '';
      note(label + (extra ? ' (' + extra + ')' : ''), 'event-note');
    }
  }

  function card(className) {
    var b = accountBubble('card ' + (className || ''));
    return b;
  }
  function mediaImg(mediaId) {
    var img = el('img'); img.alt = '';
    img.src = '/_sim/media/' + encodeURIComponent(mediaId || 'media');
    return img;
  }
  function renderReply(reply) {
    var f = reply.fields || {};
    var t = reply.msg_type;
    var b;
    if (t === 'text') {
      b = accountBubble();
      appendRichText(b, str(f.Content));
    } else if (t === 'image') {
      b = accountBubble('media');
      b.appendChild(mediaImg(str((f.Image || {}).MediaId)));
    } else if (t === 'news') {
      var items = Array.isArray(f.Articles) ? f.Articles : [];
      b = card('news');
      items.forEach(function (it, i) {
        var href = safeUrl(str(it.Url));
        var holder = href ? el('a') : el('div');
        if (href) { holder.href = href; holder.target = '_blank'; holder.rel = 'noopener noreferrer'; }
        var pic = el('img', i === 0 ? 'pic' : null); pic.alt = '';
        var src = safeUrl(str(it.PicUrl));
        pic.src = src || '/_sim/media/news';
        if (i === 0) {
          holder.appendChild(pic);
          holder.appendChild(el('div', 'title', str(it.Title)));
          if (it.Description) holder.appendChild(el('div', 'desc', str(it.Description)));
        } else {
          holder.className = 'small';
          holder.appendChild(el('span', null, str(it.Title)));
          holder.appendChild(pic);
        }
        holder.setAttribute('data-testid', 'news-item');
        b.appendChild(holder);
      });
    } else if (t === 'music' || t === 'video' || t === 'voice') {
      var inner = f.Music || f.Video || f.Voice || {};
      var icon = t === 'music' ? '♪ ' : (t === 'video' ? '▶ ' : '🔊 ');
      b = card(t);
      var title = str(inner.Title) || ({ music: '音乐', video: '视频', voice: '语音' })[t];
      var link = safeUrl(str(inner.MusicUrl));
      var head = link ? el('a') : el('div');
      if (link) { head.href = link; head.target = '_blank'; head.rel = 'noopener noreferrer'; }
      head.appendChild(el('div', 'title', icon + title));
      if (inner.Description) head.appendChild(el('div', 'desc', str(inner.Description)));
      b.appendChild(head);
      b.appendChild(el('div', 'meta', 'MediaId: ' + str(inner.MediaId || inner.ThumbMediaId)));
    } else if (t === 'transfer_customer_service') {
      note('消息已转接客服 (transfer_customer_service)', 'transfer');
      return;
    } else {
      b = accountBubble();
      b.textContent = reply.xml;
    }
    row('account', b);
  }
  function renderProblems(problems) {
    var box = el('div', 'problems');
    box.setAttribute('data-testid', 'problems');
    box.appendChild(el('b', null, '⚠ 微信不会接受这个回复 / WeChat would reject this answer'));
    var ul = el('ul');
    problems.forEach(function (p) { ul.appendChild(el('li', null, p)); });
    box.appendChild(ul);
    log.appendChild(box);
  }
  function renderReport(report) {
    var ds = report.deliveries || [];
    if (ds.length > 1) {
      note('投递 ' + ds.length + ' 次: ' + ds.map(function (d) {
        return d.status ? 'HTTP ' + d.status : (d.error || '?');
      }).join(', '), 'deliveries');
    }
    if (report.reply) renderReply(report.reply);
    else if (!report.problems || report.problems.length === 0) note('公众号没有回复 (no reply)', 'no-reply');
    (report.notes || []).forEach(function (n) { note(n, 'report-note'); });
    if (report.problems && report.problems.length) renderProblems(report.problems);
  }
  function addRaw(message, openid, report, errorText) {
    var pre = el('pre');
    pre.setAttribute('data-testid', 'raw-entry');
    var lines = ['→ ' + JSON.stringify(message) + '  from ' + openid];
    if (report) {
      var r = report.request;
      lines.push('POST ' + r.url, 'Content-Type: text/xml', '', r.body);
      if (r.body !== r.xml) lines.push('', '-- plaintext --', r.xml);
      (report.deliveries || []).forEach(function (d) {
        lines.push('', '← delivery ' + d.attempt + ': ' + (d.status ? 'HTTP ' + d.status : d.error) +
          ' (' + d.elapsed_ms + ' ms' + (d.content_type ? ', ' + d.content_type : '') + ')');
        if (d.status) lines.push(d.body === '' ? '(empty body)' : d.body);
      });
      if (report.reply && report.reply.encrypted) lines.push('', '-- decrypted reply --', report.reply.xml);
      if (report.problems && report.problems.length) lines.push('', 'problems:', '- ' + report.problems.join('\n- '));
    } else {
      lines.push('', errorText);
    }
    pre.textContent = lines.join('\n');
    rawEntries.insertBefore(pre, rawEntries.firstChild);
  }

  function loadTarget() {
    try { return JSON.parse(localStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
  }
  function formTarget() {
    var get = function (id) { return document.getElementById(id).value.trim(); };
    var url = get('t-url');
    if (!url) return null;
    var t = { url: url, token: get('t-token'), mode: get('t-mode') };
    if (get('t-aes')) t.aes_key = get('t-aes');
    if (get('t-appid')) t.appid = get('t-appid');
    if (get('t-account')) t.account_id = get('t-account');
    return t;
  }
  function fillForm(t) {
    if (!t) return;
    document.getElementById('t-url').value = t.url || '';
    document.getElementById('t-token').value = t.token || '';
    document.getElementById('t-mode').value = t.mode || 'plain';
    document.getElementById('t-aes').value = t.aes_key || '';
    document.getElementById('t-appid').value = t.appid || '';
    document.getElementById('t-account').value = t.account_id || '';
  }
  function updateNoTarget() {
    if (noTarget) noTarget.hidden = hasTarget || !!formTarget();
  }
  document.getElementById('t-save').addEventListener('click', function () {
    var t = formTarget();
    if (t) localStorage.setItem(KEY, JSON.stringify(t)); else localStorage.removeItem(KEY);
    updateNoTarget();
    note(t ? '已保存推送目标 ' + t.url : '已清除推送目标（使用模拟器配置）');
  });

  // Who this browser is: the simulator keeps the selected user in its wxsim_user cookie, so
  // that a VIEW button to the account's 网页授权 logs in the user who tapped it, as in WeChat.
  var remembered = Promise.resolve();
  function rememberUser() {
    remembered = fetch('/_sim/chat/user', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ openid: userSel.value })
    }).then(function () {}, function () {});
    return remembered;
  }

  var busy = false;
  function push(message) {
    if (busy) return;
    var openid = userSel.value;
    rememberUser();
    renderOutgoing(message, openid);
    scroll();
    var body = { from: openid, message: message };
    var t = formTarget();
    if (t) body.target = t;
    busy = true; send.disabled = true;
    fetch('/_sim/push', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (resp) {
        return resp.text().then(function (text) {
          if (resp.status !== 200) {
            renderProblems(['/_sim/push → HTTP ' + resp.status + ': ' + text]);
            addRaw(message, openid, null, text);
            return;
          }
          var report = JSON.parse(text);
          exchanges.push({ from: openid, message: message, report: report, at: Date.now() / 1000 });
          renderReport(report);
          addRaw(message, openid, report);
        });
      })
      .catch(function (e) { renderProblems(['请求失败 / request failed: ' + e]); })
      .then(function () { busy = false; send.disabled = false; scroll(); input.focus(); });
  }

  function sendText() {
    var text = input.value;
    if (!text.trim()) return;
    input.value = '';
    push({ type: 'text', content: text });
  }
  send.addEventListener('click', sendText);
  input.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); }
  });
  document.getElementById('subscribe').addEventListener('click', function () { push({ type: 'subscribe' }); });
  document.getElementById('unsubscribe').addEventListener('click', function () { push({ type: 'unsubscribe' }); });

  // Customer-service messages (message/custom/send, GET /_sim/custom): the account writing
  // later, outside any push, shown as its bubbles with a note.
  var customs = [], lastCustom = 0;
  function customToReply(c) {
    var m = (c.body || {})[c.msgtype] || {};
    var f = {
      text: { Content: m.content },
      image: { Image: { MediaId: m.media_id } },
      voice: { Voice: { MediaId: m.media_id } },
      video: { Video: { MediaId: m.media_id, Title: m.title, Description: m.description } },
      music: { Music: { Title: m.title, Description: m.description, MusicUrl: m.musicurl, HQMusicUrl: m.hqmusicurl, ThumbMediaId: m.thumb_media_id } },
      news: { Articles: (m.articles || []).map(function (a) { return { Title: a.title, Description: a.description, Url: a.url, PicUrl: a.picurl }; }) }
    }[c.msgtype];
    return { msg_type: c.msgtype, fields: f || {}, xml: JSON.stringify(c.body) };
  }
  function renderCustom(c) {
    note('客服消息 (customer-service message)', 'custom-message');
    renderReply(customToReply(c));
  }
  function loadCustom() {
    return fetch('/_sim/custom').then(function (r) { return r.json(); }).then(function (all) {
      all.forEach(function (c) {
        if (c.id <= lastCustom) return;
        lastCustom = c.id;
        customs.push(c);
        if (c.touser === userSel.value) { renderCustom(c); scroll(); }
      });
    }).catch(function () {});
  }

  function renderHistory() {
    log.textContent = '';
    var items = exchanges.map(function (x) { return { at: x.at || 0, x: x }; })
      .concat(customs.map(function (c) { return { at: c.at, c: c }; }));
    items.sort(function (a, b) { return a.at - b.at; });
    items.forEach(function (it) {
      if (it.c) { if (it.c.touser === userSel.value) renderCustom(it.c); return; }
      var x = it.x;
      if (x.from !== userSel.value) return;
      renderOutgoing(x.message, x.from);
      renderReport(x.report);
    });
    scroll();
  }
  userSel.addEventListener('change', renderHistory);
  userSel.addEventListener('change', rememberUser);

  // The custom menu: the one WeChat shows the selected user (menu/trymatch semantics).
  var menuBar = document.getElementById('menu-bar');
  var SAMPLE_MD5 = '1b5f7c23b5bf75682a53e7b6d163e185';
  function closeMenus() {
    var pops = menuBar.querySelectorAll('.sub-menu');
    for (var i = 0; i < pops.length; i++) pops[i].hidden = true;
  }
  function menuAction(b, menuid) {
    var t = str(b.type), key = str(b.key);
    if (t === 'click') {
      push({ type: 'click', key: key });
    } else if (t === 'view') {
      var href = safeUrl(str(b.url));
      var view = { type: 'view', url: str(b.url) };
      if (menuid !== undefined && menuid !== null && menuid !== '') view.menu_id = String(menuid);
      push(view);
      // Opened once the simulator knows who tapped (the page's authorize sees the cookie).
      if (href) remembered.then(function () { window.open(href, '_blank', 'noopener'); });
    } else if (t === 'scancode_push' || t === 'scancode_waitmsg') {
      push({ type: t, key: key, result: 'https://wxsim.invalid/scan/' + encodeURIComponent(key) });
    } else if (t === 'pic_sysphoto' || t === 'pic_photo_or_album' || t === 'pic_weixin') {
      push({ type: t, key: key, pic_md5: [SAMPLE_MD5] });
    } else if (t === 'location_select') {
      push({ type: 'location_select', key: key, x: 23.137466, y: 113.352425, scale: 15,
        label: '广州市海珠区客村艺苑路 106号', poiname: '' });
    } else if (t === 'miniprogram') {
      note('打开小程序 ' + str(b.appid) + ' ' + str(b.pagepath) + ' (模拟器不能打开小程序 / not simulated)', 'menu-note');
    } else if (t === 'media_id' || t === 'view_limited') {
      note('微信直接下发素材 ' + str(b.media_id) + ', 不推送事件 (no push to the server)', 'menu-note');
    } else if (t === 'article_id' || t === 'article_view_limited') {
      note('微信直接下发发布的图文 ' + str(b.article_id) + ', 不推送事件 (no push to the server)', 'menu-note');
    } else {
      note('菜单类型 ' + t + ' 不被模拟 (not simulated)', 'menu-note');
    }
    scroll();
  }
  function menuButton(cls, testid, name) {
    var btn = el('button', cls, str(name));
    btn.type = 'button';
    btn.setAttribute('data-testid', testid);
    return btn;
  }
  function renderMenu(menu) {
    menuBar.textContent = '';
    var buttons = menu && Array.isArray(menu.button) ? menu.button.slice(0, 3) : [];
    var menuid = menu && menu.menuid !== undefined && menu.menuid !== null ? String(menu.menuid) : '';
    menuBar.setAttribute('data-menuid', menuid);
    menuBar.hidden = buttons.length === 0;
    buttons.forEach(function (b) {
      var item = el('div', 'menu-item');
      var btn = menuButton('menu-btn', 'menu-button', b.name);
      item.appendChild(btn);
      var subs = Array.isArray(b.sub_button) ? b.sub_button.slice(0, 5) : [];
      if (subs.length) {
        btn.className = 'menu-btn parent';
        var pop = el('div', 'sub-menu');
        pop.setAttribute('data-testid', 'sub-menu');
        pop.hidden = true;
        subs.forEach(function (sb) {
          var sbtn = menuButton('sub-btn', 'sub-button', sb.name);
          sbtn.addEventListener('click', function (e) {
            e.stopPropagation(); closeMenus(); menuAction(sb, menuid);
          });
          pop.appendChild(sbtn);
        });
        item.appendChild(pop);
        // A parent only opens its sub-menu: WeChat pushes nothing for it.
        btn.addEventListener('click', function (e) {
          e.stopPropagation();
          var wasHidden = pop.hidden;
          closeMenus();
          pop.hidden = !wasHidden;
        });
      } else {
        btn.addEventListener('click', function (e) {
          e.stopPropagation(); closeMenus(); menuAction(b, menuid);
        });
      }
      menuBar.appendChild(item);
    });
  }
  function loadMenu() {
    var openid = userSel.value;
    fetch('/_sim/menu?openid=' + encodeURIComponent(openid))
      .then(function (r) { return r.json(); })
      .then(function (d) { if (userSel.value === openid) renderMenu(d.effective); })
      .catch(function () {});
  }
  document.addEventListener('click', closeMenus);
  userSel.addEventListener('change', loadMenu);
  // WeChat re-pulls the menu when the chat is opened again.
  // Back on this chat, this browser is its user again (another tab may have picked another).
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { loadMenu(); rememberUser(); } });
  var initialMenu = null;
  try { initialMenu = JSON.parse(document.getElementById('menu-data').textContent || 'null'); } catch (e) {}
  if (initialMenu && initialMenu.openid === userSel.value) renderMenu(initialMenu.menu);
  else { loadMenu(); rememberUser(); }

  fillForm(loadTarget());
  updateNoTarget();
  fetch('/_sim/exchanges').then(function (r) { return r.json(); }).then(function (all) {
    exchanges = all.concat(exchanges.filter(function (x) { return !x.id; }));
    all.forEach(function (x) { addRaw(x.message, x.from, x.report); });
    return fetch('/_sim/custom').then(function (r) { return r.json(); }).then(function (cs) {
      cs.forEach(function (c) { if (c.id > lastCustom) { lastCustom = c.id; customs.push(c); } });
    }, function () {});
  }).then(function () {
    renderHistory();
    setInterval(loadCustom, 2000);
  }).catch(function () {});
})();
"#;

/// JSON inside `<script type="application/json">`: no `<`, `>` or `&` that could end it.
fn script_json(value: &Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The menu bar as the script builds it, for the first render (and pages without script).
fn menu_bar(menu: Option<&Value>) -> String {
    let buttons: &[Value] = menu
        .and_then(|m| m["button"].as_array())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut html = String::new();
    for b in buttons.iter().take(3) {
        let name = escape(b["name"].as_str().unwrap_or_default());
        let subs: &[Value] = b["sub_button"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        html.push_str("<div class=\"menu-item\">");
        if subs.is_empty() {
            html.push_str(&format!(
                "<button class=\"menu-btn\" type=\"button\" data-testid=\"menu-button\">{name}</button>"
            ));
        } else {
            html.push_str(&format!(
                "<button class=\"menu-btn parent\" type=\"button\" data-testid=\"menu-button\">{name}</button>\
                 <div class=\"sub-menu\" data-testid=\"sub-menu\" hidden>"
            ));
            for sb in subs.iter().take(5) {
                html.push_str(&format!(
                    "<button class=\"sub-btn\" type=\"button\" data-testid=\"sub-button\">{}</button>",
                    escape(sb["name"].as_str().unwrap_or_default())
                ));
            }
            html.push_str("</div>");
        }
        html.push_str("</div>");
    }
    let menuid = menu
        .map(|m| m["menuid"].to_string())
        .filter(|id| id != "null")
        .unwrap_or_default();
    format!(
        "<div id=\"menu-bar\" data-testid=\"menu-bar\" data-menuid=\"{}\"{}>{html}</div>",
        escape(&menuid),
        if buttons.is_empty() { " hidden" } else { "" },
    )
}

/// The chat page, acting as the user the [`USER_COOKIE`] remembers (else `users[0]`); the
/// response (re)sets the cookie for that user.
pub fn chat_page(sim: &Simulator, headers: &HeaderMap) -> Response {
    let config = sim.config();
    // That user is selected at first; the script fetches the menu of any other.
    let selected = remembered_user(sim, headers).unwrap_or(0);
    let openid = config.users.get(selected).map(|u| u.openid.clone());
    let effective = openid
        .as_deref()
        .map(|openid| sim.menus_json(Some(openid))["effective"].clone())
        .filter(|m| !m.is_null());
    let menu_data = json!({"openid": openid, "menu": effective});
    let initial = config
        .account_name
        .chars()
        .next()
        .map(String::from)
        .unwrap_or_default();
    let mut options = String::new();
    for (i, u) in config.users.iter().enumerate() {
        let snapshot = if u.snapshot { " (快照页用户)" } else { "" };
        options.push_str(&format!(
            "<option value=\"{openid}\" data-avatar=\"{avatar}\"{selected}>{nick}{snapshot} · {openid}</option>",
            selected = if i == selected { " selected" } else { "" },
            openid = escape(&u.openid),
            avatar = escape(&page_avatar(u, i)),
            nick = escape(&u.nickname),
        ));
    }
    let (has_target, target_line) = match &config.push {
        Some(t) => (
            true,
            format!(
                "推送到 <code id=\"target-url\">{}</code> · {} 模式",
                escape(&t.url),
                match t.mode {
                    crate::PushMode::Plain => "明文",
                    crate::PushMode::Compatible => "兼容",
                    crate::PushMode::Safe => "安全",
                }
            ),
        ),
        None => (false, "未配置推送目标".to_string()),
    };
    let no_target = if has_target {
        String::new()
    } else {
        concat!(
            "<div id=\"no-target\" data-testid=\"no-target\"><b>没有配置推送目标 (no push target).</b> ",
            "Run <code>wxgate demo</code> (it points the simulator at the demo server's <code>/weixin/</code>), ",
            "start the simulator with <code>SimConfig.push</code> set, or fill in the account's ",
            "服务器配置 under “推送目标” below (kept in this browser). ",
            "Scripts can also send <code>{\"target\": {\"url\": …, \"token\": …}}</code> to <code>POST /_sim/push</code>.</div>"
        )
        .to_string()
    };
    let page = format!(
        concat!(
            "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\">",
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1,maximum-scale=1\">",
            "<title>{account} · wxsim 聊天</title><style>{style}</style></head>",
            "<body data-has-target=\"{has_target}\" data-account-initial=\"{initial}\">",
            "<div class=\"phone\">",
            "<header><a href=\"/\" title=\"wxsim\">‹</a><h1 id=\"account-name\" data-testid=\"account-name\">{account}</h1></header>",
            "<div class=\"who\"><label for=\"user-select\">我是</label>",
            "<select id=\"user-select\" data-testid=\"user-select\" autocomplete=\"off\">{options}</select></div>",
            "{no_target}",
            "<div id=\"chat-log\" data-testid=\"chat-log\" aria-live=\"polite\"></div>",
            "<footer>",
            "<div class=\"bar\"><input id=\"chat-input\" data-testid=\"chat-input\" type=\"text\" autocomplete=\"off\" placeholder=\"发消息\">",
            "<button id=\"chat-send\" data-testid=\"chat-send\" type=\"button\">发送</button></div>",
            "{menu_bar}<script type=\"application/json\" id=\"menu-data\">{menu_data}</script>",
            "<div class=\"events\"><button id=\"subscribe\" data-testid=\"subscribe\" type=\"button\">关注</button>",
            "<button id=\"unsubscribe\" data-testid=\"unsubscribe\" type=\"button\">取消关注</button></div>",
            "<details id=\"target-settings\"{open}><summary>推送目标 · {target_line}</summary>",
            "<label><span>URL</span><input id=\"t-url\" placeholder=\"http://127.0.0.1:8000/weixin/\"></label>",
            "<label><span>Token</span><input id=\"t-token\"></label>",
            "<label><span>模式</span><select id=\"t-mode\"><option value=\"plain\">明文 plain</option>",
            "<option value=\"compatible\">兼容 compatible</option><option value=\"safe\">安全 safe</option></select></label>",
            "<label><span>EncodingAESKey</span><input id=\"t-aes\"></label>",
            "<label><span>AppID</span><input id=\"t-appid\" placeholder=\"{appid}\"></label>",
            "<label><span>原始ID</span><input id=\"t-account\" placeholder=\"gh_wxgate_demo\"></label>",
            "<button id=\"t-save\" type=\"button\">保存 (empty URL = use the simulator's)</button></details>",
            "<details id=\"raw-log\" data-testid=\"raw-log\"><summary>原始报文 (raw exchanges)</summary>",
            "<div id=\"raw-entries\" class=\"entries\"></div></details>",
            "</footer></div><script>{script}</script></body></html>\n"
        ),
        account = escape(&config.account_name),
        style = STYLE,
        has_target = has_target,
        initial = escape(&initial),
        options = options,
        no_target = no_target,
        open = if has_target { "" } else { " open" },
        target_line = target_line,
        appid = escape(&config.appid),
        script = SCRIPT,
        menu_bar = menu_bar(effective.as_ref()),
        menu_data = script_json(&menu_data),
    );
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response();
    if let Some(openid) = &openid {
        response
            .headers_mut()
            .insert(header::SET_COOKIE, remember_cookie(openid));
    }
    response
}

/// A grey picture with the MediaId written on it.
pub fn media_placeholder(media_id: &str) -> String {
    let shown: String = media_id.chars().take(24).collect();
    format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="240" height="160" viewBox="0 0 240 160">"#,
            r##"<rect width="240" height="160" fill="#e5e5e5"/>"##,
            r##"<text x="120" y="72" text-anchor="middle" font-size="28" fill="#b2b2b2">🖼</text>"##,
            r##"<text x="120" y="110" text-anchor="middle" font-size="11" font-family="monospace" fill="#808080">{}</text></svg>"##
        ),
        escape(&shown)
    )
}
