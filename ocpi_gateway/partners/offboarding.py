"""Offboarding a partner: ``partners revoke`` (tokens dead, pushes stop, the record stays) and
``partners delete`` (also unregister at their side, then forget them).

Both run from the CLI against the shared store, while gateway instances keep running: the
registry's epoch makes every instance drop its cached authentication at once, and the outbox of
every instance finds no headers for the partner any more, so it dead-letters what it still
holds. The pending deliveries in the store are dead-lettered here as well, so none waits for an
instance that may never come back to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from ocpi_gateway.deliveries.models import COLLECTION as OUTBOX
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.partners.client import OcpiClient, OcpiClientError
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.partners.registry import PartnerRegistry

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Offboarded:
    partner: Partner
    dead_lettered: int
    remote_delete: str | None = None
    """What their credentials endpoint answered to our DELETE (delete only)."""


async def dead_letter_deliveries(store: DocumentStore, partner_id: str, reason: str) -> int:
    """Mark every pending outbox delivery to the partner dead; returns how many."""
    count = 0
    for doc in await store.find(OUTBOX, {"partner_id": partner_id, "dead": False}):
        await store.put(OUTBOX, str(doc["id"]), {**doc, "dead": True, "last_error": reason})
        count += 1
    return count


async def revoke_partner(store: DocumentStore, registry: PartnerRegistry,
                         partner_id: str) -> Offboarded | None:
    partner = await registry.revoke(partner_id)
    if partner is None:
        return None
    dead = await dead_letter_deliveries(store, partner.id, "partner revoked by the operator")
    log.warning("partner_revoked", partner=partner.name, partner_id=partner.id,
                dead_lettered=dead)
    return Offboarded(partner, dead)


async def _delete_at_their_side(client: OcpiClient, partner: Partner) -> str:
    url = partner.endpoint("credentials")
    if url is None or partner.token_to_send is None:
        return "not attempted (no credentials endpoint or token)"
    try:
        reply = await client.request("DELETE", url, partner.token_to_send,
                                     base64_token=partner.send_base64)
    except OcpiClientError as exc:
        return f"unreachable: {exc}"
    return f"HTTP {reply.http_status}, status_code {reply.status_code}"


async def delete_partner(store: DocumentStore, registry: PartnerRegistry, client: OcpiClient,
                         partner_id: str) -> Offboarded | None:
    """Revoke, DELETE our registration on their credentials endpoint (best effort), forget."""
    partner = await registry.get(partner_id)
    if partner is None:
        return None
    # Revoked first: nothing they send is accepted while we talk to them.
    await registry.revoke(partner.id)
    remote = await _delete_at_their_side(client, partner)
    dead = await dead_letter_deliveries(store, partner.id, "partner deleted by the operator")
    await registry.delete(partner.id)
    log.warning("partner_deleted", partner=partner.name, partner_id=partner.id,
                dead_lettered=dead, remote_delete=remote)
    return Offboarded(partner, dead, remote)
