"""Several gateway instances sharing one outbox: each heartbeats, and the survivors adopt the
pending deliveries of one that stopped (crashed, or scaled down)."""

from __future__ import annotations

from collections.abc import Callable

import structlog

from ocpi_gateway.deliveries.models import COLLECTION, INSTANCES, Delivery
from ocpi_gateway.domain.store import DocumentStore

log = structlog.get_logger(__name__)


class Instances:
    def __init__(self, store: DocumentStore, instance_id: str, *, orphan_after: float,
                 clock: Callable[[], float], take: Callable[[Delivery], None]) -> None:
        """``take``: hands an adopted delivery to this instance's queues."""
        self._store = store
        self.instance_id = instance_id
        self._orphan_after = orphan_after
        self._clock = clock
        self._take = take

    async def heartbeat(self) -> None:
        await self._store.put(INSTANCES, self.instance_id,
                              {"id": self.instance_id, "seen_at": self._clock()})

    async def heartbeat_and_adopt(self) -> None:
        await self.heartbeat()
        await self.adopt_orphans()

    async def adopt_orphans(self) -> int:
        """Take over the pending deliveries of instances that stopped heartbeating:
        compare-and-set on the owner, so exactly one survivor gets each."""
        adopted = 0
        stale_before = self._clock() - self._orphan_after
        for doc in await self._store.find(INSTANCES):
            owner = str(doc["id"])
            if owner == self.instance_id or doc["seen_at"] >= stale_before:
                continue
            for row in await self._store.find(COLLECTION, {"owner": owner, "dead": False},
                                              order_by="seq"):
                delivery = Delivery.from_doc(row)
                delivery.owner = self.instance_id
                if await self._store.replace_if(COLLECTION, delivery.id, delivery.to_doc(),
                                                expected={"owner": owner}):
                    self._take(delivery)
                    adopted += 1
            await self._store.delete(INSTANCES, owner)
        if adopted:
            log.info("outbox_adopted", count=adopted)
        return adopted
