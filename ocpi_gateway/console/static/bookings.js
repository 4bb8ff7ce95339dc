// The bookings (OCPI 2.3.0) list (newest first), filtered, with the operator's acts: cancel
// (the eMSP is told why, in OCPI's CanceledReason), move a bound booking to another EVSE,
// give one a later end. Reloaded when the feed reports a booking's change.
'use strict';
import { recordActs } from './acts.js';
import { currentSession, get, hasOperation } from './api.js';
import { ask } from './ask.js';
import { clear, h, table, when } from './dom.js';
import { filterBar } from './filters.js';
import { keyLink } from './history.js';
import { listen } from './live.js';

const STATES = ['PENDING', 'RESERVED', 'REJECTED', 'FAILED', 'FULFILLED', 'CANCELED',
                'NO_SHOW'];
const REASONS = ['UNKNOWN', 'BROKEN_CHARGER', 'POWER_OUTAGE', 'BLOCKED', 'FULL', 'TRAFFIC',
                 'BROKEN_VEHICLE', 'NO_CANCELED'];
const ONE = '/admin/api/bookings/{emsp}/{request_id}';

export async function show(view) {
  const notice = h('div', {});
  const list = h('div', {});
  const bar = filterBar(STATES, () => load());
  clear(view);
  view.append(h('h2', {}, 'Bookings'), bar.form, notice, list);

  const { one, act } = recordActs('/admin/api/bookings', 'request_id', notice, () => load());
  const withNote = (answers, extra) => ({ ...extra,
                                          ...(answers.note ? { note: answers.note } : {}) });
  async function cancel(item) {
    const answers = await ask(`Cancel booking ${item.key}`, [
      { name: 'reason', label: 'Reason (sent to the eMSP)', value: 'UNKNOWN',
        options: REASONS },
      { name: 'note', label: 'Note for the audit log' }], 'Cancel the booking');
    if (answers === null) return;
    await act(item, 'cancel', withNote(answers, { reason: answers.reason }),
      (done) => `${done.state} (${done.canceled ? done.canceled.reason : ''})`);
  }
  async function move(item) {
    const answers = await ask(`Move booking ${item.key} (now on ${item.evse_uid})`, [
      { name: 'evse_uid', label: `EVSE of ${item.location_id}`, required: true },
      { name: 'note', label: 'Note for the audit log' }], 'Move');
    if (answers === null) return;
    await act(item, 'move', withNote(answers, { evse_uid: answers.evse_uid }),
      (done) => `${done.state} at ${done.evse_uid}`);
  }
  async function extend(item) {
    const answers = await ask(`Extend booking ${item.key}`, [
      { name: 'end_date', label: 'New end (ISO 8601, UTC)', value: item.end, required: true },
      { name: 'note', label: 'Note for the audit log' }], 'Extend');
    if (answers === null) return;
    await act(item, 'extend', withNote(answers, { end_date: answers.end_date }),
      (done) => `${done.state} until ${done.end}`);
  }
  // The acts this gateway has (its OpenAPI document lists them), for an operator only; which
  // apply depends on the booking: any live one is cancelled, a RESERVED one extended, a
  // bound one moved.
  const acts = [['Cancel', cancel, 'cancel', 'danger', (b) => b.live],
                ['Move', move, 'move', '', (b) => b.state === 'RESERVED' && b.evse_uid],
                ['Extend', extend, 'extend', '', (b) => b.state === 'RESERVED']];
  const operator = currentSession().role === 'operator';
  const available = [];
  for (const act of acts) {
    if (operator && await hasOperation('POST', `${ONE}/${act[2]}`)) available.push(act);
  }
  const buttons = (b) => available.filter(([, , , , applies]) => applies(b)).map(
    ([label, handler, , kind]) => h('button', { class: kind || null, type: 'button',
                                                onclick: () => handler(b) }, label));

  async function load() {
    const page = await get(`/admin/api/bookings?${bar.query({ limit: '200' })}`);
    list.replaceChildren(page.items.length === 0 ? h('p', { class: 'muted' }, 'none') :
      table([
        { title: 'Booking', value: (b) => keyLink(b.key, `Booking ${b.key}`, one(b)) },
        { title: 'State', value: (b) => h('span', { class: 'state' }, b.state) },
        { title: 'Site', value: (b) => b.location_id },
        { title: 'EVSE', value: (b) => h('span', { class: 'evse-uid' }, b.evse_uid || '') },
        { title: 'Tokens', value: (b) => b.tokens.join(', ') },
        { title: 'Start', value: (b) => when(b.start) },
        { title: 'End', value: (b) => h('span', { class: 'end' }, when(b.end)) },
        { title: 'Made', value: (b) => when(b.created_at) },
        { title: 'Note', value: (b) => b.message || '' },
        { title: '', value: buttons },
      ], page.items.map((b) => ({ item: b, attributes: { 'data-key': b.key } }))));
    view.dataset.loaded = String(Date.now());
  }
  let queued = null;
  const off = [listen('ready', load), listen('booking', () => {
    // A burst of transitions makes one reload.
    if (queued === null) queued = setTimeout(() => { queued = null; load(); }, 100);
  })];
  await load();
  return () => { off.forEach((f) => f()); if (queued) clearTimeout(queued); };
}
