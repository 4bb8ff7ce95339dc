"""Keeps one record per charging session, from the OCPP adapter's transaction events.

STOP_SESSION names an OCPI session id; the charger knows a transaction id. This record joins
the two, and remembers which eMSP started it (when a START_SESSION did) so that an eMSP can
only stop its own sessions.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import structlog

from ocpi_gateway.domain.events import DomainEvent, TransactionEnded, TransactionStarted
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.store import DocumentStore

log = structlog.get_logger(__name__)

COLLECTION = "sessions"
STARTS = "session_starts"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    id: str
    charge_point_id: str
    transaction_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    started_at: str
    ended_at: str | None = None
    country_code: str | None = None
    party_id: str | None = None
    """The eMSP role that started it remotely, when known."""

    @property
    def active(self) -> bool:
        return self.ended_at is None


def _transaction_key(charge_point_id: str, transaction_id: str) -> str:
    return f"{charge_point_id}/{transaction_id}"


class SessionTracker:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def expect_remote_start(self, charge_point_id: str, token_uid: str,
                                  country_code: str, party_id: str) -> None:
        """Remember who asked, so the transaction that follows is attributed to that eMSP."""
        await self._store.put(STARTS, f"{charge_point_id}/{ocpp16_id_tag(token_uid)}",
                              {"country_code": country_code, "party_id": party_id})
        await self._store.put(STARTS, f"{charge_point_id}/{token_uid}",
                              {"country_code": country_code, "party_id": party_id})

    async def get(self, session_id: str) -> SessionRecord | None:
        docs = await self._store.find(COLLECTION, {"id": session_id})
        return SessionRecord(**docs[0]) if docs else None

    async def active_at(self, charge_point_id: str) -> list[SessionRecord]:
        """The sessions of a charger that have not ended."""
        docs = await self._store.find(COLLECTION, {"charge_point_id": charge_point_id})
        return [record for record in (SessionRecord(**d) for d in docs) if record.active]

    async def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionStarted):
            await self._started(event)
        elif isinstance(event, TransactionEnded):
            await self._ended(event)

    async def _started(self, event: TransactionStarted) -> None:
        key = _transaction_key(event.charge_point_id, event.transaction_id)
        if await self._store.get(COLLECTION, key) is not None:
            return  # 2.0.1 repeats the transaction id on every TransactionEvent
        owner: dict[str, Any] = {}
        if event.id_token:
            owner = await self._store.get(
                STARTS, f"{event.charge_point_id}/{event.id_token}") or {}
        record = SessionRecord(
            id=uuid.uuid4().hex, charge_point_id=event.charge_point_id,
            transaction_id=event.transaction_id, evse_id=event.evse_id,
            connector_id=event.connector_id, id_token=event.id_token,
            started_at=_iso(event.timestamp), country_code=owner.get("country_code"),
            party_id=owner.get("party_id"))
        await self._store.insert(COLLECTION, key, asdict(record))
        log.info("session_started", session_id=record.id, charge_point_id=record.charge_point_id,
                 transaction_id=record.transaction_id)

    async def _ended(self, event: TransactionEnded) -> None:
        key = _transaction_key(event.charge_point_id, event.transaction_id)
        doc = await self._store.get(COLLECTION, key)
        if doc is None:
            log.warning("session_end_unknown_transaction", charge_point_id=event.charge_point_id,
                        transaction_id=event.transaction_id)
            return
        doc["ended_at"] = _iso(event.timestamp)
        await self._store.put(COLLECTION, key, doc)


def _iso(moment: datetime) -> str:
    return moment.isoformat()
