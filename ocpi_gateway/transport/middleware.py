"""The transport middleware: request ids, authentication, routing headers, errors → envelope.

Every response carries X-Request-ID and X-Correlation-ID (the caller's, or fresh UUIDs). On
``/ocpi/`` paths:

- versions, version details and credentials accept token A (invite) or the credentials token;
- every other (functional) module needs a registered partner's credentials token and valid
  routing headers, which the response carries swapped;
- an OcpiError becomes its envelope, a pydantic ValidationError a 2001 naming the field, an
  HTTP error (404, 405) an envelope with that HTTP status, anything else a logged 3000.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiohttp import web
from pydantic import ValidationError

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.partners.models import TokenKind
from ocpi_gateway.partners.registry import Caller
from ocpi_gateway.transport.auth import token_candidates
from ocpi_gateway.transport.body import invalid
from ocpi_gateway.transport.context import (
    CALLER,
    CORRELATION_ID,
    OUR_PARTIES,
    REQUEST_ID,
    ROUTING,
    Party,
    Routing,
)
from ocpi_gateway.transport.envelope import OcpiError, ocpi_response
from ocpi_gateway.transport.log_context import RequestContext
from ocpi_gateway.transport.log_context import begin as begin_log_context
from ocpi_gateway.transport.request_ids import fresh_id
from ocpi_gateway.transport.routing import (
    FROM_COUNTRY,
    FROM_PARTY,
    HUB_REPORTS,
    TO_COUNTRY,
    TO_PARTY,
    resolve_routing,
    response_headers,
)
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIGURATION_MODULES = frozenset({"versions", "credentials", "hubclientinfo"})
"""Modules without routing headers (transport_and_format); hubclientinfo checks for itself that
a registered hub calls it."""


def is_configuration_path(path: str) -> bool:
    """``/ocpi/versions``, ``/ocpi/<version>`` (details) and ``/ocpi/<version>/credentials``."""
    known = _CONFIGURATION_PATHS.get(path)
    if known is None:
        parts = [p for p in path.split("/") if p][1:]
        known = len(parts) <= 1 or parts[0] in CONFIGURATION_MODULES or parts[1] in (
            CONFIGURATION_MODULES)
        if len(_CONFIGURATION_PATHS) > 10_000:  # paths are the client's: bound what they add
            _CONFIGURATION_PATHS.clear()
        _CONFIGURATION_PATHS[path] = known
    return known


_CONFIGURATION_PATHS: dict[str, bool] = {}


def _unauthorized(message: str) -> OcpiError:
    return OcpiError(OcpiStatus.CLIENT_ERROR, message, http_status=401)


async def _authenticate(request: web.Request, app: web.Application, path: str,
                        context: RequestContext) -> _Resolved | None:
    """The request's routing resolved (None on configuration modules); sets CALLER/ROUTING."""
    header = request.headers.get("Authorization")
    configuration = is_configuration_path(path)
    registry = app[keys.PARTNERS]
    # Functional modules only read the partner: they may share the registry's cached one,
    # without an await when the registry can tell at once.
    caller = None if configuration or not header else registry.cached_reader(header)
    if caller is None:
        caller = await registry.authenticate_header(header, to_change=configuration)
        if caller is None:
            if not token_candidates(header):
                raise _unauthorized("missing Authorization: Token header")
            raise _unauthorized("unknown credentials token")
    request[CALLER] = caller
    partner = caller.partner
    context.partner = (partner.name, partner.id)
    if configuration:
        return None
    if caller.kind is not TokenKind.CREDENTIALS or not partner.registered:
        raise _unauthorized("this token is only valid on versions and credentials")
    resolved = _routing_for(request, app, caller)
    if resolved.forwarded is not None:
        reports = app.get(HUB_REPORTS)
        if reports is not None:
            # A hub forwarding: the party must be one it reported, besides the operator's
            # grant.
            refusal = await reports.refusal(partner, resolved.forwarded)
            if refusal is not None:
                raise OcpiError(OcpiStatus.CLIENT_ERROR,
                                f"{FROM_COUNTRY}/{FROM_PARTY}: {refusal}", http_status=401)
    request[ROUTING] = resolved.routing
    return resolved


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A caller's routing headers resolved, with what every response to them carries."""

    caller: Caller
    ours: list[Party]
    routing: Routing
    forwarded: Party | None
    """The OCPI-from party when it is not one of the partner's own roles (a hub forwarding)."""
    reply_headers: tuple[tuple[str, str], ...]


_RoutingKey = tuple[int, str | None, str | None, str | None, str | None]
_ROUTINGS: dict[_RoutingKey, _Resolved] = {}
"""(caller, routing headers) → their resolution. The registry hands readers the same cached
caller for a while, so a partner's repeated requests skip resolve_routing; a new caller
object (its cache refreshed, the partner changed) or other headers resolve afresh. An entry
holds its caller, so the id in its key cannot be another caller's."""


def _routing_for(request: web.Request, app: web.Application, caller: Caller) -> _Resolved:
    headers = request.headers
    ours = _our_parties(app)
    key = (id(caller), headers.get(FROM_COUNTRY), headers.get(FROM_PARTY),
           headers.get(TO_COUNTRY), headers.get(TO_PARTY))
    known = _ROUTINGS.get(key)
    if known is not None and known.caller is caller and known.ours is ours:
        return known
    routing = resolve_routing(headers, caller.partner, ours)  # OcpiError: nothing cached
    sender = routing.sender
    forwarded = sender if sender is not None and not caller.partner.has_party(
        sender.country_code, sender.party_id) else None
    resolved = _Resolved(caller, ours, routing, forwarded,
                         tuple(response_headers(routing).items()))
    if len(_ROUTINGS) > 10_000:
        _ROUTINGS.clear()
    _ROUTINGS[key] = resolved
    return resolved


def _our_parties(app: web.Application) -> list[Party]:
    parties = app.get(OUR_PARTIES)
    if parties is None:  # an app built without create_app
        parties = our_parties(app[keys.SETTINGS])
    return parties


def our_parties(settings: GatewaySettings) -> list[Party]:
    return [Party(r.country_code, r.party_id) for r in settings.cpo_roles]


async def _ocpi(request: web.Request, handler: Handler, path: str,
                context: RequestContext) -> web.StreamResponse:
    resolved: _Resolved | None = None
    try:
        resolved = await _authenticate(request, request.app, path, context)
        response = await handler(request)
    except OcpiError as exc:
        log.info("ocpi_request_refused", status_code=int(exc.status_code), error=exc.message,
                 http_status=exc.http_status)
        response = exc.to_response()
    except ValidationError as exc:
        error = invalid(exc)
        log.info("ocpi_request_invalid", error=error.message)
        response = error.to_response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        response = ocpi_response(None, OcpiStatus.CLIENT_ERROR, exc.reason,
                                 http_status=exc.status, headers=headers)
    except Exception:
        log.exception("ocpi_handler_failed")
        response = ocpi_response(None, OcpiStatus.SERVER_ERROR, "internal error",
                                 http_status=500)
    # Errors too: routing headers go on any response of a functional module once the
    # request's routing was resolved (transport_and_format, Message Routing Headers).
    if resolved is not None and not response.prepared:
        response.headers.update(resolved.reply_headers)
    return response


@web.middleware
async def transport_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    headers = request.headers
    request_id = headers.get("X-Request-ID") or fresh_id()
    correlation_id = headers.get("X-Correlation-ID") or fresh_id()
    request[REQUEST_ID] = request_id
    request[CORRELATION_ID] = correlation_id
    path = request.path
    # The lines it logs carry these (and the partner, once authenticated): log_context.
    context = begin_log_context(request_id, correlation_id, request.method, path)
    try:
        if path.startswith("/ocpi/") or path == "/ocpi":
            response = await _ocpi(request, handler, path, context)
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        exc.headers["X-Correlation-ID"] = correlation_id
        raise
    if not response.prepared:
        response_headers = response.headers
        response_headers["X-Request-ID"] = request_id
        response_headers["X-Correlation-ID"] = correlation_id
    return response
