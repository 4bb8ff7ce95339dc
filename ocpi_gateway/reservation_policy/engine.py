"""The policy decision: which EVSEs may serve a request, in which order, and the atomic hold.

``decide`` reads the policy and one snapshot of the location's availability and returns an
ordered plan or a typed refusal; ``hold`` then asks the availability store to hold the first
still-free EVSE of the plan atomically, so a stale snapshot can cost a retry, never a double
reservation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from ocpi_gateway.domain.events import utc_now
from ocpi_gateway.reservation_policy.availability.base import (
    AvailabilityStore,
    EvseAvailability,
)
from ocpi_gateway.reservation_policy.capacity.gate import ReservationCapacity
from ocpi_gateway.reservation_policy.evaluation import (
    Evaluation,
    EvaluationIndex,
    RankedUids,
    Shape,
    evaluate,
    shape_of,
)
from ocpi_gateway.reservation_policy.explanation import CandidateReport, Explanation, status_of
from ocpi_gateway.reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from ocpi_gateway.reservation_policy.plans import Plan, PlannedCandidate, plan_or_refusal
from ocpi_gateway.reservation_policy.policy import PolicySettings, PolicySource
from ocpi_gateway.reservation_policy.refusals import OutcomeHint, Refusal, RefusalReason
from ocpi_gateway.reservation_policy.rules import Exclusion

# Refusals and explanations live in their own modules; they are imported from here too. (The
# plan a decision returns: ``plans``.)
__all__ = [
    "AdmissionRule", "CandidateReport", "Explanation", "OutcomeHint", "PolicyEngine",
    "Refusal", "RefusalReason",
]


class AdmissionRule(Protocol):
    """What may refuse a driver whatever the site can offer (``enforcement.service``): one
    function for RESERVE_NOW and for the bookings admission."""

    async def refusal(self, partner: Partner, token_uid: str, location_id: str
                      ) -> Refusal | None: ...


MAX_INDEXES = 1_024
"""Kept evaluations per engine (location and request shape) at most; the oldest goes first."""


class PolicyEngine:
    """Decisions for one gateway instance.

    ``snapshot_ttl`` lets decisions within that many seconds share one availability snapshot
    of a location (reading 100 EVSEs from Redis costs more than the rest of a decision). The
    snapshot only orders candidates and explains refusals: freeness is decided by the store's
    atomic pick-and-hold, and the plan lists every fitting EVSE, so a stale snapshot can
    change which EVSE is picked, never whether one is. Holds and releases made through the
    engine patch the cached snapshot at once.
    """

    def __init__(
        self,
        policy: PolicySource,
        availability: AvailabilityStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        snapshot_ttl: float = 0.25,
        monotonic: Callable[[], float] = time.monotonic,
        capacity: ReservationCapacity | None = None,
        admission: AdmissionRule | None = None,
    ) -> None:
        self.policy = policy
        self.availability = availability
        self.capacity = capacity
        self.admission = admission
        """Asked last for every new reservation (bans, the eMSP's no-show rate)."""
        """Where bookings are possible, every hold is also promised on the timeline."""
        self._clock = clock
        self._monotonic = monotonic
        """Ages the cached snapshots (``clock`` is for request durations)."""
        self._ttl = snapshot_ttl
        self._snapshots: dict[str, tuple[float, dict[str, EvseAvailability]]] = {}
        self._indexes: dict[tuple[str, Shape], EvaluationIndex] = {}
        """Per location and request shape: the evaluation kept between decisions."""
        self._held: dict[tuple[str, str], tuple[str, datetime]] = {}
        """Holds taken through this engine and not released: put back if Redis loses them
        (an attempt in flight has no EVSE on its record yet)."""

    def holds_taken(self) -> dict[tuple[str, str], tuple[str, datetime]]:
        """(location, EVSE) -> (holder, until) of the holds this engine took and still has."""
        now = self._clock()
        for key in [k for k, (_, until) in self._held.items() if until <= now]:
            del self._held[key]
        return dict(self._held)

    async def _snapshot(self, location_id: str, *, fresh: bool = False
                        ) -> dict[str, EvseAvailability]:
        if self._ttl > 0 and not fresh:
            cached = self._snapshots.get(location_id)
            if cached is not None and self._monotonic() - cached[0] < self._ttl:
                return cached[1]
        snapshot = await self.availability.decision_view(location_id)
        if self._ttl > 0:
            self._snapshots[location_id] = (self._monotonic(), snapshot)
        return snapshot

    def forget_snapshot(self, location_id: str) -> None:
        """A status at the location changed: the next decision reads it afresh. (The cache
        saves reads between bursts of decisions; a stale one picks a worse EVSE, as when a
        charger that just became busy still looks idle to spread_across_chargers.)"""
        self._snapshots.pop(location_id, None)

    def _patch(self, location_id: str, evse_uid: str, holder: str | None,
               until: datetime | None) -> None:
        cached = self._snapshots.get(location_id)
        if cached is None or evse_uid not in cached[1]:
            return
        entry = cached[1][evse_uid]
        cached[1][evse_uid] = replace(
            entry, holder=holder, hold_until=until,
            last_reserved_at=self._clock() if holder else entry.last_reserved_at)

    async def _evaluate(
        self, request: ReservationRequest, candidates: Sequence[EvseCandidate],
        exclude: Collection[str] = (), *, fresh: bool = False, indexed: bool = True,
    ) -> Evaluation:
        """``indexed``: a location-level decision (not a re-route, not an explanation) reads
        the location's kept evaluation rather than walking every EVSE again."""
        settings = self.policy.effective(request.location_id, request.partner)
        availability = await self._snapshot(request.location_id, fresh=fresh)
        if indexed and not exclude and not fresh and request.evse_uid is None:
            index = self._index(request, candidates, settings)
            if index is not None:
                return index.evaluation(settings, availability)
        return evaluate(request, candidates, settings, availability, exclude)

    def _index(self, request: ReservationRequest, candidates: Sequence[EvseCandidate],
               settings: PolicySettings) -> EvaluationIndex | None:
        key = (request.location_id, shape_of(request, settings))
        index = self._indexes.get(key)
        if index is not None and index.candidates is candidates:
            return index
        # A reload, a mark or a charger's answer makes new candidates: built again.
        if not EvaluationIndex.usable(candidates):
            return None
        index = EvaluationIndex(request, candidates, settings)
        self._indexes.pop(key, None)
        if len(self._indexes) >= MAX_INDEXES:
            self._indexes.pop(next(iter(self._indexes)))
        self._indexes[key] = index
        return index

    def _check_request(self, request: ReservationRequest, settings: PolicySettings,
                       active_for_partner: int) -> Refusal | None:
        if not settings.enabled:
            return Refusal(RefusalReason.DISABLED, "reservations are disabled here")
        minutes = (request.expiry - self._clock()).total_seconds() / 60.0
        if minutes < settings.min_duration_minutes:
            return Refusal(RefusalReason.DURATION_TOO_SHORT,
                           f"{minutes:.1f} min < minimum {settings.min_duration_minutes:g} min")
        if minutes > settings.max_duration_minutes:
            return Refusal(RefusalReason.DURATION_TOO_LONG,
                           f"{minutes:.1f} min > maximum {settings.max_duration_minutes:g} min")
        cap = settings.max_concurrent_per_emsp
        if cap is not None and active_for_partner >= cap:
            return Refusal(RefusalReason.PARTNER_CAP_REACHED,
                           f"{active_for_partner} active reservations, cap {cap}")
        return None

    async def decide(
        self,
        request: ReservationRequest,
        candidates: Sequence[EvseCandidate],
        *,
        active_for_partner: int = 0,
        reroute_from: Collection[str] | None = None,
        replacing: bool = False,
    ) -> Plan | Refusal:
        """An ordered plan, or why nothing is attempted.

        ``active_for_partner`` counts the partner's live reservations besides this one.
        ``reroute_from`` marks a re-route of a live reservation away from those EVSEs: the
        request checks (enabled, duration, cap) were passed when it was made and are skipped.
        ``replacing``: a live reservation changed by its eMSP, which the admission rule let in
        when it was made (a ban refuses new reservations, not the ones it found).
        """
        ev = await self._evaluate(request, candidates, reroute_from or ())
        if reroute_from is None:
            refusal = self._check_request(request, ev.settings, active_for_partner)
            if refusal is None and not replacing and self.admission is not None:
                refusal = await self.admission.refusal(request.partner, request.token_uid,
                                                       request.location_id)
            if refusal is not None:
                return refusal
        return plan_or_refusal(request, candidates, ev)

    async def explain(
        self, request: ReservationRequest, candidates: Sequence[EvseCandidate],
        *, active_for_partner: int = 0,
    ) -> Explanation:
        """Every candidate with its score, rank and, when excluded, why."""
        ev = await self._evaluate(request, candidates, fresh=True)
        refusal = self._check_request(request, ev.settings, active_for_partner)
        decision = plan_or_refusal(request, candidates, ev)
        if refusal is None and isinstance(decision, Refusal):
            refusal = decision
        if refusal is None and isinstance(decision, Plan) and (
                not ev.eligible or ev.free_count - ev.settings.walk_in_reserve <= 0):
            refusal = decision.exhausted
        holdable = max(0, ev.free_count - ev.settings.walk_in_reserve)
        rows: list[CandidateReport] = []
        targets = ({p.evse_uid: p.target for p in decision.attempts}
                   if isinstance(decision, Plan) else {})
        for rank, (c, score) in enumerate(ev.eligible, start=1):
            status = status_of(ev.availability, c.evse_uid)
            if rank > holdable:
                rows.append(CandidateReport(
                    c.evse_uid, c.charge_point_id, status, None, score, Exclusion.WALK_IN_RESERVE,
                    f"only {holdable} of {ev.free_count} free EVSEs may be reserved"))
            else:
                rows.append(CandidateReport(c.evse_uid, c.charge_point_id, status, rank, score,
                                            None, "", targets.get(c.evse_uid, c.address)))
        for c, exclusion, detail in ev.excluded:
            rows.append(CandidateReport(c.evse_uid, c.charge_point_id,
                                        status_of(ev.availability, c.evse_uid), None, None,
                                        exclusion, detail))
        return Explanation(request.location_id, ev.settings, tuple(rows), refusal, ev.free_count)

    async def hold(
        self, plan: Plan, *, holder: str, until: datetime, skip: Collection[str] = ()
    ) -> PlannedCandidate | None:
        """Atomically hold the best still-free EVSE of the plan (walk-in reserve enforced by
        the store), skipping EVSEs already tried; None when nothing can be held. Where
        bookings are possible the held EVSE must also be admitted on the capacity timeline;
        when it is not, the hold is given back and the next EVSE of other classes tried."""
        skipped = set(skip)
        capacity = self.capacity
        checked = capacity is not None and capacity.applies(plan.location_id)
        while True:
            order_ = ([(c, score) for c, score in plan.ranked if c.evse_uid not in skipped]
                      if skipped else plan.ranked)
            if not order_:
                return None
            uid = await self.availability.pick_and_hold(
                plan.location_id, RankedUids(order_), holder=holder,
                until=until, keep_free=plan.keep_free)
            if uid is None:
                return None
            if checked:
                assert capacity is not None
                admission = await capacity.admit(plan.location_id, plan.site, uid,
                                                 holder=holder, until=until,
                                                 settings=plan.settings,
                                                 booking_key=plan.booking_key)
                if not admission.ok:
                    await self.availability.release(plan.location_id, uid, holder=holder)
                    plan.capacity_refusals.append(admission)
                    skipped |= capacity.interchangeable(plan.location_id, uid)
                    continue
            self._held[(plan.location_id, uid)] = (holder, until)
            self._patch(plan.location_id, uid, holder, until)
            return next(plan.planned(c, score) for c, score in order_ if c.evse_uid == uid)

    async def release(self, location_id: str, evse_uid: str, *, holder: str,
                      keep_promise: bool = False) -> bool:
        """Give back a hold, and its promise on the capacity timeline unless
        ``keep_promise`` (a hold taken again at once)."""
        if self._held.get((location_id, evse_uid), ("",))[0] == holder:
            del self._held[(location_id, evse_uid)]
        released = await self.availability.release(location_id, evse_uid, holder=holder)
        if released:
            self._patch(location_id, evse_uid, None, None)
        if (not keep_promise and self.capacity is not None
                and self.capacity.applies(location_id)):
            await self.capacity.release(location_id, evse_uid, holder=holder)
        return released
