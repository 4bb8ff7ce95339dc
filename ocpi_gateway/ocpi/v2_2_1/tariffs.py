"""OCPI 2.2.1 Tariff: component prices excluding VAT (an operator's prices that include tax
are converted), min/max as Price (``excl_vat``/``incl_vat``); 2.3.0-only fields
(``tax_included``, ``preauthorize_amount``) and the elements that price bookings are left out.
A tariff with nothing but booking elements is not published in 2.2.1 (None)."""

from __future__ import annotations

from ocpi_gateway.ocpi.shared.objects import OcpiObject
from ocpi_gateway.ocpi.shared.tariffs import (
    PriceComponent,
    TariffFields,
    TariffRestrictionsFields,
    elements,
    header,
    with_optional,
)
from ocpi_gateway.ocpi.v2_2_1.prices import Price, component_price
from ocpi_gateway.tariffs import models


class TariffRestrictions(TariffRestrictionsFields):
    """No ``booking``: the elements that have one are not published."""


class TariffElement(OcpiObject):
    price_components: list[PriceComponent]
    restrictions: TariffRestrictions | None = None


class Tariff(TariffFields):
    min_price: Price | None = None
    max_price: Price | None = None
    elements: list[TariffElement]


def _limit(value: models.PriceLimit | None) -> Price | None:
    if value is None:
        return None
    if value.after_taxes is None:
        return Price(excl_vat=value.before_taxes)
    return Price(excl_vat=value.before_taxes, incl_vat=value.after_taxes)


class Mapping221:
    def tariff(self, tariff: models.Tariff) -> Tariff | None:
        shown = elements(
            tariff, TariffElement, TariffRestrictions,
            price=lambda c: component_price(c.price, tariff.tax_included, c.vat),
            shown=lambda e: e.restrictions is None or e.restrictions.booking is None)
        if not shown:
            return None
        return Tariff.model_validate(with_optional(
            header(tariff), elements=shown, min_price=_limit(tariff.min_price),
            max_price=_limit(tariff.max_price)))


MAPPING = Mapping221()
