"""The eMSP's no-show rate over its window, and what the reservation service's transitions
record (an expired reservation that was held is a no-show; a used one counts as ended)."""

from __future__ import annotations

from datetime import timedelta

from ocpi_gateway.domain.events import BookingTransitioned
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.enforcement.records import UnusedKind
from ocpi_gateway.reservation_policy.engine import RefusalReason
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from tests.enforcement.support import EMSP, OTHER, T0, policy, setup, strikes

RATE = {"rate": 0.5, "within_days": 30, "min_reservations": 4}


async def test_above_the_rate_the_emsp_is_refused(store: DocumentStore) -> None:
    s = setup(store, policy(max_no_show_rate=RATE))
    await s.enforcement.record_used(EMSP)
    await s.enforcement.record_used(EMSP)
    await s.no_show("A")
    await s.no_show("B")
    assert await s.refusal("C") is None  # 2 of 4: at the rate, not above it
    await s.no_show("C")
    refusal = await s.refusal("D")
    assert refusal is not None and refusal.reason is RefusalReason.NO_SHOW_RATE
    assert refusal.message == (
        "eMSP DE-EMS: 3 of the 5 reservations and bookings ended in the last 30 days were "
        "no-shows (60%), more than the 50% allowed")
    assert s.seen.refused == [refusal]
    assert await s.refusal("D", partner=OTHER) is None
    await s.enforcement.record_used(EMSP)
    assert await s.refusal("D") is None  # 3 of 6


async def test_below_the_minimum_count_there_is_no_rate(store: DocumentStore) -> None:
    s = setup(store, policy(max_no_show_rate=RATE))
    for token in "ABC":
        await s.no_show(token)
    assert await s.refusal() is None  # 3 of 3, but fewer than 4 ended
    await s.no_show("D")
    assert await s.refusal() is not None


async def test_the_rate_forgets_what_ended_before_its_window(store: DocumentStore) -> None:
    s = setup(store, policy(max_no_show_rate={**RATE, "within_days": 3}))
    for token in "ABCD":
        await s.no_show(token)
    s.clock.advance(days=3)
    assert await s.refusal() is not None  # counted per UTC day: three days back still in
    s.clock.advance(days=1)
    assert await s.refusal() is None
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 30)
    assert (counts.ended, counts.no_shows) == (4, 4)


async def test_a_partner_override_sets_its_own_rate(store: DocumentStore) -> None:
    s = setup(store, policy(max_no_show_rate=RATE,
                            partners={"DE-EMS": {"max_no_show_rate": {"rate": 0.8}}}))
    for partner in (EMSP, OTHER):
        for token in "ABCD":
            await s.no_show(token, partner=partner)
        await s.enforcement.record_used(partner)
    assert await s.refusal() is None  # 80 %: at its own rate
    assert await s.refusal(partner=OTHER) is not None  # the default 50 %
    await s.no_show("E")
    refusal = await s.refusal()
    assert refusal is not None and "more than the 80% allowed" in refusal.message


def _reservation(state: ReservationState, *, token: str = "TOKEN1") -> Reservation:
    return Reservation(key="DE-EMS/R1", country_code="DE", party_id="EMS", reservation_id="R1",
                       location_id="LOC1", token_uid=token, token_type="RFID",
                       expiry=T0 + timedelta(minutes=30), state=state, evse_uid="E7",
                       created_at=T0)


async def test_an_expired_held_reservation_is_a_no_show(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2)))
    listen = s.enforcement.on_reservation
    await listen(_reservation(ReservationState.EXPIRED), ReservationState.ACTIVE)
    await listen(_reservation(ReservationState.EXPIRED), ReservationState.ACTIVE)  # same one
    [record] = s.seen.no_shows
    assert (record.kind, record.partner, record.token_uid, record.reference,
            record.location_id, record.evse_uid, record.reserved_at, record.expired_at,
            record.recorded_at) == (
        UnusedKind.RESERVATION, EMSP, "TOKEN1", "R1", "LOC1", "E7", T0,
        T0 + timedelta(minutes=30), s.clock())
    rerouted = _reservation(ReservationState.EXPIRED, token="TOKEN1")
    await listen(Reservation(**{**_fields(rerouted), "key": "DE-EMS/R2",
                                "reservation_id": "R2"}), ReservationState.REROUTED)
    assert len(s.seen.no_shows) == 2 and len(s.seen.banned) == 1


def _fields(r: Reservation) -> dict[str, object]:
    return {name: getattr(r, name) for name in Reservation.__dataclass_fields__}


async def test_other_ends_are_no_no_shows(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    listen = s.enforcement.on_reservation
    # Never confirmed by a charger: not the driver's doing.
    await listen(_reservation(ReservationState.EXPIRED), ReservationState.PENDING)
    for state in (ReservationState.CANCELLED, ReservationState.REMOVED,
                  ReservationState.FAILED, ReservationState.ACTIVE):
        await listen(_reservation(state), ReservationState.ACTIVE)
    assert s.seen.no_shows == [] and s.seen.banned == []
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (0, 0)
    await listen(_reservation(ReservationState.USED), ReservationState.ACTIVE)
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (1, 0)


async def test_a_booking_no_show_counts_like_a_reservation(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=2)))
    await s.no_show(kind=UnusedKind.BOOKING)
    await s.no_show(kind=UnusedKind.RESERVATION)
    [ban] = s.seen.banned
    assert [n.kind for n in s.seen.no_shows] == [UnusedKind.BOOKING, UnusedKind.RESERVATION]
    assert ban.no_shows[0].startswith("booking:DE-EMS/R1@")


def _booking(state: str, previous: str = "RESERVED", *,
             tokens: tuple[str, ...] = ("CARD-1", "CARD-2")) -> BookingTransitioned:
    return BookingTransitioned(
        booking_key="DE-EMS/B1", booking_id="B1", request_id="Q1", country_code="DE",
        party_id="EMS", location_id="LOC1", previous=previous, state=state, reason="r",
        start=T0, end=T0 + timedelta(hours=1), authorization_reference="AUTH",
        token_uids=tokens, evse_uid="E2", timestamp=T0 + timedelta(minutes=15))


async def test_a_booking_ending_no_show_strikes_each_of_its_tokens(
        store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    await s.enforcement.on_booking(_booking("NO_SHOW"))
    await s.enforcement.on_booking(_booking("NO_SHOW"))  # heard twice
    await s.enforcement.on_booking(_booking("NO_SHOW", "NO_SHOW"))  # a change, no new end
    assert [(n.kind, n.token_uid, n.reference, n.reserved_at, n.expired_at, n.evse_uid)
            for n in s.seen.no_shows] == [
        (UnusedKind.BOOKING, card, "B1", T0, T0 + timedelta(minutes=15), "E2")
        for card in ("CARD-1", "CARD-2")]
    assert sorted(b.token_uid for b in s.seen.banned) == ["CARD-1", "CARD-2"]
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (1, 1)  # one booking for the eMSP's rate


async def test_a_booking_without_tokens_is_the_emsps_no_show_only(
        store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    await s.enforcement.on_booking(_booking("NO_SHOW", tokens=()))
    assert len(s.seen.no_shows) == 1 and s.seen.banned == []
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (1, 1)


async def test_a_fulfilled_booking_counts_as_ended(store: DocumentStore) -> None:
    s = setup(store, policy(no_show_strikes=strikes(count=1)))
    await s.enforcement.on_booking(_booking("FULFILLED"))
    await s.enforcement.on_booking(_booking("FULFILLED", "FULFILLED"))
    for state in ("CANCELED", "RESERVED", "REJECTED"):
        await s.enforcement.on_booking(_booking(state))
    assert s.seen.no_shows == []
    counts = await s.enforcement.counts.window(EMSP, s.clock(), 1)
    assert (counts.ended, counts.no_shows) == (1, 0)
