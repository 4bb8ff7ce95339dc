"""CDRs in the durable store, one document per CDR id, written once (a CDR is never changed:
a Credit CDR is another document)."""

from __future__ import annotations

from collections.abc import Sequence

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.deliveries.group_commit import GroupCommit
from ocpi_gateway.domain.store import DocumentStore, OneOf, Range
from ocpi_gateway.sessions.models import party_key

COLLECTION = "cdrs"


class CdrRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        # The CDRs of sessions finishing together are stored in one commit.
        self._commits = GroupCommit(store)

    async def get(self, cdr_id: str) -> Cdr | None:
        doc = await self._store.get(COLLECTION, cdr_id)
        return Cdr.from_doc(doc) if doc else None

    async def insert(self, cdr: Cdr) -> bool:
        """False when a CDR with that id exists (it stays as it is)."""
        return await self._commits.insert(COLLECTION, cdr.id, cdr.to_doc())

    async def page_of(self, parties: Sequence[tuple[str, str]], updated: Range | None,
                      offset: int, limit: int) -> tuple[list[Cdr], int]:
        """A page of the parties' Cdrs (``last_updated`` in ``updated``), oldest first, and
        how many match in all."""
        where: dict[str, object] = {"emsp_key": OneOf([party_key(cc, pid) for cc, pid in parties])}
        if updated is not None:
            where["last_updated_ts"] = updated
        total = await self._store.count(COLLECTION, where)
        if limit <= 0 or offset >= total:
            return [], total
        docs = await self._store.find(COLLECTION, where, order_by="last_updated_ts", limit=limit,
                                      offset=offset)
        return [Cdr.from_doc(d) for d in docs], total

    async def recent_reservation_cdrs(self, charge_point_id: str, limit: int = 20
                                      ) -> list[Cdr]:
        """The latest CDRs of unused reservations at a charger, newest first."""
        docs = await self._store.find(COLLECTION, {"charge_point_id": charge_point_id,
                                                   "kind": CdrKind.RESERVATION.value},
                                      order_by="-last_updated_ts", limit=limit)
        return [Cdr.from_doc(d) for d in docs]
