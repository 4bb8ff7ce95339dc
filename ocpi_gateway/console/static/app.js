// The console's shell: log in (or resume the session), open the live feed, show the view the
// address names (#sites, #timeline, ...), and leave the previous one cleanly.
'use strict';
import * as api from './api.js';
import * as bookings from './bookings.js';
import { message } from './dom.js';
import * as live from './live.js';
import * as lists from './lists.js';
import * as reports from './reports.js';
import * as reservations from './reservations.js';
import * as sites from './sites.js';
import * as timeline from './timeline.js';

const VIEWS = {
  sites: sites.show, timeline: timeline.show, reservations: reservations.show,
  bookings: bookings.show, chargers: lists.chargers, partners: lists.partners,
  outbox: lists.outbox, reports: reports.show,
};
let leave = null;
let showing = 0;

function el(id) { return document.getElementById(id); }

async function route() {
  const name = (window.location.hash.slice(1).split('?')[0]) || 'sites';
  const show = VIEWS[name] || VIEWS.sites;
  const turn = ++showing;
  if (leave) { leave(); leave = null; }
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('current', link.getAttribute('href') === `#${name}`);
  }
  // A fresh element per visit: a view still loading when the operator moved on then fills
  // a detached one, never the view shown now (nor marks it loaded).
  const view = document.createElement('section');
  view.id = 'view';
  view.dataset.view = name;
  el('view').replaceWith(view);
  try {
    const off = await show(view);
    if (turn === showing) leave = off; else off();
  } catch (error) {
    if (!(error instanceof api.ApiError && error.status === 401)) {
      view.replaceChildren(message(`could not load: ${error.message}`, 'error'));
    }
  }
}

function loggedIn() {
  const session = api.currentSession();
  el('login').hidden = true;
  el('nav').hidden = false;
  el('logout').hidden = false;
  el('who').textContent = `${session.operator} (${session.role})`;
  live.connect();
  route();
}

function loggedOut() {
  live.disconnect();
  if (leave) { leave(); leave = null; }
  el('view').replaceChildren();
  el('nav').hidden = true;
  el('logout').hidden = true;
  el('who').textContent = '';
  el('login').hidden = false;
}

async function start() {
  api.currentSession().onLoggedOut = loggedOut;
  el('login').addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(el('login'));
    try {
      await api.login(data.get('name'), data.get('password'));
      el('login-error').textContent = '';
      el('login').reset();
      loggedIn();
    } catch (error) {
      el('login-error').textContent = error.message;
    }
  });
  el('logout').addEventListener('click', async () => {
    await api.logout().catch(() => {});
    loggedOut();
  });
  window.addEventListener('hashchange', () => { if (!el('nav').hidden) route(); });
  if (await api.resume()) loggedIn(); else loggedOut();
}

start();
