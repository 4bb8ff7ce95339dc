"""What a charger's websocket upgrade request says of itself: whether the proxy in front may
be believed, whether the connection is TLS (security profile 2), the charger's address, the
subprotocol to speak, and how a refusal is answered. ``OcppServer`` decides with these whom
to admit (``server._admit``); TLS itself, when it ends in this process, is
``server_ssl_context``.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Collection

import structlog
from aiohttp import web

from ocpi_gateway.domain.ids import OcppVersion
from ocpi_gateway.ocpp_adapter import v16, v201
from ocpi_gateway.ocpp_adapter.chargers_config import ChargerConfig
from ocpi_gateway.ocpp_adapter.session import OcppSession

log = structlog.get_logger(__name__)

SESSION_CLASSES: dict[str, type[OcppSession]] = {
    v201.SUBPROTOCOL: v201.V201Session,
    v16.SUBPROTOCOL: v16.V16Session,
}
SUBPROTOCOL_OF = {OcppVersion.V16: v16.SUBPROTOCOL, OcppVersion.V201: v201.SUBPROTOCOL}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def forwarded_trusted(request: web.Request, trust_all: bool,
                      trusted_proxies: Collection[Network]) -> bool:
    """Whether the X-Forwarded-* headers of ``request`` come from a proxy of ours."""
    if trust_all:
        return True
    if not trusted_proxies or request.remote is None:
        return False
    try:
        peer = ipaddress.ip_address(request.remote)
    except ValueError:
        return False
    return any(peer in network for network in trusted_proxies)


def is_tls(request: web.Request, forwarded_trusted: bool) -> bool:
    if request.transport is not None \
            and request.transport.get_extra_info("sslcontext") is not None:
        return True
    if forwarded_trusted:
        return request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    return False


def remote_of(request: web.Request, forwarded_trusted: bool) -> str:
    remote = request.remote or "?"
    if forwarded_trusted:
        # Behind our proxy every charger shares its address: use the hop the proxy saw
        # (the last X-Forwarded-For entry, the only one the client cannot forge).
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        remote = forwarded or remote
    return remote


def refuse(charge_point_id: str, remote: str, status: int, reason: str) -> web.Response:
    log.warning("ocpp_connection_refused", charge_point_id=charge_point_id, remote=remote,
                reason=reason, http_status=status)
    headers = {"WWW-Authenticate": 'Basic realm="ocpp"'} if status == 401 else None
    return web.Response(status=status, text=reason, headers=headers)


def choose_subprotocol(request: web.Request, charger: ChargerConfig) -> str | None:
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    allowed = [SUBPROTOCOL_OF[charger.ocpp_version]] if charger.ocpp_version \
        else list(SESSION_CLASSES)
    return next((p for p in offered if p in allowed), None)


def server_ssl_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """TLS for security profile 2 when it terminates in this process."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    return context
