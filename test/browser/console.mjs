// Drives the operator console in headless Chromium as the communication team would, for
// test/e2e/console_test.go: log in, create a stream, read its publish URL (the Go test
// publishes to it with ffmpeg), watch the dashboard turn live and its bitrate move, add a
// platform from the custom RTMP preset while live and switch it off and on (the second time
// from the keyboard), check that no key stays in the page, switch to French, and save a
// screenshot of every screen. At the end the Go test cuts the network: the "connection lost"
// banner shows, then goes once the console has reconnected by itself.
//
//   node console.mjs '<JSON: {"base","password","ingest","platformKey","artifacts"}>'
//
// Prints one JSON line per step on stdout; exits non-zero at the first failed step.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);
const STREAM = 'fete';
const DEST = 'plateforme';

const browser = await launch('beffroi-console-', {
  args: [
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
  locale: 'en-GB',
  viewport: { width: 1280, height: 860 }, // a laptop
});
const shots = [];
async function shot(page, name, full = true) {
  const path = join(cfg.artifacts, name + '.png');
  await page.screenshot({ path, fullPage: full });
  shots.push(path);
  log('screenshot', { path });
}
// secretIn reports where a secret is still in the page: its HTML, a field's value, storage.
const secretIn = (page, secret) => page.evaluate((s) => {
  const where = [];
  if (document.documentElement.outerHTML.includes(s)) where.push('html');
  for (const el of document.querySelectorAll('input, textarea')) if (el.value.includes(s)) where.push('field ' + (el.id || el.name));
  for (const st of [localStorage, sessionStorage]) {
    for (let i = 0; i < st.length; i++) if ((st.getItem(st.key(i)) || '').includes(s)) where.push('storage ' + st.key(i));
  }
  return where;
}, secret);
const card = `#streams article[data-stream="${STREAM}"]`;
const destRow = `#destinations li[data-dest="${DEST}"]`;

await run(browser, async (page) => {
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') log('console', { text: m.text() }); });
  page.on('pageerror', (e) => { errors.push(String(e)); log('pageerror', { text: String(e) }); });
  page.on('dialog', (d) => d.accept()); // confirmations

  // Login.
  await page.goto(cfg.base + '/');
  await page.waitForSelector('#login-password');
  await shot(page, '01-login');
  await page.fill('#login-name', 'admin');
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.getElementById('login-error').textContent.length > 0);
  log('login_refused', { text: await page.textContent('#login-error') });
  await page.fill('#login-password', cfg.password);
  await page.click('#login-submit');
  await page.waitForSelector('#create-stream');
  log('logged_in');

  // Create a stream: the go-live screen shows its key and addresses this once.
  await page.fill('#new-stream', STREAM);
  await page.click('#create-stream button[type=submit]');
  await page.waitForSelector('#qr');
  const rtmp = await page.inputValue('#url-rtmp');
  const key = await page.inputValue('#url-key');
  const qrDark = await page.evaluate(() => {
    const c = document.getElementById('qr');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 128) dark++;
    return dark / (d.length / 4);
  });
  const goLive = await page.inputValue('#url-go_live');
  if (!goLive.includes('/go-live/' + STREAM + '#key=') || qrDark < 0.2 || qrDark > 0.7) throw new Error(`go-live link ${goLive.length} chars, QR ${qrDark}`);
  log('publish_url', { url: rtmp, key, qr_dark: qrDark });
  await shot(page, '02-golive-new-key');

  // Leaving the go-live screen forgets the key: nowhere in the page any more.
  await page.click('nav a[href="#/"]');
  await page.waitForSelector(card);
  const left = await secretIn(page, key);
  if (left.length) throw new Error('the publish key stayed in the page after leaving the go-live screen: ' + left.join(', '));
  log('key_forgotten');

  // ffmpeg publishes (the Go test): the dashboard turns live and the bitrate moves, no reload.
  const navigations = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  await page.waitForSelector(`${card} .stream-state[data-state="live"]`, { timeout: 30000 });
  const samples = [];
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    const bps = Number(await page.getAttribute(`${card} .bitrate`, 'data-bps'));
    if (bps > 0 && samples[samples.length - 1] !== bps) samples.push(bps);
    if (new Set(samples).size >= 3) break;
    await page.waitForTimeout(400);
  }
  const facts = await page.textContent(`${card} .facts`);
  // The stream of the configuration file says so.
  if (!await page.$('#streams article[data-stream="event"] .badge')) throw new Error('the stream "event" of the configuration file is not marked');
  const points = await page.evaluate((sel) => document.querySelector(sel + ' .spark-line').getAttribute('points').split(' ').length, card);
  log('dashboard_live', { bitrates: samples, facts, spark_points: points, reloaded: await page.evaluate(() => performance.getEntriesByType('navigation').length) !== navigations });
  await page.waitForTimeout(1500); // a few more sparkline points for the picture
  await shot(page, '03-dashboard-live');

  // The stream page: preview, then a platform from the custom RTMP preset while live.
  await page.click(`${card} a.card-title`);
  await page.waitForSelector('#add-destination #preset option[value="custom-rtmp"]', { state: 'attached' });
  await page.waitForFunction(() => ['playing', 'unavailable'].includes(document.getElementById('preview-state').dataset.state), null, { timeout: 30000 });
  const preview = await page.evaluate(() => ({ state: document.getElementById('preview-state').dataset.state, text: document.getElementById('preview-state').textContent }));
  if (preview.state === 'playing') {
    // The meter follows the sound (ffmpeg's 440 Hz sine).
    await page.waitForFunction(() => Number(document.getElementById('audio-meter').dataset.peak) > -50, null, { timeout: 15000 });
    preview.db = await page.getAttribute('#audio-meter', 'data-peak');
  }
  log('preview', preview);
  await page.selectOption('#preset', 'custom-rtmp');
  const help = await page.textContent('#dest-key-help');
  await page.fill('#dest-name', DEST);
  await page.fill('#dest-ingest', cfg.ingest);
  await page.fill('#dest-key', cfg.platformKey);
  await page.click('#add-submit');
  await page.waitForSelector(`${destRow} .chip[data-state="live"]`, { timeout: 30000 });
  if (await page.inputValue('#dest-key') !== '') throw new Error('the stream key field was not cleared');
  log('dest_live', { key_help: help, row: await page.textContent(destRow) });
  await page.waitForTimeout(1000);
  await shot(page, '04-stream-live');

  // Off with a click, on from the keyboard.
  const sw = `${destRow} [role="switch"]`;
  await page.click(sw);
  await page.waitForSelector(`${sw}[aria-checked="false"]`);
  await page.waitForSelector(`${destRow} .chip[data-state="disabled"]`, { timeout: 15000 });
  log('dest_off');
  await page.waitForTimeout(2000); // nginx names its recordings by the second
  await page.focus(sw);
  await page.keyboard.press('Space');
  await page.waitForSelector(`${sw}[aria-checked="true"]`);
  await page.waitForSelector(`${destRow} .chip[data-state="live"]`, { timeout: 30000 });
  const events = await page.$$eval('#event-log li', (l) => l.map((x) => x.textContent));
  log('dest_on', { events });
  if (!events.some((e) => e.includes(DEST) && e.includes('switched off'))) throw new Error('the event log did not tell the switch: ' + events.join(' | '));

  // Parts from other branches: tell what is missing (the Go test skips those steps).
  const viewers = await page.textContent('#viewers');
  const recordingsRoute = await page.evaluate(async () => (await fetch('/api/v1/recordings?limit=1')).status);
  const features = { audience: !/not available/.test(viewers), recordings: recordingsRoute !== 404 };
  log('features', { ...features, viewers });

  if (features.audience) {
    // The console's own preview is not a viewer: the count is 0 while it plays. A second
    // browser plays the public watch page: the count rises.
    await page.waitForSelector('#viewers-now', { timeout: 20000 });
    const before = Number(await page.textContent('#viewers-now'));
    if (preview.state === 'playing' && before !== 0) throw new Error(`the console's own preview counts as ${before} viewer(s)`);
    const watcher = await browser.newPage();
    await watcher.goto(cfg.base + '/watch/' + STREAM);
    await page.waitForFunction((b) => Number(document.getElementById('viewers-now').textContent) > b, before, { timeout: 40000 });
    log('viewers', { before, after: Number(await page.textContent('#viewers-now')) });
    await shot(page, '04b-stream-viewers');
    await watcher.close();
  }
  if (features.recordings) {
    // The publisher stops (the Go test ends ffmpeg); once the stream has ended, the recording
    // is titled and published, and found on /replays.
    log('await_publish_end');
    await page.waitForSelector('.stream-state[data-state="idle"]', { timeout: 60000 });
    await page.click('nav a[href="#/recordings"]');
    const rec = `#recordings article[data-stream="${STREAM}"]`;
    const deadline2 = Date.now() + 30000;
    for (;;) {
      await page.waitForSelector('#recordings article', { timeout: 20000 }).catch(() => {});
      const state = await page.getAttribute(rec, 'data-state').catch(() => null);
      if (state && state !== 'recording') break;
      if (Date.now() > deadline2) throw new Error('no finished recording of ' + STREAM + ' (state ' + state + ')');
      await page.waitForTimeout(1000);
      await page.reload();
    }
    const title = 'Fête de la musique ' + Date.now() % 10000;
    await page.fill(`${rec} input.rec-title`, title);
    await page.click(`${rec} button.rec-rename`);
    await page.click(`${rec} [role="switch"]`);
    await page.waitForSelector(`${rec} [role="switch"][aria-checked="true"]`);
    await shot(page, '07-recordings');
    const replays = await page.evaluate(async () => (await fetch('/replays')).text());
    if (!replays.includes(title)) throw new Error('the published recording is not on /replays');
    log('recording_published', { title });
  }

  // A tablet, in portrait.
  await page.setViewportSize({ width: 820, height: 1180 });
  await page.waitForTimeout(500);
  await shot(page, '05-stream-tablet');
  await page.setViewportSize({ width: 1280, height: 860 });

  // French: the switch in the header, remembered across a reload.
  await page.click('nav a[href="#/"]');
  await page.waitForSelector(card);
  await page.selectOption('#lang', 'fr');
  await page.waitForFunction(() => document.documentElement.lang === 'fr' && document.querySelector('h1').textContent === 'Flux');
  await page.reload();
  await page.waitForSelector(card);
  const fr = await page.evaluate(() => ({ lang: document.documentElement.lang, h1: document.querySelector('h1').textContent, chip: document.querySelector('#streams article .stream-state').textContent }));
  if (fr.lang !== 'fr' || fr.h1 !== 'Flux') throw new Error('French not kept across a reload: ' + JSON.stringify(fr));
  log('french', fr);
  await page.waitForTimeout(1000);
  await shot(page, '06-dashboard-fr');
  await page.selectOption('#lang', 'en');
  await page.waitForFunction(() => document.querySelector('h1').textContent === 'Streams');

  // Recordings.
  await page.click('nav a[href="#/recordings"]');
  await page.waitForFunction(() => document.querySelector('main [role="status"]').textContent.length > 0);
  log('recordings', { status: await page.textContent('main [role="status"]') });
  if (!features.recordings) await shot(page, '07-recordings');

  // Users and tokens: a token is shown once and leaves the page with it.
  await page.click('nav a[href="#/admin"]');
  await page.waitForSelector('#users tr[data-user="admin"]');
  await page.fill('#user-name', 'lou');
  await page.fill('#user-password', 'operator-password-1');
  await page.click('#create-user button[type=submit]');
  await page.waitForSelector('#users tr[data-user="lou"]');
  await page.fill('#token-name', 'planning');
  await page.click('#create-token button[type=submit]');
  await page.waitForSelector('#token-secret');
  const token = await page.inputValue('#token-secret');
  if (!token.startsWith('bfr_')) throw new Error('token value ' + token.length + ' chars');
  await page.waitForFunction(() => document.querySelectorAll('#audit tr').length >= 3);
  await shot(page, '08-admin');
  await page.click('nav a[href="#/"]');
  await page.waitForSelector(card);
  const tokenLeft = await secretIn(page, token);
  if (tokenLeft.length) throw new Error('the API token stayed in the page: ' + tokenLeft.join(', '));
  if (await page.evaluate((k) => document.documentElement.outerHTML.includes(k), cfg.platformKey)) throw new Error('the platform key is in the page');
  log('admin', { token_forgotten: true });

  // The go-live screen later: the key is masked and there is no QR code; a new key (after
  // a confirmation) shows the new one, and leaving forgets it.
  await page.goto(cfg.base + '/#/streams/' + STREAM + '/go-live');
  await page.waitForSelector('#rotate-key');
  const masked = { key: await page.inputValue('#url-key'), qr: await page.$('#qr') !== null, rtmp: await page.inputValue('#url-rtmp') };
  if (masked.qr || masked.key.includes(key) || masked.rtmp.includes(key) || !masked.rtmp.includes('•')) throw new Error('go-live screen not masked: ' + JSON.stringify({ qr: masked.qr }));
  await shot(page, '02b-golive-masked');
  await page.click('#rotate-key'); // confirmed by the dialog handler
  await page.waitForSelector('#qr');
  const newKey = await page.inputValue('#url-key');
  if (!newKey || newKey === key || newKey.includes('•')) throw new Error('no new key shown');
  await page.click('nav a[href="#/"]');
  await page.waitForSelector(card);
  const newLeft = await secretIn(page, newKey);
  if (newLeft.length) throw new Error('the new key stayed in the page: ' + newLeft.join(', '));
  log('key_rotated', { new_key: newKey });

  // An operator (made above) sees no admin screen: neither in the menu nor by its address.
  await page.click('#logout');
  await page.waitForSelector('#login-password');
  await page.fill('#login-name', 'lou');
  await page.fill('#login-password', 'operator-password-1');
  await page.click('#login-submit');
  await page.waitForSelector(card);
  const adminLink = await page.$('nav a[href="#/admin"]');
  await page.goto(cfg.base + '/#/admin');
  await page.waitForSelector(card);
  if (adminLink || await page.$('#users')) throw new Error('an operator reached the admin screen');
  log('operator', { who: await page.textContent('.whoami') });

  // Keyboard: Tab reaches the controls, and the focused one is outlined.
  await page.keyboard.press('Tab');
  const focus = await page.evaluate(() => { const a = document.activeElement; return { tag: a.tagName, outline: getComputedStyle(a).outlineStyle }; });
  if (focus.outline === 'none') throw new Error('the focused control has no visible outline: ' + JSON.stringify(focus));
  log('keyboard', focus);

  // The network drops (the Go test cuts every connection between the browser and Beffroi):
  // the banner says so, the console reconnects by itself, and the figures move again.
  log('await_cut');
  await page.waitForSelector('#banner:not([hidden])', { timeout: 30000 });
  log('banner', { text: await page.textContent('#banner') });
  await shot(page, '09-connection-lost', false);
  await page.waitForSelector('#banner[hidden]', { state: 'attached', timeout: 30000 });
  const updates = await page.evaluate(() => window.beffroiConsole.live.updates);
  await page.waitForFunction((n) => window.beffroiConsole.live.updates >= n + 2, updates, { timeout: 15000 });
  const navAfter = await page.evaluate(() => performance.getEntriesByType('navigation').length);
  log('reconnected', { connected: await page.evaluate(() => window.beffroiConsole.live.connected), reloaded: navAfter !== navigations });

  // Beffroi goes away for good (the Go test stops it): the banner stays.
  log('await_shutdown');
  await page.waitForSelector('#banner:not([hidden])', { timeout: 60000 });
  log('gone', { text: await page.textContent('#banner') });
  if (errors.length) throw new Error('page errors: ' + errors.join(' | '));
  log('done', { screenshots: shots });
});
