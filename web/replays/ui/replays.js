// The replay player: native HLS where the browser has it (Safari, iOS), hls.js elsewhere,
// the MP4 when neither works. Labelled buttons beside the native controls.
(function () {
  'use strict';
  const root = document.getElementById('player');
  const video = document.getElementById('video');
  const toggle = document.getElementById('toggle');
  const message = document.getElementById('message');
  const d = root.dataset;
  let hls = null;

  function useMP4() {
    if (hls) { hls.destroy(); hls = null; }
    const at = video.currentTime || 0;
    video.src = d.mp4;
    if (at) video.addEventListener('loadedmetadata', () => { video.currentTime = at; }, { once: true });
    window.beffroiPlayer.engine = 'mp4';
  }

  function start() {
    window.beffroiPlayer = { engine: '' };
    // ?engine=hlsjs or ?engine=mp4 picks the engine (to compare, or to work around one).
    const force = new URLSearchParams(location.search).get('engine');
    if (force === 'mp4') { useMP4(); return; }
    if (force !== 'hlsjs' && video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = d.hls;
      window.beffroiPlayer.engine = 'native';
      return;
    }
    const s = document.createElement('script');
    s.src = d.hlsjs;
    s.onload = () => {
      if (!window.Hls || !window.Hls.isSupported()) { useMP4(); return; }
      hls = new window.Hls({ maxBufferLength: 30 });
      hls.on(window.Hls.Events.ERROR, (_, e) => {
        if (!e.fatal) return;
        if (e.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); return; }
        useMP4();
      });
      hls.loadSource(d.hls);
      hls.attachMedia(video);
      window.beffroiPlayer.engine = 'hls.js';
    };
    s.onerror = useMP4;
    document.head.appendChild(s);
  }

  video.addEventListener('error', () => {
    if (window.beffroiPlayer.engine !== 'mp4') { useMP4(); return; }
    message.textContent = d.noplay;
  });
  function label() {
    const t = video.paused ? d.play : d.pause;
    toggle.textContent = t;
    toggle.setAttribute('aria-label', t);
  }
  video.addEventListener('play', label);
  video.addEventListener('pause', label);
  toggle.addEventListener('click', () => { if (video.paused) video.play().catch(() => {}); else video.pause(); });
  const seek = (dt) => {
    const end = isFinite(video.duration) ? video.duration : Infinity;
    video.currentTime = Math.max(0, Math.min(end, video.currentTime + dt));
  };
  document.getElementById('back').addEventListener('click', () => seek(-10));
  document.getElementById('forward').addEventListener('click', () => seek(10));
  // Keyboard, when focus is not in a field: space/k play-pause, j/l or arrows seek.
  document.addEventListener('keydown', (e) => {
    if (e.target.closest('input, textarea, select, button, a, video') || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (k === ' ' || k === 'k') { e.preventDefault(); toggle.click(); }
    else if (k === 'j' || k === 'ArrowLeft') { e.preventDefault(); seek(-10); }
    else if (k === 'l' || k === 'ArrowRight') { e.preventDefault(); seek(10); }
  });
  // Without http.public_url the page names no host (it is publicly cacheable, and the Host
  // header is anyone's to set): the embed code is completed with the address in use.
  const code = document.getElementById('embedcode');
  if (code && code.hasAttribute('data-relative')) code.value = code.value.replace('src="/', 'src="' + location.origin + '/');
  start();
})();
