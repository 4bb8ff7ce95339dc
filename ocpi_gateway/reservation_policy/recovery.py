"""Recovery: settle what a crashed (or cancelled) worker left behind, so that no live record
lacks a live reservation behind it and no charger keeps a reservation without a live record.

Every ReserveNow's target is on the record (``attempt``) before it is sent. A reservation that
never became active (PENDING, its worker gone) is moved to FAILED, its hold and cap slot are
given back, and CancelReservation goes to the stored target. A live reservation whose
replacement or re-route stopped half-way keeps its own target; the other one is withdrawn.
Who calls: the Commands module as soon as it knows no task works on a command (its sweeper
after a restart, a command cut by its timeout); ``RecoverySweeper`` for whatever is left once
no worker can still be on it (``stale_after``), and again when the target's charger connects.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.events import ChargerConnected, DomainEvent
from ocpi_gateway.domain.loops import BackgroundLoop, LoopRegistry
from ocpi_gateway.reservation_policy.attempts import withdraw
from ocpi_gateway.reservation_policy.core import ReservationCore
from ocpi_gateway.reservation_policy.records import Reservation, ReservationState
from ocpi_gateway.reservation_policy.replacement import release_held_by

log = structlog.get_logger(__name__)


async def settle_abandoned(core: ReservationCore, key: str) -> Reservation | None:
    """Settle the reservation under ``key``, on which no worker is (or will be) working: the
    record as left, or None when there is none."""
    async with core.lock(key):
        r = await core.repo.get(key)
        if r is None:
            return None
        if r.state is ReservationState.PENDING:
            failed = await _fail(core, r)
            if failed is None:
                return await core.repo.get(key)  # moved meanwhile: a later sweep looks again
            r = failed
        if r.attempt is None:
            return r
        if r.live and (r.attempt.charge_point_id, r.attempt.ocpp_reservation_id) == (
                r.charge_point_id, r.ocpp_reservation_id):
            return await core.repo.settle_attempt(r, reason="stands") or r
        if r.live and r.attempt.evse_uid != r.evse_uid:
            await core.engine.release(r.attempt.location_id, r.attempt.evse_uid, holder=key)
        await withdraw(core, key, r.attempt, locked=True)
        return await core.repo.get(key)


async def _fail(core: ReservationCore, r: Reservation) -> Reservation | None:
    held = r.attempt.evse_uid if r.attempt is not None else None
    failed = await core.repo.transition(
        r, ReservationState.FAILED, reason="its worker stopped before a charger accepted",
        evse_uid=held)
    if failed is None:
        return None
    # A crash between the hold and the attempt's write leaves a hold the record never named.
    await release_held_by(core, failed)
    await core.finish(failed)
    await core.notify(failed, r.state)
    return failed


async def settle_stale(core: ReservationCore, now: datetime, stale_after: timedelta,
                       charge_point_id: str | None = None, *, legacy: bool = False) -> int:
    """Settle every unsettled record no worker can still be on: live ones untouched for
    ``stale_after``, ended ones at once (only a withdrawal can be left). With
    ``charge_point_id``: only ended records whose stray target is on that charger.
    ``legacy``: also PENDING records of a version that did not mark them."""
    settled = 0
    for r in await core.repo.unsettled(written_before_the_field=legacy):
        if charge_point_id is not None and (
                r.live or r.attempt is None or r.attempt.charge_point_id != charge_point_id):
            continue
        if r.live and now - r.updated_at < stale_after:
            continue
        after = await settle_abandoned(core, r.key)
        if after is None or not after.unsettled:
            settled += 1
    return settled


class RecoverySweeper:
    """Runs ``settle_stale`` every ``interval`` seconds, and for a charger when it connects
    (a withdrawal that found it offline is sent as soon as it is back)."""

    def __init__(self, core: ReservationCore, *, stale_after: float,
                 interval: float = 10.0, loops: LoopRegistry | None = None) -> None:
        self._core = core
        self._stale_after = timedelta(seconds=stale_after)
        # The first sweep after a start also finds what a crash before the upgrade left.
        self._legacy = True
        self.loop = BackgroundLoop("reservations-recovery", self._periodic, interval=interval,
                                   registry=loops)

    async def sweep(self, charge_point_id: str | None = None, *, legacy: bool = False
                    ) -> int:
        settled = await settle_stale(self._core, self._core.clock(), self._stale_after,
                                     charge_point_id, legacy=legacy)
        if settled:
            log.info("reservations_recovered", count=settled)
        return settled

    async def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, ChargerConnected):
            # In the background: this runs in the charger's connection task, which must
            # answer the CancelReservation it is about to get.
            self._core.in_background(self.sweep(event.charge_point_id))

    def start(self) -> None:
        self.loop.start()

    async def stop(self) -> None:
        await self.loop.stop()

    async def _periodic(self) -> None:
        await self.sweep(legacy=self._legacy)
        self._legacy = False
