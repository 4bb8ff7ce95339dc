// Sites and their EVSEs, each tile recoloured the moment the feed reports its status.
'use strict';
import { everySite } from './api.js';
import { clear, h } from './dom.js';
import { listen } from './live.js';

const STATUSES = ['AVAILABLE', 'RESERVED', 'CHARGING', 'BLOCKED', 'INOPERATIVE', 'OUTOFORDER',
                  'UNKNOWN', 'REMOVED'];

function tile(site, evse) {
  return h('div', { class: `evse s-${evse.status}`, title: `${evse.charge_point_id}`,
                    dataset: { site: site.id, evse: evse.uid, status: evse.status } },
    h('b', {}, evse.uid), h('span', { class: 'status' }, evse.status));
}

function counts(site) {
  const byStatus = {};
  for (const evse of site.evses) byStatus[evse.status] = (byStatus[evse.status] || 0) + 1;
  return h('p', { class: 'counts muted' }, STATUSES.filter((st) => byStatus[st])
    .map((st) => h('span', {}, `${st.toLowerCase()}: ${byStatus[st]}`)));
}

export async function show(view) {
  const tiles = new Map();
  const sites = new Map();
  let pending = null;  // changes heard while a load is in flight, applied after it
  async function load() {
    pending = [];
    const all = await everySite();
    tiles.clear();
    clear(view);
    view.append(h('h2', {}, 'Sites'));
    for (const site of all) {
      sites.set(site.id, site);
      const box = h('div', { class: 'evses' });
      for (const evse of site.evses) {
        const element = tile(site, evse);
        tiles.set(`${site.id}/${evse.uid}`, { element, evse });
        box.append(element);
      }
      view.append(h('div', { class: 'site', dataset: { site: site.id } },
        h('h3', {}, `${site.name || site.id} `, h('span', { class: 'muted' },
          `${site.id} · ${site.address}, ${site.city}`)), counts(site), box));
    }
    const heard = pending;
    pending = null;
    heard.forEach(apply);
    view.dataset.loaded = String(Date.now());
  }
  function apply(change) {
    const found = tiles.get(`${change.location_id}/${change.evse_uid}`);
    if (!found) return;
    found.evse.status = change.status;
    found.element.className = `evse s-${change.status}`;
    found.element.dataset.status = change.status;
    found.element.querySelector('.status').textContent = change.status;
    const site = sites.get(change.location_id);
    const box = view.querySelector(`.site[data-site="${CSS.escape(change.location_id)}"]`);
    if (site && box) box.querySelector('.counts').replaceWith(counts(site));
  }
  const off = [
    listen('ready', load),
    listen('evse', (change) => (pending ? pending.push(change) : apply(change))),
  ];
  await load();
  return () => off.forEach((f) => f());
}
