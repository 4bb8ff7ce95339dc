"""The operator's reports over a window [from, to): no-show rate, utilisation of each EVSE,
acceptance and refusal reasons per eMSP, and the money reservations bring, computed from the
durable store (what every instance wrote), so the API, the console's charts and
``ocpi-gateway report`` give the same figures.

What each figure counts (docs/operator-guide.md "Reports"):

- no-shows: RESERVE_NOW reservations *made* in the window and bookings whose slot *starts* in
  it; used = USED / FULFILLED, a no-show = expired unused after it was held (the enforcement's
  rule) / NO_SHOW; the rate is no-shows / (used + no-shows), None when nothing ended so.
- utilisation: per EVSE, the seconds of the window it was held for a reservation or a
  booking's binding (from ACTIVE to its end), charged for one (the sessions that began with
  a reservation or booking, from the transaction's start), and charged by walk-ins (sessions
  without one); shares of the window's length.
- acceptance: RESERVE_NOW commands received in the window (their records, kept 7 days once
  settled; refusals at the door, a 2xxx answer, are not stored) and booking requests received
  in it, accepted or refused with the reason the eMSP was told.
- revenue: CDRs made in the window, per eMSP and currency, before taxes: the reservation fees
  of charging sessions, no-show fees (reservations and bookings left unused), late
  cancellation fees, and the whole of the session CDRs; Credit CDRs subtract.
"""

from ocpi_gateway.admin.service.reports.build import build_report
from ocpi_gateway.admin.service.reports.models import (
    ALL,
    AcceptanceRow,
    NoShowRow,
    ReasonCount,
    Report,
    ReportQuery,
    RevenueRow,
    UsageRow,
    partner_of,
)

__all__ = ["ALL", "AcceptanceRow", "NoShowRow", "ReasonCount", "Report", "ReportQuery",
           "RevenueRow", "UsageRow", "build_report", "partner_of"]
