"""The interactive page of the admin API (``/admin/api/docs``): Swagger UI, whose files come
from the ``swagger-ui-bundle-v2`` package installed with the gateway (nothing of it is copied
into this repository), over the generated document.

The page and Swagger UI's files are public (they hold no data); the document and every
operation need a login, so the page first asks for one (``POST /admin/api/session``) and then
hands Swagger UI the session's CSRF token for the requests it sends.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

DOCS = "/admin/api/docs"
ASSETS = DOCS + "/assets"
_ASSET_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js",
                          "swagger-ui-standalone-preset.js", "favicon-32x32.png"})
_HEADERS = {
    # Scripts and styles from this gateway only; Swagger UI sets inline styles.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>OCPI gateway admin API</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
<form id="login" hidden>
  <h2>OCPI gateway: operator login</h2>
  <p><label>Name <input name="name" autocomplete="username" required></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password"
     required></label></p>
  <p><button type="submit">Log in</button> <span id="login-error"></span></p>
</form>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/swagger-ui-standalone-preset.js"></script>
<script src="{DOCS}/init.js"></script>
</body>
</html>
"""

_INIT = """'use strict';
(function () {
  let csrf = null;
  function start(session) {
    csrf = session.csrf_token;
    document.getElementById('login').hidden = true;
    window.ui = SwaggerUIBundle({
      url: '/admin/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
      layout: 'StandaloneLayout', withCredentials: true,
      requestInterceptor: function (request) {
        if (csrf && request.method && request.method.toUpperCase() !== 'GET') {
          request.headers['X-CSRF-Token'] = csrf;
        }
        return request;
      },
    });
  }
  const form = document.getElementById('login');
  form.addEventListener('submit', async function (event) {
    event.preventDefault();
    const data = new FormData(form);
    const answer = await fetch('/admin/api/session', {
      method: 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({name: data.get('name'), password: data.get('password')}),
    });
    const body = await answer.json();
    if (answer.ok) { start(body); } else {
      document.getElementById('login-error').textContent = body.message;
    }
  });
  fetch('/admin/api/session', {credentials: 'same-origin'}).then(async function (answer) {
    if (answer.ok) { start(await answer.json()); } else { form.hidden = false; }
  });
})();
"""


async def page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html", headers=_HEADERS)


async def init_script(request: web.Request) -> web.Response:
    return web.Response(text=_INIT, content_type="application/javascript", headers=_HEADERS)


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _ASSET_FILES:
        raise web.HTTPNotFound()
    path = Path(str(swagger_ui_path)) / name
    return web.FileResponse(path, headers={"Cache-Control": "public, max-age=86400",
                                           "X-Content-Type-Options": "nosniff"})


def routes() -> list[web.RouteDef]:
    return [web.get(DOCS, page, allow_head=False),
            web.get(DOCS + "/init.js", init_script, allow_head=False),
            web.get(ASSETS + "/{name}", asset, allow_head=False)]
