"""The outbox as an operator sees it: what waits for its first attempt (pending), what failed
and waits for its next one (retrying), and the dead letters (refused, out of attempts, or to a
partner that is gone), which only an operator retries or drops (the API and the CLI both call
``retry_dead_letter`` / ``drop_dead_letter``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import structlog
from pydantic import BaseModel, Field

from ocpi_gateway.admin.service.errors import Conflict, NotFound
from ocpi_gateway.admin.service.query import ListQuery, add, sort_param
from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES, Delivery
from ocpi_gateway.domain.store import DocumentStore, Range, Where
from ocpi_gateway.partners.registry import PartnerRegistry

log = structlog.get_logger(__name__)


class DeliveryState(StrEnum):
    PENDING = "pending"
    RETRYING = "retrying"
    DEAD = "dead"


class OutboxFilter(ListQuery):
    SORTS: ClassVar[Mapping[str, str]] = {"queued": "seq", "next_attempt": "next_attempt_at"}
    TIME_FIELD: ClassVar[str | None] = "queued_at"
    """``from``/``to`` bound when it was queued; a row stored before ``queued_at`` existed
    is in no range (it is listed without one)."""

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


class RetryView(BaseModel):
    at: datetime
    by: str
    attempts: int
    """Attempts made before it was retried."""
    last_error: str | None


class DeliveryView(BaseModel):
    id: str
    state: DeliveryState
    partner_id: str
    method: str
    url: str
    ordering_key: str
    attempts: int
    last_error: str | None
    queued_at: datetime | None
    """When it was queued (null: stored by a release before this was kept)."""
    next_attempt_at: datetime | None
    expires_at: datetime | None
    owner: str | None
    """The instance delivering it."""
    retries: list[RetryView] = []
    """The operators' retries of it as a dead letter: when, by whom, after how many attempts
    and which error."""
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
        queued_at=_at(delivery.queued_at),
        next_attempt_at=_at(delivery.next_attempt_at) if not delivery.dead else None,
        expires_at=_at(delivery.expires_at), owner=delivery.owner,
        retries=[RetryView(at=datetime.fromtimestamp(r["at"], UTC), by=r["by"],
                           attempts=r["attempts"], last_error=r.get("last_error"))
                 for r in delivery.extra.get("retries", [])],
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


RETRY_WINDOW = 3600.0
"""Seconds a retried delivery that had an expiry (a CommandResult) is given anew."""
RETRY_OWNER = "operator-retry:"
"""The owner a retried dead letter is handed to: an instance that never heartbeats, so the
first running instance to look adopts it (compare-and-set on the owner, the outbox's own
takeover of a stopped instance's rows), whether the retry came from the API or the CLI."""


async def retry_dead_letter(store: DocumentStore, partners: PartnerRegistry, delivery_id: str,
                            *, operator: str, now: float) -> DeliveryView:
    """Send a dead letter again: attempts from zero, due now; one with a resync (a Locations
    object) is sent as the current object (GET then PUT), never the stale body it held. The
    retry is kept in the delivery's history (``extra.retries``)."""
    doc = await store.get(COLLECTION, delivery_id)
    if doc is None:
        raise NotFound(f"no delivery {delivery_id}")
    delivery = Delivery.from_doc(doc)
    if not delivery.dead:
        raise Conflict(f"delivery {delivery_id} is {state_of(delivery).value}, not dead")
    partner = await partners.get(delivery.partner_id)
    if partner is None or not partner.registered:
        state = partner.state.value if partner is not None else "gone"
        raise Conflict(f"partner {delivery.partner_id} is {state}: the retry would be a dead "
                       "letter again")
    owner = RETRY_OWNER + uuid.uuid4().hex
    history = [*delivery.extra.get("retries", []),
               {"at": now, "by": operator, "attempts": delivery.attempts,
                "last_error": delivery.last_error}]
    extra = {**delivery.extra, "retries": history}
    if delivery.resync:
        extra["resync"] = True
    revived = replace(delivery, dead=False, attempts=0, next_attempt_at=now, owner=owner,
                      expires_at=now + RETRY_WINDOW if delivery.expires_at is not None
                      else None, extra=extra)
    if not await store.replace_if(COLLECTION, delivery_id, revived.to_doc(),
                                  expected={"dead": True, "owner": delivery.owner}):
        raise Conflict(f"delivery {delivery_id} changed meanwhile; look again")
    # After the row: an instance adopting the owner's rows before they exist would drop the
    # owner and strand the row.
    await store.put(INSTANCES, owner, {"id": owner, "seen_at": 0.0})
    log.warning("outbox_dead_letter_retried", delivery=delivery_id, partner=delivery.partner_id,
                url=delivery.url, operator=operator, attempts=delivery.attempts)
    return view(revived, with_body=True)


async def drop_dead_letter(store: DocumentStore, delivery_id: str, *, operator: str
                           ) -> DeliveryView:
    """Forget a dead letter for good (what it was is logged, and answered)."""
    doc = await store.get(COLLECTION, delivery_id)
    if doc is None:
        raise NotFound(f"no delivery {delivery_id}")
    delivery = Delivery.from_doc(doc)
    if not delivery.dead:
        raise Conflict(f"delivery {delivery_id} is {state_of(delivery).value}, not dead: "
                       "only a dead letter is dropped")
    if not await store.delete(COLLECTION, delivery_id):
        raise NotFound(f"no delivery {delivery_id}")
    log.warning("outbox_dead_letter_dropped", delivery=delivery_id,
                partner=delivery.partner_id, method=delivery.method, url=delivery.url,
                operator=operator, last_error=delivery.last_error)
    return view(delivery, with_body=True)
