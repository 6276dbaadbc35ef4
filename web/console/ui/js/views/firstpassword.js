// First login: a password nobody chose (the one-time password of the first start) opens a
// session that may only choose a new one. The password typed at login is kept in memory
// until then, so the new password is all that is asked; after a reload it is asked again.
import { t } from '../i18n.js';
import { h, api } from '../core.js';

export const name = 'first-password';
let current = '';
let done = () => {};

// remember keeps the password the user just logged in with (memory only, until changed).
export function remember(pw) { current = pw || ''; }
export function forget() { current = ''; }
export function setChanged(f) { done = f; }

export function render(root) {
  const err = h('p', { class: 'form-error', role: 'alert', id: 'first-error' });
  const cur = current ? null : h('input', { id: 'first-current', type: 'password', required: true, autocomplete: 'current-password' });
  const nw = h('input', { id: 'first-new', type: 'password', required: true, minlength: '10', maxlength: '1024', autocomplete: 'new-password' });
  const again = h('input', { id: 'first-again', type: 'password', required: true, minlength: '10', maxlength: '1024', autocomplete: 'new-password' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'first-submit' }, t('first.submit'));
  const form = h('form', { class: 'card login-card', id: 'first-password', 'aria-labelledby': 'first-title' },
    h('h1', { id: 'first-title' }, t('first.title')),
    h('p', { class: 'muted' }, t('first.intro')),
    cur ? [h('label', { for: 'first-current' }, t('first.current')), cur] : null,
    h('label', { for: 'first-new' }, t('first.new')), nw,
    h('label', { for: 'first-again' }, t('first.again')), again,
    err, submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (nw.value !== again.value) {
      err.textContent = t('first.mismatch');
      again.select();
      return;
    }
    submit.disabled = true;
    try {
      await api('POST', '/me/password', { current: cur ? cur.value : current, new: nw.value });
      forget();
      nw.value = ''; again.value = '';
      done();
    } catch (ex) {
      err.textContent = ex.status === 403 && cur ? t('first.wrong') : ex.message;
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h('div', { class: 'login-wrap' }, form));
  setTimeout(() => (cur || nw).focus(), 0);
  return () => { nw.value = ''; again.value = ''; if (cur) cur.value = ''; };
}
