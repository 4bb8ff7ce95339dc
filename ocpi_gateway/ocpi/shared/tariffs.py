"""What Tariffs share across versions: the fields of a Tariff, its elements and restrictions
as every version has them, and the steps of building one from the internal Tariff. A version
adds its prices and limits, ``tax_included``, and which elements it can show."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from ocpi_gateway.locations.models import DisplayText, EnergyMix
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.tariffs import models
from ocpi_gateway.transport.envelope import ocpi_timestamp


class PriceComponent(OcpiObject):
    type: models.TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: int


class TariffRestrictionsFields(OcpiObject):
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


class TariffFields(OcpiObject):
    """A Tariff's fields but its prices, limits and elements (each version's)."""

    country_code: str
    party_id: str
    id: str
    currency: str
    type: models.TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    start_date_time: str | None = None
    end_date_time: str | None = None
    energy_mix: EnergyMix | None = None
    last_updated: str


def header(tariff: models.Tariff) -> dict[str, Any]:
    """The fields every version shares, as that version's Tariff takes them."""
    assert tariff.country_code and tariff.party_id and tariff.last_updated  # the catalog's
    fields: dict[str, Any] = {
        "country_code": tariff.country_code, "party_id": tariff.party_id, "id": tariff.id,
        "currency": tariff.currency, "last_updated": ocpi_timestamp(tariff.last_updated)}
    if tariff.type is not None:
        fields["type"] = tariff.type
    if tariff.tariff_alt_text:
        fields["tariff_alt_text"] = tariff.tariff_alt_text
    if tariff.tariff_alt_url is not None:
        fields["tariff_alt_url"] = tariff.tariff_alt_url
    if tariff.start_date_time is not None:
        fields["start_date_time"] = ocpi_timestamp(tariff.start_date_time)
    if tariff.end_date_time is not None:
        fields["end_date_time"] = ocpi_timestamp(tariff.end_date_time)
    if tariff.energy_mix is not None:
        fields["energy_mix"] = tariff.energy_mix
    return fields


def restriction_fields(r: models.TariffRestrictions) -> dict[str, Any]:
    """A restriction's fields as a version's TariffRestrictions takes them (dates as ISO
    strings; the version's object ignores what it cannot hold)."""
    fields = r.model_dump(exclude_none=True, exclude={"start_date", "end_date", "day_of_week"})
    if r.start_date is not None:
        fields["start_date"] = r.start_date.isoformat()
    if r.end_date is not None:
        fields["end_date"] = r.end_date.isoformat()
    if r.day_of_week:
        fields["day_of_week"] = r.day_of_week
    return fields


E = TypeVar("E", bound=OcpiObject)


def elements(
    tariff: models.Tariff,
    element_type: type[E],
    restrictions_type: type[OcpiObject],
    price: Callable[[models.PriceComponent], Decimal],
    shown: Callable[[models.TariffElement], bool] = lambda _: True,
) -> list[E]:
    """The version's TariffElements of the elements it can show (``shown``), each component
    priced by ``price`` (how the version states a price)."""
    return [element_type(
        price_components=[PriceComponent(**{**c.model_dump(exclude_none=True),
                                            "price": price(c)}) for c in e.price_components],
        **({"restrictions": restrictions_type(**restriction_fields(e.restrictions))}
           if e.restrictions else {}))
        for e in tariff.elements if shown(e)]


def with_optional(fields: dict[str, Any], **optional: object) -> dict[str, Any]:
    """``fields`` with each optional value that is set (a None is left out, not sent)."""
    return {**fields, **{k: v for k, v in optional.items() if v is not None}}
