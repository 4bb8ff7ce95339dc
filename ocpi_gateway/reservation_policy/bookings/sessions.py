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

Each instance tracks the transactions of its own chargers; the timeline is shared. The
durable store holds the transactions in progress (their OCPI Sessions ACTIVE: ``ongoing``),
from which an instance adopts those it does not track (``adopt``): at its start, every one
(a restart or a crash lost them), and a charger's when it connects (a reconnection, or a
charger taken over from another instance). An adopted session is the one this instance
would have made at the transaction's start — the booking it used by its reservation id or
token at that time, else the site's median from its start (this instance's history) — and is
extended and released the same way. One whose EVSE shows free has ended unseen and is not
adopted; one whose end is stored leaves at the next run due to extend it (its end was seen
elsewhere), so two instances that adopted the same transaction both let it go: its
promise's id is its EVSE's, and an EVSE with another transaction in progress keeps its
promise. The sessions known here are also what ``ReservationCapacity.restore`` puts back
(``stored``).
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


@dataclass(frozen=True, slots=True)
class Ongoing:
    """A transaction the durable store holds as running."""

    start: TransactionStarted
    """How it started (``timestamp``: when)."""
    evse_uid: str
    """The EVSE its session is on."""


OngoingAt = Callable[[str | None], Awaitable[list[Ongoing]]]
"""A charge point id (None: every charger) → the transactions the store holds as running
there."""


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
                 default: timedelta = DEFAULT_SESSION, extend: timedelta = EXTEND,
                 ongoing: OngoingAt | None = None) -> None:
        self.service = service
        self.sites = sites
        self.ongoing = ongoing
        """None: nothing is adopted, and a session's end is known only from its event."""
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
        now = self.service.clock()
        await self._track(event, now, now)

    async def adopt(self, free: FreeEvses, charge_point_id: str | None = None) -> int:
        """Track the transactions the store holds as running (at ``charge_point_id``, or at
        every charger) that are not tracked here; how many were adopted. A transaction whose
        EVSE shows free ended unseen; one older than another on its EVSE lost its end."""
        if self.ongoing is None:
            return 0
        if charge_point_id is not None and not any(
                self.service.policy.bookings_possible(location_id)
                for location_id in self.sites(charge_point_id)):
            return 0  # no read for a charger connecting where nobody books
        now = self.service.clock()
        adopted: list[tuple[str, str]] = []
        # Oldest first: a newer one on the same EVSE replaces it.
        for found in sorted(await self.ongoing(charge_point_id),
                            key=lambda o: o.start.timestamp):
            start = found.start
            key = (start.charge_point_id, start.transaction_id)
            if key in self._running:
                continue
            try:
                if await self._track(start, start.timestamp, now, free=free) is not None:
                    adopted.append(key)
            except Exception:
                # One that cannot be read (its site's timeline, its bookings) leaves the
                # others to be adopted: it ends on the timeline at its estimate, as before.
                log.exception("session_adopt_failed", charge_point_id=start.charge_point_id,
                              transaction_id=start.transaction_id)
        count = sum(1 for key in adopted if key in self._running)
        if count:
            log.info("sessions_adopted", count=count, charge_point_id=charge_point_id)
        return count

    async def _track(self, event: TransactionStarted, since: datetime, now: datetime, *,
                     free: FreeEvses | None = None) -> Running | None:
        """Put the transaction on the timeline as a session from ``since`` (``free``: an
        adoption, of a transaction that started before ``now``)."""
        svc = self.service
        for location_id in dict.fromkeys(self.sites(event.charge_point_id)):
            if not svc.policy.bookings_possible(location_id):
                continue
            candidates = await svc.candidates.candidates(location_id)
            evse = evse_of(candidates, event.charge_point_id, event.evse_id,
                           event.connector_id)
            if evse is None:
                continue
            if free is not None and evse.evse_uid in await free(location_id):
                return None
            used = self._booking_used(await svc.ledger.near(location_id, since), event, since)
            until = promise_of(used).end if used is not None \
                else since + self.expected(location_id)
            running = Running(location_id, evse.evse_uid, since,
                              min(max(until, now + self.extend), since + MAX_INTERVAL),
                              used is not None)
            if running.until <= now:
                return None  # a day long: no longer believed
            if any(self._at(location_id, evse.evse_uid, other) and other.since > since
                   for other in self._running.values()):
                return None  # a newer one is there: this one's end went unreported
            # Unchecked, it needs no supply: the site's first admission here restores that.
            await svc.capacity.timeline.occupy(location_id, running.promise())
            for key, other in list(self._running.items()):
                if self._at(location_id, evse.evse_uid, other):
                    del self._running[key]  # its end went unreported: this one replaced it
            self._running[(event.charge_point_id, event.transaction_id)] = running
            log.info("session_adopted" if free is not None else "session_on_timeline",
                     location_id=location_id, evse_uid=evse.evse_uid,
                     until=running.until.isoformat(), booked=running.booked)
            return running
        return None

    @staticmethod
    def _at(location_id: str, evse_uid: str, running: Running) -> bool:
        return (running.location_id, running.evse_uid) == (location_id, evse_uid)

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
        free (their end went unreported) or whose end is stored (seen by another instance)."""
        free_at: dict[str, set[str]] = {}
        stored_at: dict[str, list[Ongoing] | None] = {}
        for key, running in list(self._running.items()):
            if running.until > now + self.extend / 2:
                continue
            if running.location_id not in free_at:
                free_at[running.location_id] = await free(running.location_id)
            if key[0] not in stored_at:
                stored_at[key[0]] = await self._ongoing_at(key[0])
            if self._running.get(key) is not running:
                continue  # ended, or replaced on its EVSE, while this run read
            if running.evse_uid in free_at[running.location_id]:
                self._running.pop(key, None)
                await self._vacate(running)
                continue
            still = stored_at[key[0]]
            if still is not None and not any(o.start.transaction_id == key[1] for o in still):
                self._running.pop(key, None)
                # Another car on the EVSE (started where this one was not seen) holds the
                # promise now: it is that one's.
                if not any(o.evse_uid == running.evse_uid for o in still):
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

    async def _ongoing_at(self, charge_point_id: str) -> list[Ongoing] | None:
        """The transactions the store holds as running at the charger; None when unknown
        (no store, or it could not be read: the sessions are believed)."""
        if self.ongoing is None:
            return None
        try:
            return await self.ongoing(charge_point_id)
        except Exception:
            log.exception("sessions_ongoing_unread", charge_point_id=charge_point_id)
            return None

    async def stored(self, location_id: str, now: datetime) -> list[Promise]:
        """``ReservationCapacity.add_stored_promises``: the sessions known here."""
        return [r.promise() for r in self._running.values()
                if r.location_id == location_id and r.until > now]
