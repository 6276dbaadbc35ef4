// Beffroi go-live page: publishes the phone's camera and microphone to Beffroi over WHIP.
// No dependencies: everything here is served by Beffroi (event networks are bad).
'use strict';

const T = {
  en: { offair: 'Off air', live: 'On air', reconnecting: 'Reconnecting…', idle: 'idle', stream: 'Stream',
    key: 'Publish key', quality: 'Quality', flip: 'Switch camera', mute: 'Mute', unmute: 'Unmute',
    start: 'Go live', stop: 'Stop', connecting: 'connecting', needKey: 'Enter the stream and its publish key.',
    refused: 'Beffroi refused the key.', nocam: 'No camera or microphone: ' },
  fr: { offair: 'Hors antenne', live: 'À l’antenne', reconnecting: 'Reconnexion…', idle: 'inactif', stream: 'Flux',
    key: 'Clé de publication', quality: 'Qualité', flip: 'Changer de caméra', mute: 'Couper le micro', unmute: 'Rétablir le micro',
    start: 'Passer à l’antenne', stop: 'Arrêter', connecting: 'connexion', needKey: 'Indiquez le flux et sa clé de publication.',
    refused: 'Beffroi a refusé la clé.', nocam: 'Pas de caméra ni de micro : ' },
};
const lang = (navigator.language || 'en').startsWith('fr') ? 'fr' : 'en';
const t = (k) => T[lang][k] || T.en[k] || k;
document.documentElement.lang = lang;
for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);

const QUALITY = {
  '480': { width: 854, height: 480, bitrate: 1200000 },
  '720': { width: 1280, height: 720, bitrate: 2500000 },
  '1080': { width: 1920, height: 1080, bitrate: 4500000 },
  '1080hq': { width: 1920, height: 1080, bitrate: 6000000 },
};
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// /go-live/{stream}#key=... carries the stream and its key (a QR code or a link from the
// console). The key is in the fragment, which the browser never sends: no proxy's access log
// sees it. Links made before use ?key=, still accepted. Either way the key then leaves the
// address bar and the history.
const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
const pathStream = decodeURIComponent(location.pathname.replace(/^\/go-live\/?/, '').split('/')[0] || '');
$('stream').value = pathStream || params.get('stream') || '';
$('key').value = fragment.get('key') || params.get('key') || '';
if (fragment.has('key') || params.has('key')) {
  params.delete('key');
  const q = params.toString();
  history.replaceState(null, '', location.pathname + (q ? '?' + q : ''));
}
// ?prefer=vp8 offers VP8 and no H.264 (Beffroi would choose H.264 when offered): for tests
// and for devices whose H.264 encoder misbehaves. Beffroi re-encodes it to H.264 for platforms.
const preferVP8 = params.get('prefer') === 'vp8';

const state = {
  media: null, pc: null, location: null, live: false, facing: 'user', muted: false,
  started: 0, timer: null, lastBytes: 0, lastTime: 0, retry: null, wakeLock: null,
};
window.beffroi = state; // read by the end-to-end tests

function setConn(s) { $('conn').textContent = s; }
function setOnAir(kind) {
  const el = $('onair');
  el.className = 'onair ' + kind;
  el.textContent = t(kind === 'live' ? 'live' : kind === 'reconnecting' ? 'reconnecting' : 'offair');
}
function message(m) { $('message').textContent = m || ''; }

async function openMedia() {
  const q = QUALITY[$('quality').value];
  const media = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: state.facing, width: { ideal: q.width }, height: { ideal: q.height }, frameRate: { ideal: 30 } },
    audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  for (const tr of media.getAudioTracks()) tr.enabled = !state.muted;
  return media;
}

async function showPreview() {
  try {
    if (!state.media) state.media = await openMedia();
    $('preview').srcObject = state.media;
  } catch (e) { message(t('nocam') + e.message); }
}

function preferCodec(transceiver) {
  if (!RTCRtpSender.getCapabilities || !transceiver.setCodecPreferences) return;
  const caps = RTCRtpSender.getCapabilities('video').codecs;
  const want = preferVP8 ? 'video/VP8' : 'video/H264';
  const first = caps.filter((c) => c.mimeType === want);
  const rest = caps.filter((c) => c.mimeType !== want && !(preferVP8 && c.mimeType === 'video/H264'));
  transceiver.setCodecPreferences(first.concat(rest));
}

function waitGathering(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 2000); // go with what we have
  });
}

async function connect() {
  const stream = $('stream').value.trim(), key = $('key').value;
  const q = QUALITY[$('quality').value];
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  state.pc = pc;
  for (const tr of state.media.getTracks()) {
    const tx = pc.addTransceiver(tr, { direction: 'sendonly', streams: [state.media] });
    if (tr.kind === 'video') {
      preferCodec(tx);
      const p = tx.sender.getParameters();
      p.encodings = [{ maxBitrate: q.bitrate, maxFramerate: 30 }];
      p.degradationPreference = 'maintain-framerate';
      await tx.sender.setParameters(p).catch(() => {});
    }
  }
  pc.addEventListener('connectionstatechange', () => {
    setConn(pc.connectionState);
    if (pc !== state.pc || !state.live) return;
    if (pc.connectionState === 'connected') { setOnAir('live'); message(''); }
    // 'disconnected' may heal by itself (ICE keeps trying): give it 3 s. 'failed', or a
    // connection closed under us, will not.
    if (pc.connectionState === 'disconnected') scheduleResume(3000);
    if (pc.connectionState === 'failed' || pc.connectionState === 'closed') scheduleResume(0);
  });
  await pc.setLocalDescription(await pc.createOffer());
  await waitGathering(pc);
  const res = await fetch('/whip/' + encodeURIComponent(stream), {
    method: 'POST', body: pc.localDescription.sdp,
    headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer ' + key },
  });
  if (res.status === 401) { const err = new Error(t('refused')); err.fatal = true; throw err; }
  if (res.status !== 201) { const err = new Error(await res.text()); err.fatal = res.status < 500; throw err; }
  state.location = res.headers.get('Location');
  await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
}

// scheduleResume reconnects when the network dropped (Wi-Fi to 4G): a new session within
// Beffroi's reconnect grace continues the same broadcast on every platform.
function scheduleResume(delay) {
  if (state.retry) return;
  setOnAir('reconnecting');
  state.retry = setTimeout(async () => {
    state.retry = null;
    if (!state.live) return;
    closePeer(false);
    try { await connect(); } catch (e) {
      message(e.message);
      if (e.fatal) { stop(); return; }
      scheduleResume(2000);
    }
  }, delay);
}

function closePeer(sayBye) {
  if (sayBye && state.location) fetch(state.location, { method: 'DELETE' }).catch(() => {});
  state.location = null;
  const pc = state.pc;
  state.pc = null; // first: a peer connection closed here is not a network drop
  if (pc) pc.close();
}

async function start() {
  if (!$('setup').reportValidity()) { message(t('needKey')); return; }
  message('');
  await showPreview();
  if (!state.media) return;
  state.live = true;
  $('golive').textContent = t('stop');
  $('golive').classList.add('stop');
  setConn(t('connecting'));
  state.started = Date.now();
  state.timer = setInterval(tick, 1000);
  if ('wakeLock' in navigator) navigator.wakeLock.request('screen').then((l) => { state.wakeLock = l; }).catch(() => {});
  try { await connect(); } catch (e) {
    message(e.message);
    if (e.fatal) { stop(); return; }
    scheduleResume(2000);
  }
}

function stop() {
  state.live = false;
  clearTimeout(state.retry); state.retry = null;
  clearInterval(state.timer);
  closePeer(true);
  if (state.wakeLock) { state.wakeLock.release().catch(() => {}); state.wakeLock = null; }
  $('golive').textContent = t('start');
  $('golive').classList.remove('stop');
  setOnAir('offair');
  setConn(t('idle'));
  $('bitrate').textContent = '–';
}

async function tick() {
  const s = Math.floor((Date.now() - state.started) / 1000);
  $('elapsed').textContent = String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  if (!state.pc) return;
  let bytes = 0;
  (await state.pc.getStats()).forEach((r) => { if (r.type === 'outbound-rtp') bytes += r.bytesSent; });
  const now = Date.now();
  if (state.lastTime && bytes >= state.lastBytes) {
    $('bitrate').textContent = ((bytes - state.lastBytes) * 8 / (now - state.lastTime) / 1000).toFixed(2) + ' Mbit/s';
  }
  state.lastBytes = bytes; state.lastTime = now;
}

// Switching camera replaces the track in place: no renegotiation, no freeze on the platforms.
async function flip() {
  state.facing = state.facing === 'user' ? 'environment' : 'user';
  const old = state.media;
  const media = await openMedia().catch((e) => { message(t('nocam') + e.message); return null; });
  if (!media) { state.facing = state.facing === 'user' ? 'environment' : 'user'; return; }
  if (state.pc) {
    for (const sender of state.pc.getSenders()) {
      const tr = media.getTracks().find((x) => sender.track && x.kind === sender.track.kind);
      if (tr) await sender.replaceTrack(tr);
    }
  }
  state.media = media;
  $('preview').srcObject = media;
  if (old) old.getTracks().forEach((tr) => tr.stop());
}

function toggleMute() {
  state.muted = !state.muted;
  if (state.media) for (const tr of state.media.getAudioTracks()) tr.enabled = !state.muted;
  $('mute').setAttribute('aria-pressed', String(state.muted));
  $('mute').textContent = t(state.muted ? 'unmute' : 'mute');
}

$('golive').addEventListener('click', () => (state.live ? stop() : start()));
$('flip').addEventListener('click', flip);
$('mute').addEventListener('click', toggleMute);
window.addEventListener('online', () => { if (state.live && (!state.pc || state.pc.connectionState !== 'connected')) scheduleResume(0); });
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && state.live && !state.wakeLock && 'wakeLock' in navigator) {
    navigator.wakeLock.request('screen').then((l) => { state.wakeLock = l; }).catch(() => {});
  }
});
showPreview();
