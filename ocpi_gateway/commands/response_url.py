"""Where a command's results may go: ``response_url`` is chosen by the eMSP and the gateway
POSTs to it, so an eMSP could aim it at the gateway's own network (loopback, link-local cloud
metadata, private addresses). Such URLs are refused at command time unless the operator allows
them (``allow_private_response_urls``, for tests and the demo, whose eMSPs run on loopback).

The name is resolved here, without blocking the loop; the outbox resolves it again when it
sends, so a DNS answer that changes in between (DNS rebinding) is not caught — see
docs/security.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

RESOLVE_SECONDS = 2.0


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for loopback, link-local, private, shared (100.64/10), unspecified
    # and reserved ranges alike.
    return not ip.is_global or ip.is_multicast


async def response_url_refusal(url: str, *, allow_private: bool) -> str | None:
    """Why the gateway will not POST to ``url``; None when it will."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"response_url must be an http(s) URL, not {parts.scheme or 'schemeless'}"
    if allow_private:
        return None
    try:
        port = parts.port
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(parts.hostname, port or 443,
                                                   type=socket.SOCK_STREAM),
            RESOLVE_SECONDS)
    except (OSError, TimeoutError, ValueError, UnicodeError):
        return f"response_url host {parts.hostname} cannot be resolved"
    for *_, sockaddr in infos:
        address = str(sockaddr[0])
        if _not_public(address):
            return (f"response_url host {parts.hostname} resolves to {address}, a loopback, "
                    "link-local or private address")
    return None
