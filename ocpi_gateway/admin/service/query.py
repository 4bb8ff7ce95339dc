"""The one base of the admin lists' queries: a time range (``from``/``to``), an order chosen
among those the list offers (``sort``), and keyset pages (``limit``, ``cursor``). A list
declares its orders, the stored field its range bounds and its own filters (``filters``); the
base turns them into the store's ``where`` and order and reads one page. The API takes the
same models as query parameters and documents them; the CLI fills them from its flags."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ocpi_gateway.admin.service.paging import decode_cursor, encode_cursor
from ocpi_gateway.domain.store import Document, DocumentStore, OneOf, Range, Where

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


def sort_param(orders: Mapping[str, str], default: str) -> Any:
    """The ``sort`` field of a list offering ``orders`` (name → stored field): a name, a
    leading ``-`` for descending; anything else is refused naming what is offered."""
    names = "|".join(orders)
    return Field(default=default, pattern=f"^-?({names})$",
                 description=f"the order: {', '.join(orders)}; '-' first for descending "
                 f"(default {default}); ties broken by key")


class ListQuery(BaseModel):
    """What every list takes; subclasses add their filters and ``sort = sort_param(...)``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    SORTS: ClassVar[Mapping[str, str]] = {}
    """The orders offered: name → the stored field (present in every document)."""
    TIME_FIELD: ClassVar[str | None] = None
    """The stored field (epoch seconds) ``from`` and ``to`` bound."""

    sort: str = ""
    since: datetime | None = Field(default=None, alias="from",
                                   description="at or after this moment (ISO 8601)")
    until: datetime | None = Field(default=None, alias="to",
                                   description="before this moment (ISO 8601)")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, description="next_cursor of the previous page "
                               "(with the same filters and sort)")

    def filters(self) -> Where:
        """The list's own conditions (store fields → conditions)."""
        return {}

    def where(self) -> Where:
        where = self.filters()
        span = time_range(self.since, self.until)
        if span is not None and self.TIME_FIELD is not None:
            where[self.TIME_FIELD] = span
        return where

    def order(self) -> list[str]:
        descending = self.sort.startswith("-")
        field = self.SORTS[self.sort.lstrip("-")]
        return ["-" + field if descending else field]

    async def page(self, store: DocumentStore, collection: str,
                   convert: Callable[[Document], T], where: Where | None = None
                   ) -> tuple[list[T], str | None]:
        """One page (of ``where``, when the list needs more than ``self.where()``): its items
        and the cursor of the next (None on the last). Raises paging.BadCursor for a cursor
        this list, in this order, did not give out."""
        order = self.order()
        found = await store.find_page(collection, self.where() if where is None else where,
                                      order_by=order,
                                      limit=self.limit, after=decode_cursor(self.cursor, order))
        return [convert(doc) for doc in found.docs], encode_cursor(found.next, order)


class DriverQuery(ListQuery):
    """A list of things an eMSP's driver did: filtered by the eMSP and the token."""

    emsp: str | None = Field(default=None, description="the eMSP's party, e.g. DE-ABC")
    token: str | None = Field(default=None, description="the token uid")

    @field_validator("emsp")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        return party(value)


class SiteQuery(DriverQuery):
    """... at a site: also filtered by location."""

    site: str | None = Field(default=None, description="a location id")


def time_range(since: datetime | None, until: datetime | None) -> Range | None:
    """[since, until) in epoch seconds; a moment without a zone is UTC."""
    if since is None and until is None:
        return None
    return Range(gte=_epoch(since) if since is not None else None,
                 lt=_epoch(until) if until is not None else None)


def _epoch(moment: datetime) -> float:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


def party(value: str | None) -> str | None:
    """An eMSP's party as the records key it: ``de*abc`` → ``DE-ABC``."""
    return value.strip().upper().replace("*", "-") if value else value


def state_names(value: str | None, states: type[E], live: frozenset[E] | None = None
                ) -> str | None:
    """A comma-separated list of ``states`` (any case; ``live`` for the live ones), checked:
    a ValueError names a wrong one."""
    if value is None:
        return None
    names: list[str] = []
    for name in (part.strip().upper() for part in value.split(",")):
        wanted = sorted(state.value for state in live) if name == "LIVE" and live else [name]
        names += [n for n in wanted if n and n not in names]
    known = [state.value for state in states]
    for name in names:
        if name not in known:
            raise ValueError(f"{name} is not one of {', '.join(known)}")
    return ",".join(names)


def one_or_more(values: list[str]) -> str | OneOf | None:
    """The condition of a list of wanted values: one is an equality, several a OneOf."""
    if not values:
        return None
    return values[0] if len(values) == 1 else OneOf(values)


def add(where: Where, field: str, condition: Any) -> None:
    """``where[field] = condition`` unless there is no condition."""
    if condition is not None:
        where[field] = condition


def site_filters(state: str | None, live: frozenset[E], site: str | None, emsp: str | None,
                 token: str | None) -> Where:
    """The conditions a site's reservation or booking list shares: states (exactly the live
    ones read the record's ``live`` flag, which its indexes lead), site, eMSP and token."""
    where: Where = {}
    states = set(state.split(",")) if state else set()
    if states and states == {s.value for s in live}:
        where["live"] = True
    else:
        add(where, "state", one_or_more(sorted(states)))
    add(where, "location_id", site or None)
    add(where, "partner_key", emsp or None)
    add(where, "token_uid", token or None)
    return where
