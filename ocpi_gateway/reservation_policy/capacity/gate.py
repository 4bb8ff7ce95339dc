"""RESERVE_NOW on the capacity timeline: at a site where bookings are possible, the EVSE a
reservation holds is promised from now to its expiry plus the turnover buffer, and only when
every booking still fits (the EVSE needed at 18:00 is not given away at 17:30).

Order in the reserve path (``PolicyEngine.hold``): the atomic pick-and-hold first, then the
atomic admission of the held EVSE; a refusal gives the hold back and skips every EVSE of the
same classes (they would be refused alike). Every promise enters the timeline through the one
atomic admission, so two attempts racing (on any instances) cannot overbook; a race costs at
most a refusal. Where no partner may book, nothing here runs (``applies``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.capacity.base import (
    Admission,
    CapacityTimeline,
    Promise,
    PromiseKind,
)
from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses, supply_of
from ocpi_gateway.reservation_policy.models import EvseCandidate
from ocpi_gateway.reservation_policy.policy import PolicySettings, PolicySource
from ocpi_gateway.reservation_policy.records import Reservation


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

    def applies(self, location_id: str) -> bool:
        return self._policy.bookings_possible(location_id)

    async def _site(self, location_id: str, candidates: Sequence[EvseCandidate]
                    ) -> SiteClasses:
        known = self._sites.get(location_id)
        if known is not None and (known[0] is candidates or known[0] == tuple(candidates)):
            return known[1]
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
                    *, holder: str, until: datetime, settings: PolicySettings) -> Admission:
        """Promise ``evse_uid`` to ``holder`` from now until ``until`` + the buffer (an amend:
        a re-hold with a new expiry replaces the earlier promise)."""
        await self._site(location_id, candidates)
        buffer = timedelta(minutes=settings.bookings.turnover_buffer_minutes)
        promise = Promise(promise_id(holder, evse_uid), self._clock(), until + buffer,
                          evse_uid=evse_uid, kind=PromiseKind.RESERVATION)
        return await self.timeline.amend(location_id, promise,
                                         reserve=settings.walk_in_reserve)

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
        if not r.live or r.evse_uid is None or r.ends_at <= now \
                or not policy.bookings_possible(r.location_id):
            continue
        settings = policy.effective(r.location_id, r.partner)
        buffer = timedelta(minutes=settings.bookings.turnover_buffer_minutes)
        by_location.setdefault(r.location_id, []).append(Promise(
            promise_id(r.key, r.evse_uid), now, r.ends_at + buffer, evse_uid=r.evse_uid,
            kind=PromiseKind.RESERVATION))
    return by_location
