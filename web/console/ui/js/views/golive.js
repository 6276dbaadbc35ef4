// Go-live: the addresses a publisher uses (OBS, Larix, ffmpeg, SRT, RTSP, WHIP) and a QR code
// of the phone's go-live page. Publish keys are write-only: they are shown right after a
// stream is made or its key is rotated, and forgotten when the operator leaves this page.
import qrcode from '/assets/vendor/qrcode-generator-2.0.4.mjs';
import { t } from '../i18n.js';
import { h, api, copyButton, confirmAction, streamByName, toast } from '../core.js';

export const name = 'golive';
const MASK = '••••••••';

// revealed is the answer of the last create or rotate-key: it holds the key, in memory only.
let revealed = null;

// reveal keeps a create/rotate answer for the go-live page, and remembers its addresses with
// the key masked (those are no secret) so that the page can show them later.
export function reveal(made) {
  revealed = made;
  try {
    localStorage.setItem('beffroi.urls.' + made.name, JSON.stringify(mask(made.publish || {}, made.publish_key)));
  } catch { /* private mode */ }
}

function mask(urls, key) {
  const out = {};
  for (const [k, v] of Object.entries(urls)) {
    out[k] = v.split(encodeURIComponent(key)).join(MASK).split(key).join(MASK);
  }
  return out;
}

// maskedURLs are the stream's addresses without its key: as remembered, else as Beffroi's
// defaults would make them on this host.
function maskedURLs(stream) {
  try {
    const m = JSON.parse(localStorage.getItem('beffroi.urls.' + stream) || 'null');
    if (m) return m;
  } catch { /* none */ }
  const host = location.hostname;
  return {
    obs_server: `rtmp://${host}:1935/live`,
    rtmp: `rtmp://${host}:1935/live/${MASK}`,
    srt: `srt://${host}:8890?streamid=publish:${stream}:${MASK}`,
    rtsp: `rtsp://${host}:8554/${stream}?key=${MASK}`,
    whip: `${location.origin}/whip/${stream}`,
    go_live: `${location.origin}/go-live/${stream}#key=${MASK}`,
  };
}

function row(id, label, value, help, secret) {
  const input = h('input', { id: 'url-' + id, readonly: true, value, class: 'mono' + (secret ? ' secret' : ''), spellcheck: 'false' });
  return h('div', { class: 'url-row', 'data-url': id },
    h('label', { for: 'url-' + id }, label),
    h('div', { class: 'url-field' }, input, secret ? copyButton(() => input.value, t('copy') + ' — ' + label) : null),
    help ? h('p', { class: 'muted small' }, help) : null);
}

function drawQR(canvas, text) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const margin = 4;
  const scale = Math.max(2, Math.floor(240 / (n + 2 * margin)));
  canvas.width = canvas.height = (n + 2 * margin) * scale;
  const g = canvas.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, canvas.width, canvas.height);
  g.fillStyle = '#000';
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (qr.isDark(r, c)) g.fillRect((c + margin) * scale, (r + margin) * scale, scale, scale);
    }
  }
}

export function render(root, { name: stream }) {
  if (revealed && revealed.name !== stream) revealed = null;
  const body = h('div', {});
  const st = streamByName(stream);
  root.append(
    h('nav', { class: 'crumbs', 'aria-label': t('crumbs') }, h('a', { href: '#/' }, t('nav.streams')), ' / ',
      h('a', { href: '#/streams/' + encodeURIComponent(stream) }, stream), ' / ', t('go.crumb')),
    h('div', { class: 'page-head' }, h('h1', {}, t('go.title', stream))),
    body);

  const draw = () => {
    const shown = revealed && revealed.name === stream ? revealed : null;
    const key = shown ? shown.publish_key : MASK;
    const u = shown ? shown.publish || {} : maskedURLs(stream);
    const rows = [];
    rows.push(row('obs_server', t('go.obsServer'), u.obs_server || '', t('go.obsHelp'), false));
    rows.push(row('key', t('go.key'), key, '', !!shown));
    if (u.rtmp) rows.push(row('rtmp', t('go.rtmp'), u.rtmp, t('go.rtmpHelp'), !!shown));
    if (u.rtmps) rows.push(row('rtmps', t('go.rtmps'), u.rtmps, '', !!shown));
    if (u.srt) rows.push(row('srt', t('go.srt'), u.srt, t('go.srtHelp'), !!shown));
    if (u.rtsp) rows.push(row('rtsp', t('go.rtsp'), u.rtsp, '', !!shown));
    if (u.whip) rows.push(row('whip', t('go.whip'), u.whip, t('go.whipHelp'), false));
    const phone = h('section', { class: 'card phone', 'aria-labelledby': 'phone-head' },
      h('h2', { id: 'phone-head' }, t('go.phone')));
    if (shown && u.go_live) {
      const canvas = h('canvas', { id: 'qr', role: 'img', 'aria-label': t('go.qrLabel', stream) });
      drawQR(canvas, u.go_live);
      phone.append(h('p', {}, t('go.phoneHelp')), canvas, row('go_live', t('go.link'), u.go_live, '', true),
        h('p', {}, h('a', { href: u.go_live, target: '_blank', rel: 'noopener noreferrer' }, t('go.open'))));
    } else {
      phone.append(h('p', { class: 'muted' }, t('go.phoneMasked')));
    }
    const rotate = h('button', { type: 'button', class: 'btn danger', id: 'rotate-key' }, t('go.newKey'));
    rotate.addEventListener('click', async () => {
      if (!confirmAction(t('go.newKeyConfirm', stream))) return;
      try {
        reveal(await api('POST', '/streams/' + encodeURIComponent(stream) + '/rotate-key'));
        draw();
        toast(t('go.rotated'));
      } catch (e) {
        toast(e.message, true);
      }
    });
    const hide = shown ? h('button', { type: 'button', class: 'btn', id: 'hide-key', onclick: () => { revealed = null; draw(); } }, t('go.hide')) : null;
    body.replaceChildren(
      shown
        ? h('p', { class: 'notice warn', role: 'status', id: 'key-notice' }, t('go.shownOnce'))
        : h('p', { class: 'notice', id: 'key-notice' }, st && st.managed ? t('go.managedKey') : t('go.masked')),
      h('div', { class: 'golive-grid' },
        h('section', { class: 'card', 'aria-labelledby': 'enc-head' }, h('h2', { id: 'enc-head' }, t('go.encoders')), rows,
          h('div', { class: 'card-actions' }, rotate, hide)),
        phone));
    if (st && st.managed) rotate.disabled = true;
  };
  draw();
  // Leaving the page forgets the key: it is no longer in memory nor in the DOM.
  return () => {
    revealed = null;
    body.replaceChildren();
  };
}
