// The Inbox: a session's chats with unread counts kept live, a chat's history (media, reactions, edits, receipts),
// read receipts when a chat is opened, archive and pin. Answering is inbox-answer.js.
import { api, describeError } from './api.js';
import { can } from './auth.js';
import { $, el, notice, replace, throttle, when } from './dom.js';
import { live } from './events.js';
import { initAnswer, replyTo, send } from './inbox-answer.js';
import { sessions } from './sessions-store.js';

const PAGE = 30;
const state = { session: '', chats: [], open: null, messages: [], cursor: null };

const number = (jid) => (jid || '').replace('@s.whatsapp.net', '');

function preview(m) {
  if (!m) return '';
  const who = m.direction === 'out' ? 'You: ' : '';
  if (m.content && m.content.revokedAt) return `${who}(deleted)`;
  return who + (m.text || m.caption || (m.media ? `📎 ${m.media.file_name || m.type}` : m.type));
}

function chatItem(chat) {
  const unread = chat.unread_count;
  const open = state.open && state.open.chat === chat.chat;
  const label = chat.name ? `${chat.name} (${number(chat.chat)})` : number(chat.chat);
  return el('li', { class: `inbox-item${open ? ' inbox-item-open' : ''}`, dataset: { chat: chat.chat } },
    el('button', { type: 'button', class: 'inbox-pick', 'aria-current': open ? 'true' : null,
      onclick: () => openChat(chat.chat) },
    el('span', { class: 'inbox-name' }, chat.pinned ? '📌 ' : '', label, chat.muted_until ? ' 🔕' : ''),
    el('span', { class: 'inbox-time muted small' }, when(chat.last_message_at)),
    el('span', { class: 'inbox-preview muted small' }, preview(chat.last_message)),
    unread ? el('span', { class: 'badge badge-ok inbox-unread', 'aria-label': `${unread} unread` }, String(unread))
      : null));
}

export async function loadChats() {
  if (!state.session) return;
  try {
    const data = await api.get('/api/chats', { session_id: state.session, limit: PAGE, archived: 'false' });
    state.chats = data.items;
    if (state.open) {  // the open chat's state as WhatsApp has it now (pinned here or on the phone)
      state.open = state.chats.find((c) => c.chat === state.open.chat) || state.open;
      $('#inbox-pin').textContent = state.open.pinned ? 'Unpin' : 'Pin';
    }
    replace($('#inbox-chats'), state.chats.length ? state.chats.map(chatItem)
      : el('li', { class: 'muted inbox-empty' }, 'No chat yet: messages to this number appear here.'));
    notice($('#inbox-notice'), '', 'info');
  } catch (error) {
    notice($('#inbox-notice'), describeError(error), 'error');
  }
}

function receipt(m) {
  if (m.direction !== 'out') return null;
  const marks = { queued: '🕓', sending: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓ read', failed: '⚠ failed' };
  return el('span', { class: `inbox-receipt small${m.status === 'read' ? ' tone-ok' : ''}`,
    title: m.error || m.status }, marks[m.status] || m.status);
}

function bubble(m) {
  const content = m.content || {};
  const reactions = Object.values(content.reactions || {});
  const media = m.media || null;
  const body = content.revokedAt ? el('em', { class: 'muted' }, 'This message was deleted')
    : el('span', { class: 'inbox-text' }, m.text || m.caption || '');
  return el('li', { class: `inbox-bubble inbox-${m.direction}`, dataset: { id: m.wa_message_id || '' } },
    m.reply_to ? el('span', { class: 'inbox-quote muted small' }, '↩ reply') : null,
    media ? el('span', { class: 'inbox-media small' }, media.url
      ? el('a', { href: media.url, target: '_blank', rel: 'noopener' }, `📎 ${media.file_name || m.type}`)
      : `📎 ${media.file_name || m.type}`) : null,
    body,
    el('span', { class: 'inbox-meta muted small' }, when(m.created_at), content.editedAt ? ' · edited' : '', ' ',
      receipt(m)),
    reactions.length ? el('span', { class: 'inbox-reactions', 'aria-label': 'Reactions' }, reactions.join(' ')) : null,
    can('send_message') && m.wa_message_id && !content.revokedAt ? el('span', { class: 'inbox-tools' },
      el('button', { type: 'button', class: 'ghost small', onclick: () => replyTo(m) }, 'Reply'),
      el('button', { type: 'button', class: 'ghost small', 'aria-label': 'React with a thumbs up',
        onclick: () => react(m, '👍') }, '👍')) : null);
}

function react(m, emoji) {
  return send({ type: 'reaction', reply_to: m.wa_message_id, message: emoji });
}

export async function loadMessages({ older = false } = {}) {
  if (!state.open) return;
  try {
    const data = await api.get(`/api/chats/${encodeURIComponent(state.open.chat)}/messages`,
      { session_id: state.session, limit: PAGE, cursor: older ? state.cursor : null });
    state.messages = older ? [...state.messages, ...data.items] : data.items;
    state.cursor = data.next_cursor;
    // newest at the bottom, as a chat reads
    replace($('#inbox-messages'), [...state.messages].reverse().map(bubble));
    $('#inbox-older').hidden = !state.cursor;
    if (!older) $('#inbox-messages').lastElementChild?.scrollIntoView({ block: 'end' });
  } catch (error) {
    notice($('#inbox-notice'), describeError(error), 'error');
  }
}

async function openChat(jid) {
  const chat = state.chats.find((c) => c.chat === jid) || { chat: jid, name: null, unread_count: 0 };
  state.open = chat;
  state.cursor = null;
  $('#inbox-chat-title').textContent = chat.name ? `${chat.name} · ${number(jid)}` : number(jid);
  $('#inbox-chat').hidden = false;
  $('#inbox').classList.add('inbox-chat-open');
  await loadMessages();
  loadChats();
  if (chat.unread_count && can('send_message')) {
    try {
      await api.post(`/api/chats/${encodeURIComponent(jid)}/read`, { session_id: state.session });
    } catch (error) {
      notice($('#inbox-notice'), `Not marked read: ${describeError(error)}`, 'warn');
    }
  }
}

function closeChat() {
  state.open = null;
  $('#inbox-chat').hidden = true;
  $('#inbox').classList.remove('inbox-chat-open');
  loadChats();
}

async function chatAction(action) {
  if (!state.open) return;
  try {
    await api.post(`/api/chats/${encodeURIComponent(state.open.chat)}/${action}`, { session_id: state.session });
    notice($('#inbox-notice'), `Chat ${action === 'archive' ? 'archived' : `${action}ned`}.`, 'ok');
    if (action === 'archive') closeChat(); else loadChats();
  } catch (error) {
    notice($('#inbox-notice'), describeError(error), 'error');
  }
}

function fillSessions() {
  const select = $('#inbox-session');
  const list = sessions.list;
  replace(select, list.map((s) => el('option', { value: s.id }, `${s.name || s.id} (${s.status})`)));
  if (!list.some((s) => s.id === state.session)) {
    state.session = (sessions.working()[0] || list[0] || {}).id || '';
    if (state.open) closeChat();
  }
  select.value = state.session;
}

export function showInbox() {
  fillSessions();
  loadChats();
}

export function currentChat() {
  return { session: state.session, chat: state.open ? state.open.chat : null };
}

export function initInbox() {
  sessions.addEventListener('change', fillSessions);
  $('#inbox-session').addEventListener('change', (event) => {
    state.session = event.target.value;
    closeChat();
  });
  $('#inbox-back').addEventListener('click', closeChat);
  $('#inbox-older').addEventListener('click', () => loadMessages({ older: true }));
  $('#inbox-archive').addEventListener('click', () => chatAction('archive'));
  $('#inbox-pin').addEventListener('click', () => chatAction(state.open && state.open.pinned ? 'unpin' : 'pin'));
  initAnswer({ current: currentChat, sent: () => { loadMessages(); loadChats(); } });
  const visible = () => !$('#view-inbox').hidden;
  const chats = throttle(() => { if (visible()) loadChats(); }, 700);
  const messages = throttle(() => { if (visible() && state.open) loadMessages(); }, 700);
  const touches = (event) => event.session === state.session;
  live.on('message.received', (event) => {
    if (!touches(event)) return;
    chats();
    if (state.open && event.data.chat === state.open.chat) {
      messages();
      if (can('send_message')) {  // read where the operator is looking
        api.post(`/api/chats/${encodeURIComponent(state.open.chat)}/read`, { session_id: state.session })
          .catch(() => {});
      }
    }
  });
  for (const name of ['message.sent', 'message.delivered', 'message.read', 'message.failed', 'message.edited',
    'message.revoked', 'message.reaction', 'chat.updated']) {
    live.on(name, (event) => { if (touches(event)) { chats(); messages(); } });
  }
}
