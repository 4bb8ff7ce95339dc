"""What a report is asked (the window, a site, an eMSP) and what it answers."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_DAYS = 366
ALL = "*"
"""The partner of the totals row."""


def partner_of(value: str) -> tuple[str, str]:
    """``DE-ABC``, ``DE*ABC`` or ``DE/ABC`` → ("DE", "ABC")."""
    cleaned = value.strip().upper().replace("*", "-").replace("/", "-")
    country, _, party = cleaned.partition("-")
    if len(country) != 2 or not 1 <= len(party) <= 3 or not (country + party).isalnum():
        raise ValueError(f"{value!r} is not an eMSP party like DE-ABC")
    return country, party


class ReportQuery(BaseModel):
    """The query of ``GET /admin/api/reports`` and of ``ocpi-gateway report``."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    start: datetime = Field(alias="from", description="the window's start (inclusive)")
    end: datetime = Field(alias="to", description="the window's end (exclusive)")
    site: str | None = Field(default=None, description="a location id")
    partner: str | None = Field(default=None, description="an eMSP party, e.g. DE-ABC")

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-01T00:00:00Z)")
        return value

    @field_validator("partner")
    @classmethod
    def _party(cls, value: str | None) -> str | None:
        if not value:
            return None
        country, party = partner_of(value)
        return f"{country}-{party}"

    @model_validator(mode="after")
    def _window(self) -> ReportQuery:
        if self.end <= self.start:
            raise ValueError("'to' must be after 'from'")
        if self.end - self.start > timedelta(days=MAX_DAYS):
            raise ValueError(f"a report spans at most {MAX_DAYS} days")
        return self


class NoShowRow(BaseModel):
    partner: str
    """The eMSP (``DE-ABC``), or ``*`` for all of them."""
    made: int
    used: int
    no_shows: int
    cancelled: int
    """By the eMSP."""
    ended_by_cpo: int
    """Removed by the charger's side or an operator, a booking cancelled by the CPO."""
    failed: int
    """Never held: no charger accepted it (a reservation), rejected or failed (a booking)."""
    live: int
    rate: float | None
    """no_shows / (used + no_shows); None when none of them ended either way."""


class UsageRow(BaseModel):
    location_id: str
    evse_uid: str | None
    """None: the site's EVSEs together (seconds summed, shares of their summed windows)."""
    window_seconds: float
    reserved_seconds: float
    used_seconds: float
    """Charging by the driver who had reserved or booked it."""
    walk_in_seconds: float
    reserved_share: float
    used_share: float
    walk_in_share: float


class ReasonCount(BaseModel):
    reason: str
    count: int


class AcceptanceRow(BaseModel):
    partner: str
    kind: str
    """``reservation`` (RESERVE_NOW) or ``booking`` (booking requests)."""
    asked: int
    accepted: int
    refused: int
    pending: int
    acceptance_rate: float | None
    refusals: list[ReasonCount]
    """Most frequent first."""


class RevenueRow(BaseModel):
    partner: str
    currency: str
    reservation_fees: Decimal
    no_show_fees: Decimal
    late_cancellation_fees: Decimal
    session_revenue: Decimal
    """Every session CDR's total (its reservation fee included)."""
    cdrs: int


class Report(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)  # "from" and "to", as asked

    start: datetime = Field(serialization_alias="from")
    end: datetime = Field(serialization_alias="to")
    site: str | None
    partner: str | None
    generated_at: datetime
    no_shows: list[NoShowRow]
    """Per eMSP, then the ``*`` row of all."""
    utilisation: list[UsageRow]
    """Per site: its EVSEs, then the site's row (``evse_uid`` null)."""
    acceptance: list[AcceptanceRow]
    revenue: list[RevenueRow]
