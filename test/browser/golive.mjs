// Drives the go-live page in headless Chromium with a fake camera and microphone, as a phone
// would: opens the page, presses "Go live", stays on air, optionally drops the connection once
// to check the page resumes by itself, then presses "Stop".
//
//   node golive.mjs <page URL> <seconds on air> [drop-after-seconds] [screenshot.png]
//
// With BEFFROI_GOLIVE_STATS set, it prints a "stats" event every second on air (the video
// frames sent so far, NACKs and PLIs received); CHROMIUM names the browser to run;
// BEFFROI_CHROMIUM_ARGS (a JSON array) adds Chromium flags (a host resolver rule, a CA to
// trust). On an https:// page it prints a "tls" event: the certificate Chromium was served.
// Prints one JSON line per event on stdout; exits non-zero when the page does not go live.
import { launch, log, run } from './lib.mjs';

const [url, secondsArg, dropArg, screenshot] = process.argv.slice(2);
const seconds = Number(secondsArg || 8);
const dropAfter = dropArg ? Number(dropArg) : 0;

const browser = await launch('beffroi-chromium-', {
  args: [
    '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream=fps=30',
    '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
    ...JSON.parse(process.env.BEFFROI_CHROMIUM_ARGS || '[]'),
  ],
  viewport: { width: 412, height: 915 }, // a phone
});
await run(browser, async (page) => {
  page.on('console', (m) => log('console', { text: m.text() }));
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  const response = await page.goto(url);
  const served = response && await response.securityDetails();
  if (served) {
    log('tls', { text: JSON.stringify({ ...served, secureContext: await page.evaluate(() => window.isSecureContext) }) });
  }
  await page.waitForFunction(() => document.getElementById('preview').srcObject !== null, null, { timeout: 15000 });
  // What the address bar (and the history) holds once the page has read its key.
  log('address', { text: await page.evaluate(() => location.href) });
  const pressed = Date.now();
  await page.click('#golive');
  log('pressed');
  await page.waitForFunction(() => window.beffroi.pc && window.beffroi.pc.connectionState === 'connected', null, { timeout: 20000 });
  log('connected', { ms: Date.now() - pressed, codec: await page.evaluate(async () => {
    let c = '';
    (await window.beffroi.pc.getStats()).forEach((r) => { if (r.type === 'codec' && r.mimeType.startsWith('video/')) c = r.mimeType; });
    return c;
  }) });
  if (dropAfter > 0) {
    await page.waitForTimeout(dropAfter * 1000);
    // The network drops: the peer connection fails; the page must resume by itself.
    await page.evaluate(() => {
      // (close() fires no event by itself: tell the page as the network would.)
      const pc = window.beffroi.pc;
      pc.close();
      pc.dispatchEvent(new Event('connectionstatechange'));
    });
    log('dropped');
    await page.waitForFunction(() => window.beffroi.pc && window.beffroi.pc.connectionState === 'connected', null, { timeout: 20000 });
    log('resumed');
  }
  if (process.env.BEFFROI_GOLIVE_STATS) {
    // Once a second, what the page sent: the video frames (outbound-rtp framesSent), and
    // what the receiver reported lost and asked again.
    for (let i = 0; i < seconds; i++) {
      await page.waitForTimeout(1000);
      log('stats', { text: JSON.stringify(await page.evaluate(async () => {
        const out = { framesSent: 0, nacks: 0, plis: 0, lost: 0 };
        if (!window.beffroi.pc) return out;
        (await window.beffroi.pc.getStats()).forEach((r) => {
          if (r.type === 'outbound-rtp' && r.kind === 'video') {
            out.framesSent += r.framesSent || 0;
            out.nacks += r.nackCount || 0;
            out.plis += r.pliCount || 0;
          }
          if (r.type === 'remote-inbound-rtp' && r.kind === 'video') out.lost += r.packetsLost || 0;
        });
        return out;
      })) });
    }
  } else {
    await page.waitForTimeout(seconds * 1000);
  }
  const text = await page.evaluate(() => ({
    onair: document.getElementById('onair').textContent,
    bitrate: document.getElementById('bitrate').textContent,
    elapsed: document.getElementById('elapsed').textContent,
  }));
  log('onair', text);
  if (screenshot) await page.screenshot({ path: screenshot });
  await page.click('#golive');
  log('stopped');
  await page.waitForTimeout(500);
});
