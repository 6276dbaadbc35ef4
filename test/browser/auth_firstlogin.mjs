// Drives the console's first login in headless Chromium, for test/e2e/auth_firstlogin_test.go:
// the admin logs in with the one-time password of the first start, gets the "choose a new
// password" screen (in French: the browser's language) and nothing else, chooses one, lands
// on the dashboard, logs out; the one-time password is then refused and the new one works.
//
//   node auth_firstlogin.mjs '<JSON: {"base","oneTime","chosen","artifacts"}>'
//
// Prints one JSON line per step on stdout; exits non-zero at the first failed step.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);

const browser = await launch('beffroi-firstlogin-', {
  locale: 'fr-FR',
  viewport: { width: 412, height: 860 }, // a phone at the event
});
async function shot(page, name) {
  const path = join(cfg.artifacts, name + '.png');
  await page.screenshot({ path, fullPage: true });
  log('screenshot', { path });
}
const secretIn = (page, secret) => page.evaluate((s) => {
  const where = [];
  if (document.documentElement.outerHTML.includes(s)) where.push('html');
  for (const el of document.querySelectorAll('input, textarea')) if (el.value.includes(s)) where.push('field ' + (el.id || el.name));
  for (const st of [localStorage, sessionStorage]) {
    for (let i = 0; i < st.length; i++) if ((st.getItem(st.key(i)) || '').includes(s)) where.push('storage ' + st.key(i));
  }
  return where;
}, secret);
async function login(page, pw) {
  await page.waitForSelector('#login-password');
  await page.fill('#login-name', 'admin');
  await page.fill('#login-password', pw);
  await page.click('#login-submit');
}

await run(browser, async (page) => {
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  page.setDefaultTimeout(15000);
  await page.goto(cfg.base + '/');
  await login(page, cfg.oneTime);
  await page.waitForSelector('#first-password');
  await shot(page, 'first-password');
  const screen = await page.evaluate(() => ({
    title: document.getElementById('first-title').textContent,
    view: document.body.dataset.view,
    navLinks: document.querySelectorAll('#header nav a').length,
    askedCurrent: !!document.getElementById('first-current'),
  }));
  // What the restricted session may do, asked from the page as the console would.
  const streams = await page.evaluate(async () => (await fetch('/api/v1/streams', { credentials: 'same-origin' })).status);
  log('first_screen', { ...screen, streams });

  await page.fill('#first-new', cfg.chosen);
  await page.fill('#first-again', cfg.chosen + 'x');
  await page.click('#first-submit');
  await page.waitForFunction(() => document.getElementById('first-error').textContent.length > 0);
  log('mismatch', { text: await page.textContent('#first-error') });

  await page.fill('#first-new', cfg.chosen);
  await page.fill('#first-again', cfg.chosen);
  await page.click('#first-submit');
  await page.waitForFunction(() => document.body.dataset.view === 'dashboard');
  await page.waitForFunction(() => window.beffroiConsole.live.connected);
  await shot(page, 'dashboard-after-change');
  const after = await page.evaluate(async () => (await fetch('/api/v1/streams', { credentials: 'same-origin' })).status);
  log('changed', { streams: after, secrets: [...await secretIn(page, cfg.chosen), ...await secretIn(page, cfg.oneTime)] });

  await page.click('#logout');
  await login(page, cfg.oneTime);
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  log('one_time_refused', { text: await page.textContent('#login-error') });
  await page.fill('#login-password', cfg.chosen);
  await page.click('#login-submit');
  await page.waitForFunction(() => document.body.dataset.view === 'dashboard');
  log('new_password_works', { secrets: await secretIn(page, cfg.chosen) });
});
