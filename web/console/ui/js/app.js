// The console's entry: the header (navigation, language, user), the connection banner, the
// hash router (#/streams/concert: the server needs no per-page route) and the login gate.
import { t, lang, setLang } from './i18n.js';
import { h, api, session, setUnauthorizedHandler, connectLive, disconnectLive, onLive, live } from './core.js';
import * as loginView from './views/login.js';
import * as dashboardView from './views/dashboard.js';
import * as streamView from './views/stream.js';
import * as goliveView from './views/golive.js';
import * as recordingsView from './views/recordings.js';
import * as adminView from './views/admin.js';
import * as accountView from './views/account.js';
import * as firstPasswordView from './views/firstpassword.js';
import * as reportView from './views/report.js';

const main = document.getElementById('main');
const header = document.getElementById('header');
const banner = document.getElementById('banner');
let cleanup = null;

// route maps the hash to a view and its parameters.
function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (!session.user) return [loginView, {}];
  if (session.user.must_change_password) return [firstPasswordView, {}];
  if (parts[0] === 'streams' && parts[1] && parts[2] === 'go-live') return [goliveView, { name: parts[1] }];
  if (parts[0] === 'streams' && parts[1] && parts[2] === 'report') return [reportView, { name: parts[1], event: parts[3] }];
  if (parts[0] === 'streams' && parts[1]) return [streamView, { name: parts[1] }];
  if (parts[0] === 'recordings') return [recordingsView, {}];
  if (parts[0] === 'admin' && session.user.role === 'admin') return [adminView, {}];
  if (parts[0] === 'account') return [accountView, {}];
  return [dashboardView, {}];
}

function render() {
  if (cleanup) {
    try { cleanup(); } catch (e) { console.error(e); }
    cleanup = null;
  }
  main.replaceChildren();
  renderHeader();
  const [view, params] = route();
  document.body.dataset.view = view.name;
  cleanup = view.render(main, params) || null;
  // Move focus to the new page's heading so keyboard and screen-reader users follow.
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
    document.title = h1.textContent + ' · Beffroi';
  }
}

function navLink(href, label, active) {
  return h('a', { href, class: 'nav-link', 'aria-current': active ? 'page' : null }, label);
}

function renderHeader() {
  const hash = location.hash || '#/';
  document.querySelector('.skip').textContent = t('skip');
  const langSel = h('select', { id: 'lang', 'aria-label': t('language') },
    h('option', { value: 'fr', selected: lang() === 'fr' }, 'Français'),
    h('option', { value: 'en', selected: lang() === 'en' }, 'English'));
  langSel.addEventListener('change', () => { setLang(langSel.value); render(); });
  const nav = [];
  const ready = session.user && !session.user.must_change_password;
  if (ready) {
    nav.push(navLink('#/', t('nav.streams'), hash === '#/' || hash.startsWith('#/streams')));
    nav.push(navLink('#/recordings', t('nav.recordings'), hash.startsWith('#/recordings')));
    if (session.user.role === 'admin') nav.push(navLink('#/admin', t('nav.admin'), hash.startsWith('#/admin')));
  }
  header.replaceChildren(
    h('a', { href: '#/', class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Beffroi'),
    h('nav', { 'aria-label': t('nav.main') }, nav),
    h('div', { class: 'header-end' },
      langSel,
      ready ? h('a', { class: 'whoami', href: '#/account', title: t('acc.link') }, session.user.name, ' · ', t('role.' + session.user.role)) : null,
      session.user ? h('button', { type: 'button', class: 'btn small ghost', id: 'logout', onclick: logout }, t('logout')) : null));
}

function updateBanner() {
  const lost = session.user && live.everConnected && !live.connected;
  banner.hidden = !lost;
  // What the page shows is as of the connection's loss: greyed until it is back.
  document.body.classList.toggle('stale', !!lost);
  banner.textContent = lost ? t('banner.lost') : '';
}

async function logout() {
  try { await api('POST', '/logout'); } catch { /* the session is gone anyway */ }
  session.user = null;
  session.csrf = '';
  firstPasswordView.forget();
  disconnectLive();
  live.everConnected = false;
  updateBanner();
  location.hash = '#/login';
  render();
}

// loggedIn is called by the login view (with the password typed) and at start when a
// session exists. A session that must choose a new password gets only that screen: the
// live updates wait until it is done.
export function loggedIn(me, typed) {
  session.user = { ...me.user, must_change_password: !!(me.must_change_password || me.user.must_change_password) };
  session.csrf = me.csrf_token || '';
  if (session.user.must_change_password) {
    firstPasswordView.remember(typed);
  } else {
    connectLive();
  }
  if (location.hash.startsWith('#/login') || !location.hash) location.hash = '#/';
  render();
}

// passwordChosen: the first password is set; this session goes on, unrestricted.
function passwordChosen() {
  session.user = { ...session.user, must_change_password: false };
  connectLive();
  location.hash = '#/';
  render();
}

setUnauthorizedHandler(() => {
  if (!session.user) return;
  session.user = null;
  session.csrf = '';
  firstPasswordView.forget();
  disconnectLive();
  updateBanner();
  render();
});

onLive(updateBanner);
// The skip link moves the focus without touching the hash (the router's).
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  const target = main.querySelector('h1') || main;
  target.tabIndex = -1;
  target.focus();
});
window.addEventListener('hashchange', render);
document.documentElement.lang = lang();

async function start() {
  try {
    const me = await api('GET', '/me');
    loggedIn(me);
  } catch {
    render();
  }
}

// For the end-to-end tests: a view of the state that holds no secret.
window.beffroiConsole = { live, session: { get user() { return session.user; } } };
loginView.setLoggedIn(loggedIn);
firstPasswordView.setChanged(passwordChosen);
start();
