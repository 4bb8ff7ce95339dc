"""Classes of EVSE at a site, and which classes a promise can use.

A class is (connector standard, power type, power level). The power levels of a site are the
distinct powers its connectors offer per (standard, power type), so that "at least P W" maps
exactly onto classes: an EVSE serves class (s, t, L) when it has an s/t connector of at least
L W, and a need of at least P W accepts the classes with L >= P. An EVSE with two standards,
or a power above another level, serves several classes (hence Hall's condition in ``hall``).

Sites have few classes; above ``MAX_CLASSES`` the lowest levels are merged upwards, which only
ever under-counts what an EVSE can serve (admission stays safe, never overbooks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ocpi_gateway.reservation_policy.models import EvseCandidate

MAX_CLASSES = 8
"""At most 2^8 - 1 = 255 sets of classes per check: bounded work inside the Lua script."""


@dataclass(frozen=True, slots=True, order=True)
class EvseClass:
    standard: str
    power_type: str
    power_w: int

    def label(self) -> str:
        return f"{self.standard}/{self.power_type or '-'}/{self.power_w / 1000:g}kW"


@dataclass(frozen=True, slots=True)
class Need:
    """What a promise can use: any of ``standards`` (empty: any), any of ``power_types``
    (empty: any), at least ``min_power_w``."""

    standards: frozenset[str] = frozenset()
    power_types: frozenset[str] = frozenset()
    min_power_w: int = 0

    def encode(self) -> str:
        return (",".join(sorted(self.standards)) + "|" + ",".join(sorted(self.power_types))
                + "|" + str(self.min_power_w))

    @classmethod
    def decode(cls, text: str) -> Need:
        standards, power_types, power = text.split("|")
        return cls(frozenset(s for s in standards.split(",") if s),
                   frozenset(p for p in power_types.split(",") if p), int(power))


@dataclass(frozen=True, slots=True)
class SupplyConnector:
    standard: str
    power_type: str
    power_w: int


@dataclass(frozen=True, slots=True)
class SupplyEvse:
    """A reservable EVSE the timeline may promise."""

    evse_uid: str
    connectors: tuple[SupplyConnector, ...]


def supply_of(candidates: Iterable[EvseCandidate]) -> tuple[SupplyEvse, ...]:
    """The reservable EVSEs of a location as the timeline's supply."""
    return tuple(
        SupplyEvse(c.evse_uid, tuple(SupplyConnector(k.standard, k.power_type, k.power_w)
                                     for k in c.connectors))
        for c in candidates if c.reservable)


@dataclass(frozen=True, slots=True)
class SiteClasses:
    """The class table of a site: classes, the classes each EVSE serves (a bit mask), and
    per set of classes S (a mask) the number of EVSEs serving at least one class of S."""

    classes: tuple[EvseClass, ...]
    evse_masks: dict[str, int] = field(hash=False)
    subset_sizes: tuple[int, ...] = field(hash=False)
    """Index S in 0..2^c - 1; index 0 is 0."""
    class_sizes: tuple[int, ...] = field(hash=False)

    @classmethod
    def build(cls, supply: Sequence[SupplyEvse]) -> SiteClasses:
        levels: dict[tuple[str, str], set[int]] = {}
        for evse in supply:
            for k in evse.connectors:
                levels.setdefault((k.standard, k.power_type), set()).add(k.power_w)
        _coarsen(levels)
        classes = tuple(sorted(EvseClass(s, t, p) for (s, t), ps in levels.items()
                               for p in ps))
        masks: dict[str, int] = {}
        for evse in supply:
            mask = 0
            for i, c in enumerate(classes):
                if any(k.standard == c.standard and k.power_type == c.power_type
                       and k.power_w >= c.power_w for k in evse.connectors):
                    mask |= 1 << i
            masks[evse.evse_uid] = mask
        full = 1 << len(classes)
        sizes = tuple(sum(1 for m in masks.values() if m & s) for s in range(full))
        class_sizes = tuple(sizes[1 << i] for i in range(len(classes)))
        return cls(classes, masks, sizes, class_sizes)

    def need_mask(self, need: Need) -> int:
        """The classes ``need`` accepts; 0 when no EVSE of the site can serve it."""
        mask = 0
        for i, c in enumerate(self.classes):
            if ((not need.standards or c.standard in need.standards)
                    and (not need.power_types or c.power_type in need.power_types)
                    and c.power_w >= need.min_power_w):
                mask |= 1 << i
        return mask

    def capacity(self, subset: int, reserve: int) -> int:
        """How many promises the EVSEs serving ``subset`` may carry at one instant: those
        EVSEs, minus the walk-in reserve of its largest class (min(reserve, class size)), so
        that ``reserve`` walk-in drivers of any one class still find an EVSE."""
        kept = 0
        for i, size in enumerate(self.class_sizes):
            if subset >> i & 1:
                kept = max(kept, min(reserve, size))
        return self.subset_sizes[subset] - kept

    def labels(self, subset: int) -> str:
        return " + ".join(c.label() for i, c in enumerate(self.classes) if subset >> i & 1)


def _coarsen(levels: dict[tuple[str, str], set[int]]) -> None:
    """Merge the lowest power levels away until at most MAX_CLASSES classes remain."""
    while sum(len(ps) for ps in levels.values()) > MAX_CLASSES:
        group = min((g for g, ps in levels.items() if len(ps) > 1),
                    key=lambda g: (min(levels[g]), g), default=None)
        if group is None:
            # More (standard, power type) pairs than classes allowed: keep the most common.
            raise ValueError(f"a site with more than {MAX_CLASSES} connector kinds")
        levels[group].discard(min(levels[group]))
