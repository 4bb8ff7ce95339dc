"""Plugs the OCPP adapter into the gateway app (an extension listed in ``app.EXTENSIONS``).

What it leaves on the app for the other parts:

- ``app[CHARGER_COMMANDS]``: the ``ocpi_gateway.domain.charger_commands.ChargerCommands`` to send
  ReserveNow & co (routed through Redis when one is configured);
- ``app[CHARGERS]``: the chargers file (``ChargersConfig.capabilities(cp_id)`` for the policy);
- ``app[TOKEN_AUTHORIZER]``: set it (e.g. from the Tokens module's install) to decide
  Authorize / StartTransaction / TransactionEvent tokens; until then every token is accepted.

Inbound OCPP messages arrive as domain events on ``app[keys.EVENT_BUS]``.
"""

from __future__ import annotations

from aiohttp import web

from ocpi_gateway import keys, metrics
from ocpi_gateway.config import ConfigError, GatewaySettings
from ocpi_gateway.domain.authorization import (
    AcceptAllAuthorizer,
    AuthorizationDecision,
    TokenAuthorizer,
)
from ocpi_gateway.domain.charger_commands import ChargerCommands
from ocpi_gateway.ocpp_adapter.auth import LoginLimits
from ocpi_gateway.ocpp_adapter.chargers_config import (
    ChargersConfig,
    ChargersConfigError,
    load_chargers,
)
from ocpi_gateway.ocpp_adapter.server import OcppServer, OcppTimings

OCPP_SERVER: web.AppKey[OcppServer] = web.AppKey("ocpp_server", OcppServer)
CHARGER_COMMANDS: web.AppKey[ChargerCommands] = web.AppKey("charger_commands")
CHARGERS: web.AppKey[ChargersConfig] = web.AppKey("chargers", ChargersConfig)
TOKEN_AUTHORIZER: web.AppKey[TokenAuthorizer] = web.AppKey("token_authorizer")


class _AppAuthorizer:
    """Looks the authorizer up on the app at call time, so it can be set after install."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._default = AcceptAllAuthorizer()

    async def authorize(self, charge_point_id: str, id_token: str) -> AuthorizationDecision:
        authorizer = self._app.get(TOKEN_AUTHORIZER, self._default)
        return await authorizer.authorize(charge_point_id, id_token)


def install(app: web.Application, settings: GatewaySettings) -> None:
    try:
        chargers = load_chargers(settings.chargers_file)
    except ChargersConfigError as exc:
        raise ConfigError(str(exc)) from exc
    ocpp = settings.ocpp
    server = OcppServer(
        chargers, app[keys.EVENT_BUS], _AppAuthorizer(app),
        instance_id=settings.instance_id or "gw",
        redis_url=settings.redis,
        timings=OcppTimings(
            heartbeat_interval=settings.ocpp.heartbeat_interval_seconds,
            call_timeout=settings.command_timeouts.charger_seconds,
            ws_ping_interval=settings.ocpp.websocket_ping_seconds,
            presence_ttl=settings.ocpp.presence_ttl_seconds),
        observe_call=metrics.ocpp_message,
        login_limits=LoginLimits(
            per_address=ocpp.failed_logins_allowed,
            per_charger=ocpp.failed_logins_allowed_per_charger,
            window=ocpp.failed_login_window_seconds,
            known_address_seconds=ocpp.known_address_days * 86_400),
        password_key=ocpp.verified_password_key.get_secret_value().encode("utf-8")
        if ocpp.verified_password_key is not None else None,
        trusted_proxies=ocpp.trusted_proxies,
        log_frames=ocpp.log_frames,
        loops=app[keys.LOOPS],
    )
    server.attach(app)
    app[OCPP_SERVER] = server
    app[CHARGER_COMMANDS] = metrics.TimedChargerCommands(server.commands)
    metrics.watch_ocpp_connections(lambda: (session.version for session in server.registry))
    app[CHARGERS] = chargers
    redis = server.redis
    if redis is not None and "redis" not in app[keys.READINESS_CHECKS]:
        async def redis_ready() -> bool:
            return bool(await redis.ping()) and server.routing_healthy

        app[keys.READINESS_CHECKS]["redis"] = redis_ready
