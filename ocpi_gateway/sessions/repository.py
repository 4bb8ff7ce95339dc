"""Sessions in the durable store, one document per session id, every change a compare-and-set
on ``version`` (a reservation's end may be seen by another instance than the one holding the
charger), and the intents of START_SESSION commands a transaction will fulfil."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ocpi_gateway.domain.store import DocumentStore, OneOf, Range
from ocpi_gateway.sessions.models import Session, SessionStatus, party_key

COLLECTION = "sessions"
STARTS = "session_starts"
"""``charge point/token`` → a START_SESSION the charger accepted: the session id it made,
who asked, and until when a transaction with that token fulfils it."""
HOLD_TOKENS = "session_hold_tokens"
"""reservation key → the OCPI token (and authorization_reference) of its RESERVE_NOW: the
reservation record keeps only what the charger needs."""


class SessionRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def get(self, session_id: str) -> Session | None:
        doc = await self._store.get(COLLECTION, session_id)
        return Session.from_doc(doc) if doc else None

    async def insert(self, session: Session) -> bool:
        """False when a session with that id exists."""
        return await self._store.insert(COLLECTION, session.id, session.to_doc())

    async def replace(self, current: Session, new: Session) -> Session | None:
        """Store ``new`` (``version`` one past ``current``'s); None when another writer won."""
        fresh = new.model_copy(update={"version": current.version + 1})
        ok = await self._store.replace_if(COLLECTION, current.id, fresh.to_doc(),
                                          expected={"version": current.version})
        return fresh if ok else None

    async def by_transaction(self, charge_point_id: str, transaction_id: str) -> Session | None:
        docs = await self._store.find(
            COLLECTION, {"transaction_key": f"{charge_point_id}/{transaction_id}"})
        return Session.from_doc(docs[0]) if docs else None

    async def by_hold(self, hold_key: str) -> Session | None:
        docs = await self._store.find(COLLECTION, {"hold_key": hold_key},
                                      order_by="last_updated_ts")
        return Session.from_doc(docs[-1]) if docs else None

    async def open_at(self, charge_point_id: str) -> list[Session]:
        """The sessions of a charger that have not ended."""
        docs = await self._store.find(COLLECTION, {"open": True,
                                                   "charge_point_id": charge_point_id})
        return [Session.from_doc(d) for d in docs]

    async def running(self, charge_point_id: str | None = None) -> list[Session]:
        """The sessions with a transaction in progress (ACTIVE), at a charger or at every
        one: what the bookings' planner adopts (a restart, a charger taken over)."""
        found = await self.open_at(charge_point_id) if charge_point_id is not None \
            else await self.open_with_status(SessionStatus.ACTIVE)
        return [s for s in found if s.status is SessionStatus.ACTIVE
                and s.charge_point_id is not None and s.transaction_id is not None]

    async def open_with_status(self, status: SessionStatus) -> list[Session]:
        docs = await self._store.find(COLLECTION, {"open": True, "status": status.value})
        return [Session.from_doc(d) for d in docs]

    async def mark_billed(self, session_id: str) -> bool:
        """Note that a finished session was billed; False when it is gone."""
        for _ in range(5):
            current = await self.get(session_id)
            if current is None:
                return False
            if current.billed:
                return True
            if await self.replace(current, current.model_copy(update={"billed": True})):
                return True
        return False

    async def unbilled(self, limit: int = 100) -> list[Session]:
        """Finished sessions not billed yet, the longest finished first."""
        docs = await self._store.find(COLLECTION, {"unbilled": True},
                                      order_by="last_updated_ts", limit=limit)
        return [Session.from_doc(d) for d in docs]

    async def page_of(self, parties: Sequence[tuple[str, str]], updated: Range | None,
                      offset: int, limit: int) -> tuple[list[Session], int]:
        """A page of the parties' Sessions (``last_updated`` in ``updated``), oldest first, and
        how many match in all."""
        where: dict[str, object] = {"emsp_key": OneOf([party_key(cc, pid) for cc, pid in parties])}
        if updated is not None:
            where["last_updated_ts"] = updated
        total = await self._store.count(COLLECTION, where)
        if limit <= 0 or offset >= total:
            return [], total
        docs = await self._store.find(COLLECTION, where, order_by="last_updated_ts", limit=limit,
                                      offset=offset)
        return [Session.from_doc(d) for d in docs], total

    # -- START_SESSION intents -----------------------------------------------------------

    async def put_start(self, charge_point_id: str, id_tags: tuple[str, ...],
                        intent: dict[str, Any]) -> None:
        for tag in id_tags:
            await self._store.put(STARTS, f"{charge_point_id}/{tag.upper()}", intent)

    async def take_start(self, charge_point_id: str, id_token: str, now: datetime
                         ) -> dict[str, Any] | None:
        """The intent a transaction with ``id_token`` at that charger fulfils (consumed)."""
        key = f"{charge_point_id}/{id_token.upper()}"
        intent = await self._store.get(STARTS, key)
        if intent is None:
            return None
        for tag in intent.get("id_tags", ()):
            await self._store.delete(STARTS, f"{charge_point_id}/{str(tag).upper()}")
        if datetime.fromisoformat(intent["until"]) < now:
            return None
        return intent

    # -- the tokens of reservations ------------------------------------------------------

    async def put_hold_token(self, hold_key: str, token: dict[str, Any],
                             authorization_reference: str | None) -> None:
        await self._store.put(HOLD_TOKENS, hold_key, {
            "token": token, "authorization_reference": authorization_reference})

    async def hold_token(self, hold_key: str) -> dict[str, Any] | None:
        return await self._store.get(HOLD_TOKENS, hold_key)
