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

  // 扫一扫: the account's QR codes with scenes (GET /_sim/qrcodes). Scanning one pushes what
  // WeChat pushes: subscribe with qrscene_<scene> for a user who does not follow, SCAN for one
  // who does (the simulator knows from the pushes so far).
  var qrPanel = document.getElementById('qrcode-panel');
  function qrcodes(openid) {
    return fetch('/_sim/qrcodes?openid=' + encodeURIComponent(openid)).then(function (r) { return r.json(); });
  }
  function scanCode(c) {
    var openid = userSel.value;
    qrcodes(openid).then(function (d) {
      push(d.follows ? { type: 'scan', scene: c.scene, ticket: c.ticket }
        : { type: 'subscribe', scene: c.scene, ticket: c.ticket });
    }, function (e) { renderProblems(['扫一扫失败 / scan failed: ' + e]); });
  }
  document.getElementById('scan-qrcode').addEventListener('click', function (e) {
    e.stopPropagation();
    if (!qrPanel.hidden) { qrPanel.hidden = true; return; }
    qrcodes(userSel.value).then(function (d) {
      var codes = Array.isArray(d.qrcodes) ? d.qrcodes : [];
      qrPanel.textContent = '';
      qrPanel.appendChild(el('div', 'qr-title', '扫一扫 · 公众号的带参数二维码 (' + (d.follows ? '已关注: SCAN' : '未关注: subscribe') + ')'));
      if (!codes.length) {
        qrPanel.appendChild(el('div', 'qr-empty', '公众号还没有二维码 (no QR codes yet: wxgate qrcode create SCENE)'));
      }
      codes.forEach(function (c) {
        var b = el('button', 'qr-item');
        b.type = 'button';
        b.setAttribute('data-testid', 'qrcode-item');
        b.setAttribute('data-scene', str(c.scene));
        var img = el('img'); img.alt = '二维码 ' + str(c.scene); img.src = str(c.image);
        b.appendChild(img);
        b.appendChild(el('span', 'scene', str(c.scene)));
        b.appendChild(el('span', 'kind', c.expires_at ? '临时' : '永久'));
        b.addEventListener('click', function () { qrPanel.hidden = true; scanCode(c); });
        qrPanel.appendChild(b);
      });
      qrPanel.hidden = false;
    }, function (e) { renderProblems(['二维码列表失败 / could not list QR codes: ' + e]); });
  });

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
    var m = (c.body || {})[c.msgtype] || {};
    if (c.msgtype === 'msgmenu') {
      var b = accountBubble('choices');
      if (m.head_content) b.appendChild(el('div', null, str(m.head_content)));
      (Array.isArray(m.list) ? m.list : []).forEach(function (o) {
        var a = el('a', null, str(o.content));
        a.setAttribute('data-testid', 'msgmenu-choice');
        a.addEventListener('click', function () { push({ type: 'text', content: str(o.content) }); });
        b.appendChild(a);
      });
      if (m.tail_content) b.appendChild(el('div', null, str(m.tail_content)));
      row('account', b);
    } else if (c.msgtype === 'miniprogrampage') {
      var mp = card('miniprogram');
      mp.appendChild(el('div', 'title', '小程序 · ' + str(m.title)));
      mp.appendChild(el('div', 'meta', str(m.appid) + ' ' + str(m.pagepath) + ' (模拟器不能打开小程序 / not simulated)'));
      row('account', mp);
    } else {
      renderReply(customToReply(c));
    }
  }

  // 服务通知: template messages and subscription notices (GET /_sim/notifications), shown as
  // WeChat shows them: a card with the template's title, one row per keyword and 详情.
  var notices = [], lastNotice = 0;
  function renderNotice(n) {
    var box = el('div', 'notice');
    box.setAttribute('data-testid', 'service-notice');
    box.setAttribute('data-kind', n.kind);
    var head = el('div', 'n-head');
    head.appendChild(el('span', 'n-icon', '✓'));
    head.appendChild(el('span', null, (n.kind === 'subscribe' ? '服务通知 · 订阅通知' : '服务通知 · 模板消息')));
    box.appendChild(head);
    box.appendChild(el('div', 'n-title', str(n.title)));
    var when = new Date((n.at || 0) * 1000);
    box.appendChild(el('div', 'n-time', (when.getMonth() + 1) + '月' + when.getDate() + '日 ' +
      ('0' + when.getHours()).slice(-2) + ':' + ('0' + when.getMinutes()).slice(-2)));
    (n.rows || []).forEach(function (r) {
      var line = el('div', 'n-row');
      line.setAttribute('data-testid', 'notice-row');
      line.appendChild(el('span', 'n-label', str(r[0])));
      line.appendChild(el('span', 'n-value', str(r[1])));
      box.appendChild(line);
    });
    var href = safeUrl(str(n.link));
    var more = href ? el('a', 'n-more', '详情') : el('div', 'n-more', '详情');
    if (href) { more.href = href; more.target = '_blank'; more.rel = 'noopener noreferrer'; }
    more.setAttribute('data-testid', 'notice-more');
    box.appendChild(more);
    log.appendChild(box);
  }
  function loadNotices() {
    return fetch('/_sim/notifications').then(function (r) { return r.json(); }).then(function (all) {
      all.forEach(function (n) {
        if (n.id <= lastNotice) return;
        lastNotice = n.id;
        notices.push(n);
        if (n.touser === userSel.value) { renderNotice(n); scroll(); }
      });
    }).catch(function () {});
  }

  // 订阅: the user accepts the account's subscription templates, as in WeChat's popup.
  document.getElementById('accept-subscriptions').addEventListener('click', function () {
    fetch('/_sim/templates').then(function (r) { return r.json(); }).then(function (all) {
      var box = el('div', 'accept-box');
      box.setAttribute('data-testid', 'accept-box');
      box.appendChild(el('div', null, '公众号想给你发送以下订阅通知 (subscription notices):'));
      all.filter(function (t) { return t.kind === 'subscribe'; }).forEach(function (t) {
        var b = el('button', null, '允许 · ' + str(t.title) + (t.type === 3 ? ' (长期)' : ' (一次性)'));
        b.type = 'button';
        b.setAttribute('data-testid', 'accept-subscription');
        b.addEventListener('click', function () {
          fetch('/_sim/subscriptions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ openid: userSel.value, template_id: t.template_id }) })
            .then(function (r) { note(r.status === 204 ? '已允许 ' + t.title : '订阅失败 HTTP ' + r.status, 'accepted'); scroll(); });
        });
        box.appendChild(b);
      });
      log.appendChild(box);
      scroll();
    }).catch(function () {});
  });
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
      .concat(customs.map(function (c) { return { at: c.at, c: c }; }))
      .concat(notices.map(function (n) { return { at: n.at, n: n }; }));
    items.sort(function (a, b) { return a.at - b.at; });
    items.forEach(function (it) {
      if (it.c) { if (it.c.touser === userSel.value) renderCustom(it.c); return; }
      if (it.n) { if (it.n.touser === userSel.value) renderNotice(it.n); return; }
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
    return fetch('/_sim/notifications').then(function (r) { return r.json(); }).then(function (ns) {
      ns.forEach(function (n) { if (n.id > lastNotice) { lastNotice = n.id; notices.push(n); } });
    }, function () {});
  }).then(function () {
    renderHistory();
    setInterval(loadCustom, 2000);
    setInterval(loadNotices, 2000);
  }).catch(function () {});
})();
