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
from aiohttp import hdrs, web
from multidict import istr
from pydantic import ValidationError

from ocpi_gateway import keys
from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.partners.authentication import Caller
from ocpi_gateway.partners.models import Partner, TokenKind
from ocpi_gateway.partners.registry import PartnerRegistry
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
from ocpi_gateway.transport.log_context import begin as begin_log_context
from ocpi_gateway.transport.request_ids import fresh_id
from ocpi_gateway.transport.routing import (
    FROM_COUNTRY,
    FROM_PARTY,
    HUB_REPORTS,
    LOOKUP_NAMES,
    resolve_routing,
    response_headers,
)
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)

X_REQUEST_ID = istr("X-Request-ID")
X_CORRELATION_ID = istr("X-Correlation-ID")
"""As ``istr`` (like aiohttp's ``hdrs``): a header set or looked up by its istr name is not
case-folded again on every request."""
_FROM_COUNTRY, _FROM_PARTY, _TO_COUNTRY, _TO_PARTY = LOOKUP_NAMES

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


async def _authenticated(registry: PartnerRegistry, header: str | None,
                         configuration: bool) -> Caller:
    """The caller ``header`` authenticates, or a 401."""
    caller = await registry.authenticate_header(header, to_change=configuration)
    if caller is None:
        if not token_candidates(header):
            raise _unauthorized("missing Authorization: Token header")
        raise _unauthorized("unknown credentials token")
    return caller


def _authorized(request: web.Request, app: web.Application, caller: Caller,
                configuration: bool) -> _Resolved | None:
    """The caller's routing resolved (None on configuration modules), or a 401."""
    if configuration:
        return None
    partner = caller.partner
    if caller.kind is not TokenKind.CREDENTIALS or not partner.registered:
        raise _unauthorized("this token is only valid on versions and credentials")
    headers = request.headers
    ours = _our_parties(app)
    key = (id(caller), headers.get(_FROM_COUNTRY), headers.get(_FROM_PARTY),
           headers.get(_TO_COUNTRY), headers.get(_TO_PARTY))
    known = _ROUTINGS.get(key)
    if known is not None and known.caller is caller and known.ours is ours:
        return known
    routing = resolve_routing(headers, partner, ours)  # OcpiError: nothing cached
    sender = routing.sender
    forwarded = sender if sender is not None and not partner.has_party(
        sender.country_code, sender.party_id) else None
    resolved = _Resolved(caller, ours, routing, forwarded,
                         tuple((istr(k), v) for k, v in response_headers(routing).items()))
    if len(_ROUTINGS) > 10_000:
        _ROUTINGS.clear()
    _ROUTINGS[key] = resolved
    return resolved


async def _check_forwarding(app: web.Application, partner: Partner, party: Party) -> None:
    """A hub forwarding for ``party``: it must be one the hub reported, besides the operator's
    grant (resolve_routing checked that)."""
    reports = app.get(HUB_REPORTS)
    if reports is not None:
        refusal = await reports.refusal(partner, party)
        if refusal is not None:
            raise OcpiError(OcpiStatus.CLIENT_ERROR, f"{FROM_COUNTRY}/{FROM_PARTY}: {refusal}",
                            http_status=401)


@dataclass(frozen=True, slots=True)
class _Resolved:
    """A caller's routing headers resolved, with what every response to them carries."""

    caller: Caller
    ours: list[Party]
    routing: Routing
    forwarded: Party | None
    """The OCPI-from party when it is not one of the partner's own roles (a hub forwarding)."""
    reply_headers: tuple[tuple[istr, str], ...]
    """Names as ``istr``: a response's headers take them without case-folding each again."""


_RoutingKey = tuple[int, str | None, str | None, str | None, str | None]
_ROUTINGS: dict[_RoutingKey, _Resolved] = {}
"""(caller, routing headers) → their resolution. The registry hands readers the same cached
caller for a while, so a partner's repeated requests skip resolve_routing; a new caller
object (its cache refreshed, the partner changed) or other headers resolve afresh. An entry
holds its caller, so the id in its key cannot be another caller's."""


def _our_parties(app: web.Application) -> list[Party]:
    try:
        return app[OUR_PARTIES]
    except KeyError:  # an app built without create_app
        return our_parties(app[keys.SETTINGS])


def our_parties(settings: GatewaySettings) -> list[Party]:
    return [Party(r.country_code, r.party_id) for r in settings.cpo_roles]


def _error_response(exc: Exception) -> web.Response:
    """The envelope answering what a functional or configuration request raised."""
    if isinstance(exc, OcpiError):
        log.info("ocpi_request_refused", status_code=int(exc.status_code), error=exc.message,
                 http_status=exc.http_status)
        return exc.to_response()
    if isinstance(exc, ValidationError):
        error = invalid(exc)
        log.info("ocpi_request_invalid", error=error.message)
        return error.to_response()
    if isinstance(exc, web.HTTPException):  # 4xx, 5xx (lower ones are raised on)
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return ocpi_response(None, OcpiStatus.CLIENT_ERROR, exc.reason,
                             http_status=exc.status, headers=headers)
    log.exception("ocpi_handler_failed")  # called from the except clause: its traceback
    return ocpi_response(None, OcpiStatus.SERVER_ERROR, "internal error", http_status=500)


@web.middleware
async def transport_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    headers = request.headers
    request_id = headers.get(X_REQUEST_ID) or fresh_id()
    correlation_id = headers.get(X_CORRELATION_ID) or fresh_id()
    request[REQUEST_ID] = request_id
    request[CORRELATION_ID] = correlation_id
    path = request.path
    # The lines it logs carry these (and the partner, once authenticated): log_context.
    context = begin_log_context(request_id, correlation_id, request.method, path)
    reply_headers: tuple[tuple[istr, str], ...] = ()
    try:
        if path.startswith("/ocpi/") or path == "/ocpi":
            # Written out here rather than in a coroutine of its own: this is every OCPI
            # request's path, and a cached GET awaits nothing else (docs/decisions.md).
            try:
                app = request.app
                registry = app[keys.PARTNERS]
                header = headers.get(hdrs.AUTHORIZATION)
                configuration = _CONFIGURATION_PATHS.get(path)
                if configuration is None:
                    configuration = is_configuration_path(path)
                # Functional modules only read the partner: they may share the registry's
                # cached one, without an await when the registry can tell at once.
                caller = (registry.cached_reader(header) if header and not configuration
                          else None)
                if caller is None:
                    caller = await _authenticated(registry, header, configuration)
                request[CALLER] = caller
                partner = caller.partner
                context.partner = (partner.name, partner.id)
                resolved = _authorized(request, app, caller, configuration)
                if resolved is not None:
                    if resolved.forwarded is not None:
                        await _check_forwarding(app, partner, resolved.forwarded)
                    request[ROUTING] = resolved.routing
                    # Errors too: routing headers go on any response of a functional module
                    # once the request's routing was resolved (transport_and_format, Message
                    # Routing Headers).
                    reply_headers = resolved.reply_headers
                response = await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400:
                    raise
                response = _error_response(exc)
            except Exception as exc:
                response = _error_response(exc)
        else:
            response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[X_REQUEST_ID] = request_id
        exc.headers[X_CORRELATION_ID] = correlation_id
        raise
    if not response.prepared:
        response_headers = response.headers
        if reply_headers:
            response_headers.update(reply_headers)
        response_headers[X_REQUEST_ID] = request_id
        response_headers[X_CORRELATION_ID] = correlation_id
    return response
