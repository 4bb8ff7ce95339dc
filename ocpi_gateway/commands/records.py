"""Durable records of the commands eMSPs sent, so that none ends in silence after a restart."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from ocpi_gateway.commands.models import CommandResultType, CommandType
from ocpi_gateway.domain.store import DocumentStore

COLLECTION = "commands"


class CommandState(StrEnum):
    PENDING = "PENDING"
    """Accepted from the eMSP; the charger's answer is not in yet."""
    DONE = "DONE"
    """The result is known and queued for delivery to the response_url."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandRecord:
    id: str
    partner_id: str
    country_code: str
    party_id: str
    command: CommandType
    body: dict[str, Any]
    response_url: str
    deadline: float
    """Epoch seconds: the timeout announced to the eMSP runs out here."""
    state: CommandState = CommandState.PENDING
    result: CommandResultType | None = None
    message: str | None = None
    instance_id: str | None = None
    created_at: float = field(default_factory=time.time)
    result_headers: dict[str, str] = field(default_factory=dict)
    """OCPI routing headers of the CommandResult: the request's, swapped."""

    @classmethod
    def new(cls, **fields: Any) -> CommandRecord:
        return cls(id=uuid.uuid4().hex, **fields)

    def to_doc(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: asdict deep-copies the request body, which
        # cost more than the rest of the synchronous RESERVE_NOW path (benchmarks/reserve_now).
        # The store serialises the document at once, so sharing ``body`` is safe.
        doc = {name: getattr(self, name) for name in self.__dataclass_fields__}
        doc["command"] = self.command.value
        doc["state"] = self.state.value
        doc["result"] = self.result.value if self.result else None
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CommandRecord:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        known["command"] = CommandType(known["command"])
        known["state"] = CommandState(known["state"])
        known["result"] = CommandResultType(known["result"]) if known.get("result") else None
        return cls(**known)


class CommandRepository:
    def __init__(self, store: DocumentStore) -> None:
        self._store = store

    async def create(self, record: CommandRecord) -> None:
        await self._store.put(COLLECTION, record.id, record.to_doc())

    async def get(self, command_id: str) -> CommandRecord | None:
        doc = await self._store.get(COLLECTION, command_id)
        return CommandRecord.from_doc(doc) if doc else None

    async def complete(
        self, record: CommandRecord, result: CommandResultType, message: str | None
    ) -> CommandRecord | None:
        """PENDING → DONE once: None when another task (or instance) completed it first."""
        done = replace(record, state=CommandState.DONE, result=result, message=message)
        swapped = await self._store.replace_if(
            COLLECTION, record.id, done.to_doc(), expected={"state": CommandState.PENDING.value})
        return done if swapped else None

    async def forget_done(self, older_than: float) -> int:
        """Delete settled records created before ``older_than`` (epoch seconds); how many."""
        forgotten = 0
        for doc in await self._store.find(COLLECTION, {"state": CommandState.DONE.value}):
            if float(doc["created_at"]) < older_than:
                forgotten += await self._store.delete(COLLECTION, str(doc["id"]))
        return forgotten

    async def pending(self) -> list[CommandRecord]:
        docs = await self._store.find(COLLECTION, {"state": CommandState.PENDING.value},
                                      order_by="created_at")
        return [CommandRecord.from_doc(doc) for doc in docs]
