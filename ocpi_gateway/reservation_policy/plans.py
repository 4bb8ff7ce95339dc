"""What a decision offers to hold: the ordered ``Plan`` of fitting EVSEs made from one
evaluation, or the typed refusal when there is nothing to attempt (``plan_or_refusal``).

The engine (``engine.PolicyEngine``) checks the request, evaluates the location and holds
from the plan; this module only turns an evaluation into the plan and says what to report
when nothing of it can be held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import EvseStatus
from ocpi_gateway.reservation_policy.capacity.base import Admission
from ocpi_gateway.reservation_policy.evaluation import Evaluation
from ocpi_gateway.reservation_policy.models import EvseCandidate, ReservationRequest
from ocpi_gateway.reservation_policy.policy import PolicySettings
from ocpi_gateway.reservation_policy.refusals import Refusal, RefusalReason

_INOPERATIVE = {EvseStatus.INOPERATIVE, EvseStatus.OUTOFORDER, EvseStatus.REMOVED,
                EvseStatus.UNKNOWN, EvseStatus.PLANNED}


@dataclass(frozen=True, slots=True)
class PlannedCandidate:
    candidate: EvseCandidate
    score: tuple[float, ...]
    target: ChargerAddress
    """Where ReserveNow goes: the EVSE's address, or the bare charger for a whole-charger
    reservation (``evse_id`` and ``connector_id`` None)."""

    @property
    def whole_charger(self) -> bool:
        return self.target.evse_id is None and self.target.connector_id is None

    @property
    def evse_uid(self) -> str:
        return self.candidate.evse_uid


@dataclass(frozen=True, slots=True)
class Plan:
    location_id: str
    settings: PolicySettings
    ranked: tuple[tuple[EvseCandidate, tuple[float, ...]], ...]
    """Every EVSE that fits the request, with its score: those free in the snapshot first,
    best first, then the others (the snapshot may be stale; the store's atomic hold has the
    last word)."""
    keep_free: int
    exhausted: Refusal
    """What to report when nothing of the plan can be held."""
    whole_chargers: frozenset[str] = frozenset()
    """Chargers reserved as a whole rather than by EVSE."""
    free_in_snapshot: int = 0
    """How many leading entries of ``ranked`` were free in the snapshot (the rest are the
    fallback: fitting EVSEs the snapshot saw busy, held or without a status)."""
    site: Sequence[EvseCandidate] = ()
    """Every EVSE of the location (the capacity timeline's supply)."""
    booking_key: str | None = None
    """A booking's binding: its own promise moves onto the EVSE held."""
    capacity_refusals: list[Admission] = field(default_factory=list)
    """What the capacity timeline said of EVSEs held and given back (filled by
    ``PolicyEngine.hold``)."""

    @property
    def nothing_held(self) -> Refusal:
        """Why nothing of the plan could be held."""
        if self.capacity_refusals:
            return Refusal(RefusalReason.PROMISED,
                           "the fitting EVSEs are promised to bookings: "
                           + self.capacity_refusals[-1].describe())
        return self.exhausted

    def planned(self, candidate: EvseCandidate, score: tuple[float, ...]) -> PlannedCandidate:
        target = (ChargerAddress(candidate.charge_point_id)
                  if candidate.charge_point_id in self.whole_chargers else candidate.address)
        return PlannedCandidate(candidate, score, target)

    @property
    def attempts(self) -> tuple[PlannedCandidate, ...]:
        # Built on demand: a decision only needs the uids, and the one picked.
        return tuple(self.planned(c, score) for c, score in self.ranked)


def plan_or_refusal(request: ReservationRequest, candidates: Sequence[EvseCandidate],
                    ev: Evaluation) -> Plan | Refusal:
    """The plan of ``ev`` (every fitting EVSE, those free in the snapshot first), or why
    nothing is attempted: no EVSE at the location, the named EVSE unknown or not reservable,
    nothing fits."""
    if not candidates:
        return Refusal(RefusalReason.UNKNOWN_LOCATION,
                       f"no EVSE known at location {request.location_id}")
    if request.evse_uid is not None:
        named = [c for c in candidates if c.evse_uid == request.evse_uid]
        if not named:
            return Refusal(RefusalReason.UNKNOWN_EVSE,
                           f"EVSE {request.evse_uid} is not at {request.location_id}")
        if not named[0].reservable:
            return Refusal(RefusalReason.NOT_RESERVABLE,
                           f"EVSE {request.evse_uid} is not RESERVABLE")
    if not ev.eligible and not ev.fallback:
        return Refusal(RefusalReason.NO_CANDIDATE, "no EVSE fits the request")
    # A booking was admitted with the walk-in reserve kept at every instant of its slot:
    # its binding takes any free fitting EVSE.
    keep_free = 0 if request.booking_key is not None else ev.settings.walk_in_reserve
    return Plan(request.location_id, ev.settings, (*ev.eligible, *ev.fallback), keep_free,
                _exhausted(ev, keep_free), _whole_chargers(request, candidates, ev),
                len(ev.eligible), candidates, request.booking_key)


def _exhausted(ev: Evaluation, keep_free: int) -> Refusal:
    if ev.eligible:
        if ev.free_count - keep_free <= 0:
            return Refusal(RefusalReason.WALK_IN_RESERVE,
                           f"{ev.free_count} free EVSEs, {keep_free} kept for walk-in "
                           "drivers")
        return Refusal(RefusalReason.ALL_BUSY, "the free EVSEs were taken meanwhile")
    inoperative = all(
        (a := ev.availability.get(c.evse_uid)) is None or a.status in _INOPERATIVE
        for c, _ in ev.fallback)
    if inoperative:
        return Refusal(RefusalReason.ALL_INOPERATIVE,
                       "every fitting EVSE is out of order or unknown")
    return Refusal(RefusalReason.ALL_BUSY, "every fitting EVSE is in use or reserved")


def _whole_chargers(request: ReservationRequest, candidates: Sequence[EvseCandidate],
                    ev: Evaluation) -> frozenset[str]:
    """Chargers to reserve as a whole rather than by EVSE.

    A whole-charger reservation survives one EVSE's fault and lets the driver take any of
    the charger's EVSEs. Only worth it on a location-level request, when the charger has
    several reservable EVSEs and every one of them fits what the driver wants (the
    charger, not the gateway, will choose the EVSE).
    """
    if (not ev.settings.allow_whole_charger or request.evse_uid is not None
            or not request.whole_charger_allowed):
        return frozenset()
    siblings: dict[str, list[EvseCandidate]] = {}
    for c in candidates:
        if c.reservable and c.charger_can_reserve_whole:
            siblings.setdefault(c.charge_point_id, []).append(c)
    return frozenset(
        cp for cp, group in siblings.items()
        if len(group) >= 2
        and not any(s.evse_uid in ev.statically_excluded for s in group))
