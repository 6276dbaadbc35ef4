// The story clip editor of a recording: a strip of thumbnails with in and out points, a
// shape (9:16, 1:1, 16:9), a caption and the town's logo; the export runs on the server,
// its progress shown here, and the clips of the recording listed to download, cancel or
// delete. The recordings view opens it under a recording (clipButton).
import { t } from '../i18n.js';
import { h, api, setText, fmtDuration, fmtBytes, toast, confirmAction } from '../core.js';

const MAX = 60;
const SHAPES = ['9:16', '1:1', '16:9'];

// clipButton is the recording row's "Story clip" button: it opens the editor under the row.
export function clipButton(r) {
  const btn = h('button', { type: 'button', class: 'btn small', 'aria-expanded': 'false' }, t('clip.open'));
  let editor = null;
  btn.addEventListener('click', () => {
    if (editor) {
      editor.close();
      editor = null;
      btn.setAttribute('aria-expanded', 'false');
      return;
    }
    editor = openEditor(r);
    btn.closest('.rec').after(editor.el);
    btn.setAttribute('aria-expanded', 'true');
    editor.el.querySelector('h2').focus();
  });
  return btn;
}

const secs = (s) => (Math.round(s * 10) / 10).toFixed(1);
const base = (r) => '/recordings/' + encodeURIComponent(r.id) + '/clips';

function openEditor(r) {
  let duration = r.duration || 0;
  let timer = null;
  const title = h('h2', { tabindex: '-1', id: 'clip-head-' + r.id }, t('clip.title', r.title || r.id));
  const strip = h('div', { class: 'clip-strip', role: 'group', 'aria-label': t('clip.strip') });
  const band = h('div', { class: 'clip-band', 'aria-hidden': 'true' });
  const stripBox = h('div', { class: 'clip-strip-box' }, strip, band);
  const inRange = h('input', { type: 'range', min: '0', step: '0.1', value: '0', 'aria-label': t('clip.in'), class: 'clip-in-range' });
  const outRange = h('input', { type: 'range', min: '0', step: '0.1', value: '0', 'aria-label': t('clip.out'), class: 'clip-out-range' });
  const inNum = h('input', { type: 'number', min: '0', step: '0.1', id: 'clip-in-' + r.id, class: 'clip-in' });
  const outNum = h('input', { type: 'number', min: '0', step: '0.1', id: 'clip-out-' + r.id, class: 'clip-out' });
  const length = h('p', { class: 'muted small clip-length', role: 'status' });
  const shapes = h('fieldset', { class: 'clip-shapes' }, h('legend', {}, t('clip.shape')),
    SHAPES.map((s, i) => h('label', { class: 'clip-shape' },
      h('input', { type: 'radio', name: 'shape-' + r.id, value: s, checked: i === 0 }),
      h('span', { class: 'clip-shape-box', 'data-shape': s, 'aria-hidden': 'true' }),
      t('clip.shape.' + s.replace(':', 'x')))));
  const caption = h('textarea', { id: 'clip-caption-' + r.id, maxlength: '150', rows: '2', class: 'clip-caption', placeholder: t('clip.captionHint') });
  const logoOn = h('input', { type: 'checkbox', id: 'clip-logo-' + r.id, class: 'clip-logo' });
  const logoImg = h('img', { alt: t('clip.logoAlt'), class: 'clip-logo-img', hidden: true });
  const logoFile = h('input', { type: 'file', accept: 'image/png', class: 'clip-logo-file', 'aria-label': t('clip.logoUpload') });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const exportBtn = h('button', { type: 'submit', class: 'btn primary clip-export' }, t('clip.export'));
  const list = h('ul', { class: 'clip-list', 'aria-label': t('clip.list') });

  const get = () => ({ in: parseFloat(inNum.value), out: parseFloat(outNum.value) });
  const show = () => {
    const { in: a, out: b } = get();
    const d = b - a;
    const ok = d >= 1 && d <= MAX + 0.001 && a >= 0 && b <= duration + 0.05;
    setText(length, isFinite(d) ? t(ok ? 'clip.length' : 'clip.lengthBad', secs(d), MAX) : '');
    length.classList.toggle('bad', !ok);
    exportBtn.disabled = !ok;
    if (duration > 0) {
      band.style.left = (100 * a / duration) + '%';
      band.style.width = Math.max(0, 100 * d / duration) + '%';
    }
  };
  const set = (a, b) => {
    a = Math.max(0, Math.min(a, duration));
    b = Math.max(0, Math.min(b, duration));
    inNum.value = inRange.value = secs(a);
    outNum.value = outRange.value = secs(b);
    show();
  };
  inRange.addEventListener('input', () => set(+inRange.value, Math.max(+outNum.value, +inRange.value + 1)));
  outRange.addEventListener('input', () => set(Math.min(+inNum.value, +outRange.value - 1), +outRange.value));
  inNum.addEventListener('input', () => { inRange.value = inNum.value; show(); });
  outNum.addEventListener('input', () => { outRange.value = outNum.value; show(); });

  const loadTimeline = async () => {
    try {
      const d = await api('GET', base(r) + '/timeline?count=12');
      duration = d.duration;
      for (const x of [inRange, outRange, inNum, outNum]) x.max = String(duration);
      strip.replaceChildren(...d.thumbs.map((th) => h('button', {
        type: 'button', class: 'clip-thumb', title: fmtDuration(th.at), 'aria-label': t('clip.startAt', fmtDuration(th.at)),
        onclick: () => set(th.at, Math.min(th.at + 15, duration)),
      }, h('img', { src: th.url, alt: '', loading: 'lazy' }))));
      set(0, Math.min(15, duration));
    } catch (e) {
      setText(error, e.message);
    }
  };

  const showLogo = (has) => {
    logoImg.hidden = !has;
    if (has) logoImg.src = '/api/v1/clips/logo?t=' + Date.now();
    logoOn.disabled = !has;
    if (!has) logoOn.checked = false;
  };
  logoFile.addEventListener('change', async () => {
    const f = logoFile.files[0];
    if (!f) return;
    try {
      await api('PUT', '/clips/logo', f);
      showLogo(true);
      logoOn.checked = true;
      toast(t('clip.logoSaved'));
    } catch (e) {
      toast(e.message, true);
    }
    logoFile.value = '';
  });

  const rowOf = (c) => {
    const li = h('li', { class: 'clip', 'data-clip': c.id });
    li.append(h('span', { class: 'clip-what' }), h('progress', { max: '1', value: '0', 'aria-label': t('clip.progress') }),
      h('span', { class: 'clip-state' }), h('span', { class: 'clip-actions' }));
    return li;
  };
  const update = (li, c) => {
    li.dataset.state = c.state;
    setText(li.querySelector('.clip-what'), `${c.shape} · ${secs(c.in)}–${secs(c.out)} s` + (c.caption ? ' · “' + c.caption + '”' : ''));
    const bar = li.querySelector('progress');
    bar.value = c.progress;
    bar.hidden = c.state !== 'exporting' && c.state !== 'queued';
    let state = t('clip.state.' + c.state);
    if (c.state === 'exporting') state += ' ' + Math.round(c.progress * 100) + ' %';
    if (c.state === 'done') state += ' · ' + c.width + '×' + c.height + ' · ' + fmtBytes(c.size);
    if (c.state === 'failed') state += ' : ' + c.error;
    setText(li.querySelector('.clip-state'), state);
    const actions = li.querySelector('.clip-actions');
    const want = c.state === 'done' ? 'done' : (c.state === 'queued' || c.state === 'exporting') ? 'busy' : 'over';
    if (actions.dataset.kind === want) return;
    actions.dataset.kind = want;
    const del = h('button', { type: 'button', class: 'btn small ghost danger-text', onclick: async () => {
      if (!confirmAction(t('clip.deleteConfirm'))) return;
      try { await api('DELETE', base(r) + '/' + c.id); li.remove(); } catch (e) { toast(e.message, true); }
    } }, t('remove'));
    const cancel = h('button', { type: 'button', class: 'btn small clip-cancel', onclick: async () => {
      try { await api('POST', base(r) + '/' + c.id + '/cancel'); refresh(); } catch (e) { toast(e.message, true); }
    } }, t('clip.cancel'));
    actions.replaceChildren(...(want === 'done'
      ? [h('a', { class: 'btn small clip-download', href: c.url + '?download', download: '' }, t('clip.download')), del]
      : want === 'busy' ? [cancel] : [del]));
  };
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const d = await api('GET', base(r));
      showLogo(d.logo);
      caption.disabled = !d.caption_font;
      const items = d.clips.slice().reverse();
      const have = new Map([...list.children].map((li) => [li.dataset.clip, li]));
      list.replaceChildren(...items.map((c) => {
        const li = have.get(c.id) || rowOf(c);
        update(li, c);
        return li;
      }));
      if (items.some((c) => c.state === 'queued' || c.state === 'exporting')) timer = setTimeout(refresh, 1000);
    } catch (e) {
      setText(error, e.message);
    }
  };

  const form = h('form', { class: 'clip-form' },
    stripBox,
    h('div', { class: 'clip-ranges' }, inRange, outRange),
    h('div', { class: 'clip-points' },
      h('div', { class: 'field' }, h('label', { for: inNum.id }, t('clip.in')), inNum),
      h('div', { class: 'field' }, h('label', { for: outNum.id }, t('clip.out')), outNum),
      length),
    shapes,
    h('div', { class: 'field' }, h('label', { for: caption.id }, t('clip.caption')), caption),
    h('div', { class: 'field check' }, logoOn, h('label', { for: logoOn.id }, t('clip.logo')), logoImg,
      h('label', { class: 'btn small' }, t('clip.logoUpload'), logoFile)),
    error,
    h('div', { class: 'card-actions' }, exportBtn));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    setText(error, '');
    const shape = form.querySelector('input[type=radio]:checked').value;
    try {
      await api('POST', base(r), { ...get(), shape, caption: caption.value, logo: logoOn.checked });
      toast(t('clip.queued'));
      refresh();
    } catch (err) {
      setText(error, err.message);
    }
  });

  const el = h('section', { class: 'card clip-editor', 'aria-labelledby': title.id, 'data-recording': r.id },
    title, h('p', { class: 'muted small' }, t('clip.intro', MAX)), form,
    h('h3', { class: 'small-head' }, t('clip.list')), list);
  loadTimeline();
  refresh();
  return { el, close: () => { clearTimeout(timer); el.remove(); } };
}
