"""The admin API's HTTP side: one module per resource, each listing its operations."""

from __future__ import annotations

from ocpi_gateway.admin.api import (
    booking_acts,
    bookings,
    charger_ops,
    chargers,
    commands,
    enforcement,
    meta,
    outbox,
    partners,
    reload,
    reports,
    reservation_acts,
    reservations,
    session,
    sessions,
    sites,
)
from ocpi_gateway.admin.api.framework import Operation
from ocpi_gateway.console import events, timeline


def operations() -> list[Operation]:
    """Every operation of the admin API, in the order the document lists them."""
    return [*session.OPERATIONS, *meta.OPERATIONS, *sites.OPERATIONS, *chargers.OPERATIONS,
            *charger_ops.OPERATIONS,
            *reservations.OPERATIONS, *reservation_acts.OPERATIONS, *bookings.OPERATIONS,
            *booking_acts.OPERATIONS,
            *commands.OPERATIONS, *outbox.OPERATIONS,
            *partners.OPERATIONS, *reload.OPERATIONS,
            *sessions.OPERATIONS, *enforcement.OPERATIONS,
            *reports.OPERATIONS, *timeline.OPERATIONS,
            *events.OPERATIONS]
