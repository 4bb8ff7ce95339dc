"""ClientInfo objects per hub, in the durable store, with a short in-memory cache (the
transport asks on every request a hub forwards; several instances share the store)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.hubclientinfo.models import ClientInfo, ConnectionStatus
from ocpi_gateway.partners.models import Partner
from ocpi_gateway.transport.context import Party

COLLECTION = "hub_client_info"
CACHE_SECONDS = 2.0
"""How long another instance may act on a hub's previous report."""


def _key(partner_id: str, country_code: str, party_id: str) -> str:
    return f"{partner_id}/{country_code.upper()}/{party_id.upper()}"


class HubClients:
    def __init__(self, store: DocumentStore, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[tuple[str, str], ClientInfo]]] = {}

    async def put(self, partner_id: str, info: ClientInfo) -> ClientInfo | None:
        """Store what the hub reported; returns the previous report of that party."""
        previous = await self.get(partner_id, info.country_code, info.party_id)
        await self._store.put(COLLECTION, _key(partner_id, info.country_code, info.party_id), {
            "partner_id": partner_id, "info": info.model_dump(mode="json")})
        self._cache.pop(partner_id, None)
        return previous

    async def get(self, partner_id: str, country_code: str, party_id: str) -> ClientInfo | None:
        return (await self.reported(partner_id)).get((country_code.upper(), party_id.upper()))

    async def reported(self, partner_id: str) -> dict[tuple[str, str], ClientInfo]:
        cached = self._cache.get(partner_id)
        if cached is not None and self._clock() - cached[0] < CACHE_SECONDS:
            return cached[1]
        docs = await self._store.find(COLLECTION, {"partner_id": partner_id})
        infos = [ClientInfo.model_validate(d["info"]) for d in docs]
        found = {i.key: i for i in infos}
        self._cache[partner_id] = (self._clock(), found)
        return found

    async def connected(self, partner_id: str) -> list[ClientInfo]:
        """The parties behind the hub that may be pushed to now."""
        return [i for i in (await self.reported(partner_id)).values()
                if i.status is ConnectionStatus.CONNECTED]

    async def refusal(self, partner: Partner, sender: Party) -> str | None:
        """Why a hub may not act for ``sender`` (None: it may): the party must be one the hub
        reported (the operator's grant is checked beside this, in transport.routing). A hub
        that reports nothing at all (no HubClientInfo) is held to the grants alone."""
        reported = await self.reported(partner.id)
        if not reported or (sender.country_code, sender.party_id) in reported:
            return None
        return f"this hub has not reported {sender.key} (HubClientInfo)"
