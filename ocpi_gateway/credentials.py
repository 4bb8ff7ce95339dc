"""Credentials module, server side (credentials.asciidoc with the d2 errata).

POST registers (token A only; 405 once registered), PUT re-fetches endpoints and issues a new
token (405 unless registered), GET returns our credentials, DELETE unregisters (405 unless
registered). Failing to use the partner's API answers 3001, no common version 3002, missing
required endpoints 3003.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import structlog
from aiohttp import web
from pydantic import BaseModel, Field

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.partners.handshake import HandshakeError, fetch_partner_api
from ocpi_gateway.partners.models import PartnerRole
from ocpi_gateway.partners.registry import RegistrationConflict, RolesRefused
from ocpi_gateway.transport.body import parse_body
from ocpi_gateway.transport.context import CALLER
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus
from ocpi_gateway.versions import versions_url

log = structlog.get_logger(__name__)

_TOKEN_PATTERN = r"^[\x21-\x7e]+$"  # printable non-whitespace ASCII, as the spec requires


class Role(StrEnum):
    CPO = "CPO"
    EMSP = "EMSP"
    HUB = "HUB"
    NAP = "NAP"
    NSP = "NSP"
    OTHER = "OTHER"
    SCSP = "SCSP"


class Image(BaseModel):
    url: str = Field(max_length=255)
    thumbnail: str | None = Field(default=None, max_length=255)
    category: str = Field(max_length=32)
    type: str = Field(max_length=4)
    width: int | None = None
    height: int | None = None


class BusinessDetails(BaseModel):
    name: str = Field(max_length=100)
    website: str | None = Field(default=None, max_length=255)
    logo: Image | None = None


class CredentialsRole(BaseModel):
    role: Role
    business_details: BusinessDetails
    party_id: str = Field(min_length=3, max_length=3)
    country_code: str = Field(min_length=2, max_length=2)


class Credentials(BaseModel):
    token: str = Field(max_length=64, pattern=_TOKEN_PATTERN)
    url: str = Field(max_length=255)
    roles: list[CredentialsRole] = Field(min_length=1)

    def partner_roles(self) -> list[PartnerRole]:
        return [PartnerRole(role=r.role.value, country_code=r.country_code.upper(),
                            party_id=r.party_id.upper(),
                            business_details=r.business_details.model_dump(exclude_none=True))
                for r in self.roles]


def our_credentials(settings: GatewaySettings, token: str) -> dict[str, Any]:
    """Our credentials object: every CPO role we serve (a hub sees them all)."""
    return {
        "token": token,
        "url": versions_url(settings.public_url),
        "roles": [
            {"role": Role.CPO.value, "party_id": r.party_id, "country_code": r.country_code,
             "business_details": r.business_details.model_dump(exclude_none=True)}
            for r in settings.cpo_roles
        ],
    }


def _not_allowed(message: str) -> OcpiError:
    return OcpiError(OcpiStatus.CLIENT_ERROR, message, http_status=405)


def _roles_refused(exc: RolesRefused) -> OcpiError:
    # 2001: the request's roles are invalid for this partner (a client error, not a failure
    # to use its API, which 3001 is for).
    log.warning("partner_roles_refused", error=str(exc))
    return OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, str(exc))


async def _check_roles(request: web.Request, body: Credentials) -> None:
    try:
        await request.app[keys.PARTNERS].check_roles(request[CALLER].partner,
                                                     body.partner_roles())
    except RolesRefused as exc:
        raise _roles_refused(exc) from exc


class CredentialsHandlers:
    def __init__(self, version: str) -> None:
        self.version = version

    async def get(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        return ocpi_response(our_credentials(request.app[keys.SETTINGS], caller.token))

    async def post(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        if caller.partner.registered:
            raise _not_allowed("already registered: use PUT to update, DELETE to unregister")
        return await self._register(request, "registered")

    async def put(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        if not caller.partner.registered:
            raise _not_allowed("not registered: use POST to register")
        return await self._register(request, "credentials_updated")

    async def delete(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        if not caller.partner.registered:
            raise _not_allowed("not registered")
        await request.app[keys.PARTNERS].unregister(caller.partner)
        log.info("partner_unregistered")
        return ocpi_response()

    async def _register(self, request: web.Request, event: str) -> web.Response:
        caller = request[CALLER]
        body = await parse_body(request, Credentials)
        # Before we contact the URL it names: a refused partner learns nothing and makes us
        # call nothing.
        await _check_roles(request, body)
        try:
            api = await fetch_partner_api(
                request.app[keys.OCPI_CLIENT], body.url, body.token,
                request.app[keys.MODULES].versions, base64_first=caller.base64_token,
                version=self.version,
            )
        except HandshakeError as exc:
            log.warning("partner_handshake_failed", status_code=int(exc.status_code),
                        error=exc.message, versions_url=body.url)
            raise OcpiError(exc.status_code, exc.message) from exc
        try:
            token = await request.app[keys.PARTNERS].register(
                caller.partner, roles=body.partner_roles(), versions_url=body.url,
                version=api.version, endpoints=api.endpoints, token_to_send=body.token,
                send_base64=api.send_base64,
            )
        except RegistrationConflict as exc:
            raise _not_allowed("a concurrent credentials request for this partner won") from exc
        except RolesRefused as exc:
            raise _roles_refused(exc) from exc
        log.info(event, version=api.version,
                 roles=[f"{r.role.value} {r.country_code}-{r.party_id}" for r in body.roles])
        return ocpi_response(our_credentials(request.app[keys.SETTINGS], token))


def _add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    handlers = CredentialsHandlers(version)
    router.add_get(prefix, handlers.get, allow_head=False)
    router.add_post(prefix, handlers.post)
    router.add_put(prefix, handlers.put)
    router.add_delete(prefix, handlers.delete)


MODULE = OcpiModule("credentials", InterfaceRole.SENDER, _add_routes)
