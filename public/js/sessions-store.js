// The sessions the caller can see, kept current by session events; views subscribe to changes.
import { api } from './api.js';
import { live } from './events.js';
import { throttle } from './dom.js';

class Sessions extends EventTarget {
  constructor() {
    super();
    this.items = new Map();
    this.today = null;  // the gateway's own date (its time zone), for "today" counts
  }

  async load() {
    const rows = await api.get('/api/sessions');
    this.items = new Map(rows.map((row) => [row.id, row]));
    this._changed();
    return rows;
  }

  get list() { return Array.from(this.items.values()); }

  get(id) { return this.items.get(id); }

  working() { return this.list.filter((s) => s.status === 'WORKING'); }

  _changed(id = null) {
    this.dispatchEvent(new CustomEvent('change', { detail: id }));
  }

  listen() {
    const reread = throttle(() => this.load().catch(() => {}), 500);
    live.on('session.status', (event) => {
      if (event.data.deleted) {  // deleted here or elsewhere: its last event
        if (this.items.delete(event.session)) this._changed();
        return;
      }
      const row = this.items.get(event.session);
      if (!row) { reread(); return; }
      row.status = event.data.status;
      row.status_reason = event.data.reason;
      this._changed(row.id);
    });
    // Published with every WORKING status: the linked phone's details, so the card needs no re-read of the list.
    live.on('connection.open', (event) => {
      const row = this.items.get(event.session);
      if (!row) { reread(); return; }
      Object.assign(row, { jid: event.data.jid, lid: event.data.lid, phone: event.data.phone,
        push_name: event.data.pushName, platform: event.data.platform });
      this._changed(row.id);
    });
    live.addEventListener('ready', () => reread());  // events may have been missed while disconnected
  }
}

export const sessions = new Sessions();
