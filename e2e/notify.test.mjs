// Browser end-to-end test of messages to a user: the operator sends a template message, a
// subscription notice and a customer-service choice menu through wxgate's admin API
// (POST /admin/messages/*), and the user sees them in the simulator's chat page: the two
// notifications as 服务通知 cards (title, one row per keyword, 详情), the menu as choices.
//
//   scripts/e2e-setup.sh && cd e2e && node --test notify.test.mjs

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, newPhone, screenshot, startApp, waitForText } from './lib.mjs';

const ADMIN = 'e2e-admin-token-0123456789abcdef';
const ZHANG = 'o6_bmjrPTlm6_2sgVt7hMZOPfL2M'; // crates/wxsim/src/users.rs
const ORDER_SHIPPED = 'wxsimTmplOrderShipped0000000000000000000001'; // crates/wxsim/src/notify.rs
const APPOINTMENT = 'wxsimSubAppointmentBooked000000000000000003';

let app;
let browser;

before(async () => {
  process.env.WXGATE_ADMIN_TOKEN = ADMIN;
  app = await startApp({ logName: 'wxgate-notify' });
  assert.ok(app.chatUrl, `wxgate demo printed no chat URL\n${app.output()}`);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await app?.stop();
});

async function admin(path, body) {
  const resp = await fetch(app.url(path), {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await resp.text();
  assert.equal(resp.status, 200, `POST ${path} → HTTP ${resp.status}: ${text}`);
  return JSON.parse(text);
}

test('a template message and a subscription notice show as 服务通知 cards', { timeout: 120_000 }, async () => {
  const phone = await newPhone(browser);
  const { page } = phone;
  try {
    await page.goto(app.chatUrl);
    await page.waitForLoadState('networkidle');
    // The user follows: the account may write to them for 48 hours.
    await page.locator('#subscribe').click();
    await waitForText(page.locator('#chat-log [data-testid=bubble-account]').first(), (t) => t.includes('欢迎关注'), 'the welcome reply', 15_000);

    await admin('/admin/messages/template', {
      openid: ZHANG,
      template_id: ORDER_SHIPPED,
      url: 'https://shop.example.com/orders/1001',
      data: { thing1: '绿茶礼盒', character_string2: 'SO-20240501-1001', time3: '2024-05-01 14:30' },
    });
    const card = page.locator('[data-testid=service-notice][data-kind=template]');
    await card.waitFor({ timeout: 15_000 });
    const cardText = await card.innerText();
    for (const want of ['服务通知', '订单发货通知', '商品名称', '绿茶礼盒', 'SO-20240501-1001', '详情']) {
      assert.ok(cardText.includes(want), `the card lacks ${want}: ${cardText}`);
    }
    assert.equal(await card.locator('[data-testid=notice-row]').count(), 3);
    assert.equal(await card.locator('[data-testid=notice-more]').getAttribute('href'), 'https://shop.example.com/orders/1001');
    await screenshot(page, 'notify-template-card');

    // The user accepts the 预约成功通知 subscription in the page, then the account sends it.
    await page.locator('#accept-subscriptions').click();
    await page.locator('[data-testid=accept-subscription]', { hasText: '预约成功通知' }).click();
    await page.locator('[data-testid=accepted]').waitFor({ timeout: 10_000 });
    await admin('/admin/messages/subscribe', {
      openid: ZHANG,
      template_id: APPOINTMENT,
      page: 'https://clinic.example.com/a/1',
      data: { thing1: '体检', time2: '2024-05-02 09:00', phrase3: '已预约' },
    });
    const notice = page.locator('[data-testid=service-notice][data-kind=subscribe]');
    await notice.waitFor({ timeout: 15_000 });
    assert.ok((await notice.innerText()).includes('预约成功通知'));

    // A customer-service choice menu.
    await admin('/admin/messages/custom', {
      openid: ZHANG,
      message: { type: 'msgmenu', head_content: '请为本次服务打分', list: [{ id: '101', content: '满意' }, { id: '102', content: '不满意' }] },
    });
    await page.locator('[data-testid=msgmenu-choice]').first().waitFor({ timeout: 15_000 });
    await screenshot(page, 'notify-service-notices');
  } catch (err) {
    await screenshot(page, 'notify-FAILED').catch(() => {});
    throw err;
  } finally {
    await phone.close();
  }
});
