// One reservation's or booking's full history (and a booking's requests), as the admin API
// answers it, in a modal <dialog>: what support looks at when a driver calls.
'use strict';
import { get } from './api.js';
import { h, table, when } from './dom.js';

export async function showHistory(title, path) {
  const record = await get(path);
  const dialog = h('dialog', { class: 'ask history' });
  const parts = [h('h3', {}, title),
    h('p', { class: 'muted' }, `${record.state}${record.evse_uid ? ` at ${record.evse_uid}` : ''}`),
    table([
      { title: 'When', value: (e) => when(e.at) },
      { title: 'From', value: (e) => e.from_state || '' },
      { title: 'To', value: (e) => e.to },
      { title: 'EVSE', value: (e) => e.evse_uid || '' },
      { title: 'Why', value: (e) => e.reason },
    ], (record.history || []).map((e) => ({ item: e, attributes: { class: 'entry' } })))];
  if (record.requests) {
    parts.push(h('h3', {}, 'Requests from the eMSP'), table([
      { title: 'Received', value: (r) => when(r.received) },
      { title: 'Kind', value: (r) => (r.cancellation ? 'cancellation' : 'booking or change') },
      { title: 'Status', value: (r) => r.status },
      { title: 'Message', value: (r) => r.message || '' },
    ], record.requests.map((r) => ({ item: r, attributes: { class: 'request' } }))));
  }
  parts.push(h('p', {}, h('button', { type: 'button', onclick: () => dialog.close() },
    'Close')));
  dialog.append(...parts);
  dialog.addEventListener('close', () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// The key of a row, which opens its history.
export function keyLink(key, title, path) {
  return h('a', { href: '#', class: 'key', onclick: (e) => {
    e.preventDefault();
    showHistory(title, path).catch((error) => window.alert(`${key}: ${error.message}`));
  } }, key);
}
