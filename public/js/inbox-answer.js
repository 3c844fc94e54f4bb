// Answering in the Inbox: text, a file (or a voice note), a reply to a message, a reaction, all through
// POST /api/messages/send; a kind the server does not serve shows the server's own error.
import { ApiError, api, describeError, request } from './api.js';
import { $, notice } from './dom.js';

let where = () => ({ session: '', chat: null });
let after = () => {};
let quoted = null;

export function replyTo(message) {
  quoted = message;
  $('#inbox-replying-text').textContent = (message.text || message.caption || message.type).slice(0, 80);
  $('#inbox-replying').hidden = false;
  $('#inbox-text').focus();
}

function clearReply() {
  quoted = null;
  $('#inbox-replying').hidden = true;
}

export async function send(fields, file = null) {
  const { session, chat } = where();
  const status = $('#inbox-answer-notice');
  if (!chat) return false;
  try {
    if (file) {
      const form = new FormData();
      for (const [name, value] of Object.entries({ session, to: chat, ...fields })) {
        if (value !== null && value !== undefined && value !== '') form.append(name, value);
      }
      form.append('file', file, file.name);
      await api.upload('/api/messages/send', form);
    } else {
      await request('POST', '/api/messages/send', { json: { session, to: chat, ...fields } });
    }
    notice(status, '', 'info');
    after();
    return true;
  } catch (error) {
    notice(status, error instanceof ApiError ? describeError(error) : `Not sent: ${describeError(error)}`, 'error');
    return false;
  }
}

async function submit(event) {
  event.preventDefault();
  const text = $('#inbox-text').value.trim();
  const file = $('#inbox-file').files[0] || null;
  if (!text && !file) {
    notice($('#inbox-answer-notice'), 'Write a message or choose a file.', 'error');
    return;
  }
  const fields = { reply_to: quoted ? quoted.wa_message_id : null };
  if (file) {
    if ($('#inbox-voice').checked) fields.type = 'voice';
    if (text) fields.caption = text;
  } else {
    fields.message = text;
  }
  const button = $('#inbox-send');
  button.disabled = true;
  const sent = await send(fields, file);
  button.disabled = false;
  if (sent) {
    $('#inbox-answer').reset();
    clearReply();
  }
}

export function initAnswer({ current, sent }) {
  where = current;
  after = sent;
  $('#inbox-answer').addEventListener('submit', submit);
  $('#inbox-reply-cancel').addEventListener('click', clearReply);
}
