// Charts drawn as inline SVG from plain numbers: lines over time, horizontal bars, a donut. Colours come from CSS
// classes (series-0 …), so the page keeps its strict style policy and its dark/light look.
const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

function text(x, y, value, attributes = {}) {
  const node = svg('text', { x, y, ...attributes });
  node.textContent = value;
  return node;
}

function frame(width, height, label) {
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, class: 'chart-svg',
    preserveAspectRatio: 'xMidYMid meet' });
  root.append(svg('title', {}, document.createTextNode(label)));
  return root;
}

function nice(max) {
  if (max <= 0) return 1;
  const step = 10 ** Math.floor(Math.log10(max));
  return Math.ceil(max / step) * step;
}

function legend(names) {
  const list = document.createElement('ul');
  list.className = 'legend';
  names.forEach((name, i) => {
    const item = document.createElement('li');
    const swatch = document.createElement('span');
    swatch.className = `swatch series-${i}`;
    item.append(swatch, document.createTextNode(name));
    list.append(item);
  });
  return list;
}

function empty(message) {
  const p = document.createElement('p');
  p.className = 'muted chart-empty';
  p.textContent = message;
  return p;
}

// series: {name: [number|null …]} over labels; nulls leave gaps.
export function lineChart(labels, series, { label = 'Chart', unit = '' } = {}) {
  const names = Object.keys(series);
  const values = names.flatMap((n) => series[n]).filter((v) => v !== null && v !== undefined);
  if (!labels.length || !values.length) return empty('No data in this range yet.');
  const W = 640; const H = 240; const L = 44; const R = 12; const T = 12; const B = 36;
  const top = nice(Math.max(...values));
  const x = (i) => L + (labels.length === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (labels.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const root = frame(W, H, label);
  for (let k = 0; k <= 4; k += 1) {
    const v = (top * k) / 4;
    root.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    root.append(text(L - 6, y(v) + 4, `${+v.toFixed(2)}${unit}`, { class: 'axis', 'text-anchor': 'end' }));
  }
  const every = Math.max(1, Math.ceil(labels.length / 7));
  labels.forEach((name, i) => {
    if (i % every === 0 || i === labels.length - 1) {
      const anchor = i === 0 ? 'start' : i === labels.length - 1 ? 'end' : 'middle';
      root.append(text(x(i), H - 12, name.length >= 10 ? name.slice(5) : name, { class: 'axis', 'text-anchor': anchor }));
    }
  });
  names.forEach((name, s) => {
    let path = '';
    series[name].forEach((v, i) => {
      if (v === null || v === undefined) return;
      path += `${path && series[name][i - 1] !== null && series[name][i - 1] !== undefined ? 'L' : 'M'}${x(i)},${y(v)}`;
      const dot = svg('circle', { cx: x(i), cy: y(v), r: 2.5, class: `dot series-${s}` });
      dot.append(svg('title', {}, document.createTextNode(`${name} ${labels[i]}: ${v}${unit}`)));
      root.append(dot);
    });
    root.append(svg('path', { d: path, class: `line series-${s}` }));
  });
  const wrap = document.createElement('div');
  wrap.append(root, legend(names));
  return wrap;
}

// items: [{label, value}] as horizontal bars, largest first.
export function barList(items, { label = 'Chart', unit = '' } = {}) {
  if (!items.length) return empty('Nothing to show yet.');
  const max = Math.max(...items.map((i) => i.value), 1);
  const W = 640; const row = 26; const H = items.length * row + 8; const L = 170;
  const root = frame(W, H, label);
  items.forEach((item, i) => {
    const y = 4 + i * row;
    const width = Math.max(2, ((W - L - 60) * item.value) / max);
    root.append(text(L - 8, y + 16, item.label.length > 24 ? `${item.label.slice(0, 23)}…` : item.label,
      { class: 'axis', 'text-anchor': 'end' }));
    const bar = svg('rect', { x: L, y: y + 4, width, height: row - 10, rx: 3, class: 'bar series-0' });
    bar.append(svg('title', {}, document.createTextNode(`${item.label}: ${item.value}${unit}`)));
    root.append(bar, text(L + width + 6, y + 16, `${item.value}${unit}`, { class: 'axis' }));
  });
  return root;
}

// items: [{label, value}] as a donut with a legend of shares.
export function donut(items, { label = 'Chart' } = {}) {
  const total = items.reduce((sum, i) => sum + i.value, 0);
  if (!total) return empty('No failures in this range.');
  const root = frame(200, 200, label);
  const r = 70; const c = 2 * Math.PI * r;
  let offset = 0;
  items.forEach((item, i) => {
    const share = item.value / total;
    const arc = svg('circle', { cx: 100, cy: 100, r, class: `arc series-${i % 8}`, 'stroke-width': 36, fill: 'none',
      'stroke-dasharray': `${share * c} ${c}`, 'stroke-dashoffset': -offset * c, transform: 'rotate(-90 100 100)' });
    arc.append(svg('title', {}, document.createTextNode(`${item.label}: ${item.value}`)));
    root.append(arc);
    offset += share;
  });
  root.append(text(100, 106, String(total), { class: 'donut-total', 'text-anchor': 'middle' }));
  const wrap = document.createElement('div');
  wrap.className = 'donut-wrap';
  wrap.append(root, legend(items.map((i) => `${i.label} (${Math.round((100 * i.value) / total)} %)`)));
  return wrap;
}
