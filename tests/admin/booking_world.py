"""A booking day for the operators' booking acts (tests/admin/test_booking_acts.py and the
console's browser test): the gateway with the operators alice and victor, a real OCPP 1.6
charger (E1, E2: Type 2) and a real 2.0.1 charger (E3: CCS), a 2.3.0 eMSP that books (its
receiver validates every push against the official OpenAPI), on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from ocpi_gateway import keys
from ocpi_gateway.admin.audit import COLLECTION as AUDIT
from tests.admin.support import write_operators
from tests.bookings.test_booking_day import TERMS, Day
from tests.bookings.test_bookings_module import MODULES_230, register
from tests.commands.support import MovableClock, close_world, open_world, policy_doc
from tests.peers.emsp import EmspPeer

PARTY = "DE-BKG"
OTHER_T2 = {"E1": "E2", "E2": "E1"}
CONNECTOR = {"E1": 1, "E2": 2}


@asynccontextmanager
async def booking_day(tmp_path: Path) -> AsyncIterator[Day]:
    clock = MovableClock()
    clock.now = clock.now.replace(second=0, microsecond=0)
    operators = write_operators(tmp_path / "operators.yaml", ("alice", "victor"))
    world = await open_world(tmp_path, policy=policy_doc(bookings=TERMS), clock=clock,
                             operators_file=operators)
    booker = await register(world.gateway, EmspPeer(
        party_id="BKG", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        await world.all_available()
        yield Day(world, clock, booker, clock.now)
    finally:
        await booker.close()
        await close_world(world)


async def audit(day: Day, *actions: str) -> list[tuple[str, str, str]]:
    entries = await day.world.gateway.app[keys.STORE].find(AUDIT, order_by="at")
    return [(e["operator"], e["action"], e["outcome"]) for e in entries
            if e["action"] in actions]


def period_end(pushed: dict[str, Any]) -> str:
    return str(pushed["period"]["end_date_time"])


async def pushed_evse(day: Day, booking: dict[str, Any]) -> str | None:
    """The EVSE the eMSP's copy of ``booking`` names (None: none yet)."""
    option = (await day.pushed(booking)).get("booking_option") or {}
    uid = option.get("evse_uid")
    return None if uid in (None, "#NA") else str(uid)
