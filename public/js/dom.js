// Small DOM helpers: elements built with textContent only (never innerHTML), notices, dates.
export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// el('button', {class: 'x', type: 'button', dataset: {id: 1}, onclick: fn}, 'text', child…)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// A status line under a form or at the top of a view: role=status or role=alert, announced to screen readers.
export function notice(node, text, kind = 'info') {
  node.textContent = text || '';
  node.className = `notice notice-${kind}`;
  node.hidden = !text;
  node.setAttribute('role', kind === 'error' ? 'alert' : 'status');
}

export function when(value) {
  if (!value) return '—';
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  return `${m}m ${s % 60}s`;
}

// Call `fn` at most once per `ms`, the last call winning (for re-reading after bursts of events).
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  return (...args) => {
    const wait = Math.max(0, last + ms - Date.now());
    clearTimeout(timer);
    timer = setTimeout(() => { last = Date.now(); fn(...args); }, wait);
  };
}

export function table(headers, rows, { caption, empty = 'Nothing yet.' } = {}) {
  const head = el('thead', {}, el('tr', {}, headers.map((h) => el('th', { scope: 'col' }, h))));
  const body = el('tbody');
  if (!rows.length) body.append(el('tr', {}, el('td', { colspan: headers.length, class: 'empty' }, empty)));
  for (const row of rows) body.append(row);
  return el('div', { class: 'table-wrap' }, el('table', {}, caption ? el('caption', {}, caption) : null, head, body));
}

// A <tr> whose cells carry their column name, so the 375 px layout can show each row as a card.
export function row(headers, cells, attributes = {}) {
  return el('tr', attributes, cells.map((cell, i) => el('td', { 'data-label': headers[i] }, cell)));
}
