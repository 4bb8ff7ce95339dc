"""The commands eMSPs sent (kept 7 days once settled): what, from whom, the result."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ocpi_gateway.admin.service.paging import decode_cursor, encode_cursor
from ocpi_gateway.commands.models import CommandResultType, CommandType
from ocpi_gateway.commands.records import COLLECTION, CommandRecord, CommandState
from ocpi_gateway.domain.store import DocumentStore, Range

ORDER = ["-created_at"]


class CommandFilter(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    state: CommandState | None = None
    command: CommandType | None = None
    partner: str | None = Field(default=None, description="a partner id")
    created_from: datetime | None = Field(default=None, alias="from")
    created_to: datetime | None = Field(default=None, alias="to")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None

    def where(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.state is not None:
            where["state"] = self.state.value
        if self.command is not None:
            where["command"] = self.command.value
        if self.partner:
            where["partner_id"] = self.partner
        if self.created_from is not None or self.created_to is not None:
            where["created_at"] = Range(
                gte=self.created_from.timestamp() if self.created_from else None,
                lt=self.created_to.timestamp() if self.created_to else None)
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
    page = await store.find_page(COLLECTION, query.where(), order_by=ORDER, limit=query.limit,
                                 after=decode_cursor(query.cursor, len(ORDER)))
    return CommandsPage(items=[view(CommandRecord.from_doc(d)) for d in page.docs],
                        next_cursor=encode_cursor(page.next))
