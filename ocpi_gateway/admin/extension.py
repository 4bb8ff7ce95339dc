"""Gateway extension: the admin API (``/admin/api/``, ``POST /admin/reload``), its accounts,
sessions, audit log and interactive page.

Listed last in ``app.EXTENSIONS``: its operations read what the others leave on the app
(``app[LOCATIONS]``, ``app[RESERVATIONS]``, ``app[OUTBOX]``, ...) at request time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ocpi_gateway import __version__, keys
from ocpi_gateway.admin import api
from ocpi_gateway.admin.access import Access
from ocpi_gateway.admin.api import docs_page
from ocpi_gateway.admin.api.framework import ACCESS, AUDIT, routes
from ocpi_gateway.admin.api.meta import OPENAPI_DOCUMENT
from ocpi_gateway.admin.api.openapi import openapi_document
from ocpi_gateway.admin.audit import AuditLog
from ocpi_gateway.admin.credentials import AdminCredentials
from ocpi_gateway.admin.operators import OperatorsConfigError, OperatorsSource
from ocpi_gateway.admin.service.reservations import backfill_created_ts
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.domain.loops import BackgroundLoop
from ocpi_gateway.ocpp_adapter.auth import (
    LocalLoginLimiter,
    LoginLimiter,
    LoginLimits,
    PasswordChecker,
)
from ocpi_gateway.ocpp_adapter.auth_redis import RedisLoginLimiter
from ocpi_gateway.ocpp_wiring import OCPP_SERVER

log = structlog.get_logger(__name__)

HOUSEKEEPING_SECONDS = 3600.0


def install(app: web.Application, settings: GatewaySettings) -> None:
    try:
        operators = OperatorsSource(settings.operators_file)
    except OperatorsConfigError as exc:
        raise ConfigError(str(exc)) from exc
    admin = settings.admin
    limits = LoginLimits(per_address=admin.failed_logins_allowed,
                         per_charger=admin.failed_logins_allowed_per_operator,
                         window=admin.failed_login_window_seconds)
    secure = admin.cookie_secure if admin.cookie_secure is not None \
        else settings.public_url.startswith("https://")
    operations = api.operations()
    app[OPENAPI_DOCUMENT] = openapi_document(
        operations, title="OCPI gateway admin API", version=__version__,
        server_url=settings.public_url)
    app.router.add_routes(routes(operations))
    app.router.add_routes(docs_page.routes())

    async def admin_ctx(app: web.Application) -> AsyncIterator[None]:
        store = app[keys.STORE]
        ocpp = app.get(OCPP_SERVER)
        redis = ocpp.redis if ocpp is not None else None
        limiter: LoginLimiter = RedisLoginLimiter(redis, limits, namespace="admin") \
            if redis is not None else LocalLoginLimiter(limits)
        passwords = PasswordChecker(threads=1)
        credentials = AdminCredentials(store)
        app[ACCESS] = Access(operators, credentials, passwords, limiter,
                             admin_token=settings.admin_token, public_url=settings.public_url,
                             session_seconds=admin.session_hours * 3600,
                             token_seconds=admin.token_days * 86_400, cookie_secure=secure)
        app[AUDIT] = AuditLog(store)
        backfilled = await backfill_created_ts(store)
        if backfilled:
            log.info("reservations_backfilled", field="created_ts", count=backfilled)

        async def housekeep() -> None:
            forgotten = await credentials.forget_expired()
            if forgotten:
                log.info("admin_credentials_forgotten", count=forgotten)

        housekeeping = BackgroundLoop("admin-housekeeping", housekeep,
                                      interval=HOUSEKEEPING_SECONDS, registry=app[keys.LOOPS],
                                      run_at_start=False)
        housekeeping.start()
        yield
        await housekeeping.stop()
        passwords.close()

    app.cleanup_ctx.append(admin_ctx)

