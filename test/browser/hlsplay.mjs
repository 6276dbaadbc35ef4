// Plays a stream's LL-HLS with hls.js in headless Chromium, as a viewer would: opens a page of
// the server (Beffroi, or a cache in front of it), loads Beffroi's vendored hls.js, plays
// /hls/<stream>/index.m3u8 muted, and posts a beacon every few seconds with the session token
// read from the media playlist URL hls.js loaded.
//
//   node hlsplay.mjs <origin> <stream> <seconds> [beacon-every-seconds]
//
// Prints one JSON line per second ("tick": currentTime, frames, latency) and a "summary" line;
// exits non-zero when nothing played.
import { launch, log, run } from './lib.mjs';

const [origin, stream, secondsArg, beaconArg] = process.argv.slice(2);
const seconds = Number(secondsArg || 10);
const beaconEvery = Number(beaconArg || 0);
const maxLog = Number(process.env.HLSPLAY_LOG || 5);

const browser = await launch('beffroi-chromium-', {
  args: ['--autoplay-policy=no-user-gesture-required'],
});
await run(browser, async (page) => {
  page.on('pageerror', (e) => log('pageerror', { text: String(e) }));
  // Any page of the origin will do: the player is built in it, so every request is same-origin.
  await page.goto(origin + '/healthz');
  await page.evaluate(async ({ stream, beaconEvery, maxLog }) => {
    window.maxLog = maxLog;
    document.body.innerHTML = '<video id="v" muted playsinline autoplay style="width:640px"></video>';
    await new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/assets/vendor/hls-1.7.4.min.js';
      s.onload = resolve;
      s.onerror = () => reject(new Error('hls.js did not load'));
      document.head.appendChild(s);
    });
    const video = document.getElementById('v');
    const hls = new window.Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, liveSyncDuration: 1.5, liveMaxLatencyDuration: 4 });
    const st = { session: '', playlistURLs: [], fragURLs: [], errors: [], beacons: 0 };
    window.st = st;
    window.hls = hls;
    hls.on(window.Hls.Events.LEVEL_LOADED, (_, d) => {
      const u = new URL(d.details.url);
      st.session = u.searchParams.get('session') || st.session;
      if (st.playlistURLs.length < (window.maxLog || 5)) st.playlistURLs.push(((performance.now()/1000)|0) + " " + u.pathname.split("/").pop() + u.search.replace(/session=[^&]*/, ""));
    });
    hls.on(window.Hls.Events.FRAG_LOADING, (_, d) => {
      const u = d.part ? d.part.url : d.frag.url;
      if (st.fragURLs.length < (window.maxLog || 5)) st.fragURLs.push(((performance.now() / 1000) | 0) + " " + new URL(u).pathname.split("/").pop() + new URL(u).search);
    });
    st.ends = {};
    hls.on(window.Hls.Events.BUFFER_APPENDED, (_, d) => {
      for (const k of ['audio', 'video', 'audiovideo']) {
        const r = d.timeRanges && d.timeRanges[k];
        if (r && r.length) st.ends[k] = Math.round((r.end(r.length - 1) - video.currentTime) * 100) / 100;
      }
    });
    hls.on(window.Hls.Events.AUDIO_TRACK_LOADED, (_, d) => {
      const u = new URL(d.details.url);
      if (st.playlistURLs.length < (window.maxLog || 5)) st.playlistURLs.push(((performance.now()/1000)|0) + ' ' + u.pathname.split('/').pop() + u.search.replace(/session=[^&]*/, ''));
    });
    hls.on(window.Hls.Events.ERROR, (_, d) => { if (st.errors.length < 10) st.errors.push(d.details + (d.fatal ? ' (fatal)' : '')); });
    hls.on(window.Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
    hls.loadSource('/hls/' + stream + '/index.m3u8');
    hls.attachMedia(video);
    if (beaconEvery > 0) {
      setInterval(() => {
        if (!st.session) return;
        fetch('/api/v1/beacon', { method: 'POST', body: JSON.stringify({ stream, session: st.session, protocol: 'hls' }) })
          .then((r) => { if (r.ok) st.beacons++; });
      }, beaconEvery * 1000);
    }
  }, { stream, beaconEvery, maxLog });
  let first = null;
  let last = null;
  for (let i = 0; i < seconds; i++) {
    await page.waitForTimeout(1000);
    last = await page.evaluate(() => {
      const v = document.getElementById('v');
      const q = v.getVideoPlaybackQuality();
      return {
        currentTime: v.currentTime, frames: q.totalVideoFrames, paused: v.paused, width: v.videoWidth,
        ends: JSON.stringify(window.st.ends),
        latency: window.hls.latency, targetLatency: window.hls.targetLatency,
        behind: window.hls.playingDate ? (Date.now() - window.hls.playingDate.getTime()) / 1000 : null,
        buffered: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0,
        session: window.st.session, beacons: window.st.beacons,
      };
    });
    if (first === null && last.frames > 0) first = last;
    log('tick', last);
  }
  const st = await page.evaluate(() => window.st);
  if (process.env.HLSPLAY_SLOW) {
    const slow = await page.evaluate(() => performance.getEntriesByType('resource')
      .filter((e) => e.responseEnd - e.startTime > 700)
      .map((e) => [Math.round(e.startTime), Math.round(e.responseEnd - e.startTime), e.name.split('/').pop().replace(/session=[^&]*&?/, '')]));
    log('slow', { slow });
  }
  const summary = {
    frames: last.frames, currentTime: last.currentTime, width: last.width,
    advanced: first ? last.currentTime - first.currentTime : 0,
    latency: last.latency, behind: last.behind, session: st.session, beacons: st.beacons,
    playlistURLs: st.playlistURLs, fragURLs: st.fragURLs, errors: st.errors,
  };
  log('summary', summary);
  return summary.frames > 0 && summary.advanced > 0 ? 0 : 1;
});
