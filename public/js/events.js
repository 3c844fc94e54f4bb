// The live event socket (/api/events): authenticates with the in-memory token, renews it, reconnects with backoff.
import { auth } from './auth.js';

const PROTOCOL = 'wagate.events.v1';
const BACKOFF_MS = [500, 1000, 2000, 5000, 10000];
const UNAUTHORIZED = 4001;

class LiveEvents extends EventTarget {
  constructor() {
    super();
    this.socket = null;
    this.state = 'offline';
    this._attempt = 0;
    this._watchdog = null;
    this._heartbeatMs = 25000;
    auth.addEventListener('token', () => this._renew());
  }

  start() {
    if (this.socket) return;
    this._open();
  }

  // on('session.status', fn) for one event name, on('*', fn) for all; fn gets the event envelope.
  on(name, fn) {
    this.addEventListener(`event:${name}`, (e) => fn(e.detail));
  }

  _setState(state) {
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }

  _open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/api/events`, PROTOCOL);
    this.socket = socket;
    this._setState('connecting');
    socket.addEventListener('open', () => socket.send(JSON.stringify({ type: 'auth', token: auth.token })));
    socket.addEventListener('message', (message) => this._received(message));
    socket.addEventListener('close', (event) => this._closed(socket, event));
  }

  _received(message) {
    this._armWatchdog();
    let frame;
    try { frame = JSON.parse(message.data); } catch { return; }
    if (frame.type === 'ready') {
      this._attempt = 0;
      this._heartbeatMs = (frame.heartbeat_s || 25) * 1000;
      if (this.state !== 'live') {
        this._setState('live');
        this.dispatchEvent(new CustomEvent('ready', { detail: frame }));
      }
    } else if (frame.type === 'event' && frame.event) {
      const event = frame.event;
      this.dispatchEvent(new CustomEvent(`event:${event.event}`, { detail: event }));
      this.dispatchEvent(new CustomEvent('event:*', { detail: event }));
    } else if (frame.type === 'heartbeat') {
      this.dispatchEvent(new CustomEvent('heartbeat', { detail: frame }));
    }
  }

  // No frame for two heartbeats: the connection is dead without having said so. Start again.
  _armWatchdog() {
    clearTimeout(this._watchdog);
    this._watchdog = setTimeout(() => { if (this.socket) this.socket.close(4000, 'No heartbeat'); },
      this._heartbeatMs * 2 + 5000);
  }

  async _closed(socket, event) {
    if (socket !== this.socket) return;
    clearTimeout(this._watchdog);
    this.socket = null;
    this._setState('reconnecting');
    if (!auth.token) return;  // the login is over: the page is on its way to the login page
    if (event.code === UNAUTHORIZED) {
      try { await auth.refresh(); } catch { return; }  // refresh failure sends the browser to the login page
    }
    const delay = BACKOFF_MS[Math.min(this._attempt, BACKOFF_MS.length - 1)];
    this._attempt += 1;
    setTimeout(() => this._open(), delay);
  }

  _renew() {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'auth', token: auth.token }));
    }
  }
}

export const live = new LiveEvents();
