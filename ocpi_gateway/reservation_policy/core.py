"""What every job of the reservation service shares: the stores, the chargers, the per-key
lock, the listeners, the background tasks, and giving back what an ended reservation holds.

The jobs themselves live beside it, one module each: ``attempts`` (reserve: pick, hold,
ReserveNow, next candidate), ``replacement``, ``charger_events`` (use, removal, re-route),
``expiry``; ``lifecycle.ReservationService`` puts them together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

import structlog

from ocpi_gateway.domain.charger_commands import (
    CancelReservation,
    ChargerCommands,
    CommandOutcome,
)
from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.domain.keyed_locks import KeyedLocks
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.domain.tasks import cancel_all
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.ocpp_ids import OcppReservationIds
from ocpi_gateway.reservation_policy.partner_cap import PartnerCap
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationRepository,
    ReservationState,
)

log = structlog.get_logger(__name__)


class CandidateSource(Protocol):
    """The OCPI side's view of a location, adapted into engine candidates."""

    async def candidates(self, location_id: str) -> Sequence[EvseCandidate]:
        """Every EVSE of the location; empty when the location is unknown."""


ReservationListener = Callable[[Reservation, ReservationState], Awaitable[None]]
"""Called with the reservation after a transition and the state it left."""


class ReservationCore:
    def __init__(
        self,
        *,
        engine: PolicyEngine,
        store: DocumentStore,
        commands: ChargerCommands,
        candidates: CandidateSource,
        charger_timeout: float = 30.0,
        reroute_timeout: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.engine = engine
        self.repo = ReservationRepository(store, clock=clock)
        self.ids = OcppReservationIds(store)
        self.commands = commands
        self.candidates = candidates
        self.charger_timeout = charger_timeout
        self.reroute_timeout = reroute_timeout
        self.clock = clock
        self.cap = PartnerCap(store)
        self._listeners: list[ReservationListener] = []
        self._locks = KeyedLocks()
        self._background: set[asyncio.Task[None]] = set()

    def add_listener(self, listener: ReservationListener) -> None:
        self._listeners.append(listener)

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Serialises work on one reservation within this instance (other instances are kept
        out by compare-and-set)."""
        return self._locks.lock(key)

    async def notify(self, reservation: Reservation, previous: ReservationState) -> None:
        for listener in self._listeners:
            try:
                await listener(reservation, previous)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservation_listener_failed", **reservation.ids)

    async def release(self, r: Reservation) -> None:
        if r.evse_uid is not None:
            await self.engine.release(r.location_id, r.evse_uid, holder=r.key)

    async def finish(self, ended: Reservation) -> None:
        """Give back what a reservation that ended holds: its EVSE and its cap slot."""
        await self.release(ended)
        if ended.cap_slot is not None:
            await self.cap.release(ended.partner.key, ended.cap_slot, ended.key)

    async def end(self, r: Reservation, state: ReservationState, reason: str,
                  **changes: Any) -> Reservation | None:
        """Move a live reservation to an ended state, give back what it holds and tell the
        listeners; None when another writer won."""
        ended = await self.repo.transition(r, state, reason=reason, **changes)
        if ended is not None:
            await self.finish(ended)
            await self.notify(ended, r.state)
        return ended

    async def is_live(self, key: str) -> bool:
        r = await self.repo.get(key)
        return r is not None and r.live

    async def cancel_at_charger(self, r: Reservation, wait: float | None = None
                                ) -> CommandOutcome | None:
        if r.charge_point_id is None or r.ocpp_reservation_id is None:
            return None
        outcome = await self.commands.execute(
            CancelReservation(charge_point_id=r.charge_point_id,
                              reservation_id=r.ocpp_reservation_id),
            wait or self.charger_timeout)
        log.info("reservation_cancel_sent", outcome=outcome.value, **r.ids)
        return outcome

    async def cancel_quietly(self, r: Reservation) -> None:
        await self.cancel_at_charger(r)

    def in_background(self, coro: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reservation_background_failed")
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for background work (re-routes, withdrawals at chargers) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def aclose(self) -> None:
        await cancel_all(self._background, name="reservation-background")
