"""Putting back the holds Redis lost: every live reservation's EVSE (the durable store has
them), the target of a ReserveNow in flight, and the holds this instance's attempts took but
have not written to their record yet.

The records are read before the holds are written, and a reservation may end in between: its
worker releases what it holds, finds nothing yet, and the hold written afterwards would keep
the EVSE from every driver until the reservation's expiry (seen in the Redis-restart property
test: an attempt answered OFFLINE, cut by the rebuild and failed while its hold was put back).
So the live records are read again once the holds are written, and what a holder no longer
holds is released. An end after that second read releases the hold itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog

from ocpi_gateway.reservation_policy.availability.redis import RedisAvailability
from ocpi_gateway.reservation_policy.records import Reservation, ReservationRepository

log = structlog.get_logger(__name__)

HoldsTaken = Callable[[], Mapping[tuple[str, str], tuple[str, datetime]]]
"""(location, EVSE) -> (holder, until) of the holds an engine took and has not released."""


@dataclass(frozen=True, slots=True)
class Hold:
    location_id: str
    evse_uid: str
    holder: str
    until: datetime


def _holds_of(r: Reservation) -> set[tuple[str, str]]:
    held = {(r.location_id, r.evse_uid)} if r.evse_uid is not None else set()
    if r.attempt is not None:  # a ReserveNow in flight when Redis went away
        held.add((r.attempt.location_id, r.attempt.evse_uid))
    return held


def wanted_holds(live: list[Reservation], taken: Mapping[tuple[str, str], tuple[str, datetime]],
                 now: datetime) -> list[Hold]:
    """The holds to put back: those of the live reservations not yet over, and the attempts'
    holds of a live reservation."""
    holds = [Hold(location_id, evse_uid, r.key, r.ends_at)
             for r in live if r.ends_at > now
             for location_id, evse_uid in sorted(_holds_of(r))]
    live_keys = {r.key for r in live}
    holds += [Hold(location_id, evse_uid, holder, until)
              for (location_id, evse_uid), (holder, until) in taken.items()
              if holder in live_keys]
    # An attempt's hold is usually on its record too: put back once.
    return list({(h.location_id, h.evse_uid, h.holder): h for h in reversed(holds)}.values())


async def restore_holds(store: RedisAvailability, repo: ReservationRepository,
                        taken: HoldsTaken, now: datetime) -> int:
    """Put the holds back; how many stand once the holders were read again."""
    restored = [hold for hold in wanted_holds(await repo.live(), taken(), now)
                if await store.restore_hold(hold.location_id, hold.evse_uid,
                                            holder=hold.holder, until=hold.until)]
    if not restored:
        return 0
    # One read of the live records again, not one per holder: a rebuild under 100,000 live
    # reservations keeps the gate closed for every read it makes.
    kept: dict[str, set[tuple[str, str]]] = {r.key: _holds_of(r) for r in await repo.live()}
    for where, (holder, _) in taken().items():
        kept.setdefault(holder, set()).add(where)
    standing = 0
    for hold in restored:
        if (hold.location_id, hold.evse_uid) in kept.get(hold.holder, ()):
            standing += 1
            continue
        await store.release(hold.location_id, hold.evse_uid, holder=hold.holder)
        log.info("restored_hold_released", reservation_key=hold.holder,
                 location_id=hold.location_id, evse_uid=hold.evse_uid)
    return standing
