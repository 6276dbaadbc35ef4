// Users and tokens (admin): accounts with roles, password resets, API tokens (the value
// shown once) and the audit log.
import { t } from '../i18n.js';
import { h, api, session, fmtDateTime, toast, confirmAction, copyButton } from '../core.js';

export const name = 'admin';

export function render(root) {
  const users = h('tbody', { id: 'users' });
  const tokens = h('tbody', { id: 'tokens' });
  const audit = h('tbody', { id: 'audit' });
  const tokenShown = h('div', { id: 'token-value' });

  const loadUsers = async () => {
    const d = await api('GET', '/users');
    users.replaceChildren(...d.users.map((u) => {
      const reset = h('button', { type: 'button', class: 'btn small', 'aria-label': t('adm.resetOf', u.name) }, t('adm.reset'));
      reset.addEventListener('click', async () => {
        const pw = window.prompt(t('adm.resetPrompt', u.name));
        if (!pw) return;
        try { await api('PATCH', '/users/' + u.id, { password: pw }); toast(t('adm.resetDone', u.name)); } catch (e) { toast(e.message, true); }
      });
      const role = h('select', { 'aria-label': t('adm.roleOf', u.name) },
        h('option', { value: 'operator', selected: u.role === 'operator' }, t('role.operator')),
        h('option', { value: 'admin', selected: u.role === 'admin' }, t('role.admin')));
      role.addEventListener('change', async () => {
        try { await api('PATCH', '/users/' + u.id, { role: role.value }); toast(t('adm.saved')); } catch (e) { toast(e.message, true); role.value = u.role; }
      });
      const del = h('button', { type: 'button', class: 'btn small ghost danger-text', 'aria-label': t('adm.deleteOf', u.name), disabled: u.id === session.user.id }, t('remove'));
      del.addEventListener('click', async () => {
        if (!confirmAction(t('adm.deleteConfirm', u.name))) return;
        try { await api('DELETE', '/users/' + u.id); loadUsers(); } catch (e) { toast(e.message, true); }
      });
      return h('tr', { 'data-user': u.name }, h('td', {}, u.name), h('td', {}, role), h('td', {}, fmtDateTime(u.created)), h('td', { class: 'actions' }, reset, del));
    }));
  };
  const loadTokens = async () => {
    const d = await api('GET', '/tokens');
    tokens.replaceChildren(...d.tokens.map((tk) => {
      const del = h('button', { type: 'button', class: 'btn small ghost danger-text', 'aria-label': t('adm.deleteOf', tk.name) }, t('remove'));
      del.addEventListener('click', async () => {
        if (!confirmAction(t('adm.tokenDeleteConfirm', tk.name))) return;
        try { await api('DELETE', '/tokens/' + tk.id); loadTokens(); } catch (e) { toast(e.message, true); }
      });
      return h('tr', {}, h('td', {}, tk.name), h('td', {}, fmtDateTime(tk.created)), h('td', {}, tk.last_used ? fmtDateTime(tk.last_used) : '—'), h('td', { class: 'actions' }, del));
    }));
  };
  const loadAudit = async () => {
    const d = await api('GET', '/audit?limit=100');
    audit.replaceChildren(...d.audit.map((e) => h('tr', {},
      h('td', {}, fmtDateTime(e.time)), h('td', {}, e.user), h('td', {}, h('code', {}, e.action)), h('td', {}, e.target), h('td', {}, e.detail || ''))));
  };

  const uName = h('input', { id: 'user-name', required: true, autocomplete: 'off' });
  const uRole = h('select', { id: 'user-role' }, h('option', { value: 'operator' }, t('role.operator')), h('option', { value: 'admin' }, t('role.admin')));
  const uPw = h('input', { id: 'user-password', type: 'password', required: true, minlength: '12', autocomplete: 'new-password' });
  const uErr = h('p', { class: 'form-error', role: 'alert' });
  const userForm = h('form', { class: 'inline-form', id: 'create-user' },
    h('label', { for: 'user-name' }, t('adm.name')), uName,
    h('label', { for: 'user-role' }, t('adm.role')), uRole,
    h('label', { for: 'user-password' }, t('adm.password')), uPw,
    h('button', { type: 'submit', class: 'btn primary' }, t('adm.create')), uErr);
  userForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    uErr.textContent = '';
    try {
      await api('POST', '/users', { name: uName.value.trim(), role: uRole.value, password: uPw.value });
      uName.value = ''; uPw.value = '';
      loadUsers(); loadAudit();
    } catch (ex) { uErr.textContent = ex.message; }
  });

  const tName = h('input', { id: 'token-name', required: true, autocomplete: 'off', placeholder: t('adm.tokenPlaceholder') });
  const tErr = h('p', { class: 'form-error', role: 'alert' });
  const tokenForm = h('form', { class: 'inline-form', id: 'create-token' },
    h('label', { for: 'token-name' }, t('adm.tokenName')), tName,
    h('button', { type: 'submit', class: 'btn primary' }, t('adm.tokenCreate')), tErr);
  tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    tErr.textContent = '';
    try {
      const d = await api('POST', '/tokens', { name: tName.value.trim() });
      tName.value = '';
      const input = h('input', { id: 'token-secret', readonly: true, value: d.value, class: 'mono' });
      tokenShown.replaceChildren(h('div', { class: 'notice warn', role: 'status' },
        h('p', {}, t('adm.tokenOnce')), h('div', { class: 'url-field' }, input, copyButton(() => input.value)),
        h('button', { type: 'button', class: 'btn small', onclick: () => tokenShown.replaceChildren() }, t('go.hide'))));
      loadTokens(); loadAudit();
    } catch (ex) { tErr.textContent = ex.message; }
  });

  const table = (id, heads, body) => h('div', { class: 'table-wrap' }, h('table', { 'aria-labelledby': id },
    h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col' }, x)))), body));
  root.append(
    h('div', { class: 'page-head' }, h('h1', {}, t('adm.title'))),
    h('section', { class: 'card', 'aria-labelledby': 'users-head' }, h('h2', { id: 'users-head' }, t('adm.users')),
      table('users-head', [t('adm.name'), t('adm.role'), t('adm.created'), ''], users), userForm),
    h('section', { class: 'card', 'aria-labelledby': 'tokens-head' }, h('h2', { id: 'tokens-head' }, t('adm.tokens')),
      h('p', { class: 'muted small' }, t('adm.tokensHelp')),
      table('tokens-head', [t('adm.tokenName'), t('adm.created'), t('adm.lastUsed'), ''], tokens), tokenForm, tokenShown),
    h('section', { class: 'card', 'aria-labelledby': 'audit-head' }, h('h2', { id: 'audit-head' }, t('adm.audit')),
      table('audit-head', [t('adm.when'), t('adm.who'), t('adm.action'), t('adm.target'), t('adm.detail')], audit)));
  Promise.all([loadUsers(), loadTokens(), loadAudit()]).catch((e) => toast(e.message, true));
  // The token's value leaves the DOM with the page.
  return () => tokenShown.replaceChildren();
}
