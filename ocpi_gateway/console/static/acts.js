// The operator's acts on one record of the reservation and booking lists: a POST to the
// record's own admin route, what came of it told above the list, then the list reloaded.
'use strict';
import { post } from './api.js';
import { message } from './dom.js';

export function recordActs(base, idField, notice, reload) {
  const one = (item) => `${base}/${encodeURIComponent(item.emsp)}/` +
    encodeURIComponent(item[idField]);
  async function act(item, verb, body, describe) {
    try {
      const done = await post(`${one(item)}/${verb}`, body);
      notice.replaceChildren(message(`${item.key}: ${describe(done)}`));
    } catch (error) {
      notice.replaceChildren(message(`${item.key}: ${error.message}`, 'error'));
    }
    await reload();
  }
  return { one, act };
}
