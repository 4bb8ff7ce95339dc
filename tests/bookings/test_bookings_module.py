"""The OCPI 2.3.0 Bookings module inside the real gateway app, with eMSP peers on loopback: a
2.3.0 eMSP with a Bookings receiver, a second 2.3.0 eMSP (the attacker, and the receiver
spelled ``Booking``), a 2.2.1 eMSP beside them. Every answer is validated against the
official OpenAPI by the peer's client, every push by its receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ocpi_gateway import keys
from ocpi_gateway.bookings import sender
from ocpi_gateway.bookings.context import BOOKINGS, Bookings
from ocpi_gateway.bookings.extension import BOOKINGS_PUBLISHER
from ocpi_gateway.deliveries.app import OUTBOX
from ocpi_gateway.deliveries.partial import COLLECTION as COPIES
from ocpi_gateway.domain.events import ConnectorStatus, ConnectorStatusChanged
from ocpi_gateway.locations.extension import LOCATIONS
from tests.bookings.support import Clock
from tests.commands.support import eventually
from tests.locations.conftest import EXAMPLE
from tests.peers.emsp import EmspPeer
from tests.peers.gateway import RunningGateway, gateway_settings, start_gateway

SITE = "NL-AMS-ZUIDAS"
AC = "IEC_62196_T2-AC_3_PHASE-22kW"
POLICY = """\
defaults:
  min_duration_minutes: 1
  walk_in_reserve: 0
  bookings:
    enabled: true
    max_advance_days: 2
    min_duration_minutes: 30
    max_duration_minutes: 180
    timeslot_increment_minutes: 15
    activation_lead_minutes: 10
    noshow_timeout_minutes: 15
    early_start_minutes: 5
    cancel_until_minutes: 30
    change_until_minutes: 30
    turnover_buffer_minutes: 10
    waitlist_minutes: 20
partners:
  DE-OLD:
    bookings: {enabled: false}
"""
MODULES_230 = ("credentials", "locations", "bookings")


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Site:
    gateway: RunningGateway
    clock: Clock
    emsp: EmspPeer
    other: EmspPeer
    old: EmspPeer

    @property
    def base(self) -> str:
        return self.gateway.url + "/ocpi/2.3.0/bookings"

    def at(self, hours: float) -> datetime:
        return self.clock.now + timedelta(hours=hours)

    def request(self, request_id: str = "R1", *, peer: EmspPeer | None = None,
                start: float = 6, hours: float = 1, **changes: Any) -> dict[str, Any]:
        peer = peer or self.emsp
        body: dict[str, Any] = {
            "country_code": peer.country_code, "party_id": peer.party_id,
            "request_id": request_id, "location_id": SITE, "booking_location_id": SITE,
            "period": {"start_date_time": stamp(self.at(start)),
                       "end_date_time": stamp(self.at(start + hours))},
            "authorization_reference": f"AUTH-{request_id}",
            "tokens": [{"country_code": peer.country_code, "party_id": peer.party_id,
                        "uid": f"TOK-{peer.party_id}", "type": "RFID",
                        "contract_id": f"{peer.country_code}-{peer.party_id}-C1"}],
            "booking_option": {"connector_types": ["IEC_62196_T2"],
                               "power_types": ["AC_3_PHASE"]}}
        body.update(changes)
        return body

    async def post(self, body: dict[str, Any], peer: EmspPeer | None = None
                   ) -> tuple[int, Any]:
        status, answer, _ = await (peer or self.emsp).call("POST", self.base, json=body)
        return status, answer

    async def pushes(self) -> None:
        await self.gateway.app[BOOKINGS_PUBLISHER].flush()


async def register(gateway: RunningGateway, peer: EmspPeer) -> EmspPeer:
    await peer.start()
    _partner, token_a = await gateway.partners.invite("eMSP", peer.grants())
    status, body = await peer.register_with(gateway.versions_url, token_a)
    assert status == 200, body
    return peer


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    clock = Clock(datetime.now(UTC).replace(minute=0, second=0, microsecond=0))
    settings = gateway_settings(tmp_path, locations_file=EXAMPLE, policy_file=policy)
    gateway = await start_gateway(settings, clock=clock)
    emsp = await register(gateway, EmspPeer(party_id="NEW", modules=MODULES_230,
                                            versions=("2.3.0",), ocpi_version="2.3.0"))
    other = await register(gateway, EmspPeer(party_id="OTH",
                                             modules=("credentials", "locations", "Booking"),
                                             versions=("2.3.0",), ocpi_version="2.3.0"))
    old = await register(gateway, EmspPeer(party_id="OLD"))
    yield Site(gateway, clock, emsp, other, old)
    for peer in (emsp, other, old):
        await peer.close()
    await gateway.stop()


async def test_versions_list_the_module_for_2_3_0_only(site: Site) -> None:
    status, body, _ = await site.emsp.call("GET", site.gateway.url + "/ocpi/2.3.0")
    assert status == 200
    endpoints = {(e["identifier"], e["role"]) for e in body["data"]["endpoints"]}
    assert ("bookings", "SENDER") in endpoints
    status, body, _ = await site.old.call("GET", site.gateway.url + "/ocpi/2.2.1")
    assert status == 200
    assert "bookings" not in {e["identifier"] for e in body["data"]["endpoints"]}
    status, _, _ = await site.old.call(
        "GET", site.gateway.url + "/ocpi/2.2.1/bookings/booking_locations", validate=False)
    assert status == 404


async def test_booking_locations_show_the_terms_and_a_calendar_per_class(site: Site) -> None:
    status, body, headers = await site.emsp.call("GET", site.base + "/booking_locations")
    assert status == 200
    by_id = {b["id"]: b for b in body["data"]}
    assert SITE in by_id and headers["X-Total-Count"] == str(len(body["data"]))
    location = by_id[SITE]
    assert location["location_id"] == SITE and location["policy"] == {
        "reservation_required": False, "ad_hoc": 1}
    terms = location["booking_terms"]
    assert (terms["cancel_until_minutes"], terms["change_until_minutes"],
            terms["noshow_timeout"], terms["min_booking_duration"],
            terms["max_booking_duration"]) == (30, 30, 15, 30, 180)
    calendars = {c["id"]: c for c in location["calendars"]}
    assert set(calendars) == {AC, "IEC_62196_T2_COMBO-DC-150kW", "CHADEMO-DC-50kW"}
    ac = calendars[AC]
    assert ac["timeslot_increment"] == 15
    assert ac["begin_from"] == site.clock.now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ac["end_before"] == site.at(48).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert ac["available_timeslots"] == [{
        "start_date_time": ac["begin_from"], "end_date_time": ac["end_before"],
        "max_power": 22000}]
    # A partner the operator does not let book sees no BookingLocation.
    _, theirs, _ = await site.old.call("GET", site.base + "/booking_locations",
                                       validate=False)
    assert theirs["status_code"] != 1000 or theirs["data"] == []


async def test_one_booking_location_and_one_calendar(site: Site) -> None:
    status, body, _ = await site.emsp.call("GET", f"{site.base}/booking_locations/{SITE}")
    assert status == 200 and body["data"]["id"] == SITE
    status, body, _ = await site.emsp.call(
        "GET", f"{site.base}/booking_locations/{SITE.lower()}/{AC.lower()}")
    assert status == 200 and body["data"]["id"] == AC
    for path in ("/booking_locations/NOPE", f"/booking_locations/{SITE}/NOPE"):
        status, body, _ = await site.emsp.call("GET", site.base + path)
        assert status == 404 and body["status_code"] == 2003


async def test_a_booking_is_reserved_at_once_pushed_and_changes_the_calendar(
        site: Site) -> None:
    status, body = await site.post(site.request("R1"))
    assert status == 200 and body["status_code"] == 1000
    booking = body["data"]
    assert booking["reservation_status"] == "RESERVED"
    assert [r["request_status"] for r in booking["booking_requests"]] == ["ACCEPTED"]
    assert booking["country_code"] == "NL" and booking["party_id"] == "EXA"
    assert booking["booking_option"]["connector_types"] == ["IEC_62196_T2"]
    url_tail = f"NL/EXA/{booking['id']}"
    pushed = await eventually(lambda: site.emsp.bookings.get(url_tail, {}).get(
        "reservation_status") == "RESERVED")
    assert pushed
    # Two AC EVSEs: the slot stays offered until both are promised.
    status, body = await site.post(site.request("R2"))
    assert body["data"]["reservation_status"] == "RESERVED"
    await site.pushes()
    _, body, _ = await site.emsp.call("GET", f"{site.base}/booking_locations/{SITE}/{AC}")
    slots = [(s["start_date_time"][:16], s["end_date_time"][:16])
             for s in body["data"]["available_timeslots"]]
    # Both take 6:00-7:00 from now, promised 5:50 .. 7:10 (lead 10, buffer 10): another slot
    # must end by 5:40 and start from 7:20, on the 15-minute grid 5:30 and 7:30.
    assert slots == [(stamp(site.at(0))[:16], stamp(site.at(5.5))[:16]),
                     (stamp(site.at(7.5))[:16], stamp(site.at(48))[:16])]
    location = await eventually(
        lambda: site.emsp.bookings.get(f"NL/EXA/booking_locations/{SITE}"))
    assert location["id"] == SITE
    status, body, _ = await site.emsp.call("GET", site.base)
    assert [b["request_id"] for b in body["data"]] == ["R1", "R2"]


async def test_outside_the_terms_is_rejected_naming_the_term(site: Site) -> None:
    status, body = await site.post(site.request("LONG", hours=4))
    assert status == 200 and body["data"]["reservation_status"] == "REJECTED"
    assert body["status_message"].startswith("max_duration_minutes: ")
    status, body = await site.post(site.request("FAR", start=72))
    assert body["data"]["reservation_status"] == "REJECTED"
    assert body["status_message"].startswith("max_advance_days: ")


async def test_a_change_then_a_cancellation_under_the_same_request_id(site: Site) -> None:
    _, first = await site.post(site.request("R1"))
    _, changed = await site.post(site.request("R1", start=8))
    b = changed["data"]
    assert b["id"] == first["data"]["id"] and b["reservation_status"] == "RESERVED"
    assert b["period"]["start_date_time"].startswith(stamp(site.at(8))[:19])
    assert [r["request_status"] for r in b["booking_requests"]] == ["ACCEPTED", "ACCEPTED"]
    cancel = site.request("R1", start=8, canceled={"cancellation_reason": "TRAFFIC",
                                                     "who_canceled": "EMSP"})
    _, ended = await site.post(cancel)
    assert ended["data"]["reservation_status"] == "CANCELED"
    assert ended["data"]["canceled"] == {"cancellation_reason": "TRAFFIC",
                                         "who_canceled": "EMSP"}
    tail = f"NL/EXA/{b['id']}"
    assert await eventually(lambda: site.emsp.bookings.get(tail, {}).get(
        "reservation_status") == "CANCELED")


async def test_a_request_that_does_not_fit_waits_and_is_granted(site: Site) -> None:
    await site.post(site.request("A"))
    await site.post(site.request("B"))
    _, waiting = await site.post(site.request("C"))
    assert waiting["data"]["reservation_status"] == "PENDING"
    assert waiting["status_message"].startswith("waiting until ")
    assert "nearest free timeslots" in waiting["status_message"]
    await site.post(site.request("A", canceled={"cancellation_reason": "NO_CANCELED",
                                                "who_canceled": "EMSP"}))
    tail = f"NL/EXA/{waiting['data']['id']}"
    granted = await eventually(lambda: site.emsp.bookings.get(tail, {}).get(
        "reservation_status") == "RESERVED")
    assert granted
    assert [r["request_status"] for r in site.emsp.bookings[tail]["booking_requests"]] == [
        "ACCEPTED"]


async def test_an_attacker_cannot_use_another_partners_tokens_name_or_bookings(
        site: Site) -> None:
    _, mine = await site.post(site.request("R1"))
    victim = mine["data"]
    # Another partner's token in its own booking: REJECTED, naming the term.
    stolen = site.request("X1", peer=site.other)
    stolen["tokens"] = site.request("R1")["tokens"]
    _, body = await site.post(stolen, site.other)
    assert body["data"]["reservation_status"] == "REJECTED"
    assert body["status_message"].startswith("booking_tokens: token TOK-NEW belongs to DE-NEW")
    # Booking in the victim's name: refused, nothing stored.
    status, body = await site.post(site.request("R9"), site.other)
    assert body["status_code"] == 2001 and "not the requesting eMSP" in body["status_message"]
    # Cancelling the victim's request id only reaches the attacker's own (none).
    cancel = site.request("R1", peer=site.other,
                          canceled={"cancellation_reason": "TRAFFIC", "who_canceled": "EMSP"})
    _, body = await site.post(cancel, site.other)
    assert body["status_code"] == 2001
    # A change under the victim's request id is the attacker's own new booking.
    _, body = await site.post(site.request("R1", peer=site.other, start=9), site.other)
    assert body["data"]["id"] != victim["id"]
    _, listed, _ = await site.emsp.call("GET", site.base)
    [still] = [b for b in listed["data"] if b["id"] == victim["id"]]
    assert still["reservation_status"] == "RESERVED"
    assert still["period"] == victim["period"]
    _, theirs, _ = await site.other.call("GET", site.base)
    assert victim["id"] not in {b["id"] for b in theirs["data"]}
    # Without credentials: 401.
    status, _, _ = await site.emsp.call("POST", site.base, token="wrong",
                                        json=site.request("R5"))
    assert status == 401


async def test_a_receiver_spelled_booking_gets_its_pushes(site: Site) -> None:
    _, body = await site.post(site.request("S1", peer=site.other), site.other)
    assert body["data"]["reservation_status"] == "RESERVED"
    tail = f"NL/EXA/{body['data']['id']}"
    assert await eventually(lambda: tail in site.other.bookings)
    assert tail not in site.emsp.bookings


async def test_a_bad_body_names_the_field(site: Site) -> None:
    body = site.request("R1")
    del body["period"]
    _, answer = await site.post(body)
    assert answer["status_code"] == 2001 and "period" in answer["status_message"]
    _, answer = await site.post(site.request("R1", location_id="NOWHERE",
                                                  booking_location_id="NOWHERE"))
    assert answer["status_code"] == 2003
    assert site.gateway.app[BOOKINGS].ledger is not None


OTHER_SITE = "NL-UTR-JAARBEURS"


async def _all_pages(site: Site, url: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every page from ``url`` on, following the Link headers; the items and the links."""
    items: list[dict[str, Any]] = []
    links: list[str] = []
    while True:
        status, body, headers = await site.emsp.call("GET", url)
        assert status == 200 and body["status_code"] == 1000, body
        items += body["data"]
        link = headers.get("Link")
        if link is None:
            return items, links
        url = link.split(">", 1)[0].lstrip("<")
        links.append(url)


async def test_booking_locations_are_paginated_and_filtered_by_date(site: Site) -> None:
    everything, _ = await _all_pages(site, site.base + "/booking_locations")
    assert {b["id"] for b in everything} == {SITE, OTHER_SITE}
    _, body, headers = await site.emsp.call("GET", site.base + "/booking_locations?limit=1")
    assert len(body["data"]) == 1 and headers["X-Total-Count"] == "2"
    paged, links = await _all_pages(site, site.base + "/booking_locations?limit=1")
    assert [b["id"] for b in paged] == [b["id"] for b in everything]
    assert len(links) == 1 and "offset=1" in links[0] and "limit=1" in links[0]
    # A booking an hour later changes SITE's calendars: only SITE was updated since.
    site.clock.now += timedelta(hours=1)
    _, answer = await site.post(site.request("R1"))
    assert answer["data"]["reservation_status"] == "RESERVED"
    half = stamp(site.at(-0.5))
    since, links = await _all_pages(site, f"{site.base}/booking_locations?date_from={half}")
    assert [b["id"] for b in since] == [SITE]
    assert since[0]["last_updated"].startswith(stamp(site.clock.now)[:19])
    before, _ = await _all_pages(site, f"{site.base}/booking_locations?date_to={half}")
    assert [b["id"] for b in before] == [OTHER_SITE]
    # The filters go along in the next page's link.
    _, links = await _all_pages(site, f"{site.base}/booking_locations?limit=1&date_to="
                                      f"{stamp(site.at(1))}")
    assert len(links) == 1 and "date_to=" in links[0]


async def test_a_page_of_booking_locations_computes_only_its_own_calendars(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    everything, _ = await _all_pages(site, site.base + "/booking_locations")
    computed: list[str] = []
    compute = Bookings.site

    async def counted(self: Bookings, location_id: str, *args: Any, **kwargs: Any) -> Any:
        computed.append(location_id)
        return await compute(self, location_id, *args, **kwargs)

    monkeypatch.setattr(Bookings, "site", counted)
    _, body, headers = await site.emsp.call(
        "GET", site.base + "/booking_locations?offset=1&limit=1")
    # The count is of every bookable location; the calendars computed are the page's.
    assert headers["X-Total-Count"] == "2" and "Link" not in headers
    assert [b["id"] for b in body["data"]] == computed == [everything[1]["id"]]
    assert body["data"] == everything[1:]


async def test_booking_locations_filtered_by_timeslot(site: Site) -> None:
    # Both AC EVSEs booked from 6:00 to 7:00: no AC slot from 5:50 to 7:10 (lead, buffer).
    for rid in ("A", "B"):
        _, answer = await site.post(site.request(rid))
        assert answer["data"]["reservation_status"] == "RESERVED"
    window = f"timeslot_from={stamp(site.at(6))}&timeslot_to={stamp(site.at(7))}"
    found, _ = await _all_pages(site, f"{site.base}/booking_locations?{window}")
    by_id = {b["id"]: b for b in found}
    # The DC calendars still have room in that hour; the AC one has none, so it is left out;
    # the calendars are cut to the window.
    assert SITE in by_id
    calendars = {c["id"]: c for c in by_id[SITE]["calendars"]}
    assert AC not in calendars and calendars
    for calendar in calendars.values():
        for slot in calendar["available_timeslots"]:
            assert stamp(site.at(6)) <= slot["start_date_time"][:19] + "Z"
            assert slot["end_date_time"][:19] + "Z" <= stamp(site.at(7))
    # A window beyond what may be booked (max_advance_days 2): no BookingLocation at all.
    far = f"timeslot_from={stamp(site.at(72))}&timeslot_to={stamp(site.at(73))}"
    nothing, _ = await _all_pages(site, f"{site.base}/booking_locations?{far}")
    assert nothing == []


async def test_bookings_are_paginated_and_filtered_by_date(site: Site) -> None:
    for n, rid in enumerate(("P1", "P2", "P3")):
        site.clock.now += timedelta(minutes=15)  # the slots stay on the 15-minute grid
        _, answer = await site.post(site.request(rid, start=6 + 2 * n))
        assert answer["data"]["reservation_status"] == "RESERVED", answer
    listed, links = await _all_pages(site, site.base + "?limit=2")
    assert [b["request_id"] for b in listed] == ["P1", "P2", "P3"] and len(links) == 1
    _, body, headers = await site.emsp.call("GET", site.base + "?limit=2")
    assert headers["X-Total-Count"] == "3" and len(body["data"]) == 2
    # Only those changed in [date_from, date_to): P2, made 15 minutes before P3.
    window = f"date_from={stamp(site.at(-0.25))}&date_to={stamp(site.clock.now)}"
    picked, _ = await _all_pages(site, f"{site.base}?{window}")
    assert [b["request_id"] for b in picked] == ["P2"]
    _, bad, _ = await site.emsp.call("GET", site.base + "?offset=-1", validate=False)
    assert bad["status_code"] == 2001


def _site_puts(peer: EmspPeer) -> list[dict[str, Any]]:
    return [r.body for r in peer.received
            if r.method == "PUT" and r.path.endswith(f"/booking_locations/{SITE}")]


def _edit_policy(path: Path, old: str, new: str) -> None:
    path.write_text(POLICY.replace(old, new), encoding="utf-8")


def _site_pushes(peer: EmspPeer) -> list[tuple[str, dict[str, Any]]]:
    """PUTs of the site's BookingLocation and PATCHes of it or of its Calendars."""
    return [(r.method, r.body) for r in peer.received
            if r.method in ("PUT", "PATCH") and f"/booking_locations/{SITE}" in r.path]


async def test_a_page_of_bookings_serialises_only_its_own(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    for n, rid in enumerate(("Q1", "Q2", "Q3")):
        site.clock.now += timedelta(minutes=15)
        _, answer = await site.post(site.request(rid, start=6 + 2 * n))
        assert answer["data"]["reservation_status"] == "RESERVED", answer
    serialised: list[str] = []
    as_json = sender.booking_json

    def counted(bookings: Any, booking: Any) -> bytes:
        serialised.append(booking.request_id)
        return as_json(bookings, booking)

    monkeypatch.setattr(sender, "booking_json", counted)
    _, body, headers = await site.emsp.call("GET", site.base + "?offset=1&limit=1")
    assert headers["X-Total-Count"] == "3" and "offset=2" in headers["Link"]
    assert [b["request_id"] for b in body["data"]] == serialised == ["Q2"]


async def _held_is_current(site: Site) -> bool:
    """The eMSP holds the site's BookingLocation as the gateway computes it now."""
    _, body, _ = await site.emsp.call("GET", f"{site.base}/booking_locations/{SITE}")
    return site.emsp.bookings.get(f"NL/EXA/booking_locations/{SITE}") == body["data"]


async def test_a_status_change_and_a_policy_reload_push_the_booking_location(
        site: Site) -> None:
    app = site.gateway.app
    # The eMSP registered after the start: its welcome (every site) comes first.
    [welcome] = [loop for loop in app[keys.LOOPS].loops() if loop.name == "bookings-welcome"]
    assert await welcome.run_once()
    assert await eventually(lambda: len(_site_puts(site.emsp)) >= 1)
    await site.pushes()
    await app[OUTBOX].drain(5)
    before = len(_site_pushes(site.emsp))
    # A charger of the site reports a fault: its calendars are computed again, and as one
    # EVSE of each class is still free, nothing the eMSP holds changed: nothing is sent.
    publisher = app[BOOKINGS_PUBLISHER]
    pushed: list[str] = []
    original = publisher.push_site

    async def push_site(location_id: str) -> int:
        pushed.append(location_id)
        return await original(location_id)

    publisher.push_site = push_site  # type: ignore[method-assign]
    await app[keys.EVENT_BUS].publish(ConnectorStatusChanged(
        charge_point_id="CP-AMS-01", evse_id=None, connector_id=1,
        status=ConnectorStatus.FAULTED))
    await site.pushes()
    await app[OUTBOX].drain(5)
    assert pushed == [SITE]
    assert len(_site_pushes(site.emsp)) == before
    after_fault = before
    # The operator edits the policy: the next sweep sees the new file and pushes every site
    # with the new terms.
    policy = app[keys.SETTINGS].policy_file
    assert policy is not None
    _edit_policy(Path(policy), "cancel_until_minutes: 30", "cancel_until_minutes: 45")
    [sweep] = [loop for loop in app[keys.LOOPS].loops() if loop.name == "bookings-sweep"]
    assert await sweep.run_once()
    await site.pushes()
    assert await eventually(lambda: len(_site_pushes(site.emsp)) > after_fault)
    # Only the terms changed: a PATCH of the BookingLocation with them and last_updated.
    assert [(m, sorted(b)) for m, b in _site_pushes(site.emsp)[after_fault:]] == [
        ("PATCH", ["booking_terms", "last_updated"])]
    held = f"NL/EXA/booking_locations/{SITE}"
    assert await eventually(lambda: site.emsp.bookings[held]["booking_terms"][
        "cancel_until_minutes"] == 45)
    await app[OUTBOX].drain(5)
    assert await _held_is_current(site)


async def test_a_locations_reload_pushes_every_booking_location(site: Site) -> None:
    await site.pushes()

    def puts_of(location_id: str) -> int:
        return sum(1 for r in site.emsp.received if r.method == "PUT"
                   and r.path.endswith(f"/booking_locations/{location_id}"))

    before = {loc: puts_of(loc) for loc in (SITE, OTHER_SITE)}
    changed = await site.gateway.app[LOCATIONS].reload_all()
    assert changed["bookings"] == []
    await site.pushes()
    assert await eventually(lambda: all(puts_of(loc) > before[loc] for loc in before))


async def test_a_receiver_registered_later_is_sent_every_booking_location(site: Site) -> None:
    # As for Locations: a partner that registers with a Bookings RECEIVER gets every site's
    # BookingLocation without waiting for the next change of each.
    late = await register(site.gateway, EmspPeer(
        party_id="LAT", modules=MODULES_230, versions=("2.3.0",), ocpi_version="2.3.0"))
    try:
        wanted = {f"NL/EXA/booking_locations/{loc}" for loc in (SITE, OTHER_SITE)}
        assert await eventually(lambda: wanted <= set(late.bookings))
        assert late.bookings[f"NL/EXA/booking_locations/{SITE}"]["calendars"]
    finally:
        await late.close()


async def test_a_receiver_that_unregisters_leaves_no_copies_behind(site: Site) -> None:
    _, answer = await site.post(site.request("R1"))
    assert answer["data"]["reservation_status"] == "RESERVED"
    store = site.gateway.app[keys.STORE]
    partner = next(p for p in await site.gateway.partners.registered()
                   if p.roles and p.roles[0].party_id == site.emsp.party_id)

    async def copies_of(partner_id: str) -> list[Any]:
        return await store.find(COPIES, {"partner_id": partner_id})

    assert await eventually(lambda: copies_of(partner.id))  # its Booking and BookingLocations
    publisher = site.gateway.app[BOOKINGS_PUBLISHER]
    await publisher.welcome_new_receivers()  # the bookings-welcome loop's pass (every 2 s)
    others = len(await store.find(COPIES)) - len(await copies_of(partner.id))
    status, _, _ = await site.emsp.call("DELETE", f"{site.gateway.url}/ocpi/2.3.0/credentials")
    assert status == 200

    await publisher.welcome_new_receivers()  # its next pass
    assert await copies_of(partner.id) == []
    assert len(await store.find(COPIES)) == others > 0  # the other receivers' stay


def test_a_policy_reloaded_twice_between_two_looks_is_still_seen() -> None:
    # The sweep looks every 15 s; two edits in between make two PolicyFile objects, and the
    # third may be allocated where the first was once that one is freed: the watch must not
    # take it for the policy it saw.
    from ocpi_gateway.bookings.extension import _PolicyWatch
    from ocpi_gateway.reservation_policy.policy import PolicyFile

    class Publisher:
        def __init__(self) -> None:
            self.calls = 0

        def all_changed(self) -> None:
            self.calls += 1

    publisher = Publisher()
    first = PolicyFile()
    watch = _PolicyWatch(publisher, first)  # type: ignore[arg-type]
    second = PolicyFile()
    del first  # the source holds the second now
    third = PolicyFile()
    watch.check(third)
    assert publisher.calls == 1
    watch.check(third)
    assert publisher.calls == 1
    assert second is not third
