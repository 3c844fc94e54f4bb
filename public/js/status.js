// The session and message status vocabularies, as the gateway writes them, with their labels and colours.
import { el } from './dom.js';

export const SESSION_STATUS = {
  STOPPED: { label: 'Stopped', tone: 'muted' },
  STARTING: { label: 'Starting', tone: 'warn' },
  SCAN_QR_CODE: { label: 'Scan QR code', tone: 'warn' },
  WORKING: { label: 'Working', tone: 'ok' },
  FAILED: { label: 'Failed', tone: 'bad' },
  LOGGED_OUT: { label: 'Logged out', tone: 'muted' },
};

export const MESSAGE_STATUS = ['queued', 'sending', 'sent', 'delivered', 'read', 'failed'];
const MESSAGE_TONE = { queued: 'muted', sending: 'warn', sent: 'info', delivered: 'info', read: 'ok', failed: 'bad' };

// The badge shows the status word itself, so tests, screen readers and the API all speak one vocabulary.
export function sessionBadge(status) {
  const known = SESSION_STATUS[status] || { label: status, tone: 'muted' };
  return el('span', { class: `badge badge-${known.tone}`, title: known.label, dataset: { status } }, status);
}

export function messageBadge(status) {
  return el('span', { class: `badge badge-${MESSAGE_TONE[status] || 'muted'}`, dataset: { status } }, status);
}

// A message only moves forward; a late "delivered" after "read" must not move it back.
export function later(current, next) {
  if (next === 'failed' || current === undefined) return next;
  return MESSAGE_STATUS.indexOf(next) > MESSAGE_STATUS.indexOf(current) ? next : current;
}
