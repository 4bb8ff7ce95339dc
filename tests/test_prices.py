"""Money modelled once (ocpi_gateway/money.py), serialized per version: 2.2.1 excl_vat/incl_vat,
2.3.0 before_taxes/taxes[]; tariff component prices and tax_included."""

from __future__ import annotations

import json
from decimal import Decimal

from ocpi_gateway import money
from ocpi_gateway.ocpi.seam import to_json
from ocpi_gateway.ocpi.v2_2_1 import prices as p221
from ocpi_gateway.ocpi.v2_3_0 import prices as p230
from tests.openapi import validate_object

TAXED = money.Price(before_taxes=Decimal("10.00"), taxes=[
    money.Tax(name="GST", amount=Decimal("0.50"), percentage=Decimal(5)),
    money.Tax(name="QST", amount=Decimal("0.9975"), percentage=Decimal("9.975"))])


def as_json(model: object) -> object:
    return json.loads(to_json(model))  # type: ignore[arg-type]


def test_a_price_with_two_taxes_in_each_version() -> None:
    new = as_json(p230.price(TAXED))
    validate_object("2.3.0", "components", "Price", new)
    assert new == {"before_taxes": 10.0, "taxes": [
        {"name": "GST", "percentage": 5.0, "amount": 0.5},
        {"name": "QST", "percentage": 9.975, "amount": 0.9975}]}
    old = as_json(p221.price(TAXED))
    validate_object("2.2.1", "components", "Price", old)
    assert old == {"excl_vat": 10.0, "incl_vat": 11.4975}  # 2.2.1 knows one VAT total


def test_unknown_taxes_and_no_taxes() -> None:
    unknown = money.Price(before_taxes=Decimal(3))
    assert as_json(p221.price(unknown)) == {"excl_vat": 3.0}
    assert as_json(p230.price(unknown)) == {"before_taxes": 3.0}
    none = money.Price(before_taxes=Decimal(3), taxes=[])
    assert as_json(p221.price(none)) == {"excl_vat": 3.0, "incl_vat": 3.0}
    assert as_json(p230.price(none)) == {"before_taxes": 3.0, "taxes": []}
    assert as_json(p230.price_limit(none)) == {"before_taxes": 3.0, "after_taxes": 3.0}


def test_received_prices_map_to_the_same_internal_price() -> None:
    old = p221.to_internal(p221.Price(excl_vat=Decimal(10), incl_vat=Decimal("12.10")))
    assert old.after_taxes == Decimal("12.10") and old.before_taxes == Decimal(10)
    new = p230.to_internal(p230.Price(before_taxes=Decimal(10), taxes=[
        p230.TaxAmount(name="VAT", amount=Decimal("2.10"))]))
    assert new.after_taxes == old.after_taxes


def test_component_prices_with_tax_included() -> None:
    # The operator writes 0.605 per kWh including 21 % VAT: 2.2.1 publishes it without VAT,
    # 2.3.0 as written (its Tariff says tax_included YES).
    assert p221.component_price(Decimal("0.605"), money.TaxIncluded.YES, Decimal(21)) == \
        Decimal("0.5000")
    assert p230.component_price(Decimal("0.605"), money.TaxIncluded.YES, Decimal(21)) == \
        Decimal("0.605")
    assert p221.component_price(Decimal("0.50"), money.TaxIncluded.NO, Decimal(21)) == \
        Decimal("0.50")
