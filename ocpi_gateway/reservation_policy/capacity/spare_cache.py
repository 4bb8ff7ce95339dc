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


def _start(segment: Segment) -> int:
    return segment[0]


def splice(segments: list[Segment], fresh: list[Segment], start: int, end: int
           ) -> list[Segment]:
    """``segments`` with [start, end) replaced by ``fresh`` (which covers exactly that),
    equal neighbours merged. Only the replaced range and its two neighbours are looked at
    (a week of a busy site is thousands of segments; a change touches a few)."""
    # A kept profile is never empty and starts at or before ``start`` < ``end``: segment
    # ``lo`` holds ``start`` (or ends the profile) and ``hi`` is at least 1.
    lo = max(0, bisect.bisect_right(segments, start, key=_start) - 1)
    hi = bisect.bisect_left(segments, end, key=_start)
    pieces: list[Segment] = []
    if segments[lo][0] < start:
        pieces.append((segments[lo][0], start, segments[lo][2]))
    pieces += fresh
    if segments[hi - 1][1] > end:
        pieces.append((end, segments[hi - 1][1], segments[hi - 1][2]))
    # The neighbours join the merge: an equal spare may meet them at either joint.
    first, last = max(0, lo - 1), min(len(segments), hi + 1)
    merged: list[Segment] = []
    for seg in (*segments[first:lo], *pieces, *segments[hi:last]):
        if merged and merged[-1][2] == seg[2] and merged[-1][1] == seg[0]:
            merged[-1] = (merged[-1][0], seg[1], seg[2])
        else:
            merged.append(seg)
    return [*segments[:first], *merged, *segments[last:]]


def _cut(segments: list[Segment], start: int, end: int) -> list[Segment]:
    """The segments over [start, end), which ``segments`` covers: each of those from the one
    holding ``start`` to the last starting before ``end`` meets it."""
    lo = max(0, bisect.bisect_right(segments, start, key=_start) - 1)
    hi = bisect.bisect_left(segments, end, key=_start)
    return [(max(a, start), min(b, end), n) for a, b, n in segments[lo:hi]]


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
        return [SpareSegment(from_ms(x), from_ms(y), n) for x, y, n in _cut(
            await self._segments((location_id, need, reserve), a, b), a, b)]

    async def free(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                   reserve: int = 0) -> list[tuple[datetime, datetime]]:
        """The periods of [start, end) in which at least one more promise of ``need`` fits,
        adjacent ones joined: what a calendar reads. The same as joining ``spare``'s
        segments of spare >= 1, without a segment object (two datetimes) per change of the
        count: a week of a busy site has thousands, its free periods a handful."""
        a, b = ms(start), ms(end)
        if b <= a:
            return []
        segments = await self._segments((location_id, need, reserve), a, b)
        lo = max(0, bisect.bisect_right(segments, a, key=_start) - 1)
        hi = bisect.bisect_left(segments, b, key=_start)
        out: list[list[int]] = []
        for x, y, n in segments[lo:hi]:
            if n < 1:
                continue
            if out and out[-1][1] == x:
                out[-1][1] = y
            else:
                out.append([x, y])
        # Only the first and the last can reach outside [a, b): the profile covers it.
        if out:
            out[0][0] = max(out[0][0], a)
            out[-1][1] = min(out[-1][1], b)
        return [(from_ms(x), from_ms(y)) for x, y in out]

    async def _segments(self, key: tuple[str, Need, int], a: int, b: int) -> list[Segment]:
        """The kept profile of ``key``, brought up to date and covering [a, b)."""
        kept = self._profiles.get(key)
        changes = await self.timeline.changes(key[0],
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
        return kept.segments

    async def _sweep(self, key: tuple[str, Need, int], a: int, b: int) -> list[Segment]:
        location_id, need, reserve = key
        return [(ms(s.start), ms(s.end), s.spare) for s in await self.timeline.spare(
            location_id, need, from_ms(a), from_ms(b), reserve=reserve)]
