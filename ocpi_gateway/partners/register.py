"""The handshake as client: we register with an eMSP or hub that gave us token A."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

import structlog
from pydantic import ValidationError

from ocpi_gateway.config import GatewaySettings
from ocpi_gateway.credentials import Credentials, our_credentials
from ocpi_gateway.partners.client import OcpiClient, OcpiClientError
from ocpi_gateway.partners.handshake import HandshakeError, fetch_partner_api
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.partners.registry import PartnerRegistry
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
) -> Partner:
    """Fetch their versions/endpoints with token A, POST our credentials (a new token B), store
    their token C. Raises HandshakeError (status code and reason) on failure."""
    api = await fetch_partner_api(client, versions_url, token_a, our_versions)
    credentials_url = next(e.url for e in api.endpoints if e.identifier == "credentials")
    partner = await registry.create(name or urlsplit(versions_url).netloc or versions_url)
    token_b = await registry.issue_credentials_token(partner.id)
    try:
        reply = await client.request("POST", credentials_url, token_a,
                                     base64_token=api.send_base64,
                                     json=our_credentials(settings, token_b))
        if not reply.ok:
            message = reply.body.get("status_message") if isinstance(reply.body, dict) else None
            raise HandshakeError(OcpiStatus.UNABLE_TO_USE_CLIENT_API,
                                 f"POST {credentials_url} answered HTTP {reply.http_status}, "
                                 f"status_code {reply.status_code}: {message or ''}")
        try:
            theirs = Credentials.model_validate(reply.data)
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
    await registry.register(partner, roles=theirs.partner_roles(), versions_url=theirs.url,
                            version=api.version, endpoints=api.endpoints,
                            token_to_send=theirs.token, send_base64=api.send_base64,
                            issue_token=token_b)
    log.info("registered_with_partner", partner=partner.name, version=api.version)
    return partner
