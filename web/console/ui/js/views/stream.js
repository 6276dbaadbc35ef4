// The stream page: preview with audio meter, destinations (state, error, bitrate, warnings,
// an on/off switch each), adding a platform from a preset, recording state, viewers and the
// event log.
import { t } from '../i18n.js';
import {
  h, api, live, onLive, syncList, setText, stateChip, updateChip, fmtBitrate, fmtBytes, bitrateOf,
  videoTrack, audioTrack, fmtTime, num, streamByName, refreshStreams, toast, confirmAction, features,
} from '../core.js';
import { sparkline, drawSparkline, lineChart } from '../charts.js';
import { audienceOf, pollAudience } from '../audience.js';
import { platformFigures, platformsCard } from './report.js';
import { Preview } from '../player.js';
import { shapeField, shapeNote } from './destshape.js';
import { sourcesCard } from './sources.js'; // backup sources (failover)

export const name = 'stream';

let presetsCache = null;
async function presets() {
  if (!presetsCache) presetsCache = (await api('GET', '/presets')).presets || [];
  return presetsCache;
}

// checkRequires says, before a destination is added, how the live source fails a preset's
// requirements (the server says it again, per destination, once it is added).
function checkRequires(req, s) {
  const out = [];
  if (!req || !s || !s.live) return out;
  const v = videoTrack(s), a = audioTrack(s);
  if (v) {
    if (req.video_codecs && !req.video_codecs.includes(v.codec)) out.push(t('req.vcodec', v.codec, req.video_codecs.join(', ')));
    if (req.max_keyframe_interval && v.keyframe_interval > req.max_keyframe_interval + 0.05) out.push(t('req.keyframe', v.keyframe_interval.toFixed(1), req.max_keyframe_interval));
    const w = Math.max(v.width || 0, v.height || 0), hh = Math.min(v.width || 0, v.height || 0);
    if (req.max_width && (w > req.max_width || hh > req.max_height)) out.push(t('req.size', `${v.width}×${v.height}`, `${req.max_width}×${req.max_height}`));
    if (req.max_fps && v.fps > req.max_fps + 0.5) out.push(t('req.fps', Math.round(v.fps), req.max_fps));
    if (req.max_video_bitrate && v.bitrate > req.max_video_bitrate) out.push(t('req.bitrate', fmtBitrate(v.bitrate), fmtBitrate(req.max_video_bitrate)));
  }
  if (a && req.audio_codecs && !req.audio_codecs.includes(a.codec)) out.push(t('req.acodec', a.codec, req.audio_codecs.join(', ')));
  return out;
}

function destRow(stream) {
  return (d) => {
    const chip = stateChip(d.state);
    const sw = h('button', { type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(d.enabled), 'aria-label': t('dest.switch', d.name) },
      h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })),
      h('span', { class: 'switch-text' }));
    sw.addEventListener('click', async () => {
      const on = sw.getAttribute('aria-checked') !== 'true';
      sw.disabled = true;
      try {
        await api('PATCH', `/streams/${encodeURIComponent(stream)}/destinations/${encodeURIComponent(d.name)}`, { enabled: on });
        sw.setAttribute('aria-checked', String(on));
        sw.querySelector('.switch-text').textContent = on ? t('on') : t('off');
        refreshStreams().catch(() => {});
      } catch (e) {
        toast(e.message, true);
      } finally {
        sw.disabled = false;
      }
    });
    const remove = h('button', { type: 'button', class: 'btn small ghost danger-text', 'aria-label': t('dest.remove', d.name) }, t('remove'));
    remove.addEventListener('click', async () => {
      if (!confirmAction(t('dest.removeConfirm', d.name))) return;
      try {
        await api('DELETE', `/streams/${encodeURIComponent(stream)}/destinations/${encodeURIComponent(d.name)}`);
        refreshStreams().catch(() => {});
      } catch (e) {
        toast(e.message, true);
      }
    });
    const where = h('span', { class: 'muted dest-where' });
    const stats = h('span', { class: 'dest-stats' });
    const err = h('p', { class: 'dest-error', role: 'status' });
    const warns = h('ul', { class: 'warnings' });
    const li = h('li', { class: 'dest', 'data-dest': d.name },
      h('div', { class: 'dest-line' },
        h('div', { class: 'dest-id' }, h('strong', {}, d.name), where),
        chip, stats,
        h('div', { class: 'dest-controls' }, sw, remove)),
      err, warns);
    li._ = { chip, sw, where, stats, err, warns };
    return li;
  };
}

function updateDest(li, d) {
  const u = li._;
  // A destination of the configuration file is switched here, changed in the file.
  li.querySelector('.danger-text').hidden = !!d.managed;
  updateChip(u.chip, d.state);
  if (!u.sw.disabled) {
    u.sw.setAttribute('aria-checked', String(d.enabled));
    setText(u.sw.querySelector('.switch-text'), d.enabled ? t('on') : t('off'));
  }
  setText(u.where, [d.platform ? (presetsCache || []).find((p) => p.id === d.platform)?.name || d.platform : '', d.protocol + '://' + d.host, shapeNote(d)].filter(Boolean).join(' · '));
  setText(u.stats, d.state === 'live' ? `${fmtBitrate(d.bitrate)} · ${fmtBytes(d.bytes)}` + (d.reconnects ? ` · ${t('dest.reconnects', d.reconnects)}` : '') : '');
  let e = '';
  if (d.state === 'retrying' && d.last_error) {
    const secs = d.retry_at ? Math.max(0, Math.round((Date.parse(d.retry_at) - Date.now()) / 1000)) : 0;
    e = d.last_error + (secs ? ' — ' + t('dest.retryIn', secs) : '');
  }
  setText(u.err, e);
  u.err.hidden = !e;
  syncList(u.warns, d.warnings || [], (w) => w, (w) => h('li', { class: 'warn' }, '⚠ ', w), () => {});
}

export function render(root, { name: stream }) {
  const chip = stateChip('idle', 'stream-state');
  const since = h('span', { class: 'muted' });
  const video = h('video', { id: 'preview', muted: true, playsinline: true, autoplay: true, 'aria-label': t('st.preview') });
  video.muted = true;
  const meter = h('div', { class: 'meter', id: 'audio-meter', role: 'meter', 'aria-label': t('st.audio'), 'aria-valuemin': '-60', 'aria-valuemax': '0', 'aria-valuenow': '-60' },
    h('div', { class: 'meter-bar' }));
  const previewState = h('p', { class: 'preview-state muted', id: 'preview-state', role: 'status' });
  const previewBtn = h('button', { type: 'button', class: 'btn small', id: 'preview-toggle' });
  const poster = h('div', { class: 'preview-offline', 'aria-hidden': 'true' });
  // The poster over the video repeats the preview's state while nothing plays.
  new MutationObserver(() => {
    poster.hidden = previewState.dataset.state === 'playing';
    poster.textContent = previewState.dataset.state === 'playing' ? '' : previewState.textContent;
  }).observe(previewState, { childList: true, characterData: true, subtree: true, attributes: true });
  const spark = sparkline(t('dash.bitrateChart', stream));
  const bitrate = h('span', { class: 'bitrate' });
  const facts = h('dl', { class: 'facts' });
  const dests = h('ul', { class: 'dest-list', id: 'destinations' });
  const noDest = h('p', { class: 'muted' }, t('dash.noDest'));
  const viewersBox = h('div', { id: 'viewers' });
  const log = h('ol', { class: 'event-log', id: 'event-log', 'aria-live': 'polite' });

  // Preview: starts when the stream is live, stops when it ends or the page is left.
  let wantPreview = true;
  let previewing = false;
  const preview = new Preview(video, meter, (state, detail) => {
    previewState.dataset.state = state;
    previewState.textContent = t('preview.' + state) + (state === 'playing' ? ' (' + (detail === 'webrtc' ? 'WebRTC' : 'LL-HLS') + ')' : '');
  });
  const syncPreview = (s) => {
    const should = wantPreview && s && s.live;
    if (should && !previewing) {
      previewing = true;
      preview.start(stream);
    } else if (!should && previewing) {
      previewing = false;
      preview.stop();
    }
    if (!s || !s.live) {
      previewState.dataset.state = 'offline';
      previewState.textContent = t('preview.offline');
    }
    previewBtn.textContent = wantPreview ? t('preview.stop') : t('preview.start');
  };
  previewBtn.addEventListener('click', () => {
    wantPreview = !wantPreview;
    if (!wantPreview && previewing) {
      previewing = false;
      preview.stop();
      previewState.textContent = t('preview.stopped');
    }
    syncPreview(streamByName(stream));
  });

  // Add a destination from a preset.
  const presetSel = h('select', { id: 'preset', required: true });
  const destName = h('input', { id: 'dest-name', required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', autocomplete: 'off' });
  const ingestSel = h('select', { id: 'dest-ingest-select' });
  const ingestIn = h('input', { id: 'dest-ingest', type: 'text', inputmode: 'url', autocomplete: 'off', spellcheck: 'false' });
  const keyIn = h('input', { id: 'dest-key', type: 'password', required: true, autocomplete: 'off', spellcheck: 'false' });
  const keyHelp = h('p', { class: 'muted small', id: 'dest-key-help' });
  const reqWarn = h('ul', { class: 'warnings', id: 'preset-warnings' });
  const formErr = h('p', { class: 'form-error', role: 'alert' });
  const enabledIn = h('input', { id: 'dest-enabled', type: 'checkbox', checked: true });
  const ingestSelWrap = h('div', { class: 'field' }, h('label', { for: 'dest-ingest-select' }, t('add.server')), ingestSel);
  const ingestInWrap = h('div', { class: 'field' }, h('label', { for: 'dest-ingest' }, t('add.ingest')), ingestIn,
    h('p', { class: 'muted small' }, t('add.ingestHelp')));
  let nameTouched = false;
  destName.addEventListener('input', () => { nameTouched = true; });
  const onPreset = () => {
    const p = (presetsCache || []).find((x) => x.id === presetSel.value);
    if (!p) return;
    if (!nameTouched) destName.value = p.id;
    ingestSel.replaceChildren(...(p.urls || []).map((u) => h('option', { value: u }, u)));
    ingestSelWrap.hidden = p.url_per_broadcast || (p.urls || []).length < 2;
    ingestInWrap.hidden = !p.url_per_broadcast;
    ingestIn.required = !!p.url_per_broadcast;
    ingestIn.placeholder = (p.urls || [])[0] || '';
    keyHelp.textContent = t('add.keyWhere') + ' ' + (p.key_help || '');
    syncList(reqWarn, checkRequires(p.requires, streamByName(stream)), (w) => w, (w) => h('li', { class: 'warn' }, '⚠ ', w), () => {});
  };
  presetSel.addEventListener('change', onPreset);
  const addForm = h('form', { id: 'add-destination', class: 'add-form' },
    h('div', { class: 'field' }, h('label', { for: 'preset' }, t('add.platform')), presetSel),
    h('div', { class: 'field' }, h('label', { for: 'dest-name' }, t('add.name')), destName),
    ingestSelWrap, ingestInWrap,
    h('div', { class: 'field' }, h('label', { for: 'dest-key' }, t('add.key')), keyIn, keyHelp),
    h('div', { class: 'field check' }, enabledIn, h('label', { for: 'dest-enabled' }, t('add.enabled'))),
    reqWarn, formErr,
    h('button', { type: 'submit', class: 'btn primary', id: 'add-submit' }, t('add.submit')));
  const withShape = shapeField(addForm);
  addForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    formErr.textContent = '';
    const p = (presetsCache || []).find((x) => x.id === presetSel.value);
    const body = withShape({ name: destName.value.trim(), preset: presetSel.value, key: keyIn.value, enabled: enabledIn.checked });
    if (p && p.url_per_broadcast) body.ingest_url = ingestIn.value.trim();
    else if (!ingestSelWrap.hidden) body.ingest_url = ingestSel.value;
    try {
      await api('POST', `/streams/${encodeURIComponent(stream)}/destinations`, body);
      keyIn.value = ''; // the key goes no further than the server
      ingestIn.value = '';
      nameTouched = false;
      onPreset();
      toast(t('add.done', body.name));
      refreshStreams().catch(() => {});
    } catch (ex) {
      formErr.textContent = ex.message;
    }
  });
  presets().then((list) => {
    presetSel.replaceChildren(...list.map((p) => h('option', { value: p.id }, p.name)));
    const custom = list.find((p) => p.id === 'youtube') || list[0];
    if (custom) presetSel.value = custom.id;
    onPreset();
  }).catch((e) => { formErr.textContent = e.message; });

  // The broadcast: pause (standby picture), end now, the standby image.
  const bcState = h('p', { id: 'broadcast-state', role: 'status' });
  const pauseBtn = h('button', { type: 'button', class: 'btn', id: 'standby-toggle' }, t('bc.pause'));
  const endBtn = h('button', { type: 'button', class: 'btn danger', id: 'end-now' }, t('bc.end'));
  const imageIn = h('input', { type: 'file', id: 'standby-image', accept: 'image/png,image/jpeg' });
  const imageRm = h('button', { type: 'button', class: 'btn small ghost', id: 'standby-image-remove' }, t('bc.imageRemove'));
  pauseBtn.addEventListener('click', async () => {
    const s = streamByName(stream);
    try {
      await api('POST', `/streams/${encodeURIComponent(stream)}/standby`, { on: !(s && s.paused) });
      refreshStreams().catch(() => {});
    } catch (e) { toast(e.message, true); }
  });
  endBtn.addEventListener('click', async () => {
    if (!confirmAction(t('bc.endConfirm', stream))) return;
    try {
      await api('POST', `/streams/${encodeURIComponent(stream)}/end`);
      refreshStreams().catch(() => {});
    } catch (e) { toast(e.message, true); }
  });
  imageIn.addEventListener('change', async () => {
    const f = imageIn.files && imageIn.files[0];
    if (!f) return;
    try {
      await api('PUT', `/streams/${encodeURIComponent(stream)}/standby-image`, f);
      toast(t('bc.imageDone'));
    } catch (e) { toast(e.message, true); }
    imageIn.value = '';
  });
  imageRm.addEventListener('click', async () => {
    try {
      await api('DELETE', `/streams/${encodeURIComponent(stream)}/standby-image`);
      toast(t('bc.imageRemoved'));
    } catch (e) { toast(e.message, true); }
  });
  const broadcastCard = h('section', { class: 'card', 'aria-labelledby': 'bc-head' },
    h('h2', { id: 'bc-head', class: 'small-head' }, t('bc.title')), bcState,
    h('div', { class: 'head-actions' }, pauseBtn, endBtn),
    h('div', { class: 'field' }, h('label', { for: 'standby-image' }, t('bc.image')), imageIn, imageRm));
  const sources = sourcesCard(stream);
  const updateBroadcast = (s) => {
    const on = !!(s && s.live);
    pauseBtn.disabled = !on;
    endBtn.disabled = !on;
    setText(pauseBtn, s && s.paused ? t('bc.resume') : t('bc.pause'));
    setText(bcState, !on ? t('bc.offline') : s.paused ? t('bc.paused') : s.standby ? t('bc.standby') : t('bc.onAir'));
  };

  const del = h('button', { type: 'button', class: 'btn danger', id: 'delete-stream' }, t('st.delete'));
  const managedNote = h('p', { class: 'notice', hidden: true }, t('managed.help'));
  del.addEventListener('click', async () => {
    if (!confirmAction(t('st.deleteConfirm', stream))) return;
    try {
      await api('DELETE', '/streams/' + encodeURIComponent(stream));
      location.hash = '#/';
      refreshStreams().catch(() => {});
    } catch (e) {
      toast(e.message, true);
    }
  });

  root.append(
    h('nav', { class: 'crumbs', 'aria-label': t('crumbs') }, h('a', { href: '#/' }, t('nav.streams')), ' / ', stream),
    h('div', { class: 'page-head' }, h('h1', {}, stream), chip, since,
      h('div', { class: 'head-actions' }, h('a', { class: 'btn', href: '#/streams/' + encodeURIComponent(stream) + '/go-live', id: 'golive-link' }, t('dash.publish')))),
    h('div', { class: 'stream-grid-2' },
      h('section', { class: 'card preview-card', 'aria-labelledby': 'pv-head' },
        h('h2', { id: 'pv-head', class: 'small-head' }, t('st.preview')),
        h('div', { class: 'preview-box' }, video, poster, meter),
        h('div', { class: 'preview-foot' }, previewState, previewBtn)),
      h('section', { class: 'card', 'aria-labelledby': 'src-head' },
        h('h2', { id: 'src-head', class: 'small-head' }, t('st.source')),
        h('div', { class: 'bitrate-row' }, bitrate, spark), facts)),
    broadcastCard,
    sources.el,
    h('section', { class: 'card', 'aria-labelledby': 'dest-head' },
      h('h2', { id: 'dest-head' }, t('dash.destinations')), noDest, dests,
      h('details', { class: 'add-details', open: true }, h('summary', {}, t('add.title')), addForm)),
    h('div', { class: 'stream-grid-2' },
      h('section', { class: 'card', 'aria-labelledby': 'viewers-head' }, h('h2', { id: 'viewers-head', class: 'small-head' }, t('st.viewers')), viewersBox),
      h('section', { class: 'card', 'aria-labelledby': 'log-head' }, h('h2', { id: 'log-head', class: 'small-head' }, t('st.log')), log)),
    platformsCard(stream),
    h('section', { class: 'card danger-zone', 'aria-labelledby': 'dz-head' }, h('h2', { id: 'dz-head', class: 'small-head' }, t('st.danger')), managedNote, del));

  let lastViewers = '';
  const drawViewers = () => {
    const a = audienceOf(stream);
    if (!a) {
      const txt = features.audience ? t('st.viewersNone') : t('st.viewersMissing');
      if (lastViewers !== txt) { viewersBox.replaceChildren(h('p', { class: 'muted' }, txt)); lastViewers = txt; }
      return;
    }
    const key = JSON.stringify([a.now, a.peak, a.distinct, (a.series || []).length, a.all, a.platforms]);
    if (key === lastViewers) return;
    lastViewers = key;
    viewersBox.replaceChildren(
      h('p', { class: 'viewer-figures' },
        h('span', { class: 'big', id: 'viewers-now' }, String(a.now.total ?? 0)), ' ', t('st.viewersNow'),
        ' · ', t('st.peak', a.peak.total ?? 0), ' · ', t('st.distinct', a.distinct ?? 0),
        ' · WebRTC ', String(a.now.whep ?? 0), ' · HLS ', String(a.now.hls ?? 0)),
      platformFigures(stream, a),
      lineChart(a.series || [], t('st.viewersChart'), fmtTime));
  };

  const update = () => {
    const s = streamByName(stream);
    if (!s) {
      if (live.everConnected && live.connected) {
        setText(previewState, t('st.missing'));
        dests.replaceChildren();
      }
      return;
    }
    updateChip(chip, s.state);
    updateBroadcast(s);
    sources.update(s);
    del.disabled = !!s.managed;
    managedNote.hidden = !s.managed;
    setText(since, s.live && s.live_since ? t('dash.since') + ' ' + fmtTime(s.live_since) : '');
    const bps = s.live ? bitrateOf(s) : 0;
    setText(bitrate, fmtBitrate(bps));
    bitrate.dataset.bps = String(Math.round(bps));
    drawSparkline(spark, (live.history.get(stream) || []).map((x) => x.bps));
    const v = videoTrack(s), a = audioTrack(s);
    const rows = [
      [t('dash.source'), s.source ? `${s.source.protocol.toUpperCase()} · ${s.source.remote_addr}` : t('dash.noSource')],
      [t('st.video'), v ? `${v.codec} ${v.width || ''}×${v.height || ''} · ${v.fps ? Math.round(v.fps * 100) / 100 + ' fps' : ''} · ${fmtBitrate(v.bitrate)}` : '—'],
      [t('dash.keyframes'), v && v.keyframe_interval ? t('dash.every', num(v.keyframe_interval, 1)) : '—'],
      [t('st.audio'), a ? `${a.codec} ${a.sample_rate ? a.sample_rate / 1000 + ' kHz' : ''} ${a.channels ? a.channels + ' ch' : ''} · ${fmtBitrate(a.bitrate)}` : '—'],
      [t('dash.recording'), s.recording ? t('rec.state.' + (s.recording.state || 'off')) : t('st.recNone')],
      [t('st.readers'), String(s.readers ?? 0)],
      // What the network did to the publisher (WHIP, SRT): a bad network shows, not silence.
      [t('st.network'), s.network ? t('st.networkLine', s.network.lost_packets, s.network.nacks,
        s.network.retransmitted, s.network.late_packets, s.network.dropped, s.network.keyframe_requests) : '—'],
    ];
    if (facts.children.length !== rows.length * 2) {
      facts.replaceChildren(...rows.flatMap(([k]) => [h('dt', {}, k), h('dd')]));
    }
    rows.forEach(([, val], i) => setText(facts.children[i * 2 + 1], val));
    noDest.hidden = (s.destinations || []).length > 0;
    syncList(dests, s.destinations || [], (d) => d.name, destRow(stream), updateDest);
    syncPreview(s);
    drawViewers();
  };
  let shownEvents = 0;
  const updateLog = () => {
    const mine = live.events.filter((e) => e.stream === stream);
    if (mine.length === shownEvents && log.children.length) return;
    shownEvents = mine.length;
    const last = mine.slice(-100).reverse();
    log.replaceChildren(...last.map((e) => h('li', { class: 'ev ev-' + e.level },
      h('time', { datetime: e.time }, fmtTime(e.time)), ' ',
      e.subject ? h('strong', {}, e.subject + ': ') : null, e.message)));
    if (!last.length) log.append(h('li', { class: 'muted' }, t('st.noEvents')));
  };
  update();
  updateLog();
  const off = onLive((what) => {
    if (what === 'event' || what === 'hello') updateLog();
    update();
  });
  const stopPoll = pollAudience(() => [stream], drawViewers);
  return () => {
    off();
    stopPoll();
    preview.stop();
  };
}
