// Browser end-to-end tests of QR codes with scenes and image replies, through the WeChat
// simulator's chat page (`/_sim/chat`) against `wxgate demo`: the demo creates the
// `metro_poster` QR code at start and ships a rule for its scene and an image reply to 图片.
//
//   scripts/e2e-setup.sh && cd e2e && node --test qrcode.test.mjs

import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { launchBrowser, newPhone, screenshot, startApp, waitForText } from './lib.mjs';

const SCENE = 'metro_poster'; // crates/wxgate/src/cli/demo.rs DEMO_SCENE
const SCENE_WELCOME = '你是扫地铁海报来的'; // crates/wxgate/src/demo.toml

let app;
let browser;

before(async () => {
  app = await startApp({ logName: 'wxgate-qrcode' });
  assert.ok(app.chatUrl, `wxgate demo printed no chat URL\n${app.output()}`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

beforeEach(async () => {
  const resp = await fetch(new URL('/_sim/exchanges', app.simOrigin), { method: 'DELETE' });
  assert.ok(resp.ok, `DELETE /_sim/exchanges → HTTP ${resp.status}`);
});

async function onPhone(t, name, body) {
  const phone = await newPhone(browser);
  try {
    await body(phone);
  } catch (err) {
    const shot = await screenshot(phone.page, `qrcode-${name}-FAILED`).catch(() => '(no screenshot)');
    err.message += `\n  at page ${phone.page.url()} (screenshot ${shot})` +
      (phone.problems.length ? `\n  page problems:\n    ${phone.problems.join('\n    ')}` : '') +
      `\n${app.output().slice(-3000)}`;
    throw err;
  } finally {
    await phone.close();
  }
}

async function openChat(page, user) {
  const history = page.waitForResponse((r) => new URL(r.url()).pathname === '/_sim/exchanges', { timeout: 20_000 });
  const resp = await page.goto(app.chatUrl);
  assert.equal(resp.status(), 200);
  await history;
  await page.waitForLoadState('networkidle');
  if (user) {
    const options = await page.locator('#user-select option').evaluateAll((os) => os.map((o) => ({ value: o.value, text: o.textContent })));
    const option = options.find((o) => o.text.includes(user));
    assert.ok(option, `no user ${user}`);
    await page.locator('#user-select').selectOption(option.value);
  }
}

const accountBubbles = (page) => page.locator('#chat-log [data-testid=bubble-account]');

async function waitForCount(locator, n, what, timeout = 15_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const count = await locator.count();
    if (count >= n) return count;
    if (Date.now() > deadline) throw new Error(`expected at least ${n} ${what}, found ${count}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Opens 扫一扫 and scans the demo's code; returns the account's new bubble. */
async function scan(page, shotName) {
  const before = await accountBubbles(page).count();
  await page.locator('#scan-qrcode').click();
  const item = page.locator(`#qrcode-panel [data-testid=qrcode-item][data-scene="${SCENE}"]`);
  await waitForCount(item, 1, `a ${SCENE} code in the 扫一扫 panel`);
  // The code is a real image served by the simulator's showqrcode.
  const img = item.first().locator('img');
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 10_000 });
  if (shotName) await screenshot(page, shotName);
  await item.first().click();
  await waitForCount(accountBubbles(page), before + 1, 'an account bubble after scanning');
  await page.waitForFunction(() => !document.getElementById('chat-send').disabled, null, { timeout: 15_000 });
  return accountBubbles(page).nth(before);
}

test('扫一扫: a user who does not follow follows through the code and gets the scene\'s welcome; scanning again is a SCAN with the same welcome', { timeout: 120_000 }, async (t) => {
  await onPhone(t, 'scan', async ({ page }) => {
    await openChat(page, '熊猫');
    // The demo's users follow the account: unfollow first, so the scan is a new follow.
    const before = await page.locator('[data-testid=event-note]').count();
    await page.locator('#unsubscribe').click();
    await waitForCount(page.locator('[data-testid=event-note]'), before + 1, 'the unfollow note');
    const first = await scan(page, 'qrcode-panel');
    await waitForText(first, (s) => s.includes(SCENE_WELCOME), 'the metro_poster welcome');
    const notes = await page.locator('[data-testid=event-note]').allInnerTexts();
    assert.ok(notes.some((n) => n.includes('你关注了公众号') && n.includes(SCENE)), `a follow note with the scene: ${notes}`);
    await screenshot(page, 'qrcode-welcome');

    const second = await scan(page);
    await waitForText(second, (s) => s.includes(SCENE_WELCOME), 'the welcome again on SCAN');
    const after = await page.locator('[data-testid=event-note]').allInnerTexts();
    assert.ok(after.some((n) => n.includes('扫描了带参数二维码')), `a SCAN note: ${after}`);
    // What went to the server: subscribe with qrscene_, then SCAN with the bare scene.
    const exchanges = await (await fetch(new URL('/_sim/exchanges', app.simOrigin))).json();
    const xml = exchanges.map((x) => x.report.request.xml).join('\n');
    assert.match(xml, /<Event><!\[CDATA\[subscribe\]\]><\/Event>\s*<EventKey><!\[CDATA\[qrscene_metro_poster\]\]>/);
    assert.match(xml, /<Event><!\[CDATA\[SCAN\]\]><\/Event>\s*<EventKey><!\[CDATA\[metro_poster\]\]>/);
    assert.equal(await page.locator('[data-testid=problems]').count(), 0);
  });
});

test('图片: the image reply shows the picture the account uploaded', { timeout: 120_000 }, async (t) => {
  await onPhone(t, 'image', async ({ page }) => {
    await openChat(page);
    const before = await accountBubbles(page).count();
    await page.locator('#chat-input').fill('图片');
    await page.locator('#chat-send').click();
    await waitForCount(accountBubbles(page), before + 1, 'an account bubble after 图片');
    const bubble = accountBubbles(page).nth(before);
    const img = bubble.locator('img');
    assert.equal(await img.count(), 1, 'the reply is a picture');
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: 10_000 });
    const src = await img.getAttribute('src');
    const resp = await fetch(new URL(src, app.simOrigin));
    assert.equal(resp.headers.get('content-type'), 'image/png', `${src} is the uploaded PNG, not a placeholder`);
    assert.equal(await img.evaluate((el) => el.naturalWidth), 240);
    await screenshot(page, 'image-reply');
  });
});
