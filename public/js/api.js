// The HTTP API client: JSON in and out, the access token in memory, one retry after a silent refresh.
import { auth } from './auth.js';

export class ApiError extends Error {
  constructor(status, message, details, retryAfter) {
    super(message);
    this.status = status;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

function withQuery(path, query) {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function parse(response) {
  const type = response.headers.get('Content-Type') || '';
  const body = type.includes('application/json') ? await response.json() : null;
  if (response.ok) return body;
  const message = body && body.message ? body.message : `${response.status} ${response.statusText}`;
  throw new ApiError(response.status, message, body ? body.details : null, response.headers.get('Retry-After'));
}

export async function request(method, path, { json, form, query, anonymous = false } = {}) {
  const send = async () => {
    const headers = {};
    if (!anonymous && auth.token) headers.Authorization = `Bearer ${auth.token}`;
    let body;
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = form;
    }
    return fetch(withQuery(path, query), { method, headers, body, credentials: 'same-origin' });
  };
  let response = await send();
  if (response.status === 401 && !anonymous && auth.token) {
    await auth.refresh();  // throws (and sends the browser to the login page) when the session is over
    response = await send();
  }
  const body = await parse(response);
  return body ? body.data : null;
}

export const api = {
  get: (path, query) => request('GET', path, { query }),
  post: (path, json) => request('POST', path, { json: json ?? {} }),
  put: (path, json) => request('PUT', path, { json }),
  del: (path) => request('DELETE', path),
  upload: (path, form) => request('POST', path, { form }),
};

// A readable line for an error: the message and, when the server named fields, what is wrong with each.
export function describeError(error) {
  if (!(error instanceof ApiError)) return error && error.message ? error.message : String(error);
  const details = error.details;
  if (!details || typeof details !== 'object') return error.message;
  const parts = [];
  for (const [field, problems] of Object.entries(details)) {
    if (field === 'request_id') continue;
    const text = Array.isArray(problems) ? problems.join(', ') : typeof problems === 'string' ? problems : '';
    if (text) parts.push(`${field}: ${text}`);
  }
  return parts.length ? `${error.message} (${parts.join('; ')})` : error.message;
}
