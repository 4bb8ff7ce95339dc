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
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

from ocpi_gateway.locations.enums import (
    Capability,
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
    GeoLocation,
    Hours,
    Image,
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

E = TypeVar("E", bound=StrEnum)

NOT_IN_2_2_1_CONNECTORS = frozenset({ConnectorType.MCS, ConnectorType.SAE_J3400})
NOT_IN_2_2_1_RESTRICTIONS = frozenset({ParkingRestriction.EMPLOYEES, ParkingRestriction.TAXIS,
                                       ParkingRestriction.TENANTS})
CONNECTOR_STANDARD_IN_2_2_1 = {ConnectorType.SAE_J3400.value: ConnectorType.TESLA_S.value}


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


class _Object(BaseModel):
    # Built from the internal model, which holds more than 2.2.1 can: the rest is ignored.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Connector(_Object):
    id: CiString36
    standard: ConnectorType221
    format: ConnectorFormat
    power_type: PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[CiString36] | None = None
    terms_and_conditions: Url | None = None
    last_updated: str


class EVSE(_Object):
    uid: CiString36
    evse_id: EvseIdEmi3 | None = None
    status: EvseStatus
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[Capability] | None = None
    connectors: list[Connector]
    floor_level: String4 | None = None
    coordinates: GeoLocation | None = None
    physical_reference: String16 | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[ParkingRestriction221] | None = None
    images: list[Image] | None = None
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
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[Facility] | None = None
    time_zone: str
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: str


def connector_doc(connector: PublishedDoc) -> dict[str, Any] | None:
    standard = connector["standard"]
    if standard in CONNECTOR_STANDARD_IN_2_2_1:
        return {**connector, "standard": CONNECTOR_STANDARD_IN_2_2_1[standard]}
    if standard in NOT_IN_2_2_1_CONNECTORS:
        return None
    return dict(connector)


def evse_doc(evse: PublishedDoc) -> dict[str, Any] | None:
    connectors = [c for c in map(connector_doc, evse.get("connectors", [])) if c is not None]
    if not connectors:
        return None
    doc = {**evse, "connectors": connectors}
    restrictions = [r for r in evse.get("parking_restrictions", [])
                    if r not in NOT_IN_2_2_1_RESTRICTIONS]
    if restrictions:
        doc["parking_restrictions"] = restrictions
    else:
        doc.pop("parking_restrictions", None)
    return doc


def _find_evse(doc: PublishedDoc, evse_uid: str) -> PublishedDoc | None:
    folded = evse_uid.casefold()
    return next((e for e in doc.get("evses", []) if e["uid"].casefold() == folded), None)


class Mapping221:
    def location(self, doc: PublishedDoc) -> Location:
        evses = [e for e in map(evse_doc, doc.get("evses", [])) if e is not None]
        fields = {**doc, "evses": evses} if evses else {k: v for k, v in doc.items()
                                                         if k != "evses"}
        return Location.model_validate(fields)

    def evse(self, doc: PublishedDoc, evse_uid: str) -> EVSE | None:
        found = _find_evse(doc, evse_uid)
        mapped = evse_doc(found) if found is not None else None
        return EVSE.model_validate(mapped) if mapped is not None else None

    def connector(self, doc: PublishedDoc, evse_uid: str, connector_id: str) -> Connector | None:
        evse = self.evse(doc, evse_uid)
        folded = connector_id.casefold()
        return next((c for c in (evse.connectors if evse else [])
                     if c.id.casefold() == folded), None)

    def evse_patch(self, status: str, last_updated: str) -> EvsePatch:
        return EvsePatch(status=EvseStatus(status), last_updated=last_updated)


MAPPING = Mapping221()
