"""A brute-force oracle for the capacity timeline, independent of ``hall``: at each instant,
promises fit when a bipartite matching gives every promise its own EVSE (a bound one only its
own) together with ``min(reserve, EVSEs of c)`` walk-in drivers of class c, for every class c
(a class: a connector's standard, power type and power, served by EVSEs with such a connector
of at least that power). Matching by augmenting paths; needs served straight from connectors."""

from __future__ import annotations

from collections.abc import Sequence

from ocpi_gateway.reservation_policy.capacity.base import Promise
from ocpi_gateway.reservation_policy.capacity.classes import Need, SupplyEvse


def serves(evse: SupplyEvse, need: Need) -> bool:
    return any((not need.standards or k.standard in need.standards)
               and (not need.power_types or k.power_type in need.power_types)
               and k.power_w >= need.min_power_w for k in evse.connectors)


def _matching_saturates(wants: Sequence[set[str]]) -> bool:
    owner: dict[str, int] = {}

    def place(i: int, seen: set[str]) -> bool:
        for uid in wants[i]:
            if uid in seen:
                continue
            seen.add(uid)
            if uid not in owner or place(owner[uid], seen):
                owner[uid] = i
                return True
        return False

    return all(place(i, set()) for i in range(len(wants)))


def fits_at(supply: Sequence[SupplyEvse], active: Sequence[Promise], reserve: int) -> bool:
    uids = {e.evse_uid for e in supply}
    wants: list[set[str]] = []
    bound_seen: set[str] = set()
    for p in active:
        if p.evse_uid is not None:
            if p.evse_uid not in uids or p.evse_uid in bound_seen:
                return False
            bound_seen.add(p.evse_uid)
            wants.append({p.evse_uid})
        else:
            fitting = {e.evse_uid for e in supply if serves(e, p.need)}
            if not fitting:
                return False
            wants.append(fitting)
    kinds = {(k.standard, k.power_type, k.power_w) for e in supply for k in e.connectors}
    if not kinds:
        return not wants
    for standard, power_type, power in kinds:
        walk_in = {e.evse_uid for e in supply
                   if serves(e, Need(frozenset({standard}), frozenset({power_type}), power))}
        extra = [walk_in] * min(reserve, len(walk_in))
        if not _matching_saturates([*wants, *extra]):
            return False
    return True


def fits(supply: Sequence[SupplyEvse], promises: Sequence[Promise], reserve: int,
         start: object = None, end: object = None) -> bool:
    """Whether ``promises`` fit at every instant (of [start, end) when given)."""
    instants = sorted({p.start for p in promises} | {p.end for p in promises})
    for t in instants:
        if start is not None and (t < start or t >= end):  # type: ignore[operator]
            continue
        active = [p for p in promises if p.start <= t < p.end]
        if active and not fits_at(supply, active, reserve):
            return False
    if start is not None:
        active = [p for p in promises if p.start <= start < p.end]  # type: ignore[operator]
        if active and not fits_at(supply, active, reserve):
            return False
    return True
