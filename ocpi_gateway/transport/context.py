"""What the transport middleware learned about a request, for handlers to read."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ocpi_gateway.partners.authentication import Caller
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.transport.envelope import OcpiError
from ocpi_gateway.transport.status_codes import OcpiStatus


@dataclass(frozen=True, slots=True)
class Party:
    country_code: str
    party_id: str

    @property
    def key(self) -> str:
        """``NL-EXA``, the form reservation_policy uses."""
        return f"{self.country_code}-{self.party_id}"


@dataclass(frozen=True, slots=True)
class Routing:
    """The parties of a functional-module request: ``sender`` is the partner's role that sent it
    (OCPI-from-*), ``receiver`` our CPO role it addresses (OCPI-to-*); None when the headers were
    absent and the side has several roles."""

    sender: Party | None
    receiver: Party | None


CALLER: web.RequestKey[Caller] = web.RequestKey("ocpi_caller", Caller)
ROUTING: web.RequestKey[Routing] = web.RequestKey("ocpi_routing", Routing)
REQUEST_ID: web.RequestKey[str] = web.RequestKey("ocpi_request_id", str)
CORRELATION_ID: web.RequestKey[str] = web.RequestKey("ocpi_correlation_id", str)
OUR_PARTIES: web.AppKey[list[Party]] = web.AppKey("ocpi_our_parties")
"""Our CPO roles as parties, computed once from the settings (create_app)."""


def current_partner(request: web.Request) -> Partner:
    """The authenticated partner of an ``/ocpi/`` request."""
    caller: Caller | None = request.get(CALLER)
    if caller is None:
        raise OcpiError(OcpiStatus.CLIENT_ERROR, "not authenticated", http_status=401)
    return caller.partner


def current_routing(request: web.Request) -> Routing:
    routing: Routing | None = request.get(ROUTING)
    return routing or Routing(None, None)
