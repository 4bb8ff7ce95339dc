"""Reservation and no-show revenue per eMSP and currency, from the CDRs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from ocpi_gateway.admin.service.reports.models import ALL, RevenueRow
from ocpi_gateway.cdrs.models import Cdr, CdrKind
from ocpi_gateway.sessions.models import HoldEnd


@dataclass(slots=True)
class _Money:
    reservation_fees: Decimal = Decimal(0)
    no_show_fees: Decimal = Decimal(0)
    late_cancellation_fees: Decimal = Decimal(0)
    session_revenue: Decimal = Decimal(0)
    cdrs: int = 0


def revenue_rows(cdrs: Iterable[Cdr]) -> list[RevenueRow]:
    per: dict[tuple[str, str], _Money] = defaultdict(_Money)
    for cdr in cdrs:
        sign = -1 if cdr.credit else 1  # a credit's total_cost is negated, its parts are not
        partner = cdr.emsp_key.replace("/", "-")
        for money in (per[(partner, cdr.currency)], per[(ALL, cdr.currency)]):
            money.cdrs += 1
            if cdr.kind is CdrKind.SESSION:
                money.session_revenue += cdr.total_cost.before_taxes
                if cdr.total_reservation_cost is not None:
                    money.reservation_fees += sign * cdr.total_reservation_cost.before_taxes
            elif cdr.hold_end is HoldEnd.CANCELLED:
                money.late_cancellation_fees += cdr.total_cost.before_taxes
            else:
                money.no_show_fees += cdr.total_cost.before_taxes
    return [RevenueRow(partner=partner, currency=currency, reservation_fees=m.reservation_fees,
                       no_show_fees=m.no_show_fees,
                       late_cancellation_fees=m.late_cancellation_fees,
                       session_revenue=m.session_revenue, cdrs=m.cdrs)
            for (partner, currency), m in sorted(per.items(),
                                                 key=lambda i: (i[0][0] == ALL, i[0]))]


