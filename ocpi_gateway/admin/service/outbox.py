"""The outbox as an operator sees it: what waits for its first attempt (pending), what failed
and waits for its next one (retrying), and the dead letters (refused, out of attempts, or to a
partner that is gone), which only an operator retries or drops."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.paging import decode_cursor, encode_cursor
from ocpi_gateway.deliveries.models import COLLECTION, Delivery
from ocpi_gateway.domain.store import DocumentStore, Range

ORDER = ["-seq"]


class DeliveryState(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DEAD = "dead"


class OutboxFilter(BaseModel):
    state: DeliveryState | None = Field(default=None, description="pending, retrying or dead")
    partner: str | None = Field(default=None, description="a partner id")
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = None

    def where(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if self.state is DeliveryState.DEAD:
            where["dead"] = True
        elif self.state is DeliveryState.PENDING:
            where.update(dead=False, attempts=0)
        elif self.state is DeliveryState.RETRYING:
            where.update(dead=False, attempts=Range(gte=1))
        if self.partner:
            where["partner_id"] = self.partner
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
    """Newest first; raises paging.BadCursor for a cursor this list did not give out."""
    page = await store.find_page(COLLECTION, query.where(), order_by=ORDER, limit=query.limit,
                                 after=decode_cursor(query.cursor, len(ORDER)))
    return OutboxPage(items=[view(Delivery.from_doc(d)) for d in page.docs],
                      next_cursor=encode_cursor(page.next))


async def get_delivery(store: DocumentStore, delivery_id: str) -> DeliveryView | None:
    doc = await store.get(COLLECTION, delivery_id)
    return None if doc is None else view(Delivery.from_doc(doc), with_body=True)


async def counts(store: DocumentStore) -> dict[str, int]:
    return {state.value: await store.count(COLLECTION, OutboxFilter(state=state).where())
            for state in DeliveryState}
