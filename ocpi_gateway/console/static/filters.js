// The filter bar of the reservation and booking lists: state (``live`` by default), site,
// eMSP, token and the days they were made in (UTC), sent as the admin API's query parameters.
'use strict';
import { h } from './dom.js';

export function filterBar(states, onSubmit) {
  const filters = { state: 'live', site: '', emsp: '', token: '' };
  const days = { from: '', to: '' };
  const day = (name) => h('input', { type: 'date', name,
    onchange: (e) => { days[name] = e.target.value; } });
  const input = (name) => h('input', { name, value: filters[name], size: 10,
    oninput: (e) => { filters[name] = e.target.value.trim(); } });
  const select = h('select', { name: 'state',
    onchange: (e) => { filters.state = e.target.value; } },
  ['live', ...states, ''].map((st) => h('option', { value: st, selected: st === 'live' },
    st || 'all')));
  const form = h('form', { class: 'toolbar',
    onsubmit: (e) => { e.preventDefault(); onSubmit(); } },
  h('label', {}, 'State ', select), h('label', {}, 'Site ', input('site')),
  h('label', {}, 'eMSP ', input('emsp')), h('label', {}, 'Token ', input('token')),
  h('label', {}, 'Made from ', day('from')), h('label', {}, 'to ', day('to')),
  h('button', { type: 'submit' }, 'Filter'));
  const query = (extra) => {
    const params = new URLSearchParams(extra);
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    // Whole days: from the first one's start to the last one's end (the API's 'to' is
    // exclusive).
    if (days.from) params.set('from', `${days.from}T00:00:00Z`);
    if (days.to) {
      const end = new Date(`${days.to}T00:00:00Z`);
      end.setUTCDate(end.getUTCDate() + 1);
      params.set('to', end.toISOString());
    }
    return params;
  };
  return { form, query };
}
