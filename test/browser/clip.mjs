// Drives the console's story clip editor in headless Chromium, for test/e2e/clips_test.go:
// log in, open the recordings, open the editor under a recording, wait for the timeline's
// thumbnails, pick in and out points, the 9:16 shape, a caption and the logo, export, and
// wait for the clip to be ready, its progress shown on the way. Screenshots of the editor
// before and after the export go to the artifacts directory.
//
//   node clip.mjs '<JSON: {"base","password","recording","in","out","caption","artifacts"}>'
//
// Prints one JSON line per step on stdout; exits non-zero at the first failed step.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const cfg = JSON.parse(process.argv[2]);
const browser = await launch('beffroi-clip-', { locale: 'en-GB', viewport: { width: 1280, height: 1000 } });

await run(browser, async (page) => {
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  page.on('dialog', (d) => d.accept());
  page.setDefaultTimeout(60000); // a machine busy with other tests
  await page.goto(cfg.base + '/');
  await page.waitForSelector('#login-password');
  await page.fill('#login-name', 'admin');
  await page.fill('#login-password', cfg.password);
  await page.click('#login-submit');
  await page.waitForSelector('#create-stream');
  await page.goto(cfg.base + '/#/recordings');
  const row = `article.rec[data-recording="${cfg.recording}"]`;
  await page.waitForSelector(row);
  await page.click(`${row} button:has-text("Story clip")`);
  const ed = `section.clip-editor[data-recording="${cfg.recording}"]`;
  await page.waitForSelector(`${ed} .clip-thumb img`, { timeout: 60000 });
  await page.waitForFunction((ed) => {
    const imgs = [...document.querySelectorAll(ed + ' .clip-thumb img')];
    return imgs.length > 0 && imgs.every((i) => i.complete && i.naturalWidth > 0);
  }, ed, { timeout: 90000 });
  const thumbs = await page.locator(`${ed} .clip-thumb img`).count();
  log('timeline', { thumbs });
  // Too long a clip is refused before it is sent.
  await page.fill(`${ed} .clip-in`, '0');
  await page.fill(`${ed} .clip-out`, '70');
  const tooLong = await page.isDisabled(`${ed} .clip-export`);
  await page.fill(`${ed} .clip-in`, String(cfg.in));
  await page.fill(`${ed} .clip-out`, String(cfg.out));
  await page.check(`${ed} input[value="9:16"]`);
  await page.fill(`${ed} .clip-caption`, cfg.caption);
  await page.waitForSelector(`${ed} .clip-logo:not([disabled])`);
  await page.check(`${ed} .clip-logo`);
  log('form', { too_long_refused: tooLong, length: await page.textContent(`${ed} .clip-length`) });
  await page.screenshot({ path: join(cfg.artifacts, 'clip-editor.png'), fullPage: true });
  await page.click(`${ed} .clip-export`);
  await page.waitForSelector(`${ed} li.clip`);
  // The progress shows while it exports (or the clip is ready already on a fast machine).
  const seen = await page.waitForFunction((ed) => {
    const li = document.querySelector(ed + ' li.clip');
    return li && ['exporting', 'done', 'failed'].includes(li.dataset.state) && li.dataset.state;
  }, ed, { timeout: 120000 });
  log('export', { first_state: await seen.jsonValue() });
  await page.waitForFunction((ed) => {
    const li = document.querySelector(ed + ' li.clip');
    return li && (li.dataset.state === 'done' || li.dataset.state === 'failed');
  }, ed, { timeout: 240000 });
  const state = await page.getAttribute(`${ed} li.clip`, 'data-state');
  const text = await page.textContent(`${ed} li.clip .clip-state`);
  const href = await page.getAttribute(`${ed} li.clip a.clip-download`, 'href').catch(() => null);
  await page.screenshot({ path: join(cfg.artifacts, 'clip-done.png'), fullPage: true });
  log('done', { state, text, href });
  return state === 'done' ? 0 : 1;
});
