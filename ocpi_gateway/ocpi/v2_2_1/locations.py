"""OCPI 2.2.1 Location, EVSE and Connector, and the 2.2.1 form of an internal Location.

2.2.1 cannot hold what 2.3.0 added: ``help_phone``, ``parking_places``, EVSE ``parking`` and
``accepted_service_providers``, connector ``capabilities`` are left out; a SAE_J3400 (NACS)
connector is sent as TESLA_S (the same plug, named after its maker before SAE standardised
it); an MCS connector has no 2.2.1 name and is left out, and so is an EVSE left without
connectors (``connectors`` is 1..*); the parking restrictions EMPLOYEES, TAXIS and TENANTS
are dropped. Enums are closed: a value 2.2.1 does not list fails validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Annotated, TypeVar

from pydantic import AfterValidator

from ocpi_gateway.locations.enums import Capability, ConnectorType, Facility, ParkingRestriction
from ocpi_gateway.ocpi.shared.locations import (
    ConnectorFields,
    EvseFields,
    EvsePatch,
    LocationFields,
    SharedLocations,
)

E = TypeVar("E", bound=StrEnum)

NOT_IN_2_2_1_CONNECTORS = frozenset({ConnectorType.MCS, ConnectorType.SAE_J3400})
NOT_IN_2_2_1_RESTRICTIONS = frozenset({ParkingRestriction.EMPLOYEES, ParkingRestriction.TAXIS,
                                       ParkingRestriction.TENANTS})
CONNECTOR_STANDARD_IN_2_2_1 = {ConnectorType.SAE_J3400: ConnectorType.TESLA_S}


def _closed(excluded: Iterable[StrEnum]) -> Callable[[E], E]:
    names = frozenset(excluded)

    def check(value: E) -> E:
        if value in names:
            raise ValueError(f"{value.value} is not an OCPI 2.2.1 value")
        return value

    return check


ConnectorType221 = Annotated[ConnectorType, AfterValidator(_closed(NOT_IN_2_2_1_CONNECTORS))]
ParkingRestriction221 = Annotated[ParkingRestriction,
                                  AfterValidator(_closed(NOT_IN_2_2_1_RESTRICTIONS))]


class Connector(ConnectorFields):
    standard: ConnectorType221


class EVSE(EvseFields):
    capabilities: list[Capability] | None = None
    connectors: list[Connector]
    parking_restrictions: list[ParkingRestriction221] | None = None


class Location(LocationFields):
    evses: list[EVSE] | None = None
    facilities: list[Facility] | None = None


MAPPING = SharedLocations(Location, EVSE, Connector,
                          hidden_standards=NOT_IN_2_2_1_CONNECTORS,
                          renamed_standards=CONNECTOR_STANDARD_IN_2_2_1,
                          hidden_restrictions=NOT_IN_2_2_1_RESTRICTIONS)

__all__ = ["EVSE", "MAPPING", "Connector", "EvsePatch", "Location"]
