"""Bookings (OCPI 2.3.0) go through the same sessions and CDRs as reservations: a booking the
bookings module tells the tracker about (``hold_live``, ``hold_ended``) is a RESERVATION
session, and a no-show is billed by the tariff's booking elements, with ``booking_id`` in
2.3.0 (2.2.1 has no such field, nor booking dimensions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ocpi_gateway.sessions.changes import HoldInfo
from ocpi_gateway.sessions.extension import SESSIONS
from ocpi_gateway.sessions.models import HoldEnd, HoldKind, SessionToken
from tests.cdrs.support import amount, minutes, one_cdr, volumes
from tests.commands.support import close_world, eventually
from tests.sessions.support import VERSIONS, Rig, open_rig, tariffs_doc


def booking_tariffs() -> dict[str, object]:
    doc = tariffs_doc()
    doc["tariffs"][0]["elements"] += [  # type: ignore[index]
        {"price_components": [{"type": "FLAT", "price": "8.00", "vat": 21, "step_size": 0}],
         "restrictions": {"booking": "BOOKING_EXPIRES"}},
        {"price_components": [{"type": "TIME", "price": "3.00", "vat": 21, "step_size": 60}],
         "restrictions": {"booking": "BOOKING"}},
    ]
    return doc


@pytest.fixture(params=VERSIONS)
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    opened = await open_rig(tmp_path, request.param, tariffs=booking_tariffs())
    yield opened
    await close_world(opened.world)


TOKEN = SessionToken(country_code="DE", party_id="EMS", uid="DEEMS0001", type="RFID",
                     contract_id="DE-EMS-C00000001-X")


async def test_a_booking_no_show_is_billed_by_the_booking_elements(rig: Rig) -> None:
    world, clock = rig.world, rig.clock
    version = world.emsp.ocpi_version
    tracker = world.gateway.app[SESSIONS]
    session = await tracker.hold_live(HoldInfo(
        key="DE-EMS/B-1", kind=HoldKind.BOOKING, token=TOKEN, location_id="LOC-1",
        evse_uid="E2", booking_id="B-1", slot_end=clock.now + timedelta(hours=1),
        free_cancellation=timedelta(0)))
    assert session is not None
    pushed = await eventually(lambda: world.emsp.sessions.get(session.id))
    assert pushed["status"] == "RESERVATION" and pushed["evse_uid"] == "E2"
    clock.advance(minutes=20)
    await tracker.hold_ended("DE-EMS/B-1", HoldEnd.EXPIRED)
    cdr = await one_cdr(world)
    # The booking's no-show fee (8.00) and its 20 minutes at 3.00/h (1.00); none of the
    # reservation elements.
    assert amount(cdr["total_cost"], version) == Decimal("9.00")
    if version == "2.3.0":
        assert cdr["booking_id"] == "B-1"
        assert minutes(volumes(cdr, "RESERVATION_EXPIRES")) == 20
    else:
        assert "booking_id" not in cdr
        assert minutes(volumes(cdr, "RESERVATION_TIME")) == 20
    assert cdr["remark"] == "Booking expired unused (no-show)"
