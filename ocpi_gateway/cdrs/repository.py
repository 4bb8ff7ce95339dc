"""CDRs in the durable store, one document per CDR id, written once (a CDR is never changed:
a Credit CDR is another document)."""

from __future__ import annotations

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.sessions.models import party_key

COLLECTION = "cdrs"


class CdrRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, cdr_id: str) -> Cdr | None:
        doc = await self._store.get(COLLECTION, cdr_id)
        return Cdr.from_doc(doc) if doc else None

    async def insert(self, cdr: Cdr) -> bool:
        """False when a CDR with that id exists (it stays as it is)."""
        return await self._store.insert(COLLECTION, cdr.id, cdr.to_doc())

    async def of_emsp(self, country_code: str, party_id: str) -> list[Cdr]:
        """An eMSP's CDRs, oldest ``last_updated`` first."""
        docs = await self._store.find(COLLECTION,
                                      {"emsp_key": party_key(country_code, party_id)},
                                      order_by="last_updated_ts")
        return [Cdr.from_doc(d) for d in docs]

    async def recent_reservation_cdrs(self, charge_point_id: str, limit: int = 20
                                      ) -> list[Cdr]:
        """The latest CDRs of unused reservations at a charger, newest first."""
        docs = await self._store.find(COLLECTION, {"charge_point_id": charge_point_id,
                                                   "kind": CdrKind.RESERVATION.value},
                                      order_by="-last_updated_ts", limit=limit)
        return [Cdr.from_doc(d) for d in docs]
