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
"""

from __future__ import annotations

import asyncio
import collections
from types import TracebackType

MOST = 256
LEAST = 8
LAG_TARGET = 0.1
"""Seconds a pass of the event loop may take before admissions are cut back: a Heartbeat's
round trip is a few passes, and the goal is p99 below 1 s while thousands are admitted."""
PROBE_EVERY = 0.02


class AdmissionGate:
    """``async with gate:`` around one admission. ``observe(lag)`` adjusts the limit; the gate
    calls it itself from a timer while admissions are in flight or waiting."""

    def __init__(self, *, most: int = MOST, least: int = LEAST, lag_target: float = LAG_TARGET,
                 probe_every: float = PROBE_EVERY) -> None:
        if not 1 <= least <= most:
            raise ValueError("need 1 <= least <= most")
        self.most = most
        self.least = least
        self.lag_target = lag_target
        self.probe_every = probe_every
        self.limit = most
        self.in_flight = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._probe: asyncio.TimerHandle | None = None
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
            self._probe = loop.call_later(self.probe_every, self._tick,
                                          loop.time() + self.probe_every)

    def _tick(self, due: float) -> None:
        loop = asyncio.get_running_loop()
        self._probe = None
        self.observe(max(0.0, loop.time() - due))
        if self.in_flight or self._waiting:
            self._keep_probing()
