"""A session's domain events, published in order from a task of their own.

Calling ``call()`` from an ``@on`` handler deadlocks in the ``ocpp`` package (the reader is
busy in the handler), and a subscriber may send a command to the same charger: so events are
never published from the handler that emits them, and the subscriber need not wait for its
own answer."""

from __future__ import annotations

import asyncio
from collections import deque

import structlog

from ocpi_gateway.domain.events import DomainEvent, EventPublisher

log = structlog.get_logger(__name__)


class SessionEvents:
    __slots__ = ("_charge_point_id", "_events", "_publisher", "_task")

    def __init__(self, publisher: EventPublisher, charge_point_id: str) -> None:
        self._publisher = publisher
        self._charge_point_id = charge_point_id
        self._events: deque[DomainEvent] | None = None  # made while events are pending
        self._task: asyncio.Task[None] | None = None

    def emit(self, event: DomainEvent) -> None:
        """Publish after the events emitted before, from this queue's task."""
        if self._events is None:
            self._events = deque()
        self._events.append(event)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._publish())

    async def _publish(self) -> None:
        try:
            while self._events:
                event = self._events.popleft()
                try:
                    await self._publisher.publish(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Not ``event=``: structlog's first argument is named so (a TypeError).
                    log.exception("event_publish_failed", charge_point_id=self._charge_point_id,
                                  event_type=type(event).__name__)
        finally:
            self._task = None
            if not self._events:
                self._events = None

    async def flush(self) -> None:
        """Wait until the events emitted so far are published."""
        task = self._task
        if task is not None:
            await asyncio.shield(task)
