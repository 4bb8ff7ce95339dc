// Bar charts drawn as SVG: each bar carries its figure (data-value) and a label, so what the
// chart shows can be read back exactly.
'use strict';
import { h, s } from './dom.js';

const COLOURS = ['#d08a00', '#2457c5', '#2e9e5b', '#8b5cf6', '#b42318', '#475467'];
const WIDTH = 600;
const LABEL = 140;
const ROW = 22;

// rows: [{label, parts: [{name, value, text}]}]; max: the scale (1 for shares).
export function stackedBars(title, series, rows, max, id) {
  const height = 10 + ROW * Math.max(rows.length, 1);
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'aria-label': title });
  const span = WIDTH - LABEL - 190;  // room for the figures after the longest bar
  const scale = max > 0 ? max : 1;
  rows.forEach((row, index) => {
    const y = 5 + index * ROW;
    svg.append(s('text', { x: 0, y: y + 14 }, row.label));
    let x = LABEL;
    row.parts.forEach((part, k) => {
      const w = Math.max((span * part.value) / scale, 0);
      svg.append(s('rect', { x, y: y + 2, width: w, height: ROW - 6,
        fill: COLOURS[series.indexOf(part.name) % COLOURS.length],
        'data-row': row.label, 'data-series': part.name, 'data-value': part.value },
      s('title', {}, `${row.label} ${part.name}: ${part.text}`)));
      x += w;
      if (k === row.parts.length - 1) {
        svg.append(s('text', { x: x + 4, y: y + 14 }, row.parts.map((p) => p.text).join(' / ')));
      }
    });
  });
  if (rows.length === 0) svg.append(s('text', { x: 0, y: 20 }, 'nothing in this window'));
  return h('div', { class: 'chart', id },
    h('h3', {}, title),
    h('p', { class: 'legend' }, series.map((name, i) => h('span', {},
      h('i', { 'data-colour': COLOURS[i % COLOURS.length] }), name))),
    svg);
}

export function paintLegends(root) {
  // CSP forbids style attributes in markup; colours are set through the CSSOM instead.
  for (const swatch of root.querySelectorAll('i[data-colour]')) {
    swatch.style.background = swatch.dataset.colour;
  }
}

export function percent(share) {
  return share === null || share === undefined ? '–' : `${(share * 100).toFixed(1)} %`;
}
