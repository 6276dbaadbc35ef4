// Dashboard: every stream, live or not, at a glance; a new stream is made here.
import { t } from '../i18n.js';
import {
  h, api, live, onLive, syncList, setText, stateChip, updateChip, fmtBitrate, bitrateOf,
  videoTrack, audioTrack, fmtTime, num, refreshStreams, toast,
} from '../core.js';
import { sparkline, drawSparkline } from '../charts.js';
import { audienceOf, pollAudience } from '../audience.js';
import { reveal } from './golive.js';

export const name = 'dashboard';

function trackText(s) {
  const v = videoTrack(s), a = audioTrack(s);
  const parts = [];
  if (v) {
    let x = v.codec;
    if (v.width) x += ` ${v.width}×${v.height}`;
    if (v.fps) x += ` ${Math.round(v.fps * 100) / 100} fps`;
    parts.push(x);
  }
  if (a) parts.push(a.codec + (a.sample_rate ? ` ${a.sample_rate / 1000} kHz` : ''));
  return parts.join(' + ') || '—';
}

function field(label, cls) {
  const v = h('dd', { class: cls });
  return [h('dt', {}, label), v];
}

function makeCard(s) {
  const link = h('a', { href: '#/streams/' + encodeURIComponent(s.name), class: 'card-title' }, s.name);
  const chip = stateChip(s.state, 'stream-state');
  const spark = sparkline(t('dash.bitrateChart', s.name));
  const [dtSrc, src] = field(t('dash.source'), 'f-source');
  const [dtTr, tracks] = field(t('dash.tracks'), 'f-tracks');
  const [dtKf, kf] = field(t('dash.keyframes'), 'f-keyframes');
  const [dtV, viewers] = field(t('dash.viewers'), 'f-viewers');
  const [dtR, rec] = field(t('dash.recording'), 'f-recording');
  const bitrate = h('span', { class: 'bitrate', 'aria-live': 'off' });
  const dests = h('ul', { class: 'dest-chips', 'aria-label': t('dash.destinations') });
  const card = h('article', { class: 'card stream-card', 'data-stream': s.name, 'aria-label': s.name },
    h('header', { class: 'card-head' }, h('h2', {}, link),
      s.managed ? h('span', { class: 'badge', title: t('managed.help') }, t('managed')) : null, chip),
    h('div', { class: 'bitrate-row' }, bitrate, spark),
    h('dl', { class: 'facts' }, dtSrc, src, dtTr, tracks, dtKf, kf, dtV, viewers, dtR, rec),
    h('h3', { class: 'small-head' }, t('dash.destinations')), dests,
    h('div', { class: 'card-actions' },
      h('a', { class: 'btn small', href: '#/streams/' + encodeURIComponent(s.name) }, t('dash.open')),
      h('a', { class: 'btn small', href: '#/streams/' + encodeURIComponent(s.name) + '/go-live' }, t('dash.publish'))));
  card._ = { chip, spark, src, tracks, kf, viewers, rec, bitrate, dests };
  return card;
}

function updateCard(card, s) {
  const u = card._;
  updateChip(u.chip, s.state);
  card.classList.toggle('is-live', s.live);
  setText(u.src, s.source ? `${s.source.protocol.toUpperCase()} · ${s.source.remote_addr}` + (s.live_since ? ` · ${t('dash.since')} ${fmtTime(s.live_since)}` : '') : t('dash.noSource'));
  setText(u.tracks, s.live ? trackText(s) : '—');
  const v = videoTrack(s);
  const warn = (s.destinations || []).some((d) => (d.warnings || []).length);
  setText(u.kf, v && v.keyframe_interval ? t('dash.every', num(v.keyframe_interval, 1)) : '—');
  u.kf.classList.toggle('warn', warn);
  const bps = s.live ? bitrateOf(s) : 0;
  setText(u.bitrate, fmtBitrate(bps));
  u.bitrate.dataset.bps = String(Math.round(bps));
  drawSparkline(u.spark, (live.history.get(s.name) || []).map((x) => x.bps));
  const a = audienceOf(s.name);
  setText(u.viewers, a ? t('dash.viewersNowPeak', a.now.total ?? 0, a.peak.total ?? 0) : '—');
  setText(u.rec, s.recording ? t('rec.state.' + (s.recording.state || 'off')) : '—');
  syncList(u.dests, s.destinations || [], (d) => d.name,
    (d) => h('li', { class: 'dest-chip' }, h('span', { class: 'dest-name' }, d.name), h('span', { class: 'dest-warn', hidden: true }, '⚠'), stateChip(d.state)),
    (li, d) => {
      updateChip(li.querySelector('.chip'), d.state);
      const warns = d.warnings || [];
      li.querySelector('.dest-warn').hidden = !warns.length;
      // The reason, for the pointer and for screen readers.
      const why = [d.last_error, ...warns].filter(Boolean).join(' — ');
      li.title = why;
      if (why) li.setAttribute('aria-description', why);
      else li.removeAttribute('aria-description');
    });
  if (!(s.destinations || []).length && !u.dests.querySelector('.none')) {
    u.dests.append(h('li', { class: 'none muted' }, t('dash.noDest')));
  } else if ((s.destinations || []).length) {
    const n = u.dests.querySelector('.none');
    if (n) n.remove();
  }
}

export function render(root) {
  const grid = h('div', { class: 'stream-grid', id: 'streams' });
  const empty = h('p', { class: 'muted', hidden: true }, t('dash.empty'));
  const nameIn = h('input', { id: 'new-stream', name: 'stream', required: true, pattern: '[a-z0-9][a-z0-9_\\-]{0,63}', placeholder: 'concert', 'aria-describedby': 'new-stream-help', autocomplete: 'off' });
  const err = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'inline-form', id: 'create-stream' },
    h('label', { for: 'new-stream' }, t('dash.newName')), nameIn,
    h('button', { type: 'submit', class: 'btn primary' }, t('dash.create')),
    h('p', { class: 'muted small', id: 'new-stream-help' }, t('dash.nameHelp')), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      const made = await api('POST', '/streams', { name: nameIn.value.trim() });
      reveal(made);
      refreshStreams().catch(() => {});
      toast(t('dash.created', made.name));
      location.hash = '#/streams/' + encodeURIComponent(made.name) + '/go-live';
    } catch (ex) {
      err.textContent = ex.message;
    }
  });
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('dash.title'))),
    h('section', { class: 'card', 'aria-labelledby': 'create-head' }, h('h2', { id: 'create-head', class: 'small-head' }, t('dash.createHead')), form),
    empty, grid);
  const update = () => {
    syncList(grid, live.streams, (s) => s.name, makeCard, updateCard);
    empty.hidden = live.streams.length > 0 || !live.everConnected;
  };
  update();
  const off = onLive(update);
  const stopPoll = pollAudience(() => live.streams.filter((s) => s.live).map((s) => s.name), update);
  return () => { off(); stopPoll(); };
}
