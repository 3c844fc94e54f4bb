// The Admin view: users and roles, API keys (shown once, revoke), webhooks with their delivery log and redelivery,
// and the audit log with filters. Each part loads only for a role that may use it.
import { api, describeError } from './api.js';
import { auth, can } from './auth.js';
import { $, el, notice, replace, row, table, when } from './dom.js';

const ROLES = ['user', 'operator', 'admin'];

function button(label, onClick, attributes = {}) {
  const node = el('button', { type: 'button', class: 'ghost', ...attributes }, label);
  node.addEventListener('click', async () => {
    node.disabled = true;
    try { await onClick(); } finally { node.disabled = false; }
  });
  return node;
}

function reportTo(id) {
  return (error) => notice($(id), describeError(error), 'error');
}

// --- users -------------------------------------------------------------------------------------------

async function loadUsers() {
  const headers = ['User', 'Role', 'Active', 'Last login', ''];
  const users = await api.get('/api/users');
  const rows = users.map((u) => {
    const role = el('select', { 'aria-label': `Role of ${u.username}`, disabled: u.username === auth.user.username },
      ROLES.map((r) => el('option', { value: r, selected: r === u.role }, r)));
    role.addEventListener('change', () => api.put(`/api/users/${u.id}`, { role: role.value })
      .then(() => notice($('#user-notice'), `${u.username} is now ${role.value}.`, 'ok'))
      .catch((e) => { role.value = u.role; reportTo('#user-notice')(e); }));
    const active = el('input', { type: 'checkbox', checked: u.is_active, 'aria-label': `${u.username} may log in`,
      disabled: u.username === auth.user.username });
    active.addEventListener('change', () => api.put(`/api/users/${u.id}`, { is_active: active.checked })
      .catch((e) => { active.checked = !active.checked; reportTo('#user-notice')(e); }));
    const remove = u.username === auth.user.username ? '' : button('Delete', async () => {
      if (!window.confirm(`Delete user ${u.username}?`)) return;
      await api.del(`/api/users/${u.id}`).then(loadUsers).catch(reportTo('#user-notice'));
    }, { class: 'danger', 'aria-label': `Delete user ${u.username}` });
    return row(headers, [u.username, role, active, when(u.last_login_at), remove]);
  });
  replace($('#users-table'), table(headers, rows));
}

function userForm() {
  const form = $('#user-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = $('#user-notice');
    if (form.password.value.length < 10) {
      notice(message, 'The password needs at least 10 characters.', 'error');
      form.password.focus();
      return;
    }
    try {
      await api.post('/api/users', { username: form.username.value.trim(), password: form.password.value,
        role: form.role.value });
      notice(message, `User ${form.username.value.trim()} added.`, 'ok');
      form.reset();
      await loadUsers();
    } catch (error) { reportTo('#user-notice')(error); }
  });
}

// --- API keys ------------------------------------------------------------------------------------------

async function loadKeys() {
  const headers = ['Name', 'Prefix', 'Role', 'Last used', 'State', ''];
  const keys = await api.get('/api/keys');
  const rows = keys.map((k) => row(headers, [k.name, el('code', {}, k.prefix), k.role, when(k.last_used_at),
    k.revoked_at ? `revoked ${when(k.revoked_at)}` : 'active',
    k.revoked_at ? '' : button('Revoke', async () => {
      if (!window.confirm(`Revoke key ${k.name}? Callers using it are refused at once.`)) return;
      await api.del(`/api/keys/${k.id}`).then(loadKeys).catch(reportTo('#key-notice'));
    }, { class: 'danger', 'aria-label': `Revoke key ${k.name}` })]));
  replace($('#keys-table'), table(headers, rows));
}

function keyForm() {
  const form = $('#key-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const created = await api.post('/api/keys', { name: form.name.value.trim(), role: form.role.value });
      $('#key-once-value').value = created.key;
      $('#key-once').hidden = false;
      $('#key-once-value').select();
      notice($('#key-notice'), `Key ${created.name} created.`, 'ok');
      form.reset();
      await loadKeys();
    } catch (error) { reportTo('#key-notice')(error); }
  });
  $('#key-once-close').addEventListener('click', () => { $('#key-once-value').value = ''; $('#key-once').hidden = true; });
}

// --- webhooks --------------------------------------------------------------------------------------------

async function loadDeliveries(webhook) {
  const headers = ['Event', 'Status', 'Attempts', 'Last answer', 'Created', ''];
  const page = await api.get(`/api/webhooks/${webhook.id}/deliveries`, { per_page: 50 });
  const rows = page.items.map((d) => row(headers, [d.event, d.status, String(d.attempts),
    d.last_status_code ? `HTTP ${d.last_status_code}` : d.last_error || '—', when(d.created_at),
    ['failed', 'exhausted', 'delivered'].includes(d.status) ? button('Redeliver', async () => {
      await api.post(`/api/webhooks/deliveries/${d.id}/redeliver`).then(() => loadDeliveries(webhook))
        .catch(reportTo('#webhook-notice'));
    }, { 'aria-label': `Redeliver delivery ${d.id}` }) : '']));
  $('#deliveries-title').textContent = `Delivery log of ${webhook.url}`;
  replace($('#deliveries-table'), table(headers, rows, { empty: 'No deliveries yet.' }));
}

async function loadWebhooks() {
  const headers = ['URL', 'Events', 'Active', ''];
  const hooks = await api.get('/api/webhooks');
  const rows = hooks.map((w) => row(headers, [w.url, Array.isArray(w.events) ? w.events.join(', ') : w.events,
    w.is_active ? 'yes' : 'no', el('div', { class: 'actions' },
      button('Deliveries', () => loadDeliveries(w).catch(reportTo('#webhook-notice')),
        { 'aria-label': `Deliveries of ${w.url}` }),
      button('Redeliver exhausted', async () => {
        try {
          const done = await api.post(`/api/webhooks/${w.id}/redeliver?status=exhausted`);
          notice($('#webhook-notice'), `${done.count} delivery(ies) queued again.`, 'ok');
        } catch (error) { reportTo('#webhook-notice')(error); }
      }, { 'aria-label': `Redeliver exhausted deliveries of ${w.url}` }),
      button('Delete', async () => {
        if (!window.confirm(`Delete the webhook to ${w.url}?`)) return;
        await api.del(`/api/webhooks/${w.id}`).then(loadWebhooks).catch(reportTo('#webhook-notice'));
      }, { class: 'danger', 'aria-label': `Delete webhook ${w.url}` }))]));
  replace($('#webhooks-table'), table(headers, rows, { empty: 'No webhooks yet.' }));
}

function webhookForm() {
  const form = $('#webhook-form');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const events = form.events.value.trim();
    try {
      const created = await api.post('/api/webhooks', { url: form.url.value.trim(), events: events || '*' });
      $('#webhook-secret-value').value = created.secret;
      $('#webhook-secret').hidden = false;
      notice($('#webhook-notice'), 'Webhook added.', 'ok');
      form.reset();
      await loadWebhooks();
    } catch (error) { reportTo('#webhook-notice')(error); }
  });
  $('#webhook-secret-close').addEventListener('click', () => {
    $('#webhook-secret-value').value = '';
    $('#webhook-secret').hidden = true;
  });
}

// --- audit log ---------------------------------------------------------------------------------------------

async function loadAudit() {
  const headers = ['Time', 'Actor', 'Action', 'Target', 'IP', 'Result'];
  const values = Object.fromEntries(new FormData($('#audit-filter')).entries());
  try {
    const page = await api.get('/api/audit-logs', { ...values, limit: 50 });
    const rows = page.items.map((a) => row(headers, [when(a.created_at), `${a.actor_type}${a.actor_id ? ` #${a.actor_id}` : ''}`,
      a.action, a.target_type ? `${a.target_type} ${a.target_id || ''}` : '—', a.ip || '—', a.result]));
    replace($('#audit-table'), table(headers, rows, { empty: 'No entry matches.' }));
    notice($('#audit-notice'), `${page.total} entr${page.total === 1 ? 'y' : 'ies'}`, 'info');
  } catch (error) { reportTo('#audit-notice')(error); }
}

let ready = false;

export function initAdmin() {
  userForm();
  keyForm();
  webhookForm();
  $('#audit-filter').addEventListener('submit', (event) => { event.preventDefault(); loadAudit(); });
}

export function showAdmin() {
  if (ready) return;
  ready = true;
  if (can('user_management')) {
    loadUsers().catch(reportTo('#user-notice'));
    loadKeys().catch(reportTo('#key-notice'));
  }
  if (can('webhooks')) loadWebhooks().catch(reportTo('#webhook-notice'));
  if (can('system')) loadAudit();
}
