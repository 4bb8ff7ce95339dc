"""The admission gate: how many chargers are admitted at a time, following the loop's lag, and
the full garbage collections it holds off while admitting."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from ocpp_test_support import eventually

from ocpi_gateway.ocpp_adapter.admission import AdmissionGate, FullCollections

HANG_GUARD = 30.0


def test_the_limit_halves_while_the_loop_lags_and_grows_back_by_the_least() -> None:
    gate = AdmissionGate(most=64, least=8, lag_target=0.1)
    assert gate.limit == 64
    gate.observe(0.1)  # at the target is not lagging
    assert gate.limit == 64
    gate.observe(0.3)
    assert gate.limit == 32
    gate.observe(0.11)
    assert gate.limit == 16
    gate.observe(5.0)
    gate.observe(5.0)
    assert gate.limit == 8  # never below the least
    gate.observe(0.0)
    assert gate.limit == 16
    for _ in range(10):
        gate.observe(0.01)
    assert gate.limit == 64  # never above the most
    assert gate.slowest_lag == 5.0


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        AdmissionGate(most=4, least=8)
    with pytest.raises(ValueError):
        AdmissionGate(most=4, least=0)
    AdmissionGate(most=1, least=1)


async def test_past_the_limit_admissions_wait_their_turn_in_order() -> None:
    gate = AdmissionGate(most=2, least=1, lag_target=1e9)
    inside: list[int] = []
    release = {n: asyncio.Event() for n in range(5)}

    async def admission(n: int) -> None:
        async with gate:
            inside.append(n)
            await release[n].wait()
        inside.remove(n)

    tasks = [asyncio.create_task(admission(n)) for n in range(5)]
    assert await eventually(lambda: _true(inside == [0, 1]), within=HANG_GUARD)
    assert (gate.in_flight, gate.waiting) == (2, 3)
    release[1].set()
    assert await eventually(lambda: _true(inside == [0, 2]), within=HANG_GUARD)
    release[0].set()
    release[2].set()
    assert await eventually(lambda: _true(inside == [3, 4]), within=HANG_GUARD)
    release[3].set()
    release[4].set()
    await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
    assert (gate.in_flight, gate.waiting) == (0, 0)
    gate.close()


async def test_a_raised_limit_lets_the_waiting_in_at_once() -> None:
    gate = AdmissionGate(most=4, least=1, lag_target=0.5, probe_every=3600.0)  # no probe
    gate.observe(1.0)
    gate.observe(1.0)
    assert gate.limit == 1
    hold = asyncio.Event()
    inside = 0

    async def admission() -> None:
        nonlocal inside
        async with gate:
            inside += 1
            await hold.wait()

    tasks = [asyncio.create_task(admission()) for _ in range(3)]
    assert await eventually(lambda: _true(inside == 1), within=HANG_GUARD)
    gate.observe(0.0)  # limit 2
    assert await eventually(lambda: _true(inside == 2), within=HANG_GUARD)
    hold.set()
    await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
    gate.close()


async def test_a_charger_leaving_while_it_waits_takes_no_place() -> None:
    gate = AdmissionGate(most=1, least=1, lag_target=1e9)
    hold = asyncio.Event()

    async def first() -> None:
        async with gate:
            await hold.wait()

    async def later() -> str:
        async with gate:
            return "admitted"

    holder = asyncio.create_task(first())
    assert await eventually(lambda: _true(gate.in_flight == 1), within=HANG_GUARD)
    leaving = asyncio.create_task(later())
    staying = asyncio.create_task(later())
    assert await eventually(lambda: _true(gate.waiting == 2), within=HANG_GUARD)
    leaving.cancel()
    hold.set()
    assert await asyncio.wait_for(staying, HANG_GUARD) == "admitted"
    await holder
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert (gate.in_flight, gate.waiting) == (0, 0)
    gate.close()


async def test_one_let_in_and_cancelled_before_it_ran_gives_its_place_on() -> None:
    gate = AdmissionGate(most=1, least=1, lag_target=1e9)

    async def later() -> str:
        async with gate:
            return "admitted"

    await gate.__aenter__()
    unlucky = asyncio.create_task(later())
    lucky = asyncio.create_task(later())
    assert await eventually(lambda: _true(gate.waiting == 2), within=HANG_GUARD)
    await gate.__aexit__(None, None, None)  # lets `unlucky` in, which has not run yet
    unlucky.cancel()
    assert await asyncio.wait_for(lucky, HANG_GUARD) == "admitted"
    assert unlucky.cancelled()
    assert (gate.in_flight, gate.waiting) == (0, 0)
    gate.close()


async def test_the_gate_measures_the_loops_lag_while_admitting() -> None:
    gate = AdmissionGate(most=64, least=8, lag_target=0.05, probe_every=0.01)
    async with gate:
        await asyncio.sleep(0.02)  # the probe is due
        time.sleep(0.2)  # noqa: ASYNC251 -- the point: the loop is held, the probe fires late
        assert await eventually(lambda: _true(gate.slowest_lag >= 0.15), within=HANG_GUARD)
    assert gate.limit < 64
    gate.close()


async def test_full_collections_wait_while_admitting_and_come_back_when_idle() -> None:
    before = gc.get_threshold()
    gate = AdmissionGate(most=4, least=1, probe_every=0.01, idle_grace=0.05)
    async with gate:
        assert gc.get_threshold()[2] > 1_000_000
        assert gc.get_threshold()[:2] == before[:2]  # the young generations as they were
    assert await eventually(lambda: _true(gc.get_threshold() == before), within=HANG_GUARD)
    gate.close()
    assert gc.get_threshold() == before


async def test_full_collections_come_back_after_the_longest_deferral() -> None:
    before = gc.get_threshold()
    gate = AdmissionGate(most=4, least=1, probe_every=0.01, max_defer=0.05)
    async with gate:
        assert gc.get_threshold()[2] > 1_000_000
        assert await eventually(lambda: _true(gc.get_threshold() == before), within=HANG_GUARD)
    gate.close()


async def test_closing_a_busy_gate_gives_full_collections_back() -> None:
    before = gc.get_threshold()
    gate = AdmissionGate()
    async with gate:
        gate.close()
        assert gc.get_threshold() == before


def test_full_collections_are_given_back_by_the_last_holder() -> None:
    before = gc.get_threshold()
    FullCollections.hold()
    FullCollections.hold()
    FullCollections.release()
    assert gc.get_threshold()[2] > 1_000_000
    FullCollections.release()
    assert gc.get_threshold() == before


async def _true(value: bool) -> bool:
    return value
