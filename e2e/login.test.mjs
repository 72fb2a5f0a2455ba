// Browser end-to-end tests of the WeChat web login of wxgate, driven through
// the demo's WeChat simulator in headless chromium at phone size.
//
//   scripts/e2e-setup.sh && cd e2e && npm test

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  CONSENT_PATH,
  avatarState,
  bodyText,
  chooseUser,
  consentUsers,
  launchBrowser,
  newPhone,
  screenshot,
  startApp,
  waitForPath,
  waitForText,
} from './lib.mjs';

const GUEST = '欢迎:游客';
const PANDA = '🐼';
const XSS_NICKNAME = `<script>alert("xss")</script>&amp;"'`;
const SNAPSHOT_NICKNAME = '微信用户';
const DENIED_TEXT = '您未授权,无法获取用户信息';
const FULL_SERVICE_TEXT = '使用完整服务';

let app;
let browser;

before(async () => {
  app = await startApp();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

/**
 * Runs `body` with a fresh phone (own cookies). On failure it saves
 * screenshots/NAME-FAILED.png and adds what the page logged to the error.
 */
async function onPhone(t, name, body) {
  const phone = await newPhone(browser);
  try {
    await body(phone);
    if (phone.problems.length) t.diagnostic(`page problems: ${phone.problems.join(' | ')}`);
  } catch (err) {
    const shot = await screenshot(phone.page, `${name}-FAILED`).catch(() => '(no screenshot)');
    err.message +=
      `\n  at page ${phone.page.url()} (screenshot ${shot})` +
      (phone.problems.length ? `\n  page problems:\n    ${phone.problems.join('\n    ')}` : '');
    throw err;
  } finally {
    await phone.close();
  }
}

async function openHome(page) {
  await page.goto(app.homeUrl);
  await waitForPath(page, '/index/');
}

/** From /index/ (logged out): tap #login and arrive at the simulator's consent page. */
async function goToConsent(page) {
  await page.locator('a#login').click();
  await waitForPath(page, CONSENT_PATH);
  assert.ok((await page.locator('input[name=user]').count()) > 0, 'the consent page offers no input[name=user]');
  assert.ok(await page.locator('#allow').isVisible(), 'the consent page has no visible #allow button');
  assert.ok(await page.locator('#deny').isVisible(), 'the consent page has no visible #deny button');
}

async function expectGuest(page) {
  await waitForText(page.locator('#greeting'), (s) => s === GUEST, `#greeting to be ${JSON.stringify(GUEST)}`);
  assert.ok(await page.locator('a#login').isVisible(), 'a logged-out /index/ shows no a#login');
  assert.equal(await page.locator('button#logout').count(), 0, 'a logged-out /index/ still has button#logout');
  const href = await page.locator('a#login').getAttribute('href');
  assert.equal(new URL(href, page.url()).pathname, '/auth/', `a#login should point to /auth/, not ${href}`);
}

/** Logs in as the user whose consent label matches `match`; returns that label text. */
async function logIn(page, match) {
  await openHome(page);
  await goToConsent(page);
  const label = await chooseUser(page, match);
  await page.locator('#allow').click();
  await waitForPath(page, '/index/');
  return label;
}

test('happy path: log in as the 🐼 user, see name and avatar, log out', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '1-happy', async ({ page, dialogs }) => {
    await openHome(page);
    await expectGuest(page);
    await screenshot(page, '1-happy-01-index-guest');

    await goToConsent(page);
    const users = (await consentUsers(page)).map((u) => u.text);
    t.diagnostic(`users offered: ${JSON.stringify(users)}`);
    await screenshot(page, '1-happy-02-consent');

    const label = await chooseUser(page, PANDA);
    await screenshot(page, '1-happy-03-consent-panda-chosen');
    await page.locator('#allow').click();
    await waitForPath(page, '/index/');

    const greeting = await waitForText(
      page.locator('#greeting'),
      (s) => s.startsWith(`欢迎:`) && s.includes(PANDA),
      `#greeting to greet the ${PANDA} user (label ${JSON.stringify(label)})`,
    );
    t.diagnostic(`greeting: ${greeting}`);
    assert.ok(label.includes(greeting.slice('欢迎:'.length)), `greeting ${JSON.stringify(greeting)} does not show the nickname of ${JSON.stringify(label)}`);
    assert.equal(await page.locator('a#login').count(), 0, 'a logged-in /index/ still shows a#login');

    const avatar = await avatarState(page);
    t.diagnostic(`avatar: ${JSON.stringify(avatar)}`);
    assert.ok(avatar.present, 'no img#avatar when logged in');
    assert.ok(avatar.visible, `img#avatar is not visible: ${JSON.stringify(avatar)}`);
    assert.ok(avatar.naturalWidth > 0, `img#avatar did not load an image: ${JSON.stringify(avatar)}`);
    await screenshot(page, '1-happy-04-index-logged-in');

    assert.ok(await page.locator('button#logout').isVisible(), 'no visible button#logout when logged in');
    await page.locator('button#logout').click();
    await waitForPath(page, '/index/');
    await expectGuest(page);
    await screenshot(page, '1-happy-05-index-logged-out');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

test('deny: the 您未授权 page, and #retry leads back to the consent page', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '2-deny', async ({ page, dialogs }) => {
    await openHome(page);
    await goToConsent(page);
    await page.locator('#deny').click();
    await page.waitForURL((u) => u.pathname !== CONSENT_PATH);
    await page.waitForLoadState('load');
    const text = await bodyText(page);
    assert.ok(text.includes(DENIED_TEXT), `the page after deny does not say ${JSON.stringify(DENIED_TEXT)}; it says ${JSON.stringify(text)}`);
    await screenshot(page, '2-deny-01-denied');

    const retry = page.locator('a#retry');
    assert.ok(await retry.isVisible(), 'no visible a#retry on the denied page');
    const href = await retry.getAttribute('href');
    assert.equal(new URL(href, page.url()).pathname, '/auth/', `a#retry should point to /auth/, not ${href}`);
    await retry.click();
    await waitForPath(page, CONSENT_PATH);
    assert.ok((await page.locator('input[name=user]').count()) > 0, 'back on the consent page, but no users offered');
    await screenshot(page, '2-deny-02-consent-again');

    // And nobody got logged in by denying.
    await openHome(page);
    await expectGuest(page);
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

test('HTML injection: the nickname is shown literally and runs no script', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '3-xss', async ({ page, dialogs, problems }) => {
    await openHome(page);
    await goToConsent(page);
    // The consent page itself must show the nickname as text, too.
    const label = await chooseUser(page, (text) => text.includes(XSS_NICKNAME));
    assert.ok(label.includes(XSS_NICKNAME), `consent label: ${JSON.stringify(label)}`);
    assert.equal(await page.locator('label script').count(), 0, 'a <script> element was injected into a consent label');
    await screenshot(page, '3-xss-01-consent');

    await page.locator('#allow').click();
    await waitForPath(page, '/index/');
    // Give any injected script a moment to fire before checking for dialogs.
    await page.waitForTimeout(500);
    assert.deepEqual(dialogs, [], 'a JavaScript dialog fired: the nickname was executed as HTML');
    await waitForText(
      page.locator('#greeting'),
      (s) => s === `欢迎:${XSS_NICKNAME}`,
      `#greeting to be ${JSON.stringify(`欢迎:${XSS_NICKNAME}`)}`,
    );
    assert.equal(await page.locator('#greeting script').count(), 0, 'a <script> element was injected into #greeting');
    await screenshot(page, '3-xss-02-index-logged-in');

    const title = await page.title();
    assert.ok(!title.includes('<script'), `the page title looks injected: ${JSON.stringify(title)}`);
    assert.deepEqual(dialogs, [], 'a JavaScript dialog fired: the nickname was executed as HTML');
    assert.ok(!problems.some((p) => p.startsWith('page error')), `page errors: ${problems.join(' | ')}`);
  });
});

test('snapshot user: tells the user to tap 使用完整服务, nobody logged in', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '4-snapshot', async ({ page, dialogs, documents }) => {
    await openHome(page);
    await goToConsent(page);
    await chooseUser(page, (text) => text.includes(SNAPSHOT_NICKNAME));
    await page.locator('#allow').click();
    await page.waitForURL((u) => u.pathname !== CONSENT_PATH);
    await page.waitForLoadState('load');
    const text = await bodyText(page);
    await screenshot(page, '4-snapshot-01-full-service-hint');
    assert.ok(text.includes(FULL_SERVICE_TEXT), `the snapshot page does not mention ${JSON.stringify(FULL_SERVICE_TEXT)}; it says ${JSON.stringify(text)}`);
    const last = documents.at(-1);
    t.diagnostic(`snapshot page: ${page.url()} status ${last?.status}`);
    assert.ok(last && last.status < 400, `the snapshot page is served as an error: ${JSON.stringify(last)}`);

    await openHome(page);
    await expectGuest(page);
    await screenshot(page, '4-snapshot-02-index-still-guest');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});

test('the session survives a reload', { timeout: 120_000 }, async (t) => {
  await onPhone(t, '5-reload', async ({ page, context, dialogs }) => {
    const label = await logIn(page, (text) => text.includes(PANDA));
    const before = await waitForText(page.locator('#greeting'), (s) => s.startsWith('欢迎:') && s !== GUEST, 'a logged-in greeting');
    await screenshot(page, '5-reload-01-before');

    await page.reload();
    await waitForPath(page, '/index/');
    const afterReload = await waitForText(page.locator('#greeting'), (s) => s === before, `#greeting to still be ${JSON.stringify(before)}`);
    assert.ok(label.includes(afterReload.slice('欢迎:'.length)));
    assert.ok(await page.locator('button#logout').isVisible(), 'no button#logout after the reload');
    await screenshot(page, '5-reload-02-after');

    // A second tab of the same browser is logged in as well.
    const tab = await context.newPage();
    await tab.goto(app.homeUrl);
    await waitForText(tab.locator('#greeting'), (s) => s === before, `#greeting in a new tab to be ${JSON.stringify(before)}`);
    await tab.close();

    const cookies = await context.cookies(app.origin);
    t.diagnostic(`cookies: ${JSON.stringify(cookies.map(({ name, httpOnly, sameSite, secure, expires }) => ({ name, httpOnly, sameSite, secure, expires })))}`);
    assert.ok(cookies.length > 0, 'logged in, but the app set no cookie');
    assert.deepEqual(dialogs, [], 'unexpected JavaScript dialogs');
  });
});
