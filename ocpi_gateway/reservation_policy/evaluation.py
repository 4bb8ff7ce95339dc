"""A decision's evaluation of a location: which EVSEs fit, which are free, in which order.

``evaluate`` walks every EVSE of the location: the static fit, the status, the busy EVSEs per
charger, each ordering rule, the sorts. At 1,000 EVSEs that walk was most of a RESERVE_NOW,
on every request, although between two decisions only the few EVSEs a hold, a release or a
status changed differ. ``EvaluationIndex`` keeps what the walk produces for one location and
request shape, and applies only the snapshot entries that changed since its last decision:
found by identity first (the engine's cached snapshot replaces the entries a hold changes; the
in-process store hands back unchanged entries as the same objects), then by the three fields
the evaluation reads. It answers what ``evaluate`` answers for the same snapshot
(tests/policy/test_evaluation_index.py checks it under random changes).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import overload

from ocpi_gateway.reservation_policy.availability.base import EvseAvailability, EvseStatus
from ocpi_gateway.reservation_policy.models import EvseCandidate, ReservationRequest
from ocpi_gateway.reservation_policy.policy import OrderingRule, PolicySettings
from ocpi_gateway.reservation_policy.rules import (
    RULES,
    Exclusion,
    RuleContext,
    busy_per_charger,
    order,
    static_exclusion,
    status_exclusion,
)

Ranked = list[tuple[EvseCandidate, tuple[float, ...]]]


class RankedUids(Sequence[str]):
    """The uids of ranked candidates, in order, read only as far as a reader goes: the
    in-process store holds the first free one, usually the first, where a list of every uid
    of a 1,000-EVSE plan was made for each hold."""

    __slots__ = ("_ranked",)

    def __init__(self, ranked: Sequence[tuple[EvseCandidate, tuple[float, ...]]]) -> None:
        self._ranked = ranked

    def __len__(self) -> int:
        return len(self._ranked)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...

    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [c.evse_uid for c, _ in self._ranked[index]]
        return self._ranked[index][0].evse_uid

    def __iter__(self) -> Iterator[str]:
        return (c.evse_uid for c, _ in self._ranked)
_Key = tuple[float | str, ...]
"""A free EVSE's place in the order: its score, then its uid (the last tie-break)."""


@dataclass(slots=True)
class Evaluation:
    settings: PolicySettings
    availability: Mapping[str, EvseAvailability]
    free_count: int
    eligible: Ranked = field(default_factory=list)
    """Fit the request and free in the snapshot, ordered."""
    fallback: Ranked = field(default_factory=list)
    """Fit the request but not free in the snapshot, ordered."""
    excluded: list[tuple[EvseCandidate, Exclusion, str]] = field(default_factory=list)
    """Why each other EVSE is left out (the full evaluation only: what ``explain`` shows)."""
    statically_excluded: Collection[str] = field(default_factory=set)


def _free(entry: EvseAvailability | None) -> bool:
    return entry is not None and entry.status is EvseStatus.AVAILABLE and entry.holder is None


def _uid(candidate: EvseCandidate) -> str:
    return candidate.evse_uid


def evaluate(request: ReservationRequest, candidates: Sequence[EvseCandidate],
             settings: PolicySettings, availability: Mapping[str, EvseAvailability],
             exclude: Collection[str] = ()) -> Evaluation:
    """The full walk over every candidate."""
    ev = Evaluation(settings, availability, sum(1 for a in availability.values() if _free(a)))
    ctx = RuleContext(request, availability, busy_per_charger(candidates, availability))
    free: list[EvseCandidate] = []
    others: list[EvseCandidate] = []
    statically_excluded: set[str] = set()
    for c in candidates:
        if c.evse_uid in exclude:
            ev.excluded.append((c, Exclusion.NOT_FREE, "the reservation is moving away"))
            continue
        why = static_exclusion(c, request)
        if why is not None:
            statically_excluded.add(c.evse_uid)
            ev.excluded.append((c, *why))
            continue
        why = status_exclusion(availability.get(c.evse_uid))
        if why is None:
            free.append(c)
        else:
            others.append(c)
            ev.excluded.append((c, *why))
    ev.statically_excluded = statically_excluded
    ev.eligible = order(free, settings.ordering, ctx)
    if ev.eligible:
        # Only reached when the snapshot was stale: the uid order is good enough and
        # spares the rules' cost on every decision.
        ev.fallback = [(c, ()) for c in sorted(others, key=_uid)]
    else:
        ev.fallback = order(others, settings.ordering, ctx)
    return ev


Shape = tuple[str | None, int | None, tuple[OrderingRule, ...]]
"""What of a location-level request and its settings the evaluation depends on: the
connector standard, the minimum power, the ordering rules."""


def shape_of(request: ReservationRequest, settings: PolicySettings) -> Shape:
    return (request.connector_standard, request.min_power_w, tuple(settings.ordering))


class EvaluationIndex:
    """``evaluate`` for location-level requests of one shape at one location, kept up to date
    by ``update`` with each new snapshot instead of walked again."""

    def __init__(self, request: ReservationRequest, candidates: Sequence[EvseCandidate],
                 settings: PolicySettings) -> None:
        self.candidates = candidates
        self.shape = shape_of(request, settings)
        self._request = request  # the rules read only its shape
        self._ordering = tuple(settings.ordering)
        self._spread = OrderingRule.SPREAD_ACROSS_CHARGERS in self._ordering
        self._by_uid = {c.evse_uid: c for c in candidates}
        self._fitting: dict[str, EvseCandidate] = {}
        self._fitting_of_charger: dict[str, list[str]] = {}
        excluded: set[str] = set()
        for c in candidates:
            if static_exclusion(c, request) is None:
                self._fitting[c.evse_uid] = c
                self._fitting_of_charger.setdefault(c.charge_point_id, []).append(c.evse_uid)
            else:
                excluded.add(c.evse_uid)
        self.statically_excluded = frozenset(excluded)
        self._seen: dict[str, EvseAvailability] = {}
        self._busy: dict[str, int] = {}
        self._free_count = 0
        # Free fitting EVSEs, best first: sort keys (score..., uid) and their entries.
        self._keys: list[_Key] = []
        self._ranked: Ranked = []
        self._key_of: dict[str, _Key] = {}
        # The other fitting EVSEs in uid order.
        self._others: list[str] = []
        self._other_entries: Ranked = []
        self._built = False

    @staticmethod
    def usable(candidates: Sequence[EvseCandidate]) -> bool:
        """One candidate per uid (the index is keyed by uid)."""
        return len({c.evse_uid for c in candidates}) == len(candidates)

    def evaluation(self, settings: PolicySettings,
                   availability: Mapping[str, EvseAvailability]) -> Evaluation:
        """What ``evaluate`` answers for this snapshot (``excluded`` left empty)."""
        self._update(availability)
        ev = Evaluation(settings, availability, self._free_count,
                        statically_excluded=self.statically_excluded)
        if self._ranked:
            ev.eligible = list(self._ranked)
            ev.fallback = list(self._other_entries)
        else:
            others = [self._fitting[uid] for uid in self._others]
            ev.fallback = order(others, self._ordering,
                                RuleContext(self._request, availability, self._busy))
        return ev

    def _update(self, availability: Mapping[str, EvseAvailability]) -> None:
        if not self._built:
            self._build(availability)
            return
        seen = self._seen
        changed: list[str] = []
        for uid, entry in availability.items():
            old = seen.get(uid)
            if old is not entry and (old is None or old.status is not entry.status
                                     or old.holder != entry.holder
                                     or old.last_reserved_at != entry.last_reserved_at):
                changed.append(uid)
        added = sum(1 for uid in changed if uid not in seen)
        if len(seen) + added != len(availability):
            changed += [uid for uid in seen if uid not in availability]
        if not changed:
            self._seen = dict(availability)
            return
        affected: set[str] = set()
        for uid in changed:
            was, now = _free(seen.get(uid)), _free(availability.get(uid))
            self._free_count += now - was
            candidate = self._by_uid.get(uid)
            if candidate is None:
                continue
            if was != now:
                cp = candidate.charge_point_id
                self._busy[cp] = self._busy.get(cp, 0) + (was - now)
                if self._spread:
                    affected.update(self._fitting_of_charger.get(cp, ()))
            if uid in self._fitting:
                affected.add(uid)
        self._seen = dict(availability)
        for uid in affected:
            self._remove(uid)
        ctx = RuleContext(self._request, availability, self._busy)
        for uid in affected:
            candidate = self._fitting[uid]
            if _free(availability.get(uid)):
                score = tuple(RULES[rule]([candidate], ctx)[0] for rule in self._ordering)
                self._insert(candidate, score)
            else:
                at = bisect_left(self._others, uid)
                self._others.insert(at, uid)
                self._other_entries.insert(at, (candidate, ()))

    def _build(self, availability: Mapping[str, EvseAvailability]) -> None:
        self._seen = dict(availability)
        self._free_count = sum(1 for a in availability.values() if _free(a))
        self._busy = busy_per_charger(self.candidates, availability)
        ctx = RuleContext(self._request, availability, self._busy)
        free = [c for c in self._fitting.values() if _free(availability.get(c.evse_uid))]
        for candidate, score in order(free, self._ordering, ctx):
            key: _Key = (*score, candidate.evse_uid)
            self._keys.append(key)
            self._ranked.append((candidate, score))
            self._key_of[candidate.evse_uid] = key
        self._others = sorted(uid for uid, c in self._fitting.items()
                              if not _free(availability.get(uid)))
        self._other_entries = [(self._fitting[uid], ()) for uid in self._others]
        self._built = True

    def _insert(self, candidate: EvseCandidate, score: tuple[float, ...]) -> None:
        key: _Key = (*score, candidate.evse_uid)
        at = bisect_left(self._keys, key)
        self._keys.insert(at, key)
        self._ranked.insert(at, (candidate, score))
        self._key_of[candidate.evse_uid] = key

    def _remove(self, uid: str) -> None:
        key = self._key_of.pop(uid, None)
        if key is not None:
            at = bisect_left(self._keys, key)
            del self._keys[at]
            del self._ranked[at]
            return
        at = bisect_left(self._others, uid)
        if at < len(self._others) and self._others[at] == uid:
            del self._others[at]
            del self._other_entries[at]

