"""The aiohttp application: core services, transport middleware, OCPI modules, extensions.

Plugging in (see docs/architecture.md, "Plugging in a module"): an *extension* is a function
``install(app, settings)`` listed in :data:`EXTENSIONS` (or passed to :func:`create_app`). It runs
inside create_app, before the app starts, and may

- add OCPI modules: ``app[keys.MODULES].add(OcpiModule(...))``;
- add routes outside ``/ocpi/``: ``app.router.add_get(...)``;
- add startup/cleanup work: ``app.cleanup_ctx.append(ctx)`` (runs after the core services are
  up and is torn down before they close), or ``app.on_startup`` / ``app.on_shutdown``;
- add readiness checks: ``app[keys.READINESS_CHECKS]["redis"] = check``;
- run periodic work as a ``domain.loops.BackgroundLoop`` registered in ``app[keys.LOOPS]``
  (``/ready`` reports it when it stops or falls behind; a gauge per loop);
- subscribe to domain events: ``app[keys.EVENT_BUS].subscribe(handler)``.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

import structlog
from aiohttp import web

from ocpi_gateway import credentials, keys, versions
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.domain.events import EventBus, utc_now
from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.modules import ModuleRegistry
from ocpi_gateway.partners.client import OcpiClient
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store
from ocpi_gateway.transport.context import OUR_PARTIES
from ocpi_gateway.transport.middleware import our_parties, transport_middleware

log = structlog.get_logger(__name__)

Extension = Callable[[web.Application, GatewaySettings], None]

EXTENSIONS: list[str] = [
    # "package.module:function" — one line per part of the gateway that plugs itself in.
    "ocpi_gateway.metrics:install",
    "ocpi_gateway.ocpp_wiring:install",
    "ocpi_gateway.deliveries.app:install",  # app[OUTBOX]; before the modules that push
    "ocpi_gateway.hubclientinfo.extension:install",  # what hubs report; before locations
    "ocpi_gateway.locations.extension:install",  # app[AVAILABILITY], app[LOCATIONS]
    "ocpi_gateway.tariffs.extension:install",  # app[TARIFFS]; checks locations' tariff_ids
    "ocpi_gateway.tokens.module:install",  # app[TOKENS]; the chargers' token authorizer
    "ocpi_gateway.reservations.extension:install",  # app[RESERVATIONS], policy, expiry clock
    "ocpi_gateway.sessions.extension:install",  # app[SESSIONS]: Sessions SENDER, pushes
    "ocpi_gateway.cdrs.extension:install",  # app[CDRS]: CDRs SENDER, made from the sessions
    "ocpi_gateway.bookings.extension:install",  # app[BOOKINGS]: 2.3.0 Bookings; after the above
    "ocpi_gateway.commands.module:install",  # Commands receiver; needs all of the above
    "ocpi_gateway.admin.extension:install",  # /admin/api/, /admin/reload; reads all of the above
    "ocpi_gateway.console.extension:install",  # /console and its live feed; after admin
]


def load_extension(spec: str) -> Extension:
    module_name, _, attribute = spec.partition(":")
    extension: Extension = getattr(importlib.import_module(module_name), attribute or "install")
    return extension


async def _core_services(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    store = await open_store(settings.store_url)
    client = OcpiClient()
    app[keys.STORE] = store
    app[keys.PARTNERS] = PartnerRegistry(store)
    app[keys.OCPI_CLIENT] = client
    await app[keys.PARTNERS].migrate_grants()
    log.info("core_services_started", store=settings.store_url.split("://")[0],
             versions=list(app[keys.MODULES].versions))
    yield
    await client.close()
    await store.close()


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    failing: list[str] = []
    for name, check in request.app[keys.READINESS_CHECKS].items():
        try:
            ok = await check()
        except Exception:
            log.warning("readiness_check_failed", check=name, exc_info=True)
            ok = False
        if not ok:
            failing.append(name)
    failing.extend(f"loop:{name}" for name in request.app[keys.LOOPS].unhealthy())
    if failing:
        return web.json_response({"status": "unavailable", "failing": failing}, status=503)
    return web.json_response({"status": "ready"})


def create_app(
    settings: GatewaySettings, *, extensions: Sequence[Extension | str] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> web.Application:
    """The gateway application. ``extensions`` defaults to :data:`EXTENSIONS`; ``clock`` is
    ``app[keys.CLOCK]``."""
    if settings.instance_id is None:
        # One name per process, shared by every part (OCPP presence, command ownership).
        settings = settings.model_copy(update={"instance_id": f"gw-{uuid.uuid4().hex[:8]}"})
    app = web.Application(middlewares=[transport_middleware])
    app[keys.SETTINGS] = settings
    app[OUR_PARTIES] = our_parties(settings)
    app[keys.MODULES] = ModuleRegistry()
    app[keys.EVENT_BUS] = EventBus()
    app[keys.READINESS_CHECKS] = {}
    app[keys.CLOCK] = clock
    app[keys.LOOPS] = LoopRegistry()
    app.cleanup_ctx.append(_core_services)

    async def store_ready() -> bool:
        return await app[keys.STORE].ping()

    app[keys.READINESS_CHECKS]["store"] = store_ready
    app.router.add_get("/health", health, allow_head=False)
    app.router.add_get("/ready", ready, allow_head=False)
    versions.add_routes(app.router)
    app[keys.MODULES].add(credentials.MODULE)
    for extension in EXTENSIONS if extensions is None else extensions:
        (load_extension(extension) if isinstance(extension, str) else extension)(app, settings)
    app[keys.MODULES].mount(app.router)
    return app
