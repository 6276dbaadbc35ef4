// Measures how far behind live the watch page plays over LL-HLS in headless Chromium, and
// whether it catches up by itself after the network stalls.
//
//   node watchlatency.mjs <page URL> <seconds to settle> [stall seconds]
//
// The page URL should force HLS (?mode=hls). Once the page plays, "behind" is sampled four
// times a second as the wall clock minus hls.playingDate (the program date-time of the frame
// on screen). After <seconds to settle> it prints "settled" (the median of the last 3 s of
// samples, and of the samples 0.5-2 s after the first frame: the start), then, with a stall, cuts the page's network (CDP
// Network.emulateNetworkConditions offline) for that many seconds, restores it and prints
// "recovered" once the page is back within 2.5 s of live for 2 s in a row (or "stuck" after
// 40 s). One JSON line per event on stdout; exits non-zero when the page does not play.
import { launch, log, run } from './lib.mjs';

const [url, settleArg, stallArg] = process.argv.slice(2);
const settle = Number(settleArg || 10);
const stall = Number(stallArg || 0);
const median = (a) => { const s = a.slice().sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : null; };

const browser = await launch('beffroi-chromium-', {
  args: ['--autoplay-policy=no-user-gesture-required'],
  viewport: { width: 960, height: 600 },
});
await run(browser, async (page) => {
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  page.on('console', (m) => log('console', { text: m.text() }));
  page.on('requestfailed', (r) => log('requestfailed', { url: r.url().replace(/session=[^&]*/, ''), error: r.failure() && r.failure().errorText }));
  await page.goto(url);
  await page.waitForFunction(() => window.beffroi && window.beffroi.playing && window.beffroi.protocol, null, { timeout: 60000, polling: 200 });
  log('live', { protocol: await page.evaluate(() => window.beffroi.protocol) });
  // Frames on screen and a program date-time to measure against.
  const sample = () => page.evaluate(() => {
    const h = window.beffroi.hls;
    const v = document.getElementById('video');
    return {
      behind: h && h.playingDate ? (Date.now() - h.playingDate.getTime()) / 1000 : null,
      latency: h ? h.latency : null, target: h ? h.targetLatency : null,
      rate: v.playbackRate, paused: v.paused, currentTime: v.currentTime,
      frames: v.getVideoPlaybackQuality().totalVideoFrames, restarts: window.beffroi.attempts, catchUps: window.beffroi.catchUps,
    };
  });
  let first = await sample();
  for (const until = Date.now() + 60000; !(first.behind !== null && first.frames > 0 && !first.paused); first = await sample()) {
    if (Date.now() > until) throw new Error('no frame with a program date-time on screen in 60 s: ' + JSON.stringify(first) + ' ' + await page.evaluate(() => JSON.stringify({ st: window.beffroi.protocol, err: window.beffroi.lastError, hls: !!window.beffroi.hls, src: document.getElementById('video').src, rs: document.getElementById('video').readyState })));
    await page.waitForTimeout(100);
  }
  log('first', first);
  const samples = [];
  const from = Date.now();
  let lastTick = 0;
  while (Date.now() - from < settle * 1000) {
    const s = await sample();
    samples.push({ at: Date.now(), ...s });
    if (Date.now() - lastTick >= 1000) { lastTick = Date.now(); log('tick', s); }
    await page.waitForTimeout(250);
  }
  const recent = samples.filter((s) => s.at > Date.now() - 3000 && s.behind !== null).map((s) => s.behind);
  // hls.js's playingDate right after the first frame (and the page's first seek) can still
  // come from the previous fragment: the start is read over the first 0.5-2 s instead.
  const early = samples.filter((x) => x.at >= from + 500 && x.at <= from + 2000 && x.behind !== null).map((x) => x.behind);
  const settled = { behind: median(recent), start: median(early), frames: samples[samples.length - 1].frames,
    advanced: samples[samples.length - 1].currentTime - first.currentTime };
  log('settled', settled);
  if (!(settled.frames > 0 && settled.advanced > 0)) return 1;

  if (stall > 0) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Network.enable');
    const net = (offline) => cdp.send('Network.emulateNetworkConditions', { offline, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await net(true);
    log('offline', { seconds: stall });
    await page.waitForTimeout(stall * 1000);
    await net(false);
    const back = Date.now();
    log('online', await sample());
    let within = null;
    let s = null;
    let lastLog = 0;
    while (Date.now() - back < 40000) {
      s = await sample();
      const ok = s.behind !== null && s.behind < 2.5 && !s.paused;
      if (ok && within === null) within = Date.now();
      if (!ok) within = null;
      if (Date.now() - lastLog >= 1000) { lastLog = Date.now(); log('tick', s); }
      if (within !== null && Date.now() - within >= 2000) break;
      await page.waitForTimeout(250);
    }
    if (within !== null && Date.now() - within >= 2000) {
      log('recovered', { ms: within - back, behind: s.behind, restarts: s.restarts });
    } else {
      log('stuck', { behind: s && s.behind, paused: s && s.paused });
    }
  }
});
