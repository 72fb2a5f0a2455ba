// Browser end-to-end tests of the demo account's replies, driven through the
// WeChat simulator's chat page (`/_sim/chat`) in headless chromium at phone
// size. The page pushes each message to the demo server's /weixin/ in safe
// (encrypted) mode, as WeChat would, and shows the account's reply.
//
//   scripts/e2e-setup.sh && cd e2e && node --test chat.test.mjs

import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { CONSENT_PATH, consentUsers, launchBrowser, newPhone, screenshot, startApp, waitForPath, waitForText } from './lib.mjs';

const HELLO = '你好，wxgate';
const ECHO_PREFIX = '你说的是：';
const XSS_TEXT = '<img src=x onerror=alert(1)>';
const WELCOME_TEXT = '欢迎关注';
const MENU_KEY = 'V1001_SUNCK';
const PANDA_NICKNAME = '🐼熊猫🎋'; // crates/wxsim/src/users.rs

let app;
let browser;

before(async () => {
  app = await startApp({ logName: 'wxgate-chat' });
  assert.ok(
    app.chatUrl,
    `wxgate demo did not print "wxgate demo: chat with the account at http://127.0.0.1:PORT/_sim/chat" on stdout\n${app.output()}`,
  );
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

// The simulator remembers every push and the chat page replays them on load:
// start each test with an empty history so the tests do not see each other.
beforeEach(async () => {
  if (!app?.simOrigin) return;
  const resp = await fetch(new URL('/_sim/exchanges', app.simOrigin), { method: 'DELETE' });
  assert.ok(resp.ok, `DELETE /_sim/exchanges → HTTP ${resp.status}`);
});

/**
 * Runs `body` with a fresh phone. On failure it saves
 * screenshots/chat-NAME-FAILED.png and adds what the page logged to the error.
 */
async function onPhone(t, name, body) {
  const phone = await newPhone(browser);
  try {
    await body(phone);
    if (phone.problems.length) t.diagnostic(`page problems: ${phone.problems.join(' | ')}`);
  } catch (err) {
    const shot = await screenshot(phone.page, `chat-${name}-FAILED`).catch(() => '(no screenshot)');
    err.message +=
      `\n  at page ${phone.page.url()} (screenshot ${shot})` +
      (phone.problems.length ? `\n  page problems:\n    ${phone.problems.join('\n    ')}` : '');
    throw err;
  } finally {
    await phone.close();
  }
}

/**
 * Opens the chat page and waits until it has loaded its history
 * (`GET /_sim/exchanges`): tapping before that can lose the outgoing bubble,
 * because the history render clears the log.
 */
async function openChat(page) {
  const history = page.waitForResponse((r) => new URL(r.url()).pathname === '/_sim/exchanges', { timeout: 20_000 });
  const resp = await page.goto(app.chatUrl);
  assert.equal(resp.status(), 200, `GET ${app.chatUrl} → HTTP ${resp.status()}`);
  await history;
  await page.waitForLoadState('networkidle');
  for (const sel of ['#user-select', '#chat-log', '#chat-input', '#chat-send', '#subscribe', '#unsubscribe', '#raw-log']) {
    assert.equal(await page.locator(sel).count(), 1, `the chat page has no ${sel}`);
  }
  assert.equal(await page.locator('#no-target').count(), 0, 'the chat page says it has no push target (#no-target)');
}

/** Picks the simulated user whose option text contains `match`; returns that text. */
async function pickUser(page, match) {
  const options = await page.locator('#user-select option').evaluateAll((os) =>
    os.map((o) => ({ value: o.value, text: o.textContent.trim() })),
  );
  const option = options.find((o) => o.text.includes(match));
  assert.ok(option, `no user matching ${JSON.stringify(match)} in #user-select; offered: ${JSON.stringify(options.map((o) => o.text))}`);
  await page.locator('#user-select').selectOption(option.value);
  assert.equal(await page.locator('#user-select').inputValue(), option.value);
  return option.text;
}

const accountBubbles = (page) => page.locator('#chat-log [data-testid=bubble-account]');
const userBubbles = (page) => page.locator('#chat-log [data-testid=bubble-user]');

/** Waits until there are at least `n` elements matching `locator`. */
async function waitForCount(locator, n, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const count = await locator.count();
    if (count >= n) return count;
    if (Date.now() > deadline) throw new Error(`expected at least ${n} ${what}, found ${count}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits for the page to be idle again after a push (#chat-send re-enabled). */
async function waitForPushDone(page) {
  await page.waitForFunction(() => !document.getElementById('chat-send').disabled, null, { timeout: 15_000 });
}

/** The text of every problems box, for error messages. */
async function problemsText(page) {
  return page.locator('[data-testid=problems]').allInnerTexts();
}

async function expectNoProblems(page) {
  const problems = await problemsText(page);
  assert.deepEqual(problems, [], `the page shows WeChat would reject the reply: ${JSON.stringify(problems)}`);
}

/** Types `text` into #chat-input, taps #chat-send, waits for the account's next bubble; returns it. */
async function sendText(page, text) {
  const before = await accountBubbles(page).count();
  const beforeUser = await userBubbles(page).count();
  await page.locator('#chat-input').fill(text);
  await page.locator('#chat-send').click();
  await waitForCount(userBubbles(page), beforeUser + 1, `user bubbles after sending ${JSON.stringify(text)}`);
  await waitForCount(accountBubbles(page), before + 1, `account bubbles after sending ${JSON.stringify(text)} (problems: ${JSON.stringify(await problemsText(page))})`);
  await waitForPushDone(page);
  assert.equal(await page.locator('#chat-input').inputValue(), '', '#chat-input was not cleared after sending');
  const mine = (await userBubbles(page).last().textContent()).trim();
  assert.equal(mine, text, 'the user bubble does not show what was sent, literally');
  return accountBubbles(page).nth(before);
}

test('subscribe: a welcome text with a link to the login page /auth/', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '1-subscribe', async ({ page, dialogs }) => {
    await openChat(page);
    const user = await pickUser(page, '张三');
    t.diagnostic(`user: ${user}`);
    await screenshot(page, 'chat-1-subscribe-01-empty');

    await page.locator('#subscribe').click();
    await waitForText(page.locator('#chat-log [data-testid=event-note]'), (s) => s.includes('关注'), 'an event note for the subscribe');
    await waitForCount(accountBubbles(page), 1, `account bubbles after 关注 (problems: ${JSON.stringify(await problemsText(page))})`);
    await waitForPushDone(page);
    const bubble = accountBubbles(page).first();
    const text = (await bubble.innerText()).trim();
    t.diagnostic(`welcome: ${JSON.stringify(text)}`);
    assert.ok(text.includes(WELCOME_TEXT), `the reply to 关注 does not contain ${JSON.stringify(WELCOME_TEXT)}: ${JSON.stringify(text)}`);
    assert.ok(await bubble.isVisible(), 'the welcome bubble is not visible');

    const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => ({ href: a.href, text: a.textContent })));
    t.diagnostic(`links: ${JSON.stringify(links)}`);
    const login = links.find((l) => l.href.endsWith('/auth/'));
    assert.ok(login, `the welcome bubble has no link ending with /auth/: ${JSON.stringify(links)}`);
    assert.equal(new URL(login.href).origin, app.origin, `the login link points away from the app (${app.origin}): ${login.href}`);
    assert.equal(login.text, login.href, 'the login link text is not the bare URL');
    await expectNoProblems(page);
    await screenshot(page, 'chat-1-subscribe-02-welcome');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

test('text: the account echoes 你说的是：…, HTML is shown literally', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '2-text', async ({ page, dialogs, problems }) => {
    const fired = [];
    page.on('dialog', (d) => fired.push(`${d.type()}: ${d.message()}`));
    await openChat(page);
    await pickUser(page, '🐼');

    const hello = await sendText(page, HELLO);
    await waitForText(hello, (s) => s === `${ECHO_PREFIX}${HELLO}`, `the account bubble to be ${JSON.stringify(ECHO_PREFIX + HELLO)}`);
    await expectNoProblems(page);
    await screenshot(page, 'chat-2-text-01-hello');

    const xss = await sendText(page, XSS_TEXT);
    await waitForText(xss, (s) => s === `${ECHO_PREFIX}${XSS_TEXT}`, `the account bubble to be ${JSON.stringify(ECHO_PREFIX + XSS_TEXT)}`);
    // Give an injected onerror handler a moment to fire.
    await page.waitForTimeout(500);
    assert.deepEqual(fired, [], 'a JavaScript dialog fired: the text was executed as HTML');
    assert.deepEqual(dialogs, [], 'a JavaScript dialog fired: the text was executed as HTML');
    assert.equal(await page.locator('#chat-log img[src=x]').count(), 0, 'an <img src=x> was injected into #chat-log');
    assert.equal(await page.locator('img[src=x]').count(), 0, 'an <img src=x> was injected into the page');
    assert.ok(!problems.some((p) => p.startsWith('page error')), `page errors: ${problems.join(' | ')}`);
    await expectNoProblems(page);
    await screenshot(page, 'chat-2-text-02-html-literal');
  });
});

test('raw log: shows the encrypted exchanges', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '3-raw', async ({ page, dialogs }) => {
    await openChat(page);
    await pickUser(page, '张三');
    const reply = await sendText(page, HELLO);
    await waitForText(reply, (s) => s === `${ECHO_PREFIX}${HELLO}`, `the account bubble to be ${JSON.stringify(ECHO_PREFIX + HELLO)}`);

    const raw = page.locator('#raw-log');
    assert.equal(await raw.evaluate((d) => d.tagName), 'DETAILS', '#raw-log is not a <details>');
    await raw.locator('summary').click();
    assert.equal(await raw.evaluate((d) => d.open), true, 'tapping the summary did not open #raw-log');
    const entries = raw.locator('[data-testid=raw-entry]');
    await waitForCount(entries, 1, 'raw entries in #raw-log');
    assert.ok(await entries.first().isVisible(), 'the raw entry is not visible with #raw-log open');
    const texts = await entries.allTextContents();
    t.diagnostic(`raw entries: ${texts.length}; first starts ${JSON.stringify(texts[0].slice(0, 200))}`);
    assert.ok(
      texts.some((s) => s.includes('encrypt_type=aes') || s.includes('Encrypt')),
      `no raw entry mentions encrypt_type=aes or Encrypt: ${JSON.stringify(texts)}`,
    );
    assert.ok(texts.some((s) => s.includes(HELLO)), `no raw entry shows the text sent: ${JSON.stringify(texts)}`);
    await screenshot(page, 'chat-3-raw-01-open');

    // The history is kept by the simulator: a reload shows the exchange again.
    const history = page.waitForResponse((r) => new URL(r.url()).pathname === '/_sim/exchanges');
    await page.reload();
    await history;
    await page.waitForLoadState('networkidle');
    await waitForText(accountBubbles(page).last(), (s) => s === `${ECHO_PREFIX}${HELLO}`, 'the reply to be shown again after a reload');
    await waitForCount(page.locator('#raw-log [data-testid=raw-entry]'), 1, 'raw entries after a reload');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

test('unsubscribe: no reply, no problems', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '4-unsubscribe', async ({ page, dialogs }) => {
    await openChat(page);
    await pickUser(page, '🐼');
    await page.locator('#unsubscribe').click();
    await waitForText(page.locator('#chat-log [data-testid=event-note]'), (s) => s.includes('取消关注'), 'an event note for the unsubscribe');
    await waitForCount(
      page.locator('#chat-log [data-testid=no-reply], #chat-log [data-testid=problems], #chat-log [data-testid=bubble-account]'),
      1,
      'a reply, a "no reply" note or problems after 取消关注',
    );
    await waitForPushDone(page);
    await expectNoProblems(page);
    assert.equal(await accountBubbles(page).count(), 0, `the account replied to 取消关注: ${JSON.stringify(await accountBubbles(page).allInnerTexts())}`);
    const noReply = page.locator('#chat-log [data-testid=no-reply]');
    assert.equal(await noReply.count(), 1, 'no [data-testid=no-reply] note after 取消关注');
    assert.ok(await noReply.isVisible(), 'the "no reply" note is not visible');
    t.diagnostic(`no-reply note: ${JSON.stringify((await noReply.innerText()).trim())}`);
    await screenshot(page, 'chat-4-unsubscribe-01-no-reply');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

// The Django tutorial's menu (crates/wechat/tests/fixtures/seed_menu.toml), in WeChat's JSON:
// what an account publishes with `wxgate menu push` when the demo has no menu yet.
const SEED_MENU = {
  button: [
    { type: 'click', name: 'sunck', key: MENU_KEY },
    { type: 'view', name: '主页', url: 'http://127.0.0.1:8000/auth/' },
    {
      name: '佳丽',
      sub_button: [
        { type: 'click', name: '林志玲', key: 'V1002_MASSAGE_BEAUTIFUL01' },
        { type: 'click', name: '范冰冰', key: 'V1002_MASSAGE_BEAUTIFUL02' },
        { type: 'click', name: '关之琳', key: 'V1002_MASSAGE_BEAUTIFUL03' },
        { type: 'view', name: '更多佳丽', url: 'http://www.baidu.com/' },
      ],
    },
  ],
};
// `wxgate demo`'s public demo account (crates/wxgate/src/cli.rs DEMO_APPID / DEMO_SECRET).
const DEMO_APPID = 'wx5d3ad7e0c0ffee00';
const DEMO_SECRET = 'demosecretnotforproduction000000';

async function simJson(pathAndQuery, init) {
  const resp = await fetch(new URL(pathAndQuery, app.simOrigin), init);
  const text = await resp.text();
  assert.ok(resp.ok, `${init?.method ?? 'GET'} ${pathAndQuery} → HTTP ${resp.status}: ${text}`);
  return JSON.parse(text);
}

/** The menu the simulator shows `openid` (menu/trymatch semantics), or null. */
async function effectiveMenu(openid) {
  return (await simJson(`/_sim/menu?openid=${encodeURIComponent(openid)}`)).effective ?? null;
}

/** Publishes SEED_MENU through the simulator's WeChat API, as the account would. */
async function publishSeedMenu() {
  const token = await simJson('/cgi-bin/stable_token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credential', appid: DEMO_APPID, secret: DEMO_SECRET }),
  });
  assert.ok(token.access_token, `stable_token: ${JSON.stringify(token)}`);
  const created = await simJson(`/cgi-bin/menu/create?access_token=${encodeURIComponent(token.access_token)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(SEED_MENU),
  });
  assert.equal(created.errcode, 0, `menu/create: ${JSON.stringify(created)}`);
}

/** Where a leaf button sits: { top: name of the top-level button, sub: name in its sub-menu or null, button }. */
function menuLeaves(menu) {
  const leaves = [];
  for (const b of menu?.button ?? []) {
    if (Array.isArray(b.sub_button) && b.sub_button.length) {
      for (const sb of b.sub_button) leaves.push({ top: b.name, sub: sb.name, button: sb });
    } else {
      leaves.push({ top: b.name, sub: null, button: b });
    }
  }
  return leaves;
}

/** Taps the menu leaf like a person: the top-level button, then (for a sub-menu) its item. */
async function tapLeaf(page, leaf, t) {
  const top = page.locator('#menu-bar [data-testid=menu-button]').filter({ hasText: leaf.top });
  assert.equal(await top.count(), 1, `no single menu button ${JSON.stringify(leaf.top)} in #menu-bar: ${JSON.stringify(await page.locator('#menu-bar [data-testid=menu-button]').allInnerTexts())}`);
  assert.ok(await top.isVisible(), `the menu button ${JSON.stringify(leaf.top)} is not visible`);
  await top.click();
  if (leaf.sub === null) return;
  const pop = page.locator('#menu-bar [data-testid=sub-menu]').filter({ visible: true });
  await waitForCount(pop, 1, `a visible sub-menu after tapping ${JSON.stringify(leaf.top)}`, 5_000);
  await screenshot(page, 'chat-5-menu-03-sub-menu');
  const item = pop.locator('[data-testid=sub-button]').filter({ hasText: leaf.sub });
  assert.equal(await item.count(), 1, `no sub-menu item ${JSON.stringify(leaf.sub)} under ${JSON.stringify(leaf.top)}`);
  t.diagnostic(`sub-menu of ${leaf.top}: ${JSON.stringify(await pop.locator('[data-testid=sub-button]').allInnerTexts())}`);
  await item.click();
  assert.equal(await pop.count(), 0, 'the sub-menu stayed open after tapping one of its items');
}

test('menu: tapping the V1001_SUNCK button brings a news card', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '5-menu', async ({ page, dialogs }) => {
    await openChat(page);
    if ((await page.locator('#menu-bar').count()) === 0) {
      t.skip('the chat page has no #menu-bar (a menu bar is being added to crates/wxsim/src/chat.rs); menu not tested');
      return;
    }
    await pickUser(page, '张三');
    const openid = await page.locator('#user-select').inputValue();
    let menu = await effectiveMenu(openid);
    if (!menu || !(menu.button ?? []).length) {
      t.diagnostic('the demo account has no menu: publishing the seed menu through /cgi-bin/menu/create');
      await publishSeedMenu();
      menu = await effectiveMenu(openid);
      assert.ok(menu && menu.button?.length, `after menu/create, /_sim/menu?openid=${openid} has no effective menu: ${JSON.stringify(menu)}`);
      await openChat(page); // WeChat shows a new menu when the chat is opened again
      await pickUser(page, '张三');
    }
    t.diagnostic(`menu: ${JSON.stringify(menu)}`);
    const bar = page.locator('#menu-bar');
    assert.ok(await bar.isVisible(), 'the account has a menu, but #menu-bar is not visible');
    await waitForCount(bar.locator('[data-testid=menu-button]'), 1, 'menu buttons in #menu-bar');
    const shown = (await bar.locator('[data-testid=menu-button]').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(shown, menu.button.slice(0, 3).map((b) => b.name), 'the menu bar does not show the menu\'s top-level buttons, in order');
    await screenshot(page, 'chat-5-menu-01-bar');

    const leaves = menuLeaves(menu);
    const leaf = leaves.find((l) => l.button.type === 'click' && l.button.key === MENU_KEY) ?? leaves.find((l) => l.button.type === 'click');
    if (!leaf) {
      t.skip(`the menu has no click button to tap: ${JSON.stringify(menu)}`);
      return;
    }
    t.diagnostic(`tapping ${JSON.stringify(leaf)}`);
    await tapLeaf(page, leaf, t);

    await waitForText(
      page.locator('#chat-log [data-testid=event-note]'),
      (s) => s.includes('点击了菜单') && s.includes(leaf.button.key),
      `an event note "点击了菜单 (${leaf.button.key})"`,
    );
    await waitForCount(accountBubbles(page), 1, `account bubbles after the menu click (problems: ${JSON.stringify(await problemsText(page))})`);
    await waitForPushDone(page);
    await expectNoProblems(page);
    const card = accountBubbles(page).first();
    if (leaf.button.key === MENU_KEY) {
      assert.ok(await card.evaluate((b) => b.classList.contains('card')), `the reply to ${MENU_KEY} is not a news card: ${await card.innerText()}`);
      const items = card.locator('[data-testid=news-item]');
      assert.equal(await items.count(), 1, 'the news card should hold exactly 1 article');
      const title = (await items.first().locator('.title').innerText()).trim();
      assert.ok(title.includes('sunck'), `the news card title is ${JSON.stringify(title)}`);
      const href = await items.first().getAttribute('href');
      assert.ok(href && href.endsWith('/auth/') && new URL(href).origin === app.origin, `the news card links to ${JSON.stringify(href)}, not the app's login page ${app.url('/auth/')}`);
      const pic = await items.first().locator('img').evaluate((img) => ({ complete: img.complete, naturalWidth: img.naturalWidth, src: img.src }));
      assert.ok(pic.complete && pic.naturalWidth > 0, `the news card picture did not load: ${JSON.stringify(pic)}`);
    }
    await screenshot(page, 'chat-5-menu-02-reply');

    // A sub-menu item: the seed menu's rules do not answer it, so "no reply".
    const sub = leaves.find((l) => l.sub !== null && l.button.type === 'click' && l.button.key !== MENU_KEY);
    if (sub) {
      t.diagnostic(`tapping sub-menu item ${JSON.stringify(sub)}`);
      await tapLeaf(page, sub, t);
      await waitForText(
        page.locator('#chat-log [data-testid=event-note]').last(),
        (s) => s.includes(sub.button.key),
        `an event note for ${sub.button.key}`,
      );
      await waitForCount(page.locator('#chat-log [data-testid=no-reply], #chat-log [data-testid=problems]'), 1, `a "no reply" note for ${sub.button.key}`);
      await waitForPushDone(page);
      await expectNoProblems(page);
      await screenshot(page, 'chat-5-menu-04-sub-item');
    }
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

// In WeChat the browser inside a chat is the user of that chat: a VIEW button to the
// account's /auth/ logs in whoever tapped it. The simulator remembers the chat page's user
// (its wxsim_user cookie) and its authorize page uses it.
test('menu: the 🐼 user taps 主页 and is the one who logs in', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '6-view-login', async ({ context, page, dialogs }) => {
    await openChat(page);
    assert.ok((await page.locator('#menu-bar').count()) === 1, 'the chat page has no #menu-bar');
    const user = await pickUser(page, '🐼');
    t.diagnostic(`user: ${user}`);
    const openid = await page.locator('#user-select').inputValue();
    assert.notEqual(
      openid,
      await page.locator('#user-select option').first().getAttribute('value'),
      'the 🐼 user is the first user: this test would not tell the users apart',
    );
    const menu = await effectiveMenu(openid);
    t.diagnostic(`menu: ${JSON.stringify(menu)}`);
    const leaf = menuLeaves(menu).find((l) => l.button.type === 'view' && l.button.name === '主页');
    assert.ok(leaf, `the demo's menu has no view button 主页: ${JSON.stringify(menu)}`);
    const login = new URL(leaf.button.url);
    assert.equal(login.origin, app.origin, `主页 points away from the app (${app.origin}): ${leaf.button.url}`);
    assert.equal(login.pathname, '/auth/', `主页 does not point at /auth/: ${leaf.button.url}`);
    await page.waitForFunction(() => !document.getElementById('menu-bar').hidden, null, { timeout: 10_000 });
    await screenshot(page, 'chat-6-view-login-01-panda-chat');

    // Tap 主页: the page pushes the VIEW event and opens the URL in a new tab.
    const opened = context.waitForEvent('page', { timeout: 15_000 });
    await tapLeaf(page, leaf, t);
    const tab = await opened;
    const tabErrors = [];
    tab.on('pageerror', (err) => tabErrors.push(`page error: ${err.message}`));
    tab.on('dialog', async (d) => {
      tabErrors.push(`dialog ${d.type()}: ${d.message()}`);
      await d.dismiss().catch(() => {});
    });
    await waitForText(
      page.locator('#chat-log [data-testid=event-note]'),
      (s) => s.includes('点击了菜单链接') && s.includes('/auth/'),
      'an event note "点击了菜单链接 (…/auth/)"',
    );
    await waitForPushDone(page);
    await expectNoProblems(page);
    await screenshot(page, 'chat-6-view-login-02-tapped');

    // /auth/ → the simulator's /connect/oauth2/authorize (snsapi_userinfo: the consent page).
    await tab.waitForLoadState('load');
    await tab.waitForURL((u) => u.pathname === CONSENT_PATH || u.pathname === '/index/', { timeout: 20_000 });
    t.diagnostic(`the tab is at ${tab.url()}`);
    if (new URL(tab.url()).pathname === CONSENT_PATH) {
      const users = await consentUsers(tab);
      const checked = await tab.locator('input[name=user]').evaluateAll((inputs) => inputs.map((i) => i.checked));
      t.diagnostic(`consent: ${JSON.stringify(users.map((u, i) => `${checked[i] ? '◉' : '○'} ${u.text}`))}`);
      assert.equal(checked.filter(Boolean).length, 1, `not exactly one user preselected: ${JSON.stringify(checked)}`);
      const preselected = users[checked.indexOf(true)];
      assert.ok(
        preselected.text.includes(PANDA_NICKNAME),
        `the consent page preselects ${JSON.stringify(preselected.text)}, not the user who tapped (${PANDA_NICKNAME})`,
      );
      assert.ok(users.length > 1, 'the consent page should still offer the other users');
      assert.ok(await tab.locator('#allow').isVisible(), 'the consent page has no visible 允许 (#allow)');
      assert.ok(await tab.locator('#deny').isVisible(), 'the consent page has no visible 拒绝 (#deny)');
      await screenshot(tab, 'chat-6-view-login-03-consent-panda-preselected');
      await tab.locator('#allow').click();
    }
    await waitForPath(tab, '/index/');
    const greeting = await waitForText(
      tab.locator('#greeting'),
      (s) => s.startsWith('欢迎:') && s.includes(PANDA_NICKNAME),
      `#greeting on /index/ to greet ${PANDA_NICKNAME}, the user who tapped`,
      15_000,
    );
    t.diagnostic(`greeting: ${greeting}`);
    assert.equal(greeting, `欢迎:${PANDA_NICKNAME}`);
    await screenshot(tab, 'chat-6-view-login-04-index-panda');
    assert.deepEqual(tabErrors, [], 'the login tab had page errors or dialogs');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});
