"""The commands eMSPs sent (kept 7 days once settled): what, from whom, the result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.query import ListQuery, add, sort_param
from ocpi_gateway.commands.models import CommandResultType, CommandType
from ocpi_gateway.commands.records import COLLECTION, CommandRecord, CommandState
from ocpi_gateway.domain.store import DocumentStore, Where


class CommandFilter(ListQuery):
    """``from`` and ``to`` bound the time the eMSP sent it."""

    SORTS: ClassVar[Mapping[str, str]] = {"created": "created_at"}
    TIME_FIELD: ClassVar[str | None] = "created_at"

    sort: str = sort_param(SORTS, "-created")
    state: CommandState | None = None
    command: CommandType | None = None
    partner: str | None = Field(default=None, description="a partner id")

    def filters(self) -> Where:
        where: Where = {}
        add(where, "state", self.state.value if self.state is not None else None)
        add(where, "command", self.command.value if self.command is not None else None)
        add(where, "partner_id", self.partner or None)
        return where


class CommandView(BaseModel):
    id: str
    command: CommandType
    state: CommandState
    result: CommandResultType | None
    message: str | None
    partner_id: str
    party: str
    created_at: datetime
    deadline: datetime
    instance_id: str | None
    body: dict[str, Any]


class CommandsPage(BaseModel):
    items: list[CommandView]
    next_cursor: str | None


def view(record: CommandRecord) -> CommandView:
    return CommandView(
        id=record.id, command=record.command, state=record.state, result=record.result,
        message=record.message, partner_id=record.partner_id,
        party=f"{record.country_code}-{record.party_id}",
        created_at=datetime.fromtimestamp(record.created_at, UTC),
        deadline=datetime.fromtimestamp(record.deadline, UTC), instance_id=record.instance_id,
        body=record.body)


async def list_commands(store: DocumentStore, query: CommandFilter) -> CommandsPage:
    items, next_cursor = await query.page(store, COLLECTION,
                                          lambda d: view(CommandRecord.from_doc(d)))
    return CommandsPage(items=items, next_cursor=next_cursor)
