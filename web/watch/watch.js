// Beffroi player: WebRTC (WHEP) for the lowest latency, LL-HLS where WebRTC does not connect
// or when the operator chose scale mode. Everything it loads comes from Beffroi; it sets no
// cookie and sends nothing but what playing needs (and, on HLS, a beacon so that viewers
// served by a CDN are counted once).
'use strict';

const T = {
  en: {
    soon: 'The broadcast starts soon', soonSub: 'This page switches to the live stream by itself.',
    live: 'Live', play: 'Play', pause: 'Pause', mute: 'Mute', unmute: 'Unmute', volume: 'Volume',
    fullscreen: 'Full screen', exitFullscreen: 'Exit full screen', controls: 'Player controls',
    connecting: 'Connecting…', reconnecting: 'Reconnecting…', viewers: (n) => n === 1 ? '1 viewer' : n + ' viewers',
    unsupported: 'This browser cannot play the stream.', player: 'Live video',
    quality: 'Quality', auto: 'Auto', autoAt: (q) => 'Auto (' + q + ')', source: (q) => q + ' (source)',
  },
  fr: {
    soon: 'Le direct commence bientôt', soonSub: 'Cette page passe au direct d’elle-même.',
    live: 'En direct', play: 'Lecture', pause: 'Pause', mute: 'Couper le son', unmute: 'Activer le son',
    volume: 'Volume', fullscreen: 'Plein écran', exitFullscreen: 'Quitter le plein écran',
    controls: 'Commandes du lecteur', connecting: 'Connexion…', reconnecting: 'Reconnexion…',
    viewers: (n) => n <= 1 ? n + ' spectateur' : n + ' spectateurs',
    quality: 'Qualité', auto: 'Auto', autoAt: (q) => 'Auto (' + q + ')', source: (q) => q + ' (source)',
    unsupported: 'Ce navigateur ne peut pas lire le direct.', player: 'Vidéo en direct',
  },
};
const params = new URLSearchParams(location.search);
const lang = (params.get('lang') || navigator.language || 'en').startsWith('fr') ? 'fr' : 'en';
const t = (k) => T[lang][k] || T.en[k] || k;
document.documentElement.lang = lang;
for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
for (const el of document.querySelectorAll('[data-i18n-label]')) el.setAttribute('aria-label', t(el.dataset.i18nLabel));

const $ = (id) => document.getElementById(id);
const root = document.documentElement;
const video = $('video');
video.setAttribute('aria-label', t('player'));
const stream = root.dataset.stream;
const requested = params.get('mode');
const mode = ['auto', 'hls', 'webrtc'].includes(requested) ? requested : (root.dataset.mode || 'auto');

const BEACON_EVERY = 12000; // ms, while playing HLS
const POLL_EVERY = 10000; // ms, the public status (viewer count)
const RETRY_MIN = 2000, RETRY_MAX = 10000; // ms, while offline
const STALL_LIMIT = 6000; // ms without a new frame: reconnect

// LL-HLS close to live. hls.js aims at the playlist's PART-HOLD-BACK (three parts) behind the
// live edge; it plays up to 25 % faster to get back there when it drifted, and a stall only
// moves that aim back by a quarter of a second (hls.js's default is a whole second per stall,
// which leaves a player seconds behind for good after a few). The parts between keyframes are
// not independent, so hls.js starts on the last keyframe before its aim (up to a keyframe
// interval in the past): catchUp then seeks to the aim inside what is buffered.
const HLS_CONFIG = {
  lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.25, liveSyncOnStallIncrease: 0.25,
};
const CATCHUP_BEYOND = 0.5; // s behind hls.js's aim past which catchUp seeks rather than waits
const CATCHUP_EVERY = 500; // ms between two checks
const CATCHUP_GAP = 3000; // ms between two seeks at most

// state is read by the end-to-end tests.
const state = {
  stream, mode, protocol: null, playing: false, offline: true, pc: null, location: null,
  hls: null, session: null, viewers: null, attempts: 0, lastError: '', beacons: 0, catchUps: 0,
};
window.beffroi = state;

let retryTimer = null;
let retryDelay = RETRY_MIN;
let starting = false;
// In auto mode every stream is played over WebRTC first, whatever its encoder (Beffroi gives
// WebRTC viewers a rendition when the source has B-frames or AAC): HLS only once WebRTC
// failed for another reason than offline. A network that blocks WebRTC (ICE) stays on HLS;
// a stream WebRTC cannot play (415: a codec no browser takes over WebRTC) is tried over
// WebRTC again once it went offline, since the next broadcast may come from another encoder.
let webrtcFailed = false;
let webrtcRefused = false;
let lastProgress = { time: -1, at: Date.now() };

function setStatus(s) { $('status').textContent = s || ''; }

function showOffline() {
  state.offline = true;
  state.playing = false;
  $('player').classList.add('offline');
  $('live').hidden = true;
  setStatus('');
}

function showLive() {
  state.offline = false;
  state.lastError = '';
  state.playing = true;
  $('player').classList.remove('offline');
  $('live').hidden = false;
  setStatus('');
  retryDelay = RETRY_MIN;
}

// stop ends the current playback (WHEP session deleted, hls.js destroyed).
function stop() {
  const { pc, location: loc, hls } = state;
  qualityMenu.hidden = true; state.qualities = []; state.quality = null;
  if (state.session) state.lastSession = state.session;
  state.pc = null; state.location = null; state.hls = null; state.protocol = null; state.session = null;
  if (pc) pc.onconnectionstatechange = null;
  // DELETE first, so the server ends the session at the viewer's request; the connection
  // closes once it answered.
  const ended = loc ? fetch(loc, { method: 'DELETE', keepalive: true }).catch(() => {}) : Promise.resolve();
  if (pc) ended.finally(() => pc.close());
  if (hls) hls.destroy();
  video.removeAttribute('src');
  video.srcObject = null;
}

function retryLater(now) {
  clearTimeout(retryTimer);
  if (now) {
    retryTimer = setTimeout(start, 0);
    return;
  }
  retryTimer = setTimeout(start, retryDelay);
  retryDelay = Math.min(retryDelay * 2, RETRY_MAX);
}

// start plays the stream with the best protocol the mode allows; an offline stream shows
// the poster and is tried again with backoff.
async function start() {
  if (starting || state.stopped) return;
  starting = true;
  clearTimeout(retryTimer);
  state.attempts++;
  try {
    if (mode === 'webrtc' || (mode === 'auto' && !webrtcFailed && !webrtcRefused)) {
      try {
        await playWHEP();
        return;
      } catch (e) {
        state.lastError = String(e.message || e);
        stop();
        if (e.offline || mode === 'webrtc') throw e;
        // WebRTC does not work here (a firewall: from now on) or for this stream (no codec
        // in common: until it goes offline): HLS. A server that could not be reached is
        // tried again over WebRTC next time.
        if (e.ice) webrtcFailed = true;
        if (e.status === 415) webrtcRefused = true;
      }
    }
    await playHLS();
  } catch (e) {
    state.lastError = String(e.message || e);
    stop();
    showOffline();
    if (e.offline) webrtcRefused = false;
    else setStatus(state.lastError);
    retryLater();
  } finally {
    starting = false;
  }
}

// restart is called when playback broke (network lost, publisher reconnecting, stream
// ended): the poster comes back only once the stream is offline.
function restart() {
  stop();
  state.playing = false;
  setStatus(t('reconnecting'));
  retryLater(true);
}

function refusal(status, text) {
  const e = new Error(status + ': ' + text.trim());
  e.status = status;
  e.offline = status === 404 || status === 503;
  return e;
}

function waitGathering(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
    });
  });
}

async function playWHEP() {
  setStatus(t('connecting'));
  const pc = new RTCPeerConnection();
  state.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const media = new MediaStream();
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    if (video.srcObject !== media) video.srcObject = media;
  };
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathering(pc, 1000);
  const res = await fetch('/whep/' + encodeURIComponent(stream), {
    method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
  });
  const body = await res.text();
  if (res.status !== 201) throw refusal(res.status, body);
  state.location = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: body });
  await new Promise((resolve, reject) => {
    const iceError = (msg) => Object.assign(new Error(msg), { ice: true });
    const timer = setTimeout(() => reject(iceError('WebRTC did not connect')), 10000);
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') { clearTimeout(timer); resolve(); }
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
        clearTimeout(timer); reject(iceError('WebRTC connection ' + pc.connectionState));
      }
    };
  });
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') restart();
  };
  state.protocol = 'webrtc';
  lastProgress = { time: -1, at: Date.now() };
  video.play().catch(() => {});
  showLive();
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = src;
    s.onload = resolve;
    s.onerror = () => reject(new Error('cannot load ' + src));
    document.head.appendChild(s);
  });
}

// sessionOf returns the session token of a media playlist URL (its ?session= parameter).
function sessionOf(url) {
  try { return new URL(url, location.href).searchParams.get('session'); } catch { return null; }
}

// Through a caching edge the media playlist URLs carry no token (one URL for every viewer):
// the multivariant playlist hands it in an EXT-X-SESSION-DATA tag instead.
const SESSION_DATA_ID = 'fr.beffroi.session';
function sessionOfData(sessionData) {
  const d = sessionData && sessionData[SESSION_DATA_ID];
  return (d && d.VALUE) || null;
}
function sessionOfText(text) {
  const m = /#EXT-X-SESSION-DATA:DATA-ID="fr\.beffroi\.session",VALUE="([^"]+)"/.exec(text);
  return m ? m[1] : null;
}

async function playHLS() {
  setStatus(t('connecting'));
  // A player started again (after a stall, a network change) keeps its session token: the
  // server hands it back while it holds, and the viewer stays one viewer.
  const src = '/hls/' + encodeURIComponent(stream) + '/index.m3u8' +
    (state.lastSession ? '?session=' + encodeURIComponent(state.lastSession) : '');
  // hls.js wherever Media Source Extensions exist, native HLS only where they do not (an
  // iPhone): Chromium answers canPlayType for HLS too, but its own player is no LL-HLS client.
  const native = video.canPlayType('application/vnd.apple.mpegurl') && !window.MediaSource;
  if (!window.Hls && !native) {
    await loadScript(root.dataset.hlsjs);
  }
  if (!native && window.Hls && window.Hls.isSupported()) {
    await new Promise((resolve, reject) => {
      const hls = new window.Hls(HLS_CONFIG);
      state.hls = hls;
      let started = false;
      hls.on(window.Hls.Events.MANIFEST_PARSED, () => {
        started = true;
        showQualities(hls);
        video.play().catch(() => {});
        resolve();
      });
      hls.on(window.Hls.Events.MANIFEST_LOADED, (_, data) => {
        const s = sessionOfData(data.sessionData);
        if (s) state.session = s;
      });
      hls.on(window.Hls.Events.LEVEL_SWITCHED, () => showQualities(hls));
      hls.on(window.Hls.Events.LEVEL_LOADED, (_, data) => {
        const s = sessionOf(data.details && data.details.url);
        if (s) state.session = s;
      });
      hls.on(window.Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        if (!started) {
          const status = data.response && data.response.code;
          reject(refusal(status || 0, data.details || 'HLS error'));
        } else {
          restart();
        }
      });
      hls.loadSource(src);
      hls.attachMedia(video);
    });
  } else if (native) {
    // Safari plays HLS itself. Its requests are invisible to the page: hand it the media
    // playlist (and its session token) the multivariant playlist gives this page.
    const res = await fetch(src, { cache: 'no-store' });
    if (!res.ok) throw refusal(res.status, await res.text());
    const text = await res.text();
    const uri = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    const media = uri ? new URL(uri, new URL(src, location.href)).href : src;
    state.session = sessionOf(media) || sessionOfText(text);
    video.src = media;
    video.play().catch(() => {});
  } else {
    throw new Error(t('unsupported'));
  }
  state.protocol = 'hls';
  lastProgress = { time: -1, at: Date.now() };
  showLive();
}

// The quality menu, on HLS when the stream offers more than one (the adaptive ladder: the
// source, then smaller renditions). Auto lets hls.js choose by the measured bandwidth and the
// player's size; a quality picked stays until the viewer picks Auto again. state.quality is
// the height playing, state.qualities those offered (read by the tests).
const qualityMenu = $('quality');
const qualityName = (l) => (l.height ? Math.min(l.height, l.width || l.height) + 'p' : Math.round(l.bitrate / 1000) + ' kbit/s');
function showQualities(hls) {
  const levels = hls.levels || [];
  state.qualities = levels.map((l) => l.height);
  const cur = levels[hls.currentLevel];
  state.quality = cur ? cur.height : null;
  state.autoQuality = hls.autoLevelEnabled;
  qualityMenu.hidden = levels.length < 2;
  if (levels.length < 2) return;
  const top = Math.max(...levels.map((l) => l.bitrate));
  const want = [['-1', cur ? t('autoAt')(qualityName(cur)) : t('auto')]];
  levels.map((l, i) => [i, l]).sort((a, b) => b[1].bitrate - a[1].bitrate).forEach(([i, l]) => {
    want.push([String(i), l.bitrate === top ? t('source')(qualityName(l)) : qualityName(l)]);
  });
  const sel = hls.autoLevelEnabled ? '-1' : String(hls.manualLevel >= 0 ? hls.manualLevel : hls.currentLevel);
  if (qualityMenu.options.length !== want.length) {
    qualityMenu.replaceChildren(...want.map(([v, text]) => new Option(text, v)));
  } else {
    want.forEach(([v, text], i) => { qualityMenu.options[i].value = v; qualityMenu.options[i].text = text; });
  }
  qualityMenu.value = sel;
}
qualityMenu.addEventListener('change', () => {
  const hls = state.hls;
  if (!hls) return;
  // nextLevel: the switch happens at the next fragment, without emptying the buffer.
  hls.nextLevel = Number(qualityMenu.value);
  showQualities(hls);
});

// The beacon counts HLS viewers whose playlists a CDN serves: one per session token, so a
// viewer seen both by the origin and by its beacon is one viewer.
setInterval(() => {
  if (state.protocol !== 'hls' || !state.session || video.paused) return;
  fetch('/api/v1/beacon', {
    method: 'POST', keepalive: true, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ stream, session: state.session, protocol: 'hls' }),
  }).then(() => { state.beacons++; }).catch(() => {});
}, BEACON_EVERY);

// The viewer count and whether the stream is live, from the public status. When it is not
// there (an older Beffroi, a proxy that hides it), the badge stays hidden and the player
// finds out about the stream by trying to play it.
async function poll() {
  try {
    const res = await fetch('/api/v1/public/streams/' + encodeURIComponent(stream), { cache: 'no-store' });
    if (!res.ok) throw new Error(String(res.status));
    const s = await res.json();
    state.viewers = typeof s.viewers === 'number' ? s.viewers : null;
    if (s.live && state.offline && !starting && !state.stopped) retryLater(true);
  } catch {
    state.viewers = null;
  }
  const el = $('viewers');
  el.hidden = state.viewers === null;
  if (state.viewers !== null) el.textContent = t('viewers')(state.viewers);
}
setInterval(poll, POLL_EVERY);
poll();

// A stall (no new frame for a while: the network gone, the stream ended without a word)
// brings the poster back and tries again. Over WebRTC currentTime runs on without frames:
// the received packets tell instead.
async function progressMark() {
  if (state.protocol === 'webrtc' && state.pc) {
    let n = 0;
    (await state.pc.getStats()).forEach((r) => { if (r.type === 'inbound-rtp') n += r.packetsReceived || 0; });
    return n;
  }
  return video.currentTime;
}
setInterval(async () => {
  if (!state.playing || video.paused) { lastProgress = { time: -1, at: Date.now() }; return; }
  const mark = await progressMark().catch(() => -1);
  if (mark !== lastProgress.time) {
    lastProgress = { time: mark, at: Date.now() };
  } else if (Date.now() - lastProgress.at > STALL_LIMIT) {
    restart();
  }
}, 1000);

// catchUp brings an hls.js player back to live when it is well behind its aim: at the start
// (it began on an older keyframe) and after a stall (the network gone for a few seconds). It
// seeks to hls.js's live sync position: inside the buffer the decoder starts from the
// keyframe before and shows from there; past the buffer hls.js loads the parts there.
let lastCatchUp = 0;
function catchUp() {
  const hls = state.hls;
  if (state.protocol !== 'hls' || !hls || video.paused || video.seeking || video.readyState < 2) return;
  if (!hls.latestLevelDetails || !hls.latestLevelDetails.live) return; // a recording: no live edge
  const target = hls.targetLatency;
  const sync = hls.liveSyncPosition;
  if (target === null || sync === null || !(hls.latency > target + CATCHUP_BEYOND) || sync <= video.currentTime) return;
  if (Date.now() - lastCatchUp < CATCHUP_GAP) return;
  // Only inside what is buffered: a player behind because its link is slow (a phone on a
  // poor 4G cell, on the ladder's lowest rung) would stall again at a position not loaded.
  let buffered = false;
  for (let i = 0; i < video.buffered.length; i++) {
    if (video.buffered.start(i) <= sync && sync < video.buffered.end(i) - 0.1) buffered = true;
  }
  if (!buffered) return;
  lastCatchUp = Date.now();
  state.catchUps++;
  video.currentTime = sync;
}
setInterval(catchUp, CATCHUP_EVERY);
video.addEventListener('playing', catchUp);

// Controls: labelled buttons, usable from the keyboard (Space or K: play/pause, M: mute,
// F: full screen).
function syncControls() {
  $('play').textContent = video.paused ? t('play') : t('pause');
  $('mute').textContent = video.muted ? t('unmute') : t('mute');
  $('mute').setAttribute('aria-pressed', String(video.muted));
  $('fullscreen').textContent = document.fullscreenElement ? t('exitFullscreen') : t('fullscreen');
  $('volume').value = String(video.muted ? 0 : video.volume);
  $('volume').setAttribute('aria-label', t('volume'));
}
function togglePlay() {
  if (video.paused) video.play().catch(() => {}); else video.pause();
}
function toggleMute() {
  video.muted = !video.muted;
  if (!video.muted && video.volume === 0) video.volume = 1;
}
function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  else $('player').requestFullscreen().catch(() => {});
}
$('play').addEventListener('click', togglePlay);
$('mute').addEventListener('click', toggleMute);
$('fullscreen').addEventListener('click', toggleFullscreen);
$('volume').addEventListener('input', (e) => {
  video.volume = Number(e.target.value);
  video.muted = video.volume === 0;
});
for (const ev of ['play', 'pause', 'volumechange']) video.addEventListener(ev, syncControls);
document.addEventListener('fullscreenchange', syncControls);
document.addEventListener('keydown', (e) => {
  if (e.target.closest && e.target.closest('input, button') && (e.key === ' ' || e.key === 'Enter')) return;
  switch (e.key.toLowerCase()) {
    case ' ': case 'k': e.preventDefault(); togglePlay(); break;
    case 'm': toggleMute(); break;
    case 'f': toggleFullscreen(); break;
    default:
  }
});
syncControls();

window.addEventListener('pagehide', stop);
// stop() for good (a test leaving the page, a host page removing the player): no retry, and
// the status poll does not start it again when it sees the stream live.
state.stop = () => { state.stopped = true; stop(); showOffline(); clearTimeout(retryTimer); };
start();
