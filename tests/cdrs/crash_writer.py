"""A CDR service in a process of its own, for tests that SIGKILL it: finishes sessions 32 at
a time for ever (each gets its CDR stored and its POST queued in the outbox, both by group
commit) and prints each session's id (after BILLED) once ``on_session`` returned for it, the
moment the gateway would mark it billed. The outbox is not started: nothing is sent.

    python -m tests.cdrs.crash_writer DB_PATH
"""

from __future__ import annotations

import asyncio
import sys

from ocpi_gateway.cdrs.publisher import CdrsPublisher
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.cdrs.service import CdrService
from ocpi_gateway.deliveries.engine import DeliveryEngine
from ocpi_gateway.partners.models import Partner, PartnerEndpoint, PartnerRole, PartnerState
from ocpi_gateway.partners.registry import PartnerRegistry
from ocpi_gateway.store import open_store
from tests.sessions.factories import T0, TOKEN, session

BILLED = "billed "
"""Marks the lines that report a session (the log writes to stdout too)."""
RECEIVER = "http://127.0.0.1:9/emsp/2.2.1/cdrs"
"""Never called: the outbox is not started."""


async def main(path: str) -> None:
    store = await open_store(f"sqlite:///{path}")
    registry = PartnerRegistry(store)
    now = T0.isoformat()
    await registry.save(Partner(
        id="p1", name="eMSP", state=PartnerState.REGISTERED,
        roles=[PartnerRole(role="EMSP", country_code=TOKEN.country_code,
                           party_id=TOKEN.party_id)],
        version="2.2.1", token_to_send="token-1",
        endpoints=[PartnerEndpoint(identifier="cdrs", role="RECEIVER", url=RECEIVER)],
        created_at=now, updated_at=now))
    outbox = DeliveryEngine(store, registry.headers_for)
    publisher = CdrsPublisher(registry.registered_now)
    publisher.attach(outbox)
    service = CdrService(CdrRepository(store), publisher, clock=lambda: T0,
                         evse_at=lambda *_: None)

    async def finish(n: int) -> None:
        made = session(id=f"S{n:06d}")
        await service.on_session(made, None)
        sys.stdout.write(f"{BILLED}{made.id}\n")
        sys.stdout.flush()

    n = 0
    while True:
        await asyncio.gather(*(finish(n + i) for i in range(32)))
        n += 32


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
