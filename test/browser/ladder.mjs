// Two viewers of the watch page on LL-HLS, in headless Chromium: one behind a 1 Mbit/s link
// (DevTools network emulation), one on loopback. Both play for a while; then the slow one's
// link is freed (its player must switch up by itself) and the fast one picks the smallest
// quality by hand in the quality menu.
//
//   node ladder.mjs <page URL> <artifacts dir> <seconds to watch>
//
// Prints one JSON line per event on stdout: "playing" (each page), "watched" (what each page
// played: the qualities offered, the one playing each second, time advanced, stalls),
// "up" (the slow page after its link was freed), "picked" (the fast page's choice, then 1.5 s of
// it played), "slow request" and "failed request" (the pages' requests answered after 1.5 s, or
// not at all).
import { join } from 'node:path';
import { close, launch, log, run } from './lib.mjs';

const [url, dir, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 30);
const slowKbps = 1000;

// One browser each, so that each page is in the foreground (a background tab's frames and
// timers are throttled).
const options = { args: ['--autoplay-policy=no-user-gesture-required'], viewport: { width: 1280, height: 760 } };
const browser = await launch('beffroi-ladder-', options);
const slowBrowser = await launch('beffroi-ladder-slow-', options);

// observe records, on the page, the frames and the stalls once playing: each from a 'waiting'
// to the next 'playing' (when it began on the page's clock, where, whether a seek caused it,
// how long: -1 while it lasts). ladderStalledMs is their total, the one lasting included.
const observe = (page) => page.evaluate(() => {
  const v = document.getElementById('video');
  const stats = window.ladderStats = { frames: 0, stalls: [] };
  const lasting = () => { const s = stats.stalls[stats.stalls.length - 1]; return s && s.ms < 0 ? s : null; };
  v.addEventListener('waiting', () => {
    if (!lasting()) stats.stalls.push({ at: Math.round(performance.now()), time: v.currentTime, seeking: v.seeking, ms: -1 });
  });
  v.addEventListener('playing', () => {
    const s = lasting();
    if (s) s.ms = Math.round(performance.now() - s.at);
  });
  window.ladderStalledMs = () => stats.stalls.reduce((t, s) => t + (s.ms < 0 ? performance.now() - s.at : s.ms), 0);
  const H = window.Hls, hls = window.beffroi.hls;
  if (H && hls) {
    hls.on(H.Events.ERROR, (_, d) => console.log('hls error', d.type, d.details, d.fatal ? 'fatal' : '', d.reason || ''));
    hls.on(H.Events.LEVEL_SWITCHED, (_, d) => console.log('hls level', hls.levels[d.level] && hls.levels[d.level].height));
  }
  const onFrame = () => { window.ladderStats.frames++; v.requestVideoFrameCallback(onFrame); };
  v.requestVideoFrameCallback(onFrame);
});

const snapshot = (page) => page.evaluate(() => ({
  quality: window.beffroi.quality, auto: window.beffroi.autoQuality, qualities: window.beffroi.qualities,
  time: document.getElementById('video').currentTime, protocol: window.beffroi.protocol,
  bw: window.beffroi.hls ? Math.round(window.beffroi.hls.bandwidthEstimate) : 0,
  buffer: (() => { const v = document.getElementById('video'); return v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0; })(),
  session: window.beffroi.session, menu: [...document.getElementById('quality').options].map((o) => o.text),
  menuHidden: document.getElementById('quality').hidden,
  frames: window.ladderStats ? window.ladderStats.frames : 0,
  stalls: window.ladderStats ? window.ladderStats.stalls.map((s) => ({ ...s })) : [],
  stalledMs: window.ladderStalledMs ? window.ladderStalledMs() : 0,
}));

await run(browser, async (fast) => {
  try {
    await watch(fast, slowBrowser.pages()[0] || await slowBrowser.newPage());
  } finally {
    await close(slowBrowser);
  }
});

async function watch(fast, slow) {
  const cdp = await slow.context().newCDPSession(slow);
  await cdp.send('Network.enable');
  const throttle = (kbps) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: kbps > 0 ? 40 : 0,
    downloadThroughput: kbps > 0 ? kbps * 1000 / 8 : -1, uploadThroughput: kbps > 0 ? kbps * 1000 / 8 : -1,
  });
  await throttle(slowKbps);
  for (const [name, page] of [['slow', slow], ['fast', fast]]) {
    page.on('console', (m) => log('console', { text: name + ': ' + m.text() }));
    page.on('pageerror', (e) => log('pageerror', { text: name + ': ' + String(e) }));
    // A request answered late (a blocking playlist request waits at most a part or two).
    page.on('requestfinished', async (r) => {
      const ms = r.timing().responseEnd;
      if (ms <= 1500) return;
      const res = await r.response();
      log('slow request', { page: name, url: r.url().replace(/^.*\/hls\//, ''), ms: Math.round(ms), status: res && res.status() });
    });
    page.on('requestfailed', (r) => log('failed request', { page: name, url: r.url().replace(/^.*\/hls\//, ''), error: r.failure() && r.failure().errorText }));
  }
  await Promise.all([slow.goto(url), fast.goto(url)]);
  for (const [name, page] of [['slow', slow], ['fast', fast]]) {
    await page.waitForFunction(() => window.beffroi.playing && window.beffroi.protocol === 'hls', null, { timeout: 60000, polling: 200 });
    await observe(page);
    // Started: a second of frames shown (what came before, the player's start, is not a
    // stall: the player loads the first rung it tries, then measures its link).
    await page.waitForFunction(() => window.ladderStats.frames >= 30, null, { timeout: 60000, polling: 200 });
    log('playing', { page: name, ...(await snapshot(page)) });
  }
  // Watch: the quality each page plays, each second.
  const start = { slow: await snapshot(slow), fast: await snapshot(fast) };
  const played = { slow: [], fast: [] };
  for (let i = 0; i < seconds; i++) {
    await fast.waitForTimeout(1000);
    for (const [name, page] of [['slow', slow], ['fast', fast]]) { const s = await snapshot(page); played[name].push(s.quality); if (name === 'slow') log('tick', { q: s.quality, bw: s.bw, buffer: s.buffer, t: s.time }); }
  }
  const end = { slow: await snapshot(slow), fast: await snapshot(fast) };
  for (const name of ['slow', 'fast']) {
    log('watched', { page: name, played: played[name], advanced: end[name].time - start[name].time,
      seconds, ...end[name], stalledMs: end[name].stalledMs - start[name].stalledMs,
      frames: end[name].frames - start[name].frames, stalls: end[name].stalls.slice(start[name].stalls.length) });
  }
  await fast.screenshot({ path: join(dir, 'ladder-fast.png') });
  await slow.screenshot({ path: join(dir, 'ladder-slow.png') });

  // The slow page's link freed: it climbs by itself.
  await throttle(0);
  const from = Date.now();
  const low = (await snapshot(slow)).quality;
  try {
    await slow.waitForFunction((low) => window.beffroi.quality > low, low, { timeout: 60000, polling: 500 });
  } catch { /* reported below */ }
  log('up', { ms: Date.now() - from, from: low, ...(await snapshot(slow)) });

  // The fast page's viewer picks the smallest quality in the menu.
  const smallest = await fast.evaluate(() => {
    const opts = [...document.getElementById('quality').options].filter((o) => o.value !== '-1');
    return opts[opts.length - 1] && opts[opts.length - 1].text;
  });
  await fast.selectOption('#quality', { label: smallest });
  const picked = Date.now();
  try {
    await fast.waitForFunction(() => window.beffroi.quality === Math.min(...window.beffroi.qualities), null, { timeout: 30000, polling: 250 });
  } catch { /* reported below */ }
  // Then it plays: 1.5 s of media within 10 s (a stall at a segment boundary, see the Go
  // test, can take 5 s of them).
  const t1 = (await snapshot(fast)).time;
  const playFrom = Date.now();
  try {
    await fast.waitForFunction((t1) => document.getElementById('video').currentTime - t1 >= 1.5, t1, { timeout: 10000, polling: 250 });
  } catch { /* reported below */ }
  log('picked', { ms: playFrom - picked, playMs: Date.now() - playFrom, label: smallest, ...(await snapshot(fast)), advanced: (await snapshot(fast)).time - t1 });
  await fast.screenshot({ path: join(dir, 'ladder-picked.png') });
  await slow.evaluate(() => window.beffroi.stop());
  await fast.evaluate(() => window.beffroi.stop());
  log('stopped');
}
