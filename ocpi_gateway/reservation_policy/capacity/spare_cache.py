"""``spare`` answered from a kept profile: what a Calendar asks again and again (7 days of a
busy site is a sweep over 10,000 promises, tens of milliseconds) comes from the profile kept
per site, need and walk-in reserve, brought up to date by the timeline's change log
(``CapacityTimeline.changes``: also the changes other instances made on a shared Redis). A
change recomputes only the instants it touched (its promise's interval: outside it no count
moved), spliced into the kept profile; a window reaching past the kept one is extended, not
recomputed. Unknown changes (the log does not reach back, the supply changed, the site was
rebuilt) recompute the whole window.

The version is read before anything is recomputed: a change that lands meanwhile is in the
log the next time and its instants are recomputed then (recomputing is idempotent).

Admission never reads this: it stays the backends' atomic step over the promises themselves.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from ocpi_gateway.reservation_policy.capacity.base import (
    CapacityTimeline,
    SpareSegment,
    from_ms,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need

Segment = tuple[int, int, int]
"""(from ms, to ms, spare)."""

MAX_SPANS = 64
"""More changes than this since the last read: one sweep of the window is cheaper."""


@dataclass(slots=True)
class _Profile:
    version: int
    start: int
    end: int
    segments: list[Segment]
    """Contiguous over [start, end), adjacent ones of different spare."""


def splice(segments: list[Segment], fresh: list[Segment], start: int, end: int
           ) -> list[Segment]:
    """``segments`` with [start, end) replaced by ``fresh`` (which covers exactly that),
    equal neighbours merged."""
    starts = [s[0] for s in segments]
    lo = max(0, bisect.bisect_right(starts, start) - 1)
    hi = bisect.bisect_left(starts, end)
    head = segments[:lo]
    if lo < len(segments) and segments[lo][0] < start:
        head.append((segments[lo][0], start, segments[lo][2]))
    tail = segments[hi:]
    if hi > 0 and segments[hi - 1][1] > end:
        tail.insert(0, (end, segments[hi - 1][1], segments[hi - 1][2]))
    out: list[Segment] = []
    for seg in (*head, *fresh, *tail):
        if out and out[-1][2] == seg[2] and out[-1][1] == seg[0]:
            out[-1] = (out[-1][0], seg[1], seg[2])
        else:
            out.append(seg)
    return out


def _cut(segments: list[Segment], start: int, end: int) -> list[SpareSegment]:
    starts = [s[0] for s in segments]
    lo = max(0, bisect.bisect_right(starts, start) - 1)
    hi = bisect.bisect_left(starts, end)
    return [SpareSegment(from_ms(max(a, start)), from_ms(min(b, end)), n)
            for a, b, n in segments[lo:hi] if min(b, end) > max(a, start)]


def _merged(spans: tuple[tuple[int, int], ...], start: int, end: int
            ) -> list[tuple[int, int]]:
    """The changed spans inside [start, end), overlapping ones joined."""
    out: list[tuple[int, int]] = []
    for a, b in sorted((max(a, start), min(b, end)) for a, b in spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class SpareCache:
    def __init__(self, timeline: CapacityTimeline, *, max_profiles: int = 256) -> None:
        self.timeline = timeline
        self.max_profiles = max_profiles
        self._profiles: OrderedDict[tuple[str, Need, int], _Profile] = OrderedDict()

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        """As ``CapacityTimeline.spare``."""
        a, b = ms(start), ms(end)
        if b <= a:
            return []
        key = (location_id, need, reserve)
        kept = self._profiles.get(key)
        changes = await self.timeline.changes(location_id,
                                              kept.version if kept is not None else None)
        if kept is None or changes.spans is None or a < kept.start \
                or len(changes.spans) > MAX_SPANS:
            kept = _Profile(changes.version, a, b, await self._sweep(key, a, b))
        else:
            for x, y in _merged(changes.spans, kept.start, kept.end):
                kept.segments = splice(kept.segments, await self._sweep(key, x, y), x, y)
            if b > kept.end:
                kept.segments = splice(kept.segments, await self._sweep(key, kept.end, b),
                                       kept.end, b)
                kept.end = b
            kept.version = changes.version
        self._profiles[key] = kept
        self._profiles.move_to_end(key)
        while len(self._profiles) > self.max_profiles:
            self._profiles.popitem(last=False)
        return _cut(kept.segments, a, b)

    async def _sweep(self, key: tuple[str, Need, int], a: int, b: int) -> list[Segment]:
        location_id, need, reserve = key
        return [(ms(s.start), ms(s.end), s.spare) for s in await self.timeline.spare(
            location_id, need, from_ms(a), from_ms(b), reserve=reserve)]
