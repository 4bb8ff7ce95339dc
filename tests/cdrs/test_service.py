"""The CDR service on its own (a real SQLite store, a publisher that records): which session
changes make a CDR, once; what the unused-reservation listeners are told; credits, by hand
and on a charger's late report of a fault."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.cdrs.repository import CdrRepository
from ocpi_gateway.cdrs.service import BILLING_GRACE, CdrService, UnusedHold
from ocpi_gateway.domain.events import (
    ConnectorStatus,
    ConnectorStatusChanged,
    ReservationEnded,
    ReservationEndReason,
    TokenPresented,
)
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.metrics import REGISTRY
from ocpi_gateway.sessions.models import HoldEnd, Session, SessionStatus
from ocpi_gateway.sessions.repository import SessionRepository
from ocpi_gateway.store import open_store
from tests.sessions.factories import TARIFF, at, hold, session


@dataclass
class Publisher:
    sent: list[Cdr] = field(default_factory=list)
    receiver: bool = True

    async def send(self, cdr: Cdr) -> bool:
        self.sent.append(cdr)
        return self.receiver


@dataclass
class Rig:
    service: CdrService
    publisher: Publisher
    told: list[UnusedHold]
    now: list[object]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[DocumentStore]:
    opened = await open_store(f"sqlite:///{tmp_path / 'c.db'}")
    yield opened
    await opened.close()


@pytest.fixture
def rig(store: DocumentStore) -> Rig:
    publisher = Publisher()
    now = [at(60)]
    places = {("CP-1", None, 1): ("LOC-1", "E1"), ("CP-1", None, 2): ("LOC-1", "E2")}
    service = CdrService(CdrRepository(store), publisher, clock=lambda: now[0],  # type: ignore[arg-type, return-value]
                         evse_at=lambda cp, evse, connector: places.get((cp, evse, connector)))
    told: list[UnusedHold] = []

    async def listener(event: UnusedHold) -> None:
        told.append(event)

    service.add_unused_listener(listener)
    return Rig(service, publisher, told, now)


def no_show(**changes: object) -> Session:
    fields: dict[str, object] = {
        "transaction_id": None, "readings": (), "start_date_time": at(0),
        "end_date_time": at(30), "hold": hold(end=at(30), ended=HoldEnd.EXPIRED)}
    fields.update(changes)
    return session(**fields)


async def test_a_finished_session_makes_one_cdr(rig: Rig) -> None:
    running = session(status=SessionStatus.ACTIVE, end_date_time=None)
    await rig.service.on_session(running, None)
    assert rig.publisher.sent == []
    done = session()
    await rig.service.on_session(done, running)
    [cdr] = rig.publisher.sent
    assert (cdr.id, cdr.kind, cdr.last_updated) == ("S1", CdrKind.SESSION, at(60))
    assert await rig.service.repo.get("S1") == cdr
    # Told again that it finished (another listener's retry, a second instance): no second.
    await rig.service.on_session(done, running)
    await rig.service.on_session(done, done)
    assert len(rig.publisher.sent) == 1
    assert rig.told == []  # a charging session is no unused reservation


async def test_a_session_made_final_elsewhere_is_not_made_again(rig: Rig) -> None:
    await rig.service.on_session(session(), session())
    assert rig.publisher.sent == []


async def test_a_no_show_is_billed_and_told(rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    [cdr] = rig.publisher.sent
    assert cdr.kind is CdrKind.RESERVATION and cdr.total_reservation_cost is not None
    [event] = rig.told
    assert (event.hold_key, event.ended, event.free_cancellation, event.cdr) == (
        "DE-EMS/R1", HoldEnd.EXPIRED, False, cdr)
    assert (event.start, event.end, event.location_id, event.evse_uid) == (
        at(0), at(30), "LOC-1", "E1")
    assert event.token.uid == "DEEMS0001" and event.booking_id is None


async def test_an_unused_reservation_no_tariff_prices_is_told_not_billed(rig: Rig) -> None:
    free = TARIFF.model_copy(update={"elements": TARIFF.elements[:2]})
    await rig.service.on_session(no_show(tariff=free), None)
    assert rig.publisher.sent == [] and await rig.service.repo.get("S1") is None
    [event] = rig.told
    assert event.ended is HoldEnd.EXPIRED and event.cdr is None


async def test_free_and_cpo_ends_are_told_without_a_cdr(rig: Rig) -> None:
    await rig.service.on_session(no_show(hold=hold(end=at(2), ended=HoldEnd.CANCELLED,
                                                   free_until=at(5))), None)
    await rig.service.on_session(no_show(id="S2", hold=hold(
        key="K2", end=at(9), ended=HoldEnd.CPO_CANCELLED)), None)
    assert rig.publisher.sent == []
    assert [(e.ended, e.free_cancellation, e.cdr) for e in rig.told] == [
        (HoldEnd.CANCELLED, True, None), (HoldEnd.CPO_CANCELLED, False, None)]


async def test_an_unused_end_without_its_end_time_is_the_session_end(rig: Rig) -> None:
    await rig.service.on_session(no_show(hold=hold(end=None, ended=HoldEnd.CPO_CANCELLED),
                                         end_date_time=at(12)), None)
    assert rig.told[0].end == at(12)
    await rig.service.on_session(no_show(id="S2", hold=hold(key="K2", end=None,
                                                            ended=HoldEnd.CPO_CANCELLED),
                                         end_date_time=None,
                                         status=SessionStatus.INVALID), None)
    assert rig.told[1].end == at(60)


async def test_nothing_is_told_of_a_session_without_token_or_hold_end(rig: Rig) -> None:
    await rig.service.on_session(no_show(token=None), None)
    await rig.service.on_session(no_show(id="S2", hold=hold(key="K2"),
                                         status=SessionStatus.COMPLETED), None)
    assert rig.told == [] and rig.publisher.sent == []


async def test_a_failing_listener_does_not_stop_the_others(rig: Rig) -> None:
    async def broken(_event: UnusedHold) -> None:
        raise RuntimeError("enforcement bug")

    rig.service._unused.insert(0, broken)
    await rig.service.on_session(no_show(), None)
    assert len(rig.told) == 1 and len(rig.publisher.sent) == 1


async def test_a_credit_follows_once(rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    rig.now[0] = at(90)
    credit = await rig.service.credit("S1", "operator: goodwill")
    assert credit is not None and credit.id == "S1-C" and credit.remark == "operator: goodwill"
    assert credit.last_updated == at(90)
    assert rig.publisher.sent[-1] == credit
    assert await rig.service.credit("S1", "again") is None
    assert await rig.service.credit("S1-C", "a credit of a credit") is None
    assert await rig.service.credit("NOPE", "unknown") is None
    assert len(rig.publisher.sent) == 2


async def test_a_late_fault_within_the_reservation_credits_it(rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    await rig.service.on_session(no_show(id="S2", hold=hold(key="K2", end=at(30),
                                                            ended=HoldEnd.EXPIRED),
                                         cdr_location=session().cdr_location.model_copy(
                                             update={"evse_uid": "E2"})), None)  # type: ignore[union-attr]
    fault = ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=1,
                                   status=ConnectorStatus.FAULTED, timestamp=at(10))
    await rig.service.on_event(fault)
    assert [c.id for c in rig.publisher.sent] == ["S1", "S2", "S1-C"]
    assert "Faulted" in (rig.publisher.sent[-1].remark or "")
    await rig.service.on_event(fault)  # reported twice: credited once
    assert len(rig.publisher.sent) == 3


async def test_a_fault_from_the_reservations_first_moment_credits_it(rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    await rig.service.on_event(ConnectorStatusChanged(
        charge_point_id="CP-1", evse_id=None, connector_id=1,
        status=ConnectorStatus.FAULTED, timestamp=at(0)))
    assert [c.id for c in rig.publisher.sent] == ["S1", "S1-C"]


def issued(kind: str, credit: str) -> float:
    value = REGISTRY.get_sample_value("ocpi_cdrs_total", {"kind": kind, "credit": credit})
    return value or 0.0


async def test_every_cdr_made_is_counted(rig: Rig) -> None:
    before = (issued("SESSION", "false"), issued("RESERVATION", "false"),
              issued("RESERVATION", "true"))
    await rig.service.on_session(session(id="S9"), None)
    await rig.service.on_session(no_show(), None)
    await rig.service.credit("S1", "goodwill")
    await rig.service.on_session(session(id="S9"), None)  # made already: not counted again
    after = (issued("SESSION", "false"), issued("RESERVATION", "false"),
             issued("RESERVATION", "true"))
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 1]


async def test_a_fault_outside_the_reservation_or_elsewhere_credits_nothing(
        rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    for event in (
        ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=1,
                               status=ConnectorStatus.FAULTED, timestamp=at(30)),
        ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=1,
                               status=ConnectorStatus.FAULTED,
                               timestamp=at(0) - timedelta(seconds=1)),
        ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=2,
                               status=ConnectorStatus.UNAVAILABLE, timestamp=at(10)),
        ConnectorStatusChanged(charge_point_id="CP-9", evse_id=None, connector_id=1,
                               status=ConnectorStatus.FAULTED, timestamp=at(10)),
        ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=1,
                               status=ConnectorStatus.AVAILABLE, timestamp=at(10)),
        ConnectorStatusChanged(charge_point_id="CP-1", evse_id=None, connector_id=7,
                               status=ConnectorStatus.FAULTED, timestamp=at(10)),
        ReservationEnded(charge_point_id="CP-1", reservation_id=3,
                         reason=ReservationEndReason.EXPIRED),
        ReservationEnded(charge_point_id="CP-1", reservation_id=4,
                         reason=ReservationEndReason.REMOVED),
        TokenPresented(charge_point_id="CP-1", id_token="X"),
    ):
        await rig.service.on_event(event)
    assert [c.id for c in rig.publisher.sent] == ["S1"]


async def test_the_whole_charger_faulted_or_the_reservation_removed_credits(
        rig: Rig) -> None:
    await rig.service.on_session(no_show(), None)
    await rig.service.on_event(ConnectorStatusChanged(
        charge_point_id="CP-1", evse_id=None, connector_id=0,
        status=ConnectorStatus.UNAVAILABLE, timestamp=at(29)))
    assert [c.id for c in rig.publisher.sent] == ["S1", "S1-C"]
    await rig.service.on_session(no_show(id="S2", hold=hold(key="K2", end=at(30),
                                                            ended=HoldEnd.EXPIRED,
                                                            ocpp_reservation_id=4)), None)
    await rig.service.on_event(ReservationEnded(charge_point_id="CP-1", reservation_id=4,
                                                reason=ReservationEndReason.REMOVED))
    assert [c.id for c in rig.publisher.sent] == ["S1", "S1-C", "S2", "S2-C"]
    assert "removed" in (rig.publisher.sent[-1].remark or "")


# ---------------------------------------------------------------- crashes in between


@dataclass
class Crashing(Publisher):
    crashes: int = 1

    async def send(self, cdr: Cdr) -> bool:
        if self.crashes:
            self.crashes -= 1
            raise ConnectionResetError("the process died here")
        return await super().send(cdr)


async def test_a_session_left_unbilled_by_a_crash_is_billed_by_the_sweep(
        store: DocumentStore) -> None:
    sessions = SessionRepository(store)
    publisher = Crashing()
    now = [at(40)]
    service = CdrService(CdrRepository(store), publisher, clock=lambda: now[0],  # type: ignore[arg-type, return-value]
                         evse_at=lambda *_: None, sessions=sessions)
    done = session()
    assert await sessions.insert(done)
    with pytest.raises(ConnectionResetError):
        await service.on_session(done, None)  # stored, not queued: then the crash
    assert await service.repo.get("S1") is not None and publisher.sent == []
    [left] = await sessions.unbilled()
    assert left.id == "S1"
    now[0] = at(40) + BILLING_GRACE - timedelta(seconds=1)
    assert await service.sweep() == 0  # its listener may still be at work
    now[0] = at(40) + BILLING_GRACE
    assert await service.sweep() == 1
    [cdr] = publisher.sent
    assert cdr == await service.repo.get("S1")  # the stored CDR, as it was made
    assert cdr.last_updated == at(40)
    assert await sessions.unbilled() == []
    billed = await sessions.get("S1")
    assert billed is not None and billed.billed and billed.last_updated == done.last_updated
    assert await service.sweep() == 0


async def test_a_session_whose_listener_never_ran_is_billed_by_the_sweep(
        store: DocumentStore) -> None:
    sessions = SessionRepository(store)
    publisher = Publisher()
    service = CdrService(CdrRepository(store), publisher, clock=lambda: at(50),
                         evse_at=lambda *_: None, sessions=sessions)  # type: ignore[arg-type]
    await sessions.insert(session())
    await sessions.insert(session(id="S2", status=SessionStatus.INVALID))
    await sessions.insert(session(id="S3", status=SessionStatus.ACTIVE, end_date_time=None))
    assert await service.sweep() == 2
    assert [c.id for c in publisher.sent] == ["S1"]
    assert await sessions.unbilled() == []
    assert await service.sweep() == 0 and await sessions.mark_billed("NOPE") is False


async def test_a_billed_session_is_not_billed_again(store: DocumentStore) -> None:
    sessions = SessionRepository(store)
    publisher = Publisher()
    service = CdrService(CdrRepository(store), publisher, clock=lambda: at(90),
                         evse_at=lambda *_: None, sessions=sessions)  # type: ignore[arg-type]
    done = session()
    await sessions.insert(done)
    await service.on_session(done, None)
    assert await sessions.unbilled() == [] and await service.sweep() == 0
    assert len(publisher.sent) == 1
    assert await sessions.mark_billed("S1") is True


async def test_a_cancelled_listener_cancels_the_billing(rig: Rig) -> None:
    async def cancelled(_event: UnusedHold) -> None:
        raise asyncio.CancelledError

    rig.service._unused.insert(0, cancelled)
    with pytest.raises(asyncio.CancelledError):
        await rig.service.on_session(no_show(), None)
    assert rig.told == []  # the listeners after it were not told
