"""Gateway extension: the shared outbox on ``app[OUTBOX]`` (Locations pushes, CommandResults).

List it in ``app.EXTENSIONS`` before the extensions that use it: its startup step runs first,
so theirs find ``app[OUTBOX]`` started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway import keys, metrics
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.deliveries.engine import DeliveryEngine, DeliveryPolicy

OUTBOX: web.AppKey[DeliveryEngine] = web.AppKey("outbox", DeliveryEngine)


def install(app: web.Application, settings: GatewaySettings) -> None:
    async def outbox_ctx(app: web.Application) -> AsyncIterator[None]:
        # headers_ttl 0: the registry caches headers itself, valid until any instance changes a
        # partner (a revoked partner's next push is dead-lettered, not sent).
        outbox = DeliveryEngine(app[keys.STORE], app[keys.PARTNERS].headers_for,
                                policy=DeliveryPolicy(headers_ttl=0.0),
                                instance_id=settings.instance_id or "gw",
                                loops=app[keys.LOOPS])
        app[OUTBOX] = outbox
        await outbox.start()
        metrics.watch_deliveries_pending(outbox.pending)
        yield
        await outbox.stop()

    app.cleanup_ctx.append(outbox_ctx)
