// The dashboard login: access token in memory only, refresh token in an HttpOnly cookie, silent refresh before expiry.
const LOGIN_PAGE = '/login.html';
const EARLY_S = 60;  // refresh this long before the access token expires (or at 80 % of a shorter life)
// Set while this browser holds a login (not a secret: the refresh token stays in its HttpOnly cookie), so a refused
// refresh can tell an ended login ("expired") from a first visit that never had one.
const SIGNED_IN = 'wagate-signed-in';

function remember(on) {
  try {
    if (on) localStorage.setItem(SIGNED_IN, '1'); else localStorage.removeItem(SIGNED_IN);
  } catch { /* storage disabled: the login page then says nothing about expiry */ }
}

function remembered() {
  try { return localStorage.getItem(SIGNED_IN) === '1'; } catch { return false; }
}

class Auth extends EventTarget {
  constructor() {
    super();
    this.token = null;
    this.user = null;
    this.expiresAt = 0;
    this._timer = null;
    this._refreshing = null;
  }

  _accept(data) {
    this.token = data.access_token;
    this.user = data.user;
    this.expiresAt = Date.now() + data.expires_in * 1000;
    remember(true);
    clearTimeout(this._timer);
    const lead = Math.min(EARLY_S, data.expires_in * 0.2);
    this._timer = setTimeout(() => { this.refresh().catch(() => {}); }, (data.expires_in - lead) * 1000);
    this.dispatchEvent(new CustomEvent('token', { detail: this.token }));
  }

  async login(username, password) {
    const response = await fetch('/api/auth/login', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password, cookie_only: true }),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(body && body.message ? body.message : `Login failed (${response.status})`);
      error.status = response.status;
      error.retryAfter = Number(response.headers.get('Retry-After')) || null;
      throw error;
    }
    this._accept(body.data);
    return body.data.user;
  }

  // One refresh at a time, across tabs where the browser offers locks: a rotated refresh token used twice
  // would revoke the whole login.
  refresh() {
    if (!this._refreshing) {
      const run = () => this._refreshOnce();
      const locked = navigator.locks ? navigator.locks.request('wagate-refresh', run) : run();
      this._refreshing = locked.finally(() => { this._refreshing = null; });
    }
    return this._refreshing;
  }

  async _refreshOnce() {
    const response = await fetch('/api/auth/refresh', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    if (!response.ok) {
      this.expired();
      throw new Error('Session expired');
    }
    this._accept((await response.json()).data);
    return this.token;
  }

  // The refresh was refused: back to the login page, which says "expired" only when a login had existed here.
  expired() {
    this.token = null;
    clearTimeout(this._timer);
    const hadLogin = remembered();
    remember(false);
    if (location.pathname.endsWith(LOGIN_PAGE)) return;
    const back = new URLSearchParams({ next: `${location.pathname}${location.search}${location.hash}` });
    if (hadLogin) back.set('expired', '1');
    location.replace(`${LOGIN_PAGE}?${back}`);  // the login page comes back here afterwards
  }

  async logout() {
    clearTimeout(this._timer);
    const headers = { 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    await fetch('/api/auth/logout', { method: 'POST', credentials: 'same-origin', headers, body: '{}' })
      .catch(() => {});
    this.token = null;
    remember(false);
    location.replace(`${LOGIN_PAGE}?bye=1`);
  }

  // A page behind the login: get an access token from the refresh cookie, or go to the login page.
  async require() {
    if (!this.token) await this.refresh();
    return this.user;
  }

  get role() { return this.user ? this.user.role : null; }
}

export const auth = new Auth();

// What each role may do, as the server's matrix has it (the server checks again on every request).
const MATRIX = {
  admin: ['send_message', 'view_logs', 'broadcast', 'user_management', 'webhooks', 'system'],
  operator: ['send_message', 'view_logs', 'broadcast'],
  user: ['view_logs'],
};

export function can(permission) {
  return (MATRIX[auth.role] || []).includes(permission);
}
