// Helpers for the wxgate browser end-to-end tests: start the app under test
// (`wxgate demo`), start headless Debian chromium through playwright-core,
// and a few small page utilities (screenshots, waiting for text, picking a
// user on the WeChat simulator's consent page).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(E2E_DIR, '..');
export const SCREENSHOT_DIR = path.join(E2E_DIR, 'screenshots');
export const RESULTS_DIR = path.join(E2E_DIR, 'test-results');

const HOME_URL_RE = /http:\/\/127\.0\.0\.1:\d+\/index\//;
// `wxgate demo: chat with the account at http://127.0.0.1:PORT/_sim/chat` (printed before the home URL).
const CHAT_URL_RE = /chat with the account at (http:\/\/127\.0\.0\.1:\d+\/_sim\/chat)/;
const START_TIMEOUT_MS = 60_000;

/** Path of the page the simulator shows to ask the user for consent. */
export const CONSENT_PATH = '/connect/oauth2/authorize';

// ---------------------------------------------------------------------------
// The app under test
// ---------------------------------------------------------------------------

/**
 * Starts `wxgate demo` on a free loopback port with a fresh SQLite database
 * and resolves once it has printed its home URL on stdout.
 *
 * `chatUrl` is the simulator's chat page (`http://127.0.0.1:PORT/_sim/chat`) from the
 * `wxgate demo: chat with the account at …` line, or null if the demo did not print one;
 * `simOrigin` is that page's origin (null likewise).
 *
 * @returns {Promise<{homeUrl: string, origin: string, url: (p: string) => string,
 *   chatUrl: string | null, simOrigin: string | null,
 *   output: () => string, stop: () => Promise<void>}>}
 * @param {{logName?: string}} [options] its output goes to e2e/test-results/LOGNAME.log
 *   (default `wxgate`), so test files running in parallel keep separate logs.
 */
export async function startApp({ logName = 'wxgate' } = {}) {
  const bin = process.env.WXGATE_BIN || path.join(REPO_ROOT, 'target', 'debug', 'wxgate');
  if (!existsSync(bin)) {
    throw new Error(
      `wxgate binary not found at ${bin}: build it with \`cargo build -p wxgate\` ` +
        'or point WXGATE_BIN at it',
    );
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'wxgate-e2e-'));
  // WXGATE_BIN is this harness's, not a wxgate setting (wxgate warns about unknown WXGATE_*).
  const { WXGATE_BIN: _bin, ...inherited } = process.env;
  const env = {
    ...inherited,
    WXGATE_LISTEN: '127.0.0.1:0',
    WXGATE_DATABASE_URL: `sqlite://${path.join(dataDir, 'demo.db')}`,
    RUST_LOG: 'info',
  };
  const child = spawn(bin, ['demo'], { env, stdio: ['ignore', 'pipe', 'pipe'] });

  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (s) => (stdout += s));
  child.stderr.on('data', (s) => (stderr += s));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const output = () => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  const saveLog = () => {
    try {
      mkdirSync(RESULTS_DIR, { recursive: true });
      writeFileSync(path.join(RESULTS_DIR, `${logName}.log`), output());
    } catch {
      // best effort only
    }
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    saveLog();
    rmSync(dataDir, { recursive: true, force: true });
  };
  // Never leave the server running if the test process dies early.
  process.once('exit', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  const homeUrl = await new Promise((resolve, reject) => {
    const fail = (why) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`${why}\ncommand: ${bin} demo\n${output()}`));
    };
    const poll = setInterval(() => {
      const m = stdout.match(HOME_URL_RE);
      if (m) {
        clearInterval(poll);
        clearTimeout(timer);
        resolve(m[0]);
      }
    }, 50);
    const timer = setTimeout(() => {
      const hint = HOME_URL_RE.test(stderr)
        ? ' (the home URL did appear on stderr, but the contract says stdout)'
        : '';
      child.kill('SIGKILL');
      fail(`wxgate demo did not print its home URL on stdout within ${START_TIMEOUT_MS / 1000} s${hint}`);
    }, START_TIMEOUT_MS);
    exited.then(({ code, signal }) => {
      if (!HOME_URL_RE.test(stdout)) fail(`wxgate demo exited (code ${code}, signal ${signal}) before printing its home URL`);
    });
  }).catch(async (err) => {
    await stop();
    throw err;
  });

  const origin = new URL(homeUrl).origin;
  // The demo prints the chat line before the home URL; allow a moment in case it comes later.
  let chat = stdout.match(CHAT_URL_RE);
  for (let i = 0; !chat && i < 20 && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
    chat = stdout.match(CHAT_URL_RE);
  }
  const chatUrl = chat ? chat[1] : null;
  const simOrigin = chatUrl ? new URL(chatUrl).origin : null;
  return { homeUrl, origin, url: (p) => new URL(p, origin).href, chatUrl, simOrigin, output, stop };
}

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const VIEWPORT = { width: 390, height: 844 };

/** Launches headless Debian chromium (never a downloaded browser). */
export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: run scripts/e2e-setup.sh first`);
  }
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}

/**
 * A fresh, isolated phone-sized browser session (its own cookies) with one page.
 * `dialogs` collects every JavaScript dialog (alert/confirm/prompt) the pages open,
 * `problems` collects page errors, console errors and failed requests (for diagnostics).
 */
export async function newPhone(browser) {
  const context = await browser.newContext({
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  const page = await context.newPage();
  const dialogs = [];
  const problems = [];
  const documents = [];
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}${msg.location()?.url ? ` (${msg.location().url})` : ''}`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (resp) => {
    if (resp.request().resourceType() === 'document' && resp.frame() === page.mainFrame()) {
      documents.push({ url: resp.url(), status: resp.status() });
    }
  });
  return { context, page, dialogs, problems, documents, close: () => context.close() };
}

// ---------------------------------------------------------------------------
// Page utilities
// ---------------------------------------------------------------------------

/** Saves a full-page screenshot as e2e/screenshots/NAME.png and returns its path. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Waits until the URL's path is `pathname` (e.g. '/index/'). */
export async function waitForPath(page, pathname, timeout = 20_000) {
  try {
    await page.waitForURL((u) => u.pathname === pathname, { timeout });
  } catch (err) {
    throw new Error(`expected to arrive at path ${pathname}, but the page is at ${page.url()}\n${err.message}`);
  }
  await page.waitForLoadState('load');
}

/**
 * Polls `locator`'s trimmed text until `check(text)` is true; throws with the
 * last text seen otherwise.
 */
export async function waitForText(locator, check, what, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  let last = '(element not found)';
  for (;;) {
    if ((await locator.count()) > 0) {
      last = ((await locator.first().textContent()) ?? '').trim();
      if (check(last)) return last;
    }
    if (Date.now() > deadline) {
      throw new Error(`expected ${what}, but the text is ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The whole visible text of the page. */
export async function bodyText(page) {
  return (await page.locator('body').innerText()).trim();
}

/**
 * On the simulator's consent page: the users offered, as
 * [{ index, text }] where text is the label text of each `input[name=user]`.
 */
export async function consentUsers(page) {
  return page.locator('input[name=user]').evaluateAll((inputs) =>
    inputs.map((input, index) => {
      const labels = input.labels && input.labels.length ? [...input.labels] : [];
      const text = labels.length
        ? labels.map((l) => l.textContent).join(' ')
        : (input.parentElement?.textContent ?? '');
      return { index, text: text.replace(/\s+/g, ' ').trim(), hasLabel: labels.length > 0 };
    }),
  );
}

/**
 * Picks the user whose label matches `match` (a string, found as a substring,
 * or a predicate on the label text) by tapping its label like a person would,
 * and checks the radio really got selected. Returns the label text.
 */
export async function chooseUser(page, match) {
  const users = await consentUsers(page);
  const pred = typeof match === 'function' ? match : (text) => text.includes(match);
  const user = users.find((u) => pred(u.text));
  if (!user) {
    throw new Error(
      `no user matching ${typeof match === 'function' ? match.toString() : JSON.stringify(match)} on the consent page; ` +
        `users offered: ${JSON.stringify(users.map((u) => u.text))}`,
    );
  }
  const radio = page.locator('input[name=user]').nth(user.index);
  if (user.hasLabel) {
    // Tap the label that carries the nickname (wrapping label or label[for]).
    await radio.evaluate((input) => input.labels[0].setAttribute('data-e2e-pick', '1'));
    await page.locator('label[data-e2e-pick="1"]').click();
    await radio.evaluate((input) => input.labels[0].removeAttribute('data-e2e-pick'));
  } else {
    await radio.check();
  }
  if (!(await radio.isChecked())) {
    throw new Error(`tapping the label ${JSON.stringify(user.text)} did not select its radio button`);
  }
  return user.text;
}

/** State of `img#avatar`: whether it is visible and has loaded a real image. */
export async function avatarState(page) {
  const img = page.locator('img#avatar');
  if ((await img.count()) === 0) return { present: false };
  // Give the image a moment to finish loading.
  await page
    .waitForFunction(() => document.querySelector('img#avatar')?.complete === true, null, { timeout: 10_000 })
    .catch(() => {});
  const state = await img.evaluate((el) => ({
    src: el.currentSrc || el.src,
    complete: el.complete,
    naturalWidth: el.naturalWidth,
    naturalHeight: el.naturalHeight,
    width: el.getBoundingClientRect().width,
    height: el.getBoundingClientRect().height,
  }));
  return { present: true, visible: await img.isVisible(), ...state };
}
