"""In-process capacity timeline (the embedded default): one asyncio lock per site."""

from __future__ import annotations

import asyncio
import bisect
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.capacity.base import (
    BUCKETS,
    CHANGE_LOG,
    MAX_INTERVAL,
    Admission,
    Changes,
    Promise,
    PromiseKind,
    SpareSegment,
    Verdict,
    as_session,
    bucket_of,
    from_ms,
    ms,
)
from ocpi_gateway.reservation_policy.capacity.classes import Need, SiteClasses, SupplyEvse
from ocpi_gateway.reservation_policy.capacity.hall import Span, first_violation, spare_profile

EVERYTHING = -1
"""A change log entry's span when the change touched every instant (supply, rebuild)."""


@dataclass(slots=True)
class _Site:
    classes: SiteClasses | None = None
    promises: dict[str, Promise] = field(default_factory=dict)
    by_start: list[list[tuple[int, str]]] = field(
        default_factory=lambda: [[] for _ in range(BUCKETS)])
    """Per length bucket (``base.bucket_of``) its promises' (start ms, id), sorted."""
    longest: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    """Per length bucket the longest interval stored (ms): the bucket's promises that
    overlap a window start after window start - that."""
    ends: dict[str, int] = field(default_factory=dict)
    """Each promise's end (ms): the overlap test of every admission reads it."""
    spans: dict[str, tuple[Promise, Span | None]] = field(default_factory=dict)
    """The sweep's view of each promise as last computed, with the promise it is of:
    an admission at a site of 100 promises computed 100 spans (``span_of``)."""
    version: int = 0
    log: deque[tuple[int, int, int]] = field(default_factory=lambda: deque(maxlen=CHANGE_LOG))
    """(version, from ms, to ms) of each change; (version, -1, -1) changed everything."""

    def changed(self, start: int = EVERYTHING, end: int = EVERYTHING) -> None:
        self.version += 1
        self.log.append((self.version, start, end))


def span_of(site: SiteClasses, promise: Promise) -> Span | None:
    """The sweep's view of a promise; None when the site cannot serve it."""
    if promise.evse_uid is not None:
        mask = site.evse_masks.get(promise.evse_uid, 0)
        return Span(ms(promise.start), ms(promise.end), mask, promise.evse_uid) if mask else None
    mask = site.need_mask(promise.need)
    return Span(ms(promise.start), ms(promise.end), mask) if mask else None


def invalid(promise: Promise, now: datetime) -> bool:
    return (promise.end <= promise.start or promise.end - promise.start > MAX_INTERVAL
            or promise.end <= now)


def full(site: SiteClasses, violation_at: int, subset: int, promised: int, capacity: int
         ) -> Admission:
    return Admission(Verdict.FULL, from_ms(violation_at),
                     tuple(c for i, c in enumerate(site.classes) if subset >> i & 1),
                     promised, capacity)


def changes_after(log: Iterable[tuple[int, int, int]], version: int, since: int | None
                  ) -> tuple[tuple[int, int], ...] | None:
    """The spans of the changes after ``since`` in ``log`` (oldest first); None when the log
    does not reach back to ``since`` or one of them changed everything."""
    if since is None or since > version:
        return None
    entries = [e for e in log if e[0] > since]
    if since < version and (not entries or entries[0][0] != since + 1):
        return None
    if any(start == EVERYTHING for _, start, _ in entries):
        return None
    return tuple((start, end) for _, start, end in entries)


class MemoryCapacity:
    def __init__(self, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._sites: dict[str, _Site] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _site(self, location_id: str) -> _Site:
        site = self._sites.get(location_id)
        if site is None:
            site = self._sites[location_id] = _Site()
        return site

    def _lock(self, location_id: str) -> asyncio.Lock:
        lock = self._locks.get(location_id)
        if lock is None:
            lock = self._locks[location_id] = asyncio.Lock()
        return lock

    async def set_supply(self, location_id: str, supply: Sequence[SupplyEvse]) -> None:
        async with self._lock(location_id):
            site = self._site(location_id)
            site.classes = SiteClasses.build(supply)
            site.spans.clear()
            site.changed()

    def _overlapping(self, site: _Site, start: int, end: int) -> list[Promise]:
        """The promises overlapping [start, end), in no particular order."""
        found: list[Promise] = []
        for index, longest in zip(site.by_start, site.longest, strict=True):
            lo = bisect.bisect_left(index, (start - longest, ""))
            hi = bisect.bisect_left(index, (end, ""))
            found += (site.promises[pid] for _, pid in index[lo:hi])
        return [p for p in found if site.ends[p.promise_id] > start]

    def _span(self, site: _Site, classes: SiteClasses, promise: Promise) -> Span | None:
        """``span_of``, kept per promise until it or the site's classes change."""
        kept = site.spans.get(promise.promise_id)
        if kept is not None and kept[0] is promise:
            return kept[1]
        span = span_of(classes, promise)
        site.spans[promise.promise_id] = (promise, span)
        return span

    def _insert(self, site: _Site, promise: Promise, *, log: bool = True) -> None:
        site.promises[promise.promise_id] = promise
        site.ends[promise.promise_id] = ms(promise.end)
        length = ms(promise.end) - ms(promise.start)
        k = bucket_of(length)
        bisect.insort(site.by_start[k], (ms(promise.start), promise.promise_id))
        site.longest[k] = max(site.longest[k], length)
        if log:
            site.changed(ms(promise.start), ms(promise.end))

    def _remove(self, site: _Site, promise_id: str) -> None:
        old = site.promises.pop(promise_id, None)
        site.spans.pop(promise_id, None)
        if old is not None:
            del site.ends[promise_id]
            site.by_start[bucket_of(ms(old.end) - ms(old.start))].remove(
                (ms(old.start), promise_id))
            site.changed(ms(old.start), ms(old.end))

    def _check(self, site: _Site, promise: Promise, reserve: int, sessions: bool
               ) -> Admission:
        if site.classes is None:
            return Admission(Verdict.NO_INVENTORY)
        if invalid(promise, self._clock()):
            return Admission(Verdict.INVALID)
        new = span_of(site.classes, promise)
        if new is None:
            return Admission(Verdict.NO_CLASS)
        others: list[Span] = []
        for p in self._overlapping(site, new.start, new.end):
            if p.promise_id == promise.promise_id:
                continue
            if p.kind is PromiseKind.SESSION:
                # A car's estimated end is no claim on the EVSE: it only counts.
                if sessions and (span := span_of(site.classes, p)) is not None:
                    others.append(span)
                continue
            if new.bound is not None and p.evse_uid == new.bound:
                return Admission(Verdict.EVSE_TAKEN, p.start)
            span = self._span(site, site.classes, p)
            if span is not None:
                others.append(span)
        violation = first_violation(site.classes, others, new, reserve)
        if violation is not None:
            return full(site.classes, violation.at, violation.subset, violation.promised,
                        violation.capacity)
        return Admission(Verdict.ADMITTED)

    async def admit(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        async with self._lock(location_id):
            site = self._site(location_id)
            existing = site.promises.get(promise.promise_id)
            if existing is not None:
                return Admission(Verdict.ADMITTED if existing == promise else Verdict.DUPLICATE)
            admission = self._check(site, promise, reserve, sessions)
            if admission.ok:
                self._insert(site, promise)
            return admission

    async def amend(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        async with self._lock(location_id):
            site = self._site(location_id)
            admission = self._check(site, promise, reserve, sessions)
            if admission.ok:
                self._remove(site, promise.promise_id)
                self._insert(site, promise)
            return admission

    async def occupy(self, location_id: str, session: Promise) -> None:
        as_session(session)
        async with self._lock(location_id):
            site = self._site(location_id)
            self._remove(site, session.promise_id)
            self._insert(site, session)

    async def release(self, location_id: str, promise_id: str, *,
                      evse_uid: str | None = None) -> bool:
        async with self._lock(location_id):
            site = self._site(location_id)
            current = site.promises.get(promise_id)
            if current is None or (evse_uid is not None and current.evse_uid != evse_uid):
                return False
            self._remove(site, promise_id)
            return True

    async def get(self, location_id: str, promise_id: str) -> Promise | None:
        return self._site(location_id).promises.get(promise_id)

    async def promises(self, location_id: str, start: datetime, end: datetime
                       ) -> list[Promise]:
        site = self._site(location_id)
        return sorted(self._overlapping(site, ms(start), ms(end)),
                      key=lambda p: (p.start, p.promise_id))

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        site = self._site(location_id)
        if site.classes is None:
            return [SpareSegment(start, end, 0)] if end > start else []
        a, b = ms(start), ms(end)
        spans = [s for p in self._overlapping(site, a, b)
                 if (s := span_of(site.classes, p)) is not None]
        return [SpareSegment(from_ms(x), from_ms(y), n) for x, y, n in spare_profile(
            site.classes, spans, site.classes.need_mask(need), a, b, reserve)]

    async def rebuild(self, location_id: str, promises: Iterable[Promise]) -> int:
        async with self._lock(location_id):
            site = self._site(location_id)
            site.promises.clear()
            site.ends.clear()
            site.spans.clear()
            for index in site.by_start:
                index.clear()
            site.longest = [0] * BUCKETS
            for p in promises:
                self._insert(site, p, log=False)
            site.changed()
            return len(site.promises)

    async def restore(self, location_id: str, supply: Sequence[SupplyEvse],
                      promises: Iterable[Promise]) -> int:
        async with self._lock(location_id):
            site = self._site(location_id)
            site.classes = SiteClasses.build(supply)
            site.spans.clear()
            added = 0
            for p in promises:
                if p.promise_id not in site.promises:
                    self._insert(site, p, log=False)
                    added += 1
            site.changed()
            return added

    async def prune(self, location_id: str, before: datetime) -> int:
        if location_id not in self._sites:
            return 0  # the prune loop asks of every location: not one empty site each
        async with self._lock(location_id):
            site = self._site(location_id)
            ended = [pid for pid, p in site.promises.items() if p.end <= before]
            for pid in ended:
                self._remove(site, pid)
            return len(ended)

    async def changes(self, location_id: str, since: int | None) -> Changes:
        site = self._site(location_id)
        return Changes(site.version, changes_after(site.log, site.version, since))

    async def close(self) -> None:
        self._sites.clear()
