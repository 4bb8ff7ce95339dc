"""The console's live feed: what changed (an EVSE's published status, a reservation's or a
booking's state), handed to every open console page of this instance.

Each change is published once, by the instance where it happened: in-process
(:class:`LocalFeed`) it goes straight to this instance's pages; with Redis
(:class:`RedisFeed`, ``feed_redis.py``) it is added to one shared stream that every instance
reads, so a page sees a charger held by any instance.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog

log = structlog.get_logger(__name__)

QUEUE_SIZE = 2048
"""Changes waiting for one page; a page that falls this far behind is dropped (its
EventSource reconnects and reloads the whole state)."""


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    """``evse`` (a status), ``reservation`` or ``booking`` (a state)."""
    data: dict[str, Any]

    def encode(self) -> bytes:
        return orjson.dumps({"kind": self.kind, "data": self.data})

    @classmethod
    def decode(cls, raw: bytes) -> Change:
        parsed = orjson.loads(raw)
        return cls(str(parsed["kind"]), dict(parsed["data"]))


class Subscription:
    """One page's queue of changes; ``None`` in it ends the page's stream."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.queue: asyncio.Queue[Change | None] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def offer(self, change: Change | None) -> None:
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.overflowed = True
            self._hub.unsubscribe(self)
            self.queue.get_nowait()
            self.queue.put_nowait(None)

    def close(self) -> None:
        self._hub.unsubscribe(self)


class Hub:
    """This instance's open pages."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def pages(self) -> int:
        return len(self._subscriptions)

    def deliver(self, change: Change) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(change)

    def close_all(self) -> None:
        """Shutdown: every page's stream ends (so its handler returns)."""
        for subscription in list(self._subscriptions):
            subscription.offer(None)
        self._subscriptions.clear()


class Feed(Protocol):
    hub: Hub

    def publish(self, change: Change) -> None:
        """Never blocks: called from the publisher's and the services' tasks."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalFeed:
    """One instance: a change goes to this instance's pages."""

    def __init__(self) -> None:
        self.hub = Hub()

    def publish(self, change: Change) -> None:
        self.hub.deliver(change)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.hub.close_all()
