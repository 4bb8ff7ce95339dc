"""Sessions in progress on the capacity timeline: a car charging on an EVSE without any
promise (a walk-in, or a driver whose booking or reservation ended when the car started) is
expected busy until an estimated end, so that a booking whose slot starts while every
fitting EVSE is charging is not admitted, and a RESERVE_NOW does not take the EVSE such a
booking needs (``CapacityTimeline``: sessions count in new admissions, not in bindings).

The estimate: a session that used a booking (its reservation id, or a booking token in the
use window) ends with the booking's promise (slot end + turnover buffer); any other one
after the site's median session (the last ``HISTORY`` sessions seen here; ``default`` before
there are ``MIN_HISTORY``). A session still charging at its estimate is extended by
``extend`` at each ``refresh`` (the binder's run); one whose EVSE shows free again, or whose
end was reported, leaves the timeline (``release``).

Each instance tracks the transactions of its own chargers; the timeline is shared. Restarted,
an instance has lost them: their sessions end on the timeline at their estimate. The
sessions known here are also what ``ReservationCapacity.restore`` puts back (``stored``).
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.events import DomainEvent, TransactionEnded, TransactionStarted
from ocpi_gateway.reservation_policy.bookings.fulfilment import SitesOfCharger, admits
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import BookingService, promise_of
from ocpi_gateway.reservation_policy.bookings.states import BookingState
from ocpi_gateway.reservation_policy.capacity.base import MAX_INTERVAL, Promise, PromiseKind
from ocpi_gateway.reservation_policy.models import EvseCandidate

log = structlog.get_logger(__name__)

HISTORY = 50
MIN_HISTORY = 5
DEFAULT_SESSION = timedelta(minutes=60)
EXTEND = timedelta(minutes=15)

FreeEvses = Callable[[str], Awaitable[set[str]]]
"""A location id → the uids of its EVSEs that show free now."""


def session_id(evse_uid: str) -> str:
    # One car at a time on an EVSE: a new session there replaces a lost one.
    return f"session|{evse_uid}"


def evse_of(candidates: Sequence[EvseCandidate], charge_point_id: str, evse_id: int | None,
            connector_id: int | None) -> EvseCandidate | None:
    """The EVSE a transaction names (2.0.1: its evse id; 1.6: its connector id; neither, a
    charger with one EVSE)."""
    mine = [c for c in candidates if c.charge_point_id == charge_point_id]
    for c in mine:
        if evse_id is not None and c.address.evse_id == evse_id:
            return c
        if evse_id is None and connector_id is not None and c.address.evse_id is None \
                and c.address.connector_id == connector_id:
            return c
    return mine[0] if len(mine) == 1 and evse_id is None and connector_id is None else None


@dataclass(frozen=True, slots=True)
class Running:
    location_id: str
    evse_uid: str
    since: datetime
    until: datetime
    booked: bool
    """It used a booking: its end is the booking's, and it joins no history."""

    def promise(self) -> Promise:
        return Promise(session_id(self.evse_uid), self.since, self.until,
                       evse_uid=self.evse_uid, kind=PromiseKind.SESSION)


class SessionWatch:
    """An EventBus subscriber (after ``BookingUse``: a transaction that used a booking has
    fulfilled it by the time this looks)."""

    def __init__(self, service: BookingService, sites: SitesOfCharger, *,
                 default: timedelta = DEFAULT_SESSION, extend: timedelta = EXTEND) -> None:
        self.service = service
        self.sites = sites
        self.default = default
        self.extend = extend
        self._running: dict[tuple[str, str], Running] = {}
        """(charge point, transaction id) → its session."""
        self._history: dict[str, deque[float]] = {}
        """Per location the lengths (s) of its last unbooked sessions."""

    async def on_event(self, event: DomainEvent) -> None:
        if isinstance(event, TransactionStarted):
            await self.started(event)
        elif isinstance(event, TransactionEnded):
            await self.ended(event.charge_point_id, event.transaction_id)

    def expected(self, location_id: str) -> timedelta:
        """How long an unbooked session at the site is expected to last."""
        seen = self._history.get(location_id)
        if seen is None or len(seen) < MIN_HISTORY:
            return self.default
        return timedelta(seconds=statistics.median(seen))

    async def started(self, event: TransactionStarted) -> None:
        svc = self.service
        now = svc.clock()
        for location_id in dict.fromkeys(self.sites(event.charge_point_id)):
            if not svc.policy.bookings_possible(location_id):
                continue
            candidates = await svc.candidates.candidates(location_id)
            evse = evse_of(candidates, event.charge_point_id, event.evse_id,
                           event.connector_id)
            if evse is None:
                continue
            used = self._booking_used(await svc.ledger.near(location_id, now), event, now)
            until = promise_of(used).end if used is not None \
                else now + self.expected(location_id)
            running = Running(location_id, evse.evse_uid, now,
                              min(max(until, now + self.extend), now + MAX_INTERVAL),
                              used is not None)
            # Unchecked, it needs no supply: the site's first admission here restores that.
            await svc.capacity.timeline.occupy(location_id, running.promise())
            for key, other in list(self._running.items()):
                if (other.location_id, other.evse_uid) == (location_id, evse.evse_uid):
                    del self._running[key]  # its end went unreported: this one replaced it
            self._running[(event.charge_point_id, event.transaction_id)] = running
            log.info("session_on_timeline", location_id=location_id,
                     evse_uid=evse.evse_uid, until=running.until.isoformat(),
                     booked=running.booked)
            return

    @staticmethod
    def _booking_used(near: Sequence[Booking], event: TransactionStarted, now: datetime
                      ) -> Booking | None:
        for b in near:
            # RESERVED: the binder's listener may not have fulfilled it yet.
            if b.state not in (BookingState.RESERVED, BookingState.FULFILLED):
                continue
            if (event.reservation_id is not None and b.charge_point_id == event.charge_point_id
                    and b.ocpp_reservation_id == event.reservation_id) or (
                    event.id_token is not None and admits(b, event.id_token, now)):
                return b
        return None

    async def ended(self, charge_point_id: str, transaction_id: str) -> None:
        running = self._running.pop((charge_point_id, transaction_id), None)
        if running is None:
            return
        now = self.service.clock()
        if not running.booked:
            self._history.setdefault(running.location_id, deque(maxlen=HISTORY)).append(
                (now - running.since).total_seconds())
        await self._vacate(running)

    async def _vacate(self, running: Running) -> None:
        await self.service.capacity.timeline.release(running.location_id,
                                                     session_id(running.evse_uid))

    async def refresh(self, free: FreeEvses, now: datetime) -> None:
        """Extend the sessions charging past their estimate; drop those whose EVSE shows
        free (their end went unreported)."""
        free_at: dict[str, set[str]] = {}
        for key, running in list(self._running.items()):
            if running.until > now + self.extend / 2:
                continue
            if running.location_id not in free_at:
                free_at[running.location_id] = await free(running.location_id)
            if running.evse_uid in free_at[running.location_id]:
                self._running.pop(key, None)
                await self._vacate(running)
                continue
            longer = replace(running, until=min(now + self.extend,
                                                running.since + MAX_INTERVAL))
            if longer.until <= now:
                self._running.pop(key, None)  # a day long: no longer believed
                await self._vacate(running)
                continue
            self._running[key] = longer
            await self.service.capacity.timeline.occupy(running.location_id, longer.promise())

    async def stored(self, location_id: str, now: datetime) -> list[Promise]:
        """``ReservationCapacity.add_stored_promises``: the sessions known here."""
        return [r.promise() for r in self._running.values()
                if r.location_id == location_id and r.until > now]
