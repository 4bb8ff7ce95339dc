"""A booking request against the operator's booking terms (``policy.yaml`` ``bookings:``).

Each check names the term a request breaks, by its key in the policy file, so that the eMSP's
REJECTED message and the operator's ``policy explain`` say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ocpi_gateway.reservation_policy.policy import BookingTerms


@dataclass(frozen=True, slots=True)
class TermViolation:
    term: str
    """The policy key (``max_advance_days``...), or ``period`` for a period that is no slot
    at all (ends before it starts, or starts in the past)."""
    message: str


def _minutes(delta: timedelta) -> float:
    return delta.total_seconds() / 60.0


def _on_grid(minutes: float, increment: float) -> bool:
    steps = minutes / increment
    return abs(steps - round(steps)) * increment * 60_000 < 1  # within a millisecond


def check_booking(terms: BookingTerms, start: datetime, end: datetime, now: datetime, *,
                  site_zone: tzinfo = UTC) -> TermViolation | None:
    """Why a booking of [start, end) made at ``now`` breaks the terms, or None. The timeslot
    grid counts from midnight in the site's time zone."""
    if not terms.enabled:
        return TermViolation("enabled", "bookings are not offered here")
    if end <= start:
        return TermViolation("period", "the period ends before it starts")
    if start < now:
        return TermViolation("period", "the period starts in the past")
    advance = _minutes(start - now) / (24 * 60)
    if advance > terms.max_advance_days:
        return TermViolation("max_advance_days",
                             f"starts {advance:.2f} days ahead, at most "
                             f"{terms.max_advance_days:g} days")
    duration = _minutes(end - start)
    if duration < terms.min_duration_minutes:
        return TermViolation("min_duration_minutes",
                             f"{duration:g} min < minimum {terms.min_duration_minutes:g} min")
    if duration > terms.max_duration_minutes:
        return TermViolation("max_duration_minutes",
                             f"{duration:g} min > maximum {terms.max_duration_minutes:g} min")
    local = start.astimezone(site_zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    increment = terms.timeslot_increment_minutes
    if not _on_grid(_minutes(local - midnight), increment) or not _on_grid(duration,
                                                                            increment):
        return TermViolation("timeslot_increment_minutes",
                             f"start and length must be multiples of {increment:g} min")
    return None


def check_change(terms: BookingTerms, start: datetime, now: datetime) -> TermViolation | None:
    """A change request for a booking starting at ``start``."""
    left = _minutes(start - now)
    if left < terms.change_until_minutes:
        return TermViolation("change_until_minutes",
                             f"{max(left, 0):g} min before the start, changes until "
                             f"{terms.change_until_minutes:g} min before")
    return None


def check_cancel(terms: BookingTerms, start: datetime, now: datetime) -> TermViolation | None:
    """A cancellation by the eMSP of a booking starting at ``start``."""
    left = _minutes(start - now)
    if left < terms.cancel_until_minutes:
        return TermViolation("cancel_until_minutes",
                             f"{max(left, 0):g} min before the start, cancellation until "
                             f"{terms.cancel_until_minutes:g} min before")
    return None


def promise_interval(terms: BookingTerms, start: datetime, end: datetime
                     ) -> tuple[datetime, datetime]:
    """What a booking of [start, end) takes on the capacity timeline: from the activation
    lead (an EVSE is held from then on) to the end of the turnover buffer."""
    lead = timedelta(minutes=terms.activation_lead_minutes)
    buffer = timedelta(minutes=terms.turnover_buffer_minutes)
    return start - lead, end + buffer
