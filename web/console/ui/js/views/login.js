// Login: the first screen.
import { t } from '../i18n.js';
import { h, api } from '../core.js';

export const name = 'login';
let done = () => {};
export function setLoggedIn(f) { done = f; }

export function render(root) {
  const err = h('p', { class: 'form-error', role: 'alert', id: 'login-error' });
  const user = h('input', { id: 'login-name', name: 'username', autocomplete: 'username', required: true, maxlength: '64', value: 'admin' });
  const pw = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, maxlength: '1024' });
  const submit = h('button', { type: 'submit', class: 'btn primary', id: 'login-submit' }, t('login.submit'));
  const form = h('form', { class: 'card login-card', 'aria-labelledby': 'login-title' },
    h('h1', { id: 'login-title' }, t('login.title')),
    h('p', { class: 'muted' }, t('login.intro')),
    h('label', { for: 'login-name' }, t('login.name')), user,
    h('label', { for: 'login-password' }, t('login.password')), pw,
    err, submit,
    h('p', { class: 'muted small' }, t('login.first')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    submit.disabled = true;
    try {
      const me = await api('POST', '/login', { name: user.value.trim(), password: pw.value });
      const typed = pw.value;
      pw.value = '';
      done(me, typed);
    } catch (ex) {
      err.textContent = ex.status === 401 ? t('login.wrong') : ex.status === 429 ? t('login.limited') + ' ' + ex.message
        : ex.status === 503 ? t('login.busy') : ex.status === 400 ? t('login.format') : ex.message;
      pw.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.append(h('div', { class: 'login-wrap' }, form));
  setTimeout(() => (user.value ? pw : user).focus(), 0);
  return () => { pw.value = ''; };
}
