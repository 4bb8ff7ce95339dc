"""OCPI 2.2.1 Price (``excl_vat``, ``incl_vat``) and tariff component prices (excluding VAT)."""

from __future__ import annotations

from decimal import Decimal

from ocpi_gateway import money
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject


class Price(OcpiObject):
    excl_vat: Number
    incl_vat: Number | None = None


def price(value: money.Price) -> Price:
    after = value.after_taxes
    return Price(excl_vat=value.before_taxes, incl_vat=after) if after is not None \
        else Price(excl_vat=value.before_taxes)


def to_internal(value: Price) -> money.Price:
    if value.incl_vat is None:
        return money.Price(before_taxes=value.excl_vat)
    return money.Price(before_taxes=value.excl_vat,
                       taxes=[money.Tax(name="VAT", amount=value.incl_vat - value.excl_vat)])


def component_price(value: Decimal, tax_included: money.TaxIncluded,
                    vat: Decimal | None) -> Decimal:
    """2.2.1 has no ``tax_included``: its component prices are always excluding VAT."""
    return money.excluding_tax(value, tax_included, vat)
