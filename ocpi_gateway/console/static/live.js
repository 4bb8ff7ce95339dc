// The live feed: one EventSource for the whole page. Each view registers handlers of the
// change kinds it shows; after every (re)connection the "ready" event tells the current view
// to reload its state, so nothing that happened while the stream was down is missed.
'use strict';

const handlers = { evse: new Set(), reservation: new Set(), booking: new Set(),
                   ready: new Set() };
let source = null;

function badge(on) {
  const element = document.getElementById('live');
  element.textContent = on ? 'live' : 'offline';
  element.className = `live ${on ? 'on' : 'off'}`;
}

export function connect() {
  if (source !== null) return;
  source = new EventSource('/admin/api/live');
  source.addEventListener('ready', () => {
    badge(true);
    for (const handler of handlers.ready) handler();
  });
  for (const kind of ['evse', 'reservation', 'booking']) {
    source.addEventListener(kind, (event) => {
      const change = JSON.parse(event.data);
      for (const handler of handlers[kind]) handler(change.data);
    });
  }
  source.addEventListener('error', () => badge(false));
}

export function disconnect() {
  if (source !== null) source.close();
  source = null;
  badge(false);
}

// Handlers of one view; ``off`` removes them all when the view is left.
export function listen(kind, handler) {
  handlers[kind].add(handler);
  return () => handlers[kind].delete(handler);
}
