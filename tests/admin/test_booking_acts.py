"""An operator moves a bound booking (OCPI 2.3.0) to another EVSE and gives bookings a later
end over the admin API, end to end (tests/admin/booking_world.py: real OCPP 1.6 and 2.0.1
chargers, a 2.3.0 eMSP whose receiver validates every push): the charger gets ReserveNow at
the new EVSE and CancelReservation at the old one, the eMSP is pushed the Booking with its
new EVSE or end; what cannot be done is refused 409 naming why and changes nothing; every
act is audited with who did it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import datetime
from pathlib import Path

import pytest

from ocpi_gateway.bookings.context import BOOKINGS
from tests.admin.booking_world import (
    CONNECTOR,
    OTHER_T2,
    audit,
    booking_day,
    period_end,
    pushed_evse,
)
from tests.admin.support import AdminClient
from tests.bookings.test_booking_day import Day, z
from tests.commands.support import CP16, eventually

ONE = "/admin/api/bookings/DE-BKG"


@pytest.fixture
async def day(tmp_path: Path) -> AsyncIterator[Day]:
    async with booking_day(tmp_path) as opened:
        yield opened


@pytest.fixture
async def alice(day: Day) -> AsyncIterator[AdminClient]:
    client = AdminClient(day.world.gateway.url)
    assert (await client.login("alice")).status == 200
    yield client
    await client.close()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_operator_moves_a_bound_booking_to_another_evse(day: Day,
                                                                 alice: AdminClient) -> None:
    world = day.world
    first = await day.book("B1", "BKG-TOK1", start=60)
    later = await day.book("B2", "BKG-TOK2", start=150)
    not_bound = await alice.call("POST", f"{ONE}/B1/move", json={"evse_uid": "E1"})
    assert not_bound.status == 409 and "not bound to an EVSE yet" in not_bound.body["message"]

    day.clock.now = day.at(50)
    await day.bind()
    [bind] = world.received(CP16, "ReserveNow")
    # Pushed through the outbox: the eMSP has it a moment later.
    was = await eventually(lambda: pushed_evse(day, first))
    target = OTHER_T2[was]
    assert bind["connector_id"] == CONNECTOR[was]

    moved = await alice.call("POST", f"{ONE}/B1/move",
                             json={"evse_uid": target, "note": "cable damaged"})
    assert moved.status == 200, moved.body
    assert (moved.body["state"], moved.body["evse_uid"]) == ("RESERVED", target)
    assert moved.body["history"][-1]["reason"] == "re-routed"
    again = world.received(CP16, "ReserveNow")[-1]
    assert (again["connector_id"], again["id_tag"]) == (CONNECTOR[target], "BKG-TOK1")
    assert moved.body["ocpp_reservation_id"] == again["reservation_id"]
    assert await eventually(lambda: [c["reservation_id"] for c in world.received(
        CP16, "CancelReservation")] == [bind["reservation_id"]])
    # The eMSP is pushed the Booking with its new EVSE.
    assert await eventually(lambda: _is(pushed_evse(day, first), target))
    binding = await world.gateway.app[BOOKINGS].service.ledger.get("DE-BKG/B1")
    assert binding is not None and binding.evse_uid == target
    # The reservation that binds it names it.
    [reservation] = (await alice.call("GET", "/admin/api/reservations?state=live")).body["items"]
    assert (reservation["booking_key"], reservation["evse_uid"]) == ("DE-BKG/B1", target)

    # Refused, with the reason; the booking stays where it is.
    sent = len(world.received(CP16, "ReserveNow"))
    for body, words in (({"evse_uid": "E3"}, "EVSE E3 cannot take it"),
                        ({"evse_uid": "E9"}, "not at location"),
                        ({"evse_uid": target}, "already")):
        refused = await alice.call("POST", f"{ONE}/B1/move", json=body)
        assert refused.status == 409 and words in refused.body["message"], refused.body
    assert len(world.received(CP16, "ReserveNow")) == sent
    assert (await alice.call("GET", f"{ONE}/B1")).body["evse_uid"] == target
    for bad in ({}, {"evse_uid": ""}, {"evse_uid": "E1", "extra": 1}):
        assert (await alice.call("POST", f"{ONE}/B1/move", json=bad)).status == 400, bad
    assert (await alice.call("POST", f"{ONE}/NOPE/move", json={"evse_uid": "E1"})
            ).status == 404
    assert await pushed_evse(day, later) is None
    outcomes = await audit(day, "move_booking")
    assert outcomes[0][2].startswith("refused: conflict: booking DE-BKG/B1 is not bound")
    assert outcomes[1] == ("alice", "move_booking", "ok")
    assert [o[2].split(":")[1].strip() for o in outcomes[2:]] == [
        "conflict"] * 3 + ["invalid"] * 3 + ["not_found"]


async def test_an_operator_extends_bookings_within_the_capacity(day: Day,
                                                                alice: AdminClient) -> None:
    first = await day.book("B1", "BKG-TOK1", start=60)
    await day.book("B2", "BKG-TOK2", start=60)
    # Both Type 2 EVSEs are promised again from minute 100 (110 minus the activation lead).
    await day.book("B3", "BKG-TOK3", start=110)
    await day.book("B4", "BKG-TOK4", start=110)

    # To minute 95: its promise (plus the 5-minute turnover) ends as B3's begins.
    extended = await alice.call("POST", f"{ONE}/B1/extend",
                                json={"end_date": z(day.at(95)), "note": "asked by phone"})
    assert extended.status == 200, extended.body
    assert _at(extended.body["end"]) == day.at(95)
    assert extended.body["history"][-1]["reason"] == (
        "end changed by the operator alice: asked by phone")
    assert await eventually(lambda: _pushed_end(day, first, day.at(95)))

    # Later would take what B3 and B4 were promised: refused, unchanged.
    refused = await alice.call("POST", f"{ONE}/B1/extend", json={"end_date": z(day.at(110))})
    assert refused.status == 409 and "cannot take it longer" in refused.body["message"]
    assert _at((await alice.call("GET", f"{ONE}/B1")).body["end"]) == day.at(95)
    earlier = await alice.call("POST", f"{ONE}/B1/extend", json={"end_date": z(day.at(80))})
    assert earlier.status == 409 and "must be after" in earlier.body["message"]
    for bad in ({}, {"end_date": "tomorrow"}, {"end_date": "2026-12-02T10:00:00"}):
        assert (await alice.call("POST", f"{ONE}/B1/extend", json=bad)).status == 400, bad

    # Bound, its promise also covers the hold: extended on its EVSE.
    day.clock.now = day.at(50)
    await day.bind()
    bound = await alice.call("GET", f"{ONE}/B1")
    assert bound.body["evse_uid"] in ("E1", "E2")
    cap = await alice.call("POST", f"{ONE}/B1/extend", json={"end_date": z(day.at(110))})
    assert cap.status == 409 and "cannot take it longer" in cap.body["message"]
    # B3 cancelled by the operator: B4 needs one EVSE from minute 100, and B2's is free by
    # then (90 plus the turnover), so B1 may keep its EVSE longer.
    assert (await alice.call("POST", f"{ONE}/B3/cancel", json={})).status == 200
    assert (await alice.call("POST", f"{ONE}/B3/extend", json={"end_date": z(day.at(150))})
            ).status == 409  # not RESERVED any more
    again = await alice.call("POST", f"{ONE}/B1/extend", json={"end_date": z(day.at(110))})
    assert again.status == 200, again.body
    assert again.body["evse_uid"] == bound.body["evse_uid"]
    assert await eventually(lambda: _pushed_end(day, first, day.at(110)))
    assert [o[2].removeprefix("refused: ").split(":")[0]
            for o in await audit(day, "extend_booking")] == [
        "ok", "conflict", "conflict", "invalid", "invalid", "invalid", "conflict", "conflict",
        "ok"]


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _pushed_end(day: Day, booking: dict[str, object], end: datetime) -> bool:
    pushed = await day.pushed(booking)  # type: ignore[arg-type]
    return bool(pushed) and _at(period_end(pushed)) == end
