"""Acceptance and refusal reasons per eMSP: RESERVE_NOW commands and booking requests."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from ocpi_gateway.admin.service.reports.models import AcceptanceRow, ReasonCount
from ocpi_gateway.admin.service.reports.window import Window
from ocpi_gateway.commands.records import CommandRecord, CommandState
from ocpi_gateway.reservation_policy.bookings.records import Booking
from ocpi_gateway.reservation_policy.bookings.states import RequestStatus


@dataclass(slots=True)
class _Asked:
    accepted: int = 0
    pending: int = 0
    refusals: Counter[str] = field(default_factory=Counter)


def acceptance_rows(window: Window, commands: Iterable[CommandRecord],
                    bookings: Iterable[Booking], site: str | None) -> list[AcceptanceRow]:
    per: dict[tuple[str, str], _Asked] = defaultdict(_Asked)
    for c in commands:
        if site and str(c.body.get("location_id", "")).upper() != site.upper():
            continue
        asked = per[(f"{c.country_code}-{c.party_id}".upper(), "reservation")]
        if c.state is CommandState.PENDING or c.result is None:
            asked.pending += 1
        elif c.result.value == "ACCEPTED":
            asked.accepted += 1
        else:
            asked.refusals[c.message or c.result.value] += 1
    for b in bookings:
        for request in b.requests:
            if not window.holds(request.received.timestamp()) or request.ask.is_cancellation:
                continue
            asked = per[(b.partner.key, "booking")]
            if request.status is RequestStatus.PENDING:
                asked.pending += 1
            elif request.status is RequestStatus.ACCEPTED:
                asked.accepted += 1
            else:
                asked.refusals[request.message or request.status.value] += 1
    rows = []
    for (partner, kind), a in sorted(per.items()):
        refused = sum(a.refusals.values())
        decided = a.accepted + refused
        rows.append(AcceptanceRow(
            partner=partner, kind=kind, asked=decided + a.pending, accepted=a.accepted,
            refused=refused, pending=a.pending,
            acceptance_rate=round(a.accepted / decided, 6) if decided else None,
            refusals=[ReasonCount(reason=reason, count=n) for reason, n in
                      sorted(a.refusals.items(), key=lambda item: (-item[1], item[0]))]))
    return rows


