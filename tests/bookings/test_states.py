"""The booking and request state machines, pair by pair."""

from __future__ import annotations

import itertools

import pytest

from ocpi_gateway.reservation_policy.bookings import states
from ocpi_gateway.reservation_policy.bookings.states import BookingState as S
from ocpi_gateway.reservation_policy.bookings.states import RequestStatus as R

ALLOWED = {
    (S.PENDING, S.RESERVED), (S.PENDING, S.REJECTED), (S.PENDING, S.FAILED),
    (S.PENDING, S.CANCELED), (S.PENDING, S.PENDING),
    (S.RESERVED, S.RESERVED), (S.RESERVED, S.FULFILLED), (S.RESERVED, S.CANCELED),
    (S.RESERVED, S.NO_SHOW),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_every_pair_of_states(current: S, target: S) -> None:
    expected = (current, target) in ALLOWED
    assert states.allowed(current, target) is expected
    if expected:
        states.check(current, target)
    else:
        with pytest.raises(states.TransitionError, match=f"{current.value} -> {target.value}"):
            states.check(current, target)


def test_final_and_live_states_split_the_machine() -> None:
    assert states.LIVE_STATES == {S.PENDING, S.RESERVED}
    assert states.FINAL_STATES == {S.REJECTED, S.FAILED, S.FULFILLED, S.CANCELED, S.NO_SHOW}
    for final in states.FINAL_STATES:
        assert not any(states.allowed(final, t) for t in S)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(R, R)))
def test_a_request_is_decided_once(current: R, target: R) -> None:
    if current is R.PENDING and target is not R.PENDING:
        states.check_request(current, target)
    else:
        with pytest.raises(states.TransitionError):
            states.check_request(current, target)
