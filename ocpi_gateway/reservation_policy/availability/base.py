"""The availability interface. Implementations: in-process (embedded default) and Redis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class EvseStatus(StrEnum):
    """OCPI 2.2.1 EVSE Status."""

    AVAILABLE = "AVAILABLE"
    BLOCKED = "BLOCKED"
    CHARGING = "CHARGING"
    INOPERATIVE = "INOPERATIVE"
    OUTOFORDER = "OUTOFORDER"
    PLANNED = "PLANNED"
    REMOVED = "REMOVED"
    RESERVED = "RESERVED"
    UNKNOWN = "UNKNOWN"


class AvailabilityRebuilding(Exception):
    """The shared availability lost its data (Redis came back empty) and is being rebuilt:
    nothing can be picked until it is (``AvailabilityStore.wait_ready``)."""


@dataclass(frozen=True, slots=True)
class EvseAvailability:
    location_id: str
    evse_uid: str
    status: EvseStatus
    updated_at: datetime
    holder: str | None = None
    """Who holds the EVSE for a reservation (a reservation key), while a hold is in force."""
    hold_until: datetime | None = None
    last_reserved_at: datetime | None = None

    @property
    def is_free(self) -> bool:
        return self.status is EvseStatus.AVAILABLE and self.holder is None


class AvailabilityStore(Protocol):
    """Status per EVSE, grouped by location, plus reservation holds.

    Every operation on one location is atomic with respect to the others on that location, on
    every instance sharing the store (Redis keys are hash-tagged ``{location_id}``).
    """

    async def set_status(
        self, location_id: str, evse_uid: str, status: EvseStatus, at: datetime
    ) -> bool:
        """Record a status; True when it changed."""

    async def get(self, location_id: str, evse_uid: str) -> EvseAvailability | None: ...

    async def location(self, location_id: str) -> dict[str, EvseAvailability]:
        """Every known EVSE of a location, by uid."""

    async def locations(self, location_ids: Sequence[str]
                        ) -> dict[str, dict[str, EvseAvailability]]:
        """:meth:`location` of each, sent together (see :meth:`initialise_locations`)."""

    async def initialise_locations(
        self, evses: Mapping[str, Sequence[str]], at: datetime
    ) -> dict[str, dict[str, EvseAvailability]]:
        """For each location of ``evses`` (location id → EVSE uids): the listed EVSEs the
        store does not know yet recorded UNKNOWN (at ``at``; a known EVSE keeps its status),
        then every known EVSE of the location, by uid, as :meth:`location` gives them. Each
        location's is one atomic operation; the locations are not one transaction. Sent
        together (Redis: a pipeline per few hundred locations), not a round trip each."""

    async def decision_view(self, location_id: str) -> dict[str, EvseAvailability]:
        """``location`` for a decision: raises :class:`AvailabilityRebuilding` while the data
        is not rebuilt after Redis lost it (a view without statuses or holds)."""

    async def pick_and_hold(
        self,
        location_id: str,
        candidates: Sequence[str],
        *,
        holder: str,
        until: datetime,
        keep_free: int = 0,
    ) -> str | None:
        """Atomically hold the first free candidate, in the given order.

        A candidate is free when AVAILABLE and not held. ``keep_free`` is the walk-in reserve:
        the hold is refused unless at least that many EVSEs of the location stay free after
        it. Returns the uid held, or None.
        """

    async def release(self, location_id: str, evse_uid: str, *, holder: str) -> bool:
        """Drop a hold if ``holder`` owns it."""

    async def ping(self) -> bool: ...

    @property
    def ready(self) -> bool:
        """False while the store is rebuilt after losing its data: decisions would see
        nothing, or holds that no longer exist."""

    async def wait_ready(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until ready, at most ``timeout`` seconds; whether it is."""

    async def close(self) -> None: ...
