// The QR dialog: the live code of a session waiting for its phone, replaced as it rotates, with a countdown;
// a pairing code for linking by phone number; WORKING shown the moment the phone links.
import { api, describeError } from './api.js';
import { $, el, replace } from './dom.js';
import { live } from './events.js';
import { phoneProblem } from './phone.js';
import { sessions } from './sessions-store.js';
import { sessionBadge } from './status.js';

const dialog = () => $('#qr-dialog');
let current = null;  // the session shown
let expiresAt = 0;
let ticker = null;
let generation = 0;  // a slower answer for an older code must not replace a newer one
let shownStatus = null;  // the session status the dialog was last drawn for

function status(text, badge) {
  replace($('#qr-status'), badge ? sessionBadge(badge) : null, badge ? ' ' : null, text);
}

function countdown() {
  const left = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  $('#qr-countdown').textContent = left ? `This code expires in ${left} s` : 'Waiting for the next code…';
}

function showImage(image) {
  const img = $('#qr-image');
  img.src = image;
  img.hidden = false;
  clearInterval(ticker);
  countdown();
  ticker = setInterval(countdown, 1000);
}

function hideImage() {
  const img = $('#qr-image');
  img.hidden = true;
  img.removeAttribute('src');
  clearInterval(ticker);
  $('#qr-countdown').textContent = '';
}

async function fetchCode() {
  const mine = ++generation;
  const id = current;
  try {
    const data = await api.get(`/api/qr/${encodeURIComponent(id)}`);
    if (mine !== generation || id !== current) return;
    expiresAt = data.expires_at ? Date.parse(data.expires_at) : Date.now() + 20000;
    showImage(data.image);
    status('Scan this code with WhatsApp on the phone.', 'SCAN_QR_CODE');
  } catch (error) {
    if (mine !== generation) return;
    if (error.status === 404) status('Waiting for the QR code…', 'STARTING');
    else status(describeError(error), sessions.get(id) ? sessions.get(id).status : null);
  }
}

function linked(session) {
  hideImage();
  $('#pair-form').hidden = true;
  $('#qr-help').hidden = true;
  const who = [session && session.phone ? `+${session.phone}` : null, session && session.push_name].filter(Boolean);
  status(`Linked${who.length ? `: ${who.join(' · ')}` : ''}. The session is working.`, 'WORKING');
}

function show(session) {
  if (!session) return;
  shownStatus = session.status;
  if (session.status === 'WORKING') linked(session);
  else if (session.status === 'SCAN_QR_CODE') fetchCode();
  else if (session.status === 'STARTING') { hideImage(); status('Starting: the QR code comes in a moment…', 'STARTING'); }
  else {
    hideImage();
    status(`The session is ${session.status}${session.status_reason ? ` (${session.status_reason})` : ''}. ` +
      'Start it to get a new code.', session.status);
  }
}

export function openQr(sessionId) {
  current = sessionId;
  const session = sessions.get(sessionId);
  $('#qr-title').textContent = `Link a phone to ${session ? session.name || session.id : sessionId}`;
  $('#pair-form').hidden = false;
  $('#qr-help').hidden = false;
  $('#pair-code').hidden = true;
  hideImage();
  status('Loading…');
  if (!dialog().open) dialog().showModal();
  show(session || { status: 'STARTING' });
}

function close() {
  current = null;
  shownStatus = null;
  generation += 1;
  hideImage();
  if (dialog().open) dialog().close();
}

export function initQr() {
  $('#qr-close').addEventListener('click', close);
  dialog().addEventListener('close', () => { current = null; clearInterval(ticker); });
  live.on('qr.generated', (event) => {
    if (event.session !== current) return;
    if (event.data.pairingCode) {  // a pairing code, not a new QR code: the QR shown (if any) still holds
      const code = $('#pair-code');
      replace(code, 'Enter this code on the phone: ', el('strong', { class: 'code' }, event.data.pairingCode));
      code.hidden = false;
      return;
    }
    fetchCode();
  });
  live.on('session.status', (event) => {
    if (event.session !== current) return;
    const session = sessions.get(current) || { id: current };
    show({ ...session, status: event.data.status, status_reason: event.data.reason });
  });
  // The list may learn a status the dialog missed (events that came before it opened, for a session the list
  // only knew from a re-read); and phone and name arrive with the re-read after WORKING.
  sessions.addEventListener('change', (e) => {
    const session = current && sessions.get(current);
    if (!session) return;
    if (session.status !== shownStatus) show(session);
    else if (session.status === 'WORKING' && (e.detail === null || e.detail === current)) linked(session);
  });
  $('#pair-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('#pair-phone');
    const code = $('#pair-code');
    const problem = phoneProblem(input.value);
    code.hidden = false;
    if (problem) { code.textContent = problem; input.setAttribute('aria-invalid', 'true'); input.focus(); return; }
    input.setAttribute('aria-invalid', 'false');
    code.textContent = 'Asking WhatsApp for a pairing code…';
    try {
      await api.post(`/api/sessions/${encodeURIComponent(current)}/pair`, { phone: input.value.trim() });
    } catch (error) {
      code.textContent = describeError(error);
    }
  });
}
