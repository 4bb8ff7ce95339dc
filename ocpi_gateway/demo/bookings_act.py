"""The demo's booking act (OCPI 2.3.0 Bookings): the 2.3.0 eMSP reads the site's calendar and
books two slots a few seconds ahead. The gateway promises capacity, not a charger; at
``start - activation_lead_minutes`` (or earlier, when the site has no spare free EVSE of the
booking's kind) its binder picks a free fitting EVSE and sends ReserveNow,
the eMSP gets the Booking with the EVSE and sees it RESERVED in Locations. One driver comes
(FULFILLED), the other does not (NO_SHOW, the EVSE free again)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ocpi_gateway.demo.booking_emsp import BookingEmsp, evse_of
from ocpi_gateway.demo.common import DemoFailed, clock_text, iso
from ocpi_gateway.demo.emsp import EmspError
from ocpi_gateway.demo.setup import BOOKING_LEAD_SECONDS, BOOKING_NOSHOW_SECONDS, LOCATION_ID

if TYPE_CHECKING:
    from ocpi_gateway.demo.script import Demo

AHEAD_SECONDS = 9
"""How far ahead the slots start: the binding (6 s before) must still be ahead when the
gateway has the requests, and the binder looks every 5 s."""
SLOT_SECONDS = 60
BIND_WITHIN = BOOKING_LEAD_SECONDS + 8
AC, DC = "IEC_62196_T2", "IEC_62196_T2_COMBO"


def _request(emsp: BookingEmsp, request_id: str, driver: str, connector: str,
             start: datetime) -> dict[str, Any]:
    token = {"country_code": emsp.country_code, "party_id": emsp.party_id, "uid": driver,
             "type": "RFID", "contract_id": f"DE-{emsp.party_id}-C{driver[-1]}"}
    return {"country_code": emsp.country_code, "party_id": emsp.party_id,
            "request_id": request_id, "location_id": LOCATION_ID,
            "booking_location_id": LOCATION_ID, "authorization_reference": f"AUTH-{request_id}",
            "period": {"start_date_time": iso(start),
                       "end_date_time": iso(start + timedelta(seconds=SLOT_SECONDS))},
            "tokens": [token], "booking_option": {"connector_types": [connector]}}


async def read_calendar(demo: Demo, emsp: BookingEmsp) -> dict[str, Any]:
    """The site's BookingLocation as the eMSP reads it, and one of its Calendars."""
    n = demo.narrator
    n.title("The 2.3.0 eMSP reads the site's booking calendar (OCPI 2.3.0 Bookings)")
    try:
        sites = await emsp.booking_locations()
        site = next(s for s in sites if s["location_id"] == LOCATION_ID)
        calendars = site.get("calendars") or []
        if not calendars:
            raise DemoFailed(f"{LOCATION_ID} offers no calendar with a free timeslot")
        first = await emsp.calendar(LOCATION_ID, calendars[0]["id"])
    except (EmspError, StopIteration) as exc:
        raise DemoFailed(f"reading the booking calendar failed: {exc}") from exc
    terms = site["booking_terms"]
    n.say(f"GET /ocpi/2.3.0/bookings/booking_locations: {LOCATION_ID} with "
          f"{len(calendars)} calendar(s), one per kind of EVSE: "
          + ", ".join(c["id"] for c in calendars) + ".")
    n.say(f"Booking terms: bookings {terms['min_booking_duration'] * 60:g} s to "
          f"{terms['max_booking_duration']:g} min long, a no-show after "
          f"{terms['noshow_timeout'] * 60:g} s (the demo policy's minutes, in fractions).")
    slot = first["available_timeslots"][0]
    n.say(f"GET .../booking_locations/{LOCATION_ID}/{first['id']}: "
          f"{len(first['available_timeslots'])} free timeslot(s), the first from "
          f"{_day_and_time(slot['start_date_time'])} to {_day_and_time(slot['end_date_time'])}"
          " (bookable up to max_advance_days ahead).")
    return site


async def book_and_bind(demo: Demo, emsp: BookingEmsp) -> dict[str, dict[str, Any]]:
    """Two bookings a few seconds ahead, answered RESERVED with no EVSE, then bound."""
    n = demo.narrator
    n.title("The eMSP books two slots a few seconds ahead")
    start = datetime.fromtimestamp(math.ceil(datetime.now(UTC).timestamp() + AHEAD_SECONDS),
                                   UTC)
    asks = {"DEMO-BOOK-1": ("DMN-DRIVER-1", AC), "DEMO-BOOK-2": ("DMN-DRIVER-2", DC)}
    mark = len(emsp.status_changes)
    for request_id, (driver, connector) in asks.items():
        try:
            answer = await emsp.book(_request(emsp, request_id, driver, connector, start))
        except EmspError as exc:
            raise DemoFailed(f"POST booking {request_id} failed: {exc}") from exc
        if answer["reservation_status"] != "RESERVED" or evse_of(answer):
            raise DemoFailed(f"{request_id}: {answer['reservation_status']}, EVSE "
                             f"{evse_of(answer)}; expected RESERVED, no EVSE yet")
        n.say(f"POST /ocpi/2.3.0/bookings {request_id}: {connector}, "
              f"{clock_text(start)} for {SLOT_SECONDS} s, driver token {driver} -> "
              f"{answer['reservation_status']}, no EVSE chosen yet (the gateway promises "
              "capacity, not a charger).")
    n.say(f"Activation lead {BOOKING_LEAD_SECONDS:g} s: the gateway binds them at "
          f"{clock_text(start - timedelta(seconds=BOOKING_LEAD_SECONDS))}. Waiting ...")

    n.title("The gateway binds each booking to a free fitting EVSE")
    bound: dict[str, dict[str, Any]] = {}
    for request_id in asks:
        try:
            pushed = await emsp.wait_booking(request_id, BIND_WITHIN + AHEAD_SECONDS,
                                             state="RESERVED", bound=True)
        except EmspError as exc:
            raise DemoFailed(str(exc)) from exc
        bound[request_id] = pushed
        n.say(f"Booking push to the eMSP: {request_id} RESERVED, evse_uid "
              f"{evse_of(pushed)} (ReserveNow sent to its charger until "
              f"{clock_text(start + timedelta(seconds=BOOKING_NOSHOW_SECONDS))}); "
              + await _when_bound(demo, emsp, request_id) + ".")
    evses = [evse_of(b) or "" for b in bound.values()]
    if len(set(evses)) != 2:
        raise DemoFailed(f"both bookings were bound to the same EVSE: {evses}")
    for evse in evses:
        try:
            await emsp.wait_status(evse, "RESERVED", 5, after=mark)
        except EmspError as exc:
            raise DemoFailed(str(exc)) from exc
        n.say(f"Locations push to the 2.3.0 eMSP: EVSE {evse} is now RESERVED.")
    return bound


async def one_comes_one_does_not(demo: Demo, emsp: BookingEmsp,
                                 bound: dict[str, dict[str, Any]]) -> None:
    n = demo.narrator
    first, second = bound["DEMO-BOOK-1"], bound["DEMO-BOOK-2"]
    n.title("The first driver comes; nobody comes for the second booking")
    evse = evse_of(first) or ""
    charger = next(c for c in demo.chargers.values()
                   if c.id == _charger_of(demo, evse))
    token = first["booking_tokens"][0]["uid"]
    transaction = await charger.arrive(token)
    n.say(f"Driver {token} plugs in at {evse}: {charger.id} starts transaction {transaction} "
          "with the booking's reservation id.")
    try:
        done = await emsp.wait_booking("DEMO-BOOK-1", 5, state="FULFILLED")
    except EmspError as exc:
        raise DemoFailed(str(exc)) from exc
    n.say(f"Booking push: DEMO-BOOK-1 {done['reservation_status']}.")
    start = _parse(second["period"]["start_date_time"])
    noshow = start + timedelta(seconds=BOOKING_NOSHOW_SECONDS)
    mark = len(emsp.status_changes)
    n.say(f"DEMO-BOOK-2: no-show time {clock_text(noshow)}. Waiting ...")
    wait = (noshow - datetime.now(UTC)).total_seconds() + 5
    try:
        ended = await emsp.wait_booking("DEMO-BOOK-2", max(wait, 5), state="NO_SHOW")
        free = evse_of(second) or ""
        await emsp.wait_status(free, "AVAILABLE", 5, after=mark)
    except EmspError as exc:
        raise DemoFailed(str(exc)) from exc
    n.say(f"Booking push: DEMO-BOOK-2 {ended['reservation_status']}: the gateway cancelled "
          "the reservation at the charger and gave the capacity back.")
    n.say(f"Locations push to the 2.3.0 eMSP: EVSE {free} is AVAILABLE again.")
    await charger.stop_transaction(transaction)
    n.say(f"Driver {token} finishes charging and leaves {evse}.")


async def _when_bound(demo: Demo, emsp: BookingEmsp, request_id: str) -> str:
    from ocpi_gateway.bookings.context import BOOKINGS
    from ocpi_gateway.reservation_policy.bookings.records import booking_key
    from ocpi_gateway.reservation_policy.models import Partner

    assert demo.app is not None
    b = await demo.app[BOOKINGS].ledger.get(booking_key(
        Partner(emsp.country_code, emsp.party_id), request_id))
    if b is None or b.bound_at is None:
        raise DemoFailed(f"the gateway has no binding of {request_id}")
    if b.bound_at < b.bind_at:
        return (f"bound at {clock_text(b.bound_at)}, before its binding time "
                f"{clock_text(b.bind_at)}: the site had no spare free EVSE of its kind (as "
                "many free as bookings due within the hour), so the gateway held one now "
                "rather than let a walk-in take it")
    return f"bound at {clock_text(b.bound_at)}, its binding time (start - activation lead)"


def _charger_of(demo: Demo, evse_uid: str) -> str:
    from ocpi_gateway.locations.extension import LOCATIONS

    assert demo.app is not None
    found = demo.app[LOCATIONS].catalog.get(LOCATION_ID)
    for evse in found.evses if found is not None else ():
        if evse.uid == evse_uid:
            return str(evse.charge_point_id)
    raise DemoFailed(f"no charger for EVSE {evse_uid}")


def _day_and_time(value: str) -> str:
    return _parse(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def bookings_act(demo: Demo, emsp: BookingEmsp) -> None:
    await read_calendar(demo, emsp)
    bound = await book_and_bind(demo, emsp)
    await one_comes_one_does_not(demo, emsp, bound)
