// Keeps shown messages current: every message.* event moves the status badge of that message forward, live.
import { live } from './events.js';
import { $$ } from './dom.js';
import { later, messageBadge } from './status.js';

const STATUS_EVENTS = ['message.sent', 'message.delivered', 'message.read', 'message.failed'];

export function trackMessageEvents() {
  for (const name of STATUS_EVENTS) {
    live.on(name, (event) => {
      const id = event.data && event.data.id;
      if (id === undefined) return;
      for (const cell of $$(`[data-message-status="${id}"]`)) {
        const next = later(cell.dataset.value, event.data.status);
        if (next === cell.dataset.value) continue;
        cell.dataset.value = next;
        cell.replaceChildren(messageBadge(next));
        if (event.data.error) cell.title = event.data.error;
      }
    });
  }
}

// The cell a tracked status lives in.
export function statusCell(message) {
  const cell = document.createElement('span');
  cell.dataset.messageStatus = String(message.id);
  cell.dataset.value = message.status;
  cell.append(messageBadge(message.status));
  if (message.error) cell.title = message.error;
  return cell;
}
