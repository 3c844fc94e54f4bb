// The login page: clear messages for a wrong password, a locked account (429) and an expired session.
import { auth } from './auth.js';
import { $, notice } from './dom.js';

const form = $('#login-form');
const message = $('#login-notice');
const button = $('#login-button');

const params = new URLSearchParams(location.search);
if (params.has('expired')) notice(message, 'Your session has expired. Please log in again.', 'warn');
if (params.has('bye')) notice(message, 'You are logged out.', 'info');

// Where to go after the login: a path of this site only. `//evil.com`, `/\evil.com` (which the browser reads as
// `//evil.com`), `https://evil.com` or `javascript:` would hand a fresh login to another page: the dashboard instead.
function nextPath(next) {
  const fallback = '/dashboard.html';
  if (!next || !next.startsWith('/')) return fallback;
  let url;
  try { url = new URL(next, location.origin); } catch { return fallback; }
  if (url.origin !== location.origin || url.pathname.endsWith('/login.html')) return fallback;
  return `${url.pathname}${url.search}${url.hash}`;
}

function minutes(seconds) {
  const m = Math.ceil(seconds / 60);
  return m <= 1 ? 'a minute' : `${m} minutes`;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    notice(message, 'Enter your username and password.', 'error');
    (username ? form.password : form.username).focus();
    return;
  }
  button.disabled = true;
  notice(message, 'Logging in…', 'info');
  try {
    await auth.login(username, password);
    location.replace(nextPath(params.get('next')));
  } catch (error) {
    if (error.status === 401) {
      notice(message, 'Wrong username or password.', 'error');
      form.password.value = '';
      form.password.focus();
    } else if (error.status === 429) {
      const wait = error.retryAfter ? ` Try again in ${minutes(error.retryAfter)}.` : '';
      notice(message, `Too many failed attempts: login is locked for now.${wait} (${error.message})`, 'error');
    } else {
      notice(message, `Login failed: ${error.message}`, 'error');
    }
  } finally {
    button.disabled = false;
  }
});
