"""RESERVE_NOW on the capacity timeline: at a site where bookings are possible, the EVSE a
reservation holds is promised from now to its expiry plus the turnover buffer, and only when
every booking still fits (the EVSE needed at 18:00 is not given away at 17:30).

A site is first touched in a process, and again whenever its timeline is found gone (Redis
lost its data: the admission answers NO_INVENTORY), by ``restore``: its supply and the
promises the durable store holds for it (``add_stored_promises``: live reservations, live
bookings) in one atomic step that keeps whatever the timeline holds already.

Order in the reserve path (``PolicyEngine.hold``): the atomic pick-and-hold first, then the
atomic admission of the held EVSE; a refusal gives the hold back and skips every EVSE of the
same classes (they would be refused alike). Every promise enters the timeline through the one
atomic admission, so two attempts racing (on any instances) cannot overbook; a race costs at
most a refusal. Where no partner may book, nothing here runs (``applies``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

import structlog

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.capacity.base import (
    Admission,
    CapacityTimeline,
    Promise,
    PromiseKind,
    Verdict,
)
from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses, supply_of
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import PolicySettings, PolicySource
from ocpi_gateway.reservation_policy.records import Reservation, ReservationRepository

log = structlog.get_logger(__name__)

BookedPromise = Callable[[str, str, datetime], Awaitable[Promise | None]]
"""(booking key, EVSE uid, the hold's end) -> the booking's own promise bound onto that EVSE
and covering the hold, or None when the booking is no longer live: what a booking's binding
puts on the timeline instead of a second promise."""

WaitingList = Callable[[str], Awaitable[object]]
"""A location's waiting bookings tried in arrival order, those that fit granted (the
bookings module's waiting list)."""

StoredPromises = Callable[[str, datetime], Awaitable[list[Promise]]]
"""The promises the durable store holds for a location at a moment (its live reservations,
its live bookings): what ``restore`` puts back."""


def promise_id(holder: str, evse_uid: str) -> str:
    # One promise per (reservation, EVSE): a replacement onto another EVSE is admitted beside
    # the old one, which is released once the new one stands.
    return f"{holder}|{evse_uid}"


class ReservationCapacity:
    def __init__(self, timeline: CapacityTimeline, policy: PolicySource, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.timeline = timeline
        self._policy = policy
        self._clock = clock
        self._sites: dict[str, tuple[tuple[EvseCandidate, ...], SiteClasses]] = {}
        self._stored: list[StoredPromises] = []
        self._booked: BookedPromise | None = None
        self._waiting: WaitingList | None = None

    def applies(self, location_id: str) -> bool:
        return self._policy.bookings_possible(location_id)

    def add_stored_promises(self, source: StoredPromises) -> None:
        self._stored.append(source)

    def set_booked_promises(self, source: BookedPromise) -> None:
        """How a booking's binding finds its promise (the bookings module says)."""
        self._booked = source

    def set_waiting_list(self, grant: WaitingList) -> None:
        """How a site's waiting bookings are let in (the bookings module says)."""
        self._waiting = grant

    async def waiting_first(self, location_id: str) -> None:
        """First come, first served: capacity freed where nothing granted it yet (the
        operator's edit of the policy, read again by the very request that comes next) goes
        to the bookings waiting at the site before a new reservation may take it. A failure
        is logged: the reservation is still decided, at once."""
        if self._waiting is None:
            return
        try:
            await self._waiting(location_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("booking_waiting_list_failed", location_id=location_id)

    async def restore(self, location_id: str, candidates: Sequence[EvseCandidate]) -> int:
        """Put the site's supply and its stored promises on the timeline (those it lacks);
        how many promises were added."""
        supply = supply_of(candidates)
        table = SiteClasses.build(supply)
        now = self._clock()
        promises = [p for source in self._stored for p in await source(location_id, now)]
        added = await self.timeline.restore(location_id, supply, promises)
        self._sites[location_id] = (tuple(candidates), table)
        return added

    async def _site(self, location_id: str, candidates: Sequence[EvseCandidate]
                    ) -> SiteClasses:
        known = self._sites.get(location_id)
        if known is not None and known[0] is candidates:
            return known[1]
        if known is not None and known[0] == tuple(candidates):
            # Built again, the same (a charger's capabilities moved the candidates' cache):
            # kept as this object, so that the next admission is not a compare of every EVSE.
            self._sites[location_id] = (tuple(candidates), known[1])
            return known[1]
        if known is None:
            # First touch in this process: the timeline may have lost the site (or never
            # had it) while the store holds promises of it.
            await self.restore(location_id, candidates)
            return self._sites[location_id][1]
        supply = supply_of(candidates)
        table = SiteClasses.build(supply)
        await self.timeline.set_supply(location_id, supply)
        self._sites[location_id] = (tuple(candidates), table)
        return table

    async def ensure_site(self, location_id: str, candidates: Sequence[EvseCandidate]
                          ) -> SiteClasses:
        """The site's class table, its supply set on the timeline first when the candidates
        changed (bookings admit through here too: one owner of each site's supply)."""
        return await self._site(location_id, candidates)

    async def admit(self, location_id: str, candidates: Sequence[EvseCandidate], evse_uid: str,
                    *, holder: str, until: datetime, settings: PolicySettings,
                    booking_key: str | None = None) -> Admission:
        """Promise ``evse_uid`` to ``holder`` from now until ``until`` + the buffer (an amend:
        a re-hold with a new expiry replaces the earlier promise), the site's waiting
        bookings let in first (``waiting_first``). A booking's binding
        (``booking_key``) moves the booking's own promise onto the EVSE instead: the slot was
        counted when it was booked, and counting the hold beside it would count it twice."""
        await self._site(location_id, candidates)
        if booking_key is not None:
            booked = await self._booked(booking_key, evse_uid, until) \
                if self._booked is not None else None
            if booked is None:
                return Admission(Verdict.INVALID)
            promise = booked
        else:
            await self.waiting_first(location_id)
            buffer = timedelta(minutes=settings.bookings.turnover_buffer_minutes)
            promise = Promise(promise_id(holder, evse_uid), self._clock(), until + buffer,
                              evse_uid=evse_uid, kind=PromiseKind.RESERVATION)
        # A new reservation counts the cars charging (where they still are at 18:00 the
        # EVSE is not given away at 17:30); a binding was counted when it was booked.
        sessions = booking_key is None
        admission = await self.timeline.amend(location_id, promise,
                                              reserve=settings.walk_in_reserve,
                                              sessions=sessions)
        if admission.verdict is Verdict.NO_INVENTORY:
            # The timeline lost the site since it was cached here (Redis came back empty).
            await self.restore(location_id, candidates)
            admission = await self.timeline.amend(location_id, promise,
                                                  reserve=settings.walk_in_reserve,
                                                  sessions=sessions)
        return admission

    async def release(self, location_id: str, evse_uid: str, *, holder: str) -> bool:
        return await self.timeline.release(location_id, promise_id(holder, evse_uid))

    def interchangeable(self, location_id: str, evse_uid: str) -> set[str]:
        """The EVSEs serving exactly the classes ``evse_uid`` serves (itself included)."""
        known = self._sites.get(location_id)
        if known is None:
            return {evse_uid}
        masks = known[1].evse_masks
        mask = masks.get(evse_uid)
        return {uid for uid, m in masks.items() if m == mask} | {evse_uid}


def reservation_promises(reservations: Iterable[Reservation], policy: PolicySource,
                         now: datetime) -> dict[str, list[Promise]]:
    """The promises of stored live reservations, by location (where bookings are possible):
    what ``CapacityTimeline.rebuild`` puts back when Redis lost the timeline. The store is the
    system of record; bookings add theirs once they are stored."""
    by_location: dict[str, list[Promise]] = {}
    for r in reservations:
        # A booking's binding holds the booking's promise, restored with the bookings.
        if not r.live or r.evse_uid is None or r.ends_at <= now or r.booking_key is not None \
                or not policy.bookings_possible(r.location_id):
            continue
        settings = policy.effective(r.location_id, r.partner)
        buffer = timedelta(minutes=settings.bookings.turnover_buffer_minutes)
        by_location.setdefault(r.location_id, []).append(Promise(
            promise_id(r.key, r.evse_uid), now, r.ends_at + buffer, evse_uid=r.evse_uid,
            kind=PromiseKind.RESERVATION))
    return by_location


def stored_reservations(repo: ReservationRepository, policy: PolicySource) -> StoredPromises:
    """The promises of a location's live reservations, read from the store."""
    async def stored(location_id: str, now: datetime) -> list[Promise]:
        live = await repo.live(location_id=location_id)
        return reservation_promises(live, policy, now).get(location_id, [])
    return stored
