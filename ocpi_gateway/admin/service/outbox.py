"""The outbox as an operator sees it: what waits for its first attempt (pending), what failed
and waits for its next one (retrying), and the dead letters (refused, out of attempts, or to a
partner that is gone), which only an operator retries or drops."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.query import ListQuery, add, sort_param
from ocpi_gateway.deliveries.models import COLLECTION, Delivery
from ocpi_gateway.domain.store import DocumentStore, Range, Where


class DeliveryState(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DEAD = "dead"


class OutboxFilter(ListQuery):
    SORTS: ClassVar[Mapping[str, str]] = {"queued": "seq", "next_attempt": "next_attempt_at"}

    sort: str = sort_param(SORTS, "-queued")
    state: DeliveryState | None = Field(default=None, description="pending, retrying or dead")
    partner: str | None = Field(default=None, description="a partner id")
    method: str | None = Field(default=None, description="PUT, PATCH, POST...")
    ordering_key: str | None = Field(default=None, description="the object it is about (a "
                                     "Locations push's URL, a command's response_url...)")

    def filters(self) -> Where:
        where: Where = {}
        if self.state is DeliveryState.DEAD:
            where["dead"] = True
        elif self.state is DeliveryState.PENDING:
            where.update(dead=False, attempts=0)
        elif self.state is DeliveryState.RETRYING:
            where.update(dead=False, attempts=Range(gte=1))
        add(where, "partner_id", self.partner or None)
        add(where, "method", self.method.upper() if self.method else None)
        add(where, "ordering_key", self.ordering_key or None)
        return where


class DeliveryView(BaseModel):
    id: str
    state: DeliveryState
    partner_id: str
    method: str
    url: str
    ordering_key: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    expires_at: datetime | None
    owner: str | None
    """The instance delivering it."""
    body: Any = None


class OutboxPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None


def state_of(delivery: Delivery) -> DeliveryState:
    if delivery.dead:
        return DeliveryState.DEAD
    return DeliveryState.RETRYING if delivery.attempts else DeliveryState.PENDING


def _at(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def view(delivery: Delivery, *, with_body: bool = False) -> DeliveryView:
    return DeliveryView(
        id=delivery.id, state=state_of(delivery), partner_id=delivery.partner_id,
        method=delivery.method, url=delivery.url, ordering_key=delivery.ordering_key,
        attempts=delivery.attempts, last_error=delivery.last_error,
        next_attempt_at=_at(delivery.next_attempt_at) if not delivery.dead else None,
        expires_at=_at(delivery.expires_at), owner=delivery.owner,
        body=delivery.body if with_body else None)


async def list_deliveries(store: DocumentStore, query: OutboxFilter) -> OutboxPage:
    """In the query's order (the last queued first by default); raises paging.BadCursor for
    a cursor this list did not give out."""
    items, next_cursor = await query.page(store, COLLECTION,
                                          lambda d: view(Delivery.from_doc(d)))
    return OutboxPage(items=items, next_cursor=next_cursor)


async def get_delivery(store: DocumentStore, delivery_id: str) -> DeliveryView | None:
    doc = await store.get(COLLECTION, delivery_id)
    return None if doc is None else view(Delivery.from_doc(doc), with_body=True)


async def counts(store: DocumentStore) -> dict[str, int]:
    return {state.value: await store.count(COLLECTION, OutboxFilter(state=state).where())
            for state in DeliveryState}
