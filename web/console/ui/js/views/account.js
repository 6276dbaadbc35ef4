// Account: the logged-in user changes their own password (every other session ends).
import { t } from '../i18n.js';
import { h, api, session, toast } from '../core.js';

export const name = 'account';

export function render(root) {
  const cur = h('input', { id: 'pw-current', type: 'password', required: true, autocomplete: 'current-password' });
  const nw = h('input', { id: 'pw-new', type: 'password', required: true, minlength: '12', autocomplete: 'new-password' });
  const err = h('p', { class: 'form-error', role: 'alert' });
  const form = h('form', { class: 'card login-card', id: 'change-password' },
    h('h2', {}, t('acc.password')),
    h('label', { for: 'pw-current' }, t('acc.current')), cur,
    h('label', { for: 'pw-new' }, t('adm.password')), nw, err,
    h('button', { type: 'submit', class: 'btn primary' }, t('acc.change')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    try {
      await api('POST', '/me/password', { current: cur.value, new: nw.value });
      cur.value = ''; nw.value = '';
      toast(t('acc.changed'));
    } catch (ex) { err.textContent = ex.message; }
  });
  root.append(h('div', { class: 'page-head' }, h('h1', {}, t('acc.title', session.user.name))), form);
  return () => { cur.value = ''; nw.value = ''; };
}
