"""The enforcement keys of ``policy.yaml``, under ``defaults`` and overridable like the rest:
``grace_minutes`` (a plain key of the settings), ``no_show_strikes`` and ``max_no_show_rate``
(sections merged key by key, as ``bookings``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MAX_GRACE_MINUTES = 24 * 60.0


class NoShowStrikes(BaseModel):
    """A token with ``count`` no-shows within ``within_days`` is refused new reservations and
    bookings for ``ban_days``. ``count`` 0: no bans (the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: int = Field(default=0, ge=0)
    within_days: float = Field(default=30.0, gt=0, le=3660)
    ban_days: float = Field(default=7.0, gt=0, le=3660)

    @property
    def enabled(self) -> bool:
        return self.count > 0

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        return (f"{self.count} within {self.within_days:g} days -> ban of "
                f"{self.ban_days:g} days")


class NoShowStrikesOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(default=None, ge=0)
    within_days: float | None = Field(default=None, gt=0, le=3660)
    ban_days: float | None = Field(default=None, gt=0, le=3660)


class NoShowRate(BaseModel):
    """An eMSP whose reservations and bookings ended as no-shows more often than ``rate``
    (a share, 0..1) over the last ``within_days`` is refused new ones, once at least
    ``min_reservations`` ended there (a first no-show is not a rate). ``rate`` None or 1:
    no limit (the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(default=None, ge=0, le=1)
    within_days: float = Field(default=30.0, gt=0, le=366)
    min_reservations: int = Field(default=10, ge=1)

    @property
    def enabled(self) -> bool:
        return self.rate is not None and self.rate < 1

    def describe(self) -> str:
        if not self.enabled:
            return "off"
        assert self.rate is not None
        return (f"{self.rate:.0%} over {self.within_days:g} days "
                f"(from {self.min_reservations} ended)")


class NoShowRateOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float | None = Field(default=None, ge=0, le=1)
    within_days: float | None = Field(default=None, gt=0, le=366)
    min_reservations: int | None = Field(default=None, ge=1)
