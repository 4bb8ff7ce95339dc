"""Fetching a partner's versions and endpoints during the credentials handshake.

Both directions use it: as server after a POST/PUT (errors become 3001/3002/3003 in our
answer), as client before our POST (errors stop the registration).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from ocpi_gateway.partners.client import OcpiClient, OcpiClientError, OcpiReply
from ocpi_gateway.partners.models import PartnerEndpoint
from ocpi_gateway.transport.status_codes import OcpiStatus

REQUIRED_ENDPOINTS: frozenset[str] = frozenset({"credentials"})
"""Modules a partner must offer for us to register it (3003 otherwise)."""


class HandshakeError(Exception):
    def __init__(self, status_code: OcpiStatus, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class _VersionEntry(BaseModel):
    version: str
    url: str


class _Details(BaseModel):
    version: str
    endpoints: list[PartnerEndpoint]


@dataclass(frozen=True, slots=True)
class PartnerApi:
    version: str
    endpoints: list[PartnerEndpoint]
    send_base64: bool


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


async def _get(client: OcpiClient, url: str, token: str, base64_first: bool,
               ) -> tuple[OcpiReply, bool]:
    """GET with the token in the preferred form; on 401 once more in the other form (peers
    disagree on base64, transport_and_format allows trial and error)."""
    try:
        reply = await client.get(url, token, base64_token=base64_first)
        if reply.http_status == 401:
            retry = await client.get(url, token, base64_token=not base64_first)
            if retry.http_status != 401:
                return retry, not base64_first
        return reply, base64_first
    except OcpiClientError as exc:
        raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                             f"cannot reach the partner: {exc}") from exc


def _data(reply: OcpiReply, url: str) -> Any:
    if not reply.ok:
        raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                             f"GET {url} answered HTTP {reply.http_status}, "
                             f"status_code {reply.status_code}")
    return reply.data


async def fetch_partner_api(
    client: OcpiClient,
    versions_url: str,
    token: str,
    our_versions: Sequence[str],
    *,
    base64_first: bool = True,
    version: str | None = None,
) -> PartnerApi:
    """The highest common version (or ``version`` when given) and its endpoints."""
    reply, base64_ok = await _get(client, versions_url, token, base64_first)
    try:
        entries = [_VersionEntry.model_validate(e) for e in _data(reply, versions_url)]
    except (ValidationError, TypeError) as exc:
        raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                             f"{versions_url}: not a version list") from exc
    wanted = [version] if version else sorted(our_versions, key=_version_key, reverse=True)
    chosen = next((e for v in wanted for e in entries if e.version == v), None)
    if chosen is None:
        theirs = ", ".join(e.version for e in entries) or "none"
        raise HandshakeError(OcpiStatus.UNSUPPORTED_VERSION,
                             f"no common OCPI version (ours: {', '.join(wanted)}; "
                             f"theirs: {theirs})")
    reply, base64_ok = await _get(client, chosen.url, token, base64_ok)
    try:
        details = _Details.model_validate(_data(reply, chosen.url))
    except ValidationError as exc:
        raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                             f"{chosen.url}: not version details") from exc
    missing = REQUIRED_ENDPOINTS - {e.identifier for e in details.endpoints}
    if missing:
        raise HandshakeError(OcpiStatus.NO_MATCHING_ENDPOINTS,
                             f"required endpoints missing: {', '.join(sorted(missing))}")
    return PartnerApi(chosen.version, details.endpoints, base64_ok)
