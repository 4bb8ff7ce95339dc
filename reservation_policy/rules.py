"""Candidate exclusions and the ordering rules an operator combines in ``ordering``.

Ordering is lexicographic over the configured rules: the first rule decides, the next breaks
its ties, and so on; the EVSE uid breaks the last ties so that a decision is reproducible.
Every rule yields a number where lower is better, so ``explain`` can show it as a score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from reservation_policy.availability.base import EvseAvailability, EvseStatus
from reservation_policy.models import EvseCandidate, ReservationRequest
from reservation_policy.policy import OrderingRule


class Exclusion(StrEnum):
    NOT_REQUESTED = "not_requested"
    """The request named another EVSE."""
    NOT_RESERVABLE = "not_reservable"
    """The EVSE lacks the RESERVABLE capability."""
    UNKNOWN_STATUS = "unknown_status"
    """No status has been received for the EVSE yet."""
    NOT_FREE = "not_free"
    """The EVSE is not AVAILABLE (charging, reserved, faulted, ...)."""
    HELD = "held"
    """Another reservation holds it."""
    WRONG_STANDARD = "wrong_standard"
    BELOW_WANTED_POWER = "below_wanted_power"
    WALK_IN_RESERVE = "walk_in_reserve"
    """Free and eligible, but holding it would leave fewer free EVSEs than the walk-in reserve."""


def exclusion_of(
    candidate: EvseCandidate,
    availability: EvseAvailability | None,
    request: ReservationRequest,
) -> tuple[Exclusion, str] | None:
    """Why ``candidate`` cannot serve ``request`` (walk-in reserve aside), or None."""
    if request.evse_uid is not None and candidate.evse_uid != request.evse_uid:
        return Exclusion.NOT_REQUESTED, f"the request names EVSE {request.evse_uid}"
    if not candidate.reservable:
        return Exclusion.NOT_RESERVABLE, "EVSE has no RESERVABLE capability"
    connectors = candidate.connectors
    if request.connector_standard is not None:
        connectors = tuple(c for c in connectors if c.standard == request.connector_standard)
        if not connectors:
            have = ", ".join(sorted({c.standard for c in candidate.connectors})) or "none"
            return Exclusion.WRONG_STANDARD, (
                f"wanted {request.connector_standard}, EVSE has {have}")
    if request.min_power_w is not None:
        best = max((c.power_w for c in connectors), default=0)
        if best < request.min_power_w:
            return Exclusion.BELOW_WANTED_POWER, (
                f"wanted {request.min_power_w} W, EVSE gives at most {best} W")
    if availability is None:
        return Exclusion.UNKNOWN_STATUS, "no status received yet"
    if availability.holder is not None:
        return Exclusion.HELD, "held by another reservation"
    if availability.status is not EvseStatus.AVAILABLE:
        return Exclusion.NOT_FREE, f"status {availability.status.value}"
    return None


@dataclass(frozen=True, slots=True)
class RuleContext:
    request: ReservationRequest
    availability: Mapping[str, EvseAvailability]
    busy_per_charger: Mapping[str, int]
    """EVSEs per charger that are not free (held, reserved, charging, ...)."""


def _connector_wanted(c: EvseCandidate, ctx: RuleContext) -> float:
    # Best fit: the smallest power that satisfies the driver keeps the big chargers for
    # those who need them. Neutral when the request wants nothing in particular.
    req = ctx.request
    if req.connector_standard is None and req.min_power_w is None:
        return 0.0
    fitting = [conn for conn in c.connectors
               if req.connector_standard in (None, conn.standard)]
    if not fitting:
        return float("inf")
    power = max(conn.power_w for conn in fitting)
    return float(power - (req.min_power_w or 0)) / 1000.0


def _single_connector(c: EvseCandidate, ctx: RuleContext) -> float:
    # A multi-connector EVSE serves more kinds of cars; leave it to walk-in drivers.
    return 0.0 if len(c.connectors) <= 1 else 1.0


def _least_recently_reserved(c: EvseCandidate, ctx: RuleContext) -> float:
    # Never reserved comes first; then the oldest reservation. Spreads wear and no-show harm.
    avail = ctx.availability.get(c.evse_uid)
    if avail is None or avail.last_reserved_at is None:
        return float("-inf")
    return avail.last_reserved_at.timestamp()


def _spread_across_chargers(c: EvseCandidate, ctx: RuleContext) -> float:
    # A charger with fewer busy EVSEs first: a charger fault then hits fewer reservations,
    # and load spreads over grid connections.
    return float(ctx.busy_per_charger.get(c.charge_point_id, 0))


def _highest_power(c: EvseCandidate, ctx: RuleContext) -> float:
    return -float(c.max_power_w)


RULES: dict[OrderingRule, Callable[[EvseCandidate, RuleContext], float]] = {
    OrderingRule.CONNECTOR_WANTED: _connector_wanted,
    OrderingRule.SINGLE_CONNECTOR: _single_connector,
    OrderingRule.LEAST_RECENTLY_RESERVED: _least_recently_reserved,
    OrderingRule.SPREAD_ACROSS_CHARGERS: _spread_across_chargers,
    OrderingRule.HIGHEST_POWER: _highest_power,
}


def busy_per_charger(
    candidates: Sequence[EvseCandidate], availability: Mapping[str, EvseAvailability]
) -> dict[str, int]:
    busy: Counter[str] = Counter()
    for c in candidates:
        avail = availability.get(c.evse_uid)
        if avail is None or not avail.is_free:
            busy[c.charge_point_id] += 1
    return dict(busy)


def score(candidate: EvseCandidate, rules: Sequence[OrderingRule], ctx: RuleContext
          ) -> tuple[float, ...]:
    return tuple(RULES[rule](candidate, ctx) for rule in rules)


def order(
    candidates: Sequence[EvseCandidate], rules: Sequence[OrderingRule], ctx: RuleContext
) -> list[tuple[EvseCandidate, tuple[float, ...]]]:
    scored = [(c, score(c, rules, ctx)) for c in candidates]
    scored.sort(key=lambda item: (item[1], item[0].evse_uid))
    return scored
