// The stream page's preview: WebRTC (WHEP) with the browser's own RTCPeerConnection, falling
// back to LL-HLS with the vendored hls.js, and an audio level meter (WebAudio AnalyserNode).
const HLSJS = '/assets/vendor/hls-1.7.4.min.js';

let hlsLoading = null;
// Marks the preview's requests: with the operator's session, the console is not counted as a
// viewer (Safari's native HLS cannot send it, and is counted).
const PREVIEW = { 'X-Beffroi-Preview': '1' };
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
    this.run = 0;
    this.wanted = false;
    this.timer = 0;
    this.peaks = [];
  }

  // start plays stream until stop: when playback cannot start or breaks (the stream just
  // went live and its HLS is not ready yet, the network dropped), it tries again, every
  // 2 s doubling to 15 s.
  async start(stream) {
    this.stop();
    this.wanted = true;
    this.stream = stream;
    this.delay = 2000;
    this.attempt();
  }

  async attempt() {
    const run = ++this.run;
    this.onState('connecting');
    try {
      await this.playWHEP(this.stream);
      this.protocol = 'webrtc';
    } catch (e) {
      if (run !== this.run) return;
      this.stopMedia();
      try {
        await this.playHLS(this.stream);
        this.protocol = 'hls';
      } catch (e2) {
        if (run !== this.run) return;
        this.stopMedia();
        this.protocol = '';
        this.onState('unavailable', String(e2.message || e2));
        this.retry();
        return;
      }
    }
    if (run !== this.run) return;
    this.delay = 2000;
    this.onState('playing', this.protocol);
    this.meterLoop();
  }

  // broken is called when playback that had started fails.
  broken() {
    if (!this.wanted) return;
    this.onState('ended');
    this.stopMedia();
    this.retry();
  }

  retry() {
    if (!this.wanted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => { if (this.wanted) this.attempt(); }, this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
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
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...PREVIEW },
      body: pc.localDescription.sdp,
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
      if (pc.connectionState === 'failed') this.broken();
    };
    this.video.play().catch(() => {});
  }

  async playHLS(stream) {
    const src = '/hls/' + encodeURIComponent(stream) + '/index.m3u8';
    const head = await fetch(src, { cache: 'no-store', headers: PREVIEW });
    if (!head.ok) throw new Error('HLS ' + head.status);
    if (this.video.canPlayType('application/vnd.apple.mpegurl') && !window.MediaSource) {
      this.video.src = src;
    } else {
      const Hls = await loadHls();
      const hls = new Hls({
        lowLatencyMode: true,
        xhrSetup: (xhr) => xhr.setRequestHeader('X-Beffroi-Preview', '1'),
      });
      this.hls = hls;
      let started = false;
      await new Promise((resolve, reject) => {
        hls.on(Hls.Events.MANIFEST_PARSED, () => { started = true; resolve(); });
        hls.on(Hls.Events.ERROR, (_, d) => {
          if (!d.fatal) return;
          if (!started) reject(new Error('HLS: ' + d.details));
          else if (this.hls === hls) this.broken(); // the stream ended or the network dropped
        });
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
        // The loudest of the last second, for a steady reading.
        const now = performance.now();
        this.peaks.push([now, db]);
        while (this.peaks.length && this.peaks[0][0] < now - 1000) this.peaks.shift();
        this.meter.dataset.peak = Math.max(...this.peaks.map((p) => p[1])).toFixed(1);
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
    this.wanted = false;
    this.run++;
    clearTimeout(this.timer);
    cancelAnimationFrame(this.raf);
    this.stopMedia();
    this.level = 0;
    this.meter.style.setProperty('--level', '0');
  }
}
