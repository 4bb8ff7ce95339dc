"""Rebuilding the shared availability after Redis lost its data (a restart without
persistence, a failover to an empty replica, a flushed cache).

Detection: ``avail:run`` holds a run id. Every instance checks it every ``check_interval``
seconds, and at once when a guarded read or pick finds a location not rebuilt under its run.
When the marker is gone (Redis came back empty) the first instance to look sets a new one;
every instance that sees a run id other than its own rebuilds:

1. it closes its gate: its decisions wait (and ``/ready`` answers 503);
2. it puts back the holds it knows (live reservations from the durable store, and the holds
   of its own attempts in flight) and the statuses it knows (its own chargers' last reports),
   and asks its chargers whose statuses it does not know (TriggerMessage StatusNotification);
3. it waits ``settle`` seconds, longer than any instance takes to notice, so that every
   instance has put its in-flight holds back before anything is picked again;
4. it marks every location rebuilt under the new run and opens its gate.

A location found without the current run (a Cluster node that lost some slots) closes the
finding instance's gate until its check looked again: if the location still lacks the run,
everyone moves to a new run the same way (one instance rotates it, the others adopt it); if
it has it now, the answer came from before a rebuild that has finished since, and the gate
opens again. Only data found gone starts a new run, and each run is rebuilt once per
instance: two instances never hand runs back and forth.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable

import structlog
from redis.exceptions import RedisError

from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability

log = structlog.get_logger(__name__)

Restorer = Callable[[], Awaitable[object]]


class AvailabilityRecovery:
    def __init__(
        self,
        store: RedisAvailability,
        locations: Callable[[], Iterable[str]],
        *,
        check_interval: float = 0.5,
        settle: float = 1.5,
        loops: LoopRegistry | None = None,
    ) -> None:
        self.store = store
        self._locations = locations
        self.check_interval = check_interval
        self.settle = settle
        self._holds: list[Restorer] = []
        self._statuses: list[Restorer] = []
        # Waits first: start() decides what the first check must do.
        self._loop = BackgroundLoop("availability-recovery", self.check,
                                    interval=check_interval, registry=loops, wake=store.lost,
                                    run_at_start=False, quiet=(RedisError,))
        self.rebuilds = 0
        """How many rebuilds this instance ran (tests, metrics)."""
        self._done = ""
        """The run this instance finished rebuilding under ("" = none yet)."""

    def add_hold_restorer(self, restorer: Restorer) -> None:
        self._holds.append(restorer)

    def add_status_restorer(self, restorer: Restorer) -> None:
        self._statuses.append(restorer)

    @property
    def rebuilt(self) -> bool:
        return self.store.ready

    async def start(self) -> None:
        candidate = uuid.uuid4().hex
        try:
            run = await self.store.join_run(candidate)
        except RedisError:
            log.warning("availability_run_unknown")
            self.store.close_gate("-")
        else:
            if run == candidate:
                # No run yet: a fresh Redis, or one that lost its data while we were down.
                # Rebuild at the first check, like after a restart seen while running.
                self.store.close_gate("-")
                self._loop.start()
                return
            # A run exists: the locations are open under it, except those new to it.
            self.store.close_gate(run)
            try:
                await self.store.open_locations(self._locations(), run, only_missing=True)
                self._done = run
                self.store.open_gate()
            except RedisError:
                log.warning("availability_open_failed")
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def check(self) -> None:
        self.store.lost.clear()
        run = await self.store.join_run(uuid.uuid4().hex)
        if run != self._done or run != self.store.run:
            await self._rebuild(run)  # a new run (ours or another's), or one not finished
            return
        if await self.store.lost_locations(run):
            # Our run stands but a location lost its data since: everyone moves to a new run
            # (unless another instance rotated it first: then we adopt that one).
            await self._rebuild(await self.store.rotate_run(run, uuid.uuid4().hex))
            return
        self.store.open_gate()  # what closed it was stale, or nothing did

    async def _rebuild(self, run: str) -> None:
        self.store.close_gate(run)
        self.rebuilds += 1
        log.warning("availability_rebuilding", run=run)
        for restorer in [*self._holds, *self._statuses]:
            try:
                await restorer()
            except RedisError:
                raise
            except Exception:
                log.exception("availability_restorer_failed")
        await asyncio.sleep(self.settle)
        if await self.store.join_run(uuid.uuid4().hex) != run:
            return  # lost again meanwhile: the next check starts over
        await self.store.open_locations(self._locations(), run)
        self._done = run
        self.store.open_gate()
        log.info("availability_rebuilt", run=run)
