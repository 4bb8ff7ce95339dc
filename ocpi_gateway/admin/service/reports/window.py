"""The window a report covers, and the small steps every figure shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ocpi_gateway.reservation_policy.records import ReservationState

HELD = frozenset({ReservationState.ACTIVE.value, ReservationState.REROUTED.value})
"""The states in which a reservation holds its EVSE."""


@dataclass(slots=True)
class Window:
    start: float
    end: float
    now: float

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def clip(self, begin: float, finish: float | None) -> float:
        """Seconds of [begin, finish) inside the window; an open end runs to now."""
        stop = min(finish if finish is not None else self.now, self.now, self.end)
        return max(0.0, stop - max(begin, self.start))

    def holds(self, moment: float) -> bool:
        return self.start <= moment < self.end


def ts(value: str | datetime) -> float:
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).timestamp()


def share(part: float, whole: float) -> float:
    return round(part / whole, 6) if whole > 0 else 0.0


def where(site: str | None, **more: Any) -> dict[str, Any]:
    where = dict(more)
    if site:
        where["location_id"] = site
    return where
