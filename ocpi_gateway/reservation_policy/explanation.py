"""What ``PolicyEngine.explain`` answers: every candidate with its score, rank and, when
excluded, why; rendered for the operator's ``policy explain``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ocpi_gateway.domain.ids import ChargerAddress
from ocpi_gateway.reservation_policy.availability.base import EvseAvailability
from ocpi_gateway.reservation_policy.policy import PolicySettings
from ocpi_gateway.reservation_policy.refusals import Refusal
from ocpi_gateway.reservation_policy.rules import Exclusion


@dataclass(frozen=True, slots=True)
class CandidateReport:
    evse_uid: str
    charge_point_id: str
    status: str
    rank: int | None
    score: tuple[float, ...] | None
    exclusion: Exclusion | None
    detail: str
    target: ChargerAddress | None = None


@dataclass(frozen=True, slots=True)
class Explanation:
    location_id: str
    settings: PolicySettings
    rows: tuple[CandidateReport, ...]
    refusal: Refusal | None = None
    free_evses: int = 0

    def render(self) -> str:
        s = self.settings
        rules = ", ".join(r.value for r in s.ordering) or "(none)"
        lines = [
            f"location {self.location_id}",
            f"  policy: enabled={s.enabled} duration={s.min_duration_minutes:g}.."
            f"{s.max_duration_minutes:g} min walk_in_reserve={s.walk_in_reserve} "
            f"max_concurrent_per_emsp={s.max_concurrent_per_emsp} "
            f"allow_whole_charger={s.allow_whole_charger}",
            f"  ordering: {rules}",
            f"  enforcement: grace_minutes={s.grace_minutes:g} "
            f"no_show_strikes={s.no_show_strikes.describe()} "
            f"max_no_show_rate={s.max_no_show_rate.describe()}",
            f"  free EVSEs now: {self.free_evses}",
        ]
        if self.refusal is not None:
            lines.append(f"  decision: REFUSED {self.refusal.reason.value}: {self.refusal.message}")
        for row in sorted(self.rows, key=lambda r: (r.rank is None, r.rank or 0, r.evse_uid)):
            score = ("(" + ", ".join(f"{r.value}={v:g}" for r, v in zip(s.ordering, row.score,
                                                                          strict=True)) + ")"
                     if row.score is not None else "")
            head = f"#{row.rank}" if row.rank is not None else "--"
            if row.exclusion is None:
                where = _describe(row.target) if row.target else ""
                lines.append(f"  {head:>4} {row.evse_uid} on {row.charge_point_id} "
                             f"[{row.status}] score {score} {where}".rstrip())
            else:
                lines.append(f"  {head:>4} {row.evse_uid} on {row.charge_point_id} "
                             f"[{row.status}] excluded: {row.exclusion.value} ({row.detail})"
                             + (f" score {score}" if score else ""))
        return "\n".join(lines)


def _describe(target: ChargerAddress) -> str:
    if target.evse_id is None and target.connector_id is None:
        return "-> whole charger"
    parts = []
    if target.evse_id is not None:
        parts.append(f"evse {target.evse_id}")
    if target.connector_id is not None:
        parts.append(f"connector {target.connector_id}")
    return "-> " + " ".join(parts)


def status_of(availability: Mapping[str, EvseAvailability], uid: str) -> str:
    a = availability.get(uid)
    if a is None:
        return "UNKNOWN"
    return a.status.value + (" held" if a.holder else "")
