"""Plugs the Tokens receiver into the app and makes it the chargers' token authorizer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpp_wiring import TOKEN_AUTHORIZER
from ocpi_gateway.tokens import handlers
from ocpi_gateway.tokens.authorizer import TokenStoreAuthorizer
from ocpi_gateway.tokens.repository import TokenRepository

MODULE = OcpiModule("tokens", InterfaceRole.RECEIVER, handlers.add_routes)


def install(app: web.Application, settings: GatewaySettings) -> None:
    app[keys.MODULES].add(MODULE)

    async def tokens_ctx(app: web.Application) -> AsyncIterator[None]:
        repo = TokenRepository(app[keys.STORE])
        app[handlers.TOKENS] = repo
        app[TOKEN_AUTHORIZER] = TokenStoreAuthorizer(repo)
        yield

    app.cleanup_ctx.append(tokens_ctx)
