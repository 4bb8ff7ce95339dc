"""Money in the internal model, modelled once for every OCPI version: a price before taxes and
the taxes on it (2.3.0's ``before_taxes`` / ``taxes[]``; 2.2.1's ``excl_vat`` / ``incl_vat``
are derived from it), and whether a tariff's component prices include tax (2.3.0
``Tariff.tax_included``; 2.2.1 component prices are always excluding VAT). The version
packages (``ocpi/v*/prices.py``) serialize these; Tariffs, Sessions and CDRs use them."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TaxIncluded(StrEnum):
    YES = "YES"
    NO = "NO"
    NOT_APPLICABLE = "N/A"


class Tax(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=64)
    amount: Decimal
    percentage: Decimal | None = None
    account_number: str | None = Field(default=None, max_length=64)


class Price(BaseModel):
    """An amount of money: ``taxes`` None means the taxes are not known (2.2.1 without
    ``incl_vat``), [] that none apply."""

    model_config = ConfigDict(frozen=True)

    before_taxes: Decimal
    taxes: list[Tax] | None = None

    @property
    def after_taxes(self) -> Decimal | None:
        if self.taxes is None:
            return None
        return self.before_taxes + sum((t.amount for t in self.taxes), Decimal(0))


def excluding_tax(component_price: Decimal, tax_included: TaxIncluded,
                  vat_percentage: Decimal | None) -> Decimal:
    """A tariff component's price without tax (what 2.2.1 publishes), from the price as the
    operator wrote it (including tax when ``tax_included`` is YES)."""
    if tax_included is not TaxIncluded.YES or not vat_percentage:
        return component_price
    return (component_price * 100 / (100 + vat_percentage)).quantize(Decimal("0.0001"))
