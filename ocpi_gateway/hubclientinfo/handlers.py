"""HubClientInfo RECEIVER (CPO side): ``PUT``/``GET {hubclientinfo}/{country_code}/{party_id}``.

Only a hub may report (a platform holding the HUB role). A report changes what the hub may
forward (transport) and which parties behind it get pushes: a party reported OFFLINE or
SUSPENDED gets none until reported CONNECTED again, and then all Locations once (resync)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import ValidationError

from ocpi_gateway.hubclientinfo.repository import HubClients
from ocpi_gateway.ocpi import package
from ocpi_gateway.partners.grants import HUB
from ocpi_gateway.partners.models import TokenKind
from ocpi_gateway.transport.body import invalid, parse_json
from ocpi_gateway.transport.context import CALLER
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

HUB_CLIENTS: web.AppKey[HubClients] = web.AppKey("hub_clients", HubClients)
ON_REPORT: web.AppKey[list[Callable[[], Awaitable[object]]]] = web.AppKey("hub_client_reported")
"""Called after every report (the Locations publisher re-reads its receivers)."""


def _hub_id(request: web.Request) -> str:
    caller = request[CALLER]
    partner = caller.partner
    if caller.kind is not TokenKind.CREDENTIALS or not partner.registered:
        raise OcpiError(OcpiStatus.CLIENT_ERROR, "this token is only valid on versions and "
                        "credentials", http_status=401)
    if not any(role.role == HUB for role in partner.roles):
        raise OcpiError(OcpiStatus.CLIENT_ERROR, "only a hub reports ClientInfo",
                        http_status=403)
    return partner.id


async def get_client_info(request: web.Request, version: str) -> web.Response:
    hub_id = _hub_id(request)
    info = request.match_info
    found = await request.app[HUB_CLIENTS].get(hub_id, info["country_code"], info["party_id"])
    if found is None:
        raise OcpiError(OcpiStatus.CLIENT_ERROR, "no ClientInfo for this party",
                        http_status=404)
    answer = package(version).hubclientinfo.from_internal(found)
    return ocpi_response(answer.model_dump(mode="json", exclude_none=True))


async def put_client_info(request: web.Request, version: str) -> web.Response:
    hub_id = _hub_id(request)
    raw = await parse_json(request)
    try:
        info = package(version).hubclientinfo.to_internal(raw)
    except ValidationError as exc:
        raise invalid(exc) from exc
    url = request.match_info
    if info.key != (url["country_code"].upper(), url["party_id"].upper()):
        raise OcpiError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS,
                        "country_code and party_id of the body must match the URL")
    previous = await request.app[HUB_CLIENTS].put(hub_id, info)
    log.info("hub_client_reported", party=f"{info.country_code}-{info.party_id}",
             status=info.status.value,
             previous=previous.status.value if previous is not None else None)
    for callback in request.app.get(ON_REPORT, []):
        await callback()
    return ocpi_response()


def add_routes(router: web.UrlDispatcher, prefix: str, version: str) -> None:
    # The hub's own path carries its party, not the routing headers (configuration module).
    path = prefix + "/{country_code}/{party_id}"
    router.add_get(path, functools.partial(get_client_info, version=version), allow_head=False)
    router.add_put(path, functools.partial(put_client_info, version=version))
