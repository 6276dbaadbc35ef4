// The event report (#/streams/<name>/report[/<event>]): the stream's events, the chosen one's
// figures, the server-made chart, links to the printable page (FR/EN) and the CSV and JSON
// exports. Also the stream page's platform parts: each platform's count beside ours
// (platformFigures) and the destinations' platform API credentials (platformsCard).
import { t, lang } from '../i18n.js';
import { h, api, fmtDateTime, fmtDuration, toast, confirmAction, streamByName } from '../core.js';

export const name = 'report';

const enc = encodeURIComponent;

export function render(root, { name: stream, event }) {
  const base = '/streams/' + enc(stream);
  const list = h('ul', { class: 'event-list', id: 'report-events' });
  const body = h('div', { id: 'report' });
  root.append(
    h('nav', { class: 'crumbs', 'aria-label': t('crumbs') }, h('a', { href: '#/' }, t('nav.streams')), ' / ',
      h('a', { href: '#/streams/' + enc(stream) }, stream), ' / ', t('rep.title')),
    h('h1', {}, t('rep.title'), ' – ', stream),
    h('section', { class: 'card', 'aria-labelledby': 'rep-head' }, h('h2', { id: 'rep-head', class: 'small-head' }, t('rep.figures')), body),
    h('section', { class: 'card', 'aria-labelledby': 'rep-events-head' }, h('h2', { id: 'rep-events-head', class: 'small-head' }, t('rep.events')), list));
  let stopped = false;
  (async () => {
    try {
      const { events } = await api('GET', base + '/events');
      if (stopped) return;
      if (!events.length) list.append(h('li', { class: 'muted' }, t('rep.none')));
      for (const e of events) {
        const label = fmtDateTime(e.start) + (e.end ? ' – ' + fmtDateTime(e.end) : ' · ' + t('state.live'));
        list.append(h('li', {}, h('a', { href: '#/streams/' + enc(stream) + '/report/' + enc(e.id), 'aria-current': (e.id === event || (!event && e === events[0])) ? 'page' : null },
          label), ' · ', t('st.peak', e.peak)));
      }
      const q = event ? '?event=' + enc(event) : '';
      const r = await api('GET', base + '/report' + q);
      if (stopped) return;
      const ev = '&event=' + enc(r.event || '');
      const page = '/report/' + enc(stream) + '?lang=' + lang() + ev;
      const fig = (label, value, id) => h('div', { class: 'figure' }, h('small', {}, label), h('b', { id }, String(value)));
      body.replaceChildren(
        h('p', { class: 'muted' }, fmtDateTime(r.start), ' – ', r.end ? fmtDateTime(r.end) : t('state.live'), ' · ', fmtDuration(r.duration)),
        h('div', { class: 'figures' },
          fig(t('rep.peakAll'), r.peak_all.total, 'rep-peak-all'), fig(t('rep.peakOwn'), r.peak.total, 'rep-peak'),
          fig(t('rep.distinct') + (r.estimates.includes('distinct') ? ' *' : ''), r.distinct, 'rep-distinct'),
          fig(t('rep.avgWatch'), fmtDuration(r.average_watch_time), 'rep-watch')),
        h('img', { class: 'report-chart', src: '/api/v1' + base + '/report.svg?lang=' + lang() + ev, alt: t('rep.chart') }),
        r.platforms.length ? h('p', {}, r.platforms.map((p) => t('rep.platformPeak', p.destination, p.peak)).join(' · ')) : null,
        r.estimates.includes('distinct') ? h('p', { class: 'muted' }, '* ', t('rep.estDistinct')) : null,
        h('p', { class: 'actions' },
          h('a', { class: 'btn', href: page, target: '_blank', rel: 'noopener', id: 'rep-print' }, t('rep.print')),
          ' ', h('a', { class: 'btn', href: '/api/v1' + base + '/report?format=csv' + ev, download: '' }, 'CSV'),
          ' ', h('a', { class: 'btn', href: '/api/v1' + base + '/report?format=json' + ev, target: '_blank', rel: 'noopener' }, 'JSON')));
    } catch (e) {
      if (!stopped) body.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  })();
  return () => { stopped = true; };
}

// platformFigures is the stream page's line of the platforms' counts beside ours, and a link
// to the report.
export function platformFigures(stream, a) {
  const parts = (a.platforms || []).map((p) => p.counted
    ? t('rep.platformNow', p.destination, p.viewers)
    : t('rep.platformState', p.destination, t('plat.' + p.state)));
  return h('p', { class: 'viewer-figures', id: 'viewers-platforms' },
    parts.length ? [h('span', { class: 'big', id: 'viewers-all' }, String(a.all ?? a.now.total ?? 0)), ' ', t('rep.all'), ' · ', parts.join(' · '), ' · '] : null,
    h('a', { href: '#/streams/' + enc(stream) + '/report' }, t('rep.open')));
}

// platformsCard lists the destinations' platform credentials (write-only: "set" and the
// state only) with a form to set or remove them.
export function platformsCard(stream) {
  const base = '/streams/' + enc(stream);
  const rows = h('ul', { class: 'dest-list', id: 'platforms' });
  const dest = h('select', { id: 'plat-dest', required: true });
  const platform = h('select', { id: 'plat-platform' }, ['youtube', 'twitch', 'facebook'].map((p) => h('option', { value: p }, p)));
  const id = h('input', { id: 'plat-id', required: true, autocomplete: 'off' });
  const key = h('input', { id: 'plat-key', type: 'password', autocomplete: 'new-password' });
  const token = h('input', { id: 'plat-token', type: 'password', autocomplete: 'new-password' });
  const client = h('input', { id: 'plat-client', autocomplete: 'off' });
  const help = h('p', { class: 'muted', id: 'plat-help' });
  const field = (label, input, forId) => h('label', { for: forId }, label, input);
  const keyField = field(t('plat.key'), key, 'plat-key');
  const clientField = field(t('plat.client'), client, 'plat-client');
  const shape = () => {
    const p = platform.value;
    keyField.hidden = p !== 'youtube';
    clientField.hidden = p !== 'twitch';
    help.textContent = t('plat.help.' + p);
  };
  platform.addEventListener('change', shape);
  const load = async () => {
    const s = streamByName(stream);
    dest.replaceChildren(...((s && s.destinations) || []).map((d) => h('option', { value: d.name }, d.name)));
    try {
      const { platforms } = await api('GET', base + '/platforms');
      rows.replaceChildren(...platforms.map((p) => h('li', {},
        h('b', {}, p.destination), ' · ', p.platform, ' ', p.id, ' · ', t('plat.set'), ' · ', t('plat.' + p.state),
        p.counted ? ' · ' + t('rep.platformNow', '', p.viewers).trim() : '',
        p.message ? h('div', { class: p.state === 'token_expired' ? 'error' : 'muted' }, p.message) : null,
        ' ', h('button', { type: 'button', class: 'btn small', onclick: async () => {
          if (!confirmAction(t('plat.removeConfirm', p.destination))) return;
          try { await api('DELETE', base + '/destinations/' + enc(p.destination) + '/platform'); load(); } catch (e) { toast(e.message, true); }
        } }, t('remove')))));
      if (!platforms.length) rows.append(h('li', { class: 'muted' }, t('plat.none')));
    } catch (e) {
      rows.replaceChildren(h('li', { class: 'muted' }, e.message));
    }
  };
  const form = h('form', { class: 'add-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const body = { platform: platform.value, id: id.value.trim() };
    if (key.value && platform.value === 'youtube') body.api_key = key.value;
    if (token.value) body.token = token.value;
    if (client.value && platform.value === 'twitch') body.client_id = client.value;
    try {
      await api('PUT', base + '/destinations/' + enc(dest.value) + '/platform', body);
      key.value = token.value = '';
      toast(t('plat.saved', dest.value));
      load();
    } catch (e) { toast(e.message, true); }
  } },
  field(t('dash.destinations'), dest, 'plat-dest'), field(t('add.platform'), platform, 'plat-platform'),
  field(t('plat.id'), id, 'plat-id'), keyField, field(t('plat.token'), token, 'plat-token'), clientField, help,
  h('button', { type: 'submit', class: 'btn primary' }, t('plat.submit')));
  shape();
  load();
  return h('section', { class: 'card', 'aria-labelledby': 'plat-head' },
    h('h2', { id: 'plat-head', class: 'small-head' }, t('plat.title')), rows,
    h('details', { class: 'add-details' }, h('summary', {}, t('plat.add')), form));
}
