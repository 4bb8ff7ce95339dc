"""The console's page and its scripts and styles, served from this package's ``static``
folder (written for this project; no third-party front-end code). They hold no data, so they
answer without a login; every figure comes from the admin API, which needs one."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

CONSOLE = "/console"
STATIC = CONSOLE + "/static"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html",
          ".svg": "image/svg+xml"}
_HEADERS = {
    # Only this gateway's own scripts and styles, no inline script; the page is never framed.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _files() -> dict[str, tuple[bytes, str]]:
    folder = resources.files("ocpi_gateway.console") / "static"
    found: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


_FILES = _files()


async def page(request: web.Request) -> web.Response:
    body, content_type = _FILES["console.html"]
    return web.Response(body=body, content_type=content_type, charset="utf-8",
                        headers=_HEADERS)


async def asset(request: web.Request) -> web.Response:
    found = _FILES.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    return web.Response(body=found[0], content_type=found[1], charset="utf-8",
                        headers=_HEADERS)


async def slash(request: web.Request) -> web.Response:
    raise web.HTTPFound(CONSOLE)


def routes() -> list[web.RouteDef]:
    return [web.get(CONSOLE, page, allow_head=False),
            web.get(CONSOLE + "/", slash, allow_head=False),
            web.get(STATIC + "/{name}", asset, allow_head=False)]
