"""How many chargers are admitted at a time, so that the connected ones stay answered.

Admitting a charger (HTTP upgrade, login limiter, password check, websocket handshake,
presence claim) is a handful of Redis round trips and about a millisecond of the event loop's
CPU. In a reconnect storm thousands of admissions run on the loop that also reads the frames of
the chargers already connected: every admission in flight adds its steps to each pass of the
loop, and a connected charger's Heartbeat waits for the whole pass. The gate keeps the
admissions in flight at ``limit``; the others wait their turn (a parked coroutine, nothing
more) with their connection held open, so none is refused.

``limit`` follows the loop's lag, measured while admissions run: a timer due every
``probe_every`` seconds that fires ``lag`` seconds late means a pass of the loop took that
long. Past ``lag_target`` the limit halves (down to ``least``), below it the limit grows by
``least`` (up to ``most``): connected chargers get the loop first, admissions the rest. Sessions
already connected never pass the gate.

While admissions run, the garbage collector's full collections wait (:class:`FullCollections`):
each new session is long-lived, so the heap grows by a quarter again and again during a storm,
and each time Python scans the whole heap in one go (0.2-0.35 s of CPU with 5,000 chargers,
during which nobody's frame is read). Young garbage is still collected (generations 0 and 1);
the full collection runs when the storm is over, or after ``MAX_DEFER`` seconds of admitting.
"""

from __future__ import annotations

import asyncio
import collections
import gc
from types import TracebackType

MOST = 256
LEAST = 8
LAG_TARGET = 0.1
"""Seconds a pass of the event loop may take before admissions are cut back: a Heartbeat's
round trip is a few passes, and the goal is p99 below 1 s while thousands are admitted."""
PROBE_EVERY = 0.02
IDLE_GRACE = 5.0
"""Seconds without admissions after which the storm is taken to be over (chargers whose SYN
the kernel dropped retry 1, 3, 7 s later)."""
MAX_DEFER = 60.0
"""Seconds of admitting after which full collections run again however busy the gate is."""


class FullCollections:
    """Holds off the collector's automatic full collections (generation 2) while any gate of
    the process is admitting; the thresholds are given back when the last one is idle."""

    _holders = 0
    _saved: tuple[int, int, int] | None = None

    @classmethod
    def hold(cls) -> None:
        if cls._holders == 0:
            young, middle, full = gc.get_threshold()
            cls._saved = (young, middle, full)
            # A full collection runs when this many middle ones ran: never, in effect.
            gc.set_threshold(young, middle, 1 << 30)
        cls._holders += 1

    @classmethod
    def release(cls) -> None:
        cls._holders -= 1
        if cls._holders == 0 and cls._saved is not None:
            gc.set_threshold(*cls._saved)


class AdmissionGate:
    """``async with gate:`` around one admission. ``observe(lag)`` adjusts the limit; the gate
    calls it itself from a timer while admissions are in flight or waiting."""

    def __init__(self, *, most: int = MOST, least: int = LEAST, lag_target: float = LAG_TARGET,
                 probe_every: float = PROBE_EVERY, max_defer: float = MAX_DEFER,
                 idle_grace: float = IDLE_GRACE) -> None:
        if not 1 <= least <= most:
            raise ValueError("need 1 <= least <= most")
        self.most = most
        self.least = least
        self.lag_target = lag_target
        self.probe_every = probe_every
        self.max_defer = max_defer
        self.idle_grace = idle_grace
        self._idle_since: float | None = None
        self.limit = most
        self.in_flight = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._probe: asyncio.TimerHandle | None = None
        self._busy_since: float | None = None
        """Loop time the gate started admitting while holding full collections off."""
        self.slowest_lag = 0.0
        """The longest lag seen (benchmarks, tests)."""

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiting if not waiter.done())

    def observe(self, lag: float) -> None:
        """One measurement of the loop's lag (seconds a timer fired late)."""
        self.slowest_lag = max(self.slowest_lag, lag)
        if lag > self.lag_target:
            self.limit = max(self.least, self.limit // 2)
        else:
            self.limit = min(self.most, self.limit + self.least)
            self._let_in()

    async def __aenter__(self) -> None:
        self._keep_probing()
        if self.in_flight < self.limit and not self._waiting:
            self.in_flight += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # let in, then cancelled: give the place on
            raise
        finally:
            if not waiter.done() or waiter.cancelled():
                self._forget(waiter)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self._release()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        self._give_collections_back()

    def _give_collections_back(self) -> None:
        if self._busy_since is not None:
            self._busy_since = None
            FullCollections.release()

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        try:
            self._waiting.remove(waiter)
        except ValueError:
            pass

    def _release(self) -> None:
        self.in_flight -= 1
        self._let_in()

    def _let_in(self) -> None:
        while self._waiting and self.in_flight < self.limit:
            waiter = self._waiting.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    def _keep_probing(self) -> None:
        if self._probe is None:
            loop = asyncio.get_running_loop()
            if self._busy_since is None:
                self._busy_since = loop.time()
                FullCollections.hold()
            self._probe = loop.call_later(self.probe_every, self._tick,
                                          loop.time() + self.probe_every)

    def _tick(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        self._probe = None
        now = loop.time()
        self.observe(max(0.0, now - due))
        if self.in_flight or self._waiting:
            self._idle_since = None
        elif self._idle_since is None:
            self._idle_since = now
        # Idle for a moment between two bursts of connections is not the end of a storm.
        idle = self._idle_since is not None and now - self._idle_since >= self.idle_grace
        if idle or (self._busy_since is not None and now - self._busy_since > self.max_defer):
            self._give_collections_back()
        if not idle:
            self._probe = loop.call_later(self.probe_every, self._tick, now + self.probe_every)
        else:
            self._idle_since = None
