"""The internal Tariffs model: what the CPO publishes, in every supported OCPI version.

The operator's ``tariffs.yaml`` is validated against these models, which hold the union of what
the versions can say: 2.3.0's ``tax_included``, ``preauthorize_amount`` and the booking
restrictions (``BOOKING``, ``BOOKING_EXPIRES``, ``BOOKING_CANCELLATION_FEES``,
``BOOKING_OVERTIME``) beside 2.2.1's reservation ones. Prices are written as the operator
means them (including tax when ``tax_included`` is YES); ``money.py`` and the version packages
turn them into each version's form. ``tariffs/pricing.py`` prices sessions with them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ocpi_gateway.locations.models import CiString2, CiString3, DisplayText, EnergyMix, Url
from ocpi_gateway.money import TaxIncluded

HourMinute = Annotated[str, StringConstraints(pattern=r"^([0-1][0-9]|2[0-3]):[0-5][0-9]$")]
TariffId = Annotated[str, StringConstraints(min_length=1, max_length=36,
                                            pattern=r"^[\x20-\x7e]*$")]
NonNegative = Annotated[Decimal, Field(ge=0)]


class TariffDimensionType(StrEnum):
    ENERGY = "ENERGY"
    FLAT = "FLAT"
    PARKING_TIME = "PARKING_TIME"
    TIME = "TIME"


class TariffType(StrEnum):
    AD_HOC_PAYMENT = "AD_HOC_PAYMENT"
    PROFILE_CHEAP = "PROFILE_CHEAP"
    PROFILE_FAST = "PROFILE_FAST"
    PROFILE_GREEN = "PROFILE_GREEN"
    REGULAR = "REGULAR"


class DayOfWeek(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


WEEKDAYS: tuple[DayOfWeek, ...] = tuple(DayOfWeek)
"""In ``date.weekday()`` order (Monday is 0)."""


class ReservationRestrictionType(StrEnum):
    """2.2.1 and 2.3.0: the element prices a reservation (ReserveNow)."""

    RESERVATION = "RESERVATION"
    RESERVATION_EXPIRES = "RESERVATION_EXPIRES"


class BookingRestrictionType(StrEnum):
    """2.3.0 (Bookings module): the element prices a booking."""

    BOOKING = "BOOKING"
    BOOKING_EXPIRES = "BOOKING_EXPIRES"
    BOOKING_CANCELLATION_FEES = "BOOKING_CANCELLATION_FEES"
    BOOKING_OVERTIME = "BOOKING_OVERTIME"


class _Model(BaseModel):
    # Unknown keys are an error: a typo in the operator's YAML must not be silently dropped.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceComponent(_Model):
    type: TariffDimensionType
    price: NonNegative
    """Per unit (kWh, hour, or once for FLAT), including tax when the tariff says so."""
    vat: NonNegative | None = None
    """Percentage; None: not known to the CPO (2.3.0 NO: added on top later) or, with
    tax_included N/A, none."""
    step_size: int = Field(ge=0)
    """Wh for ENERGY, seconds for TIME and PARKING_TIME, unused for FLAT."""


class TariffRestrictions(_Model):
    start_time: HourMinute | None = None
    end_time: HourMinute | None = None
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: NonNegative | None = None
    max_kwh: NonNegative | None = None
    min_current: NonNegative | None = None
    max_current: NonNegative | None = None
    min_power: NonNegative | None = None
    max_power: NonNegative | None = None
    min_duration: int | None = Field(default=None, ge=0)
    max_duration: int | None = Field(default=None, ge=0)
    day_of_week: list[DayOfWeek] = []
    reservation: ReservationRestrictionType | None = None
    booking: BookingRestrictionType | None = None
    """2.3.0 only."""

    @model_validator(mode="after")
    def _consistent(self) -> TariffRestrictions:
        if self.reservation is not None and self.booking is not None:
            raise ValueError("an element prices either a reservation or a booking, not both")
        return self


class TariffElement(_Model):
    price_components: list[PriceComponent] = Field(min_length=1)
    restrictions: TariffRestrictions | None = None

    @model_validator(mode="after")
    def _reservation_dimensions(self) -> TariffElement:
        r = self.restrictions
        if r is not None and (r.reservation or r.booking):
            wrong = [c.type.value for c in self.price_components
                     if c.type not in (TariffDimensionType.FLAT, TariffDimensionType.TIME)]
            if wrong:
                raise ValueError("a reservation or booking element can only have FLAT and TIME "
                                 f"price components, not {', '.join(wrong)}")
        return self

    @property
    def reservation_kind(self) -> ReservationRestrictionType | BookingRestrictionType | None:
        r = self.restrictions
        return None if r is None else (r.reservation or r.booking)


class PriceLimit(_Model):
    """``min_price`` / ``max_price``: 2.3.0 PriceLimit; 2.2.1 Price (``excl_vat``/``incl_vat``,
    accepted as the operator may write them)."""

    before_taxes: NonNegative
    after_taxes: NonNegative | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_221(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and ("excl_vat" in raw or "incl_vat" in raw):
            rest = {k: v for k, v in raw.items() if k not in ("excl_vat", "incl_vat")}
            rest["before_taxes"] = raw.get("excl_vat")
            if "incl_vat" in raw:
                rest["after_taxes"] = raw["incl_vat"]
            return rest
        return raw


class Tariff(_Model):
    """One tariff as the operator describes it; ``country_code``, ``party_id`` and
    ``last_updated`` may be left to the gateway (the CPO's party, the file's reload time)."""

    country_code: CiString2 | None = None
    party_id: CiString3 | None = None
    id: TariffId
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] = []
    tariff_alt_url: Url | None = None
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    preauthorize_amount: NonNegative | None = None
    """2.3.0 only."""
    tax_included: TaxIncluded = TaxIncluded.NO
    """2.3.0 ``tax_included``; 2.2.1 publishes component prices excluding VAT."""
    elements: list[TariffElement] = Field(min_length=1)
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: datetime | None = None
    partners: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}[*-]?[A-Za-z0-9]{3}$")]] \
        = []
    """Gateway only: the parties (``NL*TNM``) this tariff is published to; empty: everyone."""

    @model_validator(mode="after")
    def _limits(self) -> Tariff:
        if (self.min_price and self.max_price
                and self.min_price.before_taxes > self.max_price.before_taxes):
            raise ValueError("min_price is higher than max_price")
        if (self.start_date_time and self.end_date_time
                and self.end_date_time <= self.start_date_time):
            raise ValueError("end_date_time must be later than start_date_time")
        return self


GATEWAY_ONLY_TARIFF_FIELDS = frozenset({"partners"})
