// The console's plumbing: a tiny DOM builder, the API client (session cookie + CSRF token),
// the live state fed by the events websocket, and formatters.
import { t, lang } from './i18n.js';

// h builds an element. attrs: class, text, on<event> handlers, and any attribute (aria-*,
// data-*, type, ...); value, checked, disabled and hidden are set as properties. Children are
// nodes or strings (always text, never HTML).
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (['value', 'checked', 'disabled', 'hidden', 'selected'].includes(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// setText changes a node's text only when it differs (no needless layout, no lost selection).
export function setText(el, s) {
  s = s == null ? '' : String(s);
  if (el.textContent !== s) el.textContent = s;
}

// syncList keeps container's children in the order of items, one per key: make(item) builds
// a new child, update(child, item) refreshes one. Children stay (and keep focus) across updates.
export function syncList(container, items, key, make, update) {
  const have = new Map();
  for (const c of [...container.children]) {
    if (c.dataset.key !== undefined) have.set(c.dataset.key, c);
  }
  let prev = null;
  for (const it of items) {
    const k = String(key(it));
    let el = have.get(k);
    if (el) have.delete(k);
    else {
      el = make(it);
      el.dataset.key = k;
    }
    update(el, it);
    const want = prev ? prev.nextSibling : container.firstChild;
    if (want !== el) container.insertBefore(el, want);
    prev = el;
  }
  for (const el of have.values()) el.remove();
}

// The logged-in user and the session's CSRF token (kept in memory only).
export const session = { user: null, csrf: '' };

// APIError is an answer other than 2xx, with the server's message for people.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// api calls /api/v1 with the session cookie; state-changing requests carry the CSRF token.
export async function api(method, path, body) {
  const opt = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body instanceof Blob) { // a file upload goes as it is
    opt.headers['Content-Type'] = body.type || 'application/octet-stream';
    opt.body = body;
  } else if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  if (method !== 'GET' && session.csrf) opt.headers['X-CSRF-Token'] = session.csrf;
  let res;
  try {
    res = await fetch('/api/v1' + path, opt);
  } catch (e) {
    throw new APIError(0, t('err.network'));
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = JSON.parse(text); } catch { /* not JSON */ }
  if (!res.ok) {
    if (res.status === 401 && path !== '/login') onUnauthorized();
    throw new APIError(res.status, (data && data.error) || text.trim() || res.statusText);
  }
  return data;
}

// features remembers the routes of parts not on this server (404): asked once, then hidden.
export const features = { audience: true, recordings: true };

// live is what the events websocket tells: every stream and the recent events.
export const live = {
  streams: [], events: [], connected: false, everConnected: false, updates: 0,
  history: new Map(), // stream -> [{t, bps}] bitrate samples, newest last
  listeners: new Set(),
};
const HISTORY = 60;

export function onLive(f) {
  live.listeners.add(f);
  return () => live.listeners.delete(f);
}
function notify(what) {
  for (const f of [...live.listeners]) {
    try { f(what); } catch (e) { console.error(e); }
  }
}

export function streamByName(name) { return live.streams.find((s) => s.name === name); }

// bitrateOf is a stream's incoming bitrate: the sum of its tracks'.
export function bitrateOf(s) { return (s.tracks || []).reduce((n, tr) => n + (tr.bitrate || 0), 0); }

function takeStreams(list, at) {
  live.streams = list || [];
  for (const s of live.streams) {
    const hist = live.history.get(s.name) || [];
    hist.push({ t: at, bps: s.live ? bitrateOf(s) : 0 });
    while (hist.length > HISTORY) hist.shift();
    live.history.set(s.name, hist);
  }
  for (const name of [...live.history.keys()]) {
    if (!live.streams.some((s) => s.name === name)) live.history.delete(name);
  }
}

let ws = null;
let wsTimer = null;
let wsDelay = 1000;
let wsWanted = false;

// connectLive opens the websocket and keeps it open: on a close it tries again with
// backoff (1 s doubling to 15 s), and the banner says the connection is lost meanwhile.
export function connectLive() {
  wsWanted = true;
  if (ws) return;
  clearTimeout(wsTimer);
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/events';
  const sock = new WebSocket(url);
  ws = sock;
  sock.onopen = () => {
    wsDelay = 1000;
  };
  sock.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    const at = Date.parse(msg.time) || Date.now();
    if (msg.type === 'hello') {
      live.connected = true;
      live.everConnected = true;
      live.events = msg.events || [];
      takeStreams(msg.streams, at);
      notify('hello');
    } else if (msg.type === 'stats') {
      live.updates++;
      takeStreams(msg.streams, at);
      notify('stats');
    } else if (msg.type === 'event') {
      live.events.push(...(msg.events || []));
      if (live.events.length > 500) live.events.splice(0, live.events.length - 500);
      notify('event');
    }
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    const was = live.connected;
    live.connected = false;
    if (was) notify('connection');
    if (!wsWanted) return;
    wsTimer = setTimeout(async () => {
      // A closed socket may be a session that ended: ask before trying again.
      try { await api('GET', '/me'); } catch (e) { if (e.status === 401) return; }
      connectLive();
    }, wsDelay);
    wsDelay = Math.min(wsDelay * 2, 15000);
    notify('connection');
  };
}

export function disconnectLive() {
  wsWanted = false;
  clearTimeout(wsTimer);
  if (ws) {
    const s = ws;
    ws = null;
    s.close();
  }
  live.connected = false;
  live.streams = [];
  live.events = [];
}

// refreshStreams reads the list once over HTTP (after a change, before the next stats).
export async function refreshStreams() {
  const d = await api('GET', '/streams');
  takeStreams(d.streams, Date.now());
  notify('stats');
}

// Formatters.
// num writes a number the way the console's language does (2,5 in French).
export function num(x, digits = 0) {
  return Number(x).toLocaleString(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export function fmtBitrate(bps) {
  if (!bps) return '0 kbit/s';
  if (bps >= 1e6) return num(bps / 1e6, bps >= 1e7 ? 0 : 1) + ' Mbit/s';
  return num(Math.round(bps / 1e3)) + ' kbit/s';
}
export function fmtBytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? num(n, n >= 100 ? 0 : 1) : n) + ' ' + u[i];
}
export function fmtDuration(s) {
  s = Math.max(0, Math.round(s || 0));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const p = (x) => String(x).padStart(2, '0');
  return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${mm}:${p(ss)}`;
}
// locale is the browser's own when it is of the console's language (fr-CA, en-GB), for
// its date and time habits.
function locale() {
  const n = navigator.language || '';
  return n.toLowerCase().startsWith(lang()) ? n : lang();
}
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleTimeString(locale(), { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}
export function fmtDateTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
}

// videoTrack and audioTrack pick a stream's tracks.
export const videoTrack = (s) => (s.tracks || []).find((x) => x.kind === 'video');
export const audioTrack = (s) => (s.tracks || []).find((x) => x.kind === 'audio');

// confirmAction asks before something that cannot be undone.
export function confirmAction(message) { return window.confirm(message); }

// copyButton copies what get() returns and says so.
export function copyButton(get, label) {
  const b = h('button', { type: 'button', class: 'btn small', 'aria-label': label || t('copy') }, t('copy'));
  b.addEventListener('click', async () => {
    const v = typeof get === 'function' ? get() : get;
    try {
      await navigator.clipboard.writeText(v);
    } catch {
      // Plain http on another host: no clipboard API. Select the text for Ctrl+C instead.
      const input = b.parentElement && b.parentElement.querySelector('input,code');
      if (input && input.select) input.select();
    }
    b.textContent = t('copied');
    setTimeout(() => { b.textContent = t('copy'); }, 1500);
  });
  return b;
}

// stateChip is a coloured state with its words (colour is never the only sign).
export function stateChip(state, cls = '') {
  return h('span', { class: `chip state-${state} ${cls}`, 'data-state': state }, t('state.' + state));
}
export function updateChip(el, state) {
  if (el.dataset.state !== state) {
    el.dataset.state = state;
    el.className = el.className.replace(/state-\S+/, 'state-' + state);
    el.textContent = t('state.' + state);
  }
}

// toast shows a short message (errors in red) in the live region.
export function toast(msg, error = false) {
  const box = document.getElementById('toasts');
  const el = h('div', { class: 'toast' + (error ? ' error' : ''), role: error ? 'alert' : 'status' }, msg);
  box.append(el);
  setTimeout(() => el.remove(), error ? 8000 : 4000);
}
