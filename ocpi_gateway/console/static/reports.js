// The report's charts: no-show rate, utilisation, acceptance and refusal reasons per eMSP,
// reservation and no-show revenue, over a window the operator picks.
'use strict';
import { everySite, get } from './api.js';
import { clear, h, table } from './dom.js';
import { paintLegends, percent, stackedBars } from './charts.js';

function isoDay(date) { return date.toISOString().slice(0, 10); }

export async function show(view) {
  const sites = await everySite();
  const today = new Date();
  const params = new URLSearchParams(window.location.hash.split('?')[1] || '');
  const state = {
    from: params.get('from') || isoDay(new Date(today.getTime() - 7 * 86400000)),
    to: params.get('to') || isoDay(new Date(today.getTime() + 86400000)),
    site: params.get('site') || '', partner: params.get('partner') || '',
  };
  const out = h('div', {});
  const field = (name, type) => h('input', { name, type, value: state[name], size: 10,
    oninput: (e) => { state[name] = e.target.value.trim(); } });
  const form = h('form', { class: 'toolbar', onsubmit: (e) => { e.preventDefault(); load(); } },
    h('label', {}, 'From ', field('from', 'date')), h('label', {}, 'To ', field('to', 'date')),
    h('label', {}, 'Site ', h('select', { name: 'site',
      onchange: (e) => { state.site = e.target.value; } },
    h('option', { value: '' }, 'all'),
    sites.map((site) => h('option', { value: site.id, selected: site.id === state.site },
      site.id)))),
    h('label', {}, 'eMSP ', field('partner', 'text')),
    h('button', { type: 'submit' }, 'Show'));
  clear(view);
  view.append(h('h2', {}, 'Reports'), form, out);

  async function load() {
    const query = new URLSearchParams({ from: `${state.from}T00:00:00Z`,
                                        to: `${state.to}T00:00:00Z` });
    if (state.site) query.set('site', state.site);
    if (state.partner) query.set('partner', state.partner);
    const report = await get(`/admin/api/reports?${query}`);
    out.replaceChildren(render(report));
    paintLegends(out);
    view.dataset.loaded = String(Date.now());
  }
  await load();
  return () => {};
}

function render(report) {
  const noShows = report.no_shows.filter((r) => r.used + r.no_shows > 0);
  const usage = report.utilisation;
  const money = report.revenue;
  return h('div', { class: 'charts' },
    stackedBars('No-show rate per eMSP', ['no-shows', 'used'], noShows.map((r) => ({
      label: r.partner === '*' ? 'all eMSPs' : r.partner,
      parts: [{ name: 'no-shows', value: r.rate, text: `${percent(r.rate)} (${r.no_shows} of ${r.used + r.no_shows})` },
              { name: 'used', value: 1 - r.rate, text: `${r.used} used` }] })), 1, 'chart-noshows'),
    stackedBars('Utilisation (share of the window)', ['reserved', 'used by the reserver', 'walk-in'],
      usage.map((u) => ({
        label: u.evse_uid ? `${u.location_id} ${u.evse_uid}` : `${u.location_id} (site)`,
        parts: [{ name: 'reserved', value: u.reserved_share, text: percent(u.reserved_share) },
                { name: 'used by the reserver', value: u.used_share, text: percent(u.used_share) },
                { name: 'walk-in', value: u.walk_in_share, text: percent(u.walk_in_share) }] })),
      // Scaled to the busiest row: shares of a window are small; the labels say them.
      Math.max(0.01, ...usage.map((u) => u.reserved_share + u.used_share + u.walk_in_share)),
      'chart-utilisation'),
    stackedBars('Acceptance per eMSP', ['accepted', 'refused'], report.acceptance.map((a) => ({
      label: `${a.partner} ${a.kind}`,
      parts: [{ name: 'accepted', value: a.accepted, text: `${a.accepted} accepted` },
              { name: 'refused', value: a.refused, text: `${a.refused} refused` }] })),
    Math.max(1, ...report.acceptance.map((a) => a.accepted + a.refused)), 'chart-acceptance'),
    h('div', { class: 'chart', id: 'refusals' }, h('h3', {}, 'Refusal reasons'),
      table([{ title: 'eMSP', value: (r) => r.partner }, { title: 'Kind', value: (r) => r.kind },
             { title: 'Reason', value: (r) => r.reason },
             { title: 'Count', num: true, value: (r) => r.count }],
      report.acceptance.flatMap((a) => a.refusals.map((r) => ({
        item: { partner: a.partner, kind: a.kind, reason: r.reason, count: r.count } }))))),
    stackedBars('Reservation and no-show revenue (before taxes)',
      ['reservation fees', 'no-show fees', 'late cancellation fees'], money.map((m) => ({
        label: `${m.partner === '*' ? 'all eMSPs' : m.partner} ${m.currency}`,
        parts: [{ name: 'reservation fees', value: Number(m.reservation_fees), text: m.reservation_fees },
                { name: 'no-show fees', value: Number(m.no_show_fees), text: m.no_show_fees },
                { name: 'late cancellation fees', value: Number(m.late_cancellation_fees),
                  text: m.late_cancellation_fees }] })),
      Math.max(1, ...money.map((m) => Number(m.reservation_fees) + Number(m.no_show_fees) +
                                      Number(m.late_cancellation_fees))), 'chart-revenue'));
}
