// The stream page's preview: WebRTC (WHEP) with the browser's own RTCPeerConnection, falling
// back to LL-HLS with the vendored hls.js, and an audio level meter (WebAudio AnalyserNode).
const HLSJS = '/assets/vendor/hls-1.7.4.min.js';

let hlsLoading = null;
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = HLSJS;
      s.onload = () => resolve(window.Hls);
      s.onerror = () => { hlsLoading = null; reject(new Error('cannot load hls.js')); };
      document.head.append(s);
    });
  }
  return hlsLoading;
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

let audioCtx = null;
function context() {
  if (!audioCtx) audioCtx = new (window.AudioContext || window.webkitAudioContext)();
  if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
  return audioCtx;
}
// Browsers start audio contexts suspended until the user does something.
document.addEventListener('pointerdown', () => { if (audioCtx) audioCtx.resume().catch(() => {}); });
document.addEventListener('keydown', () => { if (audioCtx) audioCtx.resume().catch(() => {}); });

// Preview plays a stream into video and drives meter (a <meter>-like element with a --level).
export class Preview {
  constructor(video, meter, onState) {
    this.video = video;
    this.meter = meter;
    this.onState = onState;
    this.pc = null;
    this.location = null;
    this.hls = null;
    this.source = null;
    this.raf = 0;
    this.protocol = '';
    this.level = 0;
  }

  async start(stream) {
    this.stop();
    this.stream = stream;
    this.onState('connecting');
    try {
      await this.playWHEP(stream);
      this.protocol = 'webrtc';
    } catch (e) {
      this.stopMedia();
      try {
        await this.playHLS(stream);
        this.protocol = 'hls';
      } catch (e2) {
        this.stopMedia();
        this.protocol = '';
        this.onState('unavailable', String(e2.message || e2));
        return;
      }
    }
    this.onState('playing', this.protocol);
    this.meterLoop();
  }

  async playWHEP(stream) {
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    const media = new MediaStream();
    pc.ontrack = (e) => {
      media.addTrack(e.track);
      this.video.srcObject = media;
      if (e.track.kind === 'audio') this.attachAudio(media);
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitGathering(pc, 1000);
    const res = await fetch('/whep/' + encodeURIComponent(stream), {
      method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp,
    });
    const body = await res.text();
    if (res.status !== 201) throw new Error('WHEP ' + res.status);
    this.location = res.headers.get('Location');
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('WebRTC did not connect')), 8000);
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'connected') { clearTimeout(timer); resolve(); }
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          clearTimeout(timer);
          reject(new Error('WebRTC ' + pc.connectionState));
        }
      };
    });
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') this.onState('ended');
    };
    this.video.play().catch(() => {});
  }

  async playHLS(stream) {
    const src = '/hls/' + encodeURIComponent(stream) + '/index.m3u8';
    const head = await fetch(src, { cache: 'no-store' });
    if (!head.ok) throw new Error('HLS ' + head.status);
    if (this.video.canPlayType('application/vnd.apple.mpegurl') && !window.MediaSource) {
      this.video.src = src;
    } else {
      const Hls = await loadHls();
      const hls = new Hls({ lowLatencyMode: true });
      this.hls = hls;
      await new Promise((resolve, reject) => {
        hls.on(Hls.Events.MANIFEST_PARSED, resolve);
        hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) reject(new Error('HLS: ' + d.details)); });
        hls.loadSource(src);
        hls.attachMedia(this.video);
      });
    }
    this.video.play().catch(() => {});
    if (this.video.captureStream) {
      const cap = () => {
        const ms = this.video.captureStream();
        if (ms.getAudioTracks().length) this.attachAudio(ms);
      };
      this.video.addEventListener('playing', cap, { once: true });
    }
  }

  attachAudio(mediaStream) {
    try {
      const ctx = context();
      if (this.source) this.source.disconnect();
      this.source = ctx.createMediaStreamSource(mediaStream);
      this.analyser = ctx.createAnalyser();
      this.analyser.fftSize = 1024;
      this.source.connect(this.analyser);
      this.samples = new Float32Array(this.analyser.fftSize);
    } catch (e) {
      console.warn('audio meter:', e);
    }
  }

  meterLoop() {
    cancelAnimationFrame(this.raf);
    const tick = () => {
      if (this.analyser) {
        this.analyser.getFloatTimeDomainData(this.samples);
        let sum = 0;
        for (const v of this.samples) sum += v * v;
        const rms = Math.sqrt(sum / this.samples.length);
        const db = rms > 0 ? 20 * Math.log10(rms) : -100;
        // -60 dBFS .. 0 dBFS onto 0..1, with a gentle fall.
        const lvl = Math.max(0, Math.min(1, (db + 60) / 60));
        this.level = Math.max(lvl, this.level * 0.9);
        this.meter.style.setProperty('--level', this.level.toFixed(3));
        this.meter.setAttribute('aria-valuenow', String(Math.round(db)));
        this.meter.dataset.db = db.toFixed(1);
      }
      this.raf = requestAnimationFrame(tick);
    };
    this.raf = requestAnimationFrame(tick);
  }

  stopMedia() {
    const { pc, location: loc, hls } = this;
    this.pc = null; this.location = null; this.hls = null;
    if (pc) pc.onconnectionstatechange = null;
    const ended = loc ? fetch(loc, { method: 'DELETE', keepalive: true }).catch(() => {}) : Promise.resolve();
    if (pc) ended.finally(() => pc.close());
    if (hls) hls.destroy();
    if (this.source) { this.source.disconnect(); this.source = null; }
    this.analyser = null;
    this.video.removeAttribute('src');
    this.video.srcObject = null;
  }

  stop() {
    cancelAnimationFrame(this.raf);
    this.stopMedia();
    this.level = 0;
    this.meter.style.setProperty('--level', '0');
  }
}
