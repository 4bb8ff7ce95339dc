// A site's reservations and bookings over a day or a week, one lane per EVSE (and one for
// bookings not yet bound to an EVSE); redrawn when the feed reports a change at the site.
'use strict';
import { everySite, get } from './api.js';
import { clear, h, s } from './dom.js';
import { listen } from './live.js';

const LANE = 26;
const LEFT = 110;
const WIDTH = 960;

function startOfDay(date) {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}

export async function show(view) {
  const sites = await everySite();
  const state = { site: sites.length ? sites[0].id : '', span: 'day',
                  day: startOfDay(new Date()) };
  const chart = h('div', { class: 'timeline' });
  const siteSelect = h('select', { name: 'site', onchange: (e) => { state.site = e.target.value; load(); } },
    sites.map((site) => h('option', { value: site.id }, site.id)));
  const spanSelect = h('select', { name: 'span', onchange: (e) => { state.span = e.target.value; load(); } },
    h('option', { value: 'day' }, 'day'), h('option', { value: 'week' }, 'week'));
  const dayInput = h('input', { type: 'date', name: 'day',
    value: state.day.toISOString().slice(0, 10),
    onchange: (e) => { state.day = new Date(`${e.target.value}T00:00:00Z`); load(); } });
  clear(view);
  view.append(h('h2', {}, 'Timeline'), h('div', { class: 'toolbar' },
    h('label', {}, 'Site ', siteSelect), h('label', {}, 'Span ', spanSelect),
    h('label', {}, 'From ', dayInput), h('span', { class: 'muted' }, 'times in UTC')),
  chart);

  async function load() {
    if (!state.site) { chart.replaceChildren(h('p', { class: 'muted' }, 'no sites')); return; }
    const from = state.day;
    const to = new Date(from.getTime() + (state.span === 'day' ? 1 : 7) * 86400000);
    const query = new URLSearchParams({ site: state.site, from: from.toISOString(),
                                        to: to.toISOString() });
    const data = await get(`/admin/api/timeline?${query}`);
    chart.replaceChildren(draw(data, from, to, state.span));
    view.dataset.loaded = String(Date.now());
  }
  const reload = (change) => { if (change.location_id === state.site) load(); };
  const off = [listen('ready', load), listen('reservation', reload), listen('booking', reload)];
  await load();
  return () => off.forEach((f) => f());
}

function draw(data, from, to, span) {
  const lanes = [...data.evses];
  if (data.items.some((i) => !i.evse_uid)) lanes.push('');
  const height = 24 + LANE * Math.max(lanes.length, 1);
  const t0 = from.getTime();
  const t1 = to.getTime();
  const x = (iso) => LEFT + (WIDTH - LEFT) *
    Math.min(Math.max((new Date(iso).getTime() - t0) / (t1 - t0), 0), 1);
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img',
                         'aria-label': `timeline of ${data.site}` });
  const ticks = span === 'day' ? 24 : 7;
  for (let i = 0; i <= ticks; i += 1) {
    const tx = LEFT + ((WIDTH - LEFT) * i) / ticks;
    svg.append(s('line', { x1: tx, x2: tx, y1: 16, y2: height, stroke: '#e4e7ec' }));
    if (i < ticks && (span === 'week' || i % 2 === 0)) {
      const label = span === 'day' ? `${String(i).padStart(2, '0')}:00` :
        new Date(t0 + i * 86400000).toISOString().slice(5, 10);
      svg.append(s('text', { x: tx + 2, y: 12 }, label));
    }
  }
  lanes.forEach((lane, index) => {
    const y = 20 + index * LANE;
    svg.append(s('text', { x: 4, y: y + 15 }, lane || 'unassigned'));
    svg.append(s('line', { x1: LEFT, x2: WIDTH, y1: y + LANE - 2, y2: y + LANE - 2,
                           stroke: '#f0f2f5' }));
  });
  for (const item of data.items) {
    const lane = lanes.indexOf(item.evse_uid || '');
    if (lane < 0) continue;
    const x0 = x(item.start);
    const w = Math.max(x(item.end) - x0, 3);
    const bar = s('rect', { x: x0, y: 22 + lane * LANE, width: w, height: LANE - 8, rx: 3,
      class: `bar-${item.kind}${item.live ? '' : ' bar-ended'}`,
      'data-key': item.key, 'data-kind': item.kind, 'data-state': item.state },
    s('title', {}, `${item.kind} ${item.key} (${item.state}) ${item.start} → ${item.end}`));
    svg.append(bar);
  }
  const legend = h('p', { class: 'legend' },
    h('span', {}, h('i', { class: 'key-reservation' }), 'reservation'),
    h('span', {}, h('i', { class: 'key-booking' }), 'booking'),
    h('span', { class: 'muted' }, `${data.items.length} in view; faded: ended`));
  return h('div', {}, svg, legend);
}
