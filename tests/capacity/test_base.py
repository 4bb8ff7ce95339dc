"""The promise and admission values of the capacity timeline (``base``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ocpi_gateway.reservation_policy.capacity.base import (
    Admission,
    Promise,
    Verdict,
    from_ms,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import EvseClass


def test_a_naive_moment_is_taken_as_utc_and_an_aware_one_kept() -> None:
    naive = Promise("p", datetime(2026, 12, 2, 8, 0), datetime(2026, 12, 2, 9, 0))
    assert (naive.start.tzinfo, naive.end.tzinfo) == (UTC, UTC)
    assert naive.start == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    plus_one = timezone(timedelta(hours=1))
    aware = Promise("p", datetime(2026, 12, 2, 9, 0, tzinfo=plus_one),
                    datetime(2026, 12, 2, 10, 0, tzinfo=plus_one))
    assert aware.start == naive.start and aware.end == naive.end
    assert aware.start.tzinfo is plus_one


@pytest.mark.parametrize(("promise_id", "evse_uid"), [("a\tb", None), ("a\tb", "E1"),
                                                      ("a", "E\t1")])
def test_ids_with_a_tab_are_refused(promise_id: str, evse_uid: str | None) -> None:
    start = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="tab"):
        Promise(promise_id, start, start + timedelta(hours=1), evse_uid=evse_uid)


def test_milliseconds_both_ways() -> None:
    moment = datetime(2026, 12, 2, 8, 0, 0, 123000, tzinfo=UTC)
    assert ms(moment) == 1_796_198_400_123
    assert from_ms(ms(moment)) == moment


def test_a_refusal_describes_where_and_what_is_full() -> None:
    full = Admission(Verdict.FULL, datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
                     (EvseClass("IEC_62196_T2", "AC_3_PHASE", 22000),
                      EvseClass("IEC_62196_T2_COMBO", "DC", 150000)), 3, 3)
    assert not full.ok
    assert full.describe() == (
        "full at 2026-12-02T08:00:00+00:00: 3 promised on IEC_62196_T2/AC_3_PHASE/22kW + "
        "IEC_62196_T2_COMBO/DC/150kW, capacity 3")
    assert Admission(Verdict.ADMITTED).ok
    assert Admission(Verdict.EVSE_TAKEN).describe() == "evse_taken"
    assert Admission(Verdict.FULL).describe() == "full"  # no instant: the verdict alone
