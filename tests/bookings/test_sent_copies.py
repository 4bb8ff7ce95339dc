"""PUT once, then PATCH what changed (``deliveries.partial``), on the real stores: the Booking
and BookingLocation bodies the gateway builds, each PATCH checked against the 2.3.0 OpenAPI's
BookingPatch / BookingLocationPatch / CalendarPatch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ocpi_gateway.deliveries.partial import COLLECTION, Plan, SentCopies
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.ocpi.seam import to_jsonable
from ocpi_gateway.ocpi.v2_3_0 import bookings as v230
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from tests.bookings.support import T0, booking
from tests.openapi import validate_object

URL = "https://emsp.example/ocpi/2.3.0/bookings/NL/EXA"
SITE_URL = f"{URL}/booking_locations/LOC1"


def booking_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = to_jsonable(v230.booking_of(booking(**changes), ("NL", "EXA")))
    return body


def calendar(cid: str, start_hour: int, *, stamp: str = "2026-01-01T00:00:00.000Z"
             ) -> dict[str, Any]:
    return {"id": cid, "begin_from": "2026-01-01T00:00:00.000Z",
            "end_before": "2026-01-03T00:00:00.000Z", "timeslot_increment": 15,
            "available_timeslots": [{"start_date_time": f"2026-01-01T{start_hour:02}:00:00.000Z",
                                     "end_date_time": "2026-01-03T00:00:00.000Z"}],
            "last_updated": stamp}


def site(*calendars: dict[str, Any], stamp: str = "2026-01-01T00:00:00.000Z",
         **changes: Any) -> dict[str, Any]:
    body = {"country_code": "NL", "party_id": "EXA", "id": "LOC1", "location_id": "LOC1",
            "policy": {"reservation_required": False, "ad_hoc": 1},
            "calendars": list(calendars), "last_updated": stamp}
    return {**body, **changes}


def valid(plan: Plan, schema: str) -> Plan:
    for patch in plan.patches:
        validate_object("2.3.0", "bookings", schema, patch.body)
    return plan


async def test_a_booking_is_put_once_then_its_transitions_patched(store: DocumentStore) -> None:
    copies = SentCopies(store)
    pending = booking_body()
    assert (await copies.plan("p1", f"{URL}/B-R1", pending)).put == pending
    later = T0 + timedelta(minutes=1)
    reserved = booking_body(state=BookingState.RESERVED, updated_at=later)
    plan = valid(await copies.plan("p1", f"{URL}/B-R1", reserved), "BookingPatch")
    assert plan.put is None
    assert [(p.url, p.body) for p in plan.patches] == [(f"{URL}/B-R1", {
        "reservation_status": "RESERVED", "last_updated": reserved["last_updated"]})]
    # Bound shortly before the start: the option names the EVSE, nothing else moved.
    bound = booking_body(state=BookingState.RESERVED, evse_uid="EVSE-7",
                         updated_at=later + timedelta(minutes=1))
    plan = valid(await copies.plan("p1", f"{URL}/B-R1", bound), "BookingPatch")
    assert [p.body for p in plan.patches] == [{"booking_option": {"evse_uid": "EVSE-7"},
                                               "last_updated": bound["last_updated"]}]
    # Nothing but the stamp: nothing to send.
    again = booking_body(state=BookingState.RESERVED, evse_uid="EVSE-7",
                         updated_at=later + timedelta(minutes=2))
    assert await copies.plan("p1", f"{URL}/B-R1", again) == Plan(put=None)
    # Another receiver of the same booking has no copy yet: it gets the whole.
    assert (await copies.plan("p2", f"{URL}/B-R1", again)).put == again


async def test_what_a_patch_cannot_say_is_put(store: DocumentStore) -> None:
    copies = SentCopies(store)
    with_option = booking_body(evse_uid="EVSE-7")
    await copies.plan("p1", f"{URL}/B-R1", with_option)
    # A field gone (the option dropped) cannot be PATCHed away.
    without = booking_body()
    assert (await copies.plan("p1", f"{URL}/B-R1", without)).put == without
    # ``whole``: PUT whatever the copy says.
    assert (await copies.plan("p1", f"{URL}/B-R1", without, whole=True)).put == without


async def test_a_changed_calendar_is_patched_at_its_url(store: DocumentStore) -> None:
    copies = SentCopies(store)
    first = site(calendar("AC", 0), calendar("DC", 0))
    assert (await copies.plan("p1", SITE_URL, first, children="calendars")).put == first
    stamp = "2026-01-01T00:05:00.000Z"
    booked = site(calendar("AC", 2, stamp=stamp), calendar("DC", 0, stamp=stamp), stamp=stamp)
    plan = valid(await copies.plan("p1", SITE_URL, booked, children="calendars"),
                 "CalendarPatch")
    assert [(p.url, p.body) for p in plan.patches] == [(f"{SITE_URL}/AC", {
        "available_timeslots": booked["calendars"][0]["available_timeslots"],
        "last_updated": stamp})]
    # The site's own fields go to the site's URL, a calendar's to its own.
    terms = {"supported_access_methods": ["OPEN"], "change_until_minutes": 45,
             "cancel_until_minutes": 45}
    both = site(calendar("AC", 3, stamp=stamp), calendar("DC", 0, stamp=stamp), stamp=stamp,
                booking_terms=terms)
    plan = await copies.plan("p1", SITE_URL, both, children="calendars")
    assert [(p.url, sorted(p.body)) for p in plan.patches] == [
        (SITE_URL, ["booking_terms", "last_updated"]),
        (f"{SITE_URL}/AC", ["available_timeslots", "last_updated"])]
    validate_object("2.3.0", "bookings", "BookingLocationPatch", plan.patches[0].body)
    # A calendar gone (its class full) or new: the whole BookingLocation.
    fewer = site(calendar("AC", 3, stamp=stamp), stamp=stamp, booking_terms=terms)
    assert (await copies.plan("p1", SITE_URL, fewer, children="calendars")).put == fewer


async def test_a_copy_another_instance_changed_meanwhile_means_a_put(
        store: DocumentStore) -> None:
    ours, theirs = SentCopies(store), SentCopies(store)
    first = site(calendar("AC", 0))
    await ours.plan("p1", SITE_URL, first, children="calendars")

    class Racing:
        """The store as seen by ``ours``: between its read and its write, the other instance
        queues a change (AC booked at 2:00)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        async def get(self, collection: str, key: str) -> Any:
            doc = await store.get(collection, key)
            await theirs.plan("p1", SITE_URL, site(calendar("AC", 2)), children="calendars")
            return doc

    racing = SentCopies(Racing())  # type: ignore[arg-type]
    # Back to what ``ours`` sent first: diffing its stale read would send nothing, while
    # the receiver holds the other's 2:00.
    plan = await racing.plan("p1", SITE_URL, first, children="calendars")
    assert plan.put == first
    # The copy is the whole just PUT: the next change is a PATCH again.
    later = site(calendar("AC", 4))
    assert (await ours.plan("p1", SITE_URL, later, children="calendars")).put is None


async def test_an_ended_booking_leaves_no_copy(store: DocumentStore) -> None:
    copies = SentCopies(store)
    await copies.plan("p1", f"{URL}/B-R1", booking_body())
    ended = booking_body(state=BookingState.CANCELED,
                         updated_at=T0 + timedelta(minutes=5))
    plan = await copies.plan("p1", f"{URL}/B-R1", ended, keep=False)
    assert [sorted(p.body) for p in plan.patches] == [["last_updated", "reservation_status"]]
    assert await store.find(COLLECTION) == []


async def test_a_forgotten_copy_makes_the_next_change_a_put(store: DocumentStore) -> None:
    # A resync PUT the whole object as it was then: what was queued meanwhile is not known
    # to the receiver as the copy says, so the next change goes whole.
    copies = SentCopies(store)
    await copies.plan("p1", f"{URL}/B-R1", booking_body())
    await copies.forget("p1", f"{URL}/B-R1")
    reserved = booking_body(state=BookingState.RESERVED)
    assert (await copies.plan("p1", f"{URL}/B-R1", reserved)).put == reserved


async def test_a_partner_no_longer_receiving_leaves_no_copy(store: DocumentStore) -> None:
    copies = SentCopies(store)
    for partner in ("p1", "p2"):
        await copies.plan(partner, f"{URL}/B-R1", booking_body())
        await copies.plan(partner, SITE_URL, site(calendar("AC", 6)), children="calendars")

    assert await copies.forget_partner("p1") == 2

    assert {(c["partner_id"], c["url"]) for c in await store.find(COLLECTION)} == {
        ("p2", f"{URL}/B-R1"), ("p2", SITE_URL)}
    # Back as a receiver: sent whole, as a new one.
    reserved = booking_body(state=BookingState.RESERVED)
    assert (await copies.plan("p1", f"{URL}/B-R1", reserved)).put == reserved
    assert (await copies.plan("p2", f"{URL}/B-R1", reserved)).put is None
    assert await copies.forget_partner("nobody") == 0
