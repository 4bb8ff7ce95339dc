"""The reservation records (reservation_policy/records.py) on every DocumentStore backend: what
a record stores and reads back, its state machine, its compare-and-sets when another writer
won, and the queries of recovery, the partner cap and the expiry clock."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.records import (
    COLLECTION,
    LIVE_STATES,
    ChargerTarget,
    Reservation,
    ReservationRepository,
    ReservationState,
    TransitionError,
    booked_reservation_id,
    reservation_key,
)

EMSP = Partner("nl", "exa")
OTHER = Partner("DE", "OTH")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S = ReservationState


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def record(reservation_id: str = "R1", *, partner: Partner = EMSP,
           state: ReservationState = S.PENDING, expiry: datetime = T0 + timedelta(hours=1),
           **fields: object) -> Reservation:
    values: dict[str, object] = {"location_id": "LOC1", "token_uid": "TOK1", **fields}
    return Reservation(key=reservation_key(partner, reservation_id),  # type: ignore[arg-type]
                       country_code=partner.country_code, party_id=partner.party_id,
                       reservation_id=reservation_id, token_type="RFID", expiry=expiry,
                       state=state, **values)


def target(**fields: object) -> ChargerTarget:
    values: dict[str, object] = {"location_id": "LOC1", "evse_uid": "EVSE-2",
                                 "charge_point_id": "CP1", "ocpp_reservation_id": 7,
                                 "sent_at": T0 + timedelta(seconds=5), **fields}
    return ChargerTarget(**values)  # type: ignore[arg-type]


def test_keys_ignore_the_case_of_the_id_and_of_the_partner() -> None:
    assert reservation_key(EMSP, "ab-1") == "NL-EXA/AB-1"
    assert reservation_key(Partner("NL", "EXA"), "AB-1") == reservation_key(EMSP, "ab-1")
    assert booked_reservation_id("B7") == "\u00a7BOOKING/B7"


def test_a_record_s_defaults_and_derived_values() -> None:
    r = record()
    assert (r.requested_evse_uid, r.evse_uid, r.attempt, r.cap_slot, r.booking_key) == (
        None, None, None, None, None)
    assert r.whole_charger is False and r.version == 0 and r.history == ()
    assert r.grace_seconds == 0.0 and r.ends_at == r.expiry
    assert replace(r, grace_seconds=90.0).ends_at == r.expiry + timedelta(seconds=90)
    assert r.partner == Partner(EMSP.country_code, EMSP.party_id)
    assert r.live and r.unsettled  # PENDING: never became active
    active = replace(r, state=S.ACTIVE)
    assert active.live and not active.unsettled
    assert replace(active, attempt=target()).unsettled
    for state in S:
        assert replace(r, state=state).live is (state in LIVE_STATES)
    assert LIVE_STATES == {S.PENDING, S.ACTIVE, S.REROUTED}
    assert replace(r, evse_uid="E1", charge_point_id="CP1", ocpp_reservation_id=3).ids == {
        "reservation_key": "NL-EXA/R1", "location_id": "LOC1", "evse_uid": "E1",
        "charge_point_id": "CP1", "ocpp_reservation_id": 3}
    t = target()
    assert (t.evse_id, t.connector_id, t.whole_charger) == (None, None, False)


def test_the_document_carries_the_query_fields_and_reads_back() -> None:
    r = record(state=S.ACTIVE, grace_seconds=60.0, attempt=target(evse_id=2, connector_id=1),
               created_at=T0, updated_at=T0 + timedelta(seconds=1),
               history=({"to": "PENDING"},))
    doc = r.to_doc()
    # Plain data only: a backend may hold no enum (the state is a str, not the StrEnum).
    assert type(doc["state"]) is str and doc["state"] == "ACTIVE"
    assert doc["live"] is True and doc["unsettled"] is True
    assert doc["expiry"] == (T0 + timedelta(hours=1)).isoformat()
    assert doc["expiry_ts"] == (T0 + timedelta(hours=1, seconds=60)).timestamp()
    assert doc["created_at"] == T0.isoformat() and doc["created_ts"] == T0.timestamp()
    assert doc["updated_at"] == (T0 + timedelta(seconds=1)).isoformat()
    assert doc["history"] == [{"to": "PENDING"}] and doc["partner_key"] == "NL-EXA"
    assert doc["attempt"]["sent_at"] == (T0 + timedelta(seconds=5)).isoformat()
    assert doc["attempt"]["evse_uid"] == "EVSE-2" and doc["attempt"]["evse_id"] == 2
    back = Reservation.from_doc({**doc, "a_field_of_a_later_version": 1})
    assert back == r and back.state is S.ACTIVE
    assert Reservation.from_doc(replace(r, attempt=None).to_doc()).attempt is None
    no_history = {k: v for k, v in record().to_doc().items() if k != "history"}
    assert Reservation.from_doc(no_history).history == ()
    assert ChargerTarget.from_doc({**target().to_doc(), "extra": 1}) == target()


@pytest.mark.parametrize(("start", "allowed"), [
    (S.PENDING, set(S)),
    (S.ACTIVE, set(S) - {S.FAILED}),
    (S.REROUTED, set(S) - {S.FAILED}),
    *[(ended, set()) for ended in S if ended not in LIVE_STATES],
])
async def test_the_state_machine(store: DocumentStore, start: ReservationState,
                                 allowed: set[ReservationState]) -> None:
    repo = ReservationRepository(store, clock=Clock())
    for n, state in enumerate(S):
        fresh = await repo.start(record(f"R{n}", state=start), None)
        assert fresh is not None
        if state in allowed:
            moved = await repo.transition(fresh, state, reason="test")
            assert moved is not None and moved.state is state
        else:
            with pytest.raises(TransitionError, match=f"{start.value} -> {state.value}"):
                await repo.transition(fresh, state, reason="test")
            assert await repo.get(fresh.key) == fresh


async def test_a_rerouted_reservation_ends_like_an_active_one(store: DocumentStore) -> None:
    repo = ReservationRepository(store, clock=Clock())
    moved = await repo.start(record(state=S.REROUTED), None)
    assert moved is not None
    with pytest.raises(TransitionError):
        await repo.transition(moved, S.FAILED, reason="never active")
    used = await repo.transition(moved, S.USED, reason="transaction")
    assert used is not None and used.state is S.USED


async def test_start_stamps_the_record_and_writes_its_first_entry(store: DocumentStore) -> None:
    clock = Clock()
    repo = ReservationRepository(store, clock=clock)
    clock.advance(30)
    fresh = await repo.start(record(version=5, created_at=T0, updated_at=T0,
                                    evse_uid="E1", charge_point_id="CP1",
                                    ocpp_reservation_id=4), None)
    assert fresh is not None
    assert fresh.version == 0
    assert fresh.created_at == fresh.updated_at == T0 + timedelta(seconds=30)
    assert fresh.history == ({"at": (T0 + timedelta(seconds=30)).isoformat(), "from": None,
                              "to": "PENDING", "reason": "created", "evse_uid": "E1",
                              "charge_point_id": "CP1", "ocpp_reservation_id": 4},)
    assert await repo.get(fresh.key) == fresh
    assert await repo.get("NL-EXA/NONE") is None
    # The same key started again without its previous record: the first one stays.
    assert await repo.start(record(token_uid="OTHER"), None) is None
    assert await repo.get(fresh.key) == fresh


async def test_start_over_an_ended_record_is_a_compare_and_set(store: DocumentStore) -> None:
    clock = Clock()
    repo = ReservationRepository(store, clock=clock)
    first = await repo.start(record(), None)
    assert first is not None
    ended = await repo.transition(first, S.EXPIRED, reason="expired")
    assert ended is not None and ended.version == 1
    clock.advance(60)
    again = await repo.start(record(token_uid="TOK2"), ended)
    assert again is not None
    assert again.version == 2 and again.token_uid == "TOK2" and again.state is S.PENDING
    assert [e["reason"] for e in again.history] == ["created"]
    assert again.created_at == T0 + timedelta(seconds=60)
    # A writer that read the ended record before this one started loses.
    assert await repo.start(record(token_uid="TOK3"), ended) is None
    assert await repo.get(again.key) == again


async def test_a_transition_records_what_changed(store: DocumentStore) -> None:
    clock = Clock()
    repo = ReservationRepository(store, clock=clock)
    fresh = await repo.start(record(), None)
    assert fresh is not None
    clock.advance(10)
    sent = target()
    moved = await repo.transition(fresh, S.PENDING, reason="sending", evse_uid="EVSE-1",
                                  attempt=sent)
    assert moved is not None
    assert moved.version == 1 and moved.updated_at == T0 + timedelta(seconds=10)
    assert moved.created_at == fresh.created_at and moved.evse_uid == "EVSE-1"
    assert moved.history[-1] == {
        "at": (T0 + timedelta(seconds=10)).isoformat(), "from": "PENDING", "to": "PENDING",
        "reason": "sending", "evse_uid": "EVSE-1", "charge_point_id": None,
        "ocpp_reservation_id": None,
        "attempt": {"charge_point_id": "CP1", "evse_uid": "EVSE-2", "ocpp_reservation_id": 7}}
    assert len(moved.history) == 2
    assert await repo.get(fresh.key) == moved
    # The first record read, moved meanwhile by another writer: the transition is lost.
    assert await repo.transition(fresh, S.CANCELLED, reason="late") is None
    assert await repo.get(fresh.key) == moved


async def test_settling_an_attempt_keeps_the_state(store: DocumentStore) -> None:
    clock = Clock()
    repo = ReservationRepository(store, clock=clock)
    fresh = await repo.start(record(state=S.ACTIVE, attempt=target()), None)
    assert fresh is not None and fresh.unsettled
    clock.advance(5)
    settled = await repo.settle_attempt(fresh, reason="withdrawn")
    assert settled is not None
    assert settled.attempt is None and settled.state is S.ACTIVE and not settled.unsettled
    assert settled.version == 1 and settled.updated_at == T0 + timedelta(seconds=5)
    assert settled.history[-1]["from"] == "ACTIVE" and settled.history[-1]["to"] == "ACTIVE"
    assert settled.history[-1]["reason"] == "withdrawn"
    assert "attempt" not in settled.history[-1]
    assert await repo.get(fresh.key) == settled
    assert await repo.settle_attempt(fresh, reason="again") is None
    assert await repo.unsettled() == []


async def test_what_recovery_finds(store: DocumentStore) -> None:
    repo = ReservationRepository(store, clock=Clock())
    pending = await repo.start(record("P"), None)
    in_flight = await repo.start(record("F", state=S.ACTIVE, attempt=target()), None)
    active = await repo.start(record("A", state=S.ACTIVE), None)
    assert pending and in_flight and active
    # Written by a version before the ``unsettled`` field: live PENDING ones only.
    old = {k: v for k, v in record("OLD").to_doc().items() if k != "unsettled"}
    old_active = {k: v for k, v in record("OLDA", state=S.ACTIVE).to_doc().items()
                  if k != "unsettled"}
    assert await store.insert(COLLECTION, old["key"], old)
    assert await store.insert(COLLECTION, old_active["key"], old_active)
    keys = sorted(r.key for r in await repo.unsettled())
    assert keys == sorted([pending.key, in_flight.key])
    with_old = [r.key for r in await repo.unsettled(written_before_the_field=True)]
    assert sorted(with_old) == sorted([pending.key, in_flight.key, old["key"]])
    assert len(with_old) == len(set(with_old))  # the PENDING one is not listed twice


async def test_live_records_and_the_count_per_partner(store: DocumentStore) -> None:
    repo = ReservationRepository(store, clock=Clock())
    ids = itertools.count()
    for partner, state in [(EMSP, S.PENDING), (EMSP, S.ACTIVE), (EMSP, S.REROUTED),
                           (OTHER, S.ACTIVE), (EMSP, S.USED)]:
        r = await repo.start(record(f"R{next(ids)}", partner=partner, state=state,
                                    location_id="LOC2" if state is S.ACTIVE else "LOC1"),
                             None)
        assert r is not None
    assert await repo.count_live(EMSP) == 3
    assert await repo.count_live(OTHER) == 1
    assert await repo.count_live(Partner("FR", "NON")) == 0
    assert len(await repo.live()) == 4
    assert sorted(r.reservation_id for r in await repo.live(location_id="LOC2")) == [
        "R1", "R3"]


async def test_due_records_are_those_whose_grace_has_passed(store: DocumentStore) -> None:
    repo = ReservationRepository(store, clock=Clock())
    now = T0 + timedelta(hours=2)
    rows = [("LATE", now - timedelta(minutes=10), 0.0),
            ("EXACT", now, 0.0),
            ("IN_GRACE", now - timedelta(minutes=1), 120.0),
            ("GRACE_OVER", now - timedelta(minutes=30), 60.0),
            ("FUTURE", now + timedelta(seconds=1), 0.0)]
    for name, expiry, grace in rows:
        assert await repo.start(record(name, expiry=expiry, grace_seconds=grace), None)
    ended = await repo.start(record("ENDED", expiry=now - timedelta(hours=1)), None)
    assert ended is not None and await repo.transition(ended, S.EXPIRED, reason="x")
    assert [r.reservation_id for r in await repo.due(now)] == ["GRACE_OVER", "LATE", "EXACT"]
    assert [r.reservation_id for r in await repo.due(now, limit=2)] == ["GRACE_OVER", "LATE"]


async def test_walking_the_due_records_page_by_page(store: DocumentStore) -> None:
    repo = ReservationRepository(store, clock=Clock())
    now = T0 + timedelta(hours=2)
    assert [page async for page in repo.walk_due(now, 2)] == []
    assert await repo.due(now) == []
    for n in range(5):
        assert await repo.start(record(f"D{n}", expiry=now - timedelta(minutes=10 - n)), None)
    assert await repo.start(record("FUTURE", expiry=now + timedelta(seconds=1)), None)
    pages: list[list[str]] = []
    async for page in repo.walk_due(now, 2):
        pages.append([r.reservation_id for r in page])
        if len(pages) == 1:
            # Ending what was read does not shift the next page; one left live (another
            # writer won its end) stays out of the next pages too.
            assert await repo.transition(page[0], S.EXPIRED, reason="x")
    assert pages == [["D0", "D1"], ["D2", "D3"], ["D4"]]
    assert [r.reservation_id for r in await repo.due(now, limit=3)] == ["D1", "D2", "D3"]
