"""The reservation service: reserve (pick, hold, ReserveNow, next candidate on refusal),
replace, cancel, and the lifecycle driven by charger events and the gateway's expiry clock.

The OCPI Commands module calls ``reserve`` / ``cancel`` and maps the typed results to
CommandResults; it registers a listener to learn about transitions the gateway detects itself
(used, expired, re-routed, removed -> CANCELED_RESERVATION). Each job has its own module
(``attempts``, ``replacement``, ``charger_events``, ``expiry``, ``recovery``); this class puts
them together over the shared ``core``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.charger_commands import ChargerCommands
from ocpi_gateway.domain.events import DomainEvent, utc_now
from ocpi_gateway.domain.loops import LoopRegistry
from ocpi_gateway.domain.store import DocumentStore
from ocpi_gateway.reservation_policy import acts
from ocpi_gateway.reservation_policy.acts import ActResult
from ocpi_gateway.reservation_policy.attempts import reserve_new
from ocpi_gateway.reservation_policy.availability.base import AvailabilityRebuilding
from ocpi_gateway.reservation_policy.charger_events import (
    TOKEN_USE_WINDOW,
    ChargerEvents,
    reroute,
)
from ocpi_gateway.reservation_policy.core import (
    CandidateSource,
    ReservationCore,
    ReservationListener,
)
from ocpi_gateway.reservation_policy.engine import PolicyEngine
from ocpi_gateway.reservation_policy.expiry import expire_due
from ocpi_gateway.reservation_policy.models import Partner, ReservationRequest
from ocpi_gateway.reservation_policy.records import (
    Reservation,
    ReservationState,
    reservation_key,
)
from ocpi_gateway.reservation_policy.recovery import RecoverySweeper, settle_abandoned
from ocpi_gateway.reservation_policy.replacement import replace_reservation
from ocpi_gateway.reservation_policy.results import (
    CancelOutcome,
    CancelResult,
    ReserveOutcome,
    ReserveResult,
)

__all__ = ["TOKEN_USE_WINDOW", "CancelOutcome", "CancelResult", "CandidateSource",
           "ReservationListener", "ReservationService", "ReserveOutcome", "ReserveResult"]

log = structlog.get_logger(__name__)


class ReservationService(ReservationCore):
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
        recovery_interval: float = 10.0,
        loops: LoopRegistry | None = None,
    ) -> None:
        super().__init__(engine=engine, store=store, commands=commands, candidates=candidates,
                         charger_timeout=charger_timeout, reroute_timeout=reroute_timeout,
                         clock=clock)
        self._events = ChargerEvents(self)
        # A live worker writes its record at least once per charger wait; twice that and a
        # margin for a slow store, and nobody is working on it any more.
        self.recovery = RecoverySweeper(self, stale_after=2 * charger_timeout + 10.0,
                                        interval=recovery_interval, loops=loops)

    # ------------------------------------------------------------------ queries

    async def get(self, partner: Partner, reservation_id: str) -> Reservation | None:
        return await self.repo.get(reservation_key(partner, reservation_id))

    async def live_at_location(self, location_id: str) -> list[Reservation]:
        return await self.repo.live(location_id=location_id)

    # ------------------------------------------------------------------ reserve

    async def reserve(
        self, request: ReservationRequest, reservation_id: str, *, time_budget: float
    ) -> ReserveResult:
        """Reserve for ``request`` within ``time_budget`` seconds: pick, hold, ReserveNow, and on a
        refusal release the hold and try the next candidate while time is left.

        The policy's grace period is added after the request's expiry (``ends_at``).
        An existing live reservation with the same (partner, reservation_id) is replaced; if
        the EVSE changes, the old OCPP reservation is cancelled once the new one is accepted,
        and if no new EVSE can be had the old reservation stays as it was.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + time_budget
        key = reservation_key(request.partner, reservation_id)
        if request.booking_key is None:
            # A booking's binding runs to its no-show time, the booking's own grace.
            grace = self.engine.policy.effective(request.location_id,
                                                 request.partner).grace_minutes
            request = replace(request, grace=timedelta(minutes=grace))
        for _ in range(2):
            # After Redis lost its data nothing is decided until availability is rebuilt: a
            # decision would see no status (EVSE_INOPERATIVE) or miss holds (double booking).
            if not await self.engine.availability.wait_ready(deadline - loop.time()):
                break
            try:
                async with self.lock(key):
                    existing = await self.repo.get(key)
                    candidates = await self.candidates.candidates(request.location_id)
                    if existing is not None and existing.live:
                        if request.booking_key is not None:
                            return _bound_already(existing)
                        return await replace_reservation(self, existing, request, candidates,
                                                         deadline)
                    return await reserve_new(self, request, reservation_id, key, existing,
                                             candidates, deadline)
            except AvailabilityRebuilding:
                log.warning("reservation_interrupted_by_rebuild", reservation_key=key)
                await settle_abandoned(self, key)
        return ReserveResult(ReserveOutcome.REJECTED,
                             message="availability is being rebuilt after a Redis restart; "
                                     "try again in a few seconds")

    # ------------------------------------------------------------------ cancel

    async def cancel(self, partner: Partner, reservation_id: str, *,
                     charger_wait: float | None = None) -> CancelResult:
        """End a live reservation: CancelReservation at the charger, release the hold.

        The reservation ends on the gateway whatever the charger answers (a charger that
        no longer knows the id has nothing to cancel; an offline one will let it expire), so
        the driver is never billed for a reservation they cancelled.
        """
        return await self._cancel(reservation_key(partner, reservation_id),
                                  ReservationState.CANCELLED, "cancelled by eMSP", charger_wait)

    async def cancel_by_cpo(self, key: str, *, reason: str,
                            charger_wait: float | None = None) -> CancelResult:
        """The CPO ends a live reservation (an operator's decision): CancelReservation at the
        charger and the hold released as for the eMSP's cancel, but it ends REMOVED, the
        CPO-side end: its listeners tell the eMSP (CANCELED_RESERVATION, the session
        completed) and it is never billed. ``reason`` starts with ``OPERATOR_CANCELLED``
        when an operator did it."""
        return await self._cancel(key, ReservationState.REMOVED, reason, charger_wait)

    async def _cancel(self, key: str, state: ReservationState, reason: str,
                      charger_wait: float | None) -> CancelResult:
        async with self.lock(key):
            for _ in range(5):
                r = await self.repo.get(key)
                if r is None or not r.live:
                    return CancelResult(CancelOutcome.UNKNOWN_RESERVATION, reservation=r)
                charger_outcome = await self.cancel_at_charger(r, charger_wait)
                ended = await self.end(r, state, reason)
                if ended is not None:
                    return CancelResult(CancelOutcome.ACCEPTED, ended, charger_outcome)
            return CancelResult(CancelOutcome.UNKNOWN_RESERVATION)

    # ------------------------------------------------------------------ operator acts

    async def move_by_cpo(self, key: str, evse_uid: str, *, reason: str,
                          time_budget: float) -> ActResult:
        """Move a live reservation to another EVSE of its location (``acts.move``)."""
        return await acts.move(self, key, evse_uid, reason=reason, time_budget=time_budget)

    async def extend_by_cpo(self, key: str, expiry: datetime, *, reason: str,
                            time_budget: float) -> ActResult:
        """Give a live reservation a new expiry on its EVSE (``acts.extend``)."""
        return await acts.extend(self, key, expiry, reason=reason, time_budget=time_budget)

    # ------------------------------------------------------------------ expiry and events

    async def expire_due(self, now: datetime | None = None) -> int:
        """End every live reservation whose expiry passed (any instance may run this)."""
        return await expire_due(self, now or self.clock())

    async def handle_event(self, event: DomainEvent) -> None:
        """Subscribe this to the EventBus."""
        await self._events.handle(event)
        await self.recovery.on_event(event)

    # ------------------------------------------------------------------ recovery

    async def settle_abandoned(self, partner: Partner, reservation_id: str
                               ) -> Reservation | None:
        """Settle a reservation no worker is on any more (its command was cut by its timeout,
        or the gateway restarted during it): never active → FAILED, hold and cap slot given
        back, and the ReserveNow that may have reached a charger cancelled there."""
        return await settle_abandoned(self, reservation_key(partner, reservation_id))

    async def reroute(self, r: Reservation, *, reason: str, cancel_at_charger: bool,
                      avoid_charger: bool = False) -> Reservation | None:
        """Move a live reservation to another EVSE of its location; end it as REMOVED (and
        tell the listeners, so the eMSP gets CANCELED_RESERVATION) when none is left."""
        return await reroute(self, r, reason=reason, cancel_at_charger=cancel_at_charger,
                             avoid_charger=avoid_charger)


def _bound_already(existing: Reservation) -> ReserveResult:
    """A booking's binding made meanwhile (another instance, an earlier run): it stands; a
    booking is never replaced by its own binding."""
    if existing.state is ReservationState.PENDING:
        return ReserveResult(ReserveOutcome.REJECTED,
                             message="a request with this reservation_id is in progress")
    return ReserveResult(ReserveOutcome.ACCEPTED, reservation=existing)
