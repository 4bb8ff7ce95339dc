"""OCPI 2.3.0 Location, EVSE, Connector, Parking: the internal model holds all of it, so the
2.3.0 form is the whole published Location. OpenEnum fields (ConnectorType, Capability,
ConnectorCapability, ParkingRestriction, VehicleType, Facility...) take any string: a value a
newer operator file might carry is kept as it is."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from ocpi_gateway.locations.enums import (
    Capability,
    ConnectorCapability,
    ConnectorType,
    Facility,
    ParkingRestriction,
)
from ocpi_gateway.locations.models import EVSEParking, Parking
from ocpi_gateway.ocpi.shared.locations import (
    ConnectorFields,
    EvseFields,
    EvsePatch,
    LocationFields,
    SharedLocations,
)

ServiceProvider = Annotated[str, StringConstraints(max_length=50)]


class Connector(ConnectorFields):
    standard: ConnectorType | str
    capabilities: list[ConnectorCapability | str] | None = None


class EVSE(EvseFields):
    capabilities: list[Capability | str] | None = None
    connectors: list[Connector]
    parking_restrictions: list[ParkingRestriction | str] | None = None
    parking: list[EVSEParking] | None = None
    accepted_service_providers: list[ServiceProvider] | None = None


class Location(LocationFields):
    evses: list[EVSE] | None = None
    parking_places: list[Parking] | None = None
    facilities: list[Facility | str] | None = None
    help_phone: Annotated[str, StringConstraints(max_length=25)] | None = None


MAPPING = SharedLocations(Location, EVSE, Connector)

__all__ = ["EVSE", "MAPPING", "Connector", "EvsePatch", "Location"]
