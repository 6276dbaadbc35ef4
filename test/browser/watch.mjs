// Plays the watch page in headless Chromium as a viewer would: opens it while the stream is
// offline (the "starts soon" poster), says so, waits for the page to switch to the live
// stream by itself once a publisher starts, then checks that frames render and time
// advances, reports what WebRTC says of the delay, and stops (the page DELETEs its session).
//
//   node watch.mjs <page URL> <artifacts dir> <seconds to watch> [offline|live] [cycle]
//
// With "live" (the stream is already live) the poster step is skipped. With "cycle", once
// measured the page must go back to its poster by itself (the test stops the publisher),
// then to live again (the test starts it again).
//
// Prints one JSON line per event on stdout; exits non-zero when the page does not play.
import { join } from 'node:path';
import { launch, log, run } from './lib.mjs';

const [url, dir, secondsArg, expect] = process.argv.slice(2);
const startsOffline = expect !== 'live';
const cycle = process.argv[6] === 'cycle';
const seconds = Number(secondsArg || 6);

const browser = await launch('beffroi-chromium-', {
  args: [
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
    '--disable-features=WebRtcHideLocalIpsWithMdns',
  ],
  viewport: { width: 960, height: 600 },
  locale: 'fr-FR',
});
await run(browser, async (page) => {
  page.on('console', (m) => log('console', { text: m.text() }));
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  await page.goto(url);
  if (startsOffline) {
    await page.waitForFunction(() => window.beffroi && window.beffroi.offline && window.beffroi.attempts > 0, null, { timeout: 15000 });
    const poster = await page.evaluate(() => ({
      visible: getComputedStyle(document.getElementById('poster')).display !== 'none',
      text: document.getElementById('poster').innerText,
      lang: document.documentElement.lang,
      error: window.beffroi.lastError,
    }));
    await page.screenshot({ path: join(dir, 'watch-offline.png') });
    log('poster', poster);
  }

  const waitFrom = Date.now();
  await page.waitForFunction(() => window.beffroi.playing && window.beffroi.protocol, null, { timeout: 90000, polling: 200 });
  log('live', { ms: Date.now() - waitFrom, protocol: await page.evaluate(() => window.beffroi.protocol),
    attempts: await page.evaluate(() => window.beffroi.attempts) });

  // Count rendered frames and sample what the receiver says about its buffering.
  await page.evaluate(() => {
    window.videoInbound = async () => {
      let v = {};
      if (!window.beffroi.pc) return v; // HLS
      (await window.beffroi.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp' && r.kind === 'video') v = r; });
      return v;
    };
    const v = document.getElementById('video');
    // Smoothness: the gaps between frames shown (a slideshow has long ones) and frames
    // shown with an earlier media time than the one before (out of order).
    window.watchStats = { frames: 0, displayDelay: [], gaps: [], backwards: 0, last: null };
    const onFrame = (now, meta) => {
      const w = window.watchStats;
      w.frames++;
      if (meta.receiveTime && meta.expectedDisplayTime) {
        w.displayDelay.push(meta.expectedDisplayTime - meta.receiveTime);
      }
      if (w.last) {
        w.gaps.push(now - w.last.now);
        if (meta.mediaTime < w.last.mediaTime) w.backwards++;
      }
      w.last = { now, mediaTime: meta.mediaTime };
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  });
  const t0 = await page.evaluate(() => document.getElementById('video').currentTime);
  // 60 frames rendered (a loaded machine decodes slowly: a deadline, not a duration), then
  // the rest of the watching time, at least 3 s. The smoothness figures cover that rest: the
  // window.
  const w0 = Date.now();
  await page.waitForFunction(() => window.watchStats.frames >= 60, null, { timeout: 60000, polling: 200 });
  const before = await page.evaluate(async () => {
    const w = window.watchStats;
    w.gaps = []; w.backwards = 0;
    return { frames: w.frames, at: performance.now(), video: await videoInbound() };
  });
  await page.waitForTimeout(Math.max(3000, seconds * 1000 - (Date.now() - w0)));
  const m = await page.evaluate(async ({ t0, before }) => {
    const v = document.getElementById('video');
    const c = document.createElement('canvas');
    c.width = 64; c.height = 36;
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    let lit = 0;
    for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 60) lit++;
    const out = {
      frames: window.watchStats.frames, advanced: v.currentTime - t0,
      width: v.videoWidth, height: v.videoHeight, litPixels: lit / (px.length / 4),
      audioTracks: v.srcObject ? v.srcObject.getAudioTracks().length : -1,
      videoTracks: v.srcObject ? v.srcObject.getVideoTracks().length : -1,
      displayDelayMs: 0, videoJitterBufferMs: 0, audioJitterBufferMs: 0, codec: '', audioCodec: '',
      audioPackets: 0, framesDropped: 0, viewersBadge: !document.getElementById('viewers').hidden,
      live: document.getElementById('live').innerText,
      controls: [...document.querySelectorAll('.controls button, .controls input')].map((e) => e.getAttribute('aria-label') || e.textContent),
    };
    const d = window.watchStats.displayDelay;
    if (d.length) out.displayDelayMs = d.reduce((a, b) => a + b, 0) / d.length;
    const w = window.watchStats;
    const secs = (performance.now() - before.at) / 1000;
    const gaps = w.gaps.slice().sort((a, b) => a - b);
    const after = await videoInbound();
    const delta = (k) => (after[k] || 0) - (before.video[k] || 0);
    out.window = {
      seconds: secs, renderedFps: (w.frames - before.frames) / secs,
      maxGapMs: gaps.length ? gaps[gaps.length - 1] : 0,
      p99GapMs: gaps.length ? gaps[Math.floor(0.99 * (gaps.length - 1))] : 0,
      longGaps: gaps.filter((g) => g > 100).length, backwards: w.backwards,
      framesReceived: delta('framesReceived'), framesDecoded: delta('framesDecoded'),
      framesDropped: delta('framesDropped'), freezeCount: delta('freezeCount'),
      totalFreezesDuration: delta('totalFreezesDuration'), framesPerSecond: after.framesPerSecond || 0,
      decoder: after.decoderImplementation || '',
    };
    const pc = window.beffroi.pc;
    if (pc) {
      const stats = await pc.getStats();
      const codecs = {};
      stats.forEach((r) => { if (r.type === 'codec') codecs[r.id] = r.mimeType; });
      stats.forEach((r) => {
        if (r.type !== 'inbound-rtp') return;
        const jb = r.jitterBufferEmittedCount ? 1000 * r.jitterBufferDelay / r.jitterBufferEmittedCount : 0;
        if (r.kind === 'video') {
          out.videoJitterBufferMs = jb; out.codec = codecs[r.codecId] || ''; out.framesDropped = r.framesDropped || 0;
        } else {
          out.audioJitterBufferMs = jb; out.audioCodec = codecs[r.codecId] || ''; out.audioPackets = r.packetsReceived;
        }
      });
    }
    return out;
  }, { t0, before });
  log('measured', m);
  const state = await page.evaluate(() => ({ session: window.beffroi.session, beacons: window.beffroi.beacons,
    protocol: window.beffroi.protocol, viewers: document.getElementById('viewers').innerText }));
  log('state', state);
  await page.screenshot({ path: join(dir, startsOffline ? 'watch-live.png' : 'watch-' + state.protocol + '.png') });
  if (cycle) {
    const from = Date.now();
    await page.waitForFunction(() => window.beffroi.offline, null, { timeout: 90000, polling: 200 });
    log('offline-again', { ms: Date.now() - from, error: await page.evaluate(() => window.beffroi.lastError) });
    const back = Date.now();
    await page.waitForFunction(() => window.beffroi.playing && window.beffroi.protocol, null, { timeout: 90000, polling: 200 });
    const f1 = await page.evaluate(() => window.watchStats.frames);
    await page.waitForFunction((f1) => window.watchStats.frames >= f1 + 30, f1, { timeout: 30000, polling: 200 });
    const t1 = await page.evaluate(() => document.getElementById('video').currentTime);
    await page.waitForTimeout(2000);
    const t2 = await page.evaluate(() => document.getElementById('video').currentTime);
    log('live-again', { ms: Date.now() - back, advanced: t2 - t1 });
  }
  // Keyboard: M unmutes, Space pauses.
  await page.focus('#player');
  await page.keyboard.press('m');
  await page.keyboard.press(' ');
  const keys = await page.evaluate(() => ({ muted: document.getElementById('video').muted, paused: document.getElementById('video').paused }));
  log('keyboard', keys);
  await page.evaluate(() => window.beffroi.stop());
  log('stopped');
  await page.waitForTimeout(500);
});
