"""The enforcement rule on its own: which no-shows count as strikes, when they make a ban,
and the refusals (with what the eMSP is told: until when, and why)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from ocpi_gateway.reservation_policy.enforcement.bans import Ban, BanSource
from ocpi_gateway.reservation_policy.enforcement.records import EndedCounts, NoShow
from ocpi_gateway.reservation_policy.enforcement.terms import NoShowRate, NoShowStrikes
from ocpi_gateway.reservation_policy.engine import Refusal, RefusalReason
from ocpi_gateway.reservation_policy.models import Partner


def stamp(moment: datetime) -> str:
    """A moment as the eMSP reads it in a message: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strikes(no_shows: Iterable[NoShow], terms: NoShowStrikes, now: datetime,
            strikes_from: datetime | None) -> list[NoShow]:
    """The no-shows that count against the token now: within the window, and recorded after
    the last ban consumed (or a lift forgave) the earlier ones."""
    window_start = now - timedelta(days=terms.within_days)
    return [n for n in no_shows
            if n.recorded_at > window_start
            and (strikes_from is None or n.recorded_at > strikes_from)]


def strikes_reached(counted: list[NoShow], terms: NoShowStrikes) -> bool:
    return terms.enabled and len(counted) >= terms.count


def strikes_reason(counted: list[NoShow], terms: NoShowStrikes) -> str:
    return f"{len(counted)} no-shows within {terms.within_days:g} days"


def ban_refusal(ban: Ban | None, now: datetime) -> Refusal | None:
    """Why a banned token is refused now, or None when it is not banned."""
    if ban is None or not ban.active(now):
        return None
    why = ban.reason if ban.source is BanSource.NO_SHOWS else \
        f"banned by the operator: {ban.reason}"
    return Refusal(RefusalReason.TOKEN_BANNED,
                   f"token {ban.token_uid} may not reserve or book until "
                   f"{stamp(ban.until)}: {why}")


def rate_refusal(partner: Partner, counts: EndedCounts, terms: NoShowRate) -> Refusal | None:
    """Why the eMSP is refused for its no-show rate, or None."""
    if terms.rate is None or counts.ended < terms.min_reservations \
            or counts.share <= terms.rate:
        return None
    return Refusal(RefusalReason.NO_SHOW_RATE,
                   f"eMSP {partner.key}: {counts.no_shows} of the {counts.ended} reservations "
                   f"and bookings ended in the last {terms.within_days:g} days were "
                   f"no-shows ({counts.share:.0%}), more than the {terms.rate:.0%} allowed")
