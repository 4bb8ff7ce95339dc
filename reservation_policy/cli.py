"""What ``ocpi-gateway policy check|explain`` runs; the CLI module only parses arguments."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from domain.events import utc_now
from reservation_policy.availability.base import AvailabilityStore
from reservation_policy.engine import PolicyEngine
from reservation_policy.models import EvseCandidate, Partner, ReservationRequest
from reservation_policy.policy import PolicyError, PolicySource, load_policy

EXPLAIN_PARTNER = Partner("ZZ", "ZZZ")
"""Stands for 'any partner' when explain is asked without one: only defaults apply."""


def check(path: Path | str, out: TextIO | None = None) -> int:
    """Validate a policy file: 0 and a summary when valid, 1 and one line per problem."""
    out = out or sys.stdout
    try:
        policy = load_policy(path)
    except PolicyError as exc:
        print(str(exc), file=out)
        return 1
    print(f"{path}: valid ({len(policy.locations)} location overrides, "
          f"{len(policy.partners)} partner overrides)", file=out)
    return 0


async def explain(
    policy: PolicySource,
    availability: AvailabilityStore,
    location_id: str,
    candidates: Sequence[EvseCandidate],
    *,
    partner: Partner | None = None,
    evse_uid: str | None = None,
    minutes: float | None = None,
    connector_standard: str | None = None,
    min_power_w: int | None = None,
    active_for_partner: int = 0,
    now: datetime | None = None,
) -> str:
    """Every candidate of the location, its score, and why each excluded one was excluded,
    for a hypothetical request (by default: location-level, for the minimum duration)."""
    now = now or utc_now()
    settings = policy.effective(location_id, partner)
    duration = minutes if minutes is not None else max(settings.min_duration_minutes, 1.0)
    request = ReservationRequest(
        location_id=location_id, evse_uid=evse_uid, partner=partner or EXPLAIN_PARTNER,
        token_uid="EXPLAIN", expiry=now + timedelta(minutes=duration),
        connector_standard=connector_standard, min_power_w=min_power_w)
    engine = PolicyEngine(policy, availability, clock=lambda: now)
    explanation = await engine.explain(request, candidates,
                                       active_for_partner=active_for_partner)
    return explanation.render()
