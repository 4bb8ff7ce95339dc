"""Background loops: the one way the gateway runs a job every so often.

Every periodic job (the command sweeper, the outbox's adoption of orphans, the Locations
shared sync and welcome, the reservation expiry clock and recovery sweep, the hub sync, the
OCPP presence refresh and liveness key, the availability check after Redis lost its data, the
booking binder and sweeper, the capacity timeline's prune, the CDRs sweep, the Tariffs
welcome) is a :class:`BackgroundLoop`.
The loop

- runs the job, then waits ``interval`` seconds (or until ``wake`` is set) and runs it again;
- logs a failing run with structlog (``background_loop_failed`` with the loop's name, the
  stack; ``quiet`` exceptions, such as a Redis that is away, as a warning without it) and goes
  on: a store hiccup must not stop a clock for good;
- records when its last run finished (``last_run``) and tells the registry's listeners (the
  gateway's metrics keep a gauge per loop);
- stops on ``stop()``: no run starts after it, the task is cancelled (again, should a job
  have lost the cancellation) and awaited up to ``stop_bound`` seconds
  (``domain.tasks.cancel_and_wait``): nothing is left running, and a shutdown never waits for
  ever on a loop.

A :class:`LoopRegistry` (one per app, ``app[keys.LOOPS]``) knows the running loops: ``/ready``
reports a loop that stopped without being asked to, or whose last run is older than its
``stale_after`` (a job hung on a call that never returns).

Time is injected: ``clock`` gives the wall-clock seconds written as the last run and compared
with ``stale_after``; ``sleep`` waits between runs. Tests pass a clock they move and a sleep
that returns when they say so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from ocpi_gateway.domain.tasks import STOP_BOUND, cancel_and_wait

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[object]]
Job = Callable[[], Awaitable[object]]

MIN_STALE_AFTER = 60.0
"""A loop is overdue after ``max(MIN_STALE_AFTER, 3 * interval)`` without a finished run,
unless it says otherwise: long enough that a slow run on a loaded machine is not a fault."""


class LoopListener(Protocol):
    def ran(self, name: str, at: float) -> None:
        """A run of loop ``name`` finished at ``at`` (clock seconds)."""

    def failed(self, name: str) -> None:
        """A run of loop ``name`` raised."""


class LoopRegistry:
    """The loops of one application, for ``/ready`` and the metrics."""

    def __init__(self) -> None:
        self._loops: dict[str, BackgroundLoop] = {}
        self._listeners: list[LoopListener] = []

    def add_listener(self, listener: LoopListener) -> None:
        self._listeners.append(listener)

    def register(self, loop: BackgroundLoop) -> None:
        known = self._loops.get(loop.name)
        if known is not None and known is not loop and known.running:
            raise ValueError(f"a loop named {loop.name!r} is running already")
        self._loops[loop.name] = loop

    def unregister(self, loop: BackgroundLoop) -> None:
        if self._loops.get(loop.name) is loop:
            del self._loops[loop.name]

    def loops(self) -> list[BackgroundLoop]:
        return list(self._loops.values())

    def unhealthy(self) -> list[str]:
        """Names of the loops that stopped by themselves or are overdue, sorted."""
        return sorted(loop.name for loop in self._loops.values()
                      if loop.crashed or loop.overdue())

    def ran(self, name: str, at: float) -> None:
        for listener in self._listeners:
            listener.ran(name, at)

    def failed(self, name: str) -> None:
        for listener in self._listeners:
            listener.failed(name)


class BackgroundLoop:
    def __init__(
        self,
        name: str,
        job: Job,
        *,
        interval: float,
        registry: LoopRegistry | None = None,
        clock: Clock = time.time,
        sleep: Sleep = asyncio.sleep,
        wake: asyncio.Event | None = None,
        run_at_start: bool = True,
        stale_after: float | None = None,
        quiet: tuple[type[Exception], ...] = (),
        stop_bound: float = STOP_BOUND,
    ) -> None:
        """``wake``: set, it starts the next run at once (the job clears it when it reads
        it). ``run_at_start``: False waits one interval before the first run (the owner ran
        the job itself while starting). ``quiet``: expected failures, logged without the
        stack."""
        if interval < 0:
            raise ValueError("interval must not be negative")
        self.name = name
        self.interval = interval
        self.stale_after = stale_after if stale_after is not None \
            else max(MIN_STALE_AFTER, 3 * interval)
        self._job = job
        self._registry = registry
        self._clock = clock
        self._sleep = sleep
        self._wake = wake
        self._run_at_start = run_at_start
        self._quiet = quiet
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.stop_bound = stop_bound
        self._started_at: float | None = None
        self.last_run: float | None = None
        """Clock seconds at which the last run finished without raising."""
        self.runs = 0
        self.failures = 0

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start running (once; a second call while it runs changes nothing)."""
        if self._task is not None and not self._task.done():
            return
        if self._registry is not None:
            self._registry.register(self)
        self._stopping = False
        self._started_at = self._clock()
        self._task = asyncio.get_running_loop().create_task(self._forever(),
                                                            name=f"loop-{self.name}")

    async def stop(self) -> None:
        """Cancel the loop and wait until it ended (a run in progress is cancelled too), at
        most ``stop_bound`` seconds."""
        self._stopping = True
        task, self._task = self._task, None
        if self._registry is not None:
            self._registry.unregister(self)
        if task is None:
            return
        if task.done():
            if not task.cancelled() and task.exception() is not None:
                log.error("background_loop_stopped_by_itself", loop=self.name,
                          error=repr(task.exception()))
            return
        await cancel_and_wait(task, bound=self.stop_bound, name=f"loop-{self.name}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def crashed(self) -> bool:
        """Started, not stopped, and yet its task ended (cancelled by someone else, or a
        BaseException such as a MemoryError out of the job)."""
        return self._task is not None and self._task.done()

    def overdue(self, now: float | None = None) -> bool:
        """No run finished for longer than ``stale_after`` (counted from the start before
        the first one)."""
        since = self.last_run if self.last_run is not None else self._started_at
        if since is None or not self.running:
            return False
        return (self._clock() if now is None else now) - since > self.stale_after

    # -- running ----------------------------------------------------------------------------

    async def run_once(self) -> bool:
        """One run of the job, as the loop does it (failures logged, not raised); whether it
        succeeded. Cancellation is not caught."""
        try:
            await self._job()
        except asyncio.CancelledError:
            raise
        except self._quiet as exc:
            self._failed()
            log.warning("background_loop_failed", loop=self.name, error=repr(exc))
            return False
        except Exception:
            self._failed()
            log.exception("background_loop_failed", loop=self.name)
            return False
        self.runs += 1
        self.last_run = self._clock()
        if self._registry is not None:
            self._registry.ran(self.name, self.last_run)
        return True

    def _failed(self) -> None:
        self.failures += 1
        if self._registry is not None:
            self._registry.failed(self.name)

    async def _forever(self) -> None:
        if not self._run_at_start:
            await self._pause()
        while not self._stopping:
            await self.run_once()
            if self._stopping:
                break  # the run swallowed the cancellation of stop()
            await self._pause()

    async def _pause(self) -> None:
        wake = self._wake
        if wake is None:
            await self._sleep(self.interval)
            return
        if wake.is_set():
            # Let others run: a job that does not clear its event must not starve the loop.
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self._sleep(self.interval))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (sleeper, waiter):
                pending.cancel()
            await asyncio.gather(sleeper, waiter, return_exceptions=True)
