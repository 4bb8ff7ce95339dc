"""OCPI 2.3.0 Location, EVSE, Connector, Parking: the internal model holds all of it, so the
2.3.0 form is the whole published Location. OpenEnum fields (ConnectorType, Capability,
ConnectorCapability, ParkingRestriction, VehicleType, Facility...) take any string: a value a
newer operator file might carry is kept as it is."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from ocpi_gateway.locations.enums import (
    Capability,
    ConnectorCapability,
    ConnectorFormat,
    ConnectorType,
    Facility,
    ParkingRestriction,
    ParkingType,
    PowerType,
)
from ocpi_gateway.locations.models import (
    AdditionalGeoLocation,
    BusinessDetails,
    CiString2,
    CiString3,
    CiString36,
    DisplayText,
    EnergyMix,
    EvseIdEmi3,
    EVSEParking,
    GeoLocation,
    Hours,
    Image,
    Parking,
    PublishTokenType,
    StatusSchedule,
    String4,
    String10,
    String16,
    String45,
    String255,
    Url,
)
from ocpi_gateway.ocpi.seam import PublishedDoc
from ocpi_gateway.reservation_policy.availability.base import EvseStatus

ServiceProvider = Annotated[str, StringConstraints(max_length=50)]


class _Object(BaseModel):
    # types.asciidoc (2.3.0): fields a version does not specify SHALL NOT cause rejection.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connector(_Object):
    id: CiString36
    standard: ConnectorType | str
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiString36] | None = None
    terms_and_conditions: Url | None = None
    capabilities: list[ConnectorCapability | str] | None = None
    last_updated: str


class EVSE(_Object):
    uid: CiString36
    evse_id: EvseIdEmi3 | None = None
    status: EvseStatus
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[Capability | str] | None = None
    connectors: list[Connector]
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[ParkingRestriction | str] | None = None
    images: list[Image] | None = None
    parking: list[EVSEParking] | None = None
    accepted_service_providers: list[ServiceProvider] | None = None
    last_updated: str


class EvsePatch(_Object):
    status: EvseStatus
    last_updated: str


class Location(_Object):
    country_code: CiString2
    party_id: CiString3
    id: CiString36
    publish: bool
    publish_allowed_to: list[PublishTokenType] | None = None
    name: String255 | None = None
    address: String255
    city: String45
    postal_code: String10 | None = None
    state: String45 | None = None
    country: str
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: ParkingType | None = None
    evses: list[EVSE] | None = None
    parking_places: list[Parking] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility | str] | None = None
    time_zone: str
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    help_phone: Annotated[str, StringConstraints(max_length=25)] | None = None
    last_updated: str


def _find_evse(doc: PublishedDoc, evse_uid: str) -> PublishedDoc | None:
    folded = evse_uid.casefold()
    return next((e for e in doc.get("evses", []) if e["uid"].casefold() == folded), None)


class Mapping230:
    def location(self, doc: PublishedDoc) -> Location:
        return Location.model_validate(doc)

    def evse(self, doc: PublishedDoc, evse_uid: str) -> EVSE | None:
        found = _find_evse(doc, evse_uid)
        return EVSE.model_validate(found) if found is not None else None

    def connector(self, doc: PublishedDoc, evse_uid: str, connector_id: str) -> Connector | None:
        evse = self.evse(doc, evse_uid)
        folded = connector_id.casefold()
        return next((c for c in (evse.connectors if evse else [])
                     if c.id.casefold() == folded), None)

    def evse_patch(self, status: str, last_updated: str) -> EvsePatch:
        return EvsePatch(status=EvseStatus(status), last_updated=last_updated)


MAPPING = Mapping230()
