"""``/admin/api/reports``: the operator's figures over a window (the console's charts,
``ocpi-gateway report``), computed by ``admin/service/reports/``."""

from __future__ import annotations

from ocpi_gateway import keys
from ocpi_gateway.admin.api.framework import Call, Operation
from ocpi_gateway.admin.service.reports import Report, ReportQuery, build_report
from ocpi_gateway.locations.extension import LOCATIONS

TAG = "reports"


async def report(call: Call) -> Report:
    query: ReportQuery = call.query
    locations = call.app.get(LOCATIONS)
    evses = None
    if locations is not None:
        evses = {loc.id: [e.uid for e in loc.evses]
                 for loc in locations.catalog.locations()}
    return await build_report(call.app[keys.STORE], query, now=call.app[keys.CLOCK](),
                              evses=evses)


OPERATIONS = [
    Operation("GET", "/admin/api/reports", report, "no-show rate, utilisation, acceptance and "
              "refusal reasons per eMSP, reservation and no-show revenue over a window", TAG,
              query=ReportQuery, response=Report, errors=(400,),
              description="Reservations count in the window they were made in, bookings in "
              "the one their slot starts in; time held and charged is cut to the window; "
              "commands and booking requests count when received, CDRs when made. Amounts "
              "are before taxes, per currency. docs/operator-guide.md \"Reports\"."),
]
