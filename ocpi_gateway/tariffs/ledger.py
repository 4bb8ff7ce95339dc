"""Money of a priced session: exact amounts per category and VAT rate, taxes, rounding to the
published precision (half up), step_size rounding of volumes, and min_price / max_price."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from ocpi_gateway.money import Price, Tax, TaxIncluded
from ocpi_gateway.tariffs.models import PriceComponent, PriceLimit, Tariff

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)


@dataclass(slots=True)
class Ledger:
    """Exact amounts before taxes per category and VAT rate (None: rate not known)."""

    tax_included: TaxIncluded
    amounts: dict[str, dict[Decimal | None, Decimal]] = field(default_factory=dict)

    def add(self, category: str, component: PriceComponent, volume: Decimal,
            per_unit: Decimal = Decimal(1)) -> Decimal:
        """Bill ``volume / per_unit`` units (multiplied first: µs / 3.6e9 is no finite
        decimal, 600 s at 2.40 per hour must still cost 0.40 exactly)."""
        amount = volume * component.price / per_unit
        if self.tax_included is TaxIncluded.YES and component.vat is not None:
            amount = amount * _HUNDRED / (_HUNDRED + component.vat)
        rates = self.amounts.setdefault(category, {})
        rates[component.vat] = rates.get(component.vat, _ZERO) + amount
        return amount

    def price(self, categories: Sequence[str], decimals: int | None) -> Price | None:
        rates: dict[Decimal | None, Decimal] = {}
        amounts = self.amounts
        for category in categories:
            of_category = amounts.get(category)
            if of_category:
                for rate, amount in of_category.items():
                    rates[rate] = rates.get(rate, _ZERO) + amount
        if not rates:
            return None
        before = sum(rates.values(), _ZERO)
        taxes: list[Tax] | None = []
        ordered = rates.items() if len(rates) == 1 else \
            sorted(rates.items(), key=lambda kv: (kv[0] is None, kv[0]))
        for rate, amount in ordered:
            if rate is None:
                if amount and self.tax_included is not TaxIncluded.NOT_APPLICABLE:
                    taxes = None  # the CPO does not know the tax on this part
                    break
                continue
            assert taxes is not None
            taxes.append(Tax(name="VAT", percentage=rate,
                             amount=round_money(amount * rate / _HUNDRED, decimals)))
        return Price(before_taxes=round_money(before, decimals), taxes=taxes)


_QUANTA = {n: Decimal(1).scaleb(-n) for n in range(7)}


def round_money(value: Decimal, decimals: int | None) -> Decimal:
    if decimals is None:
        return value
    quantum = _QUANTA.get(decimals)
    if quantum is None:
        quantum = Decimal(1).scaleb(-decimals)
    return value.quantize(quantum, rounding=ROUND_HALF_UP)


def ceil_to(volume: Decimal | int, step: int) -> Decimal:
    if step <= 0:
        return Decimal(volume)
    return (Decimal(volume) / step).to_integral_value(rounding=ROUND_CEILING) * step


def limit_total(total: Price, tariff: Tariff, decimals: int | None) -> tuple[Price, str | None]:
    checks: tuple[tuple[str, PriceLimit | None, Callable[[Decimal, Decimal], bool]], ...] = (
        ("min_price", tariff.min_price, lambda amount, bound: amount < bound),
        ("max_price", tariff.max_price, lambda amount, bound: amount > bound))
    for name, limit, beyond in checks:
        if limit is None:
            continue
        limited = _apply_limit(total, limit, beyond, decimals)
        if limited != total:
            return limited, name
    return total, None


def _apply_limit(total: Price, limit: PriceLimit, beyond: Callable[[Decimal, Decimal], bool],
                 decimals: int | None) -> Price:
    before, taxes = total.before_taxes, total.taxes
    if beyond(before, limit.before_taxes):
        if taxes is not None and before:
            factor = limit.before_taxes / before
            taxes = [t.model_copy(update={"amount": round_money(t.amount * factor, decimals)})
                     for t in taxes]
        elif taxes is not None:
            taxes = None if limit.after_taxes is None else [
                Tax(name="VAT", amount=limit.after_taxes - limit.before_taxes)]
        before = limit.before_taxes
    limited = Price(before_taxes=before, taxes=taxes)
    after = limited.after_taxes
    if after is not None and limit.after_taxes is not None and beyond(after, limit.after_taxes):
        limited = Price(before_taxes=before,
                        taxes=[Tax(name="VAT", amount=limit.after_taxes - before)])
    return limited
