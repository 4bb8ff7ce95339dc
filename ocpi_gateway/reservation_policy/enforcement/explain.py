"""What ``policy explain --partner P --token T`` says of where a token and its eMSP stand."""

from __future__ import annotations

from datetime import datetime

from ocpi_gateway.reservation_policy.enforcement.rule import stamp
from ocpi_gateway.reservation_policy.enforcement.service import Standing
from ocpi_gateway.reservation_policy.models import Partner
from ocpi_gateway.reservation_policy.policy import PolicySettings


def describe_standing(standing: Standing, partner: Partner, token_uid: str,
                      settings: PolicySettings, now: datetime) -> str:
    lines = [f"  token {partner.key} {token_uid}: {len(standing.no_shows)} no-shows recorded, "
             f"{len(standing.strikes)} counting towards a ban "
             f"(no_show_strikes: {settings.no_show_strikes.describe()})"]
    ban = standing.ban
    if ban is not None:
        state = "in force" if ban.active(now) else "lifted" if ban.lifted_at else "ended"
        lines.append(f"  ban: until {stamp(ban.until)} ({state}), {ban.source.value} by "
                     f"{ban.by}: {ban.reason}")
    counts, rate = standing.counts, settings.max_no_show_rate
    lines.append(f"  eMSP {partner.key}: {counts.no_shows} of {counts.ended} ended in the last "
                 f"{rate.within_days:g} days were no-shows ({counts.share:.0%}; "
                 f"max_no_show_rate: {rate.describe()})")
    refusal = standing.refusal
    lines.append(f"  enforcement decision: REFUSED {refusal.reason.value}: {refusal.message}"
                 if refusal is not None else "  enforcement decision: not refused")
    return "\n".join(lines)
