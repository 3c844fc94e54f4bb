// The Metrics view: live numbers (connection, queue, today, success rate, broadcasts, webhooks, uptime, memory,
// CPU) and the charts. Re-read when events say something changed or the server's heartbeat ticks, never on a
// timer of its own, and at most every 15 s (the dashboard rate limit is shared by every view).
import { api, describeError } from './api.js';
import { barList, donut, lineChart } from './charts.js';
import { $, duration, el, notice, replace, throttle } from './dom.js';
import { live } from './events.js';

const MIN_GAP_MS = 15000;
let lastStats = 0;
let lastCharts = 0;

// `definition`: what the figure counts, in the server's words (wagate/db/figures.py), shown as the card's tooltip.
function cardOf(id, label, value, detail, tone = '', definition = '') {
  const attributes = { class: `metric ${tone}`, id: `metric-${id}` };
  if (definition) attributes.title = definition;
  return el('div', attributes,
    el('span', { class: 'metric-label' }, label), el('strong', { class: 'metric-value' }, value),
    detail ? el('span', { class: 'metric-detail muted' }, detail) : null);
}

function renderStats(s) {
  const total = s.sessions.length;
  const webhookTone = { ok: 'tone-ok', idle: '', degraded: 'tone-warn', failing: 'tone-bad' }[s.webhooks.status] || '';
  const mem = s.system.memory;
  replace($('#metric-cards'),
    cardOf('connection', 'Connection', s.connected ? 'connected' : 'disconnected',
      `${s.connected} of ${total} session(s) working`, s.connected ? 'tone-ok' : 'tone-bad'),
    cardOf('queue', 'Messages waiting', String(s.queue.length),
      `${s.queue.queued} queued · ${s.queue.sending} sending${s.queue.jobs ? ` · ${s.queue.jobs.bridge + s.queue.jobs.worker} jobs` : ''}`,
      '', s.definitions.queue),
    cardOf('sent-today', 'Sent today', String(s.messages_sent_today),
      `${s.today.failed} failed · ${s.today.received} received (${s.today.date})`, '', s.definitions.sent_today),
    cardOf('success', 'Success rate', s.success_rate === null ? '—' : `${s.success_rate} %`, 'sent ÷ (sent + failed) today'),
    cardOf('broadcasts', 'Active broadcasts', String(s.active_broadcasts),
      `${s.broadcasts.scheduled} scheduled · ${s.broadcasts.paused} paused`),
    cardOf('webhooks', 'Webhooks', s.webhooks.status, `${s.webhooks.total} deliveries in 24 h`, webhookTone),
    cardOf('uptime', 'Uptime', duration(s.system.uptime), 'this web process'),
    cardOf('memory', 'Memory', `${mem.used} MiB`, `of ${mem.total} MiB`),
    cardOf('cpu', 'CPU', `${s.system.cpu} %`, 'machine'));
}

function renderCharts(c) {
  replace($('#chart-messages'), lineChart(c.labels, c.messages, { label: `Messages per ${c.bucket}` }));
  replace($('#chart-contacts'), barList(c.top_contacts.map((t) => ({ label: t.phone ? `+${t.phone}` : t.chat,
    value: t.total })), { label: 'Top contacts by messages' }));
  replace($('#chart-failures'), donut(c.failure_reasons.map((f) => ({ label: f.reason, value: f.count })),
    { label: 'Failed messages by reason' }));
  replace($('#chart-response'), lineChart(c.labels, { 'median seconds': c.response_time },
    { label: 'Median seconds from queued to sent', unit: ' s' }));
  replace($('#chart-keys'), barList(c.api_usage.filter((k) => !k.revoked).map((k) => ({
    label: `${k.name} (${k.prefix})`, value: k.requests ?? 0 })), { label: 'Requests per API key' }));
}

async function loadStats(force = false) {
  if (!force && Date.now() - lastStats < MIN_GAP_MS) return;
  lastStats = Date.now();
  try {
    renderStats(await api.get('/api/dashboard/stats'));
  } catch (error) {
    notice($('#metrics-notice'), describeError(error), 'error');
  }
}

async function loadCharts(force = false) {
  if (!force && Date.now() - lastCharts < MIN_GAP_MS * 4) return;
  lastCharts = Date.now();
  try {
    renderCharts(await api.get('/api/dashboard/charts', { range: $('#chart-range').value }));
  } catch (error) {
    notice($('#metrics-notice'), describeError(error), 'error');
  }
}

const visible = () => !$('#view-metrics').hidden;

export function showMetrics() {
  loadStats(true);
  loadCharts(true);
}

export function initMetrics() {
  $('#chart-range').addEventListener('change', () => loadCharts(true));
  const later = throttle(() => { if (visible()) loadStats(); }, MIN_GAP_MS);
  live.on('*', later);
  live.addEventListener('heartbeat', later);
}
