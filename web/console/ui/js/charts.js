// Small SVG charts: a bitrate sparkline and a viewers line chart. No library.
import { h } from './core.js';

// sparkline returns an <svg> for values (numbers, oldest first), scaled to its highest.
export function sparkline(label) {
  const svg = h('svg:svg', { class: 'spark', viewBox: '0 0 120 30', preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  svg.append(h('svg:polyline', { class: 'spark-area', points: '' }), h('svg:polyline', { class: 'spark-line', points: '' }));
  return svg;
}

export function drawSparkline(svg, values, slots = 60) {
  // Scaled to the usual values, not to a burst (an encoder's start sends its buffer at once):
  // a burst is drawn clipped at the top.
  const sorted = [...values].sort((a, b) => a - b);
  const usual = sorted[Math.floor(0.9 * (sorted.length - 1))] || 0;
  const max = Math.max(1, usual * 1.25);
  const step = 120 / (slots - 1);
  const off = slots - values.length;
  const pts = values.map((v, i) => `${((off + i) * step).toFixed(1)},${(29 - Math.min(1, v / max) * 27).toFixed(1)}`);
  const [area, line] = svg.children;
  line.setAttribute('points', pts.join(' '));
  area.setAttribute('points', pts.length ? `${((off) * step).toFixed(1)},30 ${pts.join(' ')} 120,30` : '');
}

// lineChart draws series [{at, total}] as an SVG with its highest value and time span written.
export function lineChart(series, label, fmtAt) {
  const W = 600, H = 140, P = 24;
  const svg = h('svg:svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label });
  if (!series.length) return svg;
  const t0 = Date.parse(series[0].at), t1 = Date.parse(series[series.length - 1].at);
  const span = Math.max(1, t1 - t0);
  const max = Math.max(1, ...series.map((s) => s.total));
  const x = (s) => P + ((Date.parse(s.at) - t0) / span) * (W - 2 * P);
  const y = (v) => H - P - (v / max) * (H - 2 * P);
  const pts = series.map((s) => `${x(s).toFixed(1)},${y(s.total).toFixed(1)}`).join(' ');
  svg.append(
    h('svg:line', { x1: P, y1: H - P, x2: W - P, y2: H - P, class: 'axis' }),
    h('svg:line', { x1: P, y1: y(max), x2: W - P, y2: y(max), class: 'grid' }),
    h('svg:text', { x: P, y: y(max) - 4, class: 'label' }, String(max)),
    h('svg:polyline', { points: pts, class: 'chart-line' }),
    h('svg:text', { x: P, y: H - 6, class: 'label' }, fmtAt(series[0].at)),
    h('svg:text', { x: W - P, y: H - 6, class: 'label end' }, fmtAt(series[series.length - 1].at)),
  );
  return svg;
}
