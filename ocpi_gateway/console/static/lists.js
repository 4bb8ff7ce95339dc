// Chargers, partners and the outbox's dead letters: tables of what the admin API reads.
'use strict';
import { call, currentSession, get, hasOperation } from './api.js';
import { clear, h, message, table, when } from './dom.js';
import { listen } from './live.js';

export async function chargers(view) {
  async function load() {
    const page = await get('/admin/api/chargers');
    clear(view);
    view.append(h('h2', {}, 'Chargers'),
      h('p', { class: 'muted' }, `${page.online} of ${page.total} online`),
      table([
        { title: 'Charger', value: (c) => c.id },
        { title: 'Online', value: (c) => (c.online ? 'yes' : 'no') },
        { title: 'OCPP', value: (c) => c.ocpp_version || c.configured_version || '' },
        { title: 'Instance', value: (c) => c.instance_id || '' },
        { title: 'Last message', value: (c) => when(c.last_message_at) },
        { title: 'Vendor / model', value: (c) => [c.vendor, c.model].filter(Boolean).join(' ') },
        { title: 'EVSEs', value: (c) => (c.evses || []).map((e) => e.evse_uid).join(', ') },
      ], page.items.map((c) => ({ item: c, attributes: { 'data-charger': c.id } }))));
    view.dataset.loaded = String(Date.now());
  }
  const off = listen('ready', load);
  await load();
  return off;
}

export async function partners(view) {
  const page = await get('/admin/api/partners');
  clear(view);
  view.append(h('h2', {}, 'Partners'), table([
    { title: 'Name', value: (p) => p.name },
    { title: 'State', value: (p) => p.state },
    { title: 'OCPI', value: (p) => p.version || '' },
    { title: 'Roles', value: (p) => p.roles.map((r) => `${r.role} ${r.party}`).join(', ') },
    { title: 'Granted', value: (p) => p.granted },
    { title: 'Since', value: (p) => when(p.created_at) },
  ], page.items.map((p) => ({ item: p, attributes: { 'data-partner': p.id } }))));
  view.dataset.loaded = String(Date.now());
  return () => {};
}

const RETRY = ['POST', '/admin/api/outbox/{delivery_id}/retry'];
const DROP = ['DELETE', '/admin/api/outbox/{delivery_id}'];

export async function outbox(view) {
  const notice = h('div', {});
  const mayAct = currentSession().role === 'operator';
  // The buttons appear where this gateway has the operations (its OpenAPI document says).
  const canRetry = mayAct && await hasOperation(...RETRY);
  const canDrop = mayAct && await hasOperation(...DROP);
  async function act([method, template], delivery, verb) {
    // A drop cannot be undone: the operator says so first.
    if (method === 'DELETE' && !window.confirm(`Drop ${delivery.id} for good? ` +
        `${delivery.method} ${delivery.url} will never be sent.`)) return;
    try {
      await call(method, template.replace('{delivery_id}', encodeURIComponent(delivery.id)));
      notice.replaceChildren(message(`${verb}: ${delivery.id}`));
    } catch (error) {
      notice.replaceChildren(message(`${delivery.id}: ${error.message}`, 'error'));
    }
    await load();
  }
  async function load() {
    const [counts, page] = await Promise.all([get('/admin/api/outbox/counts'),
      get('/admin/api/outbox?state=dead&limit=200')]);
    clear(view);
    view.append(h('h2', {}, 'Dead letters'),
      h('p', { class: 'muted' }, `pending ${counts.pending} · retrying ${counts.retrying} · ` +
        `dead ${counts.dead}`), notice,
      page.items.length === 0 ? h('p', { class: 'muted' }, 'no dead letters') : table([
        { title: 'Delivery', value: (d) => d.id },
        { title: 'Partner', value: (d) => d.partner_id },
        { title: 'Request', value: (d) => `${d.method} ${d.url}` },
        { title: 'Attempts', num: true, value: (d) => d.attempts },
        { title: 'Last error', value: (d) => d.last_error || '' },
        { title: '', value: (d) => [
          canRetry ? h('button', { type: 'button', onclick: () => act(RETRY, d, 'retried') },
            'Retry') : '',
          canDrop ? h('button', { type: 'button', class: 'danger',
            onclick: () => act(DROP, d, 'dropped') }, 'Drop') : ''] },
      ], page.items.map((d) => ({ item: d, attributes: { 'data-delivery': d.id } }))));
    view.dataset.loaded = String(Date.now());
  }
  const off = listen('ready', load);
  await load();
  return off;
}
