"""The handshake as client: we register with an eMSP or hub that gave us token A."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationError

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.credentials import our_credentials
from ocpi_gateway.ocpi import package
from ocpi_gateway.partners.client import OcpiClient, OcpiClientError
from ocpi_gateway.partners.grants import GrantedRole, Grants
from ocpi_gateway.partners.handshake import HandshakeError, fetch_partner_api
from ocpi_gateway.partners.models import Partner, PartnerRole
from ocpi_gateway.partners.registry import PartnerRegistry, RolesRefused
from ocpi_gateway.transport.status_codes import OcpiStatus

log = structlog.get_logger(__name__)


async def register_with_partner(
    registry: PartnerRegistry,
    client: OcpiClient,
    settings: GatewaySettings,
    our_versions: Sequence[str],
    versions_url: str,
    token_a: str,
    *,
    name: str | None = None,
    grants: Grants | None = None,
) -> Partner:
    """Fetch their versions/endpoints with token A, POST our credentials (a new token B), store
    their token C. Raises HandshakeError (status code and reason) on failure.

    ``grants`` None: the roles they declare are granted (the operator chose to register with
    them); otherwise only the declared roles it allows are kept, and none kept is a failure."""
    api = await fetch_partner_api(client, versions_url, token_a, our_versions)
    credentials_url = next(e.url for e in api.endpoints if e.identifier == "credentials")
    partner = await registry.create(name or urlsplit(versions_url).netloc or versions_url,
                                    grants or Grants())
    token_b = await registry.issue_credentials_token(partner.id)
    try:
        reply = await client.request("POST", credentials_url, token_a,
                                     base64_token=api.send_base64,
                                     json=our_credentials(settings, token_b, api.version))
        if not reply.ok:
            message = reply.body.get("status_message") if isinstance(reply.body, dict) else None
            raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                                 f"POST {credentials_url} answered HTTP {reply.http_status}, "
                                 f"status_code {reply.status_code}: {message or ''}")
        try:
            theirs = package(api.version).credentials.parse(reply.data)
        except ValidationError as exc:
            raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                                 f"POST {credentials_url}: invalid credentials in the answer: "
                                 f"{exc.errors()[0]['loc']}") from exc
    except OcpiClientError as exc:
        await registry.delete(partner.id)
        raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API, str(exc)) from exc
    except HandshakeError:
        await registry.delete(partner.id)
        raise
    declared = theirs.partner_roles()
    if grants is None:
        partner.grants = Grants(roles=[_granted(r) for r in declared])
    roles = [r for r in declared if partner.grants.allows(r.role, r.country_code, r.party_id)]
    dropped = [f"{r.role}:{r.country_code}-{r.party_id}" for r in declared if r not in roles]
    try:
        if not roles:
            raise RolesRefused(f"none of their roles ({', '.join(dropped)}) is granted")
        await registry.register(partner, roles=roles, versions_url=theirs.url,
                                version=api.version, endpoints=api.endpoints,
                                token_to_send=theirs.token, send_base64=api.send_base64,
                                issue_token=token_b)
    except RolesRefused as exc:
        await _undo(client, credentials_url, theirs.token, api.send_base64)
        await registry.delete(partner.id)
        raise HandshakeError(OcpiStatus.INVALID_OR_MISSING_PARAMETERS, str(exc)) from exc
    if dropped:
        log.warning("partner_roles_not_granted", partner=partner.name, dropped=dropped)
    log.info("registered_with_partner", partner=partner.name, version=api.version)
    return partner


def _granted(role: PartnerRole) -> GrantedRole:
    return GrantedRole(role=role.role, country_code=role.country_code, party_id=role.party_id)


async def _undo(client: OcpiClient, credentials_url: str, token_c: str, base64: bool) -> None:
    """They registered us but we refuse them: unregister at their side (best effort)."""
    try:
        await client.request("DELETE", credentials_url, token_c, base64_token=base64)
    except OcpiClientError as exc:
        log.warning("partner_undo_failed", url=credentials_url, error=str(exc))
