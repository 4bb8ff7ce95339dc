// The admin API from the page: the session cookie goes with every request, the session's
// CSRF token with every unsafe one. A 401 sends the page back to its login form.
'use strict';

const session = { csrf: null, operator: null, role: null, onLoggedOut: null };

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function currentSession() { return session; }

export async function call(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  const answer = await fetch(path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await answer.text();
  const parsed = text ? JSON.parse(text) : null;
  if (answer.status === 401 && session.onLoggedOut) session.onLoggedOut();
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  return parsed;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body === undefined ? {} : body);

export async function resume() {
  try {
    const info = await get('/admin/api/session');
    Object.assign(session, { csrf: info.csrf_token, operator: info.operator, role: info.role });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return false;
    throw error;
  }
}

export async function login(name, password) {
  const info = await call('POST', '/admin/api/session', { name, password });
  Object.assign(session, { csrf: info.csrf_token, operator: info.operator, role: info.role });
}

export async function logout() {
  await call('DELETE', '/admin/api/session');
  Object.assign(session, { csrf: null, operator: null, role: null });
}

// The OpenAPI document says which operations this gateway has (a newer gateway has more).
let documentPaths = null;
export async function hasOperation(method, template) {
  if (documentPaths === null) {
    documentPaths = (await get('/admin/api/openapi.json')).paths || {};
  }
  const item = documentPaths[template];
  return Boolean(item && item[method.toLowerCase()]);
}

// Every page of a keyset or offset list.
export async function everySite() {
  const sites = [];
  let offset = 0;
  for (;;) {
    const page = await get(`/admin/api/sites?limit=1000&offset=${offset}`);
    sites.push(...page.items);
    offset += page.items.length;
    if (page.items.length === 0 || offset >= page.total) return sites;
  }
}
