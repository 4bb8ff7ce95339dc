"""``GET /admin/api/timeline`` as the console reads it: a site's reservations and bookings
that overlap the window, lane by EVSE, answers checked against the served OpenAPI document;
and the reports' refusals in the API's terms."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from ocpi_gateway import keys
from ocpi_gateway.reservation_policy.bookings.records import COLLECTION as BOOKINGS
from ocpi_gateway.reservation_policy.bookings.states import BookingState, RequestStatus
from ocpi_gateway.reservation_policy.records import COLLECTION as RESERVATIONS
from tests.admin.support import AdminClient, write_operators
from tests.console.report_store import at, booking, reservation
from tests.locations.conftest import EXAMPLE
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

SITE = "NL-AMS-ZUIDAS"
DAY = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"


@pytest.fixture
async def zuidas(tmp_path: Path) -> AsyncIterator[RunningGateway]:
    operators = write_operators(tmp_path / "operators.yaml", ("victor",))
    gateway = await start_gateway(gateway_settings(tmp_path, locations_file=EXAMPLE,
                                                   operators_file=operators),
                                  clock=lambda: at("06:00", day=2))
    store = gateway.app[keys.STORE]
    for r in [
        reservation("R1", "DE-AAA", SITE, [("10:00", "PENDING", "AMS-ZUIDAS-01"),
                                           ("10:00", "ACTIVE", "AMS-ZUIDAS-01"),
                                           ("10:30", "USED", "AMS-ZUIDAS-01")],
                    expiry=at("11:00")),
        # Made the day before, ended before the window: not in it.
        reservation("R0", "DE-AAA", SITE, [("2026-11-30T10:00:00+00:00", "PENDING", None),
                                           ("2026-11-30T10:05:00+00:00", "FAILED", None)],
                    expiry=at("11:00", day=0)),
        # Made before midnight, held into the window: in it.
        reservation("R2", "DE-BBB", SITE, [("2026-11-30T23:30:00+00:00", "PENDING",
                                            "AMS-ZUIDAS-02"),
                                           ("2026-11-30T23:30:00+00:00", "ACTIVE",
                                            "AMS-ZUIDAS-02"),
                                           ("00:15", "EXPIRED", "AMS-ZUIDAS-02")],
                    expiry=at("00:15")),
        reservation("R9", "DE-AAA", "NL-UTR-JAARBEURS", [
            ("12:00", "PENDING", "UTR-JB-01"), ("12:00", "ACTIVE", "UTR-JB-01")],
            expiry=at("13:00")),
    ]:
        await store.put(RESERVATIONS, r.key, r.to_doc())
    b = booking("B1", "DE-BBB", at("20:00"), BookingState.RESERVED,
                [(RequestStatus.ACCEPTED, at("08:00"), None, False)])
    b = replace(b, location_id=SITE, booking_location_id=SITE)
    await store.put(BOOKINGS, b.key, b.to_doc())
    yield gateway
    await gateway.stop()


async def test_the_timeline_of_a_day(zuidas: RunningGateway) -> None:
    client = AdminClient(zuidas.url)
    try:
        await client.login("victor")
        answer = await client.call("GET", f"/admin/api/timeline?site={SITE}&{DAY}")
        assert answer.status == 200, answer
        body = answer.body
        assert (body["site"], body["from"], body["to"]) == (
            SITE, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")
        assert body["evses"] == ["AMS-ZUIDAS-01", "AMS-ZUIDAS-02", "AMS-ZUIDAS-03",
                                 "AMS-ZUIDAS-04"]
        assert [(i["kind"], i["key"], i["evse_uid"], i["start"], i["end"], i["state"],
                 i["live"]) for i in body["items"]] == [
            ("reservation", "DE-BBB/R2", "AMS-ZUIDAS-02", "2026-11-30T23:30:00Z",
             "2026-12-01T00:15:00Z", "EXPIRED", False),
            ("reservation", "DE-AAA/R1", "AMS-ZUIDAS-01", "2026-12-01T10:00:00Z",
             "2026-12-01T10:30:00Z", "USED", False),
            ("booking", "DE-BBB/B1", None, "2026-12-01T20:00:00Z", "2026-12-01T21:00:00Z",
             "RESERVED", True),
        ]
        week = await client.call("GET", f"/admin/api/timeline?site={SITE}"
                                         "&from=2026-11-30T00:00:00Z&to=2026-12-07T00:00:00Z")
        assert [i["key"] for i in week.body["items"]] == [
            "DE-AAA/R0", "DE-BBB/R2", "DE-AAA/R1", "DE-BBB/B1"]

        unknown = await client.call("GET", f"/admin/api/timeline?site=NOPE&{DAY}")
        assert unknown.status == 404 and unknown.body["error"] == "not_found"
        too_long = await client.call("GET", f"/admin/api/timeline?site={SITE}"
                                            "&from=2026-12-01T00:00:00Z&to=2026-12-10T00:00:00Z")
        assert too_long.status == 400 and "8 days" in " ".join(too_long.body["details"])
        reports = await client.call("GET", "/admin/api/reports?from=2026-12-02T00:00:00Z"
                                           "&to=2026-12-01T00:00:00Z")
        assert reports.status == 400 and reports.body["error"] == "invalid"
        assert "'to' must be after 'from'" in " ".join(reports.body["details"])
    finally:
        await client.close()
    stranger = AdminClient(zuidas.url)
    try:
        assert (await stranger.raw("GET", f"/admin/api/timeline?site={SITE}&{DAY}")
                ).status == 401
    finally:
        await stranger.close()


def test_a_window_without_a_zone_is_refused() -> None:
    from ocpi_gateway.console.timeline import TimelineQuery

    with pytest.raises(ValueError, match="time zone"):
        TimelineQuery.model_validate({"site": SITE, "from": "2026-12-01T00:00:00",
                                      "to": "2026-12-02T00:00:00"})
    with pytest.raises(ValueError, match="after 'from'"):
        TimelineQuery.model_validate({"site": SITE, "from": "2026-12-01T00:00:00Z",
                                      "to": "2026-12-01T00:00:00Z"})
