"""OCPI 2.3.0 Tariff: the internal model holds all of it (``tax_included``,
``preauthorize_amount``, PriceLimit, booking restrictions); component prices are published as
the operator wrote them, ``tax_included`` saying how to read them."""

from __future__ import annotations

from ocpi_gateway.money import TaxIncluded
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject
from ocpi_gateway.ocpi.shared.tariffs import (
    PriceComponent,
    TariffFields,
    TariffRestrictionsFields,
    elements,
    header,
    with_optional,
)
from ocpi_gateway.ocpi.v2_3_0.prices import PriceLimit
from ocpi_gateway.tariffs import models


class TariffRestrictions(TariffRestrictionsFields):
    booking: models.BookingRestrictionType | None = None


class TariffElement(OcpiObject):
    price_components: list[PriceComponent]
    restrictions: TariffRestrictions | None = None


class Tariff(TariffFields):
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    preauthorize_amount: Number | None = None
    tax_included: TaxIncluded
    elements: list[TariffElement]


def _limit(value: models.PriceLimit | None) -> PriceLimit | None:
    if value is None:
        return None
    if value.after_taxes is None:
        return PriceLimit(before_taxes=value.before_taxes)
    return PriceLimit(before_taxes=value.before_taxes, after_taxes=value.after_taxes)


class Mapping230:
    def tariff(self, tariff: models.Tariff) -> Tariff:
        return Tariff.model_validate(with_optional(
            header(tariff), tax_included=tariff.tax_included,
            elements=elements(tariff, TariffElement, TariffRestrictions,
                              price=lambda c: c.price),
            min_price=_limit(tariff.min_price), max_price=_limit(tariff.max_price),
            preauthorize_amount=tariff.preauthorize_amount))


MAPPING = Mapping230()
