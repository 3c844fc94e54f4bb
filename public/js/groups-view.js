// The Groups view: a working session's groups, live from WhatsApp; create one with participants, and (operators)
// manage its members and settings, WhatsApp's answer shown per participant. Group events re-read what changed.
import { api, describeError } from './api.js';
import { can } from './auth.js';
import { $, el, notice, replace, row, table, throttle } from './dom.js';
import { live } from './events.js';
import { sessions } from './sessions-store.js';

const HEADERS = ['Subject', 'Members', 'Settings', ''];
const MEMBER_HEADERS = ['Number', 'Role', ''];
const OUTCOMES = {
  done: 'done', invited: 'invited (their privacy needs an invite)', not_on_whatsapp: 'not on WhatsApp',
  already_member: 'already a member', not_member: 'not a member', refused: 'refused by WhatsApp',
};
let open = null;  // the JID of the group shown in the detail card

const session = () => $('#groups-session').value;
const base = () => `/api/sessions/${encodeURIComponent(session())}`;
const numbers = (text) => text.split(/[\n,;]+/).map((n) => n.trim()).filter(Boolean);
const phoneOf = (jid) => (jid || '').replace('@s.whatsapp.net', '');

function settingsText(g) {
  const parts = [];
  if (g.settings.announce) parts.push('admins send');
  if (g.settings.locked) parts.push('admins edit');
  if (g.settings.join_approval) parts.push('join approval');
  if (g.settings.disappearing) parts.push(`disappearing ${Math.round(g.settings.disappearing / 86400)}d`);
  return parts.join(', ') || 'open';
}

function fillSessions() {
  const select = $('#groups-session');
  const chosen = select.value;
  const working = sessions.working();
  replace(select, working.length ? working.map((s) => el('option', { value: s.id },
    `${s.name || s.id}${s.phone ? ` (+${s.phone})` : ''}`)) : el('option', { value: '' }, 'No working session'));
  if (working.some((s) => s.id === chosen)) select.value = chosen;
  if (select.value !== chosen && !$('#view-groups').hidden) showGroups();
}

export async function showGroups() {
  const message = $('#groups-notice');
  if (!session()) {
    replace($('#groups-table'), table(HEADERS, [], { empty: 'Connect a session to see its groups.' }));
    return;
  }
  try {
    const groups = await api.get(`${base()}/groups`);
    const rows = groups.map((g) => row(HEADERS, [g.subject, String(g.participant_count), settingsText(g),
      el('button', { type: 'button', class: 'ghost', onclick: () => showGroup(g.jid) }, `Open ${g.subject}`)],
    { dataset: { jid: g.jid } }));
    replace($('#groups-table'), table(HEADERS, rows, { empty: 'The number is in no group yet.' }));
    notice(message, '', 'info');
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

function memberActions(g, p) {
  if (!can('send_message') || p.is_super_admin) return '';
  const act = (action, label) => el('button', { type: 'button', class: 'ghost', onclick: () => change(g.jid, action,
    [phoneOf(p.jid)]) }, `${label} ${phoneOf(p.jid)}`);
  return el('span', {}, p.is_admin ? act('demote', 'Demote') : act('promote', 'Promote'), ' ', act('remove', 'Remove'));
}

async function showGroup(jid) {
  open = jid;
  const card = $('#group-detail');
  const message = $('#group-detail-notice');
  try {
    const g = await api.get(`${base()}/groups/${encodeURIComponent(jid)}`);
    card.hidden = false;
    $('#group-detail-title').textContent = g.subject;
    $('#group-detail-meta').textContent = `${g.jid} · owner +${phoneOf(g.owner)} · ${g.participant_count} member(s)`;
    $('#group-detail-description').textContent = g.description || '';
    const invite = $('#group-invite');
    invite.hidden = !g.invite_link;
    invite.textContent = g.invite_link ? `Invite link: ${g.invite_link}` : '';
    const rows = g.participants.map((p) => row(MEMBER_HEADERS, [`+${phoneOf(p.jid)}`,
      p.is_super_admin ? 'owner' : p.is_admin ? 'admin' : 'member', memberActions(g, p)],
    { dataset: { member: phoneOf(p.jid) } }));
    replace($('#group-members'), table(MEMBER_HEADERS, rows, { caption: 'Participants' }));
    const form = $('#group-settings-form');
    form.subject.value = g.subject;
    form.announce.checked = g.settings.announce;
    form.locked.checked = g.settings.locked;
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

function showResults(results) {
  const lines = results.map((r) => el('li', { dataset: { outcome: r.outcome } },
    `+${phoneOf(r.jid)}: ${OUTCOMES[r.outcome] || r.outcome}`));
  replace($('#group-results'), lines.length ? el('ul', { class: 'small', 'aria-live': 'polite' }, lines) : '');
}

async function change(jid, action, participants) {
  const message = $('#group-detail-notice');
  try {
    const results = await api.post(`${base()}/groups/${encodeURIComponent(jid)}/participants`,
      { action, participants });
    showResults(results);
    notice(message, `${action}: ${results.filter((r) => r.outcome === 'done').length} of ${results.length} done`,
      'ok');
    await showGroup(jid);
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

export function initGroups() {
  $('#groups-session').addEventListener('change', () => { $('#group-detail').hidden = true; showGroups(); });
  $('#group-detail-close').addEventListener('click', () => { $('#group-detail').hidden = true; open = null; });
  sessions.addEventListener('change', fillSessions);
  fillSessions();
  const create = $('#group-create-form');
  create.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = $('#group-create-notice');
    try {
      const g = await api.post(`${base()}/groups`, { subject: create.subject.value.trim(),
        participants: numbers(create.participants.value) });
      notice(message, `Group “${g.subject}” created with ${g.participant_count} member(s)`, 'ok');
      create.reset();
      await showGroups();
      await showGroup(g.jid);
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
  const add = $('#group-add-form');
  add.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (open) await change(open, 'add', numbers(add.numbers.value));
    add.reset();
  });
  const settings = $('#group-settings-form');
  settings.addEventListener('submit', async (event) => {
    event.preventDefault();
    const message = $('#group-detail-notice');
    try {
      await api.put(`${base()}/groups/${encodeURIComponent(open)}`, { subject: settings.subject.value.trim(),
        announce: settings.announce.checked, locked: settings.locked.checked });
      notice(message, 'Group settings saved', 'ok');
      await showGroups();
      await showGroup(open);
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
  $('#group-leave').addEventListener('click', async () => {
    const message = $('#group-detail-notice');
    try {
      await api.post(`${base()}/groups/${encodeURIComponent(open)}/leave`);
      $('#group-detail').hidden = true;
      open = null;
      await showGroups();
    } catch (error) {
      notice(message, describeError(error), 'error');
    }
  });
  // What other members do arrives as events: the list and the open group are read again.
  const reread = throttle(() => {
    if ($('#view-groups').hidden) return;
    showGroups();
    if (open) showGroup(open);
  }, 800);
  for (const name of ['group.joined', 'group.left', 'group.participants', 'group.updated']) {
    live.on(name, (event) => { if (event.session === session()) reread(); });
  }
}
