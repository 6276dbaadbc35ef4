// Plays a replay in headless Chromium as a viewer would: the list of replays, the player
// page (HLS: native or hls.js) and the MP4 alone; each plays, then seeks to the middle,
// and frames must be drawn there (requestVideoFrameCallback and a canvas pixel check).
//
//   node replays.mjs <base URL> <recording id> <screenshot dir> [id of a recording with a discontinuity]
//
// Prints one JSON line per check on stdout; exits non-zero when a check fails.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const [base, id, shots, discId] = process.argv.slice(2);

const browser = await launch('beffroi-chromium-', {
  args: [
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
    '--autoplay-policy=no-user-gesture-required',
  ],
  viewport: { width: 1280, height: 800 },
});

// playAndSeek runs in the page: plays the video, seeks to the middle, and reports where it
// landed, how many frames were presented after the seek and whether they have pixels.
async function playAndSeek(page, frac = 0.5) {
  return page.evaluate(async (frac) => {
    const v = document.querySelector('video');
    const until = (cond, what, ms = 20000) => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const tick = () => {
        if (cond()) return resolve();
        if (performance.now() - t0 > ms) return reject(new Error('timeout: ' + what + ' (currentTime ' + v.currentTime + ', readyState ' + v.readyState + ', error ' + (v.error && v.error.message) + ')'));
        setTimeout(tick, 50);
      };
      tick();
    });
    v.muted = true;
    await until(() => v.readyState >= 1 && isFinite(v.duration) && v.duration > 0, 'metadata');
    const within = (p, what, ms = 20000) => Promise.race([p, new Promise((_, reject) => setTimeout(
      () => reject(new Error('timeout: ' + what + ' (currentTime ' + v.currentTime + ', readyState ' + v.readyState + ')')), ms))]);
    await within(v.play(), 'play()');
    await until(() => v.currentTime > 0.5, 'playing');
    const duration = v.duration;
    const mid = duration * frac;
    let frames = 0;
    let frameAt = -1;
    const count = (_, meta) => { frames++; frameAt = meta.mediaTime; v.requestVideoFrameCallback(count); };
    const seeked = new Promise((r) => v.addEventListener('seeked', r, { once: true }));
    v.currentTime = mid;
    await within(seeked, 'seeked');
    const landed = v.currentTime;
    v.requestVideoFrameCallback(count);
    await until(() => frames >= 10 && v.currentTime > landed + 0.2, 'frames after the seek');
    const c = document.createElement('canvas');
    c.width = 64; c.height = 36;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < px.length; i += 4) seen.add((px[i] >> 4) + ',' + (px[i + 1] >> 4) + ',' + (px[i + 2] >> 4));
    return { duration, mid, landed, frames, frameAt, now: v.currentTime, colours: seen.size,
      width: v.videoWidth, height: v.videoHeight };
  }, frac);
}

await run(browser, async (page) => {
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  page.on('console', (m) => log('console', { text: m.text() }));

  await page.goto(base + '/replays?lang=fr');
  const cards = await page.locator('.card').count();
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 15000 });
  await page.screenshot({ path: join(shots, 'replays.png'), fullPage: true });
  log('list', { cards, lang: await page.getAttribute('html', 'lang') });

  await page.goto(base + '/replays/' + id);
  const labels = await page.$$eval('button', (bs) => bs.map((b) => b.getAttribute('aria-label')));
  const hls = await playAndSeek(page);
  const engine = await page.evaluate(() => window.beffroiPlayer && window.beffroiPlayer.engine);
  await page.screenshot({ path: join(shots, 'player.png') });
  log('hls', { engine, labels, ...hls });

  await page.goto(base + '/replays/' + id + '?engine=hlsjs');
  log('hlsjs', { engine: await page.evaluate(() => window.beffroiPlayer.engine), ...await playAndSeek(page) });

  // The keyboard alone: Tab reaches the labelled buttons, Enter presses them.
  await page.evaluate(() => document.querySelector('video').pause());
  const before = await page.evaluate(() => document.querySelector('video').currentTime);
  await page.focus('#back');
  await page.keyboard.press('Enter');
  const after = await page.evaluate(() => document.querySelector('video').currentTime);
  log('keyboard', { before, after });

  // The MP4 alone, from the same origin (so the canvas can be read).
  await page.goto(base + '/replays');
  await page.evaluate((src) => {
    document.body.innerHTML = '';
    const v = document.createElement('video');
    v.src = src; v.muted = true; v.playsInline = true; v.width = 640;
    document.body.appendChild(v);
  }, base + '/recordings/' + id + '.mp4');
  const mp4 = await playAndSeek(page);
  log('mp4', mp4);

  // A recording whose resolution changed: seek into its second part with each HLS engine.
  // (Chromium's progressive MP4 player stalls at a change of resolution: the MP4 is for
  // downloading; ffprobe checks it in outputs/record/mp4.)
  if (discId) {
    for (const engine of ['native', 'hlsjs']) {
      await page.goto(base + '/replays/' + discId + '?engine=' + engine);
      log('disc-' + engine, { engine: await page.evaluate(() => window.beffroiPlayer.engine), ...await playAndSeek(page, 0.75) });
    }
  }
});
