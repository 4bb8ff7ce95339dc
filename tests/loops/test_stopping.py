"""Stopping for sure: a background task that lost its cancellation (Python 3.11's
``asyncio.wait_for``, which redis-py calls around every socket write, returns the result and
drops the cancellation when both meet) must not keep a shutdown waiting for ever. Seen as a
two-instance shutdown on a Redis Cluster that hung for more than ten minutes."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from ocpi_gateway.domain.loops import BackgroundLoop
from ocpi_gateway.domain.tasks import cancel_and_wait, finish_within, wait_event
from tests.loops.support import Ticks, settle

HANG = 60.0
"""Only guards the test against the hang it is about: the loops stop in a few event-loop
passes."""


async def _ends(awaitable: asyncio.Future[object] | asyncio.Task[object]) -> bool:
    done, _ = await asyncio.wait({awaitable}, timeout=HANG)
    return bool(done)


async def test_a_loop_whose_job_lost_the_cancellation_still_stops() -> None:
    ticks = Ticks()
    block = asyncio.Event()
    runs = 0

    async def job() -> None:
        nonlocal runs
        runs += 1
        try:
            await block.wait()
        except asyncio.CancelledError:
            return  # lost, as a library may lose it

    loop = BackgroundLoop("lossy", job, interval=5.0, clock=ticks, sleep=ticks.sleep)
    loop.start()
    await settle()
    assert runs == 1
    stopping = asyncio.ensure_future(loop.stop())
    assert await _ends(stopping), "stop() waited for ever on a loop that lost its cancel"
    assert not loop.running and runs == 1


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed += 1
        await asyncio.Event().wait()  # goes on waiting: only a second cancel ends it

    task = asyncio.ensure_future(stubborn())
    await settle()
    assert await cancel_and_wait(task, bound=HANG, name="stubborn")
    assert task.cancelled() and swallowed == 1


async def test_a_task_that_never_ends_is_given_up_after_the_bound_and_said() -> None:
    release = asyncio.Event()

    async def deaf() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue

    task = asyncio.ensure_future(deaf())
    await settle()
    with capture_logs() as logs:
        assert not await cancel_and_wait(task, bound=0.05, name="deaf")
    assert any(e["event"] == "task_did_not_stop" and e["task"] == "deaf" for e in logs)
    release.set()
    await task


async def test_wait_event_never_drops_the_callers_cancellation() -> None:
    event = asyncio.Event()
    waiting = asyncio.ensure_future(wait_event(event, HANG))
    await settle()
    event.set()
    waiting.cancel()  # in the same pass as the event: wait_for on 3.11 would return True
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_wait_event_tells_whether_the_event_came() -> None:
    event = asyncio.Event()
    assert not await wait_event(event, 0)
    later = asyncio.ensure_future(wait_event(event, HANG))
    await settle()
    event.set()
    assert await later


async def test_finish_within_lets_work_end_and_gives_up_on_what_does_not() -> None:
    ended: list[str] = []
    gate = asyncio.Event()

    async def work(name: str) -> None:
        await gate.wait()
        ended.append(name)

    together = asyncio.ensure_future(finish_within([work("a"), work("b")], bound=HANG,
                                                   name="work"))
    await settle()
    assert not together.done()
    gate.set()
    assert await together and ended == ["a", "b"]

    never = asyncio.Event()
    cancelled = False

    async def stuck() -> None:
        nonlocal cancelled
        try:
            await never.wait()
        except asyncio.CancelledError:
            cancelled = True
            raise

    with capture_logs() as logs:
        assert not await finish_within([stuck()], bound=0.05, name="stuck")
    assert cancelled
    assert any(e["event"] == "task_did_not_finish" and e["task"] == "stuck" for e in logs)


async def test_finish_within_raises_what_the_work_raised() -> None:
    async def failing() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await finish_within([failing()], bound=HANG, name="failing")
