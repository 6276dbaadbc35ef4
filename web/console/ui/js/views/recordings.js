// Recordings: list, play (hls.js on the recording's playlist), rename, publish or unpublish
// to the replay pages, download the MP4, delete.
import { t } from '../i18n.js';
import { h, api, fmtDateTime, fmtDuration, fmtBytes, toast, confirmAction, features } from '../core.js';
import { clipButton } from './clip.js';
import { storageLine } from './recording-storage.js';

export const name = 'recordings';
const PAGE = 25;

let hlsLoading = null;
function loadHls() {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = '/assets/vendor/hls-1.7.4.min.js';
      s.onload = () => resolve(window.Hls);
      s.onerror = () => { hlsLoading = null; reject(new Error('cannot load hls.js')); };
      document.head.append(s);
    });
  }
  return hlsLoading;
}

export function render(root) {
  const list = h('div', { class: 'rec-list', id: 'recordings' });
  const status = h('p', { class: 'muted', role: 'status' });
  const more = h('button', { type: 'button', class: 'btn', hidden: true }, t('rec.more'));
  const player = h('video', { id: 'rec-player', controls: true, playsinline: true, 'aria-label': t('rec.player') });
  const playerTitle = h('h2', { class: 'small-head', id: 'rec-player-title' });
  const playerBox = h('section', { class: 'card rec-player', hidden: true, 'aria-labelledby': 'rec-player-title' }, playerTitle, player,
    h('button', { type: 'button', class: 'btn small', onclick: () => stopPlayer() }, t('rec.close')));
  let hls = null;
  const stopPlayer = () => {
    if (hls) { hls.destroy(); hls = null; }
    player.removeAttribute('src');
    player.load();
    playerBox.hidden = true;
  };
  const play = async (r) => {
    stopPlayer();
    playerBox.hidden = false;
    playerTitle.textContent = r.title || r.id;
    try {
      if (player.canPlayType('application/vnd.apple.mpegurl') && !window.MediaSource) {
        player.src = r.urls.playlist;
      } else {
        const Hls = await loadHls();
        hls = new Hls();
        hls.loadSource(r.urls.playlist);
        hls.attachMedia(player);
      }
      player.play().catch(() => {});
      player.focus();
    } catch (e) {
      toast(e.message, true);
    }
  };

  const rowOf = (r) => {
    const title = h('input', { class: 'rec-title', value: r.title || '', 'aria-label': t('rec.titleOf', r.id), placeholder: t('rec.untitled'), maxlength: '200' });
    const save = h('button', { type: 'button', class: 'btn small rec-rename' }, t('rec.rename'));
    const patch = async (body) => {
      const u = await api('PATCH', '/recordings/' + encodeURIComponent(r.id), body);
      Object.assign(r, u || body);
    };
    save.addEventListener('click', async () => {
      try { await patch({ title: title.value }); toast(t('rec.saved')); } catch (e) { toast(e.message, true); }
    });
    title.addEventListener('keydown', (e) => { if (e.key === 'Enter') save.click(); });
    const pub = h('button', { type: 'button', role: 'switch', class: 'switch', 'aria-checked': String(!!r.published), 'aria-label': t('rec.publishOf', r.title || r.id) },
      h('span', { class: 'switch-track', 'aria-hidden': 'true' }, h('span', { class: 'switch-thumb' })),
      h('span', { class: 'switch-text' }, r.published ? t('rec.published') : t('rec.private')));
    pub.addEventListener('click', async () => {
      const on = pub.getAttribute('aria-checked') !== 'true';
      try {
        await patch({ published: on });
        pub.setAttribute('aria-checked', String(on));
        pub.querySelector('.switch-text').textContent = on ? t('rec.published') : t('rec.private');
        pageLink.hidden = !on;
      } catch (e) { toast(e.message, true); }
    });
    const pageLink = h('a', { href: r.urls.page, target: '_blank', rel: 'noopener', hidden: !r.published }, t('rec.page'));
    const del = h('button', { type: 'button', class: 'btn small ghost danger-text', 'aria-label': t('rec.deleteOf', r.title || r.id) }, t('remove'));
    del.addEventListener('click', async () => {
      if (!confirmAction(t('rec.deleteConfirm', r.title || r.id))) return;
      try {
        await api('DELETE', '/recordings/' + encodeURIComponent(r.id));
        row.remove();
      } catch (e) {
        toast(e.status === 409 ? t('rec.busy') : e.message, true);
      }
    });
    const thumb = r.thumbnail || r.state === 'finished' || r.state === 'interrupted'
      ? h('img', { src: r.urls.thumbnail, alt: '', loading: 'lazy', class: 'thumb' }) : h('div', { class: 'thumb' });
    const row = h('article', { class: 'card rec', 'data-recording': r.id, 'data-stream': r.stream, 'data-state': r.state },
      thumb,
      h('div', { class: 'rec-main' },
        h('div', { class: 'url-field' }, title, save),
        h('p', { class: 'muted small' }, [r.stream, fmtDateTime(r.started), fmtDuration(r.duration), fmtBytes(r.size), t('rec.state.' + r.state)].join(' · ')),
        h('div', { class: 'card-actions' },
          h('button', { type: 'button', class: 'btn small', onclick: () => play(r) }, t('rec.play')),
          h('a', { class: 'btn small', href: r.urls.mp4, download: '' }, t('rec.download')),
          clipButton(r),
          pub, pageLink, del)));
    const storage = storageLine(r); // object storage: the upload state
    if (storage) row.querySelector('.rec-main').append(storage);
    return row;
  };

  let offset = 0;
  const load = async () => {
    try {
      const d = await api('GET', `/recordings?limit=${PAGE}&offset=${offset}`);
      for (const r of d.recordings || []) list.append(rowOf(r));
      status.textContent = d.total ? t('rec.count', d.total) : t('rec.none');
      more.hidden = d.next_offset == null;
      if (d.next_offset != null) offset = d.next_offset;
    } catch (e) {
      if (e.status === 404) {
        features.recordings = false;
        status.textContent = t('rec.missing');
      } else status.textContent = e.message;
    }
  };
  more.addEventListener('click', load);
  root.append(h('div', { class: 'page-head' }, h('h1', {}, t('rec.title'))), status, playerBox, list, more);
  load();
  return () => stopPlayer();
}
