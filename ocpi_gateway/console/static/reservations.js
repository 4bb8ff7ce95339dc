// The reservation list (newest first), filtered, with the operator's cancel; reloaded when
// the feed reports a reservation's change.
'use strict';
import { recordActs } from './acts.js';
import { currentSession, get, hasOperation } from './api.js';
import { clear, h, table, when } from './dom.js';
import { filterBar } from './filters.js';
import { keyLink } from './history.js';
import { listen } from './live.js';

const STATES = ['PENDING', 'ACTIVE', 'REROUTED', 'USED', 'EXPIRED', 'CANCELLED', 'REMOVED',
                'FAILED'];

export async function show(view) {
  const notice = h('div', {});
  const list = h('div', {});
  const bar = filterBar(STATES, () => load());
  clear(view);
  view.append(h('h2', {}, 'Reservations'), bar.form, notice, list);

  const { one, act } = recordActs('/admin/api/reservations', 'reservation_id', notice, () => load());
  async function cancel(item) {
    const note = window.prompt(`Cancel ${item.key}? A note for the audit log:`, '');
    if (note === null) return;
    await act(item, 'cancel', note ? { note } : {},
      (done) => `${done.reservation.state}, charger ${done.charger_answer}`);
  }
  async function move(item) {
    const evse = window.prompt(`Move ${item.key} to which EVSE of ${item.location_id}?`, '');
    if (!evse) return;
    await act(item, 'move', { evse_uid: evse.trim() },
      (done) => `${done.reservation.state} at ${done.reservation.evse_uid}`);
  }
  async function extend(item) {
    const expiry = window.prompt(`New expiry of ${item.key} (ISO 8601, UTC):`, item.expiry);
    if (!expiry) return;
    await act(item, 'extend', { expiry_date: expiry.trim() },
      (done) => `${done.reservation.state} until ${done.reservation.expiry}`);
  }
  // The acts this gateway has (its OpenAPI document lists them), for an operator only.
  const ONE = '/admin/api/reservations/{emsp}/{reservation_id}';
  const operator = currentSession().role === 'operator';
  const acts = [['Cancel', cancel, 'cancel', 'danger'], ['Move', move, 'move', ''],
                ['Extend', extend, 'extend', '']];
  const available = [];
  for (const [label, handler, verb, kind] of acts) {
    if (operator && await hasOperation('POST', `${ONE}/${verb}`)) {
      available.push([label, handler, kind]);
    }
  }

  // A booking's binding runs to the booking's no-show time: the booking is what is
  // extended (the Bookings view); moving it moves the booking too.
  const applies = (label, r) => !(label === 'Extend' && r.booking_key);

  async function load() {
    const page = await get(`/admin/api/reservations?${bar.query({ limit: '200' })}`);
    list.replaceChildren(page.items.length === 0 ? h('p', { class: 'muted' }, 'none') :
      table([
        { title: 'Reservation', value: (r) => keyLink(r.key, `Reservation ${r.key}`, one(r)) },
        { title: 'State', value: (r) => h('span', { class: 'state' }, r.state) },
        { title: 'Site', value: (r) => r.location_id },
        { title: 'EVSE', value: (r) => r.evse_uid || '' },
        { title: 'Charger', value: (r) => r.charge_point_id || '' },
        { title: 'Token', value: (r) => r.token_uid },
        { title: 'Booking', value: (r) => r.booking_key || '' },
        { title: 'Made', value: (r) => when(r.created_at) },
        { title: 'Expiry', value: (r) => when(r.expiry) },
        { title: '', value: (r) => (r.live ? available.filter(([label]) => applies(label, r))
          .map(([label, handler, kind]) => h('button', { class: kind || null, type: 'button',
                                                      onclick: () => handler(r) }, label))
          : '') },
      ], page.items.map((r) => ({ item: r, attributes: { 'data-key': r.key } }))));
    view.dataset.loaded = String(Date.now());
  }
  let queued = null;
  const off = [listen('ready', load), listen('reservation', () => {
    // A burst of transitions makes one reload.
    if (queued === null) queued = setTimeout(() => { queued = null; load(); }, 100);
  })];
  await load();
  return () => { off.forEach((f) => f()); if (queued) clearTimeout(queued); };
}
