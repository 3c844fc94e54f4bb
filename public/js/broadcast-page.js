// The broadcast page: recipients pasted or uploaded, a template with variables and a preview (invalid rows shown
// before anything is sent), session and start time, then the live progress of the broadcast.
import { api, describeError } from './api.js';
import { auth, can } from './auth.js';
import { follow, initProgress } from './broadcast-progress.js';
import { countLines, requestBody } from './broadcast-input.js';
import { $, el, notice, replace, row, table, when } from './dom.js';
import { live } from './events.js';
import { showLiveState } from './live-indicator.js';
import { applyPermissions } from './permissions.js';
import { sessions } from './sessions-store.js';

const form = $('#broadcast-form');
let previewed = null;  // the inputs the last preview was for; Start needs a preview of exactly these

function snapshot() {
  return JSON.stringify([form.name.value, form.session.value, form.source.value, form.numbers.value,
    form.file.files[0] ? `${form.file.files[0].name}:${form.file.files[0].size}` : '', form.template.value,
    form.start_at.value]);
}

function fillSessions() {
  const chosen = form.session.value;
  const working = sessions.working();
  replace(form.session, working.length ? working.map((s) => el('option', { value: s.id },
    `${s.name || s.id}${s.phone ? ` (+${s.phone})` : ''}`)) : el('option', { value: '' }, 'No working session'));
  if (working.some((s) => s.id === chosen)) form.session.value = chosen;
}

function send(path, body) {
  return body.json ? api.post(path, body.json) : api.upload(path, body.form);
}

function lineLabel(line, lineOf) {
  return lineOf ? String(lineOf[line - 1] || line) : String(line);
}

function renderPreview(result, lineOf) {
  $('#bc-preview').hidden = false;
  const bad = result.invalid.length + result.duplicates.length;
  $('#bc-preview-summary').textContent = `${result.total} recipient(s) will get a message` +
    `${bad ? `; ${result.invalid.length} invalid and ${result.duplicates.length} duplicate row(s) are left out` : ''}.` +
    `${result.variables.length ? ` Variables: ${result.variables.join(', ')}.` : ''}`;
  replace($('#bc-samples'), result.samples.slice(0, 3).map((s) => el('div', { class: 'sample' },
    el('strong', {}, `To ${s.phone}${s.name ? ` (${s.name})` : ''}`), el('p', { class: 'preview-text' }, s.text))));
  const headers = ['Line', 'Number', 'Why'];
  const rows = [
    ...result.invalid.map((r) => row(headers, [lineLabel(r.line, lineOf), r.phone || '—', r.reason])),
    ...result.duplicates.map((d) => row(headers, [lineLabel(d.line, lineOf), d.phone,
      `duplicate of line ${lineLabel(d.first_line, lineOf)}`])),
  ];
  replace($('#bc-invalid'), table(headers, rows, { empty: 'None: every row is valid.' }));
}

async function preview() {
  const message = $('#bc-notice');
  let body;
  try { body = requestBody(form); } catch (error) { notice(message, error.message, 'error'); return; }
  if (!form.template.value.trim()) { notice(message, 'Write the message template.', 'error'); form.template.focus(); return; }
  try {
    const result = await send('/api/broadcast/preview', body);
    renderPreview(result, body.lineOf);
    previewed = snapshot();
    $('#bc-start-button').disabled = result.total === 0;
    notice(message, result.total ? 'Check the preview, then start.' : 'No valid recipient: nothing to send.',
      result.total ? 'info' : 'error');
  } catch (error) {
    notice(message, describeError(error), 'error');
  }
}

async function start(event) {
  event.preventDefault();
  const message = $('#bc-notice');
  if (previewed !== snapshot()) { notice(message, 'The form changed: preview again first.', 'warn'); return; }
  if (!form.session.value) { notice(message, 'No working session to send from.', 'error'); return; }
  let body;
  try { body = requestBody(form); } catch (error) { notice(message, error.message, 'error'); return; }
  $('#bc-start-button').disabled = true;
  try {
    const created = await send('/api/broadcast', body);
    notice(message, `Broadcast “${created.name}” ${created.status === 'scheduled' ? 'scheduled' : 'started'}.`, 'ok');
    previewed = null;
    await follow(created.id);
    $('#bc-progress').scrollIntoView({ block: 'start' });
    loadList();
  } catch (error) {
    notice(message, describeError(error), 'error');
    $('#bc-start-button').disabled = false;
  }
}

async function loadList() {
  const headers = ['Name', 'Session', 'Status', 'Recipients', 'Created', ''];
  try {
    const page = await api.get('/api/broadcast', { limit: 10 });
    const rows = page.items.map((b) => {
      const open = el('button', { type: 'button', class: 'ghost', 'aria-label': `Show progress of ${b.name}` }, 'Show');
      open.addEventListener('click', () => follow(b.id));
      return row(headers, [b.name, b.session, b.status, String(b.total), when(b.createdAt), open]);
    });
    replace($('#bc-list'), table(headers, rows, { empty: 'No broadcasts yet.' }));
  } catch (error) {
    notice($('#page-notice'), describeError(error), 'error');
  }
}

async function main() {
  const user = await auth.require();
  $('#who-am-i').textContent = `${user.username} · ${user.role}`;
  applyPermissions($('.tabs'));  // the same menu as the dashboard's, for what the role may use
  $('#logout-button').addEventListener('click', () => auth.logout());
  showLiveState();
  if (!can('broadcast')) {
    form.remove();
    notice($('#page-notice'), 'Your role may not send broadcasts.', 'warn');
    live.start();
    return;
  }
  sessions.listen();
  sessions.addEventListener('change', fillSessions);
  for (const radio of form.querySelectorAll('input[name="source"]')) {
    radio.addEventListener('change', () => {
      $('#bc-paste-field').hidden = form.source.value !== 'paste';
      $('#bc-file-field').hidden = form.source.value !== 'file';
    });
  }
  form.numbers.addEventListener('input', () => {
    const n = countLines(form.numbers.value);
    $('#bc-numbers-hint').textContent = `${n} line${n === 1 ? '' : 's'}`;
  });
  form.addEventListener('input', () => { $('#bc-start-button').disabled = previewed !== snapshot(); });
  form.addEventListener('change', () => { $('#bc-start-button').disabled = previewed !== snapshot(); });
  $('#bc-preview-button').addEventListener('click', preview);
  form.addEventListener('submit', start);
  initProgress(() => {});
  live.addEventListener('event:broadcast.completed', () => loadList());
  live.start();
  await sessions.load();
  await loadList();
}

main().catch((error) => {
  if (auth.token) notice($('#page-notice'), `The page could not start: ${error.message}`, 'error');
});
