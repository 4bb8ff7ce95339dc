"""Which finished sessions are billed (``cdrs/charges.py``)."""

from __future__ import annotations

from ocpi_gateway.cdrs.charges import cancelled_free, cdr_due, reservation_billable
from ocpi_gateway.cdrs.models import CdrKind
from ocpi_gateway.sessions.models import HoldEnd, Session, SessionStatus
from tests.sessions.factories import at, hold, session


def unused(**hold_fields: object) -> Session:
    return session(transaction_id=None, readings=(), hold=hold(**hold_fields))


def test_a_cancellation_is_free_until_its_window_ends() -> None:
    assert cancelled_free(unused(ended=HoldEnd.CANCELLED, end=at(5), free_until=at(5))) is True
    assert cancelled_free(unused(ended=HoldEnd.CANCELLED, end=at(4), free_until=at(5))) is True
    assert cancelled_free(unused(ended=HoldEnd.CANCELLED, end=at(6),
                                 free_until=at(5))) is False


def test_without_a_window_a_cancellation_is_always_free() -> None:
    assert cancelled_free(unused(ended=HoldEnd.CANCELLED, end=at(600), free_until=None))
    assert cancelled_free(unused(ended=HoldEnd.CANCELLED, end=None, free_until=at(5)))


def test_only_a_cancellation_is_a_free_cancellation() -> None:
    assert cancelled_free(session()) is False
    for ended in (HoldEnd.EXPIRED, HoldEnd.USED, HoldEnd.CPO_CANCELLED):
        assert cancelled_free(unused(ended=ended, end=at(1), free_until=at(5))) is False


def test_what_the_driver_left_unused_is_billed_and_what_the_cpo_ended_is_not() -> None:
    assert reservation_billable(unused(ended=HoldEnd.EXPIRED, end=at(30))) is True
    assert reservation_billable(unused(ended=HoldEnd.USED, end=at(3))) is True
    assert reservation_billable(unused(ended=HoldEnd.CANCELLED, end=at(9),
                                       free_until=at(5))) is True
    assert reservation_billable(unused(ended=HoldEnd.CANCELLED, end=at(2),
                                       free_until=at(5))) is False
    assert reservation_billable(unused(ended=HoldEnd.CPO_CANCELLED, end=at(20))) is False
    assert reservation_billable(unused(ended=None)) is False
    assert reservation_billable(session()) is False


def test_a_charging_session_is_always_billed_once_completed() -> None:
    assert cdr_due(session()) is CdrKind.SESSION
    # Even when its reservation would not be (the CPO's side moved it, the car came).
    assert cdr_due(session(hold=hold(ended=HoldEnd.CPO_CANCELLED, end=at(5)))) \
        is CdrKind.SESSION


def test_an_unused_reservation_is_billed_as_a_reservation() -> None:
    assert cdr_due(unused(ended=HoldEnd.EXPIRED, end=at(30))) is CdrKind.RESERVATION
    assert cdr_due(unused(ended=HoldEnd.CANCELLED, end=at(2), free_until=at(5))) is None
    assert cdr_due(unused(ended=HoldEnd.CPO_CANCELLED, end=at(20))) is None


def test_nothing_is_billed_before_the_end_nor_to_nobody() -> None:
    for status in (SessionStatus.ACTIVE, SessionStatus.PENDING, SessionStatus.RESERVATION,
                   SessionStatus.INVALID):
        assert cdr_due(session(status=status)) is None
    assert cdr_due(session(token=None)) is None
    assert cdr_due(session(transaction_id=None)) is None  # no reservation either
