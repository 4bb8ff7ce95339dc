"""The session tracker on its own (a real SQLite store, the operator's catalogs, the chargers'
events as the OCPP adapter publishes them, a clock the test moves): how reservations,
START_SESSION and transactions become one session each, and the readings it keeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from ocpi_gateway.domain.events import (
    ChargingStateChanged,
    ConnectorStatus,
    ConnectorStatusChanged,
    MeterValueReported,
    TransactionEnded,
    TransactionStarted,
)
from ocpi_gateway.domain.ids import ocpp16_id_tag
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.locations.catalog import LocationsCatalog, parse_locations
from ocpi_gateway.sessions.changes import HoldInfo, token_matches
from ocpi_gateway.sessions.models import (
    NOT_AVAILABLE,
    AuthMethod,
    HoldEnd,
    MeterReading,
    Session,
    SessionStatus,
    SessionToken,
)
from ocpi_gateway.sessions.places import Places
from ocpi_gateway.sessions.repository import SessionRepository
from ocpi_gateway.sessions.tracker import (
    PENDING_TIMEOUT,
    REMOTE_START_WINDOW,
    USED_WITHOUT_TRANSACTION,
    SessionTracker,
)
from ocpi_gateway.store import open_store
from ocpi_gateway.tariffs.catalog import TariffsCatalog, parse_tariffs
from tests.commands.support import CP16, CP201
from tests.sessions.support import priced_locations, tariffs_doc

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TOKEN = SessionToken(country_code="DE", party_id="EMS", uid="DEEMS0001", type="RFID",
                     contract_id="DE-EMS-C00000001-X")


@dataclass
class Harness:
    tracker: SessionTracker
    now: list[datetime]
    owners: dict[str, list[SessionToken]] = field(default_factory=dict)
    changes: list[tuple[Session, Session | None]] = field(default_factory=list)

    def advance(self, **delta: float) -> datetime:
        self.now[0] += timedelta(**delta)
        return self.now[0]

    @property
    def at(self) -> datetime:
        return self.now[0]

    async def only(self) -> Session:
        sessions = [s for s, _ in self.changes]
        ids = {s.id for s in sessions}
        assert len(ids) == 1, ids
        found = await self.tracker.get(ids.pop())
        assert found is not None
        return found


def places() -> Places:
    locations = LocationsCatalog(parse_locations(priced_locations()))
    tariffs = TariffsCatalog(parse_tariffs(tariffs_doc()), party=("NL", "EXA"), modified=T0)
    return Places(lambda: locations, lambda: tariffs)


async def make(tmp_path: Path, name: str = "g.db") -> tuple[Harness, DocumentStore]:
    store = await open_store(f"sqlite:///{tmp_path / name}")
    now = [T0]
    owners: dict[str, list[SessionToken]] = {}

    async def token_owners(id_token: str) -> list[SessionToken]:
        return owners.get(id_token.upper(), [])

    tracker = SessionTracker(SessionRepository(store), places(), token_owners=token_owners,
                             clock=lambda: now[0])
    harness = Harness(tracker, now, owners)

    async def listener(session: Session, previous: Session | None) -> None:
        harness.changes.append((session, previous))

    tracker.add_listener(listener)
    return harness, store


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    harness, store = await make(tmp_path)
    yield harness
    await store.close()


def started(h: Harness, *, cp: str = CP16, tx: str = "1", connector: int | None = 1,
            evse: int | None = None, token: str | None = "DEEMS0001",
            reservation_id: int | None = None, meter: float | None = 0.0) -> TransactionStarted:
    return TransactionStarted(charge_point_id=cp, transaction_id=tx, evse_id=evse,
                              connector_id=connector, id_token=token,
                              reservation_id=reservation_id, meter_start_wh=meter,
                              timestamp=h.at)


def reading(h: Harness, wh: float, *, cp: str = CP16, tx: str | None = "1",
            connector: int | None = 1, evse: int | None = None) -> MeterValueReported:
    return MeterValueReported(charge_point_id=cp, transaction_id=tx, evse_id=evse,
                              connector_id=connector, energy_wh=wh, timestamp=h.at)


def hold(key: str = "DE-EMS/R1", *, evse_uid: str | None = "E1", cp: str = CP16,
         ocpp_id: int = 7, **more: object) -> HoldInfo:
    return HoldInfo(key=key, token=TOKEN, location_id="LOC-1", evse_uid=evse_uid,
                    charge_point_id=cp, ocpp_reservation_id=ocpp_id,
                    expiry=T0 + timedelta(minutes=30), **more)  # type: ignore[arg-type]


# ---------------------------------------------------------------- reservations


async def test_a_live_reservation_is_a_reservation_session(h: Harness) -> None:
    made = await h.tracker.hold_live(hold(authorization_reference="AR", free_cancellation=
                                          timedelta(minutes=5)))
    assert made is not None
    assert (made.status, made.evse_uid, made.connector_id) == (SessionStatus.RESERVATION,
                                                               "E1", "1")
    assert made.auth_method is AuthMethod.COMMAND and made.authorization_reference == "AR"
    assert made.hold is not None and made.hold.start == T0
    assert made.hold.free_until == T0 + timedelta(minutes=5)
    assert made.hold.expiry == T0 + timedelta(minutes=30)
    assert (made.tariff is not None and made.tariff.id, made.currency) == ("T1", "EUR")
    assert h.changes == [(made, None)]


async def test_a_whole_charger_reservation_has_no_evse_until_its_transaction(
        h: Harness) -> None:
    made = await h.tracker.hold_live(hold(evse_uid=None))
    assert made is not None
    assert (made.evse_uid, made.connector_id) == (NOT_AVAILABLE, NOT_AVAILABLE)
    assert made.cdr_location is not None and made.cdr_location.evse_id == NOT_AVAILABLE
    h.advance(minutes=3)
    await h.tracker.on_event(started(h, connector=2, reservation_id=7))
    bound = await h.only()
    assert (bound.status, bound.evse_uid, bound.connector_id) == (SessionStatus.ACTIVE,
                                                                  "E2", "1")
    assert bound.cdr_location is not None and bound.cdr_location.evse_uid == "E2"
    assert bound.hold is not None and bound.hold.ended is HoldEnd.USED
    assert bound.hold.end == T0 + timedelta(minutes=3)
    assert bound.start_date_time == h.at and bound.transaction_id == "1"


async def test_a_moved_reservation_keeps_its_session(h: Harness) -> None:
    made = await h.tracker.hold_live(hold())
    h.advance(minutes=1)
    moved = await h.tracker.hold_live(hold(evse_uid="E3", cp=CP201, ocpp_id=9))
    assert moved is not None and made is not None and moved.id == made.id
    assert (moved.evse_uid, moved.charge_point_id) == ("E3", CP201)
    assert moved.hold is not None and moved.hold.ocpp_reservation_id == 9
    assert moved.hold.charge_point_id == CP201
    assert moved.hold.start == T0  # the reservation began when it began
    assert moved.last_updated == h.at


async def test_an_unknown_location_makes_no_session(h: Harness) -> None:
    info = HoldInfo(key="K", token=TOKEN, location_id="NOWHERE")
    assert await h.tracker.hold_live(info) is None
    assert h.changes == []


async def test_an_expired_reservation_completes_at_its_expiry(h: Harness) -> None:
    made = await h.tracker.hold_live(hold())
    h.advance(minutes=31)
    done = await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.EXPIRED)
    assert made is not None and done is not None and done.id == made.id
    assert done.status is SessionStatus.COMPLETED
    assert done.end_date_time == T0 + timedelta(minutes=30)
    assert done.hold is not None and done.hold.end == T0 + timedelta(minutes=30)
    # Ended again: nothing changes.
    assert await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.CANCELLED) is None


async def test_a_cancelled_reservation_completes_when_cancelled(h: Harness) -> None:
    await h.tracker.hold_live(hold())
    h.advance(minutes=4)
    done = await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.CANCELLED)
    assert done is not None and done.end_date_time == h.at
    assert done.hold is not None and done.hold.ended is HoldEnd.CANCELLED
    assert await h.tracker.hold_ended("DE-EMS/OTHER", HoldEnd.CANCELLED) is None


async def test_an_end_before_the_start_is_the_start(h: Harness) -> None:
    await h.tracker.hold_live(hold())
    done = await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.CANCELLED,
                                      at=T0 - timedelta(minutes=1))
    assert done is not None and done.end_date_time == T0


async def test_a_used_reservation_waits_for_its_transaction(h: Harness) -> None:
    await h.tracker.hold_live(hold())
    h.advance(minutes=2)
    used = await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.USED)
    assert used is not None and used.status is SessionStatus.RESERVATION
    assert used.hold is not None and used.hold.end == h.at
    h.advance(minutes=1)
    # The transaction names the token only (no reservation id).
    await h.tracker.on_event(started(h, token="deems0001"))
    bound = await h.only()
    assert bound.status is SessionStatus.ACTIVE
    assert bound.hold is not None and bound.hold.end == T0 + timedelta(minutes=2)


async def test_a_reservation_id_names_its_session_before_a_token(h: Harness) -> None:
    other = SessionToken(country_code="DE", party_id="EMS", uid="OTHER", type="RFID",
                         contract_id="C2")
    first = await h.tracker.hold_live(hold())
    second = await h.tracker.hold_live(HoldInfo(
        key="DE-EMS/R2", token=other, location_id="LOC-1", evse_uid="E2",
        charge_point_id=CP16, ocpp_reservation_id=8))
    await h.tracker.on_event(started(h, connector=2, token="DEEMS0001", reservation_id=8))
    assert second is not None and first is not None
    bound = await h.tracker.get(second.id)
    assert bound is not None and bound.status is SessionStatus.ACTIVE
    still = await h.tracker.get(first.id)
    assert still is not None and still.status is SessionStatus.RESERVATION


async def test_a_key_used_again_after_its_end_is_a_new_session(h: Harness) -> None:
    first = await h.tracker.hold_live(hold())
    await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.CANCELLED)
    h.advance(minutes=1)
    second = await h.tracker.hold_live(hold())
    assert first is not None and second is not None and second.id != first.id
    assert second.status is SessionStatus.RESERVATION


# ---------------------------------------------------------------- START_SESSION


async def test_a_remote_start_is_pending_then_active(h: Harness) -> None:
    sid = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1",
                                              authorization_reference="AR")
    pending = await h.tracker.remote_start_accepted(sid, CP16, TOKEN, location_id="LOC-1",
                                                    evse_uid="E1", connector_id="1",
                                                    authorization_reference="AR")
    assert pending is not None and pending.id == sid
    assert (pending.status, pending.evse_uid, pending.connector_id) == (
        SessionStatus.PENDING, "E1", "1")
    assert pending.charge_point_id == CP16 and pending.authorization_reference == "AR"
    h.advance(minutes=1)
    await h.tracker.on_event(started(h))
    active = await h.only()
    assert active.status is SessionStatus.ACTIVE and active.start_date_time == h.at
    assert active.auth_method is AuthMethod.COMMAND and active.token == TOKEN


async def test_a_transaction_before_the_result_is_the_commanded_session(h: Harness) -> None:
    sid = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                              evse_uid=None, connector_id=None)
    await h.tracker.on_event(started(h, connector=2))
    active = await h.only()
    assert (active.id, active.status, active.evse_uid) == (sid, SessionStatus.ACTIVE, "E2")
    assert active.auth_method is AuthMethod.COMMAND
    # The CommandResult's follow-up: told again, not made twice.
    again = await h.tracker.remote_start_accepted(sid, CP16, TOKEN, location_id="LOC-1",
                                                  evse_uid=None, connector_id=None)
    assert again == active
    assert [s.id for s, _ in h.changes] == [sid, sid]


async def test_a_long_uid_is_matched_by_its_16_digest(h: Harness) -> None:
    long = TOKEN.model_copy(update={"uid": "X" * 30})
    sid = await h.tracker.expect_remote_start(CP16, long, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1")
    await h.tracker.on_event(started(h, token=ocpp16_id_tag("X" * 30)))
    assert (await h.only()).id == sid
    assert token_matches(long, ocpp16_id_tag("X" * 30).lower())
    assert token_matches(long, "x" * 30) and not token_matches(long, "Y" * 30)
    assert not token_matches(None, "X")


async def test_a_remote_start_expires_after_its_window(h: Harness) -> None:
    sid = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1")
    h.advance(seconds=REMOTE_START_WINDOW.total_seconds() + 1)
    await h.tracker.on_event(started(h))
    session = await h.only()
    assert session.id != sid and session.auth_method is AuthMethod.WHITELIST
    assert session.token is None  # nobody told us who owns the token


async def test_a_pending_session_without_a_car_is_invalid_after_its_timeout(
        h: Harness) -> None:
    sid = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1")
    await h.tracker.remote_start_accepted(sid, CP16, TOKEN, location_id="LOC-1",
                                          evse_uid="E1", connector_id="1")
    h.advance(seconds=PENDING_TIMEOUT.total_seconds() - 1)
    assert await h.tracker.sweep() == 0
    h.advance(seconds=1)
    assert await h.tracker.sweep() == 1
    ended = await h.only()
    assert ended.status is SessionStatus.INVALID and ended.end_date_time == h.at
    assert await h.tracker.sweep() == 0


async def test_a_used_reservation_without_a_transaction_completes_after_a_while(
        h: Harness) -> None:
    await h.tracker.hold_live(hold())
    await h.tracker.hold_live(hold("DE-EMS/R2", evse_uid="E2", ocpp_id=8))
    h.advance(minutes=1)
    await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.USED)
    used_at = h.at
    h.advance(seconds=USED_WITHOUT_TRANSACTION.total_seconds() - 1)
    assert await h.tracker.sweep() == 0
    h.advance(seconds=1)
    assert await h.tracker.sweep() == 1
    done = await h.tracker.repo.by_hold("DE-EMS/R1")
    assert done is not None and done.status is SessionStatus.COMPLETED
    assert done.end_date_time == used_at
    live = await h.tracker.repo.by_hold("DE-EMS/R2")
    assert live is not None and live.status is SessionStatus.RESERVATION


# ---------------------------------------------------------------- transactions


async def test_a_walk_in_is_the_session_of_the_tokens_emsp(h: Harness) -> None:
    h.owners["DEEMS0001"] = [TOKEN]
    await h.tracker.on_event(started(h, meter=1500.0))
    session = await h.only()
    assert (session.status, session.token, session.auth_method) == (
        SessionStatus.ACTIVE, TOKEN, AuthMethod.WHITELIST)
    assert session.readings == (MeterReading(at=T0, wh=Decimal("1500.0")),)
    assert session.id_token == "DEEMS0001" and session.ocpp_connector_id == 1
    # 2.0.1 repeats its transaction id: no second session.
    await h.tracker.on_event(started(h, meter=1500.0))
    assert len(h.changes) == 1


async def test_a_transaction_at_an_unknown_connector_is_no_session(h: Harness) -> None:
    await h.tracker.on_event(started(h, connector=9))
    assert h.changes == []


async def test_readings_follow_the_transaction_and_its_end(h: Harness) -> None:
    await h.tracker.on_event(started(h, meter=None))
    h.advance(minutes=10)
    await h.tracker.on_event(reading(h, 500.0))  # the register at the start, unknown before
    h.advance(minutes=10)
    await h.tracker.on_event(reading(h, 2500.0))
    await h.tracker.on_event(reading(h, 2600.0))  # the same moment again: left out
    h.advance(minutes=-5)
    await h.tracker.on_event(reading(h, 2000.0))  # an older one: left out
    h.advance(minutes=15)
    await h.tracker.on_event(TransactionEnded(charge_point_id=CP16, transaction_id="1",
                                              meter_stop_wh=4500.0, timestamp=h.at))
    done = await h.only()
    assert [(r.at - T0, r.wh) for r in done.readings] == [
        (timedelta(0), Decimal("500.0")), (timedelta(minutes=10), Decimal("500.0")),
        (timedelta(minutes=20), Decimal("2500.0")), (timedelta(minutes=30), Decimal("4500.0"))]
    assert done.status is SessionStatus.COMPLETED and done.end_date_time == h.at
    # Nothing more once completed.
    await h.tracker.on_event(reading(h, 9000.0))
    assert (await h.only()).readings == done.readings


async def test_a_first_reading_at_the_start_only_sets_the_start(h: Harness) -> None:
    await h.tracker.on_event(started(h, meter=None))
    await h.tracker.on_event(reading(h, 700.0))
    assert (await h.only()).readings == (MeterReading(at=T0, wh=Decimal("700.0")),)


async def test_a_reading_without_a_transaction_finds_its_connector_or_evse(
        h: Harness) -> None:
    await h.tracker.on_event(started(h, connector=2, meter=0.0))
    await h.tracker.on_event(started(h, cp=CP201, tx="T2", connector=1, evse=1, meter=0.0))
    h.advance(minutes=5)
    await h.tracker.on_event(reading(h, 100.0, tx=None, connector=1))  # nobody's
    await h.tracker.on_event(reading(h, 200.0, tx=None, connector=2))
    await h.tracker.on_event(reading(h, 300.0, cp=CP201, tx=None, connector=None, evse=1))
    await h.tracker.on_event(reading(h, 400.0, cp=CP201, tx=None, connector=None, evse=2))
    s16 = await h.tracker.repo.by_transaction(CP16, "1")
    s201 = await h.tracker.repo.by_transaction(CP201, "T2")
    assert s16 is not None and [r.wh for r in s16.readings] == [0, 200]
    assert s201 is not None and [r.wh for r in s201.readings] == [0, 300]


async def test_an_end_without_a_stop_reading_keeps_the_last_reading(h: Harness) -> None:
    await h.tracker.on_event(started(h, meter=100.0))
    h.advance(minutes=20)
    await h.tracker.on_event(TransactionEnded(charge_point_id=CP16, transaction_id="1",
                                              timestamp=h.at))
    done = await h.only()
    assert [(r.at, r.wh) for r in done.readings] == [(T0, 100), (h.at, 100)]
    await h.tracker.on_event(TransactionEnded(charge_point_id=CP16, transaction_id="404",
                                              timestamp=h.at))
    assert len(h.changes) == 2


async def test_an_end_before_its_start_ends_at_the_start(h: Harness) -> None:
    await h.tracker.on_event(started(h, meter=None))
    await h.tracker.on_event(TransactionEnded(charge_point_id=CP16, transaction_id="1",
                                              meter_stop_wh=800.0,
                                              timestamp=T0 - timedelta(minutes=1)))
    done = await h.only()
    assert done.end_date_time == T0
    assert done.readings == (MeterReading(at=T0, wh=Decimal("800.0")),)


async def test_two_instances_changing_one_session_both_count(tmp_path: Path) -> None:
    one, store = await make(tmp_path)
    other = SessionTracker(SessionRepository(store), places(), token_owners=_none,
                           clock=lambda: one.at)
    try:
        await one.tracker.on_event(started(one, meter=0.0))
        session = await one.only()
        one.advance(minutes=5)
        await one.tracker.on_event(reading(one, 1000.0))
        # The other instance saw the session before that reading: its write must not lose it.
        one.advance(minutes=5)
        await other.on_event(TransactionEnded(charge_point_id=CP16, transaction_id="1",
                                              meter_stop_wh=2000.0, timestamp=one.at))
        done = await one.tracker.get(session.id)
        assert done is not None and [r.wh for r in done.readings] == [0, 1000, 2000]
        assert done.version == 2
    finally:
        await store.close()


async def _none(_id_token: str) -> list[SessionToken]:
    return []


# ---------------------------------------------------------------- charging states


async def test_the_ev_stopping_and_asking_again_are_kept_in_order(h: Harness) -> None:
    await h.tracker.on_event(started(h, cp=CP201, tx="T", connector=1, evse=1))
    h.advance(minutes=20)
    stop = ChargingStateChanged(charge_point_id=CP201, transaction_id="T", evse_id=1,
                                charging=False, timestamp=h.at)
    await h.tracker.on_event(stop)
    await h.tracker.on_event(stop)  # said again: nothing changes
    early = ChargingStateChanged(charge_point_id=CP201, transaction_id="T", evse_id=1,
                                 charging=True, timestamp=T0 + timedelta(minutes=10))
    await h.tracker.on_event(early)  # still charging then: nothing changes
    late = ChargingStateChanged(charge_point_id=CP201, transaction_id="T", evse_id=1,
                                charging=True, timestamp=h.at + timedelta(minutes=5))
    before = ChargingStateChanged(charge_point_id=CP201, transaction_id="T", evse_id=1,
                                  charging=False, timestamp=T0 - timedelta(minutes=1))
    await h.tracker.on_event(late)
    await h.tracker.on_event(before)  # before the session: ignored
    session = await h.only()
    assert [(s.at - T0, s.charging) for s in session.states] == [
        (timedelta(minutes=20), False), (timedelta(minutes=25), True)]
    assert len(h.changes) == 3  # started, stopped, asking again
    await h.tracker.on_event(ChargingStateChanged(
        charge_point_id=CP201, transaction_id="404", evse_id=1, charging=False,
        timestamp=h.at))
    assert len(h.changes) == 3


async def test_a_16_connector_says_it_with_its_status(h: Harness) -> None:
    await h.tracker.on_event(started(h, connector=2))
    h.advance(minutes=5)
    for connector, status in ((1, ConnectorStatus.SUSPENDED_EV),  # another connector
                              (2, ConnectorStatus.CHARGING),  # as it was
                              (2, ConnectorStatus.SUSPENDED_EV),
                              (2, ConnectorStatus.FINISHING)):  # says nothing of the EV
        await h.tracker.on_event(ConnectorStatusChanged(
            charge_point_id=CP16, evse_id=None, connector_id=connector, status=status,
            timestamp=h.at))
    h.advance(minutes=5)
    await h.tracker.on_event(ConnectorStatusChanged(
        charge_point_id=CP16, evse_id=None, connector_id=2,
        status=ConnectorStatus.SUSPENDED_EVSE, timestamp=h.at))
    session = await h.only()
    assert [(s.at - T0, s.charging) for s in session.states] == [
        (timedelta(minutes=5), False), (timedelta(minutes=10), True)]
    # A 2.0.1 status names an EVSE: its charging state comes with its transaction instead.
    await h.tracker.on_event(ConnectorStatusChanged(
        charge_point_id=CP16, evse_id=2, connector_id=2,
        status=ConnectorStatus.SUSPENDED_EV, timestamp=h.at))
    assert len((await h.only()).states) == 2


async def test_a_remote_start_on_ones_reservation_goes_on_in_its_session(h: Harness) -> None:
    reserved = await h.tracker.hold_live(hold())
    assert reserved is not None
    h.advance(minutes=5)
    sid = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1")
    assert sid == reserved.id
    told = await h.tracker.remote_start_accepted(sid, CP16, TOKEN, location_id="LOC-1",
                                                 evse_uid="E1", connector_id="1")
    assert told is not None and told.status is SessionStatus.RESERVATION  # no PENDING one
    h.advance(minutes=1)
    await h.tracker.on_event(started(h))  # no reservation id: the charger did not say
    bound = await h.only()
    assert bound.id == reserved.id and bound.status is SessionStatus.ACTIVE
    assert bound.hold is not None and bound.hold.ended is HoldEnd.USED
    assert bound.hold.end == h.at


async def test_someone_elses_reservation_is_not_theirs_to_start_on(h: Harness) -> None:
    reserved = await h.tracker.hold_live(hold())
    other = TOKEN.model_copy(update={"party_id": "OTH"})
    sid = await h.tracker.expect_remote_start(CP16, other, location_id="LOC-1",
                                              evse_uid="E1", connector_id="1")
    assert reserved is not None and sid != reserved.id
    ended = await h.tracker.hold_ended("DE-EMS/R1", HoldEnd.CANCELLED)
    assert ended is not None
    again = await h.tracker.expect_remote_start(CP16, TOKEN, location_id="LOC-1",
                                                evse_uid="E1", connector_id="1")
    assert again != reserved.id  # its reservation is over
