"""OCPI 2.2.1 Tariff: component prices excluding VAT (an operator's prices that include tax
are converted), min/max as Price (``excl_vat``/``incl_vat``); 2.3.0-only fields
(``tax_included``, ``preauthorize_amount``) and the elements that price bookings are left out.
A tariff with nothing but booking elements is not published in 2.2.1 (None)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ocpi_gateway.locations.models import DisplayText, EnergyMix
from ocpi_gateway.ocpi.tariff_header import header
from ocpi_gateway.ocpi.v2_2_1.prices import Number, Price, component_price
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
    min_price: Price | None = None
    max_price: Price | None = None
    elements: list[TariffElement]
    start_date_time: str | None = None
    end_date_time: str | None = None
    energy_mix: EnergyMix | None = None
    last_updated: str


def _restrictions(r: models.TariffRestrictions) -> TariffRestrictions:
    fields = r.model_dump(exclude_none=True,
                          exclude={"start_date", "end_date", "day_of_week", "booking"})
    if r.start_date is not None:
        fields["start_date"] = r.start_date.isoformat()
    if r.end_date is not None:
        fields["end_date"] = r.end_date.isoformat()
    if r.day_of_week:
        fields["day_of_week"] = r.day_of_week
    return TariffRestrictions(**fields)


def _component(c: models.PriceComponent, tariff: models.Tariff) -> PriceComponent:
    fields = c.model_dump(exclude_none=True)
    fields["price"] = component_price(c.price, tariff.tax_included, c.vat)
    return PriceComponent(**fields)


def _limit(value: models.PriceLimit | None) -> Price | None:
    if value is None:
        return None
    if value.after_taxes is None:
        return Price(excl_vat=value.before_taxes)
    return Price(excl_vat=value.before_taxes, incl_vat=value.after_taxes)


class Mapping221:
    def tariff(self, tariff: models.Tariff) -> Tariff | None:
        elements = [TariffElement(
            price_components=[_component(c, tariff) for c in e.price_components],
            **({"restrictions": _restrictions(e.restrictions)} if e.restrictions else {}))
            for e in tariff.elements
            if e.restrictions is None or e.restrictions.booking is None]
        if not elements:
            return None
        fields = header(tariff)
        fields["elements"] = elements
        for name, value in (("min_price", _limit(tariff.min_price)),
                            ("max_price", _limit(tariff.max_price))):
            if value is not None:
                fields[name] = value
        return Tariff.model_validate(fields)


MAPPING = Mapping221()
