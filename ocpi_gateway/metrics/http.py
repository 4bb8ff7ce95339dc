"""The HTTP side: which OCPI module and status a response belongs to, and ``/metrics``
(bearer-protected, on the main port or apart)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings, MetricsListen, MetricsSettings
from ocpi_gateway.metrics.adapters import (
    connection_listener,
)
from ocpi_gateway.metrics.recording import (
    LOOP_METRICS,
    observe_ocpi_request,
)
from ocpi_gateway.metrics.series import (
    _ROLE_SEGMENTS,
    _VERSION_SEGMENT,
    OCPI_MODULES,
    REGISTRY,
)

# --- HTTP side -------------------------------------------------------------------------------


def ocpi_module_of(path: str) -> str | None:
    """The OCPI module a request path addresses, None for a path outside ``/ocpi``.

    ``/ocpi/versions`` → versions, ``/ocpi/2.2.1`` → version_details,
    ``/ocpi/2.2.1/locations/L1`` and ``/ocpi/cpo/2.2.1/locations`` → locations.
    """
    if not path.startswith("/ocpi"):
        return None
    segments = path.split("/", 5)  # "", "ocpi", then at most role, version, module, rest
    if segments[1] != "ocpi":
        return None
    for segment in segments[2:]:
        lowered = segment.lower()
        if not segment or lowered in _ROLE_SEGMENTS or _VERSION_SEGMENT.match(segment):
            continue
        if lowered == "versions":
            return "versions"
        return lowered if lowered in OCPI_MODULES else "other"
    return "version_details"


_ENVELOPE_START = b'{"status_code":'


def ocpi_status_of(response: web.StreamResponse) -> int | None:
    """The ``status_code`` of an OCPI envelope in a JSON response body, else None."""
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray):
        return None
    if body.startswith(_ENVELOPE_START):
        # Our envelopes put status_code first (transport.envelope): read it without parsing
        # a possibly large body.
        digits = body[len(_ENVELOPE_START):len(_ENVELOPE_START) + 5].split(b",", 1)[0]
        if digits.isdigit():
            return int(digits)
    try:
        document: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    status = document.get("status_code") if isinstance(document, dict) else None
    return status if isinstance(status, int) else None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def ocpi_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request under ``/ocpi``; place it outermost so that it sees the
    envelope the transport middleware builds from an OcpiError."""
    module = ocpi_module_of(request.path)
    if module is None:
        return await handler(request)
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        observe_ocpi_request(module, request.method, None, exc.status,
                             time.perf_counter() - started)
        raise
    except Exception:
        # The transport turns errors into envelopes; anything that escapes it is a 500.
        observe_ocpi_request(module, request.method, None, 500, time.perf_counter() - started)
        raise
    observe_ocpi_request(module, request.method, ocpi_status_of(response), response.status,
                         time.perf_counter() - started)
    return response


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics`` in the Prometheus text exposition format."""
    response = web.Response(body=generate_latest(REGISTRY))
    # CONTENT_TYPE_LATEST carries a charset, which aiohttp's content_type argument refuses.
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def bearer_protected(handler: Handler, token: str) -> Handler:
    """``handler`` answering 401 unless the request carries ``Authorization: Bearer <token>``."""
    expected = f"Bearer {token}".encode()

    async def protected(request: web.Request) -> web.StreamResponse:
        presented = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            return web.Response(status=401, text="metrics need a bearer token",
                                headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return await handler(request)

    return protected


def _serve_apart(app: web.Application, handler: Handler, listen: MetricsListen) -> None:
    """``/metrics`` on an address of its own, started and stopped with ``app``."""
    runners: list[web.AppRunner] = []

    async def start(_: web.Application) -> None:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", handler, allow_head=False)
        runner = web.AppRunner(metrics_app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, listen.host, listen.port).start()
        runners.append(runner)

    async def stop(_: web.Application) -> None:
        while runners:
            await runners.pop().cleanup()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)


def install(app: web.Application, settings: GatewaySettings | None = None) -> None:
    """The gateway extension (``ocpi_gateway.metrics:install`` in app.EXTENSIONS): mounts
    ``/metrics`` (behind a bearer token and/or on an address of its own when ``metrics:`` in
    gateway.yaml says so), the OCPI request middleware (outermost, so that it sees the
    envelope the transport middleware builds from an OcpiError) and the connection counter
    on the bus."""
    app.middlewares.insert(0, ocpi_metrics_middleware)
    config = settings.metrics if settings is not None else MetricsSettings()
    handler: Handler = metrics_handler
    if config.bearer_token is not None:
        handler = bearer_protected(handler, config.bearer_token.get_secret_value())
    if config.listen is None:
        app.router.add_get("/metrics", handler, allow_head=False)
    else:
        _serve_apart(app, handler, config.listen)
    bus = app.get(keys.EVENT_BUS)
    if bus is not None:
        bus.subscribe(connection_listener)
    loops = app.get(keys.LOOPS)
    if loops is not None:
        loops.add_listener(LOOP_METRICS)

