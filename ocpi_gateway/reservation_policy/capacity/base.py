"""The capacity timeline interface. Implementations: in-process (``memory``) and Redis.

A promise is an interval [start, end) on a site: a booking from ``slot start - activation
lead`` to ``slot end + turnover buffer``, or a reservation made now from now to its expiry
(plus the buffer). An unbound promise (a booking before its binding) may use any EVSE of the
classes its ``need`` accepts; a bound one holds its ``evse_uid``. Admission is one atomic step
per site and keeps, at every instant of the new interval, Hall's condition with the walk-in
reserve (``hall``): every promise can be given its own fitting EVSE and ``reserve`` walk-in
drivers of any one class still find one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from ocpi_gateway.reservation_policy.capacity.classes import EvseClass, Need, SupplyEvse

MAX_INTERVAL = timedelta(hours=24)
"""The longest promise admitted. Every interval overlapping a window then starts within
``MAX_INTERVAL`` before it, so range reads by start find them all (the implementations keep
the longest stored per length bucket, usually far less)."""

BUCKET_BASE_MS = 30 * 60 * 1000
BUCKETS = 7
"""The implementations index promises by start in buckets of length: bucket k (from 0) holds
those up to 30 min * 2^k long, the last one the rest (up to ``MAX_INTERVAL`` and beyond, for a
rebuild). A window's overlapping promises of a bucket start within the longest of that
bucket before it: one long promise widens the reads of its own bucket only (with one index,
one 24 h reservation made every admission at a busy site read a day of bookings)."""


def bucket_of(length_ms: int) -> int:
    """The length bucket of a promise lasting ``length_ms``."""
    k, limit = 0, BUCKET_BASE_MS
    while length_ms > limit and k < BUCKETS - 1:
        k += 1
        limit *= 2
    return k


class PromiseKind(StrEnum):
    BOOKING = "booking"
    RESERVATION = "reservation"
    SESSION = "session"
    """Not a promise: a car charging on its EVSE until an estimated end (``sessions``). Put
    by ``occupy``, never checked (the car is there), and counted by admissions that ask
    for it (a new booking, a RESERVE_NOW), not by moving a promise already counted (a
    binding): the EVSE the car leaves was counted for that promise when it was made."""


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Promise:
    promise_id: str
    start: datetime
    end: datetime
    need: Need = field(default_factory=Need)
    evse_uid: str | None = None
    """Bound to this EVSE (a reservation, a booking past its binding); None: any fitting."""
    kind: PromiseKind = PromiseKind.BOOKING

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value: datetime = getattr(self, name)
            if value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if "\t" in self.promise_id or (self.evse_uid is not None and "\t" in self.evse_uid):
            raise ValueError("ids may not contain a tab")


def as_session(promise: Promise) -> Promise:
    """``promise`` if it can be ``occupy``'s session (its kind, bound, not too long)."""
    if promise.kind is not PromiseKind.SESSION or promise.evse_uid is None \
            or not promise.start < promise.end <= promise.start + MAX_INTERVAL:
        raise ValueError(f"not a session on one EVSE: {promise}")
    return promise


class Verdict(StrEnum):
    ADMITTED = "admitted"
    FULL = "full"
    """At some instant of the interval one more promise would not fit (``at``, ``classes``)."""
    EVSE_TAKEN = "evse_taken"
    """Bound to an EVSE another promise holds during the interval."""
    NO_CLASS = "no_class"
    """No EVSE of the site can serve the need (or the bound EVSE is not reservable)."""
    INVALID = "invalid"
    """Empty, longer than MAX_INTERVAL, or already over."""
    DUPLICATE = "duplicate"
    """``admit`` of an id that holds another promise (``amend`` changes one)."""
    NO_INVENTORY = "no_inventory"
    """The site's supply was never set."""


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    at: datetime | None = None
    """FULL: the first instant at which the promise does not fit."""
    classes: tuple[EvseClass, ...] = ()
    """FULL: the set of classes that is full then."""
    promised: int = 0
    """FULL: promises on those classes at that instant, without the new one."""
    capacity: int = 0
    """FULL: what those classes may carry (their EVSEs minus the walk-in reserve)."""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.ADMITTED

    def describe(self) -> str:
        if self.verdict is Verdict.FULL and self.at is not None:
            names = " + ".join(c.label() for c in self.classes)
            return (f"full at {self.at.isoformat()}: {self.promised} promised on {names}, "
                    f"capacity {self.capacity}")
        return self.verdict.value


@dataclass(frozen=True, slots=True)
class SpareSegment:
    """From ``start`` to ``end`` this many more promises of a need would fit."""

    start: datetime
    end: datetime
    spare: int


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed at a site since a version (``CapacityTimeline.changes``)."""

    version: int
    """The site's version now: every write of its promises or its supply counts one."""
    spans: tuple[tuple[int, int], ...] | None
    """The [from, to) ms each change since touched (spare outside them is as it was);
    None when that is not known (the version is too old for the log, or the supply or every
    promise changed): every instant may have changed."""


CHANGE_LOG = 256
"""How many changes a site remembers for ``changes``."""


class CapacityTimeline(Protocol):
    async def set_supply(self, location_id: str, supply: Sequence[SupplyEvse]) -> None:
        """The site's reservable EVSEs (its classes follow). Stored promises are kept."""

    async def admit(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        """Atomically add ``promise`` if it fits at every instant of its interval (beside
        the sessions in progress too, unless ``sessions`` is False). The same promise
        admitted again is ADMITTED (a retry); another one under its id DUPLICATE."""

    async def amend(self, location_id: str, promise: Promise, *, reserve: int = 0,
                    sessions: bool = True) -> Admission:
        """Atomically replace the promise with this id (a change, a binding) if the new one
        fits beside the others; the old one stays otherwise. Adds it when absent."""

    async def occupy(self, location_id: str, session: Promise) -> None:
        """Put (or replace) a session in progress (``PromiseKind.SESSION``, bound to its
        EVSE), unchecked: the car charges whatever was promised. ``release`` ends it."""

    async def release(self, location_id: str, promise_id: str, *,
                      evse_uid: str | None = None) -> bool:
        """Drop a promise (cancelled, no-show, fulfilled, expired); with ``evse_uid`` only
        when it is bound to that EVSE."""

    async def get(self, location_id: str, promise_id: str) -> Promise | None: ...

    async def promises(self, location_id: str, start: datetime, end: datetime
                       ) -> list[Promise]:
        """Every promise overlapping [start, end), by start."""

    async def spare(self, location_id: str, need: Need, start: datetime, end: datetime, *,
                    reserve: int = 0) -> list[SpareSegment]:
        """How many more promises of ``need`` fit, segment by segment, over [start, end)."""

    async def rebuild(self, location_id: str, promises: Iterable[Promise]) -> int:
        """Replace the site's promises by these (read from the durable store, the system of
        record: Redis may lose its data). Not checked: what was promised stands."""

    async def restore(self, location_id: str, supply: Sequence[SupplyEvse],
                      promises: Iterable[Promise]) -> int:
        """In one atomic step, set the site's supply and add those of ``promises`` (read from
        the durable store) whose id it does not hold; how many were added. Unlike
        ``rebuild`` it keeps what the site holds: an instance restoring a site after Redis
        lost it never drops what another instance admitted meanwhile. Not checked: what was
        promised stands."""

    async def prune(self, location_id: str, before: datetime) -> int:
        """Drop promises that ended by ``before``; how many."""

    async def changes(self, location_id: str, since: int | None) -> Changes:
        """The site's version, and what changed after version ``since`` (None: not asked,
        everything): what lets a reader of ``spare`` keep its answer and recompute only the
        instants a change touched."""

    async def close(self) -> None: ...
