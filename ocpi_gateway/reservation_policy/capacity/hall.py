"""The admission check, as pure functions over intervals in epoch milliseconds.

At one instant, promises fit when each can be given its own EVSE (bound ones keep theirs)
and ``reserve`` walk-in drivers of any one class still find one. By Hall's theorem that holds
exactly when, for every set S of classes,

    unbound promises whose accepted classes all lie in S
    + bound promises on EVSEs serving a class of S      <=   capacity(S)

with capacity(S) = EVSEs serving a class of S - min(reserve, size of S's largest class).
Adding a promise only raises the left side for the sets it touches (S containing its classes;
for a bound one, S meeting its EVSE's classes), so only those are checked, and only at the
instants of its interval: one sweep over the endpoints of the promises overlapping it.

``redis.py`` runs the same sweep in Lua; both are tested against a brute-force matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ocpi_gateway.reservation_policy.capacity.classes import SiteClasses


@dataclass(frozen=True, slots=True)
class Span:
    """A promise as the sweep sees it."""

    start: int
    end: int
    mask: int
    """Accepted classes (unbound); for a bound promise, the classes its EVSE serves."""
    bound: str | None = None


@dataclass(frozen=True, slots=True)
class Violation:
    at: int
    subset: int
    promised: int
    capacity: int


def touched(site: SiteClasses, new: Span) -> list[int]:
    """The sets of classes whose load ``new`` raises."""
    full = 1 << len(site.classes)
    if new.bound is None:
        return [s for s in range(1, full) if s & new.mask == new.mask]
    return [s for s in range(1, full) if s & new.mask]


def _counts_in(span: Span, subset: int) -> bool:
    if span.bound is None:
        return subset & span.mask == span.mask
    return bool(subset & span.mask)


def _sweep_events(spans: Iterable[Span], start: int, end: int, subsets: Sequence[int],
                  load: dict[int, int]) -> list[tuple[int, int, Span]]:
    """Count the spans in force at ``start`` into ``load``; the later endpoints inside
    [start, end), ends before starts at the same instant (intervals are half-open)."""
    events: list[tuple[int, int, Span]] = []
    for span in spans:
        if span.end <= start or span.start >= end:
            continue
        if span.start <= start:
            for s in subsets:
                if _counts_in(span, s):
                    load[s] += 1
        else:
            events.append((span.start, 1, span))
        if span.end < end:
            events.append((span.end, 0, span))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def first_violation(site: SiteClasses, others: Iterable[Span], new: Span, reserve: int
                    ) -> Violation | None:
    """Where ``new`` would not fit beside ``others`` (any spans; those outside its interval
    are ignored), or None."""
    subsets = touched(site, new)
    caps = {s: site.capacity(s, reserve) for s in subsets}
    load = dict.fromkeys(subsets, 0)
    events = _sweep_events(others, new.start, new.end, subsets, load)
    for s in subsets:
        if load[s] + 1 > caps[s]:
            return Violation(new.start, s, load[s], caps[s])
    for at, starts, span in events:
        step = 1 if starts else -1
        for s in subsets:
            if _counts_in(span, s):
                load[s] += step
                if starts and load[s] + 1 > caps[s]:
                    return Violation(at, s, load[s], caps[s])
    return None


def spare_profile(site: SiteClasses, spans: Sequence[Span], mask: int, start: int, end: int,
                  reserve: int) -> list[tuple[int, int, int]]:
    """(from, to, spare) over [start, end): how many more unbound promises accepting
    ``mask`` fit, segment by segment (adjacent equal segments merged)."""
    if end <= start:
        return []
    if mask == 0:
        return [(start, end, 0)]
    subsets = touched(site, Span(start, end, mask))
    caps = {s: site.capacity(s, reserve) for s in subsets}
    load = dict.fromkeys(subsets, 0)
    events = _sweep_events(spans, start, end, subsets, load)
    out: list[tuple[int, int, int]] = []
    cursor = start
    i = 0
    while True:
        at = events[i][0] if i < len(events) else end
        if at > cursor:
            value = max(0, min(caps[s] - load[s] for s in subsets))
            if out and out[-1][2] == value:
                out[-1] = (out[-1][0], at, value)
            else:
                out.append((cursor, at, value))
            cursor = at
        if i == len(events):
            return out
        while i < len(events) and events[i][0] == at:
            _, starts, span = events[i]
            step = 1 if starts else -1
            for s in subsets:
                if _counts_in(span, s):
                    load[s] += step
            i += 1
