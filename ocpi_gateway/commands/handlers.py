"""HTTP side of the Commands receiver: ``POST {commands}/{command}``."""

from __future__ import annotations

import functools

from aiohttp import web
from pydantic import ValidationError

from ocpi_gateway.commands.models import CommandResponse, CommandResponseType
from ocpi_gateway.commands.service import CommandService
from ocpi_gateway.ocpi import package
from ocpi_gateway.ocpi.seam import UnknownCommand
from ocpi_gateway.partners.models import Partner, PartnerRole
from ocpi_gateway.transport.body import invalid, parse_json
from ocpi_gateway.transport.context import current_partner, current_routing
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.routing import response_headers
from ocpi_gateway.transport.status_codes import OcpiStatus

COMMAND_SERVICE: web.AppKey[CommandService] = web.AppKey("command_service", CommandService)


def _acting_partner(request: web.Request) -> Partner:
    """The partner, seen as the party its request is routed from: a hub (credentials role HUB
    only) forwards for the eMSP its OCPI-from-* headers name (transport_and_format, Party to
    Party via Hub), whose tokens and reservations the command concerns. Results still go
    through the hub's partner record (its token)."""
    partner = current_partner(request)
    sender = current_routing(request).sender
    if sender is None or partner.has_party(sender.country_code, sender.party_id):
        return partner
    role = PartnerRole(role="EMSP", country_code=sender.country_code, party_id=sender.party_id)
    return partner.model_copy(update={"roles": [role]})


async def post_command(request: web.Request, version: str) -> web.Response:
    name = request.match_info["command"]
    partner = _acting_partner(request)
    raw = await parse_json(request)
    try:
        parsed = package(version).commands.parse(name, raw)
    except UnknownCommand as exc:
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, f"unknown command {name}",
                        http_status=404) from exc
    except ValidationError as exc:
        raise invalid(exc) from exc
    if parsed is None:
        # 2.3.0: CommandType is open; a command we do not implement is NOT_SUPPORTED.
        unsupported = CommandResponse(result=CommandResponseType.NOT_SUPPORTED, timeout=0)
        return ocpi_response(unsupported.model_dump(mode="json"))
    command, body = parsed
    response, status_code = await request.app[COMMAND_SERVICE].receive(
        command, body, partner, result_headers=response_headers(current_routing(request)))
    return ocpi_response(response.model_dump(mode="json", exclude_defaults=False), status_code)


def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    router.add_post(prefix + "/{command}", functools.partial(post_command, version=version))
