"""OCPI 2.3.0 Tariff: the internal model holds all of it (``tax_included``,
``preauthorize_amount``, PriceLimit, booking restrictions); component prices are published as
the operator wrote them, ``tax_included`` saying how to read them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.locations.models import DisplayText, EnergyMix
from ocpi_gateway.money import TaxIncluded
from ocpi_gateway.ocpi.tariff_header import header
from ocpi_gateway.ocpi.v2_3_0.prices import Number, PriceLimit
from ocpi_gateway.tariffs import models


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PriceComponent(_Object):
    type: models.TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: int


class TariffRestrictions(_Object):
    start_time: str | None = None
    end_time: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: list[models.DayOfWeek] | None = None
    reservation: models.ReservationRestrictionType | None = None
    booking: models.BookingRestrictionType | None = None


class TariffElement(_Object):
    price_components: list[PriceComponent]
    restrictions: TariffRestrictions | None = None


class Tariff(_Object):
    country_code: str
    party_id: str
    id: str
    currency: str
    type: models.TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    preauthorize_amount: Number | None = None
    tax_included: TaxIncluded
    elements: list[TariffElement]
    start_date_time: str | None = None
    end_date_time: str | None = None
    energy_mix: EnergyMix | None = None
    last_updated: str


def restrictions(r: models.TariffRestrictions) -> TariffRestrictions:
    fields = r.model_dump(exclude_none=True, exclude={"start_date", "end_date", "day_of_week"})
    if r.start_date is not None:
        fields["start_date"] = r.start_date.isoformat()
    if r.end_date is not None:
        fields["end_date"] = r.end_date.isoformat()
    if r.day_of_week:
        fields["day_of_week"] = r.day_of_week
    return TariffRestrictions(**fields)


def limit(value: models.PriceLimit | None) -> PriceLimit | None:
    if value is None:
        return None
    if value.after_taxes is None:
        return PriceLimit(before_taxes=value.before_taxes)
    return PriceLimit(before_taxes=value.before_taxes, after_taxes=value.after_taxes)


class Mapping230:
    def tariff(self, tariff: models.Tariff) -> Tariff:
        fields = header(tariff)
        fields["tax_included"] = tariff.tax_included
        fields["elements"] = [TariffElement(
            price_components=[PriceComponent(**c.model_dump(exclude_none=True))
                              for c in e.price_components],
            **({"restrictions": restrictions(e.restrictions)} if e.restrictions else {}))
            for e in tariff.elements]
        for name, value in (("min_price", limit(tariff.min_price)),
                            ("max_price", limit(tariff.max_price)),
                            ("preauthorize_amount", tariff.preauthorize_amount)):
            if value is not None:
                fields[name] = value
        return Tariff.model_validate(fields)


MAPPING = Mapping230()
