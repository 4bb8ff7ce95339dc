"""After a PUT, a Booking's and a BookingLocation's later changes reach the eMSP as PATCHes of
what changed plus last_updated (mod_bookings' receiver interface): in the real gateway, with a
2.3.0 eMSP on loopback that applies them as a receiver would (tests/peers/emsp.py) and
validates each against the official OpenAPI (BookingPatch, CalendarPatch)."""

from __future__ import annotations

from typing import Any

from ocpi_gateway import keys
from ocpi_gateway.deliveries.app import OUTBOX
from tests.bookings.test_bookings_module import AC, SITE, Site, site
from tests.openapi import validate_request

__all__ = ["site"]

CANCEL = {"cancellation_reason": "TRAFFIC", "who_canceled": "EMSP"}
SITE_TAIL = f"NL/EXA/booking_locations/{SITE}"


def sent_to(site: Site, tail: str, *, under: bool = False) -> list[tuple[str, str, Any]]:
    """(method, path after the module, body) of every PUT and PATCH the eMSP got for
    ``tail`` (and, ``under``, for the objects below it)."""
    found = []
    for r in site.emsp.received:
        _, module, path = r.path.partition("/bookings/")
        if module and r.method in ("PUT", "PATCH") and (path == tail
                                             or (under and path.startswith(tail + "/"))):
            found.append((r.method, path, r.body))
    return found


async def settled(site: Site) -> None:
    await site.pushes()
    assert await site.gateway.app[OUTBOX].drain(10)


async def current_booking(site: Site, booking_id: str) -> dict[str, Any]:
    _, body, _ = await site.emsp.call("GET", site.base)
    [found] = [b for b in body["data"] if b["id"] == booking_id]
    return found  # type: ignore[no-any-return]


async def current_site(site: Site) -> dict[str, Any]:
    _, body, _ = await site.emsp.call("GET", f"{site.base}/booking_locations/{SITE}")
    return body["data"]  # type: ignore[no-any-return]


def patches_valid(pushes: list[tuple[str, str, Any]]) -> None:
    for method, path, body in pushes:
        if method == "PATCH":
            assert "last_updated" in body
            validate_request("2.3.0", "PATCH", f"/bookings/{path}", body)


async def welcomed(site: Site) -> None:
    """The eMSP holds every site (the welcome loop's PUTs), nothing else queued."""
    [welcome] = [loop for loop in site.gateway.app[keys.LOOPS].loops()
                 if loop.name == "bookings-welcome"]
    assert await welcome.run_once()
    await settled(site)
    assert [m for m, _, _ in sent_to(site, SITE_TAIL, under=True)] == ["PUT"]


async def test_a_state_transition_is_a_patch_of_what_changed(site: Site) -> None:
    _, answer = await site.post(site.request("R1"))
    booking = answer["data"]
    tail = f"NL/EXA/{booking['id']}"
    await settled(site)
    _, cancelled = await site.post(site.request("R1", canceled=CANCEL))
    assert cancelled["data"]["reservation_status"] == "CANCELED"
    await settled(site)
    pushes = sent_to(site, tail)
    patches_valid(pushes)
    # Created: the whole Booking once; then only what each transition changed.
    assert pushes[0][0] == "PUT" and {m for m, _, _ in pushes[1:]} == {"PATCH"}
    changed = {k for _, _, body in pushes[1:] for k in body}
    assert changed <= {"reservation_status", "canceled", "booking_requests", "last_updated"}
    [*_, (_, _, last)] = pushes
    assert last["reservation_status"] == "CANCELED" and last["canceled"] == CANCEL
    # Applied as a receiver does, the PATCHes leave the eMSP with the whole current Booking.
    assert site.emsp.bookings[tail] == await current_booking(site, booking["id"])


async def test_a_calendar_change_is_a_patch_on_the_calendar_url(site: Site) -> None:
    await welcomed(site)
    # Two AC EVSEs: the second booking of the hour takes it from the AC calendar.
    await site.post(site.request("R1"))
    await site.post(site.request("R2"))
    await settled(site)
    pushes = sent_to(site, SITE_TAIL, under=True)[1:]
    patches_valid(pushes)
    assert pushes and {(m, path) for m, path, _ in pushes} == {("PATCH", f"{SITE_TAIL}/{AC}")}
    assert all("available_timeslots" in body for _, _, body in pushes)
    assert {k for _, _, body in pushes for k in body} <= {
        "available_timeslots", "begin_from", "end_before", "timeslot_increment",
        "last_updated"}
    assert site.emsp.bookings[SITE_TAIL] == await current_site(site)


async def test_a_refused_patch_is_followed_by_a_put_of_the_whole(site: Site) -> None:
    await welcomed(site)
    _, answer = await site.post(site.request("R1"))
    tail = f"NL/EXA/{answer['data']['id']}"
    await settled(site)
    # The eMSP lost both: the next PATCH of each is refused (OCPI 2001).
    site.emsp.bookings_refuse_patches += [tail, f"{SITE_TAIL}/{AC}"]
    del site.emsp.bookings[tail]
    site.emsp.bookings[SITE_TAIL]["calendars"] = []
    before = {t: len(sent_to(site, t, under=True)) for t in (tail, SITE_TAIL)}
    await site.post(site.request("R2"))
    await site.post(site.request("R1", canceled=CANCEL))
    await site.post(site.request("R3"))
    await settled(site)
    assert site.emsp.bookings_refuse_patches == []
    for t in (tail, SITE_TAIL):
        after = sent_to(site, t, under=True)[before[t]:]
        patches_valid(after)
        methods = [(m, path) for m, path, _ in after]
        refused = methods.index(("PATCH", t if t == tail else f"{SITE_TAIL}/{AC}"))
        assert ("PUT", t) in methods[refused + 1:], methods
    # What the eMSP holds is the whole current object again.
    assert site.emsp.bookings[tail] == await current_booking(site, answer["data"]["id"])
    assert site.emsp.bookings[SITE_TAIL] == await current_site(site)
