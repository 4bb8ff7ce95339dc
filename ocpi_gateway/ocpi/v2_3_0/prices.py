"""OCPI 2.3.0 Price (``before_taxes``, ``taxes[]``), PriceLimit and ``Tariff.tax_included``:
component prices are published as the operator wrote them, with ``tax_included`` saying how."""

from __future__ import annotations

from decimal import Decimal

from ocpi_gateway import money
from ocpi_gateway.ocpi.shared.objects import Number, OcpiObject


class TaxAmount(OcpiObject):
    name: str
    account_number: str | None = None
    percentage: Number | None = None
    amount: Number


class Price(OcpiObject):
    before_taxes: Number
    taxes: list[TaxAmount] | None = None


class PriceLimit(OcpiObject):
    before_taxes: Number
    after_taxes: Number | None = None


def price(value: money.Price) -> Price:
    if value.taxes is None:
        return Price(before_taxes=value.before_taxes)
    return Price(before_taxes=value.before_taxes, taxes=[_tax(t) for t in value.taxes])


def _tax(tax: money.Tax) -> TaxAmount:
    # Only the fields the tax has are set (an unset field is left out of the JSON).
    fields: dict[str, object] = {"name": tax.name, "amount": tax.amount}
    if tax.percentage is not None:
        fields["percentage"] = tax.percentage
    if tax.account_number is not None:
        fields["account_number"] = tax.account_number
    return TaxAmount.model_validate(fields)


def price_limit(value: money.Price) -> PriceLimit:
    after = value.after_taxes
    return PriceLimit(before_taxes=value.before_taxes, after_taxes=after) if after is not None \
        else PriceLimit(before_taxes=value.before_taxes)


def to_internal(value: Price) -> money.Price:
    if value.taxes is None:
        return money.Price(before_taxes=value.before_taxes)
    return money.Price(before_taxes=value.before_taxes,
                       taxes=[money.Tax.model_validate(t.model_dump()) for t in value.taxes])


def component_price(value: Decimal, tax_included: money.TaxIncluded,
                    vat: Decimal | None) -> Decimal:
    return value  # as written; Tariff.tax_included tells the receiver how to read it
