"""The background-loop helper: runs, failures, cancellation, staleness, wake-ups, metrics."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from ocpi_gateway import metrics
from ocpi_gateway.domain.loops import MIN_STALE_AFTER, BackgroundLoop, LoopRegistry
from tests.loops.support import Ticks, settle


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, float | None]] = []

    def ran(self, name: str, at: float) -> None:
        self.seen.append(("ran", name, at))

    def failed(self, name: str) -> None:
        self.seen.append(("failed", name, None))


class Job:
    """Counts runs; raises the exceptions queued in ``fail`` one per run."""

    def __init__(self) -> None:
        self.runs = 0
        self.fail: list[BaseException] = []
        self.block: asyncio.Event | None = None
        self.cancelled = False

    async def __call__(self) -> None:
        self.runs += 1
        if self.fail:
            raise self.fail.pop(0)
        if self.block is not None:
            try:
                await self.block.wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise


def make(job: Job, ticks: Ticks, registry: LoopRegistry | None = None, **kw: object
         ) -> BackgroundLoop:
    return BackgroundLoop("test-loop", job, interval=5.0, registry=registry, clock=ticks,
                          sleep=ticks.sleep, **kw)  # type: ignore[arg-type]


async def test_runs_at_start_then_once_per_interval() -> None:
    ticks, job = Ticks(), Job()
    loop = make(job, ticks)
    loop.start()
    await settle()
    assert job.runs == 1 and loop.last_run == ticks.now
    await ticks.advance(4.9)
    assert job.runs == 1
    await ticks.advance(0.1)
    assert job.runs == 2 and loop.runs == 2 and loop.last_run == ticks.now
    await loop.stop()


async def test_run_at_start_false_waits_one_interval() -> None:
    ticks, job = Ticks(), Job()
    loop = make(job, ticks, run_at_start=False)
    loop.start()
    await settle()
    assert job.runs == 0 and loop.last_run is None
    await ticks.advance(5.0)
    assert job.runs == 1
    await loop.stop()


async def test_a_failing_run_is_logged_and_the_loop_goes_on() -> None:
    ticks, job, seen = Ticks(), Job(), Recorder()
    registry = LoopRegistry()
    registry.add_listener(seen)
    job.fail.append(RuntimeError("store hiccup"))
    loop = make(job, ticks, registry)
    with capture_logs() as logs:
        loop.start()
        await settle()
        assert loop.failures == 1 and loop.last_run is None
        await ticks.advance(5.0)
    assert job.runs == 2 and loop.last_run == ticks.now
    failed = [e for e in logs if e["event"] == "background_loop_failed"]
    assert len(failed) == 1
    assert failed[0]["loop"] == "test-loop" and failed[0]["log_level"] == "error"
    assert failed[0].get("exc_info") is True
    assert seen.seen == [("failed", "test-loop", None), ("ran", "test-loop", ticks.now)]
    await loop.stop()


async def test_an_expected_failure_is_a_warning_without_the_stack() -> None:
    ticks, job = Ticks(), Job()
    job.fail.append(ConnectionError("redis away"))
    loop = make(job, ticks, quiet=(ConnectionError,))
    with capture_logs() as logs:
        loop.start()
        await settle()
    failed = [e for e in logs if e["event"] == "background_loop_failed"]
    assert len(failed) == 1 and failed[0]["log_level"] == "warning"
    assert "exc_info" not in failed[0] and "redis away" in failed[0]["error"]
    assert loop.failures == 1
    await loop.stop()


async def test_stop_cancels_a_run_in_progress_and_leaves_the_registry() -> None:
    ticks, job = Ticks(), Job()
    job.block = asyncio.Event()
    registry = LoopRegistry()
    loop = make(job, ticks, registry)
    loop.start()
    await settle()
    assert registry.loops() == [loop] and loop.running
    await loop.stop()
    assert job.cancelled and not loop.running and not loop.crashed
    assert registry.loops() == [] and registry.unhealthy() == []
    await loop.stop()  # twice is harmless


async def test_a_run_that_hangs_makes_the_loop_overdue() -> None:
    ticks, job = Ticks(), Job()
    registry = LoopRegistry()
    loop = make(job, ticks, registry, stale_after=30.0)
    loop.start()
    await settle()
    job.block = asyncio.Event()
    await ticks.advance(5.0)  # the second run starts and hangs
    assert job.runs == 2
    await ticks.advance(24.9)
    assert registry.unhealthy() == []
    await ticks.advance(0.2)
    assert loop.overdue() and registry.unhealthy() == ["test-loop"]
    job.block.set()
    await settle()
    assert registry.unhealthy() == []
    await loop.stop()


async def test_overdue_before_any_run_counts_from_the_start() -> None:
    ticks, job = Ticks(), Job()
    loop = make(job, ticks, run_at_start=False)
    assert not loop.overdue()  # not started
    loop.start()
    await settle()
    assert not loop.overdue(ticks.now + loop.stale_after)
    assert loop.overdue(ticks.now + loop.stale_after + 0.001)
    await loop.stop()


def test_default_staleness_is_three_intervals_with_a_floor() -> None:
    fast = BackgroundLoop("a", Job(), interval=1.0)
    slow = BackgroundLoop("b", Job(), interval=100.0)
    assert fast.stale_after == MIN_STALE_AFTER
    assert slow.stale_after == 300.0
    with pytest.raises(ValueError, match="negative"):
        BackgroundLoop("c", Job(), interval=-1.0)


class Fatal(BaseException):
    """Not an Exception: the loop does not catch it, its task ends."""


async def test_a_loop_whose_task_ended_is_reported_as_stopped() -> None:
    ticks, job = Ticks(), Job()
    registry = LoopRegistry()
    job.fail.append(Fatal())
    loop = make(job, ticks, registry)
    with capture_logs() as logs:
        loop.start()
        await settle()
        assert loop.crashed and not loop.running
        assert registry.unhealthy() == ["test-loop"]
        await loop.stop()
    assert registry.unhealthy() == []
    assert any(e["event"] == "background_loop_stopped_by_itself" for e in logs)


async def test_wake_starts_the_next_run_at_once() -> None:
    ticks, job = Ticks(), Job()
    wake = asyncio.Event()

    async def clearing() -> None:
        wake.clear()
        await job()

    loop = BackgroundLoop("woken", clearing, interval=60.0, clock=ticks, sleep=ticks.sleep,
                          wake=wake, run_at_start=False)
    loop.start()
    await settle()
    assert job.runs == 0
    wake.set()
    await settle()
    assert job.runs == 1 and ticks.sleeping == 1  # waiting again, a fresh interval
    await ticks.advance(60.0)
    assert job.runs == 2
    await loop.stop()
    assert ticks.sleeping == 0


async def test_a_wake_left_set_does_not_starve_the_event_loop() -> None:
    ticks = Ticks()
    wake = asyncio.Event()
    wake.set()
    runs = 0

    async def never_clears() -> None:
        nonlocal runs
        runs += 1

    loop = BackgroundLoop("spin", never_clears, interval=60.0, clock=ticks, sleep=ticks.sleep,
                          wake=wake)
    loop.start()
    other = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(other.set_result, "ran")
    assert await other == "ran"
    await loop.stop()
    assert runs >= 1


async def test_two_running_loops_cannot_share_a_name() -> None:
    ticks = Ticks()
    registry = LoopRegistry()
    first = BackgroundLoop("same", Job(), interval=1.0, registry=registry, sleep=ticks.sleep)
    second = BackgroundLoop("same", Job(), interval=1.0, registry=registry, sleep=ticks.sleep)
    first.start()
    with pytest.raises(ValueError, match="same"):
        second.start()
    await first.stop()
    second.start()  # the name is free again
    assert registry.loops() == [second]
    await second.stop()


async def test_the_gateway_metrics_keep_a_last_run_gauge_and_a_failure_count() -> None:
    ticks, job = Ticks(now=1_900_000_000.0), Job()
    registry = LoopRegistry()
    registry.add_listener(metrics.LOOP_METRICS)
    name = "metrics-test-loop"
    failures_before = metrics.REGISTRY.get_sample_value(
        "gateway_loop_failures_total", {"loop": name}) or 0.0
    job.fail.append(RuntimeError("once"))
    loop = BackgroundLoop(name, job, interval=5.0, registry=registry, clock=ticks,
                          sleep=ticks.sleep)
    with capture_logs():
        loop.start()
        await settle()
    assert metrics.REGISTRY.get_sample_value(
        "gateway_loop_failures_total", {"loop": name}) == failures_before + 1
    await ticks.advance(5.0)
    assert metrics.REGISTRY.get_sample_value(
        "gateway_loop_last_run_timestamp_seconds", {"loop": name}) == ticks.now
    await loop.stop()


async def test_run_once_reports_success() -> None:
    ticks, job = Ticks(), Job()
    loop = make(job, ticks)
    assert await loop.run_once() is True
    job.fail.append(RuntimeError("x"))
    with capture_logs():
        assert await loop.run_once() is False
    assert loop.runs == 1 and loop.failures == 1
