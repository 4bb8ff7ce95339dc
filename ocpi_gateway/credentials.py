"""Credentials module, server side (credentials.asciidoc with the d2 errata).

POST registers (token A only; 405 once registered), PUT re-fetches endpoints and issues a new
token (405 unless registered), GET returns our credentials, DELETE unregisters (405 unless
registered). Failing to use the partner's API answers 3001, no common version 3002, missing
required endpoints 3003.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web
from pydantic import ValidationError

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.modules import InterfaceRole, OcpiModule
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.partners.handshake import HandshakeError, fetch_partner_api
from ocpi_gateway.partners.models import Partner, PartnerCredentials
from ocpi_gateway.partners.registry import RegistrationConflict, RolesRefused
from ocpi_gateway.transport.body import invalid, parse_json
from ocpi_gateway.transport.context import CALLER
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus
from ocpi_gateway.versions import versions_url

log = structlog.get_logger(__name__)


def our_credentials(settings: GatewaySettings, token: str, version: str) -> dict[str, Any]:
    """Our credentials object in ``version``'s form: every CPO role we serve."""
    ours = package(version).credentials.ours(settings, token, versions_url(settings.public_url))
    return to_jsonable(ours)


def _not_allowed(message: str) -> OcpiError:
    return OcpiError(OcpiStatus.CLIENT_ERROR, message, http_status=405)


def _roles_refused(exc: RolesRefused) -> OcpiError:
    # 2001: the request's roles are invalid for this partner (a client error, not a failure
    # to use its API, which 3001 is for).
    log.warning("partner_roles_refused", error=str(exc))
    return OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, str(exc))


async def _check_roles(request: web.Request, body: PartnerCredentials) -> None:
    try:
        await request.app[keys.PARTNERS].check_roles(request[CALLER].partner,
                                                     body.partner_roles())
    except RolesRefused as exc:
        raise _roles_refused(exc) from exc


def _check_reachable(partner: Partner, body: PartnerCredentials) -> None:
    """2.3.0: every party a hub says it reaches must be one the operator lets it forward for."""
    refused = [f"{r.country_code}-{r.party_id}" for r in body.reachable
               if not partner.grants.may_forward_for(r.country_code, r.party_id)]
    if refused:
        raise _roles_refused(RolesRefused(
            f"party {', '.join(refused)} not granted to this hub by the operator"))


class CredentialsHandlers:
    def __init__(self, version: str) -> None:
        self.version = version

    async def get(self, request: web.Request) -> web.Response:
        caller = request[CALLER]
        return ocpi_response(our_credentials(request.app[keys.SETTINGS], caller.token,
                                             self.version))

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
        raw = await parse_json(request)
        try:
            # In whichever version it came, internally a hub is a platform with a HUB role:
            # the operator's grants apply to 2.2.1 and 2.3.0 alike.
            body = package(self.version).credentials.parse(raw)
        except ValidationError as exc:
            raise invalid(exc) from exc
        # Before we contact the URL it names: a refused partner learns nothing and makes us
        # call nothing.
        await _check_roles(request, body)
        _check_reachable(caller.partner, body)
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
                 roles=[f"{r.role} {r.country_code}-{r.party_id}" for r in body.roles])
        return ocpi_response(our_credentials(request.app[keys.SETTINGS], token, api.version))


def _add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    handlers = CredentialsHandlers(version)
    router.add_get(prefix, handlers.get, allow_head=False)
    router.add_post(prefix, handlers.post)
    router.add_put(prefix, handlers.put)
    router.add_delete(prefix, handlers.delete)


MODULE = OcpiModule("credentials", InterfaceRole.SENDER, _add_routes)
