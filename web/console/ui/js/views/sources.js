// The stream page's backup sources (failover): each source with its state (offline,
// stalled, standing by, on air), bitrate and last frame age, which one is on air, and a
// button to put one on air by hand (it holds until "automatic" or the source stops).
import { t } from '../i18n.js';
import { h, api, setText, syncList, fmtBitrate, toast, refreshStreams } from '../core.js';

// sourcesCard returns the card (hidden for a stream without backup sources) and its update,
// called with the stream's JSON at every refresh.
export function sourcesCard(stream) {
  const state = h('p', { id: 'sources-state', role: 'status' });
  const list = h('ul', { class: 'dest-list', id: 'sources' });
  const autoBtn = h('button', { type: 'button', class: 'btn', id: 'sources-auto' }, t('src.auto'));
  const choose = async (source) => {
    try {
      await api('POST', `/streams/${encodeURIComponent(stream)}/sources/switch`, { source });
      refreshStreams().catch(() => {});
    } catch (e) { toast(e.message, true); }
  };
  autoBtn.addEventListener('click', () => choose(''));
  const el = h('section', { class: 'card', 'aria-labelledby': 'src-list-head', hidden: true },
    h('h2', { id: 'src-list-head', class: 'small-head' }, t('src.title')), state, list,
    h('div', { class: 'head-actions' }, autoBtn));

  const row = (src) => {
    const btn = h('button', { type: 'button', class: 'btn small', 'data-source': src.name }, t('src.putOnAir'));
    btn.addEventListener('click', () => choose(src.name));
    return h('li', { class: 'dest', 'data-source': src.name },
      h('strong', { class: 'src-name' }), ' ', h('span', { class: 'chip src-state' }), ' ',
      h('span', { class: 'src-facts muted' }), ' ', btn);
  };
  const updateRow = (li, src, s) => {
    setText(li.querySelector('.src-name'), src.name + (src.priority === 0 ? ' ' + t('src.primary') : ''));
    const chip = li.querySelector('.src-state');
    chip.dataset.state = src.state;
    setText(chip, t('src.state.' + src.state));
    const facts = [src.protocol ? src.protocol.toUpperCase() : '', src.state !== 'offline' ? fmtBitrate(src.bitrate || 0) : '',
      src.last_frame_age != null ? t('src.age', src.last_frame_age.toFixed(1)) : ''].filter(Boolean);
    setText(li.querySelector('.src-facts'), facts.join(' · '));
    li.querySelector('button').disabled = src.state !== 'standby' || s.manual_source === src.name;
  };

  const update = (s) => {
    const sources = (s && s.sources) || [];
    el.hidden = sources.length < 2;
    if (el.hidden) return;
    const onAir = s.on_air || '';
    setText(state, !s.live ? t('bc.offline') : !onAir ? t('src.none')
      : s.manual_source ? t('src.manual', onAir) : t('src.onAir', onAir));
    autoBtn.disabled = !s.manual_source;
    syncList(list, sources, (src) => src.name, row, (li, src) => updateRow(li, src, s));
  };
  return { el, update };
}
