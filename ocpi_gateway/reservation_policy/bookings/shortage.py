"""Which bookings to bind before their binding time, because the site is running out of free
EVSEs that fit them.

The timeline keeps the walk-in reserve unpromised, but walk-ins take any free EVSE: with more
of them than the reserve, the EVSEs a booking in the next hour was promised are charging
cars that came without one, and at its binding time nothing fitting is free (the busy-day
benchmark: 2 % of the bookings bound late, every case with 6-7 walk-ins on a reserve of 2).
So when the free EVSEs that fit the bookings due soon are no more than those bookings, the
earliest of them are bound now, holding an EVSE each: the free EVSEs beyond that are left to
walk-ins. An EVSE held by a promise that ends before a booking's binding time (a reservation,
a bound booking, their buffer included), or charging a car expected to leave by then (a
session in progress, ``sessions``), counts for it: it will be free then, and should a
walk-in take it once it is, or the car stay longer, the next run sees the site short. What
is held early is always an EVSE free now, never one expected to free up. Interchangeable EVSEs (one
class) make the count exact; with several classes, a booking counts the pending bookings
that could use any of the EVSEs that fit it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.service import need_of, requested_evse
from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses


def to_bind_early(pending: Sequence[Booking], free: set[str], table: SiteClasses,
                  freeing: Mapping[str, datetime] | None = None) -> list[Booking]:
    """Of ``pending`` (one site's unbound bookings due soon, earliest binding first), the
    ones to bind now: each whose fitting EVSEs — free now, or held by a promise that ends
    (``freeing``: EVSE → when) by its binding time — are no more than the pending bookings
    that compete for them, among the first of those competitors (one EVSE each), while one
    of them is free now to hold."""
    freeing = freeing or {}
    fitting: list[set[str]] = []
    for b in pending:
        wanted = requested_evse(b)
        mask = table.need_mask(need_of(b))
        supply = free | {u for u, until in freeing.items() if until <= b.bind_at}
        fitting.append({u for u in supply if (wanted is None or u == wanted)
                        and table.evse_masks.get(u, 0) & mask})
    chosen: list[Booking] = []
    for i, b in enumerate(pending):
        mine = fitting[i]
        if not mine & free:
            continue  # nothing to hold now: its binding time decides
        rivals = [j for j, theirs in enumerate(fitting) if theirs & mine]
        if len(mine) <= len(rivals) and rivals.index(i) < len(mine):
            chosen.append(b)
    return chosen
