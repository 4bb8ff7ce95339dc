"""OCPP connector status → OCPI EVSE status, and how one EVSE's status is derived.

| OCPP (1.6 / 2.0.1)                                             | OCPI EVSE status |
|----------------------------------------------------------------|------------------|
| Available                                                      | AVAILABLE        |
| Preparing, Charging, SuspendedEV, SuspendedEVSE, Finishing,    | CHARGING         |
| Occupied                                                       |                  |
| Reserved                                                       | RESERVED         |
| Unavailable                                                    | INOPERATIVE      |
| Faulted                                                        | OUTOFORDER       |
| charger disconnected longer than the grace period              | UNKNOWN          |
| never reported                                                 | UNKNOWN          |

An EVSE with several connectors reports the connector in use (OCPI: only one connector of an
EVSE can be used at a time), so the most "engaged" state wins (``_PRIORITY``). A charger-wide
Unavailable/Faulted (OCPP 1.6 connectorId 0) overrides every EVSE of that charger. A hold in
the availability store shows an AVAILABLE EVSE as RESERVED.
"""

from __future__ import annotations

from collections.abc import Iterable

from ocpi_gateway.domain.events import ConnectorStatus
from ocpi_gateway.reservation_policy.availability.base import EvseStatus

OCPP_TO_OCPI: dict[ConnectorStatus, EvseStatus] = {
    ConnectorStatus.AVAILABLE: EvseStatus.AVAILABLE,
    ConnectorStatus.PREPARING: EvseStatus.CHARGING,
    ConnectorStatus.CHARGING: EvseStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV: EvseStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EVSE: EvseStatus.CHARGING,
    ConnectorStatus.FINISHING: EvseStatus.CHARGING,
    ConnectorStatus.OCCUPIED: EvseStatus.CHARGING,
    ConnectorStatus.RESERVED: EvseStatus.RESERVED,
    ConnectorStatus.UNAVAILABLE: EvseStatus.INOPERATIVE,
    ConnectorStatus.FAULTED: EvseStatus.OUTOFORDER,
}

# Charger-wide statuses that apply to all its EVSEs (1.6 connectorId 0).
CHARGER_WIDE_OVERRIDES = frozenset({ConnectorStatus.UNAVAILABLE, ConnectorStatus.FAULTED})

# Which connector's state the EVSE shows: the one in use first, then a reservation, then a
# usable connector; a broken second connector does not make a usable EVSE unusable.
_PRIORITY: tuple[EvseStatus, ...] = (
    EvseStatus.CHARGING,
    EvseStatus.RESERVED,
    EvseStatus.BLOCKED,
    EvseStatus.AVAILABLE,
    EvseStatus.INOPERATIVE,
    EvseStatus.OUTOFORDER,
    EvseStatus.UNKNOWN,
)


def map_ocpp_status(status: ConnectorStatus) -> EvseStatus:
    return OCPP_TO_OCPI[status]


def evse_status(
    connector_statuses: Iterable[EvseStatus],
    *,
    charger_override: ConnectorStatus | None = None,
    offline: bool = False,
) -> EvseStatus:
    if offline:
        return EvseStatus.UNKNOWN
    if charger_override in CHARGER_WIDE_OVERRIDES:
        return OCPP_TO_OCPI[charger_override]
    present = set(connector_statuses)
    for candidate in _PRIORITY:
        if candidate in present:
            return candidate
    return EvseStatus.UNKNOWN


def published_status(charger_status: EvseStatus, *, held: bool) -> EvseStatus:
    """What partners see: a hold in force shows an otherwise AVAILABLE EVSE as RESERVED."""
    if held and charger_status is EvseStatus.AVAILABLE:
        return EvseStatus.RESERVED
    return charger_status
