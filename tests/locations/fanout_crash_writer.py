"""An outbox fanning status changes out to 50 partners in a process of its own, for a test
that SIGKILLs it: for ever, one change after another, each queued for every partner by
``enqueue_many`` (one group commit), then its number printed once that returned, the moment
the publisher would count the change as handed over. The outbox is not started: nothing is
sent, so every queued delivery must still be in the store after the kill.

    python -m tests.locations.fanout_crash_writer DB_PATH
"""

from __future__ import annotations

import asyncio
import sys

from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.deliveries.models import Outgoing
from ocpi_gateway.store import open_store

QUEUED = "queued "
"""Marks the lines that report a change (the log writes to stdout too)."""
PARTNERS = 50
RECEIVER = "http://127.0.0.1:9/emsp/2.2.1/locations/NL/EXA/L1"
"""Never called: the outbox is not started."""


async def no_headers(_partner: str) -> dict[str, str]:
    return {"Authorization": "Token eA=="}


async def main(path: str) -> None:
    store = await open_store(f"sqlite:///{path}")
    outbox = DeliveryEngine(store, no_headers)

    async def change(n: int) -> None:
        # Another EVSE each time: nothing coalesces, every delivery stays its own row.
        await outbox.enqueue_many([
            Outgoing(partner_id=f"p{p}", method="PATCH", url=f"{RECEIVER}/E{n:06d}",
                     body={"status": "CHARGING", "change": n}, ordering_key=RECEIVER,
                     coalesce=True)
            for p in range(PARTNERS)])
        sys.stdout.write(f"{QUEUED}{n:06d}\n")
        sys.stdout.flush()

    n = 0
    while True:
        # Several changes at once share commits, as a burst of StatusNotifications would.
        await asyncio.gather(*(change(n + i) for i in range(4)))
        n += 4


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
